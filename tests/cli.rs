//! Admin commands, black-box: channel management, rotations on a running server,
//! doctor, sign/simulate, replay, backup under load and journal pruning. Graph is the
//! local fake (`common::fake_graph`).

mod common;

use std::os::unix::fs::PermissionsExt;
use std::path::Path;
use std::process::{Command, Output, Stdio};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use common::fake_graph::{FakeGraph, Resp};
use common::*;
use serde_json::{Value, json};

const PAGE: &str = "1111111111";
const PSID: &str = "2222222222";
const PHONE_ID: &str = "106540352242922";
const TOKEN: &str = "test-page-token";

// ---------------------------------------------------------------------------------
// Helpers

/// Runs a CLI command with logging at its default level, so stderr holds only what
/// the command itself printed.
fn cli(w: &Workdir, args: &[&str]) -> Output {
    cli_with_stdin(w, args, None)
}

fn cli_with_stdin(w: &Workdir, args: &[&str], stdin: Option<&[u8]>) -> Output {
    use std::io::Write;
    let mut child = Command::new(bin())
        .args(args)
        .current_dir(w.path())
        .env_clear()
        .envs(w.env.iter().filter(|(k, _)| k != "RUST_LOG").cloned())
        .stdin(if stdin.is_some() {
            Stdio::piped()
        } else {
            Stdio::null()
        })
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    if let Some(input) = stdin {
        child.stdin.take().unwrap().write_all(input).unwrap();
    }
    child.wait_with_output().unwrap()
}

fn stdout(o: &Output) -> String {
    String::from_utf8_lossy(&o.stdout).into_owned()
}

fn stderr(o: &Output) -> String {
    String::from_utf8_lossy(&o.stderr).into_owned()
}

/// Asserts success and returns stdout.
#[track_caller]
fn ok(o: &Output) -> String {
    assert!(
        o.status.success(),
        "exit {:?}\nstdout:\n{}\nstderr:\n{}",
        o.status.code(),
        stdout(o),
        stderr(o)
    );
    stdout(o)
}

/// Asserts exit `code` with exactly one line `error: ...` containing `needle`.
#[track_caller]
fn fails(o: &Output, code: i32, needle: &str) {
    let err = stderr(o);
    assert_eq!(
        o.status.code(),
        Some(code),
        "stdout:\n{}\nstderr:\n{err}",
        stdout(o)
    );
    // A command that had to create the database says so first (on stderr): that
    // notice aside, the error is one line.
    let lines: Vec<&str> = err
        .lines()
        .filter(|l| !l.trim().is_empty() && !l.starts_with("created database "))
        .collect();
    assert_eq!(lines.len(), 1, "not one line:\n{err}");
    assert!(lines[0].starts_with("error: "), "{err}");
    assert!(lines[0].contains(needle), "{needle:?} not in {err}");
}

/// Asserts a clap usage error (exit 2, first line `error: ...`).
#[track_caller]
fn usage(o: &Output, needle: &str) {
    let err = stderr(o);
    assert_eq!(o.status.code(), Some(2), "{err}");
    assert!(err.starts_with("error: "), "{err}");
    assert!(err.contains(needle), "{needle:?} not in {err}");
    assert!(!err.contains("panicked"), "{err}");
}

fn count(db: &rusqlite::Connection, sql: &str) -> i64 {
    db.query_row(sql, [], |r| r.get(0)).unwrap()
}

fn open(path: &Path) -> rusqlite::Connection {
    let c = rusqlite::Connection::open(path).unwrap();
    c.busy_timeout(Duration::from_secs(5)).unwrap();
    c
}

fn fb_text(page: &str, mid: &str, text: &str) -> Vec<u8> {
    serde_json::to_vec(&json!({
        "object": "page",
        "entry": [{
            "id": page, "time": 1767262200000i64,
            "messaging": [{
                "sender": {"id": PSID}, "recipient": {"id": page},
                "timestamp": 1767262200000i64,
                "message": {"mid": mid, "text": text}
            }]
        }]
    }))
    .unwrap()
}

/// Writes a config file (mode 0600) with a data dir next to it.
fn write_config(w: &Workdir, name: &str, extra: &str) -> std::path::PathBuf {
    let path = w.path().join(name);
    std::fs::write(
        &path,
        format!(
            "# test config\nlisten = \"127.0.0.1:0\"\ndata_dir = \"data\"\n# the secret\n{extra}"
        ),
    )
    .unwrap();
    std::fs::set_permissions(&path, std::fs::Permissions::from_mode(0o600)).unwrap();
    path
}

async fn post_as(server: &Server, secret: &str, body: &[u8]) -> u16 {
    post_with_signature(server, "facebook", body, Some(&sign(secret, body)))
        .await
        .status()
        .as_u16()
}

/// Polls until `f` returns true or `limit` passes.
async fn eventually<F, Fut>(limit: Duration, mut f: F) -> bool
where
    F: FnMut() -> Fut,
    Fut: std::future::Future<Output = bool>,
{
    let deadline = Instant::now() + limit;
    loop {
        if f().await {
            return true;
        }
        if Instant::now() > deadline {
            return false;
        }
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
}

async fn handshake(server: &Server, provider: &str, token: &str) -> u16 {
    client()
        .get(server.url(&format!(
            "/api/webhooks/{provider}?hub.mode=subscribe&hub.verify_token={token}&hub.challenge=77"
        )))
        .send()
        .await
        .unwrap()
        .status()
        .as_u16()
}

fn doctor_json(o: &Output) -> Value {
    serde_json::from_slice(&o.stdout)
        .unwrap_or_else(|e| panic!("doctor --json is not JSON ({e}):\n{}", stdout(o)))
}

fn check<'a>(report: &'a Value, name: &str) -> &'a Value {
    report["checks"]
        .as_array()
        .unwrap()
        .iter()
        .find(|c| c["name"] == name)
        .unwrap_or_else(|| panic!("no check {name:?} in {report:#}"))
}

fn is_root() -> bool {
    Command::new("id")
        .arg("-u")
        .output()
        .map(|o| String::from_utf8_lossy(&o.stdout).trim() == "0")
        .unwrap_or(false)
}

// ---------------------------------------------------------------------------------
// channel

