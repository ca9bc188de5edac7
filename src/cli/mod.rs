//! The command line: one enum of subcommands, one file per subcommand. Admin commands
//! work on the config file and database directly, not over HTTP.

mod backup;
mod channel;
mod doctor;
mod init;
mod journal;
mod replay;
mod rotate;
mod serve;
mod settings;
mod sign;
mod simulate;

use std::io::{BufRead, IsTerminal, Write};
use std::path::PathBuf;
use std::time::Duration;

use clap::{Parser, Subcommand};

use crate::config::{self, Config, ConfigSource, Overrides};

/// HelpStack: a self-hosted inbox for Facebook Messenger, Instagram DM and WhatsApp.
#[derive(Debug, Parser)]
#[command(name = "helpstack", version, about, long_about = None)]
pub struct Cli {
    /// Config file (default: ./helpstack.toml if it exists; env HELPSTACK_CONFIG)
    #[arg(long, global = true, value_name = "FILE")]
    pub config: Option<PathBuf>,
    #[command(subcommand)]
    pub command: Command,
}

/// The subcommands.
#[derive(Debug, Subcommand)]
pub enum Command {
    /// Run the server: receive webhooks, serve the dashboard and API
    Serve(serve::Args),
    /// Write a config file and prepare the data directory, database and admin login
    Init(init::Args),
    /// Manage the Pages, Instagram accounts and WhatsApp numbers to receive for
    #[command(subcommand)]
    Channel(channel::Command),
    /// Replace a verify token, the app secret, an admin password or a channel token
    #[command(subcommand)]
    Rotate(rotate::Command),
    /// Check the installation and say what to fix (exit 1 when a check fails)
    Doctor(doctor::Args),
    /// Print the X-Hub-Signature-256 header value of a body
    Sign(sign::Args),
    /// Send a realistic signed test message to a running server
    Simulate(simulate::Args),
    /// Re-run journaled webhook bodies (e.g. unmatched ones after adding a channel)
    Replay(replay::Args),
    /// Copy the database (consistently, while the server runs) and the attachments
    Backup(backup::Args),
    /// Maintain the raw webhook journal
    #[command(subcommand)]
    Journal(journal::Command),
    /// Show the configuration in effect, the sample config or the list of keys
    #[command(subcommand)]
    Config(settings::Command),
}

/// Bad input from the operator: printed as one line, exit code 2.
#[derive(Debug, thiserror::Error)]
#[error("{0}")]
pub struct UsageError(pub String);

/// Runs a parsed command line.
pub fn run(cli: Cli) -> anyhow::Result<()> {
    let source = config::locate(cli.config.as_deref(), &env);
    match cli.command {
        Command::Serve(args) => serve::run(&source, args),
        Command::Init(args) => init::run(source.path(), args),
        Command::Channel(cmd) => channel::run(&source, cmd),
        Command::Rotate(cmd) => rotate::run(&source, cmd),
        Command::Doctor(args) => doctor::run(&source, args),
        Command::Sign(args) => sign::run(&source, args),
        Command::Simulate(args) => simulate::run(&source, args),
        Command::Replay(args) => replay::run(&source, args),
        Command::Backup(args) => backup::run(&source, args),
        Command::Journal(cmd) => journal::run(&source, cmd),
        Command::Config(cmd) => settings::run(&source, cmd),
    }
}

/// Reads the process environment (the one place the CLI touches it).
pub use crate::config::process_env as env;

/// Loads the configuration with no flag overrides, for admin commands.
fn load(source: &ConfigSource) -> anyhow::Result<Config> {
    Ok(config::load(source, &Overrides::default(), &env)?)
}

/// Opens the configured data directory's database (see `store::open`), saying on
/// stderr which database was created when there was none: a wrong `--config` or data
/// directory shows at once instead of as an empty inbox.
fn open_database(config: &Config) -> anyhow::Result<crate::store::Db> {
    let opened = crate::store::open::open_data_dir(data_dir_of(config))?;
    if opened.created {
        eprintln!("created database {}", opened.db.path().display());
    }
    Ok(opened.db)
}

/// The data directory of a configuration, as the store opens it.
pub fn data_dir_of(config: &Config) -> crate::store::open::DataDir<'_> {
    crate::store::open::DataDir {
        dir: &config.data_dir,
        secret_key: config.secret_key.as_ref().map(|k| k.expose()),
        config_file: config.file.as_deref(),
    }
}

/// Runs async work (Graph calls, HTTP) from a synchronous command.
fn block_on<F: std::future::Future>(future: F) -> anyhow::Result<F::Output> {
    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()?;
    Ok(runtime.block_on(future))
}

