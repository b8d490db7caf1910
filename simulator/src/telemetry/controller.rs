//! One Flux controller's `/metrics` as a pure value: reconciles go in (from the real-time
//! controllers' observer or the virtual-time core's records), families come out, together with
//! the legacy gauges computed from the current objects the way fluxcd/pkg's recorder set them.
//!
//! Sources: fluxcd/pkg runtime/metrics/recorder.go and runtime/controller/metrics.go (gauges,
//! histogram, one series per condition status), controller-runtime
//! pkg/internal/controller/metrics/metrics.go and pkg/internal/controller/controller.go
//! (families, zeroed at start, result labels).

use std::collections::BTreeMap;
use std::time::Duration;

use model::metrics::{self as catalog, emitted_by};
use model::{Controller, FluxObject, FluxVersion, ObjectRef};
use serde_json::Value;

use super::exposition::{Family, Histogram};
use crate::controllers::ReconcileObservation;
use crate::core::{ReconcileRecord, ReconcileResult, SkipReason};

/// controller-runtime's `result` label values, in the order it zeroes them.
pub const RESULTS: [&str; 4] = ["error", "requeue_after", "requeue", "success"];

/// One reconcile that ran, as the metrics see it.
#[derive(Debug, Clone, PartialEq)]
pub struct Reconcile {
    pub object: ObjectRef,
    pub controller: Controller,
    /// Scenario time it took (what `gotk_reconcile_duration_seconds` records).
    pub duration: Duration,
    /// controller-runtime's `result` label.
    pub result: &'static str,
    /// The reconciler returned a TerminalError (also counted as an error).
    pub terminal: bool,
}

/// Whether a Flux controller reconciles objects of `kind` (an ExternalArtifact's status is
/// written by its producer, with no reconcile of its own to measure).
fn measured(kind: &str) -> bool {
    kind != "ExternalArtifact"
}

/// Skips that mean nothing ran: a stale object, a downed controller, a kind with no reconciler.
fn ran(result: &ReconcileResult) -> bool {
    !matches!(
        result,
        ReconcileResult::Skipped(SkipReason::Stale | SkipReason::ControllerDown | SkipReason::NotReconciled)
    )
}

impl Reconcile {
    /// From the real-time controllers; `None` when nothing ran.
    pub fn from_observation(o: &ReconcileObservation) -> Option<Self> {
        (ran(&o.outcome.result) && measured(&o.object.kind)).then(|| Reconcile {
            object: o.object.clone(),
            controller: o.controller,
            duration: o.outcome.duration,
            result: o.outcome.runtime_result(),
            terminal: o.outcome.terminal,
        })
    }

    /// From the virtual-time core. Records carry no requeue: Flux's reconcilers requeue after
    /// their interval whenever they do not error, except for suspended objects (empty result).
    pub fn from_record(r: &ReconcileRecord) -> Option<Self> {
        let result = match (&r.result, r.errored) {
            (_, true) => "error",
            (ReconcileResult::Skipped(_), false) => "success",
            _ => "requeue_after",
        };
        (ran(&r.result) && measured(&r.object.kind)).then(|| Reconcile {
            object: r.object.clone(),
            controller: r.controller,
            duration: r.duration,
            result,
            terminal: r.terminal,
        })
    }
}

/// `--concurrent` default of the controller's main.go (source-controller 2, source-watcher 10,
/// the others 4).
pub fn max_concurrent_reconciles(c: Controller) -> u32 {
    c.concurrent()
}

/// The controller-runtime controllers a Flux controller runs (named after the lowercase kind).
/// ExternalArtifact is produced by source-watcher or third parties, not reconciled by
/// source-controller.
pub fn runtime_controllers(c: Controller, version: FluxVersion) -> Vec<String> {
    let mut names: Vec<String> = model::kinds::kinds_in(version)
        .filter(|k| k.controller == c && k.kind != "ExternalArtifact")
        .map(|k| k.kind.to_lowercase())
        .collect();
    names.sort();
    names
}

#[derive(Debug, Clone)]
struct RuntimeController {
    totals: BTreeMap<&'static str, u64>,
    errors: u64,
    /// Reconciles that returned controller-runtime's TerminalError (helm-controller's
    /// RetriesExceeded and MissingRollbackTarget): counted as errors, never requeued.
    terminal: u64,
    time: Histogram,
}

