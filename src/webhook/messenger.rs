//! Facebook Messenger (`object: "page"`) and Instagram (`object: "instagram"`) bodies.
//!
//! Both products share Messenger's event shapes. Instagram-only fields (`read.mid`,
//! `is_deleted`, `like_heart`, story replies) are accepted for either provider: Meta keeps
//! converging the two, and accepting a field costs nothing when it never appears.

use serde_json::{Map, Value, json};

use super::parse::{flag, id_str, int_value, items, text_str};
use crate::model::{
    Attachment, Batch, ContactRef, DeliveryStatus, Direction, Event, EventKind, MediaSource,
    Message, MessageKind, Provider, Reaction, Receipt, timestamp_ms,
};

/// Event keys that carry nothing the inbox stores.
const NOT_STORED: [&str; 12] = [
    "referral",
    "optin",
    "pass_thread_control",
    "take_thread_control",
    "request_thread_control",
    "policy_enforcement",
    "account_linking",
    "app_roles",
    "game_play",
    "messaging_feedback",
    "response_feedback",
    "checkout_update",
];

/// Keys every messaging event has besides its one event key.
const ENVELOPE: [&str; 3] = ["sender", "recipient", "timestamp"];

/// Normalizes a Messenger or Instagram webhook body.
pub fn parse(provider: Provider, body: &Value) -> Batch {
    let mut batch = Batch::default();
    match body.get("entry").and_then(Value::as_array) {
        Some(entries) => {
            for entry in entries {
                parse_entry(provider, entry, &mut batch);
            }
        }
        None => batch
            .ignored
            .push(format!("{provider}: body has no entry array")),
    }
    batch
}

/// Routing and fallback time shared by the events of one `entry`.
struct Ctx {
    provider: Provider,
    entry_id: Option<String>,
    entry_time: Option<i64>,
}

impl Ctx {
    fn ignore(&self, batch: &mut Batch, reason: impl std::fmt::Display) {
        batch.ignored.push(format!("{}: {reason}", self.provider));
    }
}

fn parse_entry(provider: Provider, entry: &Value, batch: &mut Batch) {
    let ctx = Ctx {
        provider,
        entry_id: id_str(entry.get("id")),
        entry_time: entry.get("time").and_then(timestamp_ms),
    };
    let mut found = false;
    for key in ["messaging", "standby"] {
        if let Some(events) = entry.get(key).and_then(Value::as_array) {
            found = true;
            for event in events {
                parse_event(&ctx, event, batch);
            }
        }
    }
    if let Some(changes) = entry.get("changes").and_then(Value::as_array) {
        found = true;
        for change in changes {
            parse_change(&ctx, change, batch);
        }
    }
    // Instagram's Business-Login example puts `field`/`value` straight on the entry.
    if entry.get("field").is_some() && entry.get("value").is_some() {
        found = true;
        parse_change(&ctx, entry, batch);
    }
    if !found {
        ctx.ignore(batch, "entry without messaging, standby or changes");
    }
}

fn parse_change(ctx: &Ctx, change: &Value, batch: &mut Batch) {
    let field = change
        .get("field")
        .and_then(Value::as_str)
        .unwrap_or("(unnamed)");
    match change.get("value") {
        // Dashboard test payloads and the newest reference pages send messaging events
        // this way; the value is then a messaging event with string-typed fields.
        Some(value) if value.get("sender").is_some() => parse_event(ctx, value, batch),
        _ => ctx.ignore(batch, format!("{field:?} change not stored")),
    }
}

/// The parts of a messaging event every handler needs.
struct Envelope {
    sender: Option<String>,
    recipient: Option<String>,
    /// The page/account id the event is routed to.
    channel: String,
    /// A message the page/account sent (flagged `is_echo`, or sent by `channel`).
    echo: bool,
    timestamp_ms: i64,
}

fn parse_event(ctx: &Ctx, event: &Value, batch: &mut Batch) {
    let Some(fields) = event.as_object() else {
        return ctx.ignore(batch, "messaging event is not an object");
    };
    let Some(key) = event_key(fields) else {
        let reason = match fields.keys().find(|k| !ENVELOPE.contains(&k.as_str())) {
            Some(k) if NOT_STORED.contains(&k.as_str()) => format!("{k} event not stored"),
            Some(k) => format!("unknown event {k:?} ignored"),
            None => "event without content (only sender/recipient/timestamp) ignored".into(),
        };
        return ctx.ignore(batch, reason);
    };
    let body = &event[key];
    let flagged_echo = key == "message" && flag(body.get("is_echo"));
    let sender = party(event.get("sender"));
    let recipient = party(event.get("recipient"));
    let fallback_channel = if flagged_echo { &sender } else { &recipient };
    let Some(channel_key) = ctx.entry_id.clone().or_else(|| fallback_channel.clone()) else {
        return ctx.ignore(
            batch,
            format!("{key} event without page/account id skipped"),
        );
    };
    let time = event.get("timestamp").and_then(timestamp_ms);
    let Some(timestamp_ms) = time.or(ctx.entry_time) else {
        return ctx.ignore(batch, format!("{key} event without timestamp skipped"));
    };
    // A message the page/account sent is outbound whether or not `is_echo` says so:
    // taken as inbound, it would make the page a contact of its own inbox.
    let echo = flagged_echo || sender.as_deref() == Some(channel_key.as_str());
    let env = Envelope {
        sender,
        recipient,
        channel: channel_key.clone(),
        echo,
        timestamp_ms,
    };
    match handle(ctx, key, &env, body) {
        Ok(kind) => batch.events.push(Event {
            channel_key,
            timestamp_ms,
            kind,
            raw: event.clone(),
        }),
        Err(reason) => ctx.ignore(batch, reason),
    }
}

