//! Checks of the host: the database file, the data directory, disk space, the port.

use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::time::Duration;

use rusqlite::Connection;

use super::{Check, RESTORE, fail, pass, warn};
use crate::config::Config;
use crate::store::{self, backup};

/// Opens the database without creating or migrating it; returns it when it is healthy
/// enough for the checks that read it.
pub(super) fn database(config: &Config, checks: &mut Vec<Check>) -> Option<Connection> {
    let path = config.database_path();
    let unreadable =
        |e: &dyn std::fmt::Display| fail("database", format!("{}: {e}", path.display()), RESTORE);
    let conn = match backup::open_existing(&path) {
        Ok(c) => c,
        Err(store::StoreError::NotFound(_)) => {
            checks.push(warn(
                "database",
                format!("{} does not exist yet", path.display()),
                "`helpstack init` or `helpstack serve` creates it",
            ));
            return None;
        }
        Err(e) => {
            checks.push(unreadable(&e));
            return None;
        }
    };
    let integrity = backup::integrity_check(&conn, 10);
    // The first read creates -wal/-shm if absent; as root they must stay usable by the
    // service.
    crate::ownership::hand_over_database_files(&config.data_dir, &path);
    match integrity {
        Ok(r) if r == ["ok"] => checks.push(pass(
            "database",
            format!("{} opens, integrity_check ok", path.display()),
        )),
        Ok(problems) => {
            checks.push(fail(
                "database",
                format!("{} is damaged: {}", path.display(), problems.join("; ")),
                RESTORE,
            ));
            return None;
        }
        Err(e) => {
            checks.push(unreadable(&e));
            return None;
        }
    }
    checks.push(schema(&conn));
    Some(conn)
}

fn schema(conn: &Connection) -> Check {
    let name = "schema";
    match backup::schema_version(conn) {
        Ok(v) if v == store::SCHEMA_VERSION => pass(name, format!("version {v} (current)")),
        Ok(v) if v < store::SCHEMA_VERSION => warn(
            name,
            format!("version {v}, this binary writes {}", store::SCHEMA_VERSION),
            "the next `helpstack serve` migrates it; take a `helpstack backup` first",
        ),
        Ok(v) => fail(
            name,
            format!(
                "version {v} is newer than this binary ({})",
                store::SCHEMA_VERSION
            ),
            "upgrade helpstack, or restore a backup made by this version",
        ),
        Err(e) => fail(name, e.to_string(), RESTORE),
    }
}

/// Checks that the data directory exists (or can be created) and is writable.
pub(super) fn data_dir(dir: &Path) -> Check {
    let name = "data directory";
    if !dir.exists() {
        let ancestor = dir.ancestors().skip(1).find(|a| a.exists());
        return match ancestor {
            Some(a) if !a.is_dir() => fail(
                name,
                format!(
                    "{} cannot be created: {} is not a directory",
                    dir.display(),
                    a.display()
                ),
                "set data_dir to a directory path",
            ),
            Some(a) if probe_write(a).is_err() => fail(
                name,
                format!(
                    "{} cannot be created: {} is not writable",
                    dir.display(),
                    a.display()
                ),
                "create it and give it to the service user",
            ),
            _ => warn(
                name,
                format!("{} does not exist yet", dir.display()),
                "`helpstack serve` creates it",
            ),
        };
    }
    if !dir.is_dir() {
        return fail(
            name,
            format!("{} is not a directory", dir.display()),
            "set data_dir to a directory",
        );
    }
    match probe_write(dir) {
        Ok(()) => pass(name, format!("{} is writable", dir.display())),
        Err(e) => fail(
            name,
            format!("{} is not writable: {e}", dir.display()),
            format!(
                "chown the directory to the user running helpstack (e.g. chown -R helpstack {})",
                dir.display()
            ),
        ),
    }
}

