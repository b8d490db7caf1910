//! What `kubectl flux-monitor lint` reads and how it fails: every rule format (VMRule,
//! Thanos, Mimir, Helm templates with the unreadable parts skipped at file:line, Helm values,
//! ConfigMaps, dashboards), one bad file not hiding the others' findings, JSON always valid,
//! symbolic-link loops, parser limits in words a user can act on, a 20 MB rule file, and
//! Alertmanager's strict reading of unknown keys (checked against the real amtool).

mod common;

use std::path::{Path, PathBuf};

use common::{plugin, stderr, stdout};
use serde_json::Value;

fn write(dir: &Path, name: &str, text: &str) -> PathBuf {
    let p = dir.join(name);
    std::fs::create_dir_all(p.parent().unwrap()).unwrap();
    std::fs::write(&p, text).unwrap();
    p
}

/// lint -o json over `args`: (exit code, whole report, stderr).
fn lint(args: &[&str]) -> (i32, Value, String) {
    // Paths first: --flux-manifests takes every value that follows it.
    let mut all = vec!["lint"];
    all.extend(args);
    all.extend([
        "-o",
        "json",
        "--flux-version",
        "2.7",
        "--flux-manifests",
        "/dev/null",
    ]);
    let o = plugin(&all).output().unwrap();
    let out = stdout(&o);
    let v: Value = serde_json::from_str(&out)
        .unwrap_or_else(|e| panic!("not JSON ({e}): {out}\n{}", stderr(&o)));
    (o.status.code().unwrap(), v, stderr(&o))
}

fn rules_of(v: &Value) -> Vec<(String, u64, String)> {
    v["findings"]
        .as_array()
        .unwrap()
        .iter()
        .map(|f| {
            (
                f["file"].as_str().unwrap().to_string(),
                f["line"].as_u64().unwrap(),
                f["rule"].as_str().unwrap().to_string(),
            )
        })
        .collect()
}

fn read_as(v: &Value, file: &Path) -> Vec<String> {
    v["read"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|r| r["file"] == file.display().to_string())
        .map(|r| r["what"].as_str().unwrap().to_string())
        .collect()
}

const REMOVED_RULE: &str = "      - alert: FluxReconciliationFailure\n        expr: gotk_reconcile_condition{type=\"Ready\", status=\"False\"} == 1\n        for: 10m\n        labels: {severity: critical}\n        annotations: {summary: failing, runbook_url: https://runbooks.example/flux}\n";

#[test]
fn every_rule_format_is_read() {
    let tmp = tempfile::tempdir().unwrap();
    let d = tmp.path();
    let vmrule = write(d, "vmrule.yaml", &format!(
        "apiVersion: operator.victoriametrics.com/v1beta1\nkind: VMRule\nmetadata: {{name: flux}}\nspec:\n  groups:\n    - name: flux\n      type: prometheus\n      rules:\n{REMOVED_RULE}      - alert: FluxMetricsQL\n        expr: rollup_rate(gotk_resource_info[5m]) keep_metric_names\n"
    ));
    let thanos = write(d, "thanos.yaml", &format!("groups:\n  - name: flux\n    partial_response_strategy: warn\n    rules:\n{REMOVED_RULE}"));
    let mimir = write(d, "mimir.yaml", &format!("namespace: flux\ngroups:\n  - name: flux\n    source_tenants: [a, b]\n    rules:\n{REMOVED_RULE}"));
    let values = write(d, "values.yaml", &format!(
        "additionalPrometheusRulesMap:\n  flux:\n    groups:\n      - name: flux\n        rules:\n{}",
        REMOVED_RULE.lines().map(|l| format!("    {l}\n")).collect::<String>()
    ));
    let cm = write(d, "cm.yaml", &format!(
        "apiVersion: v1\nkind: ConfigMap\nmetadata: {{name: prometheus-rules}}\ndata:\n  flux.rules: |\n    groups:\n      - name: flux\n        rules:\n{}",
        REMOVED_RULE.lines().map(|l| format!("    {l}\n")).collect::<String>()
    ));
    let (code, v, err) = lint(&[d.to_str().unwrap()]);
    assert_eq!(code, 1, "{v:#}\n{err}");
    let findings = rules_of(&v);
    for (file, expected_line) in [
        (&vmrule, 10),
        (&thanos, 6),
        (&mimir, 7),
        (&values, 7),
        (&cm, 10),
    ] {
        assert!(
            findings.contains(&(file.display().to_string(), expected_line, "FM002".into())),
            "{}: FM002 at line {expected_line}: {findings:#?}",
            file.display()
        );
    }
    assert_eq!(read_as(&v, &vmrule), ["rules (MetricsQL)"]);
    // MetricsQL that PromQL does not read is skipped with file:line, not reported as FM001.
    let skipped = v["skipped"].as_array().unwrap();
    assert!(
        skipped
            .iter()
            .any(|s| s["file"] == vmrule.display().to_string()
                && s["line"] == 15
                && s["reason"].as_str().unwrap().contains("MetricsQL")),
        "{skipped:#?}"
    );
    assert!(!findings.iter().any(|f| f.2 == "FM001"), "{findings:#?}");
}

