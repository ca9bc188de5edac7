//! `helpstack channel`: manage the Meta assets HelpStack receives for.

use clap::Subcommand;

use super::UsageError;
use crate::config::ConfigSource;
use crate::model::Provider;
use crate::store::{StoreError, channel};

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
    let db = crate::server::open_database(&config)?;
    let conn = db.conn()?;
    match cmd {
        Command::Add(args) => {
            let (provider, id) = validate(&args)?;
            let name = args
                .name
                .clone()
                .unwrap_or_else(|| format!("{provider} {id}"));
            let creds =
                channel::credentials(provider, &id, &args.access_token, args.waba_id.as_deref());
            let new_id =
                channel::insert(&conn, provider, &id, &name, &creds).map_err(|e| match e {
                    StoreError::Conflict(msg) => anyhow::Error::new(UsageError(msg)),
                    other => other.into(),
                })?;
            println!(
                "added channel {new_id}: {provider} {} {id} ({name})",
                provider.id_label()
            );
        }
        Command::List { json } => {
            let list = channel::list(&conn)?;
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
        }
    }
    Ok(())
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
