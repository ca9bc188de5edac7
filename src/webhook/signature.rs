//! `X-Hub-Signature-256` verification over the exact raw body.

use hmac::{Hmac, KeyInit, Mac};
use sha2::Sha256;

use crate::secrets::Secret;

type HmacSha256 = Hmac<Sha256>;

/// Why a signature was refused. Never carries the secret.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
pub enum SignatureError {
    #[error("no app secret is configured")]
    NoSecret,
    #[error("X-Hub-Signature-256 header is missing")]
    Missing,
    #[error("X-Hub-Signature-256 header is not sha256=<64 hex digits>")]
    Malformed,
    #[error("X-Hub-Signature-256 does not match the body")]
    Mismatch,
}

/// Computes the header value `sha256=<hex>` for a body (used by `sign` and tests).
pub fn sign(secret: &str, body: &[u8]) -> String {
    let mut mac = HmacSha256::new_from_slice(secret.as_bytes()).expect("HMAC takes any key");
    mac.update(body);
    format!("sha256={}", hex::encode(mac.finalize().into_bytes()))
}

/// Verifies a header against the raw body, trying each accepted secret in order
/// (current first, then one in its rotation grace period). Returns the index of the
/// secret that matched.
///
/// Meta documents that it signs an escaped-unicode form of the payload; WhatsApp bodies
/// have arrived as raw UTF-8 while signed over that escaped form. So a body is accepted
/// when the HMAC of the raw bytes matches, or the HMAC of the raw bytes with every
/// non-ASCII character written as `\uXXXX` matches. The body is never re-serialized.
pub fn verify(
    secrets: &[&Secret],
    header: Option<&str>,
    body: &[u8],
) -> Result<usize, SignatureError> {
    let mut v = Verifier::new(secrets, header)?;
    v.update(body);
    v.finish(body)
}

/// A signature check that runs while the body streams in: the header is checked before
/// any byte is read (so an unsigned request is refused without reading its body), the
/// HMAC of the raw bytes is updated chunk by chunk, and only the escaped-unicode
/// fallback needs the whole body at the end.
pub struct Verifier<'a> {
    secrets: Vec<&'a Secret>,
    macs: Vec<HmacSha256>,
    tag: Vec<u8>,
}

