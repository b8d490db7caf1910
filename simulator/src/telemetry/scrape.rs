//! What Prometheus sees: scrape targets named as flux2-monitoring-example's setup names them,
//! target labels applied as a scrape applies them, and a virtual-time scraper that walks a
//! [`Simulation`] at the scrape interval and yields every target's samples (promtool input).
//!
//! Jobs: the example's PodMonitor `monitoring/flux-system` scrapes every controller's `http-prom`
//! port, so all six controllers share `job="monitoring/flux-system"` and differ by `pod`
//! (Prometheus Operator sets job to `<namespace>/<podmonitor>`); their `namespace` label becomes
//! `exported_namespace` (honor_labels false). kube-prometheus-stack scrapes kube-state-metrics as
//! `job="kube-state-metrics"` with honor_labels true.

use std::collections::BTreeMap;
use std::fmt::Write as _;
use std::net::SocketAddr;
use std::time::Duration;

use model::Controller;

use super::controller::{ControllerMetrics, Reconcile};
use super::exposition::{samples, Family, Sample};
use super::{flux_operator, ksm};
use crate::core::Simulation;
use crate::scenario::{Fault, FaultTarget, ResourceMetrics, Scenario};

/// The job of every Flux controller target (the PodMonitor's namespace/name).
pub const CONTROLLERS_JOB: &str = "monitoring/flux-system";
/// The job of the kube-state-metrics target.
pub const KSM_JOB: &str = "kube-state-metrics";
/// The job of the Flux Operator target (its ServiceMonitor's Service).
pub const FLUX_OPERATOR_JOB: &str = "flux-operator";

/// The pod name a controller's target carries (stable; real pods end in a ReplicaSet hash).
pub fn pod_name(c: Controller) -> String {
    format!("{}-5d4c8b7f9c-sim00", c.name())
}

/// One scrape target: the job, its target labels (instance included) and whether the scrape
/// honours the exposed labels on conflict.
#[derive(Debug, Clone, PartialEq, serde::Serialize)]
pub struct Target {
    pub job: String,
    pub labels: BTreeMap<String, String>,
    pub honor_labels: bool,
}

impl Target {
    /// A Flux controller's target as the PodMonitor makes it.
    pub fn controller(c: Controller, instance: &str) -> Self {
        let labels = [
            ("container", "manager".to_string()),
            ("endpoint", "http-prom".to_string()),
            ("instance", instance.to_string()),
            ("namespace", "flux-system".to_string()),
            ("pod", pod_name(c)),
        ];
        Target {
            job: CONTROLLERS_JOB.into(),
            labels: labels.into_iter().map(|(k, v)| (k.to_string(), v)).collect(),
            honor_labels: false,
        }
    }

    /// The Flux Operator's target as its ServiceMonitor (config/monitoring/flux-operator.yaml,
    /// `targetPort: 8080`) makes it.
    pub fn flux_operator(instance: &str) -> Self {
        let labels = [
            ("container", "manager".to_string()),
            ("endpoint", "8080".to_string()),
            ("instance", instance.to_string()),
            ("namespace", "flux-system".to_string()),
            ("pod", "flux-operator-6c9d8b5f4d-sim00".to_string()),
            ("service", "flux-operator".to_string()),
        ];
        Target {
            job: FLUX_OPERATOR_JOB.into(),
            labels: labels.into_iter().map(|(k, v)| (k.to_string(), v)).collect(),
            honor_labels: false,
        }
    }

    pub fn kube_state_metrics(instance: &str) -> Self {
        Target {
            job: KSM_JOB.into(),
            labels: [("instance".to_string(), instance.to_string())].into(),
            honor_labels: true,
        }
    }

    /// The sample as stored: job and target labels attached; on a clash the exposed label is
    /// renamed `exported_<name>` (or wins, with honor_labels).
    pub fn apply(&self, mut s: Sample) -> Sample {
        let all = std::iter::once(("job", &self.job)).chain(self.labels.iter().map(|(k, v)| (k.as_str(), v)));
        for (k, v) in all {
            match s.labels.remove(k) {
                Some(exposed) if self.honor_labels => {
                    s.labels.insert(k.to_string(), exposed);
                    continue;
                }
                Some(exposed) => {
                    s.labels.insert(format!("exported_{k}"), exposed);
                }
                None => {}
            }
            s.labels.insert(k.to_string(), v.clone());
        }
        s
    }

