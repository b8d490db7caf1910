//! The store's locked state: typed collections ordered by (namespace, name), the global
//! resourceVersion, and the bounded event history; every change is committed here as an event.

use std::collections::{BTreeMap, HashMap, VecDeque};
use std::sync::Arc;

use serde_json::{json, Value};
use tokio::sync::broadcast;

use super::fields::{self, ManagedEntry};
use super::object::meta_mut;
use super::store::{EventType, WatchEvent};
use super::types::ResourceType;

/// How many events the store keeps for watches that resume from a resourceVersion.
const HISTORY: usize = 10_000;

/// `(namespace or "", name)`: collections are ordered by it, so paging is stable.
pub(super) type ObjectKey = (String, String);

pub(super) struct Stored {
    pub(super) object: Arc<Value>,
    pub(super) managed: Vec<ManagedEntry>,
}

pub(super) struct Inner {
    pub(super) types: Vec<Arc<ResourceType>>,
    pub(super) objects: HashMap<(String, String), BTreeMap<ObjectKey, Stored>>,
    pub(super) resource_version: u64,
    pub(super) history: VecDeque<WatchEvent>,
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

    fn emit(&mut self, event: WatchEvent, events: &broadcast::Sender<WatchEvent>) {
        self.history.push_back(event.clone());
        while self.history.len() > HISTORY {
            if let Some(old) = self.history.pop_front() {
                self.expired_through = old.resource_version;
            }
        }
        let _ = events.send(event);
    }

    /// Stores a written object under a new resourceVersion and tells watchers.
    pub(super) fn commit(
        &mut self,
        rt: &ResourceType,
        key: ObjectKey,
        mut object: Value,
        managed: Vec<ManagedEntry>,
        previous: Option<Arc<Value>>,
        events: &broadcast::Sender<WatchEvent>,
    ) -> Arc<Value> {
        let rv = self.next_version();
        let meta = meta_mut(&mut object);
        meta.insert("resourceVersion".to_string(), json!(rv.to_string()));
        if managed.is_empty() {
            meta.remove("managedFields");
        } else {
            meta.insert("managedFields".to_string(), fields::render(&managed));
        }
        let object = Arc::new(object);
        let crd_change =
            rt.group == "apiextensions.k8s.io" && rt.plural == "customresourcedefinitions";
        self.objects
            .entry((rt.group.clone(), rt.plural.clone()))
            .or_default()
            .insert(
                key,
                Stored {
                    object: object.clone(),
                    managed,
                },
            );
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
        let event = WatchEvent {
            event_type,
            group: rt.group.clone(),
            plural: rt.plural.clone(),
            resource_version: rv,
            object: object.clone(),
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
        events: &broadcast::Sender<WatchEvent>,
    ) -> Value {
        let Some(stored) = self
            .objects
            .get_mut(&(rt.group.clone(), rt.plural.clone()))
            .and_then(|c| c.remove(key))
        else {
            return Value::Null;
        };
        let rv = self.next_version();
        let mut object = (*stored.object).clone();
        meta_mut(&mut object).insert("resourceVersion".to_string(), json!(rv.to_string()));
        let event = WatchEvent {
            event_type: EventType::Deleted,
            group: rt.group.clone(),
            plural: rt.plural.clone(),
            resource_version: rv,
            object: Arc::new(object.clone()),
            previous: Some(stored.object),
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
