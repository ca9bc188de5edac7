//! Contact rows as the profile job and the avatar endpoint need them.

use rusqlite::{Connection, OptionalExtension, params};

use super::{Result, now_ms};

/// Everything the profile job needs about one contact.
#[derive(Debug, Clone)]
pub struct ProfileWork {
    pub id: i64,
    pub external_id: String,
    pub channel_id: i64,
    pub provider: String,
    pub credentials: String,
}

/// Loads a contact with its channel.
pub fn profile_work(conn: &Connection, id: i64) -> Result<Option<ProfileWork>> {
    Ok(conn
        .prepare_cached(
            "SELECT ct.id, ct.external_id, ch.id, ch.provider, ch.credentials
             FROM contacts ct JOIN channels ch ON ch.id = ct.channel_id WHERE ct.id = ?1",
        )?
        .query_row([id], |r| {
            Ok(ProfileWork {
                id: r.get(0)?,
                external_id: r.get(1)?,
                channel_id: r.get(2)?,
                provider: r.get(3)?,
                credentials: r.get(4)?,
            })
        })
        .optional()?)
}

/// Stores a fetched profile; the picture only when one was downloaded.
pub fn set_profile(
    conn: &Connection,
    id: i64,
    name: Option<&str>,
    username: Option<&str>,
    avatar: Option<(&str, Option<&str>)>,
) -> Result<()> {
    let (sha, mime) = avatar.map_or((None, None), |(s, m)| (Some(s), m));
    conn.execute(
        "UPDATE contacts SET name = COALESCE(?2, name), username = COALESCE(?3, username),
                avatar_sha256 = COALESCE(?4, avatar_sha256), avatar_mime = COALESCE(?5, avatar_mime),
                profile_fetched_at = ?6, updated_at = ?6 WHERE id = ?1",
        params![id, name, username, sha, mime, now_ms()],
    )?;
    Ok(())
}

/// Records that a profile was asked for but none is available (e.g. code 2018218), so
/// it is not asked for again until the refresh age passes.
pub fn mark_profile_checked(conn: &Connection, id: i64) -> Result<()> {
    conn.execute(
        "UPDATE contacts SET profile_fetched_at = ?2 WHERE id = ?1",
        params![id, now_ms()],
    )?;
    Ok(())
}

/// The stored profile picture of a contact: (sha256, mime type).
pub fn avatar(conn: &Connection, id: i64) -> Result<Option<(String, Option<String>)>> {
    Ok(conn
        .prepare_cached(
            "SELECT avatar_sha256, avatar_mime FROM contacts WHERE id = ?1 AND avatar_sha256 IS NOT NULL",
        )?
        .query_row([id], |r| Ok((r.get(0)?, r.get(1)?)))
        .optional()?)
}
