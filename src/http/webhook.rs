//! Webhook handlers: the GET handshake and the signed POST.

use std::collections::HashMap;
use std::sync::Arc;

use poem::http::StatusCode;
use poem::web::{Data, Path, Query};
use poem::{Body, Request, Response, handler};

use futures_util::StreamExt;

use crate::error::ApiError;
use crate::model::Provider;
use crate::state::AppState;
use crate::webhook::handshake::{Handshake, HandshakeQuery, verify};
use crate::webhook::signature::{SignatureError, Verifier};

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

/// `POST /api/webhooks/{provider}`: check the signature header, read the body within
/// the unverified-bytes budget while hashing it, store, then acknowledge with 200.
#[handler]
pub async fn receive(
    Path(name): Path<String>,
    req: &Request,
    body: Body,
    state: Data<&Arc<AppState>>,
) -> Result<Response, ApiError> {
    let provider = provider(&name)?;
    let declared = req
        .header("content-length")
        .and_then(|v| v.parse::<u64>().ok());
    if declared.is_some_and(|n| n > state.config.max_body_bytes) {
        return Err(ApiError::PayloadTooLarge);
    }
    let secrets = state.webhook_secrets();
    let app_secrets = secrets.app_secrets();
    let header = req.header("x-hub-signature-256");
    // Refused before a byte of the body is read: no secret, no or malformed header.
    let verifier = match Verifier::new(&app_secrets, header) {
        Ok(v) => v,
        Err(e) => return Err(refused(&state, provider, e)),
    };
    let (bytes, verifier) = read_hashing(body, declared, &state, verifier).await?;
    let used = match verifier.finish(&bytes) {
        Ok(i) => i,
        Err(e) => return Err(refused(&state, provider, e)),
    };
    match state.ingest.receive_verified(provider, used, bytes).await {
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

fn refused(state: &AppState, provider: Provider, e: SignatureError) -> ApiError {
    tracing::warn!(%provider, error = %e, "webhook refused");
    state.ingest.refuse(provider, e).into()
}

const BUSY: ApiError = ApiError::Overloaded("too many unverified webhook bodies are being read");

/// Reads the body chunk by chunk into memory reserved from the unverified-bytes budget
/// (the declared length up front, else as chunks arrive), feeding the HMAC as it goes.
/// The reservation ends with this function: the signature is checked right after.
async fn read_hashing<'a>(
    body: Body,
    declared: Option<u64>,
    state: &AppState,
    mut verifier: Verifier<'a>,
) -> Result<(Vec<u8>, Verifier<'a>), ApiError> {
    let limit = state.config.max_body_bytes;
    let mut reservation = state.unverified.reservation();
    if !reservation.grow_to(declared.unwrap_or(0)) {
        return Err(BUSY);
    }
    let mut bytes = Vec::with_capacity(declared.unwrap_or(0) as usize);
    let mut stream = std::pin::pin!(body.into_bytes_stream());
    while let Some(chunk) = stream.next().await {
        let chunk = chunk.map_err(|e| match e.kind() {
            std::io::ErrorKind::TimedOut => ApiError::RequestTimeout,
            _ => ApiError::BadRequest(format!("cannot read body: {e}")),
        })?;
        let total = (bytes.len() + chunk.len()) as u64;
        if total > limit {
            return Err(ApiError::PayloadTooLarge);
        }
        if !reservation.grow_to(total) {
            return Err(BUSY);
        }
        verifier.update(&chunk);
        bytes.extend_from_slice(&chunk);
    }
    Ok((bytes, verifier))
}
