//! Where flux-sim's controllers follow Flux's own source, one test per behaviour, each naming the
//! file it follows (Flux 2.9's controllers: source-controller v1.9, kustomize-controller v1.9,
//! helm-controller v1.6, fluxcd/pkg runtime/events).

use std::path::Path;
use std::time::Duration;

use model::{FluxObject, ObjectRef};
use serde_json::{json, Value};
use simulator::core::{reconcile, MapWorld, ReconcileInput, ReconcileResult, Severity, Simulation};
use simulator::scenario::load_str;

const MIN: u64 = 60;

fn scenario_text(resources: &str, faults: &str) -> String {
    format!(
        "apiVersion: flux-sim.flux-monitor.dev/v1alpha1\nkind: Scenario\nmetadata:\n  name: fidelity\nspec:\n  fluxVersion: \"2.9\"\n  duration: 1h\n  resources:\n{resources}  faults:\n{faults}"
    )
}

fn run(resources: &str, faults: &str, until: u64) -> Simulation {
    let text = scenario_text(resources, if faults.is_empty() { "    []\n" } else { faults });
    let text = text.replace("  faults:\n    []\n", "  faults: []\n");
    let scenario = load_str(&text, Path::new("fidelity.yaml")).unwrap_or_else(|e| panic!("{e}\n{text}"));
    let mut sim = Simulation::new(&scenario);
    sim.run_until(Duration::from_secs(until));
    sim
}

fn obj<'a>(sim: &'a Simulation, kind: &str, ns: &str, name: &str) -> &'a Value {
    sim.object(&ObjectRef::new(kind, ns, name)).unwrap_or_else(|| panic!("{kind}/{ns}/{name}"))
}

fn condition(o: &Value, type_: &str) -> (String, String, String) {
    let c = FluxObject::new(o).condition(type_).unwrap_or_else(|| panic!("no {type_} in {o}"));
    (c.status, c.reason, c.message)
}

/// One reconcile of `object` against `world` (objects whose references may dangle, which a
/// scenario file may not express).
fn once(object: Value, world: Vec<Value>) -> simulator::core::ReconcileOutcome {
    let world = MapWorld::from_objects(world);
    let object = Box::leak(Box::new(object));
    let world = Box::leak(Box::new(world));
    reconcile(&ReconcileInput {
        object,
        world,
        faults: &[],
        controller_faults: &[],
        now: jiff::Timestamp::from_second(1_735_689_600).unwrap(),
        seed: 7,
        attempt: 1,
    })
}

fn failure(outcome: &simulator::core::ReconcileOutcome) -> (String, String) {
    match &outcome.result {
        ReconcileResult::Failure { reason, message } => (reason.clone(), message.clone()),
        other => panic!("not a failure: {other:?}"),
    }
}

const GIT: &str = "    - {kind: GitRepository, name: fleet, spec: {url: 'https://github.com/acme/fleet'}}\n";

// ---- NotFound messages name the API resource (apimachinery's NewNotFound) ----

#[test]
fn missing_objects_are_named_by_their_api_resource() {
    // kustomize-controller kustomization_controller.go: the source's Get error as Ready's message.
    let ks = json!({"apiVersion": "kustomize.toolkit.fluxcd.io/v1", "kind": "Kustomization",
        "metadata": {"name": "apps", "namespace": "flux-system", "generation": 1},
        "spec": {"interval": "10m", "path": "./", "sourceRef": {"kind": "GitRepository", "name": "gone"}}});
    let (reason, message) = failure(&once(ks, vec![]));
    assert_eq!((reason.as_str(), message.as_str()), ("ArtifactFailed", "gitrepositories.source.toolkit.fluxcd.io \"gone\" not found"));

    // checkDependencies: `dependency '%s' not found: %w`.
    let git = run(GIT, "", 0);
    let source = obj(&git, "GitRepository", "flux-system", "fleet").clone();
    let mut with_artifact = source.clone();
    with_artifact["status"] = json!({"artifact": {"revision": "main@sha1:0123456789abcdef0123456789abcdef01234567"}, "observedGeneration": 1});
    let dependent = json!({"apiVersion": "kustomize.toolkit.fluxcd.io/v1", "kind": "Kustomization",
        "metadata": {"name": "apps", "namespace": "flux-system", "generation": 1},
        "spec": {"interval": "10m", "path": "./", "sourceRef": {"kind": "GitRepository", "name": "fleet"}, "dependsOn": [{"name": "infra"}]}});
    let (reason, message) = failure(&once(dependent, vec![with_artifact]));
    assert_eq!(reason, "DependencyNotReady");
    assert_eq!(message, "dependency 'flux-system/infra' not found: kustomizations.kustomize.toolkit.fluxcd.io \"infra\" not found");

    // helm-controller helmrelease_controller.go: "could not get Source object: %s".
    let hr = json!({"apiVersion": "helm.toolkit.fluxcd.io/v2", "kind": "HelmRelease",
        "metadata": {"name": "podinfo", "namespace": "apps", "generation": 1},
        "spec": {"interval": "10m", "chartRef": {"kind": "OCIRepository", "name": "podinfo"}}});
    let (reason, message) = failure(&once(hr, vec![]));
    assert_eq!(reason, "ArtifactFailed");
    assert_eq!(message, "could not get Source object: ocirepositories.source.toolkit.fluxcd.io \"podinfo\" not found");
}

