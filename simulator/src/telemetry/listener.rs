//! A `/metrics` listener that can really go away: while its controller is down the listening
//! socket is closed (Prometheus gets connection refused, `up` 0), and it binds the same port
//! again when the controller comes back. Every response closes its connection, so no kept-alive
//! connection outlives a controller-down.

use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Duration;

use axum::http::{header, StatusCode};
use axum::response::IntoResponse;
use axum::routing::get;
use axum::Router;
use tokio::net::TcpListener;
use tokio::sync::watch;

/// Produces the body of `/metrics` at scrape time.
pub type Render = Arc<dyn Fn() -> String + Send + Sync>;

/// The content type client_golang answers for the text format.
pub const TEXT_FORMAT: &str = "text/plain; version=0.0.4; charset=utf-8";

fn router(render: Render) -> Router {
    let metrics = move || {
        let render = render.clone();
        async move {
            // Encoding 10k objects takes milliseconds: keep it off the async workers.
            let body = tokio::task::spawn_blocking(move || render()).await.unwrap_or_default();
            (
                [(header::CONTENT_TYPE, TEXT_FORMAT), (header::CONNECTION, "close")],
                body,
            )
        }
    };
    Router::new().route("/metrics", get(metrics)).fallback(|| async {
        (
            StatusCode::NOT_FOUND,
            [(header::CONNECTION, "close")],
            "404 page not found\n",
        )
            .into_response()
    })
}

/// Serves on `listener` until `stop` turns true; then the socket is closed.
async fn serve_until(listener: TcpListener, render: Render, mut stop: watch::Receiver<bool>) {
    let shutdown = async move {
        let _ = stop.wait_for(|s| *s).await;
    };
    if let Err(e) = axum::serve(listener, router(render))
        .with_graceful_shutdown(shutdown)
        .await
    {
        tracing::warn!("metrics listener stopped: {e}");
    }
}

async fn bind_again(addr: SocketAddr) -> Option<TcpListener> {
    for _ in 0..50 {
        match TcpListener::bind(addr).await {
            Ok(l) => return Some(l),
            Err(e) => {
                tracing::debug!(%addr, error = %e, "re-binding metrics listener");
                tokio::time::sleep(Duration::from_millis(100)).await;
            }
        }
    }
    tracing::warn!(%addr, "could not bind the metrics listener again");
    None
}

/// Binds `addr` and keeps a listener up while `is_down()` is false, polling it every `poll`.
/// Returns the bound address; the supervising task runs until aborted.
pub async fn spawn(
    addr: SocketAddr,
    render: Render,
    is_down: Arc<dyn Fn() -> bool + Send + Sync>,
    poll: Duration,
    tasks: &mut tokio::task::JoinSet<()>,
) -> std::io::Result<SocketAddr> {
    let first = TcpListener::bind(addr).await?;
    let bound = first.local_addr()?;
    tasks.spawn(async move {
        let mut first = Some(first);
        loop {
            while is_down() {
                tokio::time::sleep(poll).await;
            }
            let listener = match first.take() {
                Some(l) => l,
                None => match bind_again(bound).await {
                    Some(l) => l,
                    None => return,
                },
            };
            let (stop, stopped) = watch::channel(false);
            // Dropping `stop` (this task aborted) ends the server as well.
            let mut server = tokio::spawn(serve_until(listener, render.clone(), stopped));
            while !is_down() {
                tokio::time::sleep(poll).await;
            }
            let _ = stop.send(true);
            if tokio::time::timeout(Duration::from_secs(2), &mut server).await.is_err() {
                server.abort();
                let _ = server.await;
            }
        }
    });
    Ok(bound)
}
