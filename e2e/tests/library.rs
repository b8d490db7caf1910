//! The scenario library proves the recommended rule pack: `kubectl flux-monitor test` over every
//! scenario of scenarios/library with the pack of `kubectl flux-monitor rules` and the library's
//! Alertmanager config passes every expectation, on Flux 2.4, 2.7 and 2.9, and on 2.7 and 2.9 with
//! the Flux Operator's `flux_resource_info` instead of kube-state-metrics (the pack of `rules
//! --metrics-source flux-operator`); every alert of the pack is expected to fire somewhere, and
//! the healthy baseline forbids every one of them.

use std::process::Command;

use e2e::{bin, workspace};

fn have(tool: &str) -> bool {
    std::env::var_os("PATH")
        .is_some_and(|p| std::env::split_paths(&p).any(|d| d.join(tool).is_file()))
}

fn pack(version: &str, source: &str, dir: &std::path::Path) -> std::path::PathBuf {
    let out = Command::new(bin("kubectl-flux_monitor"))
        .args(["rules", "--flux-version", version, "--metrics-source", source])
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let file = dir.join(format!("flux-{version}-{source}.rules.yaml"));
    std::fs::write(&file, &out.stdout).unwrap();
    file
}

fn alert_names(pack: &std::path::Path) -> Vec<String> {
    std::fs::read_to_string(pack)
        .unwrap()
        .lines()
        .filter_map(|l| l.trim().strip_prefix("- alert: ").map(str::to_string))
        // The drills' meta-alerts read what scheduled drills push; e2e/tests/cluster_drill.rs proves them.
        .filter(|a| !a.starts_with("FluxMonitorDrill"))
        .collect()
}

fn run_library(version: &str, source: &str) {
    assert!(have("promtool") && have("amtool"), "promtool and amtool are needed (make setup installs them)");
    let dir = tempfile::tempdir().unwrap();
    let rules = pack(version, source, dir.path());
    let junit = dir.path().join("library.xml");
    let library = workspace().join("scenarios/library");
    let started = std::time::Instant::now();
    let out = Command::new(bin("kubectl-flux_monitor"))
        .arg("test")
        .arg("--scenarios")
        .arg(&library)
        .arg("--rules")
        .arg(&rules)
        .arg("--alertmanager-config")
        .arg(library.join("alertmanager.yaml"))
        .args(["--flux-version", version, "--resource-metrics", source])
        .arg("--junit")
        .arg(&junit)
        .env("NO_COLOR", "1")
        .output()
        .unwrap();
    let stdout = String::from_utf8_lossy(&out.stdout);
    eprintln!(
        "{stdout}(library on Flux {version} in {:.1}s)",
        started.elapsed().as_secs_f64()
    );
    assert_eq!(
        out.status.code(),
        Some(0),
        "{stdout}{}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert!(!stdout.contains("FAIL"), "{stdout}");
    assert!(stdout.contains(&format!("(Flux {version},")), "{stdout}");

    // Every alert of the pack fires in its scenario and is forbidden in the healthy baseline.
    let baseline = stdout
        .split("scenario ")
        .find(|s| s.starts_with("healthy-baseline"))
        .expect("healthy-baseline ran");
    for alert in alert_names(&rules) {
        assert!(
            stdout
                .lines()
                .any(|l| l.trim_start().starts_with(&format!("PASS {alert}{{"))
                    && l.contains("fired at")),
            "no scenario proves {alert} fires:\n{stdout}"
        );
        assert!(
            baseline.contains(&format!("PASS not {alert}: never fired")),
            "baseline does not forbid {alert}"
        );
    }

    let xml = std::fs::read_to_string(&junit).unwrap();
    let doc = roxmltree::Document::parse(&xml).unwrap();
    let root = doc.root_element();
    assert_eq!(root.attribute("failures"), Some("0"), "{xml}");
    assert!(
        root.children()
            .filter(|n| n.has_tag_name("testsuite"))
            .count()
            >= 12
    );
}

#[test]
fn library_proves_the_pack_on_flux_2_9() {
    run_library("2.9", "kube-state-metrics");
}

#[test]
fn library_proves_the_pack_on_flux_2_7() {
    run_library("2.7", "kube-state-metrics");
}

#[test]
fn library_proves_the_pack_on_flux_2_4() {
    run_library("2.4", "kube-state-metrics");
}

#[test]
fn library_proves_the_flux_operator_pack_on_flux_2_9() {
    let dir = tempfile::tempdir().unwrap();
    let rules = pack("2.9", "flux-operator", dir.path());
    assert!(!std::fs::read_to_string(&rules).unwrap().contains("gotk_resource_info"));
    run_library("2.9", "flux-operator");
}

#[test]
fn library_proves_the_flux_operator_pack_on_flux_2_7() {
    run_library("2.7", "flux-operator");
}