impl<'a> Verifier<'a> {
    /// Checks that a secret is configured and the header is `sha256=<64 hex digits>`.
    pub fn new(secrets: &[&'a Secret], header: Option<&str>) -> Result<Self, SignatureError> {
        if secrets.is_empty() {
            return Err(SignatureError::NoSecret);
        }
        let header = header.ok_or(SignatureError::Missing)?;
        if header.is_empty() {
            return Err(SignatureError::Missing);
        }
        // Meta sends lowercase `sha256=`; anything else is not Meta.
        let hex_part = header
            .strip_prefix("sha256=")
            .ok_or(SignatureError::Malformed)?;
        if hex_part.len() != 64 {
            return Err(SignatureError::Malformed);
        }
        let tag = hex::decode(hex_part).map_err(|_| SignatureError::Malformed)?;
        let macs = secrets
            .iter()
            .map(|s| HmacSha256::new_from_slice(s.expose().as_bytes()).expect("HMAC takes any key"))
            .collect();
        Ok(Self {
            secrets: secrets.to_vec(),
            macs,
            tag,
        })
    }

    /// Feeds the next chunk of the raw body.
    pub fn update(&mut self, chunk: &[u8]) {
        for mac in &mut self.macs {
            mac.update(chunk);
        }
    }

    /// Returns the index of the secret that signed `body` (every byte fed through
    /// [`Verifier::update`]), trying the escaped-unicode form when the raw one fails.
    pub fn finish(self, body: &[u8]) -> Result<usize, SignatureError> {
        let tag = &self.tag;
        // verify_slice compares in constant time.
        if let Some(i) = self
            .macs
            .into_iter()
            .position(|mac| mac.verify_slice(tag).is_ok())
        {
            return Ok(i);
        }
        if body.is_ascii() {
            return Err(SignatureError::Mismatch);
        }
        let Some(escaped) = std::str::from_utf8(body).ok().map(escape_unicode) else {
            return Err(SignatureError::Mismatch);
        };
        self.secrets
            .iter()
            .position(|s| mac_matches(s, escaped.as_bytes(), tag))
            .ok_or(SignatureError::Mismatch)
    }
}

fn mac_matches(secret: &Secret, body: &[u8], tag: &[u8]) -> bool {
    let mut mac =
        HmacSha256::new_from_slice(secret.expose().as_bytes()).expect("HMAC takes any key");
    mac.update(body);
    // verify_slice compares in constant time.
    mac.verify_slice(tag).is_ok()
}

/// Writes every non-ASCII character as `\uXXXX` (lowercase hex, UTF-16 surrogate
/// pairs for characters outside the BMP), the form Meta signs.
pub fn escape_unicode(text: &str) -> String {
    let mut out = String::with_capacity(text.len() + 16);
    let mut units = [0u16; 2];
    for c in text.chars() {
        if c.is_ascii() {
            out.push(c);
        } else {
            for unit in c.encode_utf16(&mut units) {
                out.push_str(&format!("\\u{unit:04x}"));
            }
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    fn secret() -> Secret {
        Secret::new("app-secret").unwrap()
    }

    #[test]
    fn raw_body_signature_verifies() {
        let body = br#"{"object":"page","entry":[]}"#;
        let header = sign("app-secret", body);
        assert_eq!(verify(&[&secret()], Some(&header), body), Ok(0));
    }

    #[test]
    fn escaped_unicode_signature_verifies_raw_utf8_body() {
        let body = "{\"text\":\"J'ai mangé des pâtes 🍝\"}";
        let escaped = escape_unicode(body);
        assert_eq!(
            escaped,
            "{\"text\":\"J'ai mang\\u00e9 des p\\u00e2tes \\ud83c\\udf5d\"}"
        );
        let header = sign("app-secret", escaped.as_bytes());
        assert_eq!(verify(&[&secret()], Some(&header), body.as_bytes()), Ok(0));
    }

    #[test]
    fn bad_headers_are_refused() {
        let body = b"{}";
        let good = sign("app-secret", body);
        let upper = good.replace("sha256=", "SHA256=");
        let sha1 = good.replace("sha256=", "sha1=");
        let s = secret();
        assert_eq!(verify(&[&s], None, body), Err(SignatureError::Missing));
        assert_eq!(verify(&[&s], Some(""), body), Err(SignatureError::Missing));
        assert_eq!(
            verify(&[&s], Some(&upper), body),
            Err(SignatureError::Malformed)
        );
        assert_eq!(
            verify(&[&s], Some(&sha1), body),
            Err(SignatureError::Malformed)
        );
        assert_eq!(
            verify(&[&s], Some("sha256=zz"), body),
            Err(SignatureError::Malformed)
        );
        assert_eq!(
            verify(&[&s], Some(&good), b"{ }"),
            Err(SignatureError::Mismatch)
        );
        assert_eq!(
            verify(&[], Some(&good), body),
            Err(SignatureError::NoSecret)
        );
    }

    #[test]
    fn chunked_updates_match_the_whole_body() {
        let body = "{\"text\":\"pâtes\"}".as_bytes();
        let s = secret();
        for header in [
            sign("app-secret", body),
            sign(
                "app-secret",
                escape_unicode(std::str::from_utf8(body).unwrap()).as_bytes(),
            ),
        ] {
            let mut v = Verifier::new(&[&s], Some(&header)).unwrap();
            for chunk in body.chunks(3) {
                v.update(chunk);
            }
            assert_eq!(v.finish(body), Ok(0));
        }
    }

    #[test]
    fn previous_secret_reports_its_index() {
        let body = b"{}";
        let old = Secret::new("old").unwrap();
        let header = sign("old", body);
        assert_eq!(verify(&[&secret(), &old], Some(&header), body), Ok(1));
    }
}
