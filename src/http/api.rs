//! The JSON read API for the dashboard. Every handler requires a session.

use std::sync::Arc;

use poem::handler;
use poem::web::{Data, Json, Path, Query};
use serde::Deserialize;
use serde_json::{Value, json};

use super::AdminSession;
use super::view::{self, Conversation, Message};
use crate::error::ApiError;
use crate::live::Change;
use crate::state::AppState;
use crate::store::{channel, conversation, message};

const DEFAULT_LIMIT: i64 = 50;
const MAX_LIMIT: i64 = 200;

fn limit(n: Option<i64>) -> Result<i64, ApiError> {
    match n {
        None => Ok(DEFAULT_LIMIT),
        Some(n) if (1..=MAX_LIMIT).contains(&n) => Ok(n),
        Some(_) => Err(ApiError::BadRequest(format!(
            "limit must be between 1 and {MAX_LIMIT}"
        ))),
    }
}

/// Cursors are `"<time>_<id>"`: opaque to clients, cheap to resume from.
fn parse_cursor(c: Option<&str>) -> Result<Option<(i64, i64)>, ApiError> {
    let Some(c) = c.filter(|c| !c.is_empty()) else {
        return Ok(None);
    };
    let bad = || ApiError::BadRequest("invalid cursor".into());
    let (a, b) = c.split_once('_').ok_or_else(bad)?;
    Ok(Some((
        a.parse().map_err(|_| bad())?,
        b.parse().map_err(|_| bad())?,
    )))
}

fn format_cursor(c: Option<(i64, i64)>) -> Value {
    c.map(|(a, b)| Value::String(format!("{a}_{b}")))
        .unwrap_or(Value::Null)
}

/// `GET /api/channels`.
#[handler]
pub async fn channels(
    _s: AdminSession,
    state: Data<&Arc<AppState>>,
) -> Result<Json<Value>, ApiError> {
    let list = state.db.call(|conn| channel::list(conn)).await?;
    Ok(Json(json!({ "channels": list })))
}

#[derive(Deserialize)]
pub struct ConversationQuery {
    q: Option<String>,
    channel_id: Option<i64>,
    status: Option<String>,
    limit: Option<i64>,
    cursor: Option<String>,
}

/// `GET /api/conversations`: newest activity first, keyset-paginated.
#[handler]
pub async fn conversations(
    _s: AdminSession,
    Query(q): Query<ConversationQuery>,
    state: Data<&Arc<AppState>>,
) -> Result<Json<Value>, ApiError> {
    if let Some(s) = &q.status
        && s != "open"
        && s != "resolved"
    {
        return Err(ApiError::BadRequest(
            "status must be open or resolved".into(),
        ));
    }
    let filter = conversation::Filter {
        channel_id: q.channel_id,
        status: q.status,
        search: q.q.filter(|s| !s.trim().is_empty()),
    };
    let limit = limit(q.limit)?;
    let cursor = parse_cursor(q.cursor.as_deref())?;
    let (list, next) = state
        .db
        .call(move |conn| conversation::list(conn, &filter, cursor, limit))
        .await?;
    let list: Vec<Conversation> = view::all(list);
    Ok(Json(
        json!({ "conversations": list, "next": format_cursor(next) }),
    ))
}

#[derive(Deserialize)]
pub struct PageQuery {
    limit: Option<i64>,
    cursor: Option<String>,
}

/// `GET /api/conversations/{id}/messages`: oldest first, keyset-paginated.
#[handler]
pub async fn messages(
    _s: AdminSession,
    Path(id): Path<i64>,
    Query(q): Query<PageQuery>,
    state: Data<&Arc<AppState>>,
) -> Result<Json<Value>, ApiError> {
    let limit = limit(q.limit)?;
    let cursor = parse_cursor(q.cursor.as_deref())?;
    let page = state
        .db
        .call(move |conn| {
            if conversation::get(conn, id)?.is_none() {
                return Ok(None);
            }
            message::list_thread(conn, id, cursor, limit).map(Some)
        })
        .await?;
    let (list, next) = page.ok_or_else(|| ApiError::NotFound(format!("conversation {id}")))?;
    let list: Vec<Message> = view::all(list);
    Ok(Json(
        json!({ "messages": list, "next": format_cursor(next) }),
    ))
}

