//! Who is on the other end of a request: the one rule the login throttle, `/metrics`,
//! the logs and the `Secure` cookie use.
//!
//! Forwarding headers are believed only from a trusted proxy (`trusted_proxies`,
//! loopback by default): anyone else can write them. From one, the client is the
//! rightmost `X-Forwarded-For` entry that is not itself a trusted proxy: each proxy
//! appends the address it saw, so everything left of the last untrusted hop was
//! written by the client and is worth nothing. `X-Real-IP` and `Forwarded` are used
//! only when the operator names one in `client_ip_header` (Caddy passes a client's own
//! `X-Real-IP` through untouched).

use std::net::{IpAddr, Ipv4Addr};

use ipnet::IpNet;
use poem::Request;

use crate::config::Config;

/// Headers a proxy adds; a request carrying any of them did not come straight from a
/// local client, whoever the TCP peer is.
const FORWARDING_HEADERS: &[&str] = &[
    "x-forwarded-for",
    "x-real-ip",
    "forwarded",
    "x-forwarded-proto",
    "x-forwarded-host",
];

/// Returns the TCP peer's address (IPv4-mapped IPv6 as plain IPv4).
pub fn peer(req: &Request) -> IpAddr {
    req.remote_addr()
        .as_socket_addr()
        .map(|a| a.ip().to_canonical())
        .unwrap_or(IpAddr::V4(Ipv4Addr::UNSPECIFIED))
}

/// Returns the client's address under the rule above.
pub fn client(req: &Request, config: &Config) -> IpAddr {
    let peer = peer(req);
    if !trusted(peer, &config.trusted_proxies) {
        return peer;
    }
    let header = config
        .client_ip_header
        .as_deref()
        .unwrap_or("x-forwarded-for");
    let forwarded_syntax = header == "forwarded";
    let entries: Vec<Option<IpAddr>> = req
        .headers()
        .get_all(header)
        .iter()
        .flat_map(|v| match v.to_str() {
            Ok(v) => v.split(',').map(Some).collect::<Vec<_>>(),
            Err(_) => vec![None],
        })
        .filter(|e| e.is_none_or(|e| !e.trim().is_empty()))
        .map(|e| e.and_then(|e| parse_entry(e, forwarded_syntax)))
        .collect();
    rightmost_untrusted(peer, &entries, &config.trusted_proxies)
}

/// Whether the browser reached the proxy over HTTPS: the URI says so, or a trusted proxy
/// does in `X-Forwarded-Proto` (the nearest proxy's word, its rightmost value).
pub fn is_https(req: &Request, config: &Config) -> bool {
    if req.uri().scheme_str() == Some("https") {
        return true;
    }
    trusted(peer(req), &config.trusted_proxies)
        && req
            .header("x-forwarded-proto")
            .and_then(|v| v.rsplit(',').next())
            .is_some_and(|p| p.trim().eq_ignore_ascii_case("https"))
}

/// Whether a request comes from a program on this machine and not through a proxy:
/// the peer is loopback and no forwarding header (nor the configured one) is present.
pub fn is_local(req: &Request, config: &Config) -> bool {
    let forwarded = FORWARDING_HEADERS
        .iter()
        .copied()
        .chain(config.client_ip_header.as_deref())
        .any(|h| req.headers().contains_key(h));
    peer(req).is_loopback() && !forwarded
}

fn trusted(ip: IpAddr, proxies: &[IpNet]) -> bool {
    proxies.iter().any(|net| net.contains(&ip))
}

/// Walks the hops from the right: each one was written by the (trusted) hop to its
/// right; the first untrusted one is the client. An entry that is not an address stops
/// the walk at the last hop known (a proxy wrote garbage: do not guess past it); when
/// every hop is trusted, the leftmost is the client (a request made on a proxy host).
fn rightmost_untrusted(peer: IpAddr, entries: &[Option<IpAddr>], proxies: &[IpNet]) -> IpAddr {
    let mut client = peer;
    for entry in entries.iter().rev() {
        let Some(ip) = *entry else { break };
        client = ip;
        if !trusted(ip, proxies) {
            break;
        }
    }
    client
}

