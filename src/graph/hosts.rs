//! Per-host request slots for media downloads: one slow or dead host may hold only a
//! few of the job workers, so the others keep fetching profiles and other hosts' media.

use std::collections::HashMap;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use reqwest::Url;
use tokio::sync::{OwnedSemaphorePermit, Semaphore};

/// How long a download waits for a free slot on its host before it gives the worker
/// back. Long enough that a busy but healthy CDN (a burst of photos from one host)
/// rarely turns a job away; short enough that a worker is not held by a stuck host.
pub const SLOT_WAIT: Duration = Duration::from_secs(1);

/// Hosts remembered before idle ones are forgotten (every CDN edge is its own host).
const MAX_HOSTS: usize = 256;

/// The `host:port` a URL connects to; the key of its slots.
pub fn host_key(url: &Url) -> String {
    let host = url.host_str().unwrap_or("").to_ascii_lowercase();
    match url.port_or_known_default() {
        Some(port) => format!("{host}:{port}"),
        None => host,
    }
}

/// Counts requests in flight per host, up to `limit` each.
pub struct HostSlots {
    limit: usize,
    hosts: Mutex<HashMap<String, Arc<Semaphore>>>,
}

impl HostSlots {
    /// Slots for `limit` concurrent requests per host (at least one).
    pub fn new(limit: usize) -> Self {
        Self {
            limit: limit.clamp(1, Semaphore::MAX_PERMITS),
            hosts: Mutex::new(HashMap::new()),
        }
    }

    /// The per-host limit.
    pub fn limit(&self) -> usize {
        self.limit
    }

    /// Takes a slot on `host`, waiting up to `wait`; `None` when the host stayed full.
    pub async fn take(&self, host: &str, wait: Duration) -> Option<OwnedSemaphorePermit> {
        let sem = self.semaphore(host);
        if let Ok(permit) = sem.clone().try_acquire_owned() {
            return Some(permit);
        }
        tokio::time::timeout(wait, sem.acquire_owned())
            .await
            .ok()
            .and_then(Result::ok)
    }

    fn semaphore(&self, host: &str) -> Arc<Semaphore> {
        let mut hosts = self.hosts.lock().unwrap_or_else(|e| e.into_inner());
        if let Some(s) = hosts.get(host) {
            return s.clone();
        }
        if hosts.len() >= MAX_HOSTS {
            // Permits and waiters hold the semaphore too: one only the map holds is idle.
            hosts.retain(|_, s| Arc::strong_count(s) > 1);
        }
        let s = Arc::new(Semaphore::new(self.limit));
        hosts.insert(host.to_string(), s.clone());
        s
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn hosts_are_keyed_by_name_and_port() {
        let k = |s: &str| host_key(&Url::parse(s).unwrap());
        assert_eq!(
            k("https://Scontent.XX.fbcdn.net/v/a.jpg"),
            "scontent.xx.fbcdn.net:443"
        );
        assert_eq!(k("http://127.0.0.1:8080/x"), "127.0.0.1:8080");
        assert_eq!(k("http://[::1]/x"), "[::1]:80");
    }

    #[tokio::test]
    async fn a_full_host_turns_requests_away_and_others_are_free() {
        let slots = HostSlots::new(2);
        let a1 = slots.take("a:443", Duration::ZERO).await;
        let a2 = slots.take("a:443", Duration::ZERO).await;
        assert!(a1.is_some() && a2.is_some());
        assert!(
            slots
                .take("a:443", Duration::from_millis(20))
                .await
                .is_none()
        );
        assert!(slots.take("b:443", Duration::ZERO).await.is_some());
        drop(a1);
        assert!(slots.take("a:443", Duration::ZERO).await.is_some());
    }

    #[tokio::test]
    async fn idle_hosts_are_forgotten() {
        let slots = HostSlots::new(1);
        let held = slots.take("busy:443", Duration::ZERO).await;
        for i in 0..MAX_HOSTS + 10 {
            let _ = slots.take(&format!("h{i}:443"), Duration::ZERO).await;
        }
        assert!(slots.hosts.lock().unwrap().len() <= MAX_HOSTS);
        // The busy host kept its count.
        assert!(slots.take("busy:443", Duration::ZERO).await.is_none());
        drop(held);
    }
}
