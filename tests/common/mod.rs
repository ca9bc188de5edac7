//! Black-box fixtures: start the compiled `helpstack` binary on an ephemeral port with
//! a temp data directory, talk HTTP to it, stop it on drop.
#![allow(dead_code)]

pub mod fake_graph;

use std::io::{BufRead, BufReader};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Output, Stdio};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use hmac::{Hmac, KeyInit, Mac};
use sha2::Sha256;

pub const APP_SECRET: &str = "test-app-secret";
pub const VERIFY_TOKEN: &str = "test-verify-token";
pub const ADMIN_USER: &str = "admin";
pub const ADMIN_PASSWORD: &str = "correct horse battery";

/// Path of the binary under test.
pub fn bin() -> &'static str {
    env!("CARGO_BIN_EXE_helpstack")
}

/// Computes `sha256=<hex>` the way Meta does, independently of the product's code.
pub fn sign(secret: &str, body: &[u8]) -> String {
    let mut mac = Hmac::<Sha256>::new_from_slice(secret.as_bytes()).unwrap();
    mac.update(body);
    format!("sha256={}", hex::encode(mac.finalize().into_bytes()))
}

/// A scratch directory that is the server's working directory.
pub struct Workdir {
    pub dir: tempfile::TempDir,
    pub env: Vec<(String, String)>,
}

impl Workdir {
    /// A new empty directory with the default test secrets in the environment.
    pub fn new() -> Self {
        let mut w = Self::bare();
        w.set_env("FACEBOOK_APP_SECRET", APP_SECRET);
        w.set_env("FACEBOOK_VERIFY_TOKEN", VERIFY_TOKEN);
        w
    }

    /// A new empty directory with nothing configured.
    pub fn bare() -> Self {
        Self {
            dir: tempfile::tempdir().unwrap(),
            // Background jobs off unless a test turns them on: they would reach for the
            // fixtures' CDN URLs and change rows under the test's feet.
            env: vec![
                ("RUST_LOG".into(), "info".into()),
                ("HELPSTACK_JOB_WORKERS".into(), "0".into()),
            ],
        }
    }

    pub fn set_env(&mut self, k: &str, v: &str) -> &mut Self {
        self.env.retain(|(key, _)| key != k);
        self.env.push((k.into(), v.into()));
        self
    }

    pub fn unset_env(&mut self, k: &str) -> &mut Self {
        self.env.retain(|(key, _)| key != k);
        self
    }

    pub fn path(&self) -> &Path {
        self.dir.path()
    }

    /// The database file of the default data directory.
    pub fn db_path(&self) -> PathBuf {
        self.path().join("helpstack-data/helpstack.db")
    }

    fn command(&self, args: &[&str]) -> Command {
        let mut cmd = Command::new(bin());
        cmd.args(args)
            .current_dir(self.path())
            .env_clear()
            .envs(self.env.iter().map(|(k, v)| (k, v)));
        cmd
    }

    /// Runs a CLI command to completion.
    pub fn run(&self, args: &[&str]) -> Output {
        self.command(args).stdin(Stdio::null()).output().unwrap()
    }

    /// Creates the test admin account and returns nothing; needs no server.
    pub fn add_channel(&self, provider: &str, id_flag: &str, id: &str) {
        let out = self.run(&[
            "channel",
            "add",
            provider,
            id_flag,
            id,
            "--access-token",
            "test-page-token",
        ]);
        assert!(
            out.status.success(),
            "{}",
            String::from_utf8_lossy(&out.stderr)
        );
    }

    /// Starts `serve` with extra arguments.
    pub fn serve(&self, extra: &[&str]) -> Server {
        let mut args = vec!["serve", "--listen", "127.0.0.1:0"];
        args.extend_from_slice(extra);
        Server::spawn(self.command(&args))
    }

    /// Starts `serve` through `sh` with the soft file-descriptor limit lowered to
    /// `soft`, as a start outside systemd inherits it (1,024 on most systems).
    pub fn serve_with_soft_nofile(&self, soft: u64, extra: &[&str]) -> Server {
        let mut cmd = Command::new("/bin/sh");
        cmd.arg("-c")
            .arg(format!("ulimit -Sn {soft} && exec \"$0\" \"$@\""))
            .args([bin(), "serve", "--listen", "127.0.0.1:0"])
            .args(extra)
            .current_dir(self.path())
            .env_clear()
            .envs(self.env.iter().map(|(k, v)| (k, v)));
        Server::spawn(cmd)
    }

    /// Opens the database read-write for assertions.
    pub fn db(&self) -> rusqlite::Connection {
        let c = rusqlite::Connection::open(self.db_path()).unwrap();
        c.busy_timeout(Duration::from_secs(5)).unwrap();
        c
    }
}

/// A running server process.
pub struct Server {
    pub child: Child,
    pub addr: String,
    pub stdout: Arc<Mutex<Vec<String>>>,
    pub stderr: Arc<Mutex<Vec<String>>>,
}

impl Server {
    pub fn spawn(mut cmd: Command) -> Server {
        let mut child = cmd
            .stdin(Stdio::null())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .spawn()
            .unwrap();
        let stdout = Arc::new(Mutex::new(Vec::new()));
        let stderr = Arc::new(Mutex::new(Vec::new()));
        pump(child.stdout.take().unwrap(), stdout.clone());
        pump(child.stderr.take().unwrap(), stderr.clone());
        let deadline = Instant::now() + Duration::from_secs(30);
        loop {
            let found = stdout
                .lock()
                .unwrap()
                .iter()
                .find_map(|l| l.strip_prefix("listening on http://").map(str::to_string));
            if let Some(addr) = found {
                return Server {
                    child,
                    addr,
                    stdout,
                    stderr,
                };
            }
            if let Ok(Some(status)) = child.try_wait() {
                panic!(
                    "server exited with {status} before listening:\n{}",
                    stderr.lock().unwrap().join("\n")
                );
            }
            assert!(Instant::now() < deadline, "server did not start in time");
            std::thread::sleep(Duration::from_millis(20));
        }
    }