/// Parses one hop: `1.2.3.4`, `1.2.3.4:5678`, `2001:db8::1`, `[2001:db8::1]:443`; in
/// `Forwarded` syntax the `for=` parameter of the element (`for="[2001:db8::1]:443"`).
fn parse_entry(entry: &str, forwarded_syntax: bool) -> Option<IpAddr> {
    let value = if forwarded_syntax {
        entry.split(';').find_map(|pair| {
            let (k, v) = pair.split_once('=')?;
            k.trim().eq_ignore_ascii_case("for").then_some(v)
        })?
    } else {
        entry
    };
    let value = value.trim().trim_matches('"');
    let ip = if let Some(rest) = value.strip_prefix('[') {
        rest.split_once(']')?.0.parse::<IpAddr>().ok()?
    } else {
        value
            .parse::<IpAddr>()
            .or_else(|_| value.parse::<std::net::SocketAddr>().map(|a| a.ip()))
            .ok()?
    };
    Some(ip.to_canonical())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn nets(list: &[&str]) -> Vec<IpNet> {
        list.iter().map(|n| n.parse().unwrap()).collect()
    }

    fn ip(s: &str) -> IpAddr {
        s.parse().unwrap()
    }

    fn config(proxies: &[&str], header: Option<&str>) -> Config {
        let mut c =
            crate::config::resolve(Default::default(), None, &Default::default(), &|_: &str| {
                None
            })
            .unwrap();
        c.trusted_proxies = nets(proxies);
        c.client_ip_header = header.map(str::to_string);
        c
    }

    fn request(peer: &str, headers: &[(&str, &str)]) -> Request {
        let mut b = poem::http::Request::builder();
        for (k, v) in headers {
            b = b.header(*k, *v);
        }
        let (parts, ()) = b.body(()).unwrap().into_parts();
        let addr = std::net::SocketAddr::new(peer.parse().unwrap(), 40000);
        let parts = poem::RequestParts::from((
            parts,
            poem::web::LocalAddr::default(),
            poem::web::RemoteAddr(poem::Addr::SocketAddr(addr)),
            poem::http::uri::Scheme::HTTP,
        ));
        Request::from_parts(parts, poem::Body::empty())
    }

    const LOOPBACK: &[&str] = &["127.0.0.0/8", "::1/128"];

    #[test]
    fn an_untrusted_peer_is_the_client_whatever_it_says() {
        let c = config(LOOPBACK, None);
        let req = request(
            "203.0.113.5",
            &[
                ("x-forwarded-for", "198.51.100.1"),
                ("x-real-ip", "10.0.0.1"),
            ],
        );
        assert_eq!(client(&req, &c), ip("203.0.113.5"));
        let req = request("203.0.113.5", &[("x-forwarded-proto", "https")]);
        assert!(!is_https(&req, &c), "only a trusted proxy says https");
    }

    #[test]
    fn behind_a_trusted_proxy_the_rightmost_untrusted_hop_is_the_client() {
        let c = config(&["127.0.0.0/8", "10.0.0.0/8"], None);
        // The client sent its own prefix; the proxies appended what they saw.
        let req = request(
            "127.0.0.1",
            &[(
                "x-forwarded-for",
                "1.1.1.1, 127.0.0.5, 198.51.100.7, 10.0.0.2",
            )],
        );
        assert_eq!(client(&req, &c), ip("198.51.100.7"));
        // Several header lines are one list, in order.
        let mut req = request("127.0.0.1", &[("x-forwarded-for", "1.1.1.1")]);
        req.headers_mut()
            .append("x-forwarded-for", "198.51.100.8".parse().unwrap());
        assert_eq!(client(&req, &c), ip("198.51.100.8"));
        // No header: the peer itself.
        assert_eq!(client(&request("127.0.0.1", &[]), &c), ip("127.0.0.1"));
        let req = request("::ffff:127.0.0.1", &[("x-forwarded-for", "203.0.113.9")]);
        assert_eq!(client(&req, &c), ip("203.0.113.9"), "IPv4-mapped peer");
        let req = request("127.0.0.1", &[("x-forwarded-proto", "http, https")]);
        assert!(is_https(&req, &c));
    }

    #[test]
    fn a_chain_of_trusted_hops_ends_at_its_leftmost() {
        let c = config(LOOPBACK, None);
        let req = request("127.0.0.1", &[("x-forwarded-for", "127.0.0.3, ::1")]);
        assert_eq!(client(&req, &c), ip("127.0.0.3"));
    }

    #[test]
    fn garbage_stops_the_walk_at_the_last_known_hop() {
        let c = config(&["127.0.0.0/8", "10.0.0.0/8"], None);
        for (xff, want) in [
            ("203.0.113.1, unknown, 10.0.0.2", "10.0.0.2"),
            ("garbage", "127.0.0.1"),
            ("203.0.113.1, 999.1.1.1", "127.0.0.1"),
            ("203.0.113.1, , 10.0.0.2", "203.0.113.1"),
            ("[2001:db8::1]:443", "2001:db8::1"),
            ("192.0.2.4:51000", "192.0.2.4"),
            ("[2001:db8::1", "127.0.0.1"),
        ] {
            let req = request("127.0.0.1", &[("x-forwarded-for", xff)]);
            assert_eq!(client(&req, &c), ip(want), "{xff}");
        }
        let mut req = request("127.0.0.1", &[]);
        req.headers_mut().insert(
            "x-forwarded-for",
            poem::http::HeaderValue::from_bytes(b"203.0.113.1, \xff").unwrap(),
        );
        assert_eq!(client(&req, &c), ip("127.0.0.1"), "not UTF-8");
    }

    #[test]
    fn x_real_ip_and_forwarded_count_only_when_named() {
        let headers = [
            ("x-real-ip", "198.51.100.20"),
            ("forwarded", "for=198.51.100.30;proto=https"),
        ];
        let req = request("127.0.0.1", &headers);
        assert_eq!(client(&req, &config(LOOPBACK, None)), ip("127.0.0.1"));
        let named = config(LOOPBACK, Some("x-real-ip"));
        assert_eq!(client(&req, &named), ip("198.51.100.20"));
        let named = config(LOOPBACK, Some("forwarded"));
        assert_eq!(client(&req, &named), ip("198.51.100.30"));
        let req = request(
            "127.0.0.1",
            &[(
                "forwarded",
                r#"for=192.0.2.1, for="[2001:db8:cafe::17]:4711";by=127.0.0.1, for=127.0.0.1"#,
            )],
        );
        assert_eq!(client(&req, &named), ip("2001:db8:cafe::17"));
        let req = request("127.0.0.1", &[("forwarded", "for=_hidden")]);
        assert_eq!(client(&req, &named), ip("127.0.0.1"), "obfuscated");
        // Named or not, they never come from an untrusted peer.
        let req = request("203.0.113.5", &headers);
        assert_eq!(
            client(&req, &config(LOOPBACK, Some("x-real-ip"))),
            ip("203.0.113.5")
        );
    }

    #[test]
    fn no_proxy_is_trusted_with_an_empty_list() {
        let c = config(&[], None);
        let req = request("127.0.0.1", &[("x-forwarded-for", "198.51.100.7")]);
        assert_eq!(client(&req, &c), ip("127.0.0.1"));
    }

    #[test]
    fn any_forwarding_header_makes_a_request_non_local() {
        let c = config(LOOPBACK, Some("cf-connecting-ip"));
        assert!(is_local(&request("127.0.0.1", &[]), &c));
        assert!(is_local(&request("::1", &[]), &c));
        assert!(!is_local(&request("192.0.2.1", &[]), &c));
        for h in [
            "x-forwarded-for",
            "x-real-ip",
            "forwarded",
            "x-forwarded-proto",
            "x-forwarded-host",
            "cf-connecting-ip",
        ] {
            assert!(
                !is_local(&request("127.0.0.1", &[(h, "127.0.0.1")]), &c),
                "{h}"
            );
        }
    }
}
