//! Full-text indexing of message text (`messages_fts`).
//!
//! Indexing runs once per write transaction over every message the transaction
//! added, instead of a trigger per row: FTS5 flushes its pending terms to disk at each
//! statement boundary inside a trigger, so the per-row trigger wrote a new index segment
//! for every message (then merged them), about a quarter of the ingest writer's time.
//! `search_progress.indexed_through` records how far the index reaches.

use rusqlite::{Connection, params};

use super::Result;

fn indexed_through(conn: &Connection) -> Result<i64> {
    Ok(conn
        .prepare_cached("SELECT indexed_through FROM search_progress WHERE id = 1")?
        .query_row([], |r| r.get(0))?)
}

/// Indexes what is pending in a transaction of its own (the maintenance task, when
/// no ingest transaction does it).
pub fn index_pending_now(conn: &mut Connection) -> Result<usize> {
    super::immediate(conn, |tx| index_pending(tx))
}

/// Indexes every message added since the last call, in the caller's transaction;
/// returns how many messages it looked at. Call it before committing anything that
/// inserted messages (the maintenance task also calls it as a safety net).
pub fn index_pending(conn: &Connection) -> Result<usize> {
    let (from, last) = progress(conn)?;
    if last <= from {
        return Ok(0);
    }
    conn.prepare_cached(
        "INSERT INTO messages_fts (rowid, text)
         SELECT id, text FROM messages WHERE id > ?1 AND id <= ?2 AND text IS NOT NULL",
    )?
    .execute(params![from, last])?;
    conn.prepare_cached("UPDATE search_progress SET indexed_through = ?1 WHERE id = 1")?
        .execute([last])?;
    Ok((last - from) as usize)
}

/// How far the index reaches, and the newest message id: a read, so the maintenance
/// task writes only when something waits.
pub fn progress(conn: &Connection) -> Result<(i64, i64)> {
    let last: i64 = conn
        .prepare_cached("SELECT COALESCE(MAX(id), 0) FROM messages")?
        .query_row([], |r| r.get(0))?;
    Ok((indexed_through(conn)?, last))
}