#[test]
fn channel_list_show_remove_and_bad_input() {
    let w = Workdir::new();
    ok(&cli(
        &w,
        &[
            "channel",
            "add",
            "facebook",
            "--page-id",
            PAGE,
            "--access-token",
            TOKEN,
            "--name",
            "Shop",
        ],
    ));
    // Existing validation stays.
    usage(
        &cli(
            &w,
            &[
                "channel",
                "add",
                "facebook",
                "--page-id",
                "12ab",
                "--access-token",
                "t",
            ],
        ),
        "numeric",
    );
    usage(
        &cli(
            &w,
            &[
                "channel",
                "add",
                "facebook",
                "--page-id",
                PAGE,
                "--access-token",
                "t",
            ],
        ),
        "already exists",
    );
    usage(
        &cli(
            &w,
            &[
                "channel",
                "add",
                "whatsapp",
                "--page-id",
                "1",
                "--access-token",
                "t",
            ],
        ),
        "--page-id",
    );

    let list = ok(&cli(&w, &["channel", "list"]));
    assert!(list.contains(PAGE) && list.contains("Shop"), "{list}");
    let show = ok(&cli(&w, &["channel", "show", "1"]));
    assert!(
        show.contains("page id") && show.contains(PAGE) && show.contains("unknown"),
        "{show}"
    );
    assert!(
        !show.contains(TOKEN),
        "the token must not be printed: {show}"
    );
    let json: Value =
        serde_json::from_str(&ok(&cli(&w, &["channel", "show", "1", "--json"]))).unwrap();
    assert_eq!(json["external_id"], PAGE);
    assert_eq!(json["conversations"], 0);

    fails(
        &cli(&w, &["channel", "show", "99"]),
        1,
        "no channel with id 99",
    );
    usage(&cli(&w, &["channel", "show", "abc"]), "abc");
    usage(
        &cli(&w, &["channel", "remove", "1", "--value", "x"]),
        "--value",
    );
    fails(
        &cli(&w, &["channel", "set-token", "1", "--value", " "]),
        2,
        "must not be empty",
    );
    fails(
        &cli(&w, &["channel", "remove", "99", "--yes"]),
        1,
        "no channel with id 99",
    );
    // No terminal and no --yes: refused.
    fails(&cli(&w, &["channel", "remove", "1"]), 2, "--yes");
    let out = ok(&cli(&w, &["channel", "remove", "1", "--yes"]));
    assert!(out.contains("removed channel 1"), "{out}");
    assert!(ok(&cli(&w, &["channel", "list"])).contains("no channels"));
}

#[tokio::test]
async fn removing_a_channel_with_conversations_needs_purge() {
    let w = Workdir::new();
    w.add_channel("facebook", "--page-id", PAGE);
    let server = w.serve(&[]);
    assert_eq!(
        post_signed(&server, "facebook", &fb_text(PAGE, "m_rm_1", "hi"))
            .await
            .status(),
        200
    );
    drop(server);
    fails(&cli(&w, &["channel", "remove", "1", "--yes"]), 2, "--purge");
    assert_eq!(count(&w.db(), "SELECT COUNT(*) FROM messages"), 1);
    let out = ok(&cli(&w, &["channel", "remove", "1", "--yes", "--purge"]));
    assert!(out.contains("1 conversation"), "{out}");
    let db = w.db();
    assert_eq!(count(&db, "SELECT COUNT(*) FROM messages"), 0);
    assert_eq!(count(&db, "SELECT COUNT(*) FROM conversations"), 0);
    assert_eq!(
        count(&db, "SELECT COUNT(*) FROM webhook_journal"),
        1,
        "the journal stays"
    );
    drop(db);
    // Re-adding the channel and replaying brings the conversation back.
    w.add_channel("facebook", "--page-id", PAGE);
    ok(&cli(&w, &["replay", "--outcome", "processed"]));
    assert_eq!(count(&w.db(), "SELECT COUNT(*) FROM messages"), 1);
}

#[test]
fn set_token_clears_the_flag_and_requeues_token_failures() {
    let w = Workdir::new();
    w.add_channel("facebook", "--page-id", PAGE);
    w.add_channel("facebook", "--page-id", "5555555555");
    let db = w.db();
    db.execute_batch(
        "UPDATE channels SET token_status = 'token_invalid', token_error = 'expired' WHERE id = 1;
         INSERT INTO contacts (id, channel_id, external_id, created_at, updated_at) VALUES (1, 1, 'a', 0, 0);
         INSERT INTO contacts (id, channel_id, external_id, created_at, updated_at) VALUES (2, 1, 'b', 0, 0);
         INSERT INTO contacts (id, channel_id, external_id, created_at, updated_at) VALUES (3, 2, 'c', 0, 0);
         INSERT INTO jobs (id, kind, subject_id, state, attempts, run_at, last_error, created_at, updated_at, failure_reason) VALUES
           (1, 'fetch_profile', 1, 'failed', 1, 0, 'access token rejected (code 190): Session has expired', 0, 0, 'token_invalid'),
           (2, 'fetch_profile', 2, 'failed', 8, 0, 'gave up after 8 attempts: temporary failure: HTTP 500', 0, 0, 'retries_exhausted'),
           (3, 'fetch_profile', 3, 'failed', 1, 0, 'access token rejected (code 190): other channel', 0, 0, 'token_invalid');",
    )
    .unwrap();
    drop(db);
    let out = ok(&cli(
        &w,
        &["channel", "set-token", "1", "--value", "fresh-token"],
    ));
    assert!(out.contains("re-queued 1 job"), "{out}");
    let db = w.db();
    let (status, err, creds): (String, Option<String>, String) = db
        .query_row(
            "SELECT token_status, token_error, credentials FROM channels WHERE id = 1",
            [],
            |r| Ok((r.get(0)?, r.get(1)?, r.get(2)?)),
        )
        .unwrap();
    assert_eq!((status.as_str(), err), ("unknown", None));
    let creds: Value = serde_json::from_str(&creds).unwrap();
    // Sealed at rest (issue 17): never the plaintext in the database.
    let stored = creds["accessToken"].as_str().unwrap();
    assert!(
        stored.starts_with("enc1:") && !stored.contains("fresh-token"),
        "{stored}"
    );
    assert_eq!(creds["pageId"], PAGE, "other credentials are kept");
    let states: Vec<(String, i64)> = db
        .prepare("SELECT state, attempts FROM jobs ORDER BY id")
        .unwrap()
        .query_map([], |r| Ok((r.get(0)?, r.get(1)?)))
        .unwrap()
        .map(Result::unwrap)
        .collect();
    assert_eq!(
        states,
        vec![
            ("queued".into(), 0),
            ("failed".into(), 8),
            ("failed".into(), 1)
        ],
        "only this channel's token failures are re-queued"
    );
    drop(db);
    // rotate channel-token is the same operation.
    let out = ok(&cli(&w, &["rotate", "channel-token", "2", "--value", "t2"]));
    assert!(out.contains("re-queued 1 job"), "{out}");
    fails(
        &cli(&w, &["rotate", "channel-token", "7", "--value", "t"]),
        1,
        "no channel with id 7",
    );
}

