//! The dashboard in a real browser: `tests/browser/inbox.mjs` drives Debian's Chromium
//! (playwright-core, never a downloaded browser) against the real server, with the fake
//! Graph API serving profiles and acting as the media CDN.
//!
//! The script restarts the server halfway through: it prints `RESTART` on stdout, this
//! test stops the server (SIGTERM), starts it again on the same port and answers
//! `RESTARTED <url>` on the script's stdin. The page must reconnect by itself.
//!
//! Without `/usr/bin/chromium`, node or `tests/browser/node_modules/playwright-core`
//! the test fails (a missing browser must not pass for a working dashboard), unless
//! `HELPSTACK_SKIP_BROWSER=1` skips it on purpose; it then prints why.
//!
//! The asset tests in `browser/assets.rs` (compression, module types) need no browser.

#[path = "browser/assets.rs"]
mod assets;
mod common;

use std::io::{BufRead, BufReader, Read, Write};
use std::path::Path;
use std::process::{Child, Command, Stdio};
use std::sync::mpsc::{self, RecvTimeoutError, Sender};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use common::fake_graph::{FakeGraph, Resp};
use common::*;
use serde_json::json;

const CHROMIUM: &str = "/usr/bin/chromium";

/// Why the browser test cannot run here, if it cannot.
fn missing_prerequisite(root: &Path) -> Option<String> {
    if !Path::new(CHROMIUM).exists() {
        return Some(format!(
            "{CHROMIUM} is missing (apt-get install -y --no-install-recommends chromium)"
        ));
    }
    let node_ok = Command::new("node")
        .arg("--version")
        .output()
        .is_ok_and(|o| o.status.success());
    if !node_ok {
        return Some("node is not installed".into());
    }
    if !root
        .join("tests/browser/node_modules/playwright-core/package.json")
        .exists()
    {
        return Some(
            "tests/browser/node_modules/playwright-core is missing (run `npm ci` in tests/browser)"
                .into(),
        );
    }
    None
}

/// A `helpstack serve` process started on a chosen address.
struct Running {
    child: Child,
    addr: String,
    log: Arc<Mutex<Vec<String>>>,
}

impl Running {
    fn start(w: &Workdir, listen: &str) -> Result<Running, String> {
        let mut child = Command::new(bin())
            .args(["serve", "--listen", listen])
            .current_dir(w.path())
            .env_clear()
            .envs(w.env.iter().map(|(k, v)| (k, v)))
            .stdin(Stdio::null())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .spawn()
            .map_err(|e| e.to_string())?;
        let log = Arc::new(Mutex::new(Vec::new()));
        let (tx, rx) = mpsc::channel();
        pump(child.stdout.take().unwrap(), log.clone(), Some(tx));
        pump(child.stderr.take().unwrap(), log.clone(), None);
        let deadline = Instant::now() + Duration::from_secs(30);
        loop {
            if let Ok(addr) = rx.recv_timeout(Duration::from_millis(50)) {
                return Ok(Running { child, addr, log });
            }
            if let Ok(Some(status)) = child.try_wait() {
                return Err(format!(
                    "server exited with {status}:\n{}",
                    log.lock().unwrap().join("\n")
                ));
            }
            if Instant::now() > deadline {
                let _ = child.kill();
                return Err("server did not start in time".into());
            }
        }
    }

    /// SIGTERM, as a service manager would; SIGKILL if it does not stop in time.
    fn stop(&mut self) -> Duration {
        let t = Instant::now();
        let _ = Command::new("kill")
            .args(["-TERM", &self.child.id().to_string()])
            .status();
        while t.elapsed() < Duration::from_secs(15) {
            if let Ok(Some(_)) = self.child.try_wait() {
                return t.elapsed();
            }
            std::thread::sleep(Duration::from_millis(20));
        }
        eprintln!("server ignored SIGTERM for 15 s; killing it");
        let _ = self.child.kill();
        let _ = self.child.wait();
        t.elapsed()
    }

