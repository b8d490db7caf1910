//! Fake Flux controllers in real time: one kube-runtime controller per Flux kind, driving status
//! through a Kubernetes API (flux-sim's embedded one or a real cluster) with the deterministic
//! core deciding every outcome. Honours spec.suspend, `reconcile.fluxcd.io/requestedAt`, objects
//! created at run time, the scenario's fault timeline and faults asked for by annotation.

mod clock;
mod timeline;
mod world;

use std::collections::HashMap;
use std::hash::{Hash, Hasher};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use futures::StreamExt;
use kube::api::{Api, ApiResource, DynamicObject, Patch, PatchParams};
use kube::runtime::controller::{Action, Controller};
use kube::runtime::reflector::{self, Store};
use kube::runtime::{watcher, WatchStreamExt};
use kube::Client;
use model::kinds::KindInfo;
use model::{Controller as FluxController, FluxVersion, ObjectRef};
use serde_json::json;
use tokio::task::JoinSet;

use crate::core::{self, ActiveFault, World as _};
use crate::scenario::{FaultTarget, Scenario};

pub use clock::Clock;
pub use world::LiveWorld;

pub use crate::core::{FAULT_ANNOTATION, FAULT_MESSAGE_ANNOTATION, FAULT_REASON_ANNOTATION, REQUESTED_AT_ANNOTATION};
/// The field manager the fake controllers write with.
pub const FIELD_MANAGER: &str = "flux-sim";

/// One reconcile as the drivers saw it, for telemetry.
#[derive(Debug, Clone)]
pub struct ReconcileObservation {
    pub object: ObjectRef,
    /// The object as the reconcile read it (uid, apiVersion, resourceVersion, annotations).
    pub live: serde_json::Value,
    pub controller: FluxController,
    pub outcome: core::ReconcileOutcome,
    pub at: jiff::Timestamp,
}

/// Receives every reconcile outcome (metrics and events hang off this in later stages).
pub type Observer = Arc<dyn Fn(&ReconcileObservation) + Send + Sync>;

pub struct Options {
    pub scenario: Arc<Scenario>,
    pub clock: Clock,
    pub observer: Option<Observer>,
}

pub(crate) struct Ctx {
    api_resources: HashMap<&'static str, (ApiResource, &'static KindInfo)>,
    client: Client,
    world: LiveWorld,
    scenario: Arc<Scenario>,
    clock: Clock,
    attempts: Mutex<HashMap<ObjectRef, u64>>,
    observer: Option<Observer>,
    /// Indices of the scenario's suspend and stale faults whose spec write the timeline has
    /// made: until then a reconcile does not act on them (as in virtual time, a fault from the
    /// very start strikes after the object's first reconcile).
    written: Mutex<std::collections::HashSet<usize>>,
}

#[derive(Debug, thiserror::Error)]
pub enum Error {
    #[error("writing status of {object}: {source}")]
    Status { object: ObjectRef, source: kube::Error },
    #[error("object {0} has no namespace or name")]
    Incomplete(String),
}

/// The API resource of `info` at the scenario's Flux version.
pub fn api_resource(info: &KindInfo, version: FluxVersion) -> Option<ApiResource> {
    let v = info.preferred_version(version)?;
    Some(ApiResource {
        group: info.group.to_string(),
        version: v.to_string(),
        api_version: format!("{}/{v}", info.group),
        kind: info.kind.to_string(),
        plural: info.plural.to_string(),
    })
}

