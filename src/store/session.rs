//! Login sessions. Only a SHA-256 of the cookie value is stored, so a copy of the
//! database does not hand out live sessions.

use rusqlite::{Connection, OptionalExtension, params};

use super::{Result, now_ms};

/// The administrator behind a valid session.
#[derive(Debug, Clone)]
pub struct SessionAdmin {
    pub admin_id: i64,
    pub username: String,
}

/// Stores a new session.
pub fn create(conn: &Connection, token_hash: &str, admin_id: i64, ttl_ms: i64) -> Result<()> {
    let now = now_ms();
    conn.execute(
        "INSERT INTO sessions (token_hash, admin_id, created_at, expires_at) VALUES (?1, ?2, ?3, ?4)",
        params![token_hash, admin_id, now, now + ttl_ms],
    )?;
    // Housekeeping on login keeps the table small without a separate job.
    conn.execute("DELETE FROM sessions WHERE expires_at < ?1", [now])?;
    Ok(())
}

/// Looks up an unexpired session.
pub fn find(conn: &Connection, token_hash: &str) -> Result<Option<SessionAdmin>> {
    Ok(conn
        .query_row(
            "SELECT a.id, a.username FROM sessions s JOIN admins a ON a.id = s.admin_id
             WHERE s.token_hash = ?1 AND s.expires_at > ?2",
            params![token_hash, now_ms()],
            |r| {
                Ok(SessionAdmin {
                    admin_id: r.get(0)?,
                    username: r.get(1)?,
                })
            },
        )
        .optional()?)
}

/// Deletes a session (logout).
pub fn delete(conn: &Connection, token_hash: &str) -> Result<()> {
    conn.execute("DELETE FROM sessions WHERE token_hash = ?1", [token_hash])?;
    Ok(())
}