impl RuntimeController {
    fn new() -> Self {
        RuntimeController {
            totals: RESULTS.iter().map(|r| (*r, 0)).collect(),
            errors: 0,
            terminal: 0,
            time: Histogram::new(&catalog::CONTROLLER_RUNTIME_BUCKETS),
        }
    }
}

/// Key of a per-object series, in the order client_golang sorts them (kind, name, namespace).
type ObjectKey = (String, String, String);

fn key(r: &ObjectRef) -> ObjectKey {
    (r.kind.clone(), r.name.clone(), r.namespace.clone())
}

/// The metric state of one Flux controller process.
#[derive(Debug, Clone)]
pub struct ControllerMetrics {
    controller: Controller,
    version: FluxVersion,
    runtime: BTreeMap<String, RuntimeController>,
    durations: BTreeMap<ObjectKey, Histogram>,
    /// notification-controller's event server: (method, code) -> (latency, response size).
    http: BTreeMap<(String, String), (Histogram, Histogram)>,
}

impl ControllerMetrics {
    /// A freshly started controller: controller-runtime's counters at zero, no durations yet.
    pub fn new(controller: Controller, version: FluxVersion) -> Self {
        let runtime = runtime_controllers(controller, version)
            .into_iter()
            .map(|n| (n, RuntimeController::new()))
            .collect();
        ControllerMetrics {
            controller,
            version,
            runtime,
            durations: BTreeMap::new(),
            http: BTreeMap::new(),
        }
    }

    pub fn controller(&self) -> Controller {
        self.controller
    }

    /// The process restarted (after controller-down): everything starts from zero again.
    pub fn restart(&mut self) {
        *self = ControllerMetrics::new(self.controller, self.version);
    }

    /// Records one finished reconcile (ignored when it belongs to another controller).
    pub fn observe(&mut self, r: &Reconcile) {
        if r.controller != self.controller {
            return;
        }
        let secs = r.duration.as_secs_f64();
        let name = r.object.kind.to_lowercase();
        let rc = self.runtime.entry(name).or_insert_with(RuntimeController::new);
        *rc.totals.entry(r.result).or_insert(0) += 1;
        if r.result == "error" {
            rc.errors += 1;
        }
        if r.terminal {
            rc.terminal += 1;
        }
        rc.time.observe(secs);
        self.durations
            .entry(key(&r.object))
            .or_insert_with(|| Histogram::new(&catalog::RECONCILE_DURATION_BUCKETS))
            .observe(secs);
    }

    /// notification-controller's event server answered a request (go-http-metrics' middleware
    /// around the `/` mux).
    pub fn observe_http(&mut self, method: &str, code: u16, elapsed: Duration, size: usize) {
        let (latency, sizes) = self.http.entry((method.to_string(), code.to_string())).or_insert_with(|| {
            (
                Histogram::new(&catalog::HTTP_DURATION_BUCKETS),
                Histogram::new(&catalog::HTTP_SIZE_BUCKETS),
            )
        });
        latency.observe(elapsed.as_secs_f64());
        sizes.observe(size as f64);
    }

