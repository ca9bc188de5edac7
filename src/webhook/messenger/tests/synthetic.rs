//! Inline bodies: routing by entry, echoes without the flag, time fallbacks, events
//! not stored, attachment edge cases and malformed input.

use super::*;

#[test]
fn mixed_batch_routes_each_entry_to_its_page() {
    let body = json!({"object": "page", "entry": [
        {"id": PAGE, "time": 1_767_000_000_500u64, "messaging": [
            {"sender": {"id": PSID}, "recipient": {"id": PAGE},
             "timestamp": 1_767_000_000_100u64,
             "message": {"mid": "m_a", "text": "to page one"}}]},
        // Ids as numbers: accepted like strings.
        {"id": 4444444444u64, "time": 1_767_000_000_600u64, "messaging": [
            {"sender": {"id": 5555555555u64}, "recipient": {"id": 4444444444u64},
             "timestamp": 1_767_000_000_200u64,
             "message": {"mid": "m_b", "text": "to page two"}}]}
    ]});
    let batch = fb(&body);
    assert_eq!(batch.ignored, Vec::<String>::new());
    let routed: Vec<(&str, i64)> = batch
        .events
        .iter()
        .map(|e| (e.channel_key.as_str(), e.timestamp_ms))
        .collect();
    assert_eq!(
        routed,
        vec![(PAGE, 1_767_000_000_100), ("4444444444", 1_767_000_000_200)]
    );
    let EventKind::Message(m) = &batch.events[1].kind else {
        panic!("message expected");
    };
    assert_eq!(m.contact.external_id, "5555555555");
    assert_eq!(m.text.as_deref(), Some("to page two"));
}

#[test]
fn a_message_sent_by_the_page_is_an_echo_without_the_flag() {
    let event = |sender: &str, recipient: &str, mid: &str| {
        json!({"sender": {"id": sender}, "recipient": {"id": recipient},
               "timestamp": 1_767_000_000_000u64,
               "message": {"mid": mid, "text": "typed in Business Suite"}})
    };
    let body = json!({"object": "page", "entry": [{"id": PAGE, "time": 1_767_000_000_000u64,
        "messaging": [event(PAGE, PSID, "m_unflagged"), event(PAGE, PAGE, "m_self")]}]});
    let batch = fb(&body);
    assert_eq!(batch.events.len(), 1, "{batch:?}");
    let EventKind::Message(m) = &batch.events[0].kind else {
        panic!("message expected");
    };
    assert_eq!(m.direction, Direction::Outbound);
    assert_eq!(m.contact.external_id, PSID);
    assert_eq!(
        batch.ignored,
        vec!["facebook: message m_self from the page/account to itself skipped"]
    );

    // Instagram, with the account id only on the entry and an `is_self` test message.
    let ig_body = json!({"object": "instagram", "entry": [{"id": IG_ACCOUNT, "time": 1_767_000_000_000u64,
        "messaging": [event(IG_ACCOUNT, IGSID, "m_ig_out"),
                      {"sender": {"id": IG_ACCOUNT}, "recipient": {"id": IG_ACCOUNT}, "timestamp": 1_767_000_000_000u64,
                       "message": {"mid": "m_ig_self", "is_self": true, "is_echo": true, "text": "t"}},
                      {"sender": {"id": IG_ACCOUNT}, "recipient": {"id": IGSID}, "timestamp": 1_767_000_000_000u64,
                       "postback": {"mid": "m_pb", "title": "x"}}]}]});
    let batch = ig(&ig_body);
    assert_eq!(batch.events.len(), 1, "{batch:?}");
    let EventKind::Message(m) = &batch.events[0].kind else {
        panic!("message expected");
    };
    assert_eq!(
        (m.direction, m.contact.external_id.as_str()),
        (Direction::Outbound, IGSID)
    );
    assert_eq!(batch.ignored.len(), 2, "{:?}", batch.ignored);
}

