//! `helpstack rotate`: replace a secret without downtime.
//!
//! Secrets that live in the config file are written there with `config::set_file_key`
//! (comments and other lines kept); the running server notices the file change (or a
//! SIGHUP) and swaps them in. Values the server generated for itself (the verify token
//! when no file sets one) and the rotated-out app secret live in the database settings,
//! which the server re-reads on the same schedule.

use std::time::Duration;

use clap::Subcommand;

use super::UsageError;
use crate::config::{self, ConfigSource};
use crate::model::Provider;
use crate::secrets::{random_password, random_token, redact};
use crate::store::{admin, now_ms, settings};

/// Rotate subcommands.
#[derive(Debug, Subcommand)]
pub enum Command {
    /// Replace a webhook verify token (generated when --value is omitted)
    VerifyToken {
        /// Whose token: facebook (also the fallback of the others), instagram, whatsapp
        #[arg(long, default_value = "facebook", value_parser = ["facebook", "instagram", "whatsapp"])]
        provider: String,
        /// The new token
        #[arg(long, value_name = "TOKEN")]
        value: Option<String>,
    },
    /// Replace the Meta app secret, still accepting the old one for a grace period
    AppSecret {
        /// The new app secret (App dashboard > App settings > Basic)
        #[arg(long, value_name = "SECRET")]
        value: String,
        /// How long the old secret stays accepted: e.g. 30m, 24h, 7d; 0 for not at all
        #[arg(long, default_value = "24h", value_parser = parse_grace)]
        grace: Duration,
    },
    /// Replace a dashboard admin's password (generated when --value is omitted) and end
    /// that admin's sessions
    AdminPassword {
        /// The admin's user name
        #[arg(long, value_name = "USER", default_value = "admin")]
        user: String,
        /// The new password
        #[arg(long, value_name = "PASSWORD")]
        value: Option<String>,
    },
    /// Replace the key sealing the access tokens in the database and re-seal them all
    SecretKey,
    /// Replace a channel's access token (same as `channel set-token`)
    ChannelToken {
        /// Channel id
        id: i64,
        /// The new access token
        #[arg(long, value_name = "TOKEN")]
        value: String,
    },
}

/// Longest grace period: a rotated-out secret is a leaked one until it expires.
const MAX_GRACE: Duration = Duration::from_secs(7 * 86_400);

/// Parses `--grace`, refusing more than [`MAX_GRACE`].
fn parse_grace(s: &str) -> Result<Duration, String> {
    let d = super::parse_duration(s)?;
    if d > MAX_GRACE {
        return Err(format!(
            "{s:?} is longer than the maximum grace period of 7d"
        ));
    }
    Ok(d)
}

/// Runs a rotate subcommand.
pub fn run(source: &ConfigSource, cmd: Command) -> anyhow::Result<()> {
    let config = super::load(source)?;
    match cmd {
        Command::VerifyToken { provider, value } => verify_token(&config, &provider, value),
        Command::AppSecret { value, grace } => app_secret(&config, &value, grace),
        Command::AdminPassword { user, value } => admin_password(&config, &user, value),
        Command::SecretKey => secret_key(&config),
        // An alias: it runs `channel set-token` itself, output and all.
        Command::ChannelToken { id, value } => {
            super::channel::run(source, super::channel::Command::SetToken { id, value })
        }
    }
}