#[test]
fn channel_test_and_resubscribe_against_fake_graph() {
    let fake = FakeGraph::start();
    let mut w = Workdir::new();
    w.set_env("HELPSTACK_GRAPH_API_URL", &fake.graph_base());
    w.add_channel("facebook", "--page-id", PAGE);
    w.add_channel("whatsapp", "--phone-number-id", PHONE_ID);
    fake.respond_with(
        &FakeGraph::graph_path("me"),
        Resp::json(200, &json!({"id": PAGE, "name": "Shop page"})),
    );
    fake.respond_with(
        &FakeGraph::graph_path(PHONE_ID),
        Resp::graph_error(
            400,
            190,
            "Error validating access token: Session has expired",
        ),
    );
    let out = ok(&cli(&w, &["channel", "test", "1"]));
    assert!(out.contains("ok") && out.contains("Shop page"), "{out}");
    let req = &fake.requests_to(&FakeGraph::graph_path("me"))[0];
    assert_eq!(
        req.header("authorization"),
        Some(format!("Bearer {TOKEN}").as_str())
    );
    assert_eq!(
        count(
            &w.db(),
            "SELECT COUNT(*) FROM channels WHERE id = 1 AND token_status = 'ok'"
        ),
        1
    );

    fails(
        &cli(&w, &["channel", "test", "2"]),
        1,
        "access token rejected (code 190)",
    );
    assert_eq!(
        count(
            &w.db(),
            "SELECT COUNT(*) FROM channels WHERE id = 2 AND token_status = 'token_invalid'"
        ),
        1
    );
    fails(
        &cli(&w, &["channel", "test", "42"]),
        1,
        "no channel with id 42",
    );

    let sub = format!("/v25.0/{PAGE}/subscribed_apps");
    fake.respond_with(&sub, Resp::json(200, &json!({"success": true})));
    let out = ok(&cli(&w, &["channel", "resubscribe", "1"]));
    assert!(out.contains("subscribed"), "{out}");
    let req = &fake.requests_to(&sub)[0];
    assert_eq!(req.method, "POST");
    let q = req.query.clone().unwrap_or_default();
    assert!(
        q.contains("subscribed_fields=messages%2Cmessage_echoes%2Cmessage_deliveries%2Cmessage_reads%2Cmessage_reactions%2Cmessage_edits%2Cmessaging_postbacks%2Cmessaging_referrals"),
        "{q}"
    );
    fails(&cli(&w, &["channel", "resubscribe", "2"]), 2, "whatsapp");
    // A Graph failure is a one-line error, exit 1.
    fake.respond_with(&sub, Resp::graph_error(400, 200, "Permissions error"));
    fails(
        &cli(&w, &["channel", "resubscribe", "1"]),
        1,
        "Permissions error",
    );
}

#[test]
fn a_missing_named_config_file_is_exit_2_for_every_command() {
    let w = Workdir::bare();
    for args in [
        &["channel", "list"][..],
        &["channel", "show", "1"],
        &["rotate", "verify-token"],
        &["rotate", "app-secret", "--value", "x"],
        &["doctor"],
        &["sign", "--secret", "s"],
        &["replay"],
        &["backup", "out"],
        &["journal", "prune", "--older-than", "30d"],
        &["simulate", "facebook", "--to", "http://127.0.0.1:9"],
    ] {
        let mut full = vec!["--config", "missing.toml"];
        full.extend_from_slice(args);
        fails(&cli(&w, &full), 2, "missing.toml");
    }
}

#[test]
fn wrong_flag_combinations_are_usage_errors() {
    let w = Workdir::new();
    usage(&cli(&w, &["rotate", "app-secret"]), "--value");
    usage(
        &cli(
            &w,
            &["rotate", "app-secret", "--value", "x", "--grace", "5x"],
        ),
        "unit",
    );
    usage(
        &cli(
            &w,
            &["rotate", "app-secret", "--value", "x", "--grace", "24"],
        ),
        "unit",
    );
    usage(
        &cli(&w, &["rotate", "verify-token", "--provider", "telegram"]),
        "telegram",
    );
    usage(&cli(&w, &["journal", "prune"]), "--older-than");
    fails(
        &cli(&w, &["journal", "prune", "--older-than", "10m"]),
        2,
        "at least 1h",
    );
    usage(&cli(&w, &["replay", "--since", "yesterday"]), "yesterday");
    usage(&cli(&w, &["replay", "--outcome", "lost"]), "lost");
    fails(
        &cli(
            &w,
            &[
                "simulate",
                "whatsapp",
                "--page-id",
                "1",
                "--to",
                "http://127.0.0.1:9",
            ],
        ),
        2,
        "--page-id does not apply",
    );
    fails(
        &cli(
            &w,
            &[
                "simulate",
                "facebook",
                "--page-id",
                "1",
                "--to",
                "not a url",
            ],
        ),
        2,
        "not a URL",
    );
    fails(
        &cli(&w, &["simulate", "instagram", "--to", "http://127.0.0.1:9"]),
        2,
        "no instagram channel",
    );
}

// ---------------------------------------------------------------------------------
// rotate

#[tokio::test]
async fn rotate_app_secret_keeps_the_old_one_for_the_grace_period() {
    let w = Workdir::bare();
    let cfg = write_config(
        &w,
        "c.toml",
        "app_secret = \"old-secret\"\nverify_token = \"vt\"\n",
    );
    let server = w.serve(&["--config", "c.toml"]);
    let body = fb_text("999", "m_rot", "x");
    assert_eq!(post_as(&server, "old-secret", &body).await, 200);
    assert_eq!(post_as(&server, "new-secret", &body).await, 401);

    let out = ok(&cli(
        &w,
        &[
            "--config",
            "c.toml",
            "rotate",
            "app-secret",
            "--value",
            "new-secret",
            "--grace",
            "1h",
        ],
    ));
    assert!(out.contains("stays accepted for 1h"), "{out}");
    assert!(
        !out.contains("new-secret") && !out.contains("old-secret"),
        "secrets are redacted: {out}"
    );
    let text = std::fs::read_to_string(&cfg).unwrap();
    assert!(
        text.contains("# the secret\napp_secret = \"new-secret\""),
        "{text}"
    );
    assert!(text.starts_with("# test config\n"), "comments kept: {text}");
    assert_eq!(
        std::fs::metadata(&cfg).unwrap().permissions().mode() & 0o777,
        0o600
    );

    assert!(
        eventually(Duration::from_secs(10), || async {
            post_as(&server, "new-secret", &body).await == 200
        })
        .await,
        "the server did not pick up the new secret:\n{}",
        server.stderr_text()
    );
    assert_eq!(
        post_as(&server, "old-secret", &body).await,
        200,
        "old secret within grace"
    );

    // Rotate again with a short grace: the previous ("new-secret") expires by itself.
    ok(&cli(
        &w,
        &[
            "--config",
            "c.toml",
            "rotate",
            "app-secret",
            "--value",
            "third-secret",
            "--grace",
            "2s",
        ],
    ));
    assert!(
        eventually(Duration::from_secs(10), || async {
            post_as(&server, "third-secret", &body).await == 200
        })
        .await,
        "third secret not picked up"
    );
    assert_eq!(
        post_as(&server, "old-secret", &body).await,
        401,
        "only one previous secret"
    );
    tokio::time::sleep(Duration::from_secs(3)).await;
    assert_eq!(
        post_as(&server, "new-secret", &body).await,
        401,
        "grace expired"
    );
    assert_eq!(post_as(&server, "third-secret", &body).await, 200);

    // --grace 0: the previous one stops at once.
    ok(&cli(
        &w,
        &[
            "--config",
            "c.toml",
            "rotate",
            "app-secret",
            "--value",
            "fourth-secret",
            "--grace",
            "0",
        ],
    ));
    assert!(
        eventually(Duration::from_secs(10), || async {
            post_as(&server, "fourth-secret", &body).await == 200
        })
        .await
    );
    assert_eq!(post_as(&server, "third-secret", &body).await, 401);

    fails(
        &cli(
            &w,
            &[
                "--config",
                "c.toml",
                "rotate",
                "app-secret",
                "--value",
                "fourth-secret",
            ],
        ),
        2,
        "equals the current one",
    );
}

