//! The HTTP side (RFC 3161 §3.4): `POST /` with `Content-Type:
//! application/timestamp-query`, answered `application/timestamp-reply`.
//!
//! | request | answer |
//! |---|---|
//! | a query the meter stamps | 200, status granted, the token |
//! | unsupported hash, other policy, extensions, nonce over 32 octets | 200, rejection (`badAlg`, `unacceptedPolicy`, `unacceptedExtension`, `badRequest`) |
//! | bytes that are not a DER TimeStampReq v1 | 400, rejection `badDataFormat` |
//! | the card refuses (funds, slot, certificate, clock) or fails | 200, rejection `systemFailure` with the reason |
//! | the queue is full or the request waited past its timeout | 503, rejection `systemFailure` |
//! | another content type | 415 |
//! | another method | 405 |
//! | a body over the limit | 413 |
//! | a body not received within the timeout | 408 |
//!
//! Nothing is charged for any answer but a granted one.

use super::queue::{MeterQueue, QueueError};
use super::reply::{self, Failure, Refusal};
use super::request;
use super::stamp::Stamper;
use axum::Router;
use axum::body::Body;
use axum::extract::State;
use axum::http::{HeaderMap, HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};
use axum::routing::post;
use host_driver::Meter;
use host_driver::transport::Transport;
use http_body_util::{BodyExt, LengthLimitError, Limited};
use std::net::SocketAddr;
use std::sync::Arc;
use std::thread::JoinHandle;
use std::time::Duration;
use tokio::time::Instant;

/// The query media type.
pub const QUERY_TYPE: &str = "application/timestamp-query";
/// The reply media type.
pub const REPLY_TYPE: &str = "application/timestamp-reply";

/// Limits of the server.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Limits {
    /// Largest request body accepted (a TimeStampReq is about 60–120 bytes).
    pub max_body: usize,
    /// Time from the request to the card: reading the body and waiting in the queue.
    pub timeout: Duration,
    /// Requests that may wait for the card.
    pub queue_depth: usize,
}

impl Default for Limits {
    fn default() -> Self {
        Self { max_body: 16 * 1024, timeout: Duration::from_secs(10), queue_depth: 32 }
    }
}

struct Tsa<T: Transport> {
    queue: MeterQueue<T>,
    stamper: Arc<Stamper>,
    limits: Limits,
}

/// A running TSA: its address, its meter queue, and a way to stop it.
pub struct TsaServer<T: Transport> {
    addr: SocketAddr,
    queue: MeterQueue<T>,
    shutdown: Option<tokio::sync::oneshot::Sender<()>>,
    thread: Option<JoinHandle<std::io::Result<()>>>,
}

/// Why the server could not start or stopped.
#[derive(Debug, thiserror::Error)]
pub enum ServeError {
    /// Socket, runtime or thread failure.
    #[error("TSA server: {0}")]
    Io(#[from] std::io::Error),
    /// The server thread panicked.
    #[error("TSA server thread panicked")]
    Panicked,
}

impl<T: Transport + Send + 'static> TsaServer<T> {
    /// Serves `meter` on `listener` (already bound) from a thread of its own,
    /// stamping with `stamper`.
    pub fn start(
        listener: std::net::TcpListener,
        meter: Meter<T>,
        stamper: Stamper,
        limits: Limits,
    ) -> Result<Self, ServeError> {
        let addr = listener.local_addr()?;
        listener.set_nonblocking(true)?;
        let (queue, _worker) = MeterQueue::start(meter, limits.queue_depth)?;
        let state = Arc::new(Tsa { queue: queue.clone(), stamper: Arc::new(stamper), limits });
        let app = Router::new().route("/", post(timestamp::<T>)).with_state(state);
        let (shutdown, stop) = tokio::sync::oneshot::channel::<()>();
        let runtime = tokio::runtime::Builder::new_current_thread().enable_all().build()?;
        let thread = std::thread::Builder::new().name("pcmeter-tsa".into()).spawn(move || {
            runtime.block_on(async move {
                let listener = tokio::net::TcpListener::from_std(listener)?;
                axum::serve(listener, app)
                    .with_graceful_shutdown(async move {
                        let _ = stop.await;
                    })
                    .await
            })
        })?;
        tracing::info!(%addr, "timestamp authority listening");
        Ok(Self { addr, queue, shutdown: Some(shutdown), thread: Some(thread) })
    }

    /// The address the server listens on.
    pub fn local_addr(&self) -> SocketAddr {
        self.addr
    }