#[test]
fn helm_templates_are_linted_where_they_parse_and_the_rest_is_skipped_at_its_line() {
    let tmp = tempfile::tempdir().unwrap();
    let chart = tmp.path().join("chart/templates");
    let rules = write(
        &chart,
        "rules.yaml",
        concat!(
            "apiVersion: monitoring.coreos.com/v1\n",
            "kind: PrometheusRule\n",
            "metadata:\n",
            "  labels:\n",
            "    {{- include \"labels.common\" . | nindent 4 }}\n",
            "  namespace: {{ .Values.namespace }}\n",
            "spec:\n",
            "  groups:\n",
            "  - name: flux\n",
            "    rules:\n",
            "    {{- if .Values.legacy }}\n",
            "    - alert: FluxReconciliationFailure\n",
            "      annotations:\n",
            "        description: '{{`{{ $labels.kind }} {{ $labels.name }} failed`}}'\n",
            "      expr: gotk_reconcile_condition{type=\"Ready\", status=\"False\"} == 1\n",
            "      for: 10m\n",
            "      labels:\n",
            "        severity: {{ .Values.severity }}\n",
            "    {{- end }}\n",
            "    - alert: FluxJobDown\n",
            "      expr: up{job=\"{{ .Values.job }}\"} == 0\n",
            "      for: 5m\n",
            "      labels: {severity: critical}\n",
            "      annotations: {summary: down}\n",
        ),
    );
    // Rule groups from values with one more appended: it reads as YAML only once rendered.
    let broken = write(
        &chart,
        "broken.yaml",
        concat!(
            "apiVersion: monitoring.coreos.com/v1\n",
            "kind: PrometheusRule\n",
            "metadata: {name: {{ .Release.Name }}}\n",
            "spec:\n",
            "  groups: {{ toYaml .Values.groups | nindent 4 }}\n",
            "    - name: extra\n",
            "      rules: []\n",
        ),
    );
    let (code, v, err) = lint(&[tmp.path().to_str().unwrap()]);
    assert_eq!(code, 1, "a templated file is not an error: {v:#}\n{err}");
    let findings = rules_of(&v);
    assert!(
        findings.contains(&(rules.display().to_string(), 15, "FM002".into())),
        "{findings:#?}"
    );
    let skipped = v["skipped"].as_array().unwrap();
    let at = |f: &Path, line: u64| {
        skipped
            .iter()
            .any(|s| s["file"] == f.display().to_string() && s["line"] == line)
    };
    assert!(
        at(&rules, 21),
        "the expression made by Helm values is skipped at its line: {skipped:#?}"
    );
    assert!(
        at(&broken, 1),
        "the document that needs rendering is skipped: {skipped:#?}"
    );
    assert!(v["errors"].as_array().unwrap().is_empty());
    // Text output says so too.
    let o = plugin(&[
        "lint",
        tmp.path().to_str().unwrap(),
        "--flux-version",
        "2.7",
        "--flux-manifests",
        "/dev/null",
    ])
    .output()
    .unwrap();
    assert!(
        stdout(&o).contains(&format!(
            "{}:21: skipped: alert FluxJobDown",
            rules.display()
        )),
        "{}",
        stdout(&o)
    );
}

