//! Every fixture of every provider, posted to one running server per provider and read
//! back through the read API: the stored result must be exactly right (kind, text,
//! direction, conversation, attachments, statuses, reactions, edits, deletions), updates
//! must apply whether they arrive before or after their message, and events that are not
//! messages must create nothing.

mod common;

use common::*;
use serde_json::{Value, json};

const PAGE: &str = "1111111111";
const PSID: &str = "2222222222";
const IG_ACCOUNT: &str = "17841400000000001";
const IGSID: &str = "3333333333";
const PHONE_ID: &str = "106540352242922";
const WAID: &str = "16505551234";
const BSUID: &str = "US.13491208655302741918";

/// A workdir with the three test channels and the test admin.
fn setup() -> Workdir {
    let w = Workdir::new();
    create_admin(&w);
    w.add_channel("facebook", "--page-id", PAGE);
    w.add_channel("instagram", "--account-id", IG_ACCOUNT);
    w.add_channel("whatsapp", "--phone-number-id", PHONE_ID);
    w
}

fn fixture(provider: &str, name: &str) -> Vec<u8> {
    let path = format!("tests/fixtures/{provider}/{name}.json");
    std::fs::read(&path).unwrap_or_else(|e| panic!("{path}: {e}"))
}

fn fixture_json(provider: &str, name: &str) -> Value {
    serde_json::from_slice(&fixture(provider, name)).unwrap()
}

/// A value inside a fixture, by JSON pointer.
fn at(provider: &str, name: &str, pointer: &str) -> Value {
    fixture_json(provider, name)
        .pointer(pointer)
        .unwrap_or_else(|| panic!("{provider}/{name}: nothing at {pointer}"))
        .clone()
}

fn at_str(provider: &str, name: &str, pointer: &str) -> String {
    at(provider, name, pointer).as_str().unwrap().to_string()
}

fn count(w: &Workdir, table: &str) -> i64 {
    w.db()
        .query_row(&format!("SELECT COUNT(*) FROM {table}"), [], |r| r.get(0))
        .unwrap()
}

/// Epoch milliseconds as the API renders them (RFC 3339 UTC, three fractional digits),
/// computed independently of the product (civil-from-days).
fn rfc3339(ms: i64) -> String {
    let (secs, milli) = (ms.div_euclid(1000), ms.rem_euclid(1000));
    let (days, sod) = (secs.div_euclid(86_400), secs.rem_euclid(86_400));
    let z = days + 719_468;
    let era = z.div_euclid(146_097);
    let doe = z - era * 146_097;
    let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let d = doy - (153 * mp + 2) / 5 + 1;
    let m = if mp < 10 { mp + 3 } else { mp - 9 };
    let y = yoe + era * 400 + i64::from(m <= 2);
    format!(
        "{y:04}-{m:02}-{d:02}T{:02}:{:02}:{:02}.{milli:03}Z",
        sod / 3600,
        sod % 3600 / 60,
        sod % 60
    )
}

/// What the journal recorded for a body.
#[derive(Debug)]
struct Journal {
    outcome: String,
    reason: Option<String>,
    stored: i64,
}

/// One server for one provider's fixtures.
struct Run {
    w: Workdir,
    server: Server,
    provider: &'static str,
}

impl Run {
    fn start(provider: &'static str) -> Self {
        let w = setup();
        let server = w.serve(&[]);
        Run {
            w,
            server,
            provider,
        }
    }

    fn counts(&self) -> (i64, i64, i64) {
        (
            count(&self.w, "messages"),
            count(&self.w, "conversations"),
            count(&self.w, "contacts"),
        )
    }

    /// Posts a signed body, checks it was acknowledged and created exactly
    /// `new_messages` messages and `new_conversations` conversations (and no contact
    /// without a conversation), and returns its journal row.
    async fn post(
        &self,
        label: &str,
        body: &[u8],
        new_messages: i64,
        new_conversations: i64,
    ) -> Journal {
        let before = self.counts();
        let resp = post_signed(&self.server, self.provider, body).await;
        assert_eq!(resp.status(), 200, "{label}");
        let after = self.counts();
        assert_eq!(
            (after.0 - before.0, after.1 - before.1, after.2 - before.2),
            (new_messages, new_conversations, new_conversations),
            "{label}: new (messages, conversations, contacts)"
        );
        let journal = self
            .w
            .db()
            .query_row(
                "SELECT outcome, reason, stored FROM webhook_journal WHERE body = ?1
                 ORDER BY id DESC LIMIT 1",
                [body],
                |r| {
                    Ok(Journal {
                        outcome: r.get(0)?,
                        reason: r.get(1)?,
                        stored: r.get(2)?,
                    })
                },
            )
            .unwrap();
        if new_messages > 0 {
            assert_eq!(journal.outcome, "processed", "{label}: {journal:?}");
        }
        journal
    }

