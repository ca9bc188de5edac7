//! The raw webhook journal: every verified body, exactly as received.

use rusqlite::{Connection, params};

use super::Result;
use crate::model::Outcome;

/// A row to append.
#[derive(Debug)]
pub struct NewEntry<'a> {
    pub provider: &'a str,
    pub received_at: i64,
    pub body: &'a [u8],
    pub secret_used: Option<&'a str>,
    pub outcome: Outcome,
    pub reason: Option<&'a str>,
    pub stored: i64,
    pub unmatched: &'a [String],
}

/// Appends a journal row.
pub fn insert(conn: &Connection, e: &NewEntry<'_>) -> Result<i64> {
    let unmatched = if e.unmatched.is_empty() {
        None
    } else {
        Some(serde_json::to_string(e.unmatched).unwrap_or_default())
    };
    conn.prepare_cached(
        "INSERT INTO webhook_journal
           (provider, received_at, body, secret_used, outcome, reason, stored, unmatched)
         VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8)",
    )?
    .execute(params![
        e.provider,
        e.received_at,
        e.body,
        e.secret_used,
        e.outcome.as_str(),
        e.reason,
        e.stored,
        unmatched
    ])?;
    Ok(conn.last_insert_rowid())
}

/// Counts journal rows, optionally with one outcome.
pub fn count(conn: &Connection, outcome: Option<Outcome>) -> Result<i64> {
    Ok(match outcome {
        Some(o) => conn.query_row(
            "SELECT COUNT(*) FROM webhook_journal WHERE outcome = ?1",
            [o.as_str()],
            |r| r.get(0),
        )?,
        None => conn.query_row("SELECT COUNT(*) FROM webhook_journal", [], |r| r.get(0))?,
    })
}

/// Most rows [`prune_chunk`] deletes per call.
pub const PRUNE_CHUNK: i64 = 2000;

/// Deletes (or with `dry_run` only counts) the rows received before `before_ms` whose
/// outcome is one of `outcomes`, a chunk per statement so a running server's writer
/// never waits long for the write lock (the CLI runs in another process and cannot
/// take the server's write gate).
pub fn prune(
    conn: &Connection,
    before_ms: i64,
    outcomes: &[Outcome],
    dry_run: bool,
) -> Result<i64> {
    if dry_run {
        return Ok(conn.query_row(
            &format!(
                "SELECT COUNT(*) FROM webhook_journal WHERE {}",
                prune_filter(outcomes)
            ),
            [before_ms],
            |r| r.get(0),
        )?);
    }
    let mut total = 0;
    loop {
        let n = prune_chunk(conn, before_ms, outcomes)?;
        total += n;
        if n < PRUNE_CHUNK {
            return Ok(total);
        }
    }
}

/// Deletes up to [`PRUNE_CHUNK`] of the rows [`prune`] would, and returns how many.
/// The server calls it once per write-gate hold, so its ingest writer waits for one
/// chunk at most, on the gate, rather than polling SQLite's lock.
pub fn prune_chunk(conn: &Connection, before_ms: i64, outcomes: &[Outcome]) -> Result<i64> {
    let sql = format!(
        "DELETE FROM webhook_journal WHERE id IN
           (SELECT id FROM webhook_journal WHERE {} LIMIT ?2)",
        prune_filter(outcomes)
    );
    Ok(conn.execute(&sql, [before_ms, PRUNE_CHUNK])? as i64)
}

fn prune_filter(outcomes: &[Outcome]) -> String {
    let list = outcomes
        .iter()
        .map(|o| format!("'{}'", o.as_str()))
        .collect::<Vec<_>>()
        .join(", ");
    format!("received_at < ?1 AND outcome IN ({list})")
}

/// Counts the rows received since `since_ms` with one outcome.
pub fn count_since(conn: &Connection, outcome: Outcome, since_ms: i64) -> Result<i64> {
    Ok(conn.query_row(
        "SELECT COUNT(*) FROM webhook_journal WHERE outcome = ?1 AND received_at >= ?2",
        params![outcome.as_str(), since_ms],
        |r| r.get(0),
    )?)
}

/// The newest arrival time for a provider, if anything ever arrived.
pub fn last_received(conn: &Connection, provider: &str) -> Result<Option<i64>> {
    Ok(conn.query_row(
        "SELECT MAX(received_at) FROM webhook_journal WHERE provider = ?1",
        [provider],
        |r| r.get(0),
    )?)
}

/// The unmatched channel ids of rows received since `since_ms`: one
/// `(provider, id, bodies)` per provider and id, most frequent first.
pub fn unmatched_since(conn: &Connection, since_ms: i64) -> Result<Vec<(String, String, i64)>> {
    let mut stmt = conn.prepare(
        "SELECT provider, unmatched FROM webhook_journal
         WHERE outcome = 'unmatched' AND received_at >= ?1 AND unmatched IS NOT NULL",
    )?;
    let rows = stmt.query_map([since_ms], |r| {
        Ok((r.get::<_, String>(0)?, r.get::<_, String>(1)?))
    })?;
    let mut counts: Vec<(String, String, i64)> = Vec::new();
    for row in rows {
        let (provider, list) = row?;
        for id in serde_json::from_str::<Vec<String>>(&list).unwrap_or_default() {
            match counts
                .iter_mut()
                .find(|(p, i, _)| *p == provider && *i == id)
            {
                Some(c) => c.2 += 1,
                None => counts.push((provider.clone(), id, 1)),
            }
        }
    }
    counts.sort_by(|a, b| b.2.cmp(&a.2).then_with(|| a.1.cmp(&b.1)));
    Ok(counts)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn prune_goes_a_chunk_at_a_time_and_keeps_other_outcomes() {
        let conn = crate::store::memory();
        conn.execute(
            "WITH RECURSIVE n(i) AS (SELECT 1 UNION ALL SELECT i + 1 FROM n WHERE i < 2500)
             INSERT INTO webhook_journal (provider, received_at, body, outcome)
             SELECT 'facebook', 0, x'7b7d', CASE WHEN i <= 2400 THEN 'processed' ELSE 'unmatched' END
             FROM n",
            [],
        )
        .unwrap();
        let processed = [Outcome::Processed];
        assert_eq!(
            prune(&conn, 1, &processed, true).unwrap(),
            2400,
            "dry run counts"
        );
        let chunks: Vec<i64> = (0..3)
            .map(|_| prune_chunk(&conn, 1, &processed).unwrap())
            .collect();
        assert_eq!(chunks, [PRUNE_CHUNK, 2400 - PRUNE_CHUNK, 0]);
        let left: i64 = conn
            .query_row(
                "SELECT COUNT(*) FROM webhook_journal WHERE outcome = 'unmatched'",
                [],
                |r| r.get(0),
            )
            .unwrap();
        assert_eq!(left, 100);
    }
}
