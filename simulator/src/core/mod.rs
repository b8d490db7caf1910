//! The deterministic simulator core: a Flux reconcile as a pure function of (object, world,
//! active faults, time, seed), the initial objects of a scenario, and a virtual-time driver that
//! steps a whole scenario. No I/O, no sockets, no sleeping, no wall clock.

mod artifacts;
mod defaults;
mod helm;
mod image;
mod kustomize;
mod sim;
mod sources;
mod util;
mod world;

use std::collections::BTreeMap;
use std::time::Duration;

use jiff::Timestamp;
use model::{Controller, FluxObject, ObjectRef};
use serde_json::Value;

use crate::scenario::{Fault, FaultSpec};

pub use artifacts::generated_artifacts;
pub use defaults::{helm_chart_for, initial_object};
pub use sim::{timestamp, ReconcileRecord, Simulation, TimedEvent, EPOCH};
pub use world::{artifact_revision_of, readiness_of, MapWorld};

/// Annotation asking for a fault on a live object (a fault name such as `fetch-failure`).
pub const FAULT_ANNOTATION: &str = "flux-sim.flux-monitor.dev/fault";
/// Optional Ready message for the live fault.
pub const FAULT_MESSAGE_ANNOTATION: &str = "flux-sim.flux-monitor.dev/fault-message";
/// Optional Ready reason for the live fault.
pub const FAULT_REASON_ANNOTATION: &str = "flux-sim.flux-monitor.dev/fault-reason";
/// `flux reconcile` writes this; controllers copy it to `status.lastHandledReconcileAt`.
pub const REQUESTED_AT_ANNOTATION: &str = "reconcile.fluxcd.io/requestedAt";
/// Flux's `--requeue-dependency` default.
pub const REQUEUE_DEPENDENCY: Duration = Duration::from_secs(30);
/// `slow` without `reconcileDuration`.
pub const DEFAULT_SLOW_RECONCILE: Duration = Duration::from_secs(45);
/// `error-rate` without `rate`.
pub const DEFAULT_ERROR_RATE: f64 = 0.5;
/// `event-storm` without `count`.
pub const DEFAULT_STORM_COUNT: u32 = 50;

/// What a reconcile needs to know about another object.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Readiness {
    /// Ready=True at the object's current generation (what Flux's dependency checks ask).
    pub ready: bool,
    /// The Ready reason (empty without a Ready condition).
    pub reason: String,
    /// Why it is not ready, in the words Flux's `isReady` checks use: the Ready or Stalled
    /// message, or `latest generation of object has not been reconciled`.
    pub message: String,
    /// The Ready condition's own message (empty without one), whatever the generation.
    pub ready_message: String,
}

/// Everything a reconcile needs to know about the rest of the cluster.
pub trait World {
    /// `None`: the object does not exist.
    fn readiness(&self, r: &ObjectRef) -> Option<Readiness>;
    /// The artifact (or scan result) revision an object offers; `None` when it has none.
    fn artifact_revision(&self, r: &ObjectRef) -> Option<String>;
    /// The whole object, for the rare reconcile that reads more than readiness and revision
    /// (an ExternalArtifact copying its generator's inventory).
    fn object(&self, r: &ObjectRef) -> Option<Value>;
}

/// A fault in force on an object or its controller at this time.
#[derive(Debug, Clone, PartialEq)]
pub struct ActiveFault {
    pub fault: Fault,
    pub reason: Option<String>,
    pub message: Option<String>,
    pub reconcile_duration: Option<Duration>,
    pub rate: Option<f64>,
    pub count: Option<u32>,
}

impl ActiveFault {
    pub fn new(fault: Fault) -> Self {
        Self {
            fault,
            reason: None,
            message: None,
            reconcile_duration: None,
            rate: None,
            count: None,
        }
    }

    pub fn from_spec(spec: &FaultSpec) -> Self {
        Self {
            fault: spec.fault,
            reason: spec.reason.clone(),
            message: spec.message.clone(),
            reconcile_duration: spec.reconcile_duration,
            rate: spec.rate,
            count: spec.count,
        }
    }
}

/// The fault a live object asks for with [`FAULT_ANNOTATION`] (unknown names are ignored).
pub fn live_faults(object: &Value) -> Vec<ActiveFault> {
    let obj = FluxObject::new(object);
    let Some(fault) = obj
        .annotation(FAULT_ANNOTATION)
        .and_then(|n| Fault::from_name(n.trim()))
    else {
        return Vec::new();
    };
    let mut active = ActiveFault::new(fault);
    active.message = obj.annotation(FAULT_MESSAGE_ANNOTATION).map(str::to_string);
    active.reason = obj.annotation(FAULT_REASON_ANNOTATION).map(str::to_string);
    vec![active]
}

