//! `kubectl flux-monitor status` against the embedded Kubernetes API: verdicts, BLOCKED BY,
//! the json/yaml List, filters, unreadable kinds, several clusters, and exit codes.

mod common;

use common::*;
use serde_json::{json, Value};

fn items(out: &str) -> Vec<Value> {
    let v: Value = serde_json::from_str(out).unwrap_or_else(|e| panic!("not JSON ({e}): {out}"));
    assert_eq!(v["apiVersion"], "v1");
    assert_eq!(v["kind"], "List");
    v["items"].as_array().unwrap().clone()
}

fn item<'a>(items: &'a [Value], kind: &str, name: &str) -> &'a Value {
    items
        .iter()
        .find(|i| i["objectRef"]["kind"] == kind && i["objectRef"]["name"] == name)
        .unwrap_or_else(|| panic!("{kind}/{name} not in {items:?}"))
}

fn line_of<'a>(out: &'a str, name: &str) -> &'a str {
    out.lines()
        .find(|l| l.split_whitespace().any(|w| w == name))
        .unwrap_or_else(|| panic!("{name} not in\n{out}"))
}

#[test]
fn table_shows_verdicts_blocked_by_and_summary() {
    let c = TestCluster::start();
    seed_demo(&c);
    let o = c.run(&["status", "-A"]);
    let out = stdout(&o);
    assert_eq!(
        o.status.code(),
        Some(1),
        "problems found\n{out}{}",
        stderr(&o)
    );
    let header = out.lines().next().unwrap();
    assert_eq!(
        header
            .split("   ")
            .map(str::trim)
            .filter(|s| !s.is_empty())
            .collect::<Vec<_>>(),
        [
            "NAMESPACE",
            "NAME",
            "VERDICT",
            "SINCE",
            "MESSAGE",
            "BLOCKED BY"
        ]
    );
    let apps = line_of(&out, "Kustomization/apps");
    assert!(apps.starts_with("flux-system"), "{apps}");
    assert!(apps.contains("Failing"), "{apps}");
    assert!(
        apps.ends_with("GitRepository/flux-system/flux-system"),
        "{apps}"
    );
    assert!(line_of(&out, "Kustomization/infra").ends_with("GitRepository/flux-system/flux-system"));
    assert!(line_of(&out, "HelmRelease/podinfo").contains("Suspended"));
    assert!(line_of(&out, "GitRepository/platform").contains("Ready"));
    let git = line_of(&out, "GitRepository/flux-system");
    assert!(
        git.contains("Failing") && !git.ends_with("flux-system/flux-system"),
        "a root is not blocked by itself: {git}"
    );
    assert!(out.contains("\n3 Ready, 3 Failing, 1 Suspended\n"), "{out}");
    assert!(
        out.contains("2 objects blocked by GitRepository/flux-system/flux-system (Failing: failed to checkout"),
        "{out}"
    );
    assert_eq!(
        stderr(&o),
        "",
        "nothing on stderr when everything could be read"
    );
}

#[test]
fn json_is_a_list_with_object_refs_and_root_causes() {
    let c = TestCluster::start();
    seed_demo(&c);
    let o = c.run(&["status", "-A", "-o", "json"]);
    assert_eq!(o.status.code(), Some(1));
    let items = items(&stdout(&o));
    assert_eq!(items.len(), 7);
    let apps = item(&items, "Kustomization", "apps");
    assert_eq!(
        apps["objectRef"],
        json!({"apiVersion": "kustomize.toolkit.fluxcd.io/v1", "kind": "Kustomization", "namespace": "flux-system", "name": "apps"})
    );
    assert_eq!(apps["verdict"], "Failing");
    assert_eq!(apps["reason"], "DependencyNotReady");
    assert_eq!(apps["since"], "2025-01-01T11:00:00Z");
    assert_eq!(apps["interval"], "10m0s");
    assert_eq!(apps["rootCause"]["kind"], "GitRepository");
    assert_eq!(apps["rootCause"]["namespace"], "flux-system");
    assert_eq!(apps["rootCause"]["name"], "flux-system");
    assert_eq!(apps["rootCause"]["verdict"], "Failing");
    assert_eq!(apps["rootCause"]["reason"], "GitOperationFailed");
    let hr = item(&items, "HelmRelease", "podinfo");
    assert_eq!(hr["verdict"], "Suspended");
    assert_eq!(hr["suspended"], true);
    assert_eq!(hr["revision"], "6.7.0");
    assert!(
        hr["since"].is_string(),
        "suspended since the managedFields time of spec.suspend: {hr}"
    );
    assert_eq!(
        item(&items, "GitRepository", "platform")["rootCause"],
        Value::Null
    );
}

