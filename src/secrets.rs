//! Secret values: generation, constant-time comparison and redaction.
//!
//! Every token, password and app secret in HelpStack travels as a [`Secret`], whose
//! `Debug`/`Display` never print the value, so a stray `{:?}` in a log line cannot leak it.

use std::fmt;

use subtle::ConstantTimeEq;

/// A secret string that never prints its value.
#[derive(Clone, PartialEq, Eq)]
pub struct Secret(String);

impl Secret {
    /// Wraps a value; empty strings are not secrets (they are "unset").
    pub fn new(value: impl Into<String>) -> Option<Self> {
        let value = value.into();
        if value.is_empty() {
            None
        } else {
            Some(Self(value))
        }
    }

    /// Exposes the value, for the few places that must use it (HMAC keys, Graph calls).
    pub fn expose(&self) -> &str {
        &self.0
    }

    /// Compares with a candidate in constant time (length leaks, content does not).
    pub fn matches(&self, candidate: &str) -> bool {
        constant_time_eq(self.0.as_bytes(), candidate.as_bytes())
    }

    /// Shows the first characters and the length, enough to tell two secrets apart.
    pub fn redacted(&self) -> String {
        redact(&self.0)
    }
}

impl fmt::Debug for Secret {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("Secret(***)")
    }
}

impl fmt::Display for Secret {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("***")
    }
}

/// Compares two byte strings without an early exit on the first difference.
pub fn constant_time_eq(a: &[u8], b: &[u8]) -> bool {
    a.ct_eq(b).into()
}

/// Secrets shorter than this are shown as `***` only: two characters and the length of
/// a short secret leave too little to guess.
pub const REDACT_MIN_CHARS: usize = 16;

/// Redacts a secret for display: two leading characters and the length, or `***` for
/// a secret shorter than [`REDACT_MIN_CHARS`].
pub fn redact(value: &str) -> String {
    if value.chars().count() < REDACT_MIN_CHARS {
        return "***".into();
    }
    let head: String = value.chars().take(2).collect();
    format!("{head}…({} chars)", value.chars().count())
}

/// Generates a random URL-safe token of `bytes` random bytes, hex encoded.
pub fn random_token(bytes: usize) -> String {
    let mut buf = vec![0u8; bytes];
    getrandom::fill(&mut buf).expect("the OS random number generator is unavailable");
    hex::encode(buf)
}

/// Generates a password that is easy to type: groups of lowercase letters and digits.
pub fn random_password() -> String {
    const ALPHABET: &[u8] = b"abcdefghjkmnpqrstuvwxyz23456789";
    let mut buf = [0u8; 20];
    getrandom::fill(&mut buf).expect("the OS random number generator is unavailable");
    let chars: Vec<char> = buf
        .iter()
        .map(|b| ALPHABET[*b as usize % ALPHABET.len()] as char)
        .collect();
    chars
        .chunks(5)
        .map(|c| c.iter().collect::<String>())
        .collect::<Vec<_>>()
        .join("-")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn secret_never_prints_its_value() {
        let s = Secret::new("supersecretvalue").unwrap();
        assert!(!format!("{s:?} {s}").contains("supersecret"));
        assert_eq!(s.redacted(), "su…(16 chars)");
        assert_eq!(redact("fifteen-chars!!"), "***");
    }

    #[test]
    fn empty_is_not_a_secret() {
        assert!(Secret::new("").is_none());
    }

    #[test]
    fn matches_is_exact() {
        let s = Secret::new("abc").unwrap();
        assert!(s.matches("abc"));
        assert!(!s.matches("abd"));
        assert!(!s.matches("ab"));
        assert!(!s.matches(""));
    }

    #[test]
    fn generated_values_differ() {
        assert_ne!(random_token(16), random_token(16));
        assert_eq!(random_token(16).len(), 32);
        assert_eq!(random_password().len(), 23);
    }
}
