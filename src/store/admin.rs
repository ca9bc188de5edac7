//! Dashboard administrators.

use rusqlite::{Connection, OptionalExtension, params};

use super::{Result, StoreError, now_ms};

/// An administrator as stored.
#[derive(Debug, Clone)]
pub struct Admin {
    pub id: i64,
    pub username: String,
    pub password_hash: String,
}

/// Counts administrators (zero means first start).
pub fn count(conn: &Connection) -> Result<i64> {
    Ok(conn.query_row("SELECT COUNT(*) FROM admins", [], |r| r.get(0))?)
}

/// Creates an administrator; refuses a username that exists.
pub fn create(conn: &Connection, username: &str, password_hash: &str) -> Result<i64> {
    let now = now_ms();
    let n = conn.execute(
        "INSERT INTO admins (username, password_hash, created_at, updated_at)
         VALUES (?1, ?2, ?3, ?3) ON CONFLICT (username) DO NOTHING",
        params![username, password_hash, now],
    )?;
    if n == 0 {
        return Err(StoreError::Conflict(format!(
            "admin {username:?} already exists"
        )));
    }
    Ok(conn.last_insert_rowid())
}

/// Replaces an administrator's password hash and ends their sessions.
pub fn set_password(conn: &Connection, username: &str, password_hash: &str) -> Result<()> {
    let n = conn.execute(
        "UPDATE admins SET password_hash = ?2, updated_at = ?3 WHERE username = ?1",
        params![username, password_hash, now_ms()],
    )?;
    if n == 0 {
        return Err(StoreError::NotFound(format!("admin {username:?}")));
    }
    conn.execute(
        "DELETE FROM sessions WHERE admin_id = (SELECT id FROM admins WHERE username = ?1)",
        [username],
    )?;
    Ok(())
}

/// Finds an administrator by username.
pub fn find(conn: &Connection, username: &str) -> Result<Option<Admin>> {
    Ok(conn
        .query_row(
            "SELECT id, username, password_hash FROM admins WHERE username = ?1",
            [username],
            |r| {
                Ok(Admin {
                    id: r.get(0)?,
                    username: r.get(1)?,
                    password_hash: r.get(2)?,
                })
            },
        )
        .optional()?)
}
