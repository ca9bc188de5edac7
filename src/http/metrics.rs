//! `GET /metrics`: Prometheus text. Protected by `metrics_token` (Bearer) when one is
//! configured; otherwise answered only to clients on this machine that did not come
//! through a reverse proxy (one that carries any forwarding header did), so it never
//! leaks publicly.

use std::fmt::Write;
use std::sync::Arc;

use poem::web::Data;
use poem::{Request, Response, handler};

use crate::error::ApiError;
use crate::state::AppState;
use crate::store::job;

/// Renders the metrics.
#[handler]
pub async fn metrics(req: &Request, state: Data<&Arc<AppState>>) -> Result<Response, ApiError> {
    authorize(req, &state)?;
    let jobs = state
        .db
        .call(|conn| Ok((job::counts(conn)?, job::failure_counts(conn)?)))
        .await?;
    let mut out = String::with_capacity(4096);
    state.ingest.counters.render(&mut out);
    let _ = writeln!(
        out,
        "# HELP helpstack_jobs Background jobs by kind and state."
    );
    let _ = writeln!(out, "# TYPE helpstack_jobs gauge");
    for c in &jobs.0 {
        let _ = writeln!(
            out,
            "helpstack_jobs{{kind=\"{}\",state=\"{}\"}} {}",
            c.kind, c.state, c.count
        );
    }
    let _ = writeln!(
        out,
        "# HELP helpstack_job_failures Failed jobs by kind and reason."
    );
    let _ = writeln!(out, "# TYPE helpstack_job_failures gauge");
    for (kind, reason, n) in &jobs.1 {
        let _ = writeln!(
            out,
            "helpstack_job_failures{{kind=\"{kind}\",reason=\"{}\"}} {n}",
            reason.as_str()
        );
    }
    let _ = writeln!(
        out,
        "# HELP helpstack_live_subscribers Open dashboard WebSockets."
    );
    let _ = writeln!(out, "# TYPE helpstack_live_subscribers gauge");
    let _ = writeln!(
        out,
        "helpstack_live_subscribers {}",
        state.bus.subscribers()
    );
    Ok(Response::builder()
        .content_type("text/plain; version=0.0.4; charset=utf-8")
        .body(out))
}

fn authorize(req: &Request, state: &AppState) -> Result<(), ApiError> {
    match &state.config.metrics_token {
        Some(token) => {
            let given = req
                .header("authorization")
                .and_then(|h| h.strip_prefix("Bearer "))
                .unwrap_or("");
            if token.matches(given) {
                Ok(())
            } else {
                Err(ApiError::Unauthorized)
            }
        }
        None => {
            if super::client_addr::is_local(req, &state.config) {
                Ok(())
            } else {
                Err(ApiError::Forbidden(
                    "metrics are served to local clients only; set metrics_token to scrape remotely",
                ))
            }
        }
    }
}
