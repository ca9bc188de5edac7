//! Secrets at rest (issue 17, point 5), through the real binary: owner-only files
//! whatever the umask, doctor's mode check, sealed Graph tokens (migration, rotation),
//! and backups that hold no usable secret yet restore with their config.

mod common;

use std::os::unix::fs::PermissionsExt;
use std::path::Path;
use std::process::{Command, Output, Stdio};

use common::*;

const TOKEN: &str = "EAAGplaintext-page-token-0123456789";
const OLD_SECRET: &str = "previous-app-secret-0123456789";
const NEW_SECRET: &str = "current-app-secret-9876543210";

/// Runs the binary from a shell with umask 022, the usual interactive default.
fn run_umask022(w: &Workdir, args: &[&str]) -> Output {
    let mut script = String::from("umask 022; exec \"$0\"");
    for i in 1..=args.len() {
        script.push_str(&format!(" \"${i}\""));
    }
    let o = Command::new("sh")
        .arg("-c")
        .arg(script)
        .arg(bin())
        .args(args)
        .current_dir(w.path())
        .env_clear()
        .env("HELPSTACK_JOB_WORKERS", "0")
        .stdin(Stdio::null())
        .output()
        .unwrap();
    assert!(
        o.status.success(),
        "{args:?}\nstdout:\n{}\nstderr:\n{}",
        String::from_utf8_lossy(&o.stdout),
        String::from_utf8_lossy(&o.stderr)
    );
    o
}

fn text(o: &Output) -> String {
    String::from_utf8_lossy(&o.stdout).into_owned()
}

fn mode(p: &Path) -> u32 {
    std::fs::metadata(p)
        .unwrap_or_else(|e| panic!("{}: {e}", p.display()))
        .permissions()
        .mode()
        & 0o777
}

fn stored_token(db: &Path) -> String {
    let c = rusqlite::Connection::open(db).unwrap();
    c.query_row(
        "SELECT json_extract(credentials, '$.accessToken') FROM channels",
        [],
        |r| r.get(0),
    )
    .unwrap()
}

fn file_contains(p: &Path, needle: &str) -> bool {
    let bytes = std::fs::read(p).unwrap();
    bytes.windows(needle.len()).any(|w| w == needle.as_bytes())
}

/// A configured install: config file with app secret (rotated once, so a previous one
/// is in its grace period), an admin, a channel with a token.
fn install(w: &Workdir) -> std::path::PathBuf {
    run_umask022(
        w,
        &[
            "init",
            "--non-interactive",
            "--app-secret",
            OLD_SECRET,
            "--admin-password",
            ADMIN_PASSWORD,
        ],
    );
    run_umask022(
        w,
        &[
            "rotate",
            "app-secret",
            "--value",
            NEW_SECRET,
            "--grace",
            "2h",
        ],
    );
    run_umask022(
        w,
        &[
            "channel",
            "add",
            "facebook",
            "--page-id",
            "1111111111",
            "--access-token",
            TOKEN,
        ],
    );
    w.path().join("helpstack-data")
}

#[tokio::test]
async fn files_are_owner_only_whatever_the_umask_and_doctor_checks_them() {
    let w = Workdir::bare();
    let data = install(&w);
    // A server run (creates -wal/-shm and attachments) under umask 022 too.
    let mut sh = Command::new("sh");
    sh.arg("-c")
        .arg("umask 022; exec \"$0\" serve --listen 127.0.0.1:0")
        .arg(bin())
        .current_dir(w.path())
        .env_clear()
        .env("HELPSTACK_JOB_WORKERS", "0");
    let server = Server::spawn(sh);
    let resp = client().get(server.url("/healthz")).send().await.unwrap();
    assert_eq!(resp.status(), 200);
    assert_eq!(mode(&data) & 0o007, 0, "data dir {:o}", mode(&data));
    for name in [
        "helpstack.db",
        "helpstack.db-wal",
        "helpstack.db-shm",
        "secret.key",
    ] {
        let p = data.join(name);
        if name == "secret.key" {
            // init put the key in the config file; no key file is needed.
            assert!(!p.exists());
            continue;
        }
        assert_eq!(mode(&p), 0o600, "{name}");
    }
    drop(server);

    let backup = w.path().join("backup");
    run_umask022(&w, &["backup", backup.to_str().unwrap()]);
    assert_eq!(mode(&backup) & 0o077, 0, "backup dir {:o}", mode(&backup));
    assert_eq!(mode(&backup.join("helpstack.db")), 0o600);

    // An older version left the database world-readable: doctor says so, the next
    // open tightens it.
    let db = data.join("helpstack.db");
    std::fs::set_permissions(&db, std::fs::Permissions::from_mode(0o644)).unwrap();
    std::fs::set_permissions(&data, std::fs::Permissions::from_mode(0o755)).unwrap();
    let o = w.run(&["doctor", "--offline"]);
    let report = text(&o);
    assert!(!o.status.success(), "{report}");
    assert!(report.contains("[FAIL] file modes"), "{report}");
    assert!(report.contains("helpstack.db is 0644"), "{report}");
    run_umask022(&w, &["channel", "list"]);
    assert_eq!(mode(&db), 0o600);
    assert_eq!(mode(&data) & 0o007, 0);
    let report = text(&w.run(&["doctor", "--offline"]));
    assert!(report.contains("[PASS] file modes"), "{report}");
}