/// A Graph client for the configured base URL.
fn graph_client(config: &Config) -> anyhow::Result<crate::graph::Client> {
    crate::graph::Client::new(&config.graph_api_url, config.allow_private_media_hosts)
        .map_err(|e| UsageError(format!("graph_api_url: {e}")).into())
}

/// Asks a yes/no question on the terminal; anything but y/yes is no.
fn confirm(question: &str) -> anyhow::Result<bool> {
    print!("{question} [y/N] ");
    std::io::stdout().flush()?;
    let mut line = String::new();
    std::io::stdin().lock().read_line(&mut line)?;
    Ok(matches!(
        line.trim().to_ascii_lowercase().as_str(),
        "y" | "yes"
    ))
}

/// Whether a human can answer a prompt.
fn interactive() -> bool {
    std::io::stdin().is_terminal()
}

/// Parses a duration such as `90s`, `30m`, `24h`, `7d` or `2w`; `0` alone is zero.
pub fn parse_duration(s: &str) -> Result<Duration, String> {
    let s = s.trim();
    if s == "0" {
        return Ok(Duration::ZERO);
    }
    let split = s.find(|c: char| !c.is_ascii_digit()).unwrap_or(s.len());
    let (number, unit) = s.split_at(split);
    let n: u64 = number
        .parse()
        .map_err(|_| format!("{s:?} is not a duration like 30m, 24h or 7d"))?;
    let seconds = match unit {
        "s" => 1,
        "m" => 60,
        "h" => 3600,
        "d" => 86_400,
        "w" => 7 * 86_400,
        "" => return Err(format!("{s:?} needs a unit: s, m, h, d or w (e.g. {s}h)")),
        _ => return Err(format!("{s:?} has an unknown unit (use s, m, h, d or w)")),
    };
    n.checked_mul(seconds)
        .map(Duration::from_secs)
        .ok_or_else(|| format!("{s:?} is too long"))
}

/// Parses a point in time: RFC 3339 (`2026-01-02T03:04:05Z`) or an age such as `2h`
/// or `7d` (meaning that long ago). Returns epoch milliseconds.
pub fn parse_since(s: &str) -> Result<i64, String> {
    if let Some(ms) = crate::time_fmt::parse_rfc3339_ms(s) {
        return Ok(ms);
    }
    let age = parse_duration(s).map_err(|_| {
        format!("{s:?} is neither an RFC 3339 time (2026-01-02T03:04:05Z) nor an age like 2h or 7d")
    })?;
    Ok(crate::store::now_ms() - age.as_millis() as i64)
}

/// Describes a duration the way the operator typed it.
fn human_duration(d: Duration) -> String {
    let s = d.as_secs();
    match s {
        0 => "0s".into(),
        s if s % 86_400 == 0 => format!("{}d", s / 86_400),
        s if s % 3600 == 0 => format!("{}h", s / 3600),
        s if s % 60 == 0 => format!("{}m", s / 60),
        s => format!("{s}s"),
    }
}

/// The app secret to sign with: `--secret` when given (never empty), else the
/// configured one.
fn signing_secret(flag: Option<&str>, config: &Config) -> anyhow::Result<String> {
    match flag {
        Some("") => Err(UsageError("--secret must not be empty".into()).into()),
        Some(s) => Ok(s.to_string()),
        None => config
            .app_secret
            .as_ref()
            .map(|s| s.expose().to_string())
            .ok_or_else(|| {
                UsageError("no app secret is configured: pass --secret SECRET".into()).into()
            }),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn durations_parse_with_units() {
        assert_eq!(parse_duration("30m"), Ok(Duration::from_secs(1800)));
        assert_eq!(parse_duration("24h"), Ok(Duration::from_secs(86_400)));
        assert_eq!(parse_duration("7d"), Ok(Duration::from_secs(604_800)));
        assert_eq!(parse_duration("0"), Ok(Duration::ZERO));
        assert_eq!(parse_duration("2s"), Ok(Duration::from_secs(2)));
        assert!(parse_duration("24").is_err());
        assert!(parse_duration("h").is_err());
        assert!(parse_duration("3y").is_err());
        assert!(parse_duration("-1h").is_err());
        assert_eq!(human_duration(Duration::from_secs(86_400)), "1d");
        assert_eq!(human_duration(Duration::from_secs(90)), "90s");
    }

    #[test]
    fn since_takes_times_and_ages() {
        assert_eq!(parse_since("2023-11-14T22:13:20Z"), Ok(1_700_000_000_000));
        let two_hours_ago = parse_since("2h").unwrap();
        let expected = crate::store::now_ms() - 7_200_000;
        assert!((two_hours_ago - expected).abs() < 5_000);
        assert!(parse_since("yesterday").is_err());
    }
}
