//! Operating the server: /metrics, systemd notifications, configuration reload without a
//! restart, structured logs.

mod common;

use std::time::{Duration, Instant};

use common::*;

const BODY: &[u8] = br#"{"object":"page","entry":[{"id":"1111111111","time":1767262200000,"messaging":[{"sender":{"id":"2222222222"},"recipient":{"id":"1111111111"},"timestamp":1767262200000,"message":{"mid":"m_ops_1","text":"hi"}}]}]}"#;

async fn metric(server: &Server, line_start: &str) -> f64 {
    let text = client()
        .get(server.url("/metrics"))
        .send()
        .await
        .unwrap()
        .text()
        .await
        .unwrap();
    text.lines()
        .find(|l| l.starts_with(line_start))
        .unwrap_or_else(|| panic!("no {line_start} in\n{text}"))
        .rsplit(' ')
        .next()
        .unwrap()
        .parse()
        .unwrap()
}

#[tokio::test]
async fn metrics_parse_as_prometheus_text_and_counters_move() {
    let w = Workdir::new();
    w.add_channel("facebook", "--page-id", "1111111111");
    let server = w.serve(&[]);
    let resp = client().get(server.url("/metrics")).send().await.unwrap();
    assert_eq!(resp.status(), 200);
    assert!(
        resp.headers()["content-type"]
            .to_str()
            .unwrap()
            .starts_with("text/plain")
    );
    let text = resp.text().await.unwrap();
    // Every sample line is `name{labels} number`, every family has HELP and TYPE.
    for line in text.lines().filter(|l| !l.starts_with('#')) {
        let (name, value) = line.rsplit_once(' ').unwrap();
        assert!(value.parse::<f64>().is_ok(), "{line}");
        let bare = name.split('{').next().unwrap();
        assert!(
            bare.chars().all(|c| c.is_ascii_alphanumeric() || c == '_'),
            "{line}"
        );
        let family = bare
            .trim_end_matches("_bucket")
            .trim_end_matches("_sum")
            .trim_end_matches("_count");
        assert!(
            text.contains(&format!("# TYPE {family} ")),
            "no TYPE for {line}"
        );
    }

    let processed = "helpstack_webhooks_total{provider=\"facebook\",outcome=\"processed\"}";
    let sigfail = "helpstack_signature_failures_total{provider=\"facebook\"}";
    assert_eq!(metric(&server, processed).await, 0.0);
    assert_eq!(post_signed(&server, "facebook", BODY).await.status(), 200);
    assert_eq!(
        post_with_signature(&server, "facebook", BODY, Some("sha256=00"))
            .await
            .status(),
        401
    );
    assert_eq!(metric(&server, processed).await, 1.0);
    assert_eq!(metric(&server, sigfail).await, 1.0);
    assert_eq!(
        metric(&server, "helpstack_ingest_latency_seconds_count").await,
        1.0
    );
    // One transaction of one webhook: the refused signature never reaches the writer.
    assert_eq!(
        metric(&server, "helpstack_ingest_transactions_total").await,
        1.0
    );
    assert_eq!(
        metric(&server, "helpstack_ingest_transaction_webhooks_total").await,
        1.0
    );
    assert!(metric(&server, "helpstack_ingest_transaction_seconds_total").await > 0.0);
    assert!(
        text.contains("helpstack_jobs{kind=\"fetch_profile\"")
            || metric(
                &server,
                "helpstack_jobs{kind=\"fetch_profile\",state=\"queued\"}"
            )
            .await
                == 1.0
    );

    // Through a reverse proxy (X-Forwarded-For) the unauthenticated endpoint is closed.
    let resp = client()
        .get(server.url("/metrics"))
        .header("x-forwarded-for", "203.0.113.7")
        .send()
        .await
        .unwrap();
    assert_eq!(resp.status(), 403);
}

