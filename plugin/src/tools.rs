//! The Prometheus-family programs that `test` and `drill` run (prometheus, promtool, alertmanager,
//! amtool): one lookup for both commands (the flag, else PATH, else the build cache of
//! `make upstream`) and the version each one says it is, so that every report names what it ran
//! against and version-dependent behaviour can be told apart.

use std::fmt;
use std::path::{Path, PathBuf};
use std::process::Command;

/// A program of the Prometheus family.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Program {
    Prometheus,
    Promtool,
    Alertmanager,
    Amtool,
}

impl Program {
    pub fn name(self) -> &'static str {
        match self {
            Program::Prometheus => "prometheus",
            Program::Promtool => "promtool",
            Program::Alertmanager => "alertmanager",
            Program::Amtool => "amtool",
        }
    }

    /// Names to look for on PATH and in the cache: upstream's name, then Debian's where it differs.
    fn file_names(self) -> &'static [&'static str] {
        match self {
            Program::Prometheus => &["prometheus"],
            Program::Promtool => &["promtool"],
            Program::Alertmanager => &["alertmanager", "prometheus-alertmanager"],
            Program::Amtool => &["amtool"],
        }
    }

    fn debian_package(self) -> &'static str {
        match self {
            Program::Prometheus | Program::Promtool => "prometheus",
            Program::Alertmanager | Program::Amtool => "prometheus-alertmanager",
        }
    }
}

/// A release number as the program prints it (`2.42.0+ds` is 2.42.0).
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
pub struct Version {
    pub major: u32,
    pub minor: u32,
    pub patch: u32,
}

impl Version {
    pub const fn new(major: u32, minor: u32, patch: u32) -> Version {
        Version {
            major,
            minor,
            patch,
        }
    }

    /// The leading `MAJOR.MINOR[.PATCH]` of a version string; the rest (`+ds`, `-rc.0`) is ignored.
    pub fn parse(text: &str) -> Option<Version> {
        let text = text.trim().trim_start_matches('v');
        let mut parts = text.split(|c: char| !c.is_ascii_digit());
        let major = parts.next()?.parse().ok()?;
        let minor = parts.next()?.parse().ok()?;
        let patch = parts.next().and_then(|p| p.parse().ok()).unwrap_or(0);
        Some(Version::new(major, minor, patch))
    }
}

impl fmt::Display for Version {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}.{}.{}", self.major, self.minor, self.patch)
    }
}

/// A program found and asked for its version.
#[derive(Debug, Clone, serde::Serialize)]
pub struct Tool {
    pub program: &'static str,
    pub path: PathBuf,
    /// As printed by `--version` (e.g. `3.16.0`, `2.42.0+ds`).
    pub version: String,
    #[serde(skip)]
    pub release: Version,
}

impl Tool {
    /// `promtool 3.16.0 (/usr/bin/promtool)`.
    pub fn describe(&self) -> String {
        format!(
            "{} {} ({})",
            self.program,
            self.version,
            self.path.display()
        )
    }

    pub fn at_least(&self, v: Version) -> bool {
        self.release >= v
    }
}

/// Where `make upstream` leaves the programs it builds (the directory its last line names).
pub fn upstream_dir() -> Option<PathBuf> {
    if let Some(d) = std::env::var_os("FLUX_MONITOR_UPSTREAM_DIR").filter(|d| !d.is_empty()) {
        return Some(PathBuf::from(d));
    }
    let cache = std::env::var_os("XDG_CACHE_HOME")
        .filter(|d| !d.is_empty())
        .map(PathBuf::from)
        .or_else(|| std::env::var_os("HOME").map(|h| PathBuf::from(h).join(".cache")))?;
    Some(cache.join("flux-monitor").join("upstream"))
}

fn is_executable(p: &Path) -> bool {
    use std::os::unix::fs::PermissionsExt;
    p.metadata()
        .is_ok_and(|m| m.is_file() && m.permissions().mode() & 0o111 != 0)
}

/// The program's path: `given` (its flag or environment variable), else the first directory on
/// PATH that has it, else the upstream build cache.
pub fn locate(program: Program, given: Option<&Path>) -> Result<PathBuf, String> {
    if let Some(p) = given {
        if is_executable(p) {
            return Ok(p.to_path_buf());
        }
        return Err(format!(
            "--{} {}: no such executable file",
            program.name(),
            p.display()
        ));
    }
    let mut dirs: Vec<PathBuf> = std::env::var_os("PATH")
        .map(|p| std::env::split_paths(&p).collect())
        .unwrap_or_default();
    dirs.extend(upstream_dir());
    for dir in &dirs {
        for name in program.file_names() {
            let p = dir.join(name);
            if is_executable(&p) {
                return Ok(p);
            }
        }
    }
    Err(format!(
        "{} not found on PATH or in {}: install the Debian package {} (make setup), build the current one with make upstream, or pass --{} PATH",
        program.name(),
        upstream_dir().map_or_else(|| "the upstream cache".into(), |d| d.display().to_string()),
        program.debian_package(),
        program.name()
    ))
}

