//! The durable job queue. Jobs are claimed with a lease: a job whose worker died (or
//! whose process was killed) is claimed again once its lease runs out, and `serve`
//! releases every lease at start.

use std::sync::LazyLock;

use rusqlite::{Connection, OptionalExtension, params};
use serde::Serialize;

use super::{Result, now_ms};

/// What a job does; stored by [`JobKind::as_str`].
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum JobKind {
    /// Fetch a Messenger/Instagram contact's name and picture from the Graph API.
    FetchProfile,
    /// Download an attachment's bytes (a CDN link, or a WhatsApp media id).
    DownloadAttachment,
}

impl JobKind {
    /// The database and metrics name.
    pub fn as_str(self) -> &'static str {
        match self {
            JobKind::FetchProfile => "fetch_profile",
            JobKind::DownloadAttachment => "download_attachment",
        }
    }

    /// Parses a database name.
    pub fn parse(s: &str) -> Option<Self> {
        KINDS_BY_PRIORITY.into_iter().find(|k| k.as_str() == s)
    }
}

impl std::fmt::Display for JobKind {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.as_str())
    }
}

/// Why a job failed for good: the label of `helpstack_job_failures` and what `doctor`
/// groups by. A code, so rewording an error message changes no metric.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum FailureReason {
    /// Meta rejected the channel's access token (code 190).
    TokenInvalid,
    /// A retryable failure happened on every attempt.
    RetriesExhausted,
    /// The bytes did not match the hash Meta announced.
    Sha256Mismatch,
    /// Over `max_attachment_bytes`.
    TooLarge,
    /// The address guard refused the URL.
    BlockedHost,
    /// Meta has no profile for this sender.
    NoProfile,
    /// The channel has no access token.
    NoToken,
    Other,
}

impl FailureReason {
    const ALL: [FailureReason; 8] = [
        FailureReason::TokenInvalid,
        FailureReason::RetriesExhausted,
        FailureReason::Sha256Mismatch,
        FailureReason::TooLarge,
        FailureReason::BlockedHost,
        FailureReason::NoProfile,
        FailureReason::NoToken,
        FailureReason::Other,
    ];

    /// The database and metrics name.
    pub fn as_str(self) -> &'static str {
        match self {
            FailureReason::TokenInvalid => "token_invalid",
            FailureReason::RetriesExhausted => "retries_exhausted",
            FailureReason::Sha256Mismatch => "sha256_mismatch",
            FailureReason::TooLarge => "too_large",
            FailureReason::BlockedHost => "blocked_host",
            FailureReason::NoProfile => "no_profile",
            FailureReason::NoToken => "no_token",
            FailureReason::Other => "other",
        }
    }

    /// Parses a database name.
    pub fn parse(s: &str) -> Option<Self> {
        Self::ALL.into_iter().find(|r| r.as_str() == s)
    }
}

/// A claimed job.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Job {
    pub id: i64,
    pub kind: JobKind,
    pub subject_id: i64,
    /// Attempts including this one.
    pub attempts: i64,
    pub created_at: i64,
}

/// Job kinds in the order workers take them. Downloads first: Meta's media links
/// expire (WhatsApp's minutes after they are resolved; Messenger's and Instagram's are
/// signed CDN links that expire too) and an agent needs the photo to answer, while a
/// profile can be fetched any time. A campaign that brings thousands of new senders
/// queues thousands of profile fetches; a photo sent meanwhile must not wait behind them.
const KINDS_BY_PRIORITY: [JobKind; 2] = [JobKind::DownloadAttachment, JobKind::FetchProfile];

/// Picks the job to claim: an expired lease first (its worker died; there are at most
/// as many running jobs as workers), else the oldest due queued job, each by
/// [`KINDS_BY_PRIORITY`]. One subquery per (state, kind), each reading `jobs_due` in
/// order and stopping at its first row: one query with `OR` made SQLite collect and
/// sort every due job for each claim, so a backlog of 5,000 new senders' profile
/// fetches cost O(n) per claim (see `claim_reads_the_due_index_in_order`).
fn next_job() -> String {
    let pick = |state: &str, due: &str, kind: JobKind| {
        let kind = kind.as_str();
        format!(
            "(SELECT id FROM jobs WHERE state = '{state}' AND kind = '{kind}' AND {due}
              ORDER BY run_at, id LIMIT 1)"
        )
    };
    let expired = KINDS_BY_PRIORITY.map(|k| pick("running", "locked_until < ?1", k));
    let due = KINDS_BY_PRIORITY.map(|k| pick("queued", "run_at <= ?1", k));
    format!("COALESCE({}, {})", expired.join(", "), due.join(", "))
}

