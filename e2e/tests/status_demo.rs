//! `kubectl flux-monitor status` through the real kubectl against `flux-sim serve` on
//! scenarios/demo.yaml: every object's verdict and root cause as the scenario implies them, and
//! a fault injected during `--watch` showing within 2 s.

use std::collections::{BTreeMap, BTreeSet};
use std::io::{BufRead, BufReader};
use std::process::{Command, Stdio};
use std::sync::mpsc;
use std::time::{Duration, Instant};

use e2e::{bin_dir, have_kubectl, scenario, Sim};
use model::ObjectRef;
use serde_json::{json, Value};
use simulator::scenario::{load_file, Fault, FaultTarget, Scenario};

/// The verdict a fault in force gives its target, as Flux reports it (independent of the core).
fn verdict_of(fault: Fault) -> Option<&'static str> {
    Some(match fault {
        Fault::FetchFailure | Fault::AuthFailure | Fault::BuildFailure | Fault::ApplyFailure
        | Fault::HealthCheckFailure | Fault::PruneFailure | Fault::InstallFailure | Fault::UpgradeFailure
        | Fault::TestFailure => "Failing",
        Fault::RetriesExhausted => "Stalled",
        Fault::Suspend => "Suspended",
        Fault::Stale => "Stale",
        _ => return None,
    })
}

/// Objects of the scenario (plus the HelmCharts helm-controller generates) with the references
/// Flux follows, resolved from the scenario's specs.
fn graph(s: &Scenario) -> BTreeMap<ObjectRef, Vec<ObjectRef>> {
    let mut out = BTreeMap::new();
    for r in &s.resources {
        let obj = json!({"apiVersion": "x/v1", "kind": r.kind.kind,
                         "metadata": {"name": r.name, "namespace": r.namespace}, "spec": r.spec});
        let refs: Vec<ObjectRef> = model::FluxObject::new(&obj).references().into_iter().map(|x| x.target).collect();
        // A generated HelmChart consumes the release's chart source.
        if let Some(src) = r.spec.pointer("/chart/spec/sourceRef") {
            let chart = refs.iter().find(|t| t.kind == "HelmChart").cloned().expect("chart template ref");
            let ns = src.get("namespace").and_then(Value::as_str).unwrap_or(&r.namespace);
            let kind = src["kind"].as_str().unwrap();
            out.insert(chart, vec![ObjectRef::new(kind, ns, src["name"].as_str().unwrap())]);
        }
        if r.kind.kind != "Alert" {
            out.insert(r.object_ref(), refs);
        }
    }
    out
}

/// Expected (verdict, root cause) per object at a time when every fault of the scenario started
/// at 0s and is still in force: a faulted object shows its fault; an object whose upstream is
/// Failing or Stalled (sources failing from the start never had an artifact) is Failing, blocked
/// by the deepest unhealthy upstream; everything else is Ready.
fn expected(s: &Scenario) -> BTreeMap<ObjectRef, (String, Option<ObjectRef>)> {
    let g = graph(s);
    let mut own: BTreeMap<ObjectRef, &str> = BTreeMap::new();
    for f in &s.faults {
        assert_eq!(f.at, Duration::ZERO, "this derivation expects faults from the start");
        if let (FaultTarget::Object(t), Some(v)) = (&f.target, verdict_of(f.fault)) {
            own.insert(t.clone(), v);
        }
    }
    fn root(o: &ObjectRef, g: &BTreeMap<ObjectRef, Vec<ObjectRef>>, own: &BTreeMap<ObjectRef, &str>, seen: &mut BTreeSet<ObjectRef>) -> Option<ObjectRef> {
        for up in g.get(o).into_iter().flatten() {
            if !seen.insert(up.clone()) {
                continue;
            }
            let up_blocks = matches!(own.get(up), Some(&"Failing") | Some(&"Stalled"));
            let deeper = root(up, g, own, seen);
            if deeper.is_some() {
                return deeper;
            }
            if up_blocks {
                return Some(up.clone());
            }
        }
        None
    }
    g.keys()
        .map(|o| {
            let e = match own.get(o) {
                Some(v) => (v.to_string(), None),
                None => match root(o, &g, &own, &mut BTreeSet::new()) {
                    Some(r) => ("Failing".to_string(), Some(r)),
                    None => ("Ready".to_string(), None),
                },
            };
            (o.clone(), e)
        })
        .collect()
}

