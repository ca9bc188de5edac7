//! Response hardening, CSRF and DNS-rebinding protection for every request.
//!
//! Every response, errors included, gets a strict Content-Security-Policy (no inline
//! script), frame and referrer protection and `nosniff`, unless a handler set its own
//! (attachments use a sandbox CSP); every error under `/api/` is the JSON of
//! [`crate::error::respond`]. State-changing `/api/` requests must come from the
//! dashboard's own origin (scheme, host and port): the session cookie is already
//! `SameSite=Strict`, and the Origin check also covers older browsers. Webhooks are
//! exempt (Meta is not a browser; signatures protect them). With `public_url` set, only
//! that host name and loopback names are served, so a page on a name that an attacker
//! re-pointed at this server (DNS rebinding) cannot read the dashboard or the API.

use std::sync::Arc;

use poem::http::{HeaderValue, Method, header::HeaderName};
use poem::{Endpoint, IntoResponse, Request, Response, Result};

use super::client_addr;
use crate::config::Config;
use crate::error::{self, ApiError};
use crate::state::AppState;

const CSP: &str = "default-src 'self'; script-src 'self'; style-src 'self'; img-src 'self' data: blob:; \
                   media-src 'self'; connect-src 'self'; font-src 'self'; object-src 'none'; \
                   frame-ancestors 'none'; base-uri 'none'; form-action 'self'";

/// Wraps an endpoint with the checks and headers above, and logs the request.
pub async fn harden<E: Endpoint>(ep: E, req: Request) -> Result<Response> {
    let Some(state) = req.data::<Arc<AppState>>().cloned() else {
        return Ok(error::respond(
            ApiError::Internal("state missing".into()).into(),
            true,
        ));
    };
    let config = &state.config;
    let (method, path) = (req.method().clone(), req.uri().path().to_string());
    let client = client_addr::client(&req, config);
    let result = match admit(&req, config) {
        Ok(()) => ep.call(req).await.map(IntoResponse::into_response),
        Err(refused) => {
            tracing::warn!(%client, %method, %path, reason = %refused, "request refused");
            Err(refused.into())
        }
    };
    let mut resp = result.unwrap_or_else(|e| error::respond(e, path.starts_with("/api/")));
    add_headers(resp.headers_mut());
    let status = resp.status().as_u16();
    if resp.status().is_server_error() {
        tracing::warn!(%client, %method, %path, status, "request failed");
    } else {
        tracing::debug!(%client, %method, %path, status, "request");
    }
    Ok(resp)
}

/// Adds the security headers a handler did not set itself. Also used for responses
/// the connection layer writes without routing (503 at the connection cap).
pub fn add_headers(headers: &mut poem::http::HeaderMap) {
    for (name, value) in [
        ("content-security-policy", CSP),
        ("x-frame-options", "DENY"),
        ("referrer-policy", "no-referrer"),
        ("x-content-type-options", "nosniff"),
    ] {
        let name = HeaderName::from_static(name);
        if !headers.contains_key(&name) {
            headers.insert(name, HeaderValue::from_static(value));
        }
    }
}

/// Refuses foreign host names and cross-site writes before any handler runs.
fn admit(req: &Request, config: &Config) -> Result<(), ApiError> {
    if !host_allowed(req, config) {
        return Err(ApiError::MisdirectedHost);
    }
    if is_cross_site_write(req, config) {
        return Err(ApiError::Forbidden("cross-origin request refused"));
    }
    Ok(())
}

/// The host-name rule (see the module comment). Health checks and Meta's webhooks
/// answer under any name (they serve nothing a page could steal), and so does a
/// `/metrics` that needs a bearer token (browsers never send one by themselves).
fn host_allowed(req: &Request, config: &Config) -> bool {
    let Some(public) = config.public_url.as_deref() else {
        return true;
    };
    let path = req.uri().path();
    if path == "/healthz"
        || path.starts_with("/api/webhooks/")
        || (path == "/metrics" && config.metrics_token.is_some())
    {
        return true;
    }
    let Some(host) = request_host(req).and_then(|h| authority_url("http", h)) else {
        return false;
    };
    let public = url::Url::parse(public).ok();
    let public_host = public.as_ref().and_then(url::Url::host);
    match host.host() {
        Some(url::Host::Domain(name)) => {
            name == "localhost" || public_host == Some(url::Host::Domain(name))
        }
        Some(url::Host::Ipv4(ip)) => ip.is_loopback() || public_host == Some(url::Host::Ipv4(ip)),
        Some(url::Host::Ipv6(ip)) => ip.is_loopback() || public_host == Some(url::Host::Ipv6(ip)),
        None => false,
    }
}

fn is_cross_site_write(req: &Request, config: &Config) -> bool {
    let path = req.uri().path();
    let safe = matches!(*req.method(), Method::GET | Method::HEAD | Method::OPTIONS);
    if safe || !path.starts_with("/api/") || path.starts_with("/api/webhooks/") {
        return false;
    }
    !same_origin(req, config)
}

/// Whether a request comes from the page's own origin: an `Origin` header must name
/// the scheme, host and port the request reached (the scheme as a trusted proxy reports
/// it) or those of `public_url`; without one, only `Sec-Fetch-Site: cross-site` is
/// refused (scripts and `curl` send neither).
pub fn same_origin(req: &Request, config: &Config) -> bool {
    let Some(origin) = req.header("origin") else {
        return req.header("sec-fetch-site") != Some("cross-site");
    };
    let Ok(origin) = url::Url::parse(origin).map(|u| u.origin()) else {
        return false;
    };
    let scheme = if client_addr::is_https(req, config) {
        "https"
    } else {
        "http"
    };
    let own = request_host(req).and_then(|h| authority_url(scheme, h));
    let public = config
        .public_url
        .as_deref()
        .and_then(|u| url::Url::parse(u).ok());
    [own, public]
        .into_iter()
        .flatten()
        .any(|u| u.origin() == origin)
}

