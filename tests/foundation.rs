//! Foundation: handshake, signatures, configuration chain, init, first start, schema.

mod common;

use std::os::unix::fs::PermissionsExt;

use common::*;

async fn handshake(server: &Server, provider: &str, query: &str) -> (u16, Vec<u8>) {
    let resp = client()
        .get(server.url(&format!("/api/webhooks/{provider}?{query}")))
        .send()
        .await
        .unwrap();
    (resp.status().as_u16(), resp.bytes().await.unwrap().to_vec())
}

fn q(token: &str, challenge: &str) -> String {
    format!("hub.mode=subscribe&hub.verify_token={token}&hub.challenge={challenge}")
}

#[tokio::test]
async fn handshake_echoes_challenge_only_for_the_right_token() {
    let w = Workdir::new();
    let server = w.serve(&[]);
    for provider in ["facebook", "instagram", "whatsapp"] {
        // A challenge that is not a number must come back byte for byte.
        let (status, body) = handshake(&server, provider, &q(VERIFY_TOKEN, "1158201444")).await;
        assert_eq!((status, body.as_slice()), (200, b"1158201444".as_slice()));
        let (status, body) = handshake(&server, provider, &q(VERIFY_TOKEN, "abc-XYZ_0099")).await;
        assert_eq!((status, body.as_slice()), (200, b"abc-XYZ_0099".as_slice()));
        for bad in [
            q("wrong-token", "1"),
            "hub.mode=subscribe&hub.challenge=1".to_string(),
            format!("hub.verify_token={VERIFY_TOKEN}&hub.challenge=1"),
            format!("hub.mode=unsubscribe&hub.verify_token={VERIFY_TOKEN}&hub.challenge=1"),
            q("", "1"),
        ] {
            let (status, body) = handshake(&server, provider, &bad).await;
            assert_eq!(status, 403, "{provider} {bad}");
            assert_ne!(body, b"1");
        }
    }
    let (status, _) = handshake(&server, "telegram", &q(VERIFY_TOKEN, "1")).await;
    assert_eq!(status, 404);
}

#[tokio::test]
async fn handshake_fallbacks_and_specific_tokens() {
    let mut w = Workdir::new();
    w.set_env("INSTAGRAM_VERIFY_TOKEN", "ig-only");
    let server = w.serve(&[]);
    // Instagram has its own token: it wins, the Facebook one no longer works there.
    assert_eq!(
        handshake(&server, "instagram", &q("ig-only", "7")).await.0,
        200
    );
    assert_eq!(
        handshake(&server, "instagram", &q(VERIFY_TOKEN, "7"))
            .await
            .0,
        403
    );
    // WhatsApp has none: it falls back to FACEBOOK_VERIFY_TOKEN.
    assert_eq!(
        handshake(&server, "whatsapp", &q(VERIFY_TOKEN, "7"))
            .await
            .0,
        200
    );
    assert_eq!(
        handshake(&server, "whatsapp", &q("ig-only", "7")).await.0,
        403
    );
    assert_eq!(
        handshake(&server, "facebook", &q("ig-only", "7")).await.0,
        403
    );
    drop(server);

    let mut w = Workdir::new();
    w.set_env("WHATSAPP_VERIFY_TOKEN", "wa-only");
    let server = w.serve(&[]);
    assert_eq!(
        handshake(&server, "whatsapp", &q("wa-only", "8")).await.0,
        200
    );
    assert_eq!(
        handshake(&server, "whatsapp", &q(VERIFY_TOKEN, "8"))
            .await
            .0,
        403
    );
    assert_eq!(
        handshake(&server, "instagram", &q(VERIFY_TOKEN, "8"))
            .await
            .0,
        200
    );
}

const BODY: &str =
    r#"{"object":"page","entry":[{"id":"999","time":1700000000000,"messaging":[]}]}"#;

