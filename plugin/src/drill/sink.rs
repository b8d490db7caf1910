//! The capture sink: one loopback HTTP server standing in for every Alertmanager receiver and
//! every Flux Provider. It answers 200 to anything and records each request's path, body and
//! arrival time, so the drill can tell which receiver got which alert, and when.

use std::net::SocketAddr;
use std::sync::{Arc, Mutex};
use std::time::Instant;

use axum::body::Bytes;
use axum::extract::State;
use axum::http::Uri;
use axum::Router;

/// One request the sink received.
#[derive(Debug, Clone)]
pub struct Capture {
    pub at: Instant,
    pub path: String,
    pub body: Bytes,
}

type Records = Arc<Mutex<Vec<Capture>>>;

pub struct Sink {
    pub addr: SocketAddr,
    records: Records,
    task: tokio::task::JoinHandle<()>,
}

impl Sink {
    pub async fn start() -> std::io::Result<Sink> {
        Self::start_on(SocketAddr::from(([127, 0, 0, 1], 0))).await
    }

    /// A sink on `addr` (a cluster drill's sink may need to be reachable from a pod network).
    pub async fn start_on(addr: SocketAddr) -> std::io::Result<Sink> {
        let listener = tokio::net::TcpListener::bind(addr).await?;
        let addr = listener.local_addr()?;
        let records = Records::default();
        let app = Router::new().fallback(record).with_state(records.clone());
        let task = tokio::spawn(async move {
            let _ = axum::serve(listener, app).await;
        });
        Ok(Sink {
            addr,
            records,
            task,
        })
    }

    pub fn url(&self, path: &str) -> String {
        format!("http://{}{path}", self.addr)
    }

    /// The requests received from index `from` on (callers keep their own cursor).
    pub fn since(&self, from: usize) -> Vec<Capture> {
        let all = self.records.lock().unwrap_or_else(|e| e.into_inner());
        all.get(from..).map(<[Capture]>::to_vec).unwrap_or_default()
    }

    pub fn stop(self) {
        self.task.abort();
    }
}

impl Drop for Sink {
    fn drop(&mut self) {
        self.task.abort();
    }
}

async fn record(State(records): State<Records>, uri: Uri, body: Bytes) -> &'static str {
    let at = Instant::now();
    records
        .lock()
        .unwrap_or_else(|e| e.into_inner())
        .push(Capture {
            at,
            path: uri.path().to_string(),
            body,
        });
    "ok"
}
