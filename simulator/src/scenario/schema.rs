//! The JSON Schema of scenario files, for editors (yaml-language-server) and for review.

use model::kinds::KINDS;
use model::Controller;
use serde_json::{json, Value};

use super::file::ScenarioFile;
use super::model::{Fault, API_VERSION};

/// The JSON Schema (draft 2020-12) of a scenario file, derived from the file types, with the
/// closed vocabularies (apiVersion, kind, Flux kinds, faults, controllers) spelled out as enums.
pub fn json_schema() -> Value {
    let mut schema = schemars::schema_for!(ScenarioFile).to_value();
    let set = |schema: &mut Value, pointer: &str, values: Vec<Value>| {
        if let Some(Value::Object(prop)) = schema.pointer_mut(pointer) {
            prop.insert("enum".into(), Value::Array(values));
        }
    };
    set(&mut schema, "/properties/apiVersion", vec![json!(API_VERSION)]);
    set(&mut schema, "/properties/kind", vec![json!("Scenario")]);
    set(
        &mut schema,
        "/$defs/ResourceFile/properties/kind",
        KINDS.iter().map(|k| json!(k.kind)).collect(),
    );
    set(
        &mut schema,
        "/$defs/FaultFile/properties/fault",
        Fault::ALL.iter().map(|f| json!(f.name())).collect(),
    );
    let controllers: Vec<Value> = Controller::ALL.iter().map(|c| json!(c.name())).collect();
    if let Some(Value::Object(prop)) = schema.pointer_mut("/$defs/FaultFile/properties/controller") {
        prop.insert(
            "enum".into(),
            Value::Array(controllers.into_iter().chain([Value::Null]).collect()),
        );
    }
    for def in ["NotificationExpectationFile"] {
        if let Some(Value::Object(prop)) = schema.pointer_mut(&format!("/$defs/{def}/properties/severity")) {
            prop.insert("enum".into(), json!(["info", "error", null]));
        }
    }
    schema
}
