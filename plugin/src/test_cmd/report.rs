//! The typed outcome of `test` and its two renderings: text (PASS/FAIL lines per scenario) and
//! JUnit XML (a suite per scenario, a case per expectation).

use std::time::Duration;

use crate::output::expectations::{self, JunitCase, JunitSuite};
use crate::tools::{self, Tool};
use model::FluxVersion;

#[derive(Debug, Clone)]
pub struct Case {
    /// e.g. `FluxReconciliationFailure{kind="Kustomization"}`, `not FluxControllerDown`.
    pub name: String,
    /// Line of the expectation in the scenario file.
    pub line: usize,
    pub passed: bool,
    pub reason: String,
}

impl Case {
    pub fn new(name: String, line: usize, result: Result<String, String>) -> Case {
        let (passed, reason) = match result {
            Ok(r) => (true, r),
            Err(r) => (false, r),
        };
        Case {
            name,
            line,
            passed,
            reason,
        }
    }
}

#[derive(Debug, Clone)]
pub struct ScenarioReport {
    pub name: String,
    pub file: String,
    pub version: FluxVersion,
    /// What a reader should know about this run (e.g. where promtool 2.x and 3.x disagree).
    pub notes: Vec<String>,
    pub cases: Vec<Case>,
    pub elapsed: Duration,
}

pub fn text(reports: &[ScenarioReport], ran: &[&Tool], elapsed: Duration, color: bool) -> String {
    let mut out = format!("{}\n", tools::against(ran));
    let (mut passed, mut failed) = (0, 0);
    for r in reports {
        out.push_str(&format!(
            "scenario {} (Flux {}, {})\n",
            r.name, r.version, r.file
        ));
        for n in &r.notes {
            out.push_str(&format!("  note: {n}\n"));
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
            out.push_str(&format!("  {tag} {}: {}\n", c.name, c.reason));
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

pub fn junit(reports: &[ScenarioReport], ran: &[&Tool]) -> String {
    let properties = tools::properties(ran);
    let suites = reports.iter().map(|r| JunitSuite {
        properties: properties.clone(),
        name: format!("{} (Flux {})", r.name, r.version),
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
                system_out: c.passed.then(|| c.reason.clone()),
            })
            .collect(),
    });
    expectations::junit("kubectl flux-monitor test", suites)
}
