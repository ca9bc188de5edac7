//! Checks that ask Graph: each channel's token and its Page's webhook subscription.

use std::time::Duration;

use super::{Check, fail, pass, warn};
use crate::config::Config;
use crate::graph::GraphError;
use crate::store::channel;

/// What Graph said about a channel's token, for the caller to record.
pub(super) enum Token {
    Accepted(i64),
    Rejected(i64, String),
}

/// Token and subscription checks for every channel, concurrently.
pub(super) async fn checks(
    config: &Config,
    channels: &[channel::Channel],
    offline: bool,
) -> Vec<(Check, Option<Token>)> {
    if channels.is_empty() {
        return Vec::new();
    }
    if offline {
        return channels
            .iter()
            .map(|c| {
                let name = channel_name(c);
                let check = match c.token_status.as_str() {
                    "token_invalid" => fail(
                        &name,
                        format!(
                            "token rejected earlier: {}",
                            c.token_error.clone().unwrap_or_default()
                        ),
                        format!("helpstack channel set-token {} --value TOKEN", c.id),
                    ),
                    s => pass(&name, format!("token status {s} (not checked: --offline)")),
                };
                (check, None)
            })
            .collect();
    }
    let client = match crate::cli::graph_client(config) {
        Ok(c) => c,
        Err(e) => return vec![(fail("graph api", e.to_string(), "fix graph_api_url"), None)],
    };
    let futures = channels.iter().map(|c| channel_checks(&client, c));
    futures_util::future::join_all(futures)
        .await
        .into_iter()
        .flatten()
        .collect()
}

fn channel_name(c: &channel::Channel) -> String {
    format!("channel {} ({} {})", c.id, c.provider, c.external_id)
}

const GRAPH_TIMEOUT: Duration = Duration::from_secs(8);

async fn channel_checks(
    client: &crate::graph::Client,
    c: &channel::Channel,
) -> Vec<(Check, Option<Token>)> {
    let name = channel_name(c);
    let owner = match c.access_token() {
        Some(token) => {
            client
                .token_owner(c.provider, &c.external_id, token, GRAPH_TIMEOUT)
                .await
        }
        None => Err(GraphError::Permanent(
            "the channel has no access token".into(),
        )),
    };
    let token_check = match owner {
        Ok(who) => (
            pass(
                &name,
                format!(
                    "{:?}: token accepted by Graph{}",
                    c.name,
                    who.map(|n| format!(" ({n})")).unwrap_or_default()
                ),
            ),
            Some(Token::Accepted(c.id)),
        ),
        Err(e @ GraphError::TokenInvalid { .. }) => {
            let check = fail(
                &name,
                format!("{:?}: {e}", c.name),
                format!(
                    "generate a new token and run `helpstack channel set-token {} --value TOKEN`",
                    c.id
                ),
            );
            return vec![(check, Some(Token::Rejected(c.id, e.to_string())))];
        }
        Err(e) => {
            // The subscription check would fail the same way: one line is enough.
            let check = warn(
                &name,
                format!("{:?}: could not check the token: {e}", c.name),
                "check graph_api_url and outbound HTTPS from this host",
            );
            return vec![(check, None)];
        }
    };
    let mut out = vec![token_check];
    if let (Some(target), Some(token)) = (
        crate::graph::subscribe::subscription_target(
            c.provider,
            &c.external_id,
            c.credentials.get("pageId").and_then(|v| v.as_str()),
        ),
        c.access_token(),
    ) {
        let apps = tokio::time::timeout(GRAPH_TIMEOUT, client.subscribed_apps(&target, token))
            .await
            .unwrap_or_else(|_| Err(GraphError::Transient("timed out".into())));
        let sub = format!("{name} subscription");
        let hint = format!("helpstack channel resubscribe {}", c.id);
        out.push((
            match apps {
                Ok(a) if !a.is_empty() => pass(
                    &sub,
                    format!("{} app(s) subscribed to its webhooks", a.len()),
                ),
                Ok(_) => fail(
                    &sub,
                    "no app is subscribed to its webhooks: Meta delivers nothing",
                    hint,
                ),
                Err(e) => warn(&sub, format!("could not check: {e}"), hint),
            },
            None,
        ));
    }
    out
}
