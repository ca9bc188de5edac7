//! `helpstack channel`: manage the Meta assets HelpStack receives for.

use std::time::Duration;

use clap::Subcommand;
use rusqlite::Connection;

use super::UsageError;
use crate::config::{Config, ConfigSource};
use crate::graph::GraphError;
use crate::model::Provider;
use crate::store::{StoreError, channel, journal};

/// Channel subcommands.
#[derive(Debug, Subcommand)]
pub enum Command {
    /// Add a channel: a Facebook Page, an Instagram account or a WhatsApp number
    Add(AddArgs),
    /// List channels
    List {
        /// Print JSON instead of a table
        #[arg(long)]
        json: bool,
    },
    /// Show one channel: ids, token status, conversations
    Show {
        /// Channel id (see `helpstack channel list`)
        id: i64,
        /// Print JSON
        #[arg(long)]
        json: bool,
    },
    /// Remove a channel (refused while it has conversations, unless --purge)
    Remove {
        /// Channel id
        id: i64,
        /// Do not ask for confirmation (required when stdin is not a terminal)
        #[arg(long)]
        yes: bool,
        /// Also delete its contacts, conversations and messages (the raw webhook
        /// journal stays, so re-adding the channel and `helpstack replay --outcome
        /// processed` brings them back)
        #[arg(long)]
        purge: bool,
    },
    /// Replace a channel's access token and retry the jobs the old one failed
    SetToken {
        /// Channel id
        id: i64,
        /// The new access token
        #[arg(long, value_name = "TOKEN")]
        value: String,
    },
    /// Ask Graph whether the channel's token works (GET /me, or the phone number id)
    Test {
        /// Channel id
        id: i64,
    },
    /// Subscribe the app to the Page's message webhooks again (facebook, instagram)
    Resubscribe {
        /// Channel id
        id: i64,
    },
}

/// Flags of `channel add`.
#[derive(Debug, clap::Args)]
pub struct AddArgs {
    /// facebook, instagram or whatsapp
    #[arg(value_parser = ["facebook", "instagram", "whatsapp"])]
    pub provider: String,
    /// Facebook Page id (facebook)
    #[arg(long, value_name = "ID")]
    pub page_id: Option<String>,
    /// Instagram professional account id (instagram)
    #[arg(long, value_name = "ID")]
    pub account_id: Option<String>,
    /// WhatsApp phone number id, not the phone number itself (whatsapp)
    #[arg(long, value_name = "ID")]
    pub phone_number_id: Option<String>,
    /// WhatsApp Business Account id (optional, whatsapp)
    #[arg(long, value_name = "ID")]
    pub waba_id: Option<String>,
    /// Access token used for Graph API calls (Page token or system user token)
    #[arg(long, value_name = "TOKEN")]
    pub access_token: String,
    /// Display name in the dashboard
    #[arg(long)]
    pub name: Option<String>,
}

/// Runs a channel subcommand.
pub fn run(source: &ConfigSource, cmd: Command) -> anyhow::Result<()> {
    let config = super::load(source)?;
    let db = super::open_database(&config)?;
    let conn = db.conn()?;
    match cmd {
        Command::Add(args) => add(&conn, &args),
        Command::List { json } => list(&conn, json),
        Command::Show { id, json } => show(&conn, id, json),
        Command::Remove { id, yes, purge } => remove(&conn, id, yes, purge),
        Command::SetToken { id, value } => set_token(&conn, id, &value),
        Command::Test { id } => test(&config, &conn, id),
        Command::Resubscribe { id } => resubscribe(&config, &conn, id),
    }
}

fn add(conn: &Connection, args: &AddArgs) -> anyhow::Result<()> {
    let (provider, id) = validate(args)?;
    let name = args
        .name
        .clone()
        .unwrap_or_else(|| format!("{provider} {id}"));
    let creds = channel::credentials(provider, &id, &args.access_token, args.waba_id.as_deref());
    let new_id = channel::insert(conn, provider, &id, &name, &creds).map_err(|e| match e {
        StoreError::Conflict(msg) => anyhow::Error::new(UsageError(msg)),
        other => other.into(),
    })?;
    println!(
        "added channel {new_id}: {provider} {} {id} ({name})",
        provider.id_label()
    );
    let earlier = journal::unmatched_since(conn, 0)?
        .into_iter()
        .filter(|(p, i, _)| p == provider.as_str() && *i == id)
        .map(|(_, _, n)| n)
        .sum::<i64>();
    if earlier > 0 {
        println!(
            "{earlier} earlier webhook(s) for this {} were journaled as unmatched: \
             `helpstack replay --outcome unmatched` stores them now",
            provider.id_label()
        );
    }
    Ok(())
}

