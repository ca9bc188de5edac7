//! Configuration: built-in defaults < TOML file < environment < command-line flags.
//!
//! The seed documentation's variables (`FACEBOOK_APP_SECRET`, `FACEBOOK_VERIFY_TOKEN`,
//! `INSTAGRAM_VERIFY_TOKEN`, `WHATSAPP_VERIFY_TOKEN`) are honoured next to the
//! `HELPSTACK_*` names; where both are set the `HELPSTACK_*` one wins. The Instagram and
//! WhatsApp verify tokens fall back to the Facebook one after each has been resolved
//! through the whole chain, so a provider-specific token set anywhere wins over the
//! fallback.

use std::path::{Path, PathBuf};

use serde::{Deserialize, Serialize};

use crate::secrets::Secret;

pub mod limits;

pub use limits::Limits;

/// Listen address when nothing else is configured.
pub const DEFAULT_LISTEN: &str = "127.0.0.1:8080";
/// Data directory when nothing else is configured (relative to the working directory).
pub const DEFAULT_DATA_DIR: &str = "./helpstack-data";
/// Graph API base URL, versioned: Meta never wants unversioned calls.
pub const DEFAULT_GRAPH_API_URL: &str = "https://graph.facebook.com/v25.0";
/// WhatsApp bodies can reach 3 MB; 4 MiB leaves headroom.
pub const DEFAULT_MAX_BODY_BYTES: u64 = 4 * 1024 * 1024;
/// Config file looked for in the working directory when none is named.
pub const DEFAULT_CONFIG_FILE: &str = "helpstack.toml";
/// Largest attachment the downloader keeps.
pub const DEFAULT_MAX_ATTACHMENT_BYTES: u64 = 100 * 1024 * 1024;
/// Proxies trusted when none are configured: one on this machine (the documented setup).
pub const DEFAULT_TRUSTED_PROXIES: &[&str] = &["127.0.0.0/8", "::1/128"];

/// The keys a config file may contain. Unknown keys are an error.
#[derive(Debug, Default, Clone, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct FileConfig {
    pub listen: Option<String>,
    pub data_dir: Option<PathBuf>,
    pub graph_api_url: Option<String>,
    pub app_secret: Option<String>,
    pub verify_token: Option<String>,
    pub instagram_verify_token: Option<String>,
    pub whatsapp_verify_token: Option<String>,
    pub max_body_bytes: Option<u64>,
    pub public_url: Option<String>,
    pub allow_private_media_hosts: Option<bool>,
    pub job_workers: Option<usize>,
    pub job_max_attempts: Option<u32>,
    pub max_attachment_bytes: Option<u64>,
    pub profile_max_age_days: Option<u64>,
    pub metrics_token: Option<String>,
    pub journal_retention_days: Option<u64>,
    pub trusted_proxies: Option<Vec<String>>,
    pub client_ip_header: Option<String>,
    pub secret_key: Option<String>,
    pub header_read_timeout_secs: Option<u64>,
    pub body_read_timeout_secs: Option<u64>,
    pub idle_timeout_secs: Option<u64>,
    pub max_connections: Option<usize>,
    pub max_unverified_body_bytes: Option<u64>,
}

/// Values given on the command line; they win over everything else.
#[derive(Debug, Default, Clone, clap::Args)]
pub struct Overrides {
    /// Address to listen on, e.g. 127.0.0.1:8080 (port 0 picks a free port)
    #[arg(long, value_name = "ADDR")]
    pub listen: Option<String>,
    /// Directory for the database and attachments
    #[arg(long, value_name = "DIR")]
    pub data_dir: Option<PathBuf>,
    /// Graph API base URL including the version, e.g. https://graph.facebook.com/v25.0
    #[arg(long, value_name = "URL")]
    pub graph_api_url: Option<String>,
    /// Largest accepted webhook body in bytes
    #[arg(long, value_name = "BYTES")]
    pub max_body_bytes: Option<u64>,
}

