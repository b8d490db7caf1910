//! The event a Flux controller posts to notification-controller (fluxcd/pkg `apis/event/v1beta1`
//! Event, built as `runtime/events/recorder.go` builds it) and the core/v1 Event it also records.

use std::collections::BTreeMap;

use jiff::Timestamp;
use serde::{Deserialize, Deserializer, Serialize, Serializer};
use serde_json::{json, Value};

use crate::core::{Severity, SimEvent};

/// Annotations of the involved object with this prefix travel in the event metadata
/// (`eventv1.Group + "/"`), and notification-controller keeps metadata with this prefix.
pub const EVENT_GROUP_PREFIX: &str = "event.toolkit.fluxcd.io/";

/// `corev1.ObjectReference` as Go marshals it: every field `omitempty`, in this order.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase", default)]
pub struct ObjectReference {
    #[serde(skip_serializing_if = "String::is_empty")]
    pub kind: String,
    #[serde(skip_serializing_if = "String::is_empty")]
    pub namespace: String,
    #[serde(skip_serializing_if = "String::is_empty")]
    pub name: String,
    #[serde(skip_serializing_if = "String::is_empty")]
    pub uid: String,
    #[serde(skip_serializing_if = "String::is_empty")]
    pub api_version: String,
    #[serde(skip_serializing_if = "String::is_empty")]
    pub resource_version: String,
    #[serde(skip_serializing_if = "String::is_empty")]
    pub field_path: String,
}

impl ObjectReference {
    /// The API group of `apiVersion` (empty for the core group).
    pub fn group(&self) -> &str {
        match self.api_version.rsplit_once('/') {
            Some((group, _)) => group,
            None => "",
        }
    }

    /// `Kind/namespace/name`, as notification-controller writes it in its messages.
    pub fn display(&self) -> String {
        format!("{}/{}/{}", self.kind, self.namespace, self.name)
    }
}

/// eventv1 `Event`. Field order and `omitempty` follow the Go struct, so serialising it with
/// [`go_json`] gives the bytes a Flux controller or notification-controller would send.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase", default)]
pub struct EventV1 {
    pub involved_object: ObjectReference,
    pub severity: String,
    /// `metav1.Time`: RFC 3339 in UTC with whole seconds; `null` for the zero time.
    #[serde(with = "metav1_time")]
    pub timestamp: Option<Timestamp>,
    pub message: String,
    pub reason: String,
    #[serde(skip_serializing_if = "BTreeMap::is_empty")]
    pub metadata: BTreeMap<String, String>,
    pub reporting_controller: String,
    #[serde(skip_serializing_if = "String::is_empty")]
    pub reporting_instance: String,
}

impl EventV1 {
    /// Decodes a request body as Go's encoding/json decodes it into the eventv1 struct: `null`
    /// leaves a field at its zero value (an empty string, an empty map, a zero struct; a
    /// `null` map value is the empty string) instead of being a type error.
    pub fn decode_go(body: &[u8]) -> Result<EventV1, serde_json::Error> {
        let mut value: Value = serde_json::from_slice(body)?;
        fn zero_nulls(v: &mut Value, in_map: bool) {
            if let Value::Object(m) = v {
                if in_map {
                    for e in m.values_mut().filter(|e| e.is_null()) {
                        *e = Value::String(String::new());
                    }
                } else {
                    m.retain(|_, e| !e.is_null());
                }
                for (k, e) in m.iter_mut() {
                    zero_nulls(e, k == "metadata");
                }
            }
        }
        if value.is_null() {
            return Ok(EventV1::default());
        }
        zero_nulls(&mut value, false);
        serde_json::from_value(value)
    }
}

/// What the recorder puts in `involvedObject`, `metadata` and `reportingInstance` for `ev`:
/// `object` is the live involved object (its uid, apiVersion, resourceVersion and
/// `event.toolkit.fluxcd.io/` annotations are read), `instance` the controller's hostname (its
/// Pod name in a cluster).
pub fn event_v1(ev: &SimEvent, object: &Value, instance: &str) -> EventV1 {
    let meta = &object["metadata"];
    let mut metadata = ev.metadata.clone();
    // The recorder adds the object's event.toolkit.fluxcd.io/ annotations over the given ones.
    if let Some(annotations) = meta["annotations"].as_object() {
        for (k, v) in annotations {
            if let (true, Some(v)) = (k.starts_with(EVENT_GROUP_PREFIX), v.as_str()) {
                metadata.insert(k.clone(), v.to_string());
            }
        }
    }
    EventV1 {
        involved_object: ObjectReference {
            kind: ev.object.kind.clone(),
            namespace: ev.object.namespace.clone(),
            name: ev.object.name.clone(),
            uid: str_at(meta, "uid"),
            api_version: object["apiVersion"]
                .as_str()
                .unwrap_or_default()
                .to_string(),
            resource_version: str_at(meta, "resourceVersion"),
            field_path: String::new(),
        },
        severity: ev.severity.as_str().to_string(),
        timestamp: Some(ev.timestamp),
        message: ev.message.clone(),
        reason: ev.reason.clone(),
        metadata,
        reporting_controller: ev.controller.name().to_string(),
        reporting_instance: instance.to_string(),
    }
}

