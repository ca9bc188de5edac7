//! Channels: the Pages, Instagram accounts and WhatsApp numbers HelpStack receives for.

use rusqlite::{Connection, OptionalExtension, Row, params};
use serde::Serialize;
use serde_json::Value;

use super::{Result, StoreError, now_ms};
use crate::model::Provider;

/// A channel as shown to admins. The credentials (access token) are never serialized.
#[derive(Debug, Clone, Serialize)]
pub struct Channel {
    pub id: i64,
    pub provider: Provider,
    pub external_id: String,
    pub name: String,
    pub token_status: String,
    pub token_error: Option<String>,
    pub has_token: bool,
    pub created_at: i64,
    #[serde(skip)]
    pub credentials: Value,
}

impl Channel {
    /// Returns the Graph API access token, if one is stored.
    pub fn access_token(&self) -> Option<&str> {
        self.credentials
            .get("accessToken")
            .and_then(Value::as_str)
            .filter(|t| !t.is_empty())
    }
}

const COLUMNS: &str =
    "id, provider, external_id, name, token_status, token_error, created_at, credentials";

fn from_row(r: &Row<'_>) -> rusqlite::Result<Channel> {
    let credentials: String = r.get(7)?;
    let mut credentials: Value = serde_json::from_str(&credentials).unwrap_or(Value::Null);
    let has_token = credentials
        .get("accessToken")
        .and_then(Value::as_str)
        .is_some_and(|t| !t.is_empty());
    // Opened here, once: the rest of the program sees the token, never the sealed form.
    if let Some(stored) = credentials.get("accessToken").and_then(Value::as_str) {
        let opened = open_token(stored).unwrap_or_default();
        credentials["accessToken"] = Value::String(opened);
    }
    Ok(Channel {
        id: r.get(0)?,
        provider: r.get(1)?,
        external_id: r.get(2)?,
        name: r.get(3)?,
        token_status: r.get(4)?,
        token_error: r.get(5)?,
        created_at: r.get(6)?,
        has_token,
        credentials,
    })
}

/// Builds the credentials JSON, using the key names of the product documentation.
pub fn credentials(
    provider: Provider,
    external_id: &str,
    access_token: &str,
    waba_id: Option<&str>,
) -> Value {
    let mut c = serde_json::json!({ "accessToken": access_token });
    let key = match provider {
        Provider::Facebook => "pageId",
        Provider::Instagram => "instagramAccountId",
        Provider::Whatsapp => "phoneNumberId",
    };
    c[key] = Value::String(external_id.to_string());
    if let Some(w) = waba_id {
        c["wabaId"] = Value::String(w.to_string());
    }
    c
}

/// Creates a channel; a second channel with the same provider and id is refused.
pub fn insert(
    conn: &Connection,
    provider: Provider,
    external_id: &str,
    name: &str,
    credentials: &Value,
) -> Result<i64> {
    let now = now_ms();
    let mut credentials = credentials.clone();
    if let Some(t) = credentials.get("accessToken").and_then(Value::as_str) {
        credentials["accessToken"] = Value::String(crate::seal::seal(t));
    }
    let n = conn.execute(
        "INSERT INTO channels (provider, external_id, name, credentials, created_at, updated_at)
         VALUES (?1, ?2, ?3, ?4, ?5, ?5) ON CONFLICT (provider, external_id) DO NOTHING",
        params![
            provider.as_str(),
            external_id,
            name,
            credentials.to_string(),
            now
        ],
    )?;
    if n == 0 {
        return Err(StoreError::Conflict(format!(
            "a {provider} channel with {} {external_id} already exists",
            provider.id_label()
        )));
    }
    Ok(conn.last_insert_rowid())
}

/// Lists all channels, oldest first.
pub fn list(conn: &Connection) -> Result<Vec<Channel>> {
    let mut stmt = conn.prepare(&format!("SELECT {COLUMNS} FROM channels ORDER BY id"))?;
    let rows = stmt.query_map([], from_row)?;
    Ok(rows.collect::<rusqlite::Result<_>>()?)
}

/// Fetches one channel by id.
pub fn get(conn: &Connection, id: i64) -> Result<Option<Channel>> {
    Ok(conn
        .query_row(
            &format!("SELECT {COLUMNS} FROM channels WHERE id = ?1"),
            [id],
            from_row,
        )
        .optional()?)
}

/// Finds the channel id for a provider's external id (page/account/phone number id).
pub fn find_id(conn: &Connection, provider: Provider, external_id: &str) -> Result<Option<i64>> {
    Ok(conn
        .prepare_cached("SELECT id FROM channels WHERE provider = ?1 AND external_id = ?2")?
        .query_row(params![provider.as_str(), external_id], |r| r.get(0))
        .optional()?)
}

/// Flags a channel's token as rejected by Meta (code 190), with Graph's message.
pub fn set_token_invalid(conn: &Connection, id: i64, error: &str) -> Result<()> {
    conn.execute(
        "UPDATE channels SET token_status = 'token_invalid', token_error = ?2, updated_at = ?3 WHERE id = ?1",
        params![id, error, now_ms()],
    )?;
    Ok(())
}

/// Records that the token just worked.
pub fn set_token_ok(conn: &Connection, id: i64) -> Result<()> {
    conn.execute(
        "UPDATE channels SET token_status = 'ok', token_error = NULL, updated_at = ?2
         WHERE id = ?1 AND token_status <> 'ok'",
        params![id, now_ms()],
    )?;
    Ok(())
}

