//! The ingest pipeline: verify, parse, then hand the body to one writer thread that
//! group-commits many webhooks per transaction and answers each only after its commit.
//!
//! One writer instead of a transaction per request: SQLite has a single write lock, so
//! concurrent writers only queue on it (and time out under load). Batching also makes
//! `synchronous=FULL` cheap: one fsync covers every webhook in the batch.

use std::sync::Arc;

use rusqlite::Connection;
use tokio::sync::{mpsc, oneshot};

use crate::live::Bus;
use crate::live::Change;
use crate::model::Outcome;
use crate::model::{Batch, Provider};
use crate::secrets::Secret;
use crate::store::journal;
use crate::store::{self, Db, StoreError, now_ms};
use crate::webhook::{parse, signature};

/// Most webhooks committed in one transaction.
const MAX_GROUP: usize = 256;
/// The writer folds the WAL back into the database once it holds this many pages
/// (4 MiB), so the next commit overwrites the WAL from its start: a commit that grows
/// the file costs more than one that overwrites it, and one that truncates it stalls
/// its whole group (measurements: docs/performance.md).
const WAL_CHECKPOINT_PAGES: i64 = 1000;
/// How often the writer indexes new messages for search, in the group's own
/// transaction: each pass writes one FTS5 segment, so indexing per interval rather than
/// per group keeps segment merges cheap and batches small; search lags new messages by
/// at most this much. `maintenance::index_search` indexes what is left when traffic
/// stops.
const INDEX_EVERY: std::time::Duration = std::time::Duration::from_millis(250);
/// A group the writer has held for longer than this means it is stuck (another process
/// holds the database's write lock, the disk hangs): `/healthz` then answers 503 and the
/// systemd watchdog stops pinging. A group normally commits in milliseconds.
pub const STALL_AFTER: std::time::Duration = std::time::Duration::from_secs(10);

/// Why a webhook POST was refused.
#[derive(Debug, thiserror::Error)]
pub enum ReceiveError {
    #[error("signature rejected: {0}")]
    Signature(#[from] signature::SignatureError),
    #[error("body is not valid JSON: {0}")]
    NotJson(String),
    #[error("could not store the webhook: {0}")]
    Store(String),
}

/// What happened to an acknowledged webhook.
#[derive(Debug, Clone)]
pub struct Stored {
    pub journal_id: i64,
    pub outcome: Outcome,
    pub changed: i64,
}

struct Submission {
    provider: Provider,
    received_at: i64,
    body: Vec<u8>,
    secret_used: &'static str,
    batch: Batch,
    reply: oneshot::Sender<Result<Stored, String>>,
}

/// Handle to the writer thread. Dropping every handle lets the writer drain and exit.
#[derive(Clone)]
pub struct Ingest {
    tx: mpsc::Sender<Submission>,
    pub counters: Arc<crate::metrics::Counters>,
    pub progress: Arc<Progress>,
}

/// Whether the writer is getting its work done: since when it has had work it has not
/// committed. A failed group is no progress: while more work waits, the clock runs on.
#[derive(Debug, Default)]
pub struct Progress {
    busy_since: std::sync::Mutex<Option<std::time::Instant>>,
}

impl Progress {
    fn busy(&self) {
        let mut since = self.busy_since.lock().unwrap_or_else(|e| e.into_inner());
        since.get_or_insert_with(std::time::Instant::now);
    }

    fn idle(&self) {
        *self.busy_since.lock().unwrap_or_else(|e| e.into_inner()) = None;
    }

    /// Returns how long the writer has held its current group, once past [`STALL_AFTER`].
    pub fn stalled_for(&self) -> Option<std::time::Duration> {
        let since = *self.busy_since.lock().unwrap_or_else(|e| e.into_inner());
        since
            .map(|t| t.elapsed())
            .filter(|held| *held > STALL_AFTER)
    }
}

impl Ingest {
    /// Starts the writer thread on its own connection.
    pub fn start(
        db: &Db,
        bus: Bus,
        opts: store::apply::Options,
    ) -> Result<(Self, std::thread::JoinHandle<()>), StoreError> {
        let conn = db.dedicated()?;
        let gate = db.write_gate();
        conn.pragma_update(None, "wal_autocheckpoint", WAL_CHECKPOINT_PAGES)?;
        let (tx, rx) = mpsc::channel(4096);
        let counters = Arc::<crate::metrics::Counters>::default();
        let progress = Arc::<Progress>::default();
        let writer = Writer {
            bus,
            opts,
            gate,
            counters: counters.clone(),
            progress: progress.clone(),
        };
        let handle = std::thread::Builder::new()
            .name("ingest-writer".into())
            .spawn(move || writer_loop(conn, rx, writer))
            .map_err(|e| StoreError::Join(e.to_string()))?;
        Ok((
            Self {
                tx,
                counters,
                progress,
            },
            handle,
        ))
    }

