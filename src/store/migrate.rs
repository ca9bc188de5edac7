//! Schema versioning with `PRAGMA user_version`.
//!
//! A fresh database gets `schema.sql` (the current full schema) in one transaction.
//! An older one runs the numbered migrations after its version, each in its own
//! transaction. A newer one is refused: this binary does not know its shape.

use rusqlite::Connection;

use super::{Result, StoreError};

/// The full current schema.
const SCHEMA: &str = include_str!("../../schema.sql");

/// One schema step.
enum Migration {
    Sql(&'static str),
    /// Takes these objects' definitions from `schema.sql` as they are now: indexes are
    /// dropped and created again; tables get the new text in place, which is only
    /// valid for changes that leave the stored rows as they are (CHECK constraints),
    /// per https://www.sqlite.org/lang_altertable.html#otheralter. A rebuild would
    /// copy every message and journal body for nothing.
    ///
    /// It reads `schema.sql` as it is when it runs, not as it was at that version: a
    /// later migration that changes columns of an adopted table, or replaces an
    /// adopted index, must first freeze that object's text at the adopting version
    /// (as version 3's inbox indexes are). (Skipping that fails loudly:
    /// `migrated_database_matches_fresh_schema` replays every step from version 1.)
    Adopt(&'static [&'static str]),
    /// Like `Adopt` for tables, with their definition as it was at that version (an
    /// adopted table a later migration changed): (name, `CREATE TABLE` text).
    Freeze(&'static [(&'static str, &'static str)]),
    /// Several of the above, in order, in the migration's one transaction.
    Steps(&'static [Migration]),
}

/// Migrations: `MIGRATIONS[i]` turns version `i + 1` into `i + 2`. Append only.
const MIGRATIONS: &[Migration] = &[
    // 1 -> 2: full-text indexing per transaction instead of per row (store::search);
    // every existing message was indexed by the old trigger. A partial index for
    // resolved conversations instead of one over both statuses.
    Migration::Sql(
        "DROP INDEX conversations_by_status;
     CREATE INDEX conversations_resolved ON conversations (last_message_at DESC, id DESC)
         WHERE status = 'resolved';
     DROP TRIGGER messages_fts_insert;
     DROP TRIGGER messages_fts_delete;
     CREATE TABLE search_progress (
         id              INTEGER PRIMARY KEY CHECK (id = 1),
         indexed_through INTEGER NOT NULL
     );
     INSERT INTO search_progress (id, indexed_through)
         SELECT 1, COALESCE(MAX(id), 0) FROM messages;
     CREATE TRIGGER messages_fts_delete AFTER DELETE ON messages
     WHEN old.text IS NOT NULL AND old.id <= (SELECT indexed_through FROM search_progress) BEGIN
         INSERT INTO messages_fts (messages_fts, rowid, text) VALUES ('delete', old.id, old.text);
     END;",
    ),
    // 2 -> 3: the inbox indexes ascending (appends instead of front inserts), and the
    // ingest tables' CHECK lists as OR chains (no temporary b-tree per row).
    // The inbox indexes' text is frozen here: version 4 replaced two of them.
    Migration::Steps(&[
        Migration::Sql(
            "DROP INDEX conversations_by_activity;
         CREATE INDEX conversations_by_activity ON conversations (last_message_at, id);
         DROP INDEX conversations_by_channel;
         CREATE INDEX conversations_by_channel ON conversations (channel_id, last_message_at, id);",
        ),
        Migration::Adopt(&[
            "conversations_resolved",
            "messages",
            "message_receipts",
            "attachments",
            "webhook_journal",
        ]),
        Migration::Freeze(&[("jobs", JOBS_V3)]),
    ]),
    // 3 -> 4: the job queue's due index per kind (downloads are claimed first), and the
    // inbox indexes per status (the open inbox no longer reads past every resolved
    // conversation).
    Migration::Sql(
        "DROP INDEX jobs_due;
     CREATE INDEX jobs_due ON jobs (state, kind, run_at);
     DROP INDEX conversations_by_activity;
     DROP INDEX conversations_by_channel;
     CREATE INDEX conversations_open ON conversations (last_message_at, id)
         WHERE status = 'open';
     CREATE INDEX conversations_by_channel ON conversations (channel_id, status, last_message_at, id);",
    ),
    // 4 -> 5: failed jobs carry a reason code; the ones failed before it get the code
    // their message was labelled with until then. Adopting `jobs` afterwards gives it
    // schema.sql's text (ALTER TABLE writes its own).
    Migration::Steps(&[Migration::Sql(
        "ALTER TABLE jobs ADD COLUMN failure_reason TEXT;
     UPDATE jobs SET failure_reason = CASE
         WHEN lower(last_error) LIKE '%access token rejected%' THEN 'token_invalid'
         WHEN lower(last_error) LIKE '%gave up after%' THEN 'retries_exhausted'
         WHEN lower(last_error) LIKE '%sha256 mismatch%' THEN 'sha256_mismatch'
         WHEN lower(last_error) LIKE '%larger than%' THEN 'too_large'
         WHEN lower(last_error) LIKE '%refusing%' THEN 'blocked_host'
         WHEN lower(last_error) LIKE '%no profile%' THEN 'no_profile'
         WHEN lower(last_error) LIKE '%no access token%' THEN 'no_token'
         ELSE 'other' END
     WHERE state = 'failed';",
    ), Migration::Adopt(&["jobs"])]),
];

/// `jobs` as schema.sql defined it at version 3 (frozen: version 5 added a column).
const JOBS_V3: &str = "CREATE TABLE jobs (
    id           INTEGER PRIMARY KEY,
    kind         TEXT    NOT NULL CHECK (kind IN ('fetch_profile', 'download_attachment')),
    subject_id   INTEGER NOT NULL,  -- contact id / attachment id
    state        TEXT    NOT NULL DEFAULT 'queued'
                 CHECK (state = 'queued' OR state = 'running' OR state = 'done' OR state = 'failed'),
    attempts     INTEGER NOT NULL DEFAULT 0,
    run_at       INTEGER NOT NULL,
    locked_until INTEGER,
    last_error   TEXT,
    created_at   INTEGER NOT NULL,
    updated_at   INTEGER NOT NULL
)";

/// The schema version this binary writes.
pub const SCHEMA_VERSION: i64 = 1 + MIGRATIONS.len() as i64;

/// Brings a database to [`SCHEMA_VERSION`], or refuses one that is newer.
pub fn run(conn: &mut Connection) -> Result<()> {
    let tx = conn.transaction_with_behavior(rusqlite::TransactionBehavior::Immediate)?;
    let version: i64 = tx.query_row("PRAGMA user_version", [], |r| r.get(0))?;
    if version > SCHEMA_VERSION {
        return Err(StoreError::TooNew {
            found: version,
            supported: SCHEMA_VERSION,
        });
    }
    if version == 0 {
        tx.execute_batch(SCHEMA)?;
        tx.pragma_update(None, "user_version", SCHEMA_VERSION)?;
        tx.commit()?;
        return Ok(());
    }
    tx.commit()?;
    for (i, step) in MIGRATIONS.iter().enumerate() {
        let from = i as i64 + 1;
        if version > from {
            continue;
        }
        let tx = conn.transaction_with_behavior(rusqlite::TransactionBehavior::Immediate)?;
        apply(&tx, step)?;
        tx.pragma_update(None, "user_version", from + 1)?;
        tx.commit()?;
    }
    Ok(())
}

fn apply(conn: &Connection, step: &Migration) -> Result<()> {
    match step {
        Migration::Sql(sql) => conn.execute_batch(sql)?,
        Migration::Adopt(names) => adopt(conn, names)?,
        Migration::Freeze(tables) => set_table_text(conn, tables)?,
        Migration::Steps(steps) => {
            for step in *steps {
                apply(conn, step)?;
            }
        }
    }
    Ok(())
}

/// See [`Migration::Adopt`].
fn adopt(conn: &Connection, names: &[&str]) -> Result<()> {
    let current = Connection::open_in_memory()?;
    current.execute_batch(SCHEMA)?;
    let mut tables = Vec::new();
    for name in names {
        let (kind, sql): (String, String) = current.query_row(
            "SELECT type, sql FROM sqlite_schema WHERE name = ?1",
            [name],
            |r| Ok((r.get(0)?, r.get(1)?)),
        )?;
        if kind == "table" {
            tables.push((*name, sql));
        } else {
            conn.execute_batch(&format!("DROP INDEX IF EXISTS {name}; {sql};"))?;
        }
    }
    let tables: Vec<(&str, &str)> = tables.iter().map(|(n, s)| (*n, s.as_str())).collect();
    set_table_text(conn, &tables)
}

/// Replaces tables' stored definitions in place (see [`Migration::Adopt`]).
fn set_table_text(conn: &Connection, tables: &[(&str, &str)]) -> Result<()> {
    if tables.is_empty() {
        return Ok(());
    }
    let version: i64 = conn.query_row("PRAGMA schema_version", [], |r| r.get(0))?;
    conn.pragma_update(None, "writable_schema", true)?;
    let updated = (|| -> Result<()> {
        for (name, sql) in tables {
            conn.execute(
                "UPDATE sqlite_schema SET sql = ?1 WHERE type = 'table' AND name = ?2",
                [sql, name],
            )?;
        }
        // Makes every connection re-read the schema.
        conn.pragma_update(None, "schema_version", version + 1)?;
        Ok(())
    })();
    conn.pragma_update(None, "writable_schema", false)?;
    updated
}

/// Lists the schema objects as `type name sql`, normalised for comparison.
pub fn describe(conn: &Connection) -> Result<Vec<String>> {
    let mut stmt = conn.prepare(
        "SELECT type || ' ' || name || ' ' || COALESCE(sql, '') FROM sqlite_schema
         WHERE name NOT LIKE 'sqlite_%' ORDER BY type, name",
    )?;
    let rows = stmt.query_map([], |r| r.get::<_, String>(0))?;
    let mut out = Vec::new();
    for row in rows {
        out.push(row?.split_whitespace().collect::<Vec<_>>().join(" "));
    }
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    /// An empty database as version 1 created it (`schema_v1.sql` is frozen).
    fn version_1() -> Connection {
        let conn = Connection::open_in_memory().unwrap();
        conn.execute_batch(include_str!("schema_v1.sql")).unwrap();
        conn.pragma_update(None, "user_version", 1).unwrap();
        conn
    }

    #[test]
    fn jobs_failed_before_version_5_get_the_code_their_text_was_labelled_with() {
        let mut conn = version_1();
        conn.execute_batch(
            "INSERT INTO jobs (kind, subject_id, state, run_at, last_error, created_at, updated_at) VALUES
                 ('fetch_profile', 1, 'failed', 0, 'access token rejected (code 190): expired', 0, 0),
                 ('download_attachment', 2, 'failed', 0, 'gave up after 5 attempts: HTTP 500', 0, 0),
                 ('download_attachment', 3, 'failed', 0, 'Graph error 100: odd', 0, 0),
                 ('download_attachment', 4, 'queued', 0, 'HTTP 500', 0, 0);",
        )
        .unwrap();
        run(&mut conn).unwrap();
        let codes: Vec<Option<String>> = conn
            .prepare("SELECT failure_reason FROM jobs ORDER BY subject_id")
            .unwrap()
            .query_map([], |r| r.get(0))
            .unwrap()
            .collect::<rusqlite::Result<_>>()
            .unwrap();
        let expect = [
            Some("token_invalid"),
            Some("retries_exhausted"),
            Some("other"),
            None,
        ];
        assert_eq!(codes, expect.map(|c| c.map(str::to_string)));
    }

    #[test]
    fn fresh_database_gets_current_version() {
        let mut conn = Connection::open_in_memory().unwrap();
        run(&mut conn).unwrap();
        let v: i64 = conn
            .query_row("PRAGMA user_version", [], |r| r.get(0))
            .unwrap();
        assert_eq!(v, SCHEMA_VERSION);
        assert!(
            describe(&conn)
                .unwrap()
                .iter()
                .any(|s| s.contains("messages"))
        );
    }

    #[test]
    fn running_twice_changes_nothing() {
        let mut conn = Connection::open_in_memory().unwrap();
        run(&mut conn).unwrap();
        let before = describe(&conn).unwrap();
        run(&mut conn).unwrap();
        assert_eq!(before, describe(&conn).unwrap());
    }

    #[test]
    fn newer_database_is_refused() {
        let mut conn = Connection::open_in_memory().unwrap();
        conn.pragma_update(None, "user_version", SCHEMA_VERSION + 1)
            .unwrap();
        let err = run(&mut conn).unwrap_err();
        assert!(matches!(err, StoreError::TooNew { .. }), "{err}");
    }

    #[test]
    fn migrated_database_matches_fresh_schema() {
        // Every migration chain must end where schema.sql starts a fresh database.
        // Version 1 is the baseline; schema_v1.sql is schema.sql as it was then.
        let mut fresh = Connection::open_in_memory().unwrap();
        run(&mut fresh).unwrap();
        let mut old = version_1();
        run(&mut old).unwrap();
        assert_eq!(describe(&fresh).unwrap(), describe(&old).unwrap());
    }

    #[test]
    fn version_1_messages_stay_searchable_and_new_ones_are_indexed() {
        let mut conn = version_1();
        conn.execute_batch(
            "INSERT INTO channels VALUES (1, 'facebook', 'p', 'P', '{}', 'unknown', NULL, 0, 0);
             INSERT INTO contacts (id, channel_id, external_id, created_at, updated_at) VALUES (1, 1, 'c', 0, 0);
             INSERT INTO conversations (id, channel_id, contact_id, created_at, updated_at) VALUES (1, 1, 1, 0, 0);
             INSERT INTO messages (id, channel_id, conversation_id, external_id, direction, kind, text, sent_at, created_at)
                 VALUES (7, 1, 1, 'm7', 'inbound', 'text', 'old pelican', 0, 0);",
        )
        .unwrap();
        run(&mut conn).unwrap();
        let through: i64 = conn
            .query_row("SELECT indexed_through FROM search_progress", [], |r| {
                r.get(0)
            })
            .unwrap();
        assert_eq!(through, 7, "the old trigger indexed every existing message");
        conn.execute(
            "INSERT INTO messages (id, channel_id, conversation_id, external_id, direction, kind, text, sent_at, created_at)
             VALUES (8, 1, 1, 'm8', 'inbound', 'text', 'new pelican', 0, 0)",
            [],
        )
        .unwrap();
        assert_eq!(crate::store::search::index_pending(&conn).unwrap(), 1);
        let hits: Vec<i64> = conn
            .prepare(
                "SELECT rowid FROM messages_fts WHERE messages_fts MATCH 'pelican' ORDER BY rowid",
            )
            .unwrap()
            .query_map([], |r| r.get(0))
            .unwrap()
            .collect::<rusqlite::Result<_>>()
            .unwrap();
        assert_eq!(hits, vec![7, 8]);
        // Deleting indexed rows keeps the index consistent.
        conn.execute("DELETE FROM messages", []).unwrap();
        conn.execute(
            "INSERT INTO messages_fts (messages_fts) VALUES ('integrity-check')",
            [],
        )
        .unwrap();
    }

    #[test]
    fn adopted_tables_keep_their_rows_and_still_check_values() {
        let mut conn = version_1();
        conn.execute_batch(
            "INSERT INTO channels VALUES (1, 'facebook', 'p', 'P', '{}', 'unknown', NULL, 0, 0);
             INSERT INTO contacts (id, channel_id, external_id, created_at, updated_at) VALUES (1, 1, 'c', 0, 0);
             INSERT INTO conversations (id, channel_id, contact_id, last_message_at, created_at, updated_at)
                 VALUES (1, 1, 1, 9, 0, 0);
             INSERT INTO messages (id, channel_id, conversation_id, external_id, direction, kind, text, sent_at, created_at)
                 VALUES (7, 1, 1, 'm7', 'inbound', 'image', 'kept', 9, 0);
             INSERT INTO webhook_journal (provider, received_at, body, outcome) VALUES ('facebook', 0, x'7b7d', 'ignored');",
        )
        .unwrap();
        run(&mut conn).unwrap();
        let ok: String = conn
            .query_row("PRAGMA integrity_check", [], |r| r.get(0))
            .unwrap();
        assert_eq!(ok, "ok");
        let kind: String = conn
            .query_row("SELECT kind FROM messages WHERE id = 7", [], |r| r.get(0))
            .unwrap();
        assert_eq!(kind, "image");
        let bad = conn.execute(
            "INSERT INTO messages (channel_id, conversation_id, external_id, direction, kind, sent_at, created_at)
             VALUES (1, 1, 'm8', 'inbound', 'hologram', 0, 0)",
            [],
        );
        assert!(bad.unwrap_err().to_string().contains("CHECK"));
        let bad = conn.execute("UPDATE webhook_journal SET outcome = 'lost'", []);
        assert!(bad.unwrap_err().to_string().contains("CHECK"));
        let newest: i64 = conn
            .query_row(
                "SELECT id FROM conversations INDEXED BY conversations_open
                 WHERE status = 'open' AND last_message_at > 0 ORDER BY last_message_at DESC, id DESC LIMIT 1",
                [],
                |r| r.get(0),
            )
            .unwrap();
        assert_eq!(newest, 1);
    }
}
