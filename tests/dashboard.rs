//! Dashboard server side: live WebSocket (auth, origin, events), catch-up, CSRF,
//! security headers, asset caching, login throttling, password change, search.

mod common;

use common::*;
use futures_util::StreamExt;
use serde_json::{Value, json};
use tokio_tungstenite::tungstenite::{self, client::IntoClientRequest};

const PAGE: &str = "1111111111";

fn setup() -> Workdir {
    let w = Workdir::new();
    create_admin(&w);
    w.add_channel("facebook", "--page-id", PAGE);
    w
}

fn message(psid: &str, mid: &str, text: &str, ts: i64) -> Vec<u8> {
    serde_json::to_vec(&json!({"object": "page", "entry": [{"id": PAGE, "time": ts, "messaging": [
        {"sender": {"id": psid}, "recipient": {"id": PAGE}, "timestamp": ts, "message": {"mid": mid, "text": text}}
    ]}]}))
    .unwrap()
}

async fn connect(
    server: &Server,
    cookie: Option<&str>,
    origin: Option<&str>,
) -> Result<
    tokio_tungstenite::WebSocketStream<tokio_tungstenite::MaybeTlsStream<tokio::net::TcpStream>>,
    tungstenite::Error,
> {
    let mut req = format!("ws://{}/api/live", server.addr)
        .into_client_request()
        .unwrap();
    if let Some(c) = cookie {
        req.headers_mut().insert("cookie", c.parse().unwrap());
    }
    if let Some(o) = origin {
        req.headers_mut().insert("origin", o.parse().unwrap());
    }
    tokio_tungstenite::connect_async(req)
        .await
        .map(|(ws, _)| ws)
}

fn status_of(e: tungstenite::Error) -> u16 {
    match e {
        tungstenite::Error::Http(resp) => resp.status().as_u16(),
        other => panic!("expected an HTTP refusal, got {other}"),
    }
}

async fn next_json<S>(ws: &mut S) -> Value
where
    S: futures_util::Stream<Item = Result<tungstenite::Message, tungstenite::Error>> + Unpin,
{
    loop {
        let msg = tokio::time::timeout(std::time::Duration::from_secs(10), ws.next())
            .await
            .expect("no live event in time")
            .unwrap()
            .unwrap();
        if let tungstenite::Message::Text(t) = msg {
            return serde_json::from_str(&t).unwrap();
        }
    }
}

#[tokio::test]
async fn live_feed_requires_a_session_and_the_own_origin_and_streams_events() {
    let w = setup();
    let server = w.serve(&[]);
    let cookie = login(&server).await;
    let own = format!("http://{}", server.addr);

    assert_eq!(
        status_of(connect(&server, None, Some(&own)).await.unwrap_err()),
        401
    );
    assert_eq!(
        status_of(
            connect(&server, Some(&cookie), Some("https://evil.example"))
                .await
                .unwrap_err()
        ),
        403
    );
    assert_eq!(
        status_of(connect(&server, Some(&cookie), None).await.unwrap_err()),
        403
    );

    let mut ws = connect(&server, Some(&cookie), Some(&own)).await.unwrap();
    let hello = next_json(&mut ws).await;
    assert_eq!(hello["type"], "hello");
    let start = hello["latest"].as_i64().unwrap();

    let resp = post_signed(
        &server,
        "facebook",
        &message("4000000001", "m_live_1", "hello live", 1767262200000),
    )
    .await;
    assert_eq!(resp.status(), 200);
    let mut seen = Vec::new();
    while seen.len() < 3 {
        seen.push(next_json(&mut ws).await);
    }
    let types: Vec<&str> = seen.iter().map(|e| e["type"].as_str().unwrap()).collect();
    assert_eq!(
        types,
        vec!["contact.updated", "message.created", "conversation.updated"]
    );
    let seqs: Vec<i64> = seen.iter().map(|e| e["seq"].as_i64().unwrap()).collect();
    assert_eq!(seqs, vec![start + 1, start + 2, start + 3]);
    assert_eq!(seen[1]["message"]["text"], "hello live");
    assert_eq!(
        seen[2]["conversation"]["contact"]["external_id"],
        "4000000001"
    );
    assert_eq!(seen[2]["conversation"]["unread_count"], 1);

    // Catch-up returns exactly the events after a sequence number.
    let caught = get_json(
        &server,
        &cookie,
        &format!("/api/events?after={}", start + 1),
    )
    .await;
    let ev = caught["events"].as_array().unwrap();
    assert_eq!(ev.len(), 2);
    assert_eq!(ev[0], seen[1]);
    assert_eq!(ev[1], seen[2]);
    assert_eq!(caught["latest"], start + 3);
    assert_eq!(caught["gap"], false);
    let none = get_json(
        &server,
        &cookie,
        &format!("/api/events?after={}", start + 3),
    )
    .await;
    assert_eq!(none["events"].as_array().unwrap().len(), 0);
    // A number from before this process started is a gap: the page must refetch.
    let old = get_json(&server, &cookie, "/api/events?after=5").await;
    assert_eq!(old["gap"], true);

    // Marking read publishes the conversation change too.
    let conv = seen[2]["conversation"]["id"].as_i64().unwrap();
    let resp = client()
        .post(server.url(&format!("/api/conversations/{conv}/read")))
        .header("cookie", &cookie)
        .header("origin", &own)
        .send()
        .await
        .unwrap();
    assert_eq!(resp.status(), 200);
    let ev = next_json(&mut ws).await;
    assert_eq!(ev["type"], "conversation.updated");
    assert_eq!(ev["conversation"]["unread_count"], 0);
}

