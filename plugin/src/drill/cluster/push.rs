//! `--pushgateway-url`: each scenario's result pushed as metrics under the grouping key
//! `job="flux-monitor-drill", scenario="<name>"`, with POST so that a failed run leaves the last
//! success time in place: `flux_monitor_drill_success`, `..._last_run_timestamp_seconds`,
//! `..._last_success_timestamp_seconds` (successful runs only), `..._hop_seconds{expectation,hop}`
//! (time since the fault), `..._expectations{verdict}` and `..._cleanup_seconds`. `rules`'
//! FluxMonitorDrillFailing and FluxMonitorDrillNotRunning alert on them.

use std::fmt::Write as _;

use super::access::{encode, Endpoint};
use super::judge::Verdict;
use super::report::ScenarioReport;

pub const JOB: &str = "flux-monitor-drill";

/// A stable name for a hop (hop texts carry object names with run ids).
fn hop_key(text: &str) -> Option<&'static str> {
    let keys: [(&str, &str); 8] = [
        ("Ready=False", "status"),
        ("spec.suspend=true", "status"),
        (" scraped", "metric"),
        ("pending in Prometheus", "pending"),
        ("firing in Prometheus", "firing"),
        ("in Alertmanager", "alertmanager"),
        ("Alertmanager notified", "notified"),
        ("Flux notification delivered", "flux_notification"),
    ];
    keys.iter().find(|(needle, _)| text.contains(needle)).map(|(_, k)| *k)
}

fn escape(v: &str) -> String {
    v.replace('\\', "\\\\").replace('"', "\\\"").replace('\n', "\\n")
}

/// The exposition text pushed for one scenario.
pub fn exposition(r: &ScenarioReport, now_secs: f64) -> String {
    let mut out = String::new();
    let ok = r.passed();
    let mut gauge = |name: &str, help: &str, rows: Vec<(String, f64)>| {
        let _ = writeln!(out, "# HELP {name} {help}\n# TYPE {name} gauge");
        for (labels, v) in rows {
            let _ = writeln!(out, "{name}{labels} {v}");
        }
    };
    let cluster = format!("{{cluster=\"{}\"}}", escape(&r.cluster));
    gauge(
        "flux_monitor_drill_success",
        "1 if every expectation of the scenario passed and its canaries were removed, else 0.",
        vec![(cluster.clone(), f64::from(u8::from(ok)))],
    );
    gauge(
        "flux_monitor_drill_last_run_timestamp_seconds",
        "When the drill last ran (Unix time).",
        vec![(cluster.clone(), now_secs)],
    );
    if ok {
        gauge(
            "flux_monitor_drill_last_success_timestamp_seconds",
            "When the drill last passed (Unix time).",
            vec![(cluster.clone(), now_secs)],
        );
    }
    let mut hops = Vec::new();
    for c in &r.cases {
        for h in &c.hops {
            if let (Some(key), Some(d)) = (hop_key(&h.hop), h.since_fault) {
                hops.push((
                    format!("{{expectation=\"{}\",hop=\"{key}\"}}", escape(&c.name)),
                    d.as_secs_f64(),
                ));
            }
        }
    }
    gauge(
        "flux_monitor_drill_hop_seconds",
        "Seconds from the fault to each hop of each expectation, as last measured.",
        hops,
    );
    let count = |v: Verdict| r.cases.iter().filter(|c| c.verdict == v).count() as f64;
    gauge(
        "flux_monitor_drill_expectations",
        "Expectations of the last run by verdict.",
        vec![
            ("{verdict=\"passed\"}".into(), count(Verdict::Passed)),
            ("{verdict=\"failed\"}".into(), count(Verdict::Failed)),
            ("{verdict=\"incomplete\"}".into(), count(Verdict::Incomplete)),
        ],
    );
    gauge(
        "flux_monitor_drill_cleanup_seconds",
        "How long removing the canaries took.",
        vec![(String::new(), r.cleanup.took.as_secs_f64())],
    );
    out
}

/// Pushes one scenario's metrics.
pub async fn push(gateway: &Endpoint, r: &ScenarioReport) -> Result<(), String> {
    let now = jiff::Timestamp::now().as_millisecond() as f64 / 1000.0;
    let path = format!("/metrics/job/{JOB}/scenario/{}", encode(&r.name));
    gateway.send(reqwest::Method::POST, &path, exposition(r, now)).await
}