static CLAIM: LazyLock<String> = LazyLock::new(|| {
    format!(
        "UPDATE jobs SET state = 'running', attempts = attempts + 1, locked_until = ?2, updated_at = ?1
         WHERE id = {}
         RETURNING id, kind, subject_id, attempts, created_at",
        next_job()
    )
});

/// Queues a durable job in the current transaction; a live job for the same subject
/// already covers it.
pub fn queue(conn: &Connection, kind: JobKind, subject_id: i64, now: i64) -> Result<()> {
    conn.prepare_cached(
        "INSERT INTO jobs (kind, subject_id, state, run_at, created_at, updated_at)
         VALUES (?1, ?2, 'queued', ?3, ?3, ?3)
         ON CONFLICT (kind, subject_id) WHERE state IN ('queued', 'running') DO NOTHING",
    )?
    .execute(params![kind.as_str(), subject_id, now])?;
    Ok(())
}

/// Claims the next due job for `lease_ms`.
pub fn claim(conn: &Connection, lease_ms: i64) -> Result<Option<Job>> {
    let now = now_ms();
    Ok(conn
        .prepare_cached(&CLAIM)?
        .query_row(params![now, now + lease_ms], |r| {
            Ok(Job {
                id: r.get(0)?,
                kind: r.get(1)?,
                subject_id: r.get(2)?,
                attempts: r.get(3)?,
                created_at: r.get(4)?,
            })
        })
        .optional()?)
}

/// Marks a job done.
pub fn complete(conn: &Connection, id: i64) -> Result<()> {
    conn.execute(
        "UPDATE jobs SET state = 'done', locked_until = NULL, last_error = NULL, updated_at = ?2 WHERE id = ?1",
        params![id, now_ms()],
    )?;
    Ok(())
}

/// Puts a job back in the queue to run after `delay_ms`, keeping the error. A
/// `refund` gives the attempt back: the job never got to try (Meta was unreachable).
pub fn retry(conn: &Connection, id: i64, delay_ms: i64, error: &str, refund: bool) -> Result<()> {
    let now = now_ms();
    conn.execute(
        "UPDATE jobs SET state = 'queued', run_at = ?2, locked_until = NULL, last_error = ?3, updated_at = ?4,
                attempts = attempts - ?5
         WHERE id = ?1",
        params![id, now + delay_ms, error, now, refund as i64],
    )?;
    Ok(())
}

/// Marks a job failed for good, keeping its last error and the reason code.
pub fn fail(conn: &Connection, id: i64, reason: FailureReason, error: &str) -> Result<()> {
    fail_at(conn, id, reason, error, now_ms())
}

/// Like [`fail`], recording the failure at `at_ms`.
pub fn fail_at(
    conn: &Connection,
    id: i64,
    reason: FailureReason,
    error: &str,
    at_ms: i64,
) -> Result<()> {
    conn.execute(
        "UPDATE jobs SET state = 'failed', locked_until = NULL, last_error = ?2, updated_at = ?3,
                failure_reason = ?4
         WHERE id = ?1",
        params![id, error, at_ms, reason],
    )?;
    Ok(())
}

/// Releases every running job (at start: whoever ran them is gone).
pub fn release_all(conn: &Connection) -> Result<usize> {
    Ok(conn.execute(
        "UPDATE jobs SET state = 'queued', locked_until = NULL WHERE state = 'running'",
        [],
    )?)
}

/// Job counts by kind and state, for `doctor` and `/metrics`.
#[derive(Debug, Clone, Serialize)]
pub struct Count {
    pub kind: String,
    pub state: String,
    pub count: i64,
}

/// Counts jobs by kind and state.
pub fn counts(conn: &Connection) -> Result<Vec<Count>> {
    let mut stmt = conn.prepare(
        "SELECT kind, state, COUNT(*) FROM jobs GROUP BY kind, state ORDER BY kind, state",
    )?;
    let rows = stmt.query_map([], |r| {
        Ok(Count {
            kind: r.get(0)?,
            state: r.get(1)?,
            count: r.get(2)?,
        })
    })?;
    Ok(rows.collect::<rusqlite::Result<_>>()?)
}

/// Most finished jobs [`prune_done`] deletes per call.
pub const PRUNE_CHUNK: i64 = 2000;

/// Deletes up to [`PRUNE_CHUNK`] jobs that finished (`done`) before `before_ms` and
/// returns how many; the caller repeats while a full chunk went, taking the write gate
/// per chunk so the ingest writer never waits behind a whole prune. Nothing reads a
/// done job again, but `/metrics` counts the table on every scrape: with 1.1M rows one
/// count took 0.68 s of CPU. Failed jobs stay (`doctor` reports them, and a new channel
/// token re-queues the ones the old token failed).
pub fn prune_done(conn: &Connection, before_ms: i64) -> Result<i64> {
    Ok(conn.execute(
        "DELETE FROM jobs WHERE id IN
           (SELECT id FROM jobs WHERE state = 'done' AND updated_at < ?1 LIMIT ?2)",
        [before_ms, PRUNE_CHUNK],
    )? as i64)
}

