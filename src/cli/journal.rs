//! `helpstack journal`: keep the raw webhook journal from growing forever.
//!
//! The retention rule is `maintenance`'s, the one `serve` applies every hour: old
//! `processed` and `ignored` bodies go, `unmatched` and `failed` ones stay for `replay`
//! unless `--all-outcomes` is given. Nothing newer than the cutoff is ever deleted.

use std::time::Duration;

use clap::Subcommand;

use super::UsageError;
use crate::config::ConfigSource;
use crate::maintenance;
use crate::model::Outcome;
use crate::store::journal;
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
            let db = super::open_database(&config)?;
            let cutoff = now_ms() - older_than.as_millis() as i64;
            let outcomes = if all_outcomes {
                maintenance::ALL_OUTCOMES
            } else {
                maintenance::PRUNABLE
            };
            let n = if dry_run {
                journal::prune(&*db.conn()?, cutoff, outcomes, true)?
            } else {
                super::block_on(maintenance::prune_journal(&db, cutoff, outcomes))??
            };
            let conn = db.conn()?;
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
