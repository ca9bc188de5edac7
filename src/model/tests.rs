use super::*;
use serde_json::json;

#[test]
fn timestamps_in_every_shape() {
    assert_eq!(
        timestamp_ms(&json!(1_700_000_000_123i64)),
        Some(1_700_000_000_123)
    );
    assert_eq!(timestamp_ms(&json!(1_700_000_000)), Some(1_700_000_000_000));
    assert_eq!(timestamp_ms(&json!("1700000000")), Some(1_700_000_000_000));
    assert_eq!(
        timestamp_ms(&json!("1700000000123")),
        Some(1_700_000_000_123)
    );
    assert_eq!(timestamp_ms(&json!("soon")), None);
    assert_eq!(timestamp_ms(&json!(null)), None);
}

#[test]
fn huge_and_odd_timestamps_never_panic() {
    for v in [
        json!(1e20),
        json!(1e300),
        json!(i64::MAX),
        json!(u64::MAX),
        json!("1e20"),
        json!("99999999999999999999"),
        json!("1000000000000000000000000000000"),
        json!(-1),
        json!("-5"),
        json!("NaN"),
        json!("inf"),
        json!(0.5),
    ] {
        let _ = timestamp_ms(&v);
    }
    // 10**30 arrives as a float; it saturates rather than wrapping.
    let big: Value = serde_json::from_str("1000000000000000000000000000000").unwrap();
    assert_eq!(timestamp_ms(&big), Some(i64::MAX));
    assert_eq!(timestamp_ms(&json!("NaN")), None);
}

#[test]
fn implausible_times_become_the_time_of_receipt() {
    let now = 1_767_262_200_000;
    assert!(plausible_time(now, now));
    assert!(plausible_time(now + MAX_AHEAD_MS, now));
    assert!(!plausible_time(now + MAX_AHEAD_MS + 1, now));
    assert!(plausible_time(EARLIEST_EVENT_MS, now));
    assert!(!plausible_time(EARLIEST_EVENT_MS - 1, now));
    let event = |ms: i64, watermark: Option<i64>| Event {
        channel_key: "1".into(),
        timestamp_ms: ms,
        kind: EventKind::Receipt(Receipt {
            contact: "2".into(),
            status: DeliveryStatus::Read,
            targets: vec![],
            watermark_ms: watermark,
            error_code: None,
            error_title: None,
        }),
        raw: Value::Null,
    };
    let mut batch = Batch {
        events: vec![
            event(i64::MAX, Some(i64::MAX)),
            event(now - 5_000, Some(now - 6_000)),
            event(1_000, Some(1_000)),
        ],
        ignored: vec![],
    };
    assert_eq!(batch.settle_times(now), 2);
    let times: Vec<(i64, Option<i64>)> = batch
        .events
        .iter()
        .map(|e| match &e.kind {
            EventKind::Receipt(r) => (e.timestamp_ms, r.watermark_ms),
            _ => unreachable!(),
        })
        .collect();
    assert_eq!(
        times,
        vec![
            (now, Some(now)),
            (now - 5_000, Some(now - 6_000)),
            (now, Some(1_000))
        ]
    );
}

#[test]
fn status_ranks_round_trip() {
    for s in ["sent", "delivered", "read", "played", "failed"] {
        let st = DeliveryStatus::parse(s).unwrap();
        assert_eq!(DeliveryStatus::from_rank(st.rank()), Some(st));
        assert_eq!(st.as_str(), s);
    }
    assert!(DeliveryStatus::Read.rank() > DeliveryStatus::Delivered.rank());
}