#[test]
fn rotate_app_secret_refuses_env_secrets_and_no_config_file() {
    let w = Workdir::new();
    write_config(&w, "c.toml", "app_secret = \"file-secret\"\n");
    fails(
        &cli(
            &w,
            &["--config", "c.toml", "rotate", "app-secret", "--value", "x"],
        ),
        2,
        "FACEBOOK_APP_SECRET",
    );
    let w = Workdir::bare();
    fails(
        &cli(&w, &["rotate", "app-secret", "--value", "x"]),
        2,
        "no config file",
    );
}

#[tokio::test]
async fn rotate_verify_token_takes_effect_on_the_running_server() {
    let w = Workdir::bare();
    let cfg = write_config(
        &w,
        "c.toml",
        "app_secret = \"s\"\nverify_token = \"first-token\"\n",
    );
    let server = w.serve(&["--config", "c.toml"]);
    assert_eq!(handshake(&server, "facebook", "first-token").await, 200);

    let out = ok(&cli(
        &w,
        &[
            "--config",
            "c.toml",
            "rotate",
            "verify-token",
            "--value",
            "second-token",
        ],
    ));
    assert!(
        out.contains("new facebook verify token: second-token"),
        "{out}"
    );
    assert!(
        out.contains("Verify and save") && out.contains("/api/webhooks/facebook"),
        "{out}"
    );
    assert!(
        out.contains("instagram and whatsapp"),
        "fallback users named: {out}"
    );
    assert!(
        eventually(Duration::from_secs(10), || async {
            handshake(&server, "facebook", "second-token").await == 200
        })
        .await,
        "new verify token not picked up"
    );
    assert_eq!(handshake(&server, "facebook", "first-token").await, 403);
    assert_eq!(
        handshake(&server, "whatsapp", "second-token").await,
        200,
        "fallback follows"
    );

    // A generated WhatsApp-specific token.
    let out = ok(&cli(
        &w,
        &[
            "--config",
            "c.toml",
            "rotate",
            "verify-token",
            "--provider",
            "whatsapp",
        ],
    ));
    let token = out
        .lines()
        .find_map(|l| l.strip_prefix("new whatsapp verify token: "))
        .unwrap()
        .to_string();
    assert_eq!(token.len(), 32);
    assert!(
        std::fs::read_to_string(&cfg)
            .unwrap()
            .contains(&format!("whatsapp_verify_token = \"{token}\""))
    );
    assert!(
        eventually(Duration::from_secs(10), || async {
            handshake(&server, "whatsapp", &token).await == 200
        })
        .await
    );
    assert_eq!(handshake(&server, "whatsapp", "second-token").await, 403);
    assert_eq!(handshake(&server, "facebook", "second-token").await, 200);
}

#[tokio::test]
async fn rotate_verify_token_without_a_config_file_uses_the_database() {
    let w = Workdir::bare();
    let server = w.serve(&[]);
    let out = ok(&cli(&w, &["rotate", "verify-token", "--value", "db-token"]));
    assert!(out.contains("the database"), "{out}");
    assert!(
        eventually(Duration::from_secs(10), || async {
            handshake(&server, "facebook", "db-token").await == 200
        })
        .await,
        "generated token not replaced on the running server"
    );
    fails(
        &cli(&w, &["rotate", "verify-token", "--provider", "instagram"]),
        2,
        "no config file",
    );

    // An environment variable that overrides the token is pointed out.
    let mut w = Workdir::new();
    write_config(&w, "c.toml", "");
    w.set_env("HELPSTACK_CONFIG", "c.toml");
    let out = cli(&w, &["rotate", "verify-token"]);
    ok(&out);
    assert!(
        stderr(&out).contains("warning: FACEBOOK_VERIFY_TOKEN"),
        "{}",
        stderr(&out)
    );
}

#[tokio::test]
async fn rotate_admin_password_ends_sessions() {
    let w = Workdir::new();
    create_admin(&w);
    let server = w.serve(&[]);
    let cookie = login(&server).await;
    let out = ok(&cli(
        &w,
        &["rotate", "admin-password", "--user", ADMIN_USER],
    ));
    let password = out
        .lines()
        .find_map(|l| l.split("(shown only this once): ").nth(1))
        .unwrap()
        .to_string();
    let resp = client()
        .get(server.url("/api/session"))
        .header("cookie", &cookie)
        .send()
        .await
        .unwrap();
    assert_eq!(resp.status(), 401, "old session ended");
    let try_login = |p: String| {
        let url = server.url("/api/session");
        async move {
            client()
                .post(url)
                .json(&json!({"username": ADMIN_USER, "password": p}))
                .send()
                .await
                .unwrap()
                .status()
                .as_u16()
        }
    };
    assert_eq!(try_login(ADMIN_PASSWORD.into()).await, 401);
    assert_eq!(try_login(password).await, 200);
    let out = ok(&cli(
        &w,
        &["rotate", "admin-password", "--value", "chosen-pass-1"],
    ));
    assert!(!out.contains("chosen-pass-1"), "{out}");
    assert_eq!(try_login("chosen-pass-1".into()).await, 200);
    fails(
        &cli(&w, &["rotate", "admin-password", "--user", "nobody"]),
        1,
        "no admin named",
    );
}