/// Starts every controller and the fault timeline; runs until the returned set is aborted.
pub async fn start(client: Client, opts: Options) -> JoinSet<()> {
    let version = opts.scenario.flux_version;
    let api_resources: HashMap<_, _> = opts
        .scenario
        .kinds()
        .filter_map(|k| api_resource(k, version).map(|ar| (k.kind, (ar, k))))
        .collect();

    let mut tasks = JoinSet::new();
    // The world: one reflector per kind, so a reconcile can see its sources and dependencies.
    let mut stores = HashMap::new();
    for (kind, (ar, _)) in &api_resources {
        let writer = reflector::store::Writer::<DynamicObject>::new(ar.clone());
        let reader = writer.as_reader();
        let api: Api<DynamicObject> = Api::all_with(client.clone(), ar);
        let stream = reflector::reflector(writer, watcher(api, watcher::Config::default()))
            .default_backoff()
            .touched_objects();
        tasks.spawn(async move {
            stream.for_each(|_| async {}).await;
        });
        stores.insert(*kind, (reader, ar.clone()));
    }
    for (store, _) in stores.values() {
        // A store that never fills (API gone) must not block start-up forever.
        let _ = tokio::time::timeout(Duration::from_secs(10), store.wait_until_ready()).await;
    }

    let ctx = Arc::new(Ctx {
        api_resources: api_resources.clone(),
        client: client.clone(),
        world: LiveWorld::new(stores),
        scenario: opts.scenario.clone(),
        clock: opts.clock,
        attempts: Mutex::new(HashMap::new()),
        observer: opts.observer,
        written: Mutex::new(timeline::written_before(&opts.scenario, opts.clock.start_at())),
    });

    for (ar, info) in api_resources.values() {
        if !info.has_status {
            continue; // Alerts and Providers have no status for a controller to write.
        }
        let api: Api<DynamicObject> = Api::all_with(client.clone(), ar);
        let writer = reflector::store::Writer::<DynamicObject>::new(ar.clone());
        let reader: Store<DynamicObject> = writer.as_reader();
        let trigger = reflector::reflector(writer, watcher(api, watcher::Config::default()))
            .default_backoff()
            .applied_objects()
            .predicate_filter(reconcile_trigger, Default::default());
        let mut controller = Controller::for_stream_with(trigger, reader, ar.clone());
        // As Flux's controllers watch their sources: a new artifact revision upstream
        // reconciles the objects that consume it at once.
        {
            let upstream = model::kinds::upstream_kinds(info.kind);
            for (up_ar, up) in api_resources.values().filter(|(_, k)| upstream.contains(&k.kind)) {
                let up_api: Api<DynamicObject> = Api::all_with(client.clone(), up_ar);
                let revisions = watcher(up_api, watcher::Config::default()).default_backoff().applied_objects();
                let world = ctx.clone();
                let (kind, own_ar, up_kind) = (info.kind, ar.clone(), up.kind);
                // Only a change of revision triggers: the first sight of a source (start-up,
                // re-list) records its revision without waking every consumer.
                let seen: Mutex<HashMap<ObjectRef, Option<String>>> = Mutex::new(HashMap::new());
                controller = controller.watches_stream_with(
                    revisions,
                    move |source: DynamicObject| {
                        let target = ObjectRef::new(
                            up_kind,
                            source.metadata.namespace.clone().unwrap_or_default(),
                            source.metadata.name.clone().unwrap_or_default(),
                        );
                        let revision = serde_json::to_value(&source).ok().and_then(|j| core::artifact_revision_of(&j));
                        let previous = seen.lock().expect("revisions lock").insert(target.clone(), revision.clone());
                        if previous.is_none() || previous == Some(revision) {
                            return Vec::new();
                        }
                        world
                            .world
                            .dependents(kind, &target)
                            .into_iter()
                            .map(|(ns, name)| reflector::ObjectRef::new_with(&name, own_ar.clone()).within(&ns))
                            .collect::<Vec<_>>()
                    },
                    up_ar.clone(),
                );
            }
        }
        let ctx = ctx.clone();
        tasks.spawn(async move {
            controller.run(reconcile, error_policy, ctx).for_each(|_| async {}).await;
        });
    }

    let timeline_ctx = ctx.clone();
    tasks.spawn(async move { timeline::run(timeline_ctx).await });
    tasks
}

/// What makes Flux reconcile an object outside its interval: a new generation (spec change), a
/// new `requestedAt` annotation; for the simulator also a new live fault annotation.
fn reconcile_trigger(obj: &DynamicObject) -> Option<u64> {
    let mut h = std::collections::hash_map::DefaultHasher::new();
    obj.metadata.uid.hash(&mut h);
    obj.metadata.generation.hash(&mut h);
    let ann = obj.metadata.annotations.as_ref();
    for key in [REQUESTED_AT_ANNOTATION, FAULT_ANNOTATION, FAULT_MESSAGE_ANNOTATION, FAULT_REASON_ANNOTATION] {
        ann.and_then(|a| a.get(key)).hash(&mut h);
    }
    Some(h.finish())
}

