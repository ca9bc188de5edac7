//! `helpstack serve`.

use crate::config::{self, ConfigSource, Overrides};

/// Flags of `serve`.
#[derive(Debug, clap::Args)]
pub struct Args {
    #[command(flatten)]
    pub overrides: Overrides,
}

/// Loads the configuration and runs the server until SIGTERM/SIGINT.
pub fn run(source: &ConfigSource, args: Args) -> anyhow::Result<()> {
    let config = config::load(source, &args.overrides, &super::env)?;
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        // The blocking pool runs store calls (at most one per pooled connection, see
        // `store::Db::call`), password hashing, DNS lookups and file I/O. Capped, because
        // with mimalloc (the static build) every thread keeps its own heap.
        .max_blocking_threads(16)
        .build()?;
    let reload = crate::server::Reload {
        source: source.clone(),
        overrides: args.overrides,
    };
    runtime.block_on(crate::server::run(config, reload))
}
