//! Table-driven checks over `tests/fixtures/{facebook,instagram}/`: each row names a
//! fixture that yields exactly one event, ignores nothing, and equals the expected event.
//! Twins (the same event on both products) sit in one row so they cannot drift apart.

use super::*;

/// Where a fixture keeps the event that becomes `Event::raw`.
#[derive(Clone, Copy)]
enum Raw {
    Messaging,
    Standby,
    Change,
}

/// One fixture and the event it must parse to.
struct Case {
    fixture: &'static str,
    timestamp_ms: i64,
    raw: Raw,
    /// The expected kind, built from the body (attachment URLs are read from it).
    kind: fn(&Value) -> EventKind,
}

fn case(fixture: &'static str, timestamp_ms: i64, kind: fn(&Value) -> EventKind) -> Case {
    Case {
        fixture,
        timestamp_ms,
        raw: Raw::Messaging,
        kind,
    }
}

/// Parses the fixture with the provider of its folder and compares the whole event.
fn check(case: &Case) {
    let body = fixture(case.fixture);
    let (provider, channel) = match case.fixture.split_once('/') {
        Some(("facebook", _)) => (Provider::Facebook, PAGE),
        Some(("instagram", _)) => (Provider::Instagram, IG_ACCOUNT),
        _ => panic!("not a Messenger fixture: {}", case.fixture),
    };
    let entry = &body["entry"][0];
    let raw = match case.raw {
        Raw::Messaging => entry["messaging"][0].clone(),
        Raw::Standby => entry["standby"][0].clone(),
        Raw::Change => entry["changes"][0]["value"].clone(),
    };
    let expected = Event {
        channel_key: channel.into(),
        timestamp_ms: case.timestamp_ms,
        kind: (case.kind)(&body),
        raw,
    };
    let batch = parse(provider, &body);
    assert_eq!(batch.ignored, Vec::<String>::new(), "{}", case.fixture);
    assert_eq!(batch.events, vec![expected], "{}", case.fixture);
}

fn love(target: &str, customer: &str) -> EventKind {
    EventKind::Reaction(Reaction {
        target: target.into(),
        reactor: customer.into(),
        contact: customer.into(),
        emoji: Some("\u{2764}\u{fe0f}".into()),
        reaction: Some("love".into()),
        removed: false,
    })
}

/// An `unreact`: the same reaction, without emoji or name, marked removed.
fn unreact(target: &str, customer: &str) -> EventKind {
    let EventKind::Reaction(r) = love(target, customer) else {
        unreachable!()
    };
    EventKind::Reaction(Reaction {
        emoji: None,
        reaction: None,
        removed: true,
        ..r
    })
}

