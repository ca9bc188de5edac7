//! Counters for `/metrics` (Prometheus text format). Lock-free: ingest bumps atomics.

use std::fmt::Write;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::Duration;

use crate::model::{Outcome, Provider};

/// How a webhook POST ended, as counted: the outcome of a stored body, or why nothing
/// was stored.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Counted {
    Stored(Outcome),
    BadSignature,
    InvalidJson,
    Error,
}

impl Counted {
    const ALL: [Counted; 7] = [
        Counted::Stored(Outcome::Processed),
        Counted::Stored(Outcome::Unmatched),
        Counted::Stored(Outcome::Ignored),
        Counted::Stored(Outcome::Failed),
        Counted::BadSignature,
        Counted::InvalidJson,
        Counted::Error,
    ];

    fn index(self) -> usize {
        match self {
            Counted::Stored(Outcome::Processed) => 0,
            Counted::Stored(Outcome::Unmatched) => 1,
            Counted::Stored(Outcome::Ignored) => 2,
            Counted::Stored(Outcome::Failed) => 3,
            Counted::BadSignature => 4,
            Counted::InvalidJson => 5,
            Counted::Error => 6,
        }
    }

    fn label(self) -> &'static str {
        match self {
            Counted::Stored(o) => o.as_str(),
            Counted::BadSignature => "bad_signature",
            Counted::InvalidJson => "invalid_json",
            Counted::Error => "error",
        }
    }
}

/// Upper bounds of the latency buckets, in seconds.
const BUCKETS: [f64; 11] = [
    0.001, 0.002, 0.005, 0.01, 0.02, 0.05, 0.1, 0.25, 0.5, 1.0, 5.0,
];

/// Webhook counters and the ingest latency histogram.
#[derive(Debug, Default)]
pub struct Counters {
    webhooks: [[AtomicU64; 7]; 3],
    buckets: [AtomicU64; BUCKETS.len()],
    latency_count: AtomicU64,
    latency_sum_us: AtomicU64,
    transactions: AtomicU64,
    transaction_webhooks: AtomicU64,
    transaction_us: AtomicU64,
}

fn provider_index(p: Provider) -> usize {
    match p {
        Provider::Facebook => 0,
        Provider::Instagram => 1,
        Provider::Whatsapp => 2,
    }
}

impl Counters {
    /// Counts one webhook POST.
    pub fn count(&self, provider: Provider, counted: Counted) {
        self.webhooks[provider_index(provider)][counted.index()].fetch_add(1, Ordering::Relaxed);
    }

    /// Reads one counter.
    pub fn get(&self, provider: Provider, counted: Counted) -> u64 {
        self.webhooks[provider_index(provider)][counted.index()].load(Ordering::Relaxed)
    }

    /// Records how long a webhook took from arrival to durable storage.
    pub fn observe(&self, elapsed: Duration) {
        let secs = elapsed.as_secs_f64();
        for (i, bound) in BUCKETS.iter().enumerate() {
            if secs <= *bound {
                self.buckets[i].fetch_add(1, Ordering::Relaxed);
            }
        }
        self.latency_count.fetch_add(1, Ordering::Relaxed);
        self.latency_sum_us
            .fetch_add(elapsed.as_micros() as u64, Ordering::Relaxed);
    }

    /// Records one transaction of the ingest writer: how many webhooks it wrote and how
    /// long it took, commit and fsync included. Together they show the average group
    /// size, the commit cost of this disk and how busy the writer is.
    pub fn record_transaction(&self, webhooks: usize, elapsed: Duration) {
        self.transactions.fetch_add(1, Ordering::Relaxed);
        self.transaction_webhooks
            .fetch_add(webhooks as u64, Ordering::Relaxed);
        self.transaction_us
            .fetch_add(elapsed.as_micros() as u64, Ordering::Relaxed);
    }