/// The resolved configuration the rest of the program uses.
#[derive(Debug, Clone)]
pub struct Config {
    /// The file the values came from, if any.
    pub file: Option<PathBuf>,
    pub listen: String,
    pub data_dir: PathBuf,
    pub graph_api_url: String,
    pub app_secret: Option<Secret>,
    pub verify_tokens: VerifyTokens,
    pub max_body_bytes: u64,
    pub public_url: Option<String>,
    pub allow_private_media_hosts: bool,
    pub job_workers: usize,
    pub job_max_attempts: u32,
    pub max_attachment_bytes: u64,
    pub profile_max_age_days: u64,
    /// Bearer token for `/metrics`; without one, only local scrapers are answered.
    pub metrics_token: Option<Secret>,
    /// Processed/ignored journal bodies older than this are pruned by `serve` (0 = keep).
    pub journal_retention_days: u64,
    /// Peers whose forwarding headers are believed (addresses or networks).
    pub trusted_proxies: Vec<ipnet::IpNet>,
    /// The header naming the client instead of `X-Forwarded-For`, lowercased.
    pub client_ip_header: Option<String>,
    /// Key sealing the Graph access tokens in the database (base64, 32 bytes); without
    /// one, the data directory's `secret.key` file is used (see `seal`).
    pub secret_key: Option<Secret>,
    /// Timeouts and caps for connections and unverified bodies.
    pub limits: Limits,
}

/// Verify tokens per provider, after the seed's fallbacks were applied.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct VerifyTokens {
    pub facebook: Option<Secret>,
    pub instagram: Option<Secret>,
    pub whatsapp: Option<Secret>,
}

/// Why a configuration could not be loaded.
#[derive(Debug, thiserror::Error)]
pub enum ConfigError {
    #[error("config file {0} does not exist")]
    Missing(PathBuf),
    #[error("cannot read config file {path}: {source}")]
    Read {
        path: PathBuf,
        source: std::io::Error,
    },
    #[error("invalid config file {path}: {message}")]
    Parse { path: PathBuf, message: String },
    #[error("invalid setting {key}: {message}")]
    Invalid { key: String, message: String },
}

impl Config {
    /// Returns the path of the SQLite database inside the data directory.
    pub fn database_path(&self) -> PathBuf {
        self.data_dir.join(crate::data_dir::DATABASE)
    }

    /// Returns the directory where attachment bytes are stored.
    pub fn attachments_dir(&self) -> PathBuf {
        self.data_dir.join("attachments")
    }
}

/// Where the config file comes from: an explicit path (flag or `HELPSTACK_CONFIG`) must
/// exist; the default `./helpstack.toml` is used only when present.
pub fn locate(explicit: Option<&Path>, env: &dyn Fn(&str) -> Option<String>) -> ConfigSource {
    if let Some(p) = explicit {
        return ConfigSource::Explicit(p.to_path_buf());
    }
    if let Some(p) = env("HELPSTACK_CONFIG").filter(|v| !v.is_empty()) {
        return ConfigSource::Explicit(PathBuf::from(p));
    }
    ConfigSource::Default(PathBuf::from(DEFAULT_CONFIG_FILE))
}

/// A config file location and whether it had to exist.
#[derive(Debug, Clone)]
pub enum ConfigSource {
    Explicit(PathBuf),
    Default(PathBuf),
}

impl ConfigSource {
    /// Returns the path, whether or not it must exist.
    pub fn path(&self) -> &Path {
        match self {
            ConfigSource::Explicit(p) | ConfigSource::Default(p) => p,
        }
    }
}

/// Reads and parses a config file, rejecting unknown keys.
pub fn read_file(path: &Path) -> Result<FileConfig, ConfigError> {
    let text = std::fs::read_to_string(path).map_err(|source| {
        if source.kind() == std::io::ErrorKind::NotFound {
            ConfigError::Missing(path.to_path_buf())
        } else {
            ConfigError::Read {
                path: path.to_path_buf(),
                source,
            }
        }
    })?;
    let mut file: FileConfig = toml::from_str(&text).map_err(|e| ConfigError::Parse {
        path: path.to_path_buf(),
        message: e.message().to_string(),
    })?;
    // A relative data_dir in a file means "next to the file", not "wherever serve was
    // started from", so moving the working directory never loses the database.
    if let Some(dir) = &file.data_dir
        && dir.is_relative()
    {
        let base = path.parent().unwrap_or(Path::new("."));
        file.data_dir = Some(base.join(dir));
    }
    Ok(file)
}