/// The same event on Messenger and on Instagram: `(facebook, instagram)`.
fn twins() -> Vec<(Case, Case)> {
    vec![
        (
            case("facebook/text", 1_767_261_600_123, |_| {
                let text = "Olá! Is my order #4521 shipped yet?";
                EventKind::Message(inbound(FB_TEXT, MessageKind::Text, Some(text)))
            }),
            // `\ud83c\uddf5\ud83c\uddf9` surrogate pairs decode to one flag.
            case("instagram/text", 1_767_348_000_321, |_| {
                let text = "Hi! Do you ship to Portugal? 🇵🇹";
                EventKind::Message(ig_inbound(IG_TEXT, MessageKind::Text, Some(text)))
            }),
        ),
        (
            case("facebook/image", 1_767_261_660_000, |body| {
                let mid = "m_fb0002aW1hZ2UtMDAwMi1oZWxwc3RhY2s";
                EventKind::Message(Message {
                    attachments: vec![cdn(MessageKind::Image, attachment_url(body, 0))],
                    ..inbound(mid, MessageKind::Image, None)
                })
            }),
            case("instagram/image", 1_767_348_060_000, |body| {
                EventKind::Message(Message {
                    attachments: vec![cdn(MessageKind::Image, attachment_url(body, 0))],
                    ..ig_inbound(&ig_mid("aW1hZ2U"), MessageKind::Image, None)
                })
            }),
        ),
        (
            // An echo is outbound to the recipient; `app_id` and `metadata` are kept.
            case("facebook/echo", 1_767_262_200_000, |_| {
                let text = "Hi Ana! Your order #4521 shipped today.";
                EventKind::Message(Message {
                    payload: Some(
                        json!({"app_id": 1517776481860111u64, "metadata": "helpstack:ticket-8841"}),
                    ),
                    ..message(
                        FB_ECHO,
                        Direction::Outbound,
                        PSID,
                        MessageKind::Text,
                        Some(text),
                    )
                })
            }),
            case("instagram/echo", 1_767_348_600_000, |_| {
                let text = "Yes, we ship to Portugal! Delivery takes 3-5 days.";
                let msg = message(
                    IG_ECHO,
                    Direction::Outbound,
                    IGSID,
                    MessageKind::Text,
                    Some(text),
                );
                EventKind::Message(msg)
            }),
        ),
        (
            case("facebook/reaction", 1_767_262_240_000, |_| {
                love(FB_ECHO, PSID)
            }),
            case("instagram/reaction", 1_767_348_640_000, |_| {
                love(IG_ECHO, IGSID)
            }),
        ),
        (
            case("facebook/reaction_unreact", 1_767_262_250_000, |_| {
                unreact(FB_ECHO, PSID)
            }),
            case("instagram/unreact", 1_767_348_650_000, |_| {
                unreact(IG_ECHO, IGSID)
            }),
        ),
        (
            case("facebook/edit", 1_767_261_645_000, |_| EventKind::Edit {
                target: FB_TEXT.into(),
                text: Some("Olá! Is my order #4522 shipped yet?".into()),
                num_edit: 1,
            }),
            case("instagram/edit", 1_767_348_045_000, |_| EventKind::Edit {
                target: IG_TEXT.into(),
                text: Some("Hi! Do you ship to Spain? 🇪🇸".into()),
                num_edit: 1,
            }),
        ),
        (
            case("facebook/postback", 1_767_262_500_000, |_| {
                let mid = "m_fb0010cG9zdGJhY2stMDAxMC1oZWxwc3RhY2s";
                EventKind::Message(Message {
                    payload: Some(json!({
                        "postback": "GET_STARTED",
                        "referral": {"ref": "summer-promo", "source": "SHORTLINK", "type": "OPEN_THREAD"}
                    })),
                    ..inbound(mid, MessageKind::Postback, Some("Get Started"))
                })
            }),
            case("instagram/postback", 1_767_348_820_000, |_| {
                let mid = &ig_mid("cG9zdGJhY2s");
                EventKind::Message(Message {
                    payload: Some(json!({"postback": "ICEBREAKER_TRACK_ORDER"})),
                    ..ig_inbound(mid, MessageKind::Postback, Some("Track my order"))
                })
            }),
        ),
        (
            // Messenger reads carry a watermark; Instagram's name the mid they saw.
            case("facebook/read", 1_767_262_230_100, |_| {
                let r = receipt(PSID, DeliveryStatus::Read, &[], Some(1_767_262_230_000));
                EventKind::Receipt(r)
            }),
            case("instagram/read", 1_767_348_630_000, |_| {
                EventKind::Receipt(receipt(IGSID, DeliveryStatus::Read, &[IG_ECHO], None))
            }),
        ),
    ]
}

#[test]
fn twin_fixtures_parse_alike_on_both_products() {
    for (facebook, instagram) in twins() {
        check(&facebook);
        check(&instagram);
    }
}

