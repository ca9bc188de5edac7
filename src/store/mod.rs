//! SQLite storage: the pool, pragmas, migrations and one file per entity.
//!
//! Store functions are plain synchronous functions over `&Connection`; the only async
//! boundary is [`Db::call`], which runs a closure on tokio's blocking pool.

pub mod admin;
pub mod apply;
pub mod attachment;
pub mod backup;
pub mod channel;
pub mod contact;
pub mod conversation;
pub mod deletion;
pub mod doctor;
pub mod edit;
pub mod job;
pub mod journal;
pub mod message;
mod migrate;
pub mod open;
pub mod reaction;
pub mod receipt;
pub mod replay;
pub mod search;
pub mod session;
pub mod settings;
mod sql_types;

use std::path::{Path, PathBuf};
use std::time::Duration;

use r2d2_sqlite::SqliteConnectionManager;
use rusqlite::Connection;

pub use migrate::{SCHEMA_VERSION, describe as describe_schema};

/// Errors from the storage layer.
#[derive(Debug, thiserror::Error)]
pub enum StoreError {
    #[error("database error: {0}")]
    Sqlite(#[from] rusqlite::Error),
    #[error("database pool error: {0}")]
    Pool(#[from] r2d2::Error),
    #[error(
        "database schema version {found} is newer than this binary supports ({supported}); \
         upgrade helpstack or restore a backup made by this version"
    )]
    TooNew { found: i64, supported: i64 },
    #[error("cannot prepare {path}: {source}")]
    Io {
        path: PathBuf,
        source: std::io::Error,
    },
    #[error("{0} not found")]
    NotFound(String),
    #[error("{0}")]
    Conflict(String),
    #[error("background task failed: {0}")]
    Join(String),
}

/// Result alias for store functions.
pub type Result<T, E = StoreError> = std::result::Result<T, E>;

/// A pool of connections to one database file.
#[derive(Clone)]
pub struct Db {
    pool: r2d2::Pool<SqliteConnectionManager>,
    path: PathBuf,
    gate: WriteGate,
    /// One permit per pooled connection: async callers wait here, not on a blocking
    /// thread, so concurrent requests never hold more blocking threads (each with its
    /// own heap under mimalloc) than there are connections.
    permits: std::sync::Arc<tokio::sync::Semaphore>,
}

/// Connections in the pool.
const POOL_SIZE: u32 = 8;
/// Page cache of each pooled connection, in KiB as SQLite takes it (negative).
const POOL_CACHE_KIB: i64 = -512;

/// Serialises this process's writers in-process. SQLite's busy handler sleeps and
/// polls, so under a steady stream of ingest commits another writer (a job recording
/// its result, a login) rarely hits the gap between two commits and times out; waiting
/// on a mutex instead wakes it the moment the ingest writer lets go.
pub type WriteGate = std::sync::Arc<std::sync::Mutex<()>>;

/// Sets the pragmas every connection needs.
///
/// `synchronous=FULL`: a webhook is acknowledged only after its commit, and the commit
/// must survive a power cut, not just a crashed process. With WAL and group commit the
/// cost is one fsync per batch of webhooks, not one per webhook.
pub fn configure(conn: &Connection) -> rusqlite::Result<()> {
    conn.busy_timeout(Duration::from_secs(15))?;
    // The ingest path alone uses ~30 distinct statements; rusqlite's default cache of 16
    // would re-parse SQL on every webhook.
    conn.set_prepared_statement_cache_capacity(128);
    conn.execute_batch(
        "PRAGMA journal_mode = WAL;
         PRAGMA synchronous = FULL;
         PRAGMA foreign_keys = ON;
         PRAGMA temp_store = MEMORY;
         PRAGMA journal_size_limit = 67108864;",
    )?;
    Ok(())
}

