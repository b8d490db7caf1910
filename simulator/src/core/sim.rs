//! The virtual-time driver: steps a whole scenario through [`reconcile`] with a priority queue of
//! reconcile, finish and fault times. Deterministic: same scenario and seed, same output.

use std::cmp::Ordering;
use std::collections::{BinaryHeap, HashMap};
use std::time::Duration;

use jiff::Timestamp;
use model::object::RefRole;
use model::{Controller, FluxObject, KindInfo, ObjectRef};
use serde_json::{json, Value};

use super::util::{add, h64, hex, k8s_time, unit};
use super::world::{artifact_revision_of, readiness_of};
use super::{defaults, reconcile, ActiveFault, Readiness, ReconcileInput, ReconcileResult, SimEvent, World};
use crate::scenario::{Fault, FaultTarget, Scenario};

/// Scenario time 0: 2025-01-01T00:00:00Z.
pub const EPOCH: Timestamp = Timestamp::constant(1_735_689_600, 0);

/// Reconciles at least this long show their in-progress status in between (shorter ones would
/// only move lastTransitionTime back and forth without anyone seeing the Unknown state).
const PROGRESS_VISIBLE: Duration = Duration::from_secs(2);

/// One reconcile that ran (skips for stale objects and downed controllers never run).
#[derive(Debug, Clone, PartialEq)]
pub struct ReconcileRecord {
    pub object: ObjectRef,
    pub controller: Controller,
    /// Scenario time it started.
    pub start: Duration,
    pub duration: Duration,
    pub result: ReconcileResult,
    pub errored: bool,
    pub terminal: bool,
}

/// An event with the scenario time it was posted.
#[derive(Debug, Clone, PartialEq)]
pub struct TimedEvent {
    pub at: Duration,
    pub event: SimEvent,
}

struct Slot {
    json: Value,
    oref: ObjectRef,
    info: &'static KindInfo,
    /// The scenario's `suspend` for this object (what a `suspend` fault restores).
    base_suspend: bool,
    attempt: u64,
    token: u64,
    scheduled: Option<Duration>,
    busy: bool,
    /// A reconcile was asked for while one ran.
    rerun: bool,
    /// Not reconciled while stale or its controller is down.
    parked: bool,
    pending: Option<(Option<Value>, Option<Duration>, Vec<SimEvent>)>,
    faults: Vec<usize>,
    /// `suspend`/`stale` faults that struck before the object's first reconcile: they take
    /// effect once it has a status, so the object shows the history such faults imply.
    deferred: Vec<usize>,
    /// Objects that watch this one's artifact (Kustomizations on a source, releases on a chart).
    watchers: Vec<usize>,
}

#[derive(Debug, Clone, Copy)]
enum Action {
    Reconcile { idx: usize, token: u64 },
    Finish { idx: usize },
    FaultStart(usize),
    FaultEnd(usize),
}

struct Item {
    at: Duration,
    seq: u64,
    action: Action,
}

impl PartialEq for Item {
    fn eq(&self, other: &Self) -> bool {
        (self.at, self.seq) == (other.at, other.seq)
    }
}
impl Eq for Item {}
impl PartialOrd for Item {
    fn partial_cmp(&self, other: &Self) -> Option<Ordering> {
        Some(self.cmp(other))
    }
}
impl Ord for Item {
    /// Reversed: the heap pops the earliest first.
    fn cmp(&self, other: &Self) -> Ordering {
        (other.at, other.seq).cmp(&(self.at, self.seq))
    }
}

struct SimWorld<'a> {
    slots: &'a [Slot],
    index: &'a HashMap<ObjectRef, usize>,
}

impl World for SimWorld<'_> {
    fn readiness(&self, r: &ObjectRef) -> Option<Readiness> {
        self.index.get(r).map(|&i| readiness_of(&self.slots[i].json))
    }
    fn artifact_revision(&self, r: &ObjectRef) -> Option<String> {
        self.index
            .get(r)
            .and_then(|&i| artifact_revision_of(&self.slots[i].json))
    }
    fn object(&self, r: &ObjectRef) -> Option<Value> {
        self.index.get(r).map(|&i| self.slots[i].json.clone())
    }
}

