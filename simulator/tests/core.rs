//! The simulator core: initial objects, Flux's statuses, faults, dependency propagation and
//! determinism of the virtual-time driver.

use std::collections::BTreeMap;
use std::time::Duration;

use model::{kinds, Controller, FluxObject, FluxVersion, ObjectRef};
use serde_json::{json, Value};
use simulator::core::{
    initial_object, reconcile, ActiveFault, MapWorld, ReconcileInput, ReconcileResult, Severity, Simulation,
    SkipReason, EPOCH,
};
use simulator::scenario::{Expectations, Fault, FaultSpec, FaultTarget, Resource, Scenario};

const MIN: u64 = 60;

fn res(kind: &str, ns: &str, name: &str, interval: u64, spec: Value) -> Resource {
    Resource {
        kind: kinds::by_kind(kind).unwrap(),
        name: name.into(),
        namespace: ns.into(),
        interval: Duration::from_secs(interval),
        labels: BTreeMap::new(),
        annotations: BTreeMap::new(),
        suspend: false,
        spec,
        line: 0,
    }
}

fn scenario(version: &str, resources: Vec<Resource>, faults: Vec<FaultSpec>) -> Scenario {
    Scenario {
        name: "test".into(),
        description: String::new(),
        source: Default::default(),
        flux_version: version.parse::<FluxVersion>().unwrap(),
        seed: 42,
        duration: Duration::from_secs(60 * MIN),
        scrape_interval: Duration::from_secs(30),
        components_extra: Vec::new(),
        resource_metrics: vec![simulator::scenario::ResourceMetrics::KubeStateMetrics],
        resources,
        faults,
        expectations: Expectations::default(),
        controllers: Vec::new(),
        cluster: None,
    }
}

fn fault(at: u64, target: ObjectRef, fault: Fault, duration: Option<u64>) -> FaultSpec {
    FaultSpec {
        name: None,
        at: Duration::from_secs(at),
        target: FaultTarget::Object(target),
        fault,
        reason: None,
        message: None,
        duration: duration.map(Duration::from_secs),
        reconcile_duration: None,
        rate: None,
        count: None,
        line: 0,
    }
}

fn oref(kind: &str, ns: &str, name: &str) -> ObjectRef {
    ObjectRef::new(kind, ns, name)
}

/// A GitRepository, a Kustomization on it, a HelmRepository and a HelmRelease from it.
fn platform() -> Vec<Resource> {
    vec![
        res("GitRepository", "flux-system", "flux-system", MIN, json!({})),
        res("Kustomization", "flux-system", "infra", 10 * MIN, json!({})),
        res(
            "Kustomization",
            "flux-system",
            "apps",
            10 * MIN,
            json!({"dependsOn": [{"name": "infra"}]}),
        ),
        res("HelmRepository", "flux-system", "podinfo", 5 * MIN, json!({})),
        res("HelmRelease", "apps", "podinfo", 5 * MIN, json!({})),
    ]
}

fn ready(sim: &Simulation, r: &ObjectRef) -> (String, String, String) {
    let obj = sim.object(r).unwrap_or_else(|| panic!("{r} exists"));
    let c = FluxObject::new(obj)
        .ready()
        .unwrap_or_else(|| panic!("{r} has Ready: {obj:#}"));
    (c.status, c.reason, c.message)
}

fn at(sim: &mut Simulation, secs: u64) {
    sim.run_until(Duration::from_secs(secs));
}

