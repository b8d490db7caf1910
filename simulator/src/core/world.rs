//! Readiness as Flux's dependency checks see it, and a map-backed [`World`] for drivers that
//! hold objects as JSON.

use std::collections::HashMap;

use model::{FluxObject, ObjectRef};
use serde_json::Value;

use super::{Readiness, World};

/// How a dependent sees `obj`: Ready=True at the current generation, else why not (Flux's
/// `isReady`: generation first, then Stalled, then Ready).
pub fn readiness_of(obj: &Value) -> Readiness {
    let o = FluxObject::new(obj);
    let ready = o.ready();
    let reason = ready.as_ref().map(|c| c.reason.clone()).unwrap_or_default();
    let ready_message = ready.as_ref().map(|c| c.message.clone()).unwrap_or_default();
    if o.generation().is_some() && o.observed_generation() != o.generation() {
        return Readiness {
            ready: false,
            reason,
            message: "latest generation of object has not been reconciled".into(),
            ready_message,
        };
    }
    if let Some(stalled) = o.condition("Stalled").filter(|c| c.is_true()) {
        return Readiness {
            ready: false,
            reason: stalled.reason,
            message: stalled.message,
            ready_message,
        };
    }
    match ready {
        Some(c) => Readiness {
            ready: c.is_true(),
            reason: c.reason,
            message: c.message,
            ready_message,
        },
        None => Readiness {
            ready: false,
            reason,
            message: "waiting to be reconciled".into(),
            ready_message,
        },
    }
}

/// The revision an object offers to its consumers (artifact revision, latest scanned tag).
pub fn artifact_revision_of(obj: &Value) -> Option<String> {
    FluxObject::new(obj).revision().map(str::to_string)
}

/// A [`World`] over owned JSON objects, keyed by identity.
#[derive(Debug, Clone, Default)]
pub struct MapWorld {
    pub objects: HashMap<ObjectRef, Value>,
}

impl MapWorld {
    pub fn new() -> Self {
        Self::default()
    }

    pub fn from_objects(objects: impl IntoIterator<Item = Value>) -> Self {
        let mut w = Self::new();
        for o in objects {
            w.insert(o);
        }
        w
    }

    /// Adds or replaces an object (identity read from the object).
    pub fn insert(&mut self, object: Value) {
        let r = FluxObject::new(&object).object_ref();
        self.objects.insert(r, object);
    }
}

impl World for MapWorld {
    fn readiness(&self, r: &ObjectRef) -> Option<Readiness> {
        self.objects.get(r).map(readiness_of)
    }
    fn artifact_revision(&self, r: &ObjectRef) -> Option<String> {
        self.objects.get(r).and_then(artifact_revision_of)
    }
    fn object(&self, r: &ObjectRef) -> Option<Value> {
        self.objects.get(r).cloned()
    }
}
