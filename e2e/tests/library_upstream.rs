//! The scenario library proves the recommended rule pack on the current Prometheus and
//! Alertmanager too: the same run as tests/library.rs (which uses Debian's promtool 2.42 and amtool
//! 0.25 from PATH), with promtool 3.x and amtool 0.31 built by `make upstream` passed as flags.
//! Every expectation passes on both generations, and the report names the versions it ran against.

use std::path::{Path, PathBuf};
use std::process::Command;

use e2e::{bin, upstream_dir, workspace};

/// promtool and amtool from the build cache, or None (skip) unless `make test` built them.
fn current_tools() -> Option<(PathBuf, PathBuf)> {
    let dir = upstream_dir();
    let (promtool, amtool) = (dir.join("promtool"), dir.join("amtool"));
    if promtool.is_file() && amtool.is_file() {
        return Some((promtool, amtool));
    }
    assert!(
        std::env::var_os("FLUX_MONITOR_REQUIRE_UPSTREAM").is_none(),
        "promtool/amtool are not in {}: run make upstream",
        dir.display()
    );
    eprintln!(
        "skipped: the current promtool/amtool are not built in {} (make upstream)",
        dir.display()
    );
    None
}

fn pack(version: &str, dir: &Path) -> PathBuf {
    let out = Command::new(bin("kubectl-flux_monitor"))
        .args(["rules", "--flux-version", version])
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let file = dir.join(format!("flux-{version}.rules.yaml"));
    std::fs::write(&file, &out.stdout).unwrap();
    file
}

fn run_library(version: &str) {
    let Some((promtool, amtool)) = current_tools() else {
        return;
    };
    let dir = tempfile::tempdir().unwrap();
    let rules = pack(version, dir.path());
    let junit = dir.path().join("library.xml");
    let library = workspace().join("scenarios/library");
    let out = Command::new(bin("kubectl-flux_monitor"))
        .arg("test")
        .arg("--scenarios")
        .arg(&library)
        .arg("--rules")
        .arg(&rules)
        .arg("--alertmanager-config")
        .arg(library.join("alertmanager.yaml"))
        .args(["--flux-version", version])
        .arg("--promtool")
        .arg(&promtool)
        .arg("--amtool")
        .arg(&amtool)
        .arg("--junit")
        .arg(&junit)
        .env("NO_COLOR", "1")
        .output()
        .unwrap();
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert_eq!(
        out.status.code(),
        Some(0),
        "{stdout}{}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert!(!stdout.contains("FAIL"), "{stdout}");
    let first = stdout.lines().next().unwrap_or("");
    assert!(first.starts_with("against promtool 3."), "{first}");
    assert!(
        first.contains(&format!("({})", promtool.display()))
            && first.contains(&format!("amtool 0.31.1 ({})", amtool.display())),
        "{first}"
    );
    let xml = std::fs::read_to_string(&junit).unwrap();
    let doc = roxmltree::Document::parse(&xml).unwrap();
    assert_eq!(doc.root_element().attribute("failures"), Some("0"), "{xml}");
    let suites: Vec<_> = doc
        .descendants()
        .filter(|n| n.has_tag_name("testsuite"))
        .collect();
    assert!(suites.len() >= 12, "{xml}");
    for s in suites {
        let props: Vec<(&str, &str)> = s
            .descendants()
            .filter(|n| n.has_tag_name("property"))
            .map(|p| {
                (
                    p.attribute("name").unwrap_or(""),
                    p.attribute("value").unwrap_or(""),
                )
            })
            .collect();
        assert!(
            props
                .iter()
                .any(|(n, v)| *n == "amtool.version" && *v == "0.31.1"),
            "{props:?}"
        );
        assert!(
            props
                .iter()
                .any(|(n, v)| *n == "promtool.version" && v.starts_with("3.")),
            "{props:?}"
        );
    }
}

#[test]
fn library_proves_the_pack_on_the_current_prometheus_and_alertmanager() {
    run_library("2.7");
}

#[test]
fn library_proves_the_pack_for_flux_2_4_on_the_current_prometheus_and_alertmanager() {
    run_library("2.4");
}
