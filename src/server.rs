//! `serve`: prepare the data directory, bind, print the bound address, run until
//! SIGTERM/SIGINT, then finish in-flight requests and drain the writer.

use std::sync::Arc;
use std::time::Duration;

use anyhow::Context;

use crate::config::Config;
use crate::ingest::Ingest;
use crate::live::Bus;
use crate::state::{AppState, WebhookSecrets};
use crate::store::{self, Db, admin, settings};

/// Opens the database in the data directory, creating both on first run: owner-only
/// files (modes an older version left readable are tightened), the token key
/// installed, plaintext tokens of older versions sealed.
pub fn open_database(config: &Config) -> anyhow::Result<Db> {
    std::fs::create_dir_all(&config.data_dir).with_context(|| {
        format!(
            "while creating data directory {}",
            config.data_dir.display()
        )
    })?;
    let path = config.database_path();
    for p in crate::private_files::data_paths(&config.data_dir, &path) {
        if let Some((old, new)) = crate::private_files::tighten(&p)
            .with_context(|| format!("while restricting the mode of {}", p.display()))?
        {
            tracing::warn!(path = %p.display(), "mode {old:04o} was readable by others; now {new:04o}");
        }
    }
    let origin = crate::seal::install(
        config.secret_key.as_ref().map(|k| k.expose()),
        config.file.as_deref(),
        &config.data_dir,
    )?;
    if let crate::seal::Origin::File {
        path: key,
        created: true,
    } = &origin
    {
        tracing::info!(key_file = %key.display(), "generated the access-token key (no secret_key configured); back it up with the config");
    }
    let db =
        Db::open(&path).with_context(|| format!("while opening database {}", path.display()))?;
    let sealed = store::channel::seal_plaintext(&*db.conn()?)?;
    if sealed > 0 {
        tracing::info!(channels = sealed, "sealed plaintext access tokens");
    }
    if let Some(uid) = crate::ownership::hand_over_database_files(&config.data_dir, &path) {
        tracing::warn!(
            uid,
            "running as root: database files were handed to the data directory's owner so the \
             service can still open them; prefer `sudo -u helpstack helpstack ...`"
        );
    }
    Ok(db)
}

/// Fills in what a fresh install lacks: a verify token (if none is configured) and an
/// admin account. Generated values are printed once, here, and never again.
pub fn first_run_setup(config: &Config, db: &Db) -> anyhow::Result<WebhookSecrets> {
    let conn = db.conn()?;
    if config.verify_tokens.facebook.is_none() {
        let (token, created) =
            settings::get_or_create(&conn, settings::GENERATED_VERIFY_TOKEN, || {
                crate::secrets::random_token(16)
            })?;
        if created {
            announce(&format!(
                "Generated webhook verify token (enter it in the Meta App dashboard):\n    {token}"
            ));
        } else {
            tracing::info!(
                "using the verify token generated on first start (stored in the database)"
            );
        }
    }
    if admin::count(&conn)? == 0 {
        let password = crate::secrets::random_password();
        admin::create(&conn, "admin", &crate::auth::hash_password(&password))?;
        announce_login(config, &password)?;
    }
    Ok(webhook_secrets(config, &conn)?)
}

/// Builds the secrets the webhook edge checks from the configuration and what the
/// database holds (the generated verify token, a rotated-out app secret).
pub fn webhook_secrets(
    config: &Config,
    conn: &rusqlite::Connection,
) -> store::Result<WebhookSecrets> {
    let mut verify = config.verify_tokens.clone();
    if verify.facebook.is_none() {
        verify.facebook = settings::get(conn, settings::GENERATED_VERIFY_TOKEN)?
            .and_then(crate::secrets::Secret::new);
    }
    verify.instagram = verify.instagram.or_else(|| verify.facebook.clone());
    verify.whatsapp = verify.whatsapp.or_else(|| verify.facebook.clone());
    let previous = match (
        settings::get(conn, settings::PREVIOUS_APP_SECRET)?.and_then(crate::secrets::Secret::new),
        settings::get(conn, settings::PREVIOUS_APP_SECRET_UNTIL)?
            .and_then(|v| v.parse::<i64>().ok()),
    ) {
        (Some(s), Some(until)) if Some(&s) != config.app_secret.as_ref() => Some((s, until)),
        _ => None,
    };
    Ok(WebhookSecrets {
        app: config.app_secret.iter().cloned().collect(),
        previous,
        verify,
    })
}

use crate::data_dir::INITIAL_LOGIN_FILE;

