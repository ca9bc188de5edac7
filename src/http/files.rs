//! Serving stored attachments and profile pictures to logged-in admins.
//!
//! Files come from customers, so they are served so that nothing in them can run in the
//! dashboard's origin: `nosniff`, a sandboxing Content-Security-Policy, and
//! `Content-Disposition: attachment` for anything that is not image, audio or video.

use std::path::PathBuf;
use std::sync::Arc;

use poem::web::{Data, Path};
use poem::{Body, Response, handler};

use super::AdminSession;
use crate::error::ApiError;
use crate::filestore::FileStore;
use crate::state::AppState;
use crate::store::{attachment as attachments, contact};

/// `GET /api/attachments/{id}`.
#[handler]
pub async fn attachment(
    _s: AdminSession,
    Path(id): Path<i64>,
    state: Data<&Arc<AppState>>,
) -> Result<Response, ApiError> {
    let file = state
        .db
        .call(move |conn| attachments::stored_file(conn, id))
        .await?
        .ok_or_else(|| ApiError::NotFound(format!("stored attachment {id}")))?;
    let mime = file
        .mime_type
        .unwrap_or_else(|| "application/octet-stream".to_string());
    let name = file.filename.unwrap_or_else(|| format!("attachment-{id}"));
    send(&state.config.data_dir, &file.sha256, &mime, Some(&name)).await
}

/// `GET /api/contacts/{id}/avatar`.
#[handler]
pub async fn avatar(
    _s: AdminSession,
    Path(id): Path<i64>,
    state: Data<&Arc<AppState>>,
) -> Result<Response, ApiError> {
    let (sha, mime) = state
        .db
        .call(move |conn| contact::avatar(conn, id))
        .await?
        .ok_or_else(|| ApiError::NotFound(format!("picture of contact {id}")))?;
    let mime = mime.unwrap_or_else(|| "image/jpeg".to_string());
    send(&state.config.data_dir, &sha, &mime, None).await
}

fn inline_safe(mime: &str) -> bool {
    // SVG is an image that can carry script: never inline.
    (mime.starts_with("image/") && !mime.contains("svg"))
        || mime.starts_with("audio/")
        || mime.starts_with("video/")
}

async fn send(
    data_dir: &std::path::Path,
    sha: &str,
    mime: &str,
    name: Option<&str>,
) -> Result<Response, ApiError> {
    let path: PathBuf = FileStore::new(data_dir)
        .path_for(sha)
        .ok_or_else(|| ApiError::Internal(format!("bad stored hash {sha}")))?;
    let file = tokio::fs::File::open(&path)
        .await
        .map_err(|e| ApiError::Internal(format!("cannot open {}: {e}", path.display())))?;
    let len = file.metadata().await.map(|m| m.len()).ok();
    let inline = inline_safe(mime);
    let content_type = if inline {
        mime
    } else {
        "application/octet-stream"
    };
    let safe_name: String = name
        .unwrap_or("file")
        .chars()
        .filter(|c| c.is_ascii_graphic() && *c != '"' && *c != '\\' || *c == ' ')
        .collect();
    let disposition = if inline {
        "inline".to_string()
    } else {
        format!("attachment; filename=\"{safe_name}\"")
    };
    let mut resp = Response::builder()
        .content_type(content_type)
        .header("x-content-type-options", "nosniff")
        .header(
            "content-security-policy",
            "sandbox; default-src 'none'; media-src 'self'; img-src 'self'",
        )
        .header("content-disposition", disposition)
        // Content-addressed: the bytes behind this hash never change.
        .header("cache-control", "private, max-age=31536000, immutable")
        .header("etag", format!("\"{sha}\""));
    if let Some(len) = len {
        resp = resp.header("content-length", len);
    }
    Ok(resp.body(Body::from_async_read(file)))
}
