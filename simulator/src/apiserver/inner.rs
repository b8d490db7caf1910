//! The store's locked state: typed collections ordered by (namespace, name), the global
//! resourceVersion, and the bounded event history; every change is committed here as an event.
//!
//! Each object is kept once, as its JSON text at the storage version ([`Bytes`], shared by
//! reference): lists, gets and every watcher's events hand out that one copy instead of a tree
//! per reader, so memory per object stays close to the object's size and the lock is held only
//! to copy references. Writes parse, change and serialize the one object they touch.

use std::collections::{BTreeMap, HashMap, VecDeque};
use std::sync::Arc;

use axum::body::Bytes;
use serde_json::{json, Value};
use tokio::sync::broadcast;

use super::fields::{self, ManagedEntry};
use super::object::meta_mut;
use super::store::EventType;
use super::types::ResourceType;

/// How many events the store keeps for watches that resume from a resourceVersion (the
/// history is bounded by count: a watcher further behind re-lists, as on a real API server).
const HISTORY: usize = 10_000;

/// `(namespace or "", name)`: collections are ordered by it, so paging is stable.
pub(super) type ObjectKey = (String, String);

/// One stored object: its JSON at the storage version, the one copy every reader shares.
pub(super) struct Stored {
    pub(super) json: Bytes,
}

impl Stored {
    /// The object as a JSON tree (for writes, selectors and other versions).
    pub(super) fn value(&self) -> Value {
        parse_stored(&self.json)
    }
}

/// Parses JSON the store wrote itself.
pub(super) fn parse_stored(json: &[u8]) -> Value {
    serde_json::from_slice(json).expect("the store holds only JSON it serialized")
}

/// An object's JSON in a buffer of exactly its size (serializing grows a buffer by doubling:
/// kept as it is, a quarter of it would be slack on average).
fn exact_bytes(object: &Value) -> Bytes {
    let mut json = serde_json::to_vec(object).expect("a JSON value serializes");
    json.shrink_to_fit();
    Bytes::from(json)
}

/// One change as the history and watchers carry it: shared, never copied per watcher.
#[derive(Debug)]
pub(crate) struct Change {
    pub event_type: EventType,
    pub group: Arc<str>,
    pub plural: Arc<str>,
    /// The object's namespace ("" for cluster-scoped objects): namespace filters need no parse.
    pub namespace: String,
    pub resource_version: u64,
    /// The object after the change (for DELETED, as it was deleted), at the storage version.
    pub object: Bytes,
    /// The object before a MODIFIED change.
    pub previous: Option<Bytes>,
}

pub(super) struct Inner {
    pub(super) types: Vec<Arc<ResourceType>>,
    pub(super) objects: HashMap<(String, String), BTreeMap<ObjectKey, Stored>>,
    pub(super) resource_version: u64,
    pub(super) history: VecDeque<Arc<Change>>,
    /// Events up to this resourceVersion have left the history.
    pub(super) expired_through: u64,
}
impl Inner {
    pub(super) fn find(&self, group: &str, plural: &str) -> Option<Arc<ResourceType>> {
        self.types
            .iter()
            .find(|t| t.group == group && t.plural == plural)
            .cloned()
    }

    pub(super) fn collection(&self, rt: &ResourceType) -> Option<&BTreeMap<ObjectKey, Stored>> {
        self.objects.get(&(rt.group.clone(), rt.plural.clone()))
    }

    pub(super) fn next_version(&mut self) -> u64 {
        self.resource_version += 1;
        self.resource_version
    }

    fn emit(&mut self, event: Change, events: &broadcast::Sender<Arc<Change>>) {
        let event = Arc::new(event);
        self.history.push_back(event.clone());
        while self.history.len() > HISTORY {
            if let Some(old) = self.history.pop_front() {
                self.expired_through = old.resource_version;
            }
        }
        let _ = events.send(event);
    }

    /// Stores a written object under a new resourceVersion and tells watchers; returns the
    /// object as stored.
    pub(super) fn commit(
        &mut self,
        rt: &ResourceType,
        key: ObjectKey,
        mut object: Value,
        managed: Vec<ManagedEntry>,
        previous: Option<Bytes>,
        events: &broadcast::Sender<Arc<Change>>,
    ) -> Value {
        let rv = self.next_version();
        let meta = meta_mut(&mut object);
        meta.insert("resourceVersion".to_string(), json!(rv.to_string()));
        if managed.is_empty() {
            meta.remove("managedFields");
        } else {
            meta.insert("managedFields".to_string(), fields::render(&managed));
        }
        let json = exact_bytes(&object);
        let crd_change =
            rt.group == "apiextensions.k8s.io" && rt.plural == "customresourcedefinitions";
        let namespace = key.0.clone();
        self.objects
            .entry((rt.group.clone(), rt.plural.clone()))
            .or_default()
            .insert(key, Stored { json: json.clone() });
        if crd_change {
            if let Some(served) = ResourceType::from_crd(&object) {
                self.types
                    .retain(|t| !(t.group == served.group && t.plural == served.plural));
                self.types.push(Arc::new(served));
            }
        }
        let event_type = if previous.is_some() {
            EventType::Modified
        } else {
            EventType::Added
        };
        let event = Change {
            event_type,
            group: Arc::from(rt.group.as_str()),
            plural: Arc::from(rt.plural.as_str()),
            namespace,
            resource_version: rv,
            object: json,
            previous,
        };
        self.emit(event, events);
        object
    }

    /// Deletes an object now; a deleted CRD takes its type and objects with it.
    pub(super) fn remove(
        &mut self,
        rt: &ResourceType,
        key: &ObjectKey,
        events: &broadcast::Sender<Arc<Change>>,
    ) -> Value {
        let Some(stored) = self
            .objects
            .get_mut(&(rt.group.clone(), rt.plural.clone()))
            .and_then(|c| c.remove(key))
        else {
            return Value::Null;
        };
        let rv = self.next_version();
        let mut object = stored.value();
        meta_mut(&mut object).insert("resourceVersion".to_string(), json!(rv.to_string()));
        let event = Change {
            event_type: EventType::Deleted,
            group: Arc::from(rt.group.as_str()),
            plural: Arc::from(rt.plural.as_str()),
            namespace: key.0.clone(),
            resource_version: rv,
            object: exact_bytes(&object),
            previous: Some(stored.json),
        };
        self.emit(event, events);
        if rt.group == "apiextensions.k8s.io" && rt.plural == "customresourcedefinitions" {
            if let Some(served) = ResourceType::from_crd(&object) {
                let keys: Vec<ObjectKey> = self
                    .collection(&served)
                    .map(|c| c.keys().cloned().collect())
                    .unwrap_or_default();
                for k in keys {
                    self.remove(&served, &k, events);
                }
                self.types
                    .retain(|t| !(t.group == served.group && t.plural == served.plural));
            }
        }
        object
    }
}

pub(super) fn object_key(rt: &ResourceType, namespace: Option<&str>, name: &str) -> ObjectKey {
    let ns = if rt.namespaced {
        namespace.unwrap_or_default()
    } else {
        ""
    };
    (ns.to_string(), name.to_string())
}
