//! `helpstack replay`: run journaled webhook bodies through the current parsers and
//! store them again, e.g. the `unmatched` ones after their channel was added, or
//! `ignored` ones after an upgrade taught the parser a new event type.
//!
//! Each body is applied in its own transaction, exactly as ingest applies it, and every
//! write is idempotent, so replaying twice (or replaying what was already stored)
//! changes nothing. The journal row's outcome is updated to the new result (see
//! `store::replay`). Changes reach the dashboard of a running server on its next
//! refresh: the live feed only carries what the server itself wrote.

use std::collections::BTreeMap;

use clap::ValueEnum;
use serde::Serialize;

use crate::config::ConfigSource;
use crate::model::Outcome;
use crate::model::Provider;
use crate::store::{self, replay};
use crate::webhook::parse;

/// Outcomes to pick bodies by.
#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum Pick {
    Unmatched,
    Ignored,
    Failed,
    Processed,
}

impl Pick {
    fn outcome(self) -> Outcome {
        match self {
            Pick::Unmatched => Outcome::Unmatched,
            Pick::Ignored => Outcome::Ignored,
            Pick::Failed => Outcome::Failed,
            Pick::Processed => Outcome::Processed,
        }
    }
}

/// Flags of `replay`.
#[derive(Debug, clap::Args)]
pub struct Args {
    /// Only bodies received since then: RFC 3339 time or an age such as 2h or 7d
    #[arg(long, value_name = "TIME", value_parser = super::parse_since)]
    pub since: Option<i64>,
    /// Only bodies with this outcome (default: every outcome except processed)
    #[arg(long, value_enum)]
    pub outcome: Option<Pick>,
    /// Report what would change without writing anything
    #[arg(long)]
    pub dry_run: bool,
    /// Print the summary as JSON
    #[arg(long)]
    pub json: bool,
}

/// What a replay did.
#[derive(Debug, Default, Serialize)]
struct Summary {
    bodies: i64,
    events_stored: i64,
    /// New outcome -> number of bodies.
    outcomes: BTreeMap<&'static str, i64>,
    /// Bodies whose outcome changed.
    changed_outcome: i64,
    /// "provider id" -> bodies still naming it.
    still_unmatched: BTreeMap<String, i64>,
    /// Bodies that are not JSON or name no provider (never journaled by HelpStack).
    skipped: i64,
    dry_run: bool,
}

/// Runs `replay`.
pub fn run(source: &ConfigSource, args: Args) -> anyhow::Result<()> {
    let config = super::load(source)?;
    let db = super::open_database(&config)?;
    let mut conn = db.dedicated()?;
    let outcomes: Vec<Outcome> = match args.outcome {
        Some(p) => vec![p.outcome()],
        None => vec![Outcome::Unmatched, Outcome::Ignored, Outcome::Failed],
    };
    let opts = store::apply::Options {
        profile_max_age_ms: config.profile_max_age_days as i64 * 24 * 3600 * 1000,
    };
    let since = args.since.unwrap_or(0);
    let mut summary = Summary {
        dry_run: args.dry_run,
        ..Default::default()
    };
    let mut after = 0;
    loop {
        let page = replay::page(&conn, after, since, &outcomes, 200)?;
        let Some(last) = page.last() else { break };
        after = last.id;
        for entry in page {
            replay_one(&mut conn, &entry, &opts, !args.dry_run, &mut summary)?;
        }
    }
    print(&summary, args.json)
}

fn replay_one(
    conn: &mut rusqlite::Connection,
    entry: &replay::Entry,
    opts: &store::apply::Options,
    commit: bool,
    summary: &mut Summary,
) -> anyhow::Result<()> {
    let (Some(provider), Ok(value)) = (
        Provider::parse(&entry.provider),
        serde_json::from_slice::<serde_json::Value>(&entry.body),
    ) else {
        summary.skipped += 1;
        return Ok(());
    };
    // The time it was first received, so a replay settles times as the first run did.
    let batch = parse::parse(provider, &value, entry.received_at);
    let (outcome, changed, unmatched) = replay::in_transaction(conn, commit, |tx| {
        let applied = store::apply::apply(tx, provider, &batch, opts)?;
        store::search::index_pending(tx)?;
        let (outcome, reason) = crate::ingest::classify(provider, &batch, &applied);
        let note = (outcome.as_str() != entry.outcome).then(|| {
            format!(
                "replayed {} (was {})",
                crate::time_fmt::rfc3339(store::now_ms()),
                entry.outcome
            )
        });
        let reason = match (reason, note) {
            (Some(r), Some(n)) => Some(format!("{r}; {n}")),
            (r, n) => r.or(n),
        };
        replay::record(
            tx,
            entry.id,
            outcome,
            reason.as_deref(),
            applied.changed,
            &applied.unmatched,
        )?;
        Ok((outcome, applied.changed, applied.unmatched))
    })?;
    summary.bodies += 1;
    summary.events_stored += changed;
    *summary.outcomes.entry(outcome.as_str()).or_default() += 1;
    if outcome.as_str() != entry.outcome {
        summary.changed_outcome += 1;
    }
    for id in unmatched {
        *summary
            .still_unmatched
            .entry(format!("{provider} {id}"))
            .or_default() += 1;
    }
    Ok(())
}

fn print(s: &Summary, json: bool) -> anyhow::Result<()> {
    if json {
        println!("{}", serde_json::to_string_pretty(s)?);
        return Ok(());
    }
    let verb = if s.dry_run {
        "would replay"
    } else {
        "replayed"
    };
    println!(
        "{verb} {} bodies: {} events stored, {} changed outcome",
        s.bodies, s.events_stored, s.changed_outcome
    );
    for (outcome, n) in &s.outcomes {
        println!("  {outcome:<10} {n}");
    }
    if s.skipped > 0 {
        println!("  skipped {} bodies that are not JSON", s.skipped);
    }
    if s.still_unmatched.is_empty() {
        println!("still unmatched: none");
    } else {
        let ids: Vec<String> = s
            .still_unmatched
            .iter()
            .map(|(id, n)| format!("{id} ({n})"))
            .collect();
        println!(
            "still unmatched: {} (add these with `helpstack channel add`)",
            ids.join(", ")
        );
    }
    if s.dry_run {
        println!("dry run: nothing was written");
    } else if s.events_stored > 0 {
        println!("a running server's dashboard shows these after a page refresh");
    }
    Ok(())
}
