//! Webhook handlers: the GET handshake and the signed POST.

use std::collections::HashMap;
use std::sync::Arc;

use poem::http::StatusCode;
use poem::web::{Data, Path, Query};
use poem::{Body, Request, Response, handler};

use crate::error::ApiError;
use crate::model::Provider;
use crate::state::AppState;
use crate::webhook::handshake::{Handshake, HandshakeQuery, verify};

fn provider(name: &str) -> Result<Provider, ApiError> {
    Provider::parse(name).ok_or_else(|| ApiError::NotFound(format!("webhook provider {name:?}")))
}

/// `GET /api/webhooks/{provider}`: echoes `hub.challenge` verbatim when the token matches.
#[handler]
pub async fn handshake(
    Path(name): Path<String>,
    Query(q): Query<HashMap<String, String>>,
    state: Data<&Arc<AppState>>,
) -> Result<Response, ApiError> {
    let provider = provider(&name)?;
    let token = state.webhook_secrets().verify_token(provider);
    let query = HandshakeQuery {
        mode: q.get("hub.mode").map(String::as_str),
        verify_token: q.get("hub.verify_token").map(String::as_str),
        challenge: q.get("hub.challenge").map(String::as_str),
    };
    Ok(match verify(&query, token.as_ref()) {
        Handshake::Accept(challenge) => Response::builder()
            .content_type("text/plain; charset=utf-8")
            .body(challenge.to_string()),
        Handshake::Reject(reason) => {
            tracing::warn!(%provider, reason, "webhook handshake refused");
            Response::builder()
                .status(StatusCode::FORBIDDEN)
                .content_type("text/plain; charset=utf-8")
                .body("forbidden")
        }
    })
}

/// `POST /api/webhooks/{provider}`: verify, store, then acknowledge with 200.
#[handler]
pub async fn receive(
    Path(name): Path<String>,
    req: &Request,
    body: Body,
    state: Data<&Arc<AppState>>,
) -> Result<Response, ApiError> {
    let provider = provider(&name)?;
    let limit = state.config.max_body_bytes as usize;
    let declared = req
        .header("content-length")
        .and_then(|v| v.parse::<u64>().ok());
    if declared.is_some_and(|n| n > limit as u64) {
        return Err(ApiError::PayloadTooLarge);
    }
    let bytes = body.into_bytes_limit(limit).await.map_err(|e| match e {
        poem::error::ReadBodyError::PayloadTooLarge => ApiError::PayloadTooLarge,
        other => ApiError::BadRequest(format!("cannot read body: {other}")),
    })?;
    let secrets = state.webhook_secrets();
    let header = req.header("x-hub-signature-256");
    let result = state
        .ingest
        .receive(provider, &secrets.app_secrets(), header, bytes.to_vec())
        .await;
    match result {
        Ok(stored) => {
            tracing::debug!(%provider, journal = stored.journal_id, outcome = stored.outcome.as_str(), "webhook stored");
            Ok(Response::builder()
                .content_type("text/plain; charset=utf-8")
                .body("EVENT_RECEIVED"))
        }
        Err(e) => {
            tracing::warn!(%provider, error = %e, "webhook refused");
            Err(e.into())
        }
    }
}