#[tokio::test]
async fn state_changes_from_a_foreign_origin_are_refused() {
    let w = setup();
    let server = w.serve(&[]);
    assert_eq!(
        post_signed(
            &server,
            "facebook",
            &message("4000000002", "m_csrf_1", "x", 1767262200000)
        )
        .await
        .status(),
        200
    );
    let cookie = login(&server).await;
    let resp = client()
        .post(server.url("/api/conversations/1/status"))
        .header("cookie", &cookie)
        .header("origin", "https://evil.example")
        .json(&json!({"status": "resolved"}))
        .send()
        .await
        .unwrap();
    assert_eq!(resp.status(), 403);
    let conv = get_json(&server, &cookie, "/api/conversations").await;
    assert_eq!(conv["conversations"][0]["status"], "open");
    resolve(&server, &cookie, 1).await;
    let conv = get_json(&server, &cookie, "/api/conversations?status=resolved").await;
    assert_eq!(conv["conversations"].as_array().unwrap().len(), 1);
    // Webhooks are not browser requests: an Origin header does not matter there.
    let resp = client()
        .post(server.url("/api/webhooks/facebook"))
        .header("origin", "https://evil.example")
        .header("x-hub-signature-256", sign(APP_SECRET, b"{}"))
        .body("{}")
        .send()
        .await
        .unwrap();
    assert_eq!(resp.status(), 200);
}

#[tokio::test]
async fn pages_carry_security_headers_and_assets_are_fingerprinted() {
    let w = setup();
    let server = w.serve(&[]);
    let resp = client().get(server.url("/")).send().await.unwrap();
    assert_eq!(resp.status(), 200);
    let h = resp.headers().clone();
    let csp = h["content-security-policy"].to_str().unwrap();
    assert!(
        csp.contains("script-src 'self'") && !csp.contains("unsafe-inline"),
        "{csp}"
    );
    assert_eq!(h["x-frame-options"], "DENY");
    assert!(h.contains_key("referrer-policy"));
    assert_eq!(h["cache-control"], "no-cache");
    let html = resp.text().await.unwrap();
    let start = html.find("/static/").expect("index references /static/");
    let rest = &html[start..];
    let url = &rest[..rest.find('"').unwrap()];
    let parts: Vec<&str> = url.split('/').collect();
    assert_eq!(parts[2].len(), 12, "fingerprint in {url}");

    let resp = client().get(server.url(url)).send().await.unwrap();
    assert_eq!(resp.status(), 200);
    assert!(
        resp.headers()["cache-control"]
            .to_str()
            .unwrap()
            .contains("immutable")
    );
    let etag = resp.headers()["etag"].to_str().unwrap().to_string();
    let resp = client()
        .get(server.url(url))
        .header("if-none-match", &etag)
        .send()
        .await
        .unwrap();
    assert_eq!(resp.status(), 304);
    let resp = client()
        .get(server.url("/static/nope.js"))
        .send()
        .await
        .unwrap();
    assert_eq!(resp.status(), 404);
}

