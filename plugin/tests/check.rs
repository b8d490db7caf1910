//! `kubectl flux-monitor check` against the embedded Kubernetes API: every check passes on a
//! healthy installation and fails on its own problem, the checks file tunes, scopes and
//! disables, JUnit and JSON outputs, and exit codes 0/1/2.

mod common;

use std::collections::{BTreeMap, BTreeSet};

use common::*;
use serde_json::{json, Value};

fn deployment(name: &str, available: bool) -> Value {
    let cond = if available {
        json!({"type": "Available", "status": "True", "reason": "MinimumReplicasAvailable", "message": "Deployment has minimum availability."})
    } else {
        json!({"type": "Available", "status": "False", "reason": "MinimumReplicasUnavailable", "message": "Deployment does not have minimum availability."})
    };
    json!({"apiVersion": "apps/v1", "kind": "Deployment",
        "metadata": {"name": name, "namespace": "flux-system", "labels": {"app.kubernetes.io/part-of": "flux"}},
        "spec": {"replicas": 1, "selector": {"matchLabels": {"app": name}},
                 "template": {"metadata": {"labels": {"app": name}}, "spec": {"containers": [{"name": "manager", "image": "x"}]}}},
        "status": {"replicas": 1, "availableReplicas": if available { 1 } else { 0 }, "conditions": [cond]}})
}

/// A Provider with its Secret (a missing Secret makes the Provider Failing), and an Alert.
fn alert_and_provider() -> [Value; 3] {
    [
        json!({"apiVersion": "v1", "kind": "Secret", "type": "Opaque",
            "metadata": {"name": "slack-webhook", "namespace": "flux-system"},
            "data": {"address": "aHR0cHM6Ly9ob29rcy5zbGFjay5jb20vc2VydmljZXMvVC9CL1g="}}),
        json!({"apiVersion": "notification.toolkit.fluxcd.io/v1beta3", "kind": "Provider",
            "metadata": {"name": "slack", "namespace": "flux-system"},
            "spec": {"type": "slack", "secretRef": {"name": "slack-webhook"}}}),
        json!({"apiVersion": "notification.toolkit.fluxcd.io/v1beta3", "kind": "Alert",
            "metadata": {"name": "on-call", "namespace": "flux-system"},
            "spec": {"providerRef": {"name": "slack"}, "eventSeverity": "error",
                     "eventSources": [{"kind": "Kustomization", "name": "*"}, {"kind": "GitRepository", "name": "*"},
                                      {"kind": "HelmRelease", "name": "*", "namespace": "apps"}]}}),
    ]
}

/// A healthy installation: controllers up, a Ready source and Kustomization, covered by an Alert.
fn seed_healthy(c: &TestCluster) {
    c.create(deployment("source-controller", true));
    c.create(deployment("kustomize-controller", true));
    c.create(git_repository(
        "flux-system",
        "flux-system",
        ready("True", "Succeeded", "stored artifact"),
    ));
    c.create(kustomization(
        "flux-system",
        "apps",
        json!({"kind": "GitRepository", "name": "flux-system"}),
        json!([]),
        ready(
            "True",
            "ReconciliationSucceeded",
            "Applied revision: main@sha1:0123456789abcdef0123456789abcdef01234567",
        ),
    ));
    for o in alert_and_provider() {
        c.create(o);
    }
}

fn report(out: &str) -> Value {
    let v: Value = serde_json::from_str(out).unwrap_or_else(|e| panic!("not JSON ({e}): {out}"));
    assert_eq!(v["kind"], "CheckReport");
    v
}

/// check id -> (result, failing subjects)
fn results(v: &Value) -> BTreeMap<String, (String, BTreeSet<String>)> {
    v["clusters"][0]["checks"]
        .as_array()
        .unwrap()
        .iter()
        .map(|c| {
            let failing = c["cases"]
                .as_array()
                .unwrap()
                .iter()
                .filter(|k| k["passed"] == false)
                .map(|k| k["subject"].as_str().unwrap().to_string())
                .collect();
            (
                c["id"].as_str().unwrap().to_string(),
                (c["result"].as_str().unwrap().to_string(), failing),
            )
        })
        .collect()
}

#[test]
fn healthy_installation_passes_every_check() {
    let c = TestCluster::start();
    seed_healthy(&c);
    let o = c.run(&["check", "-A", "-o", "json"]);
    let v = report(&stdout(&o));
    let r = results(&v);
    assert_eq!(o.status.code(), Some(0), "{r:#?}\n{}", stderr(&o));
    let ids: Vec<&str> = r.keys().map(String::as_str).collect();
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
        assert!(ids.contains(&id), "{id} missing: {ids:?}");
        assert_eq!(r[id].0, "pass", "{id}: {r:#?}");
    }
    assert_eq!(v["clusters"][0]["fluxVersion"], "2.9");
    // The table says the same.
    let t = c.run(&["check", "-A"]);
    assert_eq!(t.status.code(), Some(0));
    let text = stdout(&t);
    assert!(text.starts_with("CHECK"), "{text}");
    assert!(
        text.contains("8 checks (Flux 2.9): 8 passed, 0 failed, 0 could not tell"),
        "{text}"
    );
}

