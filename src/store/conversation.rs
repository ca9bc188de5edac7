//! Conversations (threads) as the inbox lists them.

use rusqlite::{Connection, OptionalExtension, ToSql, params};

use super::contact::ContactRecord;
use super::{Result, StoreError, now_ms};
use crate::model::{ConversationStatus, Provider};

/// A conversation as the inbox lists it.
#[derive(Debug, Clone)]
pub struct ConversationRecord {
    pub id: i64,
    pub channel: ChannelRef,
    pub contact: ContactRecord,
    pub status: ConversationStatus,
    pub unread_count: i64,
    /// Meta's time of the newest message, epoch milliseconds; 0 before the first.
    pub last_message_at: i64,
    pub last_message_preview: Option<String>,
}

/// The channel a conversation belongs to.
#[derive(Debug, Clone)]
pub struct ChannelRef {
    pub id: i64,
    pub provider: Provider,
    pub name: String,
}

/// Filters for the inbox list.
#[derive(Debug, Default, Clone)]
pub struct Filter {
    pub channel_id: Option<i64>,
    pub status: Option<String>,
    /// Words to find in the contact's name or the conversation's messages.
    pub search: Option<String>,
}

/// A position in the inbox: (last_message_at, id), newest first.
pub type InboxCursor = (i64, i64);

const SELECT: &str =
    "SELECT c.id, c.status, c.unread_count, c.last_message_at, c.last_message_preview,
        ch.id, ch.provider, ch.name,
        ct.id, ct.external_id, ct.name, ct.username, ct.phone, ct.avatar_sha256
     FROM conversations c
     JOIN channels ch ON ch.id = c.channel_id
     JOIN contacts ct ON ct.id = c.contact_id";

fn read_row(r: &rusqlite::Row<'_>) -> rusqlite::Result<ConversationRecord> {
    let channel_id: i64 = r.get(5)?;
    Ok(ConversationRecord {
        id: r.get(0)?,
        status: r.get(1)?,
        unread_count: r.get(2)?,
        last_message_at: r.get(3)?,
        last_message_preview: r.get(4)?,
        channel: ChannelRef {
            id: channel_id,
            provider: r.get(6)?,
            name: r.get(7)?,
        },
        contact: ContactRecord {
            id: r.get(8)?,
            channel_id,
            external_id: r.get(9)?,
            name: r.get(10)?,
            username: r.get(11)?,
            phone: r.get(12)?,
            has_avatar: r.get::<_, Option<String>>(13)?.is_some(),
        },
    })
}

/// Lists conversations newest activity first, after `cursor` (keyset pagination: no
/// OFFSET scans, so page 1000 costs what page 1 costs).
pub fn list(
    conn: &Connection,
    filter: &Filter,
    cursor: Option<InboxCursor>,
    limit: i64,
) -> Result<(Vec<ConversationRecord>, Option<InboxCursor>)> {
    let (sql, args) = list_query(filter, cursor, limit)?;
    let mut stmt = conn.prepare_cached(&sql)?;
    let refs: Vec<&dyn ToSql> = args.iter().map(|a| a.as_ref()).collect();
    let mut rows: Vec<ConversationRecord> = stmt
        .query_map(refs.as_slice(), read_row)?
        .collect::<rusqlite::Result<_>>()?;
    let more = rows.len() as i64 > limit;
    rows.truncate(limit as usize);
    let next = if more {
        rows.last().map(|c| (c.last_message_at, c.id))
    } else {
        None
    };
    Ok((rows, next))
}

