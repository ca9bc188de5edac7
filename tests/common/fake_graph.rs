//! A scriptable fake of the Graph API and of Meta's media CDN, for black-box tests of
//! the background jobs.
//!
//! It listens on `127.0.0.1:0` on its own thread (with its own runtime, so a test that
//! blocks its thread does not stall it). Tests script answers per path (the query string
//! is ignored for matching): first a queue of one-shot responses, then a sticky response,
//! then a global default (404 with a Graph error body). An override answers every path
//! while set. Every request is recorded with its method, path, query and headers.

use std::collections::{HashMap, VecDeque};
use std::net::SocketAddr;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use poem::http::StatusCode;
use poem::listener::TcpAcceptor;
use poem::{Body, Endpoint, Request, Response, Server};

/// The Graph API version prefix the fake serves under.
pub const GRAPH_VERSION: &str = "v25.0";

/// One scripted answer.
#[derive(Debug, Clone)]
pub struct Resp {
    pub status: u16,
    pub headers: Vec<(String, String)>,
    pub body: Vec<u8>,
    /// Sent without Content-Length (chunked transfer encoding).
    pub chunked: bool,
    /// Waits this long before answering.
    pub delay: Duration,
}

impl Resp {
    /// A response with a status, a content type and a body.
    pub fn new(status: u16, content_type: &str, body: impl Into<Vec<u8>>) -> Self {
        Self {
            status,
            headers: vec![("content-type".into(), content_type.into())],
            body: body.into(),
            chunked: false,
            delay: Duration::ZERO,
        }
    }

    /// A JSON response.
    pub fn json(status: u16, value: &serde_json::Value) -> Self {
        Self::new(
            status,
            "application/json; charset=UTF-8",
            serde_json::to_vec(value).unwrap(),
        )
    }

    /// A Graph error response (`{"error": {...}}`).
    pub fn graph_error(status: u16, code: i64, message: &str) -> Self {
        Self::json(
            status,
            &serde_json::json!({"error": {
                "message": message,
                "type": "OAuthException",
                "code": code,
                "fbtrace_id": "AbCdEfGhIjK"
            }}),
        )
    }

    /// A plain status with a short text body.
    pub fn status(status: u16) -> Self {
        Self::new(status, "text/plain", format!("fake status {status}"))
    }

    /// A 302 redirect to `location`.
    pub fn redirect(location: &str) -> Self {
        Self::new(302, "text/plain", "redirecting").header("location", location)
    }

    /// Adds a header.
    pub fn header(mut self, name: &str, value: &str) -> Self {
        self.headers.push((name.to_ascii_lowercase(), value.into()));
        self
    }

    /// Sends the body chunked, without Content-Length.
    pub fn chunked(mut self) -> Self {
        self.chunked = true;
        self
    }

    /// Answers only after `d`.
    pub fn delayed(mut self, d: Duration) -> Self {
        self.delay = d;
        self
    }
}

/// A request the fake received.
#[derive(Debug, Clone)]
pub struct Recorded {
    pub method: String,
    pub path: String,
    pub query: Option<String>,
    /// Header names lowercased, in arrival order.
    pub headers: Vec<(String, String)>,
    /// When it arrived.
    pub at: Instant,
}

impl Recorded {
    /// The first value of a header (name case-insensitive).
    pub fn header(&self, name: &str) -> Option<&str> {
        let name = name.to_ascii_lowercase();
        self.headers
            .iter()
            .find(|(k, _)| *k == name)
            .map(|(_, v)| v.as_str())
    }

    /// Path plus `?query` when there is one.
    pub fn path_and_query(&self) -> String {
        match &self.query {
            Some(q) => format!("{}?{q}", self.path),
            None => self.path.clone(),
        }
    }
}

#[derive(Default)]
struct State {
    queues: HashMap<String, VecDeque<Resp>>,
    sticky: HashMap<String, Resp>,
    default: Option<Resp>,
    override_all: Option<Resp>,
    requests: Vec<Recorded>,
}

impl State {
    fn answer(&mut self, path: &str) -> Resp {
        if let Some(r) = &self.override_all {
            return r.clone();
        }
        if let Some(r) = self.queues.get_mut(path).and_then(VecDeque::pop_front) {
            return r;
        }
        if let Some(r) = self.sticky.get(path) {
            return r.clone();
        }
        self.default.clone().unwrap_or_else(|| {
            Resp::graph_error(
                404,
                100,
                &format!("fake graph: nothing scripted for {path}"),
            )
        })
    }
}

struct Handler {
    state: Arc<Mutex<State>>,
}

impl Endpoint for Handler {
    type Output = Response;

