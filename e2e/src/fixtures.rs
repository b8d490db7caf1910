//! Loopback stand-ins for what real Flux controllers fetch from and post to in the differential
//! test: a Git server (Debian's `git http-backend` behind a small HTTP front, smart HTTP as
//! source-controller's go-git speaks it), a Helm repository served from a directory, and a sink
//! that records what a generic Provider posts. Each listens on 127.0.0.1 (port 0) on a runtime of
//! its own and stops when dropped.

use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::process::Stdio;
use std::sync::{Arc, Mutex};

use axum::body::{Body, Bytes};
use axum::extract::{Request, State};
use axum::http::{HeaderMap, Method, StatusCode};
use axum::response::{IntoResponse, Response};
use tokio::io::AsyncWriteExt;

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
                addr_tx.send(listener.local_addr().expect("addr")).expect("send addr");
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

/// Serves the bare repositories under `root` over smart HTTP: `{url}/NAME.git`.
pub fn git_server(root: &Path) -> Server {
    let root = Arc::new(root.to_path_buf());
    let app = axum::Router::new()
        .fallback(git_cgi)
        .with_state(root);
    Server::start(app)
}

/// One request through `git http-backend` (CGI): the request's method, path, query and body in;
/// its `Status:` and headers, then the body, out.
async fn git_cgi(State(root): State<Arc<PathBuf>>, req: Request) -> Response {
    let (parts, body) = req.into_parts();
    let body = match axum::body::to_bytes(body, 64 << 20).await {
        Ok(b) => b,
        Err(e) => return (StatusCode::BAD_REQUEST, e.to_string()).into_response(),
    };
    let mut cmd = tokio::process::Command::new("git");
    cmd.arg("http-backend")
        .env_clear()
        .env("PATH", std::env::var_os("PATH").unwrap_or_default())
        .env("GIT_PROJECT_ROOT", root.as_path())
        .env("GIT_HTTP_EXPORT_ALL", "1")
        .env("REQUEST_METHOD", parts.method.as_str())
        .env("PATH_INFO", parts.uri.path())
        .env("QUERY_STRING", parts.uri.query().unwrap_or(""))
        .env("CONTENT_LENGTH", body.len().to_string())
        .env("REMOTE_ADDR", "127.0.0.1")
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .kill_on_drop(true);
    if let Some(ct) = parts.headers.get("content-type").and_then(|v| v.to_str().ok()) {
        cmd.env("CONTENT_TYPE", ct);
    }
    if let Some(enc) = parts.headers.get("git-protocol").and_then(|v| v.to_str().ok()) {
        cmd.env("GIT_PROTOCOL", enc);
    }
    let mut child = match cmd.spawn() {
        Ok(c) => c,
        Err(e) => return (StatusCode::INTERNAL_SERVER_ERROR, e.to_string()).into_response(),
    };
    let mut stdin = child.stdin.take().expect("stdin");
    let writer = tokio::spawn(async move {
        let _ = stdin.write_all(&body).await;
    });
    let out = match child.wait_with_output().await {
        Ok(o) => o,
        Err(e) => return (StatusCode::INTERNAL_SERVER_ERROR, e.to_string()).into_response(),
    };
    let _ = writer.await;
    cgi_response(&out.stdout)
}

fn cgi_response(raw: &[u8]) -> Response {
    let split = raw
        .windows(4)
        .position(|w| w == b"\r\n\r\n")
        .map(|i| (i, 4))
        .or_else(|| raw.windows(2).position(|w| w == b"\n\n").map(|i| (i, 2)));
    let Some((at, sep)) = split else {
        return (StatusCode::BAD_GATEWAY, "git http-backend wrote no headers").into_response();
    };
    let head = String::from_utf8_lossy(&raw[..at]);
    let mut status = StatusCode::OK;
    let mut headers = HeaderMap::new();
    for line in head.lines() {
        let Some((k, v)) = line.split_once(':') else {
            continue;
        };
        let v = v.trim();
        if k.eq_ignore_ascii_case("status") {
            if let Some(code) = v.split_whitespace().next().and_then(|c| c.parse().ok()) {
                status = StatusCode::from_u16(code).unwrap_or(StatusCode::BAD_GATEWAY);
            }
        } else if let (Ok(name), Ok(value)) = (
            axum::http::HeaderName::from_bytes(k.trim().as_bytes()),
            axum::http::HeaderValue::from_str(v),
        ) {
            headers.insert(name, value);
        }
    }
    (status, headers, Body::from(raw[at + sep..].to_vec())).into_response()
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

/// A chart archive (`NAME-VERSION.tgz`) with a Chart.yaml and one ConfigMap template, and the
/// repository index naming it, written into `dir` for a repository served at `url`.
pub fn helm_repository(dir: &Path, url: &str, name: &str, versions: &[&str]) {
    let mut entries = String::new();
    for version in versions {
        let work = tempfile::tempdir().expect("tempdir");
        let chart = work.path().join(name);
        std::fs::create_dir_all(chart.join("templates")).expect("chart dir");
        std::fs::write(
            chart.join("Chart.yaml"),
            format!("apiVersion: v2\nname: {name}\nversion: {version}\nappVersion: \"{version}\"\n"),
        )
        .expect("Chart.yaml");
        std::fs::write(
            chart.join("templates/configmap.yaml"),
            "apiVersion: v1\nkind: ConfigMap\nmetadata:\n  name: {{ .Release.Name }}\ndata:\n  version: {{ .Chart.Version | quote }}\n",
        )
        .expect("template");
        let archive = dir.join(format!("{name}-{version}.tgz"));
        let status = std::process::Command::new("tar")
            .arg("-czf")
            .arg(&archive)
            .arg("-C")
            .arg(work.path())
            .arg(name)
            .status()
            .expect("run tar");
        assert!(status.success(), "tar {}", archive.display());
        let digest = sha256_hex(&archive);
        entries.push_str(&format!(
            "  - apiVersion: v2\n    name: {name}\n    version: {version}\n    appVersion: \"{version}\"\n    digest: {digest}\n    created: \"2026-01-01T00:00:00Z\"\n    urls:\n      - {url}/{name}-{version}.tgz\n"
        ));
    }
    std::fs::write(
        dir.join("index.yaml"),
        format!("apiVersion: v1\nentries:\n  {name}:\n{entries}generated: \"2026-01-01T00:00:00Z\"\n"),
    )
    .expect("index.yaml");
}

fn sha256_hex(path: &Path) -> String {
    let out = std::process::Command::new("sha256sum")
        .arg(path)
        .output()
        .expect("run sha256sum");
    String::from_utf8_lossy(&out.stdout)
        .split_whitespace()
        .next()
        .unwrap_or_default()
        .to_string()
}
