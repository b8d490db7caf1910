//! Telemetry as Flux, kube-state-metrics and the Flux Operator expose it, per the scenario's Flux
//! version: one `/metrics` listener per simulated controller, a kube-state-metrics listener with
//! `gotk_resource_info` and/or a Flux Operator listener with `flux_resource_info`, and the same
//! metric state sampled in virtual time for promtool.
//!
//! Two drivers share one data path: [`ControllerMetrics`] (reconciles in, families out) and
//! [`ksm::resource_info`] (objects in, a family out). Live, [`Telemetry`] feeds them from the
//! controllers' observer and a watch of the API and serves them; offline, [`VirtualScraper`]
//! feeds them from a [`crate::core::Simulation`].

pub mod controller;
pub mod exposition;
pub mod flux_operator;
pub mod ksm;
pub mod listener;
pub mod objects;
pub mod scrape;

use std::collections::BTreeMap;
use std::net::{IpAddr, SocketAddr};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use kube::Client;
use model::{Controller, FluxVersion};
use serde_json::Value;
use tokio::task::JoinSet;

pub use controller::{ControllerMetrics, Reconcile};
pub use exposition::{encode, Family, Sample};
pub use objects::ObjectCache;
pub use scrape::{
    samples_at, scrape_configs, Scrape, Target, TargetScrape, VirtualScraper, CONTROLLERS_JOB, FLUX_OPERATOR_JOB,
    KSM_JOB,
};

use crate::controllers::{Clock, Observer};
use crate::scenario::{Fault, FaultTarget, ResourceMetrics, Scenario};

/// How often a listener looks whether its controller went down or came back (wall time).
const DOWN_POLL: Duration = Duration::from_millis(100);

/// Where the listeners are; serialises as `{"controllers": {"source-controller":
/// "127.0.0.1:PORT", ...}, "kubeStateMetrics": "127.0.0.1:PORT", "fluxOperator": ...}` (each of
/// the last two only when the scenario has it).
#[derive(Debug, Clone, PartialEq, serde::Serialize, serde::Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct Endpoints {
    pub controllers: BTreeMap<String, SocketAddr>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub kube_state_metrics: Option<SocketAddr>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub flux_operator: Option<SocketAddr>,
}

impl Endpoints {
    /// Prometheus `scrape_configs` (YAML) scraping every listener every `interval`.
    pub fn scrape_configs(&self, interval: Duration) -> String {
        scrape_configs(self, interval)
    }
}

/// The live metric state of one Flux installation; clones share it.
#[derive(Clone)]
pub struct Telemetry {
    version: FluxVersion,
    controllers: Vec<Controller>,
    resource_metrics: Vec<ResourceMetrics>,
    metrics: Arc<Mutex<BTreeMap<Controller, ControllerMetrics>>>,
    /// The Flux Operator's last report (`flux_resource_info`), when it runs.
    report: Arc<Mutex<Option<Family>>>,
}

/// Serving listeners. Dropping it (or [`Running::shutdown`]) closes them.
pub struct Running {
    pub endpoints: Endpoints,
    tasks: JoinSet<()>,
}

impl Running {
    pub async fn shutdown(mut self) {
        self.tasks.abort_all();
        while self.tasks.join_next().await.is_some() {}
    }
}

impl Telemetry {
    /// A default installation of `version` (no optional controllers) with kube-state-metrics.
    pub fn new(version: FluxVersion) -> Self {
        Self::with(version, Controller::in_release(version, &[]), vec![ResourceMetrics::KubeStateMetrics])
    }

    /// The installation a scenario describes: its controllers and its resource metrics.
    pub fn for_scenario(scenario: &Scenario) -> Self {
        Self::with(scenario.flux_version, scenario.controllers(), scenario.resource_metrics.clone())
    }

    fn with(version: FluxVersion, controllers: Vec<Controller>, resource_metrics: Vec<ResourceMetrics>) -> Self {
        let metrics = controllers.iter().map(|c| (*c, ControllerMetrics::new(*c, version))).collect();
        Telemetry {
            version,
            controllers,
            resource_metrics,
            metrics: Arc::new(Mutex::new(metrics)),
            report: Arc::new(Mutex::new(None)),
        }
    }

    pub fn version(&self) -> FluxVersion {
        self.version
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, BTreeMap<Controller, ControllerMetrics>> {
        self.metrics.lock().unwrap_or_else(std::sync::PoisonError::into_inner)
    }

    fn lock_report(&self) -> std::sync::MutexGuard<'_, Option<Family>> {
        self.report.lock().unwrap_or_else(std::sync::PoisonError::into_inner)
    }

    /// Records a reconcile (skips that ran nothing are ignored).
    pub fn observe(&self, r: &Reconcile) {
        if let Some(m) = self.lock().get_mut(&r.controller) {
            m.observe(r);
        }
    }

    /// For `controllers::Options::observer`.
    pub fn observer(&self) -> Observer {
        let this = self.clone();
        Arc::new(move |o| {
            if let Some(r) = Reconcile::from_observation(o) {
                this.observe(&r);
            }
        })
    }

    /// notification-controller's event server answered a request.
    pub fn observe_event_request(&self, method: &str, code: u16, elapsed: Duration, size: usize) {
        if let Some(m) = self.lock().get_mut(&Controller::Notification) {
            m.observe_http(method, code, elapsed, size);
        }
    }

    /// For [`crate::notify::serve`]: what the event server reports of each answered request.
    pub fn request_observer(&self) -> crate::notify::RequestObserver {
        let this = self.clone();
        Arc::new(move |method: &str, code: u16, elapsed: Duration, size: usize| {
            this.observe_event_request(method, code, elapsed, size)
        })
    }

