//! Response hardening and CSRF protection for every request.
//!
//! Every response gets a strict Content-Security-Policy (no inline script), frame and
//! referrer protection, unless a handler set its own (attachments use a sandbox CSP).
//! State-changing `/api/` requests must come from the dashboard's own origin: the
//! session cookie is already `SameSite=Strict`, and the Origin check also covers older
//! browsers. Webhooks are exempt (Meta is not a browser; signatures protect them).

use poem::http::{Method, StatusCode, header::HeaderName};
use poem::{Endpoint, IntoResponse, Request, Response, Result};

const CSP: &str = "default-src 'self'; script-src 'self'; style-src 'self'; img-src 'self' data: blob:; \
                   media-src 'self'; connect-src 'self'; font-src 'self'; object-src 'none'; \
                   frame-ancestors 'none'; base-uri 'none'; form-action 'self'";

/// Wraps an endpoint with the checks and headers above.
pub async fn harden<E: Endpoint>(ep: E, req: Request) -> Result<Response> {
    if is_cross_site_write(&req) {
        tracing::warn!(path = %req.uri().path(), origin = ?req.header("origin"), "cross-origin request refused");
        let body =
            serde_json::json!({"error": "cross-origin request refused", "code": "forbidden"});
        return Ok(Response::builder()
            .status(StatusCode::FORBIDDEN)
            .content_type("application/json")
            .body(body.to_string()));
    }
    let mut resp = ep.call(req).await?.into_response();
    let headers = resp.headers_mut();
    for (name, value) in [
        ("content-security-policy", CSP),
        ("x-frame-options", "DENY"),
        ("referrer-policy", "no-referrer"),
        ("x-content-type-options", "nosniff"),
    ] {
        let name = HeaderName::from_static(name);
        if !headers.contains_key(&name) {
            headers.insert(name, poem::http::HeaderValue::from_static(value));
        }
    }
    Ok(resp)
}

fn is_cross_site_write(req: &Request) -> bool {
    let path = req.uri().path();
    let safe = matches!(*req.method(), Method::GET | Method::HEAD | Method::OPTIONS);
    if safe || !path.starts_with("/api/") || path.starts_with("/api/webhooks/") {
        return false;
    }
    !same_origin(req)
}

/// Whether a request comes from the page's own origin: an `Origin` header must name
/// this host; without one, only `Sec-Fetch-Site: cross-site` is refused (scripts and
/// `curl` send neither).
pub fn same_origin(req: &Request) -> bool {
    match req.header("origin") {
        Some(origin) => {
            let authority = origin.split_once("://").map(|(_, a)| a).unwrap_or("");
            req.header("host")
                .is_some_and(|h| h.eq_ignore_ascii_case(authority))
        }
        None => req.header("sec-fetch-site") != Some("cross-site"),
    }
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

    #[test]
    fn cross_site_writes_are_refused() {
        let host = ("host", "inbox.example.com");
        assert!(is_cross_site_write(&req(
            Method::POST,
            "/api/session",
            &[host, ("origin", "https://evil.example")]
        )));
        assert!(!is_cross_site_write(&req(
            Method::POST,
            "/api/session",
            &[host, ("origin", "https://inbox.example.com")]
        )));
        assert!(!is_cross_site_write(&req(
            Method::POST,
            "/api/session",
            &[host]
        )));
        assert!(is_cross_site_write(&req(
            Method::POST,
            "/api/session",
            &[host, ("sec-fetch-site", "cross-site")]
        )));
        assert!(!is_cross_site_write(&req(
            Method::POST,
            "/api/webhooks/facebook",
            &[host, ("origin", "https://evil.example")]
        )));
        assert!(!is_cross_site_write(&req(
            Method::GET,
            "/api/channels",
            &[host, ("origin", "https://evil.example")]
        )));
    }
}
