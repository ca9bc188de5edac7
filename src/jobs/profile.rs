//! Fetches a Messenger or Instagram sender's profile and keeps the picture's bytes
//! (profile picture URLs expire). WhatsApp names come from the webhook payload.

use super::{Context, Finish, JobError, note_token_error};
use crate::graph::GraphError;
use crate::live::Change;
use crate::model::Provider;
use crate::store::job::FailureReason;
use crate::store::{channel, contact};

/// Graph's "no profile available for this user" (accounts created with a phone number).
const NO_PROFILE_SUBCODE_TEXT: &str = "2018218";

/// Fetches one contact's profile; what to store is written with the job's completion.
pub async fn run(ctx: &Context, contact_id: i64) -> Result<Option<Finish>, JobError> {
    let work = ctx
        .db
        .call(move |conn| contact::profile_work(conn, contact_id))
        .await?;
    let Some(work) = work else { return Ok(None) };
    let provider = work.provider;
    if provider == Provider::Whatsapp {
        return Ok(None);
    }
    let token = channel::token_of(&work.credentials).ok_or_else(|| {
        JobError::permanent(
            FailureReason::NoToken,
            "the channel has no access token to fetch profiles",
        )
    })?;
    let profile = match ctx.graph.profile(provider, &work.external_id, &token).await {
        Ok(p) => p,
        Err(GraphError::Permanent(m))
            if m.contains(NO_PROFILE_SUBCODE_TEXT) || m.starts_with("Graph error 100") =>
        {
            // Not an outage: Meta has no profile to give (or no consent). Remember the
            // attempt so the next message does not ask again at once.
            ctx.db
                .write_unsynced(move |conn| contact::mark_profile_checked(conn, contact_id))
                .await?;
            return Err(JobError::permanent(
                FailureReason::NoProfile,
                format!("no profile available: {m}"),
            ));
        }
        Err(e) => {
            note_token_error(ctx, work.channel_id, &e).await;
            return Err(e.into());
        }
    };
    let avatar = match &profile.picture_url {
        Some(url) => download_picture(ctx, url).await?,
        None => None,
    };
    Ok(Some(Box::new(move |conn| {
        contact::set_profile(
            conn,
            contact_id,
            profile.name.as_deref(),
            profile.username.as_deref(),
            avatar.as_ref().map(|(s, m)| (s.as_str(), m.as_deref())),
        )?;
        channel::set_token_ok(conn, work.channel_id)?;
        Ok(vec![Change::contact_updated(contact_id)])
    })))
}

/// Downloads a profile picture; a failure only costs the picture, not the name. A
/// picture host that is busy puts the whole job back instead (nothing was tried yet).
async fn download_picture(
    ctx: &Context,
    url: &str,
) -> Result<Option<(String, Option<String>)>, JobError> {
    let mut spool = ctx.files.spool();
    match ctx
        .graph
        .download(url, None, &mut spool, ctx.max_attachment_bytes)
        .await
    {
        Ok(d) => match ctx.files.store(spool, &d.sha256_hex).await {
            Ok(_) => Ok(Some((d.sha256_hex, d.content_type))),
            Err(e) => {
                tracing::warn!(error = %e, "storing a profile picture failed");
                Ok(None)
            }
        },
        Err(e @ GraphError::HostBusy(_)) => Err(e.into()),
        Err(e) => {
            tracing::info!(error = %e, "profile picture not downloaded");
            Ok(None)
        }
    }
}