/// Store calls wait for a pooled connection without holding a thread, and the blocking
/// pool is capped: 64 concurrent requests once grew it to 80+ threads, each with its
/// own allocator heap in the static build.
#[tokio::test]
async fn concurrent_requests_keep_the_thread_count_bounded() {
    let w = Workdir::new();
    let server = w.serve(&[]);
    let mut tasks = Vec::new();
    for _ in 0..64 {
        let url = server.url("/healthz");
        tasks.push(tokio::spawn(async move {
            let client = client();
            for _ in 0..200 {
                let resp = client.get(&url).send().await.unwrap();
                assert_eq!(resp.status(), 200);
            }
        }));
    }
    for t in tasks {
        t.await.unwrap();
    }
    let threads = std::fs::read_dir(format!("/proc/{}/task", server.child.id()))
        .unwrap()
        .count();
    let cores = std::thread::available_parallelism().map_or(2, |n| n.get());
    // Tokio's workers, at most 16 blocking threads, and the server's own few.
    let bound = cores + 16 + 10;
    assert!(
        threads <= bound,
        "{threads} threads after 64 concurrent clients (bound {bound})"
    );
}

#[tokio::test]
async fn a_metrics_token_is_required_when_configured() {
    let mut w = Workdir::new();
    w.set_env("HELPSTACK_METRICS_TOKEN", "scrape-me");
    let server = w.serve(&[]);
    let resp = client().get(server.url("/metrics")).send().await.unwrap();
    assert_eq!(resp.status(), 401);
    let resp = client()
        .get(server.url("/metrics"))
        .bearer_auth("wrong")
        .send()
        .await
        .unwrap();
    assert_eq!(resp.status(), 401);
    let resp = client()
        .get(server.url("/metrics"))
        .bearer_auth("scrape-me")
        .send()
        .await
        .unwrap();
    assert_eq!(resp.status(), 200);
}

#[test]
fn systemd_is_told_ready_and_watchdog_pings_while_the_database_answers() {
    let mut w = Workdir::new();
    let sock_path = w.path().join("notify.sock");
    let sock = std::os::unix::net::UnixDatagram::bind(&sock_path).unwrap();
    sock.set_read_timeout(Some(Duration::from_secs(10)))
        .unwrap();
    w.set_env("NOTIFY_SOCKET", sock_path.to_str().unwrap());
    w.set_env("WATCHDOG_USEC", "400000");
    let mut server = w.serve(&[]);
    let mut got = Vec::new();
    let deadline = Instant::now() + Duration::from_secs(10);
    while Instant::now() < deadline
        && !(got.contains(&"READY=1".to_string()) && got.contains(&"WATCHDOG=1".to_string()))
    {
        let mut buf = [0u8; 64];
        if let Ok(n) = sock.recv(&mut buf) {
            got.push(String::from_utf8_lossy(&buf[..n]).into_owned());
        }
    }
    assert_eq!(got.first().map(String::as_str), Some("READY=1"), "{got:?}");
    assert!(got.iter().any(|m| m == "WATCHDOG=1"), "{got:?}");
    let status = server.terminate();
    assert!(status.success(), "{status}: {}", server.stderr_text());
    let mut buf = [0u8; 64];
    let mut stopping = false;
    while let Ok(n) = sock.recv(&mut buf) {
        if &buf[..n] == b"STOPPING=1" {
            stopping = true;
            break;
        }
    }
    assert!(stopping, "STOPPING=1 not sent");
}

