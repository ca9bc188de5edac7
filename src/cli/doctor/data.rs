//! Checks of what the database holds: unmatched and failed webhooks, failed jobs, a
//! job queue or search index that fell behind, providers that went quiet.

use rusqlite::Connection;

use super::{Check, RESTORE, fail, pass, warn};
use crate::model::Provider;
use crate::store::{self, channel, journal, now_ms};
use crate::time_fmt::rfc3339;

/// The checks that read the database; returns the channels for the Graph checks.
pub(super) fn checks(
    conn: &Connection,
    silence_hours: u64,
    checks: &mut Vec<Check>,
) -> Vec<channel::Channel> {
    let day_ago = now_ms() - 24 * 3600 * 1000;
    let results = [
        ("unmatched webhooks", unmatched(conn, day_ago)),
        ("failed webhooks", failed_bodies(conn)),
        ("failed jobs", failed_jobs(conn)),
        ("job queue", job_queue(conn)),
        ("search index", search_index(conn)),
    ];
    for (name, r) in results {
        checks.push(r.unwrap_or_else(|e| fail(name, e.to_string(), RESTORE)));
    }
    let channels = match channel::list(conn) {
        Ok(c) => c,
        Err(e) => {
            checks.push(fail("channels", e.to_string(), RESTORE));
            return Vec::new();
        }
    };
    if channels.is_empty() {
        checks.push(warn(
            "channels",
            "none: every webhook is journaled as unmatched",
            "helpstack channel add facebook --page-id ID --access-token TOKEN",
        ));
    }
    for provider in Provider::ALL {
        match silence(conn, &channels, provider, silence_hours) {
            Ok(Some(c)) => checks.push(c),
            Ok(None) => {}
            Err(e) => checks.push(fail("webhook traffic", e.to_string(), RESTORE)),
        }
    }
    channels
}

fn unmatched(conn: &Connection, since: i64) -> store::Result<Check> {
    let name = "unmatched webhooks";
    let ids = journal::unmatched_since(conn, since)?;
    let Some((provider, first, _)) = ids.first() else {
        return Ok(pass(name, "none in the last 24 h"));
    };
    let listed: Vec<String> = ids
        .iter()
        .take(10)
        .map(|(p, id, n)| {
            let label = Provider::parse(p).map(|p| p.id_label()).unwrap_or("id");
            format!("{p} {label} {id} ({n} webhooks)")
        })
        .collect();
    let flag = match Provider::parse(provider) {
        Some(Provider::Instagram) => "--account-id",
        Some(Provider::Whatsapp) => "--phone-number-id",
        _ => "--page-id",
    };
    Ok(warn(
        name,
        format!(
            "in the last 24 h, for ids with no channel: {}",
            listed.join(", ")
        ),
        format!(
            "helpstack channel add {provider} {flag} {first} --access-token TOKEN, then \
             helpstack replay --outcome unmatched"
        ),
    ))
}

fn failed_bodies(conn: &Connection) -> store::Result<Check> {
    let name = "failed webhooks";
    let n = journal::count(conn, Some(crate::model::Outcome::Failed))?;
    Ok(if n == 0 {
        pass(name, "none")
    } else {
        fail(
            name,
            format!("{n} journaled bodies could not be stored"),
            "see the server log for the cause, fix it, then helpstack replay --outcome failed",
        )
    })
}

/// Failed jobs are kept (a new token re-queues those its predecessor failed), so only
/// the last week's are a warning: a download that failed months ago, its link long
/// expired, would otherwise keep every later run of `doctor` on a warning nobody can
/// clear, and a new failure would hide behind it.
const FAILED_JOBS_WINDOW_DAYS: i64 = 7;

