//! Writes normalized events. Called inside the ingest transaction, so a body's journal
//! row, its messages, its job rows and its live events commit together or not at all.
//!
//! Every write is idempotent: Meta redelivers, so inserts are keyed by Meta's ids
//! (`ON CONFLICT DO NOTHING`) and overlays only move forward. A redelivered body
//! changes nothing and publishes nothing.

use rusqlite::{Connection, OptionalExtension, params};
use serde_json::Value;

use super::change::Change;
use super::{Result, channel, message, now_ms};
use crate::model::{
    Batch, ContactRef, DeliveryStatus, Direction, Event, EventKind, MediaSource, Message,
    MessageKind, Provider, Reaction, Receipt,
};

/// What applying a batch did.
#[derive(Debug, Default)]
pub struct Applied {
    /// Events that created or changed something.
    pub changed: i64,
    /// Events that were already stored (redelivery).
    pub duplicates: i64,
    /// Channel ids (page/account/number) that matched no channel.
    pub unmatched: Vec<String>,
    /// Changes to publish once the transaction commits.
    pub live: Vec<Change>,
}

/// Settings that shape how events are stored.
#[derive(Debug, Clone, Copy)]
pub struct Options {
    /// A Messenger/Instagram profile older than this is fetched again on the next message.
    pub profile_max_age_ms: i64,
}

impl Default for Options {
    fn default() -> Self {
        Self {
            profile_max_age_ms: 7 * 24 * 3600 * 1000,
        }
    }
}

/// Applies every event of a batch, routing each by its own channel key.
pub fn apply(
    conn: &Connection,
    provider: Provider,
    batch: &Batch,
    opts: &Options,
) -> Result<Applied> {
    let mut out = Applied::default();
    for ev in &batch.events {
        let Some(channel_id) = channel::find_id(conn, provider, &ev.channel_key)? else {
            if !out.unmatched.contains(&ev.channel_key) {
                out.unmatched.push(ev.channel_key.clone());
            }
            continue;
        };
        let before = out.live.len();
        let changed = match &ev.kind {
            EventKind::Message(m) => {
                apply_message(conn, provider, channel_id, ev, m, opts, &mut out.live)?
            }
            EventKind::Receipt(r) => apply_receipt(conn, channel_id, ev, r, &mut out.live)?,
            EventKind::Reaction(r) => apply_reaction(conn, channel_id, ev, r, &mut out.live)?,
            EventKind::Edit {
                target,
                text,
                num_edit,
            } => apply_edit(
                conn,
                channel_id,
                ev,
                target,
                text.as_deref(),
                *num_edit,
                &mut out.live,
            )?,
            EventKind::Delete { target } => {
                apply_delete(conn, channel_id, ev, target, &mut out.live)?
            }
        };
        if changed {
            out.changed += 1;
        } else {
            debug_assert_eq!(before, out.live.len());
            out.duplicates += 1;
        }
    }
    Ok(out)
}

/// Contact row id, whether it was created or renamed now, and when its profile was
/// last fetched.
struct ContactRow {
    id: i64,
    created: bool,
    updated: bool,
    profile_fetched_at: Option<i64>,
}

/// A contact's (name, username, phone).
type Names = (Option<String>, Option<String>, Option<String>);

/// A known sender: contact id, stored names, profile time, and the conversation.
type Known = (i64, Names, Option<i64>, Option<i64>);

/// Finds the sender's contact and conversation in one read (both almost always exist).
fn find_sender(conn: &Connection, channel_id: i64, external_id: &str) -> Result<Option<Known>> {
    Ok(conn
        .prepare_cached(
            "SELECT ct.id, ct.name, ct.username, ct.phone, ct.profile_fetched_at, cv.id
             FROM contacts ct
             LEFT JOIN conversations cv ON cv.channel_id = ct.channel_id AND cv.contact_id = ct.id
             WHERE ct.channel_id = ?1 AND ct.external_id = ?2",
        )?
        .query_row(params![channel_id, external_id], |r| {
            Ok((
                r.get(0)?,
                (r.get(1)?, r.get(2)?, r.get(3)?),
                r.get(4)?,
                r.get(5)?,
            ))
        })
        .optional()?)
}

fn insert_contact(conn: &Connection, channel_id: i64, c: &ContactRef, now: i64) -> Result<i64> {
    conn.prepare_cached(
        "INSERT INTO contacts (channel_id, external_id, name, username, phone, created_at, updated_at)
         VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?6)",
    )?
    .execute(params![channel_id, c.external_id, c.name, c.username, c.phone, now])?;
    Ok(conn.last_insert_rowid())
}

