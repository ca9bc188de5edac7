//! Inbound pipeline: batches, routing, echoes, receipts, statuses, idempotency, auth,
//! and durability of acknowledged webhooks across SIGKILL.

mod common;

use common::*;
use serde_json::{Value, json};

const PAGE: &str = "1111111111";
const PSID: &str = "2222222222";
const PHONE_ID: &str = "106540352242922";

/// A workdir with the three test channels and the test admin.
fn setup() -> Workdir {
    let w = Workdir::new();
    create_admin(&w);
    w.add_channel("facebook", "--page-id", PAGE);
    w.add_channel("instagram", "--account-id", "17841400000000001");
    w.add_channel("whatsapp", "--phone-number-id", PHONE_ID);
    w
}

fn fb_text(page: &str, psid: &str, mid: &str, text: &str, ts: i64) -> Value {
    json!({
        "sender": {"id": psid}, "recipient": {"id": page}, "timestamp": ts,
        "message": {"mid": mid, "text": text}
    })
}

fn fb_body(entries: Vec<(&str, Vec<Value>)>) -> Vec<u8> {
    let entry: Vec<Value> = entries
        .into_iter()
        .map(|(id, events)| json!({"id": id, "time": 1767262200000i64, "messaging": events}))
        .collect();
    serde_json::to_vec(&json!({"object": "page", "entry": entry})).unwrap()
}

/// A body with one text message from `psid` to the test page.
fn fb_one(psid: &str, mid: &str, text: &str, ts: i64) -> Vec<u8> {
    fb_body(vec![(PAGE, vec![fb_text(PAGE, psid, mid, text, ts)])])
}

async fn conversations(server: &Server, cookie: &str) -> Vec<Value> {
    get_json(server, cookie, "/api/conversations?limit=200").await["conversations"]
        .as_array()
        .unwrap()
        .clone()
}

async fn thread(server: &Server, cookie: &str, conversation_id: i64) -> Vec<Value> {
    get_json(
        server,
        cookie,
        &format!("/api/conversations/{conversation_id}/messages?limit=200"),
    )
    .await["messages"]
        .as_array()
        .unwrap()
        .clone()
}

fn count(w: &Workdir, table: &str) -> i64 {
    w.db()
        .query_row(&format!("SELECT COUNT(*) FROM {table}"), [], |r| r.get(0))
        .unwrap()
}

#[tokio::test]
async fn a_batch_of_3_entries_by_3_events_stores_9_messages() {
    let w = setup();
    let server = w.serve(&[]);
    let mut entries = Vec::new();
    for e in 0..3 {
        let events = (0..3)
            .map(|i| {
                let psid = format!("90000000{e}");
                fb_text(
                    PAGE,
                    &psid,
                    &format!("m_batch_{e}_{i}"),
                    &format!("msg {e}.{i}"),
                    1767262200000 + i * 1000,
                )
            })
            .collect();
        entries.push((PAGE, events));
    }
    let resp = post_signed(&server, "facebook", &fb_body(entries)).await;
    assert_eq!(resp.status(), 200);
    assert_eq!(count(&w, "messages"), 9);
    let cookie = login(&server).await;
    let convs = conversations(&server, &cookie).await;
    assert_eq!(convs.len(), 3);
    for c in &convs {
        assert_eq!(c["unread_count"], 3);
        assert_eq!(c["channel"]["provider"], "facebook");
        let msgs = thread(&server, &cookie, c["id"].as_i64().unwrap()).await;
        let texts: Vec<&str> = msgs.iter().map(|m| m["text"].as_str().unwrap()).collect();
        let e = c["contact"]["external_id"]
            .as_str()
            .unwrap()
            .chars()
            .last()
            .unwrap();
        assert_eq!(
            texts,
            vec![
                format!("msg {e}.0"),
                format!("msg {e}.1"),
                format!("msg {e}.2")
            ]
        );
        assert_eq!(c["last_message_preview"], format!("msg {e}.2"));
    }
}

