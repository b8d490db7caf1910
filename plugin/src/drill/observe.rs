//! What a drill sees while it runs, stamped with wall-clock instants: alerts pending and firing
//! in Prometheus (`GET /api/v1/alerts`), present in Alertmanager (`GET /api/v2/alerts`), which
//! receiver the capture sink got each alert on, and the Flux notifications the
//! notification-controller emulation delivered to the Providers' sinks.

use std::collections::{BTreeMap, BTreeSet};
use std::time::{Duration, Instant};

use serde_json::Value;
use simulator::notify::{Delivery, NotificationController, Outcome};

use super::amcfg::receiver_of;
use super::sink::Sink;

pub type Labels = BTreeMap<String, String>;

/// One firing of one alert (one label set): from pending to the receivers it reached.
#[derive(Debug, Clone, Default)]
pub struct Episode {
    /// Prometheus' `activeAt`: when the expression first returned the series (pending).
    pub active_at: Option<Instant>,
    pub firing: Option<Instant>,
    pub in_alertmanager: Option<Instant>,
    /// Alertmanager reported it suppressed (inhibited or silenced).
    pub suppressed: bool,
    /// Receivers the sink got it on, with the first arrival.
    pub delivered: Vec<(String, Instant)>,
}

/// A Flux notification as delivered, with the time the Provider's sink received it.
#[derive(Debug, Clone)]
pub struct FluxDelivery {
    pub at: Instant,
    pub delivery: Delivery,
    /// `info`/`error` as the Provider's payload shows it, when it shows it.
    pub severity: Option<String>,
}

/// Something new, for the progress display.
pub enum Seen {
    Pending(Labels),
    Firing(Labels),
    InAlertmanager(Labels),
    Delivered(Labels, String),
    Notification(String, String, String),
}

pub struct Observer {
    http: reqwest::Client,
    prometheus: String,
    alertmanager: Option<String>,
    receivers: Vec<String>,
    /// A wall-clock reading and the instant it was taken, to turn API timestamps into instants.
    base: (Instant, jiff::Timestamp),
    sink_cursor: usize,
    provider_hits: BTreeMap<String, Vec<Instant>>,
    seen_deliveries: BTreeSet<u64>,
    pub alerts: BTreeMap<Labels, Vec<Episode>>,
    pub deliveries: Vec<FluxDelivery>,
    /// Requests each receiver's own integrations (Slack, PagerDuty, ...) made to the sink.
    pub integration_hits: BTreeMap<String, usize>,
    /// The last error of each source, if its last poll failed.
    pub errors: BTreeMap<&'static str, String>,
}

impl Observer {
    pub fn new(prometheus: String, alertmanager: Option<String>, receivers: Vec<String>) -> Self {
        Observer {
            http: reqwest::Client::builder()
                .timeout(Duration::from_millis(900))
                .build()
                .unwrap_or_default(),
            prometheus,
            alertmanager,
            receivers,
            base: (Instant::now(), jiff::Timestamp::now()),
            sink_cursor: 0,
            provider_hits: BTreeMap::new(),
            seen_deliveries: BTreeSet::new(),
            alerts: BTreeMap::new(),
            deliveries: Vec::new(),
            integration_hits: BTreeMap::new(),
            errors: BTreeMap::new(),
        }
    }

    fn instant_of(&self, ts: &str) -> Option<Instant> {
        let t: jiff::Timestamp = ts.parse().ok()?;
        let d = t.duration_since(self.base.1);
        let std = d.unsigned_abs();
        if d.is_negative() {
            self.base.0.checked_sub(std)
        } else {
            Some(self.base.0 + std)
        }
    }

    async fn get(&self, url: &str) -> Result<Value, String> {
        let r = self.http.get(url).send().await.map_err(|e| e.to_string())?;
        if !r.status().is_success() {
            return Err(format!("{url}: HTTP {}", r.status()));
        }
        r.json().await.map_err(|e| e.to_string())
    }

    /// One round: every source once. Returns what is new.
    pub async fn poll(&mut self, sink: &Sink, nc: Option<&NotificationController>) -> Vec<Seen> {
        let mut seen = Vec::new();
        let now = Instant::now();
        let prom_url = format!("{}/api/v1/alerts", self.prometheus);
        let am_url = self
            .alertmanager
            .as_ref()
            .map(|a| format!("{a}/api/v2/alerts"));
        let (prom, am) = tokio::join!(self.get(&prom_url), async {
            match &am_url {
                Some(u) => Some(self.get(u).await),
                None => None,
            }
        });
        match prom {
            Ok(v) => {
                self.errors.remove("prometheus");
                self.prometheus_alerts(&v, now, &mut seen);
            }
            Err(e) => {
                self.errors.insert("prometheus", e);
            }
        }
        match am {
            Some(Ok(v)) => {
                self.errors.remove("alertmanager");
                self.alertmanager_alerts(&v, now, &mut seen);
            }
            Some(Err(e)) => {
                self.errors.insert("alertmanager", e);
            }
            None => {}
        }
        self.captures(sink, &mut seen);
        if let Some(nc) = nc {
            self.flux_deliveries(nc, now, &mut seen);
        }
        seen
    }

