//! The raw webhook journal: every verified body, exactly as received.

use rusqlite::{Connection, params};

use super::Result;

/// How a journaled body was handled.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Outcome {
    /// At least one event was stored (or was already stored).
    Processed,
    /// Some events named a page/account/number with no channel.
    Unmatched,
    /// Nothing in it is something the product stores.
    Ignored,
    /// Storing it failed; the body is kept so `replay` can retry.
    Failed,
}

impl Outcome {
    /// The database name.
    pub fn as_str(self) -> &'static str {
        match self {
            Outcome::Processed => "processed",
            Outcome::Unmatched => "unmatched",
            Outcome::Ignored => "ignored",
            Outcome::Failed => "failed",
        }
    }
}

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
