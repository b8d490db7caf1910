//! The current Flux objects for scrape-time metrics: one watcher per kind over any Kubernetes
//! API (the embedded one or a real cluster), kept as JSON so a scrape reads them without
//! converting. Objects changed with kubectl show at the next scrape.

use std::collections::{BTreeMap, HashMap};
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, RwLock};
use std::time::Duration;

use futures::StreamExt;
use kube::api::{Api, DynamicObject};
use kube::runtime::{watcher, WatchStreamExt};
use kube::Client;
use model::{FluxVersion, KindInfo};
use serde_json::Value;
use tokio::task::JoinSet;

use crate::controllers::api_resource;

/// (kind, namespace, name)
type Key = (String, String, String);

/// A shared, continuously updated snapshot of every Flux object.
#[derive(Clone, Default)]
pub struct ObjectCache {
    objects: Arc<RwLock<BTreeMap<Key, Value>>>,
    /// Kinds whose initial list has arrived, and how many are watched.
    synced: Arc<AtomicUsize>,
    watched: usize,
}

impl ObjectCache {
    /// A cache with fixed contents (tests, virtual time, other drivers).
    pub fn from_objects(objects: impl IntoIterator<Item = Value>) -> Self {
        let cache = ObjectCache::default();
        for o in objects {
            cache.apply(o);
        }
        cache
    }

    /// Starts one watcher per kind on `client`, each at `version`'s preferred API version; the
    /// tasks live in the returned set.
    pub fn watch(client: &Client, version: FluxVersion, kinds: &[&'static KindInfo]) -> (Self, JoinSet<()>) {
        let cache = ObjectCache {
            watched: kinds.iter().filter(|i| api_resource(i, version).is_some()).count(),
            ..ObjectCache::default()
        };
        let mut tasks = JoinSet::new();
        for &info in kinds {
            let Some(ar) = api_resource(info, version) else {
                continue;
            };
            let api: Api<DynamicObject> = Api::all_with(client.clone(), &ar);
            let cache = cache.clone();
            let kind = info.kind;
            tasks.spawn(async move {
                let (mut listed, mut first) = (Vec::new(), true);
                // managedFields feed no metric and are the largest part of an object with history.
                let mut events = watcher(api, watcher::Config::default())
                    .default_backoff()
                    .modify(|o| o.metadata.managed_fields = None)
                    .boxed();
                while let Some(event) = events.next().await {
                    match event {
                        Ok(watcher::Event::Init) => listed.clear(),
                        Ok(watcher::Event::InitApply(o)) => listed.extend(to_json(&o, kind)),
                        Ok(watcher::Event::InitDone) => {
                            cache.replace_kind(kind, std::mem::take(&mut listed));
                            if std::mem::take(&mut first) {
                                cache.synced.fetch_add(1, Ordering::SeqCst);
                            }
                        }
                        Ok(watcher::Event::Apply(o)) => {
                            if let Some(v) = to_json(&o, kind) {
                                cache.apply(v);
                            }
                        }
                        Ok(watcher::Event::Delete(o)) => {
                            if let Some(v) = to_json(&o, kind) {
                                cache.remove(&v);
                            }
                        }
                        Err(e) => tracing::debug!(kind, error = %e, "telemetry watch"),
                    }
                }
            });
        }
        (cache, tasks)
    }

    /// Waits until every watched kind has been listed once (at most `limit`); true when it has.
    pub async fn wait_until_synced(&self, limit: Duration) -> bool {
        let deadline = tokio::time::Instant::now() + limit;
        while self.synced.load(Ordering::SeqCst) < self.watched {
            if tokio::time::Instant::now() >= deadline {
                return false;
            }
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
        true
    }

    /// Every object, in (kind, namespace, name) order.
    pub fn snapshot(&self) -> Vec<Value> {
        self.read().values().cloned().collect()
    }

    /// Runs `f` over the objects without copying them.
    pub fn with<R>(&self, f: impl FnOnce(&mut dyn Iterator<Item = &Value>) -> R) -> R {
        let guard = self.read();
        f(&mut guard.values())
    }

    pub fn len(&self) -> usize {
        self.read().len()
    }

    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    pub fn apply(&self, o: Value) {
        if let Some(k) = key(&o) {
            self.write().insert(k, slim(&o));
        }
    }

    fn remove(&self, o: &Value) {
        if let Some(k) = key(o) {
            self.write().remove(&k);
        }
    }

    fn replace_kind(&self, kind: &str, objects: Vec<Value>) {
        let mut map = self.write();
        map.retain(|k, _| k.0 != kind);
        let fresh: HashMap<Key, Value> = objects.into_iter().filter_map(|o| key(&o).map(|k| (k, slim(&o)))).collect();
        map.extend(fresh);
    }

    fn read(&self) -> std::sync::RwLockReadGuard<'_, BTreeMap<Key, Value>> {
        self.objects.read().unwrap_or_else(std::sync::PoisonError::into_inner)
    }

    fn write(&self) -> std::sync::RwLockWriteGuard<'_, BTreeMap<Key, Value>> {
        self.objects.write().unwrap_or_else(std::sync::PoisonError::into_inner)
    }
}