fn list(conn: &Connection, json: bool) -> anyhow::Result<()> {
    let list = channel::list(conn)?;
    if json {
        println!("{}", serde_json::to_string_pretty(&list)?);
    } else if list.is_empty() {
        println!("no channels yet: add one with `helpstack channel add`");
    } else {
        println!(
            "{:<4} {:<10} {:<20} {:<14} NAME",
            "ID", "PROVIDER", "EXTERNAL ID", "TOKEN"
        );
        for c in list {
            println!(
                "{:<4} {:<10} {:<20} {:<14} {}",
                c.id, c.provider, c.external_id, c.token_status, c.name
            );
        }
    }
    Ok(())
}

fn show(conn: &Connection, id: i64, json: bool) -> anyhow::Result<()> {
    let ch = find(conn, id)?;
    let conversations = channel::conversation_count(conn, id)?;
    if json {
        let mut v = serde_json::to_value(&ch)?;
        v["conversations"] = conversations.into();
        v["waba_id"] = ch.credentials.get("wabaId").cloned().unwrap_or_default();
        println!("{}", serde_json::to_string_pretty(&v)?);
        return Ok(());
    }
    let provider = ch.provider;
    println!("channel        {}", ch.id);
    println!("name           {}", ch.name);
    println!("provider       {}", ch.provider);
    println!("{:<14} {}", provider.id_label(), ch.external_id);
    if let Some(waba) = ch.credentials.get("wabaId").and_then(|v| v.as_str()) {
        println!("waba id        {waba}");
    }
    println!(
        "access token   {}",
        ch.access_token()
            .map(crate::secrets::redact)
            .unwrap_or_else(|| "(none)".into())
    );
    match &ch.token_error {
        Some(e) => println!("token status   {} ({e})", ch.token_status),
        None => println!("token status   {}", ch.token_status),
    }
    println!("conversations  {conversations}");
    println!("added          {}", crate::time_fmt::rfc3339(ch.created_at));
    Ok(())
}

fn remove(conn: &Connection, id: i64, yes: bool, purge: bool) -> anyhow::Result<()> {
    let ch = find(conn, id)?;
    let conversations = channel::conversation_count(conn, id)?;
    if conversations > 0 && !purge {
        return Err(UsageError(format!(
            "channel {id} has {conversations} conversation(s); `--purge` deletes them with the \
             channel (the webhook journal keeps the raw bodies)"
        ))
        .into());
    }
    let what = format!(
        "channel {id} ({} {}, {:?}) and its {conversations} conversation(s)",
        ch.provider, ch.external_id, ch.name
    );
    if !yes {
        if !super::interactive() {
            return Err(UsageError(format!(
                "refusing to remove {what} without confirmation: pass --yes"
            ))
            .into());
        }
        if !super::confirm(&format!("Remove {what}?"))? {
            println!("nothing removed");
            return Ok(());
        }
    }
    channel::remove(conn, id)?;
    println!("removed {what}");
    println!(
        "webhooks for {} {} are now journaled as unmatched",
        ch.provider, ch.external_id
    );
    Ok(())
}

/// Replaces a channel's token and re-queues the jobs its old token failed.
fn set_token(conn: &Connection, id: i64, value: &str) -> anyhow::Result<()> {
    let value = value.trim();
    if value.is_empty() {
        return Err(UsageError("--value must not be empty".into()).into());
    }
    find(conn, id)?;
    channel::set_token(conn, id, value)?;
    let requeued = channel::requeue_token_failures(conn, id)?;
    println!("replaced the access token of channel {id} (token status reset to unknown)");
    if requeued > 0 {
        println!("re-queued {requeued} job(s) that failed because the old token was rejected");
    }
    println!("check it with `helpstack channel test {id}`");
    Ok(())
}

fn test(config: &Config, conn: &Connection, id: i64) -> anyhow::Result<()> {
    let ch = find(conn, id)?;
    let client = super::graph_client(config)?;
    let result = super::block_on(check_token(&client, &ch, Duration::from_secs(15)))?;
    match result {
        Ok(who) => {
            channel::set_token_ok(conn, id)?;
            println!("ok: Graph accepted the token of channel {id}{who}");
            Ok(())
        }
        Err(e) => {
            if let GraphError::TokenInvalid { .. } = e {
                channel::set_token_invalid(conn, id, &e.to_string())?;
                anyhow::bail!(
                    "channel {id}: {e}; replace it with `helpstack channel set-token {id} --value TOKEN`"
                );
            }
            anyhow::bail!("channel {id}: the token check failed: {e}")
        }
    }
}