    /// The `up` sample of this target.
    pub fn up(&self, up: bool) -> Sample {
        self.apply(Sample {
            metric: "up".into(),
            labels: BTreeMap::new(),
            value: if up { 1.0 } else { 0.0 },
        })
    }

    /// A `static_configs` entry of a Prometheus scrape config for this target at `addr`.
    fn static_config(&self, addr: SocketAddr) -> String {
        let mut labels: Vec<String> = self
            .labels
            .iter()
            .filter(|(k, _)| k.as_str() != "instance")
            .map(|(k, v)| format!("{k}: {}", serde_json::Value::String(v.clone())))
            .collect();
        labels.sort();
        format!(
            "      - targets: ['{addr}']\n        labels: {{{}}}\n",
            labels.join(", ")
        )
    }
}

/// Prometheus `scrape_configs` (YAML) for flux-sim's listeners, labelled as the example's
/// PodMonitor, kube-prometheus-stack and the Flux Operator's ServiceMonitor would label them.
/// `interval`: the scrape interval.
pub fn scrape_configs(endpoints: &super::Endpoints, interval: Duration) -> String {
    let every = format!("{}ms", interval.as_millis().max(1));
    let mut out = String::from("scrape_configs:\n");
    let mut job = |name: &str, honor: bool, targets: Vec<(Target, SocketAddr)>| {
        let _ = write!(
            out,
            "  - job_name: {name}\n    scrape_interval: {every}\n    scrape_timeout: {every}\n    honor_labels: {honor}\n    static_configs:\n"
        );
        for (target, addr) in targets {
            out.push_str(&target.static_config(addr));
        }
    };
    let controllers = endpoints
        .controllers
        .iter()
        .filter_map(|(name, addr)| Some((Target::controller(Controller::from_name(name)?, &addr.to_string()), *addr)))
        .collect();
    job(CONTROLLERS_JOB, false, controllers);
    if let Some(ksm) = endpoints.kube_state_metrics {
        job(KSM_JOB, true, vec![(Target::kube_state_metrics(&ksm.to_string()), ksm)]);
    }
    if let Some(op) = endpoints.flux_operator {
        job(FLUX_OPERATOR_JOB, false, vec![(Target::flux_operator(&op.to_string()), op)]);
    }
    out
}

/// Everything one scrape instant yields, per target.
#[derive(Debug, Clone, serde::Serialize)]
pub struct Scrape {
    /// Scenario time of the scrape.
    pub at: Duration,
    pub targets: Vec<TargetScrape>,
}

#[derive(Debug, Clone, serde::Serialize)]
pub struct TargetScrape {
    pub target: Target,
    /// Whether the target answered (a downed controller does not).
    pub up: bool,
    /// The stored samples, target labels applied, `up` included.
    pub samples: Vec<Sample>,
}

impl Scrape {
    /// Every stored sample of this instant, all targets.
    pub fn samples(&self) -> impl Iterator<Item = &Sample> {
        self.targets.iter().flat_map(|t| t.samples.iter())
    }
}

/// Walks a scenario in virtual time and scrapes every endpoint at the scrape interval. The
/// controller metrics see each reconcile when it ends (Flux records the duration then); a
/// controller that comes back from controller-down starts from zero, as a restarted process.
pub struct VirtualScraper {
    sim: Simulation,
    controllers: Vec<Controller>,
    resource_metrics: Vec<ResourceMetrics>,
    /// The Flux Operator's last report and its scenario time.
    report: Option<(Duration, Family)>,
    metrics: BTreeMap<Controller, ControllerMetrics>,
    /// Reconciles started but not yet finished at the last scrape, with their end time.
    pending: Vec<(Duration, Reconcile)>,
    seen: usize,
    /// Scenario time of the last scrape (`None` before the first).
    last: Option<Duration>,
    interval: Duration,
    next: Duration,
    end: Duration,
}

impl VirtualScraper {
    /// Scrapes at 0, interval, 2*interval ... up to the scenario's duration.
    pub fn new(scenario: &Scenario) -> Self {
        Self::with_interval(scenario, scenario.scrape_interval)
    }

    pub fn with_interval(scenario: &Scenario, interval: Duration) -> Self {
        let version = scenario.flux_version;
        let controllers = scenario.controllers();
        VirtualScraper {
            sim: Simulation::new(scenario),
            metrics: controllers.iter().map(|c| (*c, ControllerMetrics::new(*c, version))).collect(),
            controllers,
            resource_metrics: scenario.resource_metrics.clone(),
            report: None,
            pending: Vec::new(),
            seen: 0,
            last: None,
            interval: interval.max(Duration::from_millis(1)),
            next: Duration::ZERO,
            end: scenario.duration,
        }
    }

