//! Graph API path segments: object ids go into URL paths, so each must stay one segment.

use super::GraphError;

/// Whether a WhatsApp media id can be put in `GET /{media-id}`: 1 to 128 letters,
/// digits, `-` or `_` (Meta's are digits). Anything else is refused before a request:
/// `..` once made the server call `GET /` on the Graph host with the bearer token.
pub fn is_media_id(id: &str) -> bool {
    (1..=128).contains(&id.len())
        && id
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || b == b'-' || b == b'_')
}

/// Percent-encodes one path segment (every byte of UTF-8 outside the unreserved set);
/// refuses the empty, `.` and `..` segments, which a URL parser resolves away. `%` is
/// encoded too, so `%2e%2e` stays a literal name, not a dot segment.
pub(super) fn encode_segment(s: &str) -> Result<String, GraphError> {
    if s.is_empty() || s == "." || s == ".." {
        return Err(GraphError::Permanent(format!(
            "invalid Graph object id {s:?}"
        )));
    }
    Ok(s.bytes()
        .map(|b| {
            if b.is_ascii_alphanumeric() || b"-._~".contains(&b) {
                (b as char).to_string()
            } else {
                format!("%{b:02X}")
            }
        })
        .collect())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn path_segments_are_encoded() {
        assert_eq!(encode_segment("US.1349/x").unwrap(), "US.1349%2Fx");
        assert_eq!(encode_segment("é?").unwrap(), "%C3%A9%3F");
        for bad in ["", ".", ".."] {
            assert!(encode_segment(bad).is_err(), "{bad:?}");
        }
    }

    #[test]
    fn media_ids_are_one_safe_segment() {
        for ok in ["1234567890123456", "abc_DEF-9"] {
            assert!(is_media_id(ok), "{ok}");
        }
        for bad in [
            "",
            ".",
            "..",
            "../me",
            "1/2",
            "1%2F2",
            "%2e%2e",
            "1.2",
            "12 3",
            "١٢",
            "a?b",
            "a#b",
            &"1".repeat(129),
        ] {
            assert!(!is_media_id(bad), "{bad}");
        }
    }
}
