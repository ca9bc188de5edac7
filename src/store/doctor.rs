//! Read-only queries behind `helpstack doctor` that belong to no single entity.

use rusqlite::Connection;

use super::Result;

/// Failed jobs grouped by kind and last error, most frequent first.
pub fn failed_job_reasons(conn: &Connection) -> Result<Vec<(String, String, i64)>> {
    let mut stmt = conn.prepare(
        "SELECT kind, COALESCE(last_error, '(no error recorded)'), COUNT(*) FROM jobs
         WHERE state = 'failed' GROUP BY 1, 2 ORDER BY 3 DESC, 1, 2 LIMIT 200",
    )?;
    let rows = stmt.query_map([], |r| Ok((r.get(0)?, r.get(1)?, r.get(2)?)))?;
    Ok(rows.collect::<rusqlite::Result<_>>()?)
}
