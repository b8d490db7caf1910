//! The metrics catalog per Flux version: which families exist, with which labels, served by
//! whom (a Flux controller, kube-state-metrics with flux2-monitoring-example's config, or
//! Prometheus itself). The simulator emits from it; lint and test judge rules against it.

use crate::kinds::Controller;
use crate::version::FluxVersion;

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum MetricType {
    Counter,
    Gauge,
    Histogram,
    /// kube-state-metrics custom-resource-state `Info` metric (exposed as a gauge of value 1).
    Info,
}

/// Who serves a family.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum MetricSource {
    /// Every Flux controller's `/metrics` (port 8080, `http-prom`).
    Controller,
    /// kube-state-metrics with the custom-resource-state config of flux2-monitoring-example.
    KubeStateMetrics,
    /// Prometheus itself (`up`, `scrape_*`).
    Prometheus,
}

#[derive(Debug, Clone, Copy)]
pub struct MetricFamily {
    pub name: &'static str,
    pub type_: MetricType,
    pub help: &'static str,
    pub labels: &'static [&'static str],
    pub source: MetricSource,
}

/// `ExponentialBucketsRange(0.01, 1800, 10)` of fluxcd/pkg runtime/metrics/recorder.go, to the
/// last bit as Go's `math.Pow` computes them (they print as `le` labels, so every digit shows;
/// the top bucket is not exactly 1800). Checked against a real helm-controller's `/metrics`
/// quoted in fluxcd/helm-controller#1100.
pub const RECONCILE_DURATION_BUCKETS: [f64; 10] = [
    0.01,
    0.038_363_583_488_692_544,
    0.147_176_453_809_388_3,
    0.564_621_617_328_616_9,
    2.166_090_855_590_701,
    8.309_900_738_254_731,
    31.879_757_075_478_317,
    122.302_172_216_434_93,
    469.194_959_467_365_44,
    1_799.999_999_999_998_6,
];

/// controller-runtime's `controller_runtime_reconcile_time_seconds` buckets (v0.15+,
/// pkg/internal/controller/metrics/metrics.go).
pub const CONTROLLER_RUNTIME_BUCKETS: [f64; 40] = [
    0.005, 0.01, 0.025, 0.05, 0.1, 0.15, 0.2, 0.25, 0.3, 0.35, 0.4, 0.45, 0.5, 0.6, 0.7, 0.8, 0.9, 1.0, 1.25, 1.5,
    1.75, 2.0, 2.5, 3.0, 3.5, 4.0, 4.5, 5.0, 6.0, 7.0, 8.0, 9.0, 10.0, 15.0, 20.0, 25.0, 30.0, 40.0, 50.0, 60.0,
];