#[test]
fn initial_objects_have_flux_shapes_per_kind() {
    let s24 = scenario("2.4", vec![], vec![]);
    let s27 = scenario("2.7", vec![], vec![]);
    let oci = res("OCIRepository", "flux-system", "manifests", 5 * MIN, json!({}));
    assert_eq!(
        initial_object(&s24, &oci)["apiVersion"],
        "source.toolkit.fluxcd.io/v1beta2"
    );
    assert_eq!(initial_object(&s27, &oci)["apiVersion"], "source.toolkit.fluxcd.io/v1");
    assert_eq!(initial_object(&s27, &oci)["spec"]["ref"]["tag"], "latest");
    assert!(initial_object(&s27, &oci)["spec"]["url"]
        .as_str()
        .unwrap()
        .starts_with("oci://ghcr.io/"));

    let git = res(
        "GitRepository",
        "flux-system",
        "fleet",
        MIN,
        json!({"ref": {"branch": "prod"}}),
    );
    let g = initial_object(&s27, &git);
    assert_eq!(g["kind"], "GitRepository");
    assert_eq!(g["metadata"], json!({"name": "fleet", "namespace": "flux-system"}));
    assert_eq!(g["spec"]["url"], "https://github.com/acme/fleet");
    assert_eq!(g["spec"]["ref"], json!({"branch": "prod"}));
    assert_eq!(g["spec"]["interval"], "1m0s");
    assert!(g.get("status").is_none());

    let mut ks = res("Kustomization", "apps", "web", 10 * MIN, json!({"path": "./web/prod"}));
    ks.suspend = true;
    ks.labels.insert("team".into(), "web".into());
    let k = initial_object(&s27, &ks);
    assert_eq!(k["apiVersion"], "kustomize.toolkit.fluxcd.io/v1");
    assert_eq!(k["spec"]["path"], "./web/prod");
    assert_eq!(k["spec"]["prune"], true);
    assert_eq!(k["spec"]["suspend"], true);
    assert_eq!(k["spec"]["interval"], "10m0s");
    assert_eq!(k["metadata"]["labels"]["team"], "web");
    assert_eq!(
        k["spec"]["sourceRef"],
        json!({"kind": "GitRepository", "name": "flux-system", "namespace": "flux-system"})
    );

    let hr = initial_object(&s27, &res("HelmRelease", "apps", "podinfo", 5 * MIN, json!({})));
    assert_eq!(hr["apiVersion"], "helm.toolkit.fluxcd.io/v2");
    assert_eq!(hr["spec"]["chart"]["spec"]["chart"], "podinfo");
    assert_eq!(hr["spec"]["chart"]["spec"]["version"], "*");
    assert_eq!(hr["spec"]["chart"]["spec"]["sourceRef"]["kind"], "HelmRepository");
    let hr_ref = initial_object(
        &s27,
        &res(
            "HelmRelease",
            "apps",
            "x",
            MIN,
            json!({"chartRef": {"kind": "OCIRepository", "name": "x"}}),
        ),
    );
    assert!(hr_ref["spec"].get("chart").is_none());

    let image_policy = initial_object(&s24, &res("ImagePolicy", "flux-system", "app", 0, json!({})));
    assert_eq!(image_policy["apiVersion"], "image.toolkit.fluxcd.io/v1beta2");
    assert!(image_policy["spec"].get("interval").is_none());
    assert_eq!(image_policy["spec"]["imageRepositoryRef"]["name"], "app");
    let alert = initial_object(
        &s27,
        &res("Alert", "flux-system", "slack", 0, json!({"eventSeverity": "error"})),
    );
    assert_eq!(alert["apiVersion"], "notification.toolkit.fluxcd.io/v1beta3");
    assert_eq!(alert["spec"]["eventSeverity"], "error");
    for kind in [
        "Bucket",
        "HelmChart",
        "ImageRepository",
        "ImageUpdateAutomation",
        "Provider",
        "Receiver",
        "HelmRepository",
    ] {
        let o = initial_object(&s27, &res(kind, "flux-system", "x", 5 * MIN, json!({})));
        assert!(o["spec"].as_object().unwrap().len() >= 2, "{kind}: {o:#}");
    }
}

#[test]
fn sources_store_artifacts_with_flux_revision_formats() {
    let resources = vec![
        res("GitRepository", "flux-system", "flux-system", MIN, json!({})),
        res(
            "OCIRepository",
            "flux-system",
            "manifests",
            MIN,
            json!({"ref": {"tag": "v1.2.0"}}),
        ),
        res("HelmRepository", "flux-system", "podinfo", MIN, json!({})),
        res("HelmChart", "flux-system", "podinfo", MIN, json!({"version": "6.5.4"})),
        res("Bucket", "flux-system", "configs", MIN, json!({})),
    ];
    let mut sim = Simulation::new(&scenario("2.7", resources, vec![]));
    at(&mut sim, 90);
    let is_hex = |s: &str, n: usize| s.len() == n && s.chars().all(|c| c.is_ascii_hexdigit());
    type Check<'a> = Box<dyn Fn(&str) -> bool + 'a>;
    let cases: [(&str, &str, Check); 5] = [
        (
            "GitRepository",
            "flux-system",
            Box::new(|r: &str| r.strip_prefix("main@sha1:").is_some_and(|h| is_hex(h, 40))),
        ),
        (
            "OCIRepository",
            "manifests",
            Box::new(|r: &str| r.strip_prefix("v1.2.0@sha256:").is_some_and(|h| is_hex(h, 64))),
        ),
        (
            "HelmRepository",
            "podinfo",
            Box::new(|r: &str| r.strip_prefix("sha256:").is_some_and(|h| is_hex(h, 64))),
        ),
        ("HelmChart", "podinfo", Box::new(|r: &str| r == "6.5.4")),
        (
            "Bucket",
            "configs",
            Box::new(|r: &str| r.strip_prefix("sha256:").is_some_and(|h| is_hex(h, 64))),
        ),
    ];
    for (kind, name, check) in cases {
        let r = oref(kind, "flux-system", name);
        let obj = sim.object(&r).unwrap();
        let rev = FluxObject::new(obj)
            .revision()
            .unwrap_or_else(|| panic!("{kind}: {obj:#}"));
        assert!(check(rev), "{kind} revision {rev}");
        let (status, reason, message) = ready(&sim, &r);
        assert_eq!((status.as_str(), reason.as_str()), ("True", "Succeeded"), "{kind}");
        assert_eq!(message, format!("stored artifact for revision '{rev}'"));
        let art = &obj["status"]["artifact"];
        assert!(art["digest"].as_str().unwrap().starts_with("sha256:"));
        assert!(art["url"]
            .as_str()
            .unwrap()
            .starts_with("http://source-controller.flux-system.svc.cluster.local./"));
        assert!(art["size"].as_u64().unwrap() > 0);
        assert!(art["lastUpdateTime"].as_str().unwrap().starts_with("2025-01-01T00:0"));
        assert_eq!(
            FluxObject::new(obj).condition("ArtifactInStorage").unwrap().status,
            "True"
        );
        assert_eq!(obj["status"]["observedGeneration"], 1);
        // GitRepository v1 dropped the deprecated status.url (source-controller api/v1).
        let kind = obj["kind"].as_str().unwrap();
        assert_eq!(obj["status"]["url"].is_string(), kind != "GitRepository", "{kind} status.url");
    }
    let new_artifacts = sim.events().iter().filter(|e| e.event.reason == "NewArtifact").count();
    assert_eq!(
        new_artifacts, 5,
        "one NewArtifact per source, none on unchanged revisions"
    );
    let git_event = sim
        .events()
        .iter()
        .find(|e| e.event.object.kind == "GitRepository")
        .unwrap();
    assert!(git_event.event.message.starts_with("stored artifact for commit '"));
    assert!(git_event.event.metadata["source.toolkit.fluxcd.io/revision"].starts_with("main@sha1:"));
}

