//! The metrics catalog per Flux version: which families exist, with which labels, served by
//! whom (a Flux controller, kube-state-metrics with flux2-monitoring-example's config, the Flux
//! Operator, or Prometheus itself). The families and who emits them in which release are data
//! (model/data/flux.yaml); the simulator emits from it, lint and test judge rules against it.

use std::sync::LazyLock;

use crate::catalog::{self, Releases};
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
    /// The Flux controllers' `/metrics` (port 8080, `http-prom`).
    Controller,
    /// kube-state-metrics with the custom-resource-state config of flux2-monitoring-example.
    KubeStateMetrics,
    /// The Flux Operator's reporter (`flux_resource_info` and friends), refreshed with each
    /// FluxReport (every 5 minutes by default).
    FluxOperator,
    /// Prometheus itself (`up`, `scrape_*`).
    Prometheus,
}

#[derive(Debug)]
pub struct MetricFamily {
    pub name: &'static str,
    pub type_: MetricType,
    pub help: &'static str,
    pub labels: &'static [&'static str],
    pub source: MetricSource,
    /// Which controller emits it in which releases (`None` stands for every controller).
    emitters: Vec<(Option<Controller>, &'static Releases)>,
}

pub const RECONCILE_DURATION: &str = "gotk_reconcile_duration_seconds";
pub const RECONCILE_CONDITION: &str = "gotk_reconcile_condition";
pub const SUSPEND_STATUS: &str = "gotk_suspend_status";
pub const RECONCILE_TOTAL: &str = "controller_runtime_reconcile_total";
pub const RECONCILE_ERRORS_TOTAL: &str = "controller_runtime_reconcile_errors_total";
pub const TERMINAL_RECONCILE_ERRORS_TOTAL: &str =
    "controller_runtime_terminal_reconcile_errors_total";
pub const RECONCILE_PANICS_TOTAL: &str = "controller_runtime_reconcile_panics_total";
pub const RECONCILE_TIMEOUTS_TOTAL: &str = "controller_runtime_reconcile_timeouts_total";
pub const EVENT_HTTP_REQUEST_DURATION: &str = "gotk_event_http_request_duration_seconds";
pub const EVENT_HTTP_RESPONSE_SIZE: &str = "gotk_event_http_response_size_bytes";
pub const EVENT_HTTP_REQUESTS_INFLIGHT: &str = "gotk_event_http_requests_inflight";
/// go-http-metrics' buckets: client_golang's DefBuckets for durations, ExponentialBuckets(100,
/// 10, 8) for response sizes.
pub const HTTP_DURATION_BUCKETS: [f64; 11] = [0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0];
pub const HTTP_SIZE_BUCKETS: [f64; 8] = [1e2, 1e3, 1e4, 1e5, 1e6, 1e7, 1e8, 1e9];
pub const WEBHOOK_PANICS_TOTAL: &str = "controller_runtime_webhook_panics_total";
pub const CONVERSION_WEBHOOK_PANICS_TOTAL: &str = "controller_runtime_conversion_webhook_panics_total";
pub const RECONCILE_TIME: &str = "controller_runtime_reconcile_time_seconds";
pub const MAX_CONCURRENT_RECONCILES: &str = "controller_runtime_max_concurrent_reconciles";
pub const ACTIVE_WORKERS: &str = "controller_runtime_active_workers";
pub const TOKEN_CACHED_ITEMS: &str = "gotk_token_cached_items";
pub const TOKEN_CACHE_EVICTIONS_TOTAL: &str = "gotk_token_cache_evictions_total";
pub const RESOURCE_INFO: &str = "gotk_resource_info";
pub const FLUX_RESOURCE_INFO: &str = "flux_resource_info";
pub const UP: &str = "up";

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
    0.005, 0.01, 0.025, 0.05, 0.1, 0.15, 0.2, 0.25, 0.3, 0.35, 0.4, 0.45, 0.5, 0.6, 0.7, 0.8, 0.9,
    1.0, 1.25, 1.5, 1.75, 2.0, 2.5, 3.0, 3.5, 4.0, 4.5, 5.0, 6.0, 7.0, 8.0, 9.0, 10.0, 15.0, 20.0,
    25.0, 30.0, 40.0, 50.0, 60.0,
];