    async fn fixture(&self, name: &str, new_messages: i64, new_conversations: i64) -> Journal {
        let body = fixture(self.provider, name);
        self.post(
            &format!("{}/{name}", self.provider),
            &body,
            new_messages,
            new_conversations,
        )
        .await
    }

    /// Posts an update (receipt, reaction, edit, deletion): it creates nothing and is
    /// journaled as processed.
    async fn update(&self, name: &str) {
        let j = self.fixture(name, 0, 0).await;
        assert_eq!(j.outcome, "processed", "{}/{name}: {j:?}", self.provider);
    }

    /// Posts a body that holds nothing to store: it creates nothing and is journaled as
    /// ignored with the parser's reason.
    async fn ignored(&self, label: &str, body: &[u8], reason: &str) {
        let j = self.post(label, body, 0, 0).await;
        assert_eq!(j.outcome, "ignored", "{label}");
        assert_eq!(j.reason.as_deref(), Some(reason), "{label}");
        assert_eq!(j.stored, 0, "{label}");
    }

    async fn login(&self) -> String {
        login(&self.server).await
    }

    async fn conversations(&self, cookie: &str) -> Vec<Value> {
        get_json(&self.server, cookie, "/api/conversations?limit=200").await["conversations"]
            .as_array()
            .unwrap()
            .clone()
    }

    /// The conversation of a contact, by the contact's external id.
    async fn conversation(&self, cookie: &str, contact: &str) -> Value {
        let convs = self.conversations(cookie).await;
        let found: Vec<&Value> = convs
            .iter()
            .filter(|c| c["contact"]["external_id"] == contact)
            .collect();
        assert_eq!(
            found.len(),
            1,
            "one conversation with {contact}: {convs:#?}"
        );
        found[0].clone()
    }

    async fn thread(&self, cookie: &str, conversation_id: i64) -> Vec<Value> {
        let page = get_json(
            &self.server,
            cookie,
            &format!("/api/conversations/{conversation_id}/messages?limit=200"),
        )
        .await;
        assert_eq!(page["next"], Value::Null, "the whole thread fits one page");
        page["messages"].as_array().unwrap().clone()
    }

    /// One message of a contact's conversation, by Meta's id.
    async fn message(&self, cookie: &str, contact: &str, external_id: &str) -> Value {
        let conv = self.conversation(cookie, contact).await;
        let thread = self.thread(cookie, conv["id"].as_i64().unwrap()).await;
        thread
            .into_iter()
            .find(|m| m["external_id"] == external_id)
            .unwrap_or_else(|| panic!("no message {external_id} with {contact}"))
    }
}

/// A message as the API must show it, before overlays: no status for inbound, `sent`
/// for outbound, nothing edited, deleted, reacted or attached.
fn inbound(external_id: &str, kind: &str, text: Option<&str>, sent_ms: i64) -> Value {
    json!({
        "external_id": external_id,
        "direction": "inbound",
        "kind": kind,
        "text": text,
        "sent_at": rfc3339(sent_ms),
        "status": null,
        "error": null,
        "edited": false,
        "previous_text": [],
        "deleted": false,
        "reply_to": null,
        "payload": null,
        "reactions": [],
        "attachments": [],
    })
}

fn outbound(external_id: &str, kind: &str, text: Option<&str>, sent_ms: i64) -> Value {
    inbound(external_id, kind, text, sent_ms)
        .with("direction", json!("outbound"))
        .with("status", json!("sent"))
}

trait With {
    fn with(self, key: &str, value: Value) -> Self;
}

impl With for Value {
    fn with(mut self, key: &str, value: Value) -> Self {
        assert!(self.get(key).is_some(), "unknown message field {key}");
        self[key] = value;
        self
    }
}

/// A Messenger/Instagram CDN attachment waiting for download.
fn pending_url(kind: &str, url: &str) -> Value {
    assert!(url.starts_with("https://"), "escapes decoded: {url}");
    json!({
        "kind": kind, "mime_type": null, "size": null, "sha256": null, "filename": null,
        "status": "pending", "error": null, "url": null, "source_url": url,
    })
}

/// A WhatsApp media attachment waiting for download (no URL: resolved by media id).
fn pending_media(kind: &str, mime: &str, filename: Option<&str>) -> Value {
    json!({
        "kind": kind, "mime_type": mime, "size": null, "sha256": null, "filename": filename,
        "status": "pending", "error": null, "url": null, "source_url": null,
    })
}