    /// Tries to start a server that is expected to fail; returns its exit output.
    pub fn expect_failure(w: &Workdir, extra: &[&str]) -> Output {
        let mut args = vec!["serve", "--listen", "127.0.0.1:0"];
        args.extend_from_slice(extra);
        let mut cmd = w.command(&args);
        let child = cmd
            .stdin(Stdio::null())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .spawn()
            .unwrap();
        child.wait_with_output().unwrap()
    }

    /// Like [`Server::expect_failure`], but a server still running after `limit` is
    /// killed and the test fails instead of hanging.
    pub fn expect_exit_within(w: &Workdir, extra: &[&str], limit: Duration) -> Output {
        let mut args = vec!["serve", "--listen", "127.0.0.1:0"];
        args.extend_from_slice(extra);
        let mut child = w
            .command(&args)
            .stdin(Stdio::null())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .spawn()
            .unwrap();
        let deadline = Instant::now() + limit;
        while child.try_wait().unwrap().is_none() {
            if Instant::now() > deadline {
                let _ = child.kill();
                let out = child.wait_with_output().unwrap();
                panic!(
                    "serve still running after {limit:?}:\n{}",
                    String::from_utf8_lossy(&out.stdout)
                );
            }
            std::thread::sleep(Duration::from_millis(20));
        }
        child.wait_with_output().unwrap()
    }

    pub fn url(&self, path: &str) -> String {
        format!("http://{}{}", self.addr, path)
    }

    pub fn stdout_text(&self) -> String {
        self.stdout.lock().unwrap().join("\n")
    }

    pub fn stderr_text(&self) -> String {
        self.stderr.lock().unwrap().join("\n")
    }

    /// Kills the process with SIGKILL (no chance to clean up).
    pub fn kill9(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }

    /// Sends SIGTERM and waits for a clean exit.
    pub fn terminate(&mut self) -> std::process::ExitStatus {
        let _ = Command::new("kill")
            .args(["-TERM", &self.child.id().to_string()])
            .status();
        let deadline = Instant::now() + Duration::from_secs(20);
        loop {
            if let Some(s) = self.child.try_wait().unwrap() {
                return s;
            }
            assert!(
                Instant::now() < deadline,
                "server did not stop after SIGTERM"
            );
            std::thread::sleep(Duration::from_millis(20));
        }
    }
}

impl Drop for Server {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

fn pump(stream: impl std::io::Read + Send + 'static, sink: Arc<Mutex<Vec<String>>>) {
    std::thread::spawn(move || {
        for line in BufReader::new(stream).lines() {
            match line {
                Ok(l) => sink.lock().unwrap().push(l),
                Err(_) => break,
            }
        }
    });
}

/// A reqwest client without connection reuse surprises.
pub fn client() -> reqwest::Client {
    reqwest::Client::builder()
        .timeout(Duration::from_secs(30))
        .build()
        .unwrap()
}

/// Posts a body to a webhook endpoint with a correct signature.
pub async fn post_signed(server: &Server, provider: &str, body: &[u8]) -> reqwest::Response {
    post_with_signature(server, provider, body, Some(&sign(APP_SECRET, body))).await
}

/// Posts a body with the given signature header (or none).
pub async fn post_with_signature(
    server: &Server,
    provider: &str,
    body: &[u8],
    signature: Option<&str>,
) -> reqwest::Response {
    let mut req = client()
        .post(server.url(&format!("/api/webhooks/{provider}")))
        .header("content-type", "application/json")
        .body(body.to_vec());
    if let Some(s) = signature {
        req = req.header("x-hub-signature-256", s);
    }
    req.send().await.unwrap()
}

/// Counts webhook journal rows.
pub fn journal_count(w: &Workdir) -> i64 {
    w.db()
        .query_row("SELECT COUNT(*) FROM webhook_journal", [], |r| r.get(0))
        .unwrap()
}

/// Creates the test admin with a known password (before or while serving).
pub fn create_admin(w: &Workdir) {
    let out = w.run(&[
        "init",
        "--non-interactive",
        "--config",
        "init.toml",
        "--admin-user",
        ADMIN_USER,
        "--admin-password",
        ADMIN_PASSWORD,
        "--force",
    ]);
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
}

/// Logs in and returns the Cookie header value.
pub async fn login(server: &Server) -> String {
    let resp = client()
        .post(server.url("/api/session"))
        .json(&serde_json::json!({"username": ADMIN_USER, "password": ADMIN_PASSWORD}))
        .send()
        .await
        .unwrap();
    assert_eq!(resp.status(), 200, "login failed");
    let cookie = resp
        .headers()
        .get("set-cookie")
        .unwrap()
        .to_str()
        .unwrap()
        .to_string();
    cookie.split(';').next().unwrap().to_string()
}

/// GETs a JSON API path with a session cookie.
pub async fn get_json(server: &Server, cookie: &str, path: &str) -> serde_json::Value {
    let resp = client()
        .get(server.url(path))
        .header("cookie", cookie)
        .send()
        .await
        .unwrap();
    assert_eq!(resp.status(), 200, "GET {path}");
    resp.json().await.unwrap()
}
