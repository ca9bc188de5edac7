//! Messages and postbacks: direction, contact, text and what `attachments[]` amount to.

use serde_json::{Map, Value, json};

use super::{Envelope, contact_ref};
use crate::model::{Attachment, Direction, EventKind, MediaSource, Message, MessageKind};
use crate::webhook::json::{flag, id_str, items, text_str};

pub(super) fn message(env: &Envelope, msg: &Value) -> Result<EventKind, String> {
    let mid = id_str(msg.get("mid")).ok_or("message without mid skipped")?;
    if flag(msg.get("is_deleted")) {
        return Ok(EventKind::Delete { target: mid });
    }
    let (direction, contact) = if env.echo {
        (Direction::Outbound, &env.recipient)
    } else {
        (Direction::Inbound, &env.sender)
    };
    let contact = contact
        .clone()
        .ok_or_else(|| format!("message {mid} without customer id skipped"))?;
    // Instagram's `is_self` test message: sender and recipient are both the account.
    if contact == env.channel {
        return Err(format!(
            "message {mid} from the page/account to itself skipped"
        ));
    }
    let content = Content::read(items(msg.get("attachments")));
    let kind = if flag(msg.get("is_unsupported")) {
        MessageKind::Unsupported
    } else {
        content.kind.unwrap_or(MessageKind::Text)
    };
    let text = text_str(msg.get("text")).or_else(|| content.text.clone());
    let reply_to = msg.get("reply_to").and_then(|r| id_str(r.get("mid")));
    Ok(EventKind::Message(Message {
        external_id: mid,
        direction,
        contact: contact_ref(contact),
        kind,
        text,
        payload: message_payload(msg, &content),
        attachments: content.attachments,
        reply_to,
    }))
}

/// Structured extras of a message; `None` when there are none.
fn message_payload(msg: &Value, content: &Content) -> Option<Value> {
    let mut payload = Map::new();
    if !content.links.is_empty() {
        payload.insert("links".into(), Value::Array(content.links.clone()));
    }
    if let Some(location) = &content.location {
        payload.insert("location".into(), location.clone());
    }
    if let Some(quick_reply) = msg.get("quick_reply").and_then(|q| q.get("payload")) {
        payload.insert("quick_reply".into(), quick_reply.clone());
    }
    if let Some(story) = msg.get("reply_to").and_then(|r| r.get("story")) {
        payload.insert("reply_to_story".into(), story.clone());
    }
    // `app_id` tells a Send API echo from one typed in Meta Business Suite.
    for key in ["referral", "commands", "app_id", "metadata"] {
        if let Some(value) = msg.get(key) {
            payload.insert(key.into(), value.clone());
        }
    }
    (!payload.is_empty()).then_some(Value::Object(payload))
}

/// What a message's `attachments[]` amount to.
#[derive(Default)]
struct Content {
    /// Kind of the first attachment that decides one.
    kind: Option<MessageKind>,
    attachments: Vec<Attachment>,
    links: Vec<Value>,
    location: Option<Value>,
    /// Text implied by an attachment (location title, like heart).
    text: Option<String>,
}

impl Content {
    fn read(list: &[Value]) -> Self {
        let stickers: Vec<&Value> = list.iter().filter(|a| kind_name(a) == "sticker").collect();
        let mut content = Content::default();
        for item in list {
            if kind_name(item) == "image" && duplicates_sticker(item, &stickers) {
                continue;
            }
            content.add(item);
        }
        content
    }

    fn add(&mut self, item: &Value) {
        let name = kind_name(item);
        let payload = item.get("payload");
        if name == "like_heart" {
            self.decide(MessageKind::Sticker);
            self.text.get_or_insert_with(|| "\u{2764}\u{fe0f}".into());
        } else if let (Some(location), "location") = (legacy_location(payload), name) {
            self.decide(MessageKind::Location);
            self.location.get_or_insert(location);
            let title = text_str(item.get("title")).or_else(|| text_str(payload?.get("title")));
            if self.text.is_none() {
                self.text = title;
            }
        } else if let Some((kind, download)) = media_kind(name, payload) {
            self.decide(kind);
            self.attachments.push(media(kind, payload, download));
        } else {
            self.links.push(link(name, payload));
        }
    }

