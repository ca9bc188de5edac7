//! `GET /api/live`: the dashboard's WebSocket feed. A `hello` with the newest sequence
//! number, then every bus event as JSON text; a client that falls behind gets `resync`
//! and refetches.

use std::sync::Arc;
use std::time::Duration;

use futures_util::{SinkExt, StreamExt};
use poem::web::Data;
use poem::web::websocket::{Message, WebSocket, WebSocketStream};
use poem::{IntoResponse, Request, handler};
use tokio::sync::broadcast::error::RecvError;

use super::{AdminSession, view};
use crate::error::ApiError;
use crate::live::{Bus, LiveEvent};
use crate::state::AppState;
use crate::store::Db;

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
    Ok(ws.on_upgrade(move |socket| serve(socket, bus, db)))
}

/// Serves one socket until the client goes away or the server stops.
async fn serve(socket: WebSocketStream, bus: Bus, db: Db) {
    // Subscribe before saying hello, so nothing published in between is missed.
    let mut rx = bus.subscribe();
    let (mut sink, mut stream) = socket.split();
    let hello = serde_json::json!({"type": "hello", "latest": bus.latest()}).to_string();
    if sink.send(Message::Text(hello)).await.is_err() {
        return;
    }
    let mut ping = tokio::time::interval(Duration::from_secs(30));
    loop {
        tokio::select! {
            ev = rx.recv() => {
                let batch = match ev {
                    Ok(first) => {
                        // Drain what is already queued and render it in one database visit.
                        let mut batch = vec![first];
                        while let Ok(more) = rx.try_recv() {
                            batch.push(more);
                            if batch.len() >= 256 { break; }
                        }
                        batch
                    }
                    Err(RecvError::Lagged(n)) => {
                        tracing::info!(missed = n, "live client fell behind; asking it to resync");
                        if sink.send(Message::Text(r#"{"type":"resync"}"#.into())).await.is_err() {
                            return;
                        }
                        continue;
                    }
                    Err(RecvError::Closed) => return,
                };
                match render(&db, batch).await {
                    Ok(texts) => {
                        for t in texts {
                            if sink.send(Message::Text(t)).await.is_err() {
                                return;
                            }
                        }
                    }
                    Err(e) => {
                        tracing::warn!(error = %e, "rendering live events failed; asking client to resync");
                        if sink.send(Message::Text(r#"{"type":"resync"}"#.into())).await.is_err() {
                            return;
                        }
                    }
                }
            }
            msg = stream.next() => match msg {
                Some(Ok(Message::Close(_))) | None | Some(Err(_)) => return,
                Some(Ok(_)) => {}
            },
            _ = ping.tick() => {
                if sink.send(Message::Ping(Vec::new())).await.is_err() {
                    return;
                }
            }
        }
    }
}

async fn render(db: &Db, batch: Vec<Arc<LiveEvent>>) -> crate::store::Result<Vec<String>> {
    db.call(move |conn| {
        batch
            .iter()
            .map(|e| e.render(|c| view::change(conn, c)).map(str::to_string))
            .collect()
    })
    .await
}
