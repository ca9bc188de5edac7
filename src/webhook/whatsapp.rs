//! WhatsApp Cloud API bodies (`object: "whatsapp_business_account"`).
//!
//! Routing is by `value.metadata.phone_number_id`, never by the WABA id in `entry.id`:
//! one WABA owns several numbers and each number is its own channel.

use std::collections::HashMap;

use serde_json::{Map, Value, json};

use super::parse::{flag, id_str, int_value, items, text_str};
use crate::model::{
    Attachment, Batch, ContactRef, DeliveryStatus, Direction, Event, EventKind, MediaSource,
    Message, MessageKind, Reaction, Receipt, timestamp_ms,
};

/// Normalizes a WhatsApp webhook body.
pub fn parse(body: &Value) -> Batch {
    let mut batch = Batch::default();
    let Some(entries) = body.get("entry").and_then(Value::as_array) else {
        ignore(&mut batch, "body has no entry array");
        return batch;
    };
    for entry in entries {
        let entry_time = entry.get("time").and_then(timestamp_ms);
        match entry.get("changes").and_then(Value::as_array) {
            Some(changes) => {
                for change in changes {
                    parse_change(change, entry_time, &mut batch);
                }
            }
            None => ignore(&mut batch, "entry without changes"),
        }
    }
    batch
}

fn ignore(batch: &mut Batch, reason: impl std::fmt::Display) {
    batch.ignored.push(format!("whatsapp: {reason}"));
}

/// What the messages and statuses of one `changes[].value` share.
struct Ctx<'a> {
    channel_key: String,
    entry_time: Option<i64>,
    /// `value.contacts[]` keyed by `wa_id` and by `user_id` (BSUID).
    contacts: HashMap<String, &'a Value>,
}

fn parse_change(change: &Value, entry_time: Option<i64>, batch: &mut Batch) {
    let field = change
        .get("field")
        .and_then(Value::as_str)
        .unwrap_or("(unnamed)");
    // `smb_message_echoes`: messages the business sent from the WhatsApp Business app
    // on a coexistence number. They are outbound messages of the conversation.
    if field != "messages" && field != "smb_message_echoes" {
        return ignore(batch, format!("{field:?} change not stored"));
    }
    let value = change.get("value").unwrap_or(&Value::Null);
    let Some(channel_key) = id_str(value.pointer("/metadata/phone_number_id")) else {
        return ignore(
            batch,
            "messages change without metadata.phone_number_id skipped",
        );
    };
    let ctx = Ctx {
        channel_key,
        entry_time,
        contacts: contact_map(value),
    };
    let (messages, statuses) = (items(value.get("messages")), items(value.get("statuses")));
    for item in messages {
        push(batch, message(&ctx, item));
    }
    let echoes = items(value.get("message_echoes"));
    for item in echoes {
        push(batch, echo(&ctx, item));
    }
    for item in statuses {
        push(batch, status(&ctx, item));
    }
    let errors = items(value.get("errors"));
    if !errors.is_empty() {
        ignore(
            batch,
            format!("errors reported: {}", describe_errors(errors)),
        );
    } else if messages.is_empty() && statuses.is_empty() && echoes.is_empty() {
        ignore(batch, "messages change without messages or statuses");
    }
}

fn push(batch: &mut Batch, result: Result<Event, String>) {
    match result {
        Ok(event) => batch.events.push(event),
        Err(reason) => ignore(batch, reason),
    }
}

fn contact_map(value: &Value) -> HashMap<String, &Value> {
    let mut map = HashMap::new();
    for contact in items(value.get("contacts")) {
        for key in ["wa_id", "user_id"] {
            if let Some(id) = id_str(contact.get(key)) {
                map.entry(id).or_insert(contact);
            }
        }
    }
    map
}

fn describe_errors(errors: &[Value]) -> String {
    let parts: Vec<String> = errors
        .iter()
        .map(|e| {
            let code = int_value(e.get("code")).map_or("?".into(), |c| c.to_string());
            let title = text_str(e.get("title")).or_else(|| text_str(e.get("message")));
            format!("{code} {}", title.unwrap_or_default())
                .trim()
                .to_owned()
        })
        .collect();
    parts.join("; ")
}