/// A message without the row ids the API assigns; checks it belongs to `conversation`.
fn strip(conversation_id: i64, m: &Value) -> Value {
    let mut m = m.clone();
    let obj = m.as_object_mut().unwrap();
    let message_id = obj.remove("id").and_then(|id| id.as_i64());
    assert!(message_id.is_some(), "message id");
    assert_eq!(
        obj.remove("conversation_id").unwrap().as_i64(),
        Some(conversation_id)
    );
    if let Some(Value::Array(list)) = obj.get_mut("attachments") {
        for a in list {
            let a = a.as_object_mut().unwrap();
            assert!(
                a.remove("id").is_some_and(|id| id.is_i64()),
                "attachment id"
            );
            assert_eq!(
                a.remove("message_id").and_then(|id| id.as_i64()),
                message_id
            );
        }
    }
    m
}

/// Asserts a thread holds exactly `expected`, oldest first, field by field.
fn assert_thread(conversation_id: i64, actual: &[Value], expected: &[Value]) {
    let ids = |list: &[Value]| -> Vec<String> {
        list.iter()
            .map(|m| m["external_id"].as_str().unwrap().to_string())
            .collect()
    };
    assert_eq!(ids(actual), ids(expected), "thread order");
    for (got, want) in actual.iter().zip(expected) {
        assert_eq!(
            strip(conversation_id, got),
            *want,
            "message {}",
            want["external_id"]
        );
    }
}

/// Checks a conversation's summary line.
fn assert_conversation(
    conv: &Value,
    provider: &str,
    unread: i64,
    last_ms: i64,
    preview: &str,
    messages: usize,
    thread: &[Value],
) {
    assert_eq!(conv["channel"]["provider"], provider);
    assert_eq!(conv["status"], "open");
    assert_eq!(conv["unread_count"], unread, "{conv}");
    assert_eq!(conv["last_message_at"], rfc3339(last_ms), "{conv}");
    assert_eq!(conv["last_message_preview"], preview, "{conv}");
    assert_eq!(thread.len(), messages);
}

#[test]
fn rfc3339_helper_matches_known_dates() {
    assert_eq!(rfc3339(1_767_261_600_123), "2026-01-01T10:00:00.123Z");
    assert_eq!(rfc3339(1_767_434_401_000), "2026-01-03T10:00:01.000Z");
    assert_eq!(rfc3339(951_782_400_000), "2000-02-29T00:00:00.000Z");
    assert_eq!(rfc3339(0), "1970-01-01T00:00:00.000Z");
}

fn fb_body(events: Vec<Value>) -> Vec<u8> {
    serde_json::to_vec(&json!({"object": "page", "entry": [
        {"id": PAGE, "time": 1_767_263_500_000i64, "messaging": events}
    ]}))
    .unwrap()
}

