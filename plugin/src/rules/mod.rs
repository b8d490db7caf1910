//! `kubectl flux-monitor rules`: the recommended PrometheusRule for a Flux version, built only on
//! metrics that version exposes (see [`pack`]); also as a plain Prometheus rule file.

pub mod drills;
pub mod pack;

use std::fmt::Write as _;

use model::metrics;
use model::FluxVersion;

use crate::cli::{RulesArgs, RulesFormat};

pub use pack::{PackAlert, FLUX_OPERATOR_OBJECT_ALERTS, PACK};

/// Where the pack reads each Flux object's state from.
#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
pub enum MetricsSource {
    /// kube-state-metrics with flux2-monitoring-example's custom-resource-state config
    /// (`gotk_resource_info`).
    KubeStateMetrics,
    /// The Flux Operator's reporter (`flux_resource_info`, refreshed every 5 minutes).
    FluxOperator,
}

/// The pack's alerts for a metrics source, in the pack's order.
pub fn pack(source: MetricsSource) -> Vec<&'static PackAlert> {
    PACK.iter()
        .map(|a| match source {
            MetricsSource::KubeStateMetrics => a,
            MetricsSource::FluxOperator => FLUX_OPERATOR_OBJECT_ALERTS.iter().find(|o| o.name == a.name).unwrap_or(a),
        })
        .collect()
}

/// Where `runbook_url` points unless `--runbook-url-base` says otherwise: the runbooks beside
/// the scenarios that prove the rules.
pub const DEFAULT_RUNBOOK_BASE: &str =
    "https://github.com/flux-monitor/flux-monitor/blob/main/scenarios/library/RUNBOOKS.md";

/// The alerts of the pack whose every metric exists in `version`.
pub fn alerts_for(version: FluxVersion, source: MetricsSource) -> Vec<&'static PackAlert> {
    pack(source)
        .into_iter()
        .filter(|a| {
            a.metrics
                .iter()
                .all(|m| metrics::family(m).is_some_and(|f| metrics::exists_in(f, version)))
        })
        .collect()
}

/// The runbook link of one alert: the base and the alert's anchor (its lowercased name).
pub fn runbook_url(base: &str, alert: &str) -> String {
    format!("{}#{}", base.trim_end_matches('#'), alert.to_lowercase())
}

/// The rule groups as YAML, indented by `indent` spaces (`groups:` itself not included).
fn groups_yaml(alerts: &[&PackAlert], runbook_base: &str, indent: usize) -> String {
    let pad = " ".repeat(indent);
    let mut out = String::new();
    let mut groups: Vec<&str> = Vec::new();
    for a in alerts {
        if !groups.contains(&a.group) {
            groups.push(a.group);
        }
    }
    for g in groups {
        let _ = writeln!(out, "{pad}- name: {g}");
        let _ = writeln!(out, "{pad}  rules:");
        for a in alerts.iter().filter(|a| a.group == g) {
            let p = format!("{pad}    ");
            let _ = writeln!(out, "{p}- alert: {}", a.name);
            let _ = writeln!(out, "{p}  expr: |-");
            for line in a.expr.lines() {
                let _ = writeln!(out, "{p}    {line}");
            }
            let _ = writeln!(out, "{p}  for: {}", a.for_);
            let _ = writeln!(out, "{p}  labels:");
            let _ = writeln!(out, "{p}    severity: {}", a.severity);
            let _ = writeln!(out, "{p}  annotations:");
            let _ = writeln!(out, "{p}    summary: {}", quote(a.summary));
            let _ = writeln!(out, "{p}    description: {}", quote(a.description));
            let _ = writeln!(
                out,
                "{p}    runbook_url: {}",
                quote(&runbook_url(runbook_base, a.name))
            );
        }
    }
    out
}

/// A YAML double-quoted scalar (JSON string syntax is valid YAML).
fn quote(s: &str) -> String {
    serde_json::Value::String(s.to_string()).to_string()
}

/// The pack's alerts for `version` and the drills' meta-alerts.
fn with_drills(version: FluxVersion, source: MetricsSource, stale_after: std::time::Duration) -> Vec<&'static PackAlert> {
    let mut alerts = alerts_for(version, source);
    alerts.extend(drills::alerts(stale_after).into_iter().map(|a| &*Box::leak(Box::new(a))));
    alerts
}

/// The pack for `version` as a PrometheusRule (monitoring.coreos.com/v1), drills' meta-alerts
/// with their default staleness.
pub fn prometheus_rule(version: FluxVersion, source: MetricsSource, runbook_base: &str) -> String {
    prometheus_rule_with(version, source, runbook_base, drills::DEFAULT_STALE_AFTER)
}

