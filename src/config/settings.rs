//! Every setting, defined once: key, type, default, environment variables (first wins),
//! what it does. The file's keys, the layering, `helpstack config keys|sample|show`,
//! the sample config and the man page's CONFIGURATION section all come from here.

use std::path::PathBuf;

use super::ConfigError;
use super::define::{Kind, Setting, Source, Value, pick, settings, to_toml};
use super::{
    DEFAULT_DATA_DIR, DEFAULT_GRAPH_API_URL, DEFAULT_LISTEN, DEFAULT_MAX_ATTACHMENT_BYTES,
    DEFAULT_MAX_BODY_BYTES, DEFAULT_TRUSTED_PROXIES, limits,
};

settings! {
    /// Address to listen on, IP:port. Keep it on localhost and put an HTTPS reverse
    /// proxy in front: Meta requires HTTPS.
    listen: String = DEFAULT_LISTEN.to_string(),
        env ["HELPSTACK_LISTEN"],
        sample "\"127.0.0.1:8080\"";
    /// Database and attachments; a relative path in the file is relative to the file.
    /// The packaged systemd unit creates /var/lib/helpstack (StateDirectory=helpstack)
    /// and only lets the service write there.
    data_dir: PathBuf = PathBuf::from(DEFAULT_DATA_DIR),
        env ["HELPSTACK_DATA_DIR"],
        sample "\"/var/lib/helpstack\"";
    /// Meta App secret, App dashboard > App settings > Basic. Without it every webhook
    /// POST is refused with 401.
    app_secret: String, secret = true,
        env ["HELPSTACK_APP_SECRET", "FACEBOOK_APP_SECRET"];
    /// Webhook verify token you type into the Meta App dashboard, for all providers.
    verify_token: String, secret = true,
        env ["HELPSTACK_VERIFY_TOKEN", "FACEBOOK_VERIFY_TOKEN"],
        unset "generated on first start, printed once and stored in the database";
    /// Verify token of Instagram's webhook subscription, if it differs from
    /// verify_token.
    instagram_verify_token: String, secret = true,
        env ["HELPSTACK_INSTAGRAM_VERIFY_TOKEN", "INSTAGRAM_VERIFY_TOKEN"],
        fallback verify_token;
    /// Verify token of WhatsApp's webhook subscription, if it differs from
    /// verify_token.
    whatsapp_verify_token: String, secret = true,
        env ["HELPSTACK_WHATSAPP_VERIFY_TOKEN", "WHATSAPP_VERIFY_TOKEN"],
        fallback verify_token;
    /// Public HTTPS base URL Meta calls, e.g. https://help.example.com. When set, the
    /// dashboard and the API answer only under its host name and loopback names (421
    /// otherwise: DNS rebinding).
    public_url: String,
        env ["HELPSTACK_PUBLIC_URL"],
        example "\"https://help.example.com\"";
    /// Reverse proxies whose X-Forwarded-For / X-Forwarded-Proto are believed:
    /// addresses or CIDRs; [] trusts none. The client is the rightmost X-Forwarded-For
    /// entry that is not one of them.
    trusted_proxies: Vec<String> =
            DEFAULT_TRUSTED_PROXIES.iter().map(|p| p.to_string()).collect(),
        env ["HELPSTACK_TRUSTED_PROXIES"];
    /// Read the client address from this header instead of X-Forwarded-For, e.g.
    /// X-Real-IP or Forwarded; still only from trusted proxies.
    client_ip_header: String,
        env ["HELPSTACK_CLIENT_IP_HEADER"],
        unset "none (X-Forwarded-For)",
        example "\"X-Real-IP\"";
    /// Key sealing the Graph access tokens in the database: 32 random bytes, base64.
    /// `helpstack init` writes one; back it up with this file, since a database backup
    /// holds only sealed tokens. Replace it with `helpstack rotate secret-key`.
    secret_key: String, secret = true,
        env ["HELPSTACK_SECRET_KEY"],
        unset "the owner-only file secret.key in the data directory, generated if missing";
    /// Graph API base URL including the version.
    graph_api_url: String = DEFAULT_GRAPH_API_URL.to_string(),
        env ["HELPSTACK_GRAPH_API_URL"];
    /// Largest webhook body accepted, in bytes, at least 1024; WhatsApp bodies reach
    /// 3 MB.
    max_body_bytes: u64 = DEFAULT_MAX_BODY_BYTES,
        env ["HELPSTACK_MAX_BODY_BYTES"];
    /// Seconds, 1 to 3600, a client has to send a request's headers; this also closes
    /// a keep-alive connection that sends nothing.
    header_read_timeout_secs: u64 = limits::DEFAULT_HEADER_READ_TIMEOUT_SECS,
        env ["HELPSTACK_HEADER_READ_TIMEOUT_SECS"];
    /// Seconds, 1 to 3600, a request body has to arrive after its headers, else 408.
    body_read_timeout_secs: u64 = limits::DEFAULT_BODY_READ_TIMEOUT_SECS,
        env ["HELPSTACK_BODY_READ_TIMEOUT_SECS"];
    /// Seconds, 1 to 3600, after which a connection that moves no byte is closed.
    idle_timeout_secs: u64 = limits::DEFAULT_IDLE_TIMEOUT_SECS,
        env ["HELPSTACK_IDLE_TIMEOUT_SECS"];
    /// Connections served at once; more get 503 with Retry-After and are closed.
    /// Lowered at start to the file-descriptor limit minus 256.
    max_connections: usize = limits::DEFAULT_MAX_CONNECTIONS,
        env ["HELPSTACK_MAX_CONNECTIONS"];
    /// Bytes of webhook bodies being read whose signature is not checked yet, summed
    /// over all requests; beyond it 503 with Retry-After (Meta retries). At least
    /// max_body_bytes.
    max_unverified_body_bytes: u64 = limits::DEFAULT_MAX_UNVERIFIED_BODY_BYTES,
        env ["HELPSTACK_MAX_UNVERIFIED_BODY_BYTES"];
    /// Background workers for profile fetches and attachment downloads, 0 to 64; 0
    /// queues the jobs but runs none.
    job_workers: usize = 4,
        env ["HELPSTACK_JOB_WORKERS"];
    /// Attempts per background job before it is given up, at least 1.
    job_max_attempts: u32 = 8,
        env ["HELPSTACK_JOB_MAX_ATTEMPTS"];
    /// Largest attachment the downloader keeps, in bytes.
    max_attachment_bytes: u64 = DEFAULT_MAX_ATTACHMENT_BYTES,
        env ["HELPSTACK_MAX_ATTACHMENT_BYTES"];
    /// Customer profiles (name, picture) are fetched again after this many days.
    profile_max_age_days: u64 = 7,
        env ["HELPSTACK_PROFILE_MAX_AGE_DAYS"];
    /// Allow attachment downloads from private, loopback and link-local addresses.
    /// Only for tests against a local fake Graph API; keep false in production.
    allow_private_media_hosts: bool = false,
        env ["HELPSTACK_ALLOW_PRIVATE_MEDIA_HOSTS"];
    /// Bearer token for GET /metrics (Prometheus text) from other machines.
    metrics_token: String, secret = true,
        env ["HELPSTACK_METRICS_TOKEN"],
        unset "none: /metrics answers only local clients that did not come through the \
               reverse proxy";
    /// Days to keep processed and ignored raw webhook bodies in the journal; unmatched
    /// and failed ones are kept for `helpstack replay`. Pruned hourly; 0 keeps
    /// everything.
    journal_retention_days: u64 = 30,
        env ["HELPSTACK_JOURNAL_RETENTION_DAYS"];
}

