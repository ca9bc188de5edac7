//! The systemd watchdog, fed only while the server does its work.

use std::sync::Arc;
use std::time::Duration;

use crate::store::{self, Db};

/// Pings systemd's watchdog only while the database answers and the ingest writer makes
/// progress, so a wedged database gets the service restarted instead of silently
/// answering nothing.
pub async fn run(db: Db, progress: Arc<crate::ingest::Progress>, every: Duration) {
    let mut tick = tokio::time::interval(every);
    loop {
        tick.tick().await;
        if let Some(held) = progress.stalled_for() {
            tracing::error!(
                seconds = held.as_secs(),
                "the ingest writer has made no progress (another process holding the \
                 database lock?); withholding the watchdog ping"
            );
            continue;
        }
        let alive = tokio::time::timeout(every, db.call(|conn| store::ping(conn))).await;
        match alive {
            Ok(Ok(_)) => {
                crate::systemd::notify("WATCHDOG=1");
            }
            _ => tracing::error!("database did not answer; withholding the watchdog ping"),
        }
    }
}
