//! Scenario files: every invalid case is reported as `FILE:LINE: message`; valid files load with
//! the values and defaults the format documents; the generator and the schema hold up.

use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

use model::{Controller, FluxVersion, ObjectRef};
use simulator::scenario::{
    generate, json_schema, load_dir_or_file, load_file, load_str, Fault, FaultTarget, Scenario, ScenarioErrors,
};

fn fixture(name: &str) -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("tests/fixtures/invalid")
        .join(name)
}

/// Loads an invalid fixture and returns its diagnostics as printed, one per line.
fn errors_of(name: &str) -> String {
    match load_file(&fixture(name)) {
        Ok(_) => panic!("{name} loaded, but it is invalid"),
        Err(e) => e.to_string(),
    }
}

/// Asserts that `name` fails with a diagnostic at `line` containing `text`.
#[track_caller]
fn assert_error(name: &str, line: usize, text: &str) {
    let errors = errors_of(name);
    let at = format!("{name}:{line}: ");
    assert!(
        errors.lines().any(|l| l.contains(&at) && l.contains(text)),
        "expected `{at}...{text}...` in:\n{errors}"
    );
}

fn mins(m: u64) -> Duration {
    Duration::from_secs(m * 60)
}

// ---- invalid files: one test per case --------------------------------------------------------

#[test]
fn yaml_syntax_error() {
    assert_error("syntax-error.yaml", 8, "unclosed quote");
}

#[test]
fn unknown_field_at_top_level() {
    assert_error(
        "unknown-field-top.yaml",
        7,
        "unknown field `status`, expected one of apiVersion, kind",
    );
}

#[test]
fn unknown_field_in_spec() {
    assert_error("unknown-field-spec.yaml", 7, "unknown field `resource`");
}

#[test]
fn unknown_field_in_resource() {
    assert_error("unknown-field-resource.yaml", 9, "unknown field `intervall`");
}

#[test]
fn unknown_field_in_fault() {
    assert_error("unknown-field-fault.yaml", 14, "unknown field `ratio`");
}

#[test]
fn unknown_field_in_expectation() {
    assert_error("unknown-field-expectation.yaml", 9, "unknown field `labelz`");
}

#[test]
fn wrong_api_version() {
    assert_error(
        "wrong-api-version.yaml",
        1,
        "apiVersion must be \"flux-sim.flux-monitor.dev/v1alpha1\", not \"flux-sim.flux-monitor.dev/v1\"",
    );
}

#[test]
fn wrong_kind() {
    assert_error("wrong-kind.yaml", 2, "kind must be \"Scenario\", not \"Kustomization\"");
}

#[test]
fn bad_durations_are_all_reported() {
    let errors = errors_of("bad-durations.yaml");
    assert_eq!(errors.lines().count(), 2, "{errors}");
    assert_error(
        "bad-durations.yaml",
        9,
        "interval: invalid duration \"10\": missing unit",
    );
    assert_error("bad-durations.yaml", 11, "at: invalid duration \"5 minutes\"");
}

#[test]
fn unknown_flux_version() {
    assert_error(
        "unknown-flux-version.yaml",
        6,
        "unsupported Flux version 2.10: this release knows Flux 2.2 to 2.9",
    );
}

#[test]
fn unknown_kind() {
    assert_error(
        "unknown-kind.yaml",
        7,
        "unknown kind \"Kustomisation\"; Flux kinds are: OCIRepository",
    );
    assert_error(
        "unknown-kind.yaml",
        9,
        "unknown kind \"helmrelease\" (did you mean HelmRelease?)",
    );
}

#[test]
fn kind_missing_from_the_flux_version() {
    assert_error(
        "kind-not-in-version.yaml",
        8,
        "kind ExternalArtifact does not exist in Flux 2.6 (it arrived in Flux 2.7)",
    );
}

#[test]
fn duplicate_resource() {
    assert_error(
        "duplicate-resource.yaml",
        10,
        "duplicate resource GitRepository/flux-system/flux-system: already defined at line 7",
    );
}

#[test]
fn unknown_fault_lists_the_known_ones() {
    assert_error(
        "unknown-fault.yaml",
        11,
        "unknown fault \"explode\"; known faults: fetch-failure, auth-failure",
    );
    let errors = errors_of("unknown-fault.yaml");
    for f in Fault::ALL {
        assert!(errors.contains(f.name()), "{} missing from {errors}", f.name());
    }
}

#[test]
fn fault_not_applicable_to_the_kind() {
    assert_error(
        "fault-wrong-kind.yaml",
        10,
        "fault build-failure does not apply to a HelmRelease (it applies to Kustomization, HelmChart)",
    );
}

#[test]
fn controller_fault_given_a_target() {
    let errors = errors_of("controller-fault-with-target.yaml");
    assert_eq!(errors.lines().count(), 1, "{errors}");
    assert_error(
        "controller-fault-with-target.yaml",
        12,
        "controller-down acts on a controller: give `controller:` instead of `target:`",
    );
}

#[test]
fn object_fault_given_a_controller() {
    assert_error(
        "object-fault-with-controller.yaml",
        8,
        "build-failure acts on an object: give `target: Kind/name` instead of `controller:`",
    );
}

#[test]
fn unknown_controller() {
    assert_error(
        "unknown-controller.yaml",
        8,
        "unknown controller \"kustomize\"; controllers are: source-controller, kustomize-controller",
    );
}

#[test]
fn fault_param_on_the_wrong_fault() {
    assert_error(
        "param-on-wrong-fault.yaml",
        19,
        "`rate` applies only to error-rate, not to build-failure",
    );
}