static FAMILIES: LazyLock<Vec<MetricFamily>> = LazyLock::new(|| {
    catalog::DATA_FILE
        .metrics
        .iter()
        .map(|m| {
            let type_ = match m.type_.as_str() {
                "counter" => MetricType::Counter,
                "gauge" => MetricType::Gauge,
                "histogram" => MetricType::Histogram,
                "info" => MetricType::Info,
                other => panic!("model/data/flux.yaml: {}: unknown type {other}", m.name),
            };
            let source = match m.source.as_deref() {
                None => MetricSource::Controller,
                Some("kube-state-metrics") => MetricSource::KubeStateMetrics,
                Some("flux-operator") => MetricSource::FluxOperator,
                Some("prometheus") => MetricSource::Prometheus,
                Some(other) => panic!("model/data/flux.yaml: {}: unknown source {other}", m.name),
            };
            let emitters = m
                .controllers
                .iter()
                .map(|(c, releases)| {
                    let controller = (c != "all").then(|| {
                        Controller::from_name(c).unwrap_or_else(|| {
                            panic!("model/data/flux.yaml: {}: unknown controller {c}", m.name)
                        })
                    });
                    (controller, releases)
                })
                .collect();
            MetricFamily {
                name: m.name.as_str(),
                type_,
                help: m.help.as_str(),
                labels: Box::leak(
                    m.labels
                        .iter()
                        .map(String::as_str)
                        .collect::<Vec<_>>()
                        .into_boxed_slice(),
                ),
                source,
                emitters,
            }
        })
        .collect()
});

/// Every family the catalog knows, in any version.
pub fn all() -> &'static [MetricFamily] {
    &FAMILIES
}

/// A family by its exact name; panics for a name the catalog lacks (a programming error: use
/// [`family`] for names that come from users).
pub fn get(name: &str) -> &'static MetricFamily {
    all()
        .iter()
        .find(|f| f.name == name)
        .unwrap_or_else(|| panic!("metric family {name} is not in model/data/flux.yaml"))
}

/// Whether `controller` of Flux `version` emits `family` (kube-state-metrics, Flux Operator and
/// Prometheus families are not the controllers' to emit).
pub fn emitted_by(family: &MetricFamily, version: FluxVersion, controller: Controller) -> bool {
    family.source == MetricSource::Controller
        && controller.exists_in(version)
        && family
            .emitters
            .iter()
            .any(|(c, releases)| c.is_none_or(|c| c == controller) && releases.contains(version))
}

/// Whether the family exists anywhere in an installation of `version` (with kube-state-metrics
/// configured as flux2-monitoring-example does, or the Flux Operator, and Prometheus scraping
/// them).
pub fn exists_in(family: &MetricFamily, version: FluxVersion) -> bool {
    match family.source {
        MetricSource::Controller => Controller::ALL
            .iter()
            .any(|c| emitted_by(family, version, *c)),
        _ => true,
    }
}

/// The last release in which `family` still existed, when a later known release dropped it.
pub fn removed_after(family: &MetricFamily) -> Option<FluxVersion> {
    let all = FluxVersion::all();
    let last = all.iter().rev().find(|v| exists_in(family, **v))?;
    (last != all.last()?).then_some(*last)
}

/// The first known release in which `family` exists.
pub fn first_in(family: &MetricFamily) -> Option<FluxVersion> {
    FluxVersion::all()
        .into_iter()
        .find(|v| exists_in(family, *v))
}

/// Looks a family up by metric name; histogram series (`_bucket`, `_sum`, `_count`) resolve to
/// their family.
pub fn family(metric: &str) -> Option<&'static MetricFamily> {
    all().iter().find(|f| f.name == metric).or_else(|| {
        ["_bucket", "_sum", "_count"].iter().find_map(|suffix| {
            let base = metric.strip_suffix(suffix)?;
            all()
                .iter()
                .find(|f| f.name == base && f.type_ == MetricType::Histogram)
        })
    })
}

