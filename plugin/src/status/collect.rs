//! Reading Flux objects from one cluster: parallel, paged lists of every served kind in scope,
//! then single GETs for upstream objects outside the scope (another namespace, a kind not
//! asked for) so a root cause can still be named.

use std::collections::{HashMap, HashSet};

use futures::stream::{self, StreamExt};
use kube::api::ListParams;
use model::kinds::KindInfo;
use model::{FluxObject, ObjectRef};
use serde_json::Value;

use crate::cluster::{CallError, Cluster, ClusterError};
use crate::discovery::{self, Discovered, ServedKind, Unreadable};

/// The API's page size for lists, as kubectl uses it.
const PAGE_SIZE: u32 = 500;
/// How many upstream GETs run at once.
const PARALLEL_GETS: usize = 16;
/// How far outside the scope root-cause chains are followed.
const MAX_UPSTREAM_DEPTH: usize = 8;

/// What to read: which namespace (None = all), which labels, which kinds (None = all served).
#[derive(Debug, Clone, Default)]
pub struct Scope {
    pub namespace: Option<String>,
    pub selector: Option<String>,
    pub kinds: Option<Vec<&'static KindInfo>>,
}

impl Scope {
    pub fn includes_kind(&self, info: &KindInfo) -> bool {
        self.kinds
            .as_ref()
            .is_none_or(|ks| ks.iter().any(|k| k.kind == info.kind))
    }
}

/// Everything read from one cluster.
#[derive(Debug, Clone, Default)]
pub struct Snapshot {
    pub context: String,
    pub discovered: Discovered,
    /// Objects in scope, in the order listed.
    pub objects: Vec<Value>,
    /// Upstream objects outside the scope, fetched to follow root causes.
    pub upstream: HashMap<ObjectRef, Value>,
    /// Referenced objects that do not exist.
    pub missing: HashSet<ObjectRef>,
    /// Kinds that could not be read (403, errors), besides those discovery found unreadable.
    pub unreadable: Vec<Unreadable>,
    /// Kinds asked for with --kind that this cluster does not serve.
    pub not_served: Vec<&'static str>,
    /// Kinds listed successfully (possibly with no objects).
    pub listed_kinds: Vec<&'static str>,
    /// What Alerts and Providers are judged by (filled after collecting; see `notifications`).
    pub notifications: super::notifications::Notifications,
}

/// Discovers and lists every served Flux kind in scope, then follows upstreams.
pub async fn collect(cluster: &Cluster, scope: &Scope) -> Result<Snapshot, ClusterError> {
    let discovered = discovery::discover(cluster).await?;
    let mut snap = Snapshot {
        context: cluster.context.clone(),
        ..Default::default()
    };
    if let Some(kinds) = &scope.kinds {
        snap.not_served = kinds
            .iter()
            .filter(|k| {
                discovered.get(k.kind).is_none()
                    && !discovered.unreadable.iter().any(|u| u.kind == k.kind)
            })
            .map(|k| k.kind)
            .collect();
    }
    snap.unreadable = discovered
        .unreadable
        .iter()
        .filter(|u| scope_has(scope, &u.kind))
        .cloned()
        .collect();
    let lists = discovered
        .kinds
        .iter()
        .filter(|k| scope.includes_kind(k.info))
        .map(|k| async move { (k, list_kind(cluster, k, scope).await) });
    let results = futures::future::join_all(lists).await;
    let mut transport = None;
    let mut any_ok = false;
    for (kind, res) in results {
        match res {
            Ok(items) => {
                any_ok = true;
                snap.listed_kinds.push(kind.kind());
                snap.objects.extend(items);
            }
            // A 404 on a kind discovery just listed is as unreadable as a 403 or a 5xx: say
            // so, rather than drop the kind from the report as if it had no objects.
            Err(CallError::Api { message, .. }) => {
                snap.unreadable.push(Unreadable {
                    kind: kind.kind().to_string(),
                    error: message,
                });
            }
            Err(CallError::Cluster(e)) => {
                snap.unreadable.push(Unreadable {
                    kind: kind.kind().to_string(),
                    error: e.to_string(),
                });
                transport.get_or_insert(e);
            }
        }
    }
    // Nothing answered and the cause is the transport: the cluster is unreachable, not the kinds.
    if let (false, Some(e)) = (any_ok, transport) {
        return Err(e);
    }
    snap.discovered = discovered;
    // Kinds that could not be listed are not followed either: a GET there proves nothing, and
    // an unreadable kind must never become "does not exist".
    let mut following = snap.discovered.clone();
    following.unreadable.extend(snap.unreadable.iter().cloned());
    let known: HashSet<ObjectRef> = snap
        .objects
        .iter()
        .map(|o| FluxObject::new(o).object_ref())
        .collect();
    let (upstream, missing) = follow_upstreams(
        cluster,
        &following,
        scope,
        &snap.listed_kinds,
        &snap.objects,
        &known,
    )
    .await;
    snap.upstream = upstream;
    snap.missing = missing;
    Ok(snap)
}