#[tokio::test]
async fn facebook_fixtures_read_back_exactly() {
    let run = Run::start("facebook");
    let mid = |name: &str| at_str("facebook", name, "/entry/0/messaging/0/message/mid");
    let url = |name: &str, i: usize| {
        at_str(
            "facebook",
            name,
            &format!("/entry/0/messaging/0/message/attachments/{i}/payload/url"),
        )
    };
    let text_mid = mid("text");
    let echo_mid = mid("echo");

    // An edit that arrives before the message it edits: kept, creates nothing.
    run.update("edit").await;
    assert_eq!(run.counts(), (0, 0, 0));

    // In Meta's time order, except for the updates that deliberately come early.
    run.fixture("text", 1, 1).await;
    for name in [
        "image",
        "multiple_attachments",
        "sticker",
        "audio",
        "fallback",
        "quick_reply",
    ] {
        run.fixture(name, 1, 0).await;
    }

    // A delivery that names the echo before the echo arrives.
    run.update("delivery").await;
    run.fixture("echo", 1, 0).await;
    let cookie = run.login().await;
    let echo = run.message(&cookie, PSID, &echo_mid).await;
    assert_eq!(echo["direction"], "outbound");
    assert_eq!(echo["status"], "delivered", "delivery before the echo");

    run.fixture("reply_to", 1, 0).await;
    run.update("read").await;
    let echo = run.message(&cookie, PSID, &echo_mid).await;
    assert_eq!(echo["status"], "read", "read watermark covers the echo");

    run.update("reaction").await;
    let echo = run.message(&cookie, PSID, &echo_mid).await;
    assert_eq!(
        echo["reactions"],
        json!([{"reactor": PSID, "emoji": "\u{2764}\u{fe0f}", "reaction": "love"}])
    );
    run.update("reaction_unreact").await;

    for name in ["postback", "standby", "changes_format"] {
        run.fixture(name, 1, 0).await;
    }
    run.fixture("batch_3x3", 9, 0).await;
    run.fixture("location", 1, 0).await;

    // Events that are not messages.
    run.ignored(
        "facebook/unknown_event",
        &fixture("facebook", "unknown_event"),
        "facebook: event without content (only sender/recipient/timestamp) ignored",
    )
    .await;
    let not_stored = fb_body(vec![
        json!({"sender": {"id": PSID}, "recipient": {"id": PAGE}, "timestamp": 1_767_263_400_000i64,
               "referral": {"ref": "summer-promo", "source": "SHORTLINK", "type": "OPEN_THREAD"}}),
        json!({"sender": {"id": PSID}, "recipient": {"id": PAGE}, "timestamp": 1_767_263_401_000i64,
               "optin": {"type": "notification_messages", "payload": "DEALS"}}),
    ]);
    run.ignored(
        "referral + optin",
        &not_stored,
        "facebook: referral event not stored; facebook: optin event not stored",
    )
    .await;

    // A read watermark that arrives before the first (outbound) message of a new
    // conversation still covers that message once it arrives.
    let psid2 = "2222222299";
    let early_read = fb_body(vec![json!({
        "sender": {"id": psid2}, "recipient": {"id": PAGE}, "timestamp": 1_767_263_600_100i64,
        "read": {"watermark": 1_767_263_600_000i64}
    })]);
    let j = run.post("read before its echo", &early_read, 0, 0).await;
    assert_eq!(j.outcome, "processed");
    let first_echo = fb_body(vec![json!({
        "sender": {"id": PAGE}, "recipient": {"id": psid2}, "timestamp": 1_767_263_590_000i64,
        "message": {"mid": "m_hs_fixtures_api_echo_first", "is_echo": true, "text": "Hello from the page"}
    })]);
    run.post("echo after its read", &first_echo, 1, 1).await;
    let first = run
        .message(&cookie, psid2, "m_hs_fixtures_api_echo_first")
        .await;
    assert_eq!(first["direction"], "outbound");
    assert_eq!(first["text"], "Hello from the page");
    // A read watermark that arrives before the customer has any conversation still
    // applies once the covered echo shows up.
    assert_eq!(
        first["status"], "read",
        "a read watermark that came first still applies"
    );

    // Everything, exactly.
    let convs = run.conversations(&cookie).await;
    assert_eq!(
        convs.len(),
        2,
        "one conversation per customer, none for the page"
    );
    let conv = run.conversation(&cookie, PSID).await;
    let conv_id = conv["id"].as_i64().unwrap();
    let thread = run.thread(&cookie, conv_id).await;

    let fallback_url = "https://youtu.be/bbo_fZAjIhg";
    let mut expected =
        vec![
        inbound(
            &text_mid,
            "text",
            Some("Olá! Is my order #4522 shipped yet?"),
            1_767_261_600_123,
        )
        .with("edited", json!(true))
        .with(
            "previous_text",
            json!(["Olá! Is my order #4521 shipped yet?"]),
        ),
        inbound(&mid("image"), "image", None, 1_767_261_660_000)
            .with("attachments", json!([pending_url("image", &url("image", 0))])),
        inbound(&mid("multiple_attachments"), "image", None, 1_767_261_720_000).with(
            "attachments",
            json!([
                pending_url("image", &url("multiple_attachments", 0)),
                pending_url("video", &url("multiple_attachments", 1)),
                pending_url("file", &url("multiple_attachments", 2)),
            ]),
        ),
        // Sticker transition: the duplicate `image` is dropped.
        inbound(&mid("sticker"), "sticker", None, 1_767_261_780_000)
            .with("attachments", json!([pending_url("sticker", &url("sticker", 0))])),
        inbound(&mid("audio"), "audio", None, 1_767_261_840_000)
            .with("attachments", json!([pending_url("audio", &url("audio", 0))])),
        // A shared link is shown, never downloaded.
        inbound(&mid("fallback"), "text", Some(fallback_url), 1_767_261_900_000).with(
            "payload",
            json!({"links": [{
                "type": "fallback", "url": fallback_url, "title": "HS-200 unboxing",
                "payload": {"url": fallback_url, "title": "HS-200 unboxing"}
            }]}),
        ),
        inbound(
            &mid("quick_reply"),
            "text",
            Some("Track my order"),
            1_767_261_960_000,
        )
        .with("payload", json!({"quick_reply": "TRACK_ORDER"})),
        outbound(
            &echo_mid,
            "text",
            Some("Hi Ana! Your order #4521 shipped today."),
            1_767_262_200_000,
        )
        .with("status", json!("read"))
        .with(
            "payload",
            json!({"app_id": 1_517_776_481_860_111u64, "metadata": "helpstack:ticket-8841"}),
        ),
        inbound(
            &mid("reply_to"),
            "text",
            Some("Great, thanks!"),
            1_767_262_290_000,
        )
        .with("reply_to", json!(echo_mid)),
        inbound(
            &at_str("facebook", "postback", "/entry/0/messaging/0/postback/mid"),
            "postback",
            Some("Get Started"),
            1_767_262_500_000,
        )
        .with(
            "payload",
            json!({
                "postback": "GET_STARTED",
                "referral": {"ref": "summer-promo", "source": "SHORTLINK", "type": "OPEN_THREAD"}
            }),
        ),
        inbound(
            &at_str("facebook", "standby", "/entry/0/standby/0/message/mid"),
            "text",
            Some("Anyone there?"),
            1_767_262_560_000,
        ),
        inbound(
            &at_str(
                "facebook",
                "changes_format",
                "/entry/0/changes/0/value/message/mid",
            ),
            "text",
            Some("Sent from the dashboard test button"),
            1_767_262_620_000,
        ),
    ];
    let batch = fixture_json("facebook", "batch_3x3");
    for n in 0..9usize {
        let mid = batch["entry"][n / 3]["messaging"][n % 3]["message"]["mid"]
            .as_str()
            .unwrap();
        expected.push(inbound(
            mid,
            "text",
            Some(&format!("Batch message {} of 9", n + 1)),
            1_767_262_801_000 + n as i64 * 1000,
        ));
    }
    expected.push(
        inbound(
            &mid("location"),
            "location",
            Some("Ana's Location"),
            1_767_263_000_000,
        )
        .with(
            "payload",
            json!({"location": {"latitude": 38.7223, "longitude": -9.1393}}),
        ),
    );
    assert_thread(conv_id, &thread, &expected);
    // Unread: the inbound messages after the last outbound one (the echo).
    assert_conversation(
        &conv,
        "facebook",
        14,
        1_767_263_000_000,
        "Ana's Location",
        22,
        &thread,
    );
    assert_eq!(conv["contact"]["phone"], Value::Null);
    assert_eq!(count(&run.w, "messages"), 23);
}