#[tokio::test]
async fn a_batch_mixing_known_and_unknown_pages_stores_the_known_ones() {
    let w = setup();
    let server = w.serve(&[]);
    let body = fb_body(vec![
        (
            PAGE,
            vec![fb_text(
                PAGE,
                PSID,
                "m_known_1",
                "for a known page",
                1767262200000,
            )],
        ),
        (
            "5555555555",
            vec![fb_text(
                "5555555555",
                PSID,
                "m_unknown_1",
                "for nobody",
                1767262200000,
            )],
        ),
    ]);
    let resp = post_signed(&server, "facebook", &body).await;
    assert_eq!(resp.status(), 200);
    assert_eq!(count(&w, "messages"), 1);
    let (outcome, reason, unmatched): (String, String, String) = w
        .db()
        .query_row(
            "SELECT outcome, reason, unmatched FROM webhook_journal",
            [],
            |r| Ok((r.get(0)?, r.get(1)?, r.get(2)?)),
        )
        .unwrap();
    assert_eq!(outcome, "unmatched");
    assert!(reason.contains("5555555555"), "{reason}");
    assert_eq!(unmatched, "[\"5555555555\"]");

    // An object that does not belong to the endpoint, and an empty body: 200, ignored.
    let other = serde_json::to_vec(&json!({"object": "user", "entry": []})).unwrap();
    assert_eq!(post_signed(&server, "facebook", &other).await.status(), 200);
    let wa_on_fb = std::fs::read("tests/fixtures/whatsapp/text.json").unwrap();
    assert_eq!(
        post_signed(&server, "facebook", &wa_on_fb).await.status(),
        200
    );
    let ignored: i64 = w
        .db()
        .query_row(
            "SELECT COUNT(*) FROM webhook_journal WHERE outcome = 'ignored' AND reason IS NOT NULL",
            [],
            |r| r.get(0),
        )
        .unwrap();
    assert_eq!(ignored, 2);
    assert_eq!(count(&w, "messages"), 1);
}

#[tokio::test]
async fn an_echo_is_outbound_in_the_customers_conversation_and_a_read_marks_it() {
    let w = setup();
    let server = w.serve(&[]);
    let inbound = fb_body(vec![(
        PAGE,
        vec![fb_text(
            PAGE,
            PSID,
            "m_in_1",
            "where is my order?",
            1767262100000,
        )],
    )]);
    assert_eq!(
        post_signed(&server, "facebook", &inbound).await.status(),
        200
    );
    let echo = std::fs::read("tests/fixtures/facebook/echo.json").unwrap();
    assert_eq!(post_signed(&server, "facebook", &echo).await.status(), 200);

    let cookie = login(&server).await;
    let convs = conversations(&server, &cookie).await;
    assert_eq!(
        convs.len(),
        1,
        "the echo must not open a conversation with the page"
    );
    assert_eq!(convs[0]["contact"]["external_id"], PSID);
    let id = convs[0]["id"].as_i64().unwrap();
    let msgs = thread(&server, &cookie, id).await;
    assert_eq!(msgs.len(), 2);
    assert_eq!(msgs[0]["direction"], "inbound");
    assert_eq!(msgs[0]["status"], Value::Null);
    assert_eq!(msgs[1]["direction"], "outbound");
    assert_eq!(msgs[1]["text"], "Hi Ana! Your order #4521 shipped today.");
    assert_eq!(msgs[1]["status"], "sent");

    let read = std::fs::read("tests/fixtures/facebook/read.json").unwrap();
    assert_eq!(post_signed(&server, "facebook", &read).await.status(), 200);
    let msgs = thread(&server, &cookie, id).await;
    assert_eq!(msgs[1]["status"], "read");
}

fn wa_change(value: Value) -> Vec<u8> {
    serde_json::to_vec(&json!({
        "object": "whatsapp_business_account",
        "entry": [{"id": "102290129340398", "changes": [{"field": "messages", "value": value}]}]
    }))
    .unwrap()
}

fn wa_status(id: &str, status: &str, ts: &str) -> Vec<u8> {
    wa_change(json!({
        "messaging_product": "whatsapp",
        "metadata": {"display_phone_number": "15550783881", "phone_number_id": PHONE_ID},
        "statuses": [{"id": id, "status": status, "timestamp": ts, "recipient_id": "16505551234"}]
    }))
}