#[test]
fn kustomization_and_helmrelease_succeed_like_flux() {
    let mut sim = Simulation::new(&scenario("2.7", platform(), vec![]));
    at(&mut sim, 60);
    let git_rev = FluxObject::new(
        sim.object(&oref("GitRepository", "flux-system", "flux-system"))
            .unwrap(),
    )
    .revision()
    .unwrap()
    .to_string();
    for name in ["infra", "apps"] {
        let r = oref("Kustomization", "flux-system", name);
        assert_eq!(
            ready(&sim, &r),
            (
                "True".into(),
                "ReconciliationSucceeded".into(),
                format!("Applied revision: {git_rev}")
            )
        );
        let st = &sim.object(&r).unwrap()["status"];
        assert_eq!(st["lastAppliedRevision"], git_rev.as_str());
        assert_eq!(st["lastAttemptedRevision"], git_rev.as_str());
        assert!(st["inventory"]["entries"].as_array().is_some_and(|e| !e.is_empty()));
        assert!(FluxObject::new(sim.object(&r).unwrap())
            .condition("Reconciling")
            .is_none());
    }
    let finished = sim
        .events()
        .iter()
        .find(|e| e.event.reason == "ReconciliationSucceeded" && e.event.object.name == "infra")
        .unwrap();
    assert!(
        finished.event.message.starts_with("Reconciliation finished in "),
        "{}",
        finished.event.message
    );
    assert!(
        finished.event.message.ends_with("ms, next run in 10m0s"),
        "{}",
        finished.event.message
    );
    assert_eq!(finished.event.metadata["kustomize.toolkit.fluxcd.io/revision"], git_rev);
    assert_eq!(
        finished.event.metadata["kustomize.toolkit.fluxcd.io/commit_status"],
        "update"
    );
    assert_eq!(finished.event.severity, Severity::Info);

    let hr = oref("HelmRelease", "apps", "podinfo");
    let chart = sim
        .object(&oref("HelmChart", "flux-system", "apps-podinfo"))
        .expect("helm-controller made the HelmChart");
    let version = FluxObject::new(chart).revision().unwrap().to_string();
    let (status, reason, message) = ready(&sim, &hr);
    assert_eq!((status.as_str(), reason.as_str()), ("True", "InstallSucceeded"));
    assert_eq!(
        message,
        format!("Helm install succeeded for release apps/podinfo.v1 with chart podinfo@{version}")
    );
    let st = &sim.object(&hr).unwrap()["status"];
    assert_eq!(st["history"][0]["status"], "deployed");
    assert_eq!(st["history"][0]["chartVersion"], version.as_str());
    assert_eq!(st["history"][0]["version"], 1);
    assert_eq!(st["lastAttemptedRevision"], version.as_str());
    assert_eq!(
        FluxObject::new(sim.object(&hr).unwrap())
            .condition("Released")
            .unwrap()
            .reason,
        "InstallSucceeded"
    );

    // Converged within seconds; afterwards the HelmRelease stays in sync without new releases.
    at(&mut sim, 30 * MIN);
    let st = &sim.object(&hr).unwrap()["status"];
    assert_eq!(st["history"].as_array().unwrap().len(), 1);
    assert_eq!(ready(&sim, &hr).1, "InstallSucceeded");
}

/// Runs one object fault from the start and returns the object's Ready (reason, message).
fn fault_outcome(target: ObjectRef, f: Fault) -> (String, String, Value) {
    let mut resources = platform();
    resources.push(res("OCIRepository", "flux-system", "manifests", MIN, json!({})));
    resources.push(res("Bucket", "flux-system", "configs", MIN, json!({})));
    resources.push(res("ImageRepository", "flux-system", "app", MIN, json!({})));
    let mut sim = Simulation::new(&scenario("2.7", resources, vec![fault(0, target.clone(), f, None)]));
    // Past a Helm action's 5m timeout: an upgrade that times out fails only then.
    at(&mut sim, 12 * MIN);
    let (_, reason, message) = ready(&sim, &target);
    (reason, message, sim.object(&target).unwrap().clone())
}

