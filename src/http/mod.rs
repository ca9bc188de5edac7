//! The HTTP surface: the whole route table on one screen, thin handlers, auth.

mod api;
mod assets;
mod auth;
mod client_addr;
pub mod connections;
mod files;
mod live;
mod metrics;
mod security;
pub mod view;
mod webhook;

use std::sync::Arc;

use poem::{Endpoint, EndpointExt, Route, get, handler, post, web::Data};

pub use auth::AdminSession;

use crate::state::AppState;

/// Builds the application endpoint.
pub fn routes(state: Arc<AppState>) -> impl Endpoint {
    Route::new()
        .at("/", get(assets::index))
        .at("/static/*path", get(assets::file))
        .at("/healthz", get(healthz))
        .at("/metrics", get(metrics::metrics))
        .at(
            "/api/webhooks/:provider",
            get(webhook::handshake).post(webhook::receive),
        )
        .at(
            "/api/session",
            get(auth::current).post(auth::login).delete(auth::logout),
        )
        .at("/api/session/password", post(auth::change_password))
        .at("/api/status", get(api::status))
        .at("/api/live", get(live::live))
        .at("/api/channels", get(api::channels))
        .at("/api/conversations", get(api::conversations))
        .at("/api/conversations/:id/messages", get(api::messages))
        .at("/api/conversations/:id/read", post(api::mark_read))
        .at("/api/conversations/:id/status", post(api::set_status))
        .at("/api/events", get(api::events))
        .at("/api/attachments/:id", get(files::attachment))
        .at("/api/contacts/:id/avatar", get(files::avatar))
        .around(security::harden)
        .data(state)
}

/// Answers 200 `ok` when the database answers and the ingest writer is not stuck.
#[handler]
async fn healthz(state: Data<&Arc<AppState>>) -> poem::Result<&'static str> {
    if let Some(held) = state.ingest.progress.stalled_for() {
        return Err(crate::error::ApiError::IngestStalled(held.as_secs()).into());
    }
    state
        .db
        .call(|conn| crate::store::ping(conn))
        .await
        .map_err(|e| crate::error::ApiError::Internal(e.to_string()))?;
    Ok("ok")
}