fn scope_has(scope: &Scope, kind: &str) -> bool {
    model::kinds::by_kind(kind).is_none_or(|info| scope.includes_kind(info))
}

/// Lists one kind, page by page.
pub async fn list_kind(
    cluster: &Cluster,
    kind: &ServedKind,
    scope: &Scope,
) -> Result<Vec<Value>, CallError> {
    let path = kind.list_path(scope.namespace.as_deref());
    let mut items = Vec::new();
    let mut token: Option<String> = None;
    loop {
        let params = ListParams {
            label_selector: scope.selector.clone(),
            limit: Some(PAGE_SIZE),
            continue_token: token.take(),
            ..Default::default()
        };
        let req = kube::core::Request::new(&path)
            .list(&params)
            .map_err(|e| CallError::Api {
                code: 0,
                message: e.to_string(),
            })?;
        let what = format!("list {}", kind.info.plural);
        let mut page: Value = cluster
            .call(&what, cluster.client.request::<Value>(req))
            .await?;
        if let Some(Value::Array(list)) = page.get_mut("items").map(Value::take) {
            items.extend(list.into_iter().map(|item| slim(with_type(item, kind))));
        }
        token = page
            .pointer("/metadata/continue")
            .and_then(Value::as_str)
            .filter(|t| !t.is_empty())
            .map(str::to_string);
        if token.is_none() {
            return Ok(items);
        }
    }
}

/// List items of built-in types lack `apiVersion` and `kind`; CRDs usually carry them. Make sure.
pub fn with_type(mut item: Value, kind: &ServedKind) -> Value {
    if let Value::Object(map) = &mut item {
        map.entry("apiVersion")
            .or_insert_with(|| Value::String(kind.api_version()));
        map.entry("kind")
            .or_insert_with(|| Value::String(kind.kind().to_string()));
    }
    item
}

/// Drops what the status never reads and real clusters make large (inventories, Helm history
/// beyond the latest, last-applied annotations), and reduces managedFields to the entries and
/// fields whose times the verdict uses. Keeps 10,000 objects cheap to hold.
pub fn slim(mut item: Value) -> Value {
    if let Some(status) = item.get_mut("status").and_then(Value::as_object_mut) {
        status.remove("inventory");
        if let Some(Value::Array(history)) = status.get_mut("history") {
            history.truncate(1);
        }
    }
    if let Some(meta) = item.get_mut("metadata").and_then(Value::as_object_mut) {
        if let Some(Value::Object(annotations)) = meta.get_mut("annotations") {
            annotations.remove("kubectl.kubernetes.io/last-applied-configuration");
        }
        if let Some(Value::Array(entries)) = meta.get_mut("managedFields") {
            entries.retain(|e| e.pointer("/fieldsV1/f:spec").is_some());
            for e in entries.iter_mut() {
                let suspend = e.pointer("/fieldsV1/f:spec/f:suspend").is_some();
                let mut fields = serde_json::Map::new();
                if suspend {
                    fields.insert("f:suspend".into(), Value::Object(serde_json::Map::new()));
                }
                let mut kept = serde_json::Map::new();
                for key in ["manager", "operation", "time", "subresource"] {
                    if let Some(v) = e.get(key) {
                        kept.insert(key.into(), v.clone());
                    }
                }
                kept.insert("fieldsV1".into(), serde_json::json!({ "f:spec": fields }));
                *e = Value::Object(kept);
            }
        }
    }
    item
}

/// Whether an object's upstreams matter: only objects not Ready can be blocked.
fn may_be_blocked(obj: &Value) -> bool {
    !FluxObject::new(obj).ready().is_some_and(|c| c.is_true())
}