#[test]
fn object_faults_set_the_ready_reason_flux_reports() {
    let git = oref("GitRepository", "flux-system", "flux-system");
    let cases = [
        (
            git.clone(),
            Fault::FetchFailure,
            "GitOperationFailed",
            "failed to checkout and determine revision: unable to clone 'https://github.com/acme/flux-system': ",
        ),
        // source-controller gitrepository_controller.go: a refused clone, credentials included,
        // is GitOperationFailed; AuthenticationFailed is only for the Secret and auth options.
        (
            git.clone(),
            Fault::AuthFailure,
            "GitOperationFailed",
            "failed to checkout and determine revision: unable to clone",
        ),
        (
            oref("HelmRepository", "flux-system", "podinfo"),
            Fault::FetchFailure,
            "Failed",
            "failed to fetch Helm repository index: ",
        ),
        (
            oref("OCIRepository", "flux-system", "manifests"),
            Fault::FetchFailure,
            "OCIArtifactPullFailed",
            "failed to determine artifact digest",
        ),
        (
            oref("Bucket", "flux-system", "configs"),
            Fault::FetchFailure,
            "BucketOperationFailed",
            "failed to confirm existence of 'configs' bucket",
        ),
        // image-reflector-controller imagerepository_controller.go: scan errors are ReadOperationFailed.
        (
            oref("ImageRepository", "flux-system", "app"),
            Fault::AuthFailure,
            "ReadOperationFailed",
            "scan failed: GET https://ghcr.io/v2/acme/app/tags/list",
        ),
        (
            oref("Kustomization", "flux-system", "infra"),
            Fault::BuildFailure,
            "BuildFailed",
            "kustomize build failed: ",
        ),
        (
            oref("Kustomization", "flux-system", "infra"),
            Fault::ApplyFailure,
            "ReconciliationFailed",
            "Deployment/flux-system/infra dry-run failed",
        ),
        (
            oref("Kustomization", "flux-system", "infra"),
            Fault::PruneFailure,
            "PruneFailed",
            "ConfigMap/flux-system/infra-config deletion failed",
        ),
        (
            oref("Kustomization", "flux-system", "infra"),
            Fault::HealthCheckFailure,
            "HealthCheckFailed",
            // kustomize-controller GetTimeout: the 10m interval less 30s.
            "health check failed after 9m30.",
        ),
        (
            oref("HelmRelease", "apps", "podinfo"),
            Fault::InstallFailure,
            "InstallFailed",
            "Helm install failed for release apps/podinfo with chart podinfo@",
        ),
        (
            oref("HelmRelease", "apps", "podinfo"),
            Fault::UpgradeFailure,
            "UpgradeFailed",
            "Helm upgrade failed for release apps/podinfo with chart podinfo@",
        ),
        (
            oref("HelmRelease", "apps", "podinfo"),
            Fault::TestFailure,
            "TestFailed",
            "Helm test failed for release apps/podinfo",
        ),
    ];
    for (target, f, reason, prefix) in cases {
        // Health checks take their timeout before failing.
        let (got_reason, message, obj) = if f == Fault::HealthCheckFailure {
            let mut sim = Simulation::new(&scenario("2.7", platform(), vec![fault(0, target.clone(), f, None)]));
            at(&mut sim, 11 * MIN);
            let (_, r, m) = ready(&sim, &target);
            (r, m, sim.object(&target).unwrap().clone())
        } else {
            fault_outcome(target.clone(), f)
        };
        assert_eq!(got_reason, reason, "{} {target}: {message}", f.name());
        assert!(
            message.starts_with(prefix) || message.contains(prefix),
            "{} {target}: {message}",
            f.name()
        );
        let o = FluxObject::new(&obj);
        assert_eq!(o.ready().unwrap().status, "False");
        if target.kind != "HelmRelease" && target.kind != "ImageRepository" && target.kind != "Kustomization" {
            assert_eq!(o.condition("FetchFailed").unwrap().reason, reason, "{target}");
        }
        if target.kind == "Kustomization" {
            assert_eq!(o.condition("Reconciling").unwrap().reason, "ProgressingWithRetry");
            assert!(obj["status"].get("lastAppliedRevision").is_none());
            assert!(obj["status"]["lastAttemptedRevision"].is_string());
        }
    }

    let (reason, message, obj) = fault_outcome(oref("HelmRelease", "apps", "podinfo"), Fault::RetriesExhausted);
    assert_eq!(reason, "InstallFailed", "{message}");
    let stalled = FluxObject::new(&obj).condition("Stalled").unwrap();
    assert_eq!(
        (stalled.status.as_str(), stalled.reason.as_str()),
        ("True", "RetriesExceeded")
    );
    // helm-controller atomic_release.go: the default remediation retries nothing, so the first
    // failed install exhausts it.
    assert_eq!(stalled.message, "Failed to install after 1 attempt(s)");
    assert_eq!(obj["status"]["installFailures"], 1);
}

