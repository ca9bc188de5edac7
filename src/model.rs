//! The normalized inbound event model.
//!
//! `webhook/` turns each provider's payload into these types (pure functions, no I/O);
//! `store/apply` writes them. Keeping the model in a leaf module lets both depend on it
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

    /// Parses a database/API name.
    pub fn parse(s: &str) -> Option<Self> {
        [Direction::Inbound, Direction::Outbound]
            .into_iter()
            .find(|d| d.as_str() == s)
    }
}

/// Whether a conversation waits for the team (`open`) or is done (`resolved`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum ConversationStatus {
    Open,
    Resolved,
}

impl ConversationStatus {
    /// The database/API name.
    pub fn as_str(self) -> &'static str {
        match self {
            ConversationStatus::Open => "open",
            ConversationStatus::Resolved => "resolved",
        }
    }

    /// Parses a database/API name.
    pub fn parse(s: &str) -> Option<Self> {
        [ConversationStatus::Open, ConversationStatus::Resolved]
            .into_iter()
            .find(|c| c.as_str() == s)
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

    /// Parses a database/API name.
    pub fn parse(s: &str) -> Option<Self> {
        Self::ALL.into_iter().find(|k| k.as_str() == s)
    }

    /// Every kind.
    pub const ALL: [MessageKind; 10] = [
        MessageKind::Text,
        MessageKind::Image,
        MessageKind::Video,
        MessageKind::Audio,
        MessageKind::File,
        MessageKind::Sticker,
        MessageKind::Location,
        MessageKind::Contacts,
        MessageKind::Postback,
        MessageKind::Unsupported,
    ];
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

/// The earliest event time taken as given: 2004-01-01 UTC, before any Meta product.
pub const EARLIEST_EVENT_MS: i64 = 1_072_915_200_000;

/// How far an event time may lie ahead of its receipt: clocks drift by seconds, not days.
pub const MAX_AHEAD_MS: i64 = 24 * 3600 * 1000;

/// Whether an event time is believable for a body received at `received_ms`: not
/// before 2004 and at most a day ahead. `1e20` or `i64::MAX` would otherwise pin a
/// conversation to the top of the inbox forever.
pub fn plausible_time(ms: i64, received_ms: i64) -> bool {
    (EARLIEST_EVENT_MS..=received_ms.saturating_add(MAX_AHEAD_MS)).contains(&ms)
}

impl Batch {
    /// Replaces event times that are not [`plausible_time`] with the time of receipt,
    /// and read watermarks ahead of it by that time; returns how many events changed.
    /// The body itself, with the raw values, stays in the journal.
    pub fn settle_times(&mut self, received_ms: i64) -> usize {
        let mut replaced = 0;
        for ev in &mut self.events {
            if !plausible_time(ev.timestamp_ms, received_ms) {
                ev.timestamp_ms = received_ms;
                replaced += 1;
            }
            // A watermark before 2004 covers nothing, harmlessly; only the future is cut.
            if let EventKind::Receipt(r) = &mut ev.kind
                && let Some(w) = r.watermark_ms.as_mut()
                && *w > received_ms.saturating_add(MAX_AHEAD_MS)
            {
                *w = received_ms;
            }
        }
        replaced
    }
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

/// How a verified webhook body was handled, as journaled and counted.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Outcome {
    /// At least one event was stored (or was already stored).
    Processed,
    /// Some events named a page/account/number with no channel.
    Unmatched,
    /// Nothing in it is something the product stores.
    Ignored,
    /// Storing it failed; the body is kept so `replay` can retry.
    Failed,
}

impl Outcome {
    /// The name in the journal and in metric labels.
    pub fn as_str(self) -> &'static str {
        match self {
            Outcome::Processed => "processed",
            Outcome::Unmatched => "unmatched",
            Outcome::Ignored => "ignored",
            Outcome::Failed => "failed",
        }
    }
}

#[cfg(test)]
mod tests;
