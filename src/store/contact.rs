//! Contacts: the customer side of a conversation, one per (channel, external id).

use rusqlite::{Connection, OptionalExtension, params};

use super::{Result, now_ms};
use crate::model::{ContactRef, Provider};

/// A contact as the read API and live events show it.
#[derive(Debug, Clone)]
pub struct ContactRecord {
    pub id: i64,
    pub channel_id: i64,
    pub external_id: String,
    pub name: Option<String>,
    pub username: Option<String>,
    pub phone: Option<String>,
    /// Whether a profile picture is stored.
    pub has_avatar: bool,
}

/// One contact.
pub fn get(conn: &Connection, id: i64) -> Result<Option<ContactRecord>> {
    Ok(conn
        .prepare_cached(
            "SELECT id, channel_id, external_id, name, username, phone, avatar_sha256 IS NOT NULL
             FROM contacts WHERE id = ?1",
        )?
        .query_row([id], |r| {
            Ok(ContactRecord {
                id: r.get(0)?,
                channel_id: r.get(1)?,
                external_id: r.get(2)?,
                name: r.get(3)?,
                username: r.get(4)?,
                phone: r.get(5)?,
                has_avatar: r.get(6)?,
            })
        })
        .optional()?)
}

/// A contact's (name, username, phone).
pub type Names = (Option<String>, Option<String>, Option<String>);

/// A known sender with its conversation, if it has one yet.
#[derive(Debug, Clone)]
pub struct Sender {
    pub id: i64,
    pub names: Names,
    pub profile_fetched_at: Option<i64>,
    pub conversation_id: Option<i64>,
}

/// Finds the sender's contact and conversation in one read (both almost always exist).
pub fn find_sender(
    conn: &Connection,
    channel_id: i64,
    external_id: &str,
) -> Result<Option<Sender>> {
    Ok(conn
        .prepare_cached(
            "SELECT ct.id, ct.name, ct.username, ct.phone, ct.profile_fetched_at, cv.id
             FROM contacts ct
             LEFT JOIN conversations cv ON cv.channel_id = ct.channel_id AND cv.contact_id = ct.id
             WHERE ct.channel_id = ?1 AND ct.external_id = ?2",
        )?
        .query_row(params![channel_id, external_id], |r| {
            Ok(Sender {
                id: r.get(0)?,
                names: (r.get(1)?, r.get(2)?, r.get(3)?),
                profile_fetched_at: r.get(4)?,
                conversation_id: r.get(5)?,
            })
        })
        .optional()?)
}

/// Creates a contact and returns its id.
pub fn insert(conn: &Connection, channel_id: i64, c: &ContactRef, now: i64) -> Result<i64> {
    conn.prepare_cached(
        "INSERT INTO contacts (channel_id, external_id, name, username, phone, created_at, updated_at)
         VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?6)",
    )?
    .execute(params![channel_id, c.external_id, c.name, c.username, c.phone, now])?;
    Ok(conn.last_insert_rowid())
}

/// Keeps the newest names a payload carries (WhatsApp sends the display name with
/// every message), writing only when one actually changed; returns whether it did.
pub fn rename(
    conn: &Connection,
    id: i64,
    stored: &Names,
    c: &ContactRef,
    now: i64,
) -> Result<bool> {
    let differs = |new: &Option<String>, old: &Option<String>| new.is_some() && new != old;
    let (name, username, phone) = stored;
    if !(differs(&c.name, name) || differs(&c.username, username) || differs(&c.phone, phone)) {
        return Ok(false);
    }
    conn.prepare_cached(
        "UPDATE contacts SET name = COALESCE(?2, name), username = COALESCE(?3, username),
                phone = COALESCE(?4, phone), updated_at = ?5 WHERE id = ?1",
    )?
    .execute(params![id, c.name, c.username, c.phone, now])?;
    Ok(true)
}

/// Everything the profile job needs about one contact.
#[derive(Debug, Clone)]
pub struct ProfileWork {
    pub id: i64,
    pub external_id: String,
    pub channel_id: i64,
    pub provider: Provider,
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