// ---------------------------------------------------------------------------------
// doctor

/// A fully configured installation with one Page channel, Graph faked as healthy.
fn healthy(fake: &FakeGraph) -> Workdir {
    let mut w = Workdir::bare();
    w.set_env("HELPSTACK_GRAPH_API_URL", &fake.graph_base());
    write_config(
        &w,
        "c.toml",
        "app_secret = \"doctor-secret\"\nverify_token = \"doctor-token\"\npublic_url = \"https://help.example.com\"\n",
    );
    w.set_env("HELPSTACK_CONFIG", "c.toml");
    ok(&cli(
        &w,
        &[
            "channel",
            "add",
            "facebook",
            "--page-id",
            PAGE,
            "--access-token",
            TOKEN,
            "--name",
            "Shop",
        ],
    ));
    fake.respond_with(
        &FakeGraph::graph_path("me"),
        Resp::json(200, &json!({"id": PAGE, "name": "Shop"})),
    );
    fake.respond_with(
        &format!("/v25.0/{PAGE}/subscribed_apps"),
        Resp::json(200, &json!({"data": [{"id": "1234", "name": "HelpStack"}]})),
    );
    w
}

#[tokio::test]
async fn doctor_passes_a_healthy_installation_and_prints_json() {
    let fake = FakeGraph::start();
    let w = healthy(&fake);
    let server = w.serve(&[]);
    // Make the configured address the one the server bound, so doctor finds it.
    let text = std::fs::read_to_string(w.path().join("c.toml")).unwrap();
    std::fs::write(
        w.path().join("c.toml"),
        text.replace("127.0.0.1:0", &server.addr),
    )
    .unwrap();
    let body = fb_text(PAGE, "m_forged", "x");
    assert_eq!(post_as(&server, "not-the-secret", &body).await, 401);
    let out = cli(&w, &["doctor", "--json"]);
    let report = doctor_json(&out);
    assert_eq!(out.status.code(), Some(0), "{report:#}");
    assert_eq!(report["ok"], true);
    for c in report["checks"].as_array().unwrap() {
        assert!(c["name"].is_string() && c["detail"].is_string(), "{c}");
        assert!(
            ["pass", "warn"].contains(&c["status"].as_str().unwrap()),
            "{c}"
        );
    }
    assert_eq!(check(&report, "listen address")["status"], "pass");
    // The running server's signature-failure counter is read from /metrics.
    let sig = check(&report, "signature failures");
    assert_eq!(sig["status"], "warn", "{sig}");
    assert!(
        sig["detail"].as_str().unwrap().contains("facebook 1"),
        "{sig}"
    );
    assert!(
        check(&report, "listen address")["detail"]
            .as_str()
            .unwrap()
            .contains("healthz")
    );
    assert_eq!(check(&report, "database")["status"], "pass");
    assert_eq!(check(&report, "schema")["status"], "pass");
    assert_eq!(
        check(&report, &format!("channel 1 (facebook {PAGE})"))["status"],
        "pass"
    );
    assert_eq!(
        check(
            &report,
            &format!("channel 1 (facebook {PAGE}) subscription")
        )["status"],
        "pass"
    );
    let secret = check(&report, "app secret");
    assert!(
        // Under 16 characters: stars only, no first characters or length (issue 17).
        secret["detail"].as_str().unwrap().contains("set (***)"),
        "{secret}"
    );
    assert!(
        !out.stdout.windows(13).any(|w| w == b"doctor-secret"),
        "secret leaked"
    );
    // The human form says the same.
    let human = ok(&cli(&w, &["doctor"]));
    assert!(
        human.contains("[PASS] database") && human.contains("0 failed"),
        "{human}"
    );
}

#[tokio::test]
async fn doctor_warns_when_the_job_queue_or_the_search_index_falls_behind() {
    let fake = FakeGraph::start();
    let mut w = healthy(&fake);
    // No job worker: the new sender's profile fetch stays queued.
    w.set_env("HELPSTACK_JOB_WORKERS", "0");
    let server = w.serve(&[]);
    let body = fb_text(PAGE, "m_behind", "hello");
    assert_eq!(post_as(&server, "doctor-secret", &body).await, 200);
    drop(server);
    // Fresh work is no problem yet.
    let report = doctor_json(&cli(&w, &["doctor", "--json", "--offline"]));
    let jobs = check(&report, "job queue");
    assert_eq!(jobs["status"], "pass", "{jobs}");
    assert!(
        jobs["detail"]
            .as_str()
            .unwrap()
            .starts_with("1 job (profile fetches, downloads) due"),
        "{jobs}"
    );
    assert_eq!(check(&report, "search index")["status"], "pass");

    // An hour on, nothing has moved: no worker ran the job, and the index lost its place.
    let hour_ago = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap()
        .as_millis() as i64
        - 3_600_000;
    let db = open(&w.path().join("data/helpstack.db"));
    db.execute("UPDATE jobs SET run_at = ?1", [hour_ago])
        .unwrap();
    db.execute("UPDATE messages SET created_at = ?1", [hour_ago])
        .unwrap();
    db.execute("UPDATE search_progress SET indexed_through = 0", [])
        .unwrap();
    drop(db);
    let out = cli(&w, &["doctor", "--json", "--offline"]);
    let report = doctor_json(&out);
    let jobs = check(&report, "job queue");
    assert_eq!(jobs["status"], "warn", "{jobs}");
    assert!(
        jobs["hint"].as_str().unwrap().contains("job_workers"),
        "{jobs}"
    );
    let search = check(&report, "search index");
    assert_eq!(search["status"], "warn", "{search}");
    assert!(
        search["detail"]
            .as_str()
            .unwrap()
            .starts_with("1 message not searchable yet"),
        "{search}"
    );
    assert!(
        search["hint"]
            .as_str()
            .unwrap()
            .contains("indexing new messages for search failed"),
        "{search}"
    );
    // Warnings alone do not fail doctor.
    assert_eq!(out.status.code(), Some(0), "{report:#}");
}

