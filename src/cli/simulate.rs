//! `helpstack simulate`: post a realistic, correctly signed message webhook to a
//! running server, to test the whole path (proxy, signature, channel routing).

use std::time::Duration;

use serde_json::{Value, json};

use super::UsageError;
use crate::config::ConfigSource;
use crate::model::Provider;
use crate::store::{channel, now_ms};
use crate::webhook::signature;

/// Flags of `simulate`.
#[derive(Debug, clap::Args)]
pub struct Args {
    /// facebook, instagram or whatsapp
    #[arg(value_parser = ["facebook", "instagram", "whatsapp"])]
    pub provider: String,
    /// Server base URL (http://127.0.0.1:8080) or the full webhook URL
    #[arg(long, value_name = "URL")]
    pub to: String,
    /// Message text
    #[arg(long, default_value = "Hello from helpstack simulate")]
    pub text: String,
    /// Page id (facebook; default: the first facebook channel)
    #[arg(long, value_name = "ID")]
    pub page_id: Option<String>,
    /// Instagram account id (instagram; default: the first instagram channel)
    #[arg(long, value_name = "ID")]
    pub account_id: Option<String>,
    /// Phone number id (whatsapp; default: the first whatsapp channel)
    #[arg(long, value_name = "ID")]
    pub phone_number_id: Option<String>,
    /// The customer's id (PSID, IGSID or WhatsApp number)
    #[arg(long, value_name = "ID", default_value = "9990001112223")]
    pub from: String,
    /// Secret to sign with (default: the configured app secret)
    #[arg(long, value_name = "SECRET")]
    pub secret: Option<String>,
}

/// Builds, signs and posts the body; prints the answer.
pub fn run(source: &ConfigSource, args: Args) -> anyhow::Result<()> {
    let config = super::load(source)?;
    let provider = Provider::parse(&args.provider)
        .ok_or_else(|| UsageError(format!("unknown provider {:?}", args.provider)))?;
    let url = webhook_url(&args.to, provider)?;
    let secret = super::signing_secret(args.secret.as_deref(), &config)?;
    let id = match channel_id(&args, provider)? {
        Some(id) => id,
        None => {
            let db = super::open_database(&config)?;
            channel::list(&*db.conn()?)?
                .into_iter()
                .find(|c| c.provider == provider)
                .map(|c| c.external_id)
                .ok_or_else(|| {
                    UsageError(format!(
                        "no {provider} channel to address: add one or pass its {}",
                        id_flag(provider)
                    ))
                })?
        }
    };
    if args.from.is_empty() || !args.from.chars().all(|c| c.is_ascii_digit()) {
        return Err(UsageError(format!("--from must be numeric, got {:?}", args.from)).into());
    }
    let body = serde_json::to_vec(&sample(provider, &id, &args.from, &args.text))?;
    let header = signature::sign(&secret, &body);
    let (status, answer) = super::block_on(post(&url, body, header))??;
    println!("POST {url} -> {status}");
    if !answer.trim().is_empty() {
        println!("{}", answer.trim());
    }
    if !(200..300).contains(&status) {
        anyhow::bail!("the server answered {status}");
    }
    Ok(())
}

fn id_flag(provider: Provider) -> &'static str {
    match provider {
        Provider::Facebook => "--page-id",
        Provider::Instagram => "--account-id",
        Provider::Whatsapp => "--phone-number-id",
    }
}

/// The id flag that fits the provider, checked like `channel add` checks it.
fn channel_id(args: &Args, provider: Provider) -> Result<Option<String>, UsageError> {
    let flag = id_flag(provider);
    let given = [
        (&args.page_id, "--page-id"),
        (&args.account_id, "--account-id"),
        (&args.phone_number_id, "--phone-number-id"),
    ];
    if let Some((_, other)) = given.iter().find(|(v, f)| v.is_some() && *f != flag) {
        return Err(UsageError(format!(
            "{other} does not apply to {provider}; use {flag}"
        )));
    }
    let id = given
        .iter()
        .find(|(_, f)| *f == flag)
        .and_then(|(v, _)| (*v).clone());
    if let Some(id) = &id
        && (id.is_empty() || !id.chars().all(|c| c.is_ascii_digit()))
    {
        return Err(UsageError(format!("{flag} must be numeric, got {id:?}")));
    }
    Ok(id)
}

/// A base URL gets the provider's webhook path; a URL with a path is used as is.
fn webhook_url(to: &str, provider: Provider) -> Result<String, UsageError> {
    let parsed =
        url::Url::parse(to).map_err(|e| UsageError(format!("--to {to:?} is not a URL: {e}")))?;
    if !matches!(parsed.scheme(), "http" | "https") {
        return Err(UsageError(format!("--to {to:?} must be an http(s) URL")));
    }
    Ok(if parsed.path() == "/" || parsed.path().is_empty() {
        format!("{}/api/webhooks/{provider}", to.trim_end_matches('/'))
    } else {
        to.to_string()
    })
}

/// A text message webhook shaped like Meta's (see tests/fixtures).
pub fn sample(provider: Provider, id: &str, from: &str, text: &str) -> Value {
    let now = now_ms();
    let nonce = crate::secrets::random_token(8);
    match provider {
        Provider::Facebook | Provider::Instagram => json!({
            "object": crate::webhook::parse::expected_object(provider),
            "entry": [{
                "id": id,
                "time": now,
                "messaging": [{
                    "sender": {"id": from},
                    "recipient": {"id": id},
                    "timestamp": now,
                    "message": {"mid": format!("m_simulated_{nonce}"), "text": text}
                }]
            }]
        }),
        Provider::Whatsapp => json!({
            "object": "whatsapp_business_account",
            "entry": [{
                "id": "0",
                "changes": [{
                    "field": "messages",
                    "value": {
                        "messaging_product": "whatsapp",
                        "metadata": {"display_phone_number": "15550000000", "phone_number_id": id},
                        "contacts": [{"profile": {"name": "Simulated Customer"}, "wa_id": from}],
                        "messages": [{
                            "from": from,
                            "id": format!("wamid.SIMULATED{}", nonce.to_uppercase()),
                            "timestamp": (now / 1000).to_string(),
                            "type": "text",
                            "text": {"body": text}
                        }]
                    }
                }]
            }]
        }),
    }
}

async fn post(url: &str, body: Vec<u8>, signature: String) -> anyhow::Result<(u16, String)> {
    let client = reqwest::Client::builder()
        .timeout(Duration::from_secs(15))
        .build()?;
    let resp = client
        .post(url)
        .header("content-type", "application/json")
        .header("x-hub-signature-256", signature)
        .body(body)
        .send()
        .await
        .map_err(|e| anyhow::anyhow!("cannot reach {url}: {}", root_cause(&e)))?;
    let status = resp.status().as_u16();
    let text = resp.text().await.unwrap_or_default();
    Ok((status, text))
}

fn root_cause(e: &(dyn std::error::Error + 'static)) -> String {
    let mut cur = e;
    while let Some(next) = cur.source() {
        cur = next;
    }
    cur.to_string()
}
