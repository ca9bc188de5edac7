//! `helpstack journal`: keep the raw webhook journal from growing forever.
//!
//! Retention rule: `prune` deletes `processed` and `ignored` bodies older than the
//! cutoff; their results live on in the conversations. `unmatched` and `failed` bodies
//! are what `replay` needs, so they are kept at any age unless `--all-outcomes` is
//! given. Nothing newer than the cutoff is ever deleted.

use std::time::Duration;

use clap::Subcommand;

use super::UsageError;
use crate::config::ConfigSource;
use crate::store::journal::{self, Outcome};
use crate::store::now_ms;

/// Journal subcommands.
#[derive(Debug, Subcommand)]
pub enum Command {
    /// Delete journal rows older than a cutoff (processed and ignored ones by default)
    Prune {
        /// Age of the oldest rows to keep, e.g. 30d (at least 1h)
        #[arg(long, value_name = "AGE", value_parser = super::parse_duration)]
        older_than: Duration,
        /// Also delete unmatched and failed rows (replay can no longer recover them)
        #[arg(long)]
        all_outcomes: bool,
        /// Only count what would be deleted
        #[arg(long)]
        dry_run: bool,
    },
}

/// Runs a journal subcommand.
pub fn run(source: &ConfigSource, cmd: Command) -> anyhow::Result<()> {
    let config = super::load(source)?;
    match cmd {
        Command::Prune {
            older_than,
            all_outcomes,
            dry_run,
        } => {
            if older_than < Duration::from_secs(3600) {
                return Err(UsageError("--older-than must be at least 1h".into()).into());
            }
            let db = crate::server::open_database(&config)?;
            let conn = db.conn()?;
            let cutoff = now_ms() - older_than.as_millis() as i64;
            let outcomes: &[Outcome] = if all_outcomes {
                &[
                    Outcome::Processed,
                    Outcome::Ignored,
                    Outcome::Unmatched,
                    Outcome::Failed,
                ]
            } else {
                &[Outcome::Processed, Outcome::Ignored]
            };
            let n = journal::prune(&conn, cutoff, outcomes, dry_run)?;
            let names: Vec<&str> = outcomes.iter().map(|o| o.as_str()).collect();
            let verb = if dry_run { "would delete" } else { "deleted" };
            println!(
                "{verb} {n} journal rows ({}) received before {}",
                names.join(", "),
                crate::time_fmt::rfc3339(cutoff)
            );
            if !all_outcomes {
                let kept = journal::count(&conn, Some(Outcome::Unmatched))?
                    + journal::count(&conn, Some(Outcome::Failed))?;
                if kept > 0 {
                    println!(
                        "kept {kept} unmatched/failed rows for `helpstack replay` (--all-outcomes deletes old ones too)"
                    );
                }
            }
            Ok(())
        }
    }
}