/// Shows the generated admin login: on a terminal, printed; otherwise (systemd, whose
/// journal keeps stdout for anyone in the adm group) written to an owner-only file in
/// the data directory, and only its path is printed.
fn announce_login(config: &Config, password: &str) -> anyhow::Result<()> {
    use std::io::IsTerminal;
    if std::io::stdout().is_terminal() {
        announce(&format!(
            "Created dashboard login (shown only this once):\n    user:     admin\n    password: {password}"
        ));
        return Ok(());
    }
    let path = config.data_dir.join(INITIAL_LOGIN_FILE);
    let _ = std::fs::remove_file(&path);
    crate::private_files::create_new(
        &path,
        format!("user: admin\npassword: {password}\n").as_bytes(),
    )
    .with_context(|| format!("while writing {}", path.display()))?;
    announce(&format!(
        "Created dashboard login \"admin\"; its password is in {} (owner-only).\n    \
         Read it, log in, change it, then delete the file.",
        path.display()
    ));
    Ok(())
}

fn announce(text: &str) {
    let line = "=".repeat(72);
    println!("{line}\n{text}\n{line}");
}

/// Runs the server until a shutdown signal.
pub async fn run(config: Config, reload: Reload) -> anyhow::Result<()> {
    let _lock = lock_data_dir(&config.data_dir)?;
    let db = open_database(&config)?;
    tracing::info!(
        config = %config.file.as_ref().map(|p| p.display().to_string()).unwrap_or_else(|| "(none: defaults and environment)".into()),
        data_dir = %config.data_dir.display(),
        database = %db.path().display(),
        "starting helpstack {}", env!("CARGO_PKG_VERSION")
    );
    let secrets = first_run_setup(&config, &db)?;
    if secrets.app.is_empty() {
        tracing::warn!(
            "NO APP SECRET CONFIGURED: every webhook POST will be rejected with 401 until \
             FACEBOOK_APP_SECRET (or app_secret in the config file) is set"
        );
    }
    let bus = Bus::starting_now();
    let opts = store::apply::Options {
        profile_max_age_ms: config.profile_max_age_days as i64 * 24 * 3600 * 1000,
    };
    let (ingest, writer) = Ingest::start(&db, bus.clone(), opts)?;
    let workers = start_jobs(&config, &db, &bus)?;
    let config = Arc::new(config);
    let state = Arc::new(AppState::new(
        db.clone(),
        config.clone(),
        ingest,
        bus,
        secrets,
    ));

    use tokio::signal::unix::{SignalKind, signal};
    let term = signal(SignalKind::terminate()).context("while installing the SIGTERM handler")?;
    let int = signal(SignalKind::interrupt()).context("while installing the SIGINT handler")?;
    let listener = tokio::net::TcpListener::bind(&config.listen)
        .await
        .with_context(|| format!("while binding {}", config.listen))?;
    let addr = listener.local_addr()?;
    // In the journal every line must be JSON; the event below carries the address there.
    if !crate::systemd::stdout_is_journal() {
        println!("listening on http://{addr}");
    }
    tracing::info!(%addr, "listening");
    // Ready only now: the database is open and migrated, the listener bound.
    crate::systemd::notify("READY=1");
    let watchdog = crate::systemd::watchdog_interval().map(|every| {
        let progress = state.ingest.progress.clone();
        tokio::spawn(watchdog(db.clone(), progress, every))
    });

    let maintenance = tokio::spawn(maintenance(db.clone(), config.journal_retention_days));
    let indexer = tokio::spawn(index_search(db.clone()));
    let watcher = tokio::spawn(watch_config(state.clone(), reload));
    let app = crate::app(state.clone());
    crate::http::connections::serve(listener, app, &config.limits, shutdown_signal(term, int))
        .await?;
    crate::systemd::notify("STOPPING=1");
    maintenance.abort();
    indexer.abort();
    watcher.abort();
    if let Some(w) = watchdog {
        w.abort();
    }
    for w in workers {
        w.abort();
    }
    tracing::info!("shutting down: draining the writer");
    drop(state);
    let _ = tokio::task::spawn_blocking(move || writer.join()).await;
    tracing::info!("stopped");
    Ok(())
}

