//! Shared server state handed to every handler.

use std::sync::{Arc, RwLock};

use crate::config::{Config, VerifyTokens};
use crate::ingest::Ingest;
use crate::live::Bus;
use crate::model::Provider;
use crate::secrets::Secret;
use crate::store::Db;

/// The secrets the webhook edge checks; swapped whole when the configuration changes.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct WebhookSecrets {
    /// The configured app secret.
    pub app: Vec<Secret>,
    /// The app secret replaced by `rotate app-secret`, accepted until the epoch-ms time.
    pub previous: Option<(Secret, i64)>,
    pub verify: VerifyTokens,
}

impl WebhookSecrets {
    /// Builds the secrets the webhook edge checks from the configuration and what the
    /// database holds (the generated verify token, a rotated-out app secret).
    pub fn assemble(config: &Config, conn: &rusqlite::Connection) -> crate::store::Result<Self> {
        let mut verify = config.verify_tokens.clone();
        if verify.facebook.is_none() {
            verify.facebook =
                crate::store::settings::get(conn, crate::store::settings::GENERATED_VERIFY_TOKEN)?
                    .and_then(crate::secrets::Secret::new);
        }
        verify.instagram = verify.instagram.or_else(|| verify.facebook.clone());
        verify.whatsapp = verify.whatsapp.or_else(|| verify.facebook.clone());
        let previous = match (
            crate::store::settings::get(conn, crate::store::settings::PREVIOUS_APP_SECRET)?
                .and_then(crate::secrets::Secret::new),
            crate::store::settings::get(conn, crate::store::settings::PREVIOUS_APP_SECRET_UNTIL)?
                .and_then(|v| v.parse::<i64>().ok()),
        ) {
            (Some(s), Some(until)) if Some(&s) != config.app_secret.as_ref() => Some((s, until)),
            _ => None,
        };
        Ok(Self {
            app: config.app_secret.iter().cloned().collect(),
            previous,
            verify,
        })
    }

    /// The verify token for a provider (fallbacks already applied).
    pub fn verify_token(&self, provider: Provider) -> Option<Secret> {
        match provider {
            Provider::Facebook => self.verify.facebook.clone(),
            Provider::Instagram => self.verify.instagram.clone(),
            Provider::Whatsapp => self.verify.whatsapp.clone(),
        }
    }

    /// The app secrets accepted for signatures now: the current one first, then the
    /// previous one while its grace period lasts.
    pub fn app_secrets(&self) -> Vec<&Secret> {
        let now = crate::store::now_ms();
        let previous = self
            .previous
            .as_ref()
            .filter(|(_, until)| now < *until)
            .map(|(s, _)| s);
        self.app.iter().chain(previous).collect()
    }
}

/// Everything handlers need.
pub struct AppState {
    pub db: Db,
    pub config: Arc<Config>,
    pub ingest: Ingest,
    pub bus: Bus,
    pub login_limiter: crate::auth::LoginLimiter,
    /// Bytes of webhook bodies being read and not verified yet (`max_unverified_body_bytes`).
    pub unverified: Arc<crate::webhook::budget::Budget>,
    secrets: RwLock<Arc<WebhookSecrets>>,
}

impl AppState {
    /// Assembles the state.
    pub fn new(
        db: Db,
        config: Arc<Config>,
        ingest: Ingest,
        bus: Bus,
        secrets: WebhookSecrets,
    ) -> Self {
        Self {
            unverified: crate::webhook::budget::Budget::new(
                config.limits.max_unverified_body_bytes,
            ),
            db,
            config,
            ingest,
            bus,
            login_limiter: Default::default(),
            secrets: RwLock::new(Arc::new(secrets)),
        }
    }

    /// A snapshot of the webhook secrets.
    pub fn webhook_secrets(&self) -> Arc<WebhookSecrets> {
        self.secrets.read().expect("secrets lock poisoned").clone()
    }

    /// Replaces the webhook secrets (configuration reload).
    pub fn set_webhook_secrets(&self, secrets: WebhookSecrets) {
        *self.secrets.write().expect("secrets lock poisoned") = Arc::new(secrets);
    }
}
