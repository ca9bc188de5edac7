//! The config file on disk: reading it, and changing one key in place.

use std::path::Path;

use super::{ConfigError, FileConfig, invalid};

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
    let mut file: FileConfig = parse(path, &text)?;
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

/// Parses a config file's text; an error names the key and line it is about.
fn parse(path: &Path, text: &str) -> Result<FileConfig, ConfigError> {
    toml::from_str(text).map_err(|e| {
        let message = e.message().trim_end().to_string();
        let Some(start) = e.span().map(|s| s.start) else {
            return ConfigError::Parse {
                path: path.to_path_buf(),
                message,
            };
        };
        let line_no = text[..start].matches('\n').count() + 1;
        let line = text.lines().nth(line_no - 1).unwrap_or("");
        let key = line
            .split_once('=')
            .map(|(k, _)| k.trim())
            .filter(|k| !k.is_empty() && k.bytes().all(|b| b.is_ascii_alphanumeric() || b == b'_'));
        let at = match key {
            Some(key) => format!("{key} (line {line_no})"),
            None => format!("line {line_no}"),
        };
        ConfigError::Parse {
            path: path.to_path_buf(),
            message: format!("{at}: {message}"),
        }
    })
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
    let parse_error = |message: String| ConfigError::Parse {
        path: path.to_path_buf(),
        message,
    };
    let mut doc: toml_edit::DocumentMut = text
        .parse()
        .map_err(|e: toml_edit::TomlError| parse_error(e.message().to_string()))?;
    if !doc.contains_key(key)
        && let Some(uncommented) = uncomment(&text, key)
    {
        doc = uncommented
            .parse()
            .map_err(|e: toml_edit::TomlError| parse_error(e.message().to_string()))?;
    }
    let mut new = toml_edit::Value::from(value);
    match doc.get_mut(key) {
        // Replace the value only: the key keeps the comments above it, and the value
        // what surrounds it (spacing, a trailing comment).
        Some(item) => {
            if let Some(old) = item.as_value() {
                *new.decor_mut() = old.decor().clone();
            }
            *item = toml_edit::Item::Value(new);
        }
        None => {
            doc.insert(key, toml_edit::Item::Value(new));
        }
    }
    let mut out = doc.to_string();
    if !out.ends_with('\n') {
        out.push('\n');
    }
    // Check the result still parses before replacing the file.
    parse(path, &out)?;
    write_atomically(path, &out).map_err(|source| ConfigError::Read {
        path: path.to_path_buf(),
        source,
    })
}

/// Turns the first `# key = ...` line into `key = ""`, so setting the key puts it where
/// the sample config documents it. `None` when there is no such line.
fn uncomment(text: &str, key: &str) -> Option<String> {
    let is_commented_assignment = |l: &str| {
        l.trim_start()
            .strip_prefix('#')
            .and_then(|rest| rest.trim_start().strip_prefix(key))
            .is_some_and(|rest| rest.trim_start().starts_with('='))
    };
    let lines: Vec<&str> = text.lines().collect();
    let i = lines.iter().position(|l| is_commented_assignment(l))?;
    let placeholder = format!("{key} = \"\"");
    let mut out: Vec<&str> = lines.clone();
    out[i] = &placeholder;
    Some(out.join("\n") + "\n")
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
