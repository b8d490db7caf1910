//! Tests of the embedded Kubernetes API: through the real kubectl, kube-rs clients, kube-runtime
//! watchers, raw HTTP for exact Status shapes, and the in-process Store.

use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

use futures::{StreamExt, TryStreamExt};
use kube::api::{Api, DynamicObject, ListParams, Patch as KubePatch, PatchParams, PostParams};
use kube::core::ApiResource;
use kube::runtime::{watcher, WatchStreamExt};
use serde_json::{json, Value};
use simulator::apiserver::{
    write_kubeconfig, ApiServer, Patch, PrinterColumn, ResourceType, Running,
};
use tokio::io::{AsyncBufReadExt, AsyncReadExt, AsyncWriteExt, BufReader};

const KS_GROUP: &str = "kustomize.toolkit.fluxcd.io";
const SRC_GROUP: &str = "source.toolkit.fluxcd.io";

fn custom(
    group: &str,
    kind: &str,
    plural: &str,
    short: &[&str],
    columns: Vec<PrinterColumn>,
) -> ResourceType {
    ResourceType {
        group: group.to_string(),
        version: "v1".to_string(),
        other_versions: vec!["v1beta2".to_string()],
        kind: kind.to_string(),
        plural: plural.to_string(),
        singular: kind.to_lowercase(),
        short_names: short.iter().map(|s| s.to_string()).collect(),
        categories: vec!["fluxcd".to_string()],
        namespaced: true,
        status_subresource: true,
        printer_columns: columns,
    }
}

fn ready_columns() -> Vec<PrinterColumn> {
    vec![
        PrinterColumn::new("Age", "date", ".metadata.creationTimestamp"),
        PrinterColumn::new(
            "Ready",
            "string",
            r#".status.conditions[?(@.type=="Ready")].status"#,
        ),
        PrinterColumn::new(
            "Status",
            "string",
            r#".status.conditions[?(@.type=="Ready")].message"#,
        ),
    ]
}

fn flux_types() -> Vec<ResourceType> {
    let mut git_columns = vec![PrinterColumn::new("URL", "string", ".spec.url")];
    git_columns.extend(ready_columns());
    vec![
        custom(
            KS_GROUP,
            "Kustomization",
            "kustomizations",
            &["ks"],
            ready_columns(),
        ),
        custom(
            SRC_GROUP,
            "GitRepository",
            "gitrepositories",
            &["gitrepo"],
            git_columns,
        ),
    ]
}

fn ready(status: &str, message: &str) -> Value {
    json!({"conditions": [{"type": "Ready", "status": status, "reason": if status == "True" { "ReconciliationSucceeded" } else { "BuildFailed" },
        "message": message, "lastTransitionTime": "2025-01-01T00:00:00Z", "observedGeneration": 1}]})
}

fn kustomization(ns: &str, name: &str) -> Value {
    json!({"apiVersion": format!("{KS_GROUP}/v1"), "kind": "Kustomization",
        "metadata": {"name": name, "namespace": ns, "labels": {"app": name}},
        "spec": {"interval": "10m", "path": "./", "prune": true, "sourceRef": {"kind": "GitRepository", "name": "flux-system"}}})
}

fn namespace(name: &str) -> Value {
    json!({"apiVersion": "v1", "kind": "Namespace", "metadata": {"name": name}})
}

async fn start() -> (ApiServer, Running) {
    let server = ApiServer::new(flux_types());
    let running = server
        .serve(SocketAddr::from(([127, 0, 0, 1], 0)))
        .await
        .expect("bind 127.0.0.1:0");
    (server, running)
}

fn client(running: &Running) -> kube::Client {
    let mut config = kube::Config::new(running.url.parse().expect("url"));
    config.default_retry = false;
    config.read_timeout = Some(Duration::from_secs(30));
    kube::Client::try_from(config).expect("client")
}

fn ks_resource() -> ApiResource {
    ApiResource {
        group: KS_GROUP.to_string(),
        version: "v1".to_string(),
        api_version: format!("{KS_GROUP}/v1"),
        kind: "Kustomization".to_string(),
        plural: "kustomizations".to_string(),
    }
}