/// The version a Prometheus-family program prints: `prometheus, version 3.16.0 (branch: ...)`.
pub fn parse_version_output(text: &str) -> Option<String> {
    let line = text.lines().find(|l| l.contains(", version "))?;
    let rest = line.split(", version ").nth(1)?;
    rest.split_whitespace().next().map(str::to_string)
}

/// Finds the program and asks it for its version.
pub fn find(program: Program, given: Option<&Path>) -> Result<Tool, String> {
    let path = locate(program, given)?;
    let out = Command::new(&path)
        .arg("--version")
        .output()
        .map_err(|e| format!("cannot run {}: {e}", path.display()))?;
    // kingpin printed the version on stderr in older releases and on stdout in newer ones.
    let text = format!(
        "{}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    let version = parse_version_output(&text).ok_or_else(|| {
        format!(
            "{} --version did not print a {} version (is it {}?): {}",
            path.display(),
            program.name(),
            program.name(),
            text.lines().next().unwrap_or("no output")
        )
    })?;
    let release = Version::parse(&version)
        .ok_or_else(|| format!("{}: cannot read the version {version:?}", path.display()))?;
    Ok(Tool {
        program: program.name(),
        path,
        version,
        release,
    })
}

/// `against promtool 3.16.0 (/path), amtool 0.35.0 (/path)`.
pub fn against(tools: &[&Tool]) -> String {
    let parts: Vec<String> = tools.iter().map(|t| t.describe()).collect();
    format!("against {}", parts.join(", "))
}

/// JUnit properties naming each tool: `promtool.version`, `promtool.path`, ...
pub fn properties(tools: &[&Tool]) -> Vec<(String, String)> {
    tools
        .iter()
        .flat_map(|t| {
            [
                (format!("{}.version", t.program), t.version.clone()),
                (format!("{}.path", t.program), t.path.display().to_string()),
            ]
        })
        .collect()
}

/// Receiver integrations Alertmanager learned after Debian's 0.25, with the release that added each.
const NEWER_INTEGRATIONS: &[(&str, Version)] = &[
    ("msteams_configs", Version::new(0, 26, 0)),
    ("msteamsv2_configs", Version::new(0, 28, 0)),
    ("jira_configs", Version::new(0, 28, 0)),
    ("rocketchat_configs", Version::new(0, 28, 0)),
    ("incidentio_configs", Version::new(0, 29, 0)),
    ("mattermost_configs", Version::new(0, 30, 0)),
];

/// The release whose matcher parser first reads UTF-8 label names (`"service.name"="api"`).
pub const UTF8_MATCHERS: Version = Version::new(0, 27, 0);

/// Something in an Alertmanager configuration that only newer releases load.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Needs {
    /// Where it is, e.g. `receivers[2] (teams).msteamsv2_configs`.
    pub at: String,
    pub what: String,
    pub since: Version,
}

/// What in `config` needs an Alertmanager newer than some release: receiver integrations added
/// after 0.25, and matchers whose label name the classic parser rejects (UTF-8 matchers, 0.27).
pub fn alertmanager_needs(config: &serde_json::Value) -> Vec<Needs> {
    use serde_json::Value;
    let mut out = Vec::new();
    for (i, r) in config["receivers"]
        .as_array()
        .into_iter()
        .flatten()
        .enumerate()
    {
        let name = r["name"].as_str().unwrap_or("");
        for (key, since) in NEWER_INTEGRATIONS {
            if r.get(*key).is_some_and(|v| !v.is_null()) {
                out.push(Needs {
                    at: format!("receivers[{i}] ({name}).{key}"),
                    what: format!("the {} integration", key.trim_end_matches("_configs")),
                    since: *since,
                });
            }
        }
    }
    fn matchers(v: &Value, at: &str, key: &str, out: &mut Vec<Needs>) {
        for m in v[key]
            .as_array()
            .into_iter()
            .flatten()
            .filter_map(Value::as_str)
        {
            if let Some(name) = utf8_label_name(m) {
                out.push(Needs {
                    at: format!("{at}.{key}"),
                    what: format!("the UTF-8 matcher {m} (label name {name})"),
                    since: UTF8_MATCHERS,
                });
            }
        }
    }
    fn route(v: &Value, at: &str, out: &mut Vec<Needs>) {
        matchers(v, at, "matchers", out);
        for (i, child) in v["routes"].as_array().into_iter().flatten().enumerate() {
            route(child, &format!("{at}.routes[{i}]"), out);
        }
    }
    route(&config["route"], "route", &mut out);
    for (i, rule) in config["inhibit_rules"]
        .as_array()
        .into_iter()
        .flatten()
        .enumerate()
    {
        for key in ["source_matchers", "target_matchers"] {
            matchers(rule, &format!("inhibit_rules[{i}]"), key, &mut out);
        }
    }
    out
}