#[test]
fn each_check_fails_on_its_own_problem() {
    let c = TestCluster::start();
    seed_healthy(&c);
    c.create(deployment("helm-controller", false));
    // not-ready: failing since 2025; drift: applied an old revision of a source updated long ago.
    c.create(kustomization(
        "flux-system",
        "broken",
        json!({"kind": "GitRepository", "name": "flux-system"}),
        json!([]),
        ready("False", "BuildFailed", "kustomize build failed"),
    ));
    let mut behind = kustomization(
        "flux-system",
        "behind",
        json!({"kind": "GitRepository", "name": "moved"}),
        json!([]),
        ready(
            "True",
            "ReconciliationSucceeded",
            "Applied revision: main@sha1:old",
        ),
    );
    behind["status"]["lastAppliedRevision"] = json!("main@sha1:old");
    c.create(behind);
    let mut moved = git_repository(
        "flux-system",
        "moved",
        ready("True", "Succeeded", "stored artifact"),
    );
    moved["status"]["artifact"] =
        json!({"revision": "main@sha1:new", "lastUpdateTime": "2025-01-01T10:00:00Z"});
    c.create(moved);
    // stalled, and not covered (HelmRelease in another namespace than the Alert selects).
    c.create(json!({"apiVersion": "helm.toolkit.fluxcd.io/v2", "kind": "HelmRelease",
        "metadata": {"name": "redis", "namespace": "flux-system"},
        "spec": {"interval": "10m", "chart": {"spec": {"chart": "redis", "sourceRef": {"kind": "HelmRepository", "name": "bitnami"}}}},
        "status": {"observedGeneration": 1, "conditions": [ready("False", "RetriesExceeded", "Failed to install after 3 attempt(s)"),
            {"type": "Stalled", "status": "True", "reason": "RetriesExceeded", "message": "Failed to install after 3 attempt(s)", "lastTransitionTime": "2025-01-01T11:00:00Z"}]}}));
    // suspended (just now; the checks file says any time is too long).
    let mut paused = git_repository(
        "flux-system",
        "paused",
        ready("True", "Succeeded", "stored artifact"),
    );
    paused["spec"]["suspend"] = json!(true);
    c.create(paused);
    // stale: the spec changed and the controller never caught up (generation 2, observed 1).
    c.create(git_repository(
        "flux-system",
        "lagging",
        ready("True", "Succeeded", "stored artifact"),
    ));
    c.api
        .store()
        .merge_patch(
            "source.toolkit.fluxcd.io",
            "gitrepositories",
            Some("flux-system"),
            "lagging",
            &json!({"spec": {"url": "https://github.com/example/moved"}}),
            None,
        )
        .unwrap();
    // crd-versions: Kustomizations may still be stored as v1beta1.
    c.api
        .store()
        .merge_patch(
            "apiextensions.k8s.io",
            "customresourcedefinitions",
            None,
            "kustomizations.kustomize.toolkit.fluxcd.io",
            &json!({"status": {"storedVersions": ["v1beta1", "v1"]}}),
            Some("status"),
        )
        .unwrap();
    let checks = c.dir.path().join("checks.yaml");
    std::fs::write(&checks, "apiVersion: flux-monitor.dev/v1alpha1\nkind: Checks\nchecks:\n  suspended: {after: 0s}\n  stale: {factor: 0.00001}\n").unwrap();
    let o = c.run(&[
        "check",
        "-A",
        "-o",
        "json",
        "--checks",
        checks.to_str().unwrap(),
    ]);
    let r = results(&report(&stdout(&o)));
    assert_eq!(o.status.code(), Some(1), "{r:#?}{}", stderr(&o));
    let want: [(&str, &[&str]); 8] = [
        ("controllers", &["Deployment/flux-system/helm-controller"]),
        (
            "crd-versions",
            &["CustomResourceDefinition/kustomizations.kustomize.toolkit.fluxcd.io"],
        ),
        (
            "not-ready",
            &[
                "Kustomization/flux-system/broken",
                "HelmRelease/flux-system/redis",
            ],
        ),
        ("stalled", &["HelmRelease/flux-system/redis"]),
        ("suspended", &["GitRepository/flux-system/paused"]),
        ("stale", &["GitRepository/flux-system/lagging"]),
        ("revision-drift", &["Kustomization/flux-system/behind"]),
        ("notification-coverage", &["HelmRelease/flux-system/redis"]),
    ];
    for (id, subjects) in want {
        let expected: BTreeSet<String> = subjects.iter().map(|s| s.to_string()).collect();
        assert_eq!(r[id], ("fail".to_string(), expected), "{id}");
    }
}

