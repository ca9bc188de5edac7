//! WhatsApp statuses, batches, senders, routing and malformed input.

use super::*;

fn check_status(body: &Value, offset_s: i64, receipt: Receipt) {
    let expected = Event {
        channel_key: PNID.into(),
        timestamp_ms: T + offset_s * 1000,
        kind: EventKind::Receipt(receipt),
        raw: first_status(body),
    };
    assert_eq!(single(parse(body)), expected);
}

fn receipt(target: &str, status: DeliveryStatus) -> Receipt {
    Receipt {
        contact: WAID.into(),
        status,
        targets: vec![target.into()],
        watermark_ms: None,
        error_code: None,
        error_title: None,
    }
}

#[test]
fn statuses() {
    check_status(
        &fixture!("statuses_sent"),
        1_000,
        receipt(OUT1, DeliveryStatus::Sent),
    );
    check_status(
        &fixture!("statuses_delivered"),
        1_002,
        receipt(OUT1, DeliveryStatus::Delivered),
    );
    check_status(
        &fixture!("statuses_read"),
        1_030,
        receipt(OUT1, DeliveryStatus::Read),
    );
    let failed = Receipt {
        error_code: Some(131047),
        error_title: Some("Re-engagement message".into()),
        ..receipt("wamid.OUTBOUND2", DeliveryStatus::Failed)
    };
    check_status(&fixture!("statuses_failed"), 1_100, failed);
}

#[test]
fn batch_of_two_messages_plus_a_second_change() {
    let body = fixture!("batch");
    let batch = parse(&body);
    assert_eq!(batch.ignored, Vec::<String>::new());
    let changes = &body["entry"][0]["changes"];
    let raws = [
        changes[0]["value"]["messages"][0].clone(),
        changes[0]["value"]["messages"][1].clone(),
        changes[1]["value"]["messages"][0].clone(),
    ];
    let expected: Vec<Event> = [
        (1_200, "First message"),
        (1_201, "Second message"),
        (1_260, "Third message, second change"),
    ]
    .into_iter()
    .zip(raws)
    .map(|((offset, text), raw)| Event {
        channel_key: PNID.into(),
        timestamp_ms: T + offset * 1000,
        kind: EventKind::Message(inbound(&raw, MessageKind::Text, Some(text))),
        raw,
    })
    .collect();
    assert_eq!(batch.events, expected);
}

#[test]
fn bsuid_only_sender() {
    check_message(&fixture!("bsuid"), 1_300, |raw| {
        let mut m = inbound(
            raw,
            MessageKind::Text,
            Some("Hi, I found you via your username"),
        );
        m.contact = ContactRef {
            external_id: "US.13491208655302741918".into(),
            name: Some("Ana Souza".into()),
            username: Some("@anasouza".into()),
            phone: None,
        };
        m
    });
}

#[test]
fn reply_with_context() {
    check_message(&fixture!("reply_context"), 1_360, |raw| {
        let mut m = inbound(raw, MessageKind::Text, Some("Which carrier is it?"));
        m.reply_to = Some(OUT1.into());
        m
    });
}