fn error_policy(_obj: Arc<DynamicObject>, err: &Error, ctx: Arc<Ctx>) -> Action {
    tracing::warn!(error = %err, "reconcile failed");
    Action::requeue(ctx.clock.to_wall(Duration::from_secs(30)).max(Duration::from_millis(200)))
}

impl Ctx {
    /// Faults the scenario's timeline puts on `object` now (annotation faults are read by the core).
    fn object_faults(&self, object: &ObjectRef, t: Duration) -> Vec<ActiveFault> {
        let written = self.written.lock().expect("written lock");
        self.scenario
            .faults
            .iter()
            .enumerate()
            .filter(|(i, f)| {
                f.active_at(t)
                    && f.target == FaultTarget::Object(object.clone())
                    && (!timeline::writes_spec(f.fault) || written.contains(i))
            })
            .map(|(_, f)| ActiveFault::from_spec(f))
            .collect()
    }

    fn controller_faults(&self, controller: FluxController, t: Duration) -> Vec<ActiveFault> {
        self.scenario
            .faults
            .iter()
            .filter(|f| f.active_at(t) && f.target == FaultTarget::Controller(controller))
            .map(ActiveFault::from_spec)
            .collect()
    }
}

/// A deterministic fraction in [0, 1) per object, to spread first reconciles over the interval.
fn spread(seed: u64, object: &ObjectRef) -> f64 {
    let mut h = std::collections::hash_map::DefaultHasher::new();
    (seed, object).hash(&mut h);
    (h.finish() % 10_000) as f64 / 10_000.0
}

async fn reconcile(obj: Arc<DynamicObject>, ctx: Arc<Ctx>) -> Result<Action, Error> {
    let kind = obj.types.as_ref().map(|t| t.kind.clone()).unwrap_or_default();
    let (Some(ns), Some(name)) = (obj.metadata.namespace.clone(), obj.metadata.name.clone()) else {
        return Err(Error::Incomplete(kind));
    };
    let Some((ar, info)) = ctx.api_resources.get(kind.as_str()) else {
        return Ok(Action::await_change());
    };
    let object = ObjectRef::new(kind.clone(), ns.clone(), name.clone());
    let json = serde_json::to_value(&*obj).unwrap_or_default();
    let t = ctx.clock.scenario_now();
    let attempt = {
        let mut attempts = ctx.attempts.lock().expect("attempts lock");
        let n = attempts.entry(object.clone()).or_insert(0);
        *n += 1;
        *n
    };

    // An object seeded with an up-to-date status (fast-forwarded history) waits for its turn
    // instead of being reconciled by every controller at once on start-up.
    let view = model::FluxObject::new(&json);
    let interval = view.interval().unwrap_or(Duration::from_secs(600));
    let requested = view.annotation(REQUESTED_AT_ANNOTATION);
    // Flux writes observedGeneration only on success; a failing object's conditions carry it.
    let observed = view.observed_generation().max(view.ready().and_then(|c| c.observed_generation));
    let up_to_date = observed.is_some()
        && observed == view.generation()
        && requested.is_none_or(|r| view.last_handled_reconcile_at() == Some(r));
    if attempt == 1 && up_to_date {
        let first = (spread(ctx.scenario.seed, &object) * interval.as_secs_f64()).max(1.0);
        return Ok(Action::requeue(ctx.clock.to_wall(Duration::from_secs_f64(first))));
    }

    if info.kind == "HelmRelease" {
        ensure_helm_chart(&ctx, &json).await;
    }
    if info.kind == "ArtifactGenerator" {
        ensure_generated_artifacts(&ctx, &json).await;
    }
    let faults = ctx.object_faults(&object, t);
    let controller_faults = ctx.controller_faults(info.controller, t);
    let now = jiff::Timestamp::now();
    let outcome = core::reconcile(&core::ReconcileInput {
        object: &json,
        world: &ctx.world,
        faults: &faults,
        controller_faults: &controller_faults,
        now,
        seed: ctx.scenario.seed,
        attempt,
    });

    let api: Api<DynamicObject> = Api::namespaced_with(ctx.client.clone(), &ns, ar);
    let write_status = |status: serde_json::Value| {
        let api = api.clone();
        let name = name.clone();
        let object = object.clone();
        async move {
            let patch = json!({ "status": status });
            api.patch_status(&name, &patch_params(), &Patch::Merge(&patch))
                .await
                .map(|_| ())
                .map_err(|source| Error::Status { object, source })
        }
    };
    // A long reconcile shows as in progress while it runs, and takes its time (scaled).
    if let Some(progress) = &outcome.progress {
        write_status(progress.clone()).await?;
    }
    let busy = ctx.clock.to_wall(outcome.duration);
    if busy > Duration::from_millis(5) {
        tokio::time::sleep(busy.min(Duration::from_secs(300))).await;
    }
    if let Some(status) = &outcome.status {
        write_status(status.clone()).await?;
    }
    let action = match (&outcome.requeue_after, &outcome.result) {
        (Some(after), _) => Action::requeue(ctx.clock.to_wall(*after).max(Duration::from_millis(100))),
        // A suspended object waits for a change (resume bumps the generation).
        (None, core::ReconcileResult::Skipped(core::SkipReason::Suspended)) => Action::await_change(),
        // A stale object or a downed controller is looked at again: the fault may end.
        (None, _) => Action::requeue(ctx.clock.to_wall(interval.min(Duration::from_secs(60))).max(Duration::from_millis(100))),
    };
    if let Some(observer) = &ctx.observer {
        observer(&ReconcileObservation { object, live: json, controller: info.controller, outcome, at: now });
    }
    Ok(action)
}

