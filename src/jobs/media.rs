//! Downloads an attachment's bytes into the attachment store.
//!
//! Messenger/Instagram: the payload's CDN URL, fetched directly (it is signed and
//! expires, so promptly). WhatsApp: `GET /{media-id}` with the channel token gives a
//! URL valid for about five minutes, fetched with the same token; a retry resolves the
//! media id again rather than reusing a stale URL.

use base64::Engine;

use super::{Context, Finish, JobError, note_token_error};
use crate::graph::GraphError;
use crate::live::Change;
use crate::store::job::FailureReason;
use crate::store::{attachment, channel};

/// Downloads one attachment (idempotent: a stored one is left alone); marking it
/// stored is written with the job's completion.
pub async fn run(ctx: &Context, attachment_id: i64) -> Result<Option<Finish>, JobError> {
    let work = ctx
        .db
        .call(move |conn| attachment::work(conn, attachment_id))
        .await?;
    let Some(work) = work else { return Ok(None) };
    if work.status == attachment::AttachmentStatus::Stored {
        return Ok(None);
    }
    let token = channel::token_of(&work.credentials);
    let (url, bearer, expected, mime) = match (&work.media_id, &work.source_url) {
        (Some(media_id), _) => {
            let token = token.clone().ok_or_else(|| {
                JobError::permanent(
                    FailureReason::NoToken,
                    "the channel has no access token to download WhatsApp media",
                )
            })?;
            let info = match ctx.graph.media_info(media_id, &token).await {
                Ok(i) => i,
                Err(e) => {
                    note_token_error(ctx, work.channel_id, &e).await;
                    return Err(e.into());
                }
            };
            if info
                .file_size
                .is_some_and(|n| n as u64 > ctx.max_attachment_bytes)
            {
                return Err(GraphError::TooLarge {
                    max: ctx.max_attachment_bytes,
                }
                .into());
            }
            let expected = info.sha256.clone().or(work.expected_sha256.clone());
            let mime = info.mime_type.clone().or(work.mime_type.clone());
            (info.url, Some(token), expected, mime)
        }
        (None, Some(url)) => (
            url.clone(),
            None,
            work.expected_sha256.clone(),
            work.mime_type.clone(),
        ),
        (None, None) => {
            return Err(JobError::permanent(
                FailureReason::Other,
                "nothing to download",
            ));
        }
    };

    // Dropped on every early return: a failed or rejected download leaves nothing.
    let mut spool = ctx.files.spool();
    let downloaded = ctx
        .graph
        .download(
            &url,
            bearer.as_deref(),
            &mut spool,
            ctx.max_attachment_bytes,
        )
        .await?;
    if let Some(expected) = expected.as_deref()
        && !sha256_matches(expected, &downloaded.sha256_hex)
    {
        return Err(JobError::permanent(
            FailureReason::Sha256Mismatch,
            format!(
                "sha256 mismatch: Meta announced {expected}, the download is {}",
                downloaded.sha256_hex
            ),
        ));
    }
    ctx.files
        .store(spool, &downloaded.sha256_hex)
        .await
        .map_err(|e| GraphError::Transient(format!("cannot store the file: {e}")))?;
    let mime = mime.or(downloaded.content_type);
    let (sha, size, message_id) = (downloaded.sha256_hex, downloaded.size, work.message_id);
    Ok(Some(Box::new(move |conn| {
        attachment::mark_stored(conn, attachment_id, &sha, size, mime.as_deref())?;
        Ok(vec![
            Change::attachment_updated(attachment_id),
            Change::message_updated(message_id),
        ])
    })))
}

/// Compares Meta's announced hash (base64 in current payloads, hex in older ones) with
/// the hex digest of what arrived.
pub fn sha256_matches(announced: &str, actual_hex: &str) -> bool {
    let announced = announced.trim();
    if announced.len() == 64 && announced.bytes().all(|b| b.is_ascii_hexdigit()) {
        return announced.eq_ignore_ascii_case(actual_hex);
    }
    base64::engine::general_purpose::STANDARD
        .decode(announced)
        .or_else(|_| base64::engine::general_purpose::STANDARD_NO_PAD.decode(announced))
        .map(|bytes| hex::encode(bytes) == actual_hex)
        .unwrap_or(false)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn announced_hashes_in_both_encodings() {
        let hex = "49f227634806293b0995459bc310b593e1400f41591efcf07e9bced335f41942";
        assert!(sha256_matches(
            "SfInY0gGKTsJlUWbwxC1k+FAD0FZHvzwfpvO0zX0GUI=",
            hex
        ));
        assert!(sha256_matches(hex, hex));
        assert!(sha256_matches(&hex.to_uppercase(), hex));
        assert!(!sha256_matches(
            "SfInY0gGKTsJlUWbwxC1k+FAD0FZHvzwfpvO0zX0GUA=",
            hex
        ));
        assert!(!sha256_matches("garbage", hex));
    }
}
