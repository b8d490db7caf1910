//! flux-sim serve through the real kubectl: the scenario's objects and conditions are visible,
//! `reconcile.fluxcd.io/requestedAt` is handled, suspend stops reconciles, Ctrl-C stops cleanly.

use std::time::Duration;

use e2e::{eventually, have_kubectl, scenario, Sim};
use serde_json::Value;
use simulator::scenario::{load_file, Fault, FaultTarget, Scenario};

fn demo() -> Scenario {
    load_file(&scenario("demo.yaml")).expect("demo.yaml is valid")
}

/// The Ready reason Flux reports for a fault (flux-facts.md section 2, and source-controller's
/// gitrepository_controller.go for a refused clone), independent of the core.
fn flux_ready_reason(kind: &str, fault: Fault) -> Option<&'static str> {
    Some(match fault {
        Fault::AuthFailure if kind == "GitRepository" => "GitOperationFailed",
        Fault::AuthFailure => return None,
        Fault::BuildFailure => "BuildFailed",
        Fault::ApplyFailure => "ReconciliationFailed",
        Fault::HealthCheckFailure => "HealthCheckFailed",
        Fault::PruneFailure => "PruneFailed",
        Fault::InstallFailure => "InstallFailed",
        Fault::UpgradeFailure => "UpgradeFailed",
        Fault::TestFailure => "TestFailed",
        Fault::RetriesExhausted => "RetriesExceeded",
        _ => return None,
    })
}

fn items(list: &Value) -> &Vec<Value> {
    list["items"].as_array().expect("a List with items")
}

fn find<'a>(list: &'a Value, ns: &str, name: &str) -> Option<&'a Value> {
    items(list).iter().find(|o| o["metadata"]["namespace"] == ns && o["metadata"]["name"] == name)
}

fn condition<'a>(obj: &'a Value, type_: &str) -> Option<&'a Value> {
    obj["status"]["conditions"].as_array()?.iter().find(|c| c["type"] == type_)
}

macro_rules! require_kubectl {
    () => {
        if !have_kubectl() {
            eprintln!("skipped: kubectl is not on PATH (make setup installs it)");
            return;
        }
    };
}

#[test]
fn kubectl_sees_every_scenario_object_and_its_conditions() {
    require_kubectl!();
    let demo_scenario = demo();
    // Thirty minutes of history simulated first: dependents already waited out Flux's 30s
    // dependency requeue, and redis used up its three 5-minute install attempts, so each object
    // shows its own fault.
    let sim = Sim::start(&scenario("demo.yaml"), &["--start-at", "30m"]);

    // Every Kustomization of the scenario, through the fully qualified resource name.
    let table = sim.kubectl_ok(&["get", "kustomizations.kustomize.toolkit.fluxcd.io", "-A"]);
    assert!(table.starts_with("NAMESPACE"), "kubectl table header: {table}");
    for r in demo_scenario.resources.iter().filter(|r| r.kind.kind == "Kustomization") {
        assert!(
            table.lines().any(|l| l.split_whitespace().take(2).eq([r.namespace.as_str(), r.name.as_str()])),
            "Kustomization {}/{} missing from:\n{table}",
            r.namespace,
            r.name
        );
    }

    // Each object fault shows as the Ready reason Flux reports, once the controllers ran.
    for fault in &demo_scenario.faults {
        let FaultTarget::Object(target) = &fault.target else { continue };
        let Some(reason) = flux_ready_reason(&target.kind, fault.fault) else { continue };
        let info = model::kinds::by_kind(&target.kind).unwrap();
        let seen = eventually(Duration::from_secs(10), || {
            let list = sim.kubectl_json(&["get", info.plural, "-A"]);
            let obj = find(&list, &target.namespace, &target.name)?.clone();
            let ready = condition(&obj, "Ready")?;
            let stalled = condition(&obj, "Stalled");
            let got = if fault.fault == Fault::RetriesExhausted { stalled?["reason"].as_str()? } else { ready["reason"].as_str()? };
            (ready["status"] == "False" && got == reason).then_some(obj)
        });
        assert!(seen.is_some(), "{target} never reported Ready=False {reason} for fault {}", fault.fault.name());
    }

    // YAML output parses and carries conditions for every GitRepository of the scenario.
    let yaml = sim.kubectl_ok(&["get", "gitrepositories", "-A", "-o", "yaml"]);
    let list: Value = serde_saphyr::from_str(&yaml).expect("kubectl -o yaml parses");
    let expected = demo_scenario.resources.iter().filter(|r| r.kind.kind == "GitRepository").count();
    assert_eq!(items(&list).len(), expected);
    for repo in items(&list) {
        assert!(condition(repo, "Ready").is_some(), "no Ready condition on {}", repo["metadata"]["name"]);
    }

    // JSON output of HelmReleases: the suspended one says so in its spec.
    let hrs = sim.kubectl_json(&["get", "helmreleases", "-A"]);
    for r in demo_scenario.resources.iter().filter(|r| r.kind.kind == "HelmRelease") {
        let obj = find(&hrs, &r.namespace, &r.name).unwrap_or_else(|| panic!("HelmRelease {} missing", r.name));
        let suspended_by_fault = demo_scenario.faults.iter().any(|f| {
            f.fault == Fault::Suspend && f.target == FaultTarget::Object(r.object_ref()) && f.active_at(Duration::ZERO)
        });
        assert_eq!(obj["spec"]["suspend"].as_bool().unwrap_or(false), r.suspend || suspended_by_fault, "{}", r.name);
    }
}