fn patch_params() -> PatchParams {
    PatchParams { field_manager: Some(FIELD_MANAGER.to_string()), ..Default::default() }
}

/// source-watcher applies the ExternalArtifacts a generator names; so does the simulator for
/// generators created while it runs (the generator's reconcile then writes their status).
async fn ensure_generated_artifacts(ctx: &Ctx, generator: &serde_json::Value) {
    let Some((ar, _)) = ctx.api_resources.get("ExternalArtifact") else { return };
    for artifact in core::generated_artifacts(generator, ctx.scenario.flux_version) {
        let view = model::FluxObject::new(&artifact);
        if ctx.world.readiness(&view.object_ref()).is_some() {
            continue;
        }
        let api: Api<DynamicObject> = Api::namespaced_with(ctx.client.clone(), view.namespace(), ar);
        let Ok(obj) = serde_json::from_value::<DynamicObject>(artifact.clone()) else { continue };
        let params = kube::api::PostParams { field_manager: Some("source-watcher".into()), ..Default::default() };
        match api.create(&params, &obj).await {
            Ok(_) => tracing::info!(artifact = %view.object_ref(), "created an ExternalArtifact of an ArtifactGenerator"),
            Err(kube::Error::Api(e)) if e.code == 409 => {}
            Err(e) => tracing::warn!(artifact = %view.object_ref(), error = %e, "creating ExternalArtifact failed"),
        }
    }
}

/// helm-controller creates the HelmChart of a release's chart template; so does the simulator
/// for releases created while it runs.
async fn ensure_helm_chart(ctx: &Ctx, release: &serde_json::Value) {
    let Some(chart) = core::helm_chart_for(release, ctx.scenario.flux_version) else { return };
    let view = model::FluxObject::new(&chart);
    let Some((ar, _)) = ctx.api_resources.get("HelmChart") else { return };
    if ctx.world.readiness(&view.object_ref()).is_some() {
        return;
    }
    let api: Api<DynamicObject> = Api::namespaced_with(ctx.client.clone(), view.namespace(), ar);
    let Ok(obj) = serde_json::from_value::<DynamicObject>(chart.clone()) else { return };
    match api.create(&kube::api::PostParams { field_manager: Some("helm-controller".into()), ..Default::default() }, &obj).await {
        Ok(_) => tracing::info!(chart = %view.object_ref(), "created the HelmChart of a HelmRelease"),
        Err(kube::Error::Api(e)) if e.code == 409 => {}
        Err(e) => tracing::warn!(chart = %view.object_ref(), error = %e, "creating HelmChart failed"),
    }
}