/// Takes the data directory's `serve.lock` for the life of the process: two servers on
/// one database would both run jobs and fight over the write lock. CLI commands do not
/// take it (they work beside a running server); the kernel drops it if we crash.
fn lock_data_dir(dir: &std::path::Path) -> anyhow::Result<std::fs::File> {
    std::fs::create_dir_all(dir)
        .with_context(|| format!("while creating data directory {}", dir.display()))?;
    let path = dir.join(crate::data_dir::SERVE_LOCK);
    let file = std::fs::OpenOptions::new()
        .create(true)
        .truncate(false)
        .write(true)
        .open(&path)
        .with_context(|| format!("while opening {}", path.display()))?;
    match file.try_lock() {
        Ok(()) => Ok(file),
        Err(std::fs::TryLockError::WouldBlock) => anyhow::bail!(
            "another `helpstack serve` is already running on data directory {} \
             (it holds {}); stop it first, or give this one its own --data-dir",
            dir.display(),
            path.display()
        ),
        Err(std::fs::TryLockError::Error(e)) => {
            Err(e).with_context(|| format!("while locking {}", path.display()))
        }
    }
}

/// Pings systemd's watchdog only while the database answers and the ingest writer makes
/// progress, so a wedged database gets the service restarted instead of silently
/// answering nothing.
async fn watchdog(db: Db, progress: Arc<crate::ingest::Progress>, every: Duration) {
    let mut tick = tokio::time::interval(every);
    loop {
        tick.tick().await;
        if let Some(held) = progress.stalled_for() {
            tracing::error!(
                seconds = held.as_secs(),
                "the ingest writer has made no progress (another process holding the \
                 database lock?); withholding the watchdog ping"
            );
            continue;
        }
        let alive = tokio::time::timeout(every, db.call(|conn| store::ping(conn))).await;
        match alive {
            Ok(Ok(_)) => {
                crate::systemd::notify("WATCHDOG=1");
            }
            _ => tracing::error!("database did not answer; withholding the watchdog ping"),
        }
    }
}

/// Where the configuration came from, so it can be read again.
pub struct Reload {
    pub source: crate::config::ConfigSource,
    pub overrides: crate::config::Overrides,
}

/// Picks up rotated secrets without a restart: on SIGHUP (the unit's `ExecReload`), when
/// the config file changes, and every few seconds from the database (where `rotate`
/// keeps the generated verify token and a rotated-out app secret).
async fn watch_config(state: Arc<AppState>, reload: Reload) {
    let mut hup = tokio::signal::unix::signal(tokio::signal::unix::SignalKind::hangup()).ok();
    let mtime = |c: &Config| {
        c.file
            .as_ref()
            .and_then(|p| std::fs::metadata(p).and_then(|m| m.modified()).ok())
    };
    let mut config = (*state.config).clone();
    let mut seen = mtime(&config);
    loop {
        let signalled = tokio::select! {
            _ = tokio::time::sleep(Duration::from_secs(2)) => false,
            _ = async { match hup.as_mut() { Some(h) => { h.recv().await; } None => std::future::pending().await } } => true,
        };
        let current = match &reload.source {
            crate::config::ConfigSource::Default(p) if !p.exists() => None,
            _ => std::fs::metadata(reload.source.path())
                .and_then(|m| m.modified())
                .ok(),
        };
        if signalled || current != seen {
            seen = current;
            match crate::config::load(
                &reload.source,
                &reload.overrides,
                &crate::config::process_env,
            ) {
                Ok(fresh) => {
                    if fresh.listen != config.listen || fresh.data_dir != config.data_dir {
                        tracing::warn!(
                            "listen address and data directory changes take effect after a restart"
                        );
                    }
                    config = fresh;
                    tracing::info!(signalled, "configuration re-read");
                }
                Err(e) => {
                    tracing::error!(error = %e, "configuration not reloaded; keeping the previous one")
                }
            }
        }
        let cfg = config.clone();
        let secrets = state.db.call(move |conn| webhook_secrets(&cfg, conn)).await;
        match secrets {
            Ok(new) if new != *state.webhook_secrets() => {
                state.set_webhook_secrets(new);
                tracing::info!("webhook secrets updated");
            }
            Ok(_) => {}
            Err(e) => tracing::warn!(error = %e, "reading rotated secrets failed"),
        }
    }
}

