//! Kubernetes clients from a kubeconfig as kubectl reads it (file, context, auth), with every
//! request bounded by `--request-timeout` and kube's automatic retries turned off, so an
//! unreachable cluster fails fast with one clear line.

use std::future::Future;
use std::path::{Path, PathBuf};
use std::time::Duration;

use kube::config::{KubeConfigOptions, Kubeconfig, KubeconfigError};
use kube::{Client, Config};

use crate::cli::KubeArgs;

/// Why a cluster could not be reached or read. Holds text only, so results can be cloned.
#[derive(Debug, Clone, thiserror::Error)]
pub enum ClusterError {
    #[error("no kubeconfig found: pass --kubeconfig, set KUBECONFIG or create ~/.kube/config")]
    NoKubeconfig,
    #[error("kubeconfig {path} does not exist")]
    KubeconfigMissing { path: PathBuf },
    #[error("cannot read kubeconfig {path}: {reason}")]
    KubeconfigInvalid { path: String, reason: String },
    #[error("context {context:?} not found in kubeconfig (available: {available})")]
    MissingContext { context: String, available: String },
    #[error("the kubeconfig has no current-context: pass --context")]
    NoCurrentContext,
    #[error("cannot use context {context:?}: {reason}")]
    BadContext { context: String, reason: String },
    #[error("cannot reach the Kubernetes API at {server}: {reason}")]
    Unreachable { server: String, reason: String },
    #[error(
        "no answer from the Kubernetes API at {server} within {timeout:?} (--request-timeout)"
    )]
    Timeout { server: String, timeout: Duration },
    #[error("the Kubernetes API at {server} refused {what}: {reason}")]
    Refused {
        server: String,
        what: String,
        reason: String,
    },
}

/// One cluster to query: a kubeconfig context and a client for it.
#[derive(Clone)]
pub struct Cluster {
    /// The context name, shown in the CLUSTER column.
    pub context: String,
    pub server: String,
    pub client: Client,
    /// A client without a read timeout, for long-lived watches.
    pub watch_client: Client,
    /// The context's namespace, used when neither -n nor -A is given.
    pub default_namespace: String,
    pub timeout: Option<Duration>,
}

impl std::fmt::Debug for Cluster {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Cluster")
            .field("context", &self.context)
            .field("server", &self.server)
            .finish()
    }
}

/// The kubeconfig, read as kubectl does: --kubeconfig, else $KUBECONFIG (a path list), else ~/.kube/config.
fn load_kubeconfig(explicit: Option<&Path>) -> Result<Kubeconfig, ClusterError> {
    let invalid = |path: String, e: KubeconfigError| ClusterError::KubeconfigInvalid {
        path,
        reason: kubeconfig_reason(&e),
    };
    if let Some(path) = explicit {
        if !path.exists() {
            return Err(ClusterError::KubeconfigMissing {
                path: path.to_path_buf(),
            });
        }
        return Kubeconfig::read_from(path).map_err(|e| invalid(path.display().to_string(), e));
    }
    if let Some(list) = std::env::var_os("KUBECONFIG").filter(|v| !v.is_empty()) {
        let existing: Vec<PathBuf> = std::env::split_paths(&list)
            .filter(|p| p.exists())
            .collect();
        if existing.is_empty() {
            return Err(ClusterError::NoKubeconfig);
        }
        return Kubeconfig::from_env()
            .map_err(|e| invalid(list.to_string_lossy().into_owned(), e))?
            .ok_or(ClusterError::NoKubeconfig);
    }
    let home = std::env::var_os("HOME")
        .map(PathBuf::from)
        .ok_or(ClusterError::NoKubeconfig)?;
    let path = home.join(".kube").join("config");
    if !path.exists() {
        return Err(ClusterError::NoKubeconfig);
    }
    Kubeconfig::read_from(&path).map_err(|e| invalid(path.display().to_string(), e))
}

/// Why a kubeconfig could not be read, never quoting it: the YAML parser's message and snippet
/// can carry the line it failed on, which may hold a token, a password or a private key.
pub fn kubeconfig_reason(e: &KubeconfigError) -> String {
    match e {
        KubeconfigError::Parse(parse) => match parse.location() {
            Some(at) => format!(
                "not a valid kubeconfig (YAML error at line {}, column {}); check it with `kubectl config view --kubeconfig FILE`",
                at.line(),
                at.column()
            ),
            None => "not a valid kubeconfig (YAML error); check it with `kubectl config view --kubeconfig FILE`".to_string(),
        },
        other => one_line(other),
    }
}

