//! What a cluster drill reads before it breaks anything: which per-object state metric the
//! cluster's Prometheus has (`gotk_resource_info` from kube-state-metrics, `flux_resource_info`
//! from the Flux Operator, or neither), the alerting rules it runs (with `for` and evaluation
//! interval), its scrape intervals, Alertmanager's configuration (which integrations each
//! receiver has, route timers) and its notification counters, the baseline of the
//! before/after comparison.

use std::collections::BTreeMap;
use std::time::Duration;

use model::ObjectRef;
use serde_json::Value;

use super::access::Endpoint;

/// The per-object state metric the drill follows.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ResourceMetric {
    /// kube-state-metrics with flux2-monitoring-example's config.
    Gotk,
    /// The Flux Operator's reporter.
    FluxOperator,
}

impl ResourceMetric {
    pub fn family(self) -> &'static str {
        match self {
            ResourceMetric::Gotk => "gotk_resource_info",
            ResourceMetric::FluxOperator => "flux_resource_info",
        }
    }

    /// The label holding the object's kind.
    pub fn kind_label(self) -> &'static str {
        match self {
            ResourceMetric::Gotk => "customresource_kind",
            ResourceMetric::FluxOperator => "kind",
        }
    }

    /// The query returning each watched object's series with its scrape time as the value.
    pub fn query<'a>(self, objects: impl Iterator<Item = &'a ObjectRef>) -> String {
        // Object names are DNS names: `.` is their only regex character.
        let mut names: Vec<String> = objects.map(|o| o.name.replace('.', "\\.")).collect();
        names.sort();
        names.dedup();
        format!(
            "timestamp({}{{name=~\"{}\"}})",
            self.family(),
            names.join("|").replace('\\', "\\\\")
        )
    }
}

/// An alerting rule as Prometheus runs it.
#[derive(Debug, Clone)]
pub struct LoadedRule {
    pub for_: Duration,
    /// The evaluation interval of its group.
    pub interval: Duration,
}

/// Alertmanager's notification counters by (metric, integration, receiver when labelled).
#[derive(Debug, Clone, Default, PartialEq)]
pub struct Counters(pub BTreeMap<(String, String, String), f64>);

pub const NOTIFICATIONS: &str = "alertmanager_notifications_total";
pub const NOTIFICATIONS_FAILED: &str = "alertmanager_notifications_failed_total";

impl Counters {
    pub fn parse(text: &str) -> Counters {
        // Only the two families: the parser need not understand the rest of the exposition.
        let ours = |l: &&str| {
            let name = l.trim_start_matches("# TYPE ").trim_start_matches("# HELP ");
            name.starts_with(NOTIFICATIONS) || name.starts_with(NOTIFICATIONS_FAILED)
        };
        let lines = text.lines().filter(ours).map(|l| Ok(l.to_string()));
        let Ok(scrape) = prometheus_parse::Scrape::parse(lines) else {
            return Counters::default();
        };
        let mut out = BTreeMap::new();
        for s in scrape.samples {
            if s.metric != NOTIFICATIONS && s.metric != NOTIFICATIONS_FAILED {
                continue;
            }
            let v = match s.value {
                prometheus_parse::Value::Counter(v)
                | prometheus_parse::Value::Untyped(v)
                | prometheus_parse::Value::Gauge(v) => v,
                _ => continue,
            };
            let integration = s.labels.get("integration").unwrap_or_default().to_string();
            let receiver = s.labels.get("receiver_name").unwrap_or_default().to_string();
            out.insert((s.metric, integration, receiver), v);
        }
        Counters(out)
    }

    /// Whether the counters carry `receiver_name` (Alertmanager 0.27 and later).
    pub fn per_receiver(&self) -> bool {
        self.0.keys().any(|(_, _, r)| !r.is_empty())
    }