fn failed_jobs(conn: &Connection) -> store::Result<Check> {
    let name = "failed jobs";
    let since = now_ms() - FAILED_JOBS_WINDOW_DAYS * 24 * 3600 * 1000;
    let older = store::doctor::failed_jobs_before(conn, since)?;
    let older_note = match older {
        0 => String::new(),
        n => format!(" ({n} older)"),
    };
    let mut groups: Vec<(String, i64)> = Vec::new();
    for (kind, error, n) in store::doctor::failed_job_reasons(conn, since)? {
        let error = match error.split_once(" attempts: ") {
            Some((head, rest)) if head.starts_with("gave up after") => rest.to_string(),
            _ => error,
        };
        let key = format!("{kind}: {}", error.chars().take(120).collect::<String>());
        match groups.iter_mut().find(|(k, _)| *k == key) {
            Some(g) => g.1 += n,
            None => groups.push((key, n)),
        }
    }
    if groups.is_empty() {
        return Ok(pass(
            name,
            format!("none in the last {FAILED_JOBS_WINDOW_DAYS} days{older_note}"),
        ));
    }
    groups.sort_by_key(|g| std::cmp::Reverse(g.1));
    let total: i64 = groups.iter().map(|g| g.1).sum();
    let listed: Vec<String> = groups
        .iter()
        .take(5)
        .map(|(k, n)| format!("{n}x {k}"))
        .collect();
    let token_failures =
        store::doctor::failed_with_reason(conn, since, store::job::FailureReason::TokenInvalid)?;
    let hint = if token_failures > 0 {
        "replace the channel's token with `helpstack channel set-token ID --value TOKEN`: it re-queues the jobs the old one failed"
    } else {
        "see the reasons above; failed downloads show on their message in the dashboard"
    };
    Ok(warn(
        name,
        format!(
            "{total} failed in the last {FAILED_JOBS_WINDOW_DAYS} days{older_note}: {}",
            listed.join("; ")
        ),
        hint,
    ))
}

/// How long work may wait before doctor calls it stuck: the server runs due jobs at
/// once and indexes new messages every 250 ms, so minutes mean it is not doing so.
const BACKLOG_WARN_MS: i64 = 10 * 60 * 1000;

fn job_queue(conn: &Connection) -> store::Result<Check> {
    let name = "job queue";
    let (due, oldest) = store::doctor::due_jobs(conn, now_ms())?;
    let Some(oldest) = oldest else {
        return Ok(pass(name, "no job waiting"));
    };
    let detail = format!(
        "{due} {} (profile fetches, downloads) due, the oldest since {}",
        plural(due, "job", "jobs"),
        rfc3339(oldest)
    );
    Ok(backlog(
        name,
        detail,
        oldest,
        "jobs run only while `helpstack serve` runs with job_workers above 0 (more workers \
         drain a burst of new senders faster); \"Meta is unreachable\" or \"rate limiting\" \
         in the server log means they wait for the Graph API",
    ))
}

fn search_index(conn: &Connection) -> store::Result<Check> {
    let name = "search index";
    let (waiting, oldest) = store::doctor::search_backlog(conn)?;
    let Some(oldest) = oldest else {
        return Ok(pass(name, "every message is searchable"));
    };
    let detail = format!(
        "{waiting} {} not searchable yet, the oldest from {}",
        plural(waiting, "message", "messages"),
        rfc3339(oldest)
    );
    Ok(backlog(
        name,
        detail,
        oldest,
        "`helpstack serve` indexes them in the background; if the number does not fall \
         while it runs, look for \"indexing new messages for search failed\" in its log",
    ))
}

/// A pass while the oldest waiting item is younger than [`BACKLOG_WARN_MS`], a warning
/// with `hint` after.
fn backlog(name: &str, detail: String, oldest: i64, hint: &str) -> Check {
    if now_ms() - oldest < BACKLOG_WARN_MS {
        pass(name, detail)
    } else {
        warn(name, detail, hint)
    }
}

fn plural<'a>(n: i64, one: &'a str, many: &'a str) -> &'a str {
    if n == 1 { one } else { many }
}

