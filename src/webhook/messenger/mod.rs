//! Facebook Messenger (`object: "page"`) and Instagram (`object: "instagram"`) bodies.
//!
//! Both products share Messenger's event shapes. Instagram-only fields (`read.mid`,
//! `is_deleted`, `like_heart`, story replies) are accepted for either provider: Meta keeps
//! converging the two, and accepting a field costs nothing when it never appears.

use serde_json::{Map, Value};

use super::json::{flag, id_str};
use crate::model::{Batch, ContactRef, DeliveryStatus, Event, EventKind, Provider, timestamp_ms};

mod message;
mod updates;

use message::{message, postback};
use updates::{edit, reaction, receipt};

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

#[cfg(test)]
mod tests;