#[tokio::test]
async fn failed_logins_are_throttled_and_passwords_can_be_changed() {
    let w = setup();
    let server = w.serve(&[]);
    let attempt = |password: &'static str| {
        let url = server.url("/api/session");
        async move {
            client()
                .post(url)
                .json(&json!({"username": ADMIN_USER, "password": password}))
                .send()
                .await
                .unwrap()
                .status()
                .as_u16()
        }
    };
    for _ in 0..5 {
        assert_eq!(attempt("wrong").await, 401);
    }
    // Even the right password waits once the free attempts are used up.
    assert_eq!(attempt(ADMIN_PASSWORD).await, 429);
    tokio::time::sleep(std::time::Duration::from_millis(1100)).await;
    assert_eq!(attempt(ADMIN_PASSWORD).await, 200);

    let cookie = login(&server).await;
    let change = |current: &str, new: &str| {
        client()
            .post(server.url("/api/session/password"))
            .header("cookie", &cookie)
            .json(&json!({"current": current, "new": new}))
            .send()
    };
    assert_eq!(change(ADMIN_PASSWORD, "short").await.unwrap().status(), 400);
    assert_eq!(
        change("not it", "a much longer password")
            .await
            .unwrap()
            .status(),
        401
    );
    let resp = change(ADMIN_PASSWORD, "a much longer password")
        .await
        .unwrap();
    assert_eq!(resp.status(), 200);
    let fresh = resp.headers()["set-cookie"]
        .to_str()
        .unwrap()
        .split(';')
        .next()
        .unwrap()
        .to_string();
    // The old session is gone, the new cookie works, the new password logs in.
    let old = client()
        .get(server.url("/api/channels"))
        .header("cookie", &cookie)
        .send()
        .await
        .unwrap();
    assert_eq!(old.status(), 401);
    let status = get_json(&server, &fresh, "/api/status").await;
    assert_eq!(status["app_secret_configured"], true);
    assert!(
        status["callback_urls"]["whatsapp"]
            .as_str()
            .unwrap()
            .ends_with("/api/webhooks/whatsapp")
    );
    let resp = client()
        .post(server.url("/api/session"))
        .json(&json!({"username": ADMIN_USER, "password": "a much longer password"}))
        .send()
        .await
        .unwrap();
    assert_eq!(resp.status(), 200);
}

#[tokio::test]
async fn search_finds_message_text_and_contact_names() {
    let w = setup();
    w.add_channel("whatsapp", "--phone-number-id", "106540352242922");
    let server = w.serve(&[]);
    for (i, text) in [
        "where is my parcel?",
        "Olá, o pedido chegou?",
        "refund please",
    ]
    .iter()
    .enumerate()
    {
        let body = message(
            &format!("50000000{i}"),
            &format!("m_search_{i}"),
            text,
            1767262200000 + i as i64,
        );
        assert_eq!(post_signed(&server, "facebook", &body).await.status(), 200);
    }
    let wa = std::fs::read("tests/fixtures/whatsapp/text.json").unwrap();
    assert_eq!(post_signed(&server, "whatsapp", &wa).await.status(), 200);
    let cookie = login(&server).await;
    let find = |q: &str| {
        let path = format!("/api/conversations?q={}", url_encode(q));
        let (server, cookie) = (&server, &cookie);
        async move {
            get_json(server, cookie, &path).await["conversations"]
                .as_array()
                .unwrap()
                .iter()
                .map(|c| c["contact"]["external_id"].as_str().unwrap().to_string())
                .collect::<Vec<_>>()
        }
    };
    // New messages are indexed in the background, within about a second.
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(10);
    while find("refund").await.is_empty() {
        assert!(std::time::Instant::now() < deadline, "never indexed");
        tokio::time::sleep(std::time::Duration::from_millis(100)).await;
    }
    assert_eq!(find("parcel").await, vec!["500000000"]);
    assert_eq!(find("pedido").await, vec!["500000001"]);
    assert_eq!(find("ola").await, vec!["500000001"], "accents are folded");
    assert_eq!(find("ref").await, vec!["500000002"], "prefixes match");
    assert_eq!(
        find("Ana Souza").await,
        vec!["16505551234"],
        "contact names match"
    );
    assert!(
        find("\"unbalanced OR").await.is_empty(),
        "FTS syntax is neutralised"
    );
    // Search covers both statuses (each has its own index range): a resolved
    // conversation is still found, in activity order among open ones, and a status
    // filter narrows the search.
    let convs = get_json(&server, &cookie, "/api/conversations").await;
    let parcel = convs["conversations"]
        .as_array()
        .unwrap()
        .iter()
        .find(|c| c["contact"]["external_id"] == "500000000")
        .unwrap()["id"]
        .as_i64()
        .unwrap();
    resolve(&server, &cookie, parcel).await;
    assert_eq!(find("parcel").await, vec!["500000000"]);
    assert_eq!(
        find("50000000").await,
        vec!["500000002", "500000001", "500000000"],
        "contact ids match, newest activity first across statuses"
    );
    for (status, expect) in [("open", vec![]), ("resolved", vec!["500000000"])] {
        let path = format!("/api/conversations?status={status}&q=parcel");
        let found: Vec<String> = get_json(&server, &cookie, &path).await["conversations"]
            .as_array()
            .unwrap()
            .iter()
            .map(|c| c["contact"]["external_id"].as_str().unwrap().to_string())
            .collect();
        assert_eq!(found, expect, "{path}");
    }
}

