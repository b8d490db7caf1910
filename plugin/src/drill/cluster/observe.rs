//! What a cluster drill sees, hop by hop, each stamped with the instant it was first seen: the
//! objects' status (watch), the per-object state metric in Prometheus (`gotk_resource_info` or
//! `flux_resource_info`, with the scrape's own timestamp), alerts pending and firing
//! (`/api/v1/alerts`), in Alertmanager with the receivers its route tree picked
//! (`/api/v2/alerts`), Alertmanager's notification counters, what reached the drill's sink (Flux
//! notifications of canary Providers, receivers pointed at it) and the NotificationDispatchFailed
//! events notification-controller records on Alerts.

use std::collections::BTreeMap;
use std::time::{Duration, Instant};

use model::ObjectRef;
use serde_json::Value;

use super::access::Endpoint;
use super::setup::{Counters, ResourceMetric};
use crate::drill::observe::{labels_of, Labels, Observer as AlertEpisodes};
use crate::drill::sink::Sink;

/// A watched object's hops.
#[derive(Debug, Clone, Default)]
pub struct ObjectState {
    /// First Ready=False seen: when, reason, message.
    pub failed: Option<(Instant, String, String)>,
    /// First `spec.suspend: true` seen.
    pub suspended: Option<Instant>,
    /// The object's labels, as the cluster has them.
    pub labels: BTreeMap<String, String>,
    /// The state metric first showing the fault.
    pub metric: Option<MetricSeen>,
}

#[derive(Debug, Clone)]
pub struct MetricSeen {
    /// The scrape that first carried it (the sample's timestamp).
    pub scraped: Instant,
    /// `gotk_resource_info{ready="False"}` and the like.
    pub series: String,
    pub job: String,
}

/// A Flux notification that reached the drill's sink.
#[derive(Debug, Clone)]
pub struct FluxDelivery {
    pub at: Instant,
    /// `namespace/name` of the canary Provider, as the scenario names it.
    pub provider: String,
    /// `Kind/namespace/name` of the involved object, as the cluster names it.
    pub object: String,
    pub severity: String,
    pub reason: String,
    pub message: String,
}

pub struct Observation {
    /// Watched objects by their cluster reference.
    pub objects: BTreeMap<ObjectRef, ObjectState>,
    /// Alerts by label set, from Prometheus and Alertmanager (the local drill's bookkeeping).
    pub episodes: AlertEpisodes,
    /// The receivers Alertmanager's route tree picked for each alert, when first seen there.
    pub receivers: BTreeMap<Labels, Vec<String>>,
    /// Alerts that reached a receiver pointed at the drill's sink (`/alertmanager/<receiver>`).
    pub sink_receivers: BTreeMap<Labels, Vec<(String, Instant)>>,
    pub deliveries: Vec<FluxDelivery>,
    /// Alertmanager's notification counters at the last read after an alert reached it.
    pub counters: Option<(Instant, Counters)>,
    /// NotificationDispatchFailed events on Alerts, seen during the drill.
    pub dispatch_failures: Vec<(Instant, crate::events::read::EventRecord)>,
    /// The last error of each source, if its last poll failed.
    pub errors: BTreeMap<&'static str, String>,
    /// Errors already shown on the progress display.
    shown_errors: std::collections::BTreeSet<String>,
    sink_cursor: usize,
}

impl Observation {
    pub fn new(watched: &[ObjectRef]) -> Self {
        Observation {
            objects: watched.iter().map(|o| (o.clone(), ObjectState::default())).collect(),
            episodes: AlertEpisodes::new(String::new(), None, Vec::new()),
            receivers: BTreeMap::new(),
            sink_receivers: BTreeMap::new(),
            deliveries: Vec::new(),
            counters: None,
            dispatch_failures: Vec::new(),
            errors: BTreeMap::new(),
            shown_errors: Default::default(),
            sink_cursor: 0,
        }
    }

    /// Poll errors not shown yet, for the progress display.
    pub fn new_errors(&mut self) -> Vec<String> {
        let mut out = Vec::new();
        for (source, e) in &self.errors {
            let line = format!("{source}: {e}");
            if self.shown_errors.insert(line.clone()) {
                out.push(line);
            }
        }
        out
    }

