//! Real Flux as the measure of flux-sim. Flux 2.9.4's kustomize-controller and
//! notification-controller, built from their Go modules, run against the real control plane
//! (e2e::controlplane); flux-sim runs the same objects with the faults that stand for the real
//! ones. Compared per Kustomization: the Ready, Reconciling and Stalled conditions (status,
//! reason, message shape), `requestedAt` handling, the events delivered through
//! notification-controller to a generic Provider, and the metric families each controller serves.
//!
//! source-controller and helm-controller cannot be built here (tools/upstream/pins.tsv says why),
//! so GitRepository and HelmRelease faults are not compared, and the GitRepositories' status is
//! written by this test the way source-controller writes it: `fleet` Ready with an artifact (a
//! tarball of a commit made with Debian's git, served over loopback, with its sha256 digest),
//! `unreachable` Ready=False GitOperationFailed with no artifact.
//!
//! What matches is asserted; every known difference is listed in KNOWN with one line saying why,
//! and a difference not listed fails the test, as does a listed one that went away (so the list
//! can only shrink). Run by `make differential` (see README for why it is not in `make test`).

use std::collections::{BTreeMap, BTreeSet};
use std::net::{Ipv4Addr, TcpListener};
use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

use e2e::controlplane::{self, ControlPlane, Proc};
use e2e::fixtures::{self, git};
use e2e::{eventually, kubectl_with, Sim};
use serde_json::Value;

const CONTROLLERS: [&str; 2] = ["kustomize-controller", "notification-controller"];

/// Differences between real Flux 2.9.4 and flux-sim, each with why: (object, aspect, explanation).
/// `aspect` is `condition TYPE`, `message TYPE`, `events` or `metrics CONTROLLER`.
const KNOWN: &[(&str, &str, &str)] = &[
    ("Kustomization/missing-path", "condition Ready",
     "flux-sim has no fault for a path missing from the artifact (real: ArtifactFailed 'kustomization path not found: stat ...'); its stand-in build-failure says BuildFailed"),
    ("Kustomization/missing-path", "events",
     "the same fault: real kustomize-controller posts error ArtifactFailed, flux-sim error BuildFailed"),
    ("controller_runtime_conversion_webhook_panics_total", "metrics kustomize-controller",
     "registered by the controller-runtime of Flux 2.9's controllers; flux-sim does not serve it"),
    ("controller_runtime_reconcile_timeouts_total", "metrics kustomize-controller",
     "registered by the controller-runtime of Flux 2.9's controllers; flux-sim does not serve it"),
    ("controller_runtime_webhook_panics_total", "metrics kustomize-controller",
     "registered by the controller-runtime of Flux 2.9's controllers; flux-sim does not serve it"),
    ("gotk_token_cache_evictions_total", "metrics kustomize-controller",
     "the token cache families (Flux 2.6+) are not served by flux-sim"),
    ("gotk_token_cached_items", "metrics kustomize-controller",
     "the token cache families (Flux 2.6+) are not served by flux-sim"),
    ("controller_runtime_conversion_webhook_panics_total", "metrics notification-controller",
     "registered by the controller-runtime of Flux 2.9's controllers; flux-sim does not serve it"),
    ("controller_runtime_reconcile_timeouts_total", "metrics notification-controller",
     "registered by the controller-runtime of Flux 2.9's controllers; flux-sim does not serve it"),
    ("controller_runtime_webhook_panics_total", "metrics notification-controller",
     "registered by the controller-runtime of Flux 2.9's controllers; flux-sim does not serve it"),
    ("gotk_event_http_request_duration_seconds", "metrics notification-controller",
     "notification-controller's event server instruments its HTTP handler; flux-sim's emulation does not"),
    ("gotk_event_http_requests_inflight", "metrics notification-controller",
     "notification-controller's event server instruments its HTTP handler; flux-sim's emulation does not"),
    ("gotk_event_http_response_size_bytes", "metrics notification-controller",
     "notification-controller's event server instruments its HTTP handler; flux-sim's emulation does not"),
    ("gotk_token_cache_evictions_total", "metrics notification-controller",
     "the token cache families (Flux 2.6+) are not served by flux-sim"),
    ("gotk_token_cached_items", "metrics notification-controller",
     "the token cache families (Flux 2.6+) are not served by flux-sim"),
];