/// Removes every credential of the kubeconfig from a message (an exec plugin's or TLS
/// library's error may quote the value it failed on).
fn scrub(kc: &Kubeconfig, message: String) -> String {
    use secrecy::ExposeSecret as _;
    let mut secrets: Vec<String> = Vec::new();
    for auth in kc.auth_infos.iter().filter_map(|a| a.auth_info.as_ref()) {
        for s in [&auth.token, &auth.password, &auth.client_key_data]
            .into_iter()
            .flatten()
        {
            secrets.push(s.expose_secret().to_string());
        }
        secrets.extend(auth.client_certificate_data.clone());
    }
    secrets
        .into_iter()
        .filter(|s| s.len() >= 4)
        .fold(message, |m, s| m.replace(&s, "[redacted]"))
}

/// The contexts to query: --all-contexts, the --context list, or the current context.
fn chosen_contexts(kc: &Kubeconfig, args: &KubeArgs) -> Result<Vec<String>, ClusterError> {
    if args.all_contexts {
        return Ok(kc.contexts.iter().map(|c| c.name.clone()).collect());
    }
    if !args.context.is_empty() {
        return Ok(args.context.clone());
    }
    kc.current_context
        .clone()
        .filter(|c| !c.is_empty())
        .map(|c| vec![c])
        .ok_or(ClusterError::NoCurrentContext)
}

/// The clusters named by the flags: one entry per context, each a client or the reason there is none.
pub async fn clusters(
    args: &KubeArgs,
) -> Result<Vec<Result<Cluster, (String, ClusterError)>>, ClusterError> {
    let kc = match load_kubeconfig(args.kubeconfig.as_deref()) {
        Ok(kc) => kc,
        Err(ClusterError::NoKubeconfig)
            if std::env::var_os("KUBERNETES_SERVICE_HOST").is_some() =>
        {
            return Ok(vec![in_cluster(args)]);
        }
        Err(e) => return Err(e),
    };
    let contexts = chosen_contexts(&kc, args)?;
    let mut out = Vec::new();
    for context in contexts {
        out.push(
            connect(&kc, &context, args)
                .await
                .map_err(|e| (context.clone(), e)),
        );
    }
    Ok(out)
}

fn in_cluster(args: &KubeArgs) -> Result<Cluster, (String, ClusterError)> {
    let context = "in-cluster".to_string();
    let config = Config::incluster().map_err(|e| {
        (
            context.clone(),
            ClusterError::BadContext {
                context: context.clone(),
                reason: one_line(&e),
            },
        )
    })?;
    build(context.clone(), config, args.request_timeout.0).map_err(|e| (context, e))
}

async fn connect(kc: &Kubeconfig, context: &str, args: &KubeArgs) -> Result<Cluster, ClusterError> {
    if !kc.contexts.iter().any(|c| c.name == context) {
        let available: Vec<&str> = kc.contexts.iter().map(|c| c.name.as_str()).collect();
        let available = if available.is_empty() {
            "none".to_string()
        } else {
            available.join(", ")
        };
        return Err(ClusterError::MissingContext {
            context: context.to_string(),
            available,
        });
    }
    let options = KubeConfigOptions {
        context: Some(context.to_string()),
        ..Default::default()
    };
    let config = Config::from_custom_kubeconfig(kc.clone(), &options)
        .await
        .map_err(|e| ClusterError::BadContext {
            context: context.to_string(),
            reason: scrub(kc, one_line(&e)),
        })?;
    build(context.to_string(), config, args.request_timeout.0).map_err(|e| match e {
        ClusterError::BadContext { context, reason } => ClusterError::BadContext {
            reason: scrub(kc, reason),
            context,
        },
        other => other,
    })
}

fn build(
    context: String,
    mut config: Config,
    timeout: Option<Duration>,
) -> Result<Cluster, ClusterError> {
    let server = config
        .cluster_url
        .to_string()
        .trim_end_matches('/')
        .to_string();
    // kube retries 429/503/504 by default; a monitor must answer within its timeout instead.
    config.default_retry = false;
    config.connect_timeout = timeout;
    config.write_timeout = timeout;
    let mut watch_config = config.clone();
    watch_config.read_timeout = None;
    config.read_timeout = timeout;
    config.reset_reader_on_write = true;
    let default_namespace = config.default_namespace.clone();
    let bad = |e: kube::Error| ClusterError::BadContext {
        context: context.clone(),
        reason: one_line(&e),
    };
    let client = Client::try_from(config).map_err(bad)?;
    let watch_client = Client::try_from(watch_config).map_err(bad)?;
    Ok(Cluster {
        context,
        server,
        client,
        watch_client,
        default_namespace,
        timeout,
    })
}