/// GETs the upstreams of objects that may be blocked, when they are outside `known`, recursively.
/// Returns the fetched objects and the references that do not exist.
pub async fn follow_upstreams(
    cluster: &Cluster,
    discovered: &Discovered,
    scope: &Scope,
    listed_kinds: &[&'static str],
    objects: &[Value],
    known: &HashSet<ObjectRef>,
) -> (HashMap<ObjectRef, Value>, HashSet<ObjectRef>) {
    // A reference the lists covered (all namespaces, no selector, kind listed) and did not return
    // does not exist: no need to ask.
    let covered = |r: &ObjectRef| {
        scope.selector.is_none()
            && scope.namespace.as_ref().is_none_or(|ns| *ns == r.namespace)
            && listed_kinds.contains(&r.kind.as_str())
    };
    let mut fetched: HashMap<ObjectRef, Value> = HashMap::new();
    let mut missing: HashSet<ObjectRef> = HashSet::new();
    let mut tried: HashSet<ObjectRef> = HashSet::new();
    let mut frontier: Vec<ObjectRef> = upstreams_of(objects.iter());
    for _ in 0..MAX_UPSTREAM_DEPTH {
        let mut todo: Vec<ObjectRef> = frontier
            .drain(..)
            .filter(|r| !known.contains(r) && tried.insert(r.clone()))
            .collect();
        todo.retain(|r| {
            let absent = covered(r);
            if absent {
                missing.insert(r.clone());
            }
            !absent
        });
        if todo.is_empty() {
            break;
        }
        let gets = stream::iter(todo.into_iter().map(|r| async move {
            let res = get_object(cluster, discovered, &r).await;
            (r, res)
        }))
        .buffer_unordered(PARALLEL_GETS)
        .collect::<Vec<_>>()
        .await;
        let mut new = Vec::new();
        for (r, res) in gets {
            match res {
                Lookup::Found(v) => {
                    new.push(v.clone());
                    fetched.insert(r, v);
                }
                Lookup::Missing => {
                    missing.insert(r);
                }
                Lookup::Unknown => {}
            }
        }
        frontier = upstreams_of(new.iter());
    }
    (fetched, missing)
}

fn upstreams_of<'a>(objects: impl Iterator<Item = &'a Value>) -> Vec<ObjectRef> {
    objects
        .filter(|o| may_be_blocked(o))
        .flat_map(|o| FluxObject::new(o).references())
        .map(|r| r.target)
        .collect()
}

enum Lookup {
    Found(Value),
    Missing,
    /// Not readable (forbidden, unreachable): neither blamed nor followed.
    Unknown,
}

async fn get_object(cluster: &Cluster, discovered: &Discovered, r: &ObjectRef) -> Lookup {
    if discovered.unreadable.iter().any(|u| u.kind == r.kind) {
        return Lookup::Unknown;
    }
    let Some(kind) = discovered.get(&r.kind) else {
        return if model::kinds::by_kind(&r.kind).is_none() {
            Lookup::Unknown
        } else {
            // No CRD for this kind: the object cannot exist.
            Lookup::Missing
        };
    };
    let path = format!("{}/{}", kind.list_path(Some(&r.namespace)), r.name);
    let Ok(req) = http::Request::get(path).body(Vec::new()) else {
        return Lookup::Unknown;
    };
    match cluster
        .call("get", cluster.client.request::<Value>(req))
        .await
    {
        Ok(v) => Lookup::Found(slim(with_type(v, kind))),
        Err(CallError::Api { code: 404, .. }) => Lookup::Missing,
        Err(_) => Lookup::Unknown,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn slim_keeps_what_the_verdict_reads() {
        let obj = json!({"metadata": {"name": "a", "annotations": {"kubectl.kubernetes.io/last-applied-configuration": "{...}", "keep": "x"},
            "managedFields": [
                {"manager": "kubectl", "time": "2025-01-01T09:00:00Z", "fieldsV1": {"f:spec": {"f:suspend": {}, "f:interval": {}}}},
                {"manager": "flux", "time": "2025-01-01T10:00:00Z", "subresource": "status", "fieldsV1": {"f:status": {}}}]},
            "status": {"inventory": {"entries": [1, 2, 3]}, "history": [{"chartVersion": "2"}, {"chartVersion": "1"}]}});
        let before = (
            model::managed_fields::suspended_at(&obj),
            model::managed_fields::spec_changed_at(&obj),
        );
        let s = slim(obj);
        assert_eq!(
            (
                model::managed_fields::suspended_at(&s),
                model::managed_fields::spec_changed_at(&s)
            ),
            before
        );
        assert_eq!(s["metadata"]["managedFields"].as_array().unwrap().len(), 1);
        assert_eq!(s["metadata"]["annotations"], json!({"keep": "x"}));
        assert_eq!(s["status"], json!({"history": [{"chartVersion": "2"}]}));
    }
}
