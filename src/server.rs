//! `serve`: prepare the data directory, bind, print the bound address, run until
//! SIGTERM/SIGINT, then finish in-flight requests and drain the writer.

use std::sync::Arc;
use std::time::Duration;

use anyhow::Context;
use poem::Server;
use poem::listener::TcpAcceptor;

use crate::config::Config;
use crate::ingest::Ingest;
use crate::live::Bus;
use crate::state::{AppState, WebhookSecrets};
use crate::store::{self, Db, admin, settings};

/// Opens the database in the data directory, creating both on first run.
pub fn open_database(config: &Config) -> anyhow::Result<Db> {
    std::fs::create_dir_all(&config.data_dir).with_context(|| {
        format!(
            "while creating data directory {}",
            config.data_dir.display()
        )
    })?;
    let path = config.database_path();
    Db::open(&path).with_context(|| format!("while opening database {}", path.display()))
}

/// Fills in what a fresh install lacks: a verify token (if none is configured) and an
/// admin account. Generated values are printed once, here, and never again.
pub fn first_run_setup(config: &Config, db: &Db) -> anyhow::Result<WebhookSecrets> {
    let conn = db.conn()?;
    let mut verify = config.verify_tokens.clone();
    if verify.facebook.is_none() {
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
        verify.facebook = crate::secrets::Secret::new(token);
    }
    verify.instagram = verify.instagram.or_else(|| verify.facebook.clone());
    verify.whatsapp = verify.whatsapp.or_else(|| verify.facebook.clone());
    if admin::count(&conn)? == 0 {
        let password = crate::secrets::random_password();
        admin::create(&conn, "admin", &crate::auth::hash_password(&password))?;
        announce(&format!(
            "Created dashboard login (shown only this once):\n    user:     admin\n    password: {password}"
        ));
    }
    Ok(WebhookSecrets {
        app: config.app_secret.iter().cloned().collect(),
        verify,
    })
}

fn announce(text: &str) {
    let line = "=".repeat(72);
    println!("{line}\n{text}\n{line}");
}

/// Runs the server until a shutdown signal.
pub async fn run(config: Config) -> anyhow::Result<()> {
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
    let opts = store::ingest::Options {
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

    let listener = tokio::net::TcpListener::bind(&config.listen)
        .await
        .with_context(|| format!("while binding {}", config.listen))?;
    let addr = listener.local_addr()?;
    let acceptor = TcpAcceptor::from_tokio(listener)?;
    println!("listening on http://{addr}");
    tracing::info!(%addr, "listening");

    let maintenance = tokio::spawn(maintenance(db.clone()));
    let app = crate::app(state.clone());
    Server::new_with_acceptor(acceptor)
        .run_with_graceful_shutdown(app, shutdown_signal(), Some(Duration::from_secs(10)))
        .await?;
    maintenance.abort();
    for w in workers {
        w.abort();
    }
    tracing::info!("shutting down: draining the writer");
    drop(state);
    let _ = tokio::task::spawn_blocking(move || writer.join()).await;
    tracing::info!("stopped");
    Ok(())
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
    let graph = crate::graph::Client::new(&config.graph_api_url, config.allow_private_media_hosts)
        .map_err(|e| anyhow::anyhow!("{e}"))?;
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

/// Periodic housekeeping: a WAL checkpoint every second (the ingest writer does not
/// checkpoint itself, so it never stalls on one).
async fn maintenance(db: Db) {
    let mut tick = tokio::time::interval(Duration::from_secs(1));
    loop {
        tick.tick().await;
        let result = db.call(|conn| store::checkpoint(conn)).await;
        if let Err(e) = result {
            tracing::warn!(error = %e, "database maintenance failed");
        }
    }
}

async fn shutdown_signal() {
    let ctrl_c = async {
        let _ = tokio::signal::ctrl_c().await;
    };
    let term = async {
        match tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate()) {
            Ok(mut s) => {
                s.recv().await;
            }
            Err(_) => std::future::pending::<()>().await,
        }
    };
    tokio::select! {
        _ = ctrl_c => {},
        _ = term => {},
    }
    tracing::info!("shutdown signal received");
}
