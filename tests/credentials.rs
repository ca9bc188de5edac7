//! Credentials an operator can get wrong (issue 17, point 4), through the real binary:
//! empty flag values, the one password policy, the bounded grace period and the
//! redaction of short secrets.

mod common;

use std::process::Output;

use common::*;
use serde_json::json;

fn out(o: &Output) -> String {
    String::from_utf8_lossy(&o.stdout).into_owned()
}

fn err(o: &Output) -> String {
    String::from_utf8_lossy(&o.stderr).into_owned()
}

fn ok(o: &Output) -> String {
    assert!(
        o.status.success(),
        "stdout:\n{}\nstderr:\n{}",
        out(o),
        err(o)
    );
    out(o)
}

fn refused(o: &Output, needle: &str) {
    assert_eq!(
        o.status.code(),
        Some(2),
        "stdout:\n{}\nstderr:\n{}",
        out(o),
        err(o)
    );
    assert!(err(o).contains(needle), "{needle:?} not in:\n{}", err(o));
}

async fn try_login(server: &Server, user: &str, password: &str) -> u16 {
    client()
        .post(server.url("/api/session"))
        .json(&json!({"username": user, "password": password}))
        .send()
        .await
        .unwrap()
        .status()
        .as_u16()
}

#[tokio::test]
async fn an_empty_admin_password_is_generated_not_stored() {
    let w = Workdir::new();
    // What `--admin-password "$PASSWORD"` with PASSWORD unset passes.
    let o = w.run(&[
        "init",
        "--non-interactive",
        "--admin-password",
        "",
        "--verify-token",
        "",
    ]);
    let text = ok(&o);
    let password = text
        .lines()
        .find_map(|l| l.split(" password ").nth(1))
        .unwrap_or_else(|| panic!("no generated password in:\n{text}"))
        .trim()
        .to_string();
    assert!(password.len() >= 10, "{password}");
    assert!(
        text.contains("webhook verify token (enter it"),
        "an empty verify token is generated too:\n{text}"
    );
    let server = w.serve(&[]);
    assert_eq!(
        try_login(&server, "admin", "").await,
        401,
        "empty password refused"
    );
    assert_eq!(try_login(&server, "admin", &password).await, 200);
}

#[test]
fn init_refuses_weak_passwords_and_an_empty_user_and_writes_nothing() {
    let w = Workdir::new();
    let cases: [(&[&str], &str); 3] = [
        (&["--admin-password", "short"], "at least 10 characters"),
        (
            &[
                "--admin-user",
                "operator-one",
                "--admin-password",
                "operator-one",
            ],
            "must not be the user name",
        ),
        (
            &["--admin-user", "", "--admin-password", "long enough pw"],
            "--admin-user must not be empty",
        ),
    ];
    for (flags, needle) in cases {
        let mut args = vec!["init", "--non-interactive"];
        args.extend_from_slice(flags);
        refused(&w.run(&args), needle);
        assert!(
            !w.path().join("helpstack.toml").exists(),
            "config written for {flags:?}"
        );
        assert!(!w.db_path().exists(), "database created for {flags:?}");
    }
}

#[tokio::test]
async fn rotate_and_dashboard_apply_the_same_policy() {
    let w = Workdir::new();
    const USER: &str = "operator-one";
    ok(&w.run(&[
        "init",
        "--non-interactive",
        "--config",
        "init.toml",
        "--admin-user",
        USER,
        "--admin-password",
        ADMIN_PASSWORD,
    ]));
    refused(
        &w.run(&[
            "rotate",
            "admin-password",
            "--user",
            USER,
            "--value",
            "tooshort",
        ]),
        "at least 10 characters",
    );
    refused(
        &w.run(&[
            "rotate",
            "admin-password",
            "--user",
            USER,
            "--value",
            "Operator-One",
        ]),
        "must not be the user name",
    );
    let server = w.serve(&[]);
    assert_eq!(
        try_login(&server, USER, ADMIN_PASSWORD).await,
        200,
        "unchanged"
    );
    let resp = client()
        .post(server.url("/api/session"))
        .json(&json!({"username": USER, "password": ADMIN_PASSWORD}))
        .send()
        .await
        .unwrap();
    let cookie = resp.headers()["set-cookie"]
        .to_str()
        .unwrap()
        .split(';')
        .next()
        .unwrap()
        .to_string();
    let resp = client()
        .post(server.url("/api/session/password"))
        .header("cookie", &cookie)
        .json(&json!({"current": ADMIN_PASSWORD, "new": USER}))
        .send()
        .await
        .unwrap();
    assert_eq!(resp.status(), 400);
    let body = resp.text().await.unwrap();
    assert!(body.contains("user name"), "{body}");
    assert_eq!(
        try_login(&server, USER, ADMIN_PASSWORD).await,
        200,
        "unchanged"
    );
    assert_eq!(try_login(&server, USER, USER).await, 401);
}

#[test]
fn grace_is_bounded_and_its_end_is_always_printed() {
    let w = Workdir::bare();
    ok(&w.run(&[
        "init",
        "--non-interactive",
        "--app-secret",
        "first-app-secret-0123456789",
    ]));
    let before = std::fs::read_to_string(w.path().join("helpstack.toml")).unwrap();
    let o = w.run(&[
        "rotate",
        "app-secret",
        "--value",
        "second-app-secret-0123456789",
        "--grace",
        "99999999h",
    ]);
    assert_eq!(o.status.code(), Some(2), "{}", err(&o));
    assert!(
        err(&o).contains("maximum grace period of 7d"),
        "{}",
        err(&o)
    );
    let o = w.run(&[
        "rotate",
        "app-secret",
        "--value",
        "second-app-secret-0123456789",
        "--grace",
        "8d",
    ]);
    assert_eq!(o.status.code(), Some(2), "{}", err(&o));
    assert_eq!(
        std::fs::read_to_string(w.path().join("helpstack.toml")).unwrap(),
        before,
        "a refused rotation changes nothing"
    );
    let text = ok(&w.run(&[
        "rotate",
        "app-secret",
        "--value",
        "second-app-secret-0123456789",
        "--grace",
        "7d",
    ]));
    let until = text
        .split("(until ")
        .nth(1)
        .unwrap_or_else(|| panic!("no end time in:\n{text}"));
    assert!(until.starts_with("20") && until.contains('T'), "{text}");
}

#[test]
fn short_secrets_show_as_stars_only() {
    let w = Workdir::bare();
    ok(&w.run(&["init", "--non-interactive", "--app-secret", "old-short-1"]));
    let text = ok(&w.run(&[
        "rotate",
        "app-secret",
        "--value",
        "new-short-2",
        "--grace",
        "1h",
    ]));
    assert!(text.contains("(new: ***)"), "{text}");
    assert!(text.contains("previous secret (***)"), "{text}");
    assert!(!text.contains("ne…") && !text.contains("ol…"), "{text}");
    assert!(
        !text.contains("chars)"),
        "no length of a short secret:\n{text}"
    );
    let doctor = out(&w.run(&["doctor", "--offline"]));
    assert!(
        !doctor.contains("new-short-2") && !doctor.contains("ne…"),
        "{doctor}"
    );
}