    /// A change of a watched object.
    pub fn object_changed(&mut self, at: Instant, o: &Value) -> Option<String> {
        let view = model::FluxObject::new(o);
        let r = ObjectRef::new(o["kind"].as_str().unwrap_or_default(), view.namespace(), view.name());
        let state = self.objects.get_mut(&r)?;
        state.labels = o
            .pointer("/metadata/labels")
            .and_then(Value::as_object)
            .map(|m| {
                m.iter()
                    .map(|(k, v)| (k.clone(), v.as_str().unwrap_or_default().to_string()))
                    .collect()
            })
            .unwrap_or_default();
        let mut news = None;
        if state.suspended.is_none() && view.suspended() {
            state.suspended = Some(at);
            news = Some(format!("{r}: spec.suspend=true"));
        }
        if state.failed.is_none() {
            if let Some(ready) = view.ready().filter(|c| c.status == "False") {
                state.failed = Some((at, ready.reason.clone(), ready.message.clone()));
                news = Some(format!("{r}: Ready=False {}: {}", ready.reason, ready.message));
            }
        }
        news
    }

    /// One round of Prometheus and Alertmanager.
    pub async fn poll(
        &mut self,
        prometheus: &Endpoint,
        alertmanager: Option<&Endpoint>,
        metric: Option<ResourceMetric>,
    ) -> Vec<String> {
        let now = Instant::now();
        let mut news = Vec::new();
        let metric_query = metric.map(|m| m.query(self.objects.keys()));
        let (alerts, am, series) = tokio::join!(
            prometheus.get_json("/api/v1/alerts"),
            async {
                match alertmanager {
                    Some(a) => Some(a.get_json("/api/v2/alerts").await),
                    None => None,
                }
            },
            async {
                match &metric_query {
                    Some(q) => Some(prometheus.query(q).await),
                    None => None,
                }
            }
        );
        let mut seen = Vec::new();
        match alerts {
            Ok(v) => {
                self.errors.remove("prometheus");
                self.episodes.prometheus_alerts(&v, now, &mut seen);
            }
            Err(e) => {
                self.errors.insert("prometheus", e);
            }
        }
        match am {
            Some(Ok(v)) => {
                self.errors.remove("alertmanager");
                self.episodes.alertmanager_alerts(&v, now, &mut seen);
                for a in v.as_array().into_iter().flatten() {
                    let labels = labels_of(&a["labels"]);
                    let names: Vec<String> = a["receivers"]
                        .as_array()
                        .into_iter()
                        .flatten()
                        .filter_map(|r| r["name"].as_str().map(str::to_string))
                        .collect();
                    self.receivers.entry(labels).or_insert(names);
                }
            }
            Some(Err(e)) => {
                self.errors.insert("alertmanager", e);
            }
            None => {}
        }
        for s in seen {
            use crate::drill::observe::Seen;
            let text = match s {
                Seen::Pending(l) => format!("pending   {}", short(&l)),
                Seen::Firing(l) => format!("firing    {}", short(&l)),
                Seen::InAlertmanager(l) => format!(
                    "in Alertmanager {} -> {}",
                    short(&l),
                    self.receivers.get(&l).map(|r| r.join(", ")).unwrap_or_default()
                ),
                Seen::Delivered(l, r) => format!("delivered to {r}: {}", short(&l)),
                Seen::Notification(p, o, r) => format!("Flux notification to {p}: {o} {r}"),
            };
            news.push(text);
        }
        if let (Some(m), Some(result)) = (metric, series) {
            match result {
                Ok(rows) => {
                    self.errors.remove("metric");
                    news.extend(self.metric_rows(m, &rows, now));
                }
                Err(e) => {
                    self.errors.insert("metric", e);
                }
            }
        }
        news
    }

