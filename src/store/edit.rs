//! Message edits: one row per (message, edit number), applied over the stored text.

use rusqlite::{Connection, params};

use super::Result;

/// Records an edit of a message by Meta's id; returns false for a redelivery.
pub fn record(
    conn: &Connection,
    channel_id: i64,
    external_id: &str,
    num_edit: i64,
    text: Option<&str>,
    at: i64,
) -> Result<bool> {
    let n = conn
        .prepare_cached(
            "INSERT INTO message_edits (channel_id, external_id, num_edit, text, edited_at)
             VALUES (?1, ?2, ?3, ?4, ?5) ON CONFLICT DO NOTHING",
        )?
        .execute(params![channel_id, external_id, num_edit, text, at])?;
    Ok(n > 0)
}

/// The texts of a message's edits by Meta's id, in edit order.
pub fn texts_of(
    conn: &Connection,
    channel_id: i64,
    external_id: &str,
) -> Result<Vec<Option<String>>> {
    Ok(conn
        .prepare_cached(
            "SELECT text FROM message_edits WHERE channel_id = ?1 AND external_id = ?2
             ORDER BY num_edit",
        )?
        .query_map(params![channel_id, external_id], |r| r.get(0))?
        .collect::<rusqlite::Result<_>>()?)
}