#[test]
fn requested_reconcile_is_handled_within_two_seconds() {
    require_kubectl!();
    let sim = Sim::start(&scenario("demo.yaml"), &[]);
    let token = "2026-11-25T10:00:00.123456789Z";
    sim.kubectl_ok(&["annotate", "kustomization", "flux-system", "-n", "flux-system", "--overwrite", &format!("reconcile.fluxcd.io/requestedAt={token}")]);
    let handled = eventually(Duration::from_secs(2), || {
        let obj = sim.kubectl_json(&["get", "kustomization", "flux-system", "-n", "flux-system"]);
        (obj["status"]["lastHandledReconcileAt"] == token).then_some(())
    });
    assert!(handled.is_some(), "status.lastHandledReconcileAt did not become {token} within 2s");
}

#[test]
fn suspend_patch_stops_reconciles() {
    require_kubectl!();
    let sim = Sim::start(&scenario("demo.yaml"), &["--start-at", "5m"]);
    let before = sim.kubectl_json(&["get", "kustomization", "monitoring", "-n", "flux-system"]);
    sim.kubectl_ok(&["patch", "kustomization", "monitoring", "-n", "flux-system", "--type", "merge", "-p", r#"{"spec":{"suspend":true}}"#]);
    let after = sim.kubectl_json(&["get", "kustomization", "monitoring", "-n", "flux-system", "--show-managed-fields"]);
    assert_eq!(after["spec"]["suspend"], true);
    assert_eq!(after["metadata"]["generation"].as_i64(), before["metadata"]["generation"].as_i64().map(|g| g + 1));
    // managedFields records who suspended it and when, as a real API server does.
    let suspend_owner = after["metadata"]["managedFields"]
        .as_array()
        .and_then(|mf| mf.iter().find(|e| e.pointer("/fieldsV1/f:spec/f:suspend").is_some()))
        .expect("a managedFields entry owns spec.suspend");
    assert_eq!(suspend_owner["manager"], "kubectl-patch");
    assert!(suspend_owner["time"].as_str().is_some_and(|t| t.ends_with('Z')));

    // A suspended object is not reconciled: a reconcile request is not handled.
    let token = "2026-11-25T11:00:00Z";
    sim.kubectl_ok(&["annotate", "kustomization", "monitoring", "-n", "flux-system", "--overwrite", &format!("reconcile.fluxcd.io/requestedAt={token}")]);
    std::thread::sleep(Duration::from_millis(1500));
    let obj = sim.kubectl_json(&["get", "kustomization", "monitoring", "-n", "flux-system"]);
    assert_ne!(obj["status"]["lastHandledReconcileAt"], token, "a suspended Kustomization handled a reconcile request");
    assert!(obj["status"]["observedGeneration"].as_i64() < obj["metadata"]["generation"].as_i64());

    // Resuming reconciles it again.
    sim.kubectl_ok(&["patch", "kustomization", "monitoring", "-n", "flux-system", "--type", "merge", "-p", r#"{"spec":{"suspend":false}}"#]);
    let resumed = eventually(Duration::from_secs(3), || {
        let obj = sim.kubectl_json(&["get", "kustomization", "monitoring", "-n", "flux-system"]);
        (obj["status"]["observedGeneration"] == obj["metadata"]["generation"]).then_some(())
    });
    assert!(resumed.is_some(), "resumed Kustomization was not reconciled");
}

#[test]
fn sigint_stops_serve_cleanly() {
    let sim = Sim::start(&scenario("demo.yaml"), &[]);
    let status = sim.interrupt();
    assert!(status.success(), "flux-sim serve exited with {status} on SIGINT");
}
