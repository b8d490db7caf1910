//! `kubectl flux-monitor test` on tiny inputs: a rule that fires passes; a rule on a metric the
//! scenario's Flux version lacks fails naming it; a route to another receiver fails naming the one
//! reached; a notification expectation passes; --keep leaves the promtool files; JUnit; bad input
//! exits 2 with FILE:LINE. Each runs against Debian's promtool/amtool (2.42/0.25) and the current
//! ones built by `make upstream`; where the two disagree a test below pins it.

mod common;
#[path = "common/upstream.rs"]
mod upstream;

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

/// `test` with this family's promtool and amtool.
fn run_on(family: &upstream::Family, args: &[&str]) -> (i32, String, String) {
    let flags = family.test_flags();
    let mut all: Vec<&str> = args.to_vec();
    all.extend(flags.iter().map(String::as_str));
    run(&all)
}

/// The release line a family's promtool must report: 2.x for Debian's, 3.x for the current one.
fn promtool_line(family: &upstream::Family) -> String {
    let major = if family.is_current() { "3." } else { "2." };
    format!("against promtool {major}")
}

#[test]
fn a_rule_that_fires_passes() {
    let exp = "    alerts:\n      - {alertname: KustomizationFailing, labels: {name: apps, severity: critical}, afterFault: broken, within: 10m}\n    notAlerts:\n      - {alertname: KustomizationFailing, labels: {name: repo}}\n";
    let f = Fixture::new(&[
        ("s.yaml", &scenario("2.7", exp)),
        ("rules.yaml", FIRING_RULE),
    ]);
    for family in upstream::families() {
        let (code, out, err) = run_on(
            &family,
            &["--scenarios", &f.p("s.yaml"), "--rules", &f.p("rules.yaml")],
        );
        assert_eq!(code, 0, "{}: {out}{err}", family.name);
        assert!(
            out.starts_with(&promtool_line(&family)),
            "{}: {out}",
            family.name
        );
        assert!(
            out.lines()
                .next()
                .unwrap()
                .contains(&family.promtool.display().to_string()),
            "{out}"
        );
        assert!(
            out.contains(
                "PASS KustomizationFailing{name=\"apps\", severity=\"critical\"}: fired at"
            ),
            "{}: {out}",
            family.name
        );
        assert!(
            out.contains("PASS not KustomizationFailing{name=\"repo\"}: never fired in 20m"),
            "{}: {out}",
            family.name
        );
    }
}

#[test]
fn a_rule_on_a_removed_metric_fails_naming_it() {
    let exp = "    alerts:\n      - {alertname: ReconciliationFailure, labels: {name: apps}, afterFault: broken, within: 10m}\n";
    let f = Fixture::new(&[
        ("s.yaml", &scenario("2.7", exp)),
        ("legacy.yaml", LEGACY_RULE),
    ]);
    for family in upstream::families() {
        let (code, out, err) = run_on(
            &family,
            &[
                "--scenarios",
                &f.p("s.yaml"),
                "--rules",
                &f.p("legacy.yaml"),
            ],
        );
        assert_eq!(code, 1, "{}: {out}{err}", family.name);
        assert!(
            out.contains("FAIL ReconciliationFailure{name=\"apps\"}: never fired: rule uses gotk_reconcile_condition, which Flux 2.7 does not expose (removed in 2.5)"),
            "{}: {out}",
            family.name
        );
        // The same rule on Flux 2.4, where kustomize-controller still serves the gauge, fires.
        let (code, out, err) = run_on(
            &family,
            &[
                "--scenarios",
                &f.p("s.yaml"),
                "--rules",
                &f.p("legacy.yaml"),
                "--flux-version",
                "2.4",
            ],
        );
        assert_eq!(code, 0, "{}: {out}{err}", family.name);
        assert!(out.contains("(Flux 2.4,"), "{out}");
    }
}

