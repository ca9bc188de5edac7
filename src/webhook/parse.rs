//! Entry point for verified webhook bodies: checks the envelope's `object` against the
//! endpoint it arrived on and hands the body to the provider's parser.

use serde_json::Value;

use super::{messenger, whatsapp};
use crate::model::{Batch, Provider};

/// Normalizes one webhook body received on `provider`'s endpoint at `received_ms`
/// (epoch ms): event times that cannot be true become the time of receipt.
pub fn parse(provider: Provider, body: &Value, received_ms: i64) -> Batch {
    let expected = expected_object(provider);
    let reason = match body.get("object") {
        Some(Value::String(object)) if object == expected => {
            let mut batch = match provider {
                Provider::Whatsapp => whatsapp::parse(body),
                Provider::Facebook | Provider::Instagram => messenger::parse(provider, body),
            };
            let replaced = batch.settle_times(received_ms);
            if replaced > 0 {
                batch.ignored.push(format!(
                    "{provider}: {replaced} event time(s) before 2004 or more than a day ahead; \
                     the time of receipt is used"
                ));
            }
            return batch;
        }
        Some(Value::String(object)) => {
            format!("object {object:?} is not handled by the {provider} endpoint")
        }
        Some(other) => format!("object {other} is not handled by the {provider} endpoint"),
        None => format!("object is missing; body not handled by the {provider} endpoint"),
    };
    Batch {
        events: Vec::new(),
        ignored: vec![reason],
    }
}