// ---- Kustomization: timeouts and health checks (kustomize-controller api/v1 GetTimeout,
// kustomization_controller.go checkHealth) ----

#[test]
fn kustomization_timeout_defaults_to_the_interval_less_30s_and_health_checks_mark_healthy() {
    let resources = format!(
        "{GIT}    - {{kind: Kustomization, name: apps, interval: 5m, spec: {{path: ./apps, wait: true, sourceRef: {{kind: GitRepository, name: fleet}}}}}}\n"
    );
    let sim = run(&resources, "    - {at: 2m, target: Kustomization/apps, fault: health-check-failure}\n", 12 * MIN);
    let ks = obj(&sim, "Kustomization", "flux-system", "apps");
    let (status, reason, message) = condition(ks, "Ready");
    assert_eq!((status.as_str(), reason.as_str()), ("False", "HealthCheckFailed"));
    assert!(message.starts_with("health check failed after 4m30."), "{message}");
    // Healthy carries the wait error itself; Ready wraps it.
    assert_eq!(
        condition(ks, "Healthy"),
        ("False".into(), "HealthCheckFailed".into(), "timeout waiting for: [Deployment/flux-system/apps status: 'InProgress']".into())
    );
    let healthy = run(&resources, "", 2 * MIN);
    let ks = obj(&healthy, "Kustomization", "flux-system", "apps");
    assert!(condition(ks, "Healthy").2.starts_with("Health check passed in "));
    let fetching = simulator::core::reconcile(&ReconcileInput {
        object: Box::leak(Box::new(ks.clone())),
        world: Box::leak(Box::new(MapWorld::from_objects(healthy.objects()))),
        faults: &[],
        controller_faults: &[],
        now: jiff::Timestamp::from_second(1_735_700_000).unwrap(),
        seed: 1,
        attempt: 9,
    });
    let progress = fetching.progress.map(|p| p.to_string()).unwrap_or_default();
    assert!(progress.contains("with a timeout of 4m30s"), "{progress}");
}

// ---- HelmRelease (helm-controller internal/reconcile/atomic_release.go, install.go, release.go,
// helmrelease_controller.go isSourceReady) ----

const HELM: &str = "    - {kind: HelmRepository, name: podinfo, spec: {url: 'https://stefanprodan.github.io/podinfo'}}\n";

fn release(extra: &str) -> String {
    format!("{HELM}    - kind: HelmRelease\n      name: podinfo\n      namespace: apps\n      interval: 10m\n      spec:\n        chart: {{spec: {{chart: podinfo, version: '6.x', sourceRef: {{kind: HelmRepository, name: podinfo, namespace: flux-system}}}}}}\n{extra}")
}