fn ig_body(events: Vec<Value>) -> Vec<u8> {
    serde_json::to_vec(&json!({"object": "instagram", "entry": [
        {"id": IG_ACCOUNT, "time": 1_767_349_500_000i64, "messaging": events}
    ]}))
    .unwrap()
}

#[tokio::test]
async fn instagram_fixtures_read_back_exactly() {
    let run = Run::start("instagram");
    let mid = |name: &str| at_str("instagram", name, "/entry/0/messaging/0/message/mid");
    let url = |name: &str| {
        at_str(
            "instagram",
            name,
            "/entry/0/messaging/0/message/attachments/0/payload/url",
        )
    };
    let text_mid = mid("text");
    let echo_mid = mid("echo");

    // A read (by mid) and a reaction that arrive before the echo they name.
    run.update("read").await;
    run.update("reaction").await;
    assert_eq!(run.counts(), (0, 0, 0));

    run.fixture("text", 1, 1).await;
    run.update("edit").await;
    for name in ["image", "story_mention", "share", "ig_reel"] {
        run.fixture(name, 1, 0).await;
    }
    run.fixture("echo", 1, 0).await;
    let cookie = run.login().await;
    let echo = run.message(&cookie, IGSID, &echo_mid).await;
    assert_eq!(echo["status"], "read", "read before the echo");
    assert_eq!(
        echo["reactions"],
        json!([{"reactor": IGSID, "emoji": "\u{2764}\u{fe0f}", "reaction": "love"}]),
        "reaction before the echo"
    );
    run.update("unreact").await;
    run.update("deleted").await;
    for name in ["unsupported", "postback", "like_heart", "story_reply"] {
        run.fixture(name, 1, 0).await;
    }
    run.ignored(
        "instagram/comments",
        &fixture("instagram", "comments"),
        "instagram: \"comments\" change not stored",
    )
    .await;

    // A deletion that arrives before its message.
    let deleted_first = "aWdfZAG1faWdfaXRlbTpoZWxwc3RhY2s6Zml4dHVyZXNfYXBpOmRlbGV0ZWRfZmlyc3Q";
    let delete = ig_body(vec![json!({
        "sender": {"id": IGSID}, "recipient": {"id": IG_ACCOUNT}, "timestamp": 1_767_349_010_000i64,
        "message": {"mid": deleted_first, "is_deleted": true}
    })]);
    let j = run.post("delete before its message", &delete, 0, 0).await;
    assert_eq!(j.outcome, "processed");
    let message = ig_body(vec![json!({
        "sender": {"id": IGSID}, "recipient": {"id": IG_ACCOUNT}, "timestamp": 1_767_348_930_000i64,
        "message": {"mid": deleted_first, "text": "oops, wrong chat"}
    })]);
    run.post("message after its deletion", &message, 1, 0).await;

    let convs = run.conversations(&cookie).await;
    assert_eq!(
        convs.len(),
        1,
        "the echo opens no conversation with the account"
    );
    let conv = run.conversation(&cookie, IGSID).await;
    let conv_id = conv["id"].as_i64().unwrap();
    let thread = run.thread(&cookie, conv_id).await;

    let share_url = url("share");
    let story = at(
        "instagram",
        "story_reply",
        "/entry/0/messaging/0/message/reply_to/story",
    );
    let expected =
        vec![
        // Edited, then deleted: the row is kept with both overlays.
        inbound(
            &text_mid,
            "text",
            Some("Hi! Do you ship to Spain? 🇪🇸"),
            1_767_348_000_321,
        )
        .with("edited", json!(true))
        .with("previous_text", json!(["Hi! Do you ship to Portugal? 🇵🇹"]))
        .with("deleted", json!(true)),
        inbound(&mid("image"), "image", None, 1_767_348_060_000)
            .with("attachments", json!([pending_url("image", &url("image"))])),
        // Story media may not be stored: skipped, with the CDN link kept.
        inbound(&mid("story_mention"), "image", None, 1_767_348_120_000).with(
            "attachments",
            json!([pending_url("image", &url("story_mention"))
                .with("status", json!("skipped"))
                .with(
                    "error",
                    json!("not downloaded: Meta's policy forbids storing this media")
                )]),
        ),
        inbound(&mid("share"), "text", None, 1_767_348_180_000).with(
            "payload",
            json!({"links": [{"type": "share", "url": share_url, "payload": {"url": share_url}}]}),
        ),
        inbound(&mid("ig_reel"), "video", None, 1_767_348_240_000)
            .with("attachments", json!([pending_url("video", &url("ig_reel"))])),
        outbound(
            &echo_mid,
            "text",
            Some("Yes, we ship to Portugal! Delivery takes 3-5 days."),
            1_767_348_600_000,
        )
        .with("status", json!("read")),
        inbound(&mid("unsupported"), "unsupported", None, 1_767_348_760_000),
        inbound(
            &at_str("instagram", "postback", "/entry/0/messaging/0/postback/mid"),
            "postback",
            Some("Track my order"),
            1_767_348_820_000,
        )
        .with("payload", json!({"postback": "ICEBREAKER_TRACK_ORDER"})),
        inbound(
            &mid("like_heart"),
            "sticker",
            Some("\u{2764}\u{fe0f}"),
            1_767_348_880_000,
        ),
        inbound(
            deleted_first,
            "text",
            Some("oops, wrong chat"),
            1_767_348_930_000,
        )
        .with("deleted", json!(true)),
        inbound(
            &mid("story_reply"),
            "text",
            Some("Is this jacket still available?"),
            1_767_348_940_000,
        )
        .with("payload", json!({"reply_to_story": story})),
    ];
    assert_thread(conv_id, &thread, &expected);
    assert_conversation(
        &conv,
        "instagram",
        5,
        1_767_348_940_000,
        "Is this jacket still available?",
        11,
        &thread,
    );
}

