//! `serve`: prepare the data directory, bind, print the bound address, run until
//! SIGTERM/SIGINT, then finish in-flight requests and drain the writer.

use std::sync::Arc;
use std::time::Duration;

use anyhow::Context;

use crate::config::Config;
use crate::ingest::Ingest;
use crate::live::Bus;
use crate::state::{AppState, WebhookSecrets};
use crate::store::{self, Db};

mod first_run;
mod reload;
mod watchdog;

pub use reload::Reload;

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
    use tokio::signal::unix::{SignalKind, signal};
    let term = signal(SignalKind::terminate()).context("while installing the SIGTERM handler")?;
    let int = signal(SignalKind::interrupt()).context("while installing the SIGINT handler")?;
    let listener = tokio::net::TcpListener::bind(&config.listen)
        .await
        .with_context(|| format!("while binding {}", config.listen))?;
    let addr = listener.local_addr()?;
    // Generated secrets are shown only by a server that could bind: a failed start
    // must not print a password that no dashboard will ever answer.
    first_run::setup(&config, &db)?;
    let secrets = WebhookSecrets::assemble(&config, &*db.conn()?)?;
    if secrets.app.is_empty() {
        tracing::warn!(
            "{}; {}",
            crate::config::NO_APP_SECRET,
            crate::config::app_secret_step(config.file.as_deref())
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

    // In the journal every line must be JSON; the event below carries the address there.
    if !crate::systemd::stdout_is_journal() {
        println!("listening on http://{addr}");
    }
    tracing::info!(%addr, "listening");
    // Ready only now: the database is open and migrated, the listener bound.
    crate::systemd::notify("READY=1");
    let watchdog = crate::systemd::watchdog_interval().map(|every| {
        let progress = state.ingest.progress.clone();
        tokio::spawn(watchdog::run(db.clone(), progress, every))
    });

    let maintenance = tokio::spawn(crate::maintenance::run(
        db.clone(),
        config.journal_retention_days,
    ));
    let indexer = tokio::spawn(crate::maintenance::index_search(db.clone()));
    let watcher = tokio::spawn(reload::watch(state.clone(), reload));
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

/// Opens the data directory's database (see `store::open`), logging a new one.
fn open_database(config: &Config) -> anyhow::Result<Db> {
    let opened = store::open::open_data_dir(store::open::DataDir {
        dir: &config.data_dir,
        secret_key: config.secret_key.as_ref().map(|k| k.expose()),
        config_file: config.file.as_deref(),
    })?;
    if opened.created {
        tracing::info!(database = %opened.db.path().display(), "created a new database");
    }
    Ok(opened.db)
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