impl Db {
    /// Opens (creating if needed) the database at `path` and brings its schema current.
    pub fn open(path: &Path) -> Result<Self> {
        if let Some(dir) = path.parent().filter(|d| !d.as_os_str().is_empty()) {
            std::fs::create_dir_all(dir).map_err(|source| StoreError::Io {
                path: dir.to_path_buf(),
                source,
            })?;
        }
        let mut conn = Connection::open(path)?;
        configure(&conn)?;
        migrate::run(&mut conn)?;
        drop(conn);
        let manager = SqliteConnectionManager::file(path).with_init(|c| {
            configure(c)?;
            // Pooled connections serve reads with a small page cache: the OS page cache
            // keeps the file anyway (a miss costs a `pread`), and eight default-sized
            // caches would be a large share of the memory budget.
            c.pragma_update(None, "cache_size", POOL_CACHE_KIB)
        });
        let pool = r2d2::Pool::builder()
            .max_size(POOL_SIZE)
            .connection_timeout(Duration::from_secs(10))
            .build(manager)?;
        Ok(Self {
            pool,
            path: path.to_path_buf(),
            gate: WriteGate::default(),
            permits: std::sync::Arc::new(tokio::sync::Semaphore::new(POOL_SIZE as usize)),
        })
    }

    /// Returns the database file path.
    pub fn path(&self) -> &Path {
        &self.path
    }

    /// Takes a connection from the pool, for synchronous callers (CLI, writer thread).
    pub fn conn(&self) -> Result<r2d2::PooledConnection<SqliteConnectionManager>> {
        Ok(self.pool.get()?)
    }

    /// Opens a dedicated connection outside the pool (the ingest writer owns one).
    pub fn dedicated(&self) -> Result<Connection> {
        let conn = Connection::open(&self.path)?;
        configure(&conn)?;
        Ok(conn)
    }

    /// The gate every writer of this process takes (the ingest writer per group).
    pub fn write_gate(&self) -> WriteGate {
        self.gate.clone()
    }

    /// Like [`Db::call`], for closures that write: runs them behind the write gate.
    pub async fn write<T, F>(&self, f: F) -> Result<T>
    where
        T: Send + 'static,
        F: FnOnce(&mut Connection) -> Result<T> + Send + 'static,
    {
        let gate = self.gate.clone();
        self.call(move |conn| {
            let _writing = gate.lock().unwrap_or_else(|e| e.into_inner());
            f(conn)
        })
        .await
    }

    /// Like [`Db::write`], for writes whose loss in a power cut only repeats work: a
    /// background job's lease and its result. They commit with `synchronous=NORMAL`, so
    /// they hold the write gate for their own writes and not for an fsync as well: with
    /// a fast Graph API the job pool committed hundreds of times a second, and each of
    /// those fsyncs kept the ingest writer waiting at the gate (ingest fell by half).
    ///
    /// SQLite keeps the WAL consistent in NORMAL mode (it syncs before a checkpoint and
    /// when the WAL restarts). Such a commit becomes durable with the next synced commit
    /// (any webhook's) or checkpoint (the maintenance task's, every second). Until then a
    /// power cut can roll it back: the job is then leased or queued again and runs once
    /// more. A killed process loses nothing (the WAL is written before this returns).
    pub async fn write_unsynced<T, F>(&self, f: F) -> Result<T>
    where
        T: Send + 'static,
        F: FnOnce(&mut Connection) -> Result<T> + Send + 'static,
    {
        self.write(move |conn| {
            set_synchronous(conn, false)?;
            // Restore FULL whatever happens: the connection goes back to the pool, and
            // the next write on it (a login, a setting) must be synced again.
            let result = std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| f(conn)));
            let restored = set_synchronous(conn, true);
            match result {
                Ok(result) => restored.and(result),
                Err(panic) => std::panic::resume_unwind(panic),
            }
        })
        .await
    }

    /// Runs a store function on the blocking pool; the one async bridge of the store.
    pub async fn call<T, F>(&self, f: F) -> Result<T>
    where
        T: Send + 'static,
        F: FnOnce(&mut Connection) -> Result<T> + Send + 'static,
    {
        let pool = self.pool.clone();
        let permit = self
            .permits
            .clone()
            .acquire_owned()
            .await
            .map_err(|e| StoreError::Join(e.to_string()))?;
        tokio::task::spawn_blocking(move || {
            // Released when the work is done, even if the caller stopped waiting.
            let _permit = permit;
            let mut conn = pool.get()?;
            f(&mut conn)
        })
        .await
        .map_err(|e| StoreError::Join(e.to_string()))?
    }
}

/// Switches a connection between `synchronous=FULL` (every connection's setting, see
/// [`configure`]) and `NORMAL` (commits that do not wait for the disk).
fn set_synchronous(conn: &Connection, full: bool) -> Result<()> {
    let sql = if full {
        "PRAGMA synchronous = FULL"
    } else {
        "PRAGMA synchronous = NORMAL"
    };
    // Not a cached statement: SQLite's documentation warns that a pragma may take
    // effect when its statement is compiled, so a cached one run again might not.
    conn.execute_batch(sql)?;
    Ok(())
}

