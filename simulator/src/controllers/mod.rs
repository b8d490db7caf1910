//! Fake Flux controllers in real time: one kube-runtime controller per Flux kind, driving status
//! through a Kubernetes API (flux-sim's embedded one or a real cluster) with the deterministic
//! core deciding every outcome. Honours spec.suspend, `reconcile.fluxcd.io/requestedAt`, objects
//! created at run time, the scenario's fault timeline and faults asked for by annotation.

mod cached;
mod clock;
mod limiter;
mod timeline;
mod world;

use std::collections::HashMap;
use std::hash::{Hash, Hasher};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use futures::StreamExt;
use kube::api::{Api, ApiResource, DynamicObject, Patch, PatchParams};
use kube::runtime::controller::{Action, Controller};
use kube::runtime::reflector;
use kube::runtime::{watcher, WatchStreamExt};
use kube::Client;
use model::kinds::KindInfo;
use model::{Controller as FluxController, FluxVersion, ObjectRef};
use serde_json::json;
use tokio::sync::mpsc;
use tokio::task::JoinSet;

use crate::core::{self, ActiveFault, World as _};
use cached::Cached;
use crate::scenario::{FaultTarget, Scenario};

pub use clock::{Clock, TIME_SCALE_RANGE};
pub use limiter::Limiter;
pub use world::LiveWorld;

pub use crate::core::{
    FAULT_ANNOTATION, FAULT_MESSAGE_ANNOTATION, FAULT_REASON_ANNOTATION, REQUESTED_AT_ANNOTATION,
};
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
    /// The controller's API client limit: the events it records take their tokens here too.
    pub limiter: Arc<Limiter>,
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
    /// Each Flux controller's API client limit, shared by its kinds.
    limiters: HashMap<FluxController, Arc<Limiter>>,
}

