//! `kubectl flux-monitor rules`: the pack parses as a PrometheusRule, every alert carries
//! severity, summary, description and runbook_url and a `for`, every expression is PromQL,
//! promtool accepts the rule-file form, and the rules are the same text for Flux 2.4 and 2.7.

mod common;

use std::process::Command;

use common::{plugin, stderr, stdout};
use serde_json::Value;

const ALERTS: [&str; 10] = [
    "FluxReconciliationFailure",
    "FluxReconciliationSlow",
    "FluxResourceSuspended",
    "FluxSourceFetchFailure",
    "FluxHelmRepoUnavailable",
    "FluxControllerDown",
    "FluxHighErrorRate",
    "FluxReconciliationStale",
    // The scheduled drills' own meta-alerts (they see no series until a drill pushes).
    "FluxMonitorDrillFailing",
    "FluxMonitorDrillNotRunning",
];

fn rules(args: &[&str]) -> String {
    let mut all = vec!["rules"];
    all.extend(args);
    let o = plugin(&all).output().unwrap();
    assert_eq!(o.status.code(), Some(0), "{}", stderr(&o));
    stdout(&o)
}

fn alerts_of(doc: &Value) -> Vec<Value> {
    doc.pointer("/spec/groups")
        .or_else(|| doc.get("groups"))
        .and_then(Value::as_array)
        .unwrap()
        .iter()
        .flat_map(|g| g["rules"].as_array().unwrap().clone())
        .collect()
}

#[test]
fn pack_is_a_prometheus_rule_with_every_alert_documented() {
    let text = rules(&["--flux-version", "2.7"]);
    let doc: Value = serde_saphyr::from_str(&text).expect("the pack is YAML");
    assert_eq!(doc["apiVersion"], "monitoring.coreos.com/v1");
    assert_eq!(doc["kind"], "PrometheusRule");
    let alerts = alerts_of(&doc);
    let names: Vec<&str> = alerts
        .iter()
        .map(|a| a["alert"].as_str().unwrap())
        .collect();
    for want in ALERTS {
        assert!(names.contains(&want), "{want} missing from {names:?}");
    }
    for a in &alerts {
        let name = a["alert"].as_str().unwrap();
        let severity = a
            .pointer("/labels/severity")
            .and_then(Value::as_str)
            .unwrap_or("");
        assert!(
            ["critical", "warning", "info"].contains(&severity),
            "{name}: severity {severity:?}"
        );
        for key in ["summary", "description", "runbook_url"] {
            let v = a
                .pointer(&format!("/annotations/{key}"))
                .and_then(Value::as_str)
                .unwrap_or("");
            assert!(!v.trim().is_empty(), "{name}: no {key}");
        }
        assert!(
            a["annotations"]["runbook_url"]
                .as_str()
                .unwrap()
                .starts_with("https://"),
            "{name}"
        );
        assert!(
            a["for"].as_str().is_some_and(|f| !f.is_empty()),
            "{name}: no for"
        );
        let expr = a["expr"].as_str().unwrap();
        promql_parser::parser::parse(expr).unwrap_or_else(|e| panic!("{name}: {e}\n{expr}"));
        assert!(
            !expr.contains("gotk_reconcile_condition") && !expr.contains("gotk_suspend_status"),
            "{name}"
        );
    }
}

#[test]
fn same_rules_for_flux_2_4_and_newest() {
    let body = |v: &str| {
        rules(&["--flux-version", v])
            .lines()
            .filter(|l| !l.starts_with('#'))
            .collect::<Vec<_>>()
            .join("\n")
    };
    assert_eq!(body("2.4"), body("2.7"));
    assert_eq!(body("v2.7.0"), body("2.7"));
}

#[test]
fn promtool_accepts_the_rule_file_form() {
    let Ok(promtool) = which("promtool") else {
        eprintln!("skipped: promtool not installed (make setup)");
        return;
    };
    let dir = tempfile::tempdir().unwrap();
    let file = dir.path().join("flux.rules.yaml");
    let text = rules(&["-o", "rule-file", "--flux-version", "2.4"]);
    let doc: Value = serde_saphyr::from_str(&text).unwrap();
    assert_eq!(alerts_of(&doc).len(), ALERTS.len());
    std::fs::write(&file, text).unwrap();
    let o = Command::new(promtool)
        .args(["check", "rules"])
        .arg(&file)
        .output()
        .unwrap();
    let out = format!("{}{}", stdout(&o), stderr(&o));
    assert!(o.status.success(), "{out}");
    assert!(
        out.contains(&format!("SUCCESS: {} rules found", ALERTS.len())),
        "{out}"
    );
}

