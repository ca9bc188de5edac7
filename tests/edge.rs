//! The HTTP edge against a hostile client: client addresses behind proxies, security
//! headers and JSON errors on every response, Origin and Host checks, dashboard writes
//! beside the ingest writer, and `/healthz` when the writer cannot make progress.

mod common;

use std::time::{Duration, Instant};

use common::*;
use serde_json::{Value, json};

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

/// Asserts the four security headers every response must carry.
fn assert_hardened(resp: &reqwest::Response, what: &str) {
    let h = resp.headers();
    for name in [
        "content-security-policy",
        "x-content-type-options",
        "x-frame-options",
        "referrer-policy",
    ] {
        assert!(h.contains_key(name), "{what}: no {name} in {h:?}");
    }
    assert_eq!(h["x-content-type-options"], "nosniff", "{what}");
    assert_eq!(h["x-frame-options"], "DENY", "{what}");
}

/// Asserts a hardened JSON error `{"error", "code"}` with the given status.
async fn assert_json_error(resp: reqwest::Response, status: u16, what: &str) -> Value {
    assert_eq!(resp.status(), status, "{what}");
    assert_hardened(&resp, what);
    let ct = resp.headers()["content-type"].to_str().unwrap().to_string();
    assert!(
        ct.starts_with("application/json"),
        "{what}: content-type {ct}"
    );
    let body: Value = resp.json().await.unwrap();
    assert!(body["error"].is_string(), "{what}: {body}");
    assert!(body["code"].is_string(), "{what}: {body}");
    body
}