/// A scenario in virtual time.
pub struct Simulation {
    scenario: Scenario,
    slots: Vec<Slot>,
    index: HashMap<ObjectRef, usize>,
    controller_faults: Vec<(Controller, usize)>,
    queue: BinaryHeap<Item>,
    seq: u64,
    now: Duration,
    reconciles: Vec<ReconcileRecord>,
    events: Vec<TimedEvent>,
    /// Whether reconciles and events are kept (not when only the objects matter: seeding).
    recording: bool,
}

/// The wall-clock time of scenario time `t`.
pub fn timestamp(t: Duration) -> Timestamp {
    add(EPOCH, t)
}

impl Simulation {
    /// Creates every resource at scenario time 0 (plus the HelmCharts helm-controller makes for
    /// chart templates) and schedules their first reconciles, sources first.
    pub fn new(scenario: &Scenario) -> Self {
        let mut sim = Simulation {
            scenario: scenario.clone(),
            slots: Vec::new(),
            index: HashMap::new(),
            controller_faults: Vec::new(),
            queue: BinaryHeap::new(),
            seq: 0,
            now: Duration::ZERO,
            reconciles: Vec::new(),
            events: Vec::new(),
            recording: true,
        };
        for r in &scenario.resources {
            sim.add_object(defaults::initial_object(scenario, r), r.suspend);
        }
        let charts: Vec<Value> = sim
            .slots
            .iter()
            .filter(|s| s.info.kind == "HelmRelease")
            .filter_map(|s| defaults::helm_chart_for(&s.json, scenario.flux_version))
            .collect();
        let artifacts: Vec<Value> = sim
            .slots
            .iter()
            .flat_map(|s| super::artifacts::generated_artifacts(&s.json, scenario.flux_version))
            .collect();
        for generated in charts.into_iter().chain(artifacts) {
            if !sim.index.contains_key(&FluxObject::new(&generated).object_ref()) {
                sim.add_object(generated, false);
            }
        }
        for i in 0..sim.slots.len() {
            for r in FluxObject::new(&sim.slots[i].json).references() {
                let watched = matches!(r.role, RefRole::Source | RefRole::Chart | RefRole::ImageRepository);
                if let (true, Some(&t)) = (watched, sim.index.get(&r.target)) {
                    sim.slots[t].watchers.push(i);
                }
            }
        }
        for (fi, f) in scenario.faults.iter().enumerate() {
            match &f.target {
                FaultTarget::Object(r) => {
                    if let Some(&i) = sim.index.get(r) {
                        sim.slots[i].faults.push(fi);
                    }
                }
                FaultTarget::Controller(c) => sim.controller_faults.push((*c, fi)),
            }
            sim.push(f.at, Action::FaultStart(fi));
            if let Some(d) = f.duration {
                sim.push(f.at + d, Action::FaultEnd(fi));
            }
        }
        let depths = sim.depths();
        for (i, depth) in depths.into_iter().enumerate() {
            if sim.slots[i].info.has_status {
                let s = &sim.slots[i].oref;
                let j = unit(scenario.seed, &[&s.kind, &s.namespace, &s.name, "start"]);
                let at = Duration::from_secs(2 * depth as u64) + Duration::from_secs_f64(0.5 * j);
                sim.schedule(i, at);
            }
        }
        sim
    }