/// The stored event key present in a messaging event, if any.
fn event_key(fields: &Map<String, Value>) -> Option<&'static str> {
    [
        "message",
        "postback",
        "delivery",
        "read",
        "reaction",
        "message_edit",
    ]
    .into_iter()
    .find(|k| fields.contains_key(*k))
}

fn handle(ctx: &Ctx, key: &str, env: &Envelope, body: &Value) -> Result<EventKind, String> {
    match key {
        "message" => message(env, body),
        "postback" => postback(env, body),
        "delivery" => receipt(ctx, env, body, DeliveryStatus::Delivered),
        "read" => receipt(ctx, env, body, DeliveryStatus::Read),
        "reaction" => reaction(ctx, env, body),
        _ => edit(body),
    }
}

/// A sender/recipient id; chat-plugin guests only have a `user_ref`.
fn party(value: Option<&Value>) -> Option<String> {
    let value = value?;
    id_str(value.get("id")).or_else(|| id_str(value.get("user_ref")))
}

/// The customer side of a receipt or reaction: whoever is not the page/account.
fn customer(ctx: &Ctx, env: &Envelope) -> Option<String> {
    match (&env.sender, &ctx.entry_id) {
        (Some(sender), Some(own)) if sender == own => env.recipient.clone(),
        _ => env.sender.clone(),
    }
}

fn contact_ref(id: String) -> ContactRef {
    ContactRef {
        external_id: id,
        ..ContactRef::default()
    }
}