/// Warns when a provider with (not brand-new) channels received nothing for `hours`.
fn silence(
    conn: &Connection,
    channels: &[channel::Channel],
    provider: Provider,
    hours: u64,
) -> store::Result<Option<Check>> {
    let name = format!("{provider} traffic");
    let mine: Vec<&channel::Channel> = channels.iter().filter(|c| c.provider == provider).collect();
    let Some(oldest) = mine.iter().map(|c| c.created_at).min() else {
        return Ok(None);
    };
    let window = hours as i64 * 3600 * 1000;
    let since = now_ms() - window;
    let last = journal::last_received(conn, provider.as_str())?;
    let detail = match last {
        Some(t) => format!("last webhook {}", rfc3339(t)),
        None => "no webhook ever received".into(),
    };
    if last.is_some_and(|t| t >= since) || oldest >= since {
        return Ok(Some(pass(&name, detail)));
    }
    let resubscribe = match provider {
        Provider::Whatsapp => "check App dashboard > WhatsApp > Configuration".to_string(),
        _ => format!("check with `helpstack channel resubscribe {}`", mine[0].id),
    };
    Ok(Some(warn(
        &name,
        format!("nothing in the last {hours} h ({detail})"),
        format!(
            "Meta unsubscribes an app after an hour of failed deliveries: {resubscribe}, and \
             that the callback URL reaches this server"
        ),
    )))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn failed_job_reasons_group_without_attempt_counts() {
        let conn = crate::store::memory();
        for (i, err) in [
            "gave up after 8 attempts: temporary failure: HTTP 500",
            "gave up after 3 attempts: temporary failure: HTTP 500",
            "access token rejected (code 190): expired",
        ]
        .iter()
        .enumerate()
        {
            fail_job(&conn, i as i64, err, now_ms() - 3600 * 1000);
        }
        // Two months ago: history, not a warning.
        fail_job(
            &conn,
            10,
            "media host answered 404 (link expired or removed)",
            0,
        );
        let c = failed_jobs(&conn).unwrap();
        assert_eq!(c.status, super::super::Status::Warn);
        assert!(
            c.detail.starts_with(
                "3 failed in the last 7 days (1 older): 2x download_attachment: temporary failure"
            ),
            "{}",
            c.detail
        );
        assert!(!c.detail.contains("404"), "{}", c.detail);
        assert!(c.hint.unwrap().contains("set-token"));
    }

    #[test]
    fn failed_jobs_older_than_a_week_pass() {
        let conn = crate::store::memory();
        assert_eq!(
            failed_jobs(&conn).unwrap().detail,
            "none in the last 7 days"
        );
        let eight_days = 8 * 24 * 3600 * 1000;
        fail_job(&conn, 1, "media host answered 404", now_ms() - eight_days);
        let c = failed_jobs(&conn).unwrap();
        assert_eq!(c.status, super::super::Status::Pass);
        assert_eq!(c.detail, "none in the last 7 days (1 older)");
    }

    /// A failed job, with the reason code the job runner stores for such an error.
    fn fail_job(conn: &Connection, subject_id: i64, error: &str, at_ms: i64) {
        use crate::store::job::{self, FailureReason, JobKind};
        let reason = if error.starts_with("access token rejected") {
            FailureReason::TokenInvalid
        } else if error.starts_with("gave up after") {
            FailureReason::RetriesExhausted
        } else {
            FailureReason::Other
        };
        job::queue(conn, JobKind::DownloadAttachment, subject_id, at_ms).unwrap();
        let claimed = job::claim(conn, 60_000)
            .unwrap()
            .expect("the job just queued");
        job::fail_at(conn, claimed.id, reason, error, at_ms).unwrap();
    }

    #[test]
    fn unmatched_ids_are_named() {
        let conn = crate::store::memory();
        let e = journal::NewEntry {
            provider: "facebook",
            received_at: now_ms(),
            body: b"{}",
            secret_used: None,
            outcome: crate::model::Outcome::Unmatched,
            reason: None,
            stored: 0,
            unmatched: &["999".to_string()],
        };
        journal::insert(&conn, &e).unwrap();
        let c = unmatched(&conn, 0).unwrap();
        assert!(
            c.detail.contains("facebook page id 999 (1 webhooks)"),
            "{}",
            c.detail
        );
        assert!(c.hint.unwrap().contains("--page-id 999"));
    }
}