#[tokio::test]
async fn spoofed_forwarding_headers_do_not_escape_the_login_throttle() {
    let w = setup();
    let server = w.serve(&[]);
    let mut statuses = Vec::new();
    for i in 0..30 {
        // What a client can send through Caddy: its own X-Real-IP and X-Forwarded-For
        // prefix; the proxy appends the address it really saw.
        let resp = client()
            .post(server.url("/api/session"))
            .header("x-real-ip", format!("10.1.0.{i}"))
            .header("x-forwarded-for", format!("10.2.0.{i}, 198.51.100.7"))
            .json(&json!({"username": ADMIN_USER, "password": "wrong guess"}))
            .send()
            .await
            .unwrap();
        statuses.push(resp.status().as_u16());
    }
    assert_eq!(statuses[..5], [401; 5], "{statuses:?}");
    assert_eq!(
        statuses[5], 429,
        "throttled after the free tries: {statuses:?}"
    );
    assert!(
        statuses.iter().all(|s| *s == 401 || *s == 429),
        "{statuses:?}"
    );
    // The same client with the right password still waits; another client does not.
    let login_from = |xff: &'static str| {
        client()
            .post(server.url("/api/session"))
            .header("x-real-ip", "10.1.0.99")
            .header("x-forwarded-for", xff)
            .json(&json!({"username": ADMIN_USER, "password": ADMIN_PASSWORD}))
            .send()
    };
    assert_eq!(
        login_from("10.3.0.1, 198.51.100.7").await.unwrap().status(),
        429
    );
    assert_eq!(
        login_from("10.3.0.1, 198.51.100.8").await.unwrap().status(),
        200
    );
    // The logs name the same client.
    let log = server.stderr_text();
    let failed = log
        .lines()
        .find(|l| l.contains("failed login"))
        .expect("a failed login is logged");
    assert!(failed.contains(r#""client":"198.51.100.7""#), "{failed}");
}

async fn login_status(
    server: &Server,
    password: &str,
    headers: &[(&str, String)],
) -> reqwest::Response {
    let mut req = client()
        .post(server.url("/api/session"))
        .json(&json!({"username": ADMIN_USER, "password": password}));
    for (k, v) in headers {
        req = req.header(*k, v);
    }
    req.send().await.unwrap()
}

#[tokio::test]
async fn only_configured_proxies_and_headers_name_the_client() {
    // A proxy elsewhere is trusted, this machine is not: its headers count for nothing.
    let mut w = setup();
    w.set_env("HELPSTACK_TRUSTED_PROXIES", "192.0.2.1, 2001:db8::/32");
    let server = w.serve(&[]);
    let https = ("x-forwarded-proto", "https".to_string());
    let resp = login_status(&server, ADMIN_PASSWORD, std::slice::from_ref(&https)).await;
    assert_eq!(resp.status(), 200);
    let cookie = resp.headers()["set-cookie"].to_str().unwrap().to_string();
    assert!(!cookie.contains("Secure"), "{cookie}");
    let mut statuses = Vec::new();
    for i in 0..6 {
        let xff = ("x-forwarded-for", format!("198.51.100.{i}"));
        statuses.push(
            login_status(&server, "wrong guess", &[xff])
                .await
                .status()
                .as_u16(),
        );
    }
    assert_eq!(statuses, [401, 401, 401, 401, 401, 429]);

    // With the default (loopback) the local proxy's word counts.
    let w = setup();
    let server = w.serve(&[]);
    let resp = login_status(&server, ADMIN_PASSWORD, &[https]).await;
    assert_eq!(resp.status(), 200);
    let cookie = resp.headers()["set-cookie"].to_str().unwrap().to_string();
    assert!(cookie.contains("; Secure"), "{cookie}");

    // A named header replaces X-Forwarded-For.
    let mut w = setup();
    w.set_env("HELPSTACK_CLIENT_IP_HEADER", "X-Real-IP");
    let server = w.serve(&[]);
    for i in 0..6 {
        let headers = [
            ("x-real-ip", "203.0.113.1".to_string()),
            ("x-forwarded-for", format!("198.51.100.{i}")),
        ];
        let want = if i < 5 { 401 } else { 429 };
        assert_eq!(
            login_status(&server, "wrong guess", &headers)
                .await
                .status(),
            want,
            "try {i}"
        );
    }
    let other = [("x-real-ip", "203.0.113.2".to_string())];
    assert_eq!(
        login_status(&server, ADMIN_PASSWORD, &other).await.status(),
        200
    );
}

#[tokio::test]
async fn metrics_behind_any_forwarding_header_need_the_token() {
    let w = Workdir::new();
    let server = w.serve(&[]);
    let get = |header: Option<(&'static str, &'static str)>| {
        let mut req = client().get(server.url("/metrics"));
        if let Some((k, v)) = header {
            req = req.header(k, v);
        }
        req.send()
    };
    assert_eq!(get(None).await.unwrap().status(), 200, "a local scrape");
    for header in [
        ("x-real-ip", "127.0.0.1"),
        ("forwarded", "for=127.0.0.1"),
        ("x-forwarded-for", "127.0.0.1"),
        ("x-forwarded-proto", "https"),
        ("x-forwarded-host", "help.example.com"),
    ] {
        let resp = get(Some(header)).await.unwrap();
        assert_json_error(resp, 403, header.0).await;
    }

    let mut w = Workdir::new();
    w.set_env("HELPSTACK_METRICS_TOKEN", "scrape-me");
    let server = w.serve(&[]);
    for header in [
        ("x-real-ip", "127.0.0.1"),
        ("forwarded", "for=127.0.0.1"),
        ("x-forwarded-for", "127.0.0.1"),
    ] {
        let resp = client()
            .get(server.url("/metrics"))
            .header(header.0, header.1)
            .bearer_auth("scrape-me")
            .send()
            .await
            .unwrap();
        assert_eq!(resp.status(), 200, "{} with the token", header.0);
        let resp = client()
            .get(server.url("/metrics"))
            .header(header.0, header.1)
            .send()
            .await
            .unwrap();
        assert_json_error(resp, 401, header.0).await;
    }
}

#[tokio::test]
async fn every_response_is_hardened_and_api_errors_are_json() {
    let w = setup();
    let server = w.serve(&[]);
    let body = message("4200000001", "m_edge_1", "hi", 1767262200000);
    assert_eq!(post_signed(&server, "facebook", &body).await.status(), 200);
    let cookie = login(&server).await;
    let origin = format!("http://{}", server.addr);
    let get = |path: &str| {
        client()
            .get(server.url(path))
            .header("cookie", &cookie)
            .send()
    };

    // Errors poem produces itself: path and query parse errors, unknown routes, 405.
    let e = assert_json_error(
        get("/api/conversations/abc/messages").await.unwrap(),
        400,
        "path param",
    )
    .await;
    assert_eq!(e["code"], "bad_request");
    assert_json_error(
        get("/api/conversations/1/messages?limit=lots")
            .await
            .unwrap(),
        400,
        "query param",
    )
    .await;
    assert_json_error(
        get("/api/attachments/99999999999999999999").await.unwrap(),
        400,
        "number out of range",
    )
    .await;
    let e = assert_json_error(get("/api/nothing-here").await.unwrap(), 404, "unknown").await;
    assert_eq!(e["code"], "not_found");
    let resp = client()
        .delete(server.url("/api/channels"))
        .header("cookie", &cookie)
        .send()
        .await
        .unwrap();
    let e = assert_json_error(resp, 405, "method").await;
    assert_eq!(e["code"], "method_not_allowed");
    let resp = client()
        .post(server.url("/api/conversations/1/status"))
        .header("cookie", &cookie)
        .header("origin", &origin)
        .header("content-type", "application/json")
        .body("{not json")
        .send()
        .await
        .unwrap();
    assert_json_error(resp, 400, "bad JSON body").await;
    let resp = client()
        .post(server.url("/api/conversations/1/status"))
        .header("cookie", &cookie)
        .header("origin", &origin)
        .body("status=resolved")
        .send()
        .await
        .unwrap();
    assert_json_error(resp, 415, "not JSON at all").await;

    // Errors of our own handlers and of the checks in front of them.
    let resp = client()
        .get(server.url("/api/channels"))
        .send()
        .await
        .unwrap();
    assert_json_error(resp, 401, "no session").await;
    assert_json_error(
        get("/api/conversations/999/messages").await.unwrap(),
        404,
        "no such conversation",
    )
    .await;
    let resp = client()
        .post(server.url("/api/conversations/1/read"))
        .header("cookie", &cookie)
        .header("origin", "https://evil.example")
        .send()
        .await
        .unwrap();
    assert_json_error(resp, 403, "cross-origin").await;
    let resp = post_with_signature(&server, "facebook", b"{}", Some("sha256=00")).await;
    assert_json_error(resp, 401, "bad signature").await;
    let resp = post_signed(&server, "nosuch", b"{}").await;
    assert_json_error(resp, 404, "unknown provider").await;

    // Outside /api/ the answers keep their own bodies but carry the headers too.
    for path in ["/", "/healthz", "/no-such-page", "/static/nope.js"] {
        let resp = client().get(server.url(path)).send().await.unwrap();
        assert_hardened(&resp, path);
    }
    let resp = client().post(server.url("/healthz")).send().await.unwrap();
    assert_eq!(resp.status(), 405);
    assert_hardened(&resp, "POST /healthz");
}

async fn set_status(
    server: &Server,
    cookie: &str,
    id: i64,
    status: &str,
    origin: &str,
    proto: Option<&str>,
) -> u16 {
    let mut req = client()
        .post(server.url(&format!("/api/conversations/{id}/status")))
        .header("cookie", cookie)
        .header("origin", origin)
        .json(&json!({ "status": status }));
    if let Some(p) = proto {
        req = req.header("x-forwarded-proto", p);
    }
    req.send().await.unwrap().status().as_u16()
}

#[tokio::test]
async fn the_origin_check_compares_scheme_host_and_port() {
    let w = setup();
    let server = w.serve(&[]);
    let body = message("4200000002", "m_edge_2", "hi", 1767262200000);
    assert_eq!(post_signed(&server, "facebook", &body).await.status(), 200);
    let cookie = login(&server).await;
    let addr = &server.addr;
    let port: u16 = addr.rsplit(':').next().unwrap().parse().unwrap();
    let other_port = if port == 1 { 2 } else { port - 1 };
    let cases = [
        (format!("http://{addr}"), None, 200),
        (format!("https://{addr}"), None, 403),
        (format!("http://127.0.0.1:{other_port}"), None, 403),
        (format!("http://localhost:{port}"), None, 403),
        // Behind the local proxy the page's own origin is https.
        (format!("https://{addr}"), Some("https"), 200),
        (format!("http://{addr}"), Some("https"), 403),
    ];
    for (origin, proto, want) in cases {
        let got = set_status(&server, &cookie, 1, "resolved", &origin, proto).await;
        assert_eq!(got, want, "Origin {origin} (X-Forwarded-Proto {proto:?})");
    }
}

#[tokio::test]
async fn with_a_public_url_foreign_host_names_are_refused() {
    let mut w = setup();
    w.set_env("HELPSTACK_PUBLIC_URL", "https://help.example.com");
    let server = w.serve(&[]);
    let port = server.addr.rsplit(':').next().unwrap().to_string();
    let get = |path: &str, host: &str| client().get(server.url(path)).header("host", host).send();
    // A DNS-rebinding page reaches us under its own name.
    for path in ["/", "/api/session", "/api/channels", "/metrics"] {
        let resp = get(path, "rebind.attacker.example").await.unwrap();
        assert_json_error(resp, 421, path).await;
        let resp = get(path, &format!("rebind.attacker.example:{port}"))
            .await
            .unwrap();
        assert_eq!(resp.status(), 421, "{path} with a port");
    }
    // The public name and loopback names are served.
    for host in [
        "help.example.com".to_string(),
        "HELP.example.com:443".to_string(),
        format!("127.0.0.1:{port}"),
        format!("127.0.0.2:{port}"),
        format!("localhost:{port}"),
        format!("[::1]:{port}"),
    ] {
        let resp = get("/", &host).await.unwrap();
        assert_eq!(resp.status(), 200, "Host {host}");
    }
    // Health checks and Meta's calls do not depend on the name used.
    assert_eq!(
        get("/healthz", "10.0.0.5").await.unwrap().status(),
        200,
        "healthz"
    );
    let body = message("4200000003", "m_edge_3", "hi", 1767262200000);
    let resp = client()
        .post(server.url("/api/webhooks/facebook"))
        .header("host", "10.0.0.5")
        .header("x-hub-signature-256", sign(APP_SECRET, &body))
        .body(body)
        .send()
        .await
        .unwrap();
    assert_eq!(resp.status(), 200, "webhook");
}

#[tokio::test]
async fn dashboard_writes_beside_webhooks_never_fail() {
    let w = setup();
    let server = w.serve(&[]);
    const CONVERSATIONS: i64 = 4;
    for i in 0..CONVERSATIONS {
        let body = message(
            &format!("43000000{i:02}"),
            &format!("m_w_{i}"),
            "hi",
            1767262200000 + i,
        );
        assert_eq!(post_signed(&server, "facebook", &body).await.status(), 200);
    }
    let cookie = login(&server).await;
    let origin = format!("http://{}", server.addr);
    let base = server.url("");
    // Another process writes beside the server, as a CLI command does.
    let stop = std::sync::Arc::new(std::sync::atomic::AtomicBool::new(false));
    let cli = {
        let (conn, stop) = (w.db(), stop.clone());
        std::thread::spawn(move || {
            let mut n = 0u64;
            while !stop.load(std::sync::atomic::Ordering::Relaxed) {
                conn.execute(
                    "INSERT OR REPLACE INTO settings (key, value) VALUES ('test.beside', ?1)",
                    [n.to_string()],
                )
                .unwrap();
                n += 1;
                std::thread::sleep(Duration::from_millis(2));
            }
            n
        })
    };
    let webhooks = {
        let base = base.clone();
        tokio::spawn(async move {
            let client = client();
            let mut failures = Vec::new();
            for n in 0..200i64 {
                let i = n % CONVERSATIONS;
                let body = message(
                    &format!("43000000{i:02}"),
                    &format!("m_w_more_{n}"),
                    "again",
                    1767262300000 + n,
                );
                let resp = client
                    .post(format!("{base}/api/webhooks/facebook"))
                    .header("x-hub-signature-256", sign(APP_SECRET, &body))
                    .body(body)
                    .send()
                    .await
                    .unwrap();
                if resp.status() != 200 {
                    failures.push(resp.status().as_u16());
                }
            }
            failures
        })
    };
    let mut agents = Vec::new();
    for agent in 0..4i64 {
        let (base, cookie, origin) = (base.clone(), cookie.clone(), origin.clone());
        agents.push(tokio::spawn(async move {
            let client = client();
            let mut statuses = Vec::new();
            for n in 0..40i64 {
                let id = (agent + n) % CONVERSATIONS + 1;
                let status = if n % 2 == 0 { "resolved" } else { "open" };
                let resp = client
                    .post(format!("{base}/api/conversations/{id}/status"))
                    .header("cookie", &cookie)
                    .header("origin", &origin)
                    .json(&json!({ "status": status }))
                    .send()
                    .await
                    .unwrap();
                statuses.push(resp.status().as_u16());
                let resp = client
                    .post(format!("{base}/api/conversations/{id}/read"))
                    .header("cookie", &cookie)
                    .header("origin", &origin)
                    .send()
                    .await
                    .unwrap();
                statuses.push(resp.status().as_u16());
            }
            statuses
        }));
    }
    for a in agents {
        let statuses = a.await.unwrap();
        assert_eq!(statuses.len(), 80);
        assert!(statuses.iter().all(|s| *s == 200), "{statuses:?}");
    }
    assert_eq!(webhooks.await.unwrap(), Vec::<u16>::new());
    stop.store(true, std::sync::atomic::Ordering::Relaxed);
    assert!(cli.join().unwrap() > 0);
    assert_eq!(journal_count(&w), CONVERSATIONS + 200);
}

/// Polls `/healthz` until it answers `want`, for at most `within`.
async fn wait_for_health(server: &Server, want: u16, within: Duration) -> Value {
    let deadline = Instant::now() + within;
    loop {
        let resp = client().get(server.url("/healthz")).send().await.unwrap();
        if resp.status() == want {
            assert_hardened(&resp, "healthz");
            let text = resp.text().await.unwrap();
            return serde_json::from_str(&text).unwrap_or(Value::String(text));
        }
        assert!(
            Instant::now() < deadline,
            "/healthz did not answer {want} within {within:?}; server log:\n{}",
            server.stderr_text()
        );
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
}

/// Collects the datagrams a server sends to a fake systemd notify socket; read all the
/// time, as systemd does (a full socket would block the sender).
fn notify_socket(w: &mut Workdir) -> std::sync::Arc<std::sync::Mutex<Vec<String>>> {
    let path = w.path().join("notify.sock");
    let sock = std::os::unix::net::UnixDatagram::bind(&path).unwrap();
    w.set_env("NOTIFY_SOCKET", path.to_str().unwrap());
    let got = std::sync::Arc::new(std::sync::Mutex::new(Vec::new()));
    let sink = got.clone();
    std::thread::spawn(move || {
        let mut buf = [0u8; 256];
        while let Ok(n) = sock.recv(&mut buf) {
            let msg = String::from_utf8_lossy(&buf[..n]).to_string();
            sink.lock().unwrap().push(msg);
        }
    });
    got
}

#[tokio::test]
async fn healthz_fails_while_the_ingest_writer_is_stuck() {
    let mut w = setup();
    let notified = notify_socket(&mut w);
    w.set_env("WATCHDOG_USEC", "1000000");
    let server = w.serve(&[]);
    wait_for_health(&server, 200, Duration::from_secs(10)).await;

    // Another process takes the database's write lock and keeps it.
    let locker = w.db();
    locker.execute_batch("BEGIN IMMEDIATE").unwrap();
    let body = message("4400000001", "m_locked_1", "are you there?", 1767262200000);
    let url = server.url("/api/webhooks/facebook");
    let webhook = tokio::spawn(async move {
        client()
            .post(url)
            .header("x-hub-signature-256", sign(APP_SECRET, &body))
            .body(body)
            .send()
            .await
            .unwrap()
            .status()
            .as_u16()
    });
    let stalled = wait_for_health(&server, 503, Duration::from_secs(30)).await;
    assert_eq!(stalled["code"], "ingest_stalled", "{stalled}");
    let deadline = Instant::now() + Duration::from_secs(10);
    while !server
        .stderr_text()
        .contains("withholding the watchdog ping")
    {
        assert!(Instant::now() < deadline, "{}", server.stderr_text());
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    // No ping is sent while the writer is stuck: the next one proves it resumed.
    let before_release = notified.lock().unwrap().len();
    locker.execute_batch("ROLLBACK").unwrap();

    wait_for_health(&server, 200, Duration::from_secs(30)).await;
    assert_eq!(webhook.await.unwrap(), 200, "the waiting webhook is stored");
    assert_eq!(journal_count(&w), 1);
    let deadline = Instant::now() + Duration::from_secs(10);
    while !notified.lock().unwrap()[before_release..]
        .iter()
        .any(|m| m == "WATCHDOG=1")
    {
        assert!(
            Instant::now() < deadline,
            "no watchdog ping after the release"
        );
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
}
