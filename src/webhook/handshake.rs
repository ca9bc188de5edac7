//! The GET verification handshake Meta sends when a callback URL is saved.

use crate::secrets::Secret;

/// Query parameters of a handshake request (names contain dots: `hub.mode`).
#[derive(Debug, Default)]
pub struct HandshakeQuery<'a> {
    pub mode: Option<&'a str>,
    pub verify_token: Option<&'a str>,
    pub challenge: Option<&'a str>,
}

/// Outcome of a handshake.
#[derive(Debug, PartialEq, Eq)]
pub enum Handshake<'a> {
    /// Echo this challenge verbatim with 200.
    Accept(&'a str),
    /// Answer 403: wrong/missing token, wrong mode, or no token configured.
    Reject(&'static str),
}

/// Decides a handshake: the challenge is echoed only for `hub.mode=subscribe` and a
/// token equal (constant time) to the configured one. An unconfigured token never
/// matches, so an empty `hub.verify_token` cannot verify a fresh install.
pub fn verify<'a>(query: &HandshakeQuery<'a>, configured: Option<&Secret>) -> Handshake<'a> {
    let Some(expected) = configured else {
        return Handshake::Reject("no verify token is configured for this provider");
    };
    if query.mode != Some("subscribe") {
        return Handshake::Reject("hub.mode is not subscribe");
    }
    let Some(token) = query.verify_token else {
        return Handshake::Reject("hub.verify_token is missing");
    };
    if !expected.matches(token) {
        return Handshake::Reject("hub.verify_token does not match");
    }
    match query.challenge {
        Some(c) => Handshake::Accept(c),
        None => Handshake::Reject("hub.challenge is missing"),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn q<'a>(mode: Option<&'a str>, token: Option<&'a str>) -> HandshakeQuery<'a> {
        HandshakeQuery {
            mode,
            verify_token: token,
            challenge: Some("1158201444"),
        }
    }

    #[test]
    fn matching_token_echoes_challenge() {
        let s = Secret::new("tok").unwrap();
        assert_eq!(
            verify(&q(Some("subscribe"), Some("tok")), Some(&s)),
            Handshake::Accept("1158201444")
        );
    }

    #[test]
    fn everything_else_is_rejected() {
        let s = Secret::new("tok").unwrap();
        for query in [
            q(Some("subscribe"), Some("nope")),
            q(Some("subscribe"), None),
            q(None, Some("tok")),
            q(Some("unsubscribe"), Some("tok")),
            q(Some("subscribe"), Some("")),
        ] {
            assert!(matches!(verify(&query, Some(&s)), Handshake::Reject(_)));
        }
        assert!(matches!(
            verify(&q(Some("subscribe"), Some("")), None),
            Handshake::Reject(_)
        ));
    }
}