    /// Writes the counters in Prometheus text format.
    pub fn render(&self, out: &mut String) {
        let _ = writeln!(
            out,
            "# HELP helpstack_webhooks_total Webhook POSTs by provider and outcome."
        );
        let _ = writeln!(out, "# TYPE helpstack_webhooks_total counter");
        for p in Provider::ALL {
            for o in Counted::ALL {
                let _ = writeln!(
                    out,
                    "helpstack_webhooks_total{{provider=\"{p}\",outcome=\"{}\"}} {}",
                    o.label(),
                    self.get(p, o)
                );
            }
        }
        let _ = writeln!(
            out,
            "# HELP helpstack_signature_failures_total Webhook POSTs refused for their signature."
        );
        let _ = writeln!(out, "# TYPE helpstack_signature_failures_total counter");
        for p in Provider::ALL {
            let _ = writeln!(
                out,
                "helpstack_signature_failures_total{{provider=\"{p}\"}} {}",
                self.get(p, Counted::BadSignature)
            );
        }
        let _ = writeln!(
            out,
            "# HELP helpstack_unmatched_events_total Webhooks naming a page, account or number with no channel."
        );
        let _ = writeln!(out, "# TYPE helpstack_unmatched_events_total counter");
        for p in Provider::ALL {
            let _ = writeln!(
                out,
                "helpstack_unmatched_events_total{{provider=\"{p}\"}} {}",
                self.get(p, Counted::Stored(Outcome::Unmatched))
            );
        }
        let _ = writeln!(
            out,
            "# HELP helpstack_ingest_latency_seconds Time from a webhook's arrival to its durable commit."
        );
        let _ = writeln!(out, "# TYPE helpstack_ingest_latency_seconds histogram");
        for (i, bound) in BUCKETS.iter().enumerate() {
            let _ = writeln!(
                out,
                "helpstack_ingest_latency_seconds_bucket{{le=\"{bound}\"}} {}",
                self.buckets[i].load(Ordering::Relaxed)
            );
        }
        let count = self.latency_count.load(Ordering::Relaxed);
        let _ = writeln!(
            out,
            "helpstack_ingest_latency_seconds_bucket{{le=\"+Inf\"}} {count}"
        );
        let _ = writeln!(
            out,
            "helpstack_ingest_latency_seconds_sum {}",
            self.latency_sum_us.load(Ordering::Relaxed) as f64 / 1e6
        );
        let _ = writeln!(out, "helpstack_ingest_latency_seconds_count {count}");
        let transactions = [
            (
                "helpstack_ingest_transactions_total",
                "Write transactions of the ingest writer, one per group of webhooks.",
                self.transactions.load(Ordering::Relaxed) as f64,
            ),
            (
                "helpstack_ingest_transaction_webhooks_total",
                "Webhooks written by those transactions (per transaction: the group size).",
                self.transaction_webhooks.load(Ordering::Relaxed) as f64,
            ),
            (
                "helpstack_ingest_transaction_seconds_total",
                "Time spent in those transactions, commit and fsync included (per second of wall time: how busy the writer is).",
                self.transaction_us.load(Ordering::Relaxed) as f64 / 1e6,
            ),
        ];
        for (name, help, value) in transactions {
            let _ = writeln!(out, "# HELP {name} {help}");
            let _ = writeln!(out, "# TYPE {name} counter");
            let _ = writeln!(out, "{name} {value}");
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn renders_counters_and_histogram() {
        let c = Counters::default();
        c.count(Provider::Whatsapp, Counted::BadSignature);
        c.observe(Duration::from_millis(3));
        let mut s = String::new();
        c.render(&mut s);
        assert!(s.contains("helpstack_signature_failures_total{provider=\"whatsapp\"} 1"));
        assert!(s.contains("helpstack_ingest_latency_seconds_bucket{le=\"0.002\"} 0"));
        assert!(s.contains("helpstack_ingest_latency_seconds_bucket{le=\"0.005\"} 1"));
        assert!(s.contains("helpstack_ingest_latency_seconds_count 1"));
        c.record_transaction(12, Duration::from_micros(1500));
        c.record_transaction(4, Duration::from_micros(500));
        let mut s = String::new();
        c.render(&mut s);
        assert!(s.contains("\nhelpstack_ingest_transactions_total 2\n"));
        assert!(s.contains("\nhelpstack_ingest_transaction_webhooks_total 16\n"));
        assert!(s.contains("\nhelpstack_ingest_transaction_seconds_total 0.002\n"));
    }
}
