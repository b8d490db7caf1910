//! The recommended alerts, as data: one entry per alert with its PromQL, `for`, severity and
//! words. Every expression reads only what a Flux installation monitored the way
//! flux2-monitoring-example sets it up exposes (kube-state-metrics' `gotk_resource_info`, the
//! controllers' `gotk_reconcile_duration_seconds` and `controller_runtime_*`, Prometheus' `up`),
//! and the scenario library (scenarios/library/) proves each one fires in its scenario and stays
//! silent in the healthy baseline.
//!
//! Alerts about one Flux object carry the same three labels, `kind`, `exported_namespace` and
//! `name` (kube-state-metrics calls the kind `customresource_kind`; the rules rename it so that
//! every alert groups and routes alike).

/// One alerting rule of the pack.
#[derive(Debug, Clone, Copy)]
pub struct PackAlert {
    pub name: &'static str,
    /// The rule group it belongs to.
    pub group: &'static str,
    pub expr: &'static str,
    /// Prometheus `for`.
    pub for_: &'static str,
    pub severity: &'static str,
    pub summary: &'static str,
    pub description: &'static str,
    /// The metric families the expression reads (checked against the Flux version's catalog).
    pub metrics: &'static [&'static str],
}

pub const GROUP_OBJECTS: &str = "flux-objects";
pub const GROUP_CONTROLLERS: &str = "flux-controllers";

