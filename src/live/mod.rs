//! The in-process event bus: committed changes are numbered, fanned out to every
//! dashboard WebSocket, and kept in a ring so a page that reconnects can catch up
//! (`/api/events?after=SEQ`).
//!
//! The writer publishes only what changed (type and id). The JSON is rendered from the
//! database by the first consumer of each event and cached in it, so the ingest writer
//! never builds views, and nothing is rendered while no dashboard listens.
//!
//! Sequence numbers start from the start time (milliseconds × 1000), so they keep
//! increasing across restarts; a page whose last number predates the ring (or this
//! process) is told there is a gap and refetches everything.

use std::collections::VecDeque;
use std::sync::{Arc, Mutex, OnceLock};

use serde_json::Value;
use tokio::sync::broadcast;

mod change;

pub use change::{Change, Subject};

/// Events kept for catch-up.
pub const RING_CAPACITY: usize = 10_000;

/// A numbered change.
#[derive(Debug)]
pub struct LiveEvent {
    pub seq: i64,
    pub change: Change,
    json: OnceLock<Box<str>>,
}

impl LiveEvent {
    /// The serialized event `{"seq", "type", ...data}`, once rendered.
    pub fn json(&self) -> Option<&str> {
        self.json.get().map(|s| &**s)
    }

    /// Renders the event with `render` unless already rendered. The consumer supplies
    /// the renderer (`http::view::change` over a database connection): the bus knows
    /// no JSON shapes and no storage.
    pub fn render<E>(&self, render: impl FnOnce(&Change) -> Result<Value, E>) -> Result<&str, E> {
        if let Some(s) = self.json.get() {
            return Ok(s);
        }
        let data = render(&self.change)?;
        Ok(self
            .json
            .get_or_init(|| serialize(self.seq, self.change.kind, data)))
    }
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

/// Renders events (those not yet rendered) and joins them into a JSON array.
pub fn render_array<E>(
    events: &[Arc<LiveEvent>],
    mut render: impl FnMut(&Change) -> Result<Value, E>,
) -> Result<String, E> {
    let mut out = String::from("[");
    for (i, e) in events.iter().enumerate() {
        if i > 0 {
            out.push(',');
        }
        out.push_str(e.render(&mut render)?);
    }
    out.push(']');
    Ok(out)
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
    /// Newest sequence number published so far (or the one before the first).
    pub latest: i64,
    /// Events after the requested one are not all in the ring any more.
    pub gap: bool,
}

impl Bus {
    /// Creates a bus numbering from `first_seq`.
    pub fn new(first_seq: i64) -> Self {
        let (tx, _) = broadcast::channel(4096);
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
        let ms = std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .map_or(0, |d| d.as_millis() as i64);
        Self::new(ms * 1000)
    }

    /// Numbers and publishes changes in order.
    pub fn publish(&self, changes: Vec<Change>) {
        if changes.is_empty() {
            return;
        }
        // Numbering and sending under one lock keeps subscribers' order equal to seq order.
        let mut ring = self.ring.lock().expect("bus lock poisoned");
        for change in changes {
            let ev = Arc::new(LiveEvent {
                seq: ring.next,
                change,
                json: OnceLock::new(),
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

    /// The newest sequence number published (or the one before the first).
    pub fn latest(&self) -> i64 {
        self.ring.lock().expect("bus lock poisoned").next - 1
    }

    /// Returns up to `limit` events after `after`, and whether some are missing.
    pub fn after(&self, after: i64, limit: usize) -> CatchUp {
        let ring = self.ring.lock().expect("bus lock poisoned");
        let latest = ring.next - 1;
        let oldest = ring.events.front().map(|e| e.seq).unwrap_or(ring.next);
        // Missing: the page's last event is older than what we still hold (or comes from
        // a previous process, whose numbers are below our first one).
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

    #[test]
    fn numbers_in_order_and_catches_up() {
        let bus = Bus::new(100);
        bus.publish((1..=3).map(Change::message_created).collect());
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
        bus.publish(
            (0..(RING_CAPACITY as i64 + 5))
                .map(Change::message_created)
                .collect(),
        );
        let c = bus.after(0, 10);
        assert!(c.gap);
        assert_eq!(c.events[0].seq, 5);
    }

    #[test]
    fn renders_once() {
        let bus = Bus::new(7);
        bus.publish(vec![Change::message_created(42)]);
        let c = bus.after(0, 10);
        assert!(c.events[0].json().is_none());
        let missing = |_: &Change| Ok::<_, ()>(serde_json::json!({ "message": null }));
        let arr = render_array(&c.events, missing).unwrap();
        let arr: Value = serde_json::from_str(&arr).unwrap();
        assert_eq!(arr[0]["seq"], 7);
        assert_eq!(arr[0]["type"], "message.created");
        assert!(arr[0]["message"].is_null());
        assert!(c.events[0].json().is_some());
        // Rendered once: a second render does not ask again.
        let fail = |_: &Change| -> Result<Value, ()> { panic!("rendered twice") };
        render_array(&c.events, fail).unwrap();
    }
}
