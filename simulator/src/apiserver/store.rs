//! The object store behind the embedded API: typed collections of JSON objects, resourceVersions,
//! managedFields, and a bounded event history that watches resume from.

use std::collections::{BTreeMap, HashMap, VecDeque};
use std::ops::Bound;
use std::sync::{Arc, Mutex, MutexGuard};

use axum::body::Bytes;
use serde_json::{json, Value};
use tokio::sync::broadcast;

use super::error::ApiError;
use super::inner::{object_key, parse_stored, Change, Inner, ObjectKey};
use super::object::str_at;
use super::selector::{FieldSelector, LabelSelector};
use super::types::{split_api_version, ResourceType};

/// How many events a slow in-process subscriber may fall behind before it lags.
const BROADCAST: usize = 16_384;

/// What happened to an object.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum EventType {
    Added,
    Modified,
    Deleted,
}

impl EventType {
    /// `ADDED`, `MODIFIED` or `DELETED`, as in a WatchEvent.
    pub fn as_str(self) -> &'static str {
        match self {
            EventType::Added => "ADDED",
            EventType::Modified => "MODIFIED",
            EventType::Deleted => "DELETED",
        }
    }
}

/// One change in the store, as watches and in-process subscribers see it.
#[derive(Clone, Debug)]
pub struct WatchEvent {
    pub event_type: EventType,
    pub group: String,
    pub plural: String,
    pub resource_version: u64,
    /// The object after the change (for DELETED, the object as it was deleted), at the storage version.
    pub object: Arc<Value>,
    /// The object before a MODIFIED change.
    pub previous: Option<Arc<Value>>,
}

/// Options of a list: scope, selectors, paging.
#[derive(Clone, Debug, Default)]
pub struct ListOptions {
    pub namespace: Option<String>,
    pub label_selector: LabelSelector,
    pub field_selector: FieldSelector,
    pub limit: Option<usize>,
    pub continue_token: Option<String>,
}

/// One page of a list as the store holds it: each item the stored JSON, shared.
#[derive(Clone, Debug)]
pub(crate) struct RawPage {
    pub items: Vec<Bytes>,
    pub resource_version: u64,
    pub continue_token: Option<String>,
    pub remaining_item_count: Option<u64>,
}

/// Where a watch starts: the current objects (sent as ADDED) or the retained changes after a
/// resourceVersion.
pub(crate) enum WatchStart {
    Objects(Vec<Bytes>),
    Changes(Vec<Arc<Change>>),
}

/// In-process observation of every change (see [`Store::subscribe`]).
pub struct Subscription {
    receiver: broadcast::Receiver<Arc<Change>>,
}

impl Subscription {
    /// The next change; `Lagged` when more than the channel holds went by unread.
    pub async fn recv(&mut self) -> Result<WatchEvent, broadcast::error::RecvError> {
        let change = self.receiver.recv().await?;
        Ok(WatchEvent {
            event_type: change.event_type,
            group: change.group.to_string(),
            plural: change.plural.to_string(),
            resource_version: change.resource_version,
            object: Arc::new(parse_stored(&change.object)),
            previous: change
                .previous
                .as_deref()
                .map(|p| Arc::new(parse_stored(p))),
        })
    }
}

/// One page of a list.
#[derive(Clone, Debug)]
pub struct ListPage {
    pub items: Vec<Value>,
    pub resource_version: u64,
    pub continue_token: Option<String>,
    /// Set only for unfiltered paged lists, as the real API does.
    pub remaining_item_count: Option<u64>,
}

/// How a patch changes an object.
#[derive(Clone, Debug)]
pub enum Patch {
    /// RFC 7386 JSON merge patch (also used for strategic merge patches of built-in types).
    Merge(Value),
    /// RFC 6902 JSON patch.
    Json(Value),
    /// Server-side apply, always forced: the applied configuration merged in, owned by the manager.
    Apply(Value),
}

