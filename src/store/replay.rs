//! The storage side of `helpstack replay`: read journaled bodies back and record what
//! re-running them did.
//!
//! This is the one place a journal row is changed after it was written: its outcome,
//! reason, unmatched ids and stored count are updated to the replay's result (with a
//! note of when and what it was before), so `doctor` and the next replay see the
//! current truth. The body itself is never touched.

use rusqlite::{Connection, params};

use super::Result;
use crate::model::Outcome;

/// A journaled body to replay.
#[derive(Debug, Clone)]
pub struct Entry {
    pub id: i64,
    pub provider: String,
    pub received_at: i64,
    pub body: Vec<u8>,
    pub outcome: String,
}

/// Reads the next `limit` rows after `after_id` received since `since_ms` whose outcome
/// is one of `outcomes`, oldest first (the order Meta delivered them).
pub fn page(
    conn: &Connection,
    after_id: i64,
    since_ms: i64,
    outcomes: &[Outcome],
    limit: i64,
) -> Result<Vec<Entry>> {
    let list = outcomes
        .iter()
        .map(|o| format!("'{}'", o.as_str()))
        .collect::<Vec<_>>()
        .join(", ");
    let mut stmt = conn.prepare(&format!(
        "SELECT id, provider, received_at, body, outcome FROM webhook_journal
         WHERE id > ?1 AND received_at >= ?2 AND outcome IN ({list})
         ORDER BY id LIMIT ?3"
    ))?;
    let rows = stmt.query_map(params![after_id, since_ms, limit], |r| {
        Ok(Entry {
            id: r.get(0)?,
            provider: r.get(1)?,
            received_at: r.get(2)?,
            body: r.get(3)?,
            outcome: r.get(4)?,
        })
    })?;
    Ok(rows.collect::<rusqlite::Result<_>>()?)
}

/// Records a replay's result on the journal row. `stored` only grows: a replay that
/// finds everything already stored does not erase what the first delivery stored.
pub fn record(
    conn: &Connection,
    id: i64,
    outcome: Outcome,
    reason: Option<&str>,
    stored: i64,
    unmatched: &[String],
) -> Result<()> {
    let unmatched =
        (!unmatched.is_empty()).then(|| serde_json::to_string(unmatched).unwrap_or_default());
    conn.execute(
        "UPDATE webhook_journal SET outcome = ?2, reason = ?3, stored = MAX(stored, ?4),
                unmatched = ?5
         WHERE id = ?1",
        params![id, outcome.as_str(), reason, stored, unmatched],
    )?;
    Ok(())
}

/// Runs `f` in an immediate transaction, committing only when `commit` is set (a dry
/// run rolls back, so it reports exactly what a real run would do).
pub fn in_transaction<T>(
    conn: &mut Connection,
    commit: bool,
    f: impl FnOnce(&Connection) -> Result<T>,
) -> Result<T> {
    let tx = conn.transaction_with_behavior(rusqlite::TransactionBehavior::Immediate)?;
    let out = f(&tx)?;
    if commit {
        tx.commit()?;
    }
    Ok(out)
}