/// Creates and deletes a file, the one reliable test (permission bits lie for root).
fn probe_write(dir: &Path) -> std::io::Result<()> {
    let probe = dir.join(format!(".doctor-{}", crate::secrets::random_token(6)));
    std::fs::write(&probe, b"probe")?;
    std::fs::remove_file(&probe)
}

/// Checks the free space where the database and attachments live.
pub(super) fn disk_space(dir: &Path) -> Check {
    let name = "disk space";
    let existing: PathBuf = dir
        .ancestors()
        .find(|a| a.is_dir())
        .map(Path::to_path_buf)
        .unwrap_or_else(|| PathBuf::from("."));
    // std has no statvfs and unsafe code is forbidden here: ask POSIX df.
    let out = std::process::Command::new("df")
        .arg("-Pk")
        .arg(&existing)
        .output();
    let available_kb = out.ok().and_then(|o| {
        let text = String::from_utf8_lossy(&o.stdout).into_owned();
        text.lines()
            .nth(1)?
            .split_whitespace()
            .nth(3)?
            .parse::<u64>()
            .ok()
    });
    let Some(kb) = available_kb else {
        return warn(
            name,
            "could not measure (df -Pk failed)",
            "check free space by hand",
        );
    };
    let mib = kb / 1024;
    let detail = format!("{mib} MiB free on the filesystem of {}", existing.display());
    let hint = "free space or move data_dir: SQLite refuses writes (webhooks get 500) when the disk is full";
    match mib {
        0..100 => fail(name, detail, hint),
        100..1024 => warn(name, detail, hint),
        _ => pass(name, detail),
    }
}

/// Is the listen address free, or already served by HelpStack?
/// Returns the local address of the running server too, when it answered.
pub(super) async fn listen(addr: &str) -> (Check, Option<SocketAddr>) {
    let name = "listen address";
    let Ok(parsed) = addr.parse::<SocketAddr>() else {
        let check = fail(
            name,
            format!("{addr} is not IP:port"),
            "set listen, e.g. 127.0.0.1:8080",
        );
        return (check, None);
    };
    if parsed.port() == 0 {
        return (pass(name, "port 0: a free port is picked at start"), None);
    }
    let bind = std::net::TcpListener::bind(parsed);
    let check = match bind {
        Ok(l) => {
            drop(l);
            warn(
                name,
                format!("{addr} is free: HelpStack is not running"),
                "start it: systemctl start helpstack (or helpstack serve)",
            )
        }
        Err(e) if e.kind() == std::io::ErrorKind::AddrInUse => {
            let mut local = parsed;
            if local.ip().is_unspecified() {
                local.set_ip(if local.is_ipv4() {
                    std::net::Ipv4Addr::LOCALHOST.into()
                } else {
                    std::net::Ipv6Addr::LOCALHOST.into()
                });
            }
            if healthz(&format!("http://{local}/healthz")).await {
                let check = pass(name, format!("HelpStack answers on {addr} (/healthz ok)"));
                return (check, Some(local));
            } else {
                fail(
                    name,
                    format!("{addr} is in use by something that is not a healthy HelpStack"),
                    "stop the other program or change listen",
                )
            }
        }
        Err(e) => fail(name, format!("cannot bind {addr}: {e}"), "change listen"),
    };
    (check, None)
}