/// Each retry of a failing object first marks it Ready=Unknown "Reconciliation in progress"
/// (kustomize-controller's reconcile, helm-controller's, sources' progressive status); a scrape
/// inside that attempt ends the ready="False" series with a staleness marker. Such a gap must not
/// restart the 10m `for` of FluxReconciliationFailure (with a 1m retry interval it would almost
/// never fire), and the alert must still end once the object is Ready again.
#[test]
fn a_scrape_during_a_retry_does_not_restart_the_failure_alerts_for() {
    let Ok(promtool) = which("promtool") else {
        eprintln!("skipped: promtool not installed (make setup)");
        return;
    };
    let dir = tempfile::tempdir().unwrap();
    std::fs::write(
        dir.path().join("flux.rules.yaml"),
        rules(&["-o", "rule-file", "--flux-version", "2.7"]),
    )
    .unwrap();
    let labels = r#"customresource_kind="Kustomization", exported_namespace="flux-system", name="apps", suspended="false""#;
    let quote = |s: &str| serde_json::to_string(s).unwrap();
    let summary = quote("Kustomization flux-system/apps fails to reconcile");
    let description = quote("Kustomization flux-system/apps has been Ready=False for more than 10 minutes: its last change is not applied. `kubectl flux-monitor status -n flux-system --problems` shows the reason and what blocks it.");
    let runbook = quote("https://github.com/flux-monitor/flux-monitor/blob/main/scenarios/library/RUNBOOKS.md#fluxreconciliationfailure");
    let test = format!(
        r#"rule_files: [flux.rules.yaml]
evaluation_interval: 1m
tests:
  - interval: 1m
    input_series:
      # Failing from 0m, Unknown at the scrape of 4m (a retry in progress), Ready from 20m.
      - series: 'gotk_resource_info{{{labels}, ready="False"}}'
        values: '1 1 1 1 stale 1x14 stale'
      - series: 'gotk_resource_info{{{labels}, ready="Unknown"}}'
        values: '_ _ _ _ 1 stale'
      - series: 'gotk_resource_info{{{labels}, ready="True"}}'
        values: '_x19 1x10'
    alert_rule_test:
      - eval_time: 11m
        alertname: FluxReconciliationFailure
        exp_alerts:
          - exp_labels: {{severity: critical, kind: Kustomization, exported_namespace: flux-system, name: apps}}
            exp_annotations: {{summary: {summary}, description: {description}, runbook_url: {runbook}}}
      - eval_time: 25m
        alertname: FluxReconciliationFailure
        exp_alerts: []
"#
    );
    std::fs::write(dir.path().join("test.yaml"), test).unwrap();
    let o = Command::new(promtool)
        .current_dir(dir.path())
        .args(["test", "rules", "test.yaml"])
        .output()
        .unwrap();
    assert!(o.status.success(), "{}{}", stdout(&o), stderr(&o));
}

#[test]
fn runbook_base_is_configurable_and_unknown_versions_are_refused() {
    let text = rules(&["--runbook-url-base", "https://runbooks.example.com/flux"]);
    assert!(
        text.contains("runbook_url: \"https://runbooks.example.com/flux#fluxcontrollerdown\""),
        "{text}"
    );
    let o = plugin(&["rules", "--flux-version", "1.9"])
        .output()
        .unwrap();
    assert_eq!(o.status.code(), Some(2));
    assert!(
        stderr(&o).contains("unsupported Flux version"),
        "{}",
        stderr(&o)
    );
}

fn which(name: &str) -> Result<std::path::PathBuf, ()> {
    std::env::split_paths(&std::env::var_os("PATH").ok_or(())?)
        .map(|d| d.join(name))
        .find(|p| p.is_file())
        .ok_or(())
}
