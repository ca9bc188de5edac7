//! `helpstack doctor`: a checklist of what commonly breaks an installation, each line
//! with a fix. Works on the config file and database directly (the server need not
//! run); Graph checks use short timeouts so a network problem cannot hang it.

mod config;
mod data;
mod graph;
mod host;

use serde::Serialize;

use crate::config::ConfigSource;
use crate::store::channel;
use graph::Token;

/// Flags of `doctor`.
#[derive(Debug, clap::Args)]
pub struct Args {
    /// Print the checks as JSON
    #[arg(long)]
    pub json: bool,
    /// Warn when a provider with channels received nothing for this many hours
    #[arg(long, value_name = "HOURS", default_value_t = 24)]
    pub silence_hours: u64,
    /// Skip the checks that call the Graph API
    #[arg(long)]
    pub offline: bool,
}

/// How a check came out.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "lowercase")]
enum Status {
    Pass,
    Warn,
    Fail,
}

/// One line of the checklist.
#[derive(Debug, Serialize)]
struct Check {
    name: String,
    status: Status,
    detail: String,
    hint: Option<String>,
}

fn pass(name: &str, detail: impl Into<String>) -> Check {
    Check {
        name: name.into(),
        status: Status::Pass,
        detail: detail.into(),
        hint: None,
    }
}

fn warn(name: &str, detail: impl Into<String>, hint: impl Into<String>) -> Check {
    Check {
        name: name.into(),
        status: Status::Warn,
        detail: detail.into(),
        hint: Some(hint.into()),
    }
}

fn fail(name: &str, detail: impl Into<String>, hint: impl Into<String>) -> Check {
    Check {
        status: Status::Fail,
        ..warn(name, detail, hint)
    }
}

/// Runs every check, prints them, fails when one failed.
pub fn run(source: &ConfigSource, args: Args) -> anyhow::Result<()> {
    let config = super::load(source)?;
    let mut checks = vec![config::file(&config)];
    let conn = host::database(&config, &mut checks);
    checks.insert(1, config::app_secret(&config, conn.as_ref()));
    checks.push(config::verify_tokens(&config, conn.as_ref()));
    checks.push(host::data_dir(&config.data_dir));
    checks.push(host::private_files(&config));
    checks.push(host::token_key(&config, conn.as_ref()));
    checks.push(host::disk_space(&config.data_dir));
    checks.push(config::public_url(&config));
    checks.push(config::clock());
    let channels = match &conn {
        Some(conn) => data::checks(conn, args.silence_hours, &mut checks),
        None => Vec::new(),
    };
    let token = config.metrics_token.as_ref().map(|t| t.expose());
    let (listen, signatures, graph) = super::block_on(async {
        let ((listen, server), graph) = tokio::join!(
            host::listen(&config.listen),
            graph::checks(&config, &channels, args.offline)
        );
        let signatures = host::signature_failures(server, token).await;
        (listen, signatures, graph)
    })?;
    checks.push(listen);
    checks.push(signatures);
    for (check, verdict) in graph {
        // Recorded like `channel test` does, so the dashboard shows the same.
        match (verdict, &conn) {
            (Some(Token::Rejected(id, message)), Some(conn)) => {
                channel::set_token_invalid(conn, id, &message)?
            }
            (Some(Token::Accepted(id)), Some(conn)) => channel::set_token_ok(conn, id)?,
            _ => {}
        }
        checks.push(check);
    }
    report(&checks, args.json)
}

/// The fix for a damaged database.
const RESTORE: &str = "stop the server and restore the latest `helpstack backup` \
                       (sqlite3's .recover may salvage rows from a damaged file)";

fn report(checks: &[Check], json: bool) -> anyhow::Result<()> {
    let failed = checks.iter().filter(|c| c.status == Status::Fail).count();
    if json {
        let out = serde_json::json!({ "checks": checks, "ok": failed == 0 });
        println!("{}", serde_json::to_string_pretty(&out)?);
    } else {
        for c in checks {
            let tag = match c.status {
                Status::Pass => "PASS",
                Status::Warn => "WARN",
                Status::Fail => "FAIL",
            };
            println!("[{tag}] {}: {}", c.name, c.detail);
            if let Some(h) = &c.hint {
                println!("       fix: {h}");
            }
        }
        let warned = checks.iter().filter(|c| c.status == Status::Warn).count();
        println!(
            "{} passed, {warned} warnings, {failed} failed",
            checks.len() - warned - failed
        );
    }
    if failed > 0 {
        anyhow::bail!("{failed} check(s) failed");
    }
    Ok(())
}
