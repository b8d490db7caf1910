//! `kubectl flux-monitor lint` on small fixtures: every rule has a true positive (a `bad/`
//! directory whose lines marked `# <- FMxxx` must be reported, at that FILE:LINE) and a true
//! negative (a `good/` directory, a near miss, where the rule must stay silent). Plus the legacy
//! example of scenarios/examples, exit codes and `--explain`.

mod common;

use std::collections::BTreeSet;
use std::path::{Path, PathBuf};

use common::{plugin, stderr, stdout};
use serde_json::Value;

fn fixtures() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/fixtures/lint")
}

fn workspace() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .parent()
        .unwrap()
        .to_path_buf()
}

/// Runs lint -o json on `args`; returns (exit code, findings).
fn lint_json(args: &[&str]) -> (i32, Vec<Value>) {
    let mut all = vec!["lint", "-o", "json"];
    all.extend(args);
    let o = plugin(&all).output().unwrap();
    let out = stdout(&o);
    let v: Value = serde_json::from_str(&out)
        .unwrap_or_else(|e| panic!("not JSON ({e}): {out}\n{}", stderr(&o)));
    (
        o.status.code().unwrap(),
        v["findings"].as_array().unwrap().clone(),
    )
}

/// `(file, line)` of every `# <- ID` mark under `dir`.
fn marks(dir: &Path, id: &str) -> BTreeSet<(String, u64)> {
    let mut out = BTreeSet::new();
    for entry in std::fs::read_dir(dir).unwrap() {
        let path = entry.unwrap().path();
        let text = std::fs::read_to_string(&path).unwrap();
        for (i, line) in text.lines().enumerate() {
            if line.contains(&format!("# <- {id}")) {
                out.insert((path.display().to_string(), i as u64 + 1));
            }
        }
    }
    out
}

/// The rule's findings in its `bad` fixture sit exactly on the marked lines; its `good` fixture has none.
fn check_rule(id: &str) {
    let bad = fixtures().join(id).join("bad");
    let good = fixtures().join(id).join("good");
    let want = marks(&bad, id);
    assert!(
        !want.is_empty(),
        "{id}: the bad fixture marks no line with `# <- {id}`"
    );
    let (code, findings) = lint_json(&[bad.to_str().unwrap(), "--flux-version", "2.7"]);
    let got: BTreeSet<(String, u64)> = findings
        .iter()
        .filter(|f| f["rule"] == id)
        .map(|f| {
            (
                f["file"].as_str().unwrap().to_string(),
                f["line"].as_u64().unwrap(),
            )
        })
        .collect();
    assert_eq!(
        got, want,
        "{id}: true positives at the marked lines; all findings: {findings:#?}"
    );
    for f in findings.iter().filter(|f| f["rule"] == id) {
        assert!(
            !f["fix"].as_str().unwrap().is_empty(),
            "{id}: a fix is given"
        );
        assert!(["error", "warning", "info"].contains(&f["severity"].as_str().unwrap()));
    }
    let severity = findings.iter().find(|f| f["rule"] == id).unwrap()["severity"].clone();
    if severity != "info" {
        assert_eq!(code, 1, "{id}: findings at warning or above exit 1");
    }
    let (_, findings) = lint_json(&[good.to_str().unwrap(), "--flux-version", "2.7"]);
    let wrong: Vec<&Value> = findings.iter().filter(|f| f["rule"] == id).collect();
    assert!(wrong.is_empty(), "{id}: true negative reported: {wrong:#?}");
}

