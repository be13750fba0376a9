//! Serving a router on a listener with the limits `axum::serve` does not have: a header-read
//! timeout (a client trickling headers is closed after `server.header_read_timeout`), a cap
//! on the bytes buffered for one connection's headers, and a cap on open connections (the
//! connection over `server.max_connections` is closed at once and counted). Drains on
//! `stop`: no new connections, in-flight requests finish.

use std::sync::Arc;
use std::time::Duration;

use hyper_util::rt::{TokioExecutor, TokioIo, TokioTimer};
use hyper_util::server::conn::auto::Builder;
use hyper_util::server::graceful::GracefulShutdown;
use hyper_util::service::TowerToHyperService;
use tokio::net::TcpListener;
use tokio::sync::Semaphore;
use tokio_util::sync::CancellationToken;

use crate::telemetry::metrics::Metrics;

/// Most bytes buffered while reading one request's head (hyper's minimum is 8 KiB). A
/// webhook's headers are a few hundred bytes.
pub const MAX_HEADER_BUFFER: usize = 64 * 1024;

/// The limits of one listener.
#[derive(Debug, Clone, Copy)]
pub struct Limits {
    /// Longest time to receive a request's headers.
    pub header_read_timeout: Duration,
    /// Most connections open at once.
    pub max_connections: usize,
}

/// Serves `router` on `listener` until `stop` fires, then waits for open connections to
/// finish their requests.
///
/// # Errors
/// Never in practice: accept errors (out of file descriptors) are logged and retried.
pub async fn serve(
    listener: TcpListener,
    router: axum::Router,
    limits: Limits,
    stop: CancellationToken,
    metrics: Metrics,
) -> std::io::Result<()> {
    let permits = Arc::new(Semaphore::new(limits.max_connections.max(1)));
    let graceful = GracefulShutdown::new();
    // HTTP/1 only (what Genesys, EventBridge and browsers send here): the header timer then
    // runs from the first byte a connection could send, so one that sends nothing, or a
    // partial HTTP/2 preface, is closed like one that trickles its headers.
    let mut builder = Builder::new(TokioExecutor::new()).http1_only();
    builder
        .http1()
        .timer(TokioTimer::new())
        .header_read_timeout(limits.header_read_timeout)
        .max_buf_size(MAX_HEADER_BUFFER);
    let builder = Arc::new(builder);
    loop {
        let (stream, peer) = tokio::select! {
            () = stop.cancelled() => break,
            accepted = listener.accept() => match accepted {
                Ok(a) => a,
                Err(e) => {
                    // EMFILE and friends: back off a little instead of spinning.
                    tracing::warn!(error = %e, "Cannot accept a connection.");
                    tokio::time::sleep(Duration::from_millis(50)).await;
                    continue;
                }
            },
        };
        let Ok(permit) = permits.clone().try_acquire_owned() else {
            metrics.shed("max_connections");
            drop(stream);
            continue;
        };
        let _ = stream.set_nodelay(true);
        // Each request knows the peer it came from (the log line of a refusal names it).
        let service = TowerToHyperService::new(tower::ServiceExt::map_request(
            router.clone(),
            move |mut request: axum::http::Request<hyper::body::Incoming>| {
                request
                    .extensions_mut()
                    .insert(axum::extract::ConnectInfo(peer));
                request
            },
        ));
        let connection = builder
            .serve_connection(TokioIo::new(stream), service)
            .into_owned();
        let connection = graceful.watch(connection);
        tokio::spawn(async move {
            // Errors here are a peer's doing (reset, timeout, bad request line).
            if let Err(e) = connection.await {
                tracing::debug!(error = %e, "Connection ended with an error.");
            }
            drop(permit);
        });
    }
    drop(listener);
    graceful.shutdown().await;
    Ok(())
}
