//! `kubectl flux-monitor test` on tiny inputs: a rule that fires passes; a rule on a metric the
//! scenario's Flux version lacks fails naming it; a route to another receiver fails naming the one
//! reached; a notification expectation passes; --keep leaves the promtool files; JUnit; bad input
//! exits 2 with FILE:LINE.

mod common;

use std::path::PathBuf;

use common::{plugin, stderr, stdout};

fn have(tool: &str) -> bool {
    std::env::var_os("PATH")
        .is_some_and(|p| std::env::split_paths(&p).any(|d| d.join(tool).is_file()))
}

/// Skips (with a note) when promtool is missing: `make setup` installs it.
macro_rules! need {
    ($($tool:literal),+) => {
        $(if !have($tool) {
            eprintln!("skipped: {} not installed (make setup)", $tool);
            return;
        })+
    };
}

fn scenario(version: &str, expectations: &str) -> String {
    format!(
        r#"# A Kustomization whose build breaks at 2m.
apiVersion: flux-sim.flux-monitor.dev/v1alpha1
kind: Scenario
metadata: {{name: tiny}}
spec:
  fluxVersion: "{version}"
  duration: 20m
  scrapeInterval: 30s
  resources:
    - kind: GitRepository
      name: repo
      interval: 1m
      spec: {{url: https://github.com/acme/fleet, ref: {{branch: main}}}}
    - kind: Kustomization
      name: apps
      interval: 2m
      spec: {{path: ./apps, sourceRef: {{kind: GitRepository, name: repo}}}}
    - kind: Provider
      name: slack
      spec: {{type: slack, channel: ops}}
    - kind: Alert
      name: ops
      spec:
        providerRef: {{name: slack}}
        eventSeverity: error
        eventSources: [{{kind: Kustomization, name: "*"}}]
  faults:
    - {{name: broken, at: 2m, target: Kustomization/apps, fault: build-failure}}
  expectations:
{expectations}"#
    )
}

const FIRING_RULE: &str = r#"groups:
  - name: flux
    rules:
      - alert: KustomizationFailing
        expr: gotk_resource_info{customresource_kind="Kustomization", ready="False"} == 1
        for: 2m
        labels: {severity: critical}
        annotations: {summary: "{{ $labels.name }} fails"}
"#;

/// A PrometheusRule as many Flux 2.0-era guides wrote it.
const LEGACY_RULE: &str = r#"apiVersion: monitoring.coreos.com/v1
kind: PrometheusRule
metadata: {name: legacy, namespace: monitoring}
spec:
  groups:
    - name: flux-legacy
      rules:
        - alert: ReconciliationFailure
          expr: max(gotk_reconcile_condition{status="False",type="Ready"}) by (namespace, name, kind) == 1
          for: 2m
          labels: {severity: critical}
"#;

const ALERTMANAGER: &str = r#"route:
  receiver: default
  routes:
    - matchers: ['severity="critical"']
      receiver: pager
receivers:
  - name: default
  - name: pager
  - name: slack
"#;

struct Fixture {
    dir: tempfile::TempDir,
}

impl Fixture {
    fn new(files: &[(&str, &str)]) -> Fixture {
        let dir = tempfile::tempdir().unwrap();
        for (name, text) in files {
            std::fs::write(dir.path().join(name), text).unwrap();
        }
        Fixture { dir }
    }
    fn path(&self, name: &str) -> PathBuf {
        self.dir.path().join(name)
    }
    fn p(&self, name: &str) -> String {
        self.path(name).display().to_string()
    }
}

fn run(args: &[&str]) -> (i32, String, String) {
    let mut all = vec!["test"];
    all.extend(args);
    let o = plugin(&all).output().unwrap();
    (o.status.code().unwrap_or(-1), stdout(&o), stderr(&o))
}

#[test]
fn a_rule_that_fires_passes() {
    need!("promtool");
    let exp = "    alerts:\n      - {alertname: KustomizationFailing, labels: {name: apps, severity: critical}, afterFault: broken, within: 10m}\n    notAlerts:\n      - {alertname: KustomizationFailing, labels: {name: repo}}\n";
    let f = Fixture::new(&[
        ("s.yaml", &scenario("2.7", exp)),
        ("rules.yaml", FIRING_RULE),
    ]);
    let (code, out, err) = run(&["--scenarios", &f.p("s.yaml"), "--rules", &f.p("rules.yaml")]);
    assert_eq!(code, 0, "{out}{err}");
    assert!(
        out.contains("PASS KustomizationFailing{name=\"apps\", severity=\"critical\"}: fired at"),
        "{out}"
    );
    assert!(
        out.contains("PASS not KustomizationFailing{name=\"repo\"}: never fired in 20m"),
        "{out}"
    );
}

#[test]
fn a_rule_on_a_removed_metric_fails_naming_it() {
    need!("promtool");
    let exp = "    alerts:\n      - {alertname: ReconciliationFailure, labels: {name: apps}, afterFault: broken, within: 10m}\n";
    let f = Fixture::new(&[
        ("s.yaml", &scenario("2.7", exp)),
        ("legacy.yaml", LEGACY_RULE),
    ]);
    let (code, out, err) = run(&[
        "--scenarios",
        &f.p("s.yaml"),
        "--rules",
        &f.p("legacy.yaml"),
    ]);
    assert_eq!(code, 1, "{out}{err}");
    assert!(
        out.contains("FAIL ReconciliationFailure{name=\"apps\"}: never fired: rule uses gotk_reconcile_condition, which Flux 2.7 does not expose (removed in 2.5)"),
        "{out}"
    );
    // The same rule on Flux 2.4, where kustomize-controller still serves the gauge, fires.
    let (code, out, err) = run(&[
        "--scenarios",
        &f.p("s.yaml"),
        "--rules",
        &f.p("legacy.yaml"),
        "--flux-version",
        "2.4",
    ]);
    assert_eq!(code, 0, "{out}{err}");
    assert!(out.contains("(Flux 2.4,"), "{out}");
}

#[test]
fn a_route_to_another_receiver_fails_naming_it() {
    need!("promtool", "amtool");
    let exp = "    alerts:\n      - {alertname: KustomizationFailing, labels: {name: apps}, afterFault: broken, within: 10m, receiver: slack}\n";
    let f = Fixture::new(&[
        ("s.yaml", &scenario("2.7", exp)),
        ("rules.yaml", FIRING_RULE),
        ("am.yaml", ALERTMANAGER),
    ]);
    let (code, out, err) = run(&[
        "--scenarios",
        &f.p("s.yaml"),
        "--rules",
        &f.p("rules.yaml"),
        "--alertmanager-config",
        &f.p("am.yaml"),
    ]);
    assert_eq!(code, 1, "{out}{err}");
    assert!(
        out.contains("but Alertmanager routes it to pager, not slack"),
        "{out}"
    );
}

#[test]
fn notifications_keep_and_junit() {
    need!("promtool");
    let exp = "    alerts:\n      - {alertname: KustomizationFailing, labels: {name: apps}, afterFault: broken, within: 10m}\n    notifications:\n      - {provider: slack, object: Kustomization/apps, severity: error, text: kustomize build failed, afterFault: broken, within: 5m}\n      - {provider: slack, object: GitRepository/repo, severity: error, within: 5m}\n";
    let f = Fixture::new(&[
        ("s.yaml", &scenario("2.7", exp)),
        ("rules.yaml", FIRING_RULE),
    ]);
    let keep = f.path("kept");
    let junit = f.path("report.xml");
    let (code, out, err) = run(&[
        "--scenarios",
        &f.p("s.yaml"),
        "--rules",
        &f.p("rules.yaml"),
        "--keep",
        &keep.display().to_string(),
        "--junit",
        &junit.display().to_string(),
    ]);
    assert_eq!(code, 1, "{out}{err}");
    assert!(out.contains("PASS notification flux-system/slack Kustomization/flux-system/apps error \"kustomize build failed\": delivered to Provider flux-system/slack (slack)"), "{out}");
    assert!(out.contains("FAIL notification flux-system/slack GitRepository/flux-system/repo error: GitRepository/flux-system/repo posted no error event at all"), "{out}");
    assert!(keep.join("rules-0.yaml").is_file());
    let test_file = std::fs::read_dir(&keep)
        .unwrap()
        .filter_map(Result::ok)
        .map(|e| e.path())
        .find(|p| p.is_dir())
        .unwrap()
        .join("test.yaml");
    let text = std::fs::read_to_string(&test_file).unwrap();
    assert!(
        text.contains("gotk_resource_info") && text.contains("alert_rule_test"),
        "{text}"
    );
    let xml = std::fs::read_to_string(&junit).unwrap();
    assert!(
        xml.contains("<testsuites")
            && xml.contains("tests=\"3\"")
            && xml.contains("failures=\"1\""),
        "{xml}"
    );
}

#[test]
fn notification_counts_are_exact() {
    need!("promtool");
    // Repeated identical failure events inside notification-controller's 5m rate limit: one
    // delivery within 4m of the fault.
    let exp = "    notifications:\n      - {provider: slack, object: Kustomization/apps, afterFault: broken, within: 4m, count: 1}\n      - {provider: slack, object: Kustomization/apps, afterFault: broken, within: 4m, count: 3}\n";
    let f = Fixture::new(&[("s.yaml", &scenario("2.7", exp)), ("rules.yaml", FIRING_RULE)]);
    let (code, out, err) = run(&["--scenarios", &f.p("s.yaml"), "--rules", &f.p("rules.yaml")]);
    assert_eq!(code, 1, "{out}{err}");
    let lines: Vec<&str> = out.lines().filter(|l| l.contains("notification flux-system/slack")).collect();
    assert_eq!(lines.len(), 2, "{out}");
    assert!(lines[0].contains("PASS"), "{out}");
    assert!(lines[1].contains("FAIL") && lines[1].contains("delivered 1 time(s)") && lines[1].contains("expected exactly 3"), "{out}");
}

#[test]
fn bad_input_exits_2_with_file_and_line() {
    let exp = "    alerts:\n      - {alertname: KustomizationFailing, within: 10m}\n";
    let bad_promql =
        "groups:\n  - name: g\n    rules:\n      - alert: Broken\n        expr: sum(rate(x[5m])\n";
    let f = Fixture::new(&[
        ("s.yaml", &scenario("2.7", exp)),
        (
            "bad-scenario.yaml",
            &scenario("2.7", exp).replace("interval: 2m", "intervall: 2m"),
        ),
        ("bad-promql.yaml", bad_promql),
        ("rules.yaml", FIRING_RULE),
        ("not-rules.yaml", "kind: ConfigMap\n"),
    ]);
    let cases: [(&[&str], &str); 4] = [
        (
            &[
                "--scenarios",
                &f.p("bad-scenario.yaml"),
                "--rules",
                &f.p("rules.yaml"),
            ],
            "bad-scenario.yaml:",
        ),
        (
            &[
                "--scenarios",
                &f.p("s.yaml"),
                "--rules",
                &f.p("bad-promql.yaml"),
            ],
            "bad-promql.yaml:5: alert Broken: PromQL does not parse",
        ),
        (
            &[
                "--scenarios",
                &f.p("s.yaml"),
                "--rules",
                &f.p("not-rules.yaml"),
            ],
            "not-rules.yaml:1: no rule groups",
        ),
        (
            &[
                "--scenarios",
                &f.p("s.yaml"),
                "--rules",
                &f.p("missing.yaml"),
            ],
            "missing.yaml",
        ),
    ];
    for (args, want) in cases {
        let (code, out, err) = run(args);
        assert_eq!(code, 2, "{args:?}: {out}{err}");
        assert!(err.contains(want), "{args:?}: want {want:?} in {err}");
    }
}