    fn add_object(&mut self, mut json: Value, base_suspend: bool) {
        let o = FluxObject::new(&json);
        let (oref, info) = (o.object_ref(), o.info());
        let Some(info) = info else { return };
        let uid = hex(
            self.scenario.seed,
            &[&oref.kind, &oref.namespace, &oref.name, "uid"],
            32,
        );
        let uid = format!(
            "{}-{}-{}-{}-{}",
            &uid[..8],
            &uid[8..12],
            &uid[12..16],
            &uid[16..20],
            &uid[20..]
        );
        if let Some(meta) = json.get_mut("metadata").and_then(Value::as_object_mut) {
            meta.insert("generation".into(), json!(1));
            meta.insert("creationTimestamp".into(), json!(k8s_time(EPOCH)));
            meta.insert("uid".into(), json!(uid));
        }
        self.index.insert(oref.clone(), self.slots.len());
        self.slots.push(Slot {
            json,
            oref,
            info,
            base_suspend,
            attempt: 0,
            token: 0,
            scheduled: None,
            busy: false,
            rerun: false,
            parked: false,
            pending: None,
            faults: Vec::new(),
            deferred: Vec::new(),
            watchers: Vec::new(),
        });
    }

    /// Longest reference chain below each object (sources 0), cycles cut.
    fn depths(&self) -> Vec<usize> {
        fn visit(i: usize, sim: &Simulation, memo: &mut Vec<Option<usize>>, on: &mut Vec<bool>) -> usize {
            if let Some(d) = memo[i] {
                return d;
            }
            if on[i] {
                return 0;
            }
            on[i] = true;
            let mut d = 0;
            for r in FluxObject::new(&sim.slots[i].json).references() {
                if let Some(&t) = sim.index.get(&r.target) {
                    d = d.max(1 + visit(t, sim, memo, on));
                }
            }
            on[i] = false;
            memo[i] = Some(d);
            d
        }
        let mut memo = vec![None; self.slots.len()];
        let mut on = vec![false; self.slots.len()];
        (0..self.slots.len())
            .map(|i| visit(i, self, &mut memo, &mut on))
            .collect()
    }

    fn push(&mut self, at: Duration, action: Action) {
        self.seq += 1;
        self.queue.push(Item {
            at,
            seq: self.seq,
            action,
        });
    }

    /// Asks for a reconcile at `at` unless an earlier one is already due.
    fn schedule(&mut self, idx: usize, at: Duration) {
        let slot = &mut self.slots[idx];
        if slot.scheduled.is_some_and(|s| s <= at) {
            return;
        }
        slot.token += 1;
        slot.scheduled = Some(at);
        let token = slot.token;
        self.push(at, Action::Reconcile { idx, token });
    }

    /// The objects at scenario time `t`, computed with as little memory as can be: no reconcile
    /// or event kept on the way, the scenario's resource list dropped once its objects exist, the
    /// objects moved out at the end (seeding 100k objects).
    pub fn objects_only(scenario: &Scenario, t: Duration) -> Vec<Value> {
        let mut sim = Simulation::new(scenario);
        sim.recording = false;
        sim.scenario.resources = Vec::new();
        if !t.is_zero() {
            sim.run_until(t);
        }
        sim.slots.into_iter().map(|s| s.json).collect()
    }

    /// Advances scenario time to `t`, running everything due until then.
    pub fn run_until(&mut self, t: Duration) {
        while self.queue.peek().is_some_and(|i| i.at <= t) {
            let item = self.queue.pop().expect("peeked");
            self.now = item.at;
            match item.action {
                Action::Reconcile { idx, token } => self.start(idx, token),
                Action::Finish { idx } => self.finish(idx),
                Action::FaultStart(fi) => self.fault_start(fi),
                Action::FaultEnd(fi) => self.fault_end(fi),
            }
        }
        self.now = self.now.max(t);
    }

    /// Runs the whole scenario.
    pub fn run(&mut self) {
        self.run_until(self.scenario.duration);
    }

    fn active_faults(&self, idx: usize, t: Duration) -> (Vec<ActiveFault>, Vec<ActiveFault>) {
        let faults = &self.scenario.faults;
        let object = self.slots[idx]
            .faults
            .iter()
            .map(|&fi| &faults[fi])
            .filter(|f| f.active_at(t));
        let controller = self.slots[idx].info.controller;
        let ctrl = self
            .controller_faults
            .iter()
            .filter(|(c, _)| *c == controller)
            .map(|&(_, fi)| &faults[fi])
            .filter(|f| f.active_at(t));
        (
            object.map(ActiveFault::from_spec).collect(),
            ctrl.map(ActiveFault::from_spec).collect(),
        )
    }