#[tokio::test]
async fn signatures_are_checked_over_the_raw_body() {
    let w = Workdir::new();
    let server = w.serve(&[]);
    let body = BODY.as_bytes();

    let ok = post_signed(&server, "facebook", body).await;
    assert_eq!(ok.status(), 200);
    assert_eq!(journal_count(&w), 1);

    // Raw UTF-8 on the wire, signed over the escaped-unicode form (as WhatsApp does).
    let raw = "{\"object\":\"whatsapp_business_account\",\"entry\":[],\"note\":\"J'ai mangé des pâtes 🍝\"}";
    let escaped = "{\"object\":\"whatsapp_business_account\",\"entry\":[],\"note\":\"J'ai mang\\u00e9 des p\\u00e2tes \\ud83c\\udf5d\"}";
    let resp = post_with_signature(
        &server,
        "whatsapp",
        raw.as_bytes(),
        Some(&sign(APP_SECRET, escaped.as_bytes())),
    )
    .await;
    assert_eq!(resp.status(), 200);
    assert_eq!(journal_count(&w), 2);

    let good = sign(APP_SECRET, body);
    let mut one_byte = body.to_vec();
    one_byte[10] ^= 1;
    let reserialized =
        serde_json::to_vec_pretty(&serde_json::from_slice::<serde_json::Value>(body).unwrap())
            .unwrap();
    let cases: Vec<(Vec<u8>, Option<String>)> = vec![
        (one_byte, Some(good.clone())),
        (body.to_vec(), Some(sign(APP_SECRET, &reserialized))),
        (reserialized.clone(), Some(good.clone())),
        (body.to_vec(), Some(good.replace("sha256=", "SHA256="))),
        (body.to_vec(), Some(good.replace("sha256=", "sha1="))),
        (body.to_vec(), Some(String::new())),
        (body.to_vec(), None),
        (body.to_vec(), Some(sign("another-secret", body))),
    ];
    for (i, (b, sig)) in cases.iter().enumerate() {
        let resp = post_with_signature(&server, "facebook", b, sig.as_deref()).await;
        assert_eq!(resp.status(), 401, "case {i}");
        let json: serde_json::Value = resp.json().await.unwrap();
        assert_eq!(json["code"], "invalid_signature");
    }
    assert_eq!(
        journal_count(&w),
        2,
        "rejected bodies must not be journaled"
    );

    // Valid signature over something that is not JSON.
    let resp = post_signed(&server, "facebook", b"not json at all").await;
    assert_eq!(resp.status(), 400);
    // Over the configured maximum (4 MiB by default).
    // The server answers from the headers, before reading (or verifying) the body, so
    // talk raw TCP: an HTTP client would fail writing a body nobody reads.
    assert_eq!(
        status_for_declared_length(&server, 4 * 1024 * 1024 + 1),
        413
    );
    // Unknown provider path.
    let resp = post_signed(&server, "telegram", body).await;
    assert_eq!(resp.status(), 404);
    assert_eq!(journal_count(&w), 2);

    let log = server.stderr_text();
    assert!(log.contains("webhook refused"));
    assert!(
        !log.contains(APP_SECRET),
        "the app secret leaked into the log"
    );
}

#[tokio::test]
async fn no_app_secret_means_every_post_is_refused() {
    let mut w = Workdir::new();
    w.unset_env("FACEBOOK_APP_SECRET");
    let server = w.serve(&["--max-body-bytes", "2048"]);
    assert!(
        server
            .stderr_text()
            .contains("no app secret is configured: every webhook POST is refused with 401")
    );
    let resp = post_signed(&server, "facebook", BODY.as_bytes()).await;
    assert_eq!(resp.status(), 401);
    assert_eq!(journal_count(&w), 0);
    // The flag lowered the body limit.
    let resp = post_signed(&server, "facebook", &vec![b'x'; 4096]).await;
    assert_eq!(resp.status(), 413);
}

