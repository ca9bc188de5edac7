//! The normalized inbound event model.
//!
//! `webhook/` turns each provider's payload into these types (pure functions, no I/O);
//! `store/ingest` writes them. Keeping the model in a leaf module lets both depend on it
//! without the store importing the HTTP edge.

use serde::{Deserialize, Serialize};
use serde_json::Value;

/// A Meta product HelpStack receives webhooks for.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Provider {
    Facebook,
    Instagram,
    Whatsapp,
}

impl Provider {
    /// All providers, in the order they are shown.
    pub const ALL: [Provider; 3] = [Provider::Facebook, Provider::Instagram, Provider::Whatsapp];

    /// The lowercase name used in URLs and the database.
    pub fn as_str(self) -> &'static str {
        match self {
            Provider::Facebook => "facebook",
            Provider::Instagram => "instagram",
            Provider::Whatsapp => "whatsapp",
        }
    }

    /// Parses a URL/database name.
    pub fn parse(s: &str) -> Option<Self> {
        match s {
            "facebook" => Some(Provider::Facebook),
            "instagram" => Some(Provider::Instagram),
            "whatsapp" => Some(Provider::Whatsapp),
            _ => None,
        }
    }

    /// What the channel's external id is called for this provider.
    pub fn id_label(self) -> &'static str {
        match self {
            Provider::Facebook => "page id",
            Provider::Instagram => "Instagram account id",
            Provider::Whatsapp => "phone number id",
        }
    }
}

impl std::fmt::Display for Provider {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.as_str())
    }
}

/// Everything one verified webhook body turned into.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct Batch {
    /// Events to store, each naming the channel it belongs to.
    pub events: Vec<Event>,
    /// Parts of the body the product does not store, with the reason.
    pub ignored: Vec<String>,
}

/// One normalized event, routed to a channel by its external id.
#[derive(Debug, Clone, PartialEq)]
pub struct Event {
    /// Page id, Instagram account id or WhatsApp phone number id.
    pub channel_key: String,
    /// Meta's event time, epoch milliseconds.
    pub timestamp_ms: i64,
    pub kind: EventKind,
    /// The event object as Meta sent it.
    pub raw: Value,
}

/// What happened.
#[derive(Debug, Clone, PartialEq)]
pub enum EventKind {
    /// A new message, inbound or an echo of the business's own outbound one.
    Message(Message),
    /// Delivery/read/status update for outbound messages.
    Receipt(Receipt),
    Reaction(Reaction),
    Edit {
        target: String,
        text: Option<String>,
        num_edit: i64,
    },
    Delete {
        target: String,
    },
}

/// Whether the customer or the business sent a message.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Direction {
    Inbound,
    Outbound,
}

impl Direction {
    /// The database/API name.
    pub fn as_str(self) -> &'static str {
        match self {
            Direction::Inbound => "inbound",
            Direction::Outbound => "outbound",
        }
    }
}

/// The customer side of a conversation.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct ContactRef {
    /// PSID, IGSID, WhatsApp id (phone) or business-scoped user id.
    pub external_id: String,
    pub name: Option<String>,
    pub username: Option<String>,
    pub phone: Option<String>,
}

/// The kinds a message can be shown as.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum MessageKind {
    Text,
    Image,
    Video,
    Audio,
    File,
    Sticker,
    Location,
    Contacts,
    Postback,
    Unsupported,
}

impl MessageKind {
    /// The database/API name.
    pub fn as_str(self) -> &'static str {
        match self {
            MessageKind::Text => "text",
            MessageKind::Image => "image",
            MessageKind::Video => "video",
            MessageKind::Audio => "audio",
            MessageKind::File => "file",
            MessageKind::Sticker => "sticker",
            MessageKind::Location => "location",
            MessageKind::Contacts => "contacts",
            MessageKind::Postback => "postback",
            MessageKind::Unsupported => "unsupported",
        }
    }
}

/// A message to store.
#[derive(Debug, Clone, PartialEq)]
pub struct Message {
    /// Meta's id: `mid` or `wamid`.
    pub external_id: String,
    pub direction: Direction,
    pub contact: ContactRef,
    pub kind: MessageKind,
    pub text: Option<String>,
    pub attachments: Vec<Attachment>,
    /// External id of the message this one replies to.
    pub reply_to: Option<String>,
    /// Structured extras: postback payload, location, shared contacts, links, referral.
    pub payload: Option<Value>,
}

/// Where an attachment's bytes come from.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum MediaSource {
    /// A CDN URL fetched with a plain GET (Messenger, Instagram).
    Url(String),
    /// A WhatsApp media id resolved through the Graph API.
    MediaId(String),
    /// Nothing to download (e.g. a Messenger "like" sticker without URL).
    None,
}

