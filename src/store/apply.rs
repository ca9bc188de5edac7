//! Applies a parsed batch of events. Called inside the ingest transaction, so a body's
//! journal row, its messages, its job rows and its live events commit together or not
//! at all. Each entity's SQL lives in its own file; this only routes and decides.
//!
//! Every write is idempotent: Meta redelivers, so inserts are keyed by Meta's ids
//! (`ON CONFLICT DO NOTHING`) and overlays only move forward. A redelivered body
//! changes nothing and publishes nothing.

use rusqlite::Connection;

use super::job::JobKind;
use super::receipt::Report;
use super::{
    Result, attachment, channel, contact, conversation, deletion, edit, job, message, now_ms,
    reaction, receipt,
};
use crate::live::Change;
use crate::model::{
    Batch, DeliveryStatus, Direction, Event, EventKind, Message, MessageKind, Provider, Reaction,
    Receipt,
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

/// Most outbound messages one Messenger watermark republishes live.
const WATERMARK_PUBLISH_LIMIT: i64 = 50;

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
        let at = ev.timestamp_ms;
        let live = &mut out.live;
        let changed = match &ev.kind {
            EventKind::Message(m) => apply_message(conn, provider, channel_id, ev, m, opts, live)?,
            EventKind::Receipt(r) => apply_receipt(conn, channel_id, at, r, live)?,
            EventKind::Reaction(r) => apply_reaction(conn, channel_id, at, r, live)?,
            EventKind::Edit {
                target,
                text,
                num_edit,
            } => {
                let n = edit::record(conn, channel_id, target, *num_edit, text.as_deref(), at)?;
                publish_if(conn, n, channel_id, target, live)?
            }
            EventKind::Delete { target } => {
                let n = deletion::record(conn, channel_id, target, at)?;
                publish_if(conn, n, channel_id, target, live)?
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

/// The sender's contact as this message found it.
struct SenderState {
    id: i64,
    created: bool,
    profile_fetched_at: Option<i64>,
    names: Option<contact::Names>,
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
    // costs no separate existence check. A first message from a sender (or into a new
    // conversation) could still be stored under another contact: check before creating.
    let stored_elsewhere = || -> Result<bool> {
        Ok(message::find_by_external(conn, channel_id, &m.external_id)?.is_some())
    };
    let (sender, conv) = match contact::find_sender(conn, channel_id, &m.contact.external_id)? {
        Some(s) => {
            let conv = match s.conversation_id {
                Some(c) => c,
                None if stored_elsewhere()? => return Ok(false),
                None => conversation::insert(conn, channel_id, s.id, now)?,
            };
            let state = SenderState {
                id: s.id,
                created: false,
                profile_fetched_at: s.profile_fetched_at,
                names: Some(s.names),
            };
            (state, conv)
        }
        None if stored_elsewhere()? => return Ok(false),
        None => {
            let id = contact::insert(conn, channel_id, &m.contact, now)?;
            let conv = conversation::insert(conn, channel_id, id, now)?;
            let state = SenderState {
                id,
                created: true,
                profile_fetched_at: None,
                names: None,
            };
            (state, conv)
        }
    };
    let Some(message_id) = message::insert(conn, channel_id, conv, m, ev.timestamp_ms, now)? else {
        return Ok(false); // redelivered: nothing changes, not even the contact's names
    };
    let renamed = match &sender.names {
        Some(names) => contact::rename(conn, sender.id, names, &m.contact, now)?,
        None => false,
    };
    for attachment_id in attachment::insert_all(conn, message_id, m, now)? {
        job::queue(conn, JobKind::DownloadAttachment, attachment_id, now)?;
    }
    let inbound = m.direction == Direction::Inbound;
    conversation::record_message(conn, conv, inbound, ev.timestamp_ms, &preview(m), now)?;

    // Messenger and Instagram names come from the Graph API (fetched when the contact
    // appears, and again when the stored profile is stale); WhatsApp's from the payload.
    let stale = sender
        .profile_fetched_at
        .is_some_and(|t| now - t > opts.profile_max_age_ms);
    if provider != Provider::Whatsapp && (sender.created || stale) {
        job::queue(conn, JobKind::FetchProfile, sender.id, now)?;
    }
    if renamed || sender.created {
        live.push(Change::contact_updated(sender.id));
    }
    live.push(Change::message_created(message_id));
    live.push(Change::conversation_updated(conv));
    Ok(true)
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

/// Publishes a message's current state if `changed` and the message is stored; passes
/// `changed` through.
fn publish_if(
    conn: &Connection,
    changed: bool,
    channel_id: i64,
    external_id: &str,
    live: &mut Vec<Change>,
) -> Result<bool> {
    if changed && let Some((id, _)) = message::find_by_external(conn, channel_id, external_id)? {
        live.push(Change::message_updated(id));
    }
    Ok(changed)
}

fn apply_receipt(
    conn: &Connection,
    channel_id: i64,
    at: i64,
    r: &Receipt,
    live: &mut Vec<Change>,
) -> Result<bool> {
    let report = Report {
        status: r.status,
        error_code: r.error_code,
        error_title: r.error_title.as_deref(),
        at,
    };
    let mut changed = false;
    for target in &r.targets {
        let n = receipt::advance(conn, channel_id, target, &report)?;
        changed |= publish_if(conn, n, channel_id, target, live)?;
    }
    let Some(mark) = r.watermark_ms else {
        return Ok(changed);
    };
    let (delivered, read) = match r.status {
        DeliveryStatus::Delivered => (mark, 0),
        DeliveryStatus::Read => (0, mark),
        _ => return Ok(changed),
    };
    if receipt::advance_watermark(conn, channel_id, &r.contact, delivered, read)? {
        // Publish the outbound messages the watermark covers, so ticks update live.
        let ids =
            message::outbound_until(conn, channel_id, &r.contact, mark, WATERMARK_PUBLISH_LIMIT)?;
        live.extend(ids.into_iter().map(Change::message_updated));
        changed = true;
    }
    Ok(changed)
}

fn apply_reaction(
    conn: &Connection,
    channel_id: i64,
    at: i64,
    r: &Reaction,
    live: &mut Vec<Change>,
) -> Result<bool> {
    let n = reaction::record(conn, channel_id, r, at)?;
    publish_if(conn, n, channel_id, &r.target, live)
}
