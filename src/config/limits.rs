//! Connection and body limits: how long a client may take to send a request, how long
//! an idle connection stays open, how many connections are served at once, and how many
//! bytes of not-yet-verified webhook bodies the server holds in memory.

use std::time::Duration;

use super::settings::Layered;
use super::{ConfigError, invalid};

/// Seconds a client has to send a request's headers (from when the server starts
/// waiting for them, so this also bounds a keep-alive connection that sends nothing).
pub const DEFAULT_HEADER_READ_TIMEOUT_SECS: u64 = 30;
/// Seconds a client has to send a request body once its headers arrived.
pub const DEFAULT_BODY_READ_TIMEOUT_SECS: u64 = 30;
/// Seconds a connection may pass with no byte read or written before it is closed.
pub const DEFAULT_IDLE_TIMEOUT_SECS: u64 = 60;
/// Connections served at once; more are refused with 503. Lowered at start to what the
/// file-descriptor limit allows.
pub const DEFAULT_MAX_CONNECTIONS: usize = 4096;
/// Bytes of webhook bodies being read and not yet verified, summed over all requests.
pub const DEFAULT_MAX_UNVERIFIED_BODY_BYTES: u64 = 32 * 1024 * 1024;

/// The resolved limits.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Limits {
    pub header_read_timeout: Duration,
    pub body_read_timeout: Duration,
    pub idle_timeout: Duration,
    pub max_connections: usize,
    pub max_unverified_body_bytes: u64,
}

impl Default for Limits {
    fn default() -> Self {
        Self {
            header_read_timeout: Duration::from_secs(DEFAULT_HEADER_READ_TIMEOUT_SECS),
            body_read_timeout: Duration::from_secs(DEFAULT_BODY_READ_TIMEOUT_SECS),
            idle_timeout: Duration::from_secs(DEFAULT_IDLE_TIMEOUT_SECS),
            max_connections: DEFAULT_MAX_CONNECTIONS,
            max_unverified_body_bytes: DEFAULT_MAX_UNVERIFIED_BODY_BYTES,
        }
    }
}

/// Takes the limits from the layered settings and checks their ranges.
pub fn from_layered(l: &Layered) -> Result<Limits, ConfigError> {
    let secs = |key: &str, n: u64| {
        if n == 0 || n > 3600 {
            return Err(invalid(key, "must be between 1 and 3600 seconds"));
        }
        Ok(Duration::from_secs(n))
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

/// Checks the limits against the body size: a budget below one maximum-size body would
/// refuse that body forever.
pub fn validate(limits: &Limits, max_body_bytes: u64) -> Result<(), ConfigError> {
    if limits.max_unverified_body_bytes < max_body_bytes {
        return Err(invalid(
            "max_unverified_body_bytes",
            format!("must be at least max_body_bytes ({max_body_bytes})"),
        ));
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::config::{FileConfig, settings::layer};

    fn limits(
        file: FileConfig,
        env: &dyn Fn(&str) -> Option<String>,
    ) -> Result<Limits, ConfigError> {
        from_layered(&layer(file, FileConfig::default(), env)?)
    }

    #[test]
    fn defaults_and_overrides() {
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
        assert_eq!(l.idle_timeout, Duration::from_secs(7));
    }

    #[test]
    fn bad_values_are_refused() {
        let env = |k: &str| (k == "HELPSTACK_HEADER_READ_TIMEOUT_SECS").then(|| "0".to_string());
        let err = limits(FileConfig::default(), &env).unwrap_err();
        assert!(err.to_string().contains("header_read_timeout_secs"));
        let env = |k: &str| (k == "HELPSTACK_MAX_CONNECTIONS").then(|| "many".to_string());
        let err = limits(FileConfig::default(), &env).unwrap_err();
        assert!(
            err.to_string().contains("HELPSTACK_MAX_CONNECTIONS"),
            "{err}"
        );
        let small = Limits {
            max_unverified_body_bytes: 1000,
            ..Default::default()
        };
        assert!(validate(&small, 4096).is_err());
    }
}
