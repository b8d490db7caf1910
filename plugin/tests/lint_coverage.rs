//! `kubectl flux-monitor lint --coverage`: per Flux object, which alert rule fires when it
//! fails, is suspended or goes stale and which receiver that reaches, which Flux Alert and
//! Provider notify, and which objects nobody hears about; from manifests and from a cluster,
//! as a table and as JSON.

mod common;

use std::path::{Path, PathBuf};

use common::{plugin, stderr, stdout};
use serde_json::{json, Value};

/// Flux objects: a Kustomization and a GitRepository a Flux Alert watches, a HelmRelease none does.
fn objects() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/fixtures/lint/coverage/objects.yaml")
}

fn workspace() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .parent()
        .unwrap()
        .to_path_buf()
}

/// The project's own pack for a Flux version, written to `dir`.
fn pack(dir: &Path, version: &str) -> PathBuf {
    let o = plugin(&["rules", "--flux-version", version])
        .output()
        .unwrap();
    assert_eq!(o.status.code(), Some(0), "{}", stderr(&o));
    let file = dir.join("rules.yaml");
    std::fs::write(&file, &o.stdout).unwrap();
    file
}

fn row<'a>(table: &'a str, object: &str) -> &'a str {
    table
        .lines()
        .find(|l| l.starts_with(object))
        .unwrap_or_else(|| panic!("no row {object}:\n{table}"))
}

#[test]
fn the_projects_pack_covers_every_object_and_names_the_receivers() {
    let tmp = tempfile::tempdir().unwrap();
    let objects = objects();
    let rules = pack(tmp.path(), "2.7");
    let am = workspace().join("scenarios/library/alertmanager.yaml");
    let o = plugin(&[
        "lint",
        "--coverage",
        objects.to_str().unwrap(),
        "--rules",
        rules.to_str().unwrap(),
        "--alertmanager-config",
        am.to_str().unwrap(),
        "--flux-version",
        "2.7",
    ])
    .output()
    .unwrap();
    let table = stdout(&o);
    assert_eq!(
        o.status.code(),
        Some(0),
        "everyone is heard: {table}{}",
        stderr(&o)
    );
    let ks = row(&table, "Kustomization/flux-system/apps");
    assert!(
        ks.contains("FluxReconciliationFailure -> flux-critical"),
        "{ks}"
    );
    assert!(
        ks.contains("FluxResourceSuspended -> flux-warnings"),
        "{ks}"
    );
    assert!(ks.contains("FluxReconciliationStale"), "{ks}");
    assert!(ks.contains("flux-system/on-call -> slack (slack)"), "{ks}");
    let git = row(&table, "GitRepository/flux-system/flux-system");
    assert!(git.contains("FluxSourceFetchFailure"), "{git}");
    let hr = row(&table, "HelmRelease/apps/podinfo");
    assert!(
        hr.contains("FluxReconciliationFailure") && hr.trim_end().ends_with('-'),
        "no Flux Alert for HelmReleases: {hr}"
    );
    assert!(
        table.contains("3 object(s), 0 nobody hears about"),
        "{table}"
    );
}

#[test]
fn the_legacy_rules_leave_objects_unheard_and_json_says_which() {
    let objects = objects();
    let legacy = workspace().join("scenarios/examples/legacy");
    let run = |version: &str| -> (i32, Value) {
        let o = plugin(&[
            "lint",
            "--coverage",
            objects.to_str().unwrap(),
            "--rules",
            legacy.join("prometheus-rules.yaml").to_str().unwrap(),
            "--alertmanager-config",
            legacy.join("alertmanager.yaml").to_str().unwrap(),
            "--flux-version",
            version,
            "-o",
            "json",
        ])
        .output()
        .unwrap();
        (
            o.status.code().unwrap(),
            serde_json::from_str(&stdout(&o))
                .unwrap_or_else(|e| panic!("{e}: {}{}", stdout(&o), stderr(&o))),
        )
    };
    let object = |v: &Value, kind: &str| {
        v["objects"]
            .as_array()
            .unwrap()
            .iter()
            .find(|o| o["kind"] == kind)
            .cloned()
            .unwrap()
    };
    // Flux 2.4 still has the gauges, but the failure rule's status="Deleted" join keeps it
    // silent and helm-controller dropped them in 2.2: the HelmRelease is heard by no one.
    let (code, v) = run("2.4");
    assert_eq!(code, 1, "{v:#}");
    assert_eq!(v["unheard"], 1, "{v:#}");
    let hr = object(&v, "HelmRelease");
    assert_eq!(hr["unheard"], true);
    assert!(hr["failing"]["rules"].as_array().unwrap().is_empty());
    let ks = object(&v, "Kustomization");
    assert!(
        ks["failing"]["rules"].as_array().unwrap().is_empty(),
        "the classic failure rule never fires: {ks:#}"
    );
    assert_eq!(ks["notifications"][0]["provider"], "slack");
    assert_eq!(
        ks["suspended"]["rules"][0]["alert"],
        "FluxResourceSuspended"
    );
    let git = object(&v, "GitRepository");
    let receivers = git["failing"]["rules"][0]["receivers"][0].as_str().unwrap();
    assert!(
        receivers.ends_with(": default, platform-slack") || receivers.contains("default"),
        "{git:#}"
    );
    // On 2.7 the gauges are gone: no rule fires for anything.
    let (_, v) = run("2.7");
    for o in v["objects"].as_array().unwrap() {
        for state in ["failing", "suspended", "stale"] {
            assert!(o[state]["rules"].as_array().unwrap().is_empty(), "{o:#}");
        }
    }
}

#[test]
fn objects_come_from_the_cluster_when_no_manifests_are_given() {
    let c = common::TestCluster::start();
    c.create(common::git_repository(
        "flux-system",
        "fleet",
        common::ready("True", "Succeeded", "stored artifact"),
    ));
    c.create(common::kustomization(
        "flux-system",
        "infra",
        json!({"kind": "GitRepository", "name": "fleet"}),
        json!([]),
        common::ready("True", "ReconciliationSucceeded", "Applied revision"),
    ));
    let tmp = tempfile::tempdir().unwrap();
    let rules = pack(tmp.path(), "2.7");
    let o = c.run(&[
        "lint",
        "--coverage",
        "--rules",
        rules.to_str().unwrap(),
        "-o",
        "json",
    ]);
    let v: Value = serde_json::from_str(&stdout(&o))
        .unwrap_or_else(|e| panic!("{e}: {}{}", stdout(&o), stderr(&o)));
    let names: Vec<String> = v["objects"]
        .as_array()
        .unwrap()
        .iter()
        .map(|o| {
            format!(
                "{}/{}",
                o["kind"].as_str().unwrap(),
                o["name"].as_str().unwrap()
            )
        })
        .collect();
    assert!(
        names.contains(&"Kustomization/infra".to_string())
            && names.contains(&"GitRepository/fleet".to_string()),
        "{names:?}"
    );
    let ks = v["objects"]
        .as_array()
        .unwrap()
        .iter()
        .find(|o| o["name"] == "infra")
        .unwrap();
    assert_eq!(
        ks["failing"]["rules"][0]["alert"], "FluxReconciliationFailure",
        "{ks:#}"
    );
    // No Flux Alert in the cluster: heard through the rules only.
    assert!(ks["notifications"].as_array().unwrap().is_empty());
    assert_eq!(o.status.code(), Some(0), "{}", stderr(&o));
}