/// The config key and environment variables of a provider's verify token.
fn verify_names(provider: Provider) -> (&'static str, &'static [&'static str]) {
    let key = match provider {
        Provider::Facebook => "verify_token",
        Provider::Instagram => "instagram_verify_token",
        Provider::Whatsapp => "whatsapp_verify_token",
    };
    (key, config::env_names(key))
}

fn set_env_var(names: &[&str]) -> Option<String> {
    names
        .iter()
        .find(|n| super::env(n).is_some_and(|v| !v.is_empty()))
        .map(|n| n.to_string())
}

fn verify_token(
    config: &config::Config,
    provider: &str,
    value: Option<String>,
) -> anyhow::Result<()> {
    let provider = Provider::parse(provider)
        .ok_or_else(|| UsageError(format!("unknown provider {provider:?}")))?;
    let token = match value {
        Some(v) if v.trim().is_empty() => {
            return Err(UsageError("--value must not be empty".into()).into());
        }
        Some(v) => v.trim().to_string(),
        None => random_token(16),
    };
    let (key, env_names) = verify_names(provider);
    let written_to = match &config.file {
        Some(path) => {
            config::set_file_key(path, key, &token)?;
            format!("{key} in {}", path.display())
        }
        None if provider == Provider::Facebook => {
            let db = super::open_database(config)?;
            settings::set(&*db.conn()?, settings::GENERATED_VERIFY_TOKEN, &token)?;
            format!("the database ({})", db.path().display())
        }
        None => {
            return Err(UsageError(format!(
                "no config file is in use, and the {provider} verify token can only be kept in \
                 one: create it with `helpstack init` or pass --config FILE (or set {})",
                env_names[1]
            ))
            .into());
        }
    };
    println!("new {provider} verify token: {token}");
    println!("written to {written_to}");
    if let Some(var) = set_env_var(env_names) {
        eprintln!(
            "warning: {var} is set in this environment and overrides the new token; a server \
             started with it keeps using the old one until you change or remove {var}"
        );
    }
    if provider == Provider::Facebook {
        let own = |p: Provider, configured: bool| {
            let (_, names) = verify_names(p);
            configured || set_env_var(names).is_some()
        };
        let file = config.file.as_deref().map(config::read_file).transpose()?;
        let followers: Vec<&str> = [
            (
                Provider::Instagram,
                file.as_ref()
                    .is_some_and(|f| f.instagram_verify_token.is_some()),
            ),
            (
                Provider::Whatsapp,
                file.as_ref()
                    .is_some_and(|f| f.whatsapp_verify_token.is_some()),
            ),
        ]
        .into_iter()
        .filter(|(p, configured)| !own(*p, *configured))
        .map(|(p, _)| p.as_str())
        .collect();
        if !followers.is_empty() {
            println!(
                "{} use{} this token too (no token of {} own): update {} in Meta as well",
                followers.join(" and "),
                if followers.len() == 1 { "s" } else { "" },
                if followers.len() == 1 { "its" } else { "their" },
                if followers.len() == 1 { "it" } else { "them" }
            );
        }
    }
    let place = match provider {
        Provider::Facebook => "Messenger > Messenger API Settings > Webhooks",
        Provider::Instagram => "Instagram > API setup > Webhooks",
        Provider::Whatsapp => "WhatsApp > Configuration > Webhook",
    };
    let callback = match &config.public_url {
        Some(url) => format!("{}/api/webhooks/{provider}", url.trim_end_matches('/')),
        None => format!(
            "https://YOUR-HOST/api/webhooks/{provider} (set public_url to have it shown here)"
        ),
    };
    println!();
    println!("The running server uses it within a few seconds (SIGHUP applies it at once).");
    println!("Meta checks the token only when the subscription is verified, so deliveries");
    println!("continue meanwhile. To update Meta:");
    println!("  1. Meta App dashboard > {place}");
    println!("  2. Edit subscription; Callback URL: {callback}");
    println!("  3. Verify token: paste the new token");
    println!("  4. Verify and save");
    Ok(())
}

fn app_secret(config: &config::Config, value: &str, grace: Duration) -> anyhow::Result<()> {
    let value = value.trim();
    if value.is_empty() {
        return Err(UsageError("--value must not be empty".into()).into());
    }
    if let Some(var) = set_env_var(config::env_names("app_secret")) {
        return Err(UsageError(format!(
            "the app secret comes from the environment ({var}), not the config file: change \
             {var} where it is set (e.g. the systemd unit's EnvironmentFile) and restart"
        ))
        .into());
    }
    let Some(path) = config.file.as_deref() else {
        return Err(UsageError(
            "no config file is in use: app_secret rotation writes the config file; create \
             one with `helpstack init` or pass --config FILE"
                .into(),
        )
        .into());
    };
    let current = config::read_file(path)?
        .app_secret
        .filter(|s| !s.is_empty());
    if current.as_deref() == Some(value) {
        return Err(UsageError("the new app secret equals the current one".into()).into());
    }
    // The database first: if writing the file fails, the server still accepts the
    // current secret (it is both "current" and "previous"), nothing is lost.
    let db = super::open_database(config)?;
    let conn = db.conn()?;
    let until = now_ms() + grace.as_millis() as i64;
    match &current {
        Some(old) if !grace.is_zero() => {
            settings::set(&conn, settings::PREVIOUS_APP_SECRET, old)?;
            settings::set(
                &conn,
                settings::PREVIOUS_APP_SECRET_UNTIL,
                &until.to_string(),
            )?;
        }
        _ => {
            settings::delete(&conn, settings::PREVIOUS_APP_SECRET)?;
            settings::delete(&conn, settings::PREVIOUS_APP_SECRET_UNTIL)?;
        }
    }
    config::set_file_key(path, "app_secret", value)?;
    println!(
        "app secret replaced in {} (new: {})",
        path.display(),
        redact(value)
    );
    match &current {
        Some(old) if !grace.is_zero() => println!(
            "the previous secret ({}) stays accepted for {} (until {})",
            redact(old),
            super::human_duration(grace),
            crate::time_fmt::rfc3339(until)
        ),
        Some(_) => println!(
            "the previous secret is no longer accepted (--grace 0: ended {})",
            crate::time_fmt::rfc3339(until)
        ),
        None => println!("there was no app secret in the file before"),
    }
    println!("The running server uses it within a few seconds (SIGHUP applies it at once).");
    println!(
        "Meta signs with the secret shown under App dashboard > App settings > Basic: it must be this one."
    );
    Ok(())
}

fn admin_password(
    config: &config::Config,
    user: &str,
    value: Option<String>,
) -> anyhow::Result<()> {
    let db = super::open_database(config)?;
    let conn = db.conn()?;
    if admin::find(&conn, user)?.is_none() {
        anyhow::bail!("no admin named {user:?}");
    }
    let (password, generated) = match value {
        Some(v) if v.is_empty() => {
            return Err(UsageError("--value must not be empty".into()).into());
        }
        Some(v) => {
            crate::auth::check_new_login(user, &v)
                .map_err(|reason| UsageError(format!("--value: {reason}")))?;
            (v, false)
        }
        None => (random_password(), true),
    };
    admin::set_password(&conn, user, &crate::auth::hash_password(&password))?;
    if generated {
        println!("new password for admin {user:?} (shown only this once): {password}");
    } else {
        println!("password of admin {user:?} replaced");
    }
    println!("all of {user:?}'s dashboard sessions were ended");
    Ok(())
}

/// Replaces the token key where it lives (config file or data directory key file) and
/// re-seals every token. The old key is parked in `secret.key.previous` meanwhile, so
/// a crash at any step leaves every token openable.
fn secret_key(config: &config::Config) -> anyhow::Result<()> {
    if let Some(var) = set_env_var(config::env_names("secret_key")) {
        return Err(UsageError(format!(
            "the key comes from the environment ({var}): tokens sealed with a new key could \
             not be opened by a server still given the old one; change it where {var} is set"
        ))
        .into());
    }
    let db = super::open_database(config)?;
    let conn = db.conn()?;
    let key_file = config.data_dir.join(crate::data_dir::KEY_FILE);
    let in_file = config
        .file
        .as_deref()
        .map(config::read_file)
        .transpose()?
        .and_then(|f| f.secret_key)
        .filter(|k| !k.is_empty());
    let old = match &in_file {
        Some(k) => k.clone(),
        None => std::fs::read_to_string(&key_file)?.trim().to_string(),
    };
    let previous = key_file.with_file_name(crate::data_dir::PREVIOUS_KEY_FILE);
    let _ = std::fs::remove_file(&previous);
    crate::private_files::create_new(&previous, format!("{old}\n").as_bytes())?;
    let new = crate::seal::generate_key();
    let written_to = match (&in_file, &config.file) {
        (Some(_), Some(path)) => {
            config::set_file_key(path, "secret_key", &new)?;
            format!("secret_key in {}", path.display())
        }
        _ => {
            let tmp = key_file.with_extension("key.tmp");
            let _ = std::fs::remove_file(&tmp);
            crate::private_files::create_new(&tmp, format!("{new}\n").as_bytes())?;
            std::fs::rename(&tmp, &key_file)?;
            key_file.display().to_string()
        }
    };
    let id = crate::seal::set_current(&new)?;
    let resealed = crate::store::channel::reseal_all(&conn, &id)?;
    std::fs::remove_file(&previous)?;
    println!("new access-token key {id} written to {written_to}");
    println!("{resealed} channel token(s) re-sealed with it; the old key is gone");
    println!("The running server picks the new key up when it next reads a token.");
    Ok(())
}
