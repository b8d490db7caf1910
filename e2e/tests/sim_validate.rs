//! `flux-sim validate` on every invalid-scenario fixture: exit 2 and a FILE:LINE message. (The
//! line and wording of each case are asserted in simulator/tests/scenario.rs.)

use std::process::Command;

use e2e::{bin, scenario, workspace};

#[test]
fn every_invalid_fixture_exits_2_naming_file_and_line() {
    let dir = workspace().join("simulator/tests/fixtures/invalid");
    let mut fixtures: Vec<_> = std::fs::read_dir(&dir).expect("fixtures dir").map(|e| e.unwrap().path()).collect();
    fixtures.sort();
    assert!(fixtures.len() >= 30, "expected the whole invalid-case catalogue, found {}", fixtures.len());
    for fixture in fixtures {
        let out = Command::new(bin("flux-sim")).arg("validate").arg(&fixture).output().expect("run flux-sim");
        let stderr = String::from_utf8_lossy(&out.stderr);
        assert_eq!(out.status.code(), Some(2), "{}: exit {:?}, stderr: {stderr}", fixture.display(), out.status.code());
        let name = fixture.file_name().unwrap().to_string_lossy().to_string();
        let located = stderr.lines().any(|l| {
            l.split_once(&format!("{name}:"))
                .and_then(|(_, rest)| rest.split_once(':'))
                .is_some_and(|(line, _)| line.parse::<usize>().is_ok_and(|n| n > 0))
        });
        assert!(located, "{name}: no `{name}:LINE:` in stderr: {stderr}");
    }
}

#[test]
fn valid_scenarios_validate_and_schema_and_generate_work() {
    let out = Command::new(bin("flux-sim")).arg("validate").arg(scenario("demo.yaml")).output().unwrap();
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
    assert!(String::from_utf8_lossy(&out.stdout).contains("ok: scenario demo"));

    let schema = Command::new(bin("flux-sim")).arg("schema").output().unwrap();
    let schema: serde_json::Value = serde_json::from_slice(&schema.stdout).expect("schema is JSON");
    assert!(schema.to_string().contains("resources"));

    let dir = tempfile::tempdir().unwrap();
    let generated = dir.path().join("generated.yaml");
    let out = Command::new(bin("flux-sim")).args(["generate", "--objects", "300", "--seed", "3"]).output().unwrap();
    std::fs::write(&generated, &out.stdout).unwrap();
    let out = Command::new(bin("flux-sim")).arg("validate").arg(&generated).output().unwrap();
    assert!(out.status.success(), "generated scenario invalid: {}", String::from_utf8_lossy(&out.stderr));
}

#[test]
fn serve_with_a_bad_scenario_exits_2() {
    let dir = tempfile::tempdir().unwrap();
    let bad = dir.path().join("bad.yaml");
    std::fs::write(&bad, "apiVersion: flux-sim.flux-monitor.dev/v1alpha1\nkind: Scenario\nmetadata: {name: x}\nspec:\n  duration: forever\n").unwrap();
    let out = Command::new(bin("flux-sim")).arg("serve").arg("--scenario").arg(&bad).output().unwrap();
    assert_eq!(out.status.code(), Some(2));
    assert!(String::from_utf8_lossy(&out.stderr).contains("bad.yaml:5:"), "{}", String::from_utf8_lossy(&out.stderr));
}