fn message(env: &Envelope, msg: &Value) -> Result<EventKind, String> {
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

fn postback(env: &Envelope, pb: &Value) -> Result<EventKind, String> {
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

fn receipt(
    ctx: &Ctx,
    env: &Envelope,
    body: &Value,
    status: DeliveryStatus,
) -> Result<EventKind, String> {
    let name = status.as_str();
    let contact = customer(ctx, env).ok_or_else(|| format!("{name} receipt without sender"))?;
    let mut targets: Vec<String> = items(body.get("mids"))
        .iter()
        .filter_map(|m| id_str(Some(m)))
        .collect();
    targets.extend(id_str(body.get("mid")));
    let watermark_ms = body.get("watermark").and_then(timestamp_ms);
    if targets.is_empty() && watermark_ms.is_none() {
        return Err(format!("{name} receipt without mids or watermark ignored"));
    }
    Ok(EventKind::Receipt(Receipt {
        contact,
        status,
        targets,
        watermark_ms,
        error_code: None,
        error_title: None,
    }))
}

fn reaction(ctx: &Ctx, env: &Envelope, body: &Value) -> Result<EventKind, String> {
    let target = id_str(body.get("mid")).ok_or("reaction without mid skipped")?;
    let reactor = env
        .sender
        .clone()
        .ok_or("reaction without sender skipped")?;
    let contact = customer(ctx, env).unwrap_or_else(|| reactor.clone());
    Ok(EventKind::Reaction(Reaction {
        target,
        reactor,
        contact,
        emoji: text_str(body.get("emoji")),
        reaction: text_str(body.get("reaction")),
        removed: body.get("action").and_then(Value::as_str) == Some("unreact"),
    }))
}

fn edit(body: &Value) -> Result<EventKind, String> {
    let target = id_str(body.get("mid")).ok_or("message_edit without mid skipped")?;
    Ok(EventKind::Edit {
        target,
        text: body.get("text").and_then(Value::as_str).map(str::to_owned),
        num_edit: int_value(body.get("num_edit")).unwrap_or(1),
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    const PAGE: &str = "1111111111";
    const PSID: &str = "2222222222";
    const IG_ACCOUNT: &str = "17841400000000001";
    const IGSID: &str = "3333333333";
    const FB_TEXT: &str = "m_fb0001dGV4dC0wMDAxLWhlbHBzdGFjaw";
    const FB_ECHO: &str = "m_fb0009ZWNoby0wMDA5LWhlbHBzdGFjaw";
    const IG_TEXT: &str =
        "aWdfZAG1faWdfaXRlbToxOklHTWVzc2FnZUlEOjE3ODQxNDAwMDAwMDAwMDAxOjMzMzMzMzMzMzM6dGV4dAZDZD";
    const IG_ECHO: &str =
        "aWdfZAG1faWdfaXRlbToxOklHTWVzc2FnZUlEOjE3ODQxNDAwMDAwMDAwMDAxOjMzMzMzMzMzMzM6ZWNobwZDZD";

    /// Instagram fixture mids share everything but the base64 of their label.
    fn ig_mid(label: &str) -> String {
        let prefix = IG_TEXT.strip_suffix("dGV4dAZDZD").expect("IG_TEXT shape");
        format!("{prefix}{label}ZDZD")
    }

    macro_rules! fixture {
        ($name:literal) => {
            serde_json::from_str::<Value>(include_str!(concat!(
                "../../tests/fixtures/",
                $name,
                ".json"
            )))
            .expect($name)
        };
    }

    fn fb(body: &Value) -> Batch {
        parse(Provider::Facebook, body)
    }

    fn ig(body: &Value) -> Batch {
        parse(Provider::Instagram, body)
    }

    /// The only event of a batch that ignored nothing.
    fn single(batch: Batch) -> Event {
        assert_eq!(batch.ignored, Vec::<String>::new());
        assert_eq!(batch.events.len(), 1, "{:#?}", batch.events);
        batch.events.into_iter().next().expect("one event")
    }

    /// The first `messaging[]` event of the first entry, i.e. the expected `raw`.
    fn first_event(body: &Value) -> Value {
        body["entry"][0]["messaging"][0].clone()
    }

    fn event(channel: &str, timestamp_ms: i64, kind: EventKind, raw: Value) -> Event {
        Event {
            channel_key: channel.into(),
            timestamp_ms,
            kind,
            raw,
        }
    }

    fn message(
        mid: &str,
        direction: Direction,
        contact: &str,
        kind: MessageKind,
        text: Option<&str>,
    ) -> Message {
        Message {
            external_id: mid.into(),
            direction,
            contact: contact_ref(contact.into()),
            kind,
            text: text.map(Into::into),
            attachments: Vec::new(),
            reply_to: None,
            payload: None,
        }
    }

    fn inbound(mid: &str, kind: MessageKind, text: Option<&str>) -> Message {
        message(mid, Direction::Inbound, PSID, kind, text)
    }

    fn ig_inbound(mid: &str, kind: MessageKind, text: Option<&str>) -> Message {
        message(mid, Direction::Inbound, IGSID, kind, text)
    }

    /// A Messenger attachment as parsed from a fixture URL.
    fn cdn(kind: MessageKind, url: &Value) -> Attachment {
        let url = url.as_str().expect("url").to_owned();
        assert!(
            url.starts_with("https://"),
            "escaped slashes decoded: {url}"
        );
        Attachment {
            kind,
            source: MediaSource::Url(url),
            mime_type: None,
            sha256: None,
            size: None,
            filename: None,
            download: true,
        }
    }

    fn attachment_url(body: &Value, index: usize) -> &Value {
        &body["entry"][0]["messaging"][0]["message"]["attachments"][index]["payload"]["url"]
    }

    fn receipt(
        contact: &str,
        status: DeliveryStatus,
        targets: &[&str],
        wm: Option<i64>,
    ) -> Receipt {
        Receipt {
            contact: contact.into(),
            status,
            targets: targets.iter().map(|t| t.to_string()).collect(),
            watermark_ms: wm,
            error_code: None,
            error_title: None,
        }
    }

    #[test]
    fn facebook_text() {
        let body = fixture!("facebook/text");
        let msg = inbound(
            FB_TEXT,
            MessageKind::Text,
            Some("Olá! Is my order #4521 shipped yet?"),
        );
        let expected = event(
            PAGE,
            1_767_261_600_123,
            EventKind::Message(msg),
            first_event(&body),
        );
        assert_eq!(single(fb(&body)), expected);
    }

    #[test]
    fn facebook_image() {
        let body = fixture!("facebook/image");
        let mut msg = inbound(
            "m_fb0002aW1hZ2UtMDAwMi1oZWxwc3RhY2s",
            MessageKind::Image,
            None,
        );
        msg.attachments = vec![cdn(MessageKind::Image, attachment_url(&body, 0))];
        let expected = event(
            PAGE,
            1_767_261_660_000,
            EventKind::Message(msg),
            first_event(&body),
        );
        assert_eq!(single(fb(&body)), expected);
    }

    #[test]
    fn facebook_multiple_attachments_keep_all_in_order() {
        let body = fixture!("facebook/multiple_attachments");
        let mut msg = inbound(
            "m_fb0003bXVsdGktMDAwMy1oZWxwc3RhY2s",
            MessageKind::Image,
            None,
        );
        msg.attachments = vec![
            cdn(MessageKind::Image, attachment_url(&body, 0)),
            cdn(MessageKind::Video, attachment_url(&body, 1)),
            cdn(MessageKind::File, attachment_url(&body, 2)),
        ];
        let expected = event(
            PAGE,
            1_767_261_720_000,
            EventKind::Message(msg),
            first_event(&body),
        );
        assert_eq!(single(fb(&body)), expected);
    }

    #[test]
    fn facebook_sticker_transition_keeps_only_the_sticker() {
        let body = fixture!("facebook/sticker");
        let mut msg = inbound(
            "m_fb0004c3RpY2tlci0wMDA0LWhlbHBzdGFjaw",
            MessageKind::Sticker,
            None,
        );
        msg.attachments = vec![cdn(MessageKind::Sticker, attachment_url(&body, 0))];
        let expected = event(
            PAGE,
            1_767_261_780_000,
            EventKind::Message(msg),
            first_event(&body),
        );
        assert_eq!(single(fb(&body)), expected);
    }

    #[test]
    fn facebook_audio() {
        let body = fixture!("facebook/audio");
        let mut msg = inbound(
            "m_fb0005YXVkaW8tMDAwNS1oZWxwc3RhY2s",
            MessageKind::Audio,
            None,
        );
        msg.attachments = vec![cdn(MessageKind::Audio, attachment_url(&body, 0))];
        let expected = event(
            PAGE,
            1_767_261_840_000,
            EventKind::Message(msg),
            first_event(&body),
        );
        assert_eq!(single(fb(&body)), expected);
    }

    #[test]
    fn facebook_fallback_link_is_payload_not_attachment() {
        let body = fixture!("facebook/fallback");
        let url = "https://youtu.be/bbo_fZAjIhg";
        let mut msg = inbound(
            "m_fb0006ZmFsbGJhY2stMDAwNi1oZWxwc3RhY2s",
            MessageKind::Text,
            Some(url),
        );
        msg.payload = Some(json!({"links": [{
            "type": "fallback", "url": url, "title": "HS-200 unboxing",
            "payload": {"url": url, "title": "HS-200 unboxing"}
        }]}));
        let expected = event(
            PAGE,
            1_767_261_900_000,
            EventKind::Message(msg),
            first_event(&body),
        );
        assert_eq!(single(fb(&body)), expected);
    }

    #[test]
    fn facebook_quick_reply() {
        let body = fixture!("facebook/quick_reply");
        let mut msg = inbound(
            "m_fb0007cXVpY2tfcmVwbHktMDAwNy1oZWxwc3RhY2s",
            MessageKind::Text,
            Some("Track my order"),
        );
        msg.payload = Some(json!({"quick_reply": "TRACK_ORDER"}));
        let expected = event(
            PAGE,
            1_767_261_960_000,
            EventKind::Message(msg),
            first_event(&body),
        );
        assert_eq!(single(fb(&body)), expected);
    }

    #[test]
    fn facebook_reply_to() {
        let body = fixture!("facebook/reply_to");
        let mut msg = inbound(
            "m_fb0008cmVwbHlfdG8tMDAwOC1oZWxwc3RhY2s",
            MessageKind::Text,
            Some("Great, thanks!"),
        );
        msg.reply_to = Some(FB_ECHO.into());
        let expected = event(
            PAGE,
            1_767_262_290_000,
            EventKind::Message(msg),
            first_event(&body),
        );
        assert_eq!(single(fb(&body)), expected);
    }

    #[test]
    fn facebook_echo_is_outbound_to_the_recipient() {
        let body = fixture!("facebook/echo");
        let text = "Hi Ana! Your order #4521 shipped today.";
        let mut msg = message(
            FB_ECHO,
            Direction::Outbound,
            PSID,
            MessageKind::Text,
            Some(text),
        );
        msg.payload =
            Some(json!({"app_id": 1517776481860111u64, "metadata": "helpstack:ticket-8841"}));
        let expected = event(
            PAGE,
            1_767_262_200_000,
            EventKind::Message(msg),
            first_event(&body),
        );
        assert_eq!(single(fb(&body)), expected);
    }

    #[test]
    fn facebook_delivery_names_mids_and_watermark() {
        let body = fixture!("facebook/delivery");
        let r = receipt(
            PSID,
            DeliveryStatus::Delivered,
            &[FB_ECHO],
            Some(1_767_262_201_000),
        );
        let expected = event(
            PAGE,
            1_767_262_201_500,
            EventKind::Receipt(r),
            first_event(&body),
        );
        assert_eq!(single(fb(&body)), expected);
    }

    #[test]
    fn facebook_read_watermark_covers_the_echo() {
        let body = fixture!("facebook/read");
        let r = receipt(PSID, DeliveryStatus::Read, &[], Some(1_767_262_230_000));
        let expected = event(
            PAGE,
            1_767_262_230_100,
            EventKind::Receipt(r),
            first_event(&body),
        );
        assert_eq!(single(fb(&body)), expected);
        let echo = single(fb(&fixture!("facebook/echo")));
        assert!(
            echo.timestamp_ms <= 1_767_262_230_000,
            "watermark covers the echo"
        );
    }

    #[test]
    fn facebook_reaction_and_unreact() {
        let body = fixture!("facebook/reaction");
        let reaction = Reaction {
            target: FB_ECHO.into(),
            reactor: PSID.into(),
            contact: PSID.into(),
            emoji: Some("\u{2764}\u{fe0f}".into()),
            reaction: Some("love".into()),
            removed: false,
        };
        let expected = event(
            PAGE,
            1_767_262_240_000,
            EventKind::Reaction(reaction.clone()),
            first_event(&body),
        );
        assert_eq!(single(fb(&body)), expected);

        let body = fixture!("facebook/reaction_unreact");
        let removed = Reaction {
            emoji: None,
            reaction: None,
            removed: true,
            ..reaction
        };
        let expected = event(
            PAGE,
            1_767_262_250_000,
            EventKind::Reaction(removed),
            first_event(&body),
        );
        assert_eq!(single(fb(&body)), expected);
    }

    #[test]
    fn facebook_edit() {
        let body = fixture!("facebook/edit");
        let kind = EventKind::Edit {
            target: FB_TEXT.into(),
            text: Some("Olá! Is my order #4522 shipped yet?".into()),
            num_edit: 1,
        };
        let expected = event(PAGE, 1_767_261_645_000, kind, first_event(&body));
        assert_eq!(single(fb(&body)), expected);
    }

    #[test]
    fn facebook_postback() {
        let body = fixture!("facebook/postback");
        let mut msg = inbound(
            "m_fb0010cG9zdGJhY2stMDAxMC1oZWxwc3RhY2s",
            MessageKind::Postback,
            Some("Get Started"),
        );
        msg.payload = Some(json!({
            "postback": "GET_STARTED",
            "referral": {"ref": "summer-promo", "source": "SHORTLINK", "type": "OPEN_THREAD"}
        }));
        let expected = event(
            PAGE,
            1_767_262_500_000,
            EventKind::Message(msg),
            first_event(&body),
        );
        assert_eq!(single(fb(&body)), expected);
    }

    #[test]
    fn facebook_standby_events_are_stored() {
        let body = fixture!("facebook/standby");
        let msg = inbound(
            "m_fb0011c3RhbmRieS0wMDExLWhlbHBzdGFjaw",
            MessageKind::Text,
            Some("Anyone there?"),
        );
        let raw = body["entry"][0]["standby"][0].clone();
        let expected = event(PAGE, 1_767_262_560_000, EventKind::Message(msg), raw);
        assert_eq!(single(fb(&body)), expected);
    }

    #[test]
    fn facebook_changes_format_with_string_values() {
        let body = fixture!("facebook/changes_format");
        assert!(body["entry"][0]["changes"][0]["value"]["timestamp"].is_string());
        let msg = inbound(
            "m_fb0012Y2hhbmdlcy0wMDEyLWhlbHBzdGFjaw",
            MessageKind::Text,
            Some("Sent from the dashboard test button"),
        );
        let raw = body["entry"][0]["changes"][0]["value"].clone();
        let expected = event(PAGE, 1_767_262_620_000, EventKind::Message(msg), raw);
        assert_eq!(single(fb(&body)), expected);
    }

    #[test]
    fn facebook_batch_3x3_yields_nine_events_in_order() {
        let body = fixture!("facebook/batch_3x3");
        let batch = fb(&body);
        assert_eq!(batch.ignored, Vec::<String>::new());
        assert_eq!(batch.events.len(), 9);
        let mut mids = std::collections::HashSet::new();
        for (i, ev) in batch.events.iter().enumerate() {
            let n = i as i64 + 1;
            let EventKind::Message(m) = &ev.kind else {
                panic!("not a message: {ev:?}");
            };
            assert_eq!(ev.channel_key, PAGE);
            assert_eq!(ev.timestamp_ms, 1_767_262_800_000 + n * 1000);
            assert_eq!(ev.raw, body["entry"][i / 3]["messaging"][i % 3]);
            let text = format!("Batch message {n} of 9");
            let expected = inbound(&m.external_id, MessageKind::Text, Some(&text));
            assert_eq!(*m, expected);
            assert!(mids.insert(m.external_id.clone()));
        }
        assert_eq!(mids.len(), 9);
    }

    #[test]
    fn facebook_unknown_event_is_ignored() {
        let batch = fb(&fixture!("facebook/unknown_event"));
        assert_eq!(batch.events, vec![]);
        assert_eq!(
            batch.ignored,
            vec!["facebook: event without content (only sender/recipient/timestamp) ignored"]
        );
    }

    #[test]
    fn facebook_legacy_location() {
        let body = fixture!("facebook/location");
        let mut msg = inbound(
            "m_fb0013bG9jYXRpb24tMDAxMy1oZWxwc3RhY2s",
            MessageKind::Location,
            Some("Ana's Location"),
        );
        msg.payload = Some(json!({"location": {"latitude": 38.7223, "longitude": -9.1393}}));
        let expected = event(
            PAGE,
            1_767_263_000_000,
            EventKind::Message(msg),
            first_event(&body),
        );
        assert_eq!(single(fb(&body)), expected);
    }

    #[test]
    fn instagram_text_decodes_surrogate_pairs() {
        let body = fixture!("instagram/text");
        let msg = ig_inbound(
            IG_TEXT,
            MessageKind::Text,
            Some("Hi! Do you ship to Portugal? 🇵🇹"),
        );
        let expected = event(
            IG_ACCOUNT,
            1_767_348_000_321,
            EventKind::Message(msg),
            first_event(&body),
        );
        assert_eq!(single(ig(&body)), expected);
    }

    #[test]
    fn instagram_image() {
        let body = fixture!("instagram/image");
        let mid = &ig_mid("aW1hZ2U");
        let mut msg = ig_inbound(mid, MessageKind::Image, None);
        msg.attachments = vec![cdn(MessageKind::Image, attachment_url(&body, 0))];
        let expected = event(
            IG_ACCOUNT,
            1_767_348_060_000,
            EventKind::Message(msg),
            first_event(&body),
        );
        assert_eq!(single(ig(&body)), expected);
    }

    #[test]
    fn instagram_story_mention_is_not_downloaded() {
        let body = fixture!("instagram/story_mention");
        let mid = &ig_mid("c3RvcnlfbWVudGlvbg");
        let mut msg = ig_inbound(mid, MessageKind::Image, None);
        let mut attachment = cdn(MessageKind::Image, attachment_url(&body, 0));
        attachment.download = false;
        msg.attachments = vec![attachment];
        let expected = event(
            IG_ACCOUNT,
            1_767_348_120_000,
            EventKind::Message(msg),
            first_event(&body),
        );
        assert_eq!(single(ig(&body)), expected);
    }

    #[test]
    fn instagram_share_is_a_link() {
        let body = fixture!("instagram/share");
        let mid = &ig_mid("c2hhcmU");
        let url = attachment_url(&body, 0).clone();
        let mut msg = ig_inbound(mid, MessageKind::Text, None);
        msg.payload =
            Some(json!({"links": [{"type": "share", "url": url, "payload": {"url": url}}]}));
        let expected = event(
            IG_ACCOUNT,
            1_767_348_180_000,
            EventKind::Message(msg),
            first_event(&body),
        );
        assert_eq!(single(ig(&body)), expected);
    }

    #[test]
    fn instagram_ig_reel_is_a_video() {
        let body = fixture!("instagram/ig_reel");
        let mid = &ig_mid("aWdfcmVlbA");
        let mut msg = ig_inbound(mid, MessageKind::Video, None);
        msg.attachments = vec![cdn(MessageKind::Video, attachment_url(&body, 0))];
        let expected = event(
            IG_ACCOUNT,
            1_767_348_240_000,
            EventKind::Message(msg),
            first_event(&body),
        );
        assert_eq!(single(ig(&body)), expected);
    }

    #[test]
    fn instagram_echo() {
        let body = fixture!("instagram/echo");
        let text = "Yes, we ship to Portugal! Delivery takes 3-5 days.";
        let msg = message(
            IG_ECHO,
            Direction::Outbound,
            IGSID,
            MessageKind::Text,
            Some(text),
        );
        let expected = event(
            IG_ACCOUNT,
            1_767_348_600_000,
            EventKind::Message(msg),
            first_event(&body),
        );
        assert_eq!(single(ig(&body)), expected);
    }

    #[test]
    fn instagram_reaction_and_unreact() {
        let body = fixture!("instagram/reaction");
        let reaction = Reaction {
            target: IG_ECHO.into(),
            reactor: IGSID.into(),
            contact: IGSID.into(),
            emoji: Some("\u{2764}\u{fe0f}".into()),
            reaction: Some("love".into()),
            removed: false,
        };
        let expected = event(
            IG_ACCOUNT,
            1_767_348_640_000,
            EventKind::Reaction(reaction.clone()),
            first_event(&body),
        );
        assert_eq!(single(ig(&body)), expected);

        let body = fixture!("instagram/unreact");
        let removed = Reaction {
            emoji: None,
            reaction: None,
            removed: true,
            ..reaction
        };
        let expected = event(
            IG_ACCOUNT,
            1_767_348_650_000,
            EventKind::Reaction(removed),
            first_event(&body),
        );
        assert_eq!(single(ig(&body)), expected);
    }

    #[test]
    fn instagram_read_names_the_mid() {
        let body = fixture!("instagram/read");
        let r = receipt(IGSID, DeliveryStatus::Read, &[IG_ECHO], None);
        let expected = event(
            IG_ACCOUNT,
            1_767_348_630_000,
            EventKind::Receipt(r),
            first_event(&body),
        );
        assert_eq!(single(ig(&body)), expected);
    }

    #[test]
    fn instagram_deleted_is_a_delete() {
        let body = fixture!("instagram/deleted");
        let kind = EventKind::Delete {
            target: IG_TEXT.into(),
        };
        let expected = event(IG_ACCOUNT, 1_767_348_700_000, kind, first_event(&body));
        assert_eq!(single(ig(&body)), expected);
    }

    #[test]
    fn instagram_unsupported() {
        let body = fixture!("instagram/unsupported");
        let mid = &ig_mid("dW5zdXBwb3J0ZWQ");
        let msg = ig_inbound(mid, MessageKind::Unsupported, None);
        let expected = event(
            IG_ACCOUNT,
            1_767_348_760_000,
            EventKind::Message(msg),
            first_event(&body),
        );
        assert_eq!(single(ig(&body)), expected);
    }

    #[test]
    fn instagram_postback() {
        let body = fixture!("instagram/postback");
        let mid = &ig_mid("cG9zdGJhY2s");
        let mut msg = ig_inbound(mid, MessageKind::Postback, Some("Track my order"));
        msg.payload = Some(json!({"postback": "ICEBREAKER_TRACK_ORDER"}));
        let expected = event(
            IG_ACCOUNT,
            1_767_348_820_000,
            EventKind::Message(msg),
            first_event(&body),
        );
        assert_eq!(single(ig(&body)), expected);
    }

    #[test]
    fn instagram_edit() {
        let body = fixture!("instagram/edit");
        let kind = EventKind::Edit {
            target: IG_TEXT.into(),
            text: Some("Hi! Do you ship to Spain? 🇪🇸".into()),
            num_edit: 1,
        };
        let expected = event(IG_ACCOUNT, 1_767_348_045_000, kind, first_event(&body));
        assert_eq!(single(ig(&body)), expected);
    }

    #[test]
    fn instagram_like_heart() {
        let body = fixture!("instagram/like_heart");
        let mid = &ig_mid("bGlrZV9oZWFydA");
        let msg = ig_inbound(mid, MessageKind::Sticker, Some("\u{2764}\u{fe0f}"));
        let expected = event(
            IG_ACCOUNT,
            1_767_348_880_000,
            EventKind::Message(msg),
            first_event(&body),
        );
        assert_eq!(single(ig(&body)), expected);
    }

    #[test]
    fn instagram_story_reply() {
        let body = fixture!("instagram/story_reply");
        let mid = &ig_mid("c3RvcnlfcmVwbHk");
        let story = body["entry"][0]["messaging"][0]["message"]["reply_to"]["story"].clone();
        assert_eq!(story["id"], "17955678901234567");
        let mut msg = ig_inbound(
            mid,
            MessageKind::Text,
            Some("Is this jacket still available?"),
        );
        msg.payload = Some(json!({"reply_to_story": story}));
        let expected = event(
            IG_ACCOUNT,
            1_767_348_940_000,
            EventKind::Message(msg),
            first_event(&body),
        );
        assert_eq!(single(ig(&body)), expected);
    }

    #[test]
    fn instagram_comments_change_is_ignored() {
        let batch = ig(&fixture!("instagram/comments"));
        assert_eq!(batch.events, vec![]);
        assert_eq!(
            batch.ignored,
            vec![r#"instagram: "comments" change not stored"#]
        );
    }

    #[test]
    fn mixed_batch_routes_each_entry_to_its_page() {
        let body = json!({"object": "page", "entry": [
            {"id": PAGE, "time": 1_767_000_000_500u64, "messaging": [
                {"sender": {"id": PSID}, "recipient": {"id": PAGE},
                 "timestamp": 1_767_000_000_100u64,
                 "message": {"mid": "m_a", "text": "to page one"}}]},
            // Ids as numbers: accepted like strings.
            {"id": 4444444444u64, "time": 1_767_000_000_600u64, "messaging": [
                {"sender": {"id": 5555555555u64}, "recipient": {"id": 4444444444u64},
                 "timestamp": 1_767_000_000_200u64,
                 "message": {"mid": "m_b", "text": "to page two"}}]}
        ]});
        let batch = fb(&body);
        assert_eq!(batch.ignored, Vec::<String>::new());
        let routed: Vec<(&str, i64)> = batch
            .events
            .iter()
            .map(|e| (e.channel_key.as_str(), e.timestamp_ms))
            .collect();
        assert_eq!(
            routed,
            vec![(PAGE, 1_767_000_000_100), ("4444444444", 1_767_000_000_200)]
        );
        let EventKind::Message(m) = &batch.events[1].kind else {
            panic!("message expected");
        };
        assert_eq!(m.contact.external_id, "5555555555");
        assert_eq!(m.text.as_deref(), Some("to page two"));
    }

    #[test]
    fn a_message_sent_by_the_page_is_an_echo_without_the_flag() {
        let event = |sender: &str, recipient: &str, mid: &str| {
            json!({"sender": {"id": sender}, "recipient": {"id": recipient},
                   "timestamp": 1_767_000_000_000u64,
                   "message": {"mid": mid, "text": "typed in Business Suite"}})
        };
        let body = json!({"object": "page", "entry": [{"id": PAGE, "time": 1_767_000_000_000u64,
            "messaging": [event(PAGE, PSID, "m_unflagged"), event(PAGE, PAGE, "m_self")]}]});
        let batch = fb(&body);
        assert_eq!(batch.events.len(), 1, "{batch:?}");
        let EventKind::Message(m) = &batch.events[0].kind else {
            panic!("message expected");
        };
        assert_eq!(m.direction, Direction::Outbound);
        assert_eq!(m.contact.external_id, PSID);
        assert_eq!(
            batch.ignored,
            vec!["facebook: message m_self from the page/account to itself skipped"]
        );

        // Instagram, with the account id only on the entry and an `is_self` test message.
        let ig_body = json!({"object": "instagram", "entry": [{"id": IG_ACCOUNT, "time": 1_767_000_000_000u64,
            "messaging": [event(IG_ACCOUNT, IGSID, "m_ig_out"),
                          {"sender": {"id": IG_ACCOUNT}, "recipient": {"id": IG_ACCOUNT}, "timestamp": 1_767_000_000_000u64,
                           "message": {"mid": "m_ig_self", "is_self": true, "is_echo": true, "text": "t"}},
                          {"sender": {"id": IG_ACCOUNT}, "recipient": {"id": IGSID}, "timestamp": 1_767_000_000_000u64,
                           "postback": {"mid": "m_pb", "title": "x"}}]}]});
        let batch = ig(&ig_body);
        assert_eq!(batch.events.len(), 1, "{batch:?}");
        let EventKind::Message(m) = &batch.events[0].kind else {
            panic!("message expected");
        };
        assert_eq!(
            (m.direction, m.contact.external_id.as_str()),
            (Direction::Outbound, IGSID)
        );
        assert_eq!(batch.ignored.len(), 2, "{:?}", batch.ignored);
    }

    #[test]
    fn routing_and_time_fallbacks() {
        let echo = json!({"sender": {"id": PAGE}, "recipient": {"id": PSID},
                          "message": {"mid": "m_e", "is_echo": true, "text": "hi"}});
        let inbound = json!({"sender": {"id": PSID}, "recipient": {"id": PAGE},
                             "timestamp": "1767000000",
                             "message": {"mid": "m_i", "text": "hello"}});
        let body = json!({"object": "page", "entry": [
            {"time": 1_767_000_009_000u64, "messaging": [echo, inbound]},
            {"messaging": [{"sender": {"id": PSID}, "recipient": {"id": PAGE},
                            "message": {"mid": "m_x", "text": "no time"}}]}
        ]});
        let batch = fb(&body);
        let got: Vec<(&str, i64)> = batch
            .events
            .iter()
            .map(|e| (e.channel_key.as_str(), e.timestamp_ms))
            .collect();
        // Echo: routed by its sender and timed by the entry; inbound: by its recipient.
        assert_eq!(
            got,
            vec![(PAGE, 1_767_000_009_000), (PAGE, 1_767_000_000_000)]
        );
        assert_eq!(
            batch.ignored,
            vec!["facebook: message event without timestamp skipped"]
        );
    }

    #[test]
    fn not_stored_and_unknown_events_are_reported() {
        let base = |key: &str, value: Value| {
            let mut ev = json!({"sender": {"id": PSID}, "recipient": {"id": PAGE},
                                "timestamp": 1_767_000_000_000u64});
            ev[key] = value;
            ev
        };
        let time = 1_767_000_000_000u64;
        let body = json!({"object": "page", "entry": [{"id": PAGE, "time": time, "messaging": [
            base("referral", json!({"ref": "x", "source": "SHORTLINK", "type": "OPEN_THREAD"})),
            base("optin", json!({"type": "notification_messages"})),
            base("pass_thread_control", json!({"new_owner_app_id": "123"})),
            base("take_thread_control", json!({})),
            base("request_thread_control", json!({})),
            base("policy_enforcement", json!({"action": "block"})),
            base("account_linking", json!({"status": "linked"})),
            base("brand_new_thing", json!({})),
            base("message", json!({"text": "no mid"})),
            base("reaction", json!({"action": "react"})),
            base("delivery", json!({})),
        ]}, {"id": PAGE, "changes": [{"field": "feed", "value": {"item": "comment"}}]},
            {"id": PAGE}]});
        let batch = fb(&body);
        assert_eq!(batch.events, vec![]);
        assert_eq!(
            batch.ignored,
            vec![
                "facebook: referral event not stored",
                "facebook: optin event not stored",
                "facebook: pass_thread_control event not stored",
                "facebook: take_thread_control event not stored",
                "facebook: request_thread_control event not stored",
                "facebook: policy_enforcement event not stored",
                "facebook: account_linking event not stored",
                "facebook: unknown event \"brand_new_thing\" ignored",
                "facebook: message without mid skipped",
                "facebook: reaction without mid skipped",
                "facebook: delivered receipt without mids or watermark ignored",
                "facebook: \"feed\" change not stored",
                "facebook: entry without messaging, standby or changes",
            ]
        );
    }

    #[test]
    fn attachment_edge_cases() {
        let ev = |ts: u64, message: Value| {
            let (sender, recipient) = (json!({"id": PSID}), json!({"id": PAGE}));
            json!({"sender": sender, "recipient": recipient, "timestamp": ts, "message": message})
        };
        let like = json!({"type": "image", "payload": {"sticker_id": 369239263222822u64}});
        let reel =
            json!({"type": "ig_reel", "payload": {"url": "/reel/123/", "reel_video_id": 123}});
        let media = json!({"type": "media", "payload": {"url": "https://x.test/a.jpg"}});
        let body = json!({"object": "page", "entry": [{"id": PAGE, "messaging": [
            ev(1_767_000_000_001, json!({"mid": "m_like", "attachments": [like]})),
            ev(1_767_000_000_002, json!({"mid": "m_reel", "attachments": [reel],
                                         "referral": {"source": "ADS", "ad_id": "6045"}})),
            ev(1_767_000_000_003, json!({"mid": "m_fb_empty", "text": "see",
                                         "attachments": [{"type": "fallback"}, media]})),
            ev(1_767_000_000_004, json!({"mid": "m_stk", "attachments": [
                {"type": "sticker", "payload": {"url": "https://x.test/s.png", "sticker_id": 1}},
                {"type": "image", "payload": {"url": "https://x.test/s.png"}}]})),
        ]}]});
        let batch = fb(&body);
        assert_eq!(batch.ignored, Vec::<String>::new());
        let msgs: Vec<&Message> = batch
            .events
            .iter()
            .map(|e| match &e.kind {
                EventKind::Message(m) => m,
                other => panic!("{other:?}"),
            })
            .collect();
        assert_eq!(msgs[0].kind, MessageKind::Sticker);
        assert_eq!(msgs[0].attachments[0].source, MediaSource::None);
        assert_eq!(msgs[1].kind, MessageKind::Video);
        assert_eq!(msgs[1].attachments[0].source, MediaSource::None);
        assert_eq!(
            msgs[1].payload,
            Some(json!({"referral": {"source": "ADS", "ad_id": "6045"}}))
        );
        assert_eq!(msgs[2].kind, MessageKind::Image);
        assert_eq!(
            msgs[2].payload,
            Some(json!({"links": [{"type": "fallback"}]}))
        );
        assert_eq!(msgs[2].attachments.len(), 1);
        assert_eq!(msgs[3].kind, MessageKind::Sticker);
        assert_eq!(msgs[3].attachments.len(), 1);
    }

    #[test]
    fn postback_without_mid_gets_a_stable_id_and_edit_counts_parse() {
        let body = json!({"object": "page", "entry": [{"id": PAGE, "messaging": [
            {"sender": {"id": PSID}, "recipient": {"id": PAGE}, "timestamp": 1_767_000_000_000u64,
             "postback": {"title": "Menu"}},
            {"sender": {"id": PSID}, "recipient": {"id": PAGE}, "timestamp": 1_767_000_000_001u64,
             "message_edit": {"mid": "m_1", "text": "x", "num_edit": "2"}},
            {"sender": {"id": PSID}, "recipient": {"id": PAGE}, "timestamp": 1_767_000_000_002u64,
             "message_edit": {"mid": "m_1", "text": "y"}},
            // The page reacting: the customer is the recipient.
            {"sender": {"id": PAGE}, "recipient": {"id": PSID}, "timestamp": 1_767_000_000_003u64,
             "reaction": {"mid": "m_1", "action": "react", "emoji": "👍", "reaction": "like"}},
        ]}]});
        let kinds: Vec<EventKind> = fb(&body).events.into_iter().map(|e| e.kind).collect();
        let EventKind::Message(pb) = &kinds[0] else {
            panic!("postback expected");
        };
        assert_eq!(pb.external_id, format!("postback:{PSID}:1767000000000"));
        assert_eq!((pb.kind, pb.payload.clone()), (MessageKind::Postback, None));
        let edit = |n| EventKind::Edit {
            target: "m_1".into(),
            text: Some(if n == 2 { "x" } else { "y" }.into()),
            num_edit: n,
        };
        assert_eq!(kinds[1], edit(2));
        assert_eq!(kinds[2], edit(1));
        let EventKind::Reaction(r) = &kinds[3] else {
            panic!("reaction expected");
        };
        assert_eq!((r.reactor.as_str(), r.contact.as_str()), (PAGE, PSID));
    }

    #[test]
    fn garbage_never_panics() {
        for body in [
            json!({"object": "page"}),
            json!({"object": "page", "entry": {"id": 1}}),
            json!({"object": "page", "entry": [1, null, "x", {"messaging": 5}]}),
            json!({"object": "page", "entry": [{"id": PAGE, "messaging": [
                1, "x", null, {"message": 5},
                {"sender": 3, "recipient": [], "timestamp": -1,
                 "message": {"mid": {}, "attachments": "x"}},
                {"sender": {"id": PSID}, "timestamp": 1,
                 "message": {"mid": "m", "attachments": [null, 1, {"type": 7, "payload": "x"}]}}],
                "changes": [null, {"value": 3},
                            {"field": "messages", "value": {"sender": null}}]}]}),
        ] {
            let batch = fb(&body);
            assert!(batch.events.len() <= 1, "{batch:?}");
            assert!(!batch.ignored.is_empty(), "{body}");
        }
    }
}
