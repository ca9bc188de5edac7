//! `helpstack sign`: the `X-Hub-Signature-256` value of a body, for curl tests and for
//! checking that the configured app secret is the one Meta uses.

use std::io::Read;
use std::path::PathBuf;

use super::UsageError;
use crate::config::ConfigSource;
use crate::webhook::signature;

/// Flags of `sign`.
#[derive(Debug, clap::Args)]
pub struct Args {
    /// Secret to sign with (default: the configured app secret)
    #[arg(long, value_name = "SECRET")]
    pub secret: Option<String>,
    /// File holding the body, or - for standard input
    #[arg(value_name = "FILE", default_value = "-")]
    pub file: PathBuf,
}

/// Prints `sha256=<hex>` of the body's exact bytes.
pub fn run(source: &ConfigSource, args: Args) -> anyhow::Result<()> {
    let config = super::load(source)?;
    let secret = super::signing_secret(args.secret.as_deref(), &config)?;
    let body = read_body(&args.file)?;
    println!("{}", signature::sign(&secret, &body));
    Ok(())
}

/// Reads a body from a file or, for `-`, standard input; byte for byte.
fn read_body(file: &std::path::Path) -> anyhow::Result<Vec<u8>> {
    if file.as_os_str() == "-" {
        let mut body = Vec::new();
        std::io::stdin().read_to_end(&mut body)?;
        return Ok(body);
    }
    std::fs::read(file)
        .map_err(|e| UsageError(format!("cannot read {}: {e}", file.display())).into())
}
