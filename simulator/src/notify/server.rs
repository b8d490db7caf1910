//! The event server on a socket: axum on the address given (NC listens on :9090 behind a
//! Service on port 80); every path and method reaches the handler, as in NC's `/` mux.

use std::net::SocketAddr;

use axum::body::Bytes;
use axum::extract::{DefaultBodyLimit, State};
use axum::http::{header, HeaderValue, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::Router;
use tokio::sync::oneshot;
use tokio::task::JoinHandle;

use super::controller::NotificationController;
use super::records::MAX_REQUEST_BYTES;

/// A running event server.
pub struct Running {
    /// `http://127.0.0.1:PORT/`, what controllers get as `--events-addr`.
    pub url: String,
    pub addr: SocketAddr,
    pub controller: NotificationController,
    shutdown: Option<oneshot::Sender<()>>,
    task: Option<JoinHandle<()>>,
}

impl Running {
    /// Stops accepting events and waits for the server task.
    pub async fn shutdown(mut self) {
        if let Some(tx) = self.shutdown.take() {
            let _ = tx.send(());
        }
        if let Some(task) = self.task.take() {
            let _ = task.await;
        }
    }
}

impl Drop for Running {
    fn drop(&mut self) {
        if let Some(tx) = self.shutdown.take() {
            let _ = tx.send(());
        }
    }
}

/// Binds `addr` (port 0 for any free port) and serves `controller`.
pub async fn serve(
    addr: SocketAddr,
    controller: NotificationController,
) -> std::io::Result<Running> {
    let listener = tokio::net::TcpListener::bind(addr).await?;
    let addr = listener.local_addr()?;
    let app = Router::new()
        .fallback(handle)
        .layer(DefaultBodyLimit::max(MAX_REQUEST_BYTES))
        .with_state(controller.clone());
    let (tx, rx) = oneshot::channel::<()>();
    let task = tokio::spawn(async move {
        let _ = axum::serve(listener, app)
            .with_graceful_shutdown(async {
                let _ = rx.await;
            })
            .await;
    });
    Ok(Running {
        url: format!("http://{addr}/"),
        addr,
        controller,
        shutdown: Some(tx),
        task: Some(task),
    })
}

async fn handle(State(nc): State<NotificationController>, body: Bytes) -> Response {
    let r = nc.receive(&body).await;
    let status = StatusCode::from_u16(r.status).unwrap_or(StatusCode::INTERNAL_SERVER_ERROR);
    // go-limiter's httplimit.Middleware: a refused take is answered by http.Error.
    let mut resp = if status == StatusCode::TOO_MANY_REQUESTS {
        let mut resp = (status, "Too Many Requests\n").into_response();
        let h = resp.headers_mut();
        h.insert(header::CONTENT_TYPE, HeaderValue::from_static("text/plain; charset=utf-8"));
        h.insert("X-Content-Type-Options", HeaderValue::from_static("nosniff"));
        resp
    } else {
        status.into_response()
    };
    if let Some(reset_in) = r.rate_reset {
        // The middleware sets its headers on every request it takes a token for (one token
        // per key per interval, so nothing remains after a take), and Retry-After on a refusal.
        let h = resp.headers_mut();
        h.insert("X-RateLimit-Limit", HeaderValue::from_static("1"));
        h.insert("X-RateLimit-Remaining", HeaderValue::from_static("0"));
        let reset = jiff::Timestamp::now() + jiff::SignedDuration::try_from(reset_in).unwrap_or_default();
        let text = reset.strftime("%a, %d %b %Y %H:%M:%S UTC").to_string();
        if let Ok(v) = HeaderValue::from_str(&text) {
            h.insert("X-RateLimit-Reset", v.clone());
            if r.retry_after.is_some() {
                h.insert("Retry-After", v);
            }
        }
    }
    resp
}