#[test]
fn failing_source_keeps_its_last_artifact_and_recovers() {
    let git = oref("GitRepository", "flux-system", "flux-system");
    let ks = oref("Kustomization", "flux-system", "infra");
    let mut sim = Simulation::new(&scenario(
        "2.7",
        platform(),
        vec![fault(10 * MIN, git.clone(), Fault::FetchFailure, Some(5 * MIN))],
    ));
    at(&mut sim, 9 * MIN);
    let good = sim.object(&git).unwrap()["status"]["artifact"].clone();
    at(&mut sim, 12 * MIN);
    assert_eq!(ready(&sim, &git).1, "GitOperationFailed");
    assert_eq!(
        sim.object(&git).unwrap()["status"]["artifact"],
        good,
        "the last good artifact stays"
    );
    // kustomize-controller keeps applying the last artifact, as Flux does.
    assert_eq!(ready(&sim, &ks).0, "True");
    let errors: Vec<_> = sim
        .events()
        .iter()
        .filter(|e| e.event.object == git && e.event.severity == Severity::Error)
        .collect();
    assert!(!errors.is_empty());
    assert!(sim.reconciles().iter().any(|r| r.object == git && r.errored));
    at(&mut sim, 30 * MIN);
    assert_eq!(ready(&sim, &git).1, "Succeeded");
    assert!(sim
        .events()
        .iter()
        .any(|e| e.event.object == git && e.event.reason == "Succeeded" && e.at > Duration::from_secs(15 * MIN)));
}

#[test]
fn source_without_artifact_blocks_kustomization_then_recovers() {
    let git = oref("GitRepository", "flux-system", "flux-system");
    let ks = oref("Kustomization", "flux-system", "infra");
    let apps = oref("Kustomization", "flux-system", "apps");
    let mut sim = Simulation::new(&scenario(
        "2.7",
        platform(),
        vec![fault(0, git.clone(), Fault::AuthFailure, Some(5 * MIN))],
    ));
    at(&mut sim, 2 * MIN);
    assert_eq!(
        ready(&sim, &ks),
        (
            "False".into(),
            "ArtifactFailed".into(),
            "Source artifact not found, retrying in 30s".into()
        )
    );
    assert_eq!(ready(&sim, &apps).1, "ArtifactFailed");
    at(&mut sim, 20 * MIN);
    assert_eq!(ready(&sim, &git).0, "True");
    assert_eq!(ready(&sim, &ks).1, "ReconciliationSucceeded");
    assert_eq!(ready(&sim, &apps).1, "ReconciliationSucceeded");
}

#[test]
fn depends_on_not_ready_propagates_and_recovers() {
    let infra = oref("Kustomization", "flux-system", "infra");
    let apps = oref("Kustomization", "flux-system", "apps");
    let mut resources = platform();
    resources[1].interval = Duration::from_secs(MIN);
    let mut sim = Simulation::new(&scenario(
        "2.7",
        resources,
        vec![fault(0, infra.clone(), Fault::ApplyFailure, Some(5 * MIN))],
    ));
    at(&mut sim, 3 * MIN);
    assert_eq!(ready(&sim, &infra).1, "ReconciliationFailed");
    assert_eq!(
        ready(&sim, &apps),
        (
            "False".into(),
            "DependencyNotReady".into(),
            "dependency 'flux-system/infra' is not ready".into()
        )
    );
    assert!(sim.events().iter().any(|e| e.event.object == apps
        && e.event.reason == "DependencyNotReady"
        && e.event.message == "Dependencies do not meet ready condition, retrying in 30s"));
    // kustomize-controller failures requeue at retryInterval without a controller-runtime error.
    assert!(sim
        .reconciles()
        .iter()
        .filter(|r| r.object == infra)
        .all(|r| !r.errored));
    at(&mut sim, 8 * MIN);
    assert_eq!(ready(&sim, &infra).1, "ReconciliationSucceeded");
    assert_eq!(ready(&sim, &apps).1, "ReconciliationSucceeded");
}

#[test]
fn helmrelease_waits_for_its_chart() {
    let repo = oref("HelmRepository", "flux-system", "podinfo");
    let hr = oref("HelmRelease", "apps", "podinfo");
    let mut sim = Simulation::new(&scenario(
        "2.7",
        platform(),
        vec![fault(0, repo, Fault::FetchFailure, Some(10 * MIN))],
    ));
    at(&mut sim, 2 * MIN);
    let chart = oref("HelmChart", "flux-system", "apps-podinfo");
    assert_eq!(ready(&sim, &chart).1, "NoSourceArtifact");
    let (status, reason, message) = ready(&sim, &hr);
    assert_eq!((status.as_str(), reason.as_str()), ("False", "SourceNotReady"));
    assert!(
        message.starts_with("HelmChart 'flux-system/apps-podinfo' is not ready: "),
        "{message}"
    );
    at(&mut sim, 40 * MIN);
    assert_eq!(ready(&sim, &hr).1, "InstallSucceeded");
}