fn free_addr() -> String {
    let l = TcpListener::bind((Ipv4Addr::LOCALHOST, 0)).expect("free port");
    l.local_addr().expect("addr").to_string()
}

/// The four controller binaries, or None (skip) unless FLUX_MONITOR_REQUIRE_FLUX says they must be.
fn flux_binaries() -> Option<BTreeMap<&'static str, PathBuf>> {
    let dir = e2e::upstream_dir();
    let found: BTreeMap<&str, PathBuf> = CONTROLLERS.iter().map(|c| (*c, dir.join(c))).collect();
    if found.values().all(|p| p.is_file()) {
        return Some(found);
    }
    assert!(
        std::env::var_os("FLUX_MONITOR_REQUIRE_FLUX").is_none(),
        "Flux's controllers are not in {}: run scripts/upstream.sh flux",
        dir.display()
    );
    eprintln!(
        "skipped: Flux's controllers not built in {} (make differential)",
        dir.display()
    );
    None
}

/// Real Flux's four controllers running against `cp`.
struct RealFlux {
    _procs: Vec<Proc>,
    metrics: BTreeMap<&'static str, String>,
}

fn start_flux(cp: &ControlPlane, bins: &BTreeMap<&'static str, PathBuf>, work: &Path) -> RealFlux {
    let events = free_addr();
    let mut procs = Vec::new();
    let mut metrics = BTreeMap::new();
    let env = [
        ("KUBECONFIG", cp.admin.display().to_string()),
        ("RUNTIME_NAMESPACE", "flux-system".to_string()),
    ];
    for name in CONTROLLERS {
        let m = free_addr();
        let mut args = vec![
            format!("--metrics-addr={m}"),
            format!("--health-addr={}", free_addr()),
            "--watch-all-namespaces".into(),
            "--log-level=debug".into(),
            "--log-encoding=console".into(),
        ];
        match name {
            "notification-controller" => {
                args.push(format!("--events-addr={events}"));
                args.push(format!("--receiverAddr={}", free_addr()));
            }
            _ => args.push(format!("--events-addr=http://{events}/")),
        }
        procs.push(Proc::spawn_with_env(
            name,
            &bins[name],
            &args,
            &env,
            work.join(format!("{name}.log")),
        ));
        metrics.insert(name, m);
    }
    RealFlux {
        _procs: procs,
        metrics,
    }
}

/// The commit the objects read (./apps and ./infra with a ConfigMap each), made with Debian's git,
/// and its tarball as source-controller would store it, in `served`. Returns (sha, digest, size).
fn artifact_fixture(work: &Path, served: &Path) -> (String, String, u64) {
    let repo = work.join("fleet");
    for dir in ["apps", "infra"] {
        std::fs::create_dir_all(repo.join(dir)).unwrap();
        std::fs::write(
            repo.join(dir).join("configmap.yaml"),
            format!("apiVersion: v1\nkind: ConfigMap\nmetadata:\n  name: {dir}-settings\n  namespace: flux-system\ndata:\n  from: {dir}\n"),
        )
        .unwrap();
    }
    git(&repo, &["init", "-q", "-b", "main"]);
    git(&repo, &["add", "."]);
    git(&repo, &["commit", "-q", "-m", "fleet"]);
    let sha = git(&repo, &["rev-parse", "HEAD"]);
    let tarball = served.join("fleet.tar.gz");
    git(
        &repo,
        &[
            "archive",
            "--format=tar.gz",
            "-o",
            &tarball.display().to_string(),
            "HEAD",
        ],
    );
    let out = std::process::Command::new("sha256sum")
        .arg(&tarball)
        .output()
        .expect("sha256sum");
    let digest = String::from_utf8_lossy(&out.stdout)
        .split_whitespace()
        .next()
        .unwrap_or("")
        .to_string();
    let size = std::fs::metadata(&tarball).unwrap().len();
    (sha, digest, size)
}