    pub fn simulation(&self) -> &Simulation {
        &self.sim
    }

    /// Controller restarts (ends of controller-down) after the last scrape, up to `t`.
    fn restarts(&self, t: Duration) -> Vec<(Duration, Controller)> {
        let mut out: Vec<(Duration, Controller)> = self
            .sim
            .scenario()
            .faults
            .iter()
            .filter(|f| f.fault == Fault::ControllerDown)
            .filter_map(|f| match (&f.target, f.duration) {
                (FaultTarget::Controller(c), Some(d)) => Some((f.at + d, *c)),
                _ => None,
            })
            .filter(|(end, _)| *end <= t && self.last.is_none_or(|l| *end > l))
            .collect();
        out.sort();
        out
    }

    /// Scrapes at scenario time `t` (not before the last scrape).
    pub fn scrape_at(&mut self, t: Duration) -> Scrape {
        if self.resource_metrics.contains(&ResourceMetrics::FluxOperator) {
            // The operator reports at its own pace: take the report of the last report time
            // before `t` from the objects as they were then.
            let at = flux_operator::last_report(t, flux_operator::REPORTING_INTERVAL);
            if self.report.as_ref().is_none_or(|(last, _)| *last < at) {
                self.sim.run_until(at);
                self.report = Some((at, flux_operator::resource_info(&self.sim.objects())));
            }
        }
        self.sim.run_until(t);
        let records = &self.sim.reconciles()[self.seen..];
        self.seen += records.len();
        self.pending.extend(
            records
                .iter()
                .filter_map(|r| Reconcile::from_record(r).map(|rc| (r.start + r.duration, rc))),
        );
        self.pending.sort_by_key(|(end, _)| *end);
        let done = self.pending.partition_point(|(end, _)| *end <= t);
        let finished: Vec<(Duration, Reconcile)> = self.pending.drain(..done).collect();
        let mut restarts = self.restarts(t).into_iter().peekable();
        for (end, r) in finished {
            while let Some((_, c)) = restarts.next_if(|(at, _)| *at < end) {
                self.metrics.get_mut(&c).expect("every controller").restart();
            }
            if let Some(m) = self.metrics.get_mut(&r.controller) {
                m.observe(&r);
            }
        }
        for (_, c) in restarts {
            self.metrics.get_mut(&c).expect("every controller").restart();
        }
        self.last = Some(t);

        let objects = self.sim.objects();
        let version = self.sim.scenario().flux_version;
        let mut targets = Vec::new();
        for &c in &self.controllers {
            let target = Target::controller(c, &format!("{}:8080", c.name()));
            let up = !self.sim.controller_down_at(c, t);
            let mut out = vec![target.up(up)];
            if up {
                let families = self.metrics[&c].families(&objects);
                out.extend(samples(&families).into_iter().map(|s| target.apply(s)));
            }
            targets.push(TargetScrape {
                target,
                up,
                samples: out,
            });
        }
        let mut resource_target = |target: Target, family: &Family| {
            let mut out = vec![target.up(true)];
            out.extend(samples(std::slice::from_ref(family)).into_iter().map(|s| target.apply(s)));
            targets.push(TargetScrape { target, up: true, samples: out });
        };
        if self.resource_metrics.contains(&ResourceMetrics::KubeStateMetrics) {
            let family = ksm::resource_info(&objects, version);
            resource_target(Target::kube_state_metrics("kube-state-metrics:8080"), &family);
        }
        if let Some((_, family)) = &self.report {
            resource_target(Target::flux_operator("flux-operator:8080"), family);
        }
        Scrape { at: t, targets }
    }
}

impl Iterator for VirtualScraper {
    type Item = Scrape;

    fn next(&mut self) -> Option<Scrape> {
        if self.next > self.end {
            return None;
        }
        let t = self.next;
        self.next += self.interval;
        Some(self.scrape_at(t))
    }
}

/// The stored samples of every target at scenario time `t`, from a fresh walk of the scenario.
pub fn samples_at(scenario: &Scenario, t: Duration) -> Vec<Sample> {
    VirtualScraper::new(scenario).scrape_at(t).samples().cloned().collect()
}