/// The extra `gotk_resource_info` labels of a kind and the object path each comes from
/// (flux2-monitoring-example kube-state-metrics-config.yaml).
pub fn resource_info_labels(kind: &str) -> &'static [(&'static str, &'static str)] {
    match kind {
        "Kustomization" => &[
            ("revision", "/status/lastAppliedRevision"),
            ("source_name", "/spec/sourceRef/name"),
        ],
        "HelmRelease" => &[
            ("revision", "/status/history/0/chartVersion"),
            ("chart_name", "/status/history/0/chartName"),
            ("chart_app_version", "/status/history/0/appVersion"),
            ("chart_ref_name", "/spec/chartRef/name"),
            ("chart_source_name", "/spec/chart/spec/sourceRef/name"),
        ],
        "GitRepository" | "HelmRepository" | "OCIRepository" => &[
            ("revision", "/status/artifact/revision"),
            ("url", "/spec/url"),
        ],
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

/// Whether flux2-monitoring-example's kube-state-metrics config has a resource for `kind` (it
/// predates ExternalArtifact and ArtifactGenerator, which therefore have no gotk_resource_info).
pub fn resource_info_covers(kind: &str) -> bool {
    !matches!(kind, "ExternalArtifact" | "ArtifactGenerator")
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

    fn v(minor: u32) -> FluxVersion {
        FluxVersion::new(2, minor)
    }

    #[test]
    fn condition_gauges_end_in_2_5() {
        let cond = get(RECONCILE_CONDITION);
        let suspend = get(SUSPEND_STATUS);
        assert!(emitted_by(cond, v(4), Controller::Kustomize));
        assert!(!emitted_by(cond, v(4), Controller::Helm));
        assert!(!emitted_by(cond, v(4), Controller::ImageAutomation));
        assert!(emitted_by(suspend, v(2), Controller::ImageAutomation));
        assert!(!exists_in(cond, v(5)));
        assert!(!exists_in(suspend, FluxVersion::newest()));
        assert_eq!(removed_after(cond), Some(v(4)));
        assert!(exists_in(get(RECONCILE_DURATION), FluxVersion::newest()));
        assert!(exists_in(get(RESOURCE_INFO), v(5)));
        assert!(exists_in(get(FLUX_RESOURCE_INFO), v(9)));
    }

    #[test]
    fn families_follow_controller_versions() {
        let panics = get(RECONCILE_PANICS_TOTAL);
        assert!(!emitted_by(panics, v(3), Controller::Source));
        assert!(emitted_by(panics, v(4), Controller::Source));
        assert_eq!(first_in(panics), Some(v(4)));
        let timeouts = get(RECONCILE_TIMEOUTS_TOTAL);
        assert!(!exists_in(timeouts, v(7)) && exists_in(timeouts, v(8)));
        let tokens = get(TOKEN_CACHED_ITEMS);
        assert!(!emitted_by(tokens, v(5), Controller::Source));
        assert!(emitted_by(tokens, v(6), Controller::Source));
        assert!(!emitted_by(tokens, v(6), Controller::Helm));
        assert!(emitted_by(tokens, v(7), Controller::Helm));
        assert!(!emitted_by(tokens, v(9), Controller::SourceWatcher));
        // source-watcher serves controller-runtime's families but records no reconcile durations.
        assert!(emitted_by(
            get(RECONCILE_TOTAL),
            v(7),
            Controller::SourceWatcher
        ));
        assert!(!emitted_by(
            get(RECONCILE_DURATION),
            v(7),
            Controller::SourceWatcher
        ));
        assert!(!emitted_by(
            get(RECONCILE_TOTAL),
            v(6),
            Controller::SourceWatcher
        ));
    }

    #[test]
    fn histogram_series_resolve_to_their_family() {
        assert_eq!(
            family("gotk_reconcile_duration_seconds_bucket")
                .unwrap()
                .name,
            RECONCILE_DURATION
        );
        assert_eq!(
            family("controller_runtime_reconcile_total").unwrap().name,
            RECONCILE_TOTAL
        );
        assert!(family("gotk_reconcile_condition_count").is_none());
        assert_eq!(
            family("flux_resource_info").unwrap().source,
            MetricSource::FluxOperator
        );
        assert!(family("flux_resource_info_total").is_none());
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