/// The SQL and arguments of one inbox page.
///
/// Each status has its own index range (`schema.sql`), so a status filter reads only
/// its own conversations, and the inbox without one merges the two ranges: SQLite
/// walks both indexes backwards in step (`MERGE (UNION ALL)`) and stops at the limit.
fn list_query(
    filter: &Filter,
    cursor: Option<InboxCursor>,
    limit: i64,
) -> Result<(String, Vec<Box<dyn ToSql>>)> {
    let (before_ts, before_id) = cursor.unwrap_or((i64::MAX, i64::MAX));
    let mut conditions = String::from("(c.last_message_at, c.id) < (?1, ?2)");
    let mut args: Vec<Box<dyn ToSql>> = vec![Box::new(before_ts), Box::new(before_id)];
    if let Some(ch) = filter.channel_id {
        args.push(Box::new(ch));
        conditions.push_str(&format!(" AND c.channel_id = ?{}", args.len()));
    }
    // The conversations whose messages match, found once for every status range: a
    // subquery in each range would run the full-text match once per range.
    let mut with = String::new();
    if let Some(q) = filter.search.as_deref().and_then(fts_query) {
        let like = format!(
            "%{}%",
            like_escape(filter.search.as_deref().unwrap_or("").trim())
        );
        args.push(Box::new(like));
        let like_arg = args.len();
        args.push(Box::new(q));
        with = format!(
            "WITH search_hits (id) AS MATERIALIZED
                 (SELECT DISTINCT m.conversation_id FROM messages_fts f JOIN messages m ON m.id = f.rowid
                  WHERE messages_fts MATCH ?{}) ",
            args.len()
        );
        conditions.push_str(&format!(
            " AND (ct.name LIKE ?{like_arg} ESCAPE '\\' OR ct.username LIKE ?{like_arg} ESCAPE '\\'
                   OR ct.external_id LIKE ?{like_arg} ESCAPE '\\' OR c.id IN search_hits)"
        ));
    }
    // Literals, not parameters: SQLite uses a partial index only when it can see the
    // query asks for exactly its rows.
    let statuses: &[&str] = match filter.status.as_deref() {
        None => &["open", "resolved"],
        Some("open") => &["open"],
        Some("resolved") => &["resolved"],
        Some(other) => return Err(StoreError::Conflict(format!("unknown status {other:?}"))),
    };
    let arms: Vec<String> = statuses
        .iter()
        .map(|status| format!("{SELECT} WHERE {conditions} AND c.status = '{status}'"))
        .collect();
    args.push(Box::new(limit + 1));
    // Compound ORDER BY names result columns: 4 is last_message_at, 1 the id.
    let sql = format!(
        "{with}{} ORDER BY 4 DESC, 1 DESC LIMIT ?{}",
        arms.join(" UNION ALL "),
        args.len()
    );
    Ok((sql, args))
}

/// Turns what an agent typed into an FTS5 query: every word must appear, each as a
/// prefix, with FTS syntax characters neutralised by quoting.
fn fts_query(input: &str) -> Option<String> {
    let terms: Vec<String> = input
        .split_whitespace()
        .map(|w| w.replace('"', ""))
        .filter(|w| !w.is_empty())
        .map(|w| format!("\"{w}\"*"))
        .collect();
    (!terms.is_empty()).then(|| terms.join(" "))
}

fn like_escape(s: &str) -> String {
    s.replace('\\', "\\\\")
        .replace('%', "\\%")
        .replace('_', "\\_")
}

/// Fetches one conversation view.
pub fn get(conn: &Connection, id: i64) -> Result<Option<ConversationRecord>> {
    Ok(conn
        .prepare_cached(&format!("{SELECT} WHERE c.id = ?1"))?
        .query_row([id], read_row)
        .optional()?)
}

/// Creates the conversation of a contact and returns its id.
pub fn insert(conn: &Connection, channel_id: i64, contact_id: i64, now: i64) -> Result<i64> {
    conn.prepare_cached(
        "INSERT INTO conversations (channel_id, contact_id, created_at, updated_at)
         VALUES (?1, ?2, ?3, ?3)",
    )?
    .execute(params![channel_id, contact_id, now])?;
    Ok(conn.last_insert_rowid())
}

/// Counts a new message into its conversation: an inbound one reopens it and adds to
/// the unread count; the newest message by Meta's time sets the inbox line.
pub fn record_message(
    conn: &Connection,
    id: i64,
    inbound: bool,
    sent_at: i64,
    preview: &str,
    now: i64,
) -> Result<()> {
    conn.prepare_cached(
        "UPDATE conversations SET
            unread_count = CASE WHEN ?2 THEN unread_count + 1
                                WHEN ?3 >= last_message_at THEN 0 ELSE unread_count END,
            status = CASE WHEN ?2 THEN 'open' ELSE status END,
            last_message_preview = CASE WHEN ?3 >= last_message_at THEN ?4 ELSE last_message_preview END,
            last_message_at = MAX(last_message_at, ?3),
            updated_at = ?5
         WHERE id = ?1",
    )?
    .execute(params![id, inbound, sent_at, preview, now])?;
    Ok(())
}

/// Marks a conversation read (unread count to zero).
pub fn mark_read(conn: &Connection, id: i64) -> Result<bool> {
    Ok(conn.execute(
        "UPDATE conversations SET unread_count = 0, updated_at = ?2 WHERE id = ?1 AND unread_count > 0",
        params![id, now_ms()],
    )? > 0)
}

/// Sets a conversation's status to `open` or `resolved`.
pub fn set_status(conn: &Connection, id: i64, status: &str) -> Result<bool> {
    let Some(status) = ConversationStatus::parse(status) else {
        return Err(StoreError::Conflict(format!("unknown status {status:?}")));
    };
    Ok(conn.execute(
        "UPDATE conversations SET status = ?2, updated_at = ?3 WHERE id = ?1 AND status <> ?2",
        params![id, status, now_ms()],
    )? > 0)
}