fn prometheus_rule_with(
    version: FluxVersion,
    source: MetricsSource,
    runbook_base: &str,
    stale_after: std::time::Duration,
) -> String {
    let alerts = with_drills(version, source, stale_after);
    let mut out = header(version, source);
    out.push_str(
        "apiVersion: monitoring.coreos.com/v1\n\
         kind: PrometheusRule\n\
         metadata:\n  \
           name: flux-monitor-alerts\n  \
           namespace: flux-system\n  \
           labels:\n    \
             app.kubernetes.io/name: flux-monitor\n    \
             app.kubernetes.io/component: alerting-rules\n\
         spec:\n  \
           groups:\n",
    );
    out.push_str(&groups_yaml(&alerts, runbook_base, 4));
    out
}

/// The pack for `version` as a plain Prometheus rule file (`rule_files:` of prometheus.yml),
/// drills' meta-alerts with their default staleness (the fuzz targets read it).
pub fn rule_file(version: FluxVersion, source: MetricsSource, runbook_base: &str) -> String {
    rule_file_with(version, source, runbook_base, drills::DEFAULT_STALE_AFTER)
}

fn rule_file_with(
    version: FluxVersion,
    source: MetricsSource,
    runbook_base: &str,
    stale_after: std::time::Duration,
) -> String {
    let alerts = with_drills(version, source, stale_after);
    let mut out = header(version, source);
    out.push_str("groups:\n");
    out.push_str(&groups_yaml(&alerts, runbook_base, 2));
    out
}

fn header(version: FluxVersion, source: MetricsSource) -> String {
    let (needs, flags) = match source {
        MetricsSource::KubeStateMetrics => (
            "kube-state-metrics with flux2-monitoring-example's custom-resource-state config\n# (gotk_resource_info)",
            "",
        ),
        MetricsSource::FluxOperator => (
            "the Flux Operator's metrics (flux_resource_info, refreshed at each FluxReport,\n# every 5 minutes by default)",
            " --resource-metrics flux-operator",
        ),
    };
    format!(
        "# Flux alerts recommended by kubectl flux-monitor for Flux {version}.\n\
         # Needs {needs} and the controllers scraped as flux2-monitoring-example's PodMonitor does.\n\
         # Proven by scenarios/library: kubectl flux-monitor test --scenarios scenarios/library --rules THIS_FILE{flags}\n\
         # The flux-monitor-drills group watches scheduled drills (drill --cluster --pushgateway-url).\n"
    )
}

pub fn run(args: &RulesArgs, out: &mut dyn std::io::Write) -> std::io::Result<u8> {
    let base = args
        .runbook_url_base
        .as_deref()
        .unwrap_or(DEFAULT_RUNBOOK_BASE);
    let text = match args.output {
        RulesFormat::Yaml => prometheus_rule_with(args.flux_version, args.metrics_source, base, args.drill_stale_after),
        RulesFormat::RuleFile => rule_file_with(args.flux_version, args.metrics_source, base, args.drill_stale_after),
    };
    out.write_all(text.as_bytes())?;
    Ok(0)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_metric_of_the_pack_is_in_the_catalog() {
        for a in PACK.iter().chain(FLUX_OPERATOR_OBJECT_ALERTS) {
            for m in a.metrics {
                assert!(metrics::family(m).is_some(), "{}: {m}", a.name);
                assert!(
                    a.expr.contains(m),
                    "{}: declares {m} but does not read it",
                    a.name
                );
            }
        }
    }

    #[test]
    fn same_rules_for_2_4_and_newest() {
        let strip = |s: String| {
            s.lines()
                .filter(|l| !l.starts_with('#'))
                .collect::<Vec<_>>()
                .join("\n")
        };
        for source in [MetricsSource::KubeStateMetrics, MetricsSource::FluxOperator] {
            assert_eq!(
                strip(prometheus_rule(FluxVersion::new(2, 4), source, DEFAULT_RUNBOOK_BASE)),
                strip(prometheus_rule(FluxVersion::newest(), source, DEFAULT_RUNBOOK_BASE))
            );
            assert_eq!(alerts_for(FluxVersion::newest(), source).len(), PACK.len());
        }
    }

    #[test]
    fn the_flux_operator_pack_reads_only_flux_operator_object_state() {
        let text = rule_file(FluxVersion::newest(), MetricsSource::FluxOperator, DEFAULT_RUNBOOK_BASE);
        assert!(!text.contains("gotk_resource_info"), "{text}");
        assert!(text.contains(r#"flux_resource_info{suspended="True"}"#));
        let names = |s: MetricsSource| pack(s).iter().map(|a| a.name).collect::<Vec<_>>();
        assert_eq!(names(MetricsSource::KubeStateMetrics), names(MetricsSource::FluxOperator));
    }
}