pub(super) struct Shared {
    pub(super) inner: Mutex<Inner>,
    pub(super) events: broadcast::Sender<Arc<Change>>,
}

/// The embedded API's objects. Clones share the same store.
#[derive(Clone)]
pub struct Store {
    pub(super) shared: Arc<Shared>,
    manager: Arc<str>,
}

/// Who is writing, at which version, and whether the write is a dry run.
#[derive(Clone, Debug)]
pub(crate) struct WriteContext<'a> {
    pub manager: &'a str,
    pub version: &'a str,
    pub dry_run: bool,
}

impl std::fmt::Debug for Store {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Store")
            .field("manager", &self.manager)
            .finish_non_exhaustive()
    }
}

impl Store {
    /// A store serving the built-in types plus `types`, with a CRD object for each custom type
    /// and the namespaces every cluster has.
    pub fn new(types: Vec<ResourceType>) -> Store {
        let (events, _) = broadcast::channel(BROADCAST);
        let builtin: Vec<Arc<ResourceType>> =
            ResourceType::builtin().into_iter().map(Arc::new).collect();
        let store = Store {
            shared: Arc::new(Shared {
                inner: Mutex::new(Inner {
                    types: builtin,
                    objects: HashMap::new(),
                    resource_version: 0,
                    history: VecDeque::new(),
                    expired_through: 0,
                }),
                events,
            }),
            manager: Arc::from("flux-sim"),
        };
        for ns in ["default", "kube-system", "kube-public", "kube-node-lease"] {
            store
                .create(json!({"apiVersion": "v1", "kind": "Namespace", "metadata": {"name": ns}}))
                .expect("built-in namespaces are valid");
        }
        for rt in types {
            store.add_type(rt);
        }
        store
    }

    /// The same store, writing as `manager` (the managedFields manager of in-process writes).
    pub fn with_manager(&self, manager: &str) -> Store {
        Store {
            shared: self.shared.clone(),
            manager: Arc::from(manager),
        }
    }