/// Messenger-only fixtures.
fn facebook_cases() -> Vec<Case> {
    vec![
        case("facebook/delivery", 1_767_262_201_500, |_| {
            let r = receipt(
                PSID,
                DeliveryStatus::Delivered,
                &[FB_ECHO],
                Some(1_767_262_201_000),
            );
            EventKind::Receipt(r)
        }),
        // Every attachment is kept, in order; the first decides the kind.
        case("facebook/multiple_attachments", 1_767_261_720_000, |body| {
            let mid = "m_fb0003bXVsdGktMDAwMy1oZWxwc3RhY2s";
            EventKind::Message(Message {
                attachments: vec![
                    cdn(MessageKind::Image, attachment_url(body, 0)),
                    cdn(MessageKind::Video, attachment_url(body, 1)),
                    cdn(MessageKind::File, attachment_url(body, 2)),
                ],
                ..inbound(mid, MessageKind::Image, None)
            })
        }),
        // The sticker transition: the duplicate `image` is dropped.
        case("facebook/sticker", 1_767_261_780_000, |body| {
            let mid = "m_fb0004c3RpY2tlci0wMDA0LWhlbHBzdGFjaw";
            EventKind::Message(Message {
                attachments: vec![cdn(MessageKind::Sticker, attachment_url(body, 0))],
                ..inbound(mid, MessageKind::Sticker, None)
            })
        }),
        case("facebook/audio", 1_767_261_840_000, |body| {
            let mid = "m_fb0005YXVkaW8tMDAwNS1oZWxwc3RhY2s";
            EventKind::Message(Message {
                attachments: vec![cdn(MessageKind::Audio, attachment_url(body, 0))],
                ..inbound(mid, MessageKind::Audio, None)
            })
        }),
        // A fallback link is payload, not an attachment.
        case("facebook/fallback", 1_767_261_900_000, |_| {
            let url = "https://youtu.be/bbo_fZAjIhg";
            let mid = "m_fb0006ZmFsbGJhY2stMDAwNi1oZWxwc3RhY2s";
            EventKind::Message(Message {
                payload: Some(json!({"links": [{
                    "type": "fallback", "url": url, "title": "HS-200 unboxing",
                    "payload": {"url": url, "title": "HS-200 unboxing"}
                }]})),
                ..inbound(mid, MessageKind::Text, Some(url))
            })
        }),
        case("facebook/quick_reply", 1_767_261_960_000, |_| {
            let mid = "m_fb0007cXVpY2tfcmVwbHktMDAwNy1oZWxwc3RhY2s";
            EventKind::Message(Message {
                payload: Some(json!({"quick_reply": "TRACK_ORDER"})),
                ..inbound(mid, MessageKind::Text, Some("Track my order"))
            })
        }),
        case("facebook/reply_to", 1_767_262_290_000, |_| {
            let mid = "m_fb0008cmVwbHlfdG8tMDAwOC1oZWxwc3RhY2s";
            EventKind::Message(Message {
                reply_to: Some(FB_ECHO.into()),
                ..inbound(mid, MessageKind::Text, Some("Great, thanks!"))
            })
        }),
        // Standby events (another app owns the thread) are stored too.
        Case {
            raw: Raw::Standby,
            ..case("facebook/standby", 1_767_262_560_000, |_| {
                let mid = "m_fb0011c3RhbmRieS0wMDExLWhlbHBzdGFjaw";
                EventKind::Message(inbound(mid, MessageKind::Text, Some("Anyone there?")))
            })
        },
        // The `changes[]` rendering, with string-typed values.
        Case {
            raw: Raw::Change,
            ..case("facebook/changes_format", 1_767_262_620_000, |body| {
                assert!(body["entry"][0]["changes"][0]["value"]["timestamp"].is_string());
                let mid = "m_fb0012Y2hhbmdlcy0wMDEyLWhlbHBzdGFjaw";
                let text = "Sent from the dashboard test button";
                EventKind::Message(inbound(mid, MessageKind::Text, Some(text)))
            })
        },
        case("facebook/location", 1_767_263_000_000, |_| {
            let mid = "m_fb0013bG9jYXRpb24tMDAxMy1oZWxwc3RhY2s";
            EventKind::Message(Message {
                payload: Some(json!({"location": {"latitude": 38.7223, "longitude": -9.1393}})),
                ..inbound(mid, MessageKind::Location, Some("Ana's Location"))
            })
        }),
    ]
}

#[test]
fn facebook_only_fixtures() {
    for case in facebook_cases() {
        check(&case);
    }
}

/// Instagram-only fixtures.
fn instagram_cases() -> Vec<Case> {
    vec![
        // Story media may not be stored: the attachment is not downloaded.
        case("instagram/story_mention", 1_767_348_120_000, |body| {
            let attachment = Attachment {
                download: false,
                ..cdn(MessageKind::Image, attachment_url(body, 0))
            };
            EventKind::Message(Message {
                attachments: vec![attachment],
                ..ig_inbound(&ig_mid("c3RvcnlfbWVudGlvbg"), MessageKind::Image, None)
            })
        }),
        // A share is a link, not an attachment.
        case("instagram/share", 1_767_348_180_000, |body| {
            let url = attachment_url(body, 0).clone();
            EventKind::Message(Message {
                payload: Some(
                    json!({"links": [{"type": "share", "url": url, "payload": {"url": url}}]}),
                ),
                ..ig_inbound(&ig_mid("c2hhcmU"), MessageKind::Text, None)
            })
        }),
        case("instagram/ig_reel", 1_767_348_240_000, |body| {
            EventKind::Message(Message {
                attachments: vec![cdn(MessageKind::Video, attachment_url(body, 0))],
                ..ig_inbound(&ig_mid("aWdfcmVlbA"), MessageKind::Video, None)
            })
        }),
        case("instagram/deleted", 1_767_348_700_000, |_| {
            EventKind::Delete {
                target: IG_TEXT.into(),
            }
        }),
        case("instagram/unsupported", 1_767_348_760_000, |_| {
            let mid = &ig_mid("dW5zdXBwb3J0ZWQ");
            EventKind::Message(ig_inbound(mid, MessageKind::Unsupported, None))
        }),
        case("instagram/like_heart", 1_767_348_880_000, |_| {
            let mid = &ig_mid("bGlrZV9oZWFydA");
            let msg = ig_inbound(mid, MessageKind::Sticker, Some("\u{2764}\u{fe0f}"));
            EventKind::Message(msg)
        }),
        case("instagram/story_reply", 1_767_348_940_000, |body| {
            let story = body["entry"][0]["messaging"][0]["message"]["reply_to"]["story"].clone();
            assert_eq!(story["id"], "17955678901234567");
            let text = "Is this jacket still available?";
            EventKind::Message(Message {
                payload: Some(json!({"reply_to_story": story})),
                ..ig_inbound(&ig_mid("c3RvcnlfcmVwbHk"), MessageKind::Text, Some(text))
            })
        }),
    ]
}

