//! Files as `lint` reads and judges them (`Gathered::add_text`, then every lint rule and
//! `--coverage`): PrometheusRule objects, plain rule groups, VMRule, Thanos and Mimir rule
//! files, Helm templates, ConfigMaps, dashboards, scrape configs, Flux objects. No panic, no
//! hang; errors as FILE:LINE: message in user words; every finding, skip and error points at a
//! line of the file.

#![no_main]

use flux_monitor_fuzz::{assert_file_error, assert_line, text, FILE};
use libfuzzer_sys::fuzz_target;
use model::FluxVersion;
use plugin::lint::input::{As, Gathered};
use plugin::lint::{coverage, ksm, lint_all, scrape, Inputs};

fuzz_target!(|data: &[u8]| {
    let Some(text) = text(data) else { return };
    let mut g = Gathered::default();
    // A file named *.json is read as JSON; anything else as YAML (Helm-templated or not).
    let is_json = text.trim_start().starts_with('{');
    g.add_text(FILE, text.to_string(), is_json, As::Any);
    for e in &g.errors {
        assert_file_error(e, FILE, text);
    }
    let version = FluxVersion::newest();
    let mut findings = Vec::new();
    let inputs = Inputs {
        version,
        intervals: Vec::new(),
        scrape: scrape::model(&g.scrape, version, &mut findings),
        ksm: ksm::Families::read(&g.ksm),
    };
    let mut skipped = g.skipped.clone();
    findings.extend(lint_all(&g, &inputs, &mut skipped));
    for f in &findings {
        assert_eq!(f.file, FILE, "a finding about another file: {f:?}");
        assert_line(f.line, text, &format!("{f:?}"));
    }
    for s in &skipped {
        assert_line(s.line, text, &format!("{s:?}"));
    }
    let _ = coverage::render_text(&coverage::build(&g, &inputs));
});
