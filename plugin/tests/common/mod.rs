//! Test cluster: the embedded Kubernetes API (flux-sim's) serving every Flux kind of a release,
//! seeded with Flux objects, plus a kubeconfig pointing at it; and the plugin binary to run.

#![allow(dead_code)]

use std::path::{Path, PathBuf};
use std::process::Output;
use std::time::Duration;

use model::FluxVersion;
use serde_json::{json, Value};
use simulator::apiserver::{write_kubeconfig, ApiServer, ResourceType, Running};

pub const BIN: &str = env!("CARGO_BIN_EXE_kubectl-flux_monitor");

/// The Flux kinds of `release` as the embedded API's resource types, straight from the catalog
/// (source-watcher's ArtifactGenerator included where the release has it).
pub fn flux_types(release: FluxVersion) -> Vec<ResourceType> {
    model::kinds::kinds_in(release)
        .filter_map(|k| simulator::serve::resource_type(k, release))
        .collect()
}

/// A running embedded API with its own runtime, and a kubeconfig for it. Stops when dropped.
pub struct TestCluster {
    pub api: ApiServer,
    pub url: String,
    pub dir: tempfile::TempDir,
    pub kubeconfig: PathBuf,
    running: Option<Running>,
    runtime: Option<tokio::runtime::Runtime>,
}

impl TestCluster {
    pub fn start() -> TestCluster {
        Self::start_release(FluxVersion::newest())
    }

    pub fn start_release(release: FluxVersion) -> TestCluster {
        let runtime = tokio::runtime::Builder::new_multi_thread()
            .worker_threads(1)
            .enable_all()
            .build()
            .unwrap();
        let api = ApiServer::new(flux_types(release));
        let running = runtime
            .block_on(api.serve("127.0.0.1:0".parse().unwrap()))
            .unwrap();
        let dir = tempfile::tempdir().unwrap();
        let kubeconfig = dir.path().join("kubeconfig");
        write_kubeconfig(&kubeconfig, &running.url, "sim").unwrap();
        for ns in ["flux-system", "apps"] {
            api.store()
                .create(json!({"apiVersion": "v1", "kind": "Namespace", "metadata": {"name": ns}}))
                .unwrap();
        }
        TestCluster {
            url: running.url.clone(),
            api,
            dir,
            kubeconfig,
            running: Some(running),
            runtime: Some(runtime),
        }
    }

    /// Creates an object with its status.
    pub fn create(&self, obj: Value) {
        self.api.store().create_with_status(obj).unwrap();
    }

    /// Merge-patches an object's status.
    pub fn patch_status(&self, group: &str, plural: &str, ns: &str, name: &str, status: Value) {
        self.api
            .store()
            .merge_patch(
                group,
                plural,
                Some(ns),
                name,
                &json!({ "status": status }),
                Some("status"),
            )
            .unwrap();
    }

    /// Runs the plugin against this cluster.
    pub fn run(&self, args: &[&str]) -> Output {
        let mut cmd = plugin(args);
        cmd.arg("--kubeconfig").arg(&self.kubeconfig);
        cmd.output().unwrap()
    }
}

impl Drop for TestCluster {
    fn drop(&mut self) {
        if let (Some(rt), Some(running)) = (self.runtime.take(), self.running.take()) {
            rt.block_on(running.shutdown());
            rt.shutdown_timeout(Duration::from_secs(2));
        }
    }
}

/// The plugin binary with a clean environment: no colour, no kubeconfig from the user's home.
pub fn plugin(args: &[&str]) -> std::process::Command {
    let mut cmd = std::process::Command::new(BIN);
    cmd.args(args)
        .env_remove("KUBECONFIG")
        .env("NO_COLOR", "1")
        .env("HOME", "/nonexistent-home");
    cmd
}

pub fn stdout(o: &Output) -> String {
    String::from_utf8_lossy(&o.stdout).into_owned()
}

pub fn stderr(o: &Output) -> String {
    String::from_utf8_lossy(&o.stderr).into_owned()
}

pub fn ready(status: &str, reason: &str, message: &str) -> Value {
    json!({"type": "Ready", "status": status, "reason": reason, "message": message,
           "lastTransitionTime": "2025-01-01T11:00:00Z"})
}