    /// The value for an integration (and receiver, when the counters have it).
    pub fn get(&self, metric: &str, integration: &str, receiver: &str) -> f64 {
        let per_receiver = self.per_receiver();
        self.0
            .iter()
            .filter(|((m, i, r), _)| m == metric && i == integration && (!per_receiver || r == receiver))
            .map(|(_, v)| *v)
            .sum()
    }
}

/// Everything read before the faults.
pub struct Setup {
    pub metric: Option<ResourceMetric>,
    /// Why no state metric can be followed, when none.
    pub metric_missing: Option<String>,
    pub rules: BTreeMap<String, LoadedRule>,
    /// Scrape interval per job (from the targets), and the global default.
    pub scrape_intervals: BTreeMap<String, Duration>,
    pub global_scrape: Duration,
    /// Alertmanager's configuration as it runs (from /api/v2/status).
    pub am_config: Option<Value>,
    pub am_version: Option<String>,
    pub counters_before: Option<Counters>,
    /// Notes for the report (what could not be read and why).
    pub notes: Vec<String>,
}

/// Reads Prometheus and Alertmanager. Prometheus must answer; Alertmanager's parts that fail
/// become notes (their hops are then reported as not observable).
pub async fn read(prometheus: &Endpoint, alertmanager: Option<&Endpoint>) -> Result<Setup, String> {
    prometheus
        .prometheus("/api/v1/status/buildinfo")
        .await
        .map_err(|e| format!("cannot read Prometheus: {e}"))?;
    let mut notes = Vec::new();
    let metric = detect(prometheus).await?;
    let metric_missing = metric.is_none().then(|| MISSING.to_string());
    let mut rules = BTreeMap::new();
    let data = prometheus.prometheus("/api/v1/rules?type=alert").await?;
    for g in data["groups"].as_array().into_iter().flatten() {
        let interval = Duration::from_secs_f64(g["interval"].as_f64().unwrap_or(60.0).max(0.0));
        for r in g["rules"].as_array().into_iter().flatten() {
            let Some(name) = r["name"].as_str() else { continue };
            let for_ = Duration::from_secs_f64(r["duration"].as_f64().unwrap_or(0.0).max(0.0));
            rules.entry(name.to_string()).or_insert(LoadedRule { for_, interval });
        }
    }
    let mut scrape_intervals = BTreeMap::new();
    match prometheus.prometheus("/api/v1/targets?state=active").await {
        Ok(t) => {
            for target in t["activeTargets"].as_array().into_iter().flatten() {
                let job = target["labels"]["job"].as_str().unwrap_or_default().to_string();
                if let Some(iv) = target["scrapeInterval"]
                    .as_str()
                    .and_then(|s| crate::drill::promcfg::parse_prom_duration(s).ok())
                {
                    scrape_intervals.insert(job, iv);
                }
            }
        }
        Err(e) => notes.push(format!("scrape intervals unknown: {e}")),
    }
    let global_scrape = match prometheus.prometheus("/api/v1/status/config").await {
        Ok(c) => c["yaml"]
            .as_str()
            .and_then(|y| serde_saphyr::from_str::<Value>(y).ok())
            .and_then(|v| {
                v.pointer("/global/scrape_interval")
                    .and_then(Value::as_str)
                    .map(str::to_string)
            })
            .and_then(|s| crate::drill::promcfg::parse_prom_duration(&s).ok())
            .unwrap_or(Duration::from_secs(60)),
        Err(_) => Duration::from_secs(60),
    };
    let (mut am_config, mut am_version, mut counters_before) = (None, None, None);
    if let Some(am) = alertmanager {
        match am.get_json("/api/v2/status").await {
            Ok(status) => {
                am_version = status
                    .pointer("/versionInfo/version")
                    .and_then(Value::as_str)
                    .map(str::to_string);
                match status.pointer("/config/original").and_then(Value::as_str) {
                    Some(y) => match serde_saphyr::from_str::<Value>(y) {
                        Ok(v) => am_config = Some(v),
                        Err(e) => notes.push(format!("Alertmanager's configuration does not parse: {e}")),
                    },
                    None => notes.push("Alertmanager's /api/v2/status has no configuration".into()),
                }
            }
            Err(e) => return Err(format!("cannot read Alertmanager: {e}")),
        }
        match am.get_text("/metrics").await {
            Ok(text) => counters_before = Some(Counters::parse(&text)),
            Err(e) => notes.push(format!("Alertmanager's notification counters cannot be read: {e}")),
        }
    }
    Ok(Setup {
        metric,
        metric_missing,
        rules,
        scrape_intervals,
        global_scrape,
        am_config,
        am_version,
        counters_before,
        notes,
    })
}

