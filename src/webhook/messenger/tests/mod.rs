//! Messenger and Instagram parser tests. [`fixtures`] checks every body in
//! `tests/fixtures/{facebook,instagram}/` against a table of expected events;
//! [`synthetic`] covers routing, fallbacks and malformed input with inline bodies.

use super::*;
use crate::model::{Attachment, Direction, MediaSource, Message, MessageKind, Reaction, Receipt};
use serde_json::json;

mod fixtures;
mod synthetic;

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

/// Reads `tests/fixtures/<name>.json`, e.g. `facebook/text`.
fn fixture(name: &str) -> Value {
    let path = format!("{}/tests/fixtures/{name}.json", env!("CARGO_MANIFEST_DIR"));
    let text = std::fs::read_to_string(&path).unwrap_or_else(|e| panic!("{path}: {e}"));
    serde_json::from_str(&text).unwrap_or_else(|e| panic!("{path}: {e}"))
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

fn receipt(contact: &str, status: DeliveryStatus, targets: &[&str], wm: Option<i64>) -> Receipt {
    Receipt {
        contact: contact.into(),
        status,
        targets: targets.iter().map(|t| t.to_string()).collect(),
        watermark_ms: wm,
        error_code: None,
        error_title: None,
    }
}
