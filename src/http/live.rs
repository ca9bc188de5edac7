//! `GET /api/live`: upgrades to the dashboard's WebSocket feed.

use std::sync::Arc;

use poem::web::Data;
use poem::web::websocket::WebSocket;
use poem::{IntoResponse, Request, handler};

use super::AdminSession;
use crate::error::ApiError;
use crate::state::AppState;

/// Requires a session and the dashboard's own `Origin` (WebSockets are not covered by
/// CORS, so a foreign page could otherwise open one with the admin's cookie).
#[handler]
pub async fn live(
    _s: AdminSession,
    req: &Request,
    ws: WebSocket,
    state: Data<&Arc<AppState>>,
) -> Result<impl IntoResponse, ApiError> {
    if req.header("origin").is_none() || !super::security::same_origin(req, &state.config) {
        tracing::warn!(origin = ?req.header("origin"), "live feed refused: foreign or missing Origin");
        return Err(ApiError::Forbidden(
            "the live feed only serves the dashboard's own origin",
        ));
    }
    let (bus, db) = (state.bus.clone(), state.db.clone());
    Ok(ws.on_upgrade(move |socket| crate::live::socket::serve(socket, bus, db)))
}