/// Returns the environment variables of a key, highest priority first.
pub fn env_names(key: &str) -> &'static [&'static str] {
    SETTINGS
        .iter()
        .find(|s| s.key == key)
        .map(|s| s.env)
        .unwrap_or(&[])
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_table_and_the_file_keys_agree() {
        let keys: Vec<&str> = SETTINGS.iter().map(|s| s.key).collect();
        assert_eq!(keys, FileConfig::KEYS);
        for s in SETTINGS {
            assert!(!s.env.is_empty() && !s.doc.is_empty(), "{}", s.key);
            assert!(s.env[0].starts_with("HELPSTACK_"), "{}", s.key);
            // Examples and sample values are TOML that the file accepts.
            for v in [s.example, s.sample].into_iter().flatten() {
                let text = format!("{} = {v}\n", s.key);
                toml::from_str::<FileConfig>(&text).unwrap_or_else(|e| panic!("{text}: {e}"));
            }
        }
    }

    #[test]
    fn the_seed_names_come_after_the_helpstack_ones() {
        assert_eq!(
            env_names("app_secret"),
            ["HELPSTACK_APP_SECRET", "FACEBOOK_APP_SECRET"]
        );
        assert_eq!(
            env_names("whatsapp_verify_token"),
            ["HELPSTACK_WHATSAPP_VERIFY_TOKEN", "WHATSAPP_VERIFY_TOKEN"]
        );
        assert!(env_names("bogus").is_empty());
    }
}
