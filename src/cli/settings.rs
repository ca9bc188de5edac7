//! `helpstack config`: the settings, as the one table in `config/settings.rs` defines
//! them, and the configuration in effect.

use clap::Subcommand;

use crate::config::{self, ConfigSource, Overrides, sample};

/// Config subcommands.
#[derive(Debug, Subcommand)]
pub enum Command {
    /// Print the configuration in effect, each value with its source (default, file,
    /// env NAME, flag); secrets are redacted
    Show {
        #[command(flatten)]
        overrides: Overrides,
    },
    /// Print the annotated sample config (every key, its environment variables and
    /// default), as installed at /etc/helpstack/helpstack.toml
    Sample,
    /// Print one line per key, tab-separated: key, environment variables
    /// (comma-separated, first wins), type, default, description
    Keys,
}

/// Runs a config subcommand.
pub fn run(source: &ConfigSource, cmd: Command) -> anyhow::Result<()> {
    match cmd {
        Command::Show { overrides } => {
            let (config, layered) = config::load_layered(source, &overrides, &super::env)?;
            print!("{}", sample::show(&config, &layered));
        }
        Command::Sample => print!("{}", sample::sample()),
        Command::Keys => print!("{}", sample::keys()),
    }
    Ok(())
}
