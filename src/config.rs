//! Configuration: built-in defaults < TOML file < environment < command-line flags.
//!
//! The seed documentation's variables (`FACEBOOK_APP_SECRET`, `FACEBOOK_VERIFY_TOKEN`,
//! `INSTAGRAM_VERIFY_TOKEN`, `WHATSAPP_VERIFY_TOKEN`) are honoured next to the
//! `HELPSTACK_*` names; where both are set the `HELPSTACK_*` one wins. The Instagram and
//! WhatsApp verify tokens fall back to the Facebook one after each has been resolved
//! through the whole chain, so a provider-specific token set anywhere wins over the
//! fallback.

use std::path::{Path, PathBuf};

use crate::secrets::Secret;

mod define;
mod file;
pub mod limits;
mod resolve;
pub mod sample;
mod settings;

pub use define::{Setting, Source};
pub use file::{read_file, set_file_key};
pub use limits::Limits;
pub use resolve::{resolve, resolve_layered, validate};
pub use settings::{FileConfig, Layered, SETTINGS, env_names};

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

/// The operator's problem when no app secret is configured; [`app_secret_step`] says
/// what to do. `serve`, the dashboard, `init` and `doctor` all use these two texts.
pub const NO_APP_SECRET: &str =
    "no app secret is configured: every webhook POST is refused with 401";

/// The step that fixes [`NO_APP_SECRET`], naming the config file the server reads.
pub fn app_secret_step(file: Option<&Path>) -> String {
    let file = match file {
        Some(p) => p.display().to_string(),
        None => format!("{DEFAULT_CONFIG_FILE} in the server's working directory"),
    };
    format!(
        "copy Meta App dashboard > App settings > Basic > App secret into app_secret in {file} \
         (a running server reads it again within seconds, no restart), or set \
         HELPSTACK_APP_SECRET in its environment and restart it"
    )
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

/// Loads the configuration from the file (if any), the environment and the flags.
pub fn load(
    source: &ConfigSource,
    flags: &Overrides,
    env: &dyn Fn(&str) -> Option<String>,
) -> Result<Config, ConfigError> {
    load_layered(source, flags, env).map(|(config, _)| config)
}

/// Loads the configuration and returns where each value came from next to it.
pub fn load_layered(
    source: &ConfigSource,
    flags: &Overrides,
    env: &dyn Fn(&str) -> Option<String>,
) -> Result<(Config, Layered), ConfigError> {
    let (file, file_path) = match source {
        ConfigSource::Explicit(p) => (read_file(p)?, Some(p.clone())),
        ConfigSource::Default(p) if p.exists() => (read_file(p)?, Some(p.clone())),
        ConfigSource::Default(_) => (FileConfig::default(), None),
    };
    resolve_layered(file, file_path, flags, env)
}

/// Parses a value from the environment for `key`.
pub(crate) fn parse_env<T: std::str::FromStr>(key: &str, value: &str) -> Result<T, ConfigError> {
    value.trim().parse().map_err(|_| ConfigError::Invalid {
        key: key.to_string(),
        message: format!("cannot parse {value:?}"),
    })
}

/// A config error for `key`.
pub(crate) fn invalid(key: &str, message: impl Into<String>) -> ConfigError {
    ConfigError::Invalid {
        key: key.to_string(),
        message: message.into(),
    }
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

    fn limits(
        file: FileConfig,
        env: &dyn Fn(&str) -> Option<String>,
    ) -> Result<Limits, ConfigError> {
        resolve(file, None, &Overrides::default(), env).map(|c| c.limits)
    }

    #[test]
    fn limits_default_and_layer() {
        let none = |_: &str| None;
        assert_eq!(
            limits(FileConfig::default(), &none).unwrap(),
            Limits::default()
        );
        let file = FileConfig {
            max_connections: Some(10),
            idle_timeout_secs: Some(5),
            ..Default::default()
        };
        let env = |k: &str| (k == "HELPSTACK_IDLE_TIMEOUT_SECS").then(|| "7".to_string());
        let l = limits(file, &env).unwrap();
        assert_eq!(l.max_connections, 10);
        assert_eq!(l.idle_timeout, std::time::Duration::from_secs(7));
    }

    #[test]
    fn limits_out_of_range_are_refused_by_name() {
        let env = |k: &str| (k == "HELPSTACK_HEADER_READ_TIMEOUT_SECS").then(|| "0".to_string());
        let err = limits(FileConfig::default(), &env).unwrap_err();
        assert!(
            err.to_string().contains("header_read_timeout_secs"),
            "{err}"
        );
        let env = |k: &str| (k == "HELPSTACK_MAX_CONNECTIONS").then(|| "many".to_string());
        let err = limits(FileConfig::default(), &env).unwrap_err();
        assert!(
            err.to_string().contains("HELPSTACK_MAX_CONNECTIONS"),
            "{err}"
        );
        let file = FileConfig {
            max_connections: Some(0),
            ..Default::default()
        };
        let err = limits(file, &|_: &str| None).unwrap_err();
        assert!(err.to_string().contains("max_connections"), "{err}");
    }
}