#[tokio::test]
async fn first_start_in_an_empty_directory() {
    let w = Workdir::bare();
    let server = w.serve(&[]);
    assert!(w.db_path().exists(), "database not created");
    let resp = client().get(server.url("/healthz")).send().await.unwrap();
    assert_eq!(resp.status(), 200);
    assert_eq!(resp.text().await.unwrap(), "ok");
    let out = server.stdout_text();
    // Not a terminal: the generated password goes to an owner-only file, not stdout.
    assert!(!out.contains("password:"), "{out}");
    let login_file = w.path().join("helpstack-data/initial-admin-password");
    let login = std::fs::read_to_string(&login_file).unwrap();
    let mode = std::fs::metadata(&login_file).unwrap().permissions().mode();
    assert_eq!(mode & 0o777, 0o600, "owner-only");
    assert!(login.contains("password: "), "{login}");
    // The generated verify token is printed once and works.
    let lines: Vec<&str> = out.lines().collect();
    let i = lines
        .iter()
        .position(|l| l.contains("Generated webhook verify token"))
        .unwrap();
    let token = lines[i + 1].trim();
    assert_eq!(handshake(&server, "whatsapp", &q(token, "42")).await.0, 200);
    assert!(
        server
            .stderr_text()
            .contains("no app secret is configured: every webhook POST is refused with 401")
    );
    drop(server);

    // Second start: same token, no new credentials printed.
    let server = w.serve(&[]);
    assert!(!server.stdout_text().contains("password:"));
    assert!(
        !server
            .stdout_text()
            .contains("Generated webhook verify token")
    );
    assert_eq!(handshake(&server, "facebook", &q(token, "43")).await.0, 200);
}

#[tokio::test]
async fn init_writes_a_private_config_that_serve_uses() {
    let w = Workdir::bare();
    let out = w.run(&[
        "init",
        "--non-interactive",
        "--config",
        "conf/hs.toml",
        "--data-dir",
        "d1",
        "--listen",
        "127.0.0.1:0",
        "--app-secret",
        "file-secret",
        "--verify-token",
        "file-token",
        "--admin-user",
        "boss",
        "--admin-password",
        "pw-1234567890",
    ]);
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let cfg = w.path().join("conf/hs.toml");
    let mode = std::fs::metadata(&cfg).unwrap().permissions().mode() & 0o777;
    assert_eq!(mode, 0o600);
    assert!(w.path().join("d1/helpstack.db").exists());

    // Refuses to overwrite without --force.
    let again = w.run(&["init", "--non-interactive", "--config", "conf/hs.toml"]);
    assert_eq!(again.status.code(), Some(2));
    assert!(String::from_utf8_lossy(&again.stderr).contains("--force"));

    let server = w.serve(&["--config", "conf/hs.toml"]);
    assert_eq!(
        handshake(&server, "facebook", &q("file-token", "1"))
            .await
            .0,
        200
    );
    let body = BODY.as_bytes();
    let resp =
        post_with_signature(&server, "facebook", body, Some(&sign("file-secret", body))).await;
    assert_eq!(resp.status(), 200);
    // The admin from init can log in.
    let resp = client()
        .post(server.url("/api/session"))
        .json(&serde_json::json!({"username": "boss", "password": "pw-1234567890"}))
        .send()
        .await
        .unwrap();
    assert_eq!(resp.status(), 200);
    drop(server);

    // Env overrides the file.
    let mut env_w = Workdir {
        dir: tempfile::tempdir().unwrap(),
        env: w.env.clone(),
    };
    std::fs::copy(&cfg, env_w.path().join("hs.toml")).unwrap();
    env_w.set_env("FACEBOOK_VERIFY_TOKEN", "env-token");
    env_w.set_env("HELPSTACK_DATA_DIR", "d-env");
    let server = env_w.serve(&["--config", "hs.toml"]);
    assert_eq!(
        handshake(&server, "facebook", &q("env-token", "1")).await.0,
        200
    );
    assert_eq!(
        handshake(&server, "facebook", &q("file-token", "1"))
            .await
            .0,
        403
    );
    assert!(env_w.path().join("d-env/helpstack.db").exists());
    drop(server);

    // A flag overrides the environment.
    let server = env_w.serve(&["--config", "hs.toml", "--data-dir", "d-flag"]);
    assert!(env_w.path().join("d-flag/helpstack.db").exists());
    assert_eq!(
        handshake(&server, "facebook", &q("env-token", "1")).await.0,
        200
    );
}