#[test]
fn one_bad_file_never_hides_the_others_and_json_stays_valid() {
    let tmp = tempfile::tempdir().unwrap();
    let d = tmp.path();
    let good = write(
        d,
        "a-rules.yaml",
        &format!("groups:\n  - name: flux\n    rules:\n{REMOVED_RULE}"),
    );
    let bad = write(
        d,
        "b-broken.yaml",
        "groups:\n  - name: flux\n    rules: [\n",
    );
    let dup = write(
        d,
        "c-dup.yaml",
        "groups:\n  - name: a\n    rules: []\ngroups: []\n",
    );
    let (code, v, err) = lint(&[d.to_str().unwrap()]);
    assert_eq!(code, 2, "could not read everything: {v:#}");
    assert!(
        rules_of(&v).contains(&(good.display().to_string(), 5, "FM002".into())),
        "{v:#}"
    );
    let errors: Vec<&str> = v["errors"]
        .as_array()
        .unwrap()
        .iter()
        .map(|e| e.as_str().unwrap())
        .collect();
    assert!(
        errors
            .iter()
            .any(|e| e.starts_with(&format!("{}:", bad.display()))),
        "{errors:?}"
    );
    let dup_err = errors
        .iter()
        .find(|e| e.starts_with(&format!("{}:4:", dup.display())))
        .unwrap_or_else(|| panic!("{errors:?}"));
    assert!(
        dup_err.contains("\"groups\" appears twice") && !dup_err.contains("DuplicateKeyPolicy"),
        "{dup_err}"
    );
    assert!(err.contains(&format!("error: {}:", bad.display())), "{err}");
}

#[test]
fn parser_limits_are_said_in_words_and_long_lines_are_not_quoted() {
    let tmp = tempfile::tempdir().unwrap();
    let deep = write(
        tmp.path(),
        "deep.yaml",
        &format!("groups: {}{}\n", "[".repeat(70), "]".repeat(70)),
    );
    let long = write(
        tmp.path(),
        "long.yaml",
        &format!("groups:\n  - name: [{}\n", "x".repeat(50_000)),
    );
    for (file, want) in [
        (&deep, "nest deeper than 64 levels"),
        (&long, "invalid YAML"),
    ] {
        let o = plugin(&[
            "lint",
            file.to_str().unwrap(),
            "--flux-version",
            "2.7",
            "--flux-manifests",
            "/dev/null",
        ])
        .output()
        .unwrap();
        assert_eq!(o.status.code(), Some(2));
        let err = stderr(&o);
        assert!(err.contains(want), "{err}");
        for internal in ["budget", "Depth {", "DuplicateKeyPolicy", "Options"] {
            assert!(!err.contains(internal), "parser internals in {err}");
        }
        assert!(
            err.len() < 600,
            "a short message, not the input: {} bytes",
            err.len()
        );
    }
}