/// Failed jobs counted by kind and reason.
pub fn failure_counts(conn: &Connection) -> Result<Vec<(JobKind, FailureReason, i64)>> {
    let mut stmt = conn.prepare(
        "SELECT kind, COALESCE(failure_reason, 'other'), COUNT(*) FROM jobs WHERE state = 'failed'
         GROUP BY 1, 2 ORDER BY 1, 2",
    )?;
    let rows = stmt.query_map([], |r| Ok((r.get(0)?, r.get(1)?, r.get(2)?)))?;
    Ok(rows.collect::<rusqlite::Result<_>>()?)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn claim_retry_fail_and_lease_expiry() {
        let conn = crate::store::memory();
        queue(&conn, JobKind::FetchProfile, 7, now_ms()).unwrap();
        // The unique index keeps one live job per subject.
        queue(&conn, JobKind::FetchProfile, 7, now_ms()).unwrap();
        let job = claim(&conn, 60_000).unwrap().unwrap();
        assert_eq!((job.subject_id, job.attempts), (7, 1));
        assert!(claim(&conn, 60_000).unwrap().is_none(), "leased");
        retry(&conn, job.id, 0, "HTTP 500", false).unwrap();
        let job = claim(&conn, -1).unwrap().unwrap();
        assert_eq!(job.attempts, 2);
        // A refunded attempt (Meta unreachable) does not count.
        retry(&conn, job.id, 0, "connection failed", true).unwrap();
        let job = claim(&conn, -1).unwrap().unwrap();
        assert_eq!(job.attempts, 2);
        // An expired lease (the worker died) makes the job claimable again.
        let again = claim(&conn, 60_000).unwrap().unwrap();
        assert_eq!((again.id, again.attempts), (job.id, 3));
        fail(&conn, job.id, FailureReason::Other, "gone").unwrap();
        assert!(claim(&conn, 60_000).unwrap().is_none());
        let c = counts(&conn).unwrap();
        assert_eq!((c[0].state.as_str(), c[0].count), ("failed", 1));
    }

    #[test]
    fn claim_takes_expired_leases_then_the_oldest_due_job() {
        let conn = crate::store::memory();
        let now = now_ms();
        for (subject, run_at) in [
            (1, now - 10),
            (2, now - 30),
            (3, now - 20),
            (4, now + 60_000),
        ] {
            queue(&conn, JobKind::FetchProfile, subject, run_at).unwrap();
        }
        let order: Vec<i64> = std::iter::from_fn(|| claim(&conn, 60_000).unwrap())
            .map(|j| j.subject_id)
            .collect();
        assert_eq!(
            order,
            [2, 3, 1],
            "oldest due first; not yet due stays queued"
        );
        // Subject 3's worker died: its lease runs out and it comes back before the due one.
        conn.execute("UPDATE jobs SET locked_until = 0 WHERE subject_id = 3", [])
            .unwrap();
        conn.execute("UPDATE jobs SET run_at = 0 WHERE subject_id = 4", [])
            .unwrap();
        assert_eq!(claim(&conn, 60_000).unwrap().unwrap().subject_id, 3);
        assert_eq!(claim(&conn, 60_000).unwrap().unwrap().subject_id, 4);
    }

    #[test]
    fn claim_takes_downloads_before_profiles() {
        let conn = crate::store::memory();
        let now = now_ms();
        // A backlog of older profile fetches, a download queued after them, and a
        // download that is not due yet (a retry waiting out its backoff).
        for (kind, subject, run_at) in [
            (JobKind::FetchProfile, 1, now - 30),
            (JobKind::FetchProfile, 2, now - 20),
            (JobKind::DownloadAttachment, 3, now - 10),
            (JobKind::DownloadAttachment, 4, now + 60_000),
        ] {
            queue(&conn, kind, subject, run_at).unwrap();
        }
        let order: Vec<(JobKind, i64)> = std::iter::from_fn(|| claim(&conn, 60_000).unwrap())
            .map(|j| (j.kind, j.subject_id))
            .collect();
        let expect = [
            (JobKind::DownloadAttachment, 3),
            (JobKind::FetchProfile, 1),
            (JobKind::FetchProfile, 2),
        ];
        assert_eq!(order, expect);
        // Expired leases still come back first, downloads before profiles among them.
        conn.execute(
            "UPDATE jobs SET locked_until = 0 WHERE subject_id IN (1, 3)",
            [],
        )
        .unwrap();
        conn.execute("UPDATE jobs SET run_at = 0 WHERE subject_id = 4", [])
            .unwrap();
        let order: Vec<i64> = std::iter::from_fn(|| claim(&conn, 60_000).unwrap())
            .map(|j| j.subject_id)
            .collect();
        assert_eq!(order, [3, 1, 4]);
    }

    #[test]
    fn prune_done_keeps_live_failed_and_recent_jobs() {
        let conn = crate::store::memory();
        let now = now_ms();
        for subject in 1..=4 {
            queue(&conn, JobKind::FetchProfile, subject, now).unwrap();
        }
        let (a, b, c) = (
            claim(&conn, 60_000).unwrap().unwrap(),
            claim(&conn, 60_000).unwrap().unwrap(),
            claim(&conn, 60_000).unwrap().unwrap(),
        );
        complete(&conn, a.id).unwrap();
        complete(&conn, b.id).unwrap();
        fail(&conn, c.id, FailureReason::Other, "gone").unwrap();
        conn.execute(
            "UPDATE jobs SET updated_at = 0 WHERE id IN (?1, ?2)",
            [a.id, c.id],
        )
        .unwrap();
        assert_eq!(prune_done(&conn, now - 1000).unwrap(), 1);
        let left: Vec<(i64, String)> = conn
            .prepare("SELECT subject_id, state FROM jobs ORDER BY subject_id")
            .unwrap()
            .query_map([], |r| Ok((r.get(0)?, r.get(1)?)))
            .unwrap()
            .collect::<rusqlite::Result<_>>()
            .unwrap();
        let expect = [
            (b.subject_id, "done"),
            (c.subject_id, "failed"),
            (4, "queued"),
        ];
        let expect: Vec<(i64, String)> = expect.iter().map(|(i, s)| (*i, s.to_string())).collect();
        assert_eq!(left, expect, "old done job {} pruned", a.subject_id);
    }

    #[test]
    fn prune_done_deletes_a_chunk_per_call() {
        let conn = crate::store::memory();
        conn.execute(
            "WITH RECURSIVE n(i) AS (SELECT 1 UNION ALL SELECT i + 1 FROM n WHERE i < 2500)
             INSERT INTO jobs (kind, subject_id, state, run_at, created_at, updated_at)
             SELECT 'fetch_profile', i, 'done', 0, 0, 0 FROM n",
            [],
        )
        .unwrap();
        let calls: Vec<i64> = (0..3).map(|_| prune_done(&conn, 1).unwrap()).collect();
        assert_eq!(calls, [PRUNE_CHUNK, 2500 - PRUNE_CHUNK, 0]);
    }

    #[test]
    fn claim_reads_the_due_index_in_order() {
        let conn = crate::store::memory();
        let plan: Vec<String> = conn
            .prepare(&format!("EXPLAIN QUERY PLAN SELECT {}", next_job()))
            .unwrap()
            .query_map([0], |r| r.get(3))
            .unwrap()
            .collect::<rusqlite::Result<_>>()
            .unwrap();
        let plan = plan.join("\n");
        // Every subquery seeks to its (state, kind) in the index: with the kind only
        // filtered, a claim for a download read past the whole profile backlog.
        let seeks = plan
            .matches("USING INDEX jobs_due (state=? AND kind=?)")
            .count()
            + plan
                .matches("USING COVERING INDEX jobs_due (state=? AND kind=? AND run_at<?)")
                .count();
        assert_eq!(seeks, 2 * KINDS_BY_PRIORITY.len(), "{plan}");
        assert!(!plan.contains("TEMP B-TREE"), "{plan}");
    }

    #[test]
    fn failures_are_counted_by_their_code_not_their_text() {
        let conn = crate::store::memory();
        let now = now_ms();
        for subject in 1..=3 {
            queue(&conn, JobKind::DownloadAttachment, subject, now).unwrap();
        }
        // Texts that the old substring rule would have labelled otherwise.
        let failures = [
            (
                FailureReason::TooLarge,
                "refusing: gave up after no profile",
            ),
            (FailureReason::TooLarge, "anything at all"),
            (FailureReason::NoToken, "access token rejected"),
        ];
        for (reason, text) in failures {
            let j = claim(&conn, 60_000).unwrap().unwrap();
            fail(&conn, j.id, reason, text).unwrap();
        }
        let counts = failure_counts(&conn).unwrap();
        assert_eq!(
            counts,
            [
                (JobKind::DownloadAttachment, FailureReason::NoToken, 1),
                (JobKind::DownloadAttachment, FailureReason::TooLarge, 2),
            ]
        );
    }
}
