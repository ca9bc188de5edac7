//! Changes a transaction made that the dashboard should hear about.
//!
//! The writer records only what changed (a type and an id); the JSON a dashboard sees
//! is rendered later by [`render`], from the current state, by whoever consumes the
//! event first. That keeps view building off the single ingest writer and skips it
//! entirely while no dashboard is listening.

use rusqlite::{Connection, OptionalExtension};
use serde_json::{Value, json};

use super::{Result, conversation, message};

/// What a change is about.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Subject {
    Message(i64),
    Conversation(i64),
    Contact(i64),
    Attachment(i64),
}

/// One change: a type such as `message.created` and the row it concerns.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Change {
    pub kind: &'static str,
    pub subject: Subject,
}

impl Change {
    /// A new message.
    pub fn message_created(id: i64) -> Self {
        Self {
            kind: "message.created",
            subject: Subject::Message(id),
        }
    }

    /// A message's status, reactions, text or deletion changed.
    pub fn message_updated(id: i64) -> Self {
        Self {
            kind: "message.updated",
            subject: Subject::Message(id),
        }
    }

    /// A conversation's summary changed (new message, unread count, status).
    pub fn conversation_updated(id: i64) -> Self {
        Self {
            kind: "conversation.updated",
            subject: Subject::Conversation(id),
        }
    }

    /// A contact's name, username or picture changed.
    pub fn contact_updated(id: i64) -> Self {
        Self {
            kind: "contact.updated",
            subject: Subject::Contact(id),
        }
    }

    /// An attachment was stored or failed.
    pub fn attachment_updated(id: i64) -> Self {
        Self {
            kind: "attachment.updated",
            subject: Subject::Attachment(id),
        }
    }
}

/// Renders the current state of a change's subject as the event's data object,
/// e.g. `{"message": {...}}`. A subject that no longer exists renders as null.
pub fn render(conn: &Connection, change: &Change) -> Result<Value> {
    Ok(match change.subject {
        Subject::Message(id) => json!({ "message": message::get(conn, id)? }),
        Subject::Conversation(id) => json!({ "conversation": conversation::get(conn, id)? }),
        Subject::Contact(id) => json!({ "contact": contact(conn, id)? }),
        Subject::Attachment(id) => json!({ "attachment": message::attachment(conn, id)? }),
    })
}

fn contact(conn: &Connection, id: i64) -> Result<Option<Value>> {
    Ok(conn
        .prepare_cached(
            "SELECT id, channel_id, external_id, name, username, phone, avatar_sha256
             FROM contacts WHERE id = ?1",
        )?
        .query_row([id], |r| {
            let avatar: Option<String> = r.get(6)?;
            Ok(json!({
                "id": r.get::<_, i64>(0)?,
                "channel_id": r.get::<_, i64>(1)?,
                "external_id": r.get::<_, String>(2)?,
                "name": r.get::<_, Option<String>>(3)?,
                "username": r.get::<_, Option<String>>(4)?,
                "phone": r.get::<_, Option<String>>(5)?,
                "avatar_url": avatar.map(|_| format!("/api/contacts/{id}/avatar")),
            }))
        })
        .optional()?)
}
