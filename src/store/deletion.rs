//! Message deletions (unsends): the message stays, shown as deleted.

use rusqlite::{Connection, params};

use super::Result;

/// Records that a message was deleted by its sender; returns false for a redelivery.
pub fn record(conn: &Connection, channel_id: i64, external_id: &str, at: i64) -> Result<bool> {
    let n = conn
        .prepare_cached(
            "INSERT INTO message_deletions (channel_id, external_id, deleted_at)
             VALUES (?1, ?2, ?3) ON CONFLICT DO NOTHING",
        )?
        .execute(params![channel_id, external_id, at])?;
    Ok(n > 0)
}