pub fn git_repository(ns: &str, name: &str, ready_cond: Value) -> Value {
    json!({"apiVersion": "source.toolkit.fluxcd.io/v1", "kind": "GitRepository",
        "metadata": {"name": name, "namespace": ns},
        "spec": {"interval": "1m0s", "url": format!("https://github.com/example/{name}"), "ref": {"branch": "main"}},
        "status": {"observedGeneration": 1, "conditions": [ready_cond],
                   "artifact": {"revision": "main@sha1:0123456789abcdef0123456789abcdef01234567"}}})
}

pub fn kustomization(
    ns: &str,
    name: &str,
    source: Value,
    depends_on: Value,
    ready_cond: Value,
) -> Value {
    json!({"apiVersion": "kustomize.toolkit.fluxcd.io/v1", "kind": "Kustomization",
        "metadata": {"name": name, "namespace": ns},
        "spec": {"interval": "10m0s", "path": "./", "prune": true, "sourceRef": source, "dependsOn": depends_on},
        "status": {"observedGeneration": 1, "conditions": [ready_cond],
                   "lastAppliedRevision": "main@sha1:0123456789abcdef0123456789abcdef01234567"}})
}

/// A small Flux installation: a failing Git source, two Kustomizations blocked by it (one
/// through dependsOn), a healthy HelmRepository, a suspended HelmRelease, a healthy Kustomization.
pub fn seed_demo(c: &TestCluster) {
    c.create(git_repository(
        "flux-system",
        "flux-system",
        ready(
            "False",
            "GitOperationFailed",
            "failed to checkout and determine revision: authentication required",
        ),
    ));
    c.create(git_repository(
        "flux-system",
        "platform",
        ready(
            "True",
            "Succeeded",
            "stored artifact for revision 'main@sha1:0123'",
        ),
    ));
    let git = |name: &str| json!({"kind": "GitRepository", "name": name});
    c.create(kustomization(
        "flux-system",
        "infra",
        git("flux-system"),
        json!([]),
        ready(
            "False",
            "ArtifactFailed",
            "Source artifact not found, retrying in 30s",
        ),
    ));
    c.create(kustomization(
        "flux-system",
        "apps",
        git("flux-system"),
        json!([{"name": "infra"}]),
        ready(
            "False",
            "DependencyNotReady",
            "dependency 'flux-system/infra' is not ready",
        ),
    ));
    c.create(kustomization(
        "flux-system",
        "platform",
        git("platform"),
        json!([]),
        ready(
            "True",
            "ReconciliationSucceeded",
            "Applied revision: main@sha1:0123",
        ),
    ));
    c.create(json!({"apiVersion": "source.toolkit.fluxcd.io/v1", "kind": "HelmRepository",
        "metadata": {"name": "podinfo", "namespace": "apps"},
        "spec": {"interval": "1h", "url": "https://stefanprodan.github.io/podinfo"},
        "status": {"observedGeneration": 1, "conditions": [ready("True", "Succeeded", "stored artifact: revision 'sha256:abcd'")],
                   "artifact": {"revision": "sha256:abcd"}}}));
    c.create(json!({"apiVersion": "helm.toolkit.fluxcd.io/v2", "kind": "HelmRelease",
        "metadata": {"name": "podinfo", "namespace": "apps"},
        "spec": {"interval": "5m", "suspend": true,
                 "chart": {"spec": {"chart": "podinfo", "sourceRef": {"kind": "HelmRepository", "name": "podinfo"}}}},
        "status": {"observedGeneration": 1, "conditions": [ready("True", "UpgradeSucceeded", "Helm upgrade succeeded")],
                   "history": [{"chartName": "podinfo", "chartVersion": "6.7.0"}]}}));
}

/// Whether `path` is an executable on PATH.
pub fn on_path(name: &str) -> Option<PathBuf> {
    std::env::split_paths(&std::env::var_os("PATH")?)
        .map(|d| d.join(name))
        .find(|p| p.is_file())
}

pub fn bin_dir() -> &'static Path {
    Path::new(BIN).parent().unwrap()
}