pub static PACK: &[PackAlert] = &[
    PackAlert {
        name: "FluxReconciliationFailure",
        group: GROUP_OBJECTS,
        expr: r#"max by (kind, exported_namespace, name) (
  label_replace(
    max_over_time(gotk_resource_info{ready="False", suspended!="true", customresource_kind!~"GitRepository|OCIRepository|Bucket|HelmChart|HelmRepository|Alert|Provider"}[3m]),
    "kind", "$1", "customresource_kind", "(.+)"
  )
) == 1"#,
        // Flux retries at the object's interval (10m by default): one failed attempt is not an outage.
        // Every attempt first marks Ready=Unknown "Reconciliation in progress" (kustomize- and
        // helm-controller, and sources' progressive status), so a scrape that lands inside an
        // attempt sees no ready="False" series and would restart `for`: with a 1m retry interval
        // the alert would almost never fire. `max_over_time(...[3m])` bridges such a gap (up to
        // one missed scrape at a 1m scrape interval); the alert resolves up to 3m after recovery.
        for_: "10m",
        severity: "critical",
        summary: "{{ $labels.kind }} {{ $labels.exported_namespace }}/{{ $labels.name }} fails to reconcile",
        description: "{{ $labels.kind }} {{ $labels.exported_namespace }}/{{ $labels.name }} has been Ready=False for more than 10 minutes: its last change is not applied. `kubectl flux-monitor status -n {{ $labels.exported_namespace }} --problems` shows the reason and what blocks it.",
        metrics: &["gotk_resource_info"],
    },
    PackAlert {
        name: "FluxSourceFetchFailure",
        group: GROUP_OBJECTS,
        expr: r#"max by (kind, exported_namespace, name) (
  label_replace(
    max_over_time(gotk_resource_info{ready="False", suspended!="true", customresource_kind=~"GitRepository|OCIRepository|Bucket|HelmChart"}[3m]),
    "kind", "$1", "customresource_kind", "(.+)"
  )
) == 1"#,
        // Sources poll every minute or so; the last good artifact keeps being applied meanwhile.
        for_: "5m",
        severity: "warning",
        summary: "{{ $labels.kind }} {{ $labels.exported_namespace }}/{{ $labels.name }} cannot fetch its artifact",
        description: "{{ $labels.kind }} {{ $labels.exported_namespace }}/{{ $labels.name }} has been Ready=False for more than 5 minutes. Consumers keep applying the last good revision, so new commits, charts or images do not reach the cluster. Check the URL, credentials and the upstream's availability.",
        metrics: &["gotk_resource_info"],
    },
    PackAlert {
        name: "FluxHelmRepoUnavailable",
        group: GROUP_OBJECTS,
        expr: r#"max by (kind, exported_namespace, name) (
  label_replace(
    max_over_time(gotk_resource_info{ready="False", suspended!="true", customresource_kind="HelmRepository"}[3m]),
    "kind", "$1", "customresource_kind", "(.+)"
  )
) == 1"#,
        // HelmRepositories refresh their index every 10m by default.
        for_: "15m",
        severity: "warning",
        summary: "HelmRepository {{ $labels.exported_namespace }}/{{ $labels.name }} is unavailable",
        description: "HelmRepository {{ $labels.exported_namespace }}/{{ $labels.name }} has not fetched its index for more than 15 minutes: HelmReleases of its charts cannot install or upgrade to new versions.",
        metrics: &["gotk_resource_info"],
    },
    PackAlert {
        name: "FluxResourceSuspended",
        group: GROUP_OBJECTS,
        expr: r#"max by (kind, exported_namespace, name) (
  label_replace(
    gotk_resource_info{suspended="true"},
    "kind", "$1", "customresource_kind", "(.+)"
  )
) == 1"#,
        // Suspending for maintenance is normal; forgetting to resume is the problem.
        for_: "30m",
        severity: "warning",
        summary: "{{ $labels.kind }} {{ $labels.exported_namespace }}/{{ $labels.name }} is suspended",
        description: "{{ $labels.kind }} {{ $labels.exported_namespace }}/{{ $labels.name }} has been suspended for more than 30 minutes: Flux does not reconcile it, so drift is not corrected and new revisions are not applied. Resume it with `flux resume` when the maintenance is over.",
        metrics: &["gotk_resource_info"],
    },
    PackAlert {
        name: "FluxReconciliationSlow",
        group: GROUP_OBJECTS,
        expr: r#"(
  sum by (kind, exported_namespace, name) (increase(gotk_reconcile_duration_seconds_sum[30m]))
/
  sum by (kind, exported_namespace, name) (increase(gotk_reconcile_duration_seconds_count[30m]))
) > 120"#,
        for_: "15m",
        severity: "warning",
        summary: "{{ $labels.kind }} {{ $labels.exported_namespace }}/{{ $labels.name }} reconciles slowly",
        description: "Reconciles of {{ $labels.kind }} {{ $labels.exported_namespace }}/{{ $labels.name }} took {{ $value | humanizeDuration }} on average over the last 30 minutes (more than 2 minutes): health checks, Helm waits or a slow API server hold the controller's workers.",
        metrics: &["gotk_reconcile_duration_seconds"],
    },
    PackAlert {
        name: "FluxReconciliationStale",
        group: GROUP_OBJECTS,
        // No reconcile recorded for 90m: longer than the hourly intervals infrastructure layers
        // use (plus jitter), so only an object its controller ignores qualifies; suspended
        // objects excepted. The series must have existed 90m ago (no verdict on new objects or
        // right after start-up) and still exist now: a downed controller serves none, so this
        // stays silent and FluxControllerDown speaks instead. Intervals over 1h need a longer
        // window.
        expr: r#"(
  sum by (kind, exported_namespace, name) (increase(gotk_reconcile_duration_seconds_count[90m])) == 0
)
and on (kind, exported_namespace, name)
  sum by (kind, exported_namespace, name) (gotk_reconcile_duration_seconds_count offset 90m)
and on (kind, exported_namespace, name)
  sum by (kind, exported_namespace, name) (gotk_reconcile_duration_seconds_count)
unless on (kind, exported_namespace, name)
  label_replace(gotk_resource_info{suspended="true"}, "kind", "$1", "customresource_kind", "(.+)")"#,
        for_: "15m",
        severity: "warning",
        summary: "{{ $labels.kind }} {{ $labels.exported_namespace }}/{{ $labels.name }} is not being reconciled",
        description: "No reconcile of {{ $labels.kind }} {{ $labels.exported_namespace }}/{{ $labels.name }} has been recorded for 1h45m although it is not suspended: its controller ignores it (stuck worker, lost watch, sharding mistake), so its status is no longer evidence of anything. Restart the controller or run `flux reconcile`.",
        metrics: &["gotk_reconcile_duration_seconds", "gotk_resource_info"],
    },
    PackAlert {
        name: "FluxControllerDown",
        group: GROUP_CONTROLLERS,
        expr: r#"up{namespace="flux-system"} == 0"#,
        for_: "5m",
        severity: "critical",
        summary: "Flux controller {{ $labels.pod }} is down",
        description: "Prometheus has not scraped {{ $labels.pod }} ({{ $labels.job }}, {{ $labels.instance }}) for more than 5 minutes: nothing it owns is reconciled and its metrics are gone. Check `kubectl -n flux-system get pods` and the pod's events and logs.",
        metrics: &["up"],
    },
    PackAlert {
        name: "FluxHighErrorRate",
        group: GROUP_CONTROLLERS,
        expr: r#"(
  sum by (controller) (rate(controller_runtime_reconcile_errors_total{namespace="flux-system"}[10m]))
/
  sum by (controller) (rate(controller_runtime_reconcile_total{namespace="flux-system"}[10m]))
) > 0.1"#,
        for_: "15m",
        severity: "warning",
        summary: "Flux {{ $labels.controller }} reconciles fail at {{ $value | humanizePercentage }}",
        description: "More than 10% of the {{ $labels.controller }} reconciles have returned an error over the last 10 minutes (now {{ $value | humanizePercentage }}): look for objects that fail or errors in the controller's logs (`flux logs --level=error`).",
        metrics: &["controller_runtime_reconcile_errors_total", "controller_runtime_reconcile_total"],
    },
];