/// The label name of a matcher when only the UTF-8 parser reads it: quoted, or with characters
/// outside `[a-zA-Z_][a-zA-Z0-9_]*`.
fn utf8_label_name(matcher: &str) -> Option<String> {
    let m = matcher
        .trim()
        .trim_start_matches('{')
        .trim_end_matches('}')
        .trim();
    let end = m.find(['=', '!'])?;
    let name = m[..end].trim();
    let classic = name
        .chars()
        .next()
        .is_some_and(|c| c.is_ascii_alphabetic() || c == '_')
        && name.chars().all(|c| c.is_ascii_alphanumeric() || c == '_');
    (!classic && !name.is_empty()).then(|| name.to_string())
}

/// An error naming each part of `config` (read from `path`) that this Alertmanager or amtool is
/// too old to load, or Ok when it can load them all.
pub fn alertmanager_supports(
    config: &serde_json::Value,
    path: &Path,
    tool: &Tool,
) -> Result<(), String> {
    let missing: Vec<String> = alertmanager_needs(config)
        .into_iter()
        .filter(|n| !tool.at_least(n.since))
        .map(|n| {
            format!(
                "{}: {} needs Alertmanager {} or newer",
                n.at, n.what, n.since
            )
        })
        .collect();
    if missing.is_empty() {
        return Ok(());
    }
    Err(format!(
        "{}: {} {} ({}) cannot load this configuration:\n  {}\nrun it with a newer one: --{} PATH (make upstream builds a current release)",
        path.display(),
        tool.program,
        tool.version,
        tool.path.display(),
        missing.join("\n  "),
        tool.program
    ))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn versions_as_debian_and_upstream_print_them() {
        let debian = "prometheus, version 2.42.0+ds (branch: debian/sid, revision: 2.42.0+ds-5)\n  build user: team+pkg-go@tracker.debian.org\n";
        assert_eq!(parse_version_output(debian).as_deref(), Some("2.42.0+ds"));
        let upstream = "alertmanager, version 0.35.0 (branch: module, revision: v0.35.0)\n";
        assert_eq!(parse_version_output(upstream).as_deref(), Some("0.35.0"));
        assert_eq!(Version::parse("2.42.0+ds"), Some(Version::new(2, 42, 0)));
        assert_eq!(Version::parse("v3.16"), Some(Version::new(3, 16, 0)));
        assert!(Version::parse("3.16.0").unwrap() >= Version::new(3, 0, 0));
        assert_eq!(parse_version_output("usage: foo"), None);
    }

    #[test]
    fn newer_integrations_and_utf8_matchers_name_their_release() {
        let config = serde_json::json!({
            "route": {"receiver": "teams", "matchers": ["severity=critical"],
                      "routes": [{"receiver": "teams", "matchers": ["service.name=\"checkout\"", "{\"team\"=~\"a.*\"}"]}]},
            "inhibit_rules": [{"source_matchers": ["alertname=A"], "target_matchers": ["k8s.namespace!=x"]}],
            "receivers": [{"name": "default"}, {"name": "teams", "msteamsv2_configs": [{"webhook_url": "https://x"}]}]
        });
        let needs = alertmanager_needs(&config);
        let at: Vec<(&str, Version)> = needs.iter().map(|n| (n.at.as_str(), n.since)).collect();
        assert_eq!(
            at,
            [
                (
                    "receivers[1] (teams).msteamsv2_configs",
                    Version::new(0, 28, 0)
                ),
                ("route.routes[0].matchers", UTF8_MATCHERS),
                ("route.routes[0].matchers", UTF8_MATCHERS),
                ("inhibit_rules[0].target_matchers", UTF8_MATCHERS),
            ]
        );
        assert_eq!(
            needs[1].what,
            "the UTF-8 matcher service.name=\"checkout\" (label name service.name)"
        );
        let old = Tool {
            program: "alertmanager",
            path: PathBuf::from("/usr/bin/prometheus-alertmanager"),
            version: "0.25.0".into(),
            release: Version::new(0, 25, 0),
        };
        let e = alertmanager_supports(&config, Path::new("am.yaml"), &old).unwrap_err();
        assert!(e.starts_with("am.yaml: alertmanager 0.25.0 (/usr/bin/prometheus-alertmanager) cannot load this configuration:"), "{e}");
        assert!(e.contains("receivers[1] (teams).msteamsv2_configs: the msteamsv2 integration needs Alertmanager 0.28.0 or newer"), "{e}");
        let new = Tool {
            version: "0.35.0".into(),
            release: Version::new(0, 35, 0),
            ..old
        };
        assert_eq!(
            alertmanager_supports(&config, Path::new("am.yaml"), &new),
            Ok(())
        );
    }

    #[test]
    fn a_missing_flag_path_is_named() {
        let e = locate(Program::Promtool, Some(Path::new("/nonexistent/promtool"))).unwrap_err();
        assert_eq!(
            e,
            "--promtool /nonexistent/promtool: no such executable file"
        );
    }
}
