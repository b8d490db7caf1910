//! Loopback stand-ins for what real Flux controllers fetch from and post to in the differential
//! test: a file server (the source artifacts kustomize-controller downloads) and a sink that
//! records what a generic Provider posts; and Debian's git to make the commits. Each server
//! listens on 127.0.0.1 (port 0) on a runtime of its own and stops when dropped.

use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex};

use axum::body::Bytes;
use axum::extract::{Request, State};
use axum::http::{Method, StatusCode};
use axum::response::IntoResponse;

/// A server on its own runtime thread; shut down on drop.
pub struct Server {
    pub addr: SocketAddr,
    stop: Option<tokio::sync::oneshot::Sender<()>>,
    thread: Option<std::thread::JoinHandle<()>>,
}

impl Server {
    fn start(app: axum::Router) -> Server {
        let (addr_tx, addr_rx) = std::sync::mpsc::channel();
        let (stop, stopped) = tokio::sync::oneshot::channel::<()>();
        let thread = std::thread::spawn(move || {
            let rt = tokio::runtime::Builder::new_current_thread()
                .enable_all()
                .build()
                .expect("runtime");
            rt.block_on(async move {
                let listener = tokio::net::TcpListener::bind(("127.0.0.1", 0))
                    .await
                    .expect("bind 127.0.0.1:0");
                addr_tx
                    .send(listener.local_addr().expect("addr"))
                    .expect("send addr");
                let _ = axum::serve(listener, app)
                    .with_graceful_shutdown(async {
                        let _ = stopped.await;
                    })
                    .await;
            });
        });
        let addr = addr_rx.recv().expect("server address");
        Server {
            addr,
            stop: Some(stop),
            thread: Some(thread),
        }
    }

    pub fn url(&self) -> String {
        format!("http://{}", self.addr)
    }
}

impl Drop for Server {
    fn drop(&mut self) {
        if let Some(s) = self.stop.take() {
            let _ = s.send(());
        }
        if let Some(t) = self.thread.take() {
            let _ = t.join();
        }
    }
}

/// Runs `git` with `args` in `dir`, panicking with its stderr when it fails.
pub fn git(dir: &Path, args: &[&str]) -> String {
    let out = std::process::Command::new("git")
        .args(args)
        .current_dir(dir)
        .env("GIT_AUTHOR_NAME", "flux-monitor")
        .env("GIT_AUTHOR_EMAIL", "test@flux-monitor.invalid")
        .env("GIT_COMMITTER_NAME", "flux-monitor")
        .env("GIT_COMMITTER_EMAIL", "test@flux-monitor.invalid")
        .output()
        .expect("run git (make setup installs it)");
    assert!(
        out.status.success(),
        "git {args:?} in {}: {}",
        dir.display(),
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8_lossy(&out.stdout).trim().to_string()
}

/// Serves the files under `dir` (a Helm repository: index.yaml and chart archives).
pub fn file_server(dir: &Path) -> Server {
    let dir = Arc::new(dir.to_path_buf());
    let app = axum::Router::new()
        .fallback(|State(dir): State<Arc<PathBuf>>, req: Request| async move {
            let rel = req.uri().path().trim_start_matches('/').to_string();
            if rel.split('/').any(|c| c == ".." || c.is_empty()) {
                return StatusCode::NOT_FOUND.into_response();
            }
            match tokio::fs::read(dir.join(&rel)).await {
                Ok(b) => (StatusCode::OK, Bytes::from(b)).into_response(),
                Err(_) => StatusCode::NOT_FOUND.into_response(),
            }
        })
        .with_state(dir);
    Server::start(app)
}

/// What a sink received: path and JSON body, in order.
pub type Received = Arc<Mutex<Vec<(String, serde_json::Value)>>>;

/// Records every POST (a generic Provider's events) and answers 200.
pub fn sink() -> (Server, Received) {
    let got: Received = Arc::new(Mutex::new(Vec::new()));
    let app = axum::Router::new()
        .fallback(
            |State(got): State<Received>, method: Method, req: Request| async move {
                let path = req.uri().path().to_string();
                let body = axum::body::to_bytes(req.into_body(), 16 << 20)
                    .await
                    .unwrap_or_default();
                if method == Method::POST {
                    let v = serde_json::from_slice(&body).unwrap_or(serde_json::Value::Null);
                    got.lock().expect("sink lock").push((path, v));
                }
                StatusCode::OK
            },
        )
        .with_state(got.clone());
    (Server::start(app), got)
}