/// The GitRepositories' status as source-controller writes it (see the module doc).
fn source_status(cp: &ControlPlane, files: &str, sha: &str, digest: &str, size: u64) {
    let now = "2026-01-01T00:00:00Z";
    let revision = format!("main@sha1:{sha}");
    let fleet = serde_json::json!({"status": {
        "observedGeneration": 1,
        "conditions": [
            {"type": "Ready", "status": "True", "reason": "Succeeded", "observedGeneration": 1, "lastTransitionTime": now,
             "message": format!("stored artifact for revision '{revision}'")},
            {"type": "ArtifactInStorage", "status": "True", "reason": "Succeeded", "observedGeneration": 1, "lastTransitionTime": now,
             "message": format!("stored artifact for revision '{revision}'")}],
        "artifact": {"path": format!("gitrepository/flux-system/fleet/{sha}.tar.gz"), "url": format!("{files}/fleet.tar.gz"),
                     "revision": revision, "digest": format!("sha256:{digest}"), "lastUpdateTime": now, "size": size}}});
    let unreachable = serde_json::json!({"status": {
        "observedGeneration": 1,
        "conditions": [
            {"type": "Ready", "status": "False", "reason": "GitOperationFailed", "observedGeneration": 1, "lastTransitionTime": now,
             "message": "failed to checkout and determine revision: unable to clone 'http://127.0.0.1:1/fleet.git': Get \"http://127.0.0.1:1/fleet.git/info/refs?service=git-upload-pack\": dial tcp 127.0.0.1:1: connect: connection refused"},
            {"type": "FetchFailed", "status": "True", "reason": "GitOperationFailed", "observedGeneration": 1, "lastTransitionTime": now,
             "message": "failed to checkout and determine revision: unable to clone 'http://127.0.0.1:1/fleet.git'"}]}});
    for (name, status) in [("fleet", fleet), ("unreachable", unreachable)] {
        cp.kubectl_ok(&[
            "patch",
            "gitrepository",
            name,
            "-n",
            "flux-system",
            "--subresource=status",
            "--type=merge",
            "-p",
            &status.to_string(),
        ]);
    }
}

/// The objects both sides get, in the YAML Flux's CRDs take.
fn objects(sink_url: &str) -> String {
    format!(
        r#"apiVersion: source.toolkit.fluxcd.io/v1
kind: GitRepository
metadata: {{name: fleet, namespace: flux-system}}
spec: {{interval: 1m, url: "https://git.example.invalid/fleet.git", ref: {{branch: main}}}}
---
apiVersion: source.toolkit.fluxcd.io/v1
kind: GitRepository
metadata: {{name: unreachable, namespace: flux-system}}
spec: {{interval: 1m, url: "http://127.0.0.1:1/fleet.git", ref: {{branch: main}}}}
---
apiVersion: kustomize.toolkit.fluxcd.io/v1
kind: Kustomization
metadata: {{name: apps, namespace: flux-system}}
spec: {{interval: 5m, path: ./apps, prune: true, sourceRef: {{kind: GitRepository, name: fleet}}}}
---
apiVersion: kustomize.toolkit.fluxcd.io/v1
kind: Kustomization
metadata: {{name: missing-path, namespace: flux-system}}
spec: {{interval: 5m, path: ./missing, prune: true, sourceRef: {{kind: GitRepository, name: fleet}}}}
---
apiVersion: kustomize.toolkit.fluxcd.io/v1
kind: Kustomization
metadata: {{name: dependent, namespace: flux-system}}
spec: {{interval: 5m, path: ./infra, prune: true, dependsOn: [{{name: missing-path}}], sourceRef: {{kind: GitRepository, name: fleet}}}}
---
apiVersion: kustomize.toolkit.fluxcd.io/v1
kind: Kustomization
metadata: {{name: on-unreachable, namespace: flux-system}}
spec: {{interval: 5m, path: ./apps, prune: true, sourceRef: {{kind: GitRepository, name: unreachable}}}}
---
apiVersion: kustomize.toolkit.fluxcd.io/v1
kind: Kustomization
metadata: {{name: suspended, namespace: flux-system}}
spec: {{interval: 5m, path: ./infra, prune: true, suspend: true, sourceRef: {{kind: GitRepository, name: fleet}}}}
---
apiVersion: notification.toolkit.fluxcd.io/v1beta3
kind: Provider
metadata: {{name: sink, namespace: flux-system}}
spec: {{type: generic, address: "{sink_url}/events"}}
---
apiVersion: notification.toolkit.fluxcd.io/v1beta3
kind: Alert
metadata: {{name: everything, namespace: flux-system}}
spec:
  providerRef: {{name: sink}}
  eventSeverity: info
  eventSources: [{{kind: Kustomization, name: "*"}}]
"#
    )
}