#[test]
fn instagram_only_fixtures() {
    for case in instagram_cases() {
        check(&case);
    }
}

/// Fixtures checked by their own tests below rather than by a table row.
const OWN_TESTS: [&str; 3] = [
    "facebook/batch_3x3",
    "facebook/unknown_event",
    "instagram/comments",
];

#[test]
fn every_messenger_fixture_is_checked() {
    let mut named: Vec<&str> = twins()
        .into_iter()
        .flat_map(|(f, i)| [f.fixture, i.fixture])
        .chain(facebook_cases().into_iter().map(|c| c.fixture))
        .chain(instagram_cases().into_iter().map(|c| c.fixture))
        .chain(OWN_TESTS)
        .collect();
    named.sort_unstable();
    let root = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/fixtures");
    let mut on_disk: Vec<String> = Vec::new();
    for dir in ["facebook", "instagram"] {
        for entry in std::fs::read_dir(root.join(dir)).expect("fixture dir") {
            let path = entry.expect("dir entry").path();
            let stem = path.file_stem().and_then(|s| s.to_str()).expect("name");
            on_disk.push(format!("{dir}/{stem}"));
        }
    }
    on_disk.sort_unstable();
    assert_eq!(named, on_disk);
}

#[test]
fn facebook_read_watermark_covers_the_echo() {
    let EventKind::Receipt(read) = single(fb(&fixture("facebook/read"))).kind else {
        panic!("read receipt expected");
    };
    let echo = single(fb(&fixture("facebook/echo")));
    assert!(
        echo.timestamp_ms <= read.watermark_ms.expect("watermark"),
        "watermark covers the echo"
    );
}

#[test]
fn facebook_batch_3x3_yields_nine_events_in_order() {
    let body = fixture("facebook/batch_3x3");
    let batch = fb(&body);
    assert_eq!(batch.ignored, Vec::<String>::new());
    assert_eq!(batch.events.len(), 9);
    let mut mids = std::collections::HashSet::new();
    for (i, ev) in batch.events.iter().enumerate() {
        let n = i as i64 + 1;
        let EventKind::Message(m) = &ev.kind else {
            panic!("not a message: {ev:?}");
        };
        assert_eq!(ev.channel_key, PAGE);
        assert_eq!(ev.timestamp_ms, 1_767_262_800_000 + n * 1000);
        assert_eq!(ev.raw, body["entry"][i / 3]["messaging"][i % 3]);
        let text = format!("Batch message {n} of 9");
        let expected = inbound(&m.external_id, MessageKind::Text, Some(&text));
        assert_eq!(*m, expected);
        assert!(mids.insert(m.external_id.clone()));
    }
    assert_eq!(mids.len(), 9);
}

#[test]
fn facebook_unknown_event_is_ignored() {
    let batch = fb(&fixture("facebook/unknown_event"));
    assert_eq!(batch.events, vec![]);
    assert_eq!(
        batch.ignored,
        vec!["facebook: event without content (only sender/recipient/timestamp) ignored"]
    );
}

#[test]
fn instagram_comments_change_is_ignored() {
    let batch = ig(&fixture("instagram/comments"));
    assert_eq!(batch.events, vec![]);
    assert_eq!(
        batch.ignored,
        vec![r#"instagram: "comments" change not stored"#]
    );
}