/// Starts the background workers after releasing jobs a previous process had claimed.
fn start_jobs(
    config: &Config,
    db: &Db,
    bus: &Bus,
) -> anyhow::Result<Vec<tokio::task::JoinHandle<()>>> {
    if config.job_workers == 0 {
        tracing::warn!("job_workers = 0: profiles and attachments are queued but not fetched");
        return Ok(Vec::new());
    }
    let released = store::job::release_all(&*db.conn()?)?;
    if released > 0 {
        tracing::info!(
            jobs = released,
            "resuming jobs interrupted by the previous stop"
        );
    }
    let files = crate::filestore::FileStore::new(&config.data_dir);
    files.clean_temp();
    // Half the workers per media host: one slow or dead host leaves the other half free.
    let graph = crate::graph::Client::new(&config.graph_api_url, config.allow_private_media_hosts)
        .map_err(|e| anyhow::anyhow!("{e}"))?
        .with_host_limit((config.job_workers / 2).max(1));
    let ctx = crate::jobs::Context {
        db: db.clone(),
        graph,
        files,
        bus: bus.clone(),
        max_attachment_bytes: config.max_attachment_bytes,
    };
    Ok(crate::jobs::start(
        ctx,
        crate::jobs::PoolConfig {
            workers: config.job_workers,
            max_attempts: config.job_max_attempts,
            base_delay: Duration::from_secs(1),
        },
    ))
}

/// Indexes new messages for search once traffic stops. While webhooks flow, the
/// ingest writer indexes them every quarter second in its own transactions; this task
/// steps in when messages wait and the index did not move for a whole tick (or when
/// indexing in the writer failed), so search lags a new message by under a second.
async fn index_search(db: Db) {
    let mut tick = tokio::time::interval(Duration::from_millis(300));
    let mut seen = -1;
    loop {
        tick.tick().await;
        match db.call(|conn| store::search::progress(conn)).await {
            Ok((through, last)) if last > through && through == seen => {
                let r = db.write(store::search::index_pending_now).await;
                if let Err(e) = r {
                    tracing::warn!(error = %e, "indexing messages for search failed");
                }
            }
            Ok((through, _)) => seen = through,
            Err(e) => tracing::warn!(error = %e, "reading the search index progress failed"),
        }
    }
}

/// Periodic housekeeping: a WAL checkpoint every second, so the last writes of a busy
/// spell reach the database file soon after traffic stops (under load the writer
/// checkpoints itself every `ingest::WAL_CHECKPOINT_PAGES` pages), and once an hour the
/// journal retention: processed and ignored bodies older than
/// `journal_retention_days` (unmatched and failed ones are kept for `replay`), and
/// jobs that finished before then, a chunk per write-gate hold.
async fn maintenance(db: Db, retention_days: u64) {
    let mut tick = tokio::time::interval(Duration::from_secs(1));
    let mut n: u64 = 0;
    loop {
        tick.tick().await;
        n += 1;
        if retention_days > 0 && n % 3600 == 1 {
            let before = store::now_ms() - retention_days as i64 * 24 * 3600 * 1000;
            let keep = [
                store::journal::Outcome::Processed,
                store::journal::Outcome::Ignored,
            ];
            let journal = prune_in_chunks(&db, store::journal::PRUNE_CHUNK, move |conn| {
                store::journal::prune_chunk(conn, before, &keep)
            });
            match journal.await {
                Ok(0) => {}
                Ok(pruned) => {
                    tracing::info!(pruned, retention_days, "pruned old webhook journal rows")
                }
                Err(e) => tracing::warn!(error = %e, "journal retention failed"),
            }
            let jobs = prune_in_chunks(&db, store::job::PRUNE_CHUNK, move |conn| {
                store::job::prune_done(conn, before)
            });
            match jobs.await {
                Ok(0) => {}
                Ok(pruned) => tracing::info!(pruned, retention_days, "pruned finished jobs"),
                Err(e) => tracing::warn!(error = %e, "pruning finished jobs failed"),
            }
        }
        let result = db.call(|conn| store::checkpoint(conn)).await;
        if let Err(e) = result {
            tracing::warn!(error = %e, "database maintenance failed");
        }
    }
}

/// Repeats a chunked delete until a chunk comes back short, taking the write gate once
/// per chunk: the ingest writer waits for one chunk at most, and on the gate rather
/// than by polling SQLite's lock. Returns how many rows went.
async fn prune_in_chunks<F>(db: &Db, chunk: i64, delete: F) -> store::Result<i64>
where
    F: Fn(&rusqlite::Connection) -> store::Result<i64> + Clone + Send + 'static,
{
    let mut total = 0;
    loop {
        let delete = delete.clone();
        let n = db.write(move |conn| delete(conn)).await?;
        total += n;
        if n < chunk {
            return Ok(total);
        }
    }
}

/// Waits for SIGTERM or SIGINT. The handlers are installed by the caller before the
/// server reports ready, so a stop right after start-up is still graceful.
async fn shutdown_signal(
    mut term: tokio::signal::unix::Signal,
    mut int: tokio::signal::unix::Signal,
) {
    tokio::select! {
        _ = term.recv() => {},
        _ = int.recv() => {},
    }
    tracing::info!("shutdown signal received");
}
