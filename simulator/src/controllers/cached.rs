//! The objects the controllers cache: the metadata typed (what the reflector, the triggers and
//! the reference index read on every change) and everything else as its compact JSON text,
//! parsed when a reconcile or a lookup reads it. A JSON tree of a Flux object takes several
//! times the size of its text; at 100k objects the cache held as trees was over 1 GB.

use std::borrow::Cow;

use kube::api::{ApiResource, DynamicObject, ObjectMeta, TypeMeta};
use kube::core::DynamicResourceScope;
use kube::Resource;
use serde::{Deserialize, Deserializer};
use serde_json::Value;

/// One cached object, without managedFields (no reconcile reads them; controller-runtime's
/// caches are trimmed the same way with a transform).
#[derive(Clone, Debug)]
pub struct Cached {
    pub types: Option<TypeMeta>,
    pub metadata: ObjectMeta,
    /// The top-level fields other than apiVersion, kind and metadata, as a JSON object's text.
    rest: Box<str>,
}

impl Cached {
    pub fn new(object: DynamicObject) -> Self {
        let DynamicObject { types, mut metadata, data } = object;
        metadata.managed_fields = None;
        let rest = match data {
            Value::Object(_) => serde_json::to_string(&data).unwrap_or_else(|_| "{}".into()),
            _ => "{}".into(),
        };
        Cached { types, metadata, rest: rest.into_boxed_str() }
    }

    /// One top-level field other than apiVersion, kind and metadata (`spec`, `status`).
    pub fn field(&self, key: &str) -> Option<Value> {
        self.fields().remove(key)
    }

    /// The whole object as a JSON tree, as the API served it (less managedFields).
    pub fn to_value(&self) -> Value {
        let mut fields = self.fields();
        if let Some(types) = &self.types {
            fields.insert("apiVersion".into(), types.api_version.clone().into());
            fields.insert("kind".into(), types.kind.clone().into());
        }
        fields.insert(
            "metadata".into(),
            serde_json::to_value(&self.metadata).unwrap_or_default(),
        );
        Value::Object(fields)
    }

    /// The fields kept as text, parsed (the store wrote them from a JSON object).
    fn fields(&self) -> serde_json::Map<String, Value> {
        match serde_json::from_str::<Value>(&self.rest) {
            Ok(Value::Object(fields)) => fields,
            _ => serde_json::Map::new(),
        }
    }
}

impl<'de> Deserialize<'de> for Cached {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        DynamicObject::deserialize(deserializer).map(Cached::new)
    }
}

impl Resource for Cached {
    type DynamicType = ApiResource;
    type Scope = DynamicResourceScope;

    fn group(dt: &ApiResource) -> Cow<'_, str> {
        dt.group.as_str().into()
    }

    fn version(dt: &ApiResource) -> Cow<'_, str> {
        dt.version.as_str().into()
    }

    fn kind(dt: &ApiResource) -> Cow<'_, str> {
        dt.kind.as_str().into()
    }

    fn api_version(dt: &ApiResource) -> Cow<'_, str> {
        dt.api_version.as_str().into()
    }

    fn plural(dt: &ApiResource) -> Cow<'_, str> {
        dt.plural.as_str().into()
    }

    fn meta(&self) -> &ObjectMeta {
        &self.metadata
    }

    fn meta_mut(&mut self) -> &mut ObjectMeta {
        &mut self.metadata
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn keeps_the_object_less_managed_fields() {
        let object = json!({
            "apiVersion": "kustomize.toolkit.fluxcd.io/v1", "kind": "Kustomization",
            "metadata": {"name": "apps", "namespace": "flux-system", "generation": 3,
                         "managedFields": [{"manager": "flux-sim", "operation": "Update"}]},
            "spec": {"interval": "10m", "path": "./apps"},
            "status": {"conditions": [{"type": "Ready", "status": "True"}]},
        });
        let cached: Cached = serde_json::from_value(object.clone()).unwrap();
        assert_eq!(cached.metadata.generation, Some(3));
        assert_eq!(cached.field("spec"), Some(object["spec"].clone()));
        assert_eq!(cached.field("status"), Some(object["status"].clone()));
        assert_eq!(cached.field("nothing"), None);
        let mut expected = object;
        expected["metadata"].as_object_mut().unwrap().remove("managedFields");
        assert_eq!(cached.to_value(), expected);
    }
}