pub struct ReconcileInput<'a> {
    /// The live object, including its current status.
    pub object: &'a Value,
    pub world: &'a dyn World,
    /// Object faults in force (scenario timeline). Faults asked by annotation on the object are
    /// added by [`reconcile`] itself.
    pub faults: &'a [ActiveFault],
    /// Faults on the object's controller (`controller-down`, `error-rate`).
    pub controller_faults: &'a [ActiveFault],
    /// When the reconcile starts.
    pub now: Timestamp,
    pub seed: u64,
    /// This object's reconcile counter, for deterministic draws.
    pub attempt: u64,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum Severity {
    Info,
    Error,
    /// fluxcd/pkg's `EventTypeTrace`: recorded as a Normal Kubernetes event, never posted to
    /// notification-controller (runtime/events/recorder.go).
    Trace,
}

impl Severity {
    pub fn as_str(self) -> &'static str {
        match self {
            Severity::Info => "info",
            Severity::Error => "error",
            Severity::Trace => "trace",
        }
    }

    /// Whether the controller posts the event to notification-controller.
    pub fn is_posted(self) -> bool {
        self != Severity::Trace
    }
}

/// An event as the controller posts it to notification-controller (eventv1).
#[derive(Debug, Clone, PartialEq)]
pub struct SimEvent {
    /// The involved object.
    pub object: ObjectRef,
    /// The reporting controller.
    pub controller: Controller,
    pub severity: Severity,
    pub reason: String,
    pub message: String,
    /// Keys already prefixed with the kind's API group (`kustomize.toolkit.fluxcd.io/revision`).
    pub metadata: BTreeMap<String, String>,
    /// When the controller posts it (the end of the reconcile).
    pub timestamp: Timestamp,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum SkipReason {
    /// `spec.suspend: true` (or a `suspend` fault): Flux returns early, status untouched.
    Suspended,
    /// `stale`: the controller ignores the object.
    Stale,
    /// `controller-down`: nothing runs.
    ControllerDown,
    /// No controller reconciles this kind (Alert and Provider v1beta3, unknown kinds).
    NotReconciled,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub enum ReconcileResult {
    Success,
    /// Ready=False (or Stalled) with this reason and message.
    Failure {
        reason: String,
        message: String,
    },
    Skipped(SkipReason),
}

#[derive(Debug, Clone, PartialEq)]
pub struct ReconcileOutcome {
    /// The complete new `.status`, written when the reconcile ends (`now + duration`); `None`
    /// when the controller does not touch it.
    pub status: Option<Value>,
    /// The status the controller writes when it starts working (Ready=Unknown Progressing
    /// "Reconciliation in progress", Reconciling=True), for kinds and steps where Flux does so;
    /// visible only while a reconcile lasts (slow, health checks, Helm actions).
    pub progress: Option<Value>,
    pub result: ReconcileResult,
    /// How long the reconcile takes; the status is written at `now + duration`.
    pub duration: Duration,
    /// When the controller looks again without a watch event; `None` = not until something
    /// changes (suspended objects, kinds without a controller, skipped reconciles).
    pub requeue_after: Option<Duration>,
    /// Counts in `controller_runtime_reconcile_errors_total`: the reconciler returned an error.
    pub errored: bool,
    /// The error was controller-runtime's TerminalError (helm-controller's RetriesExceeded):
    /// also counted in `controller_runtime_terminal_reconcile_errors_total`.
    pub terminal: bool,
    /// Events the controller posts, in order.
    pub events: Vec<SimEvent>,
}

impl ReconcileOutcome {
    /// The `result` label of `controller_runtime_reconcile_total`: Flux reconcilers return an
    /// error, or a RequeueAfter, or nothing (suspended objects).
    pub fn runtime_result(&self) -> &'static str {
        if self.errored {
            "error"
        } else if self.requeue_after.is_some() {
            "requeue_after"
        } else {
            "success"
        }
    }
}

/// What a kind's reconciler decides; the status lives in the context.
pub(crate) struct KindOutcome {
    pub result: ReconcileResult,
    pub requeue_after: Option<Duration>,
    pub errored: bool,
    pub terminal: bool,
}

impl KindOutcome {
    /// Nothing to do until something changes.
    pub fn idle() -> Self {
        Self { requeue_after: None, ..Self::success(Duration::ZERO) }
    }

