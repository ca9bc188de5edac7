//! The JSON the API and the live feed show, and the URLs in it. The store returns typed
//! records; this is the one place that turns them into the documented shapes.

use serde::Serialize;
use serde_json::{Value, json};

use crate::live::{Change, Subject};
use crate::model::{ConversationStatus, DeliveryStatus, Direction, MessageKind, Provider};
use crate::store::attachment::{self, AttachmentRecord, AttachmentStatus};
use crate::store::contact::{self, ContactRecord};
use crate::store::conversation::{self, ConversationRecord};
use crate::store::message::{self, MessageRecord};
use crate::time_fmt::rfc3339;

/// Where the dashboard fetches a contact's stored profile picture.
pub fn avatar_url(contact_id: i64) -> String {
    format!("/api/contacts/{contact_id}/avatar")
}

/// Where the dashboard fetches an attachment's stored bytes.
pub fn attachment_url(attachment_id: i64) -> String {
    format!("/api/attachments/{attachment_id}")
}

/// A conversation in the inbox.
#[derive(Debug, Serialize)]
pub struct Conversation {
    pub id: i64,
    pub channel: ChannelRef,
    pub contact: ConversationContact,
    pub status: ConversationStatus,
    pub unread_count: i64,
    pub last_message_at: Option<String>,
    pub last_message_preview: Option<String>,
}

/// The channel of a conversation.
#[derive(Debug, Serialize)]
pub struct ChannelRef {
    pub id: i64,
    pub provider: Provider,
    pub name: String,
}

/// The customer of a conversation.
#[derive(Debug, Serialize)]
pub struct ConversationContact {
    pub id: i64,
    pub external_id: String,
    pub name: Option<String>,
    pub username: Option<String>,
    pub phone: Option<String>,
    pub avatar_url: Option<String>,
}

/// A contact on its own (live `contact.updated`).
#[derive(Debug, Serialize)]
pub struct Contact {
    pub id: i64,
    pub channel_id: i64,
    pub external_id: String,
    pub name: Option<String>,
    pub username: Option<String>,
    pub phone: Option<String>,
    pub avatar_url: Option<String>,
}

/// A message in a thread.
#[derive(Debug, Serialize)]
pub struct Message {
    pub id: i64,
    pub conversation_id: i64,
    pub external_id: String,
    pub direction: Direction,
    pub kind: MessageKind,
    pub text: Option<String>,
    pub sent_at: String,
    /// Outbound only: sent, delivered, read, played or failed.
    pub status: Option<DeliveryStatus>,
    pub error: Option<DeliveryError>,
    pub edited: bool,
    pub previous_text: Vec<String>,
    pub deleted: bool,
    pub reply_to: Option<String>,
    pub payload: Option<Value>,
    pub reactions: Vec<Reaction>,
    pub attachments: Vec<Attachment>,
}

/// Why an outbound message failed.
#[derive(Debug, Serialize)]
pub struct DeliveryError {
    pub code: Option<i64>,
    pub title: Option<String>,
}

/// A reaction on a message.
#[derive(Debug, Serialize)]
pub struct Reaction {
    pub reactor: String,
    pub emoji: Option<String>,
    pub reaction: Option<String>,
}

/// An attachment of a message.
#[derive(Debug, Serialize)]
pub struct Attachment {
    pub id: i64,
    pub message_id: i64,
    pub kind: MessageKind,
    pub mime_type: Option<String>,
    pub size: Option<i64>,
    pub sha256: Option<String>,
    pub filename: Option<String>,
    pub status: &'static str,
    pub error: Option<String>,
    /// Where the dashboard fetches the bytes, once stored.
    pub url: Option<String>,
    /// Where the bytes come from (CDN link), for links that are not downloaded.
    pub source_url: Option<String>,
}

impl From<ConversationRecord> for Conversation {
    fn from(c: ConversationRecord) -> Self {
        let ct = c.contact;
        Conversation {
            id: c.id,
            channel: ChannelRef {
                id: c.channel.id,
                provider: c.channel.provider,
                name: c.channel.name,
            },
            contact: ConversationContact {
                avatar_url: ct.has_avatar.then(|| avatar_url(ct.id)),
                id: ct.id,
                external_id: ct.external_id,
                name: ct.name,
                username: ct.username,
                phone: ct.phone,
            },
            status: c.status,
            unread_count: c.unread_count,
            last_message_at: (c.last_message_at > 0).then(|| rfc3339(c.last_message_at)),
            last_message_preview: c.last_message_preview,
        }
    }
}

impl From<ContactRecord> for Contact {
    fn from(c: ContactRecord) -> Self {
        Contact {
            avatar_url: c.has_avatar.then(|| avatar_url(c.id)),
            id: c.id,
            channel_id: c.channel_id,
            external_id: c.external_id,
            name: c.name,
            username: c.username,
            phone: c.phone,
        }
    }
}

impl From<AttachmentRecord> for Attachment {
    fn from(a: AttachmentRecord) -> Self {
        Attachment {
            url: (a.status == AttachmentStatus::Stored).then(|| attachment_url(a.id)),
            id: a.id,
            message_id: a.message_id,
            kind: a.kind,
            mime_type: a.mime_type,
            size: a.size,
            sha256: a.sha256,
            filename: a.filename,
            status: a.status.as_str(),
            error: a.error,
            source_url: a.source_url,
        }
    }
}

impl From<MessageRecord> for Message {
    fn from(m: MessageRecord) -> Self {
        Message {
            id: m.id,
            conversation_id: m.conversation_id,
            external_id: m.external_id,
            direction: m.direction,
            kind: m.kind,
            text: m.text,
            sent_at: rfc3339(m.sent_at),
            status: m.status,
            error: m.error.map(|e| DeliveryError {
                code: e.code,
                title: e.title,
            }),
            edited: m.edited,
            previous_text: m.previous_text,
            deleted: m.deleted,
            reply_to: m.reply_to,
            // Stored by ingest from a parsed value; unreadable text shows as none.
            payload: m.payload.and_then(|p| serde_json::from_str(&p).ok()),
            reactions: m
                .reactions
                .into_iter()
                .map(|r| Reaction {
                    reactor: r.reactor,
                    emoji: r.emoji,
                    reaction: r.reaction,
                })
                .collect(),
            attachments: m.attachments.into_iter().map(Attachment::from).collect(),
        }
    }
}

/// Converts a list of records into their views.
pub fn all<R, V: From<R>>(records: Vec<R>) -> Vec<V> {
    records.into_iter().map(V::from).collect()
}

/// Renders the current state of a change's subject as a live event's data object,
/// e.g. `{"message": {...}}`. A subject that no longer exists renders as null.
pub fn change(conn: &rusqlite::Connection, change: &Change) -> crate::store::Result<Value> {
    Ok(match change.subject {
        Subject::Message(id) => {
            json!({ "message": message::get(conn, id)?.map(Message::from) })
        }
        Subject::Conversation(id) => {
            json!({ "conversation": conversation::get(conn, id)?.map(Conversation::from) })
        }
        Subject::Contact(id) => json!({ "contact": contact::get(conn, id)?.map(Contact::from) }),
        Subject::Attachment(id) => {
            json!({ "attachment": attachment::get(conn, id)?.map(Attachment::from) })
        }
    })
}