#[test]
fn fault_param_out_of_range() {
    assert_error(
        "param-out-of-range.yaml",
        10,
        "rate 1.5 is out of range: give a fraction from 0 to 1",
    );
}

#[test]
fn dangling_fault_target() {
    assert_error(
        "dangling-fault-target.yaml",
        11,
        "fault target Kustomization/apps/podinfo is not a resource of this scenario",
    );
}

#[test]
fn dangling_source_ref() {
    assert_error(
        "dangling-source-ref.yaml",
        11,
        "spec.sourceRef: GitRepository/flux-system/flux-system is not a resource of this scenario",
    );
}

#[test]
fn source_ref_to_a_kind_not_allowed() {
    assert_error(
        "wrong-source-kind.yaml",
        13,
        "spec.sourceRef: a Kustomization cannot refer to a HelmRepository (allowed: GitRepository, OCIRepository, Bucket, ExternalArtifact)",
    );
}

#[test]
fn dangling_chart_template_source() {
    assert_error(
        "dangling-chart-source.yaml",
        14,
        "spec.chart.spec.sourceRef: HelmRepository/flux-system/podinfo is not a resource of this scenario",
    );
}

#[test]
fn dangling_chart_ref() {
    assert_error(
        "dangling-chart-ref.yaml",
        10,
        "spec.chartRef: OCIRepository/flux-system/podinfo-chart is not a resource of this scenario",
    );
}

#[test]
fn dangling_depends_on() {
    assert_error(
        "dangling-depends-on.yaml",
        16,
        "spec.dependsOn: Kustomization/flux-system/infra is not a resource of this scenario",
    );
}

#[test]
fn dangling_image_repository_ref() {
    assert_error(
        "dangling-image-repository-ref.yaml",
        10,
        "spec.imageRepositoryRef: ImageRepository/flux-system/podinfo is not a resource of this scenario",
    );
}

#[test]
fn dangling_provider_ref() {
    assert_error(
        "dangling-provider-ref.yaml",
        10,
        "spec.providerRef: Provider/flux-system/slack is not a resource of this scenario",
    );
}

#[test]
fn depends_on_cycle_is_named() {
    let errors = errors_of("depends-on-cycle.yaml");
    assert_eq!(errors.lines().count(), 1, "one cycle, reported once: {errors}");
    assert_error(
        "depends-on-cycle.yaml",
        14,
        "dependsOn cycle: Kustomization/flux-system/a -> Kustomization/flux-system/b -> Kustomization/flux-system/a",
    );
}

#[test]
fn after_fault_out_of_range() {
    assert_error(
        "after-fault-out-of-range.yaml",
        15,
        "afterFault 1 is out of range: the scenario has 1 fault (index 0)",
    );
}

#[test]
fn notification_provider_that_is_not_a_provider() {
    assert_error(
        "notification-provider-missing.yaml",
        14,
        "provider \"slack\" is not a Provider resource of this scenario (looked for Provider/flux-system/slack)",
    );
}

#[test]
fn notification_count_of_zero() {
    assert_error("notification-count-zero.yaml", 52, "count must be at least 1");
}

#[test]
fn expectation_object_that_is_not_a_resource() {
    assert_error(
        "expectation-object-missing.yaml",
        13,
        "object Kustomization/flux-system/apps is not a resource of this scenario",
    );
}

#[test]
fn alert_and_provider_have_no_interval() {
    assert_error(
        "interval-on-alert.yaml",
        9,
        "a Provider has no interval: remove `interval`",
    );
    assert_error(
        "interval-on-alert.yaml",
        12,
        "an Alert has no interval: remove `interval`",
    );
}

#[test]
fn a_file_holds_one_document() {
    assert_error(
        "multi-document.yaml",
        7,
        "a scenario file holds exactly one Scenario document, found 2 documents",
    );
}

#[test]
fn every_invalid_fixture_fails_with_file_and_line() {
    let dir = Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/fixtures/invalid");
    let mut count = 0;
    for entry in std::fs::read_dir(&dir).unwrap() {
        let path = entry.unwrap().path();
        let err = load_file(&path).expect_err(&path.display().to_string());
        assert_eq!(err.exit_code(), 2);
        for d in &err.diagnostics {
            assert!(d.line >= 1, "{d}");
            assert!(
                d.to_string().starts_with(&format!("{}:{}: ", path.display(), d.line)),
                "{d}"
            );
        }
        count += 1;
    }
    assert!(count >= 30, "only {count} fixtures");
}

// ---- valid files ------------------------------------------------------------------------------

const FULL: &str = r#"apiVersion: flux-sim.flux-monitor.dev/v1alpha1
kind: Scenario
metadata:
  name: demo
  description: "what it shows"
