//! The command line: one enum of subcommands, one file per subcommand. Admin commands
//! work on the config file and database directly, not over HTTP.

mod channel;
mod init;
mod serve;

use std::path::PathBuf;

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
    /// Add and list the Pages, Instagram accounts and WhatsApp numbers to receive for
    #[command(subcommand)]
    Channel(channel::Command),
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
    }
}

/// Reads the process environment (the one place the CLI touches it).
pub fn env(key: &str) -> Option<String> {
    std::env::var(key).ok()
}

/// Loads the configuration with no flag overrides, for admin commands.
fn load(source: &ConfigSource) -> anyhow::Result<Config> {
    Ok(config::load(source, &Overrides::default(), &env)?)
}
