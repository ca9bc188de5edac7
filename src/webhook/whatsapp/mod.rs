//! WhatsApp Cloud API bodies (`object: "whatsapp_business_account"`).
//!
//! Routing is by `value.metadata.phone_number_id`, never by the WABA id in `entry.id`:
//! one WABA owns several numbers and each number is its own channel.

use std::collections::HashMap;

use serde_json::{Map, Value, json};

use super::json::{flag, id_str, int_value, items, text_str};
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
mod tests;