pub const RECONCILE_DURATION: MetricFamily = MetricFamily {
    name: "gotk_reconcile_duration_seconds",
    type_: MetricType::Histogram,
    help: "The duration in seconds of a GitOps Toolkit resource reconciliation.",
    labels: &["kind", "name", "namespace"],
    source: MetricSource::Controller,
};
pub const RECONCILE_CONDITION: MetricFamily = MetricFamily {
    name: "gotk_reconcile_condition",
    type_: MetricType::Gauge,
    help: "The current condition status of a GitOps Toolkit resource reconciliation.",
    labels: &["kind", "name", "namespace", "type", "status"],
    source: MetricSource::Controller,
};
pub const SUSPEND_STATUS: MetricFamily = MetricFamily {
    name: "gotk_suspend_status",
    type_: MetricType::Gauge,
    help: "The current suspend status of a GitOps Toolkit resource.",
    labels: &["kind", "name", "namespace"],
    source: MetricSource::Controller,
};
pub const RECONCILE_TOTAL: MetricFamily = MetricFamily {
    name: "controller_runtime_reconcile_total",
    type_: MetricType::Counter,
    help: "Total number of reconciliations per controller",
    labels: &["controller", "result"],
    source: MetricSource::Controller,
};
pub const RECONCILE_ERRORS_TOTAL: MetricFamily = MetricFamily {
    name: "controller_runtime_reconcile_errors_total",
    type_: MetricType::Counter,
    help: "Total number of reconciliation errors per controller",
    labels: &["controller"],
    source: MetricSource::Controller,
};
pub const TERMINAL_RECONCILE_ERRORS_TOTAL: MetricFamily = MetricFamily {
    name: "controller_runtime_terminal_reconcile_errors_total",
    type_: MetricType::Counter,
    help: "Total number of terminal reconciliation errors per controller",
    labels: &["controller"],
    source: MetricSource::Controller,
};
pub const RECONCILE_PANICS_TOTAL: MetricFamily = MetricFamily {
    name: "controller_runtime_reconcile_panics_total",
    type_: MetricType::Counter,
    help: "Total number of reconciliation panics per controller",
    labels: &["controller"],
    source: MetricSource::Controller,
};
pub const RECONCILE_TIME: MetricFamily = MetricFamily {
    name: "controller_runtime_reconcile_time_seconds",
    type_: MetricType::Histogram,
    help: "Length of time per reconciliation per controller",
    labels: &["controller"],
    source: MetricSource::Controller,
};
pub const MAX_CONCURRENT_RECONCILES: MetricFamily = MetricFamily {
    name: "controller_runtime_max_concurrent_reconciles",
    type_: MetricType::Gauge,
    help: "Maximum number of concurrent reconciles per controller",
    labels: &["controller"],
    source: MetricSource::Controller,
};
pub const ACTIVE_WORKERS: MetricFamily = MetricFamily {
    name: "controller_runtime_active_workers",
    type_: MetricType::Gauge,
    help: "Number of currently used workers per controller",
    labels: &["controller"],
    source: MetricSource::Controller,
};
pub const RESOURCE_INFO: MetricFamily = MetricFamily {
    name: "gotk_resource_info",
    type_: MetricType::Info,
    // Each resource of the config has its own HELP; kube-state-metrics writes a family's header
    // once, from the first resource in its writer order (sorted GVR strings: helm.toolkit first).
    help: "The current state of a Flux HelmRelease resource.",
    labels: &[
        "customresource_group",
        "customresource_kind",
        "customresource_version",
        "name",
        "exported_namespace",
        "ready",
        "suspended",
        "revision",
        "url",
        "source_name",
        "chart_name",
        "chart_version",
        "chart_app_version",
        "chart_ref_name",
        "chart_source_name",
        "endpoint",
        "bucket_name",
        "webhook_path",
        "image",
    ],
    source: MetricSource::KubeStateMetrics,
};
pub const UP: MetricFamily = MetricFamily {
    name: "up",
    type_: MetricType::Gauge,
    help: "1 if the target's last scrape succeeded, 0 otherwise.",
    labels: &["job", "instance"],
    source: MetricSource::Prometheus,
};

/// Every family the catalog knows, in any version.
pub const ALL: &[MetricFamily] = &[
    RECONCILE_DURATION,
    RECONCILE_CONDITION,
    SUSPEND_STATUS,
    RECONCILE_TOTAL,
    RECONCILE_ERRORS_TOTAL,
    TERMINAL_RECONCILE_ERRORS_TOTAL,
    RECONCILE_PANICS_TOTAL,
    RECONCILE_TIME,
    MAX_CONCURRENT_RECONCILES,
    ACTIVE_WORKERS,
    RESOURCE_INFO,
    UP,
];

/// Whether `controller` of Flux `version` emits `family` (kube-state-metrics and Prometheus
/// families are available whatever the Flux version).
pub fn emitted_by(family: &MetricFamily, version: FluxVersion, controller: Controller) -> bool {
    match family.name {
        // Deprecated in 2.1; helm-controller stopped in 2.2; image-automation-controller in 2.3
        // (v0.38.0 records only durations); removed everywhere in 2.5.0 (kustomize-controller
        // v1.5.0 #1305, notification-controller #997, source-controller #1686).
        "gotk_reconcile_condition" | "gotk_suspend_status" => match controller {
            Controller::Helm => false,
            Controller::ImageAutomation => !version.at_least(2, 3),
            _ => !version.at_least(2, 5),
        },
        _ => family.source == MetricSource::Controller,
    }
}

/// Whether the family exists anywhere in an installation of `version` (with kube-state-metrics
/// configured as flux2-monitoring-example does, and Prometheus scraping it).
pub fn exists_in(family: &MetricFamily, version: FluxVersion) -> bool {
    match family.source {
        MetricSource::Controller => Controller::ALL.iter().any(|c| emitted_by(family, version, *c)),
        _ => true,
    }
}

