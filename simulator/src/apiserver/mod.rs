//! An embedded Kubernetes API server: a generic object store served over HTTP the way the real
//! API server serves it, so kubectl, kube-rs clients and kube-runtime watchers work against it.
//!
//! It is a test double, not a product: JSON only, no authentication, no admission, deletes are
//! immediate, server-side apply is a forced merge.

mod discovery;
mod error;
mod fields;
mod http;
mod inner;
mod jsonpath;
mod object;
mod openapi;
mod protobuf;
mod selector;
mod store;
mod table;
mod types;
mod watch;
mod write;

use std::collections::HashMap;
use std::net::SocketAddr;
use std::path::Path;
use std::sync::{Arc, Mutex};
use std::time::Duration;

pub use error::{ApiError, StatusCause};
pub use jsonpath::JsonPath;
pub use selector::{FieldSelector, LabelSelector};
pub use store::{EventType, ListOptions, ListPage, Patch, Store, Subscription, WatchEvent};
pub use types::{PrinterColumn, ResourceType, VersionDetail};

/// The header that marks the simulator's own clients (its fake controllers): `--deny` answers
/// the clients under test, as a real cluster's RBAC denies a user and not Flux's controllers.
pub const INTERNAL_HEADER: &str = "x-flux-sim-internal";

/// The embedded API: a [`Store`] plus the fault injections of its HTTP face. Clones share both.
#[derive(Clone, Debug)]
pub struct ApiServer {
    store: Store,
    denied: Arc<Mutex<HashMap<String, u16>>>,
    /// The value of [`INTERNAL_HEADER`] this server trusts (random per server).
    internal_token: Arc<str>,
}

impl ApiServer {
    /// An API serving the built-in types and `types` (a CRD object is recorded for each custom type).
    pub fn new(types: Vec<ResourceType>) -> ApiServer {
        ApiServer {
            store: Store::new(types),
            denied: Arc::default(),
            internal_token: Arc::from(format!("{:032x}", rand::random::<u128>())),
        }
    }

    /// The header (name, value) the simulator's own clients send, so that `--deny` spares them.
    pub fn internal_header(&self) -> (&'static str, String) {
        (INTERNAL_HEADER, self.internal_token.to_string())
    }

    pub(crate) fn is_internal(&self, value: Option<&[u8]>) -> bool {
        value.is_some_and(|v| v == self.internal_token.as_bytes())
    }

    /// In-process access to the objects, with the same semantics as HTTP.
    pub fn store(&self) -> &Store {
        &self.store
    }

    /// Makes every HTTP request on resource `plural` (any group) answer a Status with `code`:
    /// 403 is worded as an RBAC denial of user `system:anonymous`.
    pub fn deny(&self, plural: &str, code: u16) {
        self.lock_denied().insert(plural.to_string(), code);
    }

    /// Undoes [`ApiServer::deny`].
    pub fn allow(&self, plural: &str) {
        self.lock_denied().remove(plural);
    }

    pub(crate) fn denied(&self, plural: &str) -> Option<u16> {
        self.lock_denied().get(plural).copied()
    }

    fn lock_denied(&self) -> std::sync::MutexGuard<'_, HashMap<String, u16>> {
        self.denied
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
    }

    /// The HTTP routes, for embedding into another axum server. Watches end when `shutdown` turns true.
    pub fn router(&self, shutdown: tokio::sync::watch::Receiver<bool>) -> axum::Router {
        http::router(self.clone(), shutdown)
    }

    /// Binds `addr` (port 0 picks a free port), serves in a background task and returns at once.
    pub async fn serve(&self, addr: SocketAddr) -> std::io::Result<Running> {
        let listener = tokio::net::TcpListener::bind(addr).await?;
        let addr = listener.local_addr()?;
        let (stop, stopped) = tokio::sync::watch::channel(false);
        let router = self.router(stopped.clone());
        let mut signal = stopped;
        let task = tokio::spawn(async move {
            let shutdown = async move {
                let _ = signal.wait_for(|stop| *stop).await;
            };
            if let Err(e) = axum::serve(listener, router)
                .with_graceful_shutdown(shutdown)
                .await
            {
                tracing::warn!("embedded API server stopped: {e}");
            }
        });
        Ok(Running {
            url: format!("http://{addr}"),
            addr,
            stop,
            task: Some(task),
        })
    }
}

/// A serving embedded API. Dropping it stops the server too.
#[derive(Debug)]
pub struct Running {
    /// `http://127.0.0.1:PORT`
    pub url: String,
    pub addr: SocketAddr,
    stop: tokio::sync::watch::Sender<bool>,
    task: Option<tokio::task::JoinHandle<()>>,
}

impl Running {
    /// Stops accepting connections, ends open watches and waits (at most a few seconds) for the rest.
    pub async fn shutdown(mut self) {
        let _ = self.stop.send(true);
        if let Some(mut task) = self.task.take() {
            if tokio::time::timeout(Duration::from_secs(5), &mut task)
                .await
                .is_err()
            {
                task.abort();
            }
        }
    }
}

impl Drop for Running {
    fn drop(&mut self) {
        let _ = self.stop.send(true);
        let runtime = tokio::runtime::Handle::try_current();
        if let (Some(task), Ok(runtime)) = (self.task.take(), runtime) {
            // Connections that linger past graceful shutdown must not keep the server alive.
            runtime.spawn(async move {
                let mut task = task;
                if tokio::time::timeout(Duration::from_secs(5), &mut task)
                    .await
                    .is_err()
                {
                    task.abort();
                }
            });
        }
    }
}

/// Writes a kubeconfig with one cluster, user and context (made current) for `server_url`:
/// plain HTTP, no credentials.
pub fn write_kubeconfig(path: &Path, server_url: &str, context: &str) -> std::io::Result<()> {
    let quoted = |s: &str| serde_json::Value::String(s.to_string()).to_string();
    let (server, name) = (quoted(server_url), quoted(context));
    let text = format!(
        "apiVersion: v1\nkind: Config\nclusters:\n- name: {name}\n  cluster:\n    server: {server}\n\
         users:\n- name: {name}\n  user: {{}}\ncontexts:\n- name: {name}\n  context:\n    cluster: {name}\n    user: {name}\n\
         current-context: {name}\npreferences: {{}}\n"
    );
    if let Some(dir) = path.parent().filter(|d| !d.as_os_str().is_empty()) {
        std::fs::create_dir_all(dir)?;
    }
    std::fs::write(path, text)
}
