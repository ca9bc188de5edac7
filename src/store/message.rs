//! Messages as the API shows them: the stored row with its overlays (receipts, edits,
//! deletions, reactions) and attachments applied.

use rusqlite::{Connection, OptionalExtension, params};
use serde::Serialize;
use serde_json::Value;

use super::Result;
use crate::model::DeliveryStatus;
use crate::time_fmt::rfc3339;

/// A message as returned by the read API and in live events.
#[derive(Debug, Clone, Serialize)]
pub struct MessageView {
    pub id: i64,
    pub conversation_id: i64,
    pub external_id: String,
    pub direction: String,
    pub kind: String,
    pub text: Option<String>,
    pub sent_at: String,
    #[serde(skip)]
    pub sent_at_ms: i64,
    /// Outbound only: sent, delivered, read, played or failed.
    pub status: Option<String>,
    pub error: Option<DeliveryError>,
    pub edited: bool,
    /// Earlier texts, oldest first, when edited.
    pub previous_text: Vec<String>,
    pub deleted: bool,
    pub reply_to: Option<String>,
    pub payload: Option<Value>,
    pub reactions: Vec<ReactionView>,
    pub attachments: Vec<AttachmentView>,
}

/// Why an outbound message failed (WhatsApp status errors).
#[derive(Debug, Clone, Serialize)]
pub struct DeliveryError {
    pub code: Option<i64>,
    pub title: Option<String>,
}

/// A reaction on a message.
#[derive(Debug, Clone, Serialize)]
pub struct ReactionView {
    pub reactor: String,
    pub emoji: Option<String>,
    pub reaction: Option<String>,
}

/// An attachment of a message.
#[derive(Debug, Clone, Serialize)]
pub struct AttachmentView {
    pub id: i64,
    pub message_id: i64,
    pub kind: String,
    pub mime_type: Option<String>,
    pub size: Option<i64>,
    pub sha256: Option<String>,
    pub filename: Option<String>,
    pub status: String,
    pub error: Option<String>,
    /// Where the dashboard fetches the bytes, once stored.
    pub url: Option<String>,
    /// Where the bytes come from (CDN link), for links that are not downloaded.
    pub source_url: Option<String>,
}

/// A position in a thread: (sent_at, id).
pub type ThreadCursor = (i64, i64);

struct Row {
    id: i64,
    conversation_id: i64,
    channel_id: i64,
    external_id: String,
    direction: String,
    kind: String,
    text: Option<String>,
    payload: Option<String>,
    reply_to: Option<String>,
    sent_at: i64,
}

const COLUMNS: &str = "id, conversation_id, channel_id, external_id, direction, kind, text, \
                       payload, reply_to, sent_at";

fn read_row(r: &rusqlite::Row<'_>) -> rusqlite::Result<Row> {
    Ok(Row {
        id: r.get(0)?,
        conversation_id: r.get(1)?,
        channel_id: r.get(2)?,
        external_id: r.get(3)?,
        direction: r.get(4)?,
        kind: r.get(5)?,
        text: r.get(6)?,
        payload: r.get(7)?,
        reply_to: r.get(8)?,
        sent_at: r.get(9)?,
    })
}

/// Lists a thread oldest first, starting after `cursor`; returns the page and the
/// cursor of its last row when more may follow.
pub fn list_thread(
    conn: &Connection,
    conversation_id: i64,
    cursor: Option<ThreadCursor>,
    limit: i64,
) -> Result<(Vec<MessageView>, Option<ThreadCursor>)> {
    let (after_ts, after_id) = cursor.unwrap_or((i64::MIN, i64::MIN));
    let mut stmt = conn.prepare_cached(&format!(
        "SELECT {COLUMNS} FROM messages
         WHERE conversation_id = ?1 AND (sent_at, id) > (?2, ?3)
         ORDER BY sent_at, id LIMIT ?4"
    ))?;
    let rows: Vec<Row> = stmt
        .query_map(
            params![conversation_id, after_ts, after_id, limit + 1],
            read_row,
        )?
        .collect::<rusqlite::Result<_>>()?;
    let more = rows.len() as i64 > limit;
    let (marks, _) = watermarks(conn, conversation_id)?;
    let mut out = Vec::with_capacity(rows.len().min(limit as usize));
    for row in rows.into_iter().take(limit as usize) {
        out.push(view(conn, row, marks)?);
    }
    let next = if more {
        out.last().map(|m| (m.sent_at_ms, m.id))
    } else {
        None
    };
    Ok((out, next))
}

