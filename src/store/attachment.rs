//! Attachment rows as the download job and the file endpoint need them.

use rusqlite::{Connection, OptionalExtension, params};

use super::{Result, now_ms};

/// Everything the download job needs about one attachment.
#[derive(Debug, Clone)]
pub struct MediaWork {
    pub id: i64,
    pub message_id: i64,
    pub status: String,
    pub source_url: Option<String>,
    pub media_id: Option<String>,
    pub expected_sha256: Option<String>,
    pub mime_type: Option<String>,
    pub channel_id: i64,
    pub provider: String,
    pub credentials: String,
}

/// Loads an attachment with its channel.
pub fn work(conn: &Connection, id: i64) -> Result<Option<MediaWork>> {
    Ok(conn
        .prepare_cached(
            "SELECT a.id, a.message_id, a.status, a.source_url, a.media_id, a.expected_sha256, a.mime_type,
                    ch.id, ch.provider, ch.credentials
             FROM attachments a JOIN messages m ON m.id = a.message_id JOIN channels ch ON ch.id = m.channel_id
             WHERE a.id = ?1",
        )?
        .query_row([id], |r| {
            Ok(MediaWork {
                id: r.get(0)?,
                message_id: r.get(1)?,
                status: r.get(2)?,
                source_url: r.get(3)?,
                media_id: r.get(4)?,
                expected_sha256: r.get(5)?,
                mime_type: r.get(6)?,
                channel_id: r.get(7)?,
                provider: r.get(8)?,
                credentials: r.get(9)?,
            })
        })
        .optional()?)
}

/// Records stored bytes.
pub fn mark_stored(
    conn: &Connection,
    id: i64,
    sha256: &str,
    size: i64,
    mime: Option<&str>,
) -> Result<()> {
    conn.execute(
        "UPDATE attachments SET status = 'stored', sha256 = ?2, size = ?3,
                mime_type = COALESCE(?4, mime_type), error = NULL, updated_at = ?5 WHERE id = ?1",
        params![id, sha256, size, mime, now_ms()],
    )?;
    Ok(())
}

/// Records a permanent failure with its reason.
pub fn mark_failed(conn: &Connection, id: i64, error: &str) -> Result<()> {
    conn.execute(
        "UPDATE attachments SET status = 'failed', error = ?2, updated_at = ?3 WHERE id = ?1",
        params![id, error, now_ms()],
    )?;
    Ok(())
}

/// A stored file to serve.
#[derive(Debug, Clone)]
pub struct StoredFile {
    pub sha256: String,
    pub mime_type: Option<String>,
    pub filename: Option<String>,
    pub kind: String,
}

/// Looks up a stored attachment's file.
pub fn stored_file(conn: &Connection, id: i64) -> Result<Option<StoredFile>> {
    Ok(conn
        .prepare_cached(
            "SELECT sha256, mime_type, filename, kind FROM attachments
             WHERE id = ?1 AND status = 'stored' AND sha256 IS NOT NULL",
        )?
        .query_row([id], |r| {
            Ok(StoredFile {
                sha256: r.get(0)?,
                mime_type: r.get(1)?,
                filename: r.get(2)?,
                kind: r.get(3)?,
            })
        })
        .optional()?)
}