    fn start(&mut self, idx: usize, token: u64) {
        let t = self.now;
        let slot = &mut self.slots[idx];
        if slot.token != token {
            return;
        }
        slot.scheduled = None;
        if slot.busy {
            slot.rerun = true;
            return;
        }
        let (mut faults, controller_faults) = self.active_faults(idx, t);
        if !self.slots[idx].deferred.is_empty() {
            faults.retain(|f| !matches!(f.fault, Fault::Stale | Fault::Suspend));
        }
        let stale = faults.iter().any(|f| f.fault == Fault::Stale) && self.slots[idx].deferred.is_empty();
        let halted = stale || controller_faults.iter().any(|f| f.fault == Fault::ControllerDown);
        if halted {
            self.slots[idx].parked = true;
            return;
        }
        let slot = &self.slots[idx];
        let world = SimWorld {
            slots: &self.slots,
            index: &self.index,
        };
        let outcome = reconcile(&ReconcileInput {
            object: &slot.json,
            world: &world,
            faults: &faults,
            controller_faults: &controller_faults,
            now: timestamp(t),
            seed: self.scenario.seed,
            attempt: slot.attempt,
        });
        if self.recording {
            self.reconciles.push(ReconcileRecord {
                object: slot.oref.clone(),
                controller: slot.info.controller,
                start: t,
                duration: outcome.duration,
                result: outcome.result.clone(),
                errored: outcome.errored,
                terminal: outcome.terminal,
            });
        }
        let slot = &mut self.slots[idx];
        // The in-progress status only shows when the work lasts (scrapes cannot see shorter).
        if let Some(progress) = outcome.progress.filter(|_| outcome.duration >= PROGRESS_VISIBLE) {
            slot.json["status"] = progress;
        }
        slot.attempt += 1;
        slot.busy = true;
        slot.parked = false;
        slot.pending = Some((outcome.status, outcome.requeue_after, outcome.events));
        self.push(t + outcome.duration, Action::Finish { idx });
    }

    fn finish(&mut self, idx: usize) {
        let t = self.now;
        let seed = self.scenario.seed;
        let slot = &mut self.slots[idx];
        slot.busy = false;
        let Some((status, requeue, events)) = slot.pending.take() else {
            return;
        };
        let before = artifact_revision_of(&slot.json);
        if let Some(status) = status {
            slot.json["status"] = status;
        }
        let changed = artifact_revision_of(&slot.json) != before;
        if self.recording {
            self.events
                .extend(events.into_iter().map(|event| TimedEvent { at: t, event }));
        }
        let rerun = std::mem::take(&mut slot.rerun);
        let next = requeue.map(|r| {
            let j = unit(
                seed,
                &[
                    &slot.oref.kind,
                    &slot.oref.namespace,
                    &slot.oref.name,
                    "jitter",
                    &slot.attempt.to_string(),
                ],
            );
            // Flux's --interval-jitter-percentage (5%).
            Duration::from_secs_f64(r.as_secs_f64() * (0.95 + 0.1 * j))
        });
        let watchers = if changed { slot.watchers.clone() } else { Vec::new() };
        let deferred = if slot.json.get("status").is_some() {
            std::mem::take(&mut slot.deferred)
        } else {
            Vec::new()
        };
        for fi in deferred {
            if self.scenario.faults[fi].active_at(t) {
                self.fault_start(fi);
            }
        }
        if rerun {
            self.schedule(idx, t);
        }
        if let Some(next) = next {
            self.schedule(idx, t + next);
        }
        for w in watchers {
            self.schedule(w, t);
        }
    }

    fn target(&self, fi: usize) -> Option<usize> {
        match &self.scenario.faults[fi].target {
            FaultTarget::Object(r) => self.index.get(r).copied(),
            FaultTarget::Controller(_) => None,
        }
    }