    async fn call(&self, req: Request) -> poem::Result<Response> {
        let recorded = Recorded {
            method: req.method().to_string(),
            path: req.uri().path().to_string(),
            query: req.uri().query().map(str::to_string),
            headers: req
                .headers()
                .iter()
                .map(|(k, v)| {
                    (
                        k.as_str().to_ascii_lowercase(),
                        String::from_utf8_lossy(v.as_bytes()).into_owned(),
                    )
                })
                .collect(),
            at: Instant::now(),
        };
        let resp = {
            let mut st = self.state.lock().unwrap();
            let r = st.answer(&recorded.path);
            st.requests.push(recorded);
            r
        };
        if !resp.delay.is_zero() {
            tokio::time::sleep(resp.delay).await;
        }
        let mut b = Response::builder()
            .status(StatusCode::from_u16(resp.status).unwrap_or(StatusCode::IM_A_TEAPOT));
        for (k, v) in &resp.headers {
            b = b.header(k.as_str(), v.as_str());
        }
        let body = if resp.chunked {
            Body::from_async_read(std::io::Cursor::new(resp.body))
        } else {
            Body::from_vec(resp.body)
        };
        Ok(b.body(body))
    }
}

/// The running fake. Stops when dropped.
pub struct FakeGraph {
    addr: SocketAddr,
    state: Arc<Mutex<State>>,
    stop: Option<tokio::sync::oneshot::Sender<()>>,
}

impl FakeGraph {
    /// Starts the fake on an ephemeral port of 127.0.0.1.
    pub fn start() -> Self {
        Self::start_on(0)
    }

    /// Starts the fake on a given port of 127.0.0.1 (0: any free one).
    pub fn start_on(port: u16) -> Self {
        let state = Arc::new(Mutex::new(State::default()));
        let (addr_tx, addr_rx) = std::sync::mpsc::channel();
        let (stop_tx, stop_rx) = tokio::sync::oneshot::channel::<()>();
        let handler = Handler {
            state: state.clone(),
        };
        std::thread::Builder::new()
            .name("fake-graph".into())
            .spawn(move || {
                let rt = tokio::runtime::Builder::new_current_thread()
                    .enable_all()
                    .build()
                    .unwrap();
                rt.block_on(async move {
                    let listener = tokio::net::TcpListener::bind(("127.0.0.1", port))
                        .await
                        .unwrap();
                    addr_tx.send(listener.local_addr().unwrap()).unwrap();
                    let acceptor = TcpAcceptor::from_tokio(listener).unwrap();
                    let _ = Server::new_with_acceptor(acceptor)
                        .run_with_graceful_shutdown(
                            handler,
                            async move {
                                let _ = stop_rx.await;
                            },
                            Some(Duration::from_millis(200)),
                        )
                        .await;
                });
            })
            .unwrap();
        let addr = addr_rx
            .recv_timeout(Duration::from_secs(10))
            .expect("fake graph did not start");
        Self {
            addr,
            state,
            stop: Some(stop_tx),
        }
    }

    /// `http://127.0.0.1:PORT`.
    pub fn url(&self) -> String {
        format!("http://{}", self.addr)
    }

    /// The port it listens on.
    pub fn port(&self) -> u16 {
        self.addr.port()
    }

    /// The Graph base URL to configure: `http://127.0.0.1:PORT/v25.0`.
    pub fn graph_base(&self) -> String {
        format!("{}/{GRAPH_VERSION}", self.url())
    }

    /// The path of a Graph object: `/v25.0/{id}`.
    pub fn graph_path(id: &str) -> String {
        format!("/{GRAPH_VERSION}/{id}")
    }

    /// Sets the sticky answer of a path (used whenever its queue is empty).
    pub fn respond(&self, path: &str, status: u16, content_type: &str, body: impl Into<Vec<u8>>) {
        self.respond_with(path, Resp::new(status, content_type, body));
    }

    /// Sets the sticky answer of a path from a prepared response.
    pub fn respond_with(&self, path: &str, resp: Resp) {
        self.state
            .lock()
            .unwrap()
            .sticky
            .insert(path.to_string(), resp);
    }

    /// Queues one-shot answers for a path, used in order before its sticky answer.
    pub fn respond_seq(&self, path: &str, seq: Vec<Resp>) {
        self.state
            .lock()
            .unwrap()
            .queues
            .entry(path.to_string())
            .or_default()
            .extend(seq);
    }

    /// Sets the answer for paths with nothing scripted.
    pub fn set_default(&self, resp: Option<Resp>) {
        self.state.lock().unwrap().default = resp;
    }

    /// Answers every path with `resp` while set (ignores queues and sticky answers).
    pub fn override_all(&self, resp: Option<Resp>) {
        self.state.lock().unwrap().override_all = resp;
    }

    /// Every request received so far, in order.
    pub fn requests(&self) -> Vec<Recorded> {
        self.state.lock().unwrap().requests.clone()
    }

    /// The requests received for one path (query ignored).
    pub fn requests_to(&self, path: &str) -> Vec<Recorded> {
        self.requests()
            .into_iter()
            .filter(|r| r.path == path)
            .collect()
    }

    /// Forgets the recorded requests.
    pub fn clear_requests(&self) {
        self.state.lock().unwrap().requests.clear();
    }
}

impl Drop for FakeGraph {
    fn drop(&mut self) {
        if let Some(s) = self.stop.take() {
            let _ = s.send(());
        }
    }
}
