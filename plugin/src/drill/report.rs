//! The typed outcome of a drill and its renderings: text (PASS/FAIL per expectation with the hop
//! table), JSON (for scripts and the bench) and JUnit XML (a suite per scenario, a case per
//! expectation, the hop table as system-out).

use std::fmt::Write as _;
use std::time::Duration;

use crate::output::expectations::{self, JunitCase, JunitSuite};
use crate::tools::{self, Tool};

use super::judge::{fmt_d, Case, Hop};

#[derive(Debug, Clone, serde::Serialize)]
#[serde(rename_all = "camelCase")]
pub struct ScenarioReport {
    pub name: String,
    pub file: String,
    pub flux_version: String,
    pub time_scale: f64,
    /// What the compression changed that a reader should know (floors, dropped integrations).
    pub notes: Vec<String>,
    /// Scaled `for` of each alert the expectations name, and the group_wait of each route.
    pub timers: Vec<(String, f64)>,
    pub cases: Vec<Case>,
    #[serde(serialize_with = "secs")]
    pub elapsed: Duration,
}

fn secs<S: serde::Serializer>(d: &Duration, s: S) -> Result<S::Ok, S::Error> {
    s.serialize_f64(d.as_secs_f64())
}

fn hop_table(hops: &[Hop], indent: &str) -> String {
    let width = hops.iter().map(|h| h.hop.len()).max().unwrap_or(0).max(3);
    let mut out = String::new();
    if hops.is_empty() {
        return out;
    }
    let _ = writeln!(
        out,
        "{indent}{:<width$}  {:>10}  {:>8}",
        "HOP", "SCENARIO", "WALL"
    );
    for h in hops {
        let _ = writeln!(
            out,
            "{indent}{:<width$}  {:>10}  {:>7.2}s",
            h.hop,
            fmt_d(h.scenario),
            h.wall.as_secs_f64()
        );
    }
    out
}

pub fn text(reports: &[ScenarioReport], ran: &[&Tool], elapsed: Duration, color: bool) -> String {
    let mut out = format!("{}\n", tools::against(ran));
    let (mut passed, mut failed) = (0, 0);
    for r in reports {
        let _ = writeln!(
            out,
            "scenario {} (Flux {}, {}) at time scale {}: 1s wall = {} scenario",
            r.name,
            r.flux_version,
            r.file,
            r.time_scale,
            fmt_d(Duration::from_secs_f64(r.time_scale))
        );
        for n in &r.notes {
            let _ = writeln!(out, "  note: {n}");
        }
        if r.cases.is_empty() {
            out.push_str("  (no expectations)\n");
        }
        for c in &r.cases {
            let tag = expectations::tag(c.passed, color);
            if c.passed {
                passed += 1;
            } else {
                failed += 1;
            }
            let _ = writeln!(out, "  {tag} {}: {}", c.name, c.reason);
            out.push_str(&hop_table(&c.hops, "         "));
        }
    }
    out.push_str(&expectations::summary(
        reports.len(),
        passed,
        failed,
        elapsed,
    ));
    out
}

pub fn json(reports: &[ScenarioReport], ran: &[&Tool]) -> String {
    let failed = reports
        .iter()
        .flat_map(|r| &r.cases)
        .filter(|c| !c.passed)
        .count();
    let v = serde_json::json!({"tools": ran, "scenarios": reports, "failed": failed});
    serde_json::to_string_pretty(&v).unwrap_or_default() + "\n"
}

pub fn junit(reports: &[ScenarioReport], ran: &[&Tool]) -> String {
    let properties = tools::properties(ran);
    let suites = reports.iter().map(|r| JunitSuite {
        properties: properties.clone(),
        name: format!(
            "{} (Flux {}, time scale {})",
            r.name, r.flux_version, r.time_scale
        ),
        scenario: r.name.clone(),
        file: r.file.clone(),
        elapsed: r.elapsed,
        cases: r
            .cases
            .iter()
            .map(|c| JunitCase {
                name: c.name.clone(),
                line: c.line,
                passed: c.passed,
                reason: c.reason.clone(),
                system_out: Some(format!("{}\n{}", c.reason, hop_table(&c.hops, ""))),
            })
            .collect(),
    });
    expectations::junit("kubectl flux-monitor drill", suites)
}