#[tokio::test]
async fn doctor_names_rejected_tokens_unmatched_ids_and_unsubscribed_pages() {
    let fake = FakeGraph::start();
    let w = healthy(&fake);
    ok(&cli(
        &w,
        &[
            "channel",
            "add",
            "instagram",
            "--account-id",
            "17841400000000001",
            "--access-token",
            "ig-token",
        ],
    ));
    fake.respond_with(
        &FakeGraph::graph_path("me"),
        Resp::graph_error(
            400,
            190,
            "Error validating access token: The session has been invalidated",
        ),
    );
    let server = w.serve(&[]);
    let body = fb_text("9990001", "m_unknown", "who am I");
    assert_eq!(post_as(&server, "doctor-secret", &body).await, 200);
    drop(server);

    let out = cli(&w, &["doctor", "--json"]);
    let report = doctor_json(&out);
    assert_eq!(out.status.code(), Some(1));
    assert_eq!(report["ok"], false);
    let token = check(&report, &format!("channel 1 (facebook {PAGE})"));
    assert_eq!(token["status"], "fail", "{token}");
    assert!(
        token["detail"].as_str().unwrap().contains("Shop"),
        "{token}"
    );
    assert!(
        token["hint"].as_str().unwrap().contains("set-token 1"),
        "{token}"
    );
    assert_eq!(
        count(
            &open(&w.path().join("data/helpstack.db")),
            "SELECT COUNT(*) FROM channels WHERE token_status = 'token_invalid'"
        ),
        2
    );
    let unmatched = check(&report, "unmatched webhooks");
    assert_eq!(unmatched["status"], "warn");
    assert!(
        unmatched["detail"]
            .as_str()
            .unwrap()
            .contains("page id 9990001"),
        "{unmatched}"
    );
    assert!(
        unmatched["hint"]
            .as_str()
            .unwrap()
            .contains("--page-id 9990001"),
        "{unmatched}"
    );
    assert!(
        unmatched["hint"]
            .as_str()
            .unwrap()
            .contains("replay --outcome unmatched")
    );
    assert!(stderr(&out).starts_with("error: "), "{}", stderr(&out));

    // The token works again but the Page no longer sends us anything.
    fake.respond_with(
        &FakeGraph::graph_path("me"),
        Resp::json(200, &json!({"id": PAGE})),
    );
    fake.respond_with(
        &format!("/v25.0/{PAGE}/subscribed_apps"),
        Resp::json(200, &json!({"data": []})),
    );
    let report = doctor_json(&cli(&w, &["doctor", "--json"]));
    let sub = check(
        &report,
        &format!("channel 1 (facebook {PAGE}) subscription"),
    );
    assert_eq!(sub["status"], "fail", "{sub}");
    assert!(sub["hint"].as_str().unwrap().contains("resubscribe 1"));
    // --offline reports what the database knows without calling Graph.
    fake.clear_requests();
    let out = cli(&w, &["doctor", "--offline"]);
    assert!(fake.requests().is_empty());
    assert!(stdout(&out).contains("channel 1"), "{}", stdout(&out));
}

#[test]
fn doctor_fails_without_app_secret_and_with_a_world_readable_secret() {
    let w = Workdir::bare();
    let out = cli(&w, &["doctor", "--json", "--offline"]);
    let report = doctor_json(&out);
    assert_eq!(out.status.code(), Some(1));
    let c = check(&report, "app secret");
    assert_eq!(c["status"], "fail");
    assert!(c["hint"].as_str().unwrap().contains("App secret"));

    let cfg = write_config(&w, "c.toml", "app_secret = \"s3cret-value\"\n");
    std::fs::set_permissions(&cfg, std::fs::Permissions::from_mode(0o644)).unwrap();
    let report = doctor_json(&cli(
        &w,
        &["--config", "c.toml", "doctor", "--json", "--offline"],
    ));
    let c = check(&report, "config file");
    assert_eq!(c["status"], "fail", "{c}");
    assert!(c["hint"].as_str().unwrap().contains("chmod 600"));
    assert_eq!(check(&report, "app secret")["status"], "pass");
}

#[tokio::test]
async fn doctor_detects_a_corrupted_database() {
    let w = Workdir::new();
    w.add_channel("facebook", "--page-id", PAGE);
    let server = w.serve(&[]);
    for i in 0..50 {
        let body = fb_text(PAGE, &format!("m_c_{i}"), &"x".repeat(500));
        assert_eq!(post_signed(&server, "facebook", &body).await.status(), 200);
    }
    drop(server);
    // A copy of the database with garbage over its middle pages.
    let copy_dir = w.path().join("broken");
    std::fs::create_dir_all(&copy_dir).unwrap();
    let conn = w.db();
    conn.execute_batch("PRAGMA wal_checkpoint(TRUNCATE);")
        .unwrap();
    drop(conn);
    let mut bytes = std::fs::read(w.db_path()).unwrap();
    assert!(bytes.len() > 8192 * 2, "database too small to damage");
    let garbage: Vec<u8> = (0..bytes.len() - 4096)
        .map(|i| (i * 7 % 251) as u8)
        .collect();
    bytes[4096..].copy_from_slice(&garbage);
    std::fs::write(copy_dir.join("helpstack.db"), &bytes).unwrap();
    let cfg = write_config(&w, "broken.toml", "");
    let text = std::fs::read_to_string(&cfg)
        .unwrap()
        .replace("\"data\"", "\"broken\"");
    std::fs::write(&cfg, text).unwrap();
    let out = cli(
        &w,
        &["--config", "broken.toml", "doctor", "--json", "--offline"],
    );
    let report = doctor_json(&out);
    assert_eq!(out.status.code(), Some(1));
    let c = check(&report, "database");
    assert_eq!(c["status"], "fail", "{c}");
    assert!(c["hint"].as_str().unwrap().contains("backup"));

    // Plain garbage (not even a database header).
    std::fs::write(copy_dir.join("helpstack.db"), vec![0x42u8; 8192]).unwrap();
    let report = doctor_json(&cli(
        &w,
        &["--config", "broken.toml", "doctor", "--json", "--offline"],
    ));
    assert_eq!(check(&report, "database")["status"], "fail");
}

#[test]
fn doctor_detects_a_data_dir_it_cannot_write() {
    let w = Workdir::new();
    let cfg = write_config(&w, "c.toml", "");
    let data = if is_root() {
        // Permission bits do not stop root: use a path below a regular file instead.
        std::fs::write(w.path().join("plainfile"), b"x").unwrap();
        "plainfile/data".to_string()
    } else {
        let dir = w.path().join("ro");
        std::fs::create_dir_all(&dir).unwrap();
        std::fs::set_permissions(&dir, std::fs::Permissions::from_mode(0o500)).unwrap();
        "ro".to_string()
    };
    let text = std::fs::read_to_string(&cfg)
        .unwrap()
        .replace("\"data\"", &format!("{data:?}"));
    std::fs::write(&cfg, text).unwrap();
    let out = cli(&w, &["--config", "c.toml", "doctor", "--json", "--offline"]);
    let report = doctor_json(&out);
    assert_eq!(out.status.code(), Some(1));
    let c = check(&report, "data directory");
    assert_eq!(c["status"], "fail", "{c}");
    // Commands that need the database fail with one line, exit 1.
    let out = cli(&w, &["--config", "c.toml", "channel", "list"]);
    assert_eq!(out.status.code(), Some(1), "{}", stderr(&out));
    assert!(stderr(&out).starts_with("error: "), "{}", stderr(&out));
}