/// Reads the running server's signature-failure counters from `/metrics` (they live in
/// memory only, so there is nothing to read when it is not running).
pub(super) async fn signature_failures(server: Option<SocketAddr>, token: Option<&str>) -> Check {
    let name = "signature failures";
    let Some(addr) = server else {
        return pass(
            name,
            "not measured: the server is not running (counters live in memory)",
        );
    };
    let Ok(client) = reqwest::Client::builder()
        .timeout(Duration::from_secs(3))
        .build()
    else {
        return pass(name, "not measured");
    };
    let mut req = client.get(format!("http://{addr}/metrics"));
    if let Some(t) = token {
        req = req.bearer_auth(t);
    }
    let text = match req.send().await {
        Ok(r) if r.status().is_success() => r.text().await.unwrap_or_default(),
        Ok(r) => {
            return pass(
                name,
                format!("not measured: /metrics answered {}", r.status()),
            );
        }
        Err(_) => return pass(name, "not measured: /metrics did not answer"),
    };
    let counts: Vec<(String, u64)> = text
        .lines()
        .filter_map(|l| l.strip_prefix("helpstack_signature_failures_total{provider=\""))
        .filter_map(|l| {
            let (provider, rest) = l.split_once('"')?;
            let n = rest.rsplit(' ').next()?.trim().parse::<u64>().ok()?;
            Some((provider.to_string(), n))
        })
        .filter(|(_, n)| *n > 0)
        .collect();
    if counts.is_empty() {
        return pass(name, "none since the server started");
    }
    let listed: Vec<String> = counts.iter().map(|(p, n)| format!("{p} {n}")).collect();
    warn(
        name,
        format!("since the server started: {}", listed.join(", ")),
        "app_secret must equal App dashboard > App settings > Basic > App secret; during a \
         rotation use `helpstack rotate app-secret` so the old one stays accepted",
    )
}

async fn healthz(url: &str) -> bool {
    let Ok(client) = reqwest::Client::builder()
        .timeout(Duration::from_secs(3))
        .build()
    else {
        return false;
    };
    match client.get(url).send().await {
        Ok(r) if r.status().is_success() => r.text().await.is_ok_and(|t| t.trim() == "ok"),
        _ => false,
    }
}

/// Checks that the data directory, database files, attachments and key file are
/// private to their owner (doctor reports, it does not fix: the next open does).
pub(super) fn private_files(config: &Config) -> Check {
    let problems: Vec<String> =
        crate::private_files::data_paths(&config.data_dir, &config.database_path())
            .iter()
            .filter_map(|p| crate::private_files::mode_problem(p))
            .collect();
    if problems.is_empty() {
        pass(
            "file modes",
            "data directory, database files, attachments and key are private to their owner",
        )
    } else {
        fail(
            "file modes",
            problems.join("; "),
            format!(
                "chmod -R go-rwx {} (or start helpstack once: it tightens them)",
                config.data_dir.display()
            ),
        )
    }
}

/// Checks the key that seals the access tokens is there and opens them, and that no
/// token is stored in plaintext. Installs the key for the Graph checks that follow.
pub(super) fn token_key(config: &Config, conn: Option<&Connection>) -> Check {
    let key_file = config.data_dir.join(crate::data_dir::KEY_FILE);
    if config.secret_key.is_none() && !key_file.exists() {
        return warn(
            "token key",
            "no secret_key configured and no key file yet",
            "`helpstack init` writes secret_key; `helpstack serve` creates the key file",
        );
    }
    if let Err(e) = crate::seal::install(
        config.secret_key.as_ref().map(|k| k.expose()),
        config.file.as_deref(),
        &config.data_dir,
    ) {
        return fail(
            "token key",
            e.to_string(),
            "restore the key from your config backup",
        );
    }
    let Some(conn) = conn else {
        return pass("token key", "key present");
    };
    let plain = store::channel::plaintext_count(conn).unwrap_or(0);
    let unreadable = store::channel::list(conn)
        .map(|list| {
            list.iter()
                .filter(|c| c.has_token && c.access_token().is_none())
                .count()
        })
        .unwrap_or(0);
    match (plain, unreadable) {
        (0, 0) => pass(
            "token key",
            format!(
                "access tokens sealed with key {}",
                crate::seal::current_id().unwrap_or_default()
            ),
        ),
        (_, n) if n > 0 => fail(
            "token key",
            format!("{n} channel token(s) cannot be opened with the configured key"),
            "restore the config (secret_key) or key file that belongs to this database, or \
             set the tokens again with `helpstack channel set-token`",
        ),
        (n, _) => warn(
            "token key",
            format!("{n} channel token(s) stored in plaintext"),
            "start `helpstack serve` once: it seals them",
        ),
    }
}