fn event_time(ctx: &Ctx, item: &Value) -> Option<i64> {
    item.get("timestamp")
        .and_then(timestamp_ms)
        .or(ctx.entry_time)
}

fn message(ctx: &Ctx, m: &Value) -> Result<Event, String> {
    let id = id_str(m.get("id")).ok_or("message without id skipped")?;
    let timestamp_ms =
        event_time(ctx, m).ok_or_else(|| format!("message {id} without timestamp skipped"))?;
    // Group chats are not one customer's conversation; storing them as 1:1 would
    // show other members' messages in the sender's thread.
    if m.get("group_id").is_some() {
        return Err(format!("group message {id} not stored"));
    }
    let contact = sender(ctx, m).ok_or_else(|| format!("message {id} without sender skipped"))?;
    let ty = m.get("type").and_then(Value::as_str).unwrap_or("");
    let kind = if ty == "reaction" {
        reaction(m, contact.external_id)
            .ok_or_else(|| format!("reaction {id} without message_id"))?
    } else {
        EventKind::Message(build_message(id, contact, Direction::Inbound, ty, m))
    };
    Ok(Event {
        channel_key: ctx.channel_key.clone(),
        timestamp_ms,
        kind,
        raw: m.clone(),
    })
}

/// A message the business sent from the WhatsApp Business app: outbound, and the
/// customer is the recipient (`to`).
fn echo(ctx: &Ctx, m: &Value) -> Result<Event, String> {
    let id = id_str(m.get("id")).ok_or("message echo without id skipped")?;
    let timestamp_ms =
        event_time(ctx, m).ok_or_else(|| format!("message echo {id} without timestamp skipped"))?;
    let ty = m.get("type").and_then(Value::as_str).unwrap_or("");
    if ty == "reaction" {
        return Err(format!("reaction echo {id} not stored"));
    }
    let to = id_str(m.get("to"));
    let external_id = to
        .clone()
        .or_else(|| id_str(m.get("to_user_id")))
        .ok_or_else(|| format!("message echo {id} without recipient skipped"))?;
    let contact = ContactRef {
        external_id,
        phone: to,
        ..Default::default()
    };
    Ok(Event {
        channel_key: ctx.channel_key.clone(),
        timestamp_ms,
        kind: EventKind::Message(build_message(id, contact, Direction::Outbound, ty, m)),
        raw: m.clone(),
    })
}

/// The sender: phone number (`from`) when present, else the business-scoped user id.
fn sender(ctx: &Ctx, m: &Value) -> Option<ContactRef> {
    let phone = id_str(m.get("from"));
    let user_id = id_str(m.get("from_user_id"));
    let profile = [&phone, &user_id]
        .into_iter()
        .flatten()
        .find_map(|key| ctx.contacts.get(key))
        .and_then(|c| c.get("profile"));
    Some(ContactRef {
        external_id: phone.clone().or(user_id)?,
        name: profile.and_then(|p| text_str(p.get("name"))),
        username: profile.and_then(|p| text_str(p.get("username"))),
        phone,
    })
}

fn reaction(m: &Value, reactor: String) -> Option<EventKind> {
    let body = m.get("reaction")?;
    // Some BSP docs (and maybe payloads) spell it `messsage_id`.
    let target = id_str(body.get("message_id")).or_else(|| id_str(body.get("messsage_id")))?;
    let emoji = text_str(body.get("emoji"));
    Some(EventKind::Reaction(Reaction {
        target,
        contact: reactor.clone(),
        reactor,
        removed: emoji.is_none(),
        emoji,
        reaction: None,
    }))
}

/// Kind, text, media and extras of one typed message body.
struct Body {
    kind: MessageKind,
    text: Option<String>,
    attachments: Vec<Attachment>,
    payload: Map<String, Value>,
}

impl Body {
    fn new(kind: MessageKind, text: Option<String>) -> Self {
        Body {
            kind,
            text,
            attachments: Vec::new(),
            payload: Map::new(),
        }
    }

    fn with(mut self, key: &str, value: Value) -> Self {
        self.payload.insert(key.into(), value);
        self
    }
}

