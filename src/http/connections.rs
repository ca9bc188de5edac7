//! The accept loop: serves the application over HTTP/1.1 (with upgrades, for the live
//! WebSocket) with the limits poem's own server lacks.
//!
//! - headers must arrive within `header_read_timeout` (also bounds a silent keep-alive
//!   connection), a body within `body_read_timeout` of its headers;
//! - a connection with no byte read or written for `idle_timeout` is closed;
//! - at most `max_connections` are served; beyond that a few are answered 503 with
//!   `Connection: close` (and a warning, at most every 10 s) and the rest are closed;
//! - accept errors such as `EMFILE` pause the loop instead of spinning on it.

use std::convert::Infallible;
use std::future::Future;
use std::pin::Pin;
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::task::{Context, Poll};
use std::time::{Duration, Instant};

use hyper::body::Incoming;
use hyper::server::conn::http1;
use hyper_util::rt::{TokioIo, TokioTimer};
use poem::web::{LocalAddr, RemoteAddr};
use poem::{Addr, Body, Endpoint, EndpointExt, IntoResponse};
use tokio::io::{AsyncRead, AsyncWrite, ReadBuf};
use tokio::net::{TcpListener, TcpStream};
use tokio::sync::{OwnedSemaphorePermit, Semaphore, watch};
use tokio::task::JoinSet;

use crate::config::Limits;
use crate::error::ApiError;

/// File descriptors kept back from the connection cap for the database, attachment
/// files, Graph API sockets and the listener itself.
const RESERVED_FDS: u64 = 256;
/// Over-cap connections answered 503 at once; beyond these they are just closed.
const MAX_REFUSING: usize = 64;
/// How long in-flight requests may take to finish after a stop signal.
const SHUTDOWN_GRACE: Duration = Duration::from_secs(10);

/// Raises the soft file-descriptor limit to the hard one (as Go's runtime does): the
/// default soft limit of 1,024 is far below what a server's connections need. Returns
/// the limit now in force.
pub fn raise_fd_limit() -> u64 {
    use rustix::process::{Resource, getrlimit, setrlimit};
    let mut limit = getrlimit(Resource::Nofile);
    if let (Some(cur), max) = (limit.current, limit.maximum)
        && max.is_none_or(|m| m > cur)
    {
        // An unlimited hard limit cannot be the soft one; 1 M descriptors is plenty.
        limit.current = Some(max.unwrap_or(1 << 20));
        if let Err(e) = setrlimit(Resource::Nofile, limit) {
            tracing::warn!(error = %e, "could not raise the file-descriptor limit");
        }
    }
    getrlimit(Resource::Nofile).current.unwrap_or(u64::MAX)
}

/// Lowers the configured connection cap to what the file-descriptor limit allows.
pub fn effective_cap(configured: usize, fd_limit: u64) -> usize {
    let room = fd_limit.saturating_sub(RESERVED_FDS).max(16);
    configured.min(usize::try_from(room).unwrap_or(usize::MAX))
}