#[test]
fn helmrelease_stalls_when_remediation_retries_are_used_up() {
    // Default remediation: no retry. One failed install, then Stalled after 1 attempt.
    let sim = run(&release(""), "    - {at: 0s, target: HelmRelease/apps/podinfo, fault: install-failure}\n", 5 * MIN);
    let hr = obj(&sim, "HelmRelease", "apps", "podinfo");
    assert_eq!(
        condition(hr, "Stalled"),
        ("True".into(), "RetriesExceeded".into(), "Failed to install after 1 attempt(s)".into())
    );
    assert!(FluxObject::new(hr).condition("Reconciling").is_none(), "Stalled removes Reconciling");
    assert_eq!(hr["status"]["installFailures"], 1);
    let reasons: Vec<&str> = sim.events().iter().filter(|e| e.event.object.kind == "HelmRelease").map(|e| e.event.reason.as_str()).collect();
    assert_eq!(reasons, ["InstallFailed"], "the stall records no event of its own");

    // Two retries: three attempts, each posting its failure.
    let sim = run(
        &release("        install: {remediation: {retries: 2}}\n"),
        "    - {at: 0s, target: HelmRelease/apps/podinfo, fault: install-failure}\n",
        30 * MIN,
    );
    let hr = obj(&sim, "HelmRelease", "apps", "podinfo");
    assert_eq!(condition(hr, "Stalled").2, "Failed to install after 3 attempt(s)");
    let failures = sim.events().iter().filter(|e| e.event.reason == "InstallFailed").count();
    assert_eq!(failures, 3);
}

#[test]
fn a_retrying_release_says_in_reconciling_what_ready_says_and_events_carry_helm_metadata() {
    // The next reconcile (10m) runs the upgrade; Helm waits the 5m timeout and fails, the retry
    // starts 750ms later. While Helm waits, Ready says what runs (the mark before the action).
    let sim = run(
        &release("        upgrade: {remediation: {retries: -1}}\n"),
        "    - {at: 3m, target: HelmRelease/apps/podinfo, fault: upgrade-failure}\n",
        16 * MIN,
    );
    let hr = obj(&sim, "HelmRelease", "apps", "podinfo");
    assert_eq!(
        condition(hr, "Ready"),
        ("Unknown".into(), "Progressing".into(), "Running 'upgrade' action with timeout of 5m0s".into())
    );
    let event = sim.events().iter().rev().find(|e| e.event.reason == "UpgradeFailed").expect("an UpgradeFailed event");
    let keys: Vec<&str> = event.event.metadata.keys().map(String::as_str).collect();
    assert_eq!(
        keys,
        ["helm.toolkit.fluxcd.io/app-version", "helm.toolkit.fluxcd.io/revision", "helm.toolkit.fluxcd.io/token"]
    );
    // The event adds what Helm logged while it waited.
    assert!(event.event.message.contains("context deadline exceeded\n\nLast Helm logs:\n\n"), "{}", event.event.message);

    // A template error fails at once; between retries Reconciling repeats Ready, and the
    // condition carries no Helm logs.
    let sim = run(
        &release("        install: {remediation: {retries: -1}}\n"),
        "    - {at: 0s, target: HelmRelease/apps/podinfo, fault: install-failure}\n",
        25 * MIN,
    );
    let hr = obj(&sim, "HelmRelease", "apps", "podinfo");
    let (_, reason, ready) = condition(hr, "Ready");
    assert_eq!(reason, "InstallFailed");
    assert_eq!(condition(hr, "Reconciling"), ("True".into(), "ProgressingWithRetry".into(), ready.clone()));
    let event = sim.events().iter().rev().find(|e| e.event.reason == "InstallFailed").expect("an InstallFailed event");
    assert!(event.event.message.starts_with(&ready), "{}", event.event.message);
    assert!(!ready.contains("Last Helm logs"));
}

#[test]
fn a_failing_chart_with_an_artifact_does_not_block_the_release() {
    // isSourceReady: generation observed, not Stalled, an artifact: ready, whatever Ready says.
    let resources = format!(
        "{HELM}    - {{kind: HelmChart, name: podinfo, interval: 5m, spec: {{chart: podinfo, version: '6.x', sourceRef: {{kind: HelmRepository, name: podinfo}}}}}}\n    - {{kind: HelmRelease, name: podinfo, namespace: apps, spec: {{chartRef: {{kind: HelmChart, name: podinfo, namespace: flux-system}}}}}}\n"
    );
    let sim = run(&resources, "    - {at: 15m, target: HelmChart/podinfo, fault: fetch-failure}\n", 40 * MIN);
    let chart = obj(&sim, "HelmChart", "flux-system", "podinfo");
    assert_eq!(condition(chart, "Ready").0, "False");
    let hr = obj(&sim, "HelmRelease", "apps", "podinfo");
    assert_eq!(condition(hr, "Ready").0, "True", "the release keeps using the stored chart");
}