/// Keeps the newest names a payload carries (WhatsApp sends the display name with
/// every message), writing only when one actually changed; returns whether it did.
fn rename_contact(
    conn: &Connection,
    id: i64,
    stored: &Names,
    c: &ContactRef,
    now: i64,
) -> Result<bool> {
    let differs = |new: &Option<String>, old: &Option<String>| new.is_some() && new != old;
    let (name, username, phone) = stored;
    if !(differs(&c.name, name) || differs(&c.username, username) || differs(&c.phone, phone)) {
        return Ok(false);
    }
    conn.prepare_cached(
        "UPDATE contacts SET name = COALESCE(?2, name), username = COALESCE(?3, username),
                phone = COALESCE(?4, phone), updated_at = ?5 WHERE id = ?1",
    )?
    .execute(params![id, c.name, c.username, c.phone, now])?;
    Ok(true)
}

fn insert_conversation(
    conn: &Connection,
    channel_id: i64,
    contact_id: i64,
    now: i64,
) -> Result<i64> {
    conn.prepare_cached(
        "INSERT INTO conversations (channel_id, contact_id, created_at, updated_at)
         VALUES (?1, ?2, ?3, ?3)",
    )?
    .execute(params![channel_id, contact_id, now])?;
    Ok(conn.last_insert_rowid())
}

fn apply_message(
    conn: &Connection,
    provider: Provider,
    channel_id: i64,
    ev: &Event,
    m: &Message,
    opts: &Options,
    live: &mut Vec<Change>,
) -> Result<bool> {
    let now = now_ms();
    // The common case is a known sender: one read, then the insert itself tells a
    // redelivery apart (the unique (channel, external id) index), so a new message
    // costs no separate existence check.
    let (mut contact, stored_names, conv) =
        match find_sender(conn, channel_id, &m.contact.external_id)? {
            Some((id, names, profile_fetched_at, conv)) => {
                let conv = match conv {
                    Some(c) => c,
                    None => {
                        if message::find_by_external(conn, channel_id, &m.external_id)?.is_some() {
                            return Ok(false);
                        }
                        insert_conversation(conn, channel_id, id, now)?
                    }
                };
                let row = ContactRow {
                    id,
                    created: false,
                    updated: false,
                    profile_fetched_at,
                };
                (row, Some(names), conv)
            }
            None => {
                // A first message from this sender cannot be a redelivery, unless the
                // message was stored under another contact: check before creating one.
                if message::find_by_external(conn, channel_id, &m.external_id)?.is_some() {
                    return Ok(false);
                }
                let id = insert_contact(conn, channel_id, &m.contact, now)?;
                let conv = insert_conversation(conn, channel_id, id, now)?;
                let row = ContactRow {
                    id,
                    created: true,
                    updated: false,
                    profile_fetched_at: None,
                };
                (row, None, conv)
            }
        };
    let inserted = conn
        .prepare_cached(
            "INSERT INTO messages (channel_id, conversation_id, external_id, direction, kind, text,
                                   payload, reply_to, sent_at, created_at)
             VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10)
             ON CONFLICT (channel_id, external_id) DO NOTHING",
        )?
        .execute(params![
            channel_id,
            conv,
            m.external_id,
            m.direction.as_str(),
            m.kind.as_str(),
            m.text,
            m.payload.as_ref().map(Value::to_string),
            m.reply_to,
            ev.timestamp_ms,
            now
        ])?;
    if inserted == 0 {
        return Ok(false); // redelivered: nothing changes, not even the contact's names
    }
    let message_id = conn.last_insert_rowid();
    if let Some(names) = &stored_names {
        contact.updated = rename_contact(conn, contact.id, names, &m.contact, now)?;
    }
    insert_attachments(conn, message_id, m, now)?;

    let inbound = m.direction == Direction::Inbound;
    conn.prepare_cached(
        "UPDATE conversations SET
            unread_count = CASE WHEN ?2 THEN unread_count + 1
                                WHEN ?3 >= last_message_at THEN 0 ELSE unread_count END,
            status = CASE WHEN ?2 THEN 'open' ELSE status END,
            last_message_preview = CASE WHEN ?3 >= last_message_at THEN ?4 ELSE last_message_preview END,
            last_message_at = MAX(last_message_at, ?3),
            updated_at = ?5
         WHERE id = ?1",
    )?
    .execute(params![conv, inbound, ev.timestamp_ms, preview(m), now])?;

    // Messenger and Instagram names come from the Graph API (fetched when the contact
    // appears, and again when the stored profile is stale); WhatsApp's from the payload.
    let stale = contact
        .profile_fetched_at
        .is_some_and(|t| now - t > opts.profile_max_age_ms);
    if provider != Provider::Whatsapp && (contact.created || stale) {
        queue_job(conn, "fetch_profile", contact.id, now)?;
    }
    if contact.updated || contact.created {
        live.push(Change::contact_updated(contact.id));
    }
    live.push(Change::message_created(message_id));
    live.push(Change::conversation_updated(conv));
    Ok(true)
}