/// Reads the access token out of a credentials JSON string, opening it.
pub fn token_of(credentials: &str) -> Option<String> {
    serde_json::from_str::<Value>(credentials)
        .ok()?
        .get("accessToken")?
        .as_str()
        .and_then(open_token)
        .filter(|t| !t.is_empty())
}

/// Opens a stored token; one that cannot be opened (its key is gone) reads as absent,
/// which the jobs and `doctor` report as a missing token.
fn open_token(stored: &str) -> Option<String> {
    match crate::seal::open(stored) {
        Ok(t) => Some(t),
        Err(e) => {
            tracing::error!(error = %e, "a channel's access token cannot be opened");
            None
        }
    }
}

/// Seals every plaintext token (written by a version before tokens were sealed).
/// Returns how many channels changed.
pub fn seal_plaintext(conn: &Connection) -> Result<usize> {
    reseal(conn, |stored| !crate::seal::is_sealed(stored))
}

/// Re-seals every token not sealed with `key_id` (after `rotate secret-key`). Fails,
/// changing nothing, when one cannot be opened.
pub fn reseal_all(conn: &Connection, key_id: &str) -> Result<usize> {
    reseal(conn, |stored| {
        crate::seal::sealed_with(stored) != Some(key_id)
    })
}

fn reseal(conn: &Connection, needs: impl Fn(&str) -> bool) -> Result<usize> {
    let tx = conn.unchecked_transaction()?;
    let rows: Vec<(i64, String)> = tx
        .prepare(
            "SELECT id, json_extract(credentials, '$.accessToken') FROM channels
             WHERE json_extract(credentials, '$.accessToken') <> ''",
        )?
        .query_map([], |r| Ok((r.get(0)?, r.get(1)?)))?
        .collect::<rusqlite::Result<_>>()?;
    let mut changed = 0;
    for (id, stored) in rows.iter().filter(|(_, s)| needs(s)) {
        let plain = crate::seal::open(stored)
            .map_err(|e| StoreError::Conflict(format!("channel {id}: access token: {e}")))?;
        tx.execute(
            "UPDATE channels SET credentials = json_set(credentials, '$.accessToken', ?2)
             WHERE id = ?1",
            params![id, crate::seal::seal(&plain)],
        )?;
        changed += 1;
    }
    tx.commit()?;
    Ok(changed)
}

/// Counts channels whose stored token is not sealed (`doctor`, tests of backups).
pub fn plaintext_count(conn: &Connection) -> Result<i64> {
    Ok(conn.query_row(
        "SELECT COUNT(*) FROM channels
         WHERE json_extract(credentials, '$.accessToken') <> ''
           AND json_extract(credentials, '$.accessToken') NOT LIKE 'enc1:%'",
        [],
        |r| r.get(0),
    )?)
}

/// Counts a channel's conversations (what `channel remove --purge` would delete).
pub fn conversation_count(conn: &Connection, id: i64) -> Result<i64> {
    Ok(conn.query_row(
        "SELECT COUNT(*) FROM conversations WHERE channel_id = ?1",
        [id],
        |r| r.get(0),
    )?)
}

/// Deletes a channel and, through the schema's cascades, its contacts, conversations,
/// messages and their overlays. Journal rows stay (they name no channel row), so
/// re-adding the channel and running `replay` brings the conversations back.
pub fn remove(conn: &Connection, id: i64) -> Result<bool> {
    Ok(conn.execute("DELETE FROM channels WHERE id = ?1", [id])? == 1)
}

/// Replaces a channel's access token and forgets what Meta said about the old one.
pub fn set_token(conn: &Connection, id: i64, token: &str) -> Result<bool> {
    let n = conn.execute(
        "UPDATE channels SET credentials = json_set(credentials, '$.accessToken', ?2),
                token_status = 'unknown', token_error = NULL, updated_at = ?3
         WHERE id = ?1",
        params![id, crate::seal::seal(token), now_ms()],
    )?;
    Ok(n == 1)
}

/// Puts the channel's jobs that failed because Meta rejected its token back in the
/// queue (attempts reset, due now), and marks their attachments pending again.
/// Only the newest failed job per subject is revived, and none where a live job for
/// the subject exists, so the one-live-job-per-subject index holds.
pub fn requeue_token_failures(conn: &Connection, id: i64) -> Result<usize> {
    let now = now_ms();
    conn.execute(
        "UPDATE attachments SET status = 'pending', error = NULL, updated_at = ?2
         WHERE status = 'failed' AND error LIKE '%access token rejected%'
           AND message_id IN (SELECT id FROM messages WHERE channel_id = ?1)",
        params![id, now],
    )?;
    Ok(conn.execute(
        "UPDATE jobs SET state = 'queued', attempts = 0, run_at = ?2, locked_until = NULL,
                failure_reason = NULL, updated_at = ?2
         WHERE state = 'failed' AND failure_reason = 'token_invalid'
           AND ((kind = 'fetch_profile'
                 AND subject_id IN (SELECT id FROM contacts WHERE channel_id = ?1))
             OR (kind = 'download_attachment'
                 AND subject_id IN (SELECT a.id FROM attachments a
                                    JOIN messages m ON m.id = a.message_id
                                    WHERE m.channel_id = ?1)))
           AND id = (SELECT MAX(j.id) FROM jobs j
                     WHERE j.kind = jobs.kind AND j.subject_id = jobs.subject_id
                       AND j.state = 'failed')
           AND NOT EXISTS (SELECT 1 FROM jobs j
                           WHERE j.kind = jobs.kind AND j.subject_id = jobs.subject_id
                             AND j.state IN ('queued', 'running'))",
        params![id, now],
    )?)
}