#[tokio::test]
async fn whatsapp_statuses_out_of_order_end_as_read_and_early_ones_are_kept() {
    let w = setup();
    let server = w.serve(&[]);
    // The status arrives before anything is known about the message.
    assert_eq!(
        post_signed(
            &server,
            "whatsapp",
            &wa_status("wamid.OUT.1", "delivered", "1767435420")
        )
        .await
        .status(),
        200
    );
    // The outbound message, as a coexistence echo of the WhatsApp Business app.
    let echo = wa_change(json!({
        "messaging_product": "whatsapp",
        "metadata": {"display_phone_number": "15550783881", "phone_number_id": PHONE_ID},
        "message_echoes": [{"from": "15550783881", "to": "16505551234", "id": "wamid.OUT.1",
                            "timestamp": "1767435410", "type": "text", "text": {"body": "Thanks, Ana!"}}]
    }));
    let echo = String::from_utf8(echo)
        .unwrap()
        .replace("\"field\":\"messages\"", "\"field\":\"smb_message_echoes\"");
    assert_eq!(
        post_signed(&server, "whatsapp", echo.as_bytes())
            .await
            .status(),
        200
    );
    assert_eq!(
        post_signed(
            &server,
            "whatsapp",
            &wa_status("wamid.OUT.1", "read", "1767435430")
        )
        .await
        .status(),
        200
    );
    assert_eq!(
        post_signed(
            &server,
            "whatsapp",
            &wa_status("wamid.OUT.1", "sent", "1767435411")
        )
        .await
        .status(),
        200
    );

    let cookie = login(&server).await;
    let convs = conversations(&server, &cookie).await;
    assert_eq!(convs.len(), 1);
    let msgs = thread(&server, &cookie, convs[0]["id"].as_i64().unwrap()).await;
    assert_eq!(msgs.len(), 1);
    assert_eq!(msgs[0]["direction"], "outbound");
    assert_eq!(msgs[0]["text"], "Thanks, Ana!");
    assert_eq!(msgs[0]["status"], "read");

    // A failure keeps its code and title and is terminal.
    let failed = wa_change(json!({
        "messaging_product": "whatsapp",
        "metadata": {"display_phone_number": "15550783881", "phone_number_id": PHONE_ID},
        "statuses": [{"id": "wamid.OUT.1", "status": "failed", "timestamp": "1767435440", "recipient_id": "16505551234",
                      "errors": [{"code": 131047, "title": "Re-engagement message"}]}]
    }));
    assert_eq!(
        post_signed(&server, "whatsapp", &failed).await.status(),
        200
    );
    assert_eq!(
        post_signed(
            &server,
            "whatsapp",
            &wa_status("wamid.OUT.1", "read", "1767435450")
        )
        .await
        .status(),
        200
    );
    let msgs = thread(&server, &cookie, convs[0]["id"].as_i64().unwrap()).await;
    assert_eq!(msgs[0]["status"], "failed");
    assert_eq!(msgs[0]["error"]["code"], 131047);
    assert_eq!(msgs[0]["error"]["title"], "Re-engagement message");
}