#[test]
fn yaml_is_the_same_list() {
    let c = TestCluster::start();
    seed_demo(&c);
    let o = c.run(&["status", "-A", "-o", "yaml"]);
    let out = stdout(&o);
    assert!(out.starts_with("apiVersion: v1\n"), "{out}");
    assert!(out.contains("kind: List"));
    assert!(out.contains("verdict: Suspended"));
    assert!(out.contains("rootCause:"));
}

#[test]
fn wide_adds_revision_interval_suspended() {
    let c = TestCluster::start();
    seed_demo(&c);
    let o = c.run(&["status", "-A", "-o", "wide"]);
    let out = stdout(&o);
    let header = out.lines().next().unwrap();
    assert!(
        header.ends_with("REVISION   INTERVAL   SUSPENDED") || header.contains("REVISION"),
        "{header}"
    );
    assert!(line_of(&out, "HelmRelease/podinfo").ends_with("true"));
    assert!(line_of(&out, "HelmRelease/podinfo").contains("6.7.0"));
}

#[test]
fn healthy_namespace_exits_zero_without_namespace_column() {
    let c = TestCluster::start();
    c.create(git_repository(
        "apps",
        "ok",
        ready("True", "Succeeded", "stored artifact"),
    ));
    let o = c.run(&["status", "-n", "apps"]);
    let out = stdout(&o);
    assert_eq!(o.status.code(), Some(0), "{out}{}", stderr(&o));
    assert!(
        out.starts_with("NAME "),
        "no NAMESPACE column without -A: {out}"
    );
    assert!(out.contains("GitRepository/ok"));
    assert!(out.trim_end().ends_with("1 Ready"));
}

#[test]
fn root_cause_outside_the_namespace_and_missing_upstreams() {
    let c = TestCluster::start();
    seed_demo(&c);
    c.create(kustomization(
        "apps",
        "frontend",
        json!({"kind": "GitRepository", "name": "flux-system", "namespace": "flux-system"}),
        json!([]),
        ready("False", "ArtifactFailed", "Source artifact not found"),
    ));
    c.create(kustomization(
        "apps",
        "orphan",
        json!({"kind": "GitRepository", "name": "gone"}),
        json!([]),
        ready(
            "False",
            "ArtifactFailed",
            "GitRepository 'apps/gone' not found",
        ),
    ));
    let o = c.run(&["status", "-n", "apps", "-o", "json"]);
    let items = items(&stdout(&o));
    let frontend = item(&items, "Kustomization", "frontend");
    assert_eq!(
        frontend["rootCause"]["name"], "flux-system",
        "upstream in another namespace is fetched: {frontend}"
    );
    assert_eq!(frontend["rootCause"]["namespace"], "flux-system");
    let orphan = item(&items, "Kustomization", "orphan");
    assert_eq!(orphan["rootCause"]["verdict"], "Missing");
    assert_eq!(orphan["rootCause"]["name"], "gone");
    assert!(items.iter().all(|i| i["objectRef"]["namespace"] == "apps"));
}

#[test]
fn kind_filter_and_problems_only() {
    let c = TestCluster::start();
    seed_demo(&c);
    let o = c.run(&["status", "-A", "--kind", "ks", "--problems"]);
    let out = stdout(&o);
    assert_eq!(o.status.code(), Some(1));
    let rows: Vec<&str> = out.lines().skip(1).take_while(|l| !l.is_empty()).collect();
    assert_eq!(rows.len(), 2, "{out}");
    assert!(rows
        .iter()
        .all(|r| r.contains("Kustomization/") && r.contains("Failing")));
    assert!(
        out.contains("1 Ready, 2 Failing"),
        "summary counts every Kustomization in scope: {out}"
    );
    assert!(
        line_of(&out, "Kustomization/apps").ends_with("GitRepository/flux-system/flux-system"),
        "root cause found through a kind not listed"
    );

    let o = c.run(&["status", "-A", "--kind", "deployments"]);
    assert_eq!(o.status.code(), Some(2));
    assert!(
        stderr(&o).starts_with("error: unknown kind \"deployments\""),
        "{}",
        stderr(&o)
    );
}