#[test]
fn a_valid_twenty_megabyte_rule_file_lints() {
    let tmp = tempfile::tempdir().unwrap();
    let mut text = String::from("groups:\n");
    let mut n = 0;
    while text.len() < 20 * 1024 * 1024 {
        text.push_str(&format!("  - name: g{n}\n    rules:\n"));
        for i in 0..100 {
            text.push_str(&format!(
                "      - alert: FluxNotReady{n}x{i}\n        expr: gotk_resource_info{{customresource_kind=\"Kustomization\", name=\"app{i}\", ready=\"False\"}} == 1\n        for: 10m\n        labels: {{severity: warning, team: t{n}}}\n        annotations: {{summary: \"{{{{ $labels.name }}}} is not ready\", runbook_url: \"https://runbooks.example/flux\"}}\n"
            ));
        }
        n += 1;
    }
    let file = write(tmp.path(), "big.yaml", &text);
    assert!(
        text.len() > 20 * 1024 * 1024 && n * 100 > 60_000,
        "{} bytes, {} rules",
        text.len(),
        n * 100
    );
    let (code, v, err) = lint(&[file.to_str().unwrap()]);
    assert_eq!(code, 0, "{err}\n{}", v["findings"]);
    assert!(v["errors"].as_array().unwrap().is_empty());
}

#[test]
fn symlink_loops_end_and_each_file_is_read_once() {
    let tmp = tempfile::tempdir().unwrap();
    let d = tmp.path();
    let rules = write(
        d,
        "a/b/rules.yaml",
        &format!("groups:\n  - name: flux\n    rules:\n{REMOVED_RULE}"),
    );
    std::os::unix::fs::symlink(d.join("a"), d.join("a/b/loop")).unwrap();
    std::os::unix::fs::symlink(d, d.join("a/root")).unwrap();
    std::os::unix::fs::symlink(&rules, d.join("a/same.yaml")).unwrap();
    let started = std::time::Instant::now();
    let (code, v, _) = lint(&[d.to_str().unwrap()]);
    assert!(started.elapsed() < std::time::Duration::from_secs(20));
    assert_eq!(code, 1);
    let fm002: Vec<_> = rules_of(&v)
        .into_iter()
        .filter(|f| f.2 == "FM002")
        .collect();
    assert_eq!(fm002.len(), 1, "the file is read once: {fm002:#?}");
    assert_eq!(v["read"].as_array().unwrap().len(), 1, "{:#}", v["read"]);
}

#[test]
fn alertmanager_unknown_keys_are_rejected_as_alertmanager_does() {
    let tmp = tempfile::tempdir().unwrap();
    let am = write(
        tmp.path(),
        "alertmanager.yml",
        concat!(
            "route:\n",
            "  receiver: default\n",
            "  group_wiat: 30s\n",
            "receivers:\n",
            "  - name: default\n",
            "    webhook_configs:\n",
            "      - url: http://127.0.0.1:9/hook\n",
            "        send_resovled: true\n",
        ),
    );
    let o = plugin(&[
        "lint",
        "--alertmanager-config",
        am.to_str().unwrap(),
        "--flux-version",
        "2.7",
        "--flux-manifests",
        "/dev/null",
    ])
    .output()
    .unwrap();
    let text = stdout(&o);
    assert_eq!(o.status.code(), Some(1), "{text}");
    assert!(
        text.contains(&format!(
            "{}:3: error FM025: route.group_wiat",
            am.display()
        )),
        "{text}"
    );
    assert!(text.contains("did you mean group_wait?"), "{text}");
    assert!(
        text.contains(&format!(
            "{}:8: error FM025: receivers[0].webhook_configs[0].send_resovled",
            am.display()
        )),
        "{text}"
    );
    // The real Alertmanager agrees: amtool refuses the file, and accepts it once fixed.
    if let Some(amtool) = common::on_path("amtool") {
        let refused = std::process::Command::new(&amtool)
            .args(["check-config", am.to_str().unwrap()])
            .output()
            .unwrap();
        assert!(
            !refused.status.success(),
            "amtool accepted {}",
            String::from_utf8_lossy(&refused.stdout)
        );
        let fixed = std::fs::read_to_string(&am)
            .unwrap()
            .replace("group_wiat", "group_wait")
            .replace("send_resovled", "send_resolved");
        std::fs::write(&am, fixed).unwrap();
        let accepted = std::process::Command::new(&amtool)
            .args(["check-config", am.to_str().unwrap()])
            .output()
            .unwrap();
        assert!(
            accepted.status.success(),
            "{}",
            String::from_utf8_lossy(&accepted.stdout)
        );
        let o = plugin(&[
            "lint",
            "--alertmanager-config",
            am.to_str().unwrap(),
            "--flux-version",
            "2.7",
            "--flux-manifests",
            "/dev/null",
        ])
        .output()
        .unwrap();
        assert!(!stdout(&o).contains("FM025"), "{}", stdout(&o));
    }
}

