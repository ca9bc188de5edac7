//! Load generator: measures signed, durably stored webhook ingest against the same
//! server's `/healthz` in the same run, and the read side on a large seeded database.
//!
//! It starts the release binary itself (so it can read the server's memory use) in a
//! temp directory with one Facebook channel:
//!
//! ```sh
//! cargo build --release && cargo run --release --example loadgen -- --connections 32 --seconds 10
//! cargo run --release --example loadgen -- --seed-messages 1000000 --seed-conversations 50000
//! ```
//!
//! Everything goes to 127.0.0.1 only; every loop is bounded in time and count. The
//! server's background jobs talk to a fake Graph API in this process, which answers
//! every profile with a name and a small picture, so each new sender costs what it does
//! in production (a profile fetch, a picture download and their writes) and nothing
//! reaches Meta.

use std::path::PathBuf;
use std::process::{Child, Command, Stdio};
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{Duration, Instant};

use clap::Parser;
use serde_json::json;

const SECRET: &str = "loadgen-secret";
const PAGE: &str = "1000000001";

#[derive(Parser, Debug)]
struct Args {
    /// Concurrent connections
    #[arg(long, default_value_t = 32)]
    connections: usize,
    /// Seconds per measurement
    #[arg(long, default_value_t = 10)]
    seconds: u64,
    /// Total request rate cap per second (0 = as fast as possible, closed loop)
    #[arg(long, default_value_t = 0)]
    rate: u64,
    /// Server binary
    #[arg(long, default_value = "target/release/helpstack")]
    bin: PathBuf,
    /// Seed this many messages, then measure the read side (0 = skip)
    #[arg(long, default_value_t = 0)]
    seed_messages: u64,
    /// Spread the seeded messages over this many conversations
    #[arg(long, default_value_t = 50_000)]
    seed_conversations: u64,
    /// Keep the data directory here instead of a temp dir (reused if it exists)
    #[arg(long)]
    data: Option<PathBuf>,
    /// How long the fake Graph API takes to answer a profile or picture request: a
    /// stand-in for the round trip to Meta (0 makes the job pool run flat out)
    #[arg(long, default_value_t = 100)]
    graph_latency_ms: u64,
}

struct Server {
    child: Child,
    addr: String,
}