#[test]
fn checks_file_scopes_overrides_and_disables() {
    let c = TestCluster::start();
    seed_healthy(&c);
    c.create(kustomization(
        "apps",
        "web",
        json!({"kind": "GitRepository", "name": "flux-system", "namespace": "flux-system"}),
        json!([]),
        ready("False", "HealthCheckFailed", "health check failed"),
    ));
    c.create(kustomization(
        "flux-system",
        "infra",
        json!({"kind": "GitRepository", "name": "flux-system"}),
        json!([]),
        ready("False", "BuildFailed", "kustomize build failed"),
    ));
    let checks = c.dir.path().join("checks.yaml");
    std::fs::write(
        &checks,
        "checks:\n  notification-coverage: {enabled: false}\n  not-ready:\n    after: 1m\n    scope: {namespaces: [apps]}\noverrides:\n  - scope: {kinds: [ks], selector: \"team in (web)\"}\n    checks: {not-ready: {after: 87600h}}\n",
    )
    .unwrap();
    let o = c.run(&[
        "check",
        "-A",
        "-o",
        "json",
        "--checks",
        checks.to_str().unwrap(),
    ]);
    let r = results(&report(&stdout(&o)));
    assert!(!r.contains_key("notification-coverage"), "disabled: {r:#?}");
    assert_eq!(
        r["not-ready"].1,
        BTreeSet::from(["Kustomization/apps/web".to_string()]),
        "scoped to apps: {r:#?}"
    );
    assert_eq!(o.status.code(), Some(1));
    // The override has no effect on unlabelled objects; with the label it raises `after`.
    c.api
        .store()
        .merge_patch(
            "kustomize.toolkit.fluxcd.io",
            "kustomizations",
            Some("apps"),
            "web",
            &json!({"metadata": {"labels": {"team": "web"}}}),
            None,
        )
        .unwrap();
    let o = c.run(&[
        "check",
        "-A",
        "-o",
        "json",
        "--checks",
        checks.to_str().unwrap(),
    ]);
    let r = results(&report(&stdout(&o)));
    assert_eq!(r["not-ready"].0, "pass", "{r:#?}");
    assert_eq!(o.status.code(), Some(0), "{r:#?}");
}

#[test]
fn junit_report_has_a_suite_per_check_and_a_case_per_object() {
    let c = TestCluster::start();
    seed_healthy(&c);
    c.create(kustomization(
        "flux-system",
        "broken",
        json!({"kind": "GitRepository", "name": "flux-system"}),
        json!([]),
        ready("False", "BuildFailed", "kustomize build failed"),
    ));
    let file = c.dir.path().join("junit.xml");
    let o = c.run(&["check", "-A", "-o", "junit"]);
    assert_eq!(o.status.code(), Some(1));
    let xml = stdout(&o);
    assert!(xml.starts_with("<?xml"), "{xml}");
    assert_eq!(xml.matches("<testsuite ").count(), 8, "{xml}");
    assert_eq!(
        xml.matches("<failure").count(),
        1,
        "not-ready of broken: {xml}"
    );
    assert!(
        xml.contains("<testsuites name=\"kubectl flux-monitor check\" tests=\""),
        "{xml}"
    );
    assert!(
        xml.contains("name=\"Kustomization/flux-system/broken\""),
        "{xml}"
    );
    // --junit writes the same report beside another output.
    let o = c.run(&[
        "check",
        "-A",
        "-o",
        "json",
        "--junit",
        file.to_str().unwrap(),
    ]);
    assert_eq!(o.status.code(), Some(1));
    report(&stdout(&o));
    let written = std::fs::read_to_string(&file).unwrap();
    assert_eq!(written.matches("<failure").count(), 1);
}

#[test]
fn bad_checks_file_exits_2_naming_file_and_line() {
    let c = TestCluster::start();
    let checks = c.dir.path().join("checks.yaml");
    for (text, want) in [
        (
            "checks:\n  not-redy: {after: 10m}\n",
            ":2: unknown check \"not-redy\"",
        ),
        (
            "checks:\n  suspended:\n    after: 10\n",
            ":3: after: invalid duration",
        ),
        (
            "scope:\n  kinds: [Kustomisation]\n",
            ":2: unknown kind \"Kustomisation\"",
        ),
        (
            "checks: {stale: {factr: 2}}\n",
            ":1: unknown field \"factr\"",
        ),
    ] {
        std::fs::write(&checks, text).unwrap();
        let o = c.run(&["check", "--checks", checks.to_str().unwrap()]);
        assert_eq!(o.status.code(), Some(2), "{text}");
        let err = stderr(&o);
        assert!(
            err.contains(&format!("{}{want}", checks.display())),
            "{text}: {err}"
        );
    }
}

#[test]
fn unreachable_cluster_exits_2() {
    let dir = tempfile::tempdir().unwrap();
    let kc = dir.path().join("kubeconfig");
    simulator::apiserver::write_kubeconfig(&kc, "http://127.0.0.1:1", "nowhere").unwrap();
    let o = plugin(&[
        "check",
        "--kubeconfig",
        kc.to_str().unwrap(),
        "--request-timeout",
        "2s",
    ])
    .output()
    .unwrap();
    assert_eq!(o.status.code(), Some(2), "{}", stderr(&o));
    assert!(stderr(&o).contains("127.0.0.1:1"), "{}", stderr(&o));
}
