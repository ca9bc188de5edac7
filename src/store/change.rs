//! Changes a transaction made that the dashboard should hear about. Store functions
//! collect them; `live::Bus` numbers and publishes them after the commit.

use serde_json::Value;

/// One change: a type such as `message.created` and its JSON data object.
#[derive(Debug, Clone, PartialEq)]
pub struct Change {
    pub kind: &'static str,
    pub data: Value,
}

/// Builds a change.
pub fn change(kind: &'static str, data: Value) -> Change {
    Change { kind, data }
}