/// Fetches one message view by row id.
pub fn get(conn: &Connection, id: i64) -> Result<Option<MessageView>> {
    let row = conn
        .prepare_cached(&format!("SELECT {COLUMNS} FROM messages WHERE id = ?1"))?
        .query_row([id], read_row)
        .optional()?;
    match row {
        Some(row) => {
            // Watermarks only matter for outbound messages.
            let marks = if row.direction == "outbound" {
                watermarks(conn, row.conversation_id)?.0
            } else {
                (0, 0)
            };
            Ok(Some(view(conn, row, marks)?))
        }
        None => Ok(None),
    }
}

/// Finds a message's row id and conversation by Meta's id.
pub fn find_by_external(
    conn: &Connection,
    channel_id: i64,
    external_id: &str,
) -> Result<Option<(i64, i64)>> {
    Ok(conn
        .prepare_cached(
            "SELECT id, conversation_id FROM messages WHERE channel_id = ?1 AND external_id = ?2",
        )?
        .query_row(params![channel_id, external_id], |r| {
            Ok((r.get(0)?, r.get(1)?))
        })
        .optional()?)
}

/// (delivered, read) watermarks of a conversation's customer, and whether any exist.
fn watermarks(conn: &Connection, conversation_id: i64) -> Result<((i64, i64), bool)> {
    let w = conn
        .prepare_cached(
            "SELECT w.delivered, w.read FROM conversations c
             JOIN contacts ct ON ct.id = c.contact_id
             JOIN receipt_watermarks w ON w.channel_id = c.channel_id AND w.contact = ct.external_id
             WHERE c.id = ?1",
        )?
        .query_row([conversation_id], |r| Ok((r.get(0)?, r.get(1)?)))
        .optional()?;
    Ok((w.unwrap_or((0, 0)), w.is_some()))
}

/// A receipt's (rank, error code, error title).
type ReceiptRow = (i64, Option<i64>, Option<String>);
/// (receipt, has edits, deleted, has reactions) of one message.
type Overlays = (Option<ReceiptRow>, bool, bool, bool);

fn view(conn: &Connection, row: Row, (delivered, read): (i64, i64)) -> Result<MessageView> {
    let key = params![row.channel_id, row.external_id];
    // One probe for all overlays: most messages have none, so the lists below are
    // read only when something is there.
    let (receipt, has_edits, deleted, has_reactions): Overlays = conn
        .prepare_cached(
            "SELECT r.rank, r.error_code, r.error_title,
                    EXISTS (SELECT 1 FROM message_edits e WHERE e.channel_id = ?1 AND e.external_id = ?2),
                    EXISTS (SELECT 1 FROM message_deletions d WHERE d.channel_id = ?1 AND d.external_id = ?2),
                    EXISTS (SELECT 1 FROM reactions x WHERE x.channel_id = ?1 AND x.external_id = ?2 AND x.removed = 0)
             FROM (SELECT 1) LEFT JOIN message_receipts r ON r.channel_id = ?1 AND r.external_id = ?2",
        )?
        .query_row(key, |r| {
            let rank: Option<i64> = r.get(0)?;
            Ok((
                rank.map(|k| (k, r.get(1).ok().flatten(), r.get(2).ok().flatten())),
                r.get(3)?,
                r.get(4)?,
                r.get(5)?,
            ))
        })?;
    let mut edits: Vec<Option<String>> = if has_edits {
        conn.prepare_cached(
            "SELECT text FROM message_edits WHERE channel_id = ?1 AND external_id = ?2
             ORDER BY num_edit",
        )?
        .query_map(key, |r| r.get(0))?
        .collect::<rusqlite::Result<_>>()?
    } else {
        Vec::new()
    };
    let reactions = if has_reactions {
        conn.prepare_cached(
            "SELECT reactor, emoji, reaction FROM reactions
             WHERE channel_id = ?1 AND external_id = ?2 AND removed = 0 ORDER BY reacted_at",
        )?
        .query_map(key, |r| {
            Ok(ReactionView {
                reactor: r.get(0)?,
                emoji: r.get(1)?,
                reaction: r.get(2)?,
            })
        })?
        .collect::<rusqlite::Result<_>>()?
    } else {
        Vec::new()
    };
    let attachments = attachments_of(conn, row.id)?;

    let (status, error) = if row.direction == "outbound" {
        outbound_status(row.sent_at, receipt, delivered, read)
    } else {
        (None, None)
    };
    let edited = !edits.is_empty();
    let (text, previous_text) = match edits.pop() {
        Some(latest) => {
            let mut previous: Vec<String> = row.text.iter().cloned().collect();
            previous.extend(edits.into_iter().flatten());
            (latest, previous)
        }
        None => (row.text, Vec::new()),
    };
    Ok(MessageView {
        id: row.id,
        conversation_id: row.conversation_id,
        external_id: row.external_id,
        direction: row.direction,
        kind: row.kind,
        text,
        sent_at: rfc3339(row.sent_at),
        sent_at_ms: row.sent_at,
        status,
        error,
        edited,
        previous_text,
        deleted,
        reply_to: row.reply_to,
        payload: row.payload.and_then(|p| serde_json::from_str(&p).ok()),
        reactions,
        attachments,
    })
}

