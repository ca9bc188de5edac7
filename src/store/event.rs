//! Live events: numbered changes for the dashboard, kept so a reconnecting page can
//! catch up (`/api/events?after=SEQ`), across restarts too.

use rusqlite::{Connection, params};
use serde::Serialize;
use serde_json::Value;

use super::{Result, now_ms};

/// A change published to the dashboard. Serializes as `{"seq", "type", ...data}`.
#[derive(Debug, Clone, PartialEq)]
pub struct LiveEvent {
    pub seq: i64,
    pub kind: String,
    pub data: Value,
}

impl Serialize for LiveEvent {
    fn serialize<S: serde::Serializer>(&self, s: S) -> std::result::Result<S::Ok, S::Error> {
        let mut obj = serde_json::Map::new();
        obj.insert("seq".into(), Value::from(self.seq));
        obj.insert("type".into(), Value::from(self.kind.clone()));
        if let Value::Object(map) = &self.data {
            for (k, v) in map {
                obj.insert(k.clone(), v.clone());
            }
        }
        obj.serialize(s)
    }
}

/// Appends an event and returns it with its sequence number.
pub fn append(conn: &Connection, kind: &str, data: Value) -> Result<LiveEvent> {
    conn.prepare_cached("INSERT INTO live_events (type, data, created_at) VALUES (?1, ?2, ?3)")?
        .execute(params![kind, data.to_string(), now_ms()])?;
    Ok(LiveEvent {
        seq: conn.last_insert_rowid(),
        kind: kind.to_string(),
        data,
    })
}

/// Returns up to `limit` events after `seq`, oldest first.
pub fn after(conn: &Connection, seq: i64, limit: i64) -> Result<Vec<LiveEvent>> {
    let mut stmt = conn.prepare_cached(
        "SELECT seq, type, data FROM live_events WHERE seq > ?1 ORDER BY seq LIMIT ?2",
    )?;
    let rows = stmt.query_map(params![seq, limit], |r| {
        let data: String = r.get(2)?;
        Ok(LiveEvent {
            seq: r.get(0)?,
            kind: r.get(1)?,
            data: serde_json::from_str(&data).unwrap_or(Value::Null),
        })
    })?;
    Ok(rows.collect::<rusqlite::Result<_>>()?)
}

/// Returns the oldest kept and the newest sequence numbers (0 when empty).
pub fn bounds(conn: &Connection) -> Result<(i64, i64)> {
    Ok(conn.query_row(
        "SELECT COALESCE(MIN(seq), 0), COALESCE(MAX(seq), 0) FROM live_events",
        [],
        |r| Ok((r.get(0)?, r.get(1)?)),
    )?)
}

/// Deletes events that are both older than `keep_ms` and beyond the newest `keep_n`.
pub fn prune(conn: &Connection, keep_ms: i64, keep_n: i64) -> Result<usize> {
    let (_, newest) = bounds(conn)?;
    Ok(conn.execute(
        "DELETE FROM live_events WHERE created_at < ?1 AND seq <= ?2",
        params![now_ms() - keep_ms, newest - keep_n],
    )?)
}