spec:
  fluxVersion: "2.6"
  seed: 42
  duration: 30m
  scrapeInterval: 15s
  resources:
    - kind: GitRepository
      name: flux-system
      spec: {url: https://github.com/org/fleet, ref: {branch: main}}
    - kind: Kustomization
      name: apps
      interval: 5m
      suspend: true
      labels: {app: x}
      annotations: {team: platform}
      spec:
        path: ./apps
        sourceRef: {kind: GitRepository, name: flux-system}
    - kind: HelmRepository
      name: podinfo
      spec: {url: https://stefanprodan.github.io/podinfo}
    - kind: HelmRelease
      name: podinfo
      namespace: apps
      spec:
        chart:
          spec:
            chart: podinfo
            sourceRef: {kind: HelmRepository, name: podinfo, namespace: flux-system}
    - kind: Provider
      name: slack
      namespace: apps
      spec: {type: slack}
    - kind: Alert
      name: on-call
      namespace: apps
      spec: {providerRef: {name: slack}, eventSources: [{kind: HelmRelease, name: "*"}]}
  faults:
    - at: 5m
      target: Kustomization/apps
      fault: build-failure
      reason: BuildFailed
      message: "kustomize build failed: boom"
      duration: 10m
    - name: flaky
      at: 2m
      controller: kustomize-controller
      fault: error-rate
      rate: 0.3
    - {at: 1m, target: HelmRelease/apps/podinfo, fault: slow, reconcileDuration: 45s}
    - {at: 1m, target: Kustomization/apps, fault: event-storm, count: 20}
    - {at: 3m, target: HelmRelease/apps/podinfo, fault: stalled}
    - {at: 4m, controller: source-controller, fault: controller-down}
  expectations:
    alerts:
      - alertname: FluxReconciliationFailure
        labels: {name: apps, kind: Kustomization}
        afterFault: 0
        within: 5m
        receiver: flux-critical
      - alertname: FluxControllerErrors
        afterFault: flaky
    notAlerts:
      - alertname: FluxResourceSuspended
        labels: {}
    notifications:
      - provider: slack
        object: HelmRelease/apps/podinfo
        severity: error
        text: "upgrade"
        afterFault: 4
        within: 2m
"#;

fn full() -> Scenario {
    load_str(FULL, Path::new("full.yaml")).unwrap_or_else(|e| panic!("{e}"))
}

#[test]
fn full_example_loads_with_its_values() {
    let s = full();
    assert_eq!(s.name, "demo");
    assert_eq!(s.description, "what it shows");
    assert_eq!(s.source, Path::new("full.yaml"));
    assert_eq!(s.flux_version, FluxVersion::new(2, 6));
    assert_eq!(s.seed, 42);
    assert_eq!(s.duration, mins(30));
    assert_eq!(s.scrape_interval, Duration::from_secs(15));
    assert_eq!(
        s.resources.len(),
        6,
        "the HelmRelease's generated HelmChart is not listed"
    );

    let git = &s.resources[0];
    assert_eq!(
        (git.kind.kind, git.namespace.as_str(), git.name.as_str()),
        ("GitRepository", "flux-system", "flux-system")
    );
    assert_eq!(git.interval, mins(1), "sources default to 1m");
    assert_eq!(git.line, 12);
    assert_eq!(git.spec["ref"]["branch"], "main");

    let ks = &s.resources[1];
    assert_eq!(ks.interval, mins(5));
    assert!(ks.suspend);
    assert_eq!(ks.labels["app"], "x");
    assert_eq!(ks.annotations["team"], "platform");
    assert_eq!(ks.spec["path"], "./apps");
    assert_eq!(ks.line, 15);
    assert_eq!(s.resources[2].interval, mins(10), "HelmRepository defaults to 10m");
    assert_eq!(s.resources[3].interval, mins(10), "HelmRelease defaults to 10m");
    assert_eq!(
        s.resources[3].object_ref(),
        ObjectRef::new("HelmRelease", "apps", "podinfo")
    );
    assert_eq!(s.resources[4].interval, Duration::ZERO, "Providers have no interval");
    assert_eq!(s.resources[5].interval, Duration::ZERO, "Alerts have no interval");
}

#[test]
fn full_example_faults() {
    let s = full();
    assert_eq!(s.faults.len(), 6);
    let f = &s.faults[0];
    assert_eq!(f.fault, Fault::BuildFailure);
    assert_eq!(f.at, mins(5));
    assert_eq!(
        f.target,
        FaultTarget::Object(ObjectRef::new("Kustomization", "flux-system", "apps"))
    );
    assert_eq!(f.reason.as_deref(), Some("BuildFailed"));
    assert_eq!(f.message.as_deref(), Some("kustomize build failed: boom"));
    assert_eq!(f.duration, Some(mins(10)));
    assert_eq!(f.line, 44);
    assert!(f.active_at(mins(5)) && f.active_at(mins(14)) && !f.active_at(mins(15)));

    let f = &s.faults[1];
    assert_eq!(f.fault, Fault::ErrorRate);
    assert_eq!(f.target, FaultTarget::Controller(Controller::Kustomize));
    assert_eq!(f.rate, Some(0.3));
    assert_eq!(f.duration, None);
    assert_eq!(f.line, 50);

    assert_eq!(s.faults[2].fault, Fault::Slow);
    assert_eq!(s.faults[2].reconcile_duration, Some(Duration::from_secs(45)));
    assert_eq!(s.faults[2].line, 55);
    assert_eq!(s.faults[3].count, Some(20));
    assert_eq!(
        s.faults[4].fault,
        Fault::RetriesExhausted,
        "`stalled` is the alias of retries-exhausted"
    );
    assert_eq!(s.faults[5].target, FaultTarget::Controller(Controller::Source));
}

#[test]
fn full_example_expectations() {
    let s = full();
    let e = &s.expectations;
    assert_eq!(e.alerts.len(), 2);
    assert_eq!(e.alerts[0].alertname, "FluxReconciliationFailure");
    assert_eq!(e.alerts[0].labels["kind"], "Kustomization");
    assert_eq!(e.alerts[0].after_fault, Some(0));
    assert_eq!(e.alerts[0].within, mins(5));
    assert_eq!(e.alerts[0].receiver.as_deref(), Some("flux-critical"));
    assert_eq!(e.alerts[0].line, 61);
    assert_eq!(e.alerts[1].after_fault, Some(1), "afterFault by the fault's name");
    assert_eq!(
        e.alerts[1].within,
        mins(30),
        "within defaults to the scenario's duration"
    );
    assert_eq!(e.not_alerts[0].alertname, "FluxResourceSuspended");
    let n = &e.notifications[0];
    assert_eq!(
        n.provider, "apps/slack",
        "a bare Provider name is in the object's namespace"
    );
    assert_eq!(n.object, ObjectRef::new("HelmRelease", "apps", "podinfo"));
    assert_eq!(n.severity, "error");
    assert_eq!(n.text.as_deref(), Some("upgrade"));
    assert_eq!(n.after_fault, Some(4));
    assert_eq!(n.within, mins(2));
}

#[test]
fn minimal_scenario_gets_the_defaults() {
    let text = "apiVersion: flux-sim.flux-monitor.dev/v1alpha1\nkind: Scenario\nmetadata: {name: empty}\nspec: {}\n";
    let s = load_str(text, Path::new("min.yaml")).unwrap();
    assert_eq!(s.flux_version, FluxVersion::newest());
    assert_eq!(s.seed, 1);
    assert_eq!(s.duration, Duration::from_secs(3600));
    assert_eq!(s.scrape_interval, Duration::from_secs(30));
    assert!(s.resources.is_empty() && s.faults.is_empty());
    assert!(s.expectations.alerts.is_empty());
}

#[test]
fn fault_defaults_for_slow_error_rate_and_event_storm() {
    let text = "apiVersion: flux-sim.flux-monitor.dev/v1alpha1\nkind: Scenario\nmetadata: {name: d}\nspec:\n  \
                resources: [{kind: Kustomization, name: apps}]\n  faults:\n    \
                - {at: 1m, target: Kustomization/apps, fault: slow}\n    \
                - {at: 1m, controller: helm-controller, fault: error-rate}\n    \
                - {at: 1m, target: Kustomization/apps, fault: event-storm}\n";
    let s = load_str(text, Path::new("d.yaml")).unwrap_or_else(|e| panic!("{e}"));
    assert_eq!(s.faults[0].reconcile_duration, Some(Duration::from_secs(45)));
    assert_eq!(s.faults[1].rate, Some(0.5));
    assert_eq!(s.faults[2].count, Some(50));
    assert_eq!(s.faults[2].line, 9);
}

#[test]
fn missing_file_is_an_error_with_exit_code_2() {
    let err: ScenarioErrors = load_file(Path::new("/nonexistent/scenario.yaml")).unwrap_err();
    assert_eq!(err.exit_code(), 2);
    assert!(
        err.to_string()
            .starts_with("/nonexistent/scenario.yaml: cannot read scenario file"),
        "{err}"
    );
}

#[test]
fn directory_loads_scenario_documents_and_skips_other_yaml() {
    let dir = tempfile::tempdir().unwrap();
    let header = |name: &str| {
        format!("apiVersion: flux-sim.flux-monitor.dev/v1alpha1\nkind: Scenario\nmetadata: {{name: {name}}}\n")
    };
    std::fs::create_dir(dir.path().join("nested")).unwrap();
    std::fs::write(dir.path().join("a.yaml"), header("a") + "spec: {}\n").unwrap();
    std::fs::write(
        dir.path().join("nested/b.yml"),
        format!(
            "{}spec: {{}}\n---\n# a rule pack beside it\nkind: PrometheusRule\nspec: {{}}\n---\n{}spec: {{seed: 5}}\n",
            header("b"),
            header("c")
        ),
    )
    .unwrap();
    std::fs::write(
        dir.path().join("alertmanager.yaml"),
        "route: {receiver: x}\nreceivers: [{name: x}]\n",
    )
    .unwrap();
    std::fs::write(dir.path().join("notes.txt"), "kind: Scenario\n").unwrap();
    let scenarios = load_dir_or_file(dir.path()).unwrap_or_else(|e| panic!("{e}"));
    let names: Vec<&str> = scenarios.iter().map(|s| s.name.as_str()).collect();
    assert_eq!(names, ["a", "b", "c"]);
    assert_eq!(scenarios[2].seed, 5);
    // A single file is loaded as a file.
    let one = load_dir_or_file(&dir.path().join("a.yaml")).unwrap();
    assert_eq!(one.len(), 1);
}

#[test]
fn directory_errors_carry_the_line_in_the_whole_file() {
    let dir = tempfile::tempdir().unwrap();
    let text = "apiVersion: flux-sim.flux-monitor.dev/v1alpha1\nkind: Scenario\nmetadata: {name: ok}\nspec: {}\n\
                ---\napiVersion: flux-sim.flux-monitor.dev/v1alpha1\nkind: Scenario\nmetadata: {name: bad}\n\
                spec:\n  duration: forever\n";
    std::fs::write(dir.path().join("two.yaml"), text).unwrap();
    std::fs::write(
        dir.path().join("other.yaml"),
        "apiVersion: flux-sim.flux-monitor.dev/v1alpha1\nkind: Scenario\nmetadata: {name: x}\nspec: {sede: 1}\n",
    )
    .unwrap();
    let err = load_dir_or_file(dir.path()).unwrap_err();
    let text = err.to_string();
    assert_eq!(err.diagnostics.len(), 2, "{text}");
    assert!(text.contains("other.yaml:4: unknown field `sede`"), "{text}");
    assert!(
        text.contains("two.yaml:10: duration: invalid duration \"forever\""),
        "{text}"
    );
}

#[test]
fn the_scenario_library_loads() {
    let dir = Path::new(env!("CARGO_MANIFEST_DIR")).join("../scenarios");
    let scenarios = load_dir_or_file(&dir).unwrap_or_else(|e| panic!("{e}"));
    assert!(scenarios.iter().any(|s| s.name == "demo"));
}

// ---- generator -------------------------------------------------------------------------------

#[test]
fn generated_scenario_is_large_valid_and_covers_every_kind() {
    let started = Instant::now();
    let text = generate(10_000, 7);
    let generated = started.elapsed();
    let started = Instant::now();
    let s = load_str(&text, Path::new("generated.yaml")).unwrap_or_else(|e| panic!("{e}"));
    let loaded = started.elapsed();
    // Debug builds parse YAML about 10x slower than release (release: ~0.3s to load).
    println!(
        "generate(10_000): {generated:?}; load_str of {} bytes: {loaded:?}",
        text.len()
    );
    assert!(generated < Duration::from_secs(1), "generate took {generated:?}");
    assert!(
        (9_500..=10_500).contains(&s.resources.len()),
        "{} objects",
        s.resources.len()
    );
    assert_eq!(s.flux_version, FluxVersion::newest());
    // Every kind of the installation appears, listed or implied (HelmCharts of HelmReleases,
    // ExternalArtifacts of ArtifactGenerators).
    let objects = simulator::core::Simulation::new(&s).objects();
    for kind in s.kinds() {
        assert!(objects.iter().any(|o| o["kind"] == kind.kind), "no {}", kind.kind);
    }
    let count = |k: &str| s.resources.iter().filter(|r| r.kind.kind == k).count();
    assert!(
        count("Kustomization") > count("GitRepository") * 3,
        "many Kustomizations per repository"
    );
    assert!(
        count("HelmRelease") > count("HelmRepository") * 3,
        "many HelmReleases per repository"
    );
    assert!(s.faults.len() >= 5);
    assert!(s.resources.iter().any(|r| r.spec.get("dependsOn").is_some()));
    assert_eq!(s.expectations.notifications.len(), 1);
}

#[test]
fn generator_is_deterministic_per_seed() {
    assert_eq!(generate(500, 3), generate(500, 3));
    assert_ne!(generate(500, 3), generate(500, 4));
}

#[test]
fn small_generated_scenarios_are_valid() {
    for n in [0, 1, 20, 100] {
        let text = generate(n, 1);
        load_str(&text, Path::new("small.yaml")).unwrap_or_else(|e| panic!("n={n}: {e}"));
    }
}

// ---- schema ----------------------------------------------------------------------------------

#[test]
fn json_schema_describes_the_file() {
    let schema = json_schema();
    for key in ["apiVersion", "kind", "metadata", "spec"] {
        assert!(schema["properties"][key].is_object(), "no {key}");
    }
    assert_eq!(schema["additionalProperties"], false);
    assert_eq!(
        schema["properties"]["apiVersion"]["enum"][0],
        "flux-sim.flux-monitor.dev/v1alpha1"
    );
    let defs = &schema["$defs"];
    for key in [
        "fluxVersion",
        "seed",
        "duration",
        "scrapeInterval",
        "resources",
        "faults",
        "expectations",
    ] {
        assert!(defs["SpecFile"]["properties"][key].is_object(), "no spec.{key}");
    }
    assert_eq!(
        defs["SpecFile"]["properties"]["resources"]["items"]["$ref"],
        "#/$defs/ResourceFile"
    );
    let kinds = defs["ResourceFile"]["properties"]["kind"]["enum"].as_array().unwrap();
    assert!(kinds.iter().any(|k| k == "Kustomization"));
    let faults = defs["FaultFile"]["properties"]["fault"]["enum"].as_array().unwrap();
    assert_eq!(faults.len(), Fault::ALL.len());
    assert!(defs["FaultFile"]["properties"]["reconcileDuration"].is_object());
    assert!(defs["ExpectationsFile"]["properties"]["notAlerts"].is_object());
    assert_eq!(defs["ResourceFile"]["additionalProperties"], false);
}

#[test]
fn semantic_errors_are_collected_across_sections() {
    let text = "apiVersion: flux-sim.flux-monitor.dev/v1alpha1
kind: Scenario
metadata: {name: many}
spec:
  duration: 10m
  resources:
    - kind: HelmRelease
      name: podinfo
      spec:
        chart: {spec: {chart: podinfo, sourceRef: {kind: OCIRepository, name: charts}}}
        chartRef: {kind: OCIRepository, name: charts}
    - kind: OCIRepository
      name: charts
  faults:
    - {name: late, at: 20m, target: OCIRepository/charts, fault: fetch-failure}
    - {name: late, at: 1m, target: OCIRepository/charts, fault: slow, count: 3}
  expectations:
    alerts:
      - {alertname: FluxSourceFailing, afterFault: early}
      - {alertname: bad name}
";
    let err = load_str(text, Path::new("many.yaml")).unwrap_err().to_string();
    let expected = [
        "many.yaml:10: spec.chart.spec.sourceRef: a HelmRelease cannot refer to an OCIRepository",
        "many.yaml:11: a HelmRelease takes spec.chart or spec.chartRef, not both",
        "many.yaml:15: fault starts at 20m, when the scenario has ended (duration 10m0s)",
        "many.yaml:16: duplicate fault name \"late\" (also fault 0)",
        "many.yaml:16: `count` applies only to event-storm, not to slow",
        "many.yaml:19: afterFault \"early\" names no fault (fault names: late)",
        "many.yaml:20: alertname \"bad name\" is not a valid Prometheus alert name",
    ];
    for e in expected {
        assert!(err.contains(e), "missing `{e}` in:\n{err}");
    }
    assert_eq!(err.lines().count(), expected.len(), "{err}");
}

// ---- limits: what validate accepts runs in bounded time and memory ---------------------------

fn scenario_with(spec: &str) -> String {
    format!(
        "apiVersion: flux-sim.flux-monitor.dev/v1alpha1\nkind: Scenario\nmetadata: {{name: limits}}\nspec:\n{spec}"
    )
}

#[test]
fn unbounded_durations_and_counts_are_rejected_with_the_limit() {
    let cases = [
        ("  scrapeInterval: 1ns\n", "limits.yaml:5: scrapeInterval 1ns is shorter than the 1s minimum"),
        ("  duration: 100000h\n", "limits.yaml:5: duration 100000h is longer than the 720h0m0s a scenario can simulate"),
        (
            "  duration: 720h\n  scrapeInterval: 1s\n",
            "limits.yaml:6: duration 720h0m0s at scrapeInterval 1s makes 2592000 samples per series; at most 100000 are simulated: raise scrapeInterval to at least 26s",
        ),
        (
            "  resources:\n    - {kind: GitRepository, name: repo, interval: 1ms}\n",
            "limits.yaml:6: interval 1ms is shorter than the 1s minimum",
        ),
        (
            "  resources:\n    - {kind: GitRepository, name: repo}\n  faults:\n    - {at: 1m, target: GitRepository/repo, fault: slow, reconcileDuration: 2h}\n",
            "limits.yaml:8: reconcileDuration 2h is longer than the 1h0m0s a reconcile may take",
        ),
        (
            "  resources:\n    - {kind: GitRepository, name: repo}\n  faults:\n    - {at: 1m, target: GitRepository/repo, fault: event-storm, count: 4000000000}\n",
            "limits.yaml:8: count 4000000000 is out of range: give 1 to 10000",
        ),
        (
            "  resources:\n    - {kind: GitRepository, name: repo}\n  faults:\n    - {at: 1m, target: GitRepository/repo, fault: fetch-failure, duration: 99999h}\n",
            "limits.yaml:8: duration 99999h is longer than the 720h0m0s a scenario can simulate",
        ),
    ];
    for (spec, expected) in cases {
        let err = load_str(&scenario_with(spec), Path::new("limits.yaml"))
            .map(|_| String::new())
            .unwrap_or_else(|e| e.to_string());
        assert!(err.contains(expected), "{spec:?}: expected `{expected}` in:\n{err}");
    }
}

#[test]
fn controller_settings_default_to_fluxs_and_are_bounded() {
    let s = load_str(&scenario_with("  duration: 10m\n"), Path::new("d.yaml")).unwrap();
    let source = s.controller_settings(Controller::Source);
    assert_eq!((source.concurrent, source.kube_api_qps, source.kube_api_burst), (2, 50.0, 300));
    assert_eq!(s.controller_settings(Controller::Kustomize).concurrent, 4);

    let text = scenario_with(
        "  controllers:\n    kustomize-controller: {concurrent: 20, kubeApiQps: 500, kubeApiBurst: 1000}\n",
    );
    let s = load_str(&text, Path::new("c.yaml")).unwrap_or_else(|e| panic!("{e}"));
    let k = s.controller_settings(Controller::Kustomize);
    assert_eq!((k.concurrent, k.kube_api_qps, k.kube_api_burst), (20, 500.0, 1000));
    assert_eq!(s.controller_settings(Controller::Helm).concurrent, 4, "others keep Flux's");

    let text = scenario_with(
        "  controllers:\n    kustomize-controller: {concurrent: 0, kubeApiQps: .nan}\n    flux-controller: {concurrent: 1}\n    helm-controller: {burst: 3}\n",
    );
    let err = load_str(&text, Path::new("c.yaml")).unwrap_err().to_string();
    assert!(err.contains("c.yaml:8: unknown field `burst`"), "{err}");
    let text = scenario_with(
        "  controllers:\n    kustomize-controller: {concurrent: 0, kubeApiQps: .nan}\n    flux-controller: {concurrent: 1}\n",
    );
    let err = load_str(&text, Path::new("c.yaml")).unwrap_err().to_string();
    for expected in [
        "c.yaml:6: concurrent 0 is out of range: give 1 to 1000",
        "c.yaml:6: kubeApiQps NaN is out of range",
        "c.yaml:7: unknown controller \"flux-controller\"",
    ] {
        assert!(err.contains(expected), "missing `{expected}` in:\n{err}");
    }
    let schema = json_schema();
    assert!(schema["$defs"]["SpecFile"]["properties"]["controllers"].is_object());
    assert!(schema["$defs"]["ControllerSettingsFile"]["properties"]["kubeApiQps"].is_object());
}

// ---- the flux-sim command: bounded flags, signals ---------------------------------------------

const FLUX_SIM: &str = env!("CARGO_BIN_EXE_flux-sim");

/// Runs flux-sim to completion, at most 60 s (a flag it failed to reject would serve forever).
fn flux_sim(args: &[&str]) -> std::process::Output {
    let mut child = std::process::Command::new(FLUX_SIM)
        .args(args)
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::piped())
        .spawn()
        .unwrap();
    let deadline = Instant::now() + Duration::from_secs(60);
    while child.try_wait().unwrap().is_none() {
        if Instant::now() > deadline {
            let _ = child.kill();
            panic!("flux-sim {args:?} did not stop within 60s");
        }
        std::thread::sleep(Duration::from_millis(20));
    }
    child.wait_with_output().unwrap()
}

fn demo_path() -> String {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../scenarios/demo.yaml").display().to_string()
}

#[test]
fn generate_objects_has_bounds_and_says_so() {
    for (n, expected) in [
        ("0", "0 is fewer than the 11 objects of the generated platform"),
        ("5", "5 is fewer than the 11 objects"),
        ("300000", "at most 200000 objects can be generated"),
        ("lots", "\"lots\" is not a number of objects"),
    ] {
        let o = flux_sim(&["generate", "--objects", n]);
        let err = String::from_utf8_lossy(&o.stderr);
        assert_eq!(o.status.code(), Some(2), "--objects {n}: {err}");
        assert!(err.contains(expected), "--objects {n}: {err}");
        assert!(o.stdout.is_empty(), "--objects {n} printed a scenario");
    }
    let o = flux_sim(&["generate", "--objects", "11"]);
    assert!(o.status.success());
}

#[test]
fn serve_rejects_flags_it_cannot_honour_before_starting() {
    let demo = demo_path();
    let cases: [(&[&str], &str); 6] = [
        (&["--time-scale", "1e300"], "invalid time scale \"1e300\""),
        (&["--time-scale", "0"], "invalid time scale \"0\""),
        (&["--start-at", "1000h"], "--start-at 1000h0m0s is past the end of scenario"),
        (&["--deny", "notakind"], "--deny notakind: the embedded API serves no resource \"notakind\""),
        (&["--deny", "kustomizations:200"], "is not an error code"),
        (&["--rate-limit-interval", "1000h"], "longer than the 24h"),
    ];
    for (flags, expected) in cases {
        let mut args = vec!["serve", "--scenario", demo.as_str()];
        args.extend(flags);
        let o = flux_sim(&args);
        let err = String::from_utf8_lossy(&o.stderr);
        assert_eq!(o.status.code(), Some(2), "{flags:?}: {err}");
        assert!(err.contains(expected), "{flags:?}: {err}");
        assert!(!err.contains("panicked"), "{flags:?}: {err}");
    }
}

#[test]
fn serve_never_quotes_a_kubeconfig_it_cannot_parse() {
    let dir = tempfile::tempdir().unwrap();
    let kc = dir.path().join("kubeconfig");
    std::fs::write(
        &kc,
        "apiVersion: v1\nkind: Config\nusers:\n- name: u\n  user:\n    token: s3cr3t-t0ken-value\n    password: [hunter2-password\n",
    )
    .unwrap();
    let demo = demo_path();
    let o = flux_sim(&["serve", "--scenario", &demo, "--kubeconfig", kc.to_str().unwrap()]);
    let err = String::from_utf8_lossy(&o.stderr);
    assert_eq!(o.status.code(), Some(2), "{err}");
    assert!(!err.contains("s3cr3t") && !err.contains("hunter2"), "{err}");
    assert!(err.contains("not a valid kubeconfig") && err.contains("line 7"), "{err}");
}

#[cfg(unix)]
#[test]
fn serve_stops_on_a_signal_at_any_stage_and_leaves_no_files() {
    let dir = tempfile::tempdir().unwrap();
    let scenario = dir.path().join("big.yaml");
    // Large enough that seeding takes a while, so the signal lands during start-up.
    std::fs::write(&scenario, generate(8_000, 1)).unwrap();
    let tmp = dir.path().join("tmp");
    std::fs::create_dir(&tmp).unwrap();
    let endpoints = dir.path().join("endpoints.json");
    for (signal, after) in [(libc_signal::INT, 300), (libc_signal::TERM, 300), (libc_signal::HUP, 300), (libc_signal::INT, 0)] {
        let _ = std::fs::remove_file(&endpoints);
        let mut child = std::process::Command::new(FLUX_SIM)
            .args(["serve", "--scenario", scenario.to_str().unwrap(), "--start-at", "30m"])
            .arg("--endpoints-out")
            .arg(&endpoints)
            .env("TMPDIR", &tmp)
            .stdout(std::process::Stdio::null())
            .stderr(std::process::Stdio::piped())
            .spawn()
            .unwrap();
        if after == 0 {
            // Once serving: wait (bounded) for the endpoints file.
            let deadline = Instant::now() + Duration::from_secs(120);
            while !endpoints.exists() && Instant::now() < deadline {
                std::thread::sleep(Duration::from_millis(20));
            }
            assert!(endpoints.exists(), "never served");
        } else {
            std::thread::sleep(Duration::from_millis(after));
        }
        let sent = Instant::now();
        std::process::Command::new("kill").arg(format!("-{signal}")).arg(child.id().to_string()).status().unwrap();
        let deadline = sent + Duration::from_secs(10);
        let status = loop {
            if let Some(status) = child.try_wait().unwrap() {
                break Some(status);
            }
            if Instant::now() > deadline {
                let _ = child.kill();
                break None;
            }
            std::thread::sleep(Duration::from_millis(20));
        };
        assert!(status.is_some(), "SIG{signal} not honoured within 10s");
        let left: Vec<_> = std::fs::read_dir(&tmp).unwrap().collect();
        assert!(left.is_empty(), "SIG{signal}: temporary files left: {left:?}");
        assert!(!dir.path().join("endpoints.tmp").exists());
    }
}

/// Signal names as `kill -NAME` takes them.
mod libc_signal {
    pub const INT: &str = "INT";
    pub const TERM: &str = "TERM";
    pub const HUP: &str = "HUP";
}

#[test]
fn logs_on_a_pipe_carry_no_colour() {
    // A warning-level log line: a broken scenario is not one, but an unreachable cluster is.
    let dir = tempfile::tempdir().unwrap();
    let kc = dir.path().join("kubeconfig");
    std::fs::write(
        &kc,
        "apiVersion: v1\nkind: Config\nclusters:\n- name: c\n  cluster: {server: \"http://127.0.0.1:1\"}\nusers:\n- name: u\n  user: {}\ncontexts:\n- name: c\n  context: {cluster: c, user: u}\ncurrent-context: c\n",
    )
    .unwrap();
    let demo = demo_path();
    let o = std::process::Command::new(FLUX_SIM)
        .args(["serve", "--scenario", &demo, "--kubeconfig", kc.to_str().unwrap()])
        .env("FLUX_SIM_LOG", "debug")
        .env_remove("NO_COLOR")
        .output()
        .unwrap();
    let err = String::from_utf8_lossy(&o.stderr);
    assert!(!err.is_empty());
    assert!(!err.contains('\u{1b}'), "ANSI escapes on a pipe: {err:?}");
}

// ---- parser limits in the user's words (found by fuzzing: fuzz/corpus/scenario) ---------------

#[test]
fn a_duplicate_key_is_named_without_the_parsers_options() {
    let text = "apiVersion: flux-sim.flux-monitor.dev/v1alpha1\nkind: Scenario\nmetadata: {name: dup}\nspec:\n  duration: 1h\nspec:\n  duration: 2h\n";
    let err = load_str(text, Path::new("dup.yaml")).unwrap_err().to_string();
    assert!(
        err.starts_with("dup.yaml:") && err.contains("\"spec\" appears twice in the same mapping"),
        "{err}"
    );
    assert!(!err.contains("DuplicateKeyPolicy") && !err.contains("Options"), "{err}");
}

#[test]
fn nesting_past_the_parsers_depth_limit_says_so_in_words() {
    let text = format!(
        "apiVersion: flux-sim.flux-monitor.dev/v1alpha1\nkind: Scenario\nmetadata: {{name: deep}}\nspec:\n  resources:\n    - {{kind: GitRepository, name: a, spec: {{url: {}{}}}}}\n",
        "[".repeat(100),
        "]".repeat(100)
    );
    let err = load_str(&text, Path::new("deep.yaml")).unwrap_err().to_string();
    assert!(err.starts_with("deep.yaml:6: ") && err.contains("nest deeper than 64 levels"), "{err}");
    assert!(!err.contains("budget") && !err.contains("Depth {"), "{err}");
}

#[test]
fn a_type_error_on_a_long_line_quotes_only_the_start_of_it() {
    let text = format!(
        "apiVersion: flux-sim.flux-monitor.dev/v1alpha1\nkind: Scenario\nmetadata: {{name: long}}\nspec:\n  seed: [{}]\n",
        "1,".repeat(20_000)
    );
    let err = load_str(&text, Path::new("long.yaml")).unwrap_err().to_string();
    assert!(err.starts_with("long.yaml:5: ") && err.len() < 300, "{}", &err[..err.len().min(500)]);
}

#[test]
fn a_flux_version_with_line_breaks_is_quoted_on_one_line() {
    let text = "apiVersion: flux-sim.flux-monitor.dev/v1alpha1\nkind: Scenario\nmetadata: {name: v}\nspec:\n  fluxVersion: \"2.10-\\n\\nrc\"\n";
    let err = load_str(text, Path::new("v.yaml")).unwrap_err().to_string();
    assert_eq!(err.lines().count(), 1, "{err}");
    assert!(err.starts_with("v.yaml:5: fluxVersion: \"2.10-\\n\\nrc\" is not a Flux release"), "{err}");
}

#[test]
fn a_reference_with_line_breaks_or_of_great_length_stays_one_short_line() {
    // Found by fuzzing (fuzz/corpus/scenario/crash-ref-with-line-breaks): a sourceRef name
    // holding line breaks split its diagnostic over many lines.
    for name in ["flux-\\n\\nsystem".to_string(), "x".repeat(5000)] {
        let text = format!(
            "apiVersion: flux-sim.flux-monitor.dev/v1alpha1\nkind: Scenario\nmetadata: {{name: r}}\nspec:\n  resources:\n    - kind: Kustomization\n      name: apps\n      spec:\n        path: ./apps\n        sourceRef: {{kind: GitRepository, name: \"{name}\"}}\n"
        );
        let err = load_str(&text, Path::new("r.yaml")).unwrap_err().to_string();
        assert_eq!(err.lines().count(), 1, "{err}");
        assert!(err.contains("is not a resource of this scenario") && err.len() < 800, "{err}");
    }
}

#[test]
fn an_unknown_field_of_great_length_stays_one_short_line() {
    // Found by fuzzing (fuzz/corpus/scenario/crash-long-unknown-field): the parser's "unknown
    // field" message quoted a key of thousands of characters, line breaks and all.
    let key = format!("url{}\n\n{}", "x".repeat(1500), "y".repeat(500));
    let text = format!(
        "apiVersion: flux-sim.flux-monitor.dev/v1alpha1\nkind: Scenario\nmetadata: {{name: k}}\nspec: {{{key}: 1}}\n"
    );
    let err = load_str(&text, Path::new("k.yaml")).unwrap_err().to_string();
    assert_eq!(err.lines().count(), 1, "{err}");
    assert!(err.starts_with("k.yaml:4: unknown field `urlxxx") && err.len() < 800, "{err}");
}
