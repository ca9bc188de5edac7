//! The in-process event bus: changes are published after their transaction commits and
//! fanned out to every dashboard WebSocket.

use std::sync::Arc;

use tokio::sync::broadcast;

use crate::store::event::LiveEvent;

/// Publishes committed changes to subscribers. Cheap to clone.
#[derive(Clone)]
pub struct Bus {
    tx: broadcast::Sender<Arc<LiveEvent>>,
}

impl Bus {
    /// Creates a bus; a subscriber that falls `capacity` events behind is told it lagged
    /// and catches up from the database instead.
    pub fn new(capacity: usize) -> Self {
        let (tx, _) = broadcast::channel(capacity);
        Self { tx }
    }

    /// Publishes one event (no-op without subscribers).
    pub fn publish(&self, event: LiveEvent) {
        let _ = self.tx.send(Arc::new(event));
    }

    /// Subscribes to events published from now on.
    pub fn subscribe(&self) -> broadcast::Receiver<Arc<LiveEvent>> {
        self.tx.subscribe()
    }

    /// Number of live subscribers.
    pub fn subscribers(&self) -> usize {
        self.tx.receiver_count()
    }
}
