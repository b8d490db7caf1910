//! The two Prometheus families the tests run against: Debian's packages (Prometheus 2.42,
//! Alertmanager 0.25, in /usr/bin) and the current releases that `make upstream`
//! (scripts/upstream.sh) builds from their Go modules into its cache. `make test` sets
//! FLUX_MONITOR_REQUIRE_UPSTREAM when it built them, so that there a missing family fails the
//! test instead of skipping it.

#![allow(dead_code)]

use std::path::{Path, PathBuf};

#[derive(Debug, Clone)]
pub struct Family {
    /// `debian` or `upstream`.
    pub name: &'static str,
    pub prometheus: PathBuf,
    pub promtool: PathBuf,
    pub alertmanager: PathBuf,
    pub amtool: PathBuf,
}

impl Family {
    /// `--promtool P --amtool P`: the flags of `test`.
    pub fn test_flags(&self) -> Vec<String> {
        vec![
            "--promtool".into(),
            self.promtool.display().to_string(),
            "--amtool".into(),
            self.amtool.display().to_string(),
        ]
    }

    /// `--prometheus P --alertmanager P`: the flags of `drill`.
    pub fn drill_flags(&self) -> Vec<String> {
        vec![
            "--prometheus".into(),
            self.prometheus.display().to_string(),
            "--alertmanager".into(),
            self.alertmanager.display().to_string(),
        ]
    }

    pub fn is_current(&self) -> bool {
        self.name == "upstream"
    }
}

fn all_exist(paths: &[&Path]) -> bool {
    paths.iter().all(|p| p.is_file())
}

pub fn debian() -> Option<Family> {
    let bin = Path::new("/usr/bin");
    let f = Family {
        name: "debian",
        prometheus: bin.join("prometheus"),
        promtool: bin.join("promtool"),
        alertmanager: bin.join("prometheus-alertmanager"),
        amtool: bin.join("amtool"),
    };
    all_exist(&[&f.prometheus, &f.promtool, &f.alertmanager, &f.amtool]).then_some(f)
}

/// The cache `make upstream` fills (the same rule as the plugin's lookup).
pub fn upstream_dir() -> PathBuf {
    if let Some(d) = std::env::var_os("FLUX_MONITOR_UPSTREAM_DIR").filter(|d| !d.is_empty()) {
        return PathBuf::from(d);
    }
    let cache = std::env::var_os("XDG_CACHE_HOME")
        .filter(|d| !d.is_empty())
        .map(PathBuf::from)
        .unwrap_or_else(|| {
            PathBuf::from(std::env::var_os("HOME").unwrap_or_default()).join(".cache")
        });
    cache.join("flux-monitor/upstream")
}

pub fn upstream() -> Option<Family> {
    let dir = upstream_dir();
    let f = Family {
        name: "upstream",
        prometheus: dir.join("prometheus"),
        promtool: dir.join("promtool"),
        alertmanager: dir.join("alertmanager"),
        amtool: dir.join("amtool"),
    };
    if all_exist(&[&f.prometheus, &f.promtool, &f.alertmanager, &f.amtool]) {
        return Some(f);
    }
    assert!(
        std::env::var_os("FLUX_MONITOR_REQUIRE_UPSTREAM").is_none(),
        "the current Prometheus/Alertmanager are not in {}: run make upstream",
        dir.display()
    );
    eprintln!(
        "skipped the current releases: not built in {} (make upstream)",
        dir.display()
    );
    None
}

/// Every family present; a missing one is named on stderr (or fails, see the module doc).
pub fn families() -> Vec<Family> {
    let mut out = Vec::new();
    match debian() {
        Some(f) => out.push(f),
        None => eprintln!("skipped Debian's releases: prometheus/prometheus-alertmanager not installed (make setup)"),
    }
    out.extend(upstream());
    out
}