/// kubectl with its own kubeconfig and discovery cache.
struct Kubectl {
    _dir: tempfile::TempDir,
    kubeconfig: PathBuf,
    cache: PathBuf,
}

impl Kubectl {
    fn new(running: &Running) -> Option<Kubectl> {
        if which("kubectl").is_none() {
            eprintln!("skipping: kubectl is not on PATH");
            return None;
        }
        let dir = tempfile::tempdir().expect("tempdir");
        let kubeconfig = dir.path().join("kubeconfig");
        write_kubeconfig(&kubeconfig, &running.url, "flux-sim").expect("kubeconfig");
        let cache = dir.path().join("cache");
        Some(Kubectl {
            _dir: dir,
            kubeconfig,
            cache,
        })
    }

    fn command(&self, args: &[&str]) -> tokio::process::Command {
        let mut command = tokio::process::Command::new("kubectl");
        command
            .arg("--kubeconfig")
            .arg(&self.kubeconfig)
            .arg("--cache-dir")
            .arg(&self.cache)
            .args(args);
        command.kill_on_drop(true);
        command
    }

    /// Runs kubectl, returns stdout; panics with stderr on failure.
    async fn ok(&self, args: &[&str]) -> String {
        let output = self.command(args).output().await.expect("run kubectl");
        let (stdout, stderr) = (
            String::from_utf8_lossy(&output.stdout),
            String::from_utf8_lossy(&output.stderr),
        );
        assert!(
            output.status.success(),
            "kubectl {args:?} failed: {stderr}\n{stdout}"
        );
        stdout.into_owned()
    }

    /// Runs kubectl expecting failure, returns stderr.
    async fn fails(&self, args: &[&str]) -> String {
        let output = self.command(args).output().await.expect("run kubectl");
        assert!(!output.status.success(), "kubectl {args:?} should fail");
        String::from_utf8_lossy(&output.stderr).into_owned()
    }
}

fn which(program: &str) -> Option<PathBuf> {
    std::env::var_os("PATH")?
        .to_str()?
        .split(':')
        .map(|d| Path::new(d).join(program))
        .find(|p| p.is_file())
}

fn seed(server: &ApiServer) {
    let store = server.store().with_manager("kustomize-controller");
    store.create(namespace("flux-system")).unwrap();
    store.create(namespace("apps")).unwrap();
    let mut ok = kustomization("flux-system", "infra");
    ok["status"] = ready("True", "Applied revision: main@sha1:0123abcd");
    store.create_with_status(ok).unwrap();
    let mut failing = kustomization("apps", "podinfo");
    failing["status"] = ready("False", "kustomize build failed: missing resources");
    store.create_with_status(failing).unwrap();
    let repo = json!({"apiVersion": format!("{SRC_GROUP}/v1"), "kind": "GitRepository",
        "metadata": {"name": "flux-system", "namespace": "flux-system"},
        "spec": {"url": "https://github.com/example/fleet", "interval": "1m"},
        "status": ready("True", "stored artifact for revision 'main@sha1:0123abcd'")});
    store
        .with_manager("source-controller")
        .create_with_status(repo)
        .unwrap();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn kubectl_get_patch_annotate_label_delete() {
    let (server, running) = start().await;
    let Some(kubectl) = Kubectl::new(&running) else {
        return;
    };
    seed(&server);

    let table = kubectl.ok(&["get", "ks", "-A"]).await;
    println!("{table}");
    let header: Vec<&str> = table.lines().next().unwrap().split_whitespace().collect();
    assert_eq!(header, ["NAMESPACE", "NAME", "AGE", "READY", "STATUS"]);
    assert!(
        table.lines().any(|l| l.starts_with("apps")
            && l.contains("podinfo")
            && l.contains("False")
            && l.contains("kustomize build failed: missing resources")),
        "{table}"
    );
    assert!(
        table
            .lines()
            .any(|l| l.contains("infra") && l.contains("True")),
        "{table}"
    );

    running.shutdown().await;
}
