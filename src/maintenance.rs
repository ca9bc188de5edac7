//! Periodic housekeeping of a data directory, run by `serve` and callable from the CLI:
//! WAL checkpoints, search indexing when traffic stops, and the retention of the
//! journal and of finished jobs.
//!
//! Retention rule: `processed` and `ignored` journal bodies may go once old (their
//! results live on in the conversations); `unmatched` and `failed` ones are what
//! `replay` needs, so only an explicit request deletes them.

use std::time::Duration;

use crate::model::Outcome;
use crate::store::{self, Db};

/// The journal outcomes retention deletes by default.
pub const PRUNABLE: &[Outcome] = &[Outcome::Processed, Outcome::Ignored];
/// Every outcome, for an explicit `--all-outcomes`.
pub const ALL_OUTCOMES: &[Outcome] = &[
    Outcome::Processed,
    Outcome::Ignored,
    Outcome::Unmatched,
    Outcome::Failed,
];

/// What one retention pass deleted.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Pruned {
    pub journal: i64,
    pub jobs: i64,
}

/// Runs the housekeeping loop: a WAL checkpoint every second, so the last writes of a
/// busy spell reach the database file soon after traffic stops (under load the writer
/// checkpoints itself), and the retention pass once an hour (`retention_days` 0 keeps
/// everything).
pub async fn run(db: Db, retention_days: u64) {
    let mut tick = tokio::time::interval(Duration::from_secs(1));
    let mut n: u64 = 0;
    loop {
        tick.tick().await;
        n += 1;
        if retention_days > 0 && n % 3600 == 1 {
            let before = store::now_ms() - retention_days as i64 * 24 * 3600 * 1000;
            match prune_journal(&db, before, PRUNABLE).await {
                Ok(0) => {}
                Ok(pruned) => {
                    tracing::info!(pruned, retention_days, "pruned old webhook journal rows")
                }
                Err(e) => tracing::warn!(error = %e, "journal retention failed"),
            }
            match prune_jobs(&db, before).await {
                Ok(0) => {}
                Ok(pruned) => tracing::info!(pruned, retention_days, "pruned finished jobs"),
                Err(e) => tracing::warn!(error = %e, "pruning finished jobs failed"),
            }
        }
        if let Err(e) = db.call(|conn| store::checkpoint(conn)).await {
            tracing::warn!(error = %e, "database maintenance failed");
        }
    }
}

/// Deletes journal rows received before `before_ms` with one of `outcomes`.
pub async fn prune_journal(
    db: &Db,
    before_ms: i64,
    outcomes: &'static [Outcome],
) -> store::Result<i64> {
    in_chunks(db, store::journal::PRUNE_CHUNK, move |conn| {
        store::journal::prune_chunk(conn, before_ms, outcomes)
    })
    .await
}

/// Deletes jobs that finished before `before_ms`.
pub async fn prune_jobs(db: &Db, before_ms: i64) -> store::Result<i64> {
    in_chunks(db, store::job::PRUNE_CHUNK, move |conn| {
        store::job::prune_done(conn, before_ms)
    })
    .await
}

/// Repeats a chunked delete until a chunk comes back short, taking the write gate once
/// per chunk: the ingest writer waits for one chunk at most, and on the gate rather
/// than by polling SQLite's lock. Returns how many rows went.
async fn in_chunks<F>(db: &Db, chunk: i64, delete: F) -> store::Result<i64>
where
    F: Fn(&rusqlite::Connection) -> store::Result<i64> + Clone + Send + 'static,
{
    let mut total = 0;
    loop {
        let delete = delete.clone();
        let n = db.write(move |conn| delete(conn)).await?;
        total += n;
        if n < chunk {
            return Ok(total);
        }
    }
}

/// Indexes new messages for search once traffic stops. While webhooks flow, the ingest
/// writer indexes them in its own transactions; this loop steps in when messages wait
/// and the index did not move for a whole tick (or indexing in the writer failed), so
/// search lags a new message by under a second.
pub async fn index_search(db: Db) {
    let mut tick = tokio::time::interval(Duration::from_millis(300));
    let mut seen = -1;
    loop {
        tick.tick().await;
        match db.call(|conn| store::search::progress(conn)).await {
            Ok((through, last)) if last > through && through == seen => {
                if let Err(e) = db.write(store::search::index_pending_now).await {
                    tracing::warn!(error = %e, "indexing messages for search failed");
                }
            }
            Ok((through, _)) => seen = through,
            Err(e) => tracing::warn!(error = %e, "reading the search index progress failed"),
        }
    }
}
