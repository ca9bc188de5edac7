//! Durable background work: the worker pool that claims jobs from SQLite and runs the
//! job bodies (`profile`, `media`), which are plain functions the CLI and tests can call.

pub mod media;
pub mod profile;

use std::sync::Arc;
use std::time::Duration;

use crate::filestore::FileStore;
use crate::graph::{self, GraphError};
use crate::live::Bus;
use crate::store::change::Change;
use crate::store::{Db, StoreError, channel, job};

/// What a job body needs.
#[derive(Clone)]
pub struct Context {
    pub db: Db,
    pub graph: graph::Client,
    pub files: FileStore,
    pub bus: Bus,
    pub max_attachment_bytes: u64,
}

/// How a job body failed.
#[derive(Debug, thiserror::Error)]
pub enum JobError {
    #[error("{0}")]
    Graph(#[from] GraphError),
    #[error("{0}")]
    Store(#[from] StoreError),
    #[error("{0}")]
    Permanent(String),
}

/// Settings of the worker pool.
#[derive(Debug, Clone)]
pub struct PoolConfig {
    pub workers: usize,
    pub max_attempts: u32,
    /// First retry delay; doubles with each attempt (with jitter), capped at an hour.
    pub base_delay: Duration,
}

const LEASE_MS: i64 = 5 * 60 * 1000;
const JOB_TIMEOUT: Duration = Duration::from_secs(120);

/// Starts the workers; they run until the runtime shuts down.
pub fn start(ctx: Context, config: PoolConfig) -> Vec<tokio::task::JoinHandle<()>> {
    let config = Arc::new(config);
    (0..config.workers)
        .map(|_| tokio::spawn(worker(ctx.clone(), config.clone())))
        .collect()
}

async fn worker(ctx: Context, config: Arc<PoolConfig>) {
    loop {
        let claimed = ctx.db.write(|conn| job::claim(conn, LEASE_MS)).await;
        match claimed {
            Ok(Some(j)) => run_one(&ctx, &config, j).await,
            Ok(None) => tokio::time::sleep(Duration::from_millis(250)).await,
            Err(e) => {
                tracing::warn!(error = %e, "claiming a job failed");
                tokio::time::sleep(Duration::from_secs(1)).await;
            }
        }
    }
}

/// Runs one job body by kind.
pub async fn run_body(ctx: &Context, kind: &str, subject_id: i64) -> Result<(), JobError> {
    match kind {
        "fetch_profile" => profile::run(ctx, subject_id).await,
        "download_attachment" => media::run(ctx, subject_id).await,
        other => Err(JobError::Permanent(format!("unknown job kind {other:?}"))),
    }
}

async fn run_one(ctx: &Context, config: &PoolConfig, j: job::Job) {
    let result = match tokio::time::timeout(JOB_TIMEOUT, run_body(ctx, &j.kind, j.subject_id)).await
    {
        Ok(r) => r,
        Err(_) => Err(JobError::Graph(GraphError::Transient("timed out".into()))),
    };
    let (id, kind, subject, attempts) = (j.id, j.kind.clone(), j.subject_id, j.attempts);
    let outcome = match result {
        Ok(()) => Outcome::Done,
        Err(JobError::Graph(GraphError::Transient(m))) => Outcome::Retry(m),
        Err(JobError::Graph(e @ GraphError::RateLimited { .. })) => Outcome::Retry(e.to_string()),
        Err(JobError::Store(e)) => Outcome::Retry(e.to_string()),
        Err(e) => Outcome::Fail(e.to_string()),
    };
    let outcome = match outcome {
        Outcome::Retry(m) if attempts >= config.max_attempts as i64 => {
            Outcome::Fail(format!("gave up after {attempts} attempts: {m}"))
        }
        o => o,
    };
    match &outcome {
        Outcome::Done => tracing::debug!(job = id, %kind, subject, "job done"),
        Outcome::Retry(m) => {
            tracing::info!(job = id, %kind, subject, attempts, error = %m, "job will be retried")
        }
        Outcome::Fail(m) => {
            tracing::warn!(job = id, %kind, subject, attempts, error = %m, "job failed")
        }
    }
    let delay = backoff(config.base_delay, attempts).as_millis() as i64;
    let ctx2 = ctx.clone();
    let saved = ctx
        .db
        .write(move |conn| {
            let mut changes = Vec::new();
            match &outcome {
                Outcome::Done => job::complete(conn, id)?,
                Outcome::Retry(m) => job::retry(conn, id, delay, m)?,
                Outcome::Fail(m) => {
                    job::fail(conn, id, m)?;
                    // The attachment itself shows why it is missing.
                    if kind == "download_attachment" {
                        crate::store::attachment::mark_failed(conn, subject, m)?;
                        changes.push(Change::attachment_updated(subject));
                        if let Some(w) = crate::store::attachment::work(conn, subject)? {
                            changes.push(Change::message_updated(w.message_id));
                        }
                    }
                }
            }
            Ok(changes)
        })
        .await;
    match saved {
        Ok(changes) => ctx2.bus.publish(changes),
        Err(e) => tracing::error!(job = id, error = %e, "recording a job result failed"),
    }
}

enum Outcome {
    Done,
    Retry(String),
    Fail(String),
}

/// Exponential backoff with ±25% jitter, capped at an hour.
pub fn backoff(base: Duration, attempts: i64) -> Duration {
    let exp = base.saturating_mul(1u32 << (attempts.clamp(1, 20) - 1) as u32);
    let capped = exp.min(Duration::from_secs(3600));
    let mut b = [0u8; 2];
    let _ = getrandom::fill(&mut b);
    let jitter = (u16::from_le_bytes(b) as f64 / u16::MAX as f64) * 0.5 + 0.75;
    capped.mul_f64(jitter)
}

/// Marks the channel's token invalid when Graph said so (code 190), so the dashboard
/// and `doctor` show it; returns the error for the job to fail with.
pub(crate) async fn note_token_error(ctx: &Context, channel_id: i64, e: &GraphError) {
    if let GraphError::TokenInvalid { .. } = e {
        let msg = e.to_string();
        let r = ctx
            .db
            .write(move |conn| channel::set_token_invalid(conn, channel_id, &msg))
            .await;
        if let Err(err) = r {
            tracing::error!(error = %err, "flagging the channel token failed");
        }
        tracing::warn!(
            channel = channel_id,
            "Meta rejected the channel's access token; replace it with `helpstack rotate channel-token`"
        );
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn backoff_doubles_with_jitter_and_caps() {
        let b = Duration::from_secs(1);
        let d1 = backoff(b, 1);
        let d3 = backoff(b, 3);
        assert!(d1 >= Duration::from_millis(750) && d1 <= Duration::from_millis(1250));
        assert!(d3 >= Duration::from_secs(3) && d3 <= Duration::from_secs(5));
        assert!(backoff(b, 40) <= Duration::from_secs(4500));
    }
}