    fn bump_generation(&mut self, idx: usize) {
        let meta = &mut self.slots[idx].json["metadata"];
        let g = meta["generation"].as_i64().unwrap_or(1);
        meta["generation"] = json!(g + 1);
    }

    fn fault_start(&mut self, fi: usize) {
        let t = self.now;
        let fault = self.scenario.faults[fi].fault;
        if let (Fault::Suspend | Fault::Stale, Some(i)) = (fault, self.target(fi)) {
            let slot = &mut self.slots[i];
            if slot.json.get("status").is_none() && slot.info.has_status && !slot.base_suspend {
                slot.deferred.push(fi);
                return;
            }
        }
        match (fault, self.target(fi)) {
            (Fault::Suspend, Some(i)) => {
                self.slots[i].json["spec"]["suspend"] = json!(true);
                self.bump_generation(i);
                self.schedule(i, t);
            }
            // A spec change nobody will observe.
            (Fault::Stale, Some(i)) => self.bump_generation(i),
            (Fault::EventStorm, Some(i)) => self.schedule(i, t),
            _ => {}
        }
    }

    fn fault_end(&mut self, fi: usize) {
        let t = self.now;
        let fault = self.scenario.faults[fi].fault;
        match (fault, self.target(fi), &self.scenario.faults[fi].target) {
            (Fault::Suspend, Some(i), _) => {
                let still = self.active_faults(i, t).0.iter().any(|f| f.fault == Fault::Suspend);
                if !still {
                    let base = self.slots[i].base_suspend;
                    self.slots[i].json["spec"]["suspend"] = json!(base);
                    if !base {
                        self.slots[i].json["spec"].as_object_mut().map(|s| s.remove("suspend"));
                    }
                    self.bump_generation(i);
                    self.schedule(i, t);
                }
            }
            (Fault::Stale, Some(i), _) => self.schedule(i, t),
            (Fault::ControllerDown, _, FaultTarget::Controller(c)) => {
                let c = *c;
                let seed = self.scenario.seed;
                let parked: Vec<usize> = (0..self.slots.len())
                    .filter(|&i| self.slots[i].parked && self.slots[i].info.controller == c)
                    .collect();
                for i in parked {
                    let s = &self.slots[i].oref;
                    // A restarted controller lists everything and works through its queue.
                    let j = h64(seed, &[&s.kind, &s.namespace, &s.name, "restart"]) % 5_000;
                    self.schedule(i, t + Duration::from_millis(j));
                }
            }
            _ => {}
        }
    }

    /// Current scenario time.
    pub fn now(&self) -> Duration {
        self.now
    }

    pub fn scenario(&self) -> &Scenario {
        &self.scenario
    }

    /// Every object as it stands now, full (metadata, spec, status), in scenario order.
    pub fn objects(&self) -> Vec<Value> {
        self.slots.iter().map(|s| s.json.clone()).collect()
    }

    /// The objects at scenario time `t` (replays from the start when `t` is in the past).
    pub fn objects_at(&mut self, t: Duration) -> Vec<Value> {
        if t < self.now {
            *self = Simulation::new(&self.scenario.clone());
        }
        self.run_until(t);
        self.objects()
    }

    pub fn object(&self, r: &ObjectRef) -> Option<&Value> {
        self.index.get(r).map(|&i| &self.slots[i].json)
    }

    /// Reconciles that started so far, in start order.
    pub fn reconciles(&self) -> &[ReconcileRecord] {
        &self.reconciles
    }

    /// Events posted so far, in posting order.
    pub fn events(&self) -> &[TimedEvent] {
        &self.events
    }

    /// Whether the controller is down at scenario time `t` (for metrics endpoints' `up`).
    pub fn controller_down_at(&self, controller: Controller, t: Duration) -> bool {
        self.controller_faults.iter().any(|&(c, fi)| {
            c == controller
                && self.scenario.faults[fi].fault == Fault::ControllerDown
                && self.scenario.faults[fi].active_at(t)
        })
    }
}