fn insert_attachments(conn: &Connection, message_id: i64, m: &Message, now: i64) -> Result<()> {
    for (position, a) in m.attachments.iter().enumerate() {
        let (url, media_id) = match &a.source {
            MediaSource::Url(u) => (Some(u.as_str()), None),
            MediaSource::MediaId(id) => (None, Some(id.as_str())),
            MediaSource::None => (None, None),
        };
        let downloadable = a.download && (url.is_some() || media_id.is_some());
        let (status, error) = if downloadable {
            ("pending", None)
        } else if !a.download {
            (
                "skipped",
                Some("not downloaded: Meta's policy forbids storing this media"),
            )
        } else {
            ("skipped", Some("no media to download"))
        };
        conn.prepare_cached(
            "INSERT INTO attachments (message_id, position, kind, source_url, media_id, filename,
                                      mime_type, size, expected_sha256, status, error, created_at, updated_at)
             VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10, ?11, ?12, ?12)",
        )?
        .execute(params![
            message_id,
            position as i64,
            a.kind.as_str(),
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
            queue_job(conn, "download_attachment", conn.last_insert_rowid(), now)?;
        }
    }
    Ok(())
}

/// Queues a durable job in the current transaction; a live job for the same subject
/// already covers it.
pub fn queue_job(conn: &Connection, kind: &str, subject_id: i64, now: i64) -> Result<()> {
    conn.prepare_cached(
        "INSERT INTO jobs (kind, subject_id, state, run_at, created_at, updated_at)
         VALUES (?1, ?2, 'queued', ?3, ?3, ?3)
         ON CONFLICT (kind, subject_id) WHERE state IN ('queued', 'running') DO NOTHING",
    )?
    .execute(params![kind, subject_id, now])?;
    Ok(())
}

/// The inbox line for a message: its text, or what it contains.
fn preview(m: &Message) -> String {
    let text = m.text.as_deref().map(str::trim).filter(|t| !t.is_empty());
    let has_links = m.payload.as_ref().is_some_and(|p| p.get("links").is_some());
    let p = match (text, m.kind) {
        (Some(t), _) => t.to_string(),
        (None, MessageKind::Text) if has_links => "[link]".to_string(),
        (None, MessageKind::Text) => "[message]".to_string(),
        (None, kind) => format!("[{}]", kind.as_str()),
    };
    p.chars().take(140).collect()
}

/// Publishes a message's current state if it exists.
pub fn publish_message(
    conn: &Connection,
    channel_id: i64,
    external_id: &str,
    live: &mut Vec<Change>,
) -> Result<()> {
    if let Some((id, _)) = message::find_by_external(conn, channel_id, external_id)? {
        live.push(Change::message_updated(id));
    }
    Ok(())
}

fn apply_receipt(
    conn: &Connection,
    channel_id: i64,
    ev: &Event,
    r: &Receipt,
    live: &mut Vec<Change>,
) -> Result<bool> {
    let mut changed = false;
    for target in &r.targets {
        let n = conn
            .prepare_cached(
                "INSERT INTO message_receipts (channel_id, external_id, status, rank, error_code, error_title, updated_at)
                 VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7)
                 ON CONFLICT (channel_id, external_id) DO UPDATE SET
                    status = excluded.status, rank = excluded.rank, error_code = excluded.error_code,
                    error_title = excluded.error_title, updated_at = excluded.updated_at
                 WHERE excluded.rank > message_receipts.rank",
            )?
            .execute(params![
                channel_id,
                target,
                r.status.as_str(),
                r.status.rank(),
                r.error_code,
                r.error_title,
                ev.timestamp_ms
            ])?;
        if n > 0 {
            changed = true;
            publish_message(conn, channel_id, target, live)?;
        }
    }
    if let Some(mark) = r.watermark_ms {
        changed |= apply_watermark(conn, channel_id, &r.contact, r.status, mark, live)?;
    }
    Ok(changed)
}

