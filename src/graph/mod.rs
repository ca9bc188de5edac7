//! The Graph API client: profiles, WhatsApp media, and guarded downloads.
//!
//! Tokens travel in the `Authorization` header, never in URLs (URLs end up in logs),
//! and are never logged. Errors are classified from Graph's JSON error body so the
//! job runner knows whether to retry, give up, or flag the channel's token.

mod guard;
mod hosts;
mod path;
pub mod subscribe;
mod token;

use std::time::Duration;

use reqwest::{StatusCode, Url};
use serde::Deserialize;
use serde_json::Value;
use sha2::{Digest, Sha256};

use crate::filestore::Spool;
use crate::model::Provider;
use path::encode_segment;
pub use path::is_media_id;

/// Why a Graph or media call failed, as the job runner needs to know it.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum GraphError {
    /// Code 190: the token is invalid, expired or revoked. Retrying cannot help.
    #[error("access token rejected (code {code}): {message}")]
    TokenInvalid { code: i64, message: String },
    /// Rate limited (codes 4, 17, 32, 613, 80001-80014, HTTP 429): retry later.
    #[error("rate limited (code {code}): {message}")]
    RateLimited { code: i64, message: String },
    /// 5xx, timeout, unreadable response: retry.
    #[error("temporary failure: {0}")]
    Transient(String),
    /// No connection could be made to the Graph API host (DNS, refused, unreachable
    /// network): the problem is on the way to Meta, not with this request, so the job
    /// pool pauses as a whole.
    #[error("cannot reach Meta: {0}")]
    Unreachable(String),
    /// No connection could be made to another host (a media CDN): that job's own
    /// failure, retried with backoff like any other; other jobs go on.
    #[error("cannot reach {host}: {message}")]
    HostUnreachable { host: String, message: String },
    /// The media host already has its share of requests in flight: nothing was sent;
    /// the job is put back for later without using up an attempt.
    #[error("{0} already has its limit of requests in flight")]
    HostBusy(String),
    /// The URL is one the guard does not fetch (scheme, private or loopback address).
    #[error("{0}")]
    Refused(String),
    /// The file is over `max_attachment_bytes`.
    #[error("file is larger than the configured maximum of {max} bytes")]
    TooLarge { max: u64 },
    /// Anything else (4xx, bad data): retrying will not help.
    #[error("{0}")]
    Permanent(String),
}

/// A sender's profile.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct Profile {
    pub name: Option<String>,
    pub username: Option<String>,
    pub picture_url: Option<String>,
}

/// What `GET /{media-id}` says about a WhatsApp media object.
#[derive(Debug, Clone, PartialEq)]
pub struct MediaInfo {
    pub url: String,
    pub mime_type: Option<String>,
    pub sha256: Option<String>,
    pub file_size: Option<i64>,
}

/// A file downloaded into a temporary path.
#[derive(Debug, Clone)]
pub struct Downloaded {
    pub sha256_hex: String,
    pub size: i64,
    pub content_type: Option<String>,
}

/// Graph API and media download client.
#[derive(Clone)]
pub struct Client {
    base: Url,
    /// `host:port` of the Graph API: failing to reach it pauses the job pool.
    graph_host: String,
    graph: reqwest::Client,
    media: reqwest::Client,
    allow_private: bool,
    slots: std::sync::Arc<hosts::HostSlots>,
}

/// Concurrent downloads per media host unless [`Client::with_host_limit`] says otherwise.
const DEFAULT_HOST_LIMIT: usize = 2;