// ---------------------------------------------------------------------------------
// sign, simulate

#[test]
fn sign_matches_openssl() {
    let w = Workdir::new();
    let body = "{\"object\":\"page\",\"entry\":[],\"note\":\"olá 🍝\"}\n";
    std::fs::write(w.path().join("body.json"), body).unwrap();
    let openssl = Command::new("openssl")
        .args(["dgst", "-sha256", "-hmac", "s3cr3t", "body.json"])
        .current_dir(w.path())
        .output()
        .unwrap();
    let expected = String::from_utf8_lossy(&openssl.stdout)
        .rsplit(' ')
        .next()
        .unwrap()
        .trim()
        .to_string();
    assert_eq!(expected.len(), 64);
    let out = ok(&cli(&w, &["sign", "--secret", "s3cr3t", "body.json"]));
    assert_eq!(out.trim(), format!("sha256={expected}"));
    let out = ok(&cli_with_stdin(
        &w,
        &["sign", "--secret", "s3cr3t", "-"],
        Some(body.as_bytes()),
    ));
    assert_eq!(out.trim(), format!("sha256={expected}"));
    // The configured secret by default.
    let out = ok(&cli(&w, &["sign", "body.json"]));
    assert_eq!(out.trim(), sign(APP_SECRET, body.as_bytes()));

    fails(
        &cli(&w, &["sign", "--secret", "s", "nope.json"]),
        2,
        "nope.json",
    );
    fails(
        &cli(&Workdir::bare(), &["sign", "body.json"]),
        2,
        "--secret",
    );
}

#[tokio::test]
async fn simulate_posts_signed_messages_the_server_stores() {
    let w = Workdir::new();
    w.add_channel("facebook", "--page-id", PAGE);
    w.add_channel("whatsapp", "--phone-number-id", PHONE_ID);
    let server = w.serve(&[]);
    let base = format!("http://{}", server.addr);
    let out = ok(&cli(
        &w,
        &[
            "simulate",
            "facebook",
            "--to",
            &base,
            "--text",
            "simulated hello",
        ],
    ));
    assert!(out.contains("-> 200"), "{out}");
    let out = ok(&cli(
        &w,
        &[
            "simulate",
            "whatsapp",
            "--to",
            &format!("{base}/api/webhooks/whatsapp"),
        ],
    ));
    assert!(out.contains("-> 200"), "{out}");
    let db = w.db();
    assert_eq!(count(&db, "SELECT COUNT(*) FROM messages"), 2);
    assert_eq!(
        count(
            &db,
            "SELECT COUNT(*) FROM messages WHERE text = 'simulated hello'"
        ),
        1
    );
    drop(db);
    // An id with no channel is answered 200 and journaled as unmatched.
    ok(&cli(
        &w,
        &[
            "simulate",
            "instagram",
            "--account-id",
            "555",
            "--to",
            &base,
        ],
    ));
    assert_eq!(
        count(
            &w.db(),
            "SELECT COUNT(*) FROM webhook_journal WHERE outcome = 'unmatched'"
        ),
        1
    );
    // A wrong secret is the server's 401, reported as a failure.
    let out = cli(
        &w,
        &["simulate", "facebook", "--to", &base, "--secret", "wrong"],
    );
    assert_eq!(out.status.code(), Some(1));
    assert!(stdout(&out).contains("-> 401"));
    // Nothing listening.
    fails(
        &cli(&w, &["simulate", "facebook", "--to", "http://127.0.0.1:9"]),
        1,
        "cannot reach",
    );
}

// ---------------------------------------------------------------------------------
// replay

#[tokio::test]
async fn replay_turns_unmatched_events_into_conversations_once() {
    let w = Workdir::new();
    let server = w.serve(&[]);
    for i in 0..3 {
        let body = fb_text(PAGE, &format!("m_early_{i}"), "before the channel existed");
        assert_eq!(post_signed(&server, "facebook", &body).await.status(), 200);
    }
    assert_eq!(
        post_signed(&server, "facebook", &fb_text("777", "m_other", "x"))
            .await
            .status(),
        200
    );
    assert_eq!(count(&w.db(), "SELECT COUNT(*) FROM messages"), 0);

    let out = ok(&cli(
        &w,
        &[
            "channel",
            "add",
            "facebook",
            "--page-id",
            PAGE,
            "--access-token",
            TOKEN,
        ],
    ));
    assert!(out.contains("3 earlier webhook(s)"), "{out}");
    let dry = ok(&cli(&w, &["replay", "--dry-run"]));
    assert!(
        dry.contains("would replay 4 bodies: 3 events stored"),
        "{dry}"
    );
    assert_eq!(
        count(&w.db(), "SELECT COUNT(*) FROM messages"),
        0,
        "dry run writes nothing"
    );

    let out = ok(&cli(
        &w,
        &["replay", "--since", "1h", "--outcome", "unmatched"],
    ));
    assert!(
        out.contains("replayed 4 bodies: 3 events stored, 3 changed outcome"),
        "{out}"
    );
    assert!(out.contains("facebook 777 (1)"), "{out}");
    let db = w.db();
    assert_eq!(count(&db, "SELECT COUNT(*) FROM messages"), 3);
    assert_eq!(count(&db, "SELECT COUNT(*) FROM conversations"), 1);
    assert_eq!(
        count(
            &db,
            "SELECT COUNT(*) FROM webhook_journal WHERE outcome = 'processed'"
        ),
        3
    );
    let reason: String = db
        .query_row(
            "SELECT reason FROM webhook_journal WHERE outcome = 'processed' LIMIT 1",
            [],
            |r| r.get(0),
        )
        .unwrap();
    assert!(reason.contains("was unmatched"), "{reason}");
    drop(db);
    // The server sees the new rows through its API.
    create_admin(&w);
    let cookie = login(&server).await;
    let convs = get_json(&server, &cookie, "/api/conversations").await;
    assert_eq!(convs["conversations"].as_array().unwrap().len(), 1);

    // Second run: nothing left to change.
    let out = ok(&cli(&w, &["replay", "--json"]));
    let summary: Value = serde_json::from_str(&out).unwrap();
    assert_eq!(summary["events_stored"], 0);
    assert_eq!(summary["changed_outcome"], 0);
    let out = ok(&cli(&w, &["replay", "--outcome", "processed"]));
    assert!(
        out.contains("replayed 3 bodies: 0 events stored, 0 changed outcome"),
        "{out}"
    );
    assert_eq!(count(&w.db(), "SELECT COUNT(*) FROM messages"), 3);
    let out = ok(&cli(
        &w,
        &[
            "replay",
            "--since",
            "2020-01-01T00:00:00Z",
            "--outcome",
            "processed",
            "--dry-run",
        ],
    ));
    assert!(out.contains("would replay 3 bodies"), "{out}");
}

