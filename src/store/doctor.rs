//! Read-only queries behind `helpstack doctor` that belong to no single entity.

use rusqlite::Connection;

use super::Result;

/// Jobs that failed since `since_ms`, grouped by kind and last error, most frequent
/// first.
pub fn failed_job_reasons(conn: &Connection, since_ms: i64) -> Result<Vec<(String, String, i64)>> {
    let mut stmt = conn.prepare(
        "SELECT kind, COALESCE(last_error, '(no error recorded)'), COUNT(*) FROM jobs
         WHERE state = 'failed' AND updated_at >= ?1
         GROUP BY 1, 2 ORDER BY 3 DESC, 1, 2 LIMIT 200",
    )?;
    let rows = stmt.query_map([since_ms], |r| Ok((r.get(0)?, r.get(1)?, r.get(2)?)))?;
    Ok(rows.collect::<rusqlite::Result<_>>()?)
}

/// How many jobs failed with `reason` since `since_ms`.
pub fn failed_with_reason(
    conn: &Connection,
    since_ms: i64,
    reason: super::job::FailureReason,
) -> Result<i64> {
    Ok(conn.query_row(
        "SELECT COUNT(*) FROM jobs WHERE state = 'failed' AND updated_at >= ?1
           AND failure_reason = ?2",
        rusqlite::params![since_ms, reason],
        |r| r.get(0),
    )?)
}

/// How many jobs failed before `before_ms`.
pub fn failed_jobs_before(conn: &Connection, before_ms: i64) -> Result<i64> {
    Ok(conn.query_row(
        "SELECT COUNT(*) FROM jobs WHERE state = 'failed' AND updated_at < ?1",
        [before_ms],
        |r| r.get(0),
    )?)
}

/// Messages the search index does not cover yet, and when the oldest of them arrived.
pub fn search_backlog(conn: &Connection) -> Result<(i64, Option<i64>)> {
    let (indexed_through, _) = super::search::progress(conn)?;
    Ok(conn.query_row(
        "SELECT COUNT(*), MIN(created_at) FROM messages WHERE id > ?1",
        [indexed_through],
        |r| Ok((r.get(0)?, r.get(1)?)),
    )?)
}

/// Queued jobs that are due by `now_ms`, and since when the oldest of them is due.
pub fn due_jobs(conn: &Connection, now_ms: i64) -> Result<(i64, Option<i64>)> {
    Ok(conn.query_row(
        "SELECT COUNT(*), MIN(run_at) FROM jobs WHERE state = 'queued' AND run_at <= ?1",
        [now_ms],
        |r| Ok((r.get(0)?, r.get(1)?)),
    )?)
}
