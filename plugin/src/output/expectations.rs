//! What `test` and `drill` share when they report expectations: the PASS/FAIL tag, the closing
//! count line and the JUnit rendering (a suite per scenario, a case per expectation).

use std::time::Duration;

use owo_colors::OwoColorize;
use quick_junit::{NonSuccessKind, Report, TestCase, TestCaseStatus, TestSuite};

/// `PASS` or `FAIL`, coloured when asked.
pub fn tag(passed: bool, color: bool) -> String {
    match (passed, color) {
        (true, true) => "PASS".green().to_string(),
        (false, true) => "FAIL".red().bold().to_string(),
        (true, false) => "PASS".into(),
        (false, false) => "FAIL".into(),
    }
}

/// `N scenario(s), M expectation(s): P passed, F failed (T s)`.
pub fn summary(scenarios: usize, passed: usize, failed: usize, elapsed: Duration) -> String {
    format!(
        "{scenarios} scenario(s), {} expectation(s): {passed} passed, {failed} failed ({:.1}s)\n",
        passed + failed,
        elapsed.as_secs_f64()
    )
}

/// One expectation's outcome as JUnit sees it.
pub struct JunitCase {
    pub name: String,
    pub line: usize,
    pub passed: bool,
    pub reason: String,
    /// Extra text for the case's system-out (e.g. a drill's hop table).
    pub system_out: Option<String>,
}

/// One scenario as a JUnit suite.
pub struct JunitSuite {
    pub name: String,
    /// The scenario's name, used as each case's classname.
    pub scenario: String,
    pub file: String,
    pub elapsed: Duration,
    pub cases: Vec<JunitCase>,
    /// Suite properties (e.g. the versions of the programs the run used).
    pub properties: Vec<(String, String)>,
}

/// The JUnit XML of a run: failures carry the reason and `FILE:LINE: reason`.
pub fn junit(title: &str, suites: impl IntoIterator<Item = JunitSuite>) -> String {
    let mut report = Report::new(title);
    for s in suites {
        let mut suite = TestSuite::new(s.name);
        suite.set_time(s.elapsed);
        for (name, value) in s.properties {
            suite.add_property(quick_junit::Property::new(name, value));
        }
        for c in s.cases {
            let status = if c.passed {
                TestCaseStatus::success()
            } else {
                let mut st = TestCaseStatus::non_success(NonSuccessKind::Failure);
                st.set_message(c.reason.clone());
                st.set_description(format!("{}:{}: {}", s.file, c.line, c.reason));
                st
            };
            let mut case = TestCase::new(c.name, status);
            case.set_classname(s.scenario.clone());
            if let Some(out) = c.system_out {
                case.set_system_out(out);
            }
            suite.add_test_case(case);
        }
        report.add_test_suite(suite);
    }
    report.to_string().unwrap_or_default()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn junit_has_a_suite_per_scenario_and_failures_with_file_and_line() {
        let xml = junit(
            "kubectl flux-monitor test",
            [JunitSuite {
                name: "s (Flux 2.7)".into(),
                scenario: "s".into(),
                file: "s.yaml".into(),
                elapsed: Duration::from_millis(1500),
                cases: vec![
                    JunitCase { name: "A".into(), line: 3, passed: true, reason: "fired".into(), system_out: None },
                    JunitCase { name: "B".into(), line: 9, passed: false, reason: "never fired".into(), system_out: None },
                ],
                properties: vec![("promtool.version".into(), "3.16.0".into())],
            }],
        );
        assert!(xml.contains(r#"<testsuite name="s (Flux 2.7)" tests="2""#), "{xml}");
        assert!(xml.contains(r#"failures="1""#), "{xml}");
        assert!(xml.contains("s.yaml:9: never fired"), "{xml}");
        assert!(xml.contains(r#"<property name="promtool.version" value="3.16.0"/>"#), "{xml}");
        assert_eq!(tag(false, false), "FAIL");
        assert_eq!(summary(1, 1, 1, Duration::from_secs(2)), "1 scenario(s), 2 expectation(s): 1 passed, 1 failed (2.0s)\n");
    }
}