/// Combines an explicit receipt with Messenger's watermarks; the furthest state wins,
/// and `failed` (terminal) wins over everything.
fn outbound_status(
    sent_at: i64,
    receipt: Option<ReceiptRow>,
    delivered: i64,
    read: i64,
) -> (Option<String>, Option<DeliveryError>) {
    let mut rank = DeliveryStatus::Sent.rank();
    if sent_at <= delivered {
        rank = DeliveryStatus::Delivered.rank();
    }
    if sent_at <= read {
        rank = DeliveryStatus::Read.rank();
    }
    let mut error = None;
    if let Some((r, code, title)) = receipt {
        rank = rank.max(r);
        if r == DeliveryStatus::Failed.rank() {
            error = Some(DeliveryError { code, title });
        }
    }
    let status = DeliveryStatus::from_rank(rank).map(|s| s.as_str().to_string());
    (status, error)
}

/// Lists a message's attachments in order.
pub fn attachments_of(conn: &Connection, message_id: i64) -> Result<Vec<AttachmentView>> {
    let mut stmt = conn.prepare_cached(
        "SELECT id, kind, mime_type, size, sha256, filename, status, error, source_url, message_id
         FROM attachments WHERE message_id = ?1 ORDER BY position",
    )?;
    let rows = stmt.query_map([message_id], attachment_row)?;
    Ok(rows.collect::<rusqlite::Result<_>>()?)
}

/// Fetches one attachment view.
pub fn attachment(conn: &Connection, id: i64) -> Result<Option<AttachmentView>> {
    Ok(conn
        .prepare_cached(
            "SELECT id, kind, mime_type, size, sha256, filename, status, error, source_url, message_id
             FROM attachments WHERE id = ?1",
        )?
        .query_row([id], attachment_row)
        .optional()?)
}

fn attachment_row(r: &rusqlite::Row<'_>) -> rusqlite::Result<AttachmentView> {
    let id: i64 = r.get(0)?;
    let status: String = r.get(6)?;
    Ok(AttachmentView {
        id,
        kind: r.get(1)?,
        mime_type: r.get(2)?,
        size: r.get(3)?,
        sha256: r.get(4)?,
        filename: r.get(5)?,
        url: (status == "stored").then(|| format!("/api/attachments/{id}")),
        status,
        error: r.get(7)?,
        source_url: r.get(8)?,
        message_id: r.get(9)?,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn status_combines_receipts_and_watermarks() {
        assert_eq!(outbound_status(10, None, 0, 0).0.as_deref(), Some("sent"));
        assert_eq!(
            outbound_status(10, None, 10, 0).0.as_deref(),
            Some("delivered")
        );
        assert_eq!(outbound_status(10, None, 0, 20).0.as_deref(), Some("read"));
        assert_eq!(outbound_status(30, None, 0, 20).0.as_deref(), Some("sent"));
        let failed = Some((5, Some(131047), Some("Re-engagement message".into())));
        let (s, e) = outbound_status(10, failed, 0, 20);
        assert_eq!(s.as_deref(), Some("failed"));
        assert_eq!(e.unwrap().code, Some(131047));
    }
}