impl Drop for Server {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// A 1x1 PNG: the profile picture the fake Graph API serves.
const PICTURE: &[u8] = &[
    0x89, 0x50, 0x4e, 0x47, 0x0d, 0x0a, 0x1a, 0x0a, 0x00, 0x00, 0x00, 0x0d, 0x49, 0x48, 0x44, 0x52,
    0x00, 0x00, 0x00, 0x01, 0x00, 0x00, 0x00, 0x01, 0x08, 0x06, 0x00, 0x00, 0x00, 0x1f, 0x15, 0xc4,
    0x89, 0x00, 0x00, 0x00, 0x0a, 0x49, 0x44, 0x41, 0x54, 0x78, 0x9c, 0x63, 0x00, 0x01, 0x00, 0x00,
    0x05, 0x00, 0x01, 0x0d, 0x0a, 0x2d, 0xb4, 0x00, 0x00, 0x00, 0x00, 0x49, 0x45, 0x4e, 0x44, 0xae,
    0x42, 0x60, 0x82,
];

/// The fake Graph API: `/v25.0/{id}` answers a profile, `/picture.png` the picture,
/// each after `latency`.
#[poem::handler]
async fn graph(req: &poem::Request, latency: poem::web::Data<&Duration>) -> poem::Response {
    tokio::time::sleep(*latency.0).await;
    if req.uri().path() == "/picture.png" {
        return poem::Response::builder()
            .content_type("image/png")
            .body(PICTURE);
    }
    let id = req.uri().path().rsplit('/').next().unwrap_or_default();
    let host = req.header("host").unwrap_or("127.0.0.1");
    let profile = json!({"id": id, "first_name": "Load", "last_name": format!("Tester {id}"),
                         "profile_pic": format!("http://{host}/picture.png")});
    poem::Response::builder()
        .content_type("application/json")
        .body(profile.to_string())
}

/// Starts the fake Graph API on its own thread and returns its base URL.
fn fake_graph(latency: Duration) -> String {
    let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let addr = listener.local_addr().unwrap();
    listener.set_nonblocking(true).unwrap();
    std::thread::Builder::new()
        .name("fake-graph".into())
        .spawn(move || {
            let rt = tokio::runtime::Builder::new_current_thread()
                .enable_all()
                .build()
                .unwrap();
            rt.block_on(async move {
                let listener = tokio::net::TcpListener::from_std(listener).unwrap();
                let acceptor = poem::listener::TcpAcceptor::from_tokio(listener).unwrap();
                let _ = poem::Server::new_with_acceptor(acceptor)
                    .run(poem::EndpointExt::data(graph, latency))
                    .await;
            });
        })
        .unwrap();
    format!("http://{addr}/v25.0")
}

fn start(bin: &PathBuf, dir: &std::path::Path, graph_latency: Duration) -> Server {
    let graph_url = fake_graph(graph_latency);
    let env = |c: &mut Command| {
        c.current_dir(dir)
            .env("HELPSTACK_GRAPH_API_URL", &graph_url)
            // The fake's picture URL is on 127.0.0.1, which the media guard refuses.
            .env("HELPSTACK_ALLOW_PRIVATE_MEDIA_HOSTS", "true")
            .env("FACEBOOK_APP_SECRET", SECRET)
            .env("FACEBOOK_VERIFY_TOKEN", "loadgen")
            .env("RUST_LOG", "warn");
    };
    let bin =
        std::fs::canonicalize(bin).expect("build the release binary first: cargo build --release");
    let mut add = Command::new(&bin);
    env(&mut add);
    let _ = add
        .args([
            "channel",
            "add",
            "facebook",
            "--page-id",
            PAGE,
            "--access-token",
            "t",
        ])
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .status();
    let mut cmd = Command::new(&bin);
    env(&mut cmd);
    let mut child = cmd
        .args(["serve", "--listen", "127.0.0.1:0"])
        .stdout(Stdio::piped())
        .stderr(Stdio::inherit())
        .spawn()
        .unwrap();
    use std::io::BufRead;
    let out = child.stdout.take().unwrap();
    let (tx, rx) = std::sync::mpsc::channel();
    std::thread::spawn(move || {
        for line in std::io::BufReader::new(out).lines().map_while(Result::ok) {
            if let Some(a) = line.strip_prefix("listening on http://") {
                let _ = tx.send(a.to_string());
            }
        }
    });
    let addr = rx
        .recv_timeout(Duration::from_secs(30))
        .expect("server did not start");
    Server { child, addr }
}

/// Resident and peak resident memory of a process, in MiB.
fn rss(pid: u32) -> (f64, f64) {
    let status = std::fs::read_to_string(format!("/proc/{pid}/status")).unwrap_or_default();
    let field = |name: &str| {
        status
            .lines()
            .find(|l| l.starts_with(name))
            .and_then(|l| l.split_whitespace().nth(1))
            .and_then(|v| v.parse::<f64>().ok())
            .unwrap_or(0.0)
            / 1024.0
    };
    (field("VmRSS:"), field("VmHWM:"))
}

/// CPU time so far: the server's per thread name, the generator's own, and the
/// machine's idle time (all in clock ticks).
struct Cpu {
    server: std::collections::BTreeMap<String, u64>,
    own: u64,
    idle: u64,
    total: u64,
}

/// User + system ticks from a `/proc/.../stat` line (the name may contain spaces).
fn stat_ticks(stat: &str) -> Option<(String, u64)> {
    let name = stat.get(stat.find('(')? + 1..stat.rfind(')')?)?.to_string();
    let fields: Vec<&str> = stat.get(stat.rfind(')')? + 2..)?.split(' ').collect();
    let utime: u64 = fields.get(11)?.parse().ok()?;
    let stime: u64 = fields.get(12)?.parse().ok()?;
    Some((name, utime + stime))
}

fn cpu(pid: u32) -> Cpu {
    let mut server = std::collections::BTreeMap::new();
    if let Ok(tasks) = std::fs::read_dir(format!("/proc/{pid}/task")) {
        for task in tasks.flatten() {
            let stat = std::fs::read_to_string(task.path().join("stat")).unwrap_or_default();
            if let Some((name, ticks)) = stat_ticks(&stat) {
                *server.entry(name).or_insert(0) += ticks;
            }
        }
    }
    let own = stat_ticks(&std::fs::read_to_string("/proc/self/stat").unwrap_or_default())
        .map_or(0, |(_, t)| t);
    let machine = std::fs::read_to_string("/proc/stat").unwrap_or_default();
    let ticks: Vec<u64> = machine
        .lines()
        .next()
        .unwrap_or_default()
        .split_whitespace()
        .skip(1)
        .filter_map(|v| v.parse().ok())
        .collect();
    Cpu {
        server,
        own,
        idle: ticks.get(3).copied().unwrap_or(0) + ticks.get(4).copied().unwrap_or(0),
        total: ticks.iter().sum(),
    }
}

/// Prints where the CPU went per request between two samples: the server's threads
/// by name, the generator itself, and how much of the machine sat idle. A closed loop
/// that leaves cores idle is bound by latency (hand-offs, fsync), not by CPU.
fn print_cpu(before: &Cpu, after: &Cpu, requests: u64) {
    let tick_us = 1e6 / 100.0; // USER_HZ is 100 on Linux
    let per = |ticks: u64| ticks as f64 * tick_us / requests.max(1) as f64;
    let mut parts: Vec<String> = after
        .server
        .iter()
        .map(|(name, t)| (name, t - before.server.get(name).copied().unwrap_or(0)))
        .filter(|(_, d)| *d > 0)
        .map(|(name, d)| format!("{name} {:.1}", per(d)))
        .collect();
    parts.push(format!("loadgen {:.1}", per(after.own - before.own)));
    let cores = std::thread::available_parallelism().map_or(1, |n| n.get()) as f64;
    let idle = (after.idle - before.idle) as f64 / (after.total - before.total).max(1) as f64;
    println!(
        "           cpu us/request: {}; idle {:.2} of {cores} cores",
        parts.join(", "),
        idle * cores
    );
}

struct Report {
    requests: u64,
    errors: u64,
    rate: f64,
    p50: f64,
    p99: f64,
    max: f64,
}

/// Runs `connections` closed-loop workers for `seconds`; `make` builds request i.
async fn measure<F>(args: &Args, make: F) -> Report
where
    F: Fn(u64) -> reqwest::RequestBuilder + Send + Sync + 'static,
{
    let make = Arc::new(make);
    let counter = Arc::new(AtomicU64::new(0));
    let errors = Arc::new(AtomicU64::new(0));
    let deadline = Instant::now() + Duration::from_secs(args.seconds);
    let per_worker_gap = if args.rate > 0 {
        Some(Duration::from_secs_f64(
            args.connections as f64 / args.rate as f64,
        ))
    } else {
        None
    };
    let started = Instant::now();
    let mut tasks = Vec::new();
    for _ in 0..args.connections {
        let (make, counter, errors) = (make.clone(), counter.clone(), errors.clone());
        tasks.push(tokio::spawn(async move {
            let mut lat = Vec::with_capacity(100_000);
            while Instant::now() < deadline && lat.len() < 5_000_000 {
                let i = counter.fetch_add(1, Ordering::Relaxed);
                let t = Instant::now();
                match make(i).send().await {
                    Ok(r) if r.status().is_success() => {
                        let _ = r.bytes().await;
                    }
                    _ => {
                        errors.fetch_add(1, Ordering::Relaxed);
                    }
                }
                lat.push(t.elapsed().as_micros() as u32);
                if let Some(gap) = per_worker_gap {
                    tokio::time::sleep(gap.saturating_sub(t.elapsed())).await;
                }
            }
            lat
        }));
    }
    let mut all = Vec::new();
    for t in tasks {
        all.extend(t.await.unwrap());
    }
    let elapsed = started.elapsed().as_secs_f64();
    all.sort_unstable();
    let pct = |p: f64| {
        all.get(((all.len() as f64 * p) as usize).min(all.len().saturating_sub(1)))
            .copied()
            .unwrap_or(0) as f64
            / 1000.0
    };
    Report {
        requests: all.len() as u64,
        errors: errors.load(Ordering::Relaxed),
        rate: all.len() as f64 / elapsed,
        p50: pct(0.50),
        p99: pct(0.99),
        max: all.last().copied().unwrap_or(0) as f64 / 1000.0,
    }
}

fn print(name: &str, r: &Report) {
    println!(
        "{name:<10} {:>9.0} req/s  p50 {:>7.2} ms  p99 {:>7.2} ms  max {:>8.2} ms  ({} requests, {} errors)",
        r.rate, r.p50, r.p99, r.max, r.requests, r.errors
    );
}

fn sign(body: &[u8]) -> String {
    helpstack::webhook::signature::sign(SECRET, body)
}

fn message_event(psid: u64, mid: &str, ts: i64) -> serde_json::Value {
    json!({"sender": {"id": format!("{psid}")}, "recipient": {"id": PAGE}, "timestamp": ts,
           "message": {"mid": mid, "text": format!("load test message {mid} with a realistic length of text")}})
}

fn webhook(client: &reqwest::Client, url: &str, body: Vec<u8>) -> reqwest::RequestBuilder {
    client
        .post(url)
        .header("content-type", "application/json")
        .header("x-hub-signature-256", sign(&body))
        .body(body)
}

#[tokio::main]
async fn main() {
    let args = Args::parse();
    let tmp = tempfile::tempdir().unwrap();
    let dir = args
        .data
        .clone()
        .unwrap_or_else(|| tmp.path().to_path_buf());
    std::fs::create_dir_all(&dir).unwrap();
    let server = start(
        &args.bin,
        &dir,
        Duration::from_millis(args.graph_latency_ms),
    );
    let pid = server.child.id();
    let base = format!("http://{}", server.addr);
    let client = reqwest::Client::builder()
        .pool_max_idle_per_host(args.connections)
        .build()
        .unwrap();
    println!(
        "server {base} (pid {pid}), {} connections, {} s per run, data in {}",
        args.connections,
        args.seconds,
        dir.display()
    );

    if args.seed_messages > 0 {
        seed_and_read(&args, &client, &base, pid).await;
        return;
    }

    // Warm up connections and the page cache.
    let (c, u) = (client.clone(), format!("{base}/healthz"));
    let _ = measure(
        &Args {
            seconds: 1,
            ..clone_args(&args)
        },
        move |_| c.get(&u),
    )
    .await;

    let (c, u) = (client.clone(), format!("{base}/healthz"));
    let before = cpu(pid);
    let health = measure(&args, move |_| c.get(&u)).await;
    print("/healthz", &health);
    print_cpu(&before, &cpu(pid), health.requests);

    // Bodies and signatures are built before the clock starts, so the generator's own
    // JSON and HMAC work does not compete with the server for the two cores.
    let run = std::process::id();
    let n = (args.seconds as usize * 40_000).min(2_000_000);
    let bodies: Vec<(Vec<u8>, String)> = (0..n as u64)
        .map(|i| {
            let ev = message_event(10_000 + i % 5_000, &format!("m_{run}_{i}"), 1_767_000_000_000 + i as i64);
            let body = serde_json::to_vec(&json!({"object": "page", "entry": [{"id": PAGE, "time": 1767000000000i64, "messaging": [ev]}]})).unwrap();
            let sig = sign(&body);
            (body, sig)
        })
        .collect();
    let bodies = Arc::new(bodies);
    let (c, u) = (client.clone(), format!("{base}/api/webhooks/facebook"));
    let writer_before = writer_counters(&client, &base).await;
    let before = cpu(pid);
    let ingest = measure(&args, move |i| {
        let (body, sig) = &bodies[i as usize % bodies.len()];
        c.post(&u)
            .header("content-type", "application/json")
            .header("x-hub-signature-256", sig.as_str())
            .body(body.clone())
    })
    .await;
    print("ingest", &ingest);
    print_cpu(&before, &cpu(pid), ingest.requests);
    print_writer(
        writer_before,
        writer_counters(&client, &base).await,
        args.seconds as f64,
    );
    let (now, peak) = rss(pid);
    println!("ingest/healthz ratio {:.2}", ingest.rate / health.rate);
    println!("server memory: RSS {now:.1} MiB, peak RSS {peak:.1} MiB");
    let stored = count_messages(&dir);
    println!(
        "messages stored: {stored} (acknowledged: {})",
        ingest.requests - ingest.errors
    );
    println!(
        "profiles fetched by the background jobs during the run: {} of {} senders (with picture: {})",
        count(
            &dir,
            "SELECT COUNT(*) FROM contacts WHERE profile_fetched_at IS NOT NULL"
        ),
        count(&dir, "SELECT COUNT(*) FROM contacts"),
        count(
            &dir,
            "SELECT COUNT(*) FROM contacts WHERE avatar_sha256 IS NOT NULL"
        ),
    );
}

/// The ingest writer's transaction counters from `/metrics`: (transactions, webhooks,
/// seconds).
async fn writer_counters(client: &reqwest::Client, base: &str) -> [f64; 3] {
    let text = match client.get(format!("{base}/metrics")).send().await {
        Ok(r) => r.text().await.unwrap_or_default(),
        Err(_) => String::new(),
    };
    let value = |name: &str| {
        text.lines()
            .find_map(|l| l.strip_prefix(name)?.strip_prefix(' ')?.parse::<f64>().ok())
            .unwrap_or(0.0)
    };
    [
        value("helpstack_ingest_transactions_total"),
        value("helpstack_ingest_transaction_webhooks_total"),
        value("helpstack_ingest_transaction_seconds_total"),
    ]
}

/// How the writer spent the run: group size, time per transaction, share of the run.
fn print_writer(before: [f64; 3], after: [f64; 3], seconds: f64) {
    let [tx, webhooks, secs] = [0, 1, 2].map(|i| after[i] - before[i]);
    if tx > 0.0 {
        println!(
            "           writer: {tx:.0} transactions, {:.1} webhooks each, {:.0} us each (commit and fsync included), busy {:.0}% of the run",
            webhooks / tx,
            secs / tx * 1e6,
            secs / seconds * 100.0
        );
    }
}

fn clone_args(a: &Args) -> Args {
    Args {
        connections: a.connections,
        seconds: a.seconds,
        rate: a.rate,
        bin: a.bin.clone(),
        seed_messages: a.seed_messages,
        seed_conversations: a.seed_conversations,
        data: a.data.clone(),
        graph_latency_ms: a.graph_latency_ms,
    }
}

fn count_messages(dir: &std::path::Path) -> i64 {
    count(dir, "SELECT COUNT(*) FROM messages")
}

fn count(dir: &std::path::Path, sql: &str) -> i64 {
    rusqlite::Connection::open(dir.join("helpstack-data/helpstack.db"))
        .and_then(|c| c.query_row(sql, [], |r| r.get(0)))
        .unwrap_or(-1)
}

/// Seeds `seed_messages` messages over `seed_conversations` conversations with batched
/// webhooks (100 events a body), then times inbox and thread reads.
async fn seed_and_read(args: &Args, client: &reqwest::Client, base: &str, pid: u32) {
    let have = count_messages(&args.data.clone().unwrap_or_default());
    let url = format!("{base}/api/webhooks/facebook");
    let total = args.seed_messages;
    if have < total as i64 {
        let started = Instant::now();
        let per_body = 100u64;
        let bodies = total / per_body;
        let next = Arc::new(AtomicU64::new(0));
        let mut tasks = Vec::new();
        for _ in 0..4 {
            let (client, url, next) = (client.clone(), url.clone(), next.clone());
            let convs = args.seed_conversations;
            tasks.push(tokio::spawn(async move {
                loop {
                    let b = next.fetch_add(1, Ordering::Relaxed);
                    if b >= bodies {
                        break;
                    }
                    let entries: Vec<_> = (0..per_body)
                        .map(|k| {
                            let i = b * per_body + k;
                            let ev = message_event(
                                100_000 + i % convs,
                                &format!("m_seed_{i}"),
                                1_700_000_000_000 + i as i64 * 10,
                            );
                            json!({"id": PAGE, "time": 1700000000000i64, "messaging": [ev]})
                        })
                        .collect();
                    let body =
                        serde_json::to_vec(&json!({"object": "page", "entry": entries})).unwrap();
                    let r = webhook(&client, &url, body).send().await.unwrap();
                    assert!(r.status().is_success(), "seed failed: {}", r.status());
                }
            }));
        }
        for t in tasks {
            t.await.unwrap();
        }
        let secs = started.elapsed().as_secs_f64();
        println!(
            "seeded {total} messages in {secs:.1} s ({:.0} messages/s)",
            total as f64 / secs
        );
    }
    // Log in with a password we set directly (the admin command works on the database).
    let password = "loadgen-password";
    let dir = args.data.clone().unwrap_or_default();
    let conn = rusqlite::Connection::open(dir.join("helpstack-data/helpstack.db")).unwrap();
    conn.execute(
        "UPDATE admins SET password_hash = ?1",
        [helpstack::auth::hash_password(password)],
    )
    .unwrap();
    let resp = client
        .post(format!("{base}/api/session"))
        .json(&json!({"username": "admin", "password": password}))
        .send()
        .await
        .unwrap();
    let cookie = resp.headers()["set-cookie"]
        .to_str()
        .unwrap()
        .split(';')
        .next()
        .unwrap()
        .to_string();
    let msgs: i64 = conn
        .query_row("SELECT COUNT(*) FROM messages", [], |r| r.get(0))
        .unwrap();
    let convs: i64 = conn
        .query_row("SELECT COUNT(*) FROM conversations", [], |r| r.get(0))
        .unwrap();
    println!("database: {msgs} messages in {convs} conversations");
    // A tidy team's inbox: most conversations resolved, the open ones scattered
    // through the activity order, so both status filters have work to do.
    let resolved = conn
        .execute(
            "UPDATE conversations SET status = 'resolved' WHERE id % 10 <> 0 AND status = 'open'",
            [],
        )
        .unwrap();
    println!("resolved {resolved} of them (9 in 10)");

    // Cursors deep in the inbox, and conversation ids to open.
    let deep: (i64, i64) = conn
        .query_row("SELECT last_message_at, id FROM conversations ORDER BY last_message_at DESC, id DESC LIMIT 1 OFFSET ?1", [convs / 2], |r| Ok((r.get(0)?, r.get(1)?)))
        .unwrap();
    let read_args = Args {
        connections: 1,
        seconds: args.seconds.min(5),
        ..clone_args(args)
    };
    let cases: Vec<(&str, String)> = vec![
        ("inbox p1", format!("{base}/api/conversations?limit=50")),
        (
            "inbox deep",
            format!(
                "{base}/api/conversations?limit=50&cursor={}_{}",
                deep.0, deep.1
            ),
        ),
        (
            "inbox ch",
            format!("{base}/api/conversations?limit=50&channel_id=1&status=open"),
        ),
        (
            "inbox open",
            format!("{base}/api/conversations?limit=50&status=open"),
        ),
        (
            "inbox rslvd",
            format!("{base}/api/conversations?limit=50&status=resolved"),
        ),
    ];
    for (name, url) in cases {
        let (c, ck) = (client.clone(), cookie.clone());
        let r = measure(&read_args, move |_| c.get(&url).header("cookie", &ck)).await;
        print(name, &r);
    }
    // A tidy team's other case: nearly everything resolved, a few conversations open,
    // some of them long forgotten at the far end of the history. The open inbox must
    // not read past every resolved conversation to find them.
    conn.execute_batch(
        "UPDATE conversations SET status = 'resolved' WHERE status = 'open';
         UPDATE conversations SET status = 'open' WHERE id IN
             (SELECT id FROM conversations ORDER BY last_message_at DESC, id DESC LIMIT 6)
             OR id IN (SELECT id FROM conversations ORDER BY last_message_at, id LIMIT 6);",
    )
    .unwrap();
    println!("then resolved all but 12 (the 6 newest and the 6 oldest)");
    for (name, url) in [
        (
            "open of 12",
            format!("{base}/api/conversations?limit=50&status=open"),
        ),
        ("inbox all", format!("{base}/api/conversations?limit=50")),
    ] {
        let (c, ck) = (client.clone(), cookie.clone());
        let r = measure(&read_args, move |_| c.get(&url).header("cookie", &ck)).await;
        print(name, &r);
    }
    let (c, ck, b) = (client.clone(), cookie.clone(), base.to_string());
    let n = convs.max(1) as u64;
    let r = measure(&read_args, move |i| {
        let id = 1 + (i * 7919) % n;
        c.get(format!("{b}/api/conversations/{id}/messages?limit=50"))
            .header("cookie", &ck)
    })
    .await;
    print("thread", &r);
    let (now, peak) = rss(pid);
    println!("server memory: RSS {now:.1} MiB, peak RSS {peak:.1} MiB");
}