#[test]
fn the_reference_dashboards_podmonitor_and_kube_state_metrics_config_lint_clean() {
    let reference = Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("../../shared/reference/flux2-monitoring-example");
    if !reference.exists() {
        eprintln!("skipped: {} is not here", reference.display());
        return;
    }
    let (code, v, err) = lint(&[reference.to_str().unwrap()]);
    assert_eq!(code, 0, "{v:#}\n{err}");
    assert!(
        v["findings"].as_array().unwrap().is_empty(),
        "{:#}",
        v["findings"]
    );
    let read: Vec<String> = v["read"]
        .as_array()
        .unwrap()
        .iter()
        .map(|r| r["what"].as_str().unwrap().to_string())
        .collect();
    for what in ["dashboard", "scrape", "kube-state-metrics"] {
        assert!(read.iter().any(|r| r == what), "{what} read: {read:?}");
    }
}

#[test]
fn grafana_dashboards_in_objects_and_config_maps_are_linted() {
    let tmp = tempfile::tempdir().unwrap();
    let model = r#"{"title": "Flux", "panels": [{"title": "Failing", "datasource": {"type": "prometheus", "uid": "${DS}"}, "targets": [{"expr": "sum(gotk_reconcile_condition{namespace=~\"$namespace\", status=\"False\"})"}]}, {"title": "Logs", "datasource": {"type": "loki"}, "targets": [{"expr": "{app=\"flux\"} |= \"error\""}]}]}"#;
    let gd = write(tmp.path(), "grafanadashboard.yaml", &format!(
        "apiVersion: grafana.integreatly.org/v1beta1\nkind: GrafanaDashboard\nmetadata: {{name: flux}}\nspec:\n  json: |\n    {model}\n---\napiVersion: grafana.integreatly.org/v1beta1\nkind: GrafanaDashboard\nmetadata: {{name: remote}}\nspec:\n  url: https://example.org/dashboard.json\n"
    ));
    let cm = write(tmp.path(), "configmap.yaml", &format!(
        "apiVersion: v1\nkind: ConfigMap\nmetadata:\n  name: flux-dashboard\n  labels: {{grafana_dashboard: \"1\"}}\ndata:\n  flux.json: |\n    {model}\n"
    ));
    let (_, v, _) = lint(&[tmp.path().to_str().unwrap()]);
    let findings = rules_of(&v);
    assert!(
        findings.contains(&(gd.display().to_string(), 6, "FM002".into())),
        "{findings:#?}"
    );
    assert!(
        findings.contains(&(cm.display().to_string(), 8, "FM002".into())),
        "{findings:#?}"
    );
    assert_eq!(
        findings.len(),
        2,
        "the Loki panel is not PromQL: {findings:#?}"
    );
    assert!(
        v["skipped"]
            .as_array()
            .unwrap()
            .iter()
            .any(|s| s["file"] == gd.display().to_string() && s["line"] == 12),
        "{:#}",
        v["skipped"]
    );
}