/// A change an agent makes to a conversation from the dashboard.
#[derive(Debug, Clone)]
pub enum Update {
    Read,
    Status(String),
}

/// Applies an agent's change in its own transaction and returns the conversation after
/// it, and whether anything changed. `IMMEDIATE`: the transaction takes the write lock
/// before it reads, so it waits (`busy_timeout`) for a writer in another process (a CLI
/// command). A deferred one read first and then failed at once with "database is
/// locked" when that writer had committed in between (its snapshot was stale).
pub fn update(
    conn: &mut Connection,
    id: i64,
    change: &Update,
) -> Result<(ConversationRecord, bool)> {
    let tx = conn.transaction_with_behavior(rusqlite::TransactionBehavior::Immediate)?;
    if get(&tx, id)?.is_none() {
        return Err(StoreError::NotFound(format!("conversation {id}")));
    }
    let changed = match change {
        Update::Read => mark_read(&tx, id)?,
        Update::Status(status) => set_status(&tx, id, status)?,
    };
    let view = get(&tx, id)?.ok_or_else(|| StoreError::NotFound(format!("conversation {id}")))?;
    tx.commit()?;
    Ok((view, changed))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn updating_a_missing_conversation_is_not_found() {
        let mut conn = crate::store::memory();
        let err = update(&mut conn, 42, &Update::Read).unwrap_err();
        assert!(matches!(err, StoreError::NotFound(_)), "{err}");
        let err = update(&mut conn, 42, &Update::Status("resolved".into())).unwrap_err();
        assert!(matches!(err, StoreError::NotFound(_)), "{err}");
    }

    #[test]
    fn search_input_becomes_a_safe_fts_query() {
        assert_eq!(
            fts_query("order 4521").as_deref(),
            Some("\"order\"* \"4521\"*")
        );
        assert_eq!(
            fts_query("\"a\" OR b").as_deref(),
            Some("\"a\"* \"OR\"* \"b\"*")
        );
        assert_eq!(fts_query("   "), None);
        assert_eq!(like_escape("50%_"), "50\\%\\_");
    }

    /// SQLite's plan for one inbox page, its steps joined by " / ".
    fn query_plan(conn: &Connection, filter: &Filter, cursor: Option<InboxCursor>) -> String {
        let (sql, args) = list_query(filter, cursor, 50).unwrap();
        let refs: Vec<&dyn ToSql> = args.iter().map(|a| a.as_ref()).collect();
        let plan: Vec<String> = conn
            .prepare(&format!("EXPLAIN QUERY PLAN {sql}"))
            .unwrap()
            .query_map(refs.as_slice(), |r| r.get::<_, String>(3))
            .unwrap()
            .collect::<rusqlite::Result<_>>()
            .unwrap();
        plan.join(" / ")
    }

    #[test]
    fn a_search_matches_text_once_for_both_status_ranges() {
        let conn = crate::store::memory();
        let filter = Filter {
            search: Some("parcel".into()),
            ..Filter::default()
        };
        let plan = query_plan(&conn, &filter, None);
        assert!(plan.contains("MERGE (UNION ALL)"), "{plan}");
        assert_eq!(plan.matches("MATERIALIZE search_hits").count(), 1, "{plan}");
        assert_eq!(plan.matches("VIRTUAL TABLE").count(), 1, "{plan}");
    }

    #[test]
    fn every_inbox_filter_reads_an_index_in_order() {
        // Keyset pages must come straight off an index (read backwards): a sort step
        // would make every page cost a pass over all matching conversations.
        let conn = crate::store::memory();
        let filters = [
            (None, None),
            (Some(1), None),
            (None, Some("open")),
            (None, Some("resolved")),
            (Some(1), Some("open")),
            (Some(1), Some("resolved")),
        ];
        for (channel_id, status) in filters {
            let filter = Filter {
                channel_id,
                status: status.map(str::to_string),
                search: None,
            };
            let plan = query_plan(&conn, &filter, Some((5, 5)));
            assert!(!plan.contains("TEMP B-TREE"), "{filter:?}: {plan}");
            // One index range per status asked for, each its own: no status reads
            // past the other's conversations.
            let ranges = [
                "conversations_open ",
                "conversations_resolved ",
                "conversations_by_channel ",
            ]
            .iter()
            .map(|index| plan.matches(&format!("USING INDEX {index}")).count())
            .sum::<usize>();
            assert_eq!(
                ranges,
                if status.is_some() { 1 } else { 2 },
                "{filter:?}: {plan}"
            );
            if status.is_none() {
                assert!(plan.contains("MERGE (UNION ALL)"), "{filter:?}: {plan}");
            }
            if channel_id.is_some() {
                assert!(
                    plan.contains("conversations_by_channel (channel_id=? AND status=?"),
                    "{filter:?}: {plan}"
                );
            }
        }
    }
}
