//! Connection and body limits: how long a client may take to send a request, how long
//! an idle connection stays open, how many connections are served at once, and how many
//! bytes of not-yet-verified webhook bodies the server holds in memory.

use std::time::Duration;

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

    #[test]
    fn a_budget_below_one_body_is_refused() {
        let small = Limits {
            max_unverified_body_bytes: 1000,
            ..Default::default()
        };
        assert!(validate(&small, 4096).is_err());
        assert!(validate(&Limits::default(), 4096).is_ok());
    }
}