#[test]
fn status_reports_what_the_demo_scenario_implies() {
    if !have_kubectl() {
        eprintln!("skipped: kubectl is not on PATH");
        return;
    }
    let demo = load_file(&scenario("demo.yaml")).unwrap();
    let want = expected(&demo);
    let sim = Sim::start(&scenario("demo.yaml"), &["--start-at", "1h"]);

    let out = sim.kubectl(&["flux-monitor", "status", "-A", "-o", "json"]);
    assert_eq!(out.status.code(), Some(1), "problems found → exit 1; stdout: {} stderr: {}", String::from_utf8_lossy(&out.stdout), String::from_utf8_lossy(&out.stderr));
    assert!(!out.stdout.is_empty(), "no output; stderr: {}", String::from_utf8_lossy(&out.stderr));
    let list: Value = serde_json::from_slice(&out.stdout).expect("status -o json is JSON");
    assert_eq!(list["kind"], "List");
    let mut got = BTreeMap::new();
    for item in list["items"].as_array().unwrap() {
        let r = &item["objectRef"];
        let obj = ObjectRef::new(r["kind"].as_str().unwrap(), r["namespace"].as_str().unwrap(), r["name"].as_str().unwrap());
        let root = item["rootCause"].as_object().map(|c| {
            ObjectRef::new(c["kind"].as_str().unwrap(), c["namespace"].as_str().unwrap(), c["name"].as_str().unwrap())
        });
        got.insert(obj, (item["verdict"].as_str().unwrap().to_string(), root));
    }
    for (obj, w) in &want {
        if obj.kind == "Provider" {
            continue; // no status: not judged by reconcile outcome
        }
        assert_eq!(got.get(obj), Some(w), "{obj}: want {w:?}, got {:?}", got.get(obj));
    }

    // The table through kubectl: kubectl's habits and a summary line.
    let table = sim.kubectl(&["flux-monitor", "status", "-A"]);
    let text = String::from_utf8_lossy(&table.stdout);
    assert!(text.starts_with("NAMESPACE"), "{text}");
    for header in ["NAME", "VERDICT", "SINCE", "MESSAGE", "BLOCKED BY"] {
        assert!(text.lines().next().unwrap().contains(header), "{header} missing: {text}");
    }
    let stalled = want.values().filter(|(v, _)| v == "Stalled").count();
    assert!(text.contains(&format!("{stalled} Stalled")), "summary: {text}");
}

#[test]
fn a_fault_injected_during_watch_shows_within_two_seconds() {
    if !have_kubectl() {
        eprintln!("skipped: kubectl is not on PATH");
        return;
    }
    let sim = Sim::start(&scenario("demo.yaml"), &["--start-at", "1h"]);
    let path = std::env::join_paths(std::iter::once(bin_dir()).chain(std::env::split_paths(&std::env::var_os("PATH").unwrap())))
        .unwrap();
    let mut child = Command::new("kubectl")
        .env("KUBECONFIG", &sim.kubeconfig)
        .args(["flux-monitor", "status", "-n", "flux-system", "--kind", "Kustomization", "--watch"])
        .env("PATH", path)
        .env("NO_COLOR", "1")
        .stdout(Stdio::piped())
        .stderr(Stdio::null())
        .spawn()
        .expect("start status --watch");
    let (tx, rx) = mpsc::channel::<String>();
    let stdout = child.stdout.take().unwrap();
    std::thread::spawn(move || {
        for line in BufReader::new(stdout).lines().map_while(Result::ok) {
            if tx.send(line).is_err() {
                break;
            }
        }
    });
    let failing = |line: &str| line.contains("Kustomization/monitoring") && line.contains("Failing");
    // First frame: monitoring is Ready.
    let deadline = Instant::now() + Duration::from_secs(10);
    let mut first_frame_seen = false;
    while Instant::now() < deadline {
        if let Ok(line) = rx.recv_timeout(Duration::from_millis(200)) {
            assert!(!failing(&line), "monitoring failing before the fault: {line}");
            if line.contains("Kustomization/monitoring") {
                first_frame_seen = true;
                break;
            }
        }
    }
    assert!(first_frame_seen, "status --watch printed no frame with monitoring");
    std::thread::sleep(Duration::from_millis(300));
    while rx.try_recv().is_ok() {}

    let injected = Instant::now();
    sim.kubectl_ok(&["annotate", "kustomization", "monitoring", "-n", "flux-system", "flux-sim.flux-monitor.dev/fault=build-failure"]);
    let mut shown = None;
    while injected.elapsed() < Duration::from_secs(5) {
        if let Ok(line) = rx.recv_timeout(Duration::from_millis(100)) {
            if failing(&line) {
                shown = Some(injected.elapsed());
                break;
            }
        }
    }
    let _ = child.kill();
    let _ = child.wait();
    let took = shown.expect("the fault never showed in status --watch");
    assert!(took <= Duration::from_secs(2), "the fault showed after {took:?}, more than 2 s");
}