    fn log_tail(&self, n: usize) -> String {
        let log = self.log.lock().unwrap();
        log[log.len().saturating_sub(n)..].join("\n")
    }
}

impl Drop for Running {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// Collects a stream's lines; reports the address from `listening on http://ADDR`.
fn pump(
    stream: impl Read + Send + 'static,
    log: Arc<Mutex<Vec<String>>>,
    addr: Option<Sender<String>>,
) {
    std::thread::spawn(move || {
        for line in BufReader::new(stream).lines().map_while(Result::ok) {
            if let (Some(tx), Some(a)) = (&addr, line.strip_prefix("listening on http://")) {
                let _ = tx.send(a.trim().to_string());
            }
            log.lock().unwrap().push(line);
        }
    });
}

/// Starts the server again on the same address (the old socket may linger briefly).
fn restart_on(w: &Workdir, addr: &str) -> Running {
    let mut last = String::new();
    for _ in 0..40 {
        match Running::start(w, addr) {
            Ok(r) => return r,
            Err(e) => last = e,
        }
        std::thread::sleep(Duration::from_millis(250));
    }
    panic!("could not restart the server on {addr}: {last}");
}

// ------------------------------------------------------------------ pictures

/// An uncompressed (stored-deflate) 8-bit RGB PNG, so no compression crate is needed.
fn png(width: u32, height: u32, pixel: impl Fn(i32, i32) -> [u8; 3]) -> Vec<u8> {
    let mut raw = Vec::with_capacity(((width * 3 + 1) * height) as usize);
    for y in 0..height as i32 {
        raw.push(0); // filter: none
        for x in 0..width as i32 {
            raw.extend_from_slice(&pixel(x, y));
        }
    }
    let mut zlib = vec![0x78, 0x01];
    let blocks: Vec<&[u8]> = raw.chunks(65_535).collect();
    for (i, block) in blocks.iter().enumerate() {
        zlib.push(u8::from(i + 1 == blocks.len()));
        let len = block.len() as u16;
        zlib.extend_from_slice(&len.to_le_bytes());
        zlib.extend_from_slice(&(!len).to_le_bytes());
        zlib.extend_from_slice(block);
    }
    zlib.extend_from_slice(&adler32(&raw).to_be_bytes());
    let mut ihdr = Vec::new();
    ihdr.extend_from_slice(&width.to_be_bytes());
    ihdr.extend_from_slice(&height.to_be_bytes());
    ihdr.extend_from_slice(&[8, 2, 0, 0, 0]);
    let mut out = b"\x89PNG\r\n\x1a\n".to_vec();
    for (kind, data) in [
        (b"IHDR", &ihdr[..]),
        (b"IDAT", &zlib[..]),
        (b"IEND", &[][..]),
    ] {
        out.extend_from_slice(&(data.len() as u32).to_be_bytes());
        let start = out.len();
        out.extend_from_slice(kind);
        out.extend_from_slice(data);
        let crc = crc32(&out[start..]);
        out.extend_from_slice(&crc.to_be_bytes());
    }
    out
}

fn crc32(data: &[u8]) -> u32 {
    let mut c = 0xffff_ffffu32;
    for &b in data {
        c ^= u32::from(b);
        for _ in 0..8 {
            c = if c & 1 == 1 {
                0xedb8_8320 ^ (c >> 1)
            } else {
                c >> 1
            };
        }
    }
    !c
}

fn adler32(data: &[u8]) -> u32 {
    let (mut a, mut b) = (1u32, 0u32);
    for &x in data {
        a = (a + u32::from(x)) % 65_521;
        b = (b + a) % 65_521;
    }
    (b << 16) | a
}

/// A customer's photo of a dented parcel, drawn with flat shapes.
fn parcel_photo() -> Vec<u8> {
    png(480, 320, |x, y| {
        let shade = (y / 12) as u8;
        let mut c = [238 - shade, 233 - shade, 226 - shade];
        if (282..296).contains(&y) && (128..412).contains(&x) {
            c = [196, 190, 182]; // shadow
        }
        let d = 130 - y; // the top face leans right as it goes up
        let e = x - 360; // the side face rises as it goes right
        if (120..360).contains(&x) && (130..280).contains(&y) {
            c = [196, 150, 98];
        }
        if (90..130).contains(&y) && x >= 120 + d && x < 360 + d {
            c = [219, 179, 127];
        }
        if (360..400).contains(&x) && y >= 130 - e && y < 280 - e {
            c = [166, 122, 78];
        }
        let tape_x = if y < 130 { x - d } else { x };
        if (225..255).contains(&tape_x) && (90..210).contains(&y) {
            c = [233, 215, 172];
        }
        if (130..178).contains(&y) && (312..360).contains(&x) && x - 312 > y - 130 {
            c = [138, 98, 60]; // the dent
        }
        c
    })
}

/// A plain profile picture: a light silhouette on a coloured background.
fn avatar(bg: [u8; 3]) -> Vec<u8> {
    png(96, 96, move |x, y| {
        let head = (x - 48).pow(2) + (y - 38).pow(2) < 17 * 17;
        let body = (x - 48).pow(2) + (y - 104).pow(2) < 38 * 38;
        if head || body {
            bg.map(|v| v / 4 + 190)
        } else {
            bg
        }
    })
}

/// Profiles (Graph) and media (CDN) the script's customers point at.
fn script_fake(fake: &FakeGraph) {
    fake.respond("/cdn/parcel.png", 200, "image/png", parcel_photo());
    let people = [
        (
            "2222222222",
            "jonas",
            [74, 108, 196],
            None,
            ("Jonas", "Weber"),
        ),
        (
            "3333333333",
            "maya",
            [188, 84, 126],
            Some("maya.makes"),
            ("Maya", "Chen"),
        ),
        (
            "3333333334",
            "leo",
            [46, 140, 108],
            Some("leo.martins"),
            ("Leo", "Martins"),
        ),
    ];
    for (id, slug, bg, username, (first, last)) in people {
        let pic_path = format!("/cdn/avatar-{slug}.png");
        fake.respond(&pic_path, 200, "image/png", avatar(bg));
        let pic = format!("{}{pic_path}", fake.url());
        let body = match username {
            // Instagram answers name/username; Messenger first/last name.
            Some(u) => {
                json!({"id": id, "name": format!("{first} {last}"), "username": u, "profile_pic": pic})
            }
            None => json!({"id": id, "first_name": first, "last_name": last, "profile_pic": pic}),
        };
        fake.respond_with(&FakeGraph::graph_path(id), Resp::json(200, &body));
    }
    // The profile lookup for the script's last Messenger customer finds the page token
    // revoked: the dashboard must name the channel in a banner (after its next refresh).
    fake.respond_with(
        &FakeGraph::graph_path("2222222299"),
        Resp::graph_error(
            400,
            190,
            "Error validating access token: Session has expired",
        ),
    );
}

#[test]
fn dashboard_in_chromium() {
    let root = Path::new(env!("CARGO_MANIFEST_DIR"));
    if std::env::var("HELPSTACK_SKIP_BROWSER").as_deref() == Ok("1") {
        let why = missing_prerequisite(root).unwrap_or_else(|| "nothing is missing".into());
        eprintln!("SKIPPED because HELPSTACK_SKIP_BROWSER=1 (prerequisites: {why})");
        return;
    }
    if let Some(why) = missing_prerequisite(root) {
        panic!(
            "browser test cannot run: {why}; see README (Development), or set HELPSTACK_SKIP_BROWSER=1 to skip it"
        );
    }

    let fake = FakeGraph::start();
    script_fake(&fake);
    let mut w = Workdir::new();
    create_admin(&w);
    for (provider, flag, id, name) in [
        (
            "facebook",
            "--page-id",
            "1111111111",
            "Casa Barro (Messenger)",
        ),
        (
            "instagram",
            "--account-id",
            "17841400000000001",
            "@casabarro",
        ),
        (
            "whatsapp",
            "--phone-number-id",
            "106540352242922",
            "+1 555 078 3881",
        ),
    ] {
        let out = w.run(&[
            "channel",
            "add",
            provider,
            flag,
            id,
            "--access-token",
            "test-page-token",
            "--name",
            name,
        ]);
        assert!(
            out.status.success(),
            "{}",
            String::from_utf8_lossy(&out.stderr)
        );
    }
    w.set_env("HELPSTACK_JOB_WORKERS", "2");
    w.set_env("HELPSTACK_ALLOW_PRIVATE_MEDIA_HOSTS", "true");
    w.set_env("HELPSTACK_GRAPH_API_URL", &fake.graph_base());

    let mut server = Running::start(&w, "127.0.0.1:0").unwrap_or_else(|e| panic!("{e}"));
    let addr = server.addr.clone();
    // Screenshots refresh the committed ones in docs/ only when asked, so an ordinary
    // `cargo test` leaves the work tree clean.
    let out_dir = if std::env::var_os("HELPSTACK_UPDATE_SCREENSHOTS").is_some() {
        root.join("docs/screenshots")
    } else {
        root.join("target/screenshots")
    };

    let mut node = Command::new("node")
        .arg("tests/browser/inbox.mjs")
        .current_dir(root)
        .env("HS_URL", format!("http://{addr}"))
        .env("HS_APP_SECRET", APP_SECRET)
        .env("HS_CDN_URL", fake.url())
        .env("HS_OUT", &out_dir)
        .env("HS_USER", ADMIN_USER)
        .env("HS_PASSWORD", ADMIN_PASSWORD)
        .env("HS_CHROMIUM", CHROMIUM)
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("start node");
    let mut stdin = node.stdin.take().unwrap();
    let (tx, lines) = mpsc::channel();
    let stdout = node.stdout.take().unwrap();
    std::thread::spawn(move || {
        for line in BufReader::new(stdout).lines().map_while(Result::ok) {
            let _ = tx.send(line);
        }
    });
    let stderr = node.stderr.take().unwrap();
    let script_log = std::thread::spawn(move || {
        let mut all = String::new();
        for line in BufReader::new(stderr).lines().map_while(Result::ok) {
            eprintln!("{line}");
            all.push_str(&line);
            all.push('\n');
        }
        all
    });

    let deadline = Instant::now() + Duration::from_secs(300);
    loop {
        match lines.recv_timeout(deadline.saturating_duration_since(Instant::now())) {
            Ok(line) if line.trim() == "RESTART" => {
                let took = server.stop();
                eprintln!("[test] server stopped in {} ms", took.as_millis());
                // Down long enough for the page to notice and start backing off.
                std::thread::sleep(Duration::from_millis(1500));
                server = restart_on(&w, &addr);
                eprintln!("[test] server restarted on {addr}");
                writeln!(stdin, "RESTARTED http://{addr}").expect("answer the script");
            }
            Ok(line) => eprintln!("[browser stdout] {line}"),
            Err(RecvTimeoutError::Disconnected) => break,
            Err(RecvTimeoutError::Timeout) => {
                let _ = node.kill();
                panic!(
                    "browser script timed out; server log:\n{}",
                    server.log_tail(60)
                );
            }
        }
    }
    let status = node.wait().expect("wait for node");
    let _ = script_log.join();
    assert!(
        status.success(),
        "browser script failed ({status}); server log:\n{}",
        server.log_tail(80)
    );
    for shot in ["inbox.png", "thread.png"] {
        assert!(out_dir.join(shot).exists(), "{shot} was not written");
    }
}