/// Messenger receipts say "everything up to this time": kept per customer, so a
/// receipt that arrives before the conversation exists still applies to it later.
fn apply_watermark(
    conn: &Connection,
    channel_id: i64,
    contact: &str,
    status: DeliveryStatus,
    mark: i64,
    live: &mut Vec<Change>,
) -> Result<bool> {
    let (delivered, read) = match status {
        DeliveryStatus::Delivered => (mark, 0),
        DeliveryStatus::Read => (0, mark),
        _ => return Ok(false),
    };
    let n = conn
        .prepare_cached(
            "INSERT INTO receipt_watermarks (channel_id, contact, delivered, read)
             VALUES (?1, ?2, ?3, ?4)
             ON CONFLICT (channel_id, contact) DO UPDATE SET
                delivered = MAX(delivered, excluded.delivered), read = MAX(read, excluded.read)
             WHERE excluded.delivered > delivered OR excluded.read > read",
        )?
        .execute(params![channel_id, contact, delivered, read])?;
    if n == 0 {
        return Ok(false);
    }
    // Publish the outbound messages the watermark covers, so ticks update live.
    let ids: Vec<i64> = conn
        .prepare_cached(
            "SELECT m.id FROM messages m
             JOIN conversations c ON c.id = m.conversation_id
             JOIN contacts ct ON ct.id = c.contact_id
             WHERE c.channel_id = ?1 AND ct.external_id = ?2 AND m.direction = 'outbound'
               AND m.sent_at <= ?3
             ORDER BY m.sent_at DESC LIMIT 50",
        )?
        .query_map(params![channel_id, contact, mark], |r| r.get(0))?
        .collect::<rusqlite::Result<_>>()?;
    live.extend(ids.into_iter().map(Change::message_updated));
    Ok(true)
}

fn apply_reaction(
    conn: &Connection,
    channel_id: i64,
    ev: &Event,
    r: &Reaction,
    live: &mut Vec<Change>,
) -> Result<bool> {
    // The newest event by Meta's time wins, so a late redelivery of an old "react"
    // cannot resurrect a removed reaction.
    let n = conn
        .prepare_cached(
            "INSERT INTO reactions (channel_id, external_id, reactor, emoji, reaction, removed, reacted_at)
             VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7)
             ON CONFLICT (channel_id, external_id, reactor) DO UPDATE SET
                emoji = excluded.emoji, reaction = excluded.reaction, removed = excluded.removed,
                reacted_at = excluded.reacted_at
             WHERE excluded.reacted_at > reactions.reacted_at",
        )?
        .execute(params![
            channel_id,
            r.target,
            r.reactor,
            r.emoji,
            r.reaction,
            r.removed,
            ev.timestamp_ms
        ])?;
    if n > 0 {
        publish_message(conn, channel_id, &r.target, live)?;
    }
    Ok(n > 0)
}

fn apply_edit(
    conn: &Connection,
    channel_id: i64,
    ev: &Event,
    target: &str,
    text: Option<&str>,
    num_edit: i64,
    live: &mut Vec<Change>,
) -> Result<bool> {
    let n = conn
        .prepare_cached(
            "INSERT INTO message_edits (channel_id, external_id, num_edit, text, edited_at)
             VALUES (?1, ?2, ?3, ?4, ?5) ON CONFLICT DO NOTHING",
        )?
        .execute(params![channel_id, target, num_edit, text, ev.timestamp_ms])?;
    if n > 0 {
        publish_message(conn, channel_id, target, live)?;
    }
    Ok(n > 0)
}

fn apply_delete(
    conn: &Connection,
    channel_id: i64,
    ev: &Event,
    target: &str,
    live: &mut Vec<Change>,
) -> Result<bool> {
    let n = conn
        .prepare_cached(
            "INSERT INTO message_deletions (channel_id, external_id, deleted_at)
             VALUES (?1, ?2, ?3) ON CONFLICT DO NOTHING",
        )?
        .execute(params![channel_id, target, ev.timestamp_ms])?;
    if n > 0 {
        publish_message(conn, channel_id, target, live)?;
    }
    Ok(n > 0)
}
