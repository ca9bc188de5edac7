//! Login, logout and the session guard for `/api/*`.

use std::sync::Arc;

use poem::web::{Data, Json};
use poem::{FromRequest, Request, RequestBody, Response, handler};
use serde::Deserialize;
use serde_json::json;

use super::client_addr;
use crate::auth::{self, SESSION_COOKIE, SESSION_TTL_MS};
use crate::error::ApiError;
use crate::state::AppState;
use crate::store::{admin, session};

/// A request made by a logged-in administrator.
#[derive(Debug, Clone)]
pub struct AdminSession {
    pub admin_id: i64,
    pub username: String,
}

fn cookie_value<'a>(req: &'a Request, name: &str) -> Option<&'a str> {
    req.headers()
        .get_all("cookie")
        .iter()
        .filter_map(|v| v.to_str().ok())
        .flat_map(|v| v.split(';'))
        .filter_map(|pair| pair.trim().split_once('='))
        .find(|(k, _)| *k == name)
        .map(|(_, v)| v)
}

impl<'a> FromRequest<'a> for AdminSession {
    async fn from_request(req: &'a Request, _body: &mut RequestBody) -> poem::Result<Self> {
        let state = req
            .data::<Arc<AppState>>()
            .ok_or_else(|| ApiError::Internal("state missing".into()))?;
        let token = cookie_value(req, SESSION_COOKIE).ok_or(ApiError::Unauthorized)?;
        let hash = auth::token_hash(token);
        let found = state
            .db
            .call(move |conn| session::find(conn, &hash))
            .await
            .map_err(ApiError::from)?;
        let s = found.ok_or(ApiError::Unauthorized)?;
        Ok(AdminSession {
            admin_id: s.admin_id,
            username: s.username,
        })
    }
}

#[derive(Deserialize)]
pub struct Credentials {
    username: String,
    password: String,
}

/// `POST /api/session`: checks the password and sets an HttpOnly session cookie.
#[handler]
pub async fn login(
    req: &Request,
    Json(c): Json<Credentials>,
    state: Data<&Arc<AppState>>,
) -> Result<Response, ApiError> {
    let ip = client_addr::client(req, &state.config);
    if !state.login_limiter.allows(ip) {
        return Err(ApiError::TooManyRequests);
    }
    let username = c.username.clone();
    let found = state
        .db
        .call(move |conn| admin::find(conn, &username))
        .await?;
    // Hash even for unknown users, so timing does not reveal which usernames exist.
    let (admin_id, hash) = match found {
        Some(a) => (Some(a.id), a.password_hash),
        None => (None, dummy_hash().to_string()),
    };
    let password = c.password;
    let ok = tokio::task::spawn_blocking(move || auth::verify_password(&password, &hash))
        .await
        .map_err(|e| ApiError::Internal(e.to_string()))?;
    let Some(admin_id) = admin_id.filter(|_| ok) else {
        state.login_limiter.failed(ip);
        tracing::warn!(username = %c.username, client = %ip, "failed login");
        return Err(ApiError::InvalidCredentials);
    };
    state.login_limiter.succeeded(ip);
    let token = auth::new_session_token();
    let hash = auth::token_hash(&token);
    state
        .db
        .write(move |conn| session::create(conn, &hash, admin_id, SESSION_TTL_MS))
        .await?;
    Ok(Response::builder()
        .header("set-cookie", session_cookie(req, &state.config, &token))
        .content_type("application/json")
        .body(json!({ "username": c.username }).to_string()))
}

/// A real argon2id hash of a random string, verified against when the user is unknown.
fn dummy_hash() -> &'static str {
    static HASH: std::sync::OnceLock<String> = std::sync::OnceLock::new();
    HASH.get_or_init(|| auth::hash_password(&crate::secrets::random_token(16)))
}

/// `DELETE /api/session`: ends the session and clears the cookie.
#[handler]
pub async fn logout(req: &Request, state: Data<&Arc<AppState>>) -> Result<Response, ApiError> {
    if let Some(token) = cookie_value(req, SESSION_COOKIE) {
        let hash = auth::token_hash(token);
        state
            .db
            .write(move |conn| session::delete(conn, &hash))
            .await?;
    }
    Ok(Response::builder()
        .header(
            "set-cookie",
            format!("{SESSION_COOKIE}=; Path=/; HttpOnly; SameSite=Strict; Max-Age=0"),
        )
        .content_type("application/json")
        .body("{}"))
}

/// `GET /api/session`: who is logged in.
#[handler]
pub async fn current(session: AdminSession) -> Json<serde_json::Value> {
    Json(json!({ "username": session.username }))
}

#[derive(Deserialize)]
pub struct PasswordChange {
    current: String,
    new: String,
}

/// `POST /api/session/password`: changes the logged-in admin's password. Every other
/// session of that admin ends; this one gets a fresh cookie.
#[handler]
pub async fn change_password(
    session: AdminSession,
    req: &Request,
    Json(body): Json<PasswordChange>,
    state: Data<&Arc<AppState>>,
) -> Result<Response, ApiError> {
    if let Err(reason) = auth::check_new_login(&session.username, &body.new) {
        return Err(ApiError::BadRequest(reason));
    }
    let ip = client_addr::client(req, &state.config);
    if !state.login_limiter.allows(ip) {
        return Err(ApiError::TooManyRequests);
    }
    let username = session.username.clone();
    let found = state
        .db
        .call(move |conn| admin::find(conn, &username))
        .await?;
    let admin = found.ok_or(ApiError::Unauthorized)?;
    let (old_password, hash) = (body.current, admin.password_hash);
    let ok = tokio::task::spawn_blocking(move || auth::verify_password(&old_password, &hash))
        .await
        .map_err(|e| ApiError::Internal(e.to_string()))?;
    if !ok {
        state.login_limiter.failed(ip);
        return Err(ApiError::InvalidCredentials);
    }
    let new_hash = tokio::task::spawn_blocking(move || auth::hash_password(&body.new))
        .await
        .map_err(|e| ApiError::Internal(e.to_string()))?;
    let token = auth::new_session_token();
    let token_hash = auth::token_hash(&token);
    let (username, admin_id) = (session.username.clone(), session.admin_id);
    state
        .db
        .write(move |conn| {
            admin::set_password(conn, &username, &new_hash)?;
            session::create(conn, &token_hash, admin_id, SESSION_TTL_MS)
        })
        .await?;
    tracing::info!(username = %session.username, "admin password changed");
    Ok(Response::builder()
        .header("set-cookie", session_cookie(req, &state.config, &token))
        .content_type("application/json")
        .body("{}"))
}

fn session_cookie(req: &Request, config: &crate::config::Config, token: &str) -> String {
    let secure = if client_addr::is_https(req, config) {
        "; Secure"
    } else {
        ""
    };
    format!(
        "{SESSION_COOKIE}={token}; Path=/; HttpOnly; SameSite=Strict; Max-Age={}{secure}",
        SESSION_TTL_MS / 1000
    )
}