/// A kube error as the API server's own status, when it answered with one.
pub fn api_status(e: &kube::Error) -> Option<&kube::core::Status> {
    match e {
        kube::Error::Api(s) => Some(s),
        _ => None,
    }
}

impl Cluster {
    /// Runs one API call under `--request-timeout`, turning transport failures into `ClusterError`.
    pub async fn call<T>(
        &self,
        what: &str,
        fut: impl Future<Output = kube::Result<T>>,
    ) -> Result<T, CallError> {
        let res = match self.timeout {
            Some(t) => tokio::time::timeout(t, fut).await.map_err(|_| {
                CallError::Cluster(ClusterError::Timeout {
                    server: self.server.clone(),
                    timeout: t,
                })
            })?,
            None => fut.await,
        };
        res.map_err(|e| self.classify(what, e))
    }

    fn classify(&self, what: &str, e: kube::Error) -> CallError {
        match e {
            kube::Error::Api(status) => CallError::Api {
                code: status.code,
                message: api_message(&status),
            },
            kube::Error::SerdeError(e) => CallError::Api {
                code: 0,
                message: format!("unreadable answer: {e}"),
            },
            kube::Error::Auth(e) => CallError::Cluster(ClusterError::Refused {
                server: self.server.clone(),
                what: what.to_string(),
                reason: format!("authentication failed: {}", one_line(&e)),
            }),
            other => CallError::Cluster(ClusterError::Unreachable {
                server: self.server.clone(),
                reason: transport_reason(&other),
            }),
        }
    }
}

/// The outcome of a failed call: either the server answered with an error status, or the
/// cluster itself could not be reached.
#[derive(Debug, thiserror::Error)]
pub enum CallError {
    #[error("{message}")]
    Api { code: u16, message: String },
    #[error(transparent)]
    Cluster(ClusterError),
}

fn api_message(s: &kube::core::Status) -> String {
    let reason = if s.reason.is_empty() {
        String::new()
    } else {
        format!("{} ", s.reason)
    };
    if s.message.is_empty() {
        format!("{reason}(HTTP {})", s.code)
    } else {
        format!("{reason}(HTTP {}): {}", s.code, s.message)
    }
}

/// The innermost cause of a transport error, in lower case as kubectl prints it
/// (`connection refused`, `dns error: ...`), without the `(os error N)` suffix.
pub fn transport_reason(e: &(dyn std::error::Error + 'static)) -> String {
    let mut cur: &(dyn std::error::Error + 'static) = e;
    let mut last = cur.to_string();
    loop {
        if let Some(io) = cur.downcast_ref::<std::io::Error>() {
            return match io.kind() {
                std::io::ErrorKind::ConnectionRefused => "connection refused".into(),
                std::io::ErrorKind::ConnectionReset => "connection reset by peer".into(),
                std::io::ErrorKind::TimedOut => "connection timed out".into(),
                _ => strip_os_error(&io.to_string()),
            };
        }
        match cur.source() {
            Some(next) => {
                cur = next;
                last = cur.to_string();
            }
            None => return strip_os_error(&last),
        }
    }
}

fn strip_os_error(s: &str) -> String {
    let s = match s.find(" (os error") {
        Some(i) => &s[..i],
        None => s,
    };
    let mut c = s.chars();
    match c.next() {
        Some(first) => first.to_lowercase().chain(c).collect(),
        None => String::new(),
    }
}

/// An error and its causes on one line.
pub fn one_line(e: &(dyn std::error::Error + 'static)) -> String {
    let mut parts = vec![e.to_string()];
    let mut cur = e.source();
    while let Some(s) = cur {
        let text = s.to_string();
        if !parts.last().is_some_and(|p| p.contains(&text)) {
            parts.push(text);
        }
        cur = s.source();
    }
    parts.join(": ").replace('\n', " ")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn transport_reasons_read_like_kubectl() {
        let io = std::io::Error::from(std::io::ErrorKind::ConnectionRefused);
        assert_eq!(transport_reason(&io), "connection refused");
        assert_eq!(strip_os_error("Broken pipe (os error 32)"), "broken pipe");
    }
}
