//! Server-side request forgery guard for URLs taken from webhook payloads: media is
//! fetched only from public addresses, on every hop of a redirect chain, and a bearer
//! token never follows a redirect to another host.

use std::net::{IpAddr, Ipv4Addr, Ipv6Addr, SocketAddr};

use reqwest::Url;
use reqwest::dns::{Addrs, Name, Resolve, Resolving};

use super::GraphError;

/// Whether an address is publicly routable. The classification is the `bogon` crate's:
/// for IPv4 the IANA special-purpose blocks (private, loopback, link-local, shared
/// 100.64.0.0/10, benchmarking 198.18.0.0/15, documentation, 0/8, 240/4, multicast,
/// broadcast); for IPv6 only space IANA allocated to the five regional registries is
/// public, so unique-local, link-local, site-local, Teredo, 6to4 (`2002::/16`),
/// IPv4-compatible (`::a.b.c.d`), NAT64 local-use and every unassigned range are
/// refused without a list of our own. Two IPv6 forms reach an IPv4 host and are judged
/// by it: IPv4-mapped (`::ffff:a.b.c.d`) and NAT64's well-known prefix (`64:ff9b::/96`,
/// what a DNS64 resolver answers on an IPv6-only server).
pub fn is_public(ip: IpAddr) -> bool {
    match ip {
        IpAddr::V4(v4) => !bogon::is_bogon_v4(v4),
        IpAddr::V6(v6) => match embedded_v4(v6) {
            Some(v4) => !bogon::is_bogon_v4(v4),
            None => !bogon::is_bogon_v6(v6) && !in_rir_gaps(v6),
        },
    }
}

/// Special-purpose IPv6 blocks that `bogon` 0.3 takes for public: its merged table
/// rounds the first registry block (2001:200::/23) down to 2001::/18, which takes in
/// IANA's 2001::/23 (Teredo, benchmarking, ORCHID); and 2001:db8::/32 (documentation)
/// lies inside an APNIC block.
fn in_rir_gaps(v6: Ipv6Addr) -> bool {
    let s = v6.segments();
    s[0] == 0x2001 && (s[1] < 0x0200 || s[1] == 0x0db8)
}

/// The IPv4 address an IPv4-mapped or NAT64 (RFC 6052 well-known prefix) address leads to.
fn embedded_v4(v6: Ipv6Addr) -> Option<Ipv4Addr> {
    if let Some(v4) = v6.to_ipv4_mapped() {
        return Some(v4);
    }
    let bits = v6.to_bits();
    const NAT64_WKP: u128 = 0x0064_ff9b_u128 << 96;
    (bits >> 32 == NAT64_WKP >> 32).then(|| Ipv4Addr::from_bits(bits as u32))
}

/// Refuses non-HTTP(S) URLs, and IP-literal hosts that are not public.
pub fn check_url(url: &Url, allow_private: bool) -> Result<(), GraphError> {
    if url.scheme() != "https" && url.scheme() != "http" {
        return Err(GraphError::Refused(format!(
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
    GraphError::Refused(
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

    fn refused(list: &[&str]) {
        for ip in list {
            assert!(!is_public(ip.parse().unwrap()), "{ip} should be refused");
        }
    }

    fn allowed(list: &[&str]) {
        for ip in list {
            assert!(is_public(ip.parse().unwrap()), "{ip} should be allowed");
        }
    }

    #[test]
    fn private_ipv4_is_refused() {
        refused(&[
            "127.0.0.1",
            "10.1.2.3",
            "172.16.0.1",
            "192.168.1.1",
            "169.254.169.254",
            "0.0.0.0",
            "255.255.255.255",
            "224.0.0.1",
            "240.0.0.1",
            "192.0.2.1",
        ]);
        allowed(&[
            "157.240.1.1",
            "31.13.64.1",
            "8.8.8.8",
            "100.128.0.1",
            "198.20.0.1",
        ]);
    }

    #[test]
    fn shared_and_benchmarking_ipv4_are_refused() {
        // 100.64.0.0/10 (carrier-grade NAT) and 198.18.0.0/15 (benchmarking).
        refused(&[
            "100.64.0.1",
            "100.127.255.254",
            "198.18.0.1",
            "198.19.255.254",
        ]);
        allowed(&["100.63.255.255", "198.17.255.255", "198.20.0.0"]);
    }

    #[test]
    fn native_private_ipv6_is_refused() {
        refused(&[
            "::1", "::", "fe80::1", "fd00::1", "fc00::1", "fec0::1", "ff02::1", "100::1", "3fff::1",
        ]);
        // IANA's 2001::/23 (Teredo, benchmarking) and documentation, which `bogon` misses.
        refused(&[
            "2001::1",
            "2001:0:4136:e378:8000:63bf:3fff:fdd2",
            "2001:2::1",
            "2001:1ff::1",
            "2001:db8::1",
        ]);
        allowed(&[
            "2a03:2880:f12f:83:face:b00c::25de",
            "2001:4860:4860::8888",
            "2001:200::1",
            "2001:db9::1",
        ]);
    }

    #[test]
    fn ipv4_mapped_ipv6_is_judged_by_its_ipv4() {
        refused(&[
            "::ffff:127.0.0.1",
            "::ffff:10.0.0.1",
            "::ffff:169.254.169.254",
            "::ffff:100.64.0.1",
        ]);
        allowed(&["::ffff:157.240.1.1"]);
    }

    #[test]
    fn ipv4_compatible_ipv6_is_refused() {
        // Deprecated (RFC 4291); some stacks still route it to the IPv4 address.
        refused(&[
            "::127.0.0.1",
            "::10.0.0.1",
            "::169.254.169.254",
            "::192.168.0.1",
            "::157.240.1.1",
        ]);
    }

    #[test]
    fn nat64_is_judged_by_its_ipv4() {
        refused(&[
            "64:ff9b::127.0.0.1",
            "64:ff9b::10.0.0.1",
            "64:ff9b::a9fe:a9fe",
            "64:ff9b::198.18.0.1",
            "64:ff9b:1::10.0.0.1",
        ]);
        // A DNS64 resolver wraps public addresses the same way: those still work.
        allowed(&["64:ff9b::157.240.1.1"]);
    }

    #[test]
    fn six_to_four_is_refused() {
        // 2002:AABB:CCDD::/48 carries AA.BB.CC.DD; 6to4 is deprecated (RFC 7526).
        refused(&[
            "2002:7f00:1::1",
            "2002:a00:1::1",
            "2002:c0a8:101::1",
            "2002:a9fe:a9fe::",
        ]);
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
