//! Lenient readers for webhook JSON fields, shared by the provider parsers.
//!
//! Meta types the same field as a number in one format and a string in another
//! (`changes[]` test payloads send every value as a string), so each reader accepts both.

use serde_json::Value;

/// Reads an id given as a non-empty string or an integer.
pub(crate) fn id_str(value: Option<&Value>) -> Option<String> {
    match value? {
        Value::String(s) if !s.trim().is_empty() => Some(s.trim().to_owned()),
        Value::Number(n) if n.is_u64() || n.is_i64() => Some(n.to_string()),
        _ => None,
    }
}

/// Reads a non-empty string field.
pub(crate) fn text_str(value: Option<&Value>) -> Option<String> {
    match value? {
        Value::String(s) if !s.is_empty() => Some(s.clone()),
        _ => None,
    }
}

/// Reads an integer given as a number or a numeric string.
pub(crate) fn int_value(value: Option<&Value>) -> Option<i64> {
    match value? {
        Value::Number(n) => n.as_i64(),
        Value::String(s) => s.trim().parse().ok(),
        _ => None,
    }
}

/// Reads a flag: true only for JSON `true` or the string `"true"` (the `changes[]` format).
pub(crate) fn flag(value: Option<&Value>) -> bool {
    match value {
        Some(Value::Bool(b)) => *b,
        Some(Value::String(s)) => s == "true",
        _ => false,
    }
}

/// Lists the elements of an array field; absent or non-array reads as empty.
pub(crate) fn items(value: Option<&Value>) -> &[Value] {
    value.and_then(Value::as_array).map_or(&[], Vec::as_slice)
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn value_readers_accept_strings_and_numbers() {
        assert_eq!(id_str(Some(&json!(1111111111))), Some("1111111111".into()));
        assert_eq!(id_str(Some(&json!(" 42 "))), Some("42".into()));
        assert_eq!(id_str(Some(&json!(""))), None);
        assert_eq!(id_str(Some(&json!(1.5))), None);
        assert_eq!(id_str(None), None);
        assert_eq!(int_value(Some(&json!("3"))), Some(3));
        assert_eq!(int_value(Some(&json!(3))), Some(3));
        assert_eq!(int_value(Some(&json!("x"))), None);
        assert!(flag(Some(&json!("true"))) && flag(Some(&json!(true))));
        assert!(!flag(Some(&json!(1))) && !flag(None));
        assert!(items(Some(&json!({"a": 1}))).is_empty());
    }
}