#[test]
fn a_route_to_another_receiver_fails_naming_it() {
    let exp = "    alerts:\n      - {alertname: KustomizationFailing, labels: {name: apps}, afterFault: broken, within: 10m, receiver: slack}\n";
    let f = Fixture::new(&[
        ("s.yaml", &scenario("2.7", exp)),
        ("rules.yaml", FIRING_RULE),
        ("am.yaml", ALERTMANAGER),
    ]);
    for family in upstream::families() {
        let (code, out, err) = run_on(
            &family,
            &[
                "--scenarios",
                &f.p("s.yaml"),
                "--rules",
                &f.p("rules.yaml"),
                "--alertmanager-config",
                &f.p("am.yaml"),
            ],
        );
        assert_eq!(code, 1, "{}: {out}{err}", family.name);
        let amtool = if family.is_current() {
            "amtool 0.3"
        } else {
            "amtool 0.25."
        };
        assert!(
            out.lines().next().unwrap().contains(&format!(", {amtool}")),
            "{}: {out}",
            family.name
        );
        assert!(
            out.contains("but Alertmanager routes it to pager, not slack"),
            "{}: {out}",
            family.name
        );
    }
}

#[test]
fn notifications_keep_and_junit() {
    let exp = "    alerts:\n      - {alertname: KustomizationFailing, labels: {name: apps}, afterFault: broken, within: 10m}\n    notifications:\n      - {provider: slack, object: Kustomization/apps, severity: error, text: kustomize build failed, afterFault: broken, within: 5m}\n      - {provider: slack, object: GitRepository/repo, severity: error, within: 5m}\n";
    let f = Fixture::new(&[
        ("s.yaml", &scenario("2.7", exp)),
        ("rules.yaml", FIRING_RULE),
    ]);
    for family in upstream::families() {
        let keep = f.path(&format!("kept-{}", family.name));
        let junit = f.path(&format!("report-{}.xml", family.name));
        let (code, out, err) = run_on(
            &family,
            &[
                "--scenarios",
                &f.p("s.yaml"),
                "--rules",
                &f.p("rules.yaml"),
                "--keep",
                &keep.display().to_string(),
                "--junit",
                &junit.display().to_string(),
            ],
        );
        assert_eq!(code, 1, "{}: {out}{err}", family.name);
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
        // Every suite names the promtool it ran against.
        let version = out
            .lines()
            .next()
            .and_then(|l| l.strip_prefix("against promtool "))
            .and_then(|l| l.split_whitespace().next())
            .unwrap();
        assert!(
            xml.contains(&format!(
                "<property name=\"promtool.version\" value=\"{version}\"/>"
            )),
            "{xml}"
        );
        assert!(
            xml.contains(&format!(
                "<property name=\"promtool.path\" value=\"{}\"/>",
                family.promtool.display()
            )),
            "{xml}"
        );
    }
}

