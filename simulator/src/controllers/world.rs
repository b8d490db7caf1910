//! The rest of the cluster as a reconcile sees it: reflector stores of every Flux kind.

use std::collections::{HashMap, HashSet};
use std::sync::{Arc, Mutex};

use kube::api::ApiResource;
use kube::runtime::reflector::{ObjectRef as StoreRef, Store};
use model::ObjectRef;

use super::cached::Cached;
use crate::core::{self, Readiness, World};

pub struct LiveWorld {
    stores: HashMap<&'static str, (Store<Cached>, ApiResource)>,
    /// Per consumer kind: who references what (kept as objects arrive, so finding the
    /// consumers of a changed source is a lookup, not a scan of every object).
    index: Mutex<HashMap<&'static str, References>>,
}

/// The references of one kind's objects, both ways.
#[derive(Default)]
struct References {
    /// target -> (namespace, name) of the objects referencing it.
    by_target: HashMap<ObjectRef, HashSet<(String, String)>>,
    /// (namespace, name) -> what it references.
    of: HashMap<(String, String), Vec<ObjectRef>>,
}

impl LiveWorld {
    pub fn new(stores: HashMap<&'static str, (Store<Cached>, ApiResource)>) -> Self {
        Self {
            stores,
            index: Mutex::new(HashMap::new()),
        }
    }

    /// Records what an object of `kind` references (called for every version seen).
    pub fn record_references(&self, kind: &'static str, obj: &Cached) {
        let (Some(ns), Some(name)) = (obj.metadata.namespace.clone(), obj.metadata.name.clone())
        else {
            return;
        };
        // Only what references are read from: no status, no managedFields.
        let slim = serde_json::json!({
            "apiVersion": obj.types.as_ref().map(|t| t.api_version.as_str()).unwrap_or_default(),
            "kind": kind,
            "metadata": {"namespace": ns, "name": name},
            "spec": obj.field("spec").unwrap_or_default(),
        });
        let targets: Vec<ObjectRef> = model::FluxObject::new(&slim)
            .references()
            .into_iter()
            .map(|r| r.target)
            .collect();
        let mut index = self
            .index
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner);
        let refs = index.entry(kind).or_default();
        let key = (ns, name);
        if refs.of.get(&key) == Some(&targets) {
            return;
        }
        for old in refs.of.remove(&key).unwrap_or_default() {
            if let Some(set) = refs.by_target.get_mut(&old) {
                set.remove(&key);
                if set.is_empty() {
                    refs.by_target.remove(&old);
                }
            }
        }
        for t in &targets {
            refs.by_target
                .entry(t.clone())
                .or_default()
                .insert(key.clone());
        }
        if !targets.is_empty() {
            refs.of.insert(key, targets);
        }
    }

    /// `(namespace, name)` of the objects of `kind` that reference `target`.
    pub fn dependents(&self, kind: &str, target: &ObjectRef) -> Vec<(String, String)> {
        let index = self
            .index
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner);
        index
            .get(kind)
            .and_then(|refs| refs.by_target.get(target))
            .map(|set| set.iter().cloned().collect())
            .unwrap_or_default()
    }

    /// Waits until every kind's store holds its first list (at most `limit`).
    pub async fn wait_until_ready(&self, limit: std::time::Duration) {
        let all = futures::future::join_all(
            self.stores
                .values()
                .map(|(store, _)| store.wait_until_ready()),
        );
        let _ = tokio::time::timeout(limit, all).await;
    }

    fn get(&self, r: &ObjectRef) -> Option<Arc<Cached>> {
        let (store, ar) = self.stores.get(r.kind.as_str())?;
        store.get(&StoreRef::new_with(&r.name, ar.clone()).within(&r.namespace))
    }
}

impl World for LiveWorld {
    fn readiness(&self, r: &ObjectRef) -> Option<Readiness> {
        let obj = self.get(r)?;
        Some(core::readiness_of(&obj.to_value()))
    }

    fn artifact_revision(&self, r: &ObjectRef) -> Option<String> {
        let obj = self.get(r)?;
        core::artifact_revision_of(&obj.to_value())
    }

    fn object(&self, r: &ObjectRef) -> Option<serde_json::Value> {
        Some(self.get(r)?.to_value())
    }
}
