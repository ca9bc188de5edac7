//! Online backups: a consistent copy of the database while the server keeps writing.

use std::path::Path;

use rusqlite::{Connection, OpenFlags};

use super::{Result, StoreError};

/// Opens an existing database without creating or migrating it (backup and doctor
/// must not change what they inspect).
pub fn open_existing(path: &Path) -> Result<Connection> {
    if !path.exists() {
        return Err(StoreError::NotFound(format!("database {}", path.display())));
    }
    let conn = Connection::open_with_flags(
        path,
        OpenFlags::SQLITE_OPEN_READ_WRITE | OpenFlags::SQLITE_OPEN_NO_MUTEX,
    )?;
    conn.busy_timeout(std::time::Duration::from_secs(10))?;
    Ok(conn)
}

/// Writes a transactionally consistent, compacted copy of the database to `dest`
/// (which must not exist) with `VACUUM INTO`: it reads one snapshot, so writes that
/// commit meanwhile are simply not in the copy, and it never blocks the writer.
pub fn vacuum_into(source: &Path, dest: &Path) -> Result<()> {
    let conn = open_existing(source)?;
    conn.execute("VACUUM INTO ?1", [dest.to_string_lossy()])?;
    Ok(())
}

/// Removes what a backup must not hold from a fresh copy: the rotated-out app secret
/// (the current one lives in the config file, never in the database). Secure delete
/// overwrites the freed pages, so the value is not left in the file either.
pub fn strip_secrets(conn: &Connection) -> Result<()> {
    conn.pragma_update(None, "secure_delete", "ON")?;
    super::settings::delete(conn, super::settings::PREVIOUS_APP_SECRET)?;
    super::settings::delete(conn, super::settings::PREVIOUS_APP_SECRET_UNTIL)?;
    super::channel::seal_plaintext(conn)?;
    Ok(())
}

/// The content hashes of every stored file the database references (attachments and
/// profile pictures).
pub fn referenced_files(conn: &Connection) -> Result<Vec<String>> {
    let mut stmt = conn.prepare(
        "SELECT sha256 FROM attachments WHERE sha256 IS NOT NULL
         UNION SELECT avatar_sha256 FROM contacts WHERE avatar_sha256 IS NOT NULL",
    )?;
    let rows = stmt.query_map([], |r| r.get::<_, String>(0))?;
    Ok(rows.collect::<rusqlite::Result<_>>()?)
}

/// Runs SQLite's integrity check (at most `max` problems); `["ok"]` means healthy.
pub fn integrity_check(conn: &Connection, max: u32) -> Result<Vec<String>> {
    let mut stmt = conn.prepare(&format!("PRAGMA integrity_check({max})"))?;
    let rows = stmt.query_map([], |r| r.get::<_, String>(0))?;
    Ok(rows.collect::<rusqlite::Result<_>>()?)
}

/// The schema version recorded in the file (`PRAGMA user_version`).
pub fn schema_version(conn: &Connection) -> Result<i64> {
    Ok(conn.query_row("PRAGMA user_version", [], |r| r.get(0))?)
}