impl Client {
    /// Builds a client for a Graph base URL such as `https://graph.facebook.com/v25.0`.
    /// Media downloads refuse private, loopback and link-local addresses unless
    /// `allow_private_media_hosts` is set (tests point them at a local fake CDN).
    pub fn new(base: &str, allow_private_media_hosts: bool) -> Result<Self, GraphError> {
        let base = Url::parse(&format!("{}/", base.trim_end_matches('/')))
            .map_err(|e| GraphError::Permanent(format!("invalid Graph API URL: {e}")))?;
        let agent = concat!("helpstack/", env!("CARGO_PKG_VERSION"));
        let graph = reqwest::Client::builder()
            .user_agent(agent)
            .connect_timeout(Duration::from_secs(10))
            .timeout(Duration::from_secs(30))
            .redirect(reqwest::redirect::Policy::none())
            .build()
            .map_err(|e| GraphError::Permanent(e.to_string()))?;
        let mut media = reqwest::Client::builder()
            .user_agent(agent)
            .connect_timeout(Duration::from_secs(10))
            .read_timeout(Duration::from_secs(60))
            .redirect(guard::redirect_policy(allow_private_media_hosts));
        if !allow_private_media_hosts {
            media = media.dns_resolver(std::sync::Arc::new(guard::PublicOnly));
        }
        let media = media
            .build()
            .map_err(|e| GraphError::Permanent(e.to_string()))?;
        Ok(Self {
            graph_host: hosts::host_key(&base),
            base,
            graph,
            media,
            allow_private: allow_private_media_hosts,
            slots: std::sync::Arc::new(hosts::HostSlots::new(DEFAULT_HOST_LIMIT)),
        })
    }

    /// Limits concurrent downloads to `limit` per host other than the Graph API's
    /// (whose calls every job needs; when it is down the pool pauses instead).
    pub fn with_host_limit(mut self, limit: usize) -> Self {
        self.slots = std::sync::Arc::new(hosts::HostSlots::new(limit));
        self
    }

    /// The per-host download limit in force.
    pub fn host_limit(&self) -> usize {
        self.slots.limit()
    }

    fn url(&self, path: &str) -> Result<Url, GraphError> {
        self.base
            .join(path.trim_start_matches('/'))
            .map_err(|e| GraphError::Permanent(format!("invalid Graph path: {e}")))
    }

    /// Fetches a Messenger or Instagram sender's name, username and picture URL.
    pub async fn profile(
        &self,
        provider: Provider,
        user_id: &str,
        token: &str,
    ) -> Result<Profile, GraphError> {
        let fields = match provider {
            Provider::Instagram => "name,username,profile_pic",
            _ => "first_name,last_name,profile_pic",
        };
        let mut url = self.url(&encode_segment(user_id)?)?;
        url.query_pairs_mut().append_pair("fields", fields);
        let body = self.get_json(url, token).await?;
        let text = |k: &str| {
            body.get(k)
                .and_then(Value::as_str)
                .map(str::trim)
                .filter(|s| !s.is_empty())
                .map(str::to_string)
        };
        let name = match provider {
            Provider::Instagram => text("name").or_else(|| text("username")),
            _ => {
                let full = [text("first_name"), text("last_name")]
                    .into_iter()
                    .flatten()
                    .collect::<Vec<_>>()
                    .join(" ");
                Some(full).filter(|s| !s.is_empty())
            }
        };
        Ok(Profile {
            name,
            username: text("username"),
            picture_url: text("profile_pic"),
        })
    }

    /// Resolves a WhatsApp media id to its short-lived download URL.
    pub async fn media_info(&self, media_id: &str, token: &str) -> Result<MediaInfo, GraphError> {
        if !is_media_id(media_id) {
            return Err(GraphError::Permanent(
                "invalid WhatsApp media id: not one path segment of letters, digits, '-' and '_'"
                    .into(),
            ));
        }
        let url = self.url(&encode_segment(media_id)?)?;
        let body = self.get_json(url, token).await?;
        let url = body
            .get("url")
            .and_then(Value::as_str)
            .ok_or_else(|| GraphError::Permanent("media response without url".into()))?
            .to_string();
        // file_size is a number in older payloads and a string in newer ones.
        let file_size = match body.get("file_size") {
            Some(Value::Number(n)) => n.as_i64(),
            Some(Value::String(s)) => s.parse().ok(),
            _ => None,
        };
        Ok(MediaInfo {
            url,
            mime_type: body
                .get("mime_type")
                .and_then(Value::as_str)
                .map(str::to_string),
            sha256: body
                .get("sha256")
                .and_then(Value::as_str)
                .map(str::to_string),
            file_size,
        })
    }

