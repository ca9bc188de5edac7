//! Attachments: a message's media rows, as ingest stores them and the download job and
//! the file endpoint need them.

use rusqlite::{Connection, OptionalExtension, params};

use super::{Result, now_ms};
use crate::model::{MediaSource, Message, MessageKind};

/// Where an attachment's bytes are.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum AttachmentStatus {
    /// Waiting for its download job.
    Pending,
    /// The bytes are in the file store.
    Stored,
    /// The download gave up; `error` says why.
    Failed,
    /// Never downloaded (policy, or nothing to download); `error` says why.
    Skipped,
}

impl AttachmentStatus {
    /// The database/API name.
    pub fn as_str(self) -> &'static str {
        match self {
            AttachmentStatus::Pending => "pending",
            AttachmentStatus::Stored => "stored",
            AttachmentStatus::Failed => "failed",
            AttachmentStatus::Skipped => "skipped",
        }
    }

    /// Parses a database name.
    pub fn parse(s: &str) -> Option<Self> {
        use AttachmentStatus::*;
        [Pending, Stored, Failed, Skipped]
            .into_iter()
            .find(|a| a.as_str() == s)
    }
}

/// An attachment as the read API and live events show it.
#[derive(Debug, Clone)]
pub struct AttachmentRecord {
    pub id: i64,
    pub message_id: i64,
    pub kind: MessageKind,
    pub mime_type: Option<String>,
    pub size: Option<i64>,
    pub sha256: Option<String>,
    pub filename: Option<String>,
    pub status: AttachmentStatus,
    pub error: Option<String>,
    /// Where the bytes come from (CDN link).
    pub source_url: Option<String>,
}

const RECORD_COLUMNS: &str =
    "id, kind, mime_type, size, sha256, filename, status, error, source_url, message_id";

fn read_record(r: &rusqlite::Row<'_>) -> rusqlite::Result<AttachmentRecord> {
    Ok(AttachmentRecord {
        id: r.get(0)?,
        kind: r.get(1)?,
        mime_type: r.get(2)?,
        size: r.get(3)?,
        sha256: r.get(4)?,
        filename: r.get(5)?,
        status: r.get(6)?,
        error: r.get(7)?,
        source_url: r.get(8)?,
        message_id: r.get(9)?,
    })
}

/// A message's attachments in order.
pub fn of_message(conn: &Connection, message_id: i64) -> Result<Vec<AttachmentRecord>> {
    let mut stmt = conn.prepare_cached(&format!(
        "SELECT {RECORD_COLUMNS} FROM attachments WHERE message_id = ?1 ORDER BY position"
    ))?;
    let rows = stmt.query_map([message_id], read_record)?;
    Ok(rows.collect::<rusqlite::Result<_>>()?)
}

/// One attachment.
pub fn get(conn: &Connection, id: i64) -> Result<Option<AttachmentRecord>> {
    Ok(conn
        .prepare_cached(&format!(
            "SELECT {RECORD_COLUMNS} FROM attachments WHERE id = ?1"
        ))?
        .query_row([id], read_record)
        .optional()?)
}

/// Stores a message's attachments in order and returns the ids of those to download:
/// the rest are `skipped` with the reason (policy forbids keeping them, or no source).
pub fn insert_all(conn: &Connection, message_id: i64, m: &Message, now: i64) -> Result<Vec<i64>> {
    let mut to_download = Vec::new();
    for (position, a) in m.attachments.iter().enumerate() {
        let (url, media_id) = match &a.source {
            MediaSource::Url(u) => (Some(u.as_str()), None),
            MediaSource::MediaId(id) => (None, Some(id.as_str())),
            MediaSource::None => (None, None),
        };
        let downloadable = a.download && (url.is_some() || media_id.is_some());
        let (status, error) = if downloadable {
            (AttachmentStatus::Pending, None)
        } else if !a.download {
            (
                AttachmentStatus::Skipped,
                Some("not downloaded: Meta's policy forbids storing this media"),
            )
        } else {
            (AttachmentStatus::Skipped, Some("no media to download"))
        };
        conn.prepare_cached(
            "INSERT INTO attachments (message_id, position, kind, source_url, media_id, filename,
                                      mime_type, size, expected_sha256, status, error, created_at, updated_at)
             VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10, ?11, ?12, ?12)",
        )?
        .execute(params![
            message_id,
            position as i64,
            a.kind,
            url,
            media_id,
            a.filename,
            a.mime_type,
            a.size,
            a.sha256,
            status,
            error,
            now
        ])?;
        if downloadable {
            to_download.push(conn.last_insert_rowid());
        }
    }
    Ok(to_download)
}

/// Everything the download job needs about one attachment.
#[derive(Debug, Clone)]
pub struct MediaWork {
    pub id: i64,
    pub message_id: i64,
    pub status: AttachmentStatus,
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