fn wa_value(value: Value, field: &str) -> Vec<u8> {
    let mut value = value;
    value["messaging_product"] = json!("whatsapp");
    value["metadata"] = json!({"display_phone_number": "15550783881", "phone_number_id": PHONE_ID});
    serde_json::to_vec(&json!({
        "object": "whatsapp_business_account",
        "entry": [{"id": "102290129340398", "changes": [{"field": field, "value": value}]}]
    }))
    .unwrap()
}

/// A coexistence echo: a message the business sent from the WhatsApp Business app.
fn wa_echo(id: &str, ts: &str, ty: &str, body: Value) -> Vec<u8> {
    let mut m = json!({"from": "15550783881", "to": WAID, "id": id, "timestamp": ts, "type": ty});
    m[ty] = body;
    wa_value(json!({"message_echoes": [m]}), "smb_message_echoes")
}

#[tokio::test]
async fn whatsapp_fixtures_read_back_exactly() {
    let run = Run::start("whatsapp");
    let msg = |name: &str| at("whatsapp", name, "/entry/0/changes/0/value/messages/0");
    let id = |name: &str| msg(name)["id"].as_str().unwrap().to_string();
    const OUT1: &str = "wamid.OUTBOUND1";
    const OUT2: &str = "wamid.OUTBOUND2";
    const VOICE: &str = "wamid.HS.FIXTURES.API.VOICE1";

    // Statuses and a reaction that arrive before the messages they name.
    run.update("statuses_delivered").await;
    run.update("statuses_failed").await;
    run.update("reaction").await;
    assert_eq!(run.counts(), (0, 0, 0));

    run.fixture("text", 1, 1).await;
    for name in [
        "image",
        "document",
        "audio",
        "video",
        "sticker",
        "location",
        "contacts",
        "interactive_button_reply",
        "interactive_list_reply",
        "interactive_nfm_reply",
        "button",
        "order",
        "system",
        "unsupported",
        "unknown",
    ] {
        run.fixture(name, 1, 0).await;
    }

    let out1 = wa_echo(
        OUT1,
        "1767435390",
        "text",
        json!({"body": "Your order #4521 shipped with CTT."}),
    );
    run.post("echo OUTBOUND1", &out1, 1, 0).await;
    let cookie = run.login().await;
    let m = run.message(&cookie, WAID, OUT1).await;
    assert_eq!(m["status"], "delivered", "delivered before the message");
    assert_eq!(
        m["reactions"],
        json!([{"reactor": WAID, "emoji": "👍", "reaction": null}]),
        "reaction before the message"
    );
    run.update("statuses_sent").await;
    let m = run.message(&cookie, WAID, OUT1).await;
    assert_eq!(m["status"], "delivered", "a late `sent` does not go back");
    run.update("statuses_read").await;

    let out2 = wa_echo(
        OUT2,
        "1767435490",
        "text",
        json!({"body": "Are you still there?"}),
    );
    run.post("echo OUTBOUND2", &out2, 1, 0).await;
    let voice = wa_echo(
        VOICE,
        "1767435550",
        "audio",
        json!({"mime_type": "audio/ogg; codecs=opus", "sha256": "Vm9pY2Ugbm90ZSBmcm9tIHRoZSBidXNpbmVzcw==",
               "id": "1998877665544332", "voice": true}),
    );
    run.post("voice echo", &voice, 1, 0).await;
    let played = wa_value(
        json!({"statuses": [{"id": VOICE, "status": "played", "timestamp": "1767435560", "recipient_id": WAID}]}),
        "messages",
    );
    let j = run.post("played", &played, 0, 0).await;
    assert_eq!(j.outcome, "processed");
    run.update("reaction_removed").await;

    run.fixture("batch", 3, 0).await;
    run.fixture("bsuid", 1, 1).await;
    run.fixture("reply_context", 1, 0).await;

    // Bodies that hold nothing to store.
    run.ignored(
        "whatsapp/account_update",
        &fixture("whatsapp", "account_update"),
        "whatsapp: \"account_update\" change not stored",
    )
    .await;
    run.ignored(
        "whatsapp/errors",
        &fixture("whatsapp", "errors"),
        "whatsapp: errors reported: 131000 Something went wrong",
    )
    .await;
    let group = wa_value(
        json!({
            "contacts": [{"profile": {"name": "Ana Souza"}, "wa_id": WAID}],
            "messages": [{"from": WAID, "id": "wamid.HS.FIXTURES.API.GROUP1", "timestamp": "1767435800",
                          "group_id": "120363000000000001", "type": "text", "text": {"body": "hi all"}}]
        }),
        "messages",
    );
    run.ignored(
        "group message",
        &group,
        "whatsapp: group message wamid.HS.FIXTURES.API.GROUP1 not stored",
    )
    .await;

    let convs = run.conversations(&cookie).await;
    assert_eq!(convs.len(), 2);
    // Newest activity first.
    assert_eq!(convs[0]["contact"]["external_id"], WAID);
    assert_eq!(convs[1]["contact"]["external_id"], BSUID);

    let conv = run.conversation(&cookie, WAID).await;
    assert_eq!(
        conv["contact"],
        json!({
            "id": conv["contact"]["id"], "external_id": WAID, "name": "Ana Souza",
            "username": null, "phone": WAID, "avatar_url": null
        })
    );
    let conv_id = conv["id"].as_i64().unwrap();
    let thread = run.thread(&cookie, conv_id).await;

    let t = |s: i64| (1_767_434_400 + s) * 1000;
    let batch = fixture_json("whatsapp", "batch");
    let batch_id = |c: usize, i: usize| {
        batch["entry"][0]["changes"][c]["value"]["messages"][i]["id"]
            .as_str()
            .unwrap()
            .to_string()
    };
    let interactive = |name: &str, text: &str, quoted: &str, s: i64| {
        inbound(&id(name), "text", Some(text), t(s))
            .with("reply_to", json!(quoted))
            .with("payload", json!({"interactive": msg(name)["interactive"]}))
    };
    let expected = vec![
        inbound(
            &id("text"),
            "text",
            Some("Oi! Vocês entregam em Lisboa?"),
            t(1),
        ),
        inbound(
            &id("image"),
            "image",
            Some("This is the damaged box"),
            t(60),
        )
        .with(
            "attachments",
            json!([pending_media("image", "image/jpeg", None)]),
        ),
        inbound(&id("document"), "file", Some("Invoice for March"), t(120)).with(
            "attachments",
            json!([pending_media(
                "file",
                "application/pdf",
                Some("invoice-4521.pdf")
            )]),
        ),
        inbound(&id("audio"), "audio", None, t(180))
            .with(
                "attachments",
                json!([pending_media("audio", "audio/ogg; codecs=opus", None)]),
            )
            .with("payload", json!({"voice": true})),
        inbound(&id("video"), "video", Some("It rattles like this"), t(240)).with(
            "attachments",
            json!([pending_media("video", "video/mp4", None)]),
        ),
        inbound(&id("sticker"), "sticker", None, t(300)).with(
            "attachments",
            json!([pending_media("sticker", "image/webp", None)]),
        ),
        inbound(
            &id("location"),
            "location",
            Some("Loja Chiado, Rua Garrett 50, 1200-204 Lisboa"),
            t(360),
        )
        .with(
            "payload",
            json!({"location": {
                "latitude": 38.7107, "longitude": -9.1418,
                "name": "Loja Chiado", "address": "Rua Garrett 50, 1200-204 Lisboa"
            }}),
        ),
        // A shared card is content, not the sender.
        inbound(&id("contacts"), "contacts", Some("João Lima"), t(420))
            .with("payload", json!({"contacts": msg("contacts")["contacts"]})),
        interactive(
            "interactive_button_reply",
            "Yes, ship it",
            "wamid.OUTBOUND3",
            480,
        ),
        interactive("interactive_list_reply", "Medium", "wamid.OUTBOUND4", 540),
        interactive("interactive_nfm_reply", "Sent", "wamid.OUTBOUND6", 570),
        inbound(&id("button"), "text", Some("Confirm delivery"), t(600))
            .with("reply_to", json!("wamid.OUTBOUND5"))
            .with(
                "payload",
                json!({"button": {"payload": "CONFIRM_DELIVERY", "text": "Confirm delivery"}}),
            ),
        inbound(
            &id("order"),
            "text",
            Some("Can you deliver tomorrow?"),
            t(780),
        )
        .with("payload", json!({"order": msg("order")["order"]})),
        inbound(
            &id("system"),
            "text",
            Some("Ana Souza changed their phone number to a new number 16505559876"),
            t(840),
        )
        .with("payload", json!({"system": msg("system")["system"]})),
        inbound(&id("unsupported"), "unsupported", None, t(900)).with(
            "payload",
            json!({
                "type": "unsupported",
                "errors": msg("unsupported")["errors"],
                "unsupported": {"type": "poll_creation"}
            }),
        ),
        inbound(&id("unknown"), "unsupported", None, t(960)).with(
            "payload",
            json!({"type": "unknown", "errors": [{
                "code": 131051,
                "details": "Message type is not currently supported",
                "title": "Unsupported message type"
            }]}),
        ),
        outbound(
            OUT1,
            "text",
            Some("Your order #4521 shipped with CTT."),
            t(990),
        )
        .with("status", json!("read")),
        outbound(OUT2, "text", Some("Are you still there?"), t(1090))
            .with("status", json!("failed"))
            .with(
                "error",
                json!({"code": 131047, "title": "Re-engagement message"}),
            ),
        outbound(VOICE, "audio", None, t(1150))
            .with("status", json!("played"))
            .with(
                "attachments",
                json!([pending_media("audio", "audio/ogg; codecs=opus", None)]),
            )
            .with("payload", json!({"voice": true})),
        inbound(&batch_id(0, 0), "text", Some("First message"), t(1200)),
        inbound(&batch_id(0, 1), "text", Some("Second message"), t(1201)),
        inbound(
            &batch_id(1, 0),
            "text",
            Some("Third message, second change"),
            t(1260),
        ),
        inbound(
            &id("reply_context"),
            "text",
            Some("Which carrier is it?"),
            t(1360),
        )
        .with("reply_to", json!(OUT1)),
    ];
    assert_thread(conv_id, &thread, &expected);
    // Unread: the inbound messages after the last outbound one (the voice echo).
    assert_conversation(
        &conv,
        "whatsapp",
        4,
        t(1360),
        "Which carrier is it?",
        23,
        &thread,
    );

    // A sender known only by a business-scoped user id has a conversation of its own.
    let conv = run.conversation(&cookie, BSUID).await;
    assert_eq!(
        conv["contact"],
        json!({
            "id": conv["contact"]["id"], "external_id": BSUID, "name": "Ana Souza",
            "username": "@anasouza", "phone": null, "avatar_url": null
        })
    );
    let conv_id = conv["id"].as_i64().unwrap();
    let thread = run.thread(&cookie, conv_id).await;
    let expected = vec![inbound(
        &id("bsuid"),
        "text",
        Some("Hi, I found you via your username"),
        t(1300),
    )];
    assert_thread(conv_id, &thread, &expected);
    assert_conversation(
        &conv,
        "whatsapp",
        1,
        t(1300),
        "Hi, I found you via your username",
        1,
        &thread,
    );
    assert_eq!(count(&run.w, "messages"), 24);
}