fn build_message(
    id: String,
    contact: ContactRef,
    direction: Direction,
    ty: &str,
    m: &Value,
) -> Message {
    let mut body = typed_body(ty, m);
    let context = m.get("context");
    for key in ["forwarded", "frequently_forwarded"] {
        if flag(context.and_then(|c| c.get(key))) {
            body.payload.insert(key.into(), Value::Bool(true));
        }
    }
    if let Some(product) = context.and_then(|c| c.get("referred_product")) {
        body.payload
            .insert("referred_product".into(), product.clone());
    }
    if let Some(referral) = m.get("referral") {
        body.payload.insert("referral".into(), referral.clone());
    }
    Message {
        external_id: id,
        direction,
        contact,
        kind: body.kind,
        text: body.text,
        attachments: body.attachments,
        reply_to: context.and_then(|c| id_str(c.get("id"))),
        payload: (!body.payload.is_empty()).then_some(Value::Object(body.payload)),
    }
}

fn typed_body(ty: &str, m: &Value) -> Body {
    let Some(obj) = m.get(ty).filter(|v| !v.is_null()) else {
        return unsupported(ty, m);
    };
    let text_of = |key: &str| text_str(obj.get(key));
    match ty {
        "text" => Body::new(MessageKind::Text, text_of("body")),
        "image" | "video" | "audio" | "voice" | "document" | "sticker" => media(ty, obj),
        "location" => location(obj),
        "contacts" => shared_contacts(obj),
        "interactive" => interactive(ty, m, obj),
        "button" => Body::new(MessageKind::Text, text_of("text")).with("button", obj.clone()),
        "order" => order(obj),
        "system" => Body::new(MessageKind::Text, text_of("body")).with("system", obj.clone()),
        _ => unsupported(ty, m),
    }
}

fn media(ty: &str, obj: &Value) -> Body {
    let kind = match ty {
        "image" => MessageKind::Image,
        "video" => MessageKind::Video,
        "audio" | "voice" => MessageKind::Audio,
        "document" => MessageKind::File,
        _ => MessageKind::Sticker,
    };
    let source = match id_str(obj.get("id")) {
        Some(id) => MediaSource::MediaId(id),
        None => MediaSource::None,
    };
    let mut body = Body::new(kind, text_str(obj.get("caption")));
    body.attachments.push(Attachment {
        kind,
        source,
        mime_type: text_str(obj.get("mime_type")),
        sha256: text_str(obj.get("sha256")),
        size: int_value(obj.get("file_size")),
        filename: text_str(obj.get("filename")),
        download: true,
    });
    // The On-Premises `voice` type is a voice note by definition.
    if ty == "voice" || flag(obj.get("voice")) {
        body = body.with("voice", Value::Bool(true));
    }
    body
}

fn location(obj: &Value) -> Body {
    let name = text_str(obj.get("name"));
    let address = text_str(obj.get("address"));
    let text: Vec<&str> = [&name, &address]
        .into_iter()
        .flatten()
        .map(String::as_str)
        .collect();
    let mut location = Map::new();
    for key in ["latitude", "longitude", "name", "address", "url"] {
        if let Some(value) = obj.get(key).filter(|v| !v.is_null()) {
            location.insert(key.into(), value.clone());
        }
    }
    let text = (!text.is_empty()).then(|| text.join(", "));
    Body::new(MessageKind::Location, text).with("location", Value::Object(location))
}

fn shared_contacts(obj: &Value) -> Body {
    let names: Vec<String> = items(Some(obj))
        .iter()
        .filter_map(|c| {
            let name = c.get("name")?;
            text_str(name.get("formatted_name")).or_else(|| {
                let parts: Vec<String> = ["first_name", "last_name"]
                    .into_iter()
                    .filter_map(|k| text_str(name.get(k)))
                    .collect();
                (!parts.is_empty()).then(|| parts.join(" "))
            })
        })
        .collect();
    let text = (!names.is_empty()).then(|| names.join(", "));
    Body::new(MessageKind::Contacts, text).with("contacts", obj.clone())
}