fn key(o: &Value) -> Option<Key> {
    let view = model::FluxObject::new(o);
    (!view.kind().is_empty() && !view.name().is_empty()).then(|| {
        (
            view.kind().to_string(),
            view.namespace().to_string(),
            view.name().to_string(),
        )
    })
}

/// The object as JSON with its kind set (watch events carry it; be safe for lists that don't).
fn to_json(o: &DynamicObject, kind: &str) -> Option<Value> {
    let mut v = serde_json::to_value(o).ok()?;
    if v.get("kind").and_then(Value::as_str).is_none_or(str::is_empty) {
        v["kind"] = Value::String(kind.to_string());
    }
    Some(v)
}

/// `spec` fields a metric label reads (kube-state-metrics' config, the Flux Operator's reporter).
const SPEC_FIELDS: [&str; 13] = [
    "suspend", "url", "sourceRef", "path", "ref", "endpoint", "bucketName", "chartRef", "chart",
    "version", "type", "image", "imageRepositoryRef",
];

/// The part of an object the metrics read, and nothing else: at 100k objects a whole copy per
/// object (conditions' messages, Helm history, inventories) costs about a gigabyte that no
/// scrape looks at. What `ksm`, `flux_operator` and `controller` read, through `FluxObject` or
/// a pointer, is kept; the test `object_cache_encodes_like_the_whole_objects` holds this to it.
fn slim(o: &Value) -> Value {
    let mut out = serde_json::Map::new();
    for k in ["apiVersion", "kind"] {
        if let Some(v) = o.get(k) {
            out.insert(k.into(), v.clone());
        }
    }
    let mut metadata = serde_json::Map::new();
    for k in ["name", "namespace", "uid"] {
        if let Some(v) = o.pointer(&format!("/metadata/{k}")) {
            metadata.insert(k.into(), v.clone());
        }
    }
    // ArtifactGenerator's suspension is an annotation.
    const RECONCILE: &str = "source.extensions.fluxcd.io/reconcile";
    if let Some(v) = o.pointer("/metadata/annotations").and_then(|a| a.get(RECONCILE)) {
        metadata.insert("annotations".into(), serde_json::json!({ RECONCILE: v }));
    }
    out.insert("metadata".into(), Value::Object(metadata));
    if let Some(spec) = o.get("spec").and_then(Value::as_object) {
        let kept: serde_json::Map<String, Value> =
            SPEC_FIELDS.iter().filter_map(|k| spec.get(*k).map(|v| ((*k).to_string(), v.clone()))).collect();
        out.insert("spec".into(), Value::Object(kept));
    }
    if let Some(status) = o.get("status").and_then(Value::as_object) {
        let mut kept = serde_json::Map::new();
        if let Some(ready) = status
            .get("conditions")
            .and_then(Value::as_array)
            .and_then(|cs| cs.iter().find(|c| c.get("type").and_then(Value::as_str) == Some("Ready")))
        {
            let slim: serde_json::Map<String, Value> = ["type", "status", "reason"]
                .iter()
                .filter_map(|k| ready.get(*k).map(|v| ((*k).to_string(), v.clone())))
                .collect();
            kept.insert("conditions".into(), Value::Array(vec![Value::Object(slim)]));
        }
        if let Some(revision) = status.get("artifact").and_then(|a| a.get("revision")) {
            kept.insert("artifact".into(), serde_json::json!({ "revision": revision }));
        }
        for k in ["lastAttemptedRevision", "lastAppliedRevision", "webhookPath"] {
            if let Some(v) = status.get(k) {
                kept.insert(k.into(), v.clone());
            }
        }
        if let Some(first) = status.get("history").and_then(Value::as_array).and_then(|h| h.first()) {
            let slim: serde_json::Map<String, Value> = ["chartVersion", "chartName", "appVersion"]
                .iter()
                .filter_map(|k| first.get(*k).map(|v| ((*k).to_string(), v.clone())))
                .collect();
            kept.insert("history".into(), Value::Array(vec![Value::Object(slim)]));
        }
        out.insert("status".into(), Value::Object(kept));
    }
    Value::Object(out)
}
