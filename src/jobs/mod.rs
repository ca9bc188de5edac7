//! Durable background work: the worker pool that claims jobs from SQLite and runs the
//! job bodies (`profile`, `media`), which are plain functions the CLI and tests can call.

pub mod media;
pub mod profile;

use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use crate::filestore::FileStore;
use crate::graph::{self, GraphError};
use crate::live::Bus;
use crate::live::Change;
use crate::store::job::{FailureReason, JobKind};
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
    /// Retrying will not help; `reason` is the code metrics and `doctor` group by.
    #[error("{message}")]
    Permanent {
        reason: FailureReason,
        message: String,
    },
}

impl JobError {
    /// A failure retrying cannot fix.
    pub fn permanent(reason: FailureReason, message: impl Into<String>) -> Self {
        JobError::Permanent {
            reason,
            message: message.into(),
        }
    }

    /// The code a failed job is stored with.
    pub fn reason(&self) -> FailureReason {
        match self {
            JobError::Permanent { reason, .. } => *reason,
            JobError::Graph(GraphError::TokenInvalid { .. }) => FailureReason::TokenInvalid,
            JobError::Graph(GraphError::Refused(_)) => FailureReason::BlockedHost,
            JobError::Graph(GraphError::TooLarge { .. }) => FailureReason::TooLarge,
            _ => FailureReason::Other,
        }
    }
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
/// Longest pool-wide pause while Meta is unreachable or rate limiting.
const MAX_PAUSE: Duration = Duration::from_secs(60);
/// How long a job turned away by a busy media host waits before it is claimed again.
const HOST_BUSY_DELAY: Duration = Duration::from_secs(2);
/// A job that could not reach Meta for this long fails: its links have expired.
const MAX_UNREACHABLE_MS: i64 = 24 * 3600 * 1000;

/// A pool-wide pause. When the Graph API host cannot be reached (network down, DNS
/// broken) or Meta says to slow down, every queued job would fail the same way: instead
/// of burning each job's attempts (and a database write per attempt) the whole pool
/// waits, longer after each consecutive such failure, and resumes at the first other
/// outcome. Only the Graph API host counts: a dead media host fails its own jobs
/// ([`GraphError::HostUnreachable`]), or 8 attachments on it would stop every profile.
#[derive(Debug, Default)]
pub struct Pause {
    state: Mutex<PauseState>,
}

#[derive(Debug, Default)]
struct PauseState {
    until: Option<Instant>,
    strikes: u32,
}

impl Pause {
    /// How long workers must still wait before claiming, if at all.
    pub fn remaining(&self) -> Option<Duration> {
        let s = self.state.lock().unwrap_or_else(|e| e.into_inner());
        s.until
            .and_then(|u| u.checked_duration_since(Instant::now()))
            .filter(|d| !d.is_zero())
    }

    /// Records a failure that says "not now" for every job; returns the pause to wait.
    pub fn strike(&self, base: Duration) -> Duration {
        self.strike_at(base, Instant::now())
    }

    fn strike_at(&self, base: Duration, now: Instant) -> Duration {
        let mut s = self.state.lock().unwrap_or_else(|e| e.into_inner());
        // Workers that were already talking to Meta when the pause began fail the same
        // way moments later: that is the same outage, not a new one, so it must not
        // lengthen the pause (else N workers failing together double it N times).
        if let Some(left) = s
            .until
            .and_then(|u| u.checked_duration_since(now))
            .filter(|d| !d.is_zero())
        {
            return left;
        }
        s.strikes = s.strikes.saturating_add(1);
        let pause = backoff(base, s.strikes as i64).min(MAX_PAUSE);
        s.until = Some(now + pause);
        pause
    }

