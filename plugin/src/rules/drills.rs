//! The meta-alerts on scheduled drills (`drill --cluster --pushgateway-url`): a drill that
//! failed (some Flux failure no longer reaches its receiver, or its canaries were not removed)
//! and drills that stopped running (the CronJob is gone, suspended or failing before it pushes).
//! They read the Pushgateway's `flux_monitor_drill_*` metrics, so they select nothing where
//! no drill ever pushed. Both route through the same Alertmanager as what they watch: a
//! dead-man's switch outside it is what catches an Alertmanager that tells nobody.

use std::time::Duration;

use super::pack::PackAlert;

pub const GROUP_DRILLS: &str = "flux-monitor-drills";

/// The default of `rules --drill-stale-after`: a weekly schedule plus a day.
pub const DEFAULT_STALE_AFTER: Duration = Duration::from_secs(8 * 24 * 3600);

/// The two alerts, the staleness threshold written into the second's expression.
pub fn alerts(stale_after: Duration) -> Vec<PackAlert> {
    let secs = stale_after.as_secs();
    let expr: &'static str = Box::leak(
        format!("time() - max by (scenario, cluster) (flux_monitor_drill_last_run_timestamp_seconds) > {secs}")
            .into_boxed_str(),
    );
    let description: &'static str = Box::leak(
        format!(
            "No alert-fire drill of scenario {{{{ $labels.scenario }}}} has run for more than {}: its CronJob is gone, suspended or failing before it pushes, so nobody knows whether Flux failures still reach a person. Check `kubectl get cronjob,jobs -l app.kubernetes.io/name=flux-monitor-drill -A`.",
            model::format_go_duration(stale_after)
        )
        .into_boxed_str(),
    );
    vec![
        PackAlert {
            name: "FluxMonitorDrillFailing",
            group: GROUP_DRILLS,
            expr: "max by (scenario, cluster) (flux_monitor_drill_success) == 0",
            // A failed drill is a fact, not a transient (the next one runs a week later): the
            // shortest `for` that still lets one evaluation confirm it.
            for_: "1m",
            severity: "critical",
            summary: "Alert-fire drill {{ $labels.scenario }} failed",
            description: "The last drill of scenario {{ $labels.scenario }} on {{ $labels.cluster }} failed: a Flux failure it caused did not reach its receiver hop by hop, or its canaries were not removed. Its JUnit report or `kubectl logs` of the last drill Job names the hop.",
            metrics: &[],
        },
        PackAlert {
            name: "FluxMonitorDrillNotRunning",
            group: GROUP_DRILLS,
            expr,
            for_: "1m",
            severity: "warning",
            summary: "Alert-fire drill {{ $labels.scenario }} stopped running",
            description,
            metrics: &[],
        },
    ]
}