    /// The families this controller serves now. `objects` are the current Flux objects (any
    /// kinds; others are ignored): the legacy gauges are computed from them, and duration series
    /// of objects that no longer exist are left out, as Flux deletes them with the object.
    pub fn families<'a>(&self, objects: impl IntoIterator<Item = &'a Value>) -> Vec<Family> {
        let mut mine: BTreeMap<ObjectKey, (bool, Option<String>)> = BTreeMap::new();
        for o in objects {
            let view = FluxObject::new(o);
            if view.info().is_some_and(|i| i.controller == self.controller) {
                let ready = view.ready().map(|c| c.status);
                mine.insert(key(&view.object_ref()), (view.suspended(), ready));
            }
        }
        let label = |n: &str| vec![("controller", n.to_string())];
        let emits = |name: &str| emitted_by(catalog::get(name), self.version, self.controller);
        let family = |name: &str| Family::new(catalog::get(name));
        let mut active = family(catalog::ACTIVE_WORKERS);
        let mut max = family(catalog::MAX_CONCURRENT_RECONCILES);
        let mut errors = family(catalog::RECONCILE_ERRORS_TOTAL);
        let mut panics = family(catalog::RECONCILE_PANICS_TOTAL);
        let mut timeouts = family(catalog::RECONCILE_TIMEOUTS_TOTAL);
        let mut time = family(catalog::RECONCILE_TIME);
        let mut total = family(catalog::RECONCILE_TOTAL);
        let mut terminal = family(catalog::TERMINAL_RECONCILE_ERRORS_TOTAL);
        for (name, rc) in &self.runtime {
            // Reconciles are instantaneous at a scrape in this model: no worker is busy.
            active.push(label(name), 0.0);
            max.push(label(name), f64::from(max_concurrent_reconciles(self.controller)));
            errors.push(label(name), rc.errors as f64);
            panics.push(label(name), 0.0);
            timeouts.push(label(name), 0.0);
            time.push_histogram(&label(name), &rc.time);
            for (result, n) in &rc.totals {
                total.push(
                    vec![("controller", name.clone()), ("result", (*result).to_string())],
                    *n as f64,
                );
            }
            terminal.push(label(name), rc.terminal as f64);
        }

        let object_labels = |(kind, name, ns): &ObjectKey| {
            vec![
                ("kind", kind.clone()),
                ("name", name.clone()),
                ("namespace", ns.clone()),
            ]
        };
        let mut durations = family(catalog::RECONCILE_DURATION);
        for (k, h) in self.durations.iter().filter(|(k, _)| mine.contains_key(*k)) {
            durations.push_histogram(&object_labels(k), h);
        }
        let mut families: Vec<Family> = [active, max, errors, panics, timeouts, time, total, terminal]
            .into_iter()
            .filter(|f| emits(f.family.name))
            .collect();
        // Unlabelled families show from start-up at 0: controller-runtime's webhook panics (no
        // webhook is simulated) and the token cache's; the cache's labelled counters only once a
        // token was looked up, which no simulated object does.
        for name in [
            catalog::WEBHOOK_PANICS_TOTAL,
            catalog::CONVERSION_WEBHOOK_PANICS_TOTAL,
            catalog::TOKEN_CACHED_ITEMS,
            catalog::TOKEN_CACHE_EVICTIONS_TOTAL,
        ] {
            if emits(name) {
                let mut f = family(name);
                f.push(Vec::new(), 0.0);
                families.push(f);
            }
        }
        if !self.http.is_empty() && emits(catalog::EVENT_HTTP_REQUEST_DURATION) {
            let handler = || vec![("service", String::new()), ("handler", "/".to_string())];
            let mut latency = family(catalog::EVENT_HTTP_REQUEST_DURATION);
            let mut sizes = family(catalog::EVENT_HTTP_RESPONSE_SIZE);
            for ((method, code), (l, z)) in &self.http {
                let mut labels = handler();
                labels.push(("method", method.clone()));
                labels.push(("code", code.clone()));
                latency.push_histogram(&labels, l);
                sizes.push_histogram(&labels, z);
            }
            // Requests are answered between scrapes: none is in flight when one looks.
            let mut inflight = family(catalog::EVENT_HTTP_REQUESTS_INFLIGHT);
            inflight.push(handler(), 0.0);
            families.extend([latency, sizes, inflight]);
        }
        if !emits(catalog::RECONCILE_DURATION) {
            return families;
        }
        if emits(catalog::RECONCILE_CONDITION) {
            let mut condition = family(catalog::RECONCILE_CONDITION);
            let mut suspend = family(catalog::SUSPEND_STATUS);
            for (k, (suspended, ready)) in mine.iter().filter(|(k, _)| reconciled_kind(&k.0)) {
                // RecordReadiness: one series per status, 1 for the current one; an object
                // without a Ready condition counts as Unknown.
                let current = ready.as_deref().unwrap_or("Unknown");
                for status in ["False", "True", "Unknown"] {
                    let mut l = object_labels(k);
                    l.push(("status", status.to_string()));
                    l.push(("type", "Ready".to_string()));
                    condition.push(l, if status == current { 1.0 } else { 0.0 });
                }
                if catalog::records_suspend_status(&k.0) {
                    suspend.push(object_labels(k), if *suspended { 1.0 } else { 0.0 });
                }
            }
            families.push(condition);
            families.push(durations);
            families.push(suspend);
        } else {
            families.push(durations);
        }
        families
    }
}

/// Kinds whose reconciler records the legacy gauges (Alert and Provider v1beta3 have none).
fn reconciled_kind(kind: &str) -> bool {
    model::kinds::by_kind(kind).is_some_and(|k| k.has_status && k.kind != "ExternalArtifact")
}