#[derive(Debug, thiserror::Error)]
pub enum Error {
    #[error("writing status of {object}: {source}")]
    Status {
        object: ObjectRef,
        source: kube::Error,
    },
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

/// How many changes a shared reflector buffers for each subscriber before it waits for them.
const SUBSCRIBER_BUFFER: usize = 1024;

/// A key for an object in the controllers' own bookkeeping (trigger hashes, seen revisions):
/// a hash of namespace and name, cheaper to hold for 100k objects than the names themselves.
fn object_key(obj: &Cached) -> u64 {
    let mut h = std::collections::hash_map::DefaultHasher::new();
    (
        obj.metadata.namespace.as_deref(),
        obj.metadata.name.as_deref(),
    )
        .hash(&mut h);
    h.finish()
}

/// A kind's changes as one subscriber sees them: the cached object, shared.
type Shared = futures::stream::BoxStream<'static, Arc<Cached>>;

fn shared_stream(rx: mpsc::Receiver<Arc<Cached>>) -> Shared {
    futures::stream::unfold(rx, |mut rx| async move { rx.recv().await.map(|o| (o, rx)) }).boxed()
}

/// Drives one kind's watch into its cache and hands every object applied (after the first
/// list: all of them) to each subscriber, as the cache holds it. A subscriber that falls
/// behind slows the watch rather than missing a change.
async fn fan_out(
    stream: impl futures::Stream<Item = Result<watcher::Event<Cached>, watcher::Error>> + Send,
    reader: reflector::Store<Cached>,
    ar: ApiResource,
    subscribers: Vec<mpsc::Sender<Arc<Cached>>>,
) {
    let mut stream = std::pin::pin!(stream);
    while let Some(event) = stream.next().await {
        let objects: Vec<Arc<Cached>> = match event {
            Ok(watcher::Event::Apply(obj)) => reader
                .get(&reflector::ObjectRef::from_obj_with(&obj, ar.clone()))
                .into_iter()
                .collect(),
            Ok(watcher::Event::InitDone) => reader.state(),
            Ok(_) => continue,
            Err(e) => {
                tracing::debug!(kind = %ar.kind, error = %e, "controller watch");
                continue;
            }
        };
        for obj in objects {
            for subscriber in &subscribers {
                let _ = subscriber.send(obj.clone()).await;
            }
        }
    }
}

/// Starts every controller and the fault timeline; runs until the returned set is aborted.
///
/// One watch per kind feeds one shared cache: the reconcile's view of the world, the kind's own
/// controller and the controllers that consume it all read the same objects, so the start-up
/// list happens once per kind and each object is cached once. Each Flux controller reconciles
/// with its `--concurrent` per kind and paces its API requests with its `--kube-api-qps` and
/// `--kube-api-burst` (the scenario's `controllers:` settings, else Flux's defaults).
pub async fn start(client: Client, opts: Options) -> JoinSet<()> {
    let version = opts.scenario.flux_version;
    let api_resources: HashMap<_, _> = opts
        .scenario
        .kinds()
        .filter_map(|k| api_resource(k, version).map(|ar| (k.kind, (ar, k))))
        .collect();
    let limiters: HashMap<FluxController, Arc<Limiter>> = FluxController::ALL
        .iter()
        .map(|c| {
            (
                *c,
                Arc::new(Limiter::new(&opts.scenario.controller_settings(*c))),
            )
        })
        .collect();

    let mut tasks = JoinSet::new();
    // Who subscribes to each kind's changes: its own controller, and the kinds consuming it.
    let consumers = |kind: &str| -> Vec<&'static str> {
        api_resources
            .values()
            .filter(|(_, k)| k.has_status && model::kinds::upstream_kinds(k.kind).contains(&kind))
            .map(|(_, k)| k.kind)
            .collect()
    };
    let mut stores = HashMap::new();
    let mut own_streams = HashMap::new();
    let mut upstream_streams: HashMap<&'static str, Vec<(&'static str, Shared, ApiResource)>> =
        HashMap::new();
    for (kind, (ar, info)) in &api_resources {
        let writer = reflector::store::Writer::<Cached>::new(ar.clone());
        let reader = writer.as_reader();
        let mut subscribers = Vec::new();
        if info.has_status {
            let (tx, rx) = mpsc::channel(SUBSCRIBER_BUFFER);
            subscribers.push(tx);
            own_streams.insert(*kind, shared_stream(rx));
        }
        for consumer in consumers(kind) {
            let (tx, rx) = mpsc::channel(SUBSCRIBER_BUFFER);
            subscribers.push(tx);
            upstream_streams.entry(consumer).or_default().push((
                *kind,
                shared_stream(rx),
                ar.clone(),
            ));
        }
        let api: Api<Cached> = Api::all_with(client.clone(), ar);
        let stream = watcher(api, watcher::Config::default())
            .default_backoff()
            .reflect(writer);
        let (fan_reader, fan_ar) = (reader.clone(), ar.clone());
        tasks.spawn(fan_out(stream, fan_reader, fan_ar, subscribers));
        stores.insert(*kind, (reader, ar.clone()));
    }

    let world = LiveWorld::new(stores.clone());
    // A store that never fills (API gone) must not block start-up forever.
    world.wait_until_ready(Duration::from_secs(10)).await;
    let ctx = Arc::new(Ctx {
        api_resources: api_resources.clone(),
        client: client.clone(),
        world,
        scenario: opts.scenario.clone(),
        clock: opts.clock,
        attempts: Mutex::new(HashMap::new()),
        observer: opts.observer,
        written: Mutex::new(timeline::written_before(
            &opts.scenario,
            opts.clock.start_at(),
        )),
        limiters,
    });

    for (kind, (ar, info)) in &api_resources {
        let Some(own) = own_streams.remove(kind) else {
            continue; // Alerts and Providers have no status for a controller to write.
        };
        let (reader, _) = stores[kind].clone();
        // As Flux's predicates: a new generation, requestedAt or fault annotation reconciles at
        // once; every version also updates who references whom.
        let triggers: Mutex<HashMap<u64, u64>> = Mutex::new(HashMap::new());
        let index_ctx = ctx.clone();
        let kind_name: &'static str = kind;
        let trigger = own.filter(move |obj| {
            index_ctx.world.record_references(kind_name, obj);
            let hash = reconcile_trigger(obj).unwrap_or_default();
            let previous = triggers
                .lock()
                .expect("triggers lock")
                .insert(object_key(obj), hash);
            futures::future::ready(previous != Some(hash))
        });
        let settings = opts.scenario.controller_settings(info.controller);
        let config = kube::runtime::controller::Config::default()
            .concurrency(settings.concurrent.min(u32::from(u16::MAX)) as u16);
        let mut controller =
            Controller::for_shared_stream_with(trigger, reader, ar.clone()).with_config(config);
        // As Flux's controllers watch their sources: a new artifact revision upstream
        // reconciles the objects that consume it at once.
        for (up_kind, handle, up_ar) in upstream_streams.remove(kind).unwrap_or_default() {
            let world = ctx.clone();
            let own_ar = ar.clone();
            // Only a change of revision triggers: the first sight of a source (start-up,
            // re-list) records its revision without waking every consumer.
            let seen: Mutex<HashMap<u64, u64>> = Mutex::new(HashMap::new());
            controller = controller.watches_shared_stream_with(
                handle,
                move |source: Arc<Cached>| {
                    // Where the kind keeps its revision, read from its status alone.
                    let slim = json!({
                        "apiVersion": source.types.as_ref().map(|t| t.api_version.as_str()).unwrap_or_default(),
                        "kind": up_kind,
                        "status": source.field("status").unwrap_or_default(),
                    });
                    // A source seen without an artifact is remembered as such (0), so that its
                    // first artifact wakes the consumers that wait for it.
                    let revision = core::artifact_revision_of(&slim).map(|r| {
                        let mut h = std::collections::hash_map::DefaultHasher::new();
                        r.hash(&mut h);
                        h.finish()
                    });
                    let previous = seen
                        .lock()
                        .expect("revisions lock")
                        .insert(object_key(&source), revision.unwrap_or(0));
                    if revision.is_none() || previous.is_none() || previous == revision {
                        return Vec::new();
                    }
                    let target = ObjectRef::new(
                        up_kind,
                        source.metadata.namespace.clone().unwrap_or_default(),
                        source.metadata.name.clone().unwrap_or_default(),
                    );
                    world
                        .world
                        .dependents(kind_name, &target)
                        .into_iter()
                        .map(|(ns, name)| reflector::ObjectRef::new_with(&name, own_ar.clone()).within(&ns))
                        .collect::<Vec<_>>()
                },
                up_ar,
            );
        }
        let ctx = ctx.clone();
        tasks.spawn(async move {
            controller
                .run(reconcile, error_policy, ctx)
                .for_each(|_| async {})
                .await;
        });
    }

    let timeline_ctx = ctx.clone();
    tasks.spawn(async move { timeline::run(timeline_ctx).await });
    tasks
}