    /// The meter queue (for reading the registers between requests).
    pub fn queue(&self) -> &MeterQueue<T> {
        &self.queue
    }

    /// Blocks until the server stops.
    pub fn wait(mut self) -> Result<(), ServeError> {
        self.join()
    }

    /// Stops accepting, finishes the requests in flight, and returns.
    pub fn stop(mut self) -> Result<(), ServeError> {
        if let Some(shutdown) = self.shutdown.take() {
            let _ = shutdown.send(());
        }
        self.join()
    }

    fn join(&mut self) -> Result<(), ServeError> {
        match self.thread.take() {
            Some(thread) => thread.join().map_err(|_| ServeError::Panicked)?.map_err(ServeError::Io),
            None => Ok(()),
        }
    }
}

impl<T: Transport> Drop for TsaServer<T> {
    fn drop(&mut self) {
        if let Some(shutdown) = self.shutdown.take() {
            let _ = shutdown.send(());
        }
        if let Some(thread) = self.thread.take() {
            let _ = thread.join();
        }
    }
}

/// Whether the request says it carries a timestamp query (parameters ignored).
fn is_query(headers: &HeaderMap) -> bool {
    headers
        .get(header::CONTENT_TYPE)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.split(';').next())
        .is_some_and(|essence| essence.trim().eq_ignore_ascii_case(QUERY_TYPE))
}

/// A TimeStampResp with its media type.
fn tsp_reply(status: StatusCode, der: Vec<u8>) -> Response {
    (status, [(header::CONTENT_TYPE, HeaderValue::from_static(REPLY_TYPE))], der).into_response()
}

/// A rejection reply (status 200, or 400 for a malformed query, 503 when busy).
fn rejected(status: StatusCode, refusal: &Refusal) -> Response {
    match reply::rejection(refusal) {
        Ok(der) => tsp_reply(status, der),
        Err(e) => {
            tracing::error!(error = %e, "could not encode a rejection");
            StatusCode::INTERNAL_SERVER_ERROR.into_response()
        }
    }
}

fn plain(status: StatusCode, text: &'static str) -> Response {
    (status, text).into_response()
}

async fn timestamp<T: Transport + Send + 'static>(
    State(tsa): State<Arc<Tsa<T>>>,
    headers: HeaderMap,
    body: Body,
) -> Response {
    let deadline = Instant::now() + tsa.limits.timeout;
    if !is_query(&headers) {
        return plain(StatusCode::UNSUPPORTED_MEDIA_TYPE, "expected Content-Type: application/timestamp-query\n");
    }
    let bytes = match tokio::time::timeout_at(deadline, Limited::new(body, tsa.limits.max_body).collect()).await {
        Ok(Ok(collected)) => collected.to_bytes(),
        Ok(Err(e)) if e.downcast_ref::<LengthLimitError>().is_some() => {
            return plain(StatusCode::PAYLOAD_TOO_LARGE, "the timestamp query is too large\n");
        }
        Ok(Err(_)) => return plain(StatusCode::BAD_REQUEST, "the request body could not be read\n"),
        Err(_) => return plain(StatusCode::REQUEST_TIMEOUT, "the request body did not arrive in time\n"),
    };
    let query = match request::parse(&bytes) {
        Ok(query) => query,
        Err(refusal) => {
            tracing::info!(%refusal, "timestamp query refused");
            let status =
                if refusal.failure == Failure::BadDataFormat { StatusCode::BAD_REQUEST } else { StatusCode::OK };
            return rejected(status, &refusal);
        }
    };
    let stamper = Arc::clone(&tsa.stamper);
    let stamped = tsa.queue.run(deadline, move |meter| stamper.stamp(meter, &query)).await;
    match stamped {
        Ok(Ok(token)) => match reply::granted(&token) {
            Ok(der) => tsp_reply(StatusCode::OK, der),
            Err(e) => {
                tracing::error!(error = %e, "a charged token could not be encoded into a reply");
                rejected(StatusCode::OK, &Refusal::new(Failure::SystemFailure, format!("reply encoding: {e}")))
            }
        },
        Ok(Err(refusal)) => rejected(StatusCode::OK, &refusal),
        Err(e @ (QueueError::Full | QueueError::TimedOut)) => {
            rejected(StatusCode::SERVICE_UNAVAILABLE, &Refusal::new(Failure::SystemFailure, e.to_string()))
        }
        Err(e @ QueueError::Stopped) => {
            rejected(StatusCode::INTERNAL_SERVER_ERROR, &Refusal::new(Failure::SystemFailure, e.to_string()))
        }
    }
}