macro_rules! rule_tests {
    ($($name:ident => $id:literal),* $(,)?) => {
        $(#[test] fn $name() { check_rule($id); })*
        const TESTED: &[&str] = &[$($id),*];
    };
}

rule_tests! {
    fm001_promql_does_not_parse => "FM001",
    fm002_removed_metric => "FM002",
    fm003_unknown_metric => "FM003",
    fm004_wrong_label => "FM004",
    fm005_wrong_label_value => "FM005",
    fm006_for_missing_or_short => "FM006",
    fm007_missing_severity => "FM007",
    fm008_missing_summary => "FM008",
    fm009_missing_runbook => "FM009",
    fm010_duplicate_alert => "FM010",
    fm011_duplicate_group => "FM011",
    fm012_rate_over_gauge => "FM012",
    fm013_time_minus_non_timestamp => "FM013",
    fm014_annotation_reads_dropped_label => "FM014",
    fm015_unreachable_histogram_threshold => "FM015",
    fm016_unscoped_controller_runtime => "FM016",
    fm017_absent_over_several_targets => "FM017",
    fm018_selector_matches_no_flux_target => "FM018",
    fm019_metric_dropped_at_scrape => "FM019",
    fm020_match_written_as_regex => "FM020",
    fm021_invalid_matcher => "FM021",
    fm022_shadowed_route => "FM022",
    fm023_default_receiver_only => "FM023",
    fm024_reaches_no_one => "FM024",
    fm025_unknown_alertmanager_key => "FM025",
    fm026_route_matchers_never_hold => "FM026",
    fm030_dangling_provider_ref => "FM030",
    fm031_unknown_event_kind => "FM031",
    fm032_name_glob => "FM032",
    fm033_bad_regex => "FM033",
    fm034_filters_hide_errors => "FM034",
    fm035_unknown_provider_type => "FM035",
    fm036_provider_without_address => "FM036",
    fm037_event_source_namespace_glob => "FM037",
    fm038_provider_field_ignored => "FM038",
    fm039_list_pattern_is_a_reason => "FM039",
    fm040_monitor_scrapes_no_flux_controller => "FM040",
    fm041_monitor_scrapes_non_metrics_port => "FM041",
}

#[test]
fn every_documented_rule_has_a_test() {
    let o = plugin(&["lint", "--explain"]).output().unwrap();
    assert_eq!(o.status.code(), Some(0));
    let listed: Vec<String> = stdout(&o)
        .lines()
        .filter_map(|l| l.split_whitespace().next())
        .filter(|w| w.starts_with("FM"))
        .map(str::to_string)
        .collect();
    assert!(listed.len() >= 20, "{listed:?}");
    for id in &listed {
        assert!(TESTED.contains(&id.as_str()), "{id} has no test");
        let e = plugin(&["lint", "--explain", id]).output().unwrap();
        let text = stdout(&e);
        assert!(
            text.starts_with(id)
                && text.contains("Why:")
                && text.contains("Evidence:")
                && text.contains("Example:")
                && text.contains("Fix:"),
            "{text}"
        );
    }
    assert_eq!(
        TESTED.len(),
        listed.len(),
        "a test for a rule that is not documented"
    );
    let unknown = plugin(&["lint", "--explain", "FM999"]).output().unwrap();
    assert_eq!(unknown.status.code(), Some(2));
}

#[test]
fn legacy_example_reports_removed_metrics_and_the_match_regex_route() {
    let dir = workspace().join("scenarios/examples/legacy");
    let o = plugin(&["lint", dir.to_str().unwrap(), "--flux-version", "2.7"])
        .output()
        .unwrap();
    let text = stdout(&o);
    assert_eq!(o.status.code(), Some(1), "{text}{}", stderr(&o));
    let rules = dir.join("prometheus-rules.yaml").display().to_string();
    let am = dir.join("alertmanager.yaml").display().to_string();
    let source = std::fs::read_to_string(dir.join("prometheus-rules.yaml")).unwrap();
    // A removed gauge is reported once per rule, at the first line that names it (the
    // classic failure rule names gotk_reconcile_condition twice: one finding).
    let rule_starts: Vec<usize> = source
        .lines()
        .enumerate()
        .filter(|(_, l)| {
            l.trim_start().starts_with("- alert:") || l.trim_start().starts_with("- record:")
        })
        .map(|(i, _)| i + 1)
        .collect();
    let removed_lines: Vec<usize> = source
        .lines()
        .enumerate()
        .filter(|(_, l)| {
            l.contains("gotk_reconcile_condition{") || l.contains("gotk_suspend_status ==")
        })
        .map(|(i, _)| i + 1)
        .collect();
    let first_per_rule: BTreeSet<usize> = removed_lines
        .iter()
        .map(|l| {
            let start = rule_starts
                .iter()
                .filter(|s| *s < l)
                .max()
                .copied()
                .unwrap_or(0);
            removed_lines
                .iter()
                .copied()
                .filter(|r| *r > start)
                .min()
                .unwrap()
        })
        .collect();
    assert!(first_per_rule.len() >= 5, "{first_per_rule:?}");
    let fm002: Vec<&str> = text.lines().filter(|l| l.contains(" FM002: ")).collect();
    for line in &first_per_rule {
        let loc = format!("{rules}:{line}: error FM002: ");
        assert!(text.contains(&loc), "no FM002 at {loc}\n{text}");
    }
    assert_eq!(
        fm002.len(),
        first_per_rule.len(),
        "one FM002 per rule and metric: {fm002:#?}"
    );
    for name in [
        "FluxReconciliationFailure",
        "FluxResourceSuspended",
        "FluxSourceFetchFailure",
        "FluxHelmRepoUnavailable",
    ] {
        assert!(
            text.lines()
                .any(|l| l.contains("FM002") && l.contains(name)),
            "{name}\n{text}"
        );
    }
    let am_source = std::fs::read_to_string(dir.join("alertmanager.yaml")).unwrap();
    let match_line = am_source
        .lines()
        .position(|l| l.contains("alertname: '=~\"Flux.*\"'"))
        .unwrap()
        + 1;
    assert!(
        text.contains(&format!("{am}:{match_line}: error FM020: ")),
        "{text}"
    );
    // Consequence: the Flux alerts reach only the default receiver.
    assert!(
        text.lines()
            .any(|l| l.contains("FM023") && l.contains("FluxReconciliationFailure")),
        "{text}"
    );
    // The name glob of flux-notifications.yaml.
    assert!(
        text.lines()
            .any(|l| l.contains("FM032") && l.contains("apps-*")),
        "{text}"
    );
}

#[test]
fn legacy_metrics_are_fine_for_flux_2_4_except_helm_releases() {
    let dir = workspace().join("scenarios/examples/legacy");
    let (_, findings) = lint_json(&[dir.to_str().unwrap(), "--flux-version", "2.4"]);
    assert!(
        !findings.iter().any(|f| f["rule"] == "FM002"),
        "{findings:#?}"
    );
    let tmp = tempfile::tempdir().unwrap();
    let file = tmp.path().join("rules.yaml");
    std::fs::write(
        &file,
        "groups:\n- name: f\n  rules:\n  - alert: FluxHelmReleaseNotReady\n    expr: gotk_reconcile_condition{kind=\"HelmRelease\", type=\"Ready\", status=\"False\"} == 1\n    for: 10m\n",
    )
    .unwrap();
    let (_, findings) = lint_json(&[file.to_str().unwrap(), "--flux-version", "2.4"]);
    assert!(
        findings
            .iter()
            .any(|f| f["rule"] == "FM002"
                && f["message"].as_str().unwrap().contains("helm-controller")),
        "{findings:#?}"
    );
}

#[test]
fn explicit_inputs_and_clean_exit() {
    let good = fixtures().join("FM023/good");
    let o = plugin(&[
        "lint",
        "--rules",
        good.join("rules.yaml").to_str().unwrap(),
        "--alertmanager-config",
        good.join("alertmanager.yaml").to_str().unwrap(),
        "--flux-version",
        "2.7",
    ])
    .output()
    .unwrap();
    assert_eq!(o.status.code(), Some(0), "{}{}", stdout(&o), stderr(&o));
    assert!(
        stdout(&o).contains("No findings (Flux 2.7)."),
        "{}",
        stdout(&o)
    );
    // info findings fail only when asked.
    let info = fixtures().join("FM009/bad");
    assert_eq!(
        plugin(&["lint", info.to_str().unwrap(), "--flux-version", "2.7"])
            .output()
            .unwrap()
            .status
            .code(),
        Some(0)
    );
    let strict = plugin(&[
        "lint",
        info.to_str().unwrap(),
        "--flux-version",
        "2.7",
        "--fail-on",
        "info",
    ])
    .output()
    .unwrap();
    assert_eq!(strict.status.code(), Some(1));
}

#[test]
fn unreadable_or_invalid_input_exits_2_naming_file_and_line() {
    let tmp = tempfile::tempdir().unwrap();
    let bad = tmp.path().join("rules.yaml");
    std::fs::write(&bad, "groups:\n  - name: flux\n    rules: [\n").unwrap();
    let o = plugin(&["lint", bad.to_str().unwrap(), "--flux-version", "2.7"])
        .output()
        .unwrap();
    assert_eq!(o.status.code(), Some(2));
    let err = stderr(&o);
    assert!(
        err.starts_with(&format!("error: {}:", bad.display())),
        "{err}"
    );
    assert_eq!(err.trim_end().lines().count(), 1, "one clear line: {err}");
    let missing = plugin(&["lint", "/nonexistent/rules.yaml"])
        .output()
        .unwrap();
    assert_eq!(missing.status.code(), Some(2));
    assert!(stderr(&missing).contains("/nonexistent/rules.yaml"));
    let not_am = plugin(&[
        "lint",
        "--alertmanager-config",
        fixtures().join("FM001/good/rules.yaml").to_str().unwrap(),
        "--flux-version",
        "2.7",
    ])
    .output()
    .unwrap();
    assert_eq!(not_am.status.code(), Some(2), "{}", stderr(&not_am));
    // No files and no cluster: nothing to lint, could not tell.
    let nothing = plugin(&["lint"]).output().unwrap();
    assert_eq!(nothing.status.code(), Some(2));
}

#[test]
fn flux_alerts_and_providers_from_the_cluster_when_no_manifests() {
    let c = common::TestCluster::start();
    c.create(serde_json::json!({"apiVersion": "notification.toolkit.fluxcd.io/v1beta3", "kind": "Alert",
        "metadata": {"name": "on-call", "namespace": "flux-system"},
        "spec": {"providerRef": {"name": "missing"}, "eventSources": [{"kind": "Kustomization", "name": "apps-*"}]}}));
    let rules = fixtures().join("FM001/good/rules.yaml");
    let o = c.run(&["lint", rules.to_str().unwrap(), "-o", "json"]);
    let v: Value = serde_json::from_str(&stdout(&o))
        .unwrap_or_else(|e| panic!("{e}: {}{}", stdout(&o), stderr(&o)));
    assert_eq!(v["fluxVersion"], "2.9", "version from the cluster");
    let findings = v["findings"].as_array().unwrap();
    let ids: BTreeSet<&str> = findings.iter().filter_map(|f| f["rule"].as_str()).collect();
    assert!(
        ids.contains("FM030") && ids.contains("FM032"),
        "{findings:#?}"
    );
    let loc = findings.iter().find(|f| f["rule"] == "FM030").unwrap();
    assert_eq!(loc["file"], "sim:Alert/flux-system/on-call");
}

#[test]
fn the_projects_own_rule_pack_lints_clean_for_2_4_and_the_newest_flux() {
    let am = workspace().join("scenarios/library/alertmanager.yaml");
    let tmp = tempfile::tempdir().unwrap();
    for (v, source) in [
        ("2.4", "kube-state-metrics"),
        ("2.7", "kube-state-metrics"),
        ("2.9", "kube-state-metrics"),
        ("2.7", "flux-operator"),
        ("2.9", "flux-operator"),
    ] {
        let o = plugin(&["rules", "--flux-version", v, "--metrics-source", source])
            .output()
            .unwrap();
        assert_eq!(
            o.status.code(),
            Some(0),
            "rules --flux-version {v}: {}",
            stderr(&o)
        );
        let file = tmp.path().join(format!("rules-{v}-{source}.yaml"));
        std::fs::write(&file, &o.stdout).unwrap();
        let mut args = vec![file.to_str().unwrap(), "--flux-version", v];
        if am.exists() {
            args.extend(["--alertmanager-config", am.to_str().unwrap()]);
        }
        let (code, findings) = lint_json(&args);
        assert!(findings.is_empty(), "Flux {v}: {findings:#?}");
        assert_eq!(code, 0);
    }
}

/// The Flux Operator capitalises `suspended` (True/False) where kube-state-metrics' config
/// prints Go's true/false: a rule that mixes them up never matches, and lint says so.
#[test]
fn suspended_values_follow_the_metrics_source() {
    let tmp = tempfile::tempdir().unwrap();
    let file = tmp.path().join("rules.yaml");
    std::fs::write(
        &file,
        "groups:\n- name: flux\n  rules:\n  - alert: FluxSuspended\n    expr: flux_resource_info{suspended=\"true\"} == 1\n    labels: {severity: warning}\n    annotations: {summary: \"{{ $labels.kind }} {{ $labels.name }} suspended\", description: \"{{ $labels.exported_namespace }}/{{ $labels.name }}\"}\n  - alert: KsmSuspended\n    expr: gotk_resource_info{suspended=\"True\"} == 1\n    labels: {severity: warning}\n    annotations: {summary: \"{{ $labels.customresource_kind }} {{ $labels.name }} suspended\", description: \"{{ $labels.exported_namespace }}/{{ $labels.name }}\"}\n",
    )
    .unwrap();
    let (_, findings) = lint_json(&[file.to_str().unwrap(), "--flux-version", "2.9"]);
    let fm005: Vec<&Value> = findings.iter().filter(|f| f["rule"] == "FM005").collect();
    assert_eq!(fm005.len(), 2, "{findings:#?}");
    assert!(fm005.iter().any(|f| f["message"].as_str().unwrap().contains("FluxSuspended")));
    assert!(fm005.iter().any(|f| f["message"].as_str().unwrap().contains("KsmSuspended")));
}
