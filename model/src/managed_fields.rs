//! Times read from `metadata.managedFields`: when `spec.suspend` was last written and when the
//! spec last changed, as a real API server records them per field manager.

use jiff::Timestamp;
use serde_json::Value;

/// Entries that write the object itself (not its status subresource), with their times.
fn spec_entries(obj: &Value) -> impl Iterator<Item = (&Value, Timestamp)> {
    obj.pointer("/metadata/managedFields")
        .and_then(Value::as_array)
        .into_iter()
        .flatten()
        .filter(|e| {
            e.get("subresource")
                .and_then(Value::as_str)
                .is_none_or(|s| s.is_empty())
        })
        .filter_map(|e| {
            let time = e.get("time").and_then(Value::as_str)?.parse().ok()?;
            Some((e, time))
        })
}

/// When `spec.suspend` was last written: the newest managedFields entry whose `fieldsV1`
/// owns `f:spec.f:suspend`.
pub fn suspended_at(obj: &Value) -> Option<Timestamp> {
    spec_entries(obj)
        .filter(|(e, _)| e.pointer("/fieldsV1/f:spec/f:suspend").is_some())
        .map(|(_, t)| t)
        .max()
}

/// When the spec last changed: the newest managedFields entry (outside the status
/// subresource) whose `fieldsV1` owns anything under `f:spec`.
pub fn spec_changed_at(obj: &Value) -> Option<Timestamp> {
    spec_entries(obj)
        .filter(|(e, _)| e.pointer("/fieldsV1/f:spec").is_some())
        .map(|(_, t)| t)
        .max()
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn obj() -> Value {
        json!({"metadata": {"managedFields": [
            {"manager": "kubectl-client-side-apply", "operation": "Update", "time": "2025-01-01T08:00:00Z",
             "fieldsType": "FieldsV1", "fieldsV1": {"f:spec": {"f:interval": {}, "f:url": {}}}},
            {"manager": "kubectl-patch", "operation": "Update", "time": "2025-01-01T09:00:00Z",
             "fieldsType": "FieldsV1", "fieldsV1": {"f:spec": {"f:suspend": {}}}},
            {"manager": "source-controller", "operation": "Update", "subresource": "status",
             "time": "2025-01-01T11:00:00Z", "fieldsType": "FieldsV1", "fieldsV1": {"f:status": {}}}
        ]}})
    }

    #[test]
    fn reads_suspend_and_spec_times() {
        let o = obj();
        assert_eq!(
            suspended_at(&o).unwrap().to_string(),
            "2025-01-01T09:00:00Z"
        );
        assert_eq!(
            spec_changed_at(&o).unwrap().to_string(),
            "2025-01-01T09:00:00Z"
        );
        assert_eq!(suspended_at(&json!({"metadata": {}})), None);
    }
}