#[test]
fn suspend_skips_reconciles_and_leaves_status_alone() {
    let ks = oref("Kustomization", "flux-system", "infra");
    let mut resources = platform();
    resources[1].interval = Duration::from_secs(MIN);
    let mut sim = Simulation::new(&scenario(
        "2.7",
        resources,
        vec![fault(5 * MIN, ks.clone(), Fault::Suspend, Some(10 * MIN))],
    ));
    at(&mut sim, 5 * MIN - 1);
    let before = sim.object(&ks).unwrap()["status"].clone();
    at(&mut sim, 14 * MIN);
    let during = sim.object(&ks).unwrap().clone();
    assert_eq!(during["status"], before, "suspended: status untouched");
    assert_eq!(during["spec"]["suspend"], true);
    assert_eq!(during["metadata"]["generation"], 2);
    let window = |r: &&simulator::core::ReconcileRecord| {
        r.object == ks && r.start >= Duration::from_secs(5 * MIN) && r.start < Duration::from_secs(15 * MIN)
    };
    let in_window: Vec<_> = sim.reconciles().iter().filter(window).collect();
    assert_eq!(in_window.len(), 1, "one reconcile on the spec change, then no requeue");
    assert_eq!(in_window[0].result, ReconcileResult::Skipped(SkipReason::Suspended));
    at(&mut sim, 16 * MIN);
    let after = sim.object(&ks).unwrap();
    assert!(after["spec"].get("suspend").is_none());
    assert_eq!(after["metadata"]["generation"], 3);
    assert_eq!(after["status"]["observedGeneration"], 3);
    assert_eq!(ready(&sim, &ks).0, "True");
}

#[test]
fn stale_object_lags_its_generation() {
    let ks = oref("Kustomization", "flux-system", "infra");
    let mut sim = Simulation::new(&scenario(
        "2.7",
        platform(),
        vec![fault(5 * MIN, ks.clone(), Fault::Stale, None)],
    ));
    at(&mut sim, 50 * MIN);
    let o = sim.object(&ks).unwrap();
    assert_eq!(o["metadata"]["generation"], 2);
    assert_eq!(o["status"]["observedGeneration"], 1);
    assert_eq!(ready(&sim, &ks).0, "True", "Ready stays as last written");
    assert!(!sim
        .reconciles()
        .iter()
        .any(|r| r.object == ks && r.start >= Duration::from_secs(5 * MIN)));
}

#[test]
fn controller_down_stops_and_resumes_reconciles() {
    let mut f = fault(10 * MIN, oref("x", "y", "z"), Fault::ControllerDown, Some(10 * MIN));
    f.target = FaultTarget::Controller(Controller::Kustomize);
    let mut sim = Simulation::new(&scenario("2.7", platform(), vec![f]));
    at(&mut sim, 25 * MIN);
    let ks: Vec<_> = sim
        .reconciles()
        .iter()
        .filter(|r| r.controller == Controller::Kustomize)
        .collect();
    let during = |r: &&&simulator::core::ReconcileRecord| {
        r.start >= Duration::from_secs(10 * MIN) && r.start < Duration::from_secs(20 * MIN)
    };
    assert!(!ks.iter().any(|r| during(&r)));
    assert!(ks
        .iter()
        .any(|r| r.start >= Duration::from_secs(20 * MIN) && r.start < Duration::from_secs(20 * MIN + 5)));
    assert!(sim.controller_down_at(Controller::Kustomize, Duration::from_secs(15 * MIN)));
    assert!(!sim.controller_down_at(Controller::Source, Duration::from_secs(15 * MIN)));
}

#[test]
fn error_rate_errors_reconciles_while_objects_stay_ready() {
    let mut resources = vec![res("GitRepository", "flux-system", "flux-system", MIN, json!({}))];
    for i in 0..20 {
        resources.push(res("Kustomization", "flux-system", &format!("app-{i}"), MIN, json!({})));
    }
    let mut f = fault(0, oref("x", "y", "z"), Fault::ErrorRate, None);
    f.target = FaultTarget::Controller(Controller::Kustomize);
    f.rate = Some(0.3);
    let mut sim = Simulation::new(&scenario("2.7", resources, vec![f]));
    at(&mut sim, 60 * MIN);
    let ks: Vec<_> = sim
        .reconciles()
        .iter()
        .filter(|r| r.controller == Controller::Kustomize)
        .collect();
    let errored = ks.iter().filter(|r| r.errored).count() as f64 / ks.len() as f64;
    assert!(ks.len() > 1000, "{}", ks.len());
    assert!((errored - 0.3).abs() < 0.05, "error fraction {errored}");
    for i in 0..20 {
        assert_eq!(
            ready(&sim, &oref("Kustomization", "flux-system", &format!("app-{i}"))).0,
            "True"
        );
    }
    assert!(!sim
        .reconciles()
        .iter()
        .any(|r| r.controller == Controller::Source && r.errored));
}

#[test]
fn slow_and_event_storm_faults() {
    let ks = oref("Kustomization", "flux-system", "infra");
    let mut slow = fault(0, ks.clone(), Fault::Slow, None);
    slow.reconcile_duration = Some(Duration::from_secs(90));
    let mut storm = fault(
        20 * MIN,
        oref("Kustomization", "flux-system", "apps"),
        Fault::EventStorm,
        Some(MIN),
    );
    storm.count = Some(25);
    let mut sim = Simulation::new(&scenario("2.7", platform(), vec![slow, storm]));
    at(&mut sim, 30 * MIN);
    assert!(sim
        .reconciles()
        .iter()
        .filter(|r| r.object == ks)
        .all(|r| r.duration == Duration::from_secs(90)));
    let storm_events: Vec<_> = sim
        .events()
        .iter()
        .filter(|e| e.event.object.name == "apps" && e.event.severity == Severity::Error)
        .collect();
    assert_eq!(storm_events.len(), 25);
    assert!(storm_events
        .iter()
        .all(|e| e.event.message == storm_events[0].event.message));
}