async fn wait_for_status(server: &Server, secret: &str, want: u16) {
    let deadline = Instant::now() + Duration::from_secs(8);
    loop {
        let status = post_with_signature(server, "facebook", BODY, Some(&sign(secret, BODY)))
            .await
            .status()
            .as_u16();
        if status == want {
            return;
        }
        assert!(
            Instant::now() < deadline,
            "secret {secret}: still {status}, wanted {want}"
        );
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
}

#[tokio::test]
async fn config_changes_apply_without_a_restart() {
    let mut w = Workdir::bare();
    w.set_env("HELPSTACK_JOB_WORKERS", "0");
    let cfg = w.path().join("c.toml");
    std::fs::write(
        &cfg,
        "app_secret = \"first-secret\"\nverify_token = \"tok-1\"\n",
    )
    .unwrap();
    let mut server = w.serve(&["--config", "c.toml"]);
    wait_for_status(&server, "first-secret", 200).await;

    // Edited file: picked up by polling.
    std::fs::write(
        &cfg,
        "app_secret = \"second-secret\"\nverify_token = \"tok-2\"\n",
    )
    .unwrap();
    wait_for_status(&server, "second-secret", 200).await;
    wait_for_status(&server, "first-secret", 401).await;
    let q = |t: &str| {
        format!("/api/webhooks/facebook?hub.mode=subscribe&hub.verify_token={t}&hub.challenge=9")
    };
    let resp = client().get(server.url(&q("tok-2"))).send().await.unwrap();
    assert_eq!(resp.status(), 200);

    // SIGHUP (systemctl reload) re-reads at once too.
    std::fs::write(&cfg, "app_secret = \"third-secret\"\n").unwrap();
    let _ = std::process::Command::new("kill")
        .args(["-HUP", &server.child.id().to_string()])
        .status();
    wait_for_status(&server, "third-secret", 200).await;

    // A broken edit keeps the last good configuration.
    std::fs::write(&cfg, "app_secret = \"x\"\nnot_a_key = 1\n").unwrap();
    tokio::time::sleep(Duration::from_secs(3)).await;
    wait_for_status(&server, "third-secret", 200).await;
    assert!(server.stderr_text().contains("configuration not reloaded"));
    assert!(server.terminate().success());
}

#[tokio::test]
async fn logs_are_json_lines_off_a_terminal_and_carry_no_secrets() {
    let w = Workdir::new();
    let server = w.serve(&[]);
    assert_eq!(
        post_with_signature(&server, "facebook", BODY, Some("sha256=00"))
            .await
            .status(),
        401
    );
    tokio::time::sleep(Duration::from_millis(200)).await;
    let log = server.stderr_text();
    let mut parsed = 0;
    for line in log.lines().filter(|l| !l.trim().is_empty()) {
        let v: serde_json::Value =
            serde_json::from_str(line).unwrap_or_else(|e| panic!("{e}: {line}"));
        assert!(v["level"].is_string() && v["fields"].is_object(), "{line}");
        parsed += 1;
    }
    assert!(parsed >= 3);
    assert!(log.contains("webhook refused"));
    assert!(!log.contains(APP_SECRET) && !log.contains(VERIFY_TOKEN));
}

#[test]
fn root_run_commands_leave_database_files_to_the_service_account() {
    use std::os::unix::fs::MetadataExt;
    if std::fs::metadata("/proc/self")
        .map(|m| m.uid())
        .unwrap_or(1)
        != 0
    {
        eprintln!("not root: ownership hand-over only applies to root; skipped");
        return;
    }
    let w = Workdir::new();
    let data = w.path().join("helpstack-data");
    std::fs::create_dir_all(&data).unwrap();
    // 65534 = nobody: stands in for the packaged `helpstack` user.
    std::os::unix::fs::chown(&data, Some(65534), Some(65534)).unwrap();
    let out = w.run(&[
        "channel",
        "add",
        "facebook",
        "--page-id",
        "123",
        "--access-token",
        "t",
    ]);
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let db = std::fs::metadata(data.join("helpstack.db")).unwrap();
    assert_eq!((db.uid(), db.gid()), (65534, 65534));
    assert!(String::from_utf8_lossy(&out.stderr).contains("running as root"));
}

#[tokio::test]
async fn serve_prunes_old_processed_journal_rows_and_done_jobs_but_keeps_unmatched_and_failed() {
    let mut w = Workdir::new();
    w.set_env("HELPSTACK_JOURNAL_RETENTION_DAYS", "1");
    // Create the database, then age two rows by hand.
    let out = w.run(&["channel", "list"]);
    assert!(out.status.success());
    let old = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap()
        .as_millis() as i64
        - 2 * 24 * 3600 * 1000;
    let db = w.db();
    for outcome in ["processed", "unmatched"] {
        db.execute(
            "INSERT INTO webhook_journal (provider, received_at, body, outcome) VALUES ('facebook', ?1, x'7b7d', ?2)",
            rusqlite::params![old, outcome],
        )
        .unwrap();
    }
    // Finished jobs go with the same retention; failed ones stay for `doctor`.
    for (subject, state) in [(1, "done"), (2, "failed"), (3, "done")] {
        let at = if subject == 3 {
            old + 2 * 24 * 3600 * 1000
        } else {
            old
        };
        db.execute(
            "INSERT INTO jobs (kind, subject_id, state, run_at, created_at, updated_at)
             VALUES ('fetch_profile', ?1, ?2, ?3, ?3, ?3)",
            rusqlite::params![subject, state, at],
        )
        .unwrap();
    }
    drop(db);
    let server = w.serve(&[]);
    assert_eq!(post_signed(&server, "facebook", BODY).await.status(), 200);
    let deadline = Instant::now() + Duration::from_secs(10);
    loop {
        let outcomes: Vec<String> = w
            .db()
            .prepare("SELECT outcome FROM webhook_journal ORDER BY id")
            .unwrap()
            .query_map([], |r| r.get(0))
            .unwrap()
            .map(Result::unwrap)
            .collect();
        let jobs: Vec<(i64, String)> = w
            .db()
            .prepare("SELECT subject_id, state FROM jobs ORDER BY subject_id")
            .unwrap()
            .query_map([], |r| Ok((r.get(0)?, r.get(1)?)))
            .unwrap()
            .map(Result::unwrap)
            .collect();
        let jobs_pruned = jobs == [(2, "failed".to_string()), (3, "done".to_string())];
        // the fresh body names page 1111111111, which has no channel here
        if outcomes == ["unmatched", "unmatched"] && jobs_pruned {
            break;
        }
        assert!(Instant::now() < deadline, "{outcomes:?} {jobs:?}");
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
}

/// Under systemd stdout is the journal (`JOURNAL_STREAM` names it): every line the server
/// writes there is JSON, so the plain "listening on" line for a terminal is left out.
#[test]
fn the_journal_gets_only_json_lines() {
    use std::os::unix::fs::MetadataExt;
    use std::process::{Command, Stdio};
    let w = Workdir::new();
    // An admin and a verify token exist, as after `helpstack init`: no one-time banner.
    create_admin(&w);
    let log = w.path().join("journal.log");
    let file = std::fs::File::create(&log).unwrap();
    let meta = file.metadata().unwrap();
    let mut child = Command::new(bin())
        .args(["serve", "--listen", "127.0.0.1:0"])
        .current_dir(w.path())
        .env_clear()
        .envs(w.env.iter().map(|(k, v)| (k, v)))
        .env("JOURNAL_STREAM", format!("{}:{}", meta.dev(), meta.ino()))
        .stdin(Stdio::null())
        .stdout(file.try_clone().unwrap())
        .stderr(file)
        .spawn()
        .unwrap();
    // The plain line used to be printed just before this event.
    let deadline = Instant::now() + Duration::from_secs(30);
    let mut text = String::new();
    while Instant::now() < deadline {
        text = std::fs::read_to_string(&log).unwrap();
        if text.contains(r#""message":"listening""#) {
            break;
        }
        std::thread::sleep(Duration::from_millis(50));
    }
    let _ = child.kill();
    let _ = child.wait();
    assert!(text.contains(r#""message":"listening""#), "{text}");
    for line in text.lines() {
        serde_json::from_str::<serde_json::Value>(line)
            .unwrap_or_else(|e| panic!("not JSON ({e}): {line}\n{text}"));
    }
}
