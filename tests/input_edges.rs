//! The edges of signed input: event times that cannot be true, and messages the page or
//! account sent itself without `is_echo`.

mod common;

use common::*;
use serde_json::{Value, json};

const PAGE: &str = "1111111111";
const IG_ACCOUNT: &str = "17841400000000001";
const PHONE_ID: &str = "106540352242922";

fn setup() -> Workdir {
    let w = Workdir::new();
    create_admin(&w);
    w.add_channel("facebook", "--page-id", PAGE);
    w.add_channel("instagram", "--account-id", IG_ACCOUNT);
    w.add_channel("whatsapp", "--phone-number-id", PHONE_ID);
    w
}

/// A Messenger text from `psid` whose times are `ts`, written as raw JSON so floats
/// and integers beyond i64 reach the server exactly as given.
fn fb_raw(psid: &str, mid: &str, ts: &str) -> Vec<u8> {
    format!(
        r#"{{"object": "page", "entry": [{{"id": "{PAGE}", "time": {ts}, "messaging": [
            {{"sender": {{"id": "{psid}"}}, "recipient": {{"id": "{PAGE}"}}, "timestamp": {ts},
              "message": {{"mid": "{mid}", "text": "time {ts}"}}}}]}}]}}"#
    )
    .into_bytes()
}

/// A WhatsApp text from `wa_id` with a string timestamp, as the Cloud API sends it.
fn wa_raw(wa_id: &str, wamid: &str, ts: &str) -> Vec<u8> {
    serde_json::to_vec(&json!({
        "object": "whatsapp_business_account",
        "entry": [{"id": "102290129340398", "changes": [{"field": "messages", "value": {
            "messaging_product": "whatsapp",
            "metadata": {"display_phone_number": "15550783881", "phone_number_id": PHONE_ID},
            "contacts": [{"profile": {"name": "Time Traveller"}, "wa_id": wa_id}],
            "messages": [{"from": wa_id, "id": wamid, "timestamp": ts, "type": "text",
                          "text": {"body": format!("time {ts}")}}]
        }}]}]
    }))
    .unwrap()
}

fn now_ms() -> i64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap()
        .as_millis() as i64
}

async fn post(server: &Server, provider: &str, body: &[u8]) {
    let resp = post_signed(server, provider, body).await;
    assert_eq!(resp.status(), 200, "webhook POST to {provider}");
}

async fn conversations(server: &Server, cookie: &str) -> Vec<Value> {
    get_json(server, cookie, "/api/conversations?limit=200").await["conversations"]
        .as_array()
        .unwrap()
        .clone()
}

fn sent_at(w: &Workdir, external_id: &str) -> i64 {
    w.db()
        .query_row(
            "SELECT sent_at FROM messages WHERE external_id = ?1",
            [external_id],
            |r| r.get(0),
        )
        .unwrap_or_else(|e| panic!("{external_id}: {e}"))
}

