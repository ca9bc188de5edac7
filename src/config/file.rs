//! The config file on disk: its keys, reading it, and changing one key in place.

use std::path::{Path, PathBuf};

use serde::{Deserialize, Serialize};

use super::{ConfigError, invalid};

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
