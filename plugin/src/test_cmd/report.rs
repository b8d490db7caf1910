//! The typed outcome of `test` and its two renderings: text (PASS/FAIL lines per scenario) and
//! JUnit XML (a suite per scenario, a case per expectation).

use std::time::Duration;

use model::FluxVersion;
use owo_colors::OwoColorize;
use quick_junit::{NonSuccessKind, Report, TestCase, TestCaseStatus, TestSuite};

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
    pub cases: Vec<Case>,
    pub elapsed: Duration,
}

pub fn text(reports: &[ScenarioReport], elapsed: Duration, color: bool) -> String {
    let mut out = String::new();
    let (mut passed, mut failed) = (0, 0);
    for r in reports {
        out.push_str(&format!(
            "scenario {} (Flux {}, {})\n",
            r.name, r.version, r.file
        ));
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
            out.push_str(&format!("  {tag} {}: {}\n", c.name, c.reason));
        }
    }
    out.push_str(&format!(
        "{} scenario(s), {} expectation(s): {passed} passed, {failed} failed ({:.1}s)\n",
        reports.len(),
        passed + failed,
        elapsed.as_secs_f64()
    ));
    out
}

pub fn junit(reports: &[ScenarioReport]) -> String {
    let mut report = Report::new("kubectl flux-monitor test");
    for r in reports {
        let mut suite = TestSuite::new(format!("{} (Flux {})", r.name, r.version));
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
            if c.passed {
                case.set_system_out(c.reason.clone());
            }
            suite.add_test_case(case);
        }
        report.add_test_suite(suite);
    }
    report.to_string().unwrap_or_default()
}
