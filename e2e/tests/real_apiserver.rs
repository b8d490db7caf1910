//! The plugin and flux-sim against a real Kubernetes API server instead of flux-sim's embedded
//! one: kube-apiserver and etcd built from their Go modules (e2e::controlplane), Flux 2.7.5's
//! install manifests applied, flux-sim's controllers driving the objects through it
//! (`flux-sim serve --kubeconfig`), then `version`, `status` (also `--watch`), `check`, and a 403
//! on one kind under real RBAC (a user whose ClusterRole cannot list HelmReleases).
//! One control plane serves the whole test: it takes seconds to start.

use std::io::{BufRead, BufReader};
use std::path::Path;
use std::process::{Command, Stdio};
use std::sync::mpsc;
use std::time::{Duration, Instant};

use e2e::controlplane::{self, ControlPlane};
use e2e::{bin_dir, eventually, have_kubectl, kubectl_with, Sim};
use serde_json::Value;

const SCENARIO: &str = r#"apiVersion: flux-sim.flux-monitor.dev/v1alpha1
kind: Scenario
metadata: {name: real-apiserver}
spec:
  fluxVersion: "2.7"
  duration: 2h
  resources:
    - kind: GitRepository
      name: fleet
      interval: 1m
      spec: {url: https://github.com/acme/fleet, ref: {branch: main}}
    - kind: Kustomization
      name: infra
      interval: 5m
      spec: {path: ./infra, prune: true, sourceRef: {kind: GitRepository, name: fleet}}
    - kind: Kustomization
      name: apps
      interval: 5m
      spec: {path: ./apps, prune: true, sourceRef: {kind: GitRepository, name: fleet}}
    - kind: HelmRepository
      name: podinfo
      interval: 10m
      spec: {url: https://stefanprodan.github.io/podinfo}
    - kind: HelmRelease
      name: podinfo
      interval: 10m
      spec:
        chart:
          spec:
            chart: podinfo
            version: "6.x"
            sourceRef: {kind: HelmRepository, name: podinfo}
  faults:
    - {name: broken, at: 0s, target: Kustomization/apps, fault: build-failure}
"#;

/// What a user bound to it may read: every Flux kind but HelmReleases.
const VIEWER_RBAC: &str = r#"apiVersion: rbac.authorization.k8s.io/v1
kind: ClusterRole
metadata: {name: flux-viewer-no-helmreleases}
rules:
  - apiGroups: [source.toolkit.fluxcd.io, kustomize.toolkit.fluxcd.io, notification.toolkit.fluxcd.io, image.toolkit.fluxcd.io, source.extensions.fluxcd.io]
    resources: ["*"]
    verbs: [get, list, watch]
  - apiGroups: [apiextensions.k8s.io]
    resources: [customresourcedefinitions]
    verbs: [get, list, watch]
  - apiGroups: [apps]
    resources: [deployments]
    verbs: [get, list, watch]
---
apiVersion: rbac.authorization.k8s.io/v1
kind: ClusterRoleBinding
metadata: {name: flux-viewer-no-helmreleases}
roleRef: {apiGroup: rbac.authorization.k8s.io, kind: ClusterRole, name: flux-viewer-no-helmreleases}
subjects:
  - {apiGroup: rbac.authorization.k8s.io, kind: User, name: viewer}
"#;

fn text(b: &[u8]) -> String {
    String::from_utf8_lossy(b).into_owned()
}

/// `status -A -o json` as (object, verdict) pairs.
fn verdicts(kubeconfig: &Path) -> Vec<(String, String)> {
    let out = kubectl_with(kubeconfig, &["flux-monitor", "status", "-A", "-o", "json"]);
    let Ok(list) = serde_json::from_slice::<Value>(&out.stdout) else {
        return vec![];
    };
    let mut v: Vec<(String, String)> = list["items"]
        .as_array()
        .into_iter()
        .flatten()
        .map(|i| {
            let r = &i["objectRef"];
            (
                format!(
                    "{}/{}/{}",
                    r["kind"].as_str().unwrap_or(""),
                    r["namespace"].as_str().unwrap_or(""),
                    r["name"].as_str().unwrap_or("")
                ),
                i["verdict"].as_str().unwrap_or("").to_string(),
            )
        })
        .collect();
    v.sort();
    v
}

#[test]
fn plugin_and_flux_sim_on_a_real_api_server() {
    let Some((etcd, apiserver)) = controlplane::binaries() else {
        return;
    };
    assert!(
        have_kubectl(),
        "kubectl is not on PATH (make setup installs it)"
    );
    let started = Instant::now();
    let cp = ControlPlane::start(&etcd, &apiserver);
    let workdir = cp.dir().to_path_buf();
    eprintln!(
        "control plane ready on {} in {:.1}s",
        cp.url,
        started.elapsed().as_secs_f64()
    );
    cp.install_flux("v2.7.5");

    // Keys and certificates stay owner-only.
    {
        use std::os::unix::fs::PermissionsExt;
        let mode = |p: &Path| std::fs::metadata(p).unwrap().permissions().mode() & 0o777;
        assert_eq!(mode(&workdir), 0o700);
        for f in ["apiserver.key", "sa.key", "admin.key", "admin.kubeconfig"] {
            assert_eq!(mode(&workdir.join(f)), 0o600, "{f}");
        }
    }

    // version: the API server's own version string.
    let out = kubectl_with(&cp.admin, &["flux-monitor", "version", "-o", "json"]);
    assert!(out.status.success(), "{}", text(&out.stderr));
    let v: Value = serde_json::from_slice(&out.stdout).unwrap();
    let server = v.to_string();
    assert!(
        server.contains("v1.37.2"),
        "the server version of kube-apiserver v1.37.2: {server}"
    );

    // flux-sim's controllers drive the scenario's objects in the real API server.
    let dir = tempfile::tempdir().unwrap();
    let scenario = dir.path().join("scenario.yaml");
    std::fs::write(&scenario, SCENARIO).unwrap();
    let admin = cp.admin.display().to_string();
    let sim = Sim::start(&scenario, &["--kubeconfig", &admin]);
    let want = [
        ("GitRepository/flux-system/fleet", "Ready"),
        ("HelmRelease/flux-system/podinfo", "Ready"),
        ("HelmRepository/flux-system/podinfo", "Ready"),
        ("Kustomization/flux-system/apps", "Failing"),
        ("Kustomization/flux-system/infra", "Ready"),
    ];
    let got = eventually(Duration::from_secs(60), || {
        let got = verdicts(&cp.admin);
        want.iter()
            .all(|(o, v)| got.iter().any(|(go, gv)| go == o && gv == v))
            .then_some(got)
    });
    assert!(
        got.is_some(),
        "status never showed {want:?}; last: {:?}",
        verdicts(&cp.admin)
    );

    // status through kubectl as a table, exit 1 for the failing Kustomization.
    let out = kubectl_with(&cp.admin, &["flux-monitor", "status", "-A"]);
    assert_eq!(
        out.status.code(),
        Some(1),
        "{}{}",
        text(&out.stdout),
        text(&out.stderr)
    );
    let table = text(&out.stdout);
    assert!(
        table.lines().any(|l| l.contains("Kustomization/apps")
            && l.contains("Failing")
            && l.contains("kustomize build failed")),
        "{table}"
    );

    // check: the failing object, and the controllers' Deployments that no kubelet ever ran.
    let out = kubectl_with(&cp.admin, &["flux-monitor", "check", "-o", "json"]);
    assert_eq!(
        out.status.code(),
        Some(1),
        "{}{}",
        text(&out.stdout),
        text(&out.stderr)
    );
    let report: Value = serde_json::from_slice(&out.stdout).unwrap();
    let check = |id: &str| -> Vec<(String, bool, String)> {
        report["clusters"][0]["checks"]
            .as_array()
            .unwrap()
            .iter()
            .find(|c| c["id"] == id)
            .unwrap_or_else(|| panic!("no {id} check: {report}"))["cases"]
            .as_array()
            .unwrap()
            .iter()
            .map(|k| {
                (
                    k["subject"].as_str().unwrap_or("").to_string(),
                    k["passed"] == true,
                    k["message"].as_str().unwrap_or("").to_string(),
                )
            })
            .collect()
    };
    // Failing for seconds only: within the check's default `after` of 10m, so not yet a failure.
    let apps = check("not-ready")
        .into_iter()
        .find(|k| k.0 == "Kustomization/flux-system/apps")
        .unwrap_or_else(|| panic!("{report}"));
    assert!(
        apps.1 && apps.2.starts_with("not Ready for ") && apps.2.ends_with("(BuildFailed)"),
        "{apps:?}"
    );
    let controllers = check("controllers");
    let kc = controllers
        .iter()
        .find(|k| k.0 == "Deployment/flux-system/kustomize-controller")
        .unwrap_or_else(|| panic!("{report}"));
    assert!(
        !kc.1 && kc.2.contains("0/1 replicas available"),
        "a Deployment without pods is not available: {kc:?}"
    );

    // --watch sees a fault asked for on a live object within seconds.
    let path = std::env::join_paths(
        std::iter::once(bin_dir()).chain(std::env::split_paths(&std::env::var_os("PATH").unwrap())),
    )
    .unwrap();
    let mut watch = Command::new("kubectl")
        .env("KUBECONFIG", &cp.admin)
        .env("PATH", path)
        .env("NO_COLOR", "1")
        .args([
            "flux-monitor",
            "status",
            "-n",
            "flux-system",
            "--kind",
            "Kustomization",
            "--watch",
        ])
        .stdout(Stdio::piped())
        .stderr(Stdio::null())
        .spawn()
        .unwrap();
    let (tx, rx) = mpsc::channel::<String>();
    let stdout = watch.stdout.take().unwrap();
    std::thread::spawn(move || {
        for line in BufReader::new(stdout).lines().map_while(Result::ok) {
            if tx.send(line).is_err() {
                break;
            }
        }
    });
    let infra_failing = |l: &str| l.contains("Kustomization/infra") && l.contains("Failing");
    let first = Instant::now();
    let mut seen = false;
    while !seen && first.elapsed() < Duration::from_secs(15) {
        if let Ok(l) = rx.recv_timeout(Duration::from_millis(200)) {
            assert!(!infra_failing(&l), "infra failing before the fault: {l}");
            seen = l.contains("Kustomization/infra");
        }
    }
    assert!(seen, "status --watch printed no frame with infra");
    cp.kubectl_ok(&[
        "annotate",
        "kustomization",
        "infra",
        "-n",
        "flux-system",
        "flux-sim.flux-monitor.dev/fault=build-failure",
    ]);
    let injected = Instant::now();
    let mut shown = None;
    while shown.is_none() && injected.elapsed() < Duration::from_secs(10) {
        if let Ok(l) = rx.recv_timeout(Duration::from_millis(100)) {
            if infra_failing(&l) {
                shown = Some(injected.elapsed());
            }
        }
    }
    let _ = watch.kill();
    let _ = watch.wait();
    let took = shown.expect("the fault never showed in status --watch");
    assert!(
        took <= Duration::from_secs(5),
        "the fault showed after {took:?}"
    );

    // A user whose role cannot list HelmReleases: the 403 is named, every other kind still shown.
    let rbac = dir.path().join("rbac.yaml");
    std::fs::write(&rbac, VIEWER_RBAC).unwrap();
    cp.kubectl_ok(&["apply", "-f", &rbac.display().to_string()]);
    let viewer = cp.kubeconfig_for("viewer", &[]);
    let out = kubectl_with(&viewer, &["flux-monitor", "status", "-A"]);
    let (stdout, stderr) = (text(&out.stdout), text(&out.stderr));
    assert_eq!(out.status.code(), Some(1), "{stdout}{stderr}");
    assert!(
        stderr.contains("HelmRelease") && stderr.contains("403"),
        "the forbidden kind is named: {stderr}"
    );
    assert!(
        stdout.contains("Kustomization/apps") && stdout.contains("GitRepository/fleet"),
        "{stdout}"
    );
    assert!(!stdout.contains("HelmRelease/podinfo"), "{stdout}");
    let denied = kubectl_with(&viewer, &["get", "helmreleases", "-A"]);
    assert!(
        !denied.status.success() && text(&denied.stderr).contains("forbidden"),
        "RBAC really denies it: {}",
        text(&denied.stderr)
    );

    drop(sim);
    drop(cp);
    assert!(!workdir.exists(), "{} left behind", workdir.display());
}