#[test]
fn same_seed_same_output_other_seed_other_revisions() {
    let git = oref("GitRepository", "flux-system", "flux-system");
    let faults = || {
        vec![fault(
            7 * MIN,
            oref("Kustomization", "flux-system", "infra"),
            Fault::BuildFailure,
            Some(9 * MIN),
        )]
    };
    let run = |seed: u64| {
        let mut s = scenario("2.7", platform(), faults());
        s.seed = seed;
        let mut sim = Simulation::new(&s);
        let early = sim.objects_at(Duration::from_secs(11 * MIN));
        sim.run();
        (early, sim.objects(), sim.reconciles().to_vec(), sim.events().to_vec())
    };
    let (a, b) = (run(42), run(42));
    assert_eq!(a.0, b.0);
    assert_eq!(a.1, b.1);
    assert_eq!(a.2, b.2);
    assert_eq!(a.3, b.3);
    let c = run(43);
    let rev = |objs: &Vec<Value>| {
        objs.iter()
            .find(|o| FluxObject::new(o).object_ref() == git)
            .and_then(|o| FluxObject::new(o).revision().map(str::to_string))
    };
    assert_ne!(rev(&a.1), rev(&c.1));
    // Replaying to an earlier time gives the same state as the first time there.
    let mut s = scenario("2.7", platform(), faults());
    s.seed = 42;
    let mut sim = Simulation::new(&s);
    sim.run();
    assert_eq!(sim.objects_at(Duration::from_secs(11 * MIN)), a.0);
    // Seeding computes the same objects without keeping reconciles or events.
    assert_eq!(Simulation::objects_only(&s, Duration::from_secs(11 * MIN)), a.0);
    assert_eq!(Simulation::objects_only(&s, Duration::ZERO), Simulation::new(&s).objects());
}

fn git_object() -> Value {
    json!({
        "apiVersion": "source.toolkit.fluxcd.io/v1", "kind": "GitRepository",
        "metadata": {"name": "flux-system", "namespace": "flux-system", "generation": 1,
                     "creationTimestamp": "2025-01-01T00:00:00Z",
                     "annotations": {"reconcile.fluxcd.io/requestedAt": "2025-01-01T00:05:00.123456789Z"}},
        "spec": {"interval": "1m0s", "url": "https://github.com/acme/fleet", "ref": {"branch": "main"}},
    })
}

#[test]
fn reconcile_copies_requested_at_and_honours_live_faults() {
    let world = MapWorld::new();
    let mut obj = git_object();
    let input = |o: &'static Value, faults: &'static [ActiveFault]| ReconcileInput {
        object: o,
        world: Box::leak(Box::new(MapWorld::new())),
        faults,
        controller_faults: &[],
        now: EPOCH,
        seed: 1,
        attempt: 0,
    };
    let _ = &world;
    let ok = reconcile(&input(Box::leak(Box::new(obj.clone())), &[]));
    assert_eq!(ok.result, ReconcileResult::Success);
    let status = ok.status.unwrap();
    assert_eq!(status["lastHandledReconcileAt"], "2025-01-01T00:05:00.123456789Z");
    assert_eq!(ok.requeue_after, Some(Duration::from_secs(60)));
    assert!(!ok.errored);
    assert!(ok.duration > Duration::from_millis(10) && ok.duration < Duration::from_secs(2));

    // A fault asked by annotation on the live object.
    obj["metadata"]["annotations"]["flux-sim.flux-monitor.dev/fault"] = json!("fetch-failure");
    obj["metadata"]["annotations"]["flux-sim.flux-monitor.dev/fault-message"] = json!("drill: git is down");
    obj["status"] = status;
    let failed = reconcile(&input(Box::leak(Box::new(obj.clone())), &[]));
    assert_eq!(
        failed.result,
        ReconcileResult::Failure {
            reason: "GitOperationFailed".into(),
            message: "drill: git is down".into()
        }
    );
    assert!(failed.errored);
    let st = failed.status.unwrap();
    let o = json!({"kind": "GitRepository", "status": st});
    let ready = FluxObject::new(&o).ready().unwrap();
    assert_eq!(
        (ready.status.as_str(), ready.message.as_str()),
        ("False", "drill: git is down")
    );
    assert!(
        st["artifact"]["revision"].as_str().unwrap().starts_with("main@sha1:"),
        "keeps the artifact"
    );
    assert_eq!(failed.events.len(), 1);
    assert_eq!(failed.events[0].severity, Severity::Error);

    // The same through ActiveFault, and suspended/stale/controller-down skip without status.
    let plain = Box::leak(Box::new(git_object()));
    let via_fault = reconcile(&input(
        plain,
        Box::leak(Box::new([ActiveFault::new(Fault::AuthFailure)])),
    ));
    assert!(
        matches!(via_fault.result, ReconcileResult::Failure { ref reason, .. } if reason == "GitOperationFailed")
    );
    let stale = reconcile(&input(plain, Box::leak(Box::new([ActiveFault::new(Fault::Stale)]))));
    assert_eq!(
        (stale.result, stale.status),
        (ReconcileResult::Skipped(SkipReason::Stale), None)
    );
    let mut suspended = git_object();
    suspended["spec"]["suspend"] = json!(true);
    let s = reconcile(&input(Box::leak(Box::new(suspended)), &[]));
    assert_eq!(
        (s.result, s.status, s.requeue_after),
        (ReconcileResult::Skipped(SkipReason::Suspended), None, None)
    );
    let down = ReconcileInput {
        object: plain,
        world: &world,
        faults: &[],
        controller_faults: &[ActiveFault::new(Fault::ControllerDown)],
        now: EPOCH,
        seed: 1,
        attempt: 0,
    };
    assert_eq!(
        reconcile(&down).result,
        ReconcileResult::Skipped(SkipReason::ControllerDown)
    );
}