    /// Verifies, parses and durably stores one webhook body. Returns only after the
    /// body (and everything it produced) is committed.
    pub async fn receive(
        &self,
        provider: Provider,
        secrets: &[&Secret],
        signature_header: Option<&str>,
        body: Vec<u8>,
    ) -> Result<Stored, ReceiveError> {
        let used = match signature::verify(secrets, signature_header, &body) {
            Ok(i) => i,
            Err(e) => return Err(self.refuse(provider, e)),
        };
        self.receive_verified(provider, used, body).await
    }

    /// Counts a refused signature and turns it into the error to answer with.
    pub fn refuse(&self, provider: Provider, e: signature::SignatureError) -> ReceiveError {
        self.counters
            .count(provider, crate::metrics::Counted::BadSignature);
        e.into()
    }

    /// Parses and durably stores a body whose signature the caller verified (with the
    /// secret at index `used`: 0 current, 1 previous).
    pub async fn receive_verified(
        &self,
        provider: Provider,
        used: usize,
        body: Vec<u8>,
    ) -> Result<Stored, ReceiveError> {
        use crate::metrics::Counted as M;
        let started = std::time::Instant::now();
        let c = &self.counters;
        let value: serde_json::Value = match serde_json::from_slice(&body) {
            Ok(v) => v,
            Err(e) => {
                c.count(provider, M::InvalidJson);
                return Err(ReceiveError::NotJson(e.to_string()));
            }
        };
        if used > 0 {
            // Logged so the operator sees when the old secret stops being needed.
            tracing::info!(%provider, "webhook verified with the previous app secret (rotation grace period)");
        }
        let received_at = now_ms();
        let batch = parse::parse(provider, &value, received_at);
        // The parsed tree is several times the body's size; without this it would be
        // held until the writer answers, once for every request waiting on a commit.
        drop(value);
        let (reply, answer) = oneshot::channel();
        let submission = Submission {
            provider,
            received_at,
            body,
            secret_used: if used == 0 { "current" } else { "previous" },
            batch,
            reply,
        };
        let result = match self.tx.send(submission).await {
            Ok(()) => answer
                .await
                .map_err(|_| ReceiveError::Store("the writer has stopped".into()))
                .and_then(|r| r.map_err(ReceiveError::Store)),
            Err(_) => Err(ReceiveError::Store("the writer has stopped".into())),
        };
        let stored = match result {
            Ok(s) => s,
            Err(e) => {
                c.count(provider, M::Error);
                return Err(e);
            }
        };
        c.observe(started.elapsed());
        c.count(provider, M::Stored(stored.outcome));
        Ok(stored)
    }
}

/// What the writer thread owns besides its connection and queue.
struct Writer {
    bus: Bus,
    opts: store::apply::Options,
    gate: store::WriteGate,
    counters: Arc<crate::metrics::Counters>,
    progress: Arc<Progress>,
}

fn writer_loop(mut conn: Connection, mut rx: mpsc::Receiver<Submission>, w: Writer) {
    let Writer {
        bus,
        opts,
        gate,
        counters,
        progress,
    } = w;
    let mut last_index = std::time::Instant::now();
    while let Some(first) = rx.blocking_recv() {
        // Busy from here (waiting for the gate included) until a group commits.
        progress.busy();
        let mut group = vec![first];
        while group.len() < MAX_GROUP {
            match rx.try_recv() {
                Ok(s) => group.push(s),
                Err(_) => break,
            }
        }
        let index = last_index.elapsed() >= INDEX_EVERY;
        let written = {
            let _writing = gate.lock().unwrap_or_else(|e| e.into_inner());
            let started = std::time::Instant::now();
            let written = write_group(&mut conn, &group, &opts, index);
            counters.record_transaction(group.len(), started.elapsed());
            written
        };
        if index {
            last_index = std::time::Instant::now();
        }
        match written {
            Ok(results) => {
                progress.idle();
                for (sub, (stored, live)) in group.into_iter().zip(results) {
                    bus.publish(live);
                    let _ = sub.reply.send(Ok(stored));
                }
            }
            Err(e) => {
                tracing::error!(error = %e, webhooks = group.len(), "ingest transaction failed");
                for sub in group {
                    let _ = sub.reply.send(Err(e.to_string()));
                }
                if rx.is_empty() {
                    progress.idle();
                }
            }
        }
    }
}

/// Writes a group of webhooks in one transaction. The fast path applies them all
/// without savepoints; if one fails, the group is rolled back and written again with a
/// savepoint per webhook, so the failing one is journaled as `failed` without losing
/// the others. Failures are rare (a bug or a full disk), so the slow path costs nothing
/// in normal operation.
fn write_group(
    conn: &mut Connection,
    group: &[Submission],
    opts: &store::apply::Options,
    index: bool,
) -> Result<Vec<(Stored, Vec<Change>)>, StoreError> {
    match write_all(conn, group, opts, index) {
        Ok(results) => Ok(results),
        Err(e) => {
            tracing::warn!(error = %e, "group write failed; retrying webhook by webhook");
            write_each(conn, group, opts, index)
        }
    }
}

fn apply_one(
    conn: &Connection,
    sub: &Submission,
    opts: &store::apply::Options,
) -> Result<(Stored, Vec<Change>), StoreError> {
    let applied = store::apply::apply(conn, sub.provider, &sub.batch, opts)?;
    let (outcome, reason) = classify(sub.provider, &sub.batch, &applied);
    let id = journal::insert(
        conn,
        &entry(
            sub,
            outcome,
            reason.as_deref(),
            applied.changed,
            &applied.unmatched,
        ),
    )?;
    Ok((stored(id, outcome, applied.changed), applied.live))
}

fn write_all(
    conn: &mut Connection,
    group: &[Submission],
    opts: &store::apply::Options,
    index: bool,
) -> Result<Vec<(Stored, Vec<Change>)>, StoreError> {
    store::immediate(conn, |tx| {
        let results = group
            .iter()
            .map(|sub| apply_one(tx, sub, opts))
            .collect::<Result<Vec<_>, _>>()?;
        if index {
            store::search::index_pending(tx)?;
        }
        Ok(results)
    })
}

fn write_each(
    conn: &mut Connection,
    group: &[Submission],
    opts: &store::apply::Options,
    index: bool,
) -> Result<Vec<(Stored, Vec<Change>)>, StoreError> {
    store::immediate(conn, |tx| write_each_in(tx, group, opts, index))
}

/// [`write_each`] inside its transaction: one savepoint per webhook.
fn write_each_in(
    tx: &mut rusqlite::Transaction<'_>,
    group: &[Submission],
    opts: &store::apply::Options,
    index: bool,
) -> Result<Vec<(Stored, Vec<Change>)>, StoreError> {
    let mut results = Vec::with_capacity(group.len());
    for sub in group {
        let sp = tx.savepoint()?;
        let result = match apply_one(&sp, sub, opts) {
            Ok(r) => {
                sp.commit()?;
                r
            }
            Err(e) => {
                drop(sp); // rolls back this webhook's partial writes
                tracing::error!(provider = %sub.provider, error = %e, "webhook could not be applied; journaled as failed");
                let reason = e.to_string();
                let id = journal::insert(tx, &entry(sub, Outcome::Failed, Some(&reason), 0, &[]))?;
                (stored(id, Outcome::Failed, 0), Vec::new())
            }
        };
        results.push(result);
    }
    // A broken search index must not stop messages from being stored: the
    // maintenance task indexes them later.
    if index {
        let sp = tx.savepoint()?;
        match store::search::index_pending(&sp) {
            Ok(_) => sp.commit()?,
            // Dropping the savepoint rolls back the partial index.
            Err(e) => tracing::error!(error = %e, "indexing new messages for search failed"),
        }
    }
    Ok(results)
}

fn stored(journal_id: i64, outcome: Outcome, changed: i64) -> Stored {
    Stored {
        journal_id,
        outcome,
        changed,
    }
}

fn entry<'a>(
    sub: &'a Submission,
    outcome: Outcome,
    reason: Option<&'a str>,
    stored: i64,
    unmatched: &'a [String],
) -> journal::NewEntry<'a> {
    journal::NewEntry {
        provider: sub.provider.as_str(),
        received_at: sub.received_at,
        body: &sub.body,
        secret_used: Some(sub.secret_used),
        outcome,
        reason,
        stored,
        unmatched,
    }
}

/// Names the journal outcome: an unmatched channel is the actionable state (the
/// operator must add the channel, then `replay`), so it wins over partial success.
pub fn classify(
    provider: Provider,
    batch: &Batch,
    applied: &store::apply::Applied,
) -> (Outcome, Option<String>) {
    let mut reasons = Vec::new();
    let outcome = if !applied.unmatched.is_empty() {
        reasons.push(format!(
            "no {provider} channel with {} {}",
            provider.id_label(),
            applied.unmatched.join(", ")
        ));
        Outcome::Unmatched
    } else if batch.events.is_empty() {
        Outcome::Ignored
    } else {
        Outcome::Processed
    };
    reasons.extend(batch.ignored.iter().cloned());
    if outcome == Outcome::Ignored && reasons.is_empty() {
        reasons.push("the body holds no events".into());
    }
    let reason = (!reasons.is_empty()).then(|| reasons.join("; "));
    (outcome, reason)
}