/// Loads the configuration from the file (if any), the environment and the flags.
pub fn load(
    source: &ConfigSource,
    flags: &Overrides,
    env: &dyn Fn(&str) -> Option<String>,
) -> Result<Config, ConfigError> {
    let (file, file_path) = match source {
        ConfigSource::Explicit(p) => (read_file(p)?, Some(p.clone())),
        ConfigSource::Default(p) if p.exists() => (read_file(p)?, Some(p.clone())),
        ConfigSource::Default(_) => (FileConfig::default(), None),
    };
    resolve(file, file_path, flags, env)
}

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

fn parse_env<T: std::str::FromStr>(key: &str, value: &str) -> Result<T, ConfigError> {
    value.trim().parse().map_err(|_| ConfigError::Invalid {
        key: key.to_string(),
        message: format!("cannot parse {value:?}"),
    })
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

fn invalid(key: &str, message: impl Into<String>) -> ConfigError {
    ConfigError::Invalid {
        key: key.to_string(),
        message: message.into(),
    }
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

/// Sets `key = "value"` in a config file, keeping every other line (and comment) as it
/// is: replaces an existing assignment, else uncomments `# key = ...`, else appends.
/// The file keeps its mode; a missing file is created with mode 0600.
pub fn set_file_key(path: &Path, key: &str, value: &str) -> Result<(), ConfigError> {
    if !FileConfig::KEYS.contains(&key) {
        return Err(invalid(key, "not a config file key"));
    }
    let text = match std::fs::read_to_string(path) {
        Ok(t) => t,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => String::new(),
        Err(source) => {
            return Err(ConfigError::Read {
                path: path.to_path_buf(),
                source,
            });
        }
    };
    let line = format!("{key} = {}", toml::Value::String(value.to_string()));
    let is_assignment = |l: &str, commented: bool| {
        let l = l.trim_start();
        let l = if commented {
            match l.strip_prefix('#') {
                Some(rest) => rest.trim_start(),
                None => return false,
            }
        } else {
            l
        };
        l.strip_prefix(key)
            .is_some_and(|rest| rest.trim_start().starts_with('='))
    };
    let mut lines: Vec<String> = text.lines().map(str::to_string).collect();
    if let Some(i) = lines.iter().position(|l| is_assignment(l, false)) {
        lines[i] = line;
    } else if let Some(i) = lines.iter().position(|l| is_assignment(l, true)) {
        lines[i] = line;
    } else {
        lines.push(line);
    }
    let mut out = lines.join("\n");
    out.push('\n');
    // Check the result still parses before replacing the file.
    toml::from_str::<FileConfig>(&out).map_err(|e| ConfigError::Parse {
        path: path.to_path_buf(),
        message: e.message().to_string(),
    })?;
    write_atomically(path, &out).map_err(|source| ConfigError::Read {
        path: path.to_path_buf(),
        source,
    })
}

/// Replaces a file through a temp file and rename, keeping its permissions.
fn write_atomically(path: &Path, content: &str) -> std::io::Result<()> {
    use std::io::Write;
    use std::os::unix::fs::{MetadataExt, OpenOptionsExt, PermissionsExt};
    let meta = std::fs::metadata(path).ok();
    let mode = meta
        .as_ref()
        .map(|m| m.permissions().mode() & 0o777)
        .unwrap_or(0o600);
    let tmp = path.with_extension("toml.tmp");
    let mut f = std::fs::OpenOptions::new()
        .write(true)
        .create(true)
        .truncate(true)
        .mode(mode)
        .open(&tmp)?;
    f.write_all(content.as_bytes())?;
    f.sync_all()?;
    std::fs::set_permissions(&tmp, std::fs::Permissions::from_mode(mode))?;
    if let Some(m) = meta {
        // Keep the owner (e.g. root:helpstack) when run as root; harmless otherwise.
        let _ = std::os::unix::fs::chown(&tmp, Some(m.uid()), Some(m.gid()));
    }
    std::fs::rename(&tmp, path)
}

impl FileConfig {
    /// Every key a config file may contain.
    pub const KEYS: &'static [&'static str] = &[
        "listen",
        "data_dir",
        "graph_api_url",
        "app_secret",
        "verify_token",
        "instagram_verify_token",
        "whatsapp_verify_token",
        "max_body_bytes",
        "public_url",
        "allow_private_media_hosts",
        "job_workers",
        "job_max_attempts",
        "max_attachment_bytes",
        "profile_max_age_days",
        "metrics_token",
        "journal_retention_days",
        "trusted_proxies",
        "client_ip_header",
        "secret_key",
        "header_read_timeout_secs",
        "body_read_timeout_secs",
        "idle_timeout_secs",
        "max_connections",
        "max_unverified_body_bytes",
    ];
}

/// Reads the process environment: what `load` is given outside tests.
pub fn process_env(key: &str) -> Option<String> {
    std::env::var(key).ok()
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::collections::HashMap;

    #[test]
    fn set_file_key_keeps_comments_and_replaces_values() {
        let dir = tempfile::tempdir().unwrap();
        let p = dir.path().join("c.toml");
        std::fs::write(&p, "# top\nlisten = \"127.0.0.1:1\"\n# app_secret = \"\"\n").unwrap();
        set_file_key(&p, "app_secret", "s3").unwrap();
        set_file_key(&p, "listen", "127.0.0.1:2").unwrap();
        set_file_key(&p, "verify_token", "t\"q").unwrap();
        let text = std::fs::read_to_string(&p).unwrap();
        assert_eq!(
            text,
            "# top\nlisten = \"127.0.0.1:2\"\napp_secret = \"s3\"\nverify_token = 't\"q'\n"
        );
        let f = read_file(&p).unwrap();
        assert_eq!(f.verify_token.as_deref(), Some("t\"q"));
        assert!(set_file_key(&p, "bogus", "x").is_err());
    }

    fn env_of(pairs: &[(&str, &str)]) -> impl Fn(&str) -> Option<String> {
        let map: HashMap<String, String> = pairs
            .iter()
            .map(|(k, v)| (k.to_string(), v.to_string()))
            .collect();
        move |k| map.get(k).cloned()
    }

    fn token(t: &Option<Secret>) -> Option<&str> {
        t.as_ref().map(|s| s.expose())
    }

    #[test]
    fn defaults_apply_with_nothing_set() {
        let c = resolve(
            FileConfig::default(),
            None,
            &Overrides::default(),
            &env_of(&[]),
        )
        .unwrap();
        assert_eq!(c.listen, DEFAULT_LISTEN);
        assert_eq!(c.data_dir, PathBuf::from(DEFAULT_DATA_DIR));
        assert_eq!(c.max_body_bytes, DEFAULT_MAX_BODY_BYTES);
        assert!(c.app_secret.is_none());
        assert!(c.verify_tokens.facebook.is_none());
        assert!(c.verify_tokens.instagram.is_none());
    }

    #[test]
    fn flag_beats_env_beats_file() {
        let file = FileConfig {
            listen: Some("127.0.0.1:1".into()),
            ..Default::default()
        };
        let env = env_of(&[("HELPSTACK_LISTEN", "127.0.0.1:2")]);
        let c = resolve(file.clone(), None, &Overrides::default(), &env).unwrap();
        assert_eq!(c.listen, "127.0.0.1:2");
        let flags = Overrides {
            listen: Some("127.0.0.1:3".into()),
            ..Default::default()
        };
        let c = resolve(file.clone(), None, &flags, &env).unwrap();
        assert_eq!(c.listen, "127.0.0.1:3");
        let c = resolve(file, None, &Overrides::default(), &env_of(&[])).unwrap();
        assert_eq!(c.listen, "127.0.0.1:1");
    }

    #[test]
    fn verify_tokens_fall_back_to_facebook_and_specific_wins() {
        let env = env_of(&[("FACEBOOK_VERIFY_TOKEN", "fb")]);
        let c = resolve(FileConfig::default(), None, &Overrides::default(), &env).unwrap();
        assert_eq!(token(&c.verify_tokens.instagram), Some("fb"));
        assert_eq!(token(&c.verify_tokens.whatsapp), Some("fb"));

        let file = FileConfig {
            instagram_verify_token: Some("ig-file".into()),
            ..Default::default()
        };
        let env = env_of(&[
            ("FACEBOOK_VERIFY_TOKEN", "fb"),
            ("WHATSAPP_VERIFY_TOKEN", "wa"),
        ]);
        let c = resolve(file, None, &Overrides::default(), &env).unwrap();
        assert_eq!(token(&c.verify_tokens.facebook), Some("fb"));
        assert_eq!(token(&c.verify_tokens.instagram), Some("ig-file"));
        assert_eq!(token(&c.verify_tokens.whatsapp), Some("wa"));
    }

    #[test]
    fn file_fallback_applies_too() {
        let file = FileConfig {
            verify_token: Some("file-fb".into()),
            ..Default::default()
        };
        let c = resolve(file, None, &Overrides::default(), &env_of(&[])).unwrap();
        assert_eq!(token(&c.verify_tokens.whatsapp), Some("file-fb"));
    }

    #[test]
    fn empty_values_are_unset() {
        let env = env_of(&[("FACEBOOK_VERIFY_TOKEN", ""), ("FACEBOOK_APP_SECRET", "")]);
        let c = resolve(FileConfig::default(), None, &Overrides::default(), &env).unwrap();
        assert!(c.verify_tokens.facebook.is_none());
        assert!(c.app_secret.is_none());
    }

    #[test]
    fn helpstack_names_win_over_seed_names() {
        let env = env_of(&[
            ("FACEBOOK_APP_SECRET", "seed"),
            ("HELPSTACK_APP_SECRET", "own"),
        ]);
        let c = resolve(FileConfig::default(), None, &Overrides::default(), &env).unwrap();
        assert_eq!(c.app_secret.unwrap().expose(), "own");
    }

    #[test]
    fn trusted_proxies_take_addresses_and_networks() {
        let c = resolve(
            FileConfig::default(),
            None,
            &Overrides::default(),
            &env_of(&[]),
        )
        .unwrap();
        let loopback: Vec<String> = c.trusted_proxies.iter().map(|n| n.to_string()).collect();
        assert_eq!(loopback, ["127.0.0.0/8", "::1/128"]);
        assert!(c.client_ip_header.is_none());
        let file = FileConfig {
            trusted_proxies: Some(vec!["10.0.0.7".into(), "fd00::/8".into()]),
            client_ip_header: Some("X-Real-IP".into()),
            ..Default::default()
        };
        let c = resolve(file.clone(), None, &Overrides::default(), &env_of(&[])).unwrap();
        let list: Vec<String> = c.trusted_proxies.iter().map(|n| n.to_string()).collect();
        assert_eq!(list, ["10.0.0.7/32", "fd00::/8"]);
        assert_eq!(c.client_ip_header.as_deref(), Some("x-real-ip"));
        let env = env_of(&[("HELPSTACK_TRUSTED_PROXIES", "192.0.2.1, 198.51.100.0/24")]);
        let c = resolve(file, None, &Overrides::default(), &env).unwrap();
        assert_eq!(c.trusted_proxies.len(), 2);
        let none = FileConfig {
            trusted_proxies: Some(vec![]),
            ..Default::default()
        };
        let c = resolve(none, None, &Overrides::default(), &env_of(&[])).unwrap();
        assert!(c.trusted_proxies.is_empty(), "an empty list trusts no one");
        let env = env_of(&[("HELPSTACK_TRUSTED_PROXIES", "10.0.0.0/33")]);
        let err = resolve(FileConfig::default(), None, &Overrides::default(), &env).unwrap_err();
        assert!(
            err.to_string().contains("HELPSTACK_TRUSTED_PROXIES"),
            "{err}"
        );
        let env = env_of(&[("HELPSTACK_CLIENT_IP_HEADER", "X Real IP")]);
        let err = resolve(FileConfig::default(), None, &Overrides::default(), &env).unwrap_err();
        assert!(err.to_string().contains("client_ip_header"), "{err}");
    }

    #[test]
    fn unknown_file_keys_are_rejected_by_name() {
        let err = toml::from_str::<FileConfig>("listen = \"x\"\nbogus_key = 1\n").unwrap_err();
        assert!(err.message().contains("bogus_key"), "{}", err.message());
    }

    #[test]
    fn bad_values_are_named() {
        let env = env_of(&[("HELPSTACK_MAX_BODY_BYTES", "lots")]);
        let err = resolve(FileConfig::default(), None, &Overrides::default(), &env).unwrap_err();
        assert!(err.to_string().contains("HELPSTACK_MAX_BODY_BYTES"));
        let flags = Overrides {
            listen: Some("nowhere".into()),
            ..Default::default()
        };
        let err = resolve(FileConfig::default(), None, &flags, &env_of(&[])).unwrap_err();
        assert!(err.to_string().contains("listen"));
    }
}