#[test]
fn config_errors_exit_2_and_name_the_problem() {
    let w = Workdir::bare();
    let out = w.run(&["serve", "--config", "missing.toml"]);
    assert_eq!(out.status.code(), Some(2));
    assert!(String::from_utf8_lossy(&out.stderr).contains("missing.toml"));

    std::fs::write(
        w.path().join("bad.toml"),
        "listen = \"127.0.0.1:0\"\nlisten_port = 80\n",
    )
    .unwrap();
    let out = w.run(&["serve", "--config", "bad.toml"]);
    assert_eq!(out.status.code(), Some(2));
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(
        err.contains("bad.toml") && err.contains("listen_port"),
        "{err}"
    );

    // HELPSTACK_CONFIG names a file too.
    let mut w = Workdir::bare();
    w.set_env("HELPSTACK_CONFIG", "nope.toml");
    let out = w.run(&["channel", "list"]);
    assert_eq!(out.status.code(), Some(2));
    assert!(String::from_utf8_lossy(&out.stderr).contains("nope.toml"));
}

#[test]
fn default_config_file_is_used_when_present() {
    let w = Workdir::bare();
    std::fs::write(
        w.path().join("helpstack.toml"),
        "data_dir = \"elsewhere\"\n",
    )
    .unwrap();
    let out = w.run(&["channel", "list"]);
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert!(w.path().join("elsewhere/helpstack.db").exists());
}

#[test]
fn a_database_from_a_newer_version_is_refused() {
    let w = Workdir::new();
    std::fs::create_dir_all(w.db_path().parent().unwrap()).unwrap();
    let conn = rusqlite::Connection::open(w.db_path()).unwrap();
    conn.pragma_update(None, "user_version", 999).unwrap();
    drop(conn);
    let out = Server::expect_failure(&w, &[]);
    assert!(!out.status.success());
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(err.contains("newer than this binary"), "{err}");
}

#[tokio::test]
async fn sigterm_stops_the_server_cleanly() {
    let w = Workdir::new();
    let mut server = w.serve(&[]);
    let resp = post_signed(&server, "facebook", BODY.as_bytes()).await;
    assert_eq!(resp.status(), 200);
    let status = server.terminate();
    assert!(status.success(), "{status}");
    assert!(server.stderr_text().contains("stopped"));
    assert_eq!(journal_count(&w), 1);
}

#[test]
fn help_and_version() {
    let w = Workdir::bare();
    let out = w.run(&["--version"]);
    assert!(String::from_utf8_lossy(&out.stdout).starts_with("helpstack "));
    for args in [
        &["--help"][..],
        &["serve", "--help"],
        &["init", "--help"],
        &["channel", "add", "--help"],
    ] {
        let out = w.run(args);
        assert!(out.status.success());
        assert!(String::from_utf8_lossy(&out.stdout).contains("Usage:"));
    }
}

/// Sends only the headers of a POST declaring `len` bytes and returns the status code.
fn status_for_declared_length(server: &Server, len: usize) -> u16 {
    use std::io::{Read, Write};
    let mut s = std::net::TcpStream::connect(&server.addr).unwrap();
    write!(
        s,
        "POST /api/webhooks/facebook HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\n\
         X-Hub-Signature-256: sha256={}\r\nContent-Length: {len}\r\n\r\n{{",
        "0".repeat(64)
    )
    .unwrap();
    let mut buf = [0u8; 64];
    let n = s.read(&mut buf).unwrap();
    let head = String::from_utf8_lossy(&buf[..n]);
    head.split_whitespace().nth(1).unwrap().parse().unwrap()
}

#[test]
fn init_replaces_a_sample_config_without_secrets_and_keeps_its_values() {
    let w = Workdir::bare();
    std::fs::write(
        w.path().join("sample.toml"),
        "# shipped sample\nlisten = \"127.0.0.1:18123\"\ndata_dir = \"kept-data\"\n",
    )
    .unwrap();
    let out = w.run(&[
        "init",
        "--non-interactive",
        "--config",
        "sample.toml",
        "--app-secret",
        "s",
    ]);
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let text = std::fs::read_to_string(w.path().join("sample.toml")).unwrap();
    assert!(text.contains("listen = \"127.0.0.1:18123\""), "{text}");
    assert!(w.path().join("kept-data/helpstack.db").exists());
    // Now it holds secrets: replacing it needs --force.
    let again = w.run(&["init", "--non-interactive", "--config", "sample.toml"]);
    assert_eq!(again.status.code(), Some(2));
}
