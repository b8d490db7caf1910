//! source-watcher in virtual time: an ArtifactGenerator builds the ExternalArtifacts it names
//! from its sources' artifacts, consumers apply them, and a source without an artifact stops it
//! with source-watcher's SourceFetchFailed. Follows fluxcd/source-watcher
//! internal/controller/artifactgenerator_controller.go.

use std::path::Path;
use std::time::Duration;

use model::{FluxObject, ObjectRef};
use serde_json::Value;
use simulator::core::Simulation;
use simulator::scenario::load_str;

const BASE: &str = r#"apiVersion: flux-sim.flux-monitor.dev/v1alpha1
kind: Scenario
metadata:
  name: generator
spec:
  fluxVersion: "2.9"
  componentsExtra: [source-watcher]
  duration: 30m
  resources:
    - kind: GitRepository
      name: fleet
    - kind: ArtifactGenerator
      name: bundle
      spec:
        sources: [{alias: fleet, kind: GitRepository, name: fleet}]
        artifacts:
          - {name: frontend, copy: [{from: '@fleet/frontend/**', to: '@artifact/'}]}
          - {name: backend, copy: [{from: '@fleet/backend/**', to: '@artifact/'}]}
    - kind: Kustomization
      name: frontend
      spec: {sourceRef: {kind: ExternalArtifact, name: frontend}, path: ./}
"#;

fn object<'a>(sim: &'a Simulation, kind: &str, name: &str) -> &'a Value {
    sim.object(&ObjectRef::new(kind, "flux-system", name))
        .unwrap_or_else(|| panic!("{kind}/{name} exists"))
}

fn ready(obj: &Value) -> (String, String, String) {
    let c = FluxObject::new(obj).ready().expect("a Ready condition");
    (c.status, c.reason, c.message)
}

#[test]
fn a_generator_builds_its_artifacts_and_consumers_apply_them() {
    let scenario = load_str(BASE, Path::new("generator.yaml")).expect("valid");
    let mut sim = Simulation::new(&scenario);
    sim.run_until(Duration::from_secs(600));
    let ag = object(&sim, "ArtifactGenerator", "bundle");
    assert_eq!(
        ready(ag),
        ("True".into(), "Succeeded".into(), "reconciliation succeeded, generated 2 artifact(s)".into())
    );
    assert_eq!(ag["status"]["inventory"].as_array().unwrap().len(), 2);
    assert!(ag["status"].get("observedGeneration").is_none(), "ArtifactGenerator status has no observedGeneration");
    let ea = object(&sim, "ExternalArtifact", "frontend");
    assert_eq!(ready(ea), ("True".into(), "Succeeded".into(), "Artifact is ready".into()));
    let revision = ea["status"]["artifact"]["revision"].as_str().unwrap();
    assert!(revision.starts_with("latest@sha256:"), "{revision}");
    assert_eq!(ea["spec"]["sourceRef"]["kind"], "ArtifactGenerator");
    let ks = object(&sim, "Kustomization", "frontend");
    assert_eq!(ready(ks).0, "True", "{:?}", ready(ks));
    assert_eq!(ks["status"]["lastAppliedRevision"], revision);
    // source-watcher serves controller-runtime's metrics but records no reconcile durations;
    // nothing reconciles ExternalArtifacts, so nothing measures them.
    let samples = simulator::telemetry::samples_at(&scenario, Duration::from_secs(600));
    let durations: Vec<_> = samples.iter().filter(|s| s.metric == "gotk_reconcile_duration_seconds_count").collect();
    assert!(durations.iter().any(|s| s.labels["kind"] == "Kustomization"));
    assert!(durations.iter().all(|s| !matches!(s.labels["kind"].as_str(), "ExternalArtifact" | "ArtifactGenerator")));
    assert!(samples.iter().any(|s| s.metric == "controller_runtime_reconcile_total"
        && s.labels["controller"] == "artifactgenerator"
        && s.labels["pod"].starts_with("source-watcher-")
        && s.value > 0.0));
    assert!(!samples.iter().any(|s| s.labels.get("controller").is_some_and(|c| c == "externalartifact")));
}

#[test]
fn a_source_without_an_artifact_stops_the_generator() {
    let text = format!(
        "{BASE}  faults:\n    - {{at: 0s, target: GitRepository/fleet, fault: fetch-failure}}\n"
    );
    let scenario = load_str(&text, Path::new("generator.yaml")).expect("valid");
    let mut sim = Simulation::new(&scenario);
    sim.run_until(Duration::from_secs(300));
    let (status, reason, message) = ready(object(&sim, "ArtifactGenerator", "bundle"));
    assert_eq!((status.as_str(), reason.as_str()), ("False", "SourceFetchFailed"));
    assert_eq!(message, "get sources failed: source 'GitRepository/flux-system/fleet' is not ready");
    let ea = object(&sim, "ExternalArtifact", "frontend");
    assert!(ea.get("status").is_none_or(|s| s.get("artifact").is_none()), "nothing built: {ea}");
    let event = sim.events().iter().find(|e| e.event.object.kind == "ArtifactGenerator").expect("a warning event");
    assert_eq!(event.event.reason, "SourceFetchFailed");
}

#[test]
fn generated_artifacts_are_implied_and_the_component_is_required() {
    let listed = BASE.replace(
        "    - kind: Kustomization",
        "    - kind: ExternalArtifact\n      name: frontend\n    - kind: Kustomization",
    );
    let err = load_str(&listed, Path::new("generator.yaml")).unwrap_err().to_string();
    assert!(err.contains("is written by ArtifactGenerator flux-system/bundle: leave it out"), "{err}");
    let without = BASE.replace("  componentsExtra: [source-watcher]\n", "");
    let err = load_str(&without, Path::new("generator.yaml")).unwrap_err().to_string();
    assert!(err.contains("kind ArtifactGenerator needs source-watcher"), "{err}");
    let old = BASE.replace("\"2.9\"", "\"2.6\"");
    let err = load_str(&old, Path::new("generator.yaml")).unwrap_err().to_string();
    assert!(err.contains("componentsExtra: source-watcher does not exist in Flux 2.6"), "{err}");
}
