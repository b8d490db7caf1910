//! The rest of the cluster as a reconcile sees it: reflector stores of every Flux kind.

use std::collections::HashMap;
use std::sync::Arc;

use kube::api::{ApiResource, DynamicObject};
use kube::runtime::reflector::{ObjectRef as StoreRef, Store};
use model::ObjectRef;

use crate::core::{self, Readiness, World};

pub struct LiveWorld {
    stores: HashMap<&'static str, (Store<DynamicObject>, ApiResource)>,
}

impl LiveWorld {
    pub fn new(stores: HashMap<&'static str, (Store<DynamicObject>, ApiResource)>) -> Self {
        Self { stores }
    }

    /// `(namespace, name)` of the objects of `kind` that reference `target`.
    pub fn dependents(&self, kind: &str, target: &ObjectRef) -> Vec<(String, String)> {
        let Some((store, _)) = self.stores.get(kind) else { return Vec::new() };
        store
            .state()
            .iter()
            .filter_map(|o| serde_json::to_value(&**o).ok())
            .filter(|json| model::FluxObject::new(json).references().iter().any(|r| &r.target == target))
            .map(|json| {
                let v = model::FluxObject::new(&json);
                (v.namespace().to_string(), v.name().to_string())
            })
            .collect()
    }

    fn get(&self, r: &ObjectRef) -> Option<Arc<DynamicObject>> {
        let (store, ar) = self.stores.get(r.kind.as_str())?;
        store.get(&StoreRef::new_with(&r.name, ar.clone()).within(&r.namespace))
    }
}

impl World for LiveWorld {
    fn readiness(&self, r: &ObjectRef) -> Option<Readiness> {
        let obj = self.get(r)?;
        Some(core::readiness_of(&serde_json::to_value(&*obj).ok()?))
    }

    fn artifact_revision(&self, r: &ObjectRef) -> Option<String> {
        let obj = self.get(r)?;
        core::artifact_revision_of(&serde_json::to_value(&*obj).ok()?)
    }

    fn object(&self, r: &ObjectRef) -> Option<serde_json::Value> {
        serde_json::to_value(&*self.get(r)?).ok()
    }
}
