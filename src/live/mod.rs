//! The in-process event bus: changes are numbered and published after their transaction
//! commits, fanned out to every dashboard WebSocket, and kept in a ring so a page that
//! reconnects can catch up (`/api/events?after=SEQ`).
//!
//! The ring lives in memory rather than in SQLite: persisting every event doubled the
//! write volume of the ingest path. Sequence numbers start from the start time
//! (milliseconds × 1000), so they keep increasing across restarts; a page whose last
//! seen number predates the ring sees a gap and refetches everything.

use std::collections::VecDeque;
use std::sync::{Arc, Mutex};

use serde_json::Value;
use tokio::sync::broadcast;

use crate::store::change::Change;

/// Events kept for catch-up.
pub const RING_CAPACITY: usize = 10_000;

/// A numbered change, serialized once as `{"seq", "type", ...data}`: the same text
/// goes to every WebSocket and to catch-up requests, and a string costs a fraction of
/// the memory of a JSON tree.
#[derive(Debug, Clone, PartialEq)]
pub struct LiveEvent {
    pub seq: i64,
    pub kind: &'static str,
    pub json: Box<str>,
}

fn serialize(seq: i64, kind: &'static str, data: Value) -> Box<str> {
    let mut obj = match data {
        Value::Object(map) => map,
        other => {
            let mut m = serde_json::Map::new();
            m.insert("data".into(), other);
            m
        }
    };
    obj.insert("seq".into(), Value::from(seq));
    obj.insert("type".into(), Value::from(kind));
    Value::Object(obj).to_string().into_boxed_str()
}

/// Joins serialized events into a JSON array.
pub fn json_array(events: &[Arc<LiveEvent>]) -> String {
    let mut out = String::with_capacity(events.iter().map(|e| e.json.len() + 1).sum::<usize>() + 2);
    out.push('[');
    for (i, e) in events.iter().enumerate() {
        if i > 0 {
            out.push(',');
        }
        out.push_str(&e.json);
    }
    out.push(']');
    out
}

struct Ring {
    next: i64,
    events: VecDeque<Arc<LiveEvent>>,
}

/// Publishes committed changes to subscribers. Cheap to clone.
#[derive(Clone)]
pub struct Bus {
    tx: broadcast::Sender<Arc<LiveEvent>>,
    ring: Arc<Mutex<Ring>>,
    first_seq: i64,
}

/// What a catch-up request returns.
#[derive(Debug)]
pub struct CatchUp {
    pub events: Vec<Arc<LiveEvent>>,
    /// Newest sequence number published so far (or the start value).
    pub latest: i64,
    /// Events after the requested one are no longer (or were never) all in the ring.
    pub gap: bool,
}

impl Bus {
    /// Creates a bus numbering from `first_seq`.
    pub fn new(first_seq: i64) -> Self {
        let (tx, _) = broadcast::channel(1024);
        Self {
            tx,
            ring: Arc::new(Mutex::new(Ring {
                next: first_seq,
                events: VecDeque::with_capacity(1024),
            })),
            first_seq,
        }
    }

    /// Creates a bus numbered from the current time, so numbers grow across restarts.
    pub fn starting_now() -> Self {
        Self::new(crate::store::now_ms() * 1000)
    }

    /// Numbers and publishes changes in order.
    pub fn publish(&self, changes: Vec<Change>) {
        if changes.is_empty() {
            return;
        }
        // Numbering and sending under one lock keeps subscribers' order equal to seq order.
        let mut ring = self.ring.lock().expect("bus lock poisoned");
        for c in changes {
            let seq = ring.next;
            let ev = Arc::new(LiveEvent {
                seq,
                kind: c.kind,
                json: serialize(seq, c.kind, c.data),
            });
            ring.next += 1;
            if ring.events.len() == RING_CAPACITY {
                ring.events.pop_front();
            }
            ring.events.push_back(ev.clone());
            let _ = self.tx.send(ev);
        }
    }

    /// Subscribes to events published from now on.
    pub fn subscribe(&self) -> broadcast::Receiver<Arc<LiveEvent>> {
        self.tx.subscribe()
    }

    /// Number of live subscribers.
    pub fn subscribers(&self) -> usize {
        self.tx.receiver_count()
    }

    /// Returns up to `limit` events after `after`, and whether some are missing.
    pub fn after(&self, after: i64, limit: usize) -> CatchUp {
        let ring = self.ring.lock().expect("bus lock poisoned");
        let latest = ring.next - 1;
        let oldest = ring.events.front().map(|e| e.seq).unwrap_or(ring.next);
        // Missing: the page's last event is older than what we still hold (or is from a
        // previous process, whose numbers are below our first one).
        let gap = after < latest && (after + 1 < oldest || after < self.first_seq - 1);
        let events = ring
            .events
            .iter()
            .filter(|e| e.seq > after)
            .take(limit)
            .cloned()
            .collect();
        CatchUp {
            events,
            latest,
            gap,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn ch(n: i64) -> Change {
        crate::store::change::change("message.created", json!({ "n": n }))
    }

    #[test]
    fn numbers_in_order_and_catches_up() {
        let bus = Bus::new(100);
        bus.publish(vec![ch(1), ch(2), ch(3)]);
        let c = bus.after(100, 10);
        assert_eq!(
            c.events.iter().map(|e| e.seq).collect::<Vec<_>>(),
            vec![101, 102]
        );
        assert!(!c.gap);
        assert_eq!(c.latest, 102);
        let c = bus.after(99, 10);
        assert_eq!(c.events.len(), 3);
        assert!(!c.gap);
        // A number from a previous process (below our first) is a gap.
        assert!(bus.after(5, 10).gap);
        // Nothing new: no gap.
        assert!(!bus.after(102, 10).gap);
    }

    #[test]
    fn ring_drops_the_oldest_and_reports_the_gap() {
        let bus = Bus::new(0);
        bus.publish((0..(RING_CAPACITY as i64 + 5)).map(ch).collect());
        let c = bus.after(0, 10);
        assert!(c.gap);
        assert_eq!(c.events[0].seq, 5);
        let json: Value = serde_json::from_str(&c.events[0].json).unwrap();
        assert_eq!(json, json!({"seq": 5, "type": "message.created", "n": 5}));
        let arr: Value = serde_json::from_str(&json_array(&c.events[..2])).unwrap();
        assert_eq!(arr[1]["seq"], 6);
    }
}