/// Serves `ep` on `listener` until `shutdown` resolves, then lets in-flight requests
/// finish for up to 10 s.
pub async fn serve<E>(
    listener: TcpListener,
    ep: E,
    limits: &Limits,
    shutdown: impl Future<Output = ()>,
) -> std::io::Result<()>
where
    E: Endpoint + 'static,
{
    let fd_limit = raise_fd_limit();
    let cap = effective_cap(limits.max_connections, fd_limit);
    if cap < limits.max_connections {
        tracing::warn!(
            configured = limits.max_connections,
            cap,
            fd_limit,
            "max_connections lowered to fit the file-descriptor limit (raise LimitNOFILE)"
        );
    }
    let ep = Arc::new(ep.map_to_response());
    let slots = Arc::new(Semaphore::new(cap));
    let refusing = Arc::new(Semaphore::new(MAX_REFUSING));
    let (stop_tx, stop_rx) = watch::channel(false);
    let over_cap = Warner::new();
    let accept_errors = Warner::new();
    let local = listener.local_addr()?;
    let mut tasks = JoinSet::new();
    tokio::pin!(shutdown);
    loop {
        let accepted = tokio::select! {
            _ = &mut shutdown => break,
            Some(_) = tasks.join_next(), if !tasks.is_empty() => continue,
            accepted = listener.accept() => accepted,
        };
        let (stream, peer) = match accepted {
            Ok(s) => s,
            Err(e) => {
                accept_errors.warn(
                    |n| tracing::warn!(error = %e, times = n, "accepting connections failed"),
                );
                // Out of descriptors or memory: retrying at once would spin; a pause lets
                // connections close.
                if !matches!(
                    e.kind(),
                    std::io::ErrorKind::ConnectionAborted | std::io::ErrorKind::ConnectionReset
                ) {
                    tokio::time::sleep(Duration::from_millis(50)).await;
                }
                continue;
            }
        };
        let _ = stream.set_nodelay(true);
        match slots.clone().try_acquire_owned() {
            Ok(permit) => {
                let conn = Conn {
                    ep: ep.clone(),
                    local,
                    peer,
                    limits: limits.clone(),
                };
                tasks.spawn(conn.run(stream, permit, stop_rx.clone()));
            }
            Err(_) => {
                over_cap.warn(|n| {
                    tracing::warn!(
                        cap,
                        refused = n,
                        "connection limit reached: refusing connections (max_connections)"
                    )
                });
                if let Ok(permit) = refusing.clone().try_acquire_owned() {
                    tokio::spawn(refuse(stream, permit));
                }
            }
        }
    }
    drop(listener);
    let _ = stop_tx.send(true);
    let drained = tokio::time::timeout(SHUTDOWN_GRACE, async {
        while tasks.join_next().await.is_some() {}
    })
    .await;
    if drained.is_err() {
        tracing::warn!("connections still open after the shutdown grace period; closing them");
    }
    Ok(())
}

struct Conn<E> {
    ep: Arc<E>,
    local: std::net::SocketAddr,
    peer: std::net::SocketAddr,
    limits: Limits,
}

impl<E: Endpoint + 'static> Conn<E> {
    async fn run(
        self,
        stream: TcpStream,
        permit: OwnedSemaphorePermit,
        mut stop: watch::Receiver<bool>,
    ) {
        let activity = Arc::new(AtomicU64::new(0));
        let started = Instant::now();
        // The permit travels with the socket, so an upgraded WebSocket keeps its slot.
        let io = Tracked {
            inner: stream,
            started,
            activity: activity.clone(),
            _permit: permit,
        };
        let (ep, body_timeout) = (self.ep.clone(), self.limits.body_read_timeout);
        let (local, peer) = (self.local, self.peer);
        let service = hyper::service::service_fn(move |req: hyper::Request<Incoming>| {
            let ep = ep.clone();
            async move {
                let mut req: poem::Request = (
                    req,
                    LocalAddr(Addr::SocketAddr(local)),
                    RemoteAddr(Addr::SocketAddr(peer)),
                    poem::http::uri::Scheme::HTTP,
                )
                    .into();
                if has_body(&req) {
                    let body = req.take_body();
                    req.set_body(with_deadline(body, body_timeout));
                }
                let resp = ep.get_response(req).await;
                Ok::<_, Infallible>(hyper::Response::from(resp))
            }
        });
        let conn = http1::Builder::new()
            .timer(TokioTimer::new())
            .header_read_timeout(self.limits.header_read_timeout)
            .keep_alive(true)
            .serve_connection(TokioIo::new(io), service)
            .with_upgrades();
        tokio::pin!(conn);
        let idle = self.limits.idle_timeout;
        tokio::select! {
            _ = &mut conn => return,
            _ = idle_for(&activity, started, idle) => {
                tracing::debug!(peer = %self.peer, "closing idle connection");
                return;
            }
            _ = stop.wait_for(|s| *s) => conn.as_mut().graceful_shutdown(),
        }
        let _ = conn.await;
    }
}

fn has_body(req: &poem::Request) -> bool {
    req.headers()
        .contains_key(poem::http::header::TRANSFER_ENCODING)
        || req
            .header("content-length")
            .is_some_and(|v| v.trim() != "0")
}

/// Resolves once nothing was read or written for `idle`.
async fn idle_for(activity: &AtomicU64, started: Instant, idle: Duration) {
    loop {
        let last = Duration::from_millis(activity.load(Ordering::Relaxed));
        let quiet = started.elapsed().saturating_sub(last);
        if quiet >= idle {
            return;
        }
        tokio::time::sleep(idle - quiet).await;
    }
}

