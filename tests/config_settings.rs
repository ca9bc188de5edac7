//! The settings table as the operator sees it: `helpstack config keys|sample|show`, the
//! shipped sample config and the man page generated from it, the precedence and the
//! seed's env names, error messages that name the culprit, and in-place edits.

use std::os::unix::fs::PermissionsExt;
use std::path::Path;
use std::process::{Command, Output};

const BIN: &str = env!("CARGO_BIN_EXE_helpstack");
const REPO: &str = env!("CARGO_MANIFEST_DIR");

/// Runs the binary in `dir` with only the given environment (nothing inherited).
fn run(dir: &Path, env: &[(&str, &str)], args: &[&str]) -> Output {
    Command::new(BIN)
        .args(args)
        .current_dir(dir)
        .env_clear()
        .env("PATH", std::env::var("PATH").unwrap_or_default())
        .envs(env.iter().copied())
        .output()
        .unwrap()
}

fn stdout(out: &Output) -> String {
    assert!(
        out.status.success(),
        "exit {:?}: {}",
        out.status.code(),
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8(out.stdout.clone()).unwrap()
}

/// Asserts exit code 2 and returns standard error.
fn usage_error(out: &Output) -> String {
    assert_eq!(
        out.status.code(),
        Some(2),
        "{}",
        String::from_utf8_lossy(&out.stdout)
    );
    String::from_utf8_lossy(&out.stderr).into_owned()
}

/// The `config keys` table: (key, env names, type, default, description).
fn keys(dir: &Path) -> Vec<[String; 5]> {
    stdout(&run(dir, &[], &["config", "keys"]))
        .lines()
        .map(|l| {
            let cols: Vec<String> = l.split('\t').map(str::to_string).collect();
            cols.try_into()
                .unwrap_or_else(|c: Vec<String>| panic!("{} columns: {l}", c.len()))
        })
        .collect()
}

/// The value and source `config show` prints for a key.
fn shown(text: &str, key: &str) -> (String, String) {
    let line = text
        .lines()
        .find(|l| l.starts_with(&format!("{key} = ")) || l.starts_with(&format!("# {key} ")))
        .unwrap_or_else(|| panic!("{key} not shown:\n{text}"));
    let (value, source) = line.rsplit_once(" # ").unwrap();
    (value.trim().to_string(), source.trim().to_string())
}

#[test]
fn keys_list_every_key_with_the_seed_env_names_in_priority_order() {
    let dir = tempfile::tempdir().unwrap();
    let table = keys(dir.path());
    assert!(table.len() >= 24, "{} keys", table.len());
    let env = |key: &str| {
        table
            .iter()
            .find(|r| r[0] == key)
            .map(|r| r[1].clone())
            .unwrap_or_else(|| panic!("no key {key}"))
    };
    assert_eq!(
        env("app_secret"),
        "HELPSTACK_APP_SECRET,FACEBOOK_APP_SECRET"
    );
    assert_eq!(
        env("verify_token"),
        "HELPSTACK_VERIFY_TOKEN,FACEBOOK_VERIFY_TOKEN"
    );
    assert_eq!(
        env("instagram_verify_token"),
        "HELPSTACK_INSTAGRAM_VERIFY_TOKEN,INSTAGRAM_VERIFY_TOKEN"
    );
    assert_eq!(
        env("whatsapp_verify_token"),
        "HELPSTACK_WHATSAPP_VERIFY_TOKEN,WHATSAPP_VERIFY_TOKEN"
    );
    for [key, env, kind, default, doc] in &table {
        assert!(env.starts_with("HELPSTACK_"), "{key}: {env}");
        assert!(!kind.is_empty() && !default.is_empty(), "{key}");
        assert!(doc.len() > 20, "{key} has no description");
    }
    let listen = table.iter().find(|r| r[0] == "listen").unwrap();
    assert_eq!(listen[3], "127.0.0.1:8080");
}

#[test]
fn the_shipped_sample_is_the_generated_one_and_every_line_loads() {
    let dir = tempfile::tempdir().unwrap();
    let generated = stdout(&run(dir.path(), &[], &["config", "sample"]));
    let shipped =
        std::fs::read_to_string(Path::new(REPO).join("packaging/helpstack.toml")).unwrap();
    assert!(
        generated == shipped,
        "packaging/helpstack.toml is stale: regenerate it with \
         `helpstack config sample > packaging/helpstack.toml`"
    );
    // Each key's block: its description, env names and default (comments unwrapped).
    let unwrapped = generated.replace("\n# ", " ");
    for [key, env, _, default, doc] in keys(dir.path()) {
        let line = format!("\n# {key} = ");
        assert!(
            generated.contains(&line) || generated.contains(&format!("\n{key} = ")),
            "{key} missing"
        );
        let origin = format!("Environment: {}", env.replace(',', " or "));
        for part in [doc, origin, format!("Default: {default}.")] {
            assert!(unwrapped.contains(&part), "{key}: {part:?} missing");
        }
    }

    // Every key uncommented, examples included, must load.
    let all: String = generated
        .lines()
        .map(|l| match l.strip_prefix("# ") {
            Some(rest) if rest.split(" = ").next().is_some_and(is_key) => rest,
            _ => l,
        })
        .map(|l| format!("{l}\n"))
        .collect::<String>()
        .replace("\"/var/lib/helpstack\"", "\"data\"")
        .replace("\"127.0.0.1:8080\"", "\"127.0.0.1:0\"");
    std::fs::write(dir.path().join("all.toml"), all).unwrap();
    let show = stdout(&run(
        dir.path(),
        &[],
        &["--config", "all.toml", "config", "show"],
    ));
    assert_eq!(
        shown(&show, "client_ip_header").0,
        "client_ip_header = \"X-Real-IP\""
    );
    assert_eq!(shown(&show, "job_workers").1, "file all.toml");
}

fn is_key(s: &str) -> bool {
    !s.is_empty() && s.bytes().all(|b| b.is_ascii_lowercase() || b == b'_')
}

#[test]
fn show_names_each_source_and_redacts_secrets() {
    let dir = tempfile::tempdir().unwrap();
    std::fs::write(
        dir.path().join("c.toml"),
        "data_dir = \"d\"\njob_workers = 3\nverify_token = \"file-token-123\"\n\
         instagram_verify_token = \"ig-file-token\"\n",
    )
    .unwrap();
    let env = [
        ("FACEBOOK_APP_SECRET", "seed-secret-value"),
        ("HELPSTACK_APP_SECRET", "own-secret-value"),
        ("FACEBOOK_VERIFY_TOKEN", "env-token-456"),
        ("HELPSTACK_MAX_BODY_BYTES", "5000"),
        ("HELPSTACK_PUBLIC_URL", ""),
    ];
    let out = run(
        dir.path(),
        &env,
        &[
            "--config",
            "c.toml",
            "config",
            "show",
            "--listen",
            "127.0.0.1:9",
        ],
    );
    let text = stdout(&out);
    assert!(text.starts_with("# config file: c.toml\n"), "{text}");
    assert_eq!(
        shown(&text, "listen"),
        ("listen = \"127.0.0.1:9\"".into(), "flag --listen".into())
    );
    assert_eq!(shown(&text, "job_workers").1, "file c.toml");
    assert_eq!(
        shown(&text, "max_body_bytes").1,
        "env HELPSTACK_MAX_BODY_BYTES"
    );
    assert_eq!(
        shown(&text, "job_max_attempts"),
        ("job_max_attempts = 8".into(), "default".into())
    );
    // The HELPSTACK_* name wins over the seed's; env wins over the file.
    assert_eq!(shown(&text, "app_secret").1, "env HELPSTACK_APP_SECRET");
    assert_eq!(shown(&text, "verify_token").1, "env FACEBOOK_VERIFY_TOKEN");
    // The fallback applies only after the whole chain: the file's Instagram token beats
    // the environment's Facebook one, and WhatsApp, set nowhere, takes the Facebook one.
    assert_eq!(shown(&text, "instagram_verify_token").1, "file c.toml");
    assert_eq!(shown(&text, "whatsapp_verify_token").1, "from verify_token");
    // An empty variable is unset.
    assert_eq!(
        shown(&text, "public_url"),
        ("# public_url (unset)".into(), "default".into())
    );
    for secret in [
        "seed-secret-value",
        "own-secret-value",
        "file-token-123",
        "env-token-456",
        "ig-file-token",
    ] {
        assert!(!text.contains(secret), "{secret} shown:\n{text}");
    }
}

#[test]
fn errors_name_the_variable_or_the_file_and_key() {
    let dir = tempfile::tempdir().unwrap();
    let err = usage_error(&run(
        dir.path(),
        &[("HELPSTACK_JOB_WORKERS", "lots")],
        &["config", "show"],
    ));
    assert!(
        err.contains("invalid setting HELPSTACK_JOB_WORKERS"),
        "{err}"
    );
    assert!(err.contains("\"lots\""), "{err}");
    // The first set name is the one read, and named.
    let err = usage_error(&run(
        dir.path(),
        &[("HELPSTACK_TRUSTED_PROXIES", "10.0.0.0/33")],
        &["config", "show"],
    ));
    assert!(err.contains("HELPSTACK_TRUSTED_PROXIES"), "{err}");

    std::fs::write(dir.path().join("bad.toml"), "job_workers = \"four\"\n").unwrap();
    let err = usage_error(&run(
        dir.path(),
        &[],
        &["--config", "bad.toml", "config", "show"],
    ));
    assert!(
        err.contains("bad.toml") && err.contains("job_workers"),
        "{err}"
    );
    std::fs::write(dir.path().join("unknown.toml"), "listen_port = 80\n").unwrap();
    let err = usage_error(&run(
        dir.path(),
        &[],
        &["--config", "unknown.toml", "config", "show"],
    ));
    assert!(
        err.contains("unknown.toml") && err.contains("listen_port"),
        "{err}"
    );
    std::fs::write(dir.path().join("range.toml"), "idle_timeout_secs = 0\n").unwrap();
    let err = usage_error(&run(
        dir.path(),
        &[],
        &["--config", "range.toml", "config", "show"],
    ));
    assert!(err.contains("invalid setting idle_timeout_secs"), "{err}");
}

#[test]
fn rotating_a_token_keeps_the_files_comments_and_layout() {
    let dir = tempfile::tempdir().unwrap();
    let cfg = dir.path().join("c.toml");
    let text = "# top comment\nlisten   = \"127.0.0.1:0\"   # where\ndata_dir = \"data\"\n\n\
                # the token\nverify_token = \"old-token\"  # keep this note\n# the end\n";
    std::fs::write(&cfg, text).unwrap();
    std::fs::set_permissions(&cfg, std::fs::Permissions::from_mode(0o600)).unwrap();
    stdout(&run(
        dir.path(),
        &[],
        &[
            "--config",
            "c.toml",
            "rotate",
            "verify-token",
            "--value",
            "new-token",
        ],
    ));
    let after = std::fs::read_to_string(&cfg).unwrap();
    assert_eq!(
        after,
        text.replace("\"old-token\"", "\"new-token\""),
        "only the value changed"
    );

    // In the shipped sample, the commented line is set in place.
    let sample = std::fs::read_to_string(Path::new(REPO).join("packaging/helpstack.toml")).unwrap();
    let local = sample
        .replace("\"/var/lib/helpstack\"", "\"data\"")
        .replace("\"127.0.0.1:8080\"", "\"127.0.0.1:0\"");
    std::fs::write(&cfg, &local).unwrap();
    stdout(&run(
        dir.path(),
        &[],
        &[
            "--config",
            "c.toml",
            "rotate",
            "verify-token",
            "--provider",
            "whatsapp",
            "--value",
            "wa-token",
        ],
    ));
    let after = std::fs::read_to_string(&cfg).unwrap();
    assert_eq!(
        after,
        local.replace(
            "# whatsapp_verify_token = \"\"",
            "whatsapp_verify_token = \"wa-token\""
        )
    );
}

#[test]
fn the_man_page_lists_every_key_from_the_binary() {
    let dir = tempfile::tempdir().unwrap();
    let page = dir.path().join("helpstack.1");
    let out = Command::new("bash")
        .arg(Path::new(REPO).join("packaging/gen-man.sh"))
        .arg(BIN)
        .arg(&page)
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let man = std::fs::read_to_string(&page).unwrap();
    assert!(
        !man.lines()
            .any(|l| l == "@CONFIGURATION@" || l == "@COMMANDS@"),
        "placeholders left"
    );
    let config = &man[man.find(".SH CONFIGURATION").unwrap()..man.find(".SH FILES").unwrap()];
    for [key, env, _, _, _] in keys(dir.path()) {
        assert!(
            config.contains(&format!("\n.B {key}\n")),
            "{key} not in CONFIGURATION"
        );
        let names = env.replace(',', " or ").replace('-', "\\-");
        assert!(config.contains(&names), "{names} not in CONFIGURATION");
    }
    assert!(
        man.contains(".SS \"config show\""),
        "the config command is documented"
    );
}

#[test]
fn the_readme_table_lists_every_key_with_its_env_names_and_default() {
    let dir = tempfile::tempdir().unwrap();
    let readme = std::fs::read_to_string(Path::new(REPO).join("README.md")).unwrap();
    for [key, env, _, default, _] in keys(dir.path()) {
        let row = readme
            .lines()
            .find(|l| l.starts_with(&format!("| `{key}` |")))
            .unwrap_or_else(|| panic!("README's configuration table has no row for {key}"));
        let cells: Vec<&str> = row.split(" | ").collect();
        let names: Vec<String> = env.split(',').map(|n| format!("`{n}`")).collect();
        assert!(
            cells[1].trim_end_matches(" (comma-separated)") == names.join(", "),
            "{key}: README names {:?}, the table {names:?}",
            cells[1]
        );
        // A default that is a value (not words) appears as written.
        if !default.contains(' ') {
            assert!(
                cells[3].contains(&default),
                "{key}: README default {:?}, the table {default:?}",
                cells[3]
            );
        }
    }
}

#[test]
fn init_writes_every_key_documented_with_its_answers_set() {
    let dir = tempfile::tempdir().unwrap();
    stdout(&run(
        dir.path(),
        &[],
        &[
            "init",
            "--non-interactive",
            "--config",
            "mine.toml",
            "--app-secret",
            "s3cret-from-init",
            "--public-url",
            "https://help.example.com",
        ],
    ));
    let text = std::fs::read_to_string(dir.path().join("mine.toml")).unwrap();
    for [key, env, ..] in keys(dir.path()) {
        let set = text.lines().any(|l| l.starts_with(&format!("{key} = ")));
        let commented = text.lines().any(|l| l.starts_with(&format!("# {key} = ")));
        assert!(
            set ^ commented,
            "{key}: set or commented out, once:\n{text}"
        );
        let first_env = env.split(',').next().unwrap().trim().to_string();
        assert!(text.contains(&first_env), "{key}'s {first_env} is named");
    }
    for line in [
        "app_secret = \"s3cret-from-init\"",
        "public_url = \"https://help.example.com\"",
        "listen = \"127.0.0.1:8080\"",
    ] {
        assert!(text.lines().any(|l| l == line), "{line} in:\n{text}");
    }
    assert!(text.lines().any(|l| l.starts_with("secret_key = \"")));
    assert!(text.lines().any(|l| l.starts_with("verify_token = \"")));
    assert!(text.lines().any(|l| l.starts_with("# job_workers = ")));
}
