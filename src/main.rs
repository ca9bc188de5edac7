use std::process::ExitCode;

use clap::Parser;
use helpstack::cli::{self, Cli, UsageError};
use helpstack::config::ConfigError;

/// The static musl build (the .deb) uses mimalloc: musl's malloc is slow under load.
#[cfg(target_env = "musl")]
#[global_allocator]
static GLOBAL: mimalloc::MiMalloc = mimalloc::MiMalloc;

fn main() -> ExitCode {
    // Before anything is created: data, backups and key files are owner-only whatever
    // the shell's umask (the config file's group mode is set explicitly by init).
    helpstack::private_files::restrict_umask();
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
/// generated credentials). `RUST_LOG` overrides the level. On a terminal logs are
/// text; elsewhere (systemd's journal, a log shipper) one JSON object per line, unless
/// `HELPSTACK_LOG_FORMAT=text|json` says otherwise. Secrets never reach a log line:
/// they are `Secret` values that print as `***`.
fn init_logging(serving: bool) {
    use std::io::IsTerminal;
    let default = if serving { "info" } else { "warn" };
    let filter = tracing_subscriber::EnvFilter::try_from_default_env()
        .unwrap_or_else(|_| tracing_subscriber::EnvFilter::new(default));
    let json = match std::env::var("HELPSTACK_LOG_FORMAT").as_deref() {
        Ok("json") => true,
        Ok("text") => false,
        _ => !std::io::stderr().is_terminal(),
    };
    let builder = tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_writer(std::io::stderr);
    if json {
        builder.json().init();
    } else {
        builder.init();
    }
}