#[tokio::test]
async fn impossible_event_times_are_replaced_by_the_time_of_receipt() {
    let w = setup();
    let server = w.serve(&[]);
    let cookie = login(&server).await;

    let before = now_ms();
    // Messenger times are milliseconds as JSON numbers: a float, 10**30, i64::MAX, and
    // a time in 1970.
    let fb_times = [
        "1e20",
        "1000000000000000000000000000000",
        "9223372036854775807",
        "1000",
    ];
    for (i, ts) in fb_times.iter().enumerate() {
        post(
            &server,
            "facebook",
            &fb_raw(&format!("61000000{i}"), &format!("m_time_{i}"), ts),
        )
        .await;
    }
    // WhatsApp times are seconds as strings.
    let wa_times = ["99999999999999999999", "1e20", "9223372036854775807"];
    for (i, ts) in wa_times.iter().enumerate() {
        post(
            &server,
            "whatsapp",
            &wa_raw(&format!("1555000000{i}"), &format!("wamid.TIME{i}"), ts),
        )
        .await;
    }
    let after = now_ms();

    for (i, ts) in fb_times.iter().enumerate() {
        let t = sent_at(&w, &format!("m_time_{i}"));
        assert!((before..=after).contains(&t), "{ts}: sent_at {t}");
    }
    for (i, ts) in wa_times.iter().enumerate() {
        let t = sent_at(&w, &format!("wamid.TIME{i}"));
        assert!((before..=after).contains(&t), "{ts}: sent_at {t}");
    }

    // A message a minute later (a believable time) goes to the top: nothing is pinned.
    let later = after + 60_000;
    post(
        &server,
        "facebook",
        &fb_raw("6100000099", "m_time_later", &later.to_string()),
    )
    .await;
    assert_eq!(sent_at(&w, "m_time_later"), later);
    let convs = conversations(&server, &cookie).await;
    assert_eq!(convs.len(), fb_times.len() + wa_times.len() + 1);
    assert_eq!(
        convs[0]["contact"]["external_id"], "6100000099",
        "{convs:#?}"
    );
    for c in &convs {
        assert!(
            c["last_message_at"]
                .as_str()
                .is_some_and(|s| s.starts_with("20")),
            "{c:#}"
        );
    }

    // The journal keeps the raw values and says what was done.
    let (raw, noted): (i64, i64) = w
        .db()
        .query_row(
            "SELECT COUNT(*), COUNT(*) FILTER (WHERE reason LIKE '%time of receipt%')
             FROM webhook_journal
             WHERE CAST(body AS TEXT) LIKE '%1e20%' AND outcome = 'processed'",
            [],
            |r| Ok((r.get(0)?, r.get(1)?)),
        )
        .unwrap();
    assert_eq!(
        (raw, noted),
        (2, 2),
        "both 1e20 bodies are journaled as sent, with a note"
    );
}

/// A Messenger or Instagram message from the page/account itself, without `is_echo`.
fn from_own(object: &str, own: &str, to: &str, mid: &str) -> Vec<u8> {
    serde_json::to_vec(
        &json!({"object": object, "entry": [{"id": own, "time": 1767262200000i64,
        "messaging": [{"sender": {"id": own}, "recipient": {"id": to},
                       "timestamp": 1767262200000i64,
                       "message": {"mid": mid, "text": "sent from the business side"}}]}]}),
    )
    .unwrap()
}

#[tokio::test]
async fn a_message_from_the_page_itself_is_outbound_and_makes_no_contact_of_the_page() {
    let w = setup();
    let server = w.serve(&[]);
    let cookie = login(&server).await;

    post(
        &server,
        "facebook",
        &from_own("page", PAGE, "2222222222", "m_own_fb"),
    )
    .await;
    post(
        &server,
        "instagram",
        &from_own("instagram", IG_ACCOUNT, "3333333333", "m_own_ig"),
    )
    .await;
    // Instagram's `is_self` test message: sender and recipient are both the account.
    post(
        &server,
        "instagram",
        &from_own("instagram", IG_ACCOUNT, IG_ACCOUNT, "m_own_self"),
    )
    .await;

    let contacts: Vec<String> = {
        let db = w.db();
        let mut stmt = db
            .prepare("SELECT external_id FROM contacts ORDER BY external_id")
            .unwrap();
        stmt.query_map([], |r| r.get(0))
            .unwrap()
            .map(Result::unwrap)
            .collect()
    };
    assert_eq!(
        contacts,
        vec!["2222222222", "3333333333"],
        "the page or account became a contact"
    );

    let convs = conversations(&server, &cookie).await;
    assert_eq!(convs.len(), 2, "{convs:#?}");
    for c in &convs {
        let id = c["id"].as_i64().unwrap();
        let msgs = get_json(
            &server,
            &cookie,
            &format!("/api/conversations/{id}/messages"),
        )
        .await;
        let msgs = msgs["messages"].as_array().unwrap();
        assert_eq!(msgs.len(), 1);
        assert_eq!(msgs[0]["direction"], "outbound", "{:#}", msgs[0]);
        // An outbound message is not something the agents have to read.
        assert_eq!(c["unread_count"], 0, "{c:#}");
    }
    let self_msgs: i64 = w
        .db()
        .query_row(
            "SELECT COUNT(*) FROM messages WHERE external_id = 'm_own_self'",
            [],
            |r| r.get(0),
        )
        .unwrap();
    assert_eq!(self_msgs, 0);
}
