//! WhatsApp parser tests over `tests/fixtures/whatsapp/`: one test per message type here;
//! statuses, batching, routing and malformed input in [`edges`].

use super::*;

const PNID: &str = "106540352242922";
const WAID: &str = "16505551234";
const T: i64 = 1_767_434_400_000;
const OUT1: &str = "wamid.OUTBOUND1";

macro_rules! fixture {
    ($name:literal) => {
        serde_json::from_str::<Value>(include_str!(concat!(
            env!("CARGO_MANIFEST_DIR"),
            "/tests/fixtures/whatsapp/",
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
        m.payload =
            Some(json!({"button": {"payload": "CONFIRM_DELIVERY", "text": "Confirm delivery"}}));
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

mod edges;