/// Copies committed WAL frames back into the database without blocking writers or
/// readers. The maintenance task runs it every second; under load the ingest writer
/// checkpoints through SQLite's autocheckpoint instead.
pub fn checkpoint(conn: &Connection) -> Result<()> {
    conn.query_row("PRAGMA wal_checkpoint(PASSIVE)", [], |_| Ok(()))?;
    Ok(())
}

/// Runs `f` in one IMMEDIATE transaction and commits it when `f` succeeds. The write
/// lock is taken up front, so a writer in another process (a CLI command) makes this
/// wait on `busy_timeout` instead of failing halfway.
pub fn immediate<T>(
    conn: &mut Connection,
    f: impl FnOnce(&mut rusqlite::Transaction<'_>) -> Result<T>,
) -> Result<T> {
    let mut tx = conn.transaction_with_behavior(rusqlite::TransactionBehavior::Immediate)?;
    let out = f(&mut tx)?;
    tx.commit()?;
    Ok(out)
}

/// Whether the database answers a trivial query (`/healthz`, the watchdog).
pub fn ping(conn: &Connection) -> Result<()> {
    conn.query_row("SELECT 1", [], |r| r.get::<_, i64>(0))?;
    Ok(())
}

/// Current time in epoch milliseconds.
pub fn now_ms() -> i64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| d.as_millis() as i64)
        .unwrap_or(0)
}

/// Opens an in-memory database with the current schema, for unit tests.
#[cfg(test)]
pub fn memory() -> Connection {
    let mut conn = Connection::open_in_memory().unwrap();
    conn.execute_batch("PRAGMA foreign_keys = ON;").unwrap();
    migrate::run(&mut conn).unwrap();
    conn
}

#[cfg(test)]
mod tests {
    use super::*;

    fn synchronous_levels(db: &Db) -> Vec<i64> {
        // Hold every pooled connection at once, so whichever one a write used is seen.
        let conns: Vec<_> = (0..POOL_SIZE).map(|_| db.conn().unwrap()).collect();
        conns
            .iter()
            .map(|c| c.query_row("PRAGMA synchronous", [], |r| r.get(0)).unwrap())
            .collect()
    }

    #[tokio::test]
    async fn unsynced_writes_commit_and_leave_every_connection_synced() {
        let dir = tempfile::tempdir().unwrap();
        let db = Db::open(&dir.path().join("t.db")).unwrap();
        const FULL: i64 = 2;
        const NORMAL: i64 = 1;
        assert_eq!(synchronous_levels(&db), vec![FULL; POOL_SIZE as usize]);

        // Every time, on every connection (the pool hands them out again and again).
        for i in 0..3 * POOL_SIZE {
            let seen = db
                .write_unsynced(move |conn| {
                    conn.execute(
                        "INSERT OR REPLACE INTO settings (key, value) VALUES ('k', ?1)",
                        [format!("v{i}")],
                    )?;
                    Ok(conn.query_row("PRAGMA synchronous", [], |r| r.get::<_, i64>(0))?)
                })
                .await
                .unwrap();
            assert_eq!(seen, NORMAL, "write {i} does not wait for the disk");
            assert_eq!(synchronous_levels(&db), vec![FULL; POOL_SIZE as usize]);
        }
        let value: String = db
            .call(|conn| {
                Ok(
                    conn.query_row("SELECT value FROM settings WHERE key = 'k'", [], |r| {
                        r.get(0)
                    })?,
                )
            })
            .await
            .unwrap();
        assert_eq!(value, format!("v{}", 3 * POOL_SIZE - 1));

        // A failing and a panicking write put the connection back synced too.
        let failed = db
            .write_unsynced(|conn| -> Result<()> {
                conn.execute("INSERT INTO no_such_table VALUES (1)", [])?;
                Ok(())
            })
            .await;
        assert!(failed.is_err());
        let panicked = db
            .write_unsynced(|_conn| -> Result<()> { panic!("a bug in a job's write") })
            .await;
        assert!(matches!(panicked, Err(StoreError::Join(_))), "{panicked:?}");
        assert_eq!(synchronous_levels(&db), vec![FULL; POOL_SIZE as usize]);
    }
}