// ---- Sources and events (source-controller, fluxcd/pkg runtime/events/recorder.go) ----

#[test]
fn source_failure_events_carry_no_revision_and_no_source_artifact_is_a_trace() {
    let sim = run(GIT, "    - {at: 5m, target: GitRepository/fleet, fault: fetch-failure}\n", 10 * MIN);
    let failed = sim.events().iter().find(|e| e.event.reason == "GitOperationFailed").expect("a failure event");
    assert!(failed.event.metadata.is_empty(), "{:?}", failed.event.metadata);
    let stored = sim.events().iter().find(|e| e.event.reason == "NewArtifact").expect("an artifact event");
    assert!(stored.event.metadata.contains_key("source.toolkit.fluxcd.io/revision"));

    // A HelmChart whose HelmRepository has no artifact yet: a trace event, never posted.
    let sim = run(&release(""), "    - {at: 0s, target: HelmRepository/podinfo, fault: fetch-failure}\n", 5 * MIN);
    let trace = sim.events().iter().find(|e| e.event.reason == "NoSourceArtifact").expect("NoSourceArtifact recorded");
    assert_eq!(trace.event.severity, Severity::Trace);
    assert!(!trace.event.severity.is_posted());
}

// ---- Canary faults: what real Flux does when the spec points nowhere ----

#[test]
fn a_source_under_the_invalid_domain_fails_to_resolve() {
    let sim = run(
        "    - {kind: GitRepository, name: canary, spec: {url: 'https://git.flux-monitor.invalid/canary'}}\n",
        "",
        2 * MIN,
    );
    let (status, reason, message) = condition(obj(&sim, "GitRepository", "flux-system", "canary"), "Ready");
    assert_eq!((status.as_str(), reason.as_str()), ("False", "GitOperationFailed"));
    assert_eq!(
        message,
        "failed to checkout and determine revision: unable to clone 'https://git.flux-monitor.invalid/canary': Get \"https://git.flux-monitor.invalid/canary/info/refs?service=git-upload-pack\": dial tcp: lookup git.flux-monitor.invalid on 10.96.0.10:53: no such host"
    );
}

#[test]
fn a_path_missing_from_the_artifact_fails_the_kustomization() {
    let sim = run(
        &format!("{GIT}    - {{kind: Kustomization, name: canary, spec: {{path: ./does-not-exist/run-1, sourceRef: {{kind: GitRepository, name: fleet}}}}}}\n"),
        "",
        2 * MIN,
    );
    let (status, reason, message) = condition(obj(&sim, "Kustomization", "flux-system", "canary"), "Ready");
    assert_eq!((status.as_str(), reason.as_str()), ("False", "ArtifactFailed"));
    assert!(message.starts_with("kustomization path not found: stat /tmp/kustomization-"), "{message}");
    assert!(message.ends_with("/does-not-exist/run-1: no such file or directory"), "{message}");
}

#[test]
fn a_chart_version_nobody_published_blocks_the_release() {
    let sim = run(
        &format!("{HELM}    - kind: HelmRelease\n      name: canary\n      namespace: apps\n      spec:\n        chart: {{spec: {{chart: podinfo, version: '9999.0.0', sourceRef: {{kind: HelmRepository, name: podinfo, namespace: flux-system}}}}}}\n"),
        "",
        3 * MIN,
    );
    let chart = obj(&sim, "HelmChart", "flux-system", "apps-canary");
    let (_, reason, message) = condition(chart, "Ready");
    assert_eq!(reason, "Unknown");
    assert_eq!(message, "unknown build error: failed to get chart version for remote reference: no 'podinfo' chart with version matching '9999.0.0' found");
    let (_, reason, message) = condition(obj(&sim, "HelmRelease", "apps", "canary"), "Ready");
    assert_eq!(reason, "SourceNotReady");
    assert_eq!(message, format!("HelmChart 'flux-system/apps-canary' is not ready: unknown build error: failed to get chart version for remote reference: no 'podinfo' chart with version matching '9999.0.0' found"));
}