/// The envelope `object` Meta sends to `provider`'s endpoint.
pub fn expected_object(provider: Provider) -> &'static str {
    match provider {
        Provider::Facebook => "page",
        Provider::Instagram => "instagram",
        Provider::Whatsapp => "whatsapp_business_account",
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::model::EventKind;
    use crate::webhook::json::{flag, id_str, items};
    use serde_json::json;
    use std::collections::HashMap;
    use std::path::Path;

    /// When the tests' bodies arrive: after every fixture's event time.
    const RECEIVED: i64 = 1_800_000_000_000;

    fn parse(provider: Provider, body: &Value) -> Batch {
        super::parse(provider, body, RECEIVED)
    }

    #[test]
    fn object_must_match_the_endpoint() {
        let body = json!({"object": "user", "entry": [{"id": "1", "time": 1, "changes": []}]});
        let batch = parse(Provider::Facebook, &body);
        assert!(batch.events.is_empty());
        assert_eq!(
            batch.ignored,
            vec![r#"object "user" is not handled by the facebook endpoint"#]
        );

        let wa = json!({"object": "whatsapp_business_account", "entry": []});
        let batch = parse(Provider::Instagram, &wa);
        assert_eq!(
            batch.ignored,
            vec![r#"object "whatsapp_business_account" is not handled by the instagram endpoint"#]
        );

        let batch = parse(Provider::Whatsapp, &json!({"entry": []}));
        assert!(batch.events.is_empty());
        assert_eq!(
            batch.ignored,
            vec!["object is missing; body not handled by the whatsapp endpoint"]
        );

        let batch = parse(Provider::Whatsapp, &json!({"object": 7}));
        assert_eq!(
            batch.ignored,
            vec!["object 7 is not handled by the whatsapp endpoint"]
        );
        assert_eq!(parse(Provider::Facebook, &json!([1, 2])).events, vec![]);
    }

    #[test]
    fn dispatches_by_provider() {
        let fb: Value =
            serde_json::from_str(include_str!("../../tests/fixtures/facebook/text.json"))
                .expect("fixture");
        assert_eq!(parse(Provider::Facebook, &fb).events.len(), 1);
        assert_eq!(parse(Provider::Instagram, &fb).events.len(), 0);
        let ig: Value =
            serde_json::from_str(include_str!("../../tests/fixtures/instagram/text.json"))
                .expect("fixture");
        assert_eq!(parse(Provider::Instagram, &ig).events.len(), 1);
        let wa: Value =
            serde_json::from_str(include_str!("../../tests/fixtures/whatsapp/text.json"))
                .expect("fixture");
        assert_eq!(parse(Provider::Whatsapp, &wa).events.len(), 1);
        assert_eq!(parse(Provider::Facebook, &wa).events.len(), 0);
    }

    #[test]
    fn impossible_event_times_become_the_time_of_receipt() {
        let fb = |ts: &str| -> Value {
            serde_json::from_str(&format!(
                r#"{{"object": "page", "entry": [{{"id": "1", "time": {ts}, "messaging": [
                    {{"sender": {{"id": "2"}}, "recipient": {{"id": "1"}}, "timestamp": {ts},
                      "message": {{"mid": "m1", "text": "hi"}}}}]}}]}}"#
            ))
            .unwrap()
        };
        let wa = |ts: &str| -> Value {
            json!({"object": "whatsapp_business_account", "entry": [{"id": "9", "changes": [{
                "field": "messages", "value": {
                    "metadata": {"phone_number_id": "5"},
                    "messages": [{"from": "3", "id": "wamid.1", "timestamp": ts,
                                  "type": "text", "text": {"body": "hi"}}]}}]}]})
        };
        let time = |b: Batch| {
            assert_eq!(b.events.len(), 1, "{b:?}");
            (b.events[0].timestamp_ms, b.ignored)
        };
        for ts in [
            "1e20",
            "1000000000000000000000000000000",
            "9223372036854775807",
            "18446744073709551615",
            "1.5e300",
            "\"1e20\"",
            "1000",
            "1",
        ] {
            let (t, notes) = time(parse(Provider::Facebook, &fb(ts)));
            assert_eq!(t, RECEIVED, "{ts}");
            assert!(notes[0].contains("time of receipt"), "{notes:?}");
        }
        for ts in [
            "99999999999999999999",
            "1e20",
            "9223372036854775807",
            "5",
            "-3",
        ] {
            let b = parse(Provider::Whatsapp, &wa(ts));
            // A negative time reads as no time: the message has none and is skipped.
            if ts == "-3" {
                assert!(b.events.is_empty());
                continue;
            }
            assert_eq!(time(b).0, RECEIVED, "{ts}");
        }
        // Believable times stay: ms and seconds, and up to a day ahead (clock skew).
        let (t, notes) = time(parse(Provider::Facebook, &fb("1767262200000")));
        assert_eq!((t, notes.len()), (1_767_262_200_000, 0));
        let ahead = (RECEIVED / 1000 + 3600).to_string();
        assert_eq!(
            time(parse(Provider::Whatsapp, &wa(&ahead))).0,
            RECEIVED + 3_600_000
        );
    }

    /// Every fixture on disk: parses without panicking, yields something, and no two
    /// fixtures reuse a message id.
    #[test]
    fn all_fixtures_parse_and_message_ids_are_unique() {
        let root = Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/fixtures");
        let mut owners: HashMap<String, String> = HashMap::new();
        let mut count = 0;
        for provider in Provider::ALL {
            let dir = root.join(provider.as_str());
            let mut files: Vec<_> = std::fs::read_dir(&dir)
                .expect("fixture dir")
                .map(|e| e.expect("dir entry").path())
                .filter(|p| p.extension().is_some_and(|e| e == "json"))
                .collect();
            files.sort();
            for path in files {
                count += 1;
                let text = std::fs::read_to_string(&path).expect("read fixture");
                let body: Value = serde_json::from_str(&text).expect("fixture is JSON");
                let batch = parse(provider, &body);
                let name = path.display().to_string();
                assert!(
                    !batch.events.is_empty() || !batch.ignored.is_empty(),
                    "{name} produced nothing"
                );
                for id in own_message_ids(&body) {
                    if let Some(prev) = owners.insert(id.clone(), name.clone()) {
                        assert_eq!(prev, name, "message id {id} reused");
                    }
                }
                for event in &batch.events {
                    assert!(event.timestamp_ms > 1_700_000_000_000, "{name}");
                    if let EventKind::Message(m) = &event.kind {
                        assert!(
                            owners.contains_key(&m.external_id)
                                || m.external_id.starts_with("postback:"),
                            "{name}"
                        );
                    }
                }
            }
        }
        assert!(count >= 60, "only {count} fixtures");
    }

    /// The providers sit below the dispatcher: none of their files may import it.
    #[test]
    fn provider_parsers_do_not_import_the_dispatcher() {
        let root = Path::new(env!("CARGO_MANIFEST_DIR")).join("src/webhook");
        let mut dirs = vec![root.join("messenger"), root.join("whatsapp")];
        let mut checked = 0;
        while let Some(dir) = dirs.pop() {
            for entry in std::fs::read_dir(&dir).expect("source dir") {
                let path = entry.expect("dir entry").path();
                if path.is_dir() {
                    dirs.push(path);
                    continue;
                }
                let text = std::fs::read_to_string(&path).expect("read source");
                for banned in ["super::parse", "webhook::parse", "super::super::parse"] {
                    assert!(!text.contains(banned), "{} uses {banned}", path.display());
                }
                checked += 1;
            }
        }
        assert!(checked >= 4, "only {checked} files checked");
        let json = std::fs::read_to_string(root.join("json.rs")).expect("json.rs");
        assert!(!json.contains("use crate::") && !json.contains("use super::m"));
    }

    /// Ids of messages a fixture itself carries (not ids it merely targets).
    fn own_message_ids(body: &Value) -> Vec<String> {
        let mut ids = Vec::new();
        for entry in items(body.get("entry")) {
            let mut events: Vec<&Value> = Vec::new();
            events.extend(items(entry.get("messaging")));
            events.extend(items(entry.get("standby")));
            for change in items(entry.get("changes")) {
                if let Some(value) = change.get("value") {
                    events.push(value);
                    for m in items(value.get("messages")) {
                        ids.extend(id_str(m.get("id")));
                    }
                }
            }
            for ev in events {
                for key in ["message", "postback"] {
                    let mid = ev.get(key).and_then(|m| id_str(m.get("mid")));
                    let deleted = ev.get(key).is_some_and(|m| flag(m.get("is_deleted")));
                    if !deleted {
                        ids.extend(mid);
                    }
                }
            }
        }
        ids
    }
}
