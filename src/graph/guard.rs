//! Server-side request forgery guard for URLs taken from webhook payloads: media is
//! fetched only from public addresses, on every hop of a redirect chain, and a bearer
//! token never follows a redirect to another host.

use std::net::{IpAddr, SocketAddr};

use reqwest::Url;
use reqwest::dns::{Addrs, Name, Resolve, Resolving};

use super::GraphError;

/// Whether an address is publicly routable (not loopback, private, link-local, ...).
pub fn is_public(ip: IpAddr) -> bool {
    match ip {
        IpAddr::V4(v4) => {
            let o = v4.octets();
            !(v4.is_loopback()
                || v4.is_private()
                || v4.is_link_local()
                || v4.is_unspecified()
                || v4.is_broadcast()
                || v4.is_documentation()
                || v4.is_multicast()
                || o[0] == 0
                || (o[0] == 100 && (o[1] & 0xc0) == 64) // 100.64.0.0/10 carrier-grade NAT
                || (o[0] == 192 && o[1] == 0 && o[2] == 0)
                || o[0] >= 240)
        }
        IpAddr::V6(v6) => {
            if let Some(v4) = v6.to_ipv4_mapped() {
                return is_public(IpAddr::V4(v4));
            }
            let seg = v6.segments();
            !(v6.is_loopback()
                || v6.is_unspecified()
                || v6.is_multicast()
                || (seg[0] & 0xfe00) == 0xfc00 // unique local
                || (seg[0] & 0xffc0) == 0xfe80) // link-local
        }
    }
}

/// Refuses non-HTTP(S) URLs, and IP-literal hosts that are not public.
pub fn check_url(url: &Url, allow_private: bool) -> Result<(), GraphError> {
    if url.scheme() != "https" && url.scheme() != "http" {
        return Err(GraphError::Permanent(format!(
            "refusing {} URL",
            url.scheme()
        )));
    }
    if allow_private {
        return Ok(());
    }
    let ip = match url.host() {
        Some(url::Host::Ipv4(ip)) => Some(IpAddr::V4(ip)),
        Some(url::Host::Ipv6(ip)) => Some(IpAddr::V6(ip)),
        Some(url::Host::Domain(d)) if d.eq_ignore_ascii_case("localhost") => {
            return Err(refused());
        }
        _ => None,
    };
    match ip {
        Some(ip) if !is_public(ip) => Err(refused()),
        _ => Ok(()),
    }
}

/// Text every guard refusal carries, so errors that come back through reqwest (DNS,
/// redirects) can be recognised as refusals.
pub const REFUSAL_MARK: &str = "private or loopback address";

/// The error for a refused media URL.
pub fn refused() -> GraphError {
    GraphError::Permanent(
        "refusing to fetch media from a private or loopback address \
         (set allow_private_media_hosts to allow it)"
            .into(),
    )
}

/// Redirects: at most 5, each target checked like the original URL. reqwest itself drops
/// the Authorization header when a redirect leaves the original host.
pub fn redirect_policy(allow_private: bool) -> reqwest::redirect::Policy {
    reqwest::redirect::Policy::custom(move |attempt| {
        if attempt.previous().len() >= 5 {
            return attempt.error("too many redirects");
        }
        match check_url(attempt.url(), allow_private) {
            Ok(()) => attempt.follow(),
            Err(e) => attempt.error(e.to_string()),
        }
    })
}

/// A resolver that only returns public addresses, so a hostname that resolves to
/// 127.0.0.1 or 169.254.169.254 cannot be used to reach internal services.
pub struct PublicOnly;

impl Resolve for PublicOnly {
    fn resolve(&self, name: Name) -> Resolving {
        Box::pin(async move {
            let host = name.as_str().to_string();
            let addrs: Vec<SocketAddr> = tokio::net::lookup_host((host.as_str(), 0))
                .await?
                .filter(|a| is_public(a.ip()))
                .collect();
            if addrs.is_empty() {
                return Err(format!("{host} resolves only to a {REFUSAL_MARK}").into());
            }
            Ok(Box::new(addrs.into_iter()) as Addrs)
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn private_addresses_are_refused() {
        for ip in [
            "127.0.0.1",
            "10.1.2.3",
            "172.16.0.1",
            "192.168.1.1",
            "169.254.169.254",
            "100.64.0.1",
            "::1",
            "fe80::1",
            "fd00::1",
            "::ffff:127.0.0.1",
            "0.0.0.0",
        ] {
            assert!(!is_public(ip.parse().unwrap()), "{ip}");
        }
        for ip in ["157.240.1.1", "31.13.64.1", "2a03:2880::1"] {
            assert!(is_public(ip.parse().unwrap()), "{ip}");
        }
    }

    #[test]
    fn urls_are_checked() {
        let u = |s: &str| Url::parse(s).unwrap();
        assert!(check_url(&u("http://127.0.0.1:9/x"), false).is_err());
        assert!(check_url(&u("http://localhost/x"), false).is_err());
        assert!(check_url(&u("http://[::1]/x"), false).is_err());
        assert!(check_url(&u("file:///etc/passwd"), false).is_err());
        assert!(check_url(&u("file:///etc/passwd"), true).is_err());
        assert!(check_url(&u("https://scontent.xx.fbcdn.net/v/a.jpg"), false).is_ok());
        assert!(check_url(&u("http://127.0.0.1:9/x"), true).is_ok());
    }
}