/// The core/v1 Event the controller's Kubernetes recorder writes for `ev` (client-go
/// `tools/record`: name `<object>.<unix nanos hex>`, `source.component` = the controller,
/// the event metadata as annotations).
pub fn core_event(ev: &SimEvent, object: &Value) -> Value {
    let event_type = match ev.severity {
        Severity::Info | Severity::Trace => "Normal",
        Severity::Error => "Warning",
    };
    let e = event_v1(ev, object, "");
    let annotations: serde_json::Map<String, Value> = e
        .metadata
        .iter()
        .map(|(k, v)| (k.clone(), Value::String(v.clone())))
        .collect();
    core_event_for(
        &e.involved_object,
        event_type,
        &ev.reason,
        &ev.message,
        ev.controller.name(),
        ev.timestamp,
        annotations,
    )
}

/// A core/v1 Event about `involved` as client-go's recorder writes it.
pub fn core_event_for(
    involved: &ObjectReference,
    event_type: &str,
    reason: &str,
    message: &str,
    component: &str,
    at: Timestamp,
    annotations: serde_json::Map<String, Value>,
) -> Value {
    let nanos = at.as_nanosecond();
    let mut metadata = json!({
        "name": format!("{}.{:x}", involved.name, nanos),
        "namespace": involved.namespace,
    });
    if !annotations.is_empty() {
        metadata["annotations"] = Value::Object(annotations);
    }
    let when = format_metav1(at);
    json!({
        "apiVersion": "v1",
        "kind": "Event",
        "metadata": metadata,
        "involvedObject": involved,
        "reason": reason,
        "message": message,
        "source": {"component": component},
        "firstTimestamp": when,
        "lastTimestamp": when,
        "count": 1,
        "type": event_type,
        "eventTime": null,
        "reportingComponent": component,
        "reportingInstance": "",
    })
}

/// `metav1.Time` text: UTC, whole seconds.
pub fn format_metav1(t: Timestamp) -> String {
    t.strftime("%Y-%m-%dT%H:%M:%SZ").to_string()
}

fn str_at(v: &Value, key: &str) -> String {
    v[key].as_str().unwrap_or_default().to_string()
}

mod metav1_time {
    use super::*;

    pub fn serialize<S: Serializer>(t: &Option<Timestamp>, s: S) -> Result<S::Ok, S::Error> {
        match t {
            Some(t) => s.serialize_str(&format_metav1(*t)),
            None => s.serialize_none(),
        }
    }

    pub fn deserialize<'de, D: Deserializer<'de>>(d: D) -> Result<Option<Timestamp>, D::Error> {
        // metav1.Time accepts null and "" as the zero time, otherwise RFC 3339.
        let s: Option<String> = Option::deserialize(d)?;
        match s.as_deref() {
            None | Some("") => Ok(None),
            Some(s) => s
                .parse::<Timestamp>()
                .map(Some)
                .map_err(serde::de::Error::custom),
        }
    }
}

/// JSON as Go's `encoding/json` writes it: compact, map keys sorted (our maps are BTreeMaps),
/// and `<`, `>`, `&`, U+2028, U+2029 escaped as `\u003c` and so on. Signatures (generic-hmac)
/// are computed over these bytes.
pub fn go_json<T: Serialize>(value: &T) -> Vec<u8> {
    let mut out = Vec::with_capacity(256);
    let mut ser = serde_json::Serializer::with_formatter(&mut out, GoFormatter);
    // Serialising plain data structures into a Vec cannot fail.
    value
        .serialize(&mut ser)
        .expect("JSON serialisation into memory");
    out
}

struct GoFormatter;

impl serde_json::ser::Formatter for GoFormatter {
    fn write_string_fragment<W: ?Sized + std::io::Write>(
        &mut self,
        w: &mut W,
        fragment: &str,
    ) -> std::io::Result<()> {
        let mut start = 0;
        for (i, c) in fragment.char_indices() {
            let esc = match c {
                '<' => "\\u003c",
                '>' => "\\u003e",
                '&' => "\\u0026",
                '\u{2028}' => "\\u2028",
                '\u{2029}' => "\\u2029",
                _ => continue,
            };
            w.write_all(&fragment.as_bytes()[start..i])?;
            w.write_all(esc.as_bytes())?;
            start = i + c.len_utf8();
        }
        w.write_all(&fragment.as_bytes()[start..])
    }
}