const MISSING: &str = "Prometheus has neither gotk_resource_info (kube-state-metrics with flux2-monitoring-example's config) nor flux_resource_info (the Flux Operator)";

/// Which state metric Prometheus has (kube-state-metrics' first).
async fn detect(prometheus: &Endpoint) -> Result<Option<ResourceMetric>, String> {
    for m in [ResourceMetric::Gotk, ResourceMetric::FluxOperator] {
        if !prometheus.query(&format!("count({})", m.family())).await?.is_empty() {
            return Ok(Some(m));
        }
    }
    Ok(None)
}

impl Setup {
    /// Looks again for a state metric (Prometheus may not have scraped its exporter yet).
    pub async fn detect_metric(&mut self, prometheus: &Endpoint) {
        if let Ok(Some(m)) = detect(prometheus).await {
            self.metric = Some(m);
            self.metric_missing = None;
        }
    }

    /// The integrations (`webhook`, `slack`, ...) a receiver has in Alertmanager's configuration.
    pub fn integrations(&self, receiver: &str) -> Option<Vec<String>> {
        let config = self.am_config.as_ref()?;
        let r = config["receivers"].as_array()?.iter().find(|r| r["name"] == receiver)?;
        let mut out: Vec<String> = r
            .as_object()?
            .iter()
            .filter(|(k, v)| k.ends_with("_configs") && v.as_array().is_some_and(|a| !a.is_empty()))
            .map(|(k, _)| k.trim_end_matches("_configs").to_string())
            .collect();
        out.sort();
        Some(out)
    }

    /// The scrape interval of a job, else the global one.
    pub fn scrape_interval(&self, job: &str) -> Duration {
        self.scrape_intervals.get(job).copied().unwrap_or(self.global_scrape)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn counters_by_integration_and_receiver() {
        let text = "# HELP alertmanager_notifications_total The total number of attempted notifications.\n\
# TYPE alertmanager_notifications_total counter\n\
alertmanager_notifications_total{integration=\"webhook\"} 3\n\
alertmanager_notifications_total{integration=\"slack\"} 0\n\
alertmanager_notifications_failed_total{integration=\"webhook\"} 1\n";
        let c = Counters::parse(text);
        assert!(!c.per_receiver());
        assert_eq!(c.get(NOTIFICATIONS, "webhook", "any"), 3.0);
        assert_eq!(c.get(NOTIFICATIONS_FAILED, "webhook", "any"), 1.0);
        let text = "alertmanager_notifications_total{integration=\"webhook\",receiver_name=\"a\"} 2\n\
alertmanager_notifications_total{integration=\"webhook\",receiver_name=\"b\"} 5\n";
        let c = Counters::parse(text);
        assert!(c.per_receiver());
        assert_eq!(c.get(NOTIFICATIONS, "webhook", "b"), 5.0);
    }

    #[test]
    fn the_metric_query_names_every_object() {
        let objs = [
            ObjectRef::new("Kustomization", "ns", "app-k3x0"),
            ObjectRef::new("GitRepository", "ns", "src.a"),
        ];
        assert_eq!(
            ResourceMetric::Gotk.query(objs.iter()),
            "timestamp(gotk_resource_info{name=~\"app-k3x0|src\\\\.a\"})"
        );
    }
}