    fn decide(&mut self, kind: MessageKind) {
        self.kind.get_or_insert(kind);
    }
}

fn kind_name(item: &Value) -> &str {
    item.get("type").and_then(Value::as_str).unwrap_or("")
}

/// During the sticker transition Meta sends a `sticker` and an `image` for one sticker.
fn duplicates_sticker(image: &Value, stickers: &[&Value]) -> bool {
    let url_of = |item: &Value| item.get("payload").and_then(|p| text_str(p.get("url")));
    let has_id = image
        .get("payload")
        .is_some_and(|p| p.get("sticker_id").is_some());
    let url = url_of(image);
    let same_url = |s: &&Value| url.is_some() && url_of(s) == url;
    !stickers.is_empty() && (has_id || stickers.iter().any(same_url))
}

/// Attachment kind and whether its bytes may be kept, for media types.
fn media_kind(name: &str, payload: Option<&Value>) -> Option<(MessageKind, bool)> {
    let sticker_id = payload.is_some_and(|p| p.get("sticker_id").is_some());
    let kind = match name {
        "image" if sticker_id => MessageKind::Sticker,
        "image" | "media" => MessageKind::Image,
        "video" | "reel" | "ig_reel" => MessageKind::Video,
        "audio" => MessageKind::Audio,
        "file" => MessageKind::File,
        "sticker" => MessageKind::Sticker,
        // Meta's policy: story media may not be stored, only its expiring CDN URL.
        "story_mention" => return Some((MessageKind::Image, false)),
        _ => return None,
    };
    Some((kind, true))
}

fn media(kind: MessageKind, payload: Option<&Value>, download: bool) -> Attachment {
    let url = payload.and_then(|p| text_str(p.get("url")));
    let source = match url {
        Some(url) if is_http(&url) => MediaSource::Url(url),
        _ => MediaSource::None,
    };
    Attachment {
        kind,
        source,
        mime_type: None,
        sha256: None,
        size: None,
        filename: None,
        download,
    }
}

fn is_http(url: &str) -> bool {
    let lower = url.get(..8).unwrap_or(url).to_ascii_lowercase();
    lower.starts_with("https://") || lower.starts_with("http://")
}

/// A shared link, post or template: shown, never downloaded.
fn link(name: &str, payload: Option<&Value>) -> Value {
    let mut link = Map::new();
    link.insert("type".into(), json!(name));
    for key in ["url", "title"] {
        if let Some(value) = payload.and_then(|p| p.get(key)).filter(|v| !v.is_null()) {
            link.insert(key.into(), value.clone());
        }
    }
    if let Some(payload) = payload.filter(|p| !p.is_null()) {
        link.insert("payload".into(), payload.clone());
    }
    Value::Object(link)
}

/// `{latitude, longitude}` from a legacy location attachment's coordinates.
fn legacy_location(payload: Option<&Value>) -> Option<Value> {
    let coordinates = payload?.get("coordinates")?;
    let latitude = coordinates.get("lat").and_then(number)?;
    let longitude = coordinates.get("long").and_then(number)?;
    Some(json!({"latitude": latitude, "longitude": longitude}))
}

fn number(value: &Value) -> Option<f64> {
    match value {
        Value::Number(n) => n.as_f64(),
        Value::String(s) => s.trim().parse().ok(),
        _ => None,
    }
}

pub(super) fn postback(env: &Envelope, pb: &Value) -> Result<EventKind, String> {
    let contact = env
        .sender
        .clone()
        .ok_or("postback without sender skipped")?;
    if contact == env.channel {
        return Err("postback from the page/account itself skipped".into());
    }
    let external_id =
        id_str(pb.get("mid")).unwrap_or_else(|| format!("postback:{contact}:{}", env.timestamp_ms));
    let mut payload = Map::new();
    for (from, to) in [("payload", "postback"), ("referral", "referral")] {
        if let Some(value) = pb.get(from) {
            payload.insert(to.into(), value.clone());
        }
    }
    Ok(EventKind::Message(Message {
        external_id,
        direction: Direction::Inbound,
        contact: contact_ref(contact),
        kind: MessageKind::Postback,
        text: text_str(pb.get("title")),
        attachments: Vec::new(),
        reply_to: None,
        payload: (!payload.is_empty()).then_some(Value::Object(payload)),
    }))
}