/// The object alerts again for an installation whose per-object metric comes from the Flux
/// Operator (`flux_resource_info`, one series per object with `kind` and capitalised
/// `suspended="True"`, refreshed at each FluxReport: every 5 minutes by default) instead of
/// kube-state-metrics. Same names, groups and meaning; `for` leaves room for the report interval
/// only where the kube-state-metrics pack's window is tight.
pub static FLUX_OPERATOR_OBJECT_ALERTS: &[PackAlert] = &[
    PackAlert {
        name: "FluxReconciliationFailure",
        group: GROUP_OBJECTS,
        expr: r#"max by (kind, exported_namespace, name) (
  max_over_time(flux_resource_info{ready="False", suspended!="True", kind!~"GitRepository|OCIRepository|Bucket|HelmChart|HelmRepository|ExternalArtifact|ArtifactGenerator|Alert|Provider"}[3m])
) == 1"#,
        for_: "10m",
        severity: "critical",
        summary: PACK[0].summary,
        description: PACK[0].description,
        metrics: &["flux_resource_info"],
    },
    PackAlert {
        name: "FluxSourceFetchFailure",
        group: GROUP_OBJECTS,
        expr: r#"max by (kind, exported_namespace, name) (
  max_over_time(flux_resource_info{ready="False", suspended!="True", kind=~"GitRepository|OCIRepository|Bucket|HelmChart|ExternalArtifact|ArtifactGenerator"}[3m])
) == 1"#,
        for_: "5m",
        severity: "warning",
        summary: PACK[1].summary,
        description: PACK[1].description,
        metrics: &["flux_resource_info"],
    },
    PackAlert {
        name: "FluxHelmRepoUnavailable",
        group: GROUP_OBJECTS,
        expr: r#"max by (kind, exported_namespace, name) (
  max_over_time(flux_resource_info{ready="False", suspended!="True", kind="HelmRepository"}[3m])
) == 1"#,
        for_: "15m",
        severity: "warning",
        summary: PACK[2].summary,
        description: PACK[2].description,
        metrics: &["flux_resource_info"],
    },
    PackAlert {
        name: "FluxResourceSuspended",
        group: GROUP_OBJECTS,
        expr: r#"max by (kind, exported_namespace, name) (
  flux_resource_info{suspended="True"}
) == 1"#,
        for_: "30m",
        severity: "warning",
        summary: PACK[3].summary,
        description: PACK[3].description,
        metrics: &["flux_resource_info"],
    },
    PackAlert {
        name: "FluxReconciliationStale",
        group: GROUP_OBJECTS,
        expr: r#"(
  sum by (kind, exported_namespace, name) (increase(gotk_reconcile_duration_seconds_count[90m])) == 0
)
and on (kind, exported_namespace, name)
  sum by (kind, exported_namespace, name) (gotk_reconcile_duration_seconds_count offset 90m)
and on (kind, exported_namespace, name)
  sum by (kind, exported_namespace, name) (gotk_reconcile_duration_seconds_count)
unless on (kind, exported_namespace, name)
  flux_resource_info{suspended="True"}"#,
        for_: "15m",
        severity: "warning",
        summary: PACK[5].summary,
        description: PACK[5].description,
        metrics: &["gotk_reconcile_duration_seconds", "flux_resource_info"],
    },
];