fn resubscribe(config: &Config, conn: &Connection, id: i64) -> anyhow::Result<()> {
    let ch = find(conn, id)?;
    let Some(target) = subscription_target(&ch) else {
        return Err(UsageError(format!(
            "channel {id} is a whatsapp channel: WhatsApp webhooks are subscribed per WhatsApp \
             Business Account (App dashboard > WhatsApp > Configuration), not per Page"
        ))
        .into());
    };
    let token = token_of(&ch)?;
    let client = super::graph_client(config)?;
    let fields = crate::graph::subscribe::MESSENGER_FIELDS;
    let result = super::block_on(async {
        tokio::time::timeout(
            Duration::from_secs(15),
            client.subscribe_app(&target, fields, token),
        )
        .await
        .unwrap_or_else(|_| Err(GraphError::Transient("timed out".into())))
    })?;
    match result {
        Ok(()) => {
            println!(
                "subscribed the app to {} {} ({})",
                ch.provider,
                ch.external_id,
                fields.join(",")
            );
            Ok(())
        }
        Err(e @ GraphError::TokenInvalid { .. }) => {
            channel::set_token_invalid(conn, id, &e.to_string())?;
            anyhow::bail!("channel {id}: {e}; replace it with `helpstack channel set-token {id}`")
        }
        Err(e) => anyhow::bail!("channel {id}: subscribing failed: {e}"),
    }
}

/// Fetches a channel or fails with a one-line "no such channel".
fn find(conn: &Connection, id: i64) -> anyhow::Result<channel::Channel> {
    channel::get(conn, id)?
        .ok_or_else(|| anyhow::anyhow!("no channel with id {id} (see `helpstack channel list`)"))
}

fn token_of(ch: &channel::Channel) -> anyhow::Result<&str> {
    ch.access_token().ok_or_else(|| {
        anyhow::anyhow!(
            "channel {} has no access token; set one with `helpstack channel set-token {} --value TOKEN`",
            ch.id,
            ch.id
        )
    })
}

/// The Graph node to subscribe for a channel (see `graph::subscribe::subscription_target`).
fn subscription_target(ch: &channel::Channel) -> Option<String> {
    let page_id = ch.credentials.get("pageId").and_then(|v| v.as_str());
    crate::graph::subscribe::subscription_target(ch.provider, &ch.external_id, page_id)
}

/// Asks Graph whether a channel's token works; returns a short " (owner)" to print.
async fn check_token(
    client: &crate::graph::Client,
    ch: &channel::Channel,
    timeout: Duration,
) -> Result<String, GraphError> {
    let token = ch
        .access_token()
        .ok_or_else(|| GraphError::Permanent("the channel has no access token".into()))?;
    let owner = client
        .token_owner(ch.provider, &ch.external_id, token, timeout)
        .await?;
    Ok(owner.map(|name| format!(" ({name})")).unwrap_or_default())
}

/// Checks that the id flag fits the provider and that ids are numeric.
fn validate(args: &AddArgs) -> Result<(Provider, String), UsageError> {
    let provider = Provider::parse(&args.provider)
        .ok_or_else(|| UsageError(format!("unknown provider {:?}", args.provider)))?;
    let (wanted, flag) = match provider {
        Provider::Facebook => (&args.page_id, "--page-id"),
        Provider::Instagram => (&args.account_id, "--account-id"),
        Provider::Whatsapp => (&args.phone_number_id, "--phone-number-id"),
    };
    let given = [
        (&args.page_id, "--page-id"),
        (&args.account_id, "--account-id"),
        (&args.phone_number_id, "--phone-number-id"),
    ];
    if let Some((_, other)) = given.iter().find(|(v, f)| v.is_some() && *f != flag) {
        return Err(UsageError(format!(
            "{other} does not apply to {provider} channels; use {flag}"
        )));
    }
    if args.waba_id.is_some() && provider != Provider::Whatsapp {
        return Err(UsageError(
            "--waba-id applies to whatsapp channels only".into(),
        ));
    }
    let id = wanted
        .clone()
        .ok_or_else(|| UsageError(format!("{provider} channels need {flag} ID")))?;
    if id.is_empty() || !id.chars().all(|c| c.is_ascii_digit()) {
        return Err(UsageError(format!("{flag} must be numeric, got {id:?}")));
    }
    if args.access_token.trim().is_empty() {
        return Err(UsageError("--access-token must not be empty".into()));
    }
    Ok((provider, id))
}
