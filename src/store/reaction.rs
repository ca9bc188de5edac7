//! Reactions: one per (message, reactor), the newest event by Meta's time wins.

use rusqlite::{Connection, params};

use super::Result;
use crate::model::Reaction;

/// Records a reaction or its removal at Meta's time `at`; a late redelivery of an
/// older event cannot resurrect a removed reaction. Returns whether it changed anything.
pub fn record(conn: &Connection, channel_id: i64, r: &Reaction, at: i64) -> Result<bool> {
    let n = conn
        .prepare_cached(
            "INSERT INTO reactions (channel_id, external_id, reactor, emoji, reaction, removed, reacted_at)
             VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7)
             ON CONFLICT (channel_id, external_id, reactor) DO UPDATE SET
                emoji = excluded.emoji, reaction = excluded.reaction, removed = excluded.removed,
                reacted_at = excluded.reacted_at
             WHERE excluded.reacted_at > reactions.reacted_at",
        )?
        .execute(params![
            channel_id,
            r.target,
            r.reactor,
            r.emoji,
            r.reaction,
            r.removed,
            at
        ])?;
    Ok(n > 0)
}

/// A reaction on a message.
#[derive(Debug, Clone)]
pub struct ReactionRecord {
    pub reactor: String,
    pub emoji: Option<String>,
    pub reaction: Option<String>,
}

/// The reactions standing on a message by Meta's id, oldest first.
pub fn of_message(
    conn: &Connection,
    channel_id: i64,
    external_id: &str,
) -> Result<Vec<ReactionRecord>> {
    Ok(conn
        .prepare_cached(
            "SELECT reactor, emoji, reaction FROM reactions
             WHERE channel_id = ?1 AND external_id = ?2 AND removed = 0 ORDER BY reacted_at",
        )?
        .query_map(params![channel_id, external_id], |r| {
            Ok(ReactionRecord {
                reactor: r.get(0)?,
                emoji: r.get(1)?,
                reaction: r.get(2)?,
            })
        })?
        .collect::<rusqlite::Result<_>>()?)
}