    pub fn success(requeue: Duration) -> Self {
        Self {
            result: ReconcileResult::Success,
            requeue_after: Some(requeue),
            errored: false,
            terminal: false,
        }
    }
    pub fn failure(reason: &str, message: &str, requeue: Duration, errored: bool) -> Self {
        Self {
            result: ReconcileResult::Failure {
                reason: reason.into(),
                message: message.into(),
            },
            requeue_after: Some(requeue),
            errored,
            terminal: false,
        }
    }

    /// A failure the reconciler returns as a TerminalError.
    pub fn terminal(mut self) -> Self {
        self.terminal = self.errored;
        self
    }
}

fn skipped(why: SkipReason, duration: Duration) -> ReconcileOutcome {
    ReconcileOutcome {
        status: None,
        progress: None,
        result: ReconcileResult::Skipped(why),
        duration,
        requeue_after: None,
        errored: false,
        terminal: false,
        events: Vec::new(),
    }
}

/// controller-runtime's per-object backoff with Flux's flags (`--min-retry-delay` 750ms,
/// `--max-retry-delay` 15m). Doubling delays add up to about the time spent failing, so the
/// next delay is that time, clamped: no counter needs to be kept.
pub(crate) fn retry_backoff(failing_since: Option<Timestamp>, now: Timestamp) -> Duration {
    let failing = failing_since.map_or(0.0, |t| now.duration_since(t).as_secs_f64().max(0.0));
    Duration::from_secs_f64(failing.clamp(0.75, 900.0))
}

/// One reconcile of one object, the way its Flux controller does it.
pub fn reconcile(input: &ReconcileInput) -> ReconcileOutcome {
    let obj = FluxObject::new(input.object);
    if input.controller_faults.iter().any(|f| f.fault == Fault::ControllerDown) {
        return skipped(SkipReason::ControllerDown, Duration::ZERO);
    }
    let live = live_faults(input.object);
    let faults: Vec<&ActiveFault> = input.faults.iter().chain(live.iter()).collect();
    if faults.iter().any(|f| f.fault == Fault::Stale) {
        return skipped(SkipReason::Stale, Duration::ZERO);
    }
    let Some(info) = obj.info().filter(|i| i.has_status) else {
        return skipped(SkipReason::NotReconciled, Duration::ZERO);
    };
    let oref = obj.object_ref();
    let jitter = util::unit(
        input.seed,
        &[&oref.kind, &oref.namespace, &oref.name, &input.attempt.to_string()],
    );
    if obj.suspended() || faults.iter().any(|f| f.fault == Fault::Suspend) {
        return skipped(
            SkipReason::Suspended,
            Duration::from_micros(500 + (jitter * 2000.0) as u64),
        );
    }

    let fault = faults
        .iter()
        .copied()
        .find(|f| f.fault.applies_to().contains(&info.kind));
    let interval = obj
        .interval()
        .filter(|d| !d.is_zero())
        .unwrap_or(Duration::from_secs(600));
    let duration = match faults.iter().find(|f| f.fault == Fault::Slow) {
        Some(slow) => slow.reconcile_duration.unwrap_or(DEFAULT_SLOW_RECONCILE),
        None if fault.is_some_and(|f| f.fault == Fault::HealthCheckFailure) => {
            // The wait lasts the timeout: kustomize-controller's GetTimeout (interval less 30s,
            // at least 30s), helm-controller's spec.timeout (default 5m).
            let spec_timeout = obj
                .json
                .pointer("/spec/timeout")
                .and_then(Value::as_str)
                .and_then(|s| model::parse_go_duration(s).ok());
            let timeout = match info.kind {
                "Kustomization" => spec_timeout
                    .unwrap_or_else(|| interval.saturating_sub(Duration::from_secs(30)))
                    .max(Duration::from_secs(30)),
                _ => spec_timeout.unwrap_or(Duration::from_secs(300)),
            };
            timeout + Duration::from_millis(5 + (jitter * 20.0) as u64)
        }
        // Helm waits for the release's resources until the action's timeout, then gives up
        // ("context deadline exceeded").
        None if info.kind == "HelmRelease"
            && fault.is_some_and(|f| matches!(f.fault, Fault::UpgradeFailure | Fault::RetriesExhausted)) =>
        {
            let timeout = obj
                .json
                .pointer("/spec/timeout")
                .and_then(Value::as_str)
                .and_then(|s| model::parse_go_duration(s).ok())
                .unwrap_or(Duration::from_secs(300));
            timeout + Duration::from_millis(5 + (jitter * 20.0) as u64)
        }
        None => typical_duration(info.kind, jitter),
    };
    let status = input
        .object
        .get("status")
        .and_then(Value::as_object)
        .cloned()
        .unwrap_or_default();
    let mut ctx = util::Ctx {
        input,
        obj,
        info,
        oref,
        generation: obj.generation().unwrap_or(1),
        finish: util::add(input.now, duration),
        duration,
        interval,
        fault,
        status: status.clone(),
        events: Vec::new(),
        progress: None,
    };
    let mut out = match info.kind {
        "Kustomization" => kustomize::reconcile(&mut ctx),
        "HelmRelease" => helm::reconcile(&mut ctx),
        "ImageRepository" | "ImagePolicy" | "ImageUpdateAutomation" | "Receiver" => image::reconcile(&mut ctx),
        "ArtifactGenerator" => artifacts::reconcile_generator(&mut ctx),
        "ExternalArtifact" => artifacts::reconcile_external(&mut ctx),
        _ => sources::reconcile(&mut ctx),
    };

    // An ExternalArtifact's producer handles no reconcile requests (its status has no field for them).
    if let Some(requested) = obj.annotation(REQUESTED_AT_ANNOTATION).filter(|_| info.kind != "ExternalArtifact") {
        ctx.status
            .insert("lastHandledReconcileAt".into(), Value::String(requested.to_string()));
    }
    for f in input.controller_faults.iter().filter(|f| f.fault == Fault::ErrorRate) {
        let rate = f.rate.unwrap_or(DEFAULT_ERROR_RATE);
        let draw = util::unit(
            input.seed,
            &[
                &ctx.oref.kind,
                &ctx.oref.namespace,
                &ctx.oref.name,
                "error-rate",
                &input.attempt.to_string(),
            ],
        );
        if draw < rate {
            out.errored = true;
        }
    }
    if let Some(storm) = faults.iter().find(|f| f.fault == Fault::EventStorm) {
        let (reason, message) = storm_event(&ctx, storm);
        for _ in 0..storm.count.unwrap_or(DEFAULT_STORM_COUNT) {
            ctx.event(Severity::Error, &reason, &message, &[]);
        }
    }
    let progress = ctx.progress_status(status);
    ReconcileOutcome {
        progress,
        status: Some(Value::Object(std::mem::take(&mut ctx.status))),
        result: out.result,
        duration,
        requeue_after: out.requeue_after,
        errored: out.errored,
        terminal: out.terminal,
        events: ctx.events,
    }
}

/// Reconciles take tens to hundreds of milliseconds; clones and chart installs take longer.
fn typical_duration(kind: &str, jitter: f64) -> Duration {
    let (low, high) = match kind {
        "GitRepository" => (250.0, 1200.0),
        "HelmRepository" => (80.0, 600.0),
        "OCIRepository" | "Bucket" => (120.0, 700.0),
        "HelmChart" => (40.0, 300.0),
        "Kustomization" => (150.0, 900.0),
        "HelmRelease" => (300.0, 2500.0),
        "Receiver" | "ExternalArtifact" => (2.0, 20.0),
        _ => (60.0, 400.0),
    };
    Duration::from_micros(((low + (high - low) * jitter) * 1000.0) as u64)
}

/// The identical error event an `event-storm` repeats.
fn storm_event(ctx: &util::Ctx, storm: &ActiveFault) -> (String, String) {
    let (reason, message) = match ctx.info.kind {
        "Kustomization" => (
            "HealthCheckFailed",
            format!(
                "health check failed after 30.001s: timeout waiting for: [Deployment/{}/{} status: 'InProgress']",
                ctx.ns(),
                ctx.name()
            ),
        ),
        "HelmRelease" => (
            "UpgradeFailed",
            format!(
                "Helm upgrade failed for release {}/{} with chart {}: context deadline exceeded",
                ctx.ns(),
                ctx.name(),
                ctx.spec_str("/chart/spec/chart").unwrap_or(ctx.name())
            ),
        ),
        _ => (
            "ReconciliationFailed",
            format!("{} '{}/{}' reconciliation failed", ctx.info.kind, ctx.ns(), ctx.name()),
        ),
    };
    (
        storm.reason.clone().unwrap_or_else(|| reason.to_string()),
        storm.message.clone().unwrap_or(message),
    )
}
