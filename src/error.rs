//! The HTTP error type and the one place errors become responses:
//! a stable JSON body `{"error": "...", "code": "..."}`. Internal details go to the log,
//! never to the client. [`respond`] maps every error a request can end with, poem's own
//! (unknown route, wrong method, unparsable path, query or body) included.

use poem::http::StatusCode;
use poem::{Body, Response};

use crate::ingest::ReceiveError;
use crate::store::StoreError;

/// Errors an HTTP handler can answer with.
#[derive(Debug, thiserror::Error)]
pub enum ApiError {
    #[error("{0}")]
    BadRequest(String),
    #[error("login required")]
    Unauthorized,
    #[error("invalid username or password")]
    InvalidCredentials,
    #[error("{0}")]
    Forbidden(&'static str),
    #[error("{0} not found")]
    NotFound(String),
    #[error("request body is larger than the configured maximum")]
    PayloadTooLarge,
    #[error("{0}")]
    Signature(String),
    #[error("body is not valid JSON")]
    NotJson,
    #[error("too many attempts; try again later")]
    TooManyRequests,
    #[error("this server does not answer for that host name")]
    MisdirectedHost,
    #[error("the ingest writer has made no progress for {0} s")]
    IngestStalled(u64),
    #[error("{0}; retry later")]
    Overloaded(&'static str),
    #[error("the request was not received in time")]
    RequestTimeout,
    #[error("internal error")]
    Internal(String),
}

impl ApiError {
    fn code(&self) -> &'static str {
        match self {
            ApiError::BadRequest(_) => "bad_request",
            ApiError::Unauthorized => "unauthorized",
            ApiError::InvalidCredentials => "invalid_credentials",
            ApiError::Forbidden(_) => "forbidden",
            ApiError::NotFound(_) => "not_found",
            ApiError::PayloadTooLarge => "payload_too_large",
            ApiError::Signature(_) => "invalid_signature",
            ApiError::NotJson => "invalid_json",
            ApiError::TooManyRequests => "too_many_requests",
            ApiError::MisdirectedHost => "misdirected_request",
            ApiError::IngestStalled(_) => "ingest_stalled",
            ApiError::Overloaded(_) => "overloaded",
            ApiError::RequestTimeout => "request_timeout",
            ApiError::Internal(_) => "internal",
        }
    }
}

impl poem::error::ResponseError for ApiError {
    fn status(&self) -> StatusCode {
        match self {
            ApiError::BadRequest(_) | ApiError::NotJson => StatusCode::BAD_REQUEST,
            ApiError::Unauthorized | ApiError::InvalidCredentials | ApiError::Signature(_) => {
                StatusCode::UNAUTHORIZED
            }
            ApiError::Forbidden(_) => StatusCode::FORBIDDEN,
            ApiError::NotFound(_) => StatusCode::NOT_FOUND,
            ApiError::PayloadTooLarge => StatusCode::PAYLOAD_TOO_LARGE,
            ApiError::TooManyRequests => StatusCode::TOO_MANY_REQUESTS,
            ApiError::MisdirectedHost => StatusCode::MISDIRECTED_REQUEST,
            ApiError::IngestStalled(_) | ApiError::Overloaded(_) => StatusCode::SERVICE_UNAVAILABLE,
            ApiError::RequestTimeout => StatusCode::REQUEST_TIMEOUT,
            ApiError::Internal(_) => StatusCode::INTERNAL_SERVER_ERROR,
        }
    }

    fn as_response(&self) -> Response {
        if let ApiError::Internal(detail) = self {
            tracing::error!(error = %detail, "request failed");
        }
        let mut resp = json_error(self.status(), &self.to_string(), self.code());
        if let ApiError::Overloaded(_) = self {
            // Meta and well-behaved clients retry after a second.
            // Closing frees the slot and spares reading a body we refused.
            let headers = resp.headers_mut();
            headers.insert(
                poem::http::header::RETRY_AFTER,
                poem::http::HeaderValue::from_static("1"),
            );
            headers.insert(
                poem::http::header::CONNECTION,
                poem::http::HeaderValue::from_static("close"),
            );
        }
        resp
    }
}

fn json_error(status: StatusCode, message: &str, code: &str) -> Response {
    let body = serde_json::json!({ "error": message, "code": code });
    Response::builder()
        .status(status)
        .content_type("application/json")
        .body(Body::from_string(body.to_string()))
}

/// Turns the error a request ended with into its response: ours as themselves; poem's
/// (routing, extractors) as the same JSON body when `json` (every `/api/` path), as
/// plain text elsewhere. A 5xx says only "internal error"; the detail goes to the log.
pub fn respond(err: poem::Error, json: bool) -> Response {
    if let Some(ours) = err.downcast_ref::<ApiError>() {
        return poem::error::ResponseError::as_response(ours);
    }
    // The connection layer ends a body that outlives `body_read_timeout_secs` this way.
    if let Some(poem::error::ReadBodyError::Io(e)) = err.downcast_ref()
        && timed_out(e)
    {
        return poem::error::ResponseError::as_response(&ApiError::RequestTimeout);
    }
    if !json && err.is_from_response() && !err.status().is_server_error() {
        return err.into_response();
    }
    let status = err.status();
    let message = if status.is_server_error() {
        tracing::error!(error = %err, "request failed");
        "internal error".to_string()
    } else if err.is_from_response() {
        status.canonical_reason().unwrap_or("error").to_string()
    } else {
        err.to_string()
    };
    if !json {
        return Response::builder()
            .status(status)
            .content_type("text/plain; charset=utf-8")
            .body(message);
    }
    let code = match status {
        StatusCode::UNAUTHORIZED => "unauthorized",
        StatusCode::FORBIDDEN => "forbidden",
        StatusCode::NOT_FOUND => "not_found",
        StatusCode::METHOD_NOT_ALLOWED => "method_not_allowed",
        StatusCode::PAYLOAD_TOO_LARGE => "payload_too_large",
        StatusCode::UNSUPPORTED_MEDIA_TYPE => "unsupported_media_type",
        StatusCode::TOO_MANY_REQUESTS => "too_many_requests",
        s if s.is_server_error() => "internal",
        _ => "bad_request",
    };
    json_error(status, &message, code)
}

/// Whether an I/O error is (or wraps, as poem's `into_bytes` does) a `TimedOut`.
fn timed_out(e: &std::io::Error) -> bool {
    e.kind() == std::io::ErrorKind::TimedOut
        || e.get_ref()
            .and_then(|inner| inner.downcast_ref::<std::io::Error>())
            .is_some_and(|inner| inner.kind() == std::io::ErrorKind::TimedOut)
}

impl From<StoreError> for ApiError {
    fn from(e: StoreError) -> Self {
        match e {
            StoreError::NotFound(what) => ApiError::NotFound(what),
            StoreError::Conflict(msg) => ApiError::BadRequest(msg),
            other => ApiError::Internal(other.to_string()),
        }
    }
}

impl From<ReceiveError> for ApiError {
    fn from(e: ReceiveError) -> Self {
        match e {
            ReceiveError::Signature(s) => ApiError::Signature(s.to_string()),
            ReceiveError::NotJson(_) => ApiError::NotJson,
            ReceiveError::Store(detail) => ApiError::Internal(detail),
        }
    }
}
