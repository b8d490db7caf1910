//! A cluster drill's report and its renderings: text (PASS/FAIL/INCOMPLETE per expectation with
//! the hop table: time since the fault and the window theory allows), JSON, and JUnit through
//! the renderer `test` and `drill --local` share.

use std::fmt::Write as _;
use std::time::Duration;

use owo_colors::OwoColorize;

use super::canary::Cleaned;
use super::judge::{Case, Hop, Verdict};
use crate::drill::judge::fmt_d;
use crate::output::expectations::{self, JunitCase, JunitSuite};

#[derive(Debug, Clone, serde::Serialize)]
#[serde(rename_all = "camelCase")]
pub struct ScenarioReport {
    pub name: String,
    pub file: String,
    /// The kubeconfig context (or `in-cluster`).
    pub cluster: String,
    pub run_id: String,
    pub canaries: Vec<String>,
    /// What was measured or could not be read, in words.
    pub notes: Vec<String>,
    pub cases: Vec<Case>,
    pub cleanup: Cleaned,
    #[serde(serialize_with = "secs")]
    pub elapsed: Duration,
}

fn secs<S: serde::Serializer>(d: &Duration, s: S) -> Result<S::Ok, S::Error> {
    s.serialize_f64((d.as_secs_f64() * 1000.0).round() / 1000.0)
}

impl ScenarioReport {
    pub fn passed(&self) -> bool {
        self.cases.iter().all(|c| c.verdict == Verdict::Passed) && self.cleanup.left.is_empty()
    }
}

fn tag(v: Verdict, color: bool) -> String {
    match v {
        Verdict::Passed => expectations::tag(true, color),
        Verdict::Failed => expectations::tag(false, color),
        Verdict::Incomplete if color => "INCOMPLETE".yellow().bold().to_string(),
        Verdict::Incomplete => "INCOMPLETE".into(),
    }
}

fn short(d: Duration) -> String {
    if d < Duration::from_secs(60) {
        format!("{:.1}s", d.as_secs_f64())
    } else {
        fmt_d(d)
    }
}

fn hop_table(hops: &[Hop], indent: &str) -> String {
    if hops.is_empty() {
        return String::new();
    }
    let width = hops.iter().map(|h| h.hop.chars().count()).max().unwrap_or(0).max(3);
    let mut out = String::new();
    let _ = writeln!(
        out,
        "{indent}{:<width$}  {:>11}  {:>13}",
        "HOP", "SINCE FAULT", "THEORY"
    );
    for h in hops {
        let since = match (&h.since_fault, &h.unobservable) {
            (Some(d), _) => short(*d),
            (None, Some(_)) => "n/a".into(),
            (None, None) => "never".into(),
        };
        let theory = h
            .theory
            .map(|(a, b)| format!("{}–{}", short(a), short(b)))
            .unwrap_or_default();
        let _ = writeln!(out, "{indent}{:<width$}  {since:>11}  {theory:>13}", h.hop);
        if let Some(why) = &h.unobservable {
            let _ = writeln!(out, "{indent}  not observable: {why}");
        }
    }
    out
}

pub fn text(reports: &[ScenarioReport], elapsed: Duration, color: bool) -> String {
    let mut out = String::new();
    let (mut passed, mut failed, mut incomplete) = (0, 0, 0);
    for r in reports {
        let _ = writeln!(
            out,
            "scenario {} ({}) on cluster {}, run {}",
            r.name, r.file, r.cluster, r.run_id
        );
        if !r.canaries.is_empty() {
            let _ = writeln!(out, "  canaries: {}", r.canaries.join(", "));
        }
        for n in &r.notes {
            let _ = writeln!(out, "  note: {n}");
        }
        if r.cases.is_empty() {
            out.push_str("  (no expectations)\n");
        }
        for c in &r.cases {
            match c.verdict {
                Verdict::Passed => passed += 1,
                Verdict::Failed => failed += 1,
                Verdict::Incomplete => incomplete += 1,
            }
            let _ = writeln!(out, "  {} {}: {}", tag(c.verdict, color), c.name, c.reason);
            out.push_str(&hop_table(&c.hops, "         "));
        }
        let _ = writeln!(
            out,
            "  cleanup: {} object(s) deleted{} in {}",
            r.cleanup.deleted.len(),
            if r.cleanup.restored.is_empty() {
                String::new()
            } else {
                format!(", {} restored", r.cleanup.restored.len())
            },
            short(r.cleanup.took)
        );
        for l in &r.cleanup.left {
            let _ = writeln!(out, "  cleanup FAILED: {l}");
        }
    }
    let _ = writeln!(
        out,
        "{} scenario(s), {} expectation(s): {passed} passed, {failed} failed, {incomplete} incomplete ({:.1}s)",
        reports.len(),
        passed + failed + incomplete,
        elapsed.as_secs_f64()
    );
    out
}

pub fn json(reports: &[ScenarioReport]) -> String {
    let count = |v: Verdict| reports.iter().flat_map(|r| &r.cases).filter(|c| c.verdict == v).count();
    let v = serde_json::json!({
        "scenarios": reports,
        "failed": count(Verdict::Failed),
        "incomplete": count(Verdict::Incomplete),
    });
    serde_json::to_string_pretty(&v).unwrap_or_default() + "\n"
}

pub fn junit(reports: &[ScenarioReport]) -> String {
    let suites = reports.iter().map(|r| {
        let mut cases: Vec<JunitCase> = r
            .cases
            .iter()
            .map(|c| JunitCase {
                name: c.name.clone(),
                line: c.line,
                passed: c.verdict == Verdict::Passed,
                reason: match c.verdict {
                    Verdict::Incomplete => format!("incomplete: {}", c.reason),
                    _ => c.reason.clone(),
                },
                system_out: Some(format!("{}\n{}", c.reason, hop_table(&c.hops, ""))),
            })
            .collect();
        cases.push(JunitCase {
            name: "cleanup: no canary left".into(),
            line: 0,
            passed: r.cleanup.left.is_empty(),
            reason: if r.cleanup.left.is_empty() {
                format!(
                    "{} object(s) deleted in {}",
                    r.cleanup.deleted.len(),
                    short(r.cleanup.took)
                )
            } else {
                r.cleanup.left.join("; ")
            },
            system_out: None,
        });
        JunitSuite {
            name: format!("{} (cluster {}, run {})", r.name, r.cluster, r.run_id),
            scenario: r.name.clone(),
            file: r.file.clone(),
            elapsed: r.elapsed,
            cases,
            properties: vec![("cluster".into(), r.cluster.clone()), ("run".into(), r.run_id.clone())],
        }
    });
    expectations::junit("kubectl flux-monitor drill --cluster", suites)
}
