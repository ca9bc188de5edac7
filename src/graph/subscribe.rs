//! Page webhook subscriptions: which apps receive a Page's events, and (re)subscribing
//! ours. Meta silently unsubscribes an app after long delivery failures, so `doctor`
//! checks this and `channel resubscribe` repairs it.

use reqwest::Url;
use serde_json::Value;

use super::{Client, GraphError, encode_segment};
use crate::model::Provider;

/// The Messenger fields HelpStack stores.
pub const MESSENGER_FIELDS: &[&str] = &[
    "messages",
    "message_echoes",
    "message_deliveries",
    "message_reads",
    "message_reactions",
    "message_edits",
    "messaging_postbacks",
    "messaging_referrals",
];

/// The Graph node whose `subscribed_apps` carries a channel's webhooks: the Page for
/// Messenger; for Instagram the linked Page (`page_id` when known, else `me`, which a
/// Page token resolves to its Page). None for WhatsApp, subscribed per Business Account.
pub fn subscription_target(
    provider: Provider,
    external_id: &str,
    page_id: Option<&str>,
) -> Option<String> {
    match provider {
        Provider::Facebook => Some(external_id.to_string()),
        Provider::Instagram => Some(page_id.unwrap_or("me").to_string()),
        Provider::Whatsapp => None,
    }
}

impl Client {
    /// Subscribes the token's app to a Page's webhook `fields`
    /// (`POST /{page}/subscribed_apps`); `page` may be `me` with a Page token.
    pub async fn subscribe_app(
        &self,
        page: &str,
        fields: &[&str],
        token: &str,
    ) -> Result<(), GraphError> {
        let mut url = self.url(&format!("{}/subscribed_apps", encode_segment(page)?))?;
        url.query_pairs_mut()
            .append_pair("subscribed_fields", &fields.join(","));
        let body = self.post_json(url, token).await?;
        if body.get("success").and_then(Value::as_bool) == Some(false) {
            return Err(GraphError::Permanent(
                "Graph answered success: false to the subscription".into(),
            ));
        }
        Ok(())
    }

    /// Lists the apps subscribed to a Page's webhooks (`GET /{page}/subscribed_apps`);
    /// an empty list means Meta delivers nothing for that Page.
    pub async fn subscribed_apps(&self, page: &str, token: &str) -> Result<Vec<Value>, GraphError> {
        let body = self
            .check_token(&format!("{}/subscribed_apps", encode_segment(page)?), token)
            .await?;
        Ok(body
            .get("data")
            .and_then(Value::as_array)
            .cloned()
            .unwrap_or_default())
    }

    async fn post_json(&self, url: Url, token: &str) -> Result<Value, GraphError> {
        self.send_json(self.graph.post(url), token).await
    }
}
