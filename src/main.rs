use std::process::ExitCode;

use clap::Parser;
use helpstack::cli::{self, Cli, UsageError};
use helpstack::config::ConfigError;

fn main() -> ExitCode {
    let cli = Cli::parse();
    init_logging(matches!(cli.command, cli::Command::Serve(_)));
    match cli::run(cli) {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("error: {e:#}");
            if e.downcast_ref::<ConfigError>().is_some() || e.downcast_ref::<UsageError>().is_some()
            {
                ExitCode::from(2)
            } else {
                ExitCode::FAILURE
            }
        }
    }
}

/// Logs go to stderr; stdout carries what the operator must read (bound address,
/// generated credentials). `RUST_LOG` overrides the level.
fn init_logging(serving: bool) {
    let default = if serving { "info" } else { "warn" };
    let filter = tracing_subscriber::EnvFilter::try_from_default_env()
        .unwrap_or_else(|_| tracing_subscriber::EnvFilter::new(default));
    tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_writer(std::io::stderr)
        .init();
}
