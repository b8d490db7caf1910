//! Check reports rendered as a table, JSON or JUnit XML (a testsuite per check, a testcase per
//! object, Deployment or CRD), from one typed report.

use quick_junit::{NonSuccessKind, Report, TestCase, TestCaseStatus, TestSuite};
use serde_json::{json, Value};

use super::checks::{CheckResult, Outcome};

/// The checks of one cluster.
#[derive(Debug, Clone)]
pub struct ClusterReport {
    pub context: String,
    pub flux_version: Option<String>,
    pub results: Vec<CheckResult>,
}

fn outcome_text(o: Outcome) -> &'static str {
    match o {
        Outcome::Pass => "pass",
        Outcome::Fail => "FAIL",
        Outcome::Unknown => "unknown",
    }
}

fn pad(cells: &[String], widths: &[usize]) -> String {
    let mut line = String::new();
    for (i, c) in cells.iter().enumerate() {
        if i + 1 == cells.len() {
            line.push_str(c);
        } else {
            line.push_str(&format!("{c:<w$}   ", w = widths[i]));
        }
    }
    line.trim_end().to_string() + "\n"
}

fn table_of(rows: &[Vec<String>]) -> String {
    let n = rows.first().map_or(0, Vec::len);
    let widths: Vec<usize> = (0..n)
        .map(|i| rows.iter().map(|r| r[i].chars().count()).max().unwrap_or(0))
        .collect();
    rows.iter().map(|r| pad(r, &widths)).collect()
}

pub fn table(reports: &[ClusterReport]) -> String {
    let several = reports.len() > 1;
    let mut out = String::new();
    for r in reports {
        if several {
            out.push_str(&format!("Context {}:\n", r.context));
        }
        let mut rows = vec![vec![
            "CHECK".to_string(),
            "RESULT".into(),
            "PASSED".into(),
            "FAILED".into(),
            "NOTE".into(),
        ]];
        for c in &r.results {
            let failed = c.cases.iter().filter(|k| !k.passed).count();
            rows.push(vec![
                c.id.id().to_string(),
                outcome_text(c.outcome()).to_string(),
                (c.cases.len() - failed).to_string(),
                failed.to_string(),
                c.error.clone().unwrap_or_default(),
            ]);
        }
        out.push_str(&table_of(&rows));
        let mut failures = vec![vec!["CHECK".to_string(), "OBJECT".into(), "MESSAGE".into()]];
        for c in &r.results {
            for k in c.cases.iter().filter(|k| !k.passed) {
                failures.push(vec![
                    c.id.id().to_string(),
                    k.subject.clone(),
                    k.message.clone(),
                ]);
            }
        }
        if failures.len() > 1 {
            out.push('\n');
            out.push_str(&table_of(&failures));
        }
        let (failed, unknown) = (
            r.results
                .iter()
                .filter(|c| c.outcome() == Outcome::Fail)
                .count(),
            r.results
                .iter()
                .filter(|c| c.outcome() == Outcome::Unknown)
                .count(),
        );
        let version = r
            .flux_version
            .as_deref()
            .map(|v| format!(" (Flux {v})"))
            .unwrap_or_default();
        out.push_str(&format!(
            "\n{} checks{version}: {} passed, {failed} failed, {unknown} could not tell\n",
            r.results.len(),
            r.results.len() - failed - unknown
        ));
        if several {
            out.push('\n');
        }
    }
    out
}

pub fn json(reports: &[ClusterReport]) -> Value {
    let clusters: Vec<Value> = reports
        .iter()
        .map(|r| {
            let checks: Vec<Value> = r
                .results
                .iter()
                .map(|c| {
                    json!({
                        "id": c.id.id(),
                        "title": c.id.title(),
                        "result": c.outcome(),
                        "error": c.error,
                        "passed": c.cases.iter().filter(|k| k.passed).count(),
                        "failed": c.cases.iter().filter(|k| !k.passed).count(),
                        "cases": c.cases,
                    })
                })
                .collect();
            json!({"context": r.context, "fluxVersion": r.flux_version, "checks": checks})
        })
        .collect();
    json!({"apiVersion": "flux-monitor.dev/v1alpha1", "kind": "CheckReport", "clusters": clusters})
}

pub fn junit(reports: &[ClusterReport]) -> String {
    let mut report = Report::new("kubectl flux-monitor check");
    let several = reports.len() > 1;
    for r in reports {
        for c in &r.results {
            let name = if several {
                format!("{}/{}", r.context, c.id.id())
            } else {
                c.id.id().to_string()
            };
            let mut suite = TestSuite::new(name);
            for k in &c.cases {
                let status = if k.passed {
                    TestCaseStatus::success()
                } else {
                    let mut s = TestCaseStatus::non_success(NonSuccessKind::Failure);
                    s.set_message(k.message.clone()).set_type(c.id.id());
                    s
                };
                let mut case = TestCase::new(k.subject.clone(), status);
                case.set_classname(c.id.id());
                if k.passed {
                    case.set_system_out(k.message.clone());
                }
                suite.add_test_case(case);
            }
            if let Some(e) = &c.error {
                let mut s = TestCaseStatus::non_success(NonSuccessKind::Error);
                s.set_message(e.clone()).set_type("could-not-tell");
                let mut case = TestCase::new(c.id.id(), s);
                case.set_classname(c.id.id());
                suite.add_test_case(case);
            }
            report.add_test_suite(suite);
        }
    }
    report.to_string().unwrap_or_default()
}
