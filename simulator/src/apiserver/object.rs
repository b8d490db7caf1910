//! Object metadata rules shared by every write: names, timestamps, uids, sections and generations.

use serde_json::{json, Map, Value};

use super::error::ApiError;
use super::types::ResourceType;

/// Now, as the API server writes times: RFC 3339 in UTC with second precision.
pub(crate) fn now_rfc3339() -> String {
    jiff::Timestamp::now()
        .strftime("%Y-%m-%dT%H:%M:%SZ")
        .to_string()
}

/// A random (version 4) UID.
pub(crate) fn new_uid() -> String {
    let bits: u128 =
        rand::random::<u128>() & !(0xf << 76) & !(0x3 << 62) | (0x4 << 76) | (0x2 << 62);
    let hex = format!("{bits:032x}");
    format!(
        "{}-{}-{}-{}-{}",
        &hex[0..8],
        &hex[8..12],
        &hex[12..16],
        &hex[16..20],
        &hex[20..32]
    )
}

/// The 5-character suffix `generateName` gets.
pub(crate) fn random_suffix() -> String {
    const ALPHABET: &[u8] = b"bcdfghjklmnpqrstvwxz2456789";
    (0..5)
        .map(|_| ALPHABET[rand::random_range(0..ALPHABET.len())] as char)
        .collect()
}

/// Metadata fields only the server sets; client writes cannot change them.
pub(crate) const SERVER_METADATA: &[&str] = &[
    "name",
    "namespace",
    "uid",
    "creationTimestamp",
    "generation",
    "resourceVersion",
    "managedFields",
    "deletionTimestamp",
];

pub(crate) fn str_at<'v>(object: &'v Value, pointer: &str) -> Option<&'v str> {
    object.pointer(pointer).and_then(Value::as_str)
}

pub(crate) fn meta_mut(object: &mut Value) -> &mut Map<String, Value> {
    if !object.get("metadata").is_some_and(Value::is_object) {
        object["metadata"] = json!({});
    }
    object["metadata"]
        .as_object_mut()
        .expect("metadata is an object")
}

/// Whether the type keeps `metadata.generation` (Namespaces and Events do not).
pub(crate) fn has_generation(rt: &ResourceType) -> bool {
    !((rt.group.is_empty() && rt.plural == "namespaces") || rt.kind == "Event")
}

/// Whether the change from `old` to `new` is a spec change (anything but metadata, and status when
/// status is a subresource), which bumps `metadata.generation`.
pub(crate) fn spec_changed(rt: &ResourceType, old: &Value, new: &Value) -> bool {
    let empty = Map::new();
    let (a, b) = (
        old.as_object().unwrap_or(&empty),
        new.as_object().unwrap_or(&empty),
    );
    let skip = |k: &str| k == "metadata" || (rt.status_subresource && k == "status");
    let differs = |x: &Map<String, Value>, y: &Map<String, Value>| {
        x.iter()
            .filter(|(k, _)| !skip(k))
            .any(|(k, v)| y.get(k) != Some(v))
    };
    differs(a, b) || differs(b, a)
}

/// Checks `apiVersion` and `kind` of a written object against the type; 422 when they differ.
pub(crate) fn check_kind(rt: &ResourceType, object: &Value, version: &str) -> Result<(), ApiError> {
    let name = str_at(object, "/metadata/name").unwrap_or_default();
    if !object.is_object() {
        return Err(ApiError::bad_request(
            "the body of the request must be a JSON object",
        ));
    }
    let kind = object
        .get("kind")
        .and_then(Value::as_str)
        .unwrap_or_default();
    if kind != rt.kind {
        return Err(ApiError::invalid(
            &rt.group,
            &rt.kind,
            name,
            "kind",
            "FieldValueInvalid",
            format!("Invalid value: {kind:?}: must be {}", rt.kind),
        ));
    }
    let api_version = object
        .get("apiVersion")
        .and_then(Value::as_str)
        .unwrap_or_default();
    if !rt.serves_api_version(api_version) {
        return Err(ApiError::invalid(
            &rt.group,
            &rt.kind,
            name,
            "apiVersion",
            "FieldValueInvalid",
            format!(
                "Invalid value: {api_version:?}: must be {}",
                rt.api_version_for(version)
            ),
        ));
    }
    Ok(())
}

/// Validates `metadata.name` like the API server: an RFC 1123 subdomain (a label for Namespaces).
pub(crate) fn check_name(rt: &ResourceType, name: &str) -> Result<(), ApiError> {
    let invalid = |message: String| {
        ApiError::invalid(
            &rt.group,
            &rt.kind,
            name,
            "metadata.name",
            "FieldValueInvalid",
            message,
        )
    };
    if name.is_empty() {
        return Err(ApiError::invalid(
            &rt.group,
            &rt.kind,
            name,
            "metadata.name",
            "FieldValueRequired",
            "Required value: name or generateName is required".to_string(),
        ));
    }
    let label_ok = |l: &str| {
        !l.is_empty()
            && l.chars()
                .all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || c == '-')
            && !l.starts_with('-')
            && !l.ends_with('-')
    };
    if rt.group.is_empty() && rt.plural == "namespaces" {
        if !label_ok(name) || name.len() > 63 {
            return Err(invalid(format!(
                "Invalid value: {name:?}: a lowercase RFC 1123 label must consist of lower case alphanumeric characters or '-', and must start and end with an alphanumeric character (e.g. 'my-name',  or '123-abc', regex used for validation is '[a-z0-9]([-a-z0-9]*[a-z0-9])?')"
            )));
        }
    } else if !name.split('.').all(label_ok) || name.len() > 253 {
        return Err(invalid(format!(
            "Invalid value: {name:?}: a lowercase RFC 1123 subdomain must consist of lower case alphanumeric characters, '-' or '.', and must start and end with an alphanumeric character (e.g. 'example.com', regex used for validation is '[a-z0-9]([-a-z0-9]*[a-z0-9])?(\\.[a-z0-9]([-a-z0-9]*[a-z0-9])?)*')"
        )));
    }
    Ok(())
}

/// The object as served at `version`: only `apiVersion` differs between served versions.
pub(crate) fn at_version(object: &Value, rt: &ResourceType, version: &str) -> Value {
    let mut object = object.clone();
    if version != rt.version {
        object["apiVersion"] = json!(rt.api_version_for(version));
    }
    object
}