/// The same objects as a flux-sim scenario; each real fault becomes the fault that stands for it.
fn scenario(sink_url: &str) -> String {
    format!(
        r#"apiVersion: flux-sim.flux-monitor.dev/v1alpha1
kind: Scenario
metadata: {{name: differential}}
spec:
  fluxVersion: "2.7"
  duration: 2h
  resources:
    - {{kind: GitRepository, name: fleet, interval: 1m, spec: {{url: "https://git.example.invalid/fleet.git", ref: {{branch: main}}}}}}
    - {{kind: GitRepository, name: unreachable, interval: 1m, spec: {{url: "http://127.0.0.1:1/fleet.git", ref: {{branch: main}}}}}}
    - {{kind: Kustomization, name: apps, interval: 5m, spec: {{path: ./apps, prune: true, sourceRef: {{kind: GitRepository, name: fleet}}}}}}
    - {{kind: Kustomization, name: missing-path, interval: 5m, spec: {{path: ./missing, prune: true, sourceRef: {{kind: GitRepository, name: fleet}}}}}}
    - {{kind: Kustomization, name: dependent, interval: 5m, spec: {{path: ./infra, prune: true, dependsOn: [{{name: missing-path}}], sourceRef: {{kind: GitRepository, name: fleet}}}}}}
    - {{kind: Kustomization, name: on-unreachable, interval: 5m, spec: {{path: ./apps, prune: true, sourceRef: {{kind: GitRepository, name: unreachable}}}}}}
    - {{kind: Kustomization, name: suspended, interval: 5m, suspend: true, spec: {{path: ./infra, prune: true, sourceRef: {{kind: GitRepository, name: fleet}}}}}}
    - {{kind: Provider, name: sink, spec: {{type: generic, address: "{sink_url}/events"}}}}
    - {{kind: Alert, name: everything, spec: {{providerRef: {{name: sink}}, eventSeverity: info, eventSources: [{{kind: Kustomization, name: "*"}}]}}}}
  faults:
    - {{name: unreachable-url, at: 0s, target: GitRepository/unreachable, fault: fetch-failure}}
    - {{name: missing-path, at: 0s, target: Kustomization/missing-path, fault: build-failure}}
"#
    )
}

/// A condition as compared: status, reason and the shape of the message.
#[derive(Debug, Clone, PartialEq, Eq)]
struct Cond {
    status: String,
    reason: String,
    message: String,
}