/// Every table but the journal and the search index, as sorted text rows. The index
/// is derived from `messages` and built in the background (within a second), so it
/// may move between two snapshots without anything being delivered.
fn snapshot(w: &Workdir) -> Vec<String> {
    let db = w.db();
    let tables: Vec<String> = db
        .prepare("SELECT name FROM sqlite_schema WHERE type = 'table' AND name NOT LIKE 'sqlite_%'
                  AND name <> 'webhook_journal' AND name <> 'search_progress' AND name NOT LIKE 'messages_fts%'
                  ORDER BY name")
        .unwrap()
        .query_map([], |r| r.get(0))
        .unwrap()
        .collect::<Result<_, _>>()
        .unwrap();
    let mut out = Vec::new();
    for t in tables {
        let mut stmt = db.prepare(&format!("SELECT * FROM {t}")).unwrap();
        let n = stmt.column_count();
        let mut rows: Vec<String> = stmt
            .query_map([], |r| {
                Ok((0..n)
                    .map(|i| format!("{:?}", r.get_ref(i).unwrap()))
                    .collect::<Vec<_>>()
                    .join("|"))
            })
            .unwrap()
            .map(|r| format!("{t}: {}", r.unwrap()))
            .collect();
        rows.sort();
        out.extend(rows);
    }
    out
}

fn all_fixtures() -> Vec<(String, Vec<u8>)> {
    let mut out = Vec::new();
    for provider in ["facebook", "instagram", "whatsapp"] {
        let mut files: Vec<_> = std::fs::read_dir(format!("tests/fixtures/{provider}"))
            .unwrap()
            .map(|e| e.unwrap().path())
            .collect();
        files.sort();
        for f in files {
            out.push((provider.to_string(), std::fs::read(f).unwrap()));
        }
    }
    out
}

#[tokio::test]
async fn redelivering_every_fixture_changes_nothing_but_the_journal() {
    let w = setup();
    let server = w.serve(&[]);
    let fixtures = all_fixtures();
    assert!(fixtures.len() >= 50, "expected the full fixture set");
    for (provider, body) in &fixtures {
        let resp = post_signed(&server, provider, body).await;
        assert_eq!(resp.status(), 200, "{provider}");
    }
    let before = snapshot(&w);
    assert!(count(&w, "messages") > 40);
    for (provider, body) in &fixtures {
        assert_eq!(post_signed(&server, provider, body).await.status(), 200);
    }
    assert_eq!(snapshot(&w), before);
    assert_eq!(journal_count(&w), 2 * fixtures.len() as i64);
    let failed: i64 = w
        .db()
        .query_row(
            "SELECT COUNT(*) FROM webhook_journal WHERE outcome = 'failed'",
            [],
            |r| r.get(0),
        )
        .unwrap();
    assert_eq!(failed, 0);
}

#[tokio::test]
async fn the_api_needs_a_session() {
    let w = setup();
    let server = w.serve(&[]);
    for path in [
        "/api/channels",
        "/api/conversations",
        "/api/conversations/1/messages",
        "/api/events?after=0",
        "/api/session",
    ] {
        let resp = client().get(server.url(path)).send().await.unwrap();
        assert_eq!(resp.status(), 401, "{path}");
        let resp = client()
            .get(server.url(path))
            .header("cookie", "helpstack_session=forged")
            .send()
            .await
            .unwrap();
        assert_eq!(resp.status(), 401, "{path} with a forged cookie");
    }
    let resp = client()
        .post(server.url("/api/session"))
        .json(&json!({"username": ADMIN_USER, "password": "wrong"}))
        .send()
        .await
        .unwrap();
    assert_eq!(resp.status(), 401);
    let resp = client()
        .post(server.url("/api/session"))
        .json(&json!({"username": "nobody", "password": ADMIN_PASSWORD}))
        .send()
        .await
        .unwrap();
    assert_eq!(resp.status(), 401);

    let resp = client()
        .post(server.url("/api/session"))
        .json(&json!({"username": ADMIN_USER, "password": ADMIN_PASSWORD}))
        .send()
        .await
        .unwrap();
    assert_eq!(resp.status(), 200);
    let set_cookie = resp.headers()["set-cookie"].to_str().unwrap().to_string();
    assert!(
        set_cookie.contains("HttpOnly") && set_cookie.contains("SameSite=Strict"),
        "{set_cookie}"
    );
    let cookie = set_cookie.split(';').next().unwrap().to_string();
    let channels = get_json(&server, &cookie, "/api/channels").await;
    assert_eq!(channels["channels"].as_array().unwrap().len(), 3);
    assert!(
        !channels.to_string().contains("test-page-token"),
        "tokens must never be served"
    );

    // Logout ends the session.
    let resp = client()
        .delete(server.url("/api/session"))
        .header("cookie", &cookie)
        .send()
        .await
        .unwrap();
    assert_eq!(resp.status(), 200);
    let resp = client()
        .get(server.url("/api/channels"))
        .header("cookie", &cookie)
        .send()
        .await
        .unwrap();
    assert_eq!(resp.status(), 401);
}

#[tokio::test]
async fn acknowledged_means_stored_even_after_sigkill() {
    let w = setup();
    let mut server = w.serve(&[]);
    const N: usize = 200;
    let mut tasks = Vec::new();
    for i in 0..N {
        let body = fb_one(
            &format!("7000{}", i % 20),
            &format!("m_kill_{i}"),
            "hi",
            1767262200000 + i as i64,
        );
        let url = server.url("/api/webhooks/facebook");
        tasks.push(tokio::spawn(async move {
            client()
                .post(url)
                .header("x-hub-signature-256", sign(APP_SECRET, &body))
                .body(body)
                .send()
                .await
                .map(|r| r.status().as_u16())
        }));
    }
    let mut acked = 0;
    for t in tasks {
        if t.await.unwrap().unwrap() == 200 {
            acked += 1;
        }
    }
    assert_eq!(acked, N);
    server.kill9();
    let server = w.serve(&[]);
    let cookie = login(&server).await;
    let convs = conversations(&server, &cookie).await;
    assert_eq!(convs.len(), 20);
    let total: i64 = convs
        .iter()
        .map(|c| c["unread_count"].as_i64().unwrap())
        .sum();
    assert_eq!(total, N as i64);
    assert_eq!(count(&w, "messages"), N as i64);
}

/// Under a sustained stream the writer folds the WAL back every 1000 pages (4 MiB), so
/// the file stays near that size. Checkpointing only on a timer let it grow to 64-211
/// MiB under the load generator, and truncating it back stalled a whole group.
#[tokio::test]
async fn the_wal_stays_small_under_sustained_ingest() {
    let w = setup();
    let server = w.serve(&[]);
    const CONNECTIONS: usize = 16;
    const PER_CONNECTION: usize = 250;
    let wal = w.db_path().with_extension("db-wal");
    let done = std::sync::Arc::new(std::sync::atomic::AtomicBool::new(false));
    let watcher = {
        let (wal, done) = (wal.clone(), done.clone());
        tokio::spawn(async move {
            let mut peak = 0u64;
            while !done.load(std::sync::atomic::Ordering::Relaxed) {
                peak = peak.max(std::fs::metadata(&wal).map(|m| m.len()).unwrap_or(0));
                tokio::time::sleep(std::time::Duration::from_millis(5)).await;
            }
            peak
        })
    };
    let mut tasks = Vec::new();
    for c in 0..CONNECTIONS {
        let url = server.url("/api/webhooks/facebook");
        tasks.push(tokio::spawn(async move {
            let client = client();
            let mut acked = 0;
            for i in 0..PER_CONNECTION {
                let body = fb_one(
                    &format!("6000{}", i % 50),
                    &format!("m_wal_{c}_{i}"),
                    "a message long enough to look like one a customer would send",
                    1767262200000 + i as i64,
                );
                let resp = client
                    .post(&url)
                    .header("x-hub-signature-256", sign(APP_SECRET, &body))
                    .body(body)
                    .send()
                    .await
                    .unwrap();
                acked += usize::from(resp.status() == 200);
            }
            acked
        }));
    }
    let mut acked = 0;
    for t in tasks {
        acked += t.await.unwrap();
    }
    done.store(true, std::sync::atomic::Ordering::Relaxed);
    let peak = watcher.await.unwrap();
    assert_eq!(acked, CONNECTIONS * PER_CONNECTION);
    assert_eq!(count(&w, "messages"), (CONNECTIONS * PER_CONNECTION) as i64);
    // 1000 pages of 4 KiB plus the group that crossed the mark, with room to spare.
    assert!(
        peak > 0 && peak <= 8 << 20,
        "the WAL peaked at {peak} bytes"
    );
}

#[tokio::test]
async fn pagination_walks_every_conversation_and_message_once() {
    let w = setup();
    let server = w.serve(&[]);
    let mut entries = Vec::new();
    for i in 0..25 {
        entries.push((
            PAGE,
            vec![fb_text(
                PAGE,
                "8000000001",
                &format!("m_page_a_{i}"),
                &format!("a{i}"),
                1767262200000 + i,
            )],
        ));
        entries.push((
            PAGE,
            vec![fb_text(
                PAGE,
                &format!("81000000{i:02}"),
                &format!("m_page_b_{i}"),
                "b",
                1767262300000 + i,
            )],
        ));
    }
    assert_eq!(
        post_signed(&server, "facebook", &fb_body(entries))
            .await
            .status(),
        200
    );
    let cookie = login(&server).await;

    let mut seen = Vec::new();
    let mut cursor = String::new();
    loop {
        let page = get_json(
            &server,
            &cookie,
            &format!("/api/conversations?limit=7&cursor={cursor}"),
        )
        .await;
        for c in page["conversations"].as_array().unwrap() {
            seen.push((
                c["last_message_at"].as_str().unwrap().to_string(),
                c["id"].as_i64().unwrap(),
            ));
        }
        match page["next"].as_str() {
            Some(n) => cursor = n.to_string(),
            None => break,
        }
    }
    assert_eq!(seen.len(), 26);
    let mut sorted = seen.clone();
    sorted.sort_by(|a, b| b.cmp(a));
    assert_eq!(seen, sorted, "newest activity first");

    let conv = conversations(&server, &cookie)
        .await
        .into_iter()
        .find(|c| c["contact"]["external_id"] == "8000000001")
        .unwrap();
    let id = conv["id"].as_i64().unwrap();
    let mut texts = Vec::new();
    let mut cursor = String::new();
    loop {
        let page = get_json(
            &server,
            &cookie,
            &format!("/api/conversations/{id}/messages?limit=4&cursor={cursor}"),
        )
        .await;
        texts.extend(
            page["messages"]
                .as_array()
                .unwrap()
                .iter()
                .map(|m| m["text"].as_str().unwrap().to_string()),
        );
        match page["next"].as_str() {
            Some(n) => cursor = n.to_string(),
            None => break,
        }
    }
    assert_eq!(texts, (0..25).map(|i| format!("a{i}")).collect::<Vec<_>>());

    let resp = client()
        .get(server.url("/api/conversations?cursor=garbage"))
        .header("cookie", &cookie)
        .send()
        .await
        .unwrap();
    assert_eq!(resp.status(), 400);
    let resp = client()
        .get(server.url("/api/conversations/999999/messages"))
        .header("cookie", &cookie)
        .send()
        .await
        .unwrap();
    assert_eq!(resp.status(), 404);
}