/// What makes Flux reconcile an object outside its interval: a new generation (spec change), a
/// new `requestedAt` annotation; for the simulator also a new live fault annotation.
fn reconcile_trigger(obj: &Cached) -> Option<u64> {
    let mut h = std::collections::hash_map::DefaultHasher::new();
    obj.metadata.uid.hash(&mut h);
    obj.metadata.generation.hash(&mut h);
    let ann = obj.metadata.annotations.as_ref();
    for key in [
        REQUESTED_AT_ANNOTATION,
        FAULT_ANNOTATION,
        FAULT_MESSAGE_ANNOTATION,
        FAULT_REASON_ANNOTATION,
    ] {
        ann.and_then(|a| a.get(key)).hash(&mut h);
    }
    Some(h.finish())
}

fn error_policy(_obj: Arc<Cached>, err: &Error, ctx: Arc<Ctx>) -> Action {
    tracing::warn!(error = %err, "reconcile failed");
    requeue(
        ctx.clock
            .to_wall(Duration::from_secs(30))
            .max(Duration::from_millis(200)),
    )
}

impl Ctx {
    fn limiter(&self, controller: FluxController) -> Arc<Limiter> {
        self.limiters.get(&controller).cloned().unwrap_or_else(|| {
            Arc::new(Limiter::new(
                &crate::scenario::ControllerSettings::flux_default(controller),
            ))
        })
    }

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

async fn reconcile(obj: Arc<Cached>, ctx: Arc<Ctx>) -> Result<Action, Error> {
    let kind = obj
        .types
        .as_ref()
        .map(|t| t.kind.clone())
        .unwrap_or_default();
    let (Some(ns), Some(name)) = (obj.metadata.namespace.clone(), obj.metadata.name.clone()) else {
        return Err(Error::Incomplete(kind));
    };
    let Some((ar, info)) = ctx.api_resources.get(kind.as_str()) else {
        return Ok(Action::await_change());
    };
    let object = ObjectRef::new(kind.clone(), ns.clone(), name.clone());
    let json = obj.to_value();
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
    let observed = view
        .observed_generation()
        .max(view.ready().and_then(|c| c.observed_generation));
    let up_to_date = observed.is_some()
        && observed == view.generation()
        && requested.is_none_or(|r| view.last_handled_reconcile_at() == Some(r));
    if attempt == 1 && up_to_date {
        let first = (spread(ctx.scenario.seed, &object) * interval.as_secs_f64()).max(1.0);
        return Ok(requeue(ctx.clock.to_wall(Duration::from_secs_f64(first))));
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

    let limiter = ctx.limiter(info.controller);
    let api: Api<DynamicObject> = Api::namespaced_with(ctx.client.clone(), &ns, ar);
    let write_status = |status: serde_json::Value| {
        let api = api.clone();
        let name = name.clone();
        let object = object.clone();
        let limiter = limiter.clone();
        async move {
            let patch = json!({ "status": status });
            limiter.acquire().await;
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
        (Some(after), _) => requeue(ctx.clock.to_wall(*after).max(Duration::from_millis(100))),
        // A suspended object waits for a change (resume bumps the generation).
        (None, core::ReconcileResult::Skipped(core::SkipReason::Suspended)) => {
            Action::await_change()
        }
        // A stale object or a downed controller is looked at again: the fault may end.
        (None, _) => requeue(
            ctx.clock
                .to_wall(interval.min(Duration::from_secs(60)))
                .max(Duration::from_millis(100)),
        ),
    };
    if let Some(observer) = &ctx.observer {
        observer(&ReconcileObservation {
            object,
            live: json,
            controller: info.controller,
            outcome,
            at: now,
            limiter,
        });
    }
    Ok(action)
}

/// Requeues after `after` wall time, at most a day ahead: the scheduler's timer cannot hold
/// deadlines years away (a slow time scale makes them).
fn requeue(after: Duration) -> Action {
    Action::requeue(after.min(Duration::from_secs(86_400)))
}

fn patch_params() -> PatchParams {
    PatchParams {
        field_manager: Some(FIELD_MANAGER.to_string()),
        ..Default::default()
    }
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
    let Some(chart) = core::helm_chart_for(release, ctx.scenario.flux_version) else {
        return;
    };
    let view = model::FluxObject::new(&chart);
    let Some((ar, _)) = ctx.api_resources.get("HelmChart") else {
        return;
    };
    if ctx.world.readiness(&view.object_ref()).is_some() {
        return;
    }
    let api: Api<DynamicObject> = Api::namespaced_with(ctx.client.clone(), view.namespace(), ar);
    let Ok(obj) = serde_json::from_value::<DynamicObject>(chart.clone()) else {
        return;
    };
    ctx.limiter(FluxController::Helm).acquire().await;
    match api
        .create(
            &kube::api::PostParams {
                field_manager: Some("helm-controller".into()),
                ..Default::default()
            },
            &obj,
        )
        .await
    {
        Ok(_) => {
            tracing::info!(chart = %view.object_ref(), "created the HelmChart of a HelmRelease")
        }
        Err(kube::Error::Api(e)) if e.code == 409 => {}
        Err(e) => {
            tracing::warn!(chart = %view.object_ref(), error = %e, "creating HelmChart failed")
        }
    }
}