#[test]
fn when_promtool_rejects_the_rules_test_names_the_users_file_and_line() {
    if common::on_path("promtool").is_none() {
        eprintln!("skipped: promtool not installed (make setup)");
        return;
    }
    let tmp = tempfile::tempdir().unwrap();
    let scenario = write(tmp.path(), "s.yaml", concat!(
        "apiVersion: flux-sim.flux-monitor.dev/v1alpha1\n",
        "kind: Scenario\n",
        "metadata: {name: tiny}\n",
        "spec:\n",
        "  fluxVersion: \"2.7\"\n",
        "  duration: 10m\n",
        "  scrapeInterval: 30s\n",
        "  resources:\n",
        "    - {kind: GitRepository, name: repo, interval: 1m, spec: {url: https://github.com/acme/fleet, ref: {branch: main}}}\n",
        "  expectations:\n",
        "    alerts:\n",
        "      - {alertname: FluxSourceDown, within: 5m}\n",
    ));
    let rules = write(tmp.path(), "rules.yaml", concat!(
        "# a PrometheusRule, so its lines differ from the generated plain file\n",
        "apiVersion: monitoring.coreos.com/v1\n",
        "kind: PrometheusRule\n",
        "metadata: {name: flux}\n",
        "spec:\n",
        "  groups:\n",
        "    - name: flux\n",
        "      rules:\n",
        "        - alert: FluxSourceDown\n",
        "          expr: gotk_resource_info{customresource_kind=\"GitRepository\", ready=\"False\"} == 1\n",
        "          labels: {bad-label: x}\n",
    ));
    let o = plugin(&[
        "test",
        "--scenarios",
        scenario.to_str().unwrap(),
        "--rules",
        rules.to_str().unwrap(),
    ])
    .output()
    .unwrap();
    let err = stderr(&o);
    assert_eq!(o.status.code(), Some(2), "{}{err}", stdout(&o));
    assert!(
        err.contains(&format!(
            "{}:9: group \"flux\", rule 1, \"FluxSourceDown\": invalid label name",
            rules.display()
        )),
        "{err}"
    );
    assert!(!err.contains("rules-0.yaml"), "{err}");
}

#[test]
fn json_is_valid_even_when_a_path_is_missing() {
    let o = plugin(&[
        "lint",
        "/nonexistent/rules.yaml",
        "-o",
        "json",
        "--flux-version",
        "2.7",
    ])
    .output()
    .unwrap();
    assert_eq!(o.status.code(), Some(2));
    let v: Value =
        serde_json::from_str(&stdout(&o)).unwrap_or_else(|e| panic!("{e}: {}", stdout(&o)));
    assert!(
        v["errors"][0]
            .as_str()
            .unwrap()
            .contains("/nonexistent/rules.yaml"),
        "{v:#}"
    );
    assert!(stderr(&o).contains("/nonexistent/rules.yaml"));
}

#[test]
fn a_missing_label_is_an_error_only_when_the_configuration_given_proves_it() {
    let tmp = tempfile::tempdir().unwrap();
    write(tmp.path(), "rules.yaml", concat!(
        "groups:\n  - name: flux\n    rules:\n",
        "      - alert: FluxNotReady\n",
        "        expr: gotk_resource_info{status=\"False\"} == 1\n",
        "        for: 10m\n        labels: {severity: critical}\n",
        "        annotations: {summary: \"{{ $labels.name }}\", runbook_url: https://runbooks.example/flux}\n",
    ));
    let severity = |v: &Value| -> Vec<String> {
        v["findings"]
            .as_array()
            .unwrap()
            .iter()
            .filter(|f| f["rule"] == "FM004")
            .map(|f| f["severity"].as_str().unwrap().to_string())
            .collect()
    };
    let (_, v, _) = lint(&[tmp.path().to_str().unwrap()]);
    assert_eq!(
        severity(&v),
        ["warning"],
        "a relabelling could add `status`: {v:#}"
    );
    let ksm = Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("../../shared/reference/flux2-monitoring-example/kube-state-metrics-config.yaml");
    if ksm.exists() {
        std::fs::copy(&ksm, tmp.path().join("ksm.yaml")).unwrap();
        let (_, v, _) = lint(&[tmp.path().to_str().unwrap()]);
        assert_eq!(
            severity(&v),
            ["error"],
            "the kube-state-metrics config given defines no `status`: {v:#}"
        );
    }
}