fn interactive(ty: &str, m: &Value, obj: &Value) -> Body {
    let sub = obj.get("type").and_then(Value::as_str).unwrap_or("");
    let reply = obj.get(sub);
    let text = match sub {
        "button_reply" | "list_reply" => reply.and_then(|r| text_str(r.get("title"))),
        "nfm_reply" => reply.and_then(|r| text_str(r.get("body"))),
        _ => return unsupported(ty, m).with("interactive", obj.clone()),
    };
    Body::new(MessageKind::Text, text).with("interactive", obj.clone())
}

fn order(obj: &Value) -> Body {
    let count = items(obj.get("product_items")).len();
    let text = text_str(obj.get("text")).unwrap_or_else(|| match count {
        1 => "Order (1 item)".into(),
        n => format!("Order ({n} items)"),
    });
    Body::new(MessageKind::Text, Some(text)).with("order", obj.clone())
}

/// A placeholder for types Meta could not render or this parser does not know.
fn unsupported(ty: &str, m: &Value) -> Body {
    let mut body = Body::new(MessageKind::Unsupported, None).with("type", json!(ty));
    for key in ["errors", "unsupported"] {
        if let Some(value) = m.get(key) {
            body = body.with(key, value.clone());
        }
    }
    body
}

fn status(ctx: &Ctx, s: &Value) -> Result<Event, String> {
    let id = id_str(s.get("id")).ok_or("status without id skipped")?;
    let name = s.get("status").and_then(Value::as_str).unwrap_or("");
    let status = DeliveryStatus::parse(name)
        .ok_or_else(|| format!("status {name:?} for {id} not stored"))?;
    let contact = id_str(s.get("recipient_id"))
        .or_else(|| id_str(s.get("recipient_user_id")))
        .ok_or_else(|| format!("status for {id} without recipient skipped"))?;
    let timestamp_ms =
        event_time(ctx, s).ok_or_else(|| format!("status for {id} without timestamp skipped"))?;
    let error = items(s.get("errors")).first();
    let receipt = Receipt {
        contact,
        status,
        targets: vec![id],
        watermark_ms: None,
        error_code: error.and_then(|e| int_value(e.get("code"))),
        error_title: error
            .and_then(|e| text_str(e.get("title")).or_else(|| text_str(e.get("message")))),
    };
    Ok(Event {
        channel_key: ctx.channel_key.clone(),
        timestamp_ms,
        kind: EventKind::Receipt(receipt),
        raw: s.clone(),
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    const PNID: &str = "106540352242922";
    const WAID: &str = "16505551234";
    const T: i64 = 1_767_434_400_000;
    const OUT1: &str = "wamid.OUTBOUND1";

    macro_rules! fixture {
        ($name:literal) => {
            serde_json::from_str::<Value>(include_str!(concat!(
                "../../tests/fixtures/whatsapp/",
                $name,
                ".json"
            )))
            .expect($name)
        };
    }

    fn single(batch: Batch) -> Event {
        assert_eq!(batch.ignored, Vec::<String>::new());
        assert_eq!(batch.events.len(), 1, "{:#?}", batch.events);
        batch.events.into_iter().next().expect("one event")
    }

    fn first_message(body: &Value) -> Value {
        body["entry"][0]["changes"][0]["value"]["messages"][0].clone()
    }

    fn first_status(body: &Value) -> Value {
        body["entry"][0]["changes"][0]["value"]["statuses"][0].clone()
    }

    fn ana() -> ContactRef {
        ContactRef {
            external_id: WAID.into(),
            name: Some("Ana Souza".into()),
            username: None,
            phone: Some(WAID.into()),
        }
    }

    /// An inbound message from Ana with the raw message's own id.
    fn inbound(raw: &Value, kind: MessageKind, text: Option<&str>) -> Message {
        let id = raw["id"].as_str().expect("wamid");
        assert!(id.starts_with("wamid."));
        Message {
            external_id: id.into(),
            direction: Direction::Inbound,
            contact: ana(),
            kind,
            text: text.map(Into::into),
            attachments: Vec::new(),
            reply_to: None,
            payload: None,
        }
    }

    fn media(kind: MessageKind, id: &str, mime: &str, sha: &str) -> Attachment {
        Attachment {
            kind,
            source: MediaSource::MediaId(id.into()),
            mime_type: Some(mime.into()),
            sha256: Some(sha.into()),
            size: None,
            filename: None,
            download: true,
        }
    }

    /// Asserts the fixture holds exactly one message, normalized as `build` says.
    fn check_message(body: &Value, offset_s: i64, build: impl FnOnce(&Value) -> Message) {
        let raw = first_message(body);
        let expected = Event {
            channel_key: PNID.into(),
            timestamp_ms: T + offset_s * 1000,
            kind: EventKind::Message(build(&raw)),
            raw,
        };
        assert_eq!(single(parse(body)), expected);
    }

    #[test]
    fn text() {
        let body = fixture!("text");
        assert_eq!(
            first_message(&body)["id"],
            "wamid.HBgLMTY1MDU1NTEyMzQVAgASGBQzRUIwMUNCMjUxRUMwRDU2OERFNgA="
        );
        check_message(&body, 1, |raw| {
            inbound(
                raw,
                MessageKind::Text,
                Some("Oi! Vocês entregam em Lisboa?"),
            )
        });
    }

    #[test]
    fn image_with_caption() {
        check_message(&fixture!("image"), 60, |raw| {
            let mut m = inbound(raw, MessageKind::Image, Some("This is the damaged box"));
            let sha = "SfInY0gGKTsJlUWbwxC1k+FAD0FZHvzwfpvO0zX0GUI=";
            m.attachments = vec![media(
                MessageKind::Image,
                "1479537139650973",
                "image/jpeg",
                sha,
            )];
            m
        });
    }

    #[test]
    fn document_keeps_filename() {
        check_message(&fixture!("document"), 120, |raw| {
            let mut m = inbound(raw, MessageKind::File, Some("Invoice for March"));
            let sha = "4Yw1Rj8m3qZ0u7p2Xb9sKcT6fVnLhA5dE1gJ0iOoPqs=";
            let mut a = media(
                MessageKind::File,
                "2113390865792101",
                "application/pdf",
                sha,
            );
            a.filename = Some("invoice-4521.pdf".into());
            m.attachments = vec![a];
            m
        });
    }

    #[test]
    fn voice_note() {
        check_message(&fixture!("audio"), 180, |raw| {
            let mut m = inbound(raw, MessageKind::Audio, None);
            let sha = "Kq8vW3nR5tY7uI9oP1aS3dF5gH7jK9lZ2xC4vB6nM8Q=";
            let mime = "audio/ogg; codecs=opus";
            m.attachments = vec![media(MessageKind::Audio, "1027394618203746", mime, sha)];
            m.payload = Some(json!({"voice": true}));
            m
        });
    }

    #[test]
    fn video() {
        check_message(&fixture!("video"), 240, |raw| {
            let mut m = inbound(raw, MessageKind::Video, Some("It rattles like this"));
            let sha = "Zx2Cv4Bn6Mm8Qw0Er2Ty4Ui6Op8As0Df2Gh4Jk6Ll8=";
            m.attachments = vec![media(
                MessageKind::Video,
                "1382947561029384",
                "video/mp4",
                sha,
            )];
            m
        });
    }

    #[test]
    fn sticker() {
        check_message(&fixture!("sticker"), 300, |raw| {
            let mut m = inbound(raw, MessageKind::Sticker, None);
            let sha = "Pq9Wr8Et7Yu6Io5Pa4Sd3Fg2Hj1Kl0Zx9Cv8Bn7Mm6=";
            m.attachments = vec![media(
                MessageKind::Sticker,
                "843591027364519",
                "image/webp",
                sha,
            )];
            m
        });
    }

    #[test]
    fn location() {
        check_message(&fixture!("location"), 360, |raw| {
            let text = "Loja Chiado, Rua Garrett 50, 1200-204 Lisboa";
            let mut m = inbound(raw, MessageKind::Location, Some(text));
            m.payload = Some(json!({"location": {
                "latitude": 38.7107, "longitude": -9.1418,
                "name": "Loja Chiado", "address": "Rua Garrett 50, 1200-204 Lisboa"
            }}));
            m
        });
    }

    #[test]
    fn shared_contact_card() {
        check_message(&fixture!("contacts"), 420, |raw| {
            let mut m = inbound(raw, MessageKind::Contacts, Some("João Lima"));
            assert_eq!(raw["contacts"][0]["phones"][0]["wa_id"], "351912345678");
            m.payload = Some(json!({"contacts": raw["contacts"].clone()}));
            m
        });
    }

    #[test]
    fn interactive_replies() {
        let cases = [
            (
                fixture!("interactive_button_reply"),
                480,
                "Yes, ship it",
                "wamid.OUTBOUND3",
            ),
            (
                fixture!("interactive_list_reply"),
                540,
                "Medium",
                "wamid.OUTBOUND4",
            ),
            (
                fixture!("interactive_nfm_reply"),
                570,
                "Sent",
                "wamid.OUTBOUND6",
            ),
        ];
        for (body, offset, title, quoted) in cases {
            check_message(&body, offset, |raw| {
                let mut m = inbound(raw, MessageKind::Text, Some(title));
                m.reply_to = Some(quoted.into());
                m.payload = Some(json!({"interactive": raw["interactive"].clone()}));
                m
            });
        }
    }

    #[test]
    fn template_button() {
        check_message(&fixture!("button"), 600, |raw| {
            let mut m = inbound(raw, MessageKind::Text, Some("Confirm delivery"));
            m.reply_to = Some("wamid.OUTBOUND5".into());
            m.payload = Some(
                json!({"button": {"payload": "CONFIRM_DELIVERY", "text": "Confirm delivery"}}),
            );
            m
        });
    }

    #[test]
    fn reaction_and_removal() {
        let cases = [
            (fixture!("reaction"), 660, Some("👍")),
            (fixture!("reaction_removed"), 720, None),
        ];
        for (body, offset, emoji) in cases {
            let raw = first_message(&body);
            let expected = Event {
                channel_key: PNID.into(),
                timestamp_ms: T + offset * 1000,
                kind: EventKind::Reaction(Reaction {
                    target: OUT1.into(),
                    reactor: WAID.into(),
                    contact: WAID.into(),
                    emoji: emoji.map(Into::into),
                    reaction: None,
                    removed: emoji.is_none(),
                }),
                raw,
            };
            assert_eq!(single(parse(&body)), expected);
        }
    }

    #[test]
    fn order() {
        check_message(&fixture!("order"), 780, |raw| {
            let mut m = inbound(raw, MessageKind::Text, Some("Can you deliver tomorrow?"));
            m.payload = Some(json!({"order": raw["order"].clone()}));
            m
        });
    }

    #[test]
    fn system_message_has_no_profile() {
        check_message(&fixture!("system"), 840, |raw| {
            let text = "Ana Souza changed their phone number to a new number 16505559876";
            let mut m = inbound(raw, MessageKind::Text, Some(text));
            m.contact.name = None;
            m.payload = Some(json!({"system": {
                "body": text, "wa_id": "16505559876", "type": "user_changed_number"
            }}));
            m
        });
    }

    #[test]
    fn unsupported_and_legacy_unknown() {
        check_message(&fixture!("unsupported"), 900, |raw| {
            let mut m = inbound(raw, MessageKind::Unsupported, None);
            m.payload = Some(json!({
                "type": "unsupported",
                "errors": raw["errors"].clone(),
                "unsupported": {"type": "poll_creation"}
            }));
            assert_eq!(raw["errors"][0]["code"], 131051);
            m
        });
        check_message(&fixture!("unknown"), 960, |raw| {
            let mut m = inbound(raw, MessageKind::Unsupported, None);
            m.payload = Some(json!({"type": "unknown", "errors": [{
                "code": 131051,
                "details": "Message type is not currently supported",
                "title": "Unsupported message type"
            }]}));
            m
        });
    }

    fn check_status(body: &Value, offset_s: i64, receipt: Receipt) {
        let expected = Event {
            channel_key: PNID.into(),
            timestamp_ms: T + offset_s * 1000,
            kind: EventKind::Receipt(receipt),
            raw: first_status(body),
        };
        assert_eq!(single(parse(body)), expected);
    }

    fn receipt(target: &str, status: DeliveryStatus) -> Receipt {
        Receipt {
            contact: WAID.into(),
            status,
            targets: vec![target.into()],
            watermark_ms: None,
            error_code: None,
            error_title: None,
        }
    }

    #[test]
    fn statuses() {
        check_status(
            &fixture!("statuses_sent"),
            1_000,
            receipt(OUT1, DeliveryStatus::Sent),
        );
        check_status(
            &fixture!("statuses_delivered"),
            1_002,
            receipt(OUT1, DeliveryStatus::Delivered),
        );
        check_status(
            &fixture!("statuses_read"),
            1_030,
            receipt(OUT1, DeliveryStatus::Read),
        );
        let failed = Receipt {
            error_code: Some(131047),
            error_title: Some("Re-engagement message".into()),
            ..receipt("wamid.OUTBOUND2", DeliveryStatus::Failed)
        };
        check_status(&fixture!("statuses_failed"), 1_100, failed);
    }

    #[test]
    fn batch_of_two_messages_plus_a_second_change() {
        let body = fixture!("batch");
        let batch = parse(&body);
        assert_eq!(batch.ignored, Vec::<String>::new());
        let changes = &body["entry"][0]["changes"];
        let raws = [
            changes[0]["value"]["messages"][0].clone(),
            changes[0]["value"]["messages"][1].clone(),
            changes[1]["value"]["messages"][0].clone(),
        ];
        let expected: Vec<Event> = [
            (1_200, "First message"),
            (1_201, "Second message"),
            (1_260, "Third message, second change"),
        ]
        .into_iter()
        .zip(raws)
        .map(|((offset, text), raw)| Event {
            channel_key: PNID.into(),
            timestamp_ms: T + offset * 1000,
            kind: EventKind::Message(inbound(&raw, MessageKind::Text, Some(text))),
            raw,
        })
        .collect();
        assert_eq!(batch.events, expected);
    }

    #[test]
    fn bsuid_only_sender() {
        check_message(&fixture!("bsuid"), 1_300, |raw| {
            let mut m = inbound(
                raw,
                MessageKind::Text,
                Some("Hi, I found you via your username"),
            );
            m.contact = ContactRef {
                external_id: "US.13491208655302741918".into(),
                name: Some("Ana Souza".into()),
                username: Some("@anasouza".into()),
                phone: None,
            };
            m
        });
    }

    #[test]
    fn reply_with_context() {
        check_message(&fixture!("reply_context"), 1_360, |raw| {
            let mut m = inbound(raw, MessageKind::Text, Some("Which carrier is it?"));
            m.reply_to = Some(OUT1.into());
            m
        });
    }

    #[test]
    fn non_message_fields_and_errors_are_ignored() {
        let batch = parse(&fixture!("account_update"));
        assert_eq!(batch.events, vec![]);
        assert_eq!(
            batch.ignored,
            vec![r#"whatsapp: "account_update" change not stored"#]
        );
        let batch = parse(&fixture!("errors"));
        assert_eq!(batch.events, vec![]);
        assert_eq!(
            batch.ignored,
            vec!["whatsapp: errors reported: 131000 Something went wrong"]
        );
    }

    #[test]
    fn routes_each_change_by_phone_number_id() {
        let change = |pnid: Value, id: &str| {
            json!({"field": "messages", "value": {
                "metadata": {"display_phone_number": "1555", "phone_number_id": pnid},
                "contacts": [{"profile": {"name": "Bo"}, "wa_id": "441234"}],
                "messages": [{"from": "441234", "id": id, "timestamp": 1_767_000_000,
                              "type": "text", "text": {"body": "hi"}}]}})
        };
        let body = json!({"object": "whatsapp_business_account", "entry": [
            {"id": "1", "changes": [change(json!("111"), "wamid.a")]},
            {"id": "2", "changes": [
                change(json!(222), "wamid.b"),
                {"field": "messages", "value": {}}
            ]}
        ]});
        let batch = parse(&body);
        let routed: Vec<(&str, i64)> = batch
            .events
            .iter()
            .map(|e| (e.channel_key.as_str(), e.timestamp_ms))
            .collect();
        assert_eq!(
            routed,
            vec![("111", 1_767_000_000_000), ("222", 1_767_000_000_000)]
        );
        assert_eq!(
            batch.ignored,
            vec!["whatsapp: messages change without metadata.phone_number_id skipped"]
        );
    }

    #[test]
    fn edge_cases() {
        let msg = |extra: Value| {
            let mut m = json!({"from": WAID, "id": "wamid.x", "timestamp": "1767000000"});
            if let (Some(m), Some(extra)) = (m.as_object_mut(), extra.as_object()) {
                m.extend(extra.clone());
            }
            m
        };
        let value = json!({"metadata": {"phone_number_id": PNID},
        "messages": [
            msg(json!({"type": "order", "order": {"catalog_id": "1", "product_items": [{}, {}]}})),
            msg(json!({"type": "text", "text": {"body": "fwd"}, "context": {"forwarded": true},
                       "referral": {"source_type": "ad", "ctwa_clid": "abc"}})),
            msg(json!({"type": "poll", "poll": {}})),
            msg(json!({"type": "reaction", "reaction": {"messsage_id": "wamid.y", "emoji": ""}})),
            msg(json!({"type": "text", "text": {"body": "group"}, "group_id": "g1"})),
            msg(json!({"type": "reaction", "reaction": {}})),
            json!({"from": WAID, "id": "wamid.z", "type": "text", "text": {"body": "no time"}}),
            json!({"id": "wamid.w", "timestamp": "1767000000", "type": "text"}),
        ],
        "statuses": [
            {"id": "wamid.o", "status": "deleted", "timestamp": "1767000000", "recipient_id": WAID},
            {"id": "wamid.o", "status": "played", "timestamp": "1767000000", "recipient_id": WAID},
        ]});
        let body = json!({"entry": [{"changes": [{"field": "messages", "value": value}]}]});
        let batch = parse(&body);
        let kinds: Vec<&EventKind> = batch.events.iter().map(|e| &e.kind).collect();
        let EventKind::Message(order) = kinds[0] else {
            panic!("order")
        };
        assert_eq!(order.text.as_deref(), Some("Order (2 items)"));
        let EventKind::Message(fwd) = kinds[1] else {
            panic!("fwd")
        };
        assert_eq!(
            fwd.payload,
            Some(json!({"forwarded": true, "referral": {"source_type": "ad", "ctwa_clid": "abc"}}))
        );
        let EventKind::Message(poll) = kinds[2] else {
            panic!("poll")
        };
        assert_eq!(
            (poll.kind, poll.payload.clone()),
            (MessageKind::Unsupported, Some(json!({"type": "poll"})))
        );
        let EventKind::Reaction(r) = kinds[3] else {
            panic!("reaction")
        };
        assert_eq!((r.target.as_str(), r.removed), ("wamid.y", true));
        let EventKind::Receipt(played) = kinds[4] else {
            panic!("played")
        };
        assert_eq!(played.status, DeliveryStatus::Played);
        assert_eq!(kinds.len(), 5);
        assert_eq!(
            batch.ignored,
            vec![
                "whatsapp: group message wamid.x not stored",
                "whatsapp: reaction wamid.x without message_id",
                "whatsapp: message wamid.z without timestamp skipped",
                "whatsapp: message wamid.w without sender skipped",
                "whatsapp: status \"deleted\" for wamid.o not stored",
            ]
        );
    }

    #[test]
    fn garbage_never_panics() {
        for body in [
            json!(null),
            json!({"entry": 3}),
            json!({"entry": [null, {"changes": [
                null, 1, {"field": 2}, {"field": "messages", "value": []}
            ]}]}),
            json!({"entry": [{"changes": [{"field": "messages", "value": {
                "metadata": {"phone_number_id": "1"}, "contacts": [1, {"wa_id": {}}],
                "messages": [1, {"id": 5, "from": [], "timestamp": {}},
                    {"id": "a", "from": "1", "timestamp": "1767000000", "type": "image",
                     "image": 4},
                    {"id": "b", "from": "1", "timestamp": "1767000000", "type": "contacts",
                     "contacts": {"x": 1}},
                    {"id": "c", "from": "1", "timestamp": "1767000000", "type": "interactive",
                     "interactive": "x"}],
                "statuses": [null, {"id": "s", "status": 3}], "errors": "x"}}]}]}),
        ] {
            let batch = parse(&body);
            assert!(!batch.ignored.is_empty(), "{body}");
        }
    }
}
