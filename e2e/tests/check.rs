//! `kubectl flux-monitor check` through the real kubectl against `flux-sim serve` on
//! scenarios/demo.yaml, an hour into the scenario: the failing checks name exactly the objects
//! the scenario's faults imply (derived here from the scenario, independently of the plugin),
//! and `-o junit` is well-formed JUnit XML whose counts match.

use std::collections::{BTreeMap, BTreeSet};
use std::time::Duration;

use e2e::{have_kubectl, scenario, Sim};
use model::ObjectRef;
use serde_json::{json, Value};
use simulator::scenario::{load_file, Fault, FaultTarget, Scenario};

/// Faults that make their target's Ready condition False.
fn fails(fault: Fault) -> bool {
    matches!(
        fault,
        Fault::FetchFailure
            | Fault::AuthFailure
            | Fault::BuildFailure
            | Fault::ApplyFailure
            | Fault::HealthCheckFailure
            | Fault::PruneFailure
            | Fault::InstallFailure
            | Fault::UpgradeFailure
            | Fault::TestFailure
            | Fault::RetriesExhausted
    )
}

/// The scenario's objects as JSON, the way the plugin sees them (kind, name, namespace, labels, spec).
fn objects(s: &Scenario) -> Vec<Value> {
    s.resources
        .iter()
        .map(|r| {
            json!({"apiVersion": "x/v1", "kind": r.kind.kind,
                   "metadata": {"name": r.name, "namespace": r.namespace, "labels": r.labels},
                   "spec": r.spec})
        })
        .collect()
}

/// check id -> the subjects that must fail, at a time `at` when every fault is in force.
fn expected(s: &Scenario, at: Duration) -> BTreeMap<&'static str, BTreeSet<String>> {
    let mut want: BTreeMap<&'static str, BTreeSet<String>> = BTreeMap::new();
    for id in [
        "controllers",
        "crd-versions",
        "not-ready",
        "stalled",
        "suspended",
        "stale",
        "revision-drift",
        "notification-coverage",
    ] {
        want.insert(id, BTreeSet::new());
    }
    let active: Vec<_> = s.faults.iter().filter(|f| f.active_at(at)).collect();
    let targets = |pred: &dyn Fn(Fault) -> bool| -> BTreeSet<ObjectRef> {
        active
            .iter()
            .filter(|f| pred(f.fault))
            .filter_map(|f| match &f.target {
                FaultTarget::Object(o) => Some(o.clone()),
                FaultTarget::Controller(_) => None,
            })
            .collect()
    };
    let mut suspended = targets(&|f| f == Fault::Suspend);
    suspended.extend(
        s.resources
            .iter()
            .filter(|r| r.suspend)
            .map(|r| r.object_ref()),
    );
    // not-ready: failing targets, and (transitively) every object that references one.
    let objs = objects(s);
    let mut failing = targets(&fails);
    loop {
        let before = failing.len();
        for o in &objs {
            let view = model::FluxObject::new(o);
            if view
                .references()
                .iter()
                .any(|r| failing.contains(&r.target))
            {
                failing.insert(view.object_ref());
            }
        }
        if failing.len() == before {
            break;
        }
    }
    let has_status = |r: &ObjectRef| model::kinds::by_kind(&r.kind).is_some_and(|k| k.has_status);
    want.insert(
        "not-ready",
        failing
            .iter()
            .filter(|r| has_status(r) && !suspended.contains(r))
            .map(ToString::to_string)
            .collect(),
    );
    want.insert(
        "stalled",
        targets(&|f| f == Fault::RetriesExhausted)
            .iter()
            .map(ToString::to_string)
            .collect(),
    );
    want.insert(
        "suspended",
        suspended.iter().map(ToString::to_string).collect(),
    );
    want.insert(
        "stale",
        targets(&|f| f == Fault::Stale)
            .iter()
            .filter(|r| !suspended.contains(r))
            .map(ToString::to_string)
            .collect(),
    );
    let down: BTreeSet<String> = active
        .iter()
        .filter(|f| f.fault == Fault::ControllerDown)
        .filter_map(|f| match &f.target {
            FaultTarget::Controller(c) => Some(format!("Deployment/flux-system/{}", c.name())),
            FaultTarget::Object(_) => None,
        })
        .collect();
    want.insert("controllers", down);
    // notification-coverage: Kustomizations, HelmReleases and sources (not generated HelmCharts)
    // that no non-suspended Alert with an existing, non-suspended Provider matches for errors.
    let mut alerts: Vec<Value> = objs
        .iter()
        .filter(|o| o["kind"] == "Alert")
        .cloned()
        .collect();
    for a in &mut alerts {
        let r = ObjectRef::new(
            "Alert",
            a["metadata"]["namespace"].as_str().unwrap(),
            a["metadata"]["name"].as_str().unwrap(),
        );
        if suspended.contains(&r) {
            a["spec"]["suspend"] = json!(true);
        }
    }
    let provider_ok = |a: &Value| {
        let ns = a["metadata"]["namespace"].as_str().unwrap();
        let name = a["spec"]["providerRef"]["name"].as_str().unwrap_or("");
        s.resources.iter().any(|r| {
            r.kind.kind == "Provider"
                && r.namespace == ns
                && r.name == name
                && !suspended.contains(&r.object_ref())
        })
    };
    let uncovered = objs
        .iter()
        .filter(|o| {
            let k = model::kinds::by_kind(o["kind"].as_str().unwrap()).unwrap();
            matches!(k.kind, "Kustomization" | "HelmRelease")
                || (k.is_source && k.kind != "HelmChart")
        })
        .filter(|o| {
            !alerts
                .iter()
                .any(|a| provider_ok(a) && model::notification::alert_matches(a, o, "error"))
        })
        .map(|o| model::FluxObject::new(o).object_ref().to_string())
        .collect();
    want.insert("notification-coverage", uncovered);
    want
}

