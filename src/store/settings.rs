//! Small key/value settings the server generates for itself.

use rusqlite::{Connection, OptionalExtension, params};

use super::Result;

/// Key of the verify token generated on first start when none is configured.
pub const GENERATED_VERIFY_TOKEN: &str = "generated_verify_token";
/// The app secret replaced by `rotate app-secret`, still accepted until
/// [`PREVIOUS_APP_SECRET_UNTIL`] (epoch ms) so in-flight deliveries are not rejected.
pub const PREVIOUS_APP_SECRET: &str = "previous_app_secret";
/// End of the grace period of [`PREVIOUS_APP_SECRET`], epoch milliseconds.
pub const PREVIOUS_APP_SECRET_UNTIL: &str = "previous_app_secret_until";

/// Reads a setting.
pub fn get(conn: &Connection, key: &str) -> Result<Option<String>> {
    Ok(conn
        .query_row("SELECT value FROM settings WHERE key = ?1", [key], |r| {
            r.get(0)
        })
        .optional()?)
}

/// Writes a setting, replacing any previous value.
pub fn set(conn: &Connection, key: &str, value: &str) -> Result<()> {
    conn.execute(
        "INSERT INTO settings (key, value) VALUES (?1, ?2)
         ON CONFLICT (key) DO UPDATE SET value = excluded.value",
        params![key, value],
    )?;
    Ok(())
}

/// Returns the stored value for `key`, generating and storing one first if absent.
/// The flag says whether it was generated now.
pub fn get_or_create(
    conn: &Connection,
    key: &str,
    generate: impl FnOnce() -> String,
) -> Result<(String, bool)> {
    if let Some(v) = get(conn, key)? {
        return Ok((v, false));
    }
    let value = generate();
    let inserted = conn.execute(
        "INSERT INTO settings (key, value) VALUES (?1, ?2) ON CONFLICT (key) DO NOTHING",
        params![key, value],
    )?;
    if inserted == 1 {
        Ok((value, true))
    } else {
        Ok((get(conn, key)?.unwrap_or(value), false))
    }
}

/// Removes a setting (absent is fine).
pub fn delete(conn: &Connection, key: &str) -> Result<()> {
    conn.execute("DELETE FROM settings WHERE key = ?1", [key])?;
    Ok(())
}
