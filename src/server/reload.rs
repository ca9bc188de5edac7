//! Re-reading the configuration and the rotated secrets while serving.

use std::sync::Arc;
use std::time::Duration;

use crate::config::Config;
use crate::state::{AppState, WebhookSecrets};

/// Where the configuration came from, so it can be read again.
pub struct Reload {
    pub source: crate::config::ConfigSource,
    pub overrides: crate::config::Overrides,
}

/// Picks up rotated secrets without a restart: on SIGHUP (the unit's `ExecReload`), when
/// the config file changes, and every few seconds from the database (where `rotate`
/// keeps the generated verify token and a rotated-out app secret).
pub async fn watch(state: Arc<AppState>, reload: Reload) {
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
        let secrets = state
            .db
            .call(move |conn| WebhookSecrets::assemble(&cfg, conn))
            .await;
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