/// `POST /api/conversations/{id}/read`: clears the unread count.
#[handler]
pub async fn mark_read(
    _s: AdminSession,
    Path(id): Path<i64>,
    state: Data<&Arc<AppState>>,
) -> Result<Json<Value>, ApiError> {
    update_conversation(&state, id, conversation::Update::Read).await
}

#[derive(Deserialize)]
pub struct StatusBody {
    status: String,
}

/// `POST /api/conversations/{id}/status`: resolve or reopen.
#[handler]
pub async fn set_status(
    _s: AdminSession,
    Path(id): Path<i64>,
    Json(body): Json<StatusBody>,
    state: Data<&Arc<AppState>>,
) -> Result<Json<Value>, ApiError> {
    update_conversation(&state, id, conversation::Update::Status(body.status)).await
}

/// Applies a change through the write path every writer of this process shares (the
/// write gate the ingest writer and the jobs take), then publishes the new state.
async fn update_conversation(
    state: &AppState,
    id: i64,
    change: conversation::Update,
) -> Result<Json<Value>, ApiError> {
    let (record, changed) = state
        .db
        .write(move |conn| conversation::update(conn, id, &change))
        .await?;
    if changed {
        state.bus.publish(vec![Change::conversation_updated(id)]);
    }
    Ok(Json(json!({ "conversation": Conversation::from(record) })))
}

#[derive(Deserialize)]
pub struct EventsQuery {
    after: Option<i64>,
    limit: Option<i64>,
}

/// `GET /api/events?after=SEQ`: the events a reconnecting page missed. `gap` says the
/// oldest kept event is newer than `after + 1`, so the page must refetch everything.
#[handler]
pub async fn events(
    _s: AdminSession,
    Query(q): Query<EventsQuery>,
    state: Data<&Arc<AppState>>,
) -> Result<poem::Response, ApiError> {
    let after = q.after.unwrap_or(0).max(0);
    let limit = q.limit.unwrap_or(1000).clamp(1, 10_000) as usize;
    let c = state.bus.after(after, limit);
    let events = c.events;
    let array = state
        .db
        .call(move |conn| crate::live::render_array(&events, |c| view::change(conn, c)))
        .await?;
    let body = format!(
        r#"{{"events":{array},"latest":{},"gap":{}}}"#,
        c.latest, c.gap
    );
    Ok(poem::Response::builder()
        .content_type("application/json")
        .body(body))
}

/// `GET /api/status`: what a new admin needs to finish setup (no secrets).
#[handler]
pub async fn status(
    s: AdminSession,
    req: &poem::Request,
    state: Data<&Arc<AppState>>,
) -> Json<Value> {
    let secrets = state.webhook_secrets();
    let base = match &state.config.public_url {
        Some(u) => u.trim_end_matches('/').to_string(),
        None => {
            let scheme = if super::client_addr::is_https(req, &state.config) {
                "https"
            } else {
                "http"
            };
            format!("{scheme}://{}", req.header("host").unwrap_or("localhost"))
        }
    };
    let urls: serde_json::Map<String, Value> = crate::model::Provider::ALL
        .iter()
        .map(|p| {
            (
                p.as_str().to_string(),
                Value::String(format!("{base}/api/webhooks/{p}")),
            )
        })
        .collect();
    Json(json!({
        "username": s.username,
        "version": env!("CARGO_PKG_VERSION"),
        "app_secret_configured": !secrets.app.is_empty(),
        // Said the same way by `serve`, `init` and `doctor` (config::NO_APP_SECRET).
        "app_secret_problem": crate::config::NO_APP_SECRET,
        "app_secret_step": crate::config::app_secret_step(state.config.file.as_deref()),
        "verify_token_configured": secrets.verify.facebook.is_some(),
        "public_url": state.config.public_url,
        "callback_urls": urls,
    }))
}