/// Ends a request body with a `TimedOut` error once `timeout` has passed.
fn with_deadline(body: Body, timeout: Duration) -> Body {
    let mut inner = Box::pin(body.into_bytes_stream());
    let mut deadline = Box::pin(tokio::time::sleep(timeout));
    let mut expired = false;
    Body::from_bytes_stream(futures_util::stream::poll_fn(move |cx| {
        if expired {
            return Poll::Ready(None);
        }
        if deadline.as_mut().poll(cx).is_ready() {
            expired = true;
            return Poll::Ready(Some(Err(std::io::Error::new(
                std::io::ErrorKind::TimedOut,
                "request body not received within body_read_timeout_secs",
            ))));
        }
        futures_util::Stream::poll_next(inner.as_mut(), cx)
    }))
}

/// Answers every request on an over-cap connection with 503 and closes it.
async fn refuse(stream: TcpStream, _permit: OwnedSemaphorePermit) {
    let service = hyper::service::service_fn(|req: hyper::Request<Incoming>| async move {
        let json = req.uri().path().starts_with("/api/");
        let err = ApiError::Overloaded("the server is at its connection limit");
        let mut resp = crate::error::respond(err.into(), json);
        super::security::add_headers(resp.headers_mut());
        Ok::<_, Infallible>(hyper::Response::from(resp.into_response()))
    });
    let conn = http1::Builder::new()
        .timer(TokioTimer::new())
        .header_read_timeout(Duration::from_secs(2))
        .keep_alive(false)
        .serve_connection(TokioIo::new(stream), service);
    let _ = tokio::time::timeout(Duration::from_secs(5), conn).await;
}

/// A socket that records when it last moved a byte and holds its connection slot.
struct Tracked {
    inner: TcpStream,
    started: Instant,
    activity: Arc<AtomicU64>,
    _permit: OwnedSemaphorePermit,
}

impl Tracked {
    fn touch(&self) {
        let ms = self.started.elapsed().as_millis() as u64;
        self.activity.store(ms, Ordering::Relaxed);
    }
}

impl AsyncRead for Tracked {
    fn poll_read(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &mut ReadBuf<'_>,
    ) -> Poll<std::io::Result<()>> {
        let r = Pin::new(&mut self.inner).poll_read(cx, buf);
        if matches!(r, Poll::Ready(Ok(()))) {
            self.touch();
        }
        r
    }
}

impl AsyncWrite for Tracked {
    fn poll_write(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &[u8],
    ) -> Poll<std::io::Result<usize>> {
        let r = Pin::new(&mut self.inner).poll_write(cx, buf);
        if matches!(r, Poll::Ready(Ok(_))) {
            self.touch();
        }
        r
    }

    fn poll_flush(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<std::io::Result<()>> {
        Pin::new(&mut self.inner).poll_flush(cx)
    }

    fn poll_shutdown(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<std::io::Result<()>> {
        Pin::new(&mut self.inner).poll_shutdown(cx)
    }
}

/// A warning logged at most every 10 s, with how often it happened meanwhile: a flood
/// of refused connections must not become a flood of log lines.
struct Warner {
    next: std::sync::Mutex<Option<Instant>>,
    count: AtomicU64,
}

impl Warner {
    fn new() -> Self {
        Self {
            next: std::sync::Mutex::new(None),
            count: AtomicU64::new(0),
        }
    }

    fn warn(&self, log: impl FnOnce(u64)) {
        let n = self.count.fetch_add(1, Ordering::Relaxed) + 1;
        let mut next = self.next.lock().expect("warner lock poisoned");
        let now = Instant::now();
        if next.is_none_or(|t| now >= t) {
            *next = Some(now + Duration::from_secs(10));
            self.count.store(0, Ordering::Relaxed);
            log(n);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn cap_fits_the_descriptor_limit() {
        assert_eq!(effective_cap(4096, 1024), 768);
        assert_eq!(effective_cap(100, 65536), 100);
        assert_eq!(effective_cap(4096, 10), 16);
    }

    #[test]
    fn warner_logs_once_per_period() {
        let w = Warner::new();
        let mut logged = Vec::new();
        for _ in 0..5 {
            w.warn(|n| logged.push(n));
        }
        assert_eq!(logged, vec![1]);
    }
}