// ---------------------------------------------------------------------------------
// backup, journal

#[tokio::test]
async fn backup_under_load_holds_everything_acknowledged_before_it_began() {
    let w = Workdir::new();
    w.add_channel("facebook", "--page-id", PAGE);
    let server = w.serve(&[]);
    // A stored attachment file, as the download job leaves it.
    let sha = "ab".repeat(32);
    let file = w
        .path()
        .join(format!("helpstack-data/attachments/ab/ab/{sha}"));
    std::fs::create_dir_all(file.parent().unwrap()).unwrap();
    std::fs::write(&file, b"image bytes").unwrap();

    let acked: Arc<Mutex<Vec<String>>> = Arc::default();
    let stop = Arc::new(std::sync::atomic::AtomicBool::new(false));
    let url = server.url("/api/webhooks/facebook");
    let mut load = Vec::new();
    for t in 0..4 {
        let (acked, stop, url) = (acked.clone(), stop.clone(), url.clone());
        load.push(tokio::spawn(async move {
            let c = client();
            let mut i = 0;
            while !stop.load(std::sync::atomic::Ordering::Relaxed) {
                let mid = format!("m_load_{t}_{i}");
                let body = fb_text(PAGE, &mid, "under load");
                let resp = c
                    .post(&url)
                    .header("x-hub-signature-256", sign(APP_SECRET, &body))
                    .body(body)
                    .send()
                    .await;
                if resp.is_ok_and(|r| r.status() == 200) {
                    acked.lock().unwrap().push(mid);
                }
                i += 1;
            }
        }));
    }
    while acked.lock().unwrap().len() < 100 {
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    let before: Vec<String> = acked.lock().unwrap().clone();
    let w_env = w.env.clone();
    let dir = w.path().to_path_buf();
    let out = tokio::task::spawn_blocking(move || {
        Command::new(bin())
            .args(["backup", "bk"])
            .current_dir(dir)
            .env_clear()
            .envs(w_env.into_iter().filter(|(k, _)| k != "RUST_LOG"))
            .output()
            .unwrap()
    })
    .await
    .unwrap();
    let during = acked.lock().unwrap().len();
    stop.store(true, std::sync::atomic::Ordering::Relaxed);
    for l in load {
        l.await.unwrap();
    }
    let text = ok(&out);
    assert!(
        text.contains("integrity ok") && text.contains("1 files copied"),
        "{text}"
    );
    assert!(
        during > before.len(),
        "the load kept running during the backup"
    );

    let copy = open(&w.path().join("bk/helpstack.db"));
    let check: String = copy
        .query_row("PRAGMA integrity_check", [], |r| r.get(0))
        .unwrap();
    assert_eq!(check, "ok");
    let mut missing = Vec::new();
    for mid in &before {
        let n: i64 = copy
            .query_row(
                "SELECT COUNT(*) FROM messages WHERE external_id = ?1",
                [mid],
                |r| r.get(0),
            )
            .unwrap();
        if n != 1 {
            missing.push(mid.clone());
        }
    }
    assert!(
        missing.is_empty(),
        "{} acknowledged messages missing: {:?}",
        missing.len(),
        &missing[..missing.len().min(5)]
    );
    assert_eq!(
        std::fs::read(w.path().join(format!("bk/attachments/ab/ab/{sha}"))).unwrap(),
        b"image bytes"
    );
    drop(copy);
    // A second backup into the same place needs --force; attachments are not copied twice.
    fails(&cli(&w, &["backup", "bk"]), 2, "--force");
    let text = ok(&cli(&w, &["backup", "bk", "--force"]));
    assert!(
        text.contains("0 files copied") && text.contains("1 already present"),
        "{text}"
    );
    // The copy works as a data directory.
    let mut restored = Workdir::new();
    restored.set_env("HELPSTACK_DATA_DIR", w.path().join("bk").to_str().unwrap());
    let list = ok(&cli(&restored, &["channel", "list"]));
    assert!(list.contains(PAGE), "{list}");
}

#[test]
fn journal_prune_keeps_what_replay_needs() {
    let w = Workdir::new();
    ok(&cli(&w, &["channel", "list"]));
    let db = w.db();
    let old = 1_600_000_000_000i64;
    let now = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap()
        .as_millis() as i64;
    for (t, outcome) in [
        (old, "processed"),
        (old, "ignored"),
        (old, "unmatched"),
        (old, "failed"),
        (now, "processed"),
        (now, "unmatched"),
    ] {
        db.execute(
            "INSERT INTO webhook_journal (provider, received_at, body, outcome) VALUES ('facebook', ?1, x'7b7d', ?2)",
            rusqlite::params![t, outcome],
        )
        .unwrap();
    }
    drop(db);
    let out = ok(&cli(
        &w,
        &["journal", "prune", "--older-than", "30d", "--dry-run"],
    ));
    assert!(out.contains("would delete 2 journal rows"), "{out}");
    assert_eq!(journal_count(&w), 6);
    let out = ok(&cli(&w, &["journal", "prune", "--older-than", "30d"]));
    assert!(
        out.contains("deleted 2 journal rows") && out.contains("kept 3 unmatched/failed"),
        "{out}"
    );
    assert_eq!(journal_count(&w), 4);
    ok(&cli(
        &w,
        &["journal", "prune", "--older-than", "30d", "--all-outcomes"],
    ));
    let db = w.db();
    assert_eq!(count(&db, "SELECT COUNT(*) FROM webhook_journal"), 2);
    assert_eq!(
        count(
            &db,
            &format!("SELECT COUNT(*) FROM webhook_journal WHERE received_at = {now}")
        ),
        2
    );
}

#[test]
fn every_admin_command_has_help() {
    let w = Workdir::bare();
    for args in [
        &["channel", "--help"][..],
        &["channel", "remove", "--help"],
        &["channel", "set-token", "--help"],
        &["channel", "test", "--help"],
        &["channel", "resubscribe", "--help"],
        &["rotate", "--help"],
        &["rotate", "app-secret", "--help"],
        &["rotate", "verify-token", "--help"],
        &["doctor", "--help"],
        &["sign", "--help"],
        &["simulate", "--help"],
        &["replay", "--help"],
        &["backup", "--help"],
        &["journal", "prune", "--help"],
    ] {
        let out = ok(&cli(&w, args));
        assert!(out.contains("Usage:"), "{args:?}: {out}");
    }
}
