//! Changes a transaction made that the dashboard should hear about.
//!
//! The writer records only what changed (a type and an id); the JSON a dashboard sees
//! is rendered later (`http::view::change`) from the current state, by whoever consumes
//! the event first. That keeps view building off the single ingest writer and skips it
//! entirely while no dashboard is listening.

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