    /// A controller process restarted: its metrics start from zero.
    pub fn restart(&self, c: Controller) {
        if let Some(m) = self.lock().get_mut(&c) {
            m.restart();
        }
    }

    /// A controller's `/metrics` body for these objects.
    pub fn encode_controller<'a>(&self, c: Controller, objects: impl IntoIterator<Item = &'a Value>) -> String {
        let families = match self.lock().get(&c) {
            Some(m) => m.families(objects),
            None => ControllerMetrics::new(c, self.version).families(objects),
        };
        encode(&families)
    }

    /// kube-state-metrics' `/metrics` body for these objects.
    pub fn encode_kube_state_metrics<'a>(&self, objects: impl IntoIterator<Item = &'a Value>) -> String {
        encode(&[ksm::resource_info(objects, self.version)])
    }

    /// The Flux Operator reports: `flux_resource_info` now shows these objects.
    pub fn report<'a>(&self, objects: impl IntoIterator<Item = &'a Value>) {
        *self.lock_report() = Some(flux_operator::resource_info(objects));
    }

    /// The Flux Operator's `/metrics` body: its last report.
    pub fn encode_flux_operator(&self) -> String {
        self.lock_report().as_ref().map(|f| encode(std::slice::from_ref(f))).unwrap_or_default()
    }

    /// The entry point for `flux-sim serve`: watches the scenario's Flux objects through
    /// `client`, follows its controller-down faults on `clock`, and serves every listener on
    /// `host` (port 0 each: the OS picks).
    pub async fn serve_scenario(
        &self,
        client: &Client,
        scenario: Arc<Scenario>,
        clock: Clock,
        host: IpAddr,
    ) -> std::io::Result<Running> {
        let kinds: Vec<_> = scenario.kinds().collect();
        let (objects, watch_tasks) = ObjectCache::watch(client, self.version, &kinds);
        // Serve nothing half-listed; an API that never answers must not block start-up forever.
        if !objects.wait_until_synced(Duration::from_secs(10)).await {
            tracing::warn!("telemetry: some Flux kinds could not be listed; serving what is known");
        }
        let report_every = clock.to_wall(flux_operator::REPORTING_INTERVAL);
        let mut running = self.serve(objects, scenario_down(scenario, clock), host, report_every).await?;
        let mut watch_tasks = watch_tasks;
        running
            .tasks
            .spawn(async move { while watch_tasks.join_next().await.is_some() {} });
        Ok(running)
    }

    /// Serves one listener per controller, and kube-state-metrics and the Flux Operator as the
    /// installation has them, on `host`, rendering from `objects` at each scrape (the Flux
    /// Operator from its last report, taken every `report_every` of wall time). A controller's
    /// listener is closed while `is_down` says so; when it comes back its metrics restart from
    /// zero, as a restarted process's do.
    pub async fn serve(
        &self,
        objects: ObjectCache,
        is_down: impl Fn(Controller) -> bool + Send + Sync + 'static,
        host: IpAddr,
        report_every: Duration,
    ) -> std::io::Result<Running> {
        let is_down = Arc::new(is_down);
        let mut tasks = JoinSet::new();
        let mut controllers = BTreeMap::new();
        for &c in &self.controllers {
            let (this, objs) = (self.clone(), objects.clone());
            let render: listener::Render = Arc::new(move || objs.with(|o| this.encode_controller(c, o)));
            let was_down = Arc::new(AtomicBool::new(false));
            let (this, is_down) = (self.clone(), is_down.clone());
            let down = Arc::new(move || {
                let down = is_down(c);
                if down {
                    was_down.store(true, Ordering::SeqCst);
                } else if was_down.swap(false, Ordering::SeqCst) {
                    this.restart(c);
                }
                down
            });
            let addr = listener::spawn(SocketAddr::new(host, 0), render, down, DOWN_POLL, &mut tasks).await?;
            controllers.insert(c.name().to_string(), addr);
        }
        let mut endpoints = Endpoints { controllers, kube_state_metrics: None, flux_operator: None };
        if self.resource_metrics.contains(&ResourceMetrics::KubeStateMetrics) {
            let (this, objs) = (self.clone(), objects.clone());
            let render: listener::Render = Arc::new(move || objs.with(|o| this.encode_kube_state_metrics(o)));
            let never_down = Arc::new(|| false);
            endpoints.kube_state_metrics =
                Some(listener::spawn(SocketAddr::new(host, 0), render, never_down, DOWN_POLL, &mut tasks).await?);
        }
        if self.resource_metrics.contains(&ResourceMetrics::FluxOperator) {
            objects.with(|o| self.report(o));
            let (this, objs) = (self.clone(), objects);
            tasks.spawn(async move {
                let mut ticks = tokio::time::interval(report_every.max(Duration::from_millis(10)));
                ticks.tick().await;
                loop {
                    ticks.tick().await;
                    objs.with(|o| this.report(o));
                }
            });
            let this = self.clone();
            let render: listener::Render = Arc::new(move || this.encode_flux_operator());
            let never_down = Arc::new(|| false);
            endpoints.flux_operator =
                Some(listener::spawn(SocketAddr::new(host, 0), render, never_down, DOWN_POLL, &mut tasks).await?);
        }
        Ok(Running { endpoints, tasks })
    }
}

/// Whether a controller is down now by the scenario's fault timeline (controller-down faults).
pub fn scenario_down(scenario: Arc<Scenario>, clock: Clock) -> impl Fn(Controller) -> bool + Send + Sync + 'static {
    move |c| {
        let t = clock.scenario_now();
        scenario
            .faults
            .iter()
            .any(|f| f.fault == Fault::ControllerDown && f.target == FaultTarget::Controller(c) && f.active_at(t))
    }
}