/// The host the client asked for: `Host`, or the URI's authority (HTTP/2).
fn request_host(req: &Request) -> Option<&str> {
    req.header("host")
        .or_else(|| req.uri().authority().map(|a| a.as_str()))
}

/// Parses `host[:port]` as the URL `scheme://host[:port]/`; anything but a host name,
/// an address and a port (`a@b`, a path) is refused rather than reinterpreted.
fn authority_url(scheme: &str, authority: &str) -> Option<url::Url> {
    let plain = |b: u8| b.is_ascii_alphanumeric() || matches!(b, b'.' | b'-' | b':' | b'[' | b']');
    if authority.is_empty() || !authority.bytes().all(plain) {
        return None;
    }
    url::Url::parse(&format!("{scheme}://{authority}/")).ok()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn req(method: Method, path: &str, headers: &[(&str, &str)]) -> Request {
        let mut b = Request::builder()
            .method(method)
            .uri(path.parse::<poem::http::Uri>().unwrap());
        for (k, v) in headers {
            b = b.header(*k, *v);
        }
        b.finish()
    }

    fn config(public_url: Option<&str>) -> Config {
        let mut c =
            crate::config::resolve(Default::default(), None, &Default::default(), &|_| None)
                .unwrap();
        c.public_url = public_url.map(str::to_string);
        c
    }

    #[test]
    fn cross_site_writes_are_refused() {
        let c = config(None);
        let host = ("host", "inbox.example.com");
        let post = |headers: &[(&str, &str)]| {
            is_cross_site_write(&req(Method::POST, "/api/session", headers), &c)
        };
        assert!(post(&[host, ("origin", "https://evil.example")]));
        assert!(!post(&[host, ("origin", "http://inbox.example.com")]));
        assert!(!post(&[host, ("origin", "http://inbox.example.com:80")]));
        assert!(!post(&[host]));
        assert!(post(&[host, ("sec-fetch-site", "cross-site")]));
        assert!(post(&[host, ("origin", "null")]));
        assert!(!is_cross_site_write(
            &req(
                Method::POST,
                "/api/webhooks/facebook",
                &[host, ("origin", "https://evil.example")]
            ),
            &c
        ));
        assert!(!is_cross_site_write(
            &req(
                Method::GET,
                "/api/channels",
                &[host, ("origin", "https://evil.example")]
            ),
            &c
        ));
    }

    #[test]
    fn the_origin_must_match_scheme_and_port_too() {
        let c = config(None);
        let host = ("host", "inbox.example.com:8080");
        let post = |origin: &str| {
            is_cross_site_write(
                &req(Method::POST, "/api/session", &[host, ("origin", origin)]),
                &c,
            )
        };
        assert!(!post("http://inbox.example.com:8080"));
        assert!(!post("http://INBOX.example.com:8080"));
        assert!(post("https://inbox.example.com:8080"), "another scheme");
        assert!(post("http://inbox.example.com:8081"), "another port");
        assert!(post("http://inbox.example.com"), "the default port");
        // Without a TCP peer (no trusted proxy) X-Forwarded-Proto is not believed.
        let forwarded = req(
            Method::POST,
            "/api/session",
            &[
                host,
                ("origin", "https://inbox.example.com:8080"),
                ("x-forwarded-proto", "https"),
            ],
        );
        assert!(is_cross_site_write(&forwarded, &c));
        // public_url names the dashboard's origin whatever the proxy reports.
        let c = config(Some("https://inbox.example.com:8080"));
        assert!(!post_with(&c, host, "https://inbox.example.com:8080"));
        assert!(post_with(&c, host, "https://inbox.example.com"));
    }

    fn post_with(c: &Config, host: (&str, &str), origin: &str) -> bool {
        is_cross_site_write(
            &req(Method::POST, "/api/session", &[host, ("origin", origin)]),
            c,
        )
    }

    #[test]
    fn with_a_public_url_only_its_host_and_loopback_names_are_served() {
        let c = config(Some("https://help.example.com"));
        let get =
            |path: &str, host: &str| host_allowed(&req(Method::GET, path, &[("host", host)]), &c);
        for ok in [
            "help.example.com",
            "Help.Example.com:443",
            "localhost:8080",
            "127.0.0.1:8080",
            "127.9.9.9",
            "[::1]:8080",
        ] {
            assert!(get("/api/channels", ok), "{ok}");
        }
        for bad in [
            "evil.example",
            "help.example.com.evil.example",
            "help.example.com@evil.example",
            "evil.example/help.example.com",
            "10.0.0.5:8080",
            "",
        ] {
            assert!(!get("/api/channels", bad), "{bad}");
            assert!(!get("/", bad), "{bad}");
        }
        assert!(get("/healthz", "10.0.0.5:8080"));
        assert!(get("/api/webhooks/facebook", "evil.example"));
        assert!(!get("/metrics", "evil.example"), "answered without a token");
        assert!(!host_allowed(&req(Method::GET, "/", &[]), &c), "no Host");
        // Without public_url any name is served (nothing to compare with).
        let c = config(None);
        assert!(host_allowed(
            &req(Method::GET, "/", &[("host", "evil.example")]),
            &c
        ));
    }
}