    /// Calls `GET /me` (or any path) with a token, to check the token works.
    pub async fn check_token(&self, path: &str, token: &str) -> Result<Value, GraphError> {
        let url = self.url(path)?;
        self.get_json(url, token).await
    }

    async fn get_json(&self, url: Url, token: &str) -> Result<Value, GraphError> {
        self.send_json(self.graph.get(url), token).await
    }

    /// Sends a Graph request with the token and classifies a failure from its JSON body.
    async fn send_json(
        &self,
        req: reqwest::RequestBuilder,
        token: &str,
    ) -> Result<Value, GraphError> {
        let resp = req
            .bearer_auth(token)
            .send()
            .await
            .map_err(|e| send_error(&e))?;
        let status = resp.status();
        let body: Value = resp.json().await.map_err(|e| {
            GraphError::Transient(format!("unreadable Graph response: {}", describe(&e)))
        })?;
        if status.is_success() && body.get("error").is_none() {
            return Ok(body);
        }
        Err(classify(status, &body))
    }

    /// Streams `url` into `spool`, hashing as it goes and stopping at `max_bytes`; the
    /// caller stores the spool once it accepts the hash. `bearer` is sent only to
    /// `url`'s own host: on a redirect to another host the header is dropped (and the
    /// redirect target is guarded like `url`).
    pub async fn download(
        &self,
        url: &str,
        bearer: Option<&str>,
        spool: &mut Spool,
        max_bytes: u64,
    ) -> Result<Downloaded, GraphError> {
        let parsed = Url::parse(url)
            .map_err(|e| GraphError::Permanent(format!("invalid media URL: {e}")))?;
        guard::check_url(&parsed, self.allow_private)?;
        let host = hosts::host_key(&parsed);
        let is_graph = host == self.graph_host;
        // Held until the body is read: a slow host keeps its slots, not every worker.
        let _slot = match is_graph {
            true => None,
            false => Some(
                self.slots
                    .take(&host, hosts::SLOT_WAIT)
                    .await
                    .ok_or_else(|| GraphError::HostBusy(host.clone()))?,
            ),
        };
        let mut req = self.media.get(parsed);
        if let Some(token) = bearer {
            req = req.bearer_auth(token);
        }
        let mut resp = req.send().await.map_err(|e| {
            let msg = describe(&e);
            // The guard refuses through the resolver and the redirect policy, which
            // surface as connection/redirect errors: those are final, not transient.
            if msg.contains(guard::REFUSAL_MARK) {
                guard::refused()
            } else if is_graph {
                send_error(&e)
            } else {
                match send_error(&e) {
                    GraphError::Unreachable(message) => GraphError::HostUnreachable {
                        host: parsed_host(&host),
                        message,
                    },
                    other => other,
                }
            }
        })?;
        let status = resp.status();
        if !status.is_success() {
            return Err(match status.as_u16() {
                429 => GraphError::RateLimited {
                    code: 429,
                    message: "HTTP 429 from media host".into(),
                },
                401 | 403 | 404 | 410 => GraphError::Permanent(format!(
                    "media host answered {status} (link expired or removed)"
                )),
                s if s >= 500 => GraphError::Transient(format!("media host answered {status}")),
                _ => GraphError::Permanent(format!("media host answered {status}")),
            });
        }
        if resp.content_length().is_some_and(|n| n > max_bytes) {
            return Err(too_large(max_bytes));
        }
        let content_type = resp
            .headers()
            .get(reqwest::header::CONTENT_TYPE)
            .and_then(|v| v.to_str().ok())
            .map(|v| v.split(';').next().unwrap_or(v).trim().to_string());
        let mut hasher = Sha256::new();
        let mut size: u64 = 0;
        while let Some(chunk) = resp
            .chunk()
            .await
            .map_err(|e| GraphError::Transient(describe(&e)))?
        {
            size += chunk.len() as u64;
            if size > max_bytes {
                return Err(too_large(max_bytes));
            }
            hasher.update(&chunk);
            spool
                .write(&chunk)
                .await
                .map_err(|e| GraphError::Transient(format!("cannot write a temp file: {e}")))?;
        }
        Ok(Downloaded {
            sha256_hex: hex::encode(hasher.finalize()),
            size: size as i64,
            content_type,
        })
    }
}