#[test]
fn routing_and_time_fallbacks() {
    let echo = json!({"sender": {"id": PAGE}, "recipient": {"id": PSID},
                      "message": {"mid": "m_e", "is_echo": true, "text": "hi"}});
    let inbound = json!({"sender": {"id": PSID}, "recipient": {"id": PAGE},
                         "timestamp": "1767000000",
                         "message": {"mid": "m_i", "text": "hello"}});
    let body = json!({"object": "page", "entry": [
        {"time": 1_767_000_009_000u64, "messaging": [echo, inbound]},
        {"messaging": [{"sender": {"id": PSID}, "recipient": {"id": PAGE},
                        "message": {"mid": "m_x", "text": "no time"}}]}
    ]});
    let batch = fb(&body);
    let got: Vec<(&str, i64)> = batch
        .events
        .iter()
        .map(|e| (e.channel_key.as_str(), e.timestamp_ms))
        .collect();
    // Echo: routed by its sender and timed by the entry; inbound: by its recipient.
    assert_eq!(
        got,
        vec![(PAGE, 1_767_000_009_000), (PAGE, 1_767_000_000_000)]
    );
    assert_eq!(
        batch.ignored,
        vec!["facebook: message event without timestamp skipped"]
    );
}

#[test]
fn not_stored_and_unknown_events_are_reported() {
    let base = |key: &str, value: Value| {
        let mut ev = json!({"sender": {"id": PSID}, "recipient": {"id": PAGE},
                            "timestamp": 1_767_000_000_000u64});
        ev[key] = value;
        ev
    };
    let time = 1_767_000_000_000u64;
    let body = json!({"object": "page", "entry": [{"id": PAGE, "time": time, "messaging": [
        base("referral", json!({"ref": "x", "source": "SHORTLINK", "type": "OPEN_THREAD"})),
        base("optin", json!({"type": "notification_messages"})),
        base("pass_thread_control", json!({"new_owner_app_id": "123"})),
        base("take_thread_control", json!({})),
        base("request_thread_control", json!({})),
        base("policy_enforcement", json!({"action": "block"})),
        base("account_linking", json!({"status": "linked"})),
        base("brand_new_thing", json!({})),
        base("message", json!({"text": "no mid"})),
        base("reaction", json!({"action": "react"})),
        base("delivery", json!({})),
    ]}, {"id": PAGE, "changes": [{"field": "feed", "value": {"item": "comment"}}]},
        {"id": PAGE}]});
    let batch = fb(&body);
    assert_eq!(batch.events, vec![]);
    assert_eq!(
        batch.ignored,
        vec![
            "facebook: referral event not stored",
            "facebook: optin event not stored",
            "facebook: pass_thread_control event not stored",
            "facebook: take_thread_control event not stored",
            "facebook: request_thread_control event not stored",
            "facebook: policy_enforcement event not stored",
            "facebook: account_linking event not stored",
            "facebook: unknown event \"brand_new_thing\" ignored",
            "facebook: message without mid skipped",
            "facebook: reaction without mid skipped",
            "facebook: delivered receipt without mids or watermark ignored",
            "facebook: \"feed\" change not stored",
            "facebook: entry without messaging, standby or changes",
        ]
    );
}