/// A media item of a message.
#[derive(Debug, Clone, PartialEq)]
pub struct Attachment {
    /// One of image, video, audio, file, sticker.
    pub kind: MessageKind,
    pub source: MediaSource,
    pub mime_type: Option<String>,
    /// As Meta announced it (WhatsApp: base64 or hex).
    pub sha256: Option<String>,
    pub size: Option<i64>,
    pub filename: Option<String>,
    /// False where policy forbids keeping the bytes (Instagram story mentions).
    pub download: bool,
}

/// Delivery states of an outbound message, in the order they may only advance.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum DeliveryStatus {
    Sent,
    Delivered,
    Read,
    Played,
    Failed,
}

impl DeliveryStatus {
    /// Parses Meta's status name.
    pub fn parse(s: &str) -> Option<Self> {
        match s {
            "sent" => Some(Self::Sent),
            "delivered" => Some(Self::Delivered),
            "read" => Some(Self::Read),
            "played" => Some(Self::Played),
            "failed" => Some(Self::Failed),
            _ => None,
        }
    }

    /// The database/API name.
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Sent => "sent",
            Self::Delivered => "delivered",
            Self::Read => "read",
            Self::Played => "played",
            Self::Failed => "failed",
        }
    }

    /// Rank for the "never move backwards" rule; `failed` is terminal.
    pub fn rank(self) -> i64 {
        match self {
            Self::Sent => 1,
            Self::Delivered => 2,
            Self::Read => 3,
            Self::Played => 4,
            Self::Failed => 5,
        }
    }

    /// Inverse of [`DeliveryStatus::rank`].
    pub fn from_rank(rank: i64) -> Option<Self> {
        [
            Self::Sent,
            Self::Delivered,
            Self::Read,
            Self::Played,
            Self::Failed,
        ]
        .into_iter()
        .find(|s| s.rank() == rank)
    }
}

/// A delivery/read receipt or a WhatsApp status.
#[derive(Debug, Clone, PartialEq)]
pub struct Receipt {
    /// The customer the receipt is about.
    pub contact: String,
    pub status: DeliveryStatus,
    /// Messages named explicitly (WhatsApp status id, Messenger `mids`, Instagram `mid`).
    pub targets: Vec<String>,
    /// Messenger: every outbound message at or before this time (ms) is covered.
    pub watermark_ms: Option<i64>,
    pub error_code: Option<i64>,
    pub error_title: Option<String>,
}

/// A reaction added or removed.
#[derive(Debug, Clone, PartialEq)]
pub struct Reaction {
    /// The message reacted to.
    pub target: String,
    /// Who reacted (external id).
    pub reactor: String,
    /// The customer of the conversation.
    pub contact: String,
    pub emoji: Option<String>,
    pub reaction: Option<String>,
    pub removed: bool,
}

/// Normalizes Meta's timestamps (ms or s; number or string) to epoch milliseconds.
pub fn timestamp_ms(value: &Value) -> Option<i64> {
    let n = match value {
        Value::Number(n) => n.as_f64()?,
        Value::String(s) => s.trim().parse::<f64>().ok()?,
        _ => return None,
    };
    if !n.is_finite() || n <= 0.0 {
        return None;
    }
    // Seconds until the year 33658; anything larger is already milliseconds.
    if n < 1e12 {
        Some((n * 1000.0) as i64)
    } else {
        Some(n as i64)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn timestamps_in_every_shape() {
        assert_eq!(
            timestamp_ms(&json!(1_700_000_000_123i64)),
            Some(1_700_000_000_123)
        );
        assert_eq!(timestamp_ms(&json!(1_700_000_000)), Some(1_700_000_000_000));
        assert_eq!(timestamp_ms(&json!("1700000000")), Some(1_700_000_000_000));
        assert_eq!(
            timestamp_ms(&json!("1700000000123")),
            Some(1_700_000_000_123)
        );
        assert_eq!(timestamp_ms(&json!("soon")), None);
        assert_eq!(timestamp_ms(&json!(null)), None);
    }

    #[test]
    fn status_ranks_round_trip() {
        for s in ["sent", "delivered", "read", "played", "failed"] {
            let st = DeliveryStatus::parse(s).unwrap();
            assert_eq!(DeliveryStatus::from_rank(st.rank()), Some(st));
            assert_eq!(st.as_str(), s);
        }
        assert!(DeliveryStatus::Read.rank() > DeliveryStatus::Delivered.rank());
    }
}