    fn metric_rows(&mut self, m: ResourceMetric, rows: &[Value], now: Instant) -> Vec<String> {
        let mut news = Vec::new();
        let wall = jiff::Timestamp::now();
        for row in rows {
            let labels = labels_of(&row["metric"]);
            let kind = labels.get(m.kind_label()).cloned().unwrap_or_default();
            let ns = labels.get("exported_namespace").cloned().unwrap_or_default();
            let name = labels.get("name").cloned().unwrap_or_default();
            let r = ObjectRef::new(kind, ns, name);
            let Some(state) = self.objects.get_mut(&r) else {
                continue;
            };
            if state.metric.is_some() {
                continue;
            }
            let failing = labels.get("ready").is_some_and(|v| v == "False");
            let suspended = labels.get("suspended").is_some_and(|v| v.eq_ignore_ascii_case("true"));
            let want_suspend = state.suspended.is_some() && state.failed.is_none();
            let shows = if want_suspend { suspended } else { failing };
            if !shows {
                continue;
            }
            // `timestamp(...)` returns the sample's scrape time, in seconds.
            let sample = row["value"][1]
                .as_str()
                .and_then(|v| v.parse::<f64>().ok())
                .unwrap_or(0.0);
            let ago = wall.as_millisecond() as f64 / 1000.0 - sample;
            let scraped = if ago > 0.0 {
                now.checked_sub(Duration::from_secs_f64(ago)).unwrap_or(now)
            } else {
                now
            };
            let label = if want_suspend {
                format!("suspended=\"{}\"", labels.get("suspended").cloned().unwrap_or_default())
            } else {
                "ready=\"False\"".to_string()
            };
            let series = format!("{}{{{label}}}", m.family());
            news.push(format!("{series} for {r} in Prometheus"));
            state.metric = Some(MetricSeen {
                scraped,
                series,
                job: labels.get("job").cloned().unwrap_or_default(),
            });
        }
        news
    }

    /// Alertmanager's notification counters, read again.
    pub async fn read_counters(&mut self, alertmanager: &Endpoint) {
        match alertmanager.get_text("/metrics").await {
            Ok(text) => {
                self.errors.remove("alertmanager metrics");
                self.counters = Some((Instant::now(), Counters::parse(&text)));
            }
            Err(e) => {
                self.errors.insert("alertmanager metrics", e);
            }
        }
    }

    /// What reached the sink since the last look.
    pub fn captures(&mut self, sink: &Sink) -> Vec<String> {
        let mut news = Vec::new();
        let new = sink.since(self.sink_cursor);
        self.sink_cursor += new.len();
        for c in new {
            let Ok(body) = serde_json::from_slice::<Value>(&c.body) else {
                continue;
            };
            if let Some(provider) = c.path.strip_prefix("/provider/") {
                let o = &body["involvedObject"];
                let object = format!(
                    "{}/{}/{}",
                    o["kind"].as_str().unwrap_or_default(),
                    o["namespace"].as_str().unwrap_or_default(),
                    o["name"].as_str().unwrap_or_default()
                );
                let d = FluxDelivery {
                    at: c.at,
                    provider: provider.to_string(),
                    object,
                    severity: body["severity"].as_str().unwrap_or_default().to_string(),
                    reason: body["reason"].as_str().unwrap_or_default().to_string(),
                    message: body["message"].as_str().unwrap_or_default().to_string(),
                };
                news.push(format!(
                    "Flux notification to {}: {} {} {}",
                    d.provider, d.object, d.severity, d.reason
                ));
                self.deliveries.push(d);
            } else if let Some(receiver) = c.path.strip_prefix("/alertmanager/") {
                for a in body["alerts"].as_array().into_iter().flatten() {
                    if a["status"] != "firing" {
                        continue;
                    }
                    let labels = labels_of(&a["labels"]);
                    let hits = self.sink_receivers.entry(labels.clone()).or_default();
                    if !hits.iter().any(|(r, _)| r == receiver) {
                        hits.push((receiver.to_string(), c.at));
                        news.push(format!("{receiver}'s webhook got {}", short(&labels)));
                    }
                }
            }
        }
        news
    }
}

/// `Alertname{kind=..,name=..}` for progress lines.
pub fn short(l: &Labels) -> String {
    let name = l.get("alertname").cloned().unwrap_or_default();
    let rest: Vec<String> = l
        .iter()
        .filter(|(k, _)| ["name", "kind", "exported_namespace"].contains(&k.as_str()))
        .map(|(k, v)| format!("{k}={v}"))
        .collect();
    format!("{name}{{{}}}", rest.join(","))
}