#[test]
fn attachment_edge_cases() {
    let ev = |ts: u64, message: Value| {
        let (sender, recipient) = (json!({"id": PSID}), json!({"id": PAGE}));
        json!({"sender": sender, "recipient": recipient, "timestamp": ts, "message": message})
    };
    let like = json!({"type": "image", "payload": {"sticker_id": 369239263222822u64}});
    let reel = json!({"type": "ig_reel", "payload": {"url": "/reel/123/", "reel_video_id": 123}});
    let media = json!({"type": "media", "payload": {"url": "https://x.test/a.jpg"}});
    let body = json!({"object": "page", "entry": [{"id": PAGE, "messaging": [
        ev(1_767_000_000_001, json!({"mid": "m_like", "attachments": [like]})),
        ev(1_767_000_000_002, json!({"mid": "m_reel", "attachments": [reel],
                                     "referral": {"source": "ADS", "ad_id": "6045"}})),
        ev(1_767_000_000_003, json!({"mid": "m_fb_empty", "text": "see",
                                     "attachments": [{"type": "fallback"}, media]})),
        ev(1_767_000_000_004, json!({"mid": "m_stk", "attachments": [
            {"type": "sticker", "payload": {"url": "https://x.test/s.png", "sticker_id": 1}},
            {"type": "image", "payload": {"url": "https://x.test/s.png"}}]})),
    ]}]});
    let batch = fb(&body);
    assert_eq!(batch.ignored, Vec::<String>::new());
    let msgs: Vec<&Message> = batch
        .events
        .iter()
        .map(|e| match &e.kind {
            EventKind::Message(m) => m,
            other => panic!("{other:?}"),
        })
        .collect();
    assert_eq!(msgs[0].kind, MessageKind::Sticker);
    assert_eq!(msgs[0].attachments[0].source, MediaSource::None);
    assert_eq!(msgs[1].kind, MessageKind::Video);
    assert_eq!(msgs[1].attachments[0].source, MediaSource::None);
    assert_eq!(
        msgs[1].payload,
        Some(json!({"referral": {"source": "ADS", "ad_id": "6045"}}))
    );
    assert_eq!(msgs[2].kind, MessageKind::Image);
    assert_eq!(
        msgs[2].payload,
        Some(json!({"links": [{"type": "fallback"}]}))
    );
    assert_eq!(msgs[2].attachments.len(), 1);
    assert_eq!(msgs[3].kind, MessageKind::Sticker);
    assert_eq!(msgs[3].attachments.len(), 1);
}

#[test]
fn postback_without_mid_gets_a_stable_id_and_edit_counts_parse() {
    let body = json!({"object": "page", "entry": [{"id": PAGE, "messaging": [
        {"sender": {"id": PSID}, "recipient": {"id": PAGE}, "timestamp": 1_767_000_000_000u64,
         "postback": {"title": "Menu"}},
        {"sender": {"id": PSID}, "recipient": {"id": PAGE}, "timestamp": 1_767_000_000_001u64,
         "message_edit": {"mid": "m_1", "text": "x", "num_edit": "2"}},
        {"sender": {"id": PSID}, "recipient": {"id": PAGE}, "timestamp": 1_767_000_000_002u64,
         "message_edit": {"mid": "m_1", "text": "y"}},
        // The page reacting: the customer is the recipient.
        {"sender": {"id": PAGE}, "recipient": {"id": PSID}, "timestamp": 1_767_000_000_003u64,
         "reaction": {"mid": "m_1", "action": "react", "emoji": "👍", "reaction": "like"}},
    ]}]});
    let kinds: Vec<EventKind> = fb(&body).events.into_iter().map(|e| e.kind).collect();
    let EventKind::Message(pb) = &kinds[0] else {
        panic!("postback expected");
    };
    assert_eq!(pb.external_id, format!("postback:{PSID}:1767000000000"));
    assert_eq!((pb.kind, pb.payload.clone()), (MessageKind::Postback, None));
    let edit = |n| EventKind::Edit {
        target: "m_1".into(),
        text: Some(if n == 2 { "x" } else { "y" }.into()),
        num_edit: n,
    };
    assert_eq!(kinds[1], edit(2));
    assert_eq!(kinds[2], edit(1));
    let EventKind::Reaction(r) = &kinds[3] else {
        panic!("reaction expected");
    };
    assert_eq!((r.reactor.as_str(), r.contact.as_str()), (PAGE, PSID));
}

#[test]
fn garbage_never_panics() {
    for body in [
        json!({"object": "page"}),
        json!({"object": "page", "entry": {"id": 1}}),
        json!({"object": "page", "entry": [1, null, "x", {"messaging": 5}]}),
        json!({"object": "page", "entry": [{"id": PAGE, "messaging": [
            1, "x", null, {"message": 5},
            {"sender": 3, "recipient": [], "timestamp": -1,
             "message": {"mid": {}, "attachments": "x"}},
            {"sender": {"id": PSID}, "timestamp": 1,
             "message": {"mid": "m", "attachments": [null, 1, {"type": 7, "payload": "x"}]}}],
            "changes": [null, {"value": 3},
                        {"field": "messages", "value": {"sender": null}}]}]}),
    ] {
        let batch = fb(&body);
        assert!(batch.events.len() <= 1, "{batch:?}");
        assert!(!batch.ignored.is_empty(), "{body}");
    }
}
