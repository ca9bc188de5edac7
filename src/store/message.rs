//! Messages: the stored row, and the message as the API shows it with its overlays
//! (receipts, edits, deletions, reactions) and attachments applied.

use rusqlite::{Connection, OptionalExtension, params};
use serde_json::Value;

use super::attachment::{self, AttachmentRecord};
use super::reaction::{self, ReactionRecord};
use super::{Result, edit};
use crate::model::{DeliveryStatus, Direction, Message, MessageKind};

/// A message with its overlays applied, as the read API and live events show it.
#[derive(Debug, Clone)]
pub struct MessageRecord {
    pub id: i64,
    pub conversation_id: i64,
    pub external_id: String,
    pub direction: Direction,
    pub kind: MessageKind,
    /// The latest text (after edits).
    pub text: Option<String>,
    /// Meta's time, epoch milliseconds.
    pub sent_at: i64,
    /// Outbound only: the furthest delivery state known.
    pub status: Option<DeliveryStatus>,
    pub error: Option<DeliveryError>,
    pub edited: bool,
    /// Earlier texts, oldest first, when edited.
    pub previous_text: Vec<String>,
    pub deleted: bool,
    pub reply_to: Option<String>,
    /// Structured extras as stored (JSON text).
    pub payload: Option<String>,
    pub reactions: Vec<ReactionRecord>,
    pub attachments: Vec<AttachmentRecord>,
}

/// Why an outbound message failed (WhatsApp status errors).
#[derive(Debug, Clone)]
pub struct DeliveryError {
    pub code: Option<i64>,
    pub title: Option<String>,
}

/// A position in a thread: (sent_at, id).
pub type ThreadCursor = (i64, i64);

struct Row {
    id: i64,
    conversation_id: i64,
    channel_id: i64,
    external_id: String,
    direction: Direction,
    kind: MessageKind,
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
) -> Result<(Vec<MessageRecord>, Option<ThreadCursor>)> {
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
        out.last().map(|m| (m.sent_at, m.id))
    } else {
        None
    };
    Ok((out, next))
}

/// Fetches one message view by row id.
pub fn get(conn: &Connection, id: i64) -> Result<Option<MessageRecord>> {
    let row = conn
        .prepare_cached(&format!("SELECT {COLUMNS} FROM messages WHERE id = ?1"))?
        .query_row([id], read_row)
        .optional()?;
    match row {
        Some(row) => {
            // Watermarks only matter for outbound messages.
            let marks = if row.direction == Direction::Outbound {
                watermarks(conn, row.conversation_id)?.0
            } else {
                (0, 0)
            };
            Ok(Some(view(conn, row, marks)?))
        }
        None => Ok(None),
    }
}

/// Stores a message unless Meta's id is already stored in this channel; returns the
/// new row id, or `None` for a redelivery.
pub fn insert(
    conn: &Connection,
    channel_id: i64,
    conversation_id: i64,
    m: &Message,
    sent_at: i64,
    now: i64,
) -> Result<Option<i64>> {
    let inserted = conn
        .prepare_cached(
            "INSERT INTO messages (channel_id, conversation_id, external_id, direction, kind, text,
                                   payload, reply_to, sent_at, created_at)
             VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10)
             ON CONFLICT (channel_id, external_id) DO NOTHING",
        )?
        .execute(params![
            channel_id,
            conversation_id,
            m.external_id,
            m.direction,
            m.kind,
            m.text,
            m.payload.as_ref().map(Value::to_string),
            m.reply_to,
            sent_at,
            now
        ])?;
    Ok((inserted > 0).then(|| conn.last_insert_rowid()))
}

/// Ids of the newest (at most `limit`) outbound messages to a customer sent at or
/// before `until`: the ones a Messenger watermark covers.
pub fn outbound_until(
    conn: &Connection,
    channel_id: i64,
    contact: &str,
    until: i64,
    limit: i64,
) -> Result<Vec<i64>> {
    Ok(conn
        .prepare_cached(
            "SELECT m.id FROM messages m
             JOIN conversations c ON c.id = m.conversation_id
             JOIN contacts ct ON ct.id = c.contact_id
             WHERE c.channel_id = ?1 AND ct.external_id = ?2 AND m.direction = 'outbound'
               AND m.sent_at <= ?3
             ORDER BY m.sent_at DESC LIMIT ?4",
        )?
        .query_map(params![channel_id, contact, until, limit], |r| r.get(0))?
        .collect::<rusqlite::Result<_>>()?)
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

fn view(conn: &Connection, row: Row, (delivered, read): (i64, i64)) -> Result<MessageRecord> {
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
    let mut edits = match has_edits {
        true => edit::texts_of(conn, row.channel_id, &row.external_id)?,
        false => Vec::new(),
    };
    let reactions = match has_reactions {
        true => reaction::of_message(conn, row.channel_id, &row.external_id)?,
        false => Vec::new(),
    };
    let attachments = attachment::of_message(conn, row.id)?;

    let (status, error) = if row.direction == Direction::Outbound {
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
    Ok(MessageRecord {
        id: row.id,
        conversation_id: row.conversation_id,
        external_id: row.external_id,
        direction: row.direction,
        kind: row.kind,
        text,
        sent_at: row.sent_at,
        status,
        error,
        edited,
        previous_text,
        deleted,
        reply_to: row.reply_to,
        payload: row.payload,
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
) -> (Option<DeliveryStatus>, Option<DeliveryError>) {
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
    (DeliveryStatus::from_rank(rank), error)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn status_combines_receipts_and_watermarks() {
        use DeliveryStatus::*;
        assert_eq!(outbound_status(10, None, 0, 0).0, Some(Sent));
        assert_eq!(outbound_status(10, None, 10, 0).0, Some(Delivered));
        assert_eq!(outbound_status(10, None, 0, 20).0, Some(Read));
        assert_eq!(outbound_status(30, None, 0, 20).0, Some(Sent));
        let failed = Some((5, Some(131047), Some("Re-engagement message".into())));
        let (s, e) = outbound_status(10, failed, 0, 20);
        assert_eq!(s, Some(Failed));
        assert_eq!(e.unwrap().code, Some(131047));
    }
}