/// Resolves a conversation as the dashboard does (same-origin POST); asserts 200.
async fn resolve(server: &Server, cookie: &str, id: i64) {
    let resp = client()
        .post(server.url(&format!("/api/conversations/{id}/status")))
        .header("cookie", cookie)
        .header("origin", format!("http://{}", server.addr))
        .json(&json!({"status": "resolved"}))
        .send()
        .await
        .unwrap();
    assert_eq!(resp.status(), 200, "resolving conversation {id}");
}

fn url_encode(s: &str) -> String {
    s.bytes()
        .map(|b| {
            if b.is_ascii_alphanumeric() {
                (b as char).to_string()
            } else {
                format!("%{b:02X}")
            }
        })
        .collect()
}

#[tokio::test]
async fn throttling_behind_the_proxy_is_per_client_not_for_everyone() {
    let w = setup();
    let server = w.serve(&[]);
    let attempt = |ip: &'static str, password: &'static str| {
        let url = server.url("/api/session");
        async move {
            client()
                .post(url)
                .header("x-forwarded-for", format!("198.51.100.1, {ip}"))
                .json(&json!({"username": ADMIN_USER, "password": password}))
                .send()
                .await
                .unwrap()
                .status()
                .as_u16()
        }
    };
    for _ in 0..6 {
        attempt("203.0.113.66", "guess").await;
    }
    assert_eq!(
        attempt("203.0.113.66", ADMIN_PASSWORD).await,
        429,
        "the attacker waits"
    );
    assert_eq!(
        attempt("203.0.113.10", ADMIN_PASSWORD).await,
        200,
        "an agent elsewhere does not"
    );
}

#[tokio::test]
async fn status_filters_follow_resolving_and_reopening() {
    let w = setup();
    let server = w.serve(&[]);
    for (i, psid) in ["4100000001", "4100000002", "4100000003"]
        .iter()
        .enumerate()
    {
        let body = message(
            psid,
            &format!("m_status_{i}"),
            "hi",
            1767262200000 + i as i64,
        );
        assert_eq!(post_signed(&server, "facebook", &body).await.status(), 200);
    }
    let cookie = login(&server).await;
    let ids = |v: Value| -> Vec<String> {
        v["conversations"]
            .as_array()
            .unwrap()
            .iter()
            .map(|c| c["contact"]["external_id"].as_str().unwrap().to_string())
            .collect()
    };
    // Conversation 2 (the middle one) is resolved.
    resolve(&server, &cookie, 2).await;
    let open = get_json(&server, &cookie, "/api/conversations?status=open").await;
    assert_eq!(ids(open), vec!["4100000003", "4100000001"]);
    let resolved = get_json(&server, &cookie, "/api/conversations?status=resolved").await;
    assert_eq!(ids(resolved), vec!["4100000002"]);
    // Without a status filter (each status has its own index), the inbox and a
    // channel's still list both statuses by activity, page by page.
    let channels = get_json(&server, &cookie, "/api/channels").await;
    let channel = channels["channels"][0]["id"].as_i64().unwrap();
    for list in [
        "/api/conversations?limit=1".to_string(),
        format!("/api/conversations?limit=1&channel_id={channel}"),
    ] {
        let mut seen = Vec::new();
        let mut page = get_json(&server, &cookie, &list).await;
        loop {
            seen.extend(ids(page.clone()));
            let Some(cursor) = page["next"].as_str() else {
                break;
            };
            page = get_json(&server, &cookie, &format!("{list}&cursor={cursor}")).await;
        }
        assert_eq!(seen, ["4100000003", "4100000002", "4100000001"], "{list}");
    }
    // Keyset pages of a filtered list.
    let page = get_json(&server, &cookie, "/api/conversations?status=open&limit=1").await;
    assert_eq!(ids(page.clone()), vec!["4100000003"]);
    let cursor = page["next"].as_str().unwrap().to_string();
    let page = get_json(
        &server,
        &cookie,
        &format!("/api/conversations?status=open&limit=1&cursor={cursor}"),
    )
    .await;
    assert_eq!(ids(page.clone()), vec!["4100000001"]);
    assert!(page["next"].is_null());
    // A new customer message reopens it, at the top.
    let body = message(
        "4100000002",
        "m_status_again",
        "still there?",
        1767262300000,
    );
    assert_eq!(post_signed(&server, "facebook", &body).await.status(), 200);
    let open = get_json(&server, &cookie, "/api/conversations?status=open").await;
    assert_eq!(ids(open), vec!["4100000002", "4100000003", "4100000001"]);
    let resolved = get_json(&server, &cookie, "/api/conversations?status=resolved").await;
    assert!(ids(resolved).is_empty());
    let resp = client()
        .get(server.url("/api/conversations?status=closed"))
        .header("cookie", &cookie)
        .send()
        .await
        .unwrap();
    assert_eq!(resp.status(), 400);
}
