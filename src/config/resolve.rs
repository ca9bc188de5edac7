//! Combining the layers (defaults, file, environment, flags) into a [`Config`], and
//! the checks of values that parse but cannot work.

use std::path::PathBuf;

use super::settings::{self, Layered};
use super::*;

/// Combines the layers; split from [`load`] so tests can skip the filesystem.
pub fn resolve(
    file: FileConfig,
    file_path: Option<PathBuf>,
    flags: &Overrides,
    env: &dyn Fn(&str) -> Option<String>,
) -> Result<Config, ConfigError> {
    resolve_layered(file, file_path, flags, env).map(|(config, _)| config)
}

/// Combines the layers and returns each value's source next to the [`Config`].
pub fn resolve_layered(
    file: FileConfig,
    file_path: Option<PathBuf>,
    flags: &Overrides,
    env: &dyn Fn(&str) -> Option<String>,
) -> Result<(Config, Layered), ConfigError> {
    let flags = FileConfig {
        listen: flags.listen.clone(),
        data_dir: flags.data_dir.clone(),
        graph_api_url: flags.graph_api_url.clone(),
        max_body_bytes: flags.max_body_bytes,
        ..FileConfig::default()
    };
    let l = settings::layer(file, flags, env)?;
    let secret = |v: &Option<String>| v.clone().and_then(Secret::new);
    let config = Config {
        file: file_path,
        limits: limits_from(&l)?,
        listen: l.listen.value.clone(),
        data_dir: l.data_dir.value.clone(),
        graph_api_url: l.graph_api_url.value.trim_end_matches('/').to_string(),
        app_secret: secret(&l.app_secret.value),
        verify_tokens: VerifyTokens {
            facebook: secret(&l.verify_token.value),
            instagram: secret(&l.instagram_verify_token.value),
            whatsapp: secret(&l.whatsapp_verify_token.value),
        },
        max_body_bytes: l.max_body_bytes.value,
        public_url: l.public_url.value.clone(),
        allow_private_media_hosts: l.allow_private_media_hosts.value,
        job_workers: l.job_workers.value,
        job_max_attempts: l.job_max_attempts.value,
        max_attachment_bytes: l.max_attachment_bytes.value,
        profile_max_age_days: l.profile_max_age_days.value,
        journal_retention_days: l.journal_retention_days.value,
        metrics_token: secret(&l.metrics_token.value),
        trusted_proxies: parse_proxies(
            l.trusted_proxies.name_for("trusted_proxies"),
            l.trusted_proxies.value.iter().map(String::as_str),
        )?,
        client_ip_header: l
            .client_ip_header
            .value
            .as_ref()
            .map(|h| h.trim().to_ascii_lowercase())
            .filter(|h| !h.is_empty()),
        secret_key: secret(&l.secret_key.value),
    };
    validate(&config)?;
    Ok((config, l))
}

/// Takes the limits from the layered settings and checks their ranges.
pub(super) fn limits_from(l: &Layered) -> Result<Limits, ConfigError> {
    let secs = |key: &str, n: u64| {
        if n == 0 || n > 3600 {
            return Err(invalid(key, "must be between 1 and 3600 seconds"));
        }
        Ok(std::time::Duration::from_secs(n))
    };
    let limits = Limits {
        header_read_timeout: secs("header_read_timeout_secs", l.header_read_timeout_secs.value)?,
        body_read_timeout: secs("body_read_timeout_secs", l.body_read_timeout_secs.value)?,
        idle_timeout: secs("idle_timeout_secs", l.idle_timeout_secs.value)?,
        max_connections: l.max_connections.value,
        max_unverified_body_bytes: l.max_unverified_body_bytes.value,
    };
    if limits.max_connections == 0 {
        return Err(invalid("max_connections", "must be at least 1"));
    }
    Ok(limits)
}

/// Parses trusted proxies: networks in CIDR form, or single addresses.
fn parse_proxies<'a>(
    key: &str,
    items: impl Iterator<Item = &'a str>,
) -> Result<Vec<ipnet::IpNet>, ConfigError> {
    items
        .map(|item| {
            let item = item.trim();
            item.parse::<ipnet::IpNet>()
                .or_else(|_| item.parse::<std::net::IpAddr>().map(ipnet::IpNet::from))
                .map_err(|_| {
                    invalid(
                        key,
                        format!("{item:?} is not an address or network (e.g. 10.0.0.0/8)"),
                    )
                })
        })
        .collect()
}

/// Checks values that parse but cannot work.
pub fn validate(config: &Config) -> Result<(), ConfigError> {
    if let Some(k) = &config.secret_key
        && let Err(e) = crate::seal::parse_key(k.expose())
    {
        return Err(invalid(
            "secret_key",
            e.to_string().trim_start_matches("secret_key: "),
        ));
    }
    if config.listen.parse::<std::net::SocketAddr>().is_err() {
        return Err(invalid(
            "listen",
            format!(
                "{:?} is not an IP:port address (e.g. 127.0.0.1:8080)",
                config.listen
            ),
        ));
    }
    if !(config.graph_api_url.starts_with("https://")
        || config.graph_api_url.starts_with("http://"))
    {
        return Err(invalid(
            "graph_api_url",
            "must start with https:// (or http:// for a local test server)",
        ));
    }
    if config.max_body_bytes < 1024 {
        return Err(invalid("max_body_bytes", "must be at least 1024"));
    }
    limits::validate(&config.limits, config.max_body_bytes)?;
    if config.job_workers > 64 {
        return Err(invalid(
            "job_workers",
            "must be between 0 (no background jobs) and 64",
        ));
    }
    if config.job_max_attempts == 0 {
        return Err(invalid("job_max_attempts", "must be at least 1"));
    }
    if let Some(h) = &config.client_ip_header
        && !h
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || b == b'-' || b == b'_')
    {
        return Err(invalid(
            "client_ip_header",
            format!("{h:?} is not a header name (e.g. X-Real-IP)"),
        ));
    }
    if let Some(url) = &config.public_url
        && !(url.starts_with("https://") || url.starts_with("http://"))
    {
        return Err(invalid(
            "public_url",
            "must be an absolute URL such as https://help.example.com",
        ));
    }
    Ok(())
}
