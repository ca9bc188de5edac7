//! Combining the layers (defaults, file, environment, flags) into a [`Config`], and
//! the checks of values that parse but cannot work.

use std::path::PathBuf;

use super::*;

/// Combines the layers; split from [`load`] so tests can skip the filesystem.
pub fn resolve(
    file: FileConfig,
    file_path: Option<PathBuf>,
    flags: &Overrides,
    env: &dyn Fn(&str) -> Option<String>,
) -> Result<Config, ConfigError> {
    let env = |k: &str| env(k).filter(|v| !v.is_empty());
    let first_env = |keys: &[&str]| keys.iter().find_map(|k| env(k));
    let limits = limits::resolve(&file, &env)?;

    let listen = flags
        .listen
        .clone()
        .or_else(|| env("HELPSTACK_LISTEN"))
        .or(file.listen)
        .unwrap_or_else(|| DEFAULT_LISTEN.to_string());
    let data_dir = flags
        .data_dir
        .clone()
        .or_else(|| env("HELPSTACK_DATA_DIR").map(PathBuf::from))
        .or(file.data_dir)
        .unwrap_or_else(|| PathBuf::from(DEFAULT_DATA_DIR));
    let graph_api_url = flags
        .graph_api_url
        .clone()
        .or_else(|| env("HELPSTACK_GRAPH_API_URL"))
        .or(file.graph_api_url)
        .unwrap_or_else(|| DEFAULT_GRAPH_API_URL.to_string())
        .trim_end_matches('/')
        .to_string();
    let app_secret = first_env(&["HELPSTACK_APP_SECRET", "FACEBOOK_APP_SECRET"])
        .or(file.app_secret)
        .and_then(Secret::new);
    let facebook = first_env(&["HELPSTACK_VERIFY_TOKEN", "FACEBOOK_VERIFY_TOKEN"])
        .or(file.verify_token)
        .and_then(Secret::new);
    let instagram = first_env(&["HELPSTACK_INSTAGRAM_VERIFY_TOKEN", "INSTAGRAM_VERIFY_TOKEN"])
        .or(file.instagram_verify_token)
        .and_then(Secret::new)
        .or_else(|| facebook.clone());
    let whatsapp = first_env(&["HELPSTACK_WHATSAPP_VERIFY_TOKEN", "WHATSAPP_VERIFY_TOKEN"])
        .or(file.whatsapp_verify_token)
        .and_then(Secret::new)
        .or_else(|| facebook.clone());
    let max_body_bytes = match flags.max_body_bytes {
        Some(v) => v,
        None => match env("HELPSTACK_MAX_BODY_BYTES") {
            Some(v) => parse_env("HELPSTACK_MAX_BODY_BYTES", &v)?,
            None => file.max_body_bytes.unwrap_or(DEFAULT_MAX_BODY_BYTES),
        },
    };
    let public_url = env("HELPSTACK_PUBLIC_URL").or(file.public_url);
    let allow_private_media_hosts = match env("HELPSTACK_ALLOW_PRIVATE_MEDIA_HOSTS") {
        Some(v) => parse_env("HELPSTACK_ALLOW_PRIVATE_MEDIA_HOSTS", &v)?,
        None => file.allow_private_media_hosts.unwrap_or(false),
    };
    let job_workers = match env("HELPSTACK_JOB_WORKERS") {
        Some(v) => parse_env("HELPSTACK_JOB_WORKERS", &v)?,
        None => file.job_workers.unwrap_or(4),
    };
    let job_max_attempts = match env("HELPSTACK_JOB_MAX_ATTEMPTS") {
        Some(v) => parse_env("HELPSTACK_JOB_MAX_ATTEMPTS", &v)?,
        None => file.job_max_attempts.unwrap_or(8),
    };
    let max_attachment_bytes = match env("HELPSTACK_MAX_ATTACHMENT_BYTES") {
        Some(v) => parse_env("HELPSTACK_MAX_ATTACHMENT_BYTES", &v)?,
        None => file
            .max_attachment_bytes
            .unwrap_or(DEFAULT_MAX_ATTACHMENT_BYTES),
    };
    let profile_max_age_days = match env("HELPSTACK_PROFILE_MAX_AGE_DAYS") {
        Some(v) => parse_env("HELPSTACK_PROFILE_MAX_AGE_DAYS", &v)?,
        None => file.profile_max_age_days.unwrap_or(7),
    };

    let config = Config {
        file: file_path,
        limits,
        listen,
        data_dir,
        graph_api_url,
        app_secret,
        verify_tokens: VerifyTokens {
            facebook,
            instagram,
            whatsapp,
        },
        max_body_bytes,
        public_url,
        allow_private_media_hosts,
        job_workers,
        job_max_attempts,
        max_attachment_bytes,
        profile_max_age_days,
        journal_retention_days: match env("HELPSTACK_JOURNAL_RETENTION_DAYS") {
            Some(v) => parse_env("HELPSTACK_JOURNAL_RETENTION_DAYS", &v)?,
            None => file.journal_retention_days.unwrap_or(30),
        },
        metrics_token: env("HELPSTACK_METRICS_TOKEN")
            .or(file.metrics_token)
            .and_then(Secret::new),
        trusted_proxies: match env("HELPSTACK_TRUSTED_PROXIES") {
            Some(v) => parse_proxies(
                "HELPSTACK_TRUSTED_PROXIES",
                v.split([',', ' ']).filter(|s| !s.is_empty()),
            )?,
            None => match &file.trusted_proxies {
                Some(list) => parse_proxies("trusted_proxies", list.iter().map(String::as_str))?,
                None => DEFAULT_TRUSTED_PROXIES
                    .iter()
                    .map(|p| p.parse().expect("valid default"))
                    .collect(),
            },
        },
        client_ip_header: env("HELPSTACK_CLIENT_IP_HEADER")
            .or(file.client_ip_header)
            .map(|h| h.trim().to_ascii_lowercase())
            .filter(|h| !h.is_empty()),
        secret_key: env("HELPSTACK_SECRET_KEY")
            .or(file.secret_key)
            .and_then(Secret::new),
    };
    validate(&config)?;
    Ok(config)
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
