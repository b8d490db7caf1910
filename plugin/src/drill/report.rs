//! The typed outcome of a drill and its renderings: text (PASS/FAIL per expectation with the hop
//! table), JSON (for scripts and the bench) and JUnit XML (a suite per scenario, a case per
//! expectation, the hop table as system-out).

use std::fmt::Write as _;
use std::time::Duration;

use owo_colors::OwoColorize;
use quick_junit::{NonSuccessKind, Report, TestCase, TestCaseStatus, TestSuite};

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

pub fn text(reports: &[ScenarioReport], elapsed: Duration, color: bool) -> String {
    let mut out = String::new();
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
            let tag = match (c.passed, color) {
                (true, true) => "PASS".green().to_string(),
                (false, true) => "FAIL".red().bold().to_string(),
                (true, false) => "PASS".into(),
                (false, false) => "FAIL".into(),
            };
            if c.passed {
                passed += 1;
            } else {
                failed += 1;
            }
            let _ = writeln!(out, "  {tag} {}: {}", c.name, c.reason);
            out.push_str(&hop_table(&c.hops, "         "));
        }
    }
    let _ = writeln!(
        out,
        "{} scenario(s), {} expectation(s): {passed} passed, {failed} failed ({:.1}s)",
        reports.len(),
        passed + failed,
        elapsed.as_secs_f64()
    );
    out
}

pub fn json(reports: &[ScenarioReport]) -> String {
    let failed = reports
        .iter()
        .flat_map(|r| &r.cases)
        .filter(|c| !c.passed)
        .count();
    let v = serde_json::json!({"scenarios": reports, "failed": failed});
    serde_json::to_string_pretty(&v).unwrap_or_default() + "\n"
}

pub fn junit(reports: &[ScenarioReport]) -> String {
    let mut report = Report::new("kubectl flux-monitor drill");
    for r in reports {
        let mut suite = TestSuite::new(format!(
            "{} (Flux {}, time scale {})",
            r.name, r.flux_version, r.time_scale
        ));
        suite.set_time(r.elapsed);
        for c in &r.cases {
            let status = if c.passed {
                TestCaseStatus::success()
            } else {
                let mut s = TestCaseStatus::non_success(NonSuccessKind::Failure);
                s.set_message(c.reason.clone());
                s.set_description(format!("{}:{}: {}", r.file, c.line, c.reason));
                s
            };
            let mut case = TestCase::new(c.name.clone(), status);
            case.set_classname(r.name.clone());
            case.set_system_out(format!("{}\n{}", c.reason, hop_table(&c.hops, "")));
            suite.add_test_case(case);
        }
        report.add_test_suite(suite);
    }
    report.to_string().unwrap_or_default()
}