#[test]
fn a_forbidden_kind_is_one_warning_and_others_are_shown() {
    let c = TestCluster::start();
    c.create(git_repository(
        "flux-system",
        "ok",
        ready("True", "Succeeded", "stored artifact"),
    ));
    c.api.deny("helmreleases", 403);
    let o = c.run(&["status", "-A"]);
    let err = stderr(&o);
    assert_eq!(err.lines().count(), 1, "one warning line: {err}");
    assert!(
        err.starts_with("warning: cannot read HelmRelease (helmreleases.helm.toolkit.fluxcd.io)"),
        "{err}"
    );
    assert!(err.contains("403"), "{err}");
    assert!(stdout(&o).contains("GitRepository/ok"));
    assert_eq!(
        o.status.code(),
        Some(1),
        "documented: health not confirmed when a kind is unreadable"
    );
}

#[test]
fn a_kind_answering_404_is_a_warning_and_never_a_missing_root_cause() {
    let c = TestCluster::start();
    let source = json!({"kind": "GitRepository", "name": "repo"});
    c.create(git_repository(
        "flux-system",
        "repo",
        ready("False", "GitOperationFailed", "failed to checkout"),
    ));
    c.create(kustomization(
        "flux-system",
        "apps",
        source,
        json!([]),
        ready("False", "ArtifactFailed", "Source artifact not found"),
    ));
    c.api.deny("gitrepositories", 404);
    let o = c.run(&["status", "-A", "-o", "json"]);
    let err = stderr(&o);
    assert!(
        err.starts_with("warning: cannot read GitRepository"),
        "a 404 on list is a warning, as a 403 is: {err}"
    );
    assert_eq!(o.status.code(), Some(1), "{err}");
    let out = stdout(&o);
    assert!(out.contains("Kustomization"), "{out}");
    assert!(
        !out.contains("does not exist"),
        "an unreadable kind is not a missing object: {out}"
    );
}

#[test]
fn no_flux_installed_exits_two() {
    let runtime = tokio::runtime::Runtime::new().unwrap();
    let api = simulator::apiserver::ApiServer::new(Vec::new());
    let running = runtime
        .block_on(api.serve("127.0.0.1:0".parse().unwrap()))
        .unwrap();
    let dir = tempfile::tempdir().unwrap();
    let kc = dir.path().join("kubeconfig");
    simulator::apiserver::write_kubeconfig(&kc, &running.url, "bare").unwrap();
    let o = plugin(&["status", "-A", "--kubeconfig", kc.to_str().unwrap()])
        .output()
        .unwrap();
    assert_eq!(o.status.code(), Some(2));
    assert_eq!(
        stderr(&o),
        "error: the Kubernetes API serves no Flux kinds (is Flux installed?)\n"
    );
    runtime.block_on(running.shutdown());
}

#[test]
fn several_contexts_one_unreachable() {
    let c = TestCluster::start();
    seed_demo(&c);
    let closed = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let dead = format!("http://{}", closed.local_addr().unwrap());
    drop(closed);
    let kc = c.dir.path().join("multi");
    std::fs::write(
        &kc,
        format!(
            "apiVersion: v1\nkind: Config\nclusters:\n- name: live\n  cluster:\n    server: {}\n- name: dead\n  cluster:\n    server: {dead}\n\
             users:\n- name: u\n  user: {{}}\ncontexts:\n- name: live\n  context:\n    cluster: live\n    user: u\n- name: dead\n  context:\n    cluster: dead\n    user: u\n\
             current-context: live\n",
            c.url
        ),
    )
    .unwrap();
    for args in [vec!["--all-contexts"], vec!["--context", "live,dead"]] {
        let mut cmd = plugin(&["status", "-A", "--request-timeout", "3s"]);
        cmd.args(&args).arg("--kubeconfig").arg(&kc);
        let o = cmd.output().unwrap();
        let out = stdout(&o);
        assert_eq!(o.status.code(), Some(1), "{out}{}", stderr(&o));
        assert!(out.starts_with("CLUSTER   NAMESPACE"), "{out}");
        assert!(line_of(&out, "Kustomization/apps").starts_with("live"));
        let err = stderr(&o);
        assert_eq!(err.lines().count(), 1, "{err}");
        assert!(err.starts_with(&format!("error: context dead: cannot reach the Kubernetes API at {dead}: connection refused")), "{err}");
        assert!(
            out.contains("blocked by GitRepository/flux-system/flux-system in live"),
            "{out}"
        );
    }
}

#[test]
fn json_reports_the_cluster_of_each_item() {
    let c = TestCluster::start();
    seed_demo(&c);
    let o = c.run(&["status", "-A", "-o", "json", "--context", "sim"]);
    let items = items(&stdout(&o));
    assert!(items.iter().all(|i| i["cluster"] == "sim"));
}