#[test]
fn ready_keeps_its_transition_time_while_status_holds() {
    let git = oref("GitRepository", "flux-system", "flux-system");
    let mut sim = Simulation::new(&scenario("2.7", platform(), vec![]));
    at(&mut sim, MIN);
    let first = FluxObject::new(sim.object(&git).unwrap())
        .ready()
        .unwrap()
        .last_transition_time;
    at(&mut sim, 30 * MIN);
    let later = FluxObject::new(sim.object(&git).unwrap())
        .ready()
        .unwrap()
        .last_transition_time;
    assert_eq!(first, later);
    assert!(sim.reconciles().iter().filter(|r| r.object == git).count() > 25);
}


#[test]
fn long_reconciles_show_progress_until_they_end() {
    let ks = oref("Kustomization", "flux-system", "infra");
    let mut sim = Simulation::new(&scenario(
        "2.7",
        platform(),
        vec![fault(20 * MIN, ks.clone(), Fault::HealthCheckFailure, None)],
    ));
    at(&mut sim, 20 * MIN);
    let next = sim.reconciles().iter().filter(|r| r.object == ks).count();
    at(&mut sim, 32 * MIN);
    let rec = sim
        .reconciles()
        .iter()
        .filter(|r| r.object == ks)
        .nth(next)
        .expect("reconciled after the fault")
        .clone();
    assert!(rec.duration > Duration::from_secs(300), "{rec:?}");
    sim.objects_at(rec.start + Duration::from_secs(60));
    let (status, reason, message) = ready(&sim, &ks);
    assert_eq!(
        (status.as_str(), reason.as_str(), message.as_str()),
        ("Unknown", "Progressing", "Reconciliation in progress")
    );
    let reconciling = FluxObject::new(sim.object(&ks).unwrap())
        .condition("Reconciling")
        .unwrap();
    assert!(
        reconciling
            .message
            .starts_with("Fetching manifests for revision main@sha1:"),
        "{}",
        reconciling.message
    );
    sim.run_until(rec.start + rec.duration);
    assert_eq!(ready(&sim, &ks).1, "HealthCheckFailed");
}

fn repo_path(rel: &str) -> std::path::PathBuf {
    std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("..").join(rel)
}

#[test]
fn demo_scenario_runs_and_reports_its_failures() {
    let path = repo_path("scenarios/demo.yaml");
    let s = simulator::scenario::load_file(&path).unwrap_or_else(|e| panic!("{e}"));
    let mut sim = Simulation::new(&s);
    sim.run();
    let mut rows = Vec::new();
    for o in sim.objects() {
        let f = FluxObject::new(&o);
        let ready = f
            .ready()
            .map(|c| format!("{} {} {}", c.status, c.reason, c.message))
            .unwrap_or_default();
        rows.push(format!(
            "{:<22} {:<28} susp={} gen={:?}/{:?} {ready}",
            f.kind(),
            f.name(),
            f.suspended(),
            f.generation(),
            f.observed_generation()
        ));
        if f.info().unwrap().has_status && !f.suspended() {
            assert!(f.ready().is_some(), "{}", rows.last().unwrap());
        }
    }
    eprintln!("{}", rows.join("\n"));
    let mut again = Simulation::new(&s);
    again.run();
    assert_eq!(again.objects(), sim.objects());
}


#[test]
fn suspend_and_stale_from_the_start_follow_a_first_reconcile() {
    let ks = oref("Kustomization", "flux-system", "infra");
    let hr = oref("HelmRelease", "apps", "podinfo");
    let faults = vec![
        fault(0, ks.clone(), Fault::Stale, None),
        fault(0, hr.clone(), Fault::Suspend, None),
    ];
    let mut sim = Simulation::new(&scenario("2.7", platform(), faults));
    at(&mut sim, 30 * MIN);
    let k = sim.object(&ks).unwrap();
    assert_eq!(
        (
            k["metadata"]["generation"].as_i64(),
            k["status"]["observedGeneration"].as_i64()
        ),
        (Some(2), Some(1))
    );
    assert_eq!(ready(&sim, &ks).0, "True");
    let h = sim.object(&hr).unwrap();
    assert_eq!(h["spec"]["suspend"], true);
    assert_eq!(ready(&sim, &hr).1, "InstallSucceeded");
    assert_eq!(sim.reconciles().iter().filter(|r| r.object == ks).count(), 1);
}