#[test]
fn notification_counts_are_exact() {
    need!("promtool");
    // Repeated identical failure events inside notification-controller's 5m rate limit: one
    // delivery within 4m of the fault.
    let exp = "    notifications:\n      - {provider: slack, object: Kustomization/apps, afterFault: broken, within: 4m, count: 1}\n      - {provider: slack, object: Kustomization/apps, afterFault: broken, within: 4m, count: 3}\n";
    let f = Fixture::new(&[
        ("s.yaml", &scenario("2.7", exp)),
        ("rules.yaml", FIRING_RULE),
    ]);
    let (code, out, err) = run(&["--scenarios", &f.p("s.yaml"), "--rules", &f.p("rules.yaml")]);
    assert_eq!(code, 1, "{out}{err}");
    let lines: Vec<&str> = out
        .lines()
        .filter(|l| l.contains("notification flux-system/slack"))
        .collect();
    assert_eq!(lines.len(), 2, "{out}");
    assert!(lines[0].contains("PASS"), "{out}");
    assert!(
        lines[1].contains("FAIL")
            && lines[1].contains("delivered 1 time(s)")
            && lines[1].contains("expected exactly 3"),
        "{out}"
    );
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

/// An Alertmanager configuration of today: a Teams receiver through Power Automate workflows
/// (msteamsv2, Alertmanager 0.28) reached by a UTF-8 matcher (a dotted label name, 0.27).
const CURRENT_ALERTMANAGER: &str = r#"route:
  receiver: default
  routes:
    - matchers: ['team.name="platform"', 'severity="critical"']
      receiver: teams
receivers:
  - name: default
  - name: teams
    msteamsv2_configs:
      - webhook_url: https://example.invalid/workflows/flux
"#;

const DOTTED_LABEL_RULE: &str = r#"groups:
  - name: flux
    rules:
      - alert: KustomizationFailing
        expr: gotk_resource_info{customresource_kind="Kustomization", ready="False"} == 1
        for: 2m
        labels: {severity: critical, team.name: platform}
"#;

#[test]
fn msteamsv2_and_utf8_matchers_route_on_the_current_amtool_and_name_the_field_on_debians() {
    let exp = "    alerts:\n      - {alertname: KustomizationFailing, labels: {name: apps}, afterFault: broken, within: 10m, receiver: teams}\n";
    let f = Fixture::new(&[
        ("s.yaml", &scenario("2.7", exp)),
        ("rules.yaml", DOTTED_LABEL_RULE),
        ("am.yaml", CURRENT_ALERTMANAGER),
    ]);
    let args = [
        "--scenarios",
        &f.p("s.yaml"),
        "--rules",
        &f.p("rules.yaml"),
        "--alertmanager-config",
        &f.p("am.yaml"),
    ];
    if let Some(current) = upstream::upstream() {
        let (code, out, err) = run_on(&current, &args);
        assert_eq!(code, 0, "{out}{err}");
        assert!(
            out.contains("PASS KustomizationFailing{name=\"apps\"}: fired at"),
            "{out}"
        );
        assert!(out.contains("routed to teams"), "{out}");
    }
    if let Some(debian) = upstream::debian() {
        let (code, out, err) = run_on(&debian, &args);
        assert_eq!(code, 2, "{out}{err}");
        let want = format!(
            "error: {}: amtool 0.25.0 ({}) cannot load this configuration:",
            f.p("am.yaml"),
            debian.amtool.display()
        );
        assert!(err.contains(&want), "want {want:?} in {err}");
        assert!(err.contains("receivers[1] (teams).msteamsv2_configs: the msteamsv2 integration needs Alertmanager 0.28.0 or newer"), "{err}");
        assert!(err.contains("route.routes[0].matchers: the UTF-8 matcher team.name=\"platform\" (label name team.name) needs Alertmanager 0.27.0 or newer"), "{err}");
    }
}

/// Prometheus 3 made range selectors left-open: `[1m]` over samples every 30s holds the samples
/// at t-30s and t (2), where Prometheus 2 also counted the one exactly at t-1m (3). A rule
/// counting samples fires on Debian's promtool 2.42 and never on the current one; this pins it,
/// and the report says so on both.
#[test]
fn prometheus_3_range_selectors_leave_out_the_sample_at_the_window_start() {
    let rule = r#"groups:
  - name: flux
    rules:
      - alert: ThreeFailedScrapes
        expr: count_over_time(gotk_resource_info{customresource_kind="Kustomization", ready="False"}[1m]) >= 3
"#;
    let exp = "    alerts:\n      - {alertname: ThreeFailedScrapes, labels: {name: apps}, afterFault: broken, within: 10m}\n";
    let f = Fixture::new(&[("s.yaml", &scenario("2.7", exp)), ("rules.yaml", rule)]);
    let args = ["--scenarios", &f.p("s.yaml"), "--rules", &f.p("rules.yaml")];
    if let Some(debian) = upstream::debian() {
        let (code, out, err) = run_on(&debian, &args);
        assert_eq!(code, 0, "{out}{err}");
        assert!(
            out.contains("PASS ThreeFailedScrapes{name=\"apps\"}: fired at"),
            "{out}"
        );
        assert!(out.contains("note: alert ThreeFailedScrapes: count_over_time over [1m0s] with samples every 30s: promtool 2.42.0+ds counts 3 samples here; Prometheus 3 counts 2 (range selectors are left-open since Prometheus 3.0)"), "{out}");
    }
    if let Some(current) = upstream::upstream() {
        let (code, out, err) = run_on(&current, &args);
        assert_eq!(code, 1, "{out}{err}");
        assert!(
            out.contains("FAIL ThreeFailedScrapes{name=\"apps\"}: never fired"),
            "{out}"
        );
        assert!(out.contains("note: alert ThreeFailedScrapes: count_over_time over [1m0s] with samples every 30s: promtool 3.16.0 counts 2 samples here; Prometheus 2 counts 3"), "{out}");
    }
}