#[test]
fn non_message_fields_and_errors_are_ignored() {
    let batch = parse(&fixture!("account_update"));
    assert_eq!(batch.events, vec![]);
    assert_eq!(
        batch.ignored,
        vec![r#"whatsapp: "account_update" change not stored"#]
    );
    let batch = parse(&fixture!("errors"));
    assert_eq!(batch.events, vec![]);
    assert_eq!(
        batch.ignored,
        vec!["whatsapp: errors reported: 131000 Something went wrong"]
    );
}

#[test]
fn routes_each_change_by_phone_number_id() {
    let change = |pnid: Value, id: &str| {
        json!({"field": "messages", "value": {
            "metadata": {"display_phone_number": "1555", "phone_number_id": pnid},
            "contacts": [{"profile": {"name": "Bo"}, "wa_id": "441234"}],
            "messages": [{"from": "441234", "id": id, "timestamp": 1_767_000_000,
                          "type": "text", "text": {"body": "hi"}}]}})
    };
    let body = json!({"object": "whatsapp_business_account", "entry": [
        {"id": "1", "changes": [change(json!("111"), "wamid.a")]},
        {"id": "2", "changes": [
            change(json!(222), "wamid.b"),
            {"field": "messages", "value": {}}
        ]}
    ]});
    let batch = parse(&body);
    let routed: Vec<(&str, i64)> = batch
        .events
        .iter()
        .map(|e| (e.channel_key.as_str(), e.timestamp_ms))
        .collect();
    assert_eq!(
        routed,
        vec![("111", 1_767_000_000_000), ("222", 1_767_000_000_000)]
    );
    assert_eq!(
        batch.ignored,
        vec!["whatsapp: messages change without metadata.phone_number_id skipped"]
    );
}

#[test]
fn edge_cases() {
    let msg = |extra: Value| {
        let mut m = json!({"from": WAID, "id": "wamid.x", "timestamp": "1767000000"});
        if let (Some(m), Some(extra)) = (m.as_object_mut(), extra.as_object()) {
            m.extend(extra.clone());
        }
        m
    };
    let value = json!({"metadata": {"phone_number_id": PNID},
    "messages": [
        msg(json!({"type": "order", "order": {"catalog_id": "1", "product_items": [{}, {}]}})),
        msg(json!({"type": "text", "text": {"body": "fwd"}, "context": {"forwarded": true},
                   "referral": {"source_type": "ad", "ctwa_clid": "abc"}})),
        msg(json!({"type": "poll", "poll": {}})),
        msg(json!({"type": "reaction", "reaction": {"messsage_id": "wamid.y", "emoji": ""}})),
        msg(json!({"type": "text", "text": {"body": "group"}, "group_id": "g1"})),
        msg(json!({"type": "reaction", "reaction": {}})),
        json!({"from": WAID, "id": "wamid.z", "type": "text", "text": {"body": "no time"}}),
        json!({"id": "wamid.w", "timestamp": "1767000000", "type": "text"}),
    ],
    "statuses": [
        {"id": "wamid.o", "status": "deleted", "timestamp": "1767000000", "recipient_id": WAID},
        {"id": "wamid.o", "status": "played", "timestamp": "1767000000", "recipient_id": WAID},
    ]});
    let body = json!({"entry": [{"changes": [{"field": "messages", "value": value}]}]});
    let batch = parse(&body);
    let kinds: Vec<&EventKind> = batch.events.iter().map(|e| &e.kind).collect();
    let EventKind::Message(order) = kinds[0] else {
        panic!("order")
    };
    assert_eq!(order.text.as_deref(), Some("Order (2 items)"));
    let EventKind::Message(fwd) = kinds[1] else {
        panic!("fwd")
    };
    assert_eq!(
        fwd.payload,
        Some(json!({"forwarded": true, "referral": {"source_type": "ad", "ctwa_clid": "abc"}}))
    );
    let EventKind::Message(poll) = kinds[2] else {
        panic!("poll")
    };
    assert_eq!(
        (poll.kind, poll.payload.clone()),
        (MessageKind::Unsupported, Some(json!({"type": "poll"})))
    );
    let EventKind::Reaction(r) = kinds[3] else {
        panic!("reaction")
    };
    assert_eq!((r.target.as_str(), r.removed), ("wamid.y", true));
    let EventKind::Receipt(played) = kinds[4] else {
        panic!("played")
    };
    assert_eq!(played.status, DeliveryStatus::Played);
    assert_eq!(kinds.len(), 5);
    assert_eq!(
        batch.ignored,
        vec![
            "whatsapp: group message wamid.x not stored",
            "whatsapp: reaction wamid.x without message_id",
            "whatsapp: message wamid.z without timestamp skipped",
            "whatsapp: message wamid.w without sender skipped",
            "whatsapp: status \"deleted\" for wamid.o not stored",
        ]
    );
}

#[test]
fn garbage_never_panics() {
    for body in [
        json!(null),
        json!({"entry": 3}),
        json!({"entry": [null, {"changes": [
            null, 1, {"field": 2}, {"field": "messages", "value": []}
        ]}]}),
        json!({"entry": [{"changes": [{"field": "messages", "value": {
            "metadata": {"phone_number_id": "1"}, "contacts": [1, {"wa_id": {}}],
            "messages": [1, {"id": 5, "from": [], "timestamp": {}},
                {"id": "a", "from": "1", "timestamp": "1767000000", "type": "image",
                 "image": 4},
                {"id": "b", "from": "1", "timestamp": "1767000000", "type": "contacts",
                 "contacts": {"x": 1}},
                {"id": "c", "from": "1", "timestamp": "1767000000", "type": "interactive",
                 "interactive": "x"}],
            "statuses": [null, {"id": "s", "status": 3}], "errors": "x"}}]}]}),
    ] {
        let batch = parse(&body);
        assert!(!batch.ignored.is_empty(), "{body}");
    }
}