/// Looks a family up by metric name; histogram series (`_bucket`, `_sum`, `_count`) resolve to
/// their family.
pub fn family(metric: &str) -> Option<&'static MetricFamily> {
    ALL.iter().find(|f| f.name == metric).or_else(|| {
        ["_bucket", "_sum", "_count"].iter().find_map(|suffix| {
            let base = metric.strip_suffix(suffix)?;
            ALL.iter().find(|f| f.name == base && f.type_ == MetricType::Histogram)
        })
    })
}

/// The extra `gotk_resource_info` labels of a kind and the object path each comes from
/// (flux2-monitoring-example kube-state-metrics-config.yaml).
pub fn resource_info_labels(kind: &str) -> &'static [(&'static str, &'static str)] {
    match kind {
        "Kustomization" => &[("revision", "/status/lastAppliedRevision"), ("source_name", "/spec/sourceRef/name")],
        "HelmRelease" => &[
            ("revision", "/status/history/0/chartVersion"),
            ("chart_name", "/status/history/0/chartName"),
            ("chart_app_version", "/status/history/0/appVersion"),
            ("chart_ref_name", "/spec/chartRef/name"),
            ("chart_source_name", "/spec/chart/spec/sourceRef/name"),
        ],
        "GitRepository" | "HelmRepository" | "OCIRepository" => {
            &[("revision", "/status/artifact/revision"), ("url", "/spec/url")]
        }
        "Bucket" => &[
            ("revision", "/status/artifact/revision"),
            ("endpoint", "/spec/endpoint"),
            ("bucket_name", "/spec/bucketName"),
        ],
        "HelmChart" => &[
            ("revision", "/status/artifact/revision"),
            ("chart_name", "/spec/chart"),
            ("chart_version", "/spec/version"),
        ],
        "Receiver" => &[("webhook_path", "/status/webhookPath")],
        "ImageRepository" => &[("image", "/spec/image")],
        "ImagePolicy" => &[("source_name", "/spec/imageRepositoryRef/name")],
        "ImageUpdateAutomation" => &[("source_name", "/spec/sourceRef/name")],
        _ => &[],
    }
}

/// Whether a kind's reconciler records `gotk_suspend_status` where its controller still emits the
/// legacy gauges (image-reflector-controller's ImagePolicy records only readiness and duration).
pub fn records_suspend_status(kind: &str) -> bool {
    kind != "ImagePolicy"
}

/// Whether a kind's `gotk_resource_info` carries `ready` (Alert and Provider have no status).
pub fn resource_info_has_ready(kind: &str) -> bool {
    !matches!(kind, "Alert" | "Provider")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn condition_gauges_end_in_2_5() {
        let v24 = FluxVersion::new(2, 4);
        let v25 = FluxVersion::new(2, 5);
        assert!(emitted_by(&RECONCILE_CONDITION, v24, Controller::Kustomize));
        assert!(!emitted_by(&RECONCILE_CONDITION, v24, Controller::Helm));
        assert!(!emitted_by(&RECONCILE_CONDITION, v24, Controller::ImageAutomation));
        assert!(emitted_by(&SUSPEND_STATUS, FluxVersion::new(2, 2), Controller::ImageAutomation));
        assert!(!exists_in(&RECONCILE_CONDITION, v25));
        assert!(!exists_in(&SUSPEND_STATUS, FluxVersion::NEWEST));
        assert!(exists_in(&RECONCILE_DURATION, FluxVersion::NEWEST));
        assert!(exists_in(&RESOURCE_INFO, v25));
    }

    #[test]
    fn histogram_series_resolve_to_their_family() {
        assert_eq!(family("gotk_reconcile_duration_seconds_bucket").unwrap().name, RECONCILE_DURATION.name);
        assert_eq!(family("controller_runtime_reconcile_total").unwrap().name, RECONCILE_TOTAL.name);
        assert!(family("gotk_reconcile_condition_count").is_none());
        assert!(family("flux_resource_info").is_none());
    }

    #[test]
    fn buckets_match_exponential_range() {
        // ExponentialBucketsRange(min, max, n): min * (max/min)^(i/(n-1))
        let (min, max) = (0.01f64, 1800f64);
        for (i, b) in RECONCILE_DURATION_BUCKETS.iter().enumerate() {
            let want = min * (max / min).powf(i as f64 / 9.0);
            assert!((b - want).abs() / want < 1e-4, "bucket {i}: {b} vs {want}");
        }
    }
}