#[test]
fn check_finds_exactly_the_problems_of_the_demo_scenario() {
    if !have_kubectl() {
        eprintln!("skipped: kubectl is not on PATH");
        return;
    }
    let demo = load_file(&scenario("demo.yaml")).unwrap();
    let want = expected(&demo, Duration::from_secs(3600));
    assert!(
        want.values().map(BTreeSet::len).sum::<usize>() >= 8,
        "the demo has problems to find: {want:#?}"
    );
    let sim = Sim::start(&scenario("demo.yaml"), &["--start-at", "1h"]);

    let out = sim.kubectl(&["flux-monitor", "check", "-A", "-o", "json"]);
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert_eq!(
        out.status.code(),
        Some(1),
        "failed checks -> exit 1; stderr: {stderr}"
    );
    let report: Value = serde_json::from_slice(&out.stdout).expect("check -o json is JSON");
    assert_eq!(report["kind"], "CheckReport");
    let cluster = &report["clusters"][0];
    assert_eq!(cluster["fluxVersion"], demo.flux_version.to_string());
    let mut got: BTreeMap<String, BTreeSet<String>> = BTreeMap::new();
    for c in cluster["checks"].as_array().unwrap() {
        assert!(
            c["error"].is_null(),
            "{} could not tell: {}",
            c["id"],
            c["error"]
        );
        let failing = c["cases"]
            .as_array()
            .unwrap()
            .iter()
            .filter(|k| k["passed"] == false)
            .map(|k| k["subject"].as_str().unwrap().to_string())
            .collect();
        got.insert(c["id"].as_str().unwrap().to_string(), failing);
    }
    let want_s: BTreeMap<String, BTreeSet<String>> = want
        .iter()
        .map(|(k, v)| (k.to_string(), v.clone()))
        .collect();
    assert_eq!(got, want_s, "failing objects per check");

    // JUnit: well-formed XML, a testsuite per check, failures exactly where the JSON says.
    let out = sim.kubectl(&["flux-monitor", "check", "-A", "-o", "junit"]);
    assert_eq!(out.status.code(), Some(1));
    let xml = String::from_utf8(out.stdout).unwrap();
    let doc = roxmltree::Document::parse(&xml).unwrap_or_else(|e| panic!("not XML ({e}):\n{xml}"));
    let root = doc.root_element();
    assert_eq!(root.tag_name().name(), "testsuites");
    let suites: Vec<_> = root.children().filter(|n| n.is_element()).collect();
    assert!(suites.iter().all(|s| s.tag_name().name() == "testsuite"));
    let names: BTreeSet<String> = suites
        .iter()
        .map(|s| s.attribute("name").unwrap().to_string())
        .collect();
    assert_eq!(names, want_s.keys().cloned().collect::<BTreeSet<_>>());
    let attr = |n: &roxmltree::Node, a: &str| {
        n.attribute(a)
            .unwrap_or_else(|| panic!("{a} missing"))
            .parse::<usize>()
            .unwrap()
    };
    let (mut all_cases, mut all_failures) = (0, 0);
    for s in &suites {
        let cases: Vec<_> = s
            .children()
            .filter(|n| n.is_element() && n.tag_name().name() == "testcase")
            .collect();
        let failed: BTreeSet<String> = cases
            .iter()
            .filter(|c| {
                c.children()
                    .any(|f| f.is_element() && f.tag_name().name() == "failure")
            })
            .map(|c| c.attribute("name").unwrap().to_string())
            .collect();
        for c in &cases {
            if let Some(f) = c
                .children()
                .find(|f| f.is_element() && f.tag_name().name() == "failure")
            {
                assert!(
                    !f.attribute("message").unwrap_or("").is_empty(),
                    "a failure says why"
                );
            }
        }
        assert_eq!(
            attr(s, "tests"),
            cases.len(),
            "tests= of {}",
            s.attribute("name").unwrap()
        );
        assert_eq!(
            attr(s, "failures"),
            failed.len(),
            "failures= of {}",
            s.attribute("name").unwrap()
        );
        assert_eq!(attr(s, "errors"), 0);
        assert_eq!(
            failed,
            want_s[s.attribute("name").unwrap()],
            "failing testcases of {}",
            s.attribute("name").unwrap()
        );
        all_cases += cases.len();
        all_failures += failed.len();
    }
    assert_eq!(attr(&root, "tests"), all_cases);
    assert_eq!(attr(&root, "failures"), all_failures);

    // --junit FILE beside the table.
    let file = sim.dir.path().join("check.xml");
    let out = sim.kubectl(&[
        "flux-monitor",
        "check",
        "-A",
        "--junit",
        file.to_str().unwrap(),
    ]);
    assert_eq!(out.status.code(), Some(1));
    assert!(String::from_utf8_lossy(&out.stdout).starts_with("CHECK"));
    roxmltree::Document::parse(&std::fs::read_to_string(&file).unwrap())
        .expect("--junit file is XML");
}