#[test]
fn tokens_are_sealed_and_backups_hold_no_usable_secret() {
    let w = Workdir::bare();
    let data = install(&w);
    let db = data.join("helpstack.db");
    let stored = stored_token(&db);
    assert!(stored.starts_with("enc1:"), "{stored}");
    assert!(!stored.contains("EAAG"));
    let show = text(&run_umask022(&w, &["channel", "show", "1"]));
    assert!(
        show.contains("EA…(35 chars)"),
        "the binary opens it:\n{show}"
    );
    let config = std::fs::read_to_string(w.path().join("helpstack.toml")).unwrap();
    assert!(config.contains("\nsecret_key = "), "{config}");

    let backup = w.path().join("backup");
    let out = text(&run_umask022(&w, &["backup", backup.to_str().unwrap()]));
    assert!(out.contains("restore:"), "{out}");
    let copy = backup.join("helpstack.db");
    for secret in [OLD_SECRET, NEW_SECRET, TOKEN] {
        assert!(!file_contains(&copy, secret), "{secret} is in the backup");
    }
    let c = rusqlite::Connection::open(&copy).unwrap();
    let settings: i64 = c
        .query_row(
            "SELECT COUNT(*) FROM settings WHERE key LIKE 'previous_app_secret%'",
            [],
            |r| r.get(0),
        )
        .unwrap();
    assert_eq!(settings, 0);
    assert!(stored_token(&copy).starts_with("enc1:"));
    drop(c);

    // Restore: the backup next to its config gives the token back.
    let restored = w.path().join("restored");
    std::fs::create_dir(&restored).unwrap();
    std::fs::copy(&copy, restored.join("helpstack.db")).unwrap();
    let restored_config = w.path().join("restored.toml");
    let mut text_cfg = String::new();
    for line in config.lines() {
        if line.starts_with("data_dir") {
            text_cfg.push_str(&format!(
                "data_dir = {:?}\n",
                restored.display().to_string()
            ));
        } else {
            text_cfg.push_str(line);
            text_cfg.push('\n');
        }
    }
    std::fs::write(&restored_config, text_cfg).unwrap();
    let show = text(&run_umask022(
        &w,
        &[
            "--config",
            restored_config.to_str().unwrap(),
            "channel",
            "show",
            "1",
        ],
    ));
    assert!(show.contains("EA…(35 chars)"), "{show}");
}

#[test]
fn plaintext_tokens_are_migrated_and_rotation_reseals() {
    let w = Workdir::bare();
    let data = install(&w);
    let db = data.join("helpstack.db");
    // What an older version stored.
    rusqlite::Connection::open(&db)
        .unwrap()
        .execute(
            "UPDATE channels SET credentials = json_set(credentials, '$.accessToken', ?1)",
            [TOKEN],
        )
        .unwrap();
    run_umask022(&w, &["channel", "list"]);
    let sealed = stored_token(&db);
    assert!(sealed.starts_with("enc1:"), "migrated on open: {sealed}");

    let config = w.path().join("helpstack.toml");
    let key_before = std::fs::read_to_string(&config).unwrap();
    let out = text(&run_umask022(&w, &["rotate", "secret-key"]));
    assert!(out.contains("1 channel token(s) re-sealed"), "{out}");
    let key_after = std::fs::read_to_string(&config).unwrap();
    assert_ne!(key_before, key_after, "the config file holds the new key");
    let resealed = stored_token(&db);
    assert_ne!(
        resealed.split(':').nth(1),
        sealed.split(':').nth(1),
        "new key id"
    );
    assert!(!data.join("secret.key.previous").exists());
    let show = text(&run_umask022(&w, &["channel", "show", "1"]));
    assert!(show.contains("EA…(35 chars)"), "{show}");

    // A wrong key is a clear failure, not a silent plaintext.
    let broken = key_after
        .lines()
        .map(|l| {
            if l.starts_with("secret_key") {
                "secret_key = \"not-a-key\"".to_string()
            } else {
                l.to_string()
            }
        })
        .collect::<Vec<_>>()
        .join("\n");
    std::fs::write(&config, broken).unwrap();
    let o = w.run(&["channel", "list"]);
    assert_eq!(o.status.code(), Some(2));
    assert!(String::from_utf8_lossy(&o.stderr).contains("secret_key"));
}