    pub(super) fn prometheus_alerts(&mut self, v: &Value, now: Instant, seen: &mut Vec<Seen>) {
        for a in v
            .pointer("/data/alerts")
            .and_then(Value::as_array)
            .into_iter()
            .flatten()
        {
            let labels = labels_of(&a["labels"]);
            let active_at = a["activeAt"]
                .as_str()
                .and_then(|t| self.instant_of(t))
                .unwrap_or(now);
            let firing = a["state"] == "firing";
            let episodes = self.alerts.entry(labels.clone()).or_default();
            let same = episodes.last().is_some_and(|e| {
                e.active_at
                    .is_none_or(|t| t.max(active_at) - t.min(active_at) < Duration::from_millis(5))
            });
            if !same {
                episodes.push(Episode::default());
                seen.push(Seen::Pending(labels.clone()));
            }
            let e = episodes.last_mut().expect("one episode at least");
            e.active_at.get_or_insert(active_at);
            if firing && e.firing.is_none() {
                e.firing = Some(now);
                seen.push(Seen::Firing(labels));
            }
        }
    }

    pub(super) fn alertmanager_alerts(&mut self, v: &Value, now: Instant, seen: &mut Vec<Seen>) {
        for a in v.as_array().into_iter().flatten() {
            let labels = labels_of(&a["labels"]);
            // Prometheus sends an alert's FiredAt as startsAt: the exact evaluation that fired it.
            let starts = a["startsAt"].as_str().and_then(|t| self.instant_of(t));
            let episodes = self.alerts.entry(labels.clone()).or_default();
            if episodes.is_empty() {
                episodes.push(Episode::default());
            }
            let e = episodes.last_mut().expect("one episode at least");
            if let Some(s) = starts {
                if e.firing.is_none_or(|f| s < f) && e.active_at.is_none_or(|p| s >= p) {
                    e.firing = Some(s);
                }
            }
            e.firing.get_or_insert(now);
            if e.in_alertmanager.is_none() {
                e.in_alertmanager = Some(now);
                seen.push(Seen::InAlertmanager(labels));
            }
            if a.pointer("/status/state").and_then(Value::as_str) == Some("suppressed") {
                e.suppressed = true;
            }
        }
    }

    fn captures(&mut self, sink: &Sink, seen: &mut Vec<Seen>) {
        let new = sink.since(self.sink_cursor);
        self.sink_cursor += new.len();
        for c in new {
            if let Some(rest) = c.path.strip_prefix("/provider/") {
                self.provider_hits
                    .entry(rest.to_string())
                    .or_default()
                    .push(c.at);
                continue;
            }
            let Some((index, capture)) = receiver_of(&c.path) else {
                continue;
            };
            let name = self
                .receivers
                .get(index)
                .cloned()
                .unwrap_or_else(|| format!("#{index}"));
            if !capture {
                *self.integration_hits.entry(name).or_default() += 1;
                continue;
            }
            let Ok(body) = serde_json::from_slice::<Value>(&c.body) else {
                continue;
            };
            for a in body["alerts"].as_array().into_iter().flatten() {
                if a["status"] != "firing" {
                    continue;
                }
                let labels = labels_of(&a["labels"]);
                let episodes = self.alerts.entry(labels.clone()).or_default();
                if episodes.is_empty() {
                    episodes.push(Episode::default());
                }
                let e = episodes.last_mut().expect("one episode at least");
                if !e.delivered.iter().any(|(r, _)| *r == name) {
                    e.delivered.push((name.clone(), c.at));
                    seen.push(Seen::Delivered(labels, name.clone()));
                }
            }
        }
    }

    fn flux_deliveries(&mut self, nc: &NotificationController, now: Instant, seen: &mut Vec<Seen>) {
        for d in nc.deliveries() {
            if matches!(d.outcome, Outcome::Pending) || !self.seen_deliveries.insert(d.id) {
                continue;
            }
            // The sink's arrival time is exact; the poll's is the fallback.
            let at = match d.outcome {
                Outcome::Delivered { .. } => {
                    let hits = self.provider_hits.entry(d.provider.clone()).or_default();
                    if hits.is_empty() {
                        now
                    } else {
                        hits.remove(0)
                    }
                }
                _ => now,
            };
            let severity = d
                .payload
                .as_ref()
                .and_then(payload_severity)
                .map(str::to_string);
            seen.push(Seen::Notification(
                d.provider.clone(),
                d.object.clone(),
                d.reason.clone(),
            ));
            self.deliveries.push(FluxDelivery {
                at,
                delivery: d,
                severity,
            });
        }
    }
}

pub(super) fn labels_of(v: &Value) -> Labels {
    v.as_object()
        .map(|m| {
            m.iter()
                .map(|(k, v)| (k.clone(), v.as_str().unwrap_or_default().to_string()))
                .collect()
        })
        .unwrap_or_default()
}

/// The event severity a Provider's payload carries: `severity` (generic, alertmanager labels),
/// else the colour Slack, Discord, Rocket and Teams payloads give errors.
pub fn payload_severity(p: &Value) -> Option<&'static str> {
    let word = |s: &str| if s == "error" { "error" } else { "info" };
    if let Some(s) = p.get("severity").and_then(Value::as_str) {
        return Some(word(s));
    }
    if let Some(s) = p.pointer("/0/labels/severity").and_then(Value::as_str) {
        return Some(word(s));
    }
    let colour = p
        .pointer("/attachments/0/color")
        .or_else(|| p.get("themeColor"))
        .and_then(Value::as_str)?
        .to_ascii_lowercase();
    Some(
        if ["danger", "#ff0000", "ff0000"].contains(&colour.as_str()) {
            "error"
        } else {
            "info"
        },
    )
}