    pub(super) fn lock(&self) -> MutexGuard<'_, Inner> {
        self.shared
            .inner
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
    }

    /// Serves a further type, and records its CustomResourceDefinition for custom types.
    pub fn add_type(&self, rt: ResourceType) {
        if rt.is_builtin() {
            let mut inner = self.lock();
            inner
                .types
                .retain(|t| !(t.group == rt.group && t.plural == rt.plural));
            inner.types.push(Arc::new(rt));
            return;
        }
        let crd = rt.to_crd();
        let name = rt.qualified_plural();
        let result = match self.create(crd.clone()) {
            Err(ApiError::AlreadyExists { .. }) => self.update(crd, None).map(|_| ()),
            other => other.map(|_| ()),
        };
        result.unwrap_or_else(|e| panic!("the CustomResourceDefinition {name} is valid: {e}"));
    }

    /// Every served type.
    pub fn types(&self) -> Vec<ResourceType> {
        self.lock().types.iter().map(|t| (**t).clone()).collect()
    }

    /// The type with this group and plural.
    pub fn resource_type(&self, group: &str, plural: &str) -> Option<ResourceType> {
        self.lock().find(group, plural).map(|t| (*t).clone())
    }

    pub(crate) fn type_arc(&self, group: &str, plural: &str) -> Option<Arc<ResourceType>> {
        self.lock().find(group, plural)
    }

    /// The type an object of this `apiVersion` and `kind` belongs to.
    pub fn resolve_kind(&self, api_version: &str, kind: &str) -> Option<ResourceType> {
        self.lock()
            .types
            .iter()
            .find(|t| t.kind == kind && t.serves_api_version(api_version))
            .map(|t| (**t).clone())
    }

    /// The current (global) resourceVersion.
    pub fn resource_version(&self) -> u64 {
        self.lock().resource_version
    }

    /// Every change from now on, for in-process observers.
    pub fn subscribe(&self) -> Subscription {
        Subscription {
            receiver: self.shared.events.subscribe(),
        }
    }

    fn type_of(&self, group: &str, plural: &str) -> Result<Arc<ResourceType>, ApiError> {
        self.type_arc(group, plural)
            .ok_or(ApiError::ResourceNotFound)
    }

    pub(super) fn type_of_object(&self, object: &Value) -> Result<Arc<ResourceType>, ApiError> {
        let api_version = object
            .get("apiVersion")
            .and_then(Value::as_str)
            .unwrap_or_default();
        let kind = object
            .get("kind")
            .and_then(Value::as_str)
            .unwrap_or_default();
        let inner = self.lock();
        inner
            .types
            .iter()
            .find(|t| t.kind == kind && t.serves_api_version(api_version))
            .cloned()
            .ok_or_else(|| {
                let (_, version) = split_api_version(api_version);
                ApiError::bad_request(format!(
                    "no matches for kind {kind:?} in version {api_version:?} ({version})"
                ))
            })
    }

    pub(super) fn context(&self) -> WriteContext<'_> {
        WriteContext {
            manager: &self.manager,
            version: "",
            dry_run: false,
        }
    }

    /// Creates an object (its apiVersion, kind and metadata.namespace say where). As on the real
    /// API, `.status` is dropped when status is a subresource.
    pub fn create(&self, object: Value) -> Result<Value, ApiError> {
        let rt = self.type_of_object(&object)?;
        let ns = str_at(&object, "/metadata/namespace").map(str::to_string);
        self.create_in(&rt, ns.as_deref(), object, &self.context())
    }

    /// Creates an object and then writes its `.status` (one convenience for seeding objects).
    pub fn create_with_status(&self, object: Value) -> Result<Value, ApiError> {
        let created = self.create(object.clone())?;
        match object.get("status") {
            Some(status) if self.type_of_object(&object)?.status_subresource => {
                let mut with_status = created;
                with_status["status"] = status.clone();
                self.update(with_status, Some("status"))
            }
            _ => Ok(created),
        }
    }

    /// Puts an object into the store as it stands, history included: `uid`, `creationTimestamp`,
    /// `generation`, `managedFields`, labels and `.status` are kept as given (only missing ones are
    /// filled in), a new resourceVersion is assigned, a missing namespace is created, and an existing
    /// object of the same name is replaced. For seeding objects that have a past.
    pub fn restore(&self, object: Value) -> Result<Value, ApiError> {
        self.restore_in(object)
    }

    /// One object.
    pub fn get(
        &self,
        group: &str,
        plural: &str,
        namespace: Option<&str>,
        name: &str,
    ) -> Result<Value, ApiError> {
        let rt = self.type_of(group, plural)?;
        self.get_in(&rt, namespace, name).map(|o| parse_stored(&o))
    }

    /// Every object of a type, in one namespace or (None) all of them, ordered by namespace and name.
    pub fn list(
        &self,
        group: &str,
        plural: &str,
        namespace: Option<&str>,
    ) -> Result<Vec<Value>, ApiError> {
        let rt = self.type_of(group, plural)?;
        let options = ListOptions {
            namespace: namespace.map(str::to_string),
            ..ListOptions::default()
        };
        Ok(self.list_in(&rt, &options)?.items)
    }

    /// One page of a list with selectors, limit and continue token.
    pub fn list_page(
        &self,
        group: &str,
        plural: &str,
        options: &ListOptions,
    ) -> Result<ListPage, ApiError> {
        let rt = self.type_of(group, plural)?;
        self.list_in(&rt, options)
    }

    /// Replaces an object (PUT); `subresource` `Some("status")` writes only `.status`.
    /// A `metadata.resourceVersion` in `object` must match the stored one.
    pub fn update(&self, object: Value, subresource: Option<&str>) -> Result<Value, ApiError> {
        let rt = self.type_of_object(&object)?;
        let ns = str_at(&object, "/metadata/namespace").map(str::to_string);
        let name = str_at(&object, "/metadata/name")
            .unwrap_or_default()
            .to_string();
        self.update_in(
            &rt,
            ns.as_deref(),
            &name,
            object,
            subresource,
            &self.context(),
        )
    }

    /// Applies a JSON merge patch (RFC 7386) to an object or its `/status`.
    pub fn merge_patch(
        &self,
        group: &str,
        plural: &str,
        namespace: Option<&str>,
        name: &str,
        patch: &Value,
        subresource: Option<&str>,
    ) -> Result<Value, ApiError> {
        self.patch(
            group,
            plural,
            namespace,
            name,
            Patch::Merge(patch.clone()),
            subresource,
        )
    }

    /// Applies any kind of patch to an object or its `/status`.
    pub fn patch(
        &self,
        group: &str,
        plural: &str,
        namespace: Option<&str>,
        name: &str,
        patch: Patch,
        subresource: Option<&str>,
    ) -> Result<Value, ApiError> {
        let rt = self.type_of(group, plural)?;
        self.patch_in(&rt, namespace, name, patch, subresource, &self.context())
    }

    /// Deletes an object at once (no finalizers); returns it as it was deleted.
    pub fn delete(
        &self,
        group: &str,
        plural: &str,
        namespace: Option<&str>,
        name: &str,
    ) -> Result<Value, ApiError> {
        let rt = self.type_of(group, plural)?;
        self.delete_in(&rt, namespace, name, false)
    }

    // ---- the implementations the HTTP layer shares ----

    /// One object as stored (its JSON at the storage version).
    pub(crate) fn get_in(
        &self,
        rt: &ResourceType,
        namespace: Option<&str>,
        name: &str,
    ) -> Result<Bytes, ApiError> {
        let key = object_key(rt, namespace, name);
        let inner = self.lock();
        inner
            .collection(rt)
            .and_then(|c| c.get(&key))
            .map(|s| s.json.clone())
            .ok_or_else(|| not_found(rt, name))
    }

    pub(crate) fn list_in(
        &self,
        rt: &ResourceType,
        options: &ListOptions,
    ) -> Result<ListPage, ApiError> {
        let page = self.list_raw(rt, options)?;
        Ok(ListPage {
            items: page.items.iter().map(|o| parse_stored(o)).collect(),
            resource_version: page.resource_version,
            continue_token: page.continue_token,
            remaining_item_count: page.remaining_item_count,
        })
    }

    /// A page of a list, sharing the stored JSON. The lock is held only to copy references:
    /// selectors are matched afterwards, outside it.
    pub(crate) fn list_raw(
        &self,
        rt: &ResourceType,
        options: &ListOptions,
    ) -> Result<RawPage, ApiError> {
        let cursor = options
            .continue_token
            .as_deref()
            .map(decode_continue)
            .transpose()?;
        let ns = options.namespace.as_deref().filter(|_| rt.namespaced);
        let start = match (&cursor, ns) {
            (Some((_, key)), _) => Bound::Excluded(key.clone()),
            (None, Some(ns)) => Bound::Included((ns.to_string(), String::new())),
            (None, None) => Bound::Unbounded,
        };
        let filtered = !options.label_selector.is_empty() || !options.field_selector.is_empty();
        let limit = options.limit.filter(|l| *l > 0).unwrap_or(usize::MAX);
        // Under the lock: references to the candidates (all of them when a selector must look
        // inside; otherwise one page and a count of the rest).
        let (resource_version, candidates, rest) = {
            let inner = self.lock();
            let resource_version = cursor.as_ref().map_or(inner.resource_version, |c| c.0);
            let empty = BTreeMap::new();
            let collection = inner.collection(rt).unwrap_or(&empty);
            let mut range = collection
                .range((start, Bound::Unbounded))
                .take_while(|(key, _)| ns.is_none_or(|ns| key.0 == ns));
            let take = if filtered { usize::MAX } else { limit };
            let candidates: Vec<(ObjectKey, Bytes)> = range
                .by_ref()
                .take(take)
                .map(|(k, s)| (k.clone(), s.json.clone()))
                .collect();
            let rest = if filtered { 0 } else { range.count() as u64 };
            (resource_version, candidates, rest)
        };
        let mut items = Vec::new();
        let mut last = None;
        let mut remaining = rest;
        let mut candidates = candidates.into_iter();
        for (key, json) in candidates.by_ref() {
            if filtered {
                let object = parse_stored(&json);
                if !(options.label_selector.matches(&object)
                    && options.field_selector.matches(&object))
                {
                    continue;
                }
            }
            items.push(json);
            last = Some(key);
            if items.len() == limit {
                break;
            }
        }
        if filtered && items.len() == limit {
            remaining = candidates
                .filter(|(_, json)| {
                    let object = parse_stored(json);
                    options.label_selector.matches(&object)
                        && options.field_selector.matches(&object)
                })
                .count() as u64;
        }
        let (continue_token, remaining) = match last {
            Some(last) if items.len() == limit && remaining > 0 => (
                Some(encode_continue(resource_version, &last)),
                (!filtered).then_some(remaining),
            ),
            _ => (None, None),
        };
        Ok(RawPage {
            items,
            resource_version,
            continue_token,
            remaining_item_count: remaining,
        })
    }

    /// Where a watch starts (with None, the current objects in `namespace`; else the changes
    /// after `since`), and a receiver for what follows.
    pub(crate) fn watch_from(
        &self,
        rt: &ResourceType,
        namespace: Option<&str>,
        since: Option<u64>,
    ) -> Result<(WatchStart, broadcast::Receiver<Arc<Change>>, u64), ApiError> {
        let inner = self.lock();
        let receiver = self.shared.events.subscribe();
        let now = inner.resource_version;
        let ns = namespace.filter(|_| rt.namespaced);
        let initial = match since {
            None => WatchStart::Objects(
                inner
                    .collection(rt)
                    .map(|c| {
                        let start = match ns {
                            Some(ns) => Bound::Included((ns.to_string(), String::new())),
                            None => Bound::Unbounded,
                        };
                        c.range((start, Bound::Unbounded))
                            .take_while(|(key, _)| ns.is_none_or(|ns| key.0 == ns))
                            .map(|(_, s)| s.json.clone())
                            .collect()
                    })
                    .unwrap_or_default(),
            ),
            Some(since) if since < inner.expired_through => {
                return Err(ApiError::Gone {
                    message: format!(
                        "too old resource version: {since} ({})",
                        inner.expired_through + 1
                    ),
                })
            }
            Some(since) => {
                let first = inner
                    .history
                    .partition_point(|e| e.resource_version <= since);
                WatchStart::Changes(
                    inner
                        .history
                        .range(first..)
                        .filter(|e| *e.group == rt.group && *e.plural == rt.plural)
                        .cloned()
                        .collect(),
                )
            }
        };
        Ok((initial, receiver, now))
    }
}

pub(crate) fn not_found(rt: &ResourceType, name: &str) -> ApiError {
    ApiError::NotFound {
        group: rt.group.clone(),
        resource: rt.plural.clone(),
        name: name.to_string(),
    }
}

fn encode_continue(resource_version: u64, key: &ObjectKey) -> String {
    hex::encode(json!({"rv": resource_version, "ns": key.0, "name": key.1}).to_string())
}

fn decode_continue(token: &str) -> Result<(u64, ObjectKey), ApiError> {
    let bad = || ApiError::bad_request(format!("continue key is not valid: {token}"));
    let bytes = hex::decode(token).map_err(|_| bad())?;
    let value: Value = serde_json::from_slice(&bytes).map_err(|_| bad())?;
    let rv = value.get("rv").and_then(Value::as_u64).ok_or_else(bad)?;
    let text = |k: &str| {
        value
            .get(k)
            .and_then(Value::as_str)
            .map(str::to_string)
            .ok_or_else(bad)
    };
    Ok((rv, (text("ns")?, text("name")?)))
}