/// The message with what varies between runs and between the two sides made generic: quoted
/// strings, URLs, addresses, revisions and numbers.
fn shape(message: &str) -> String {
    let re = |p: &str| regex::Regex::new(p).expect("pattern");
    let mut s = message.to_string();
    for (pat, with) in [
        (r#"'[^']*'"#, "'…'"),
        (r#""[^"]*""#, "\"…\""),
        (r"https?://\S+", "<url>"),
        (r"\b[0-9a-f]{7,64}\b", "<hex>"),
        (r"\d+", "N"),
    ] {
        s = re(pat).replace_all(&s, with).into_owned();
    }
    s
}

type Conditions = BTreeMap<String, BTreeMap<String, Cond>>;

/// Ready, Reconciling and Stalled of every object of the compared kinds, keyed `Kind/name`.
fn conditions(kubeconfig: &Path) -> Conditions {
    let mut out = BTreeMap::new();
    for kind in ["kustomizations"] {
        let o = kubectl_with(
            kubeconfig,
            &["get", kind, "-n", "flux-system", "-o", "json"],
        );
        let Ok(list) = serde_json::from_slice::<Value>(&o.stdout) else {
            continue;
        };
        for item in list["items"].as_array().into_iter().flatten() {
            let key = format!(
                "{}/{}",
                item["kind"].as_str().unwrap_or(""),
                item["metadata"]["name"].as_str().unwrap_or("")
            );
            let mut conds = BTreeMap::new();
            for c in item["status"]["conditions"]
                .as_array()
                .into_iter()
                .flatten()
            {
                let t = c["type"].as_str().unwrap_or("");
                if ["Ready", "Reconciling", "Stalled"].contains(&t) {
                    conds.insert(
                        t.to_string(),
                        Cond {
                            status: c["status"].as_str().unwrap_or("").into(),
                            reason: c["reason"].as_str().unwrap_or("").into(),
                            message: c["message"].as_str().unwrap_or("").into(),
                        },
                    );
                }
            }
            out.insert(key, conds);
        }
    }
    out
}

/// Metric family names (gotk_*, controller_runtime_*) served at `addr`.
fn families(addr: &str) -> BTreeSet<String> {
    let out = std::process::Command::new("curl")
        .args(["-sf", "--max-time", "5", &format!("http://{addr}/metrics")])
        .output()
        .expect("run curl");
    String::from_utf8_lossy(&out.stdout)
        .lines()
        .filter_map(|l| l.strip_prefix("# TYPE "))
        .filter_map(|l| l.split_whitespace().next())
        .filter(|n| n.starts_with("gotk_") || n.starts_with("controller_runtime_"))
        .map(str::to_string)
        .collect()
}

/// (object, severity, reason) of every event a sink received.
fn event_keys(got: &fixtures::Received) -> BTreeSet<(String, String, String)> {
    got.lock()
        .unwrap()
        .iter()
        .map(|(_, e)| {
            (
                format!(
                    "{}/{}",
                    e["involvedObject"]["kind"].as_str().unwrap_or(""),
                    e["involvedObject"]["name"].as_str().unwrap_or("")
                ),
                e["severity"].as_str().unwrap_or("").to_string(),
                e["reason"].as_str().unwrap_or("").to_string(),
            )
        })
        .collect()
}

/// Settled: `apps` (whose source has an artifact) has applied it, and every other object but the
/// suspended one has a Ready condition that is not Unknown. A first reconcile that ran before its
/// source had an artifact (Source artifact not found, retrying in 30s) is not the end state.
fn settled(c: &Conditions) -> bool {
    let applied = c
        .get("Kustomization/apps")
        .and_then(|m| m.get("Ready"))
        .is_some_and(|r| r.status == "True");
    let waiting = c
        .iter()
        .filter(|(k, _)| k.as_str() != "Kustomization/on-unreachable")
        .any(|(_, m)| {
            m.get("Ready")
                .is_some_and(|r| r.message.starts_with("Source artifact not found"))
        });
    applied && !waiting && settled_ready(c)
}

fn settled_ready(c: &Conditions) -> bool {
    let want = [
        "Kustomization/apps",
        "Kustomization/missing-path",
        "Kustomization/dependent",
        "Kustomization/on-unreachable",
    ];
    want.iter().all(|k| {
        c.get(*k)
            .and_then(|m| m.get("Ready"))
            .is_some_and(|r| r.status != "Unknown")
    })
}

#[test]
#[ignore = "builds and runs real Flux controllers: make differential"]
fn real_flux_and_flux_sim_agree_except_where_listed() {
    let Some(bins) = flux_binaries() else { return };
    let Some((etcd, apiserver)) = controlplane::binaries() else {
        return;
    };
    let work = tempfile::tempdir().unwrap();

    // Fixtures: the artifact source-controller would store, served over loopback; the sinks.
    let served = work.path().join("served");
    std::fs::create_dir_all(&served).unwrap();
    let (sha, digest, size) = artifact_fixture(work.path(), &served);
    let files = fixtures::file_server(&served);
    let (real_sink, real_events) = fixtures::sink();
    let (sim_sink, sim_events) = fixtures::sink();

    // Real Flux.
    let cp = ControlPlane::start(&etcd, &apiserver);
    cp.install_flux("v2.9.4");
    let flux = start_flux(&cp, &bins, work.path());
    let manifest = work.path().join("objects.yaml");
    std::fs::write(&manifest, objects(&real_sink.url())).unwrap();
    cp.kubectl_ok(&["apply", "-f", &manifest.display().to_string()]);
    source_status(&cp, &files.url(), &sha, &digest, size);
    let started = Instant::now();
    let real = eventually(Duration::from_secs(180), || {
        let c = conditions(&cp.admin);
        settled(&c).then_some(c)
    })
    .unwrap_or_else(|| {
        panic!(
            "real Flux did not settle in 180s: {:#?}",
            conditions(&cp.admin)
        )
    });
    eprintln!(
        "real Flux settled in {:.1}s",
        started.elapsed().as_secs_f64()
    );

    // requestedAt: both sides copy it to status.lastHandledReconcileAt.
    let token = "2026-01-01T00:00:00Z";
    cp.kubectl_ok(&[
        "annotate",
        "--overwrite",
        "kustomization",
        "apps",
        "-n",
        "flux-system",
        &format!("reconcile.fluxcd.io/requestedAt={token}"),
    ]);
    let handled = eventually(Duration::from_secs(60), || {
        let o = cp.kubectl_ok(&[
            "get",
            "kustomization",
            "apps",
            "-n",
            "flux-system",
            "-o",
            "jsonpath={.status.lastHandledReconcileAt}",
        ]);
        (o == token).then_some(())
    });
    assert!(
        handled.is_some(),
        "real kustomize-controller did not handle requestedAt"
    );

    // flux-sim, on its embedded API, from scenario time 0 at scale 1 (so that its first
    // reconciles, like real Flux's, happen live and post their events).
    let sim_file = work.path().join("scenario.yaml");
    std::fs::write(&sim_file, scenario(&sim_sink.url())).unwrap();
    // Time scale 10 so that the 30s dependency retries happen within seconds.
    let sim = Sim::start(&sim_file, &["--notify", "--time-scale", "10"]);
    let simulated = eventually(Duration::from_secs(60), || {
        let c = conditions(&sim.kubeconfig);
        settled(&c).then_some(c)
    })
    .unwrap_or_else(|| {
        panic!(
            "flux-sim did not settle: {:#?}",
            conditions(&sim.kubeconfig)
        )
    });
    sim.kubectl_ok(&[
        "annotate",
        "--overwrite",
        "kustomization",
        "apps",
        "-n",
        "flux-system",
        &format!("reconcile.fluxcd.io/requestedAt={token}"),
    ]);
    let handled = eventually(Duration::from_secs(30), || {
        let o = sim.kubectl_ok(&[
            "get",
            "kustomization",
            "apps",
            "-n",
            "flux-system",
            "-o",
            "jsonpath={.status.lastHandledReconcileAt}",
        ]);
        (o == token).then_some(())
    });
    assert!(handled.is_some(), "flux-sim did not handle requestedAt");
    std::thread::sleep(Duration::from_secs(5));

    // What each side showed, for the record.
    for (side, c, events) in [
        ("real Flux", &real, &real_events),
        ("flux-sim", &simulated, &sim_events),
    ] {
        eprintln!("{side}:");
        for (key, conds) in c {
            for (t, k) in conds {
                eprintln!("  {key} {t}={} {}: {}", k.status, k.reason, k.message);
            }
        }
        for (_, e) in events.lock().unwrap().iter() {
            eprintln!(
                "  event {}/{} {} {}: {}",
                e["involvedObject"]["kind"].as_str().unwrap_or(""),
                e["involvedObject"]["name"].as_str().unwrap_or(""),
                e["severity"].as_str().unwrap_or(""),
                e["reason"].as_str().unwrap_or(""),
                e["message"].as_str().unwrap_or("")
            );
        }
    }

    // Compare.
    let mut differences: Vec<(String, String, String)> = Vec::new();
    let mut matched = 0;
    let keys: BTreeSet<&String> = real.keys().chain(simulated.keys()).collect();
    for key in keys {
        let (r, s) = (real.get(key), simulated.get(key));
        for t in ["Ready", "Reconciling", "Stalled"] {
            let (rc, sc) = (r.and_then(|m| m.get(t)), s.and_then(|m| m.get(t)));
            let show = |c: Option<&Cond>| {
                c.map_or("absent".to_string(), |c| {
                    format!("{} {}: {}", c.status, c.reason, c.message)
                })
            };
            match (rc, sc) {
                (Some(a), Some(b)) if a.status == b.status && a.reason == b.reason => {
                    matched += 1;
                    if shape(&a.message) == shape(&b.message) {
                        matched += 1;
                    } else {
                        differences.push((
                            key.clone(),
                            format!("message {t}"),
                            format!("real: {:?} / flux-sim: {:?}", a.message, b.message),
                        ));
                    }
                }
                (None, None) => matched += 1,
                _ => differences.push((
                    key.clone(),
                    format!("condition {t}"),
                    format!("real: {} / flux-sim: {}", show(rc), show(sc)),
                )),
            }
        }
    }
    let (re, se) = (event_keys(&real_events), event_keys(&sim_events));
    for e in re.symmetric_difference(&se) {
        let side = if re.contains(e) {
            "only real Flux posted"
        } else {
            "only flux-sim posted"
        };
        differences.push((
            e.0.clone(),
            "events".into(),
            format!("{side}: {} {}", e.1, e.2),
        ));
    }
    matched += re.intersection(&se).count();
    let sim_metrics = &sim.endpoints["metrics"]["controllers"];
    for (name, addr) in &flux.metrics {
        let rf = families(addr);
        let sf = sim_metrics[*name]
            .as_str()
            .map(families)
            .unwrap_or_default();
        for f in rf.symmetric_difference(&sf) {
            let side = if rf.contains(f) {
                "only real Flux serves"
            } else {
                "only flux-sim serves"
            };
            differences.push((f.clone(), format!("metrics {name}"), side.into()));
        }
        matched += rf.intersection(&sf).count();
    }

    eprintln!("\n{matched} aspects match; {} differ:", differences.len());
    for (what, aspect, detail) in &differences {
        eprintln!("  {what} [{aspect}] {detail}");
    }
    let listed: BTreeSet<(&str, &str)> = KNOWN.iter().map(|(o, a, _)| (*o, *a)).collect();
    let found: BTreeSet<(&str, &str)> = differences
        .iter()
        .map(|(o, a, _)| (o.as_str(), a.as_str()))
        .collect();
    let new: Vec<_> = found.difference(&listed).collect();
    let gone: Vec<_> = listed.difference(&found).collect();
    assert!(matched > 0, "nothing was compared");
    assert!(new.is_empty(), "differences not in KNOWN: {new:?}");
    assert!(
        gone.is_empty(),
        "listed in KNOWN but no longer different (remove them): {gone:?}"
    );
}
