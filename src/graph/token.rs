//! Checking a channel's access token: Graph says whom it speaks for, or why not.

use std::time::Duration;

use super::{Client, GraphError, encode_segment};
use crate::model::Provider;

impl Client {
    /// Checks a channel's token: `GET /me` for a Page or Instagram token, `GET
    /// /{phone-number-id}` for WhatsApp. Returns the name Graph gives the owner, if any;
    /// a request that outlives `timeout` is a transient failure.
    pub async fn token_owner(
        &self,
        provider: Provider,
        external_id: &str,
        token: &str,
        timeout: Duration,
    ) -> Result<Option<String>, GraphError> {
        let path = match provider {
            Provider::Whatsapp => encode_segment(external_id)?,
            Provider::Facebook | Provider::Instagram => "me".to_string(),
        };
        let body = tokio::time::timeout(timeout, self.check_token(&path, token))
            .await
            .unwrap_or_else(|_| Err(GraphError::Transient("timed out".into())))?;
        let field = |k: &str| body.get(k).and_then(|v| v.as_str()).map(str::to_string);
        Ok(field("name")
            .or_else(|| field("verified_name"))
            .or_else(|| field("display_phone_number")))
    }
}
