//! Checks of the configuration: the file, the secrets, the public URL, the clock.

use rusqlite::Connection;

use super::{Check, fail, pass, warn};
use crate::config::Config;
use crate::secrets::Secret;
use crate::store::{now_ms, settings};
use crate::time_fmt::rfc3339;

/// Is the config file private?
pub(super) fn file(config: &Config) -> Check {
    use std::os::unix::fs::PermissionsExt;
    let name = "config file";
    let Some(path) = &config.file else {
        return pass(name, "none in use: built-in defaults and the environment");
    };
    let mode = match std::fs::metadata(path) {
        Ok(m) => m.permissions().mode() & 0o777,
        Err(e) => return fail(name, format!("{}: {e}", path.display()), "check the path"),
    };
    let holds_secret = crate::config::read_file(path)
        .map(|f| f.app_secret.is_some_and(|s| !s.is_empty()))
        .unwrap_or(false);
    let detail = format!("{} parses (mode {mode:04o})", path.display());
    let hint = format!(
        "chmod 600 {} (or 640 with group helpstack): it holds the app secret",
        path.display()
    );
    match (mode & 0o004 != 0, holds_secret) {
        (false, _) => pass(name, detail),
        (true, true) => fail(name, format!("{detail}, readable by every user"), hint),
        (true, false) => warn(name, format!("{detail}, readable by every user"), hint),
    }
}

fn env_source(names: &[&str]) -> Option<String> {
    names
        .iter()
        .find(|n| crate::cli::env(n).is_some_and(|v| !v.is_empty()))
        .map(|n| n.to_string())
}

/// Is an app secret set, and is a rotated-out one still accepted?
pub(super) fn app_secret(config: &Config, conn: Option<&Connection>) -> Check {
    let name = "app secret";
    match &config.app_secret {
        Some(s) => {
            let from = env_source(crate::config::env_names("app_secret"))
                .map(|v| format!("environment {v}"))
                .unwrap_or_else(|| "config file".into());
            let until = conn
                .and_then(|c| settings::get(c, settings::PREVIOUS_APP_SECRET_UNTIL).ok())
                .flatten()
                .and_then(|v| v.parse::<i64>().ok())
                .filter(|until| *until > now_ms());
            let grace = until
                .map(|t| format!("; the previous one is accepted until {}", rfc3339(t)))
                .unwrap_or_default();
            pass(
                name,
                format!("set ({}) from the {from}{grace}", s.redacted()),
            )
        }
        None => fail(
            name,
            crate::config::NO_APP_SECRET,
            crate::config::app_secret_step(config.file.as_deref()),
        ),
    }
}

/// Shows (redacted) which verify token each provider's handshake accepts.
pub(super) fn verify_tokens(config: &Config, conn: Option<&Connection>) -> Check {
    let name = "verify tokens";
    let v = &config.verify_tokens;
    let generated = conn
        .and_then(|c| {
            settings::get(c, settings::GENERATED_VERIFY_TOKEN)
                .ok()
                .flatten()
        })
        .and_then(Secret::new);
    let facebook = match (&v.facebook, &generated) {
        (Some(s), _) => s.redacted(),
        (None, Some(g)) => format!("{} (generated, kept in the database)", g.redacted()),
        (None, None) => {
            return warn(
                name,
                "none configured or generated yet",
                "start `helpstack serve` once (it generates one) or run `helpstack rotate verify-token`",
            );
        }
    };
    let other = |s: &Option<Secret>| match s {
        Some(s) if Some(s) != v.facebook.as_ref() => s.redacted(),
        _ => "same as facebook".into(),
    };
    pass(
        name,
        format!(
            "facebook {facebook}; instagram {}; whatsapp {}",
            other(&v.instagram),
            other(&v.whatsapp)
        ),
    )
}

/// Checks that Meta has an HTTPS address to call.
pub(super) fn public_url(config: &Config) -> Check {
    let name = "public url";
    match &config.public_url {
        None => warn(
            name,
            "not set",
            "set public_url to the HTTPS address Meta calls (e.g. https://help.example.com)",
        ),
        Some(u) if !u.starts_with("https://") => warn(
            name,
            format!("{u} is not HTTPS: Meta only calls HTTPS callbacks"),
            "put an HTTPS reverse proxy in front and set public_url to its address",
        ),
        Some(u) => pass(
            name,
            format!(
                "callbacks {}/api/webhooks/{{facebook,instagram,whatsapp}}",
                u.trim_end_matches('/')
            ),
        ),
    }
}

/// Checks that the system clock is not obviously wrong.
pub(super) fn clock() -> Check {
    // 2025-01-01T00:00:00Z: a clock before this is certainly wrong.
    const SANE: i64 = 1_735_689_600_000;
    let now = now_ms();
    if now > SANE {
        pass("clock", format!("system time {}", rfc3339(now)))
    } else {
        fail(
            "clock",
            format!("system time {} is in the past", rfc3339(now)),
            "enable time sync (timedatectl set-ntp true): TLS and session expiry need it",
        )
    }
}
