//! An Alertmanager configuration as `lint --alertmanager-config` reads and judges it (with the
//! recommended rule pack's alerts routed through it). No panic, no hang; errors as FILE:LINE:
//! message in user words; every finding points at a line of the file.

#![no_main]

use std::sync::OnceLock;

use flux_monitor_fuzz::{assert_file_error, assert_line, text, FILE};
use libfuzzer_sys::fuzz_target;
use model::FluxVersion;
use plugin::lint::input::{As, Gathered};
use plugin::lint::prom::AlertRule;
use plugin::lint::{alertmanager, ksm, prom, scrape, Inputs};
use plugin::rules::{self, MetricsSource};

/// The file the pack's rules are read as.
const PACK: &str = "pack.yaml";

/// The pack's alerting rules, read once.
fn pack_alerts() -> &'static [AlertRule] {
    static ALERTS: OnceLock<Vec<AlertRule>> = OnceLock::new();
    ALERTS.get_or_init(|| {
        let version = FluxVersion::newest();
        let text = rules::rule_file(version, MetricsSource::KubeStateMetrics, rules::DEFAULT_RUNBOOK_BASE);
        let mut g = Gathered::default();
        g.add_text(PACK, text, false, As::Rules);
        let inputs = Inputs {
            version,
            intervals: Vec::new(),
            scrape: scrape::model(&[], version, &mut Vec::new()),
            ksm: ksm::Families::read(&[]),
        };
        let alerts: Vec<AlertRule> = g
            .rules
            .iter()
            .flat_map(|d| prom::lint(d, &inputs, &mut Vec::new(), &mut Vec::new()))
            .collect();
        assert!(!alerts.is_empty(), "the pack has alerts");
        alerts
    })
}

fuzz_target!(|data: &[u8]| {
    let Some(text) = text(data) else { return };
    let mut g = Gathered::default();
    g.add_text(FILE, text.to_string(), false, As::Alertmanager);
    for e in &g.errors {
        assert_file_error(e, FILE, text);
    }
    let mut findings = Vec::new();
    for (file, doc) in &g.alertmanager {
        alertmanager::lint(file, doc, pack_alerts(), &mut findings);
    }
    for f in &findings {
        // Findings about a rule (FM023, FM024) point at the pack, whose lines are not checked.
        match f.file.as_str() {
            FILE => assert_line(f.line, text, &format!("{f:?}")),
            PACK => {}
            other => panic!("a finding about another file {other}: {f:?}"),
        }
    }
});