    /// Records any other outcome: Meta answered, so the pool runs at full speed.
    pub fn clear(&self) {
        let mut s = self.state.lock().unwrap_or_else(|e| e.into_inner());
        *s = PauseState::default();
    }
}

/// Starts the workers; they run until the runtime shuts down.
pub fn start(ctx: Context, config: PoolConfig) -> Vec<tokio::task::JoinHandle<()>> {
    let config = Arc::new(config);
    let pause = Arc::new(Pause::default());
    (0..config.workers)
        .map(|_| tokio::spawn(worker(ctx.clone(), config.clone(), pause.clone())))
        .collect()
}

async fn worker(ctx: Context, config: Arc<PoolConfig>, pause: Arc<Pause>) {
    loop {
        if let Some(wait) = pause.remaining() {
            tokio::time::sleep(wait).await;
            continue;
        }
        let claimed = ctx
            .db
            .write_unsynced(|conn| job::claim(conn, LEASE_MS))
            .await;
        match claimed {
            Ok(Some(j)) => run_one(&ctx, &config, &pause, j).await,
            Ok(None) => tokio::time::sleep(Duration::from_millis(250)).await,
            Err(e) => {
                tracing::warn!(error = %e, "claiming a job failed");
                tokio::time::sleep(Duration::from_secs(1)).await;
            }
        }
    }
}

/// What a successful job writes. It runs in the transaction that marks the job done,
/// so a finished job costs one commit, not two. Job commits do not wait for the disk
/// ([`crate::store::Db::write_unsynced`]): a power cut can only make a job run again.
pub type Finish = Box<dyn FnOnce(&rusqlite::Connection) -> Result<Vec<Change>, StoreError> + Send>;

/// Runs one job body by kind; `Some` is what to write when it succeeded.
pub async fn run_body(
    ctx: &Context,
    kind: JobKind,
    subject_id: i64,
) -> Result<Option<Finish>, JobError> {
    match kind {
        JobKind::FetchProfile => profile::run(ctx, subject_id).await,
        JobKind::DownloadAttachment => media::run(ctx, subject_id).await,
    }
}

async fn run_one(ctx: &Context, config: &PoolConfig, pause: &Pause, j: job::Job) {
    let result = match tokio::time::timeout(JOB_TIMEOUT, run_body(ctx, j.kind, j.subject_id)).await
    {
        Ok(r) => r,
        Err(_) => Err(JobError::Graph(GraphError::Transient("timed out".into()))),
    };
    let (result, finish) = match result {
        Ok(finish) => (Ok(()), finish),
        Err(e) => (Err(e), None),
    };
    let (id, kind, subject, attempts) = (j.id, j.kind, j.subject_id, j.attempts);
    let mut delay = backoff(config.base_delay, attempts);
    let verdict = match result {
        // The request never reached the Graph API host: the attempt does not count,
        // unless the job has waited so long that its media link has surely expired.
        Err(JobError::Graph(GraphError::Unreachable(m))) => {
            delay = pause.strike(config.base_delay);
            tracing::warn!(error = %m, pause_ms = delay.as_millis() as u64, "Meta is unreachable; background jobs pause");
            if crate::store::now_ms() - j.created_at > MAX_UNREACHABLE_MS {
                let m = format!("gave up: Meta unreachable for a day: {m}");
                Verdict::Fail(FailureReason::Other, m)
            } else {
                Verdict::Wait(m)
            }
        }
        Err(JobError::Graph(e @ GraphError::RateLimited { .. })) => {
            let wait = pause.strike(config.base_delay);
            tracing::warn!(error = %e, pause_ms = wait.as_millis() as u64, "Meta is rate limiting; background jobs pause");
            delay = delay.max(wait);
            Verdict::Retry(e.to_string())
        }
        // Another host (a media CDN) is down: this job's own failure. It counts and
        // backs off, and says nothing about Meta, so the pool neither pauses nor resumes.
        Err(JobError::Graph(e @ GraphError::HostUnreachable { .. })) => {
            Verdict::Retry(e.to_string())
        }
        // Nothing was sent: the host had its share of the workers. Back soon, uncounted.
        Err(JobError::Graph(e @ GraphError::HostBusy(_))) => {
            delay = backoff(HOST_BUSY_DELAY, 1);
            Verdict::Defer(e.to_string())
        }
        other => {
            // Meta answered (or the failure is ours): no reason to hold the pool back.
            pause.clear();
            match other {
                Ok(()) => Verdict::Done,
                Err(JobError::Graph(GraphError::Transient(m))) => Verdict::Retry(m),
                Err(JobError::Store(e)) => Verdict::Retry(e.to_string()),
                Err(e) => Verdict::Fail(e.reason(), e.to_string()),
            }
        }
    };
    let verdict = match verdict {
        Verdict::Retry(m) if attempts >= config.max_attempts as i64 => {
            let m = format!("gave up after {attempts} attempts: {m}");
            Verdict::Fail(FailureReason::RetriesExhausted, m)
        }
        o => o,
    };
    match &verdict {
        Verdict::Done => tracing::debug!(job = id, %kind, subject, "job done"),
        Verdict::Retry(m) | Verdict::Wait(m) => {
            tracing::info!(job = id, %kind, subject, attempts, error = %m, "job will be retried")
        }
        Verdict::Defer(m) => {
            tracing::debug!(job = id, %kind, subject, reason = %m, "job put back for later")
        }
        Verdict::Fail(reason, m) => {
            tracing::warn!(job = id, %kind, subject, attempts, reason = reason.as_str(), error = %m, "job failed")
        }
    }
    let delay = delay.as_millis() as i64;
    let saved = ctx
        .db
        .write_unsynced(move |conn| {
            crate::store::immediate(conn, |tx| {
                let mut changes = Vec::new();
                match &verdict {
                    Verdict::Done => {
                        if let Some(finish) = finish {
                            changes = finish(tx)?;
                        }
                        job::complete(tx, id)?
                    }
                    Verdict::Retry(m) => job::retry(tx, id, delay, m, false)?,
                    Verdict::Wait(m) | Verdict::Defer(m) => job::retry(tx, id, delay, m, true)?,
                    Verdict::Fail(reason, m) => {
                        job::fail(tx, id, *reason, m)?;
                        // The attachment itself shows why it is missing.
                        if kind == JobKind::DownloadAttachment {
                            crate::store::attachment::mark_failed(tx, subject, m)?;
                            changes.push(Change::attachment_updated(subject));
                            if let Some(w) = crate::store::attachment::work(tx, subject)? {
                                changes.push(Change::message_updated(w.message_id));
                            }
                        }
                    }
                }
                Ok(changes)
            })
        })
        .await;
    match saved {
        Ok(changes) => ctx.bus.publish(changes),
        Err(e) => {
            // Nothing of the result was kept (one transaction): put the job back, so it
            // runs again now rather than when its lease runs out.
            tracing::error!(job = id, error = %e, "recording a job result failed; the job will run again");
            let message = format!("recording the result failed: {e}");
            let requeued = ctx
                .db
                .write_unsynced(move |conn| job::retry(conn, id, delay, &message, false))
                .await;
            if let Err(e) = requeued {
                tracing::error!(job = id, error = %e, "requeueing the job failed; its lease will expire");
            }
        }
    }
}

/// What becomes of a job after one run.
enum Verdict {
    Done,
    Retry(String),
    /// Retry without counting the attempt.
    Wait(String),
    /// Like `Wait`, for a job that never started (its host was busy): logged quietly.
    Defer(String),
    Fail(FailureReason, String),
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
        let pause = Pause::default();
        assert!(pause.remaining().is_none());
        let t0 = Instant::now();
        let p1 = pause.strike_at(b, t0);
        // Failures during the pause (other workers' requests already in flight) are the
        // same outage: they neither lengthen nor escalate it.
        assert!(pause.strike_at(b, t0) <= p1);
        assert!(pause.strike_at(b, t0 + p1 / 2) <= p1 / 2 + Duration::from_millis(1));
        // Failing again once the pause is over escalates.
        let p2 = pause.strike_at(b, t0 + p1);
        let p3 = pause.strike_at(b, t0 + p1 + p2);
        assert!(p1 <= Duration::from_millis(1250) && p2 >= Duration::from_millis(1500));
        assert!(p3 >= Duration::from_secs(3));
        let mut t = t0 + p1 + p2 + p3;
        for _ in 0..20 {
            t += pause.strike_at(b, t);
        }
        assert!(pause.strike_at(b, t) <= MAX_PAUSE);
        assert!(pause.remaining().is_some());
        pause.clear();
        assert!(pause.remaining().is_none());
        let d3 = backoff(b, 3);
        assert!(d1 >= Duration::from_millis(750) && d1 <= Duration::from_millis(1250));
        assert!(d3 >= Duration::from_secs(3) && d3 <= Duration::from_secs(5));
        assert!(backoff(b, 40) <= Duration::from_secs(4500));
    }
}