/// The host name of a `host:port` key, for messages.
fn parsed_host(key: &str) -> String {
    key.rsplit_once(':').map_or(key, |(h, _)| h).to_string()
}

fn too_large(max: u64) -> GraphError {
    GraphError::TooLarge { max }
}

/// Classifies a request that got no response: no connection at all is `Unreachable`.
fn send_error(e: &reqwest::Error) -> GraphError {
    if e.is_connect() {
        GraphError::Unreachable(describe(e))
    } else {
        GraphError::Transient(describe(e))
    }
}

/// Describes a reqwest error without its URL (which may carry signed query strings).
fn describe(e: &reqwest::Error) -> String {
    let kind = if e.is_timeout() {
        "timed out"
    } else if e.is_connect() {
        "connection failed"
    } else if e.is_redirect() {
        "redirect refused"
    } else if e.is_decode() || e.is_body() {
        "bad response body"
    } else {
        "request failed"
    };
    let mut msg = kind.to_string();
    let mut source = std::error::Error::source(e);
    while let Some(s) = source {
        msg = format!("{msg}: {s}");
        source = s.source();
    }
    msg
}

#[derive(Deserialize)]
struct ErrorBody {
    message: Option<String>,
    code: Option<i64>,
}

/// Classifies a Graph error response: 190 means the token is unusable, the rate-limit
/// codes and 429 mean "later", 5xx means "again", other 4xx mean "never".
pub fn classify(status: StatusCode, body: &Value) -> GraphError {
    let err: Option<ErrorBody> = body
        .get("error")
        .and_then(|e| serde_json::from_value(e.clone()).ok());
    let code = err.as_ref().and_then(|e| e.code).unwrap_or(0);
    let message = err
        .and_then(|e| e.message)
        .unwrap_or_else(|| format!("HTTP {status}"));
    match code {
        190 | 102 => GraphError::TokenInvalid { code, message },
        4 | 17 | 32 | 613 | 80001..=80014 | 130429 | 131048 | 131056 => {
            GraphError::RateLimited { code, message }
        }
        _ if status == StatusCode::TOO_MANY_REQUESTS => {
            GraphError::RateLimited { code: 429, message }
        }
        _ if status.is_server_error() || code == 1 || code == 2 => GraphError::Transient(message),
        _ => GraphError::Permanent(format!("Graph error {code}: {message}")),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn err(code: i64) -> Value {
        json!({"error": {"message": "m", "type": "OAuthException", "code": code}})
    }

    #[test]
    fn classifies_graph_errors() {
        assert!(matches!(
            classify(StatusCode::BAD_REQUEST, &err(190)),
            GraphError::TokenInvalid { code: 190, .. }
        ));
        for code in [4, 17, 32, 613, 80006] {
            assert!(matches!(
                classify(StatusCode::BAD_REQUEST, &err(code)),
                GraphError::RateLimited { .. }
            ));
        }
        assert!(matches!(
            classify(StatusCode::TOO_MANY_REQUESTS, &json!({})),
            GraphError::RateLimited { .. }
        ));
        assert!(matches!(
            classify(StatusCode::INTERNAL_SERVER_ERROR, &json!({})),
            GraphError::Transient(_)
        ));
        assert!(matches!(
            classify(StatusCode::BAD_REQUEST, &err(100)),
            GraphError::Permanent(_)
        ));
    }

    #[tokio::test]
    async fn an_unsafe_media_id_is_refused_before_any_request() {
        // Port 9 on loopback: a request would fail as unreachable, not as invalid.
        let client = Client::new("http://127.0.0.1:9/v25.0", false).unwrap();
        for bad in ["..", ".", "%2e%2e", "a/b"] {
            let err = client.media_info(bad, "t").await.unwrap_err();
            assert!(
                matches!(&err, GraphError::Permanent(m) if m.contains("invalid WhatsApp media id")),
                "{bad}: {err:?}"
            );
        }
        let err = client
            .profile(Provider::Facebook, "..", "t")
            .await
            .unwrap_err();
        assert!(matches!(err, GraphError::Permanent(_)), "{err:?}");
    }
}
