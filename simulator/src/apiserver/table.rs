//! meta.k8s.io/v1 Table responses, built the way the API server builds them for custom resources.

use serde_json::{json, Map, Value};

use super::jsonpath::JsonPath;
use super::types::{PrinterColumn, ResourceType};

/// What each Table row carries as `object` (the `includeObject` query parameter).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum IncludeObject {
    None,
    Metadata,
    Object,
}

impl IncludeObject {
    pub(crate) fn parse(value: Option<&str>) -> IncludeObject {
        match value {
            Some("None") => IncludeObject::None,
            Some("Object") => IncludeObject::Object,
            _ => IncludeObject::Metadata,
        }
    }
}

const NAME_DESCRIPTION: &str = "Name must be unique within a namespace. Is required when creating resources, although some resources may allow a client to request the generation of an appropriate name automatically. Name is primarily intended for creation idempotence and configuration definition. Cannot be updated. More info: https://kubernetes.io/docs/concepts/overview/working-with-objects/names#names";

/// Renders objects of one type as Table rows.
pub(crate) struct TableBuilder {
    columns: Vec<(PrinterColumn, Option<JsonPath>)>,
    include: IncludeObject,
}

impl TableBuilder {
    pub(crate) fn new(rt: &ResourceType, include: IncludeObject) -> TableBuilder {
        let columns = rt
            .table_columns()
            .into_iter()
            .map(|c| {
                let path = JsonPath::parse(&c.json_path).ok();
                (c, path)
            })
            .collect();
        TableBuilder { columns, include }
    }

    pub(crate) fn column_definitions(&self) -> Value {
        let mut defs = vec![
            json!({"name": "Name", "type": "string", "format": "name", "description": NAME_DESCRIPTION, "priority": 0}),
        ];
        defs.extend(self.columns.iter().map(|(c, _)| {
            json!({"name": c.name, "type": c.type_, "format": "", "description": c.description, "priority": c.priority})
        }));
        Value::Array(defs)
    }

    /// One row; `object` is already at the requested version.
    pub(crate) fn row(&self, object: &Value) -> Value {
        let now = jiff::Timestamp::now();
        let mut cells = vec![object
            .pointer("/metadata/name")
            .cloned()
            .unwrap_or(Value::Null)];
        for (column, path) in &self.columns {
            let found = path.as_ref().and_then(|p| p.first(object));
            cells.push(found.map_or(Value::Null, |v| cell(&column.type_, v, now)));
        }
        let mut row = json!({"cells": cells});
        match self.include {
            IncludeObject::None => {}
            IncludeObject::Metadata => row["object"] = partial_metadata(object),
            IncludeObject::Object => row["object"] = object.clone(),
        }
        row
    }

    /// A Table of `rows`; watch events after the first leave the column definitions out.
    pub(crate) fn table(&self, rows: Vec<Value>, metadata: Value, with_columns: bool) -> Value {
        let columns = if with_columns {
            self.column_definitions()
        } else {
            json!([])
        };
        json!({
            "kind": "Table",
            "apiVersion": "meta.k8s.io/v1",
            "metadata": metadata,
            "columnDefinitions": columns,
            "rows": rows,
        })
    }
}

/// The object reduced to a meta.k8s.io/v1 PartialObjectMetadata (managedFields left out).
pub(crate) fn partial_metadata(object: &Value) -> Value {
    let mut metadata = object.get("metadata").cloned().unwrap_or_else(|| json!({}));
    if let Some(meta) = metadata.as_object_mut() {
        meta.remove("managedFields");
    }
    json!({"kind": "PartialObjectMetadata", "apiVersion": "meta.k8s.io/v1", "metadata": metadata})
}

/// The object as a PartialObjectMetadata that keeps managedFields (for `as=PartialObjectMetadata`).
pub(crate) fn object_metadata(object: &Value) -> Value {
    let metadata = object
        .get("metadata")
        .cloned()
        .unwrap_or_else(|| Value::Object(Map::new()));
    json!({"kind": "PartialObjectMetadata", "apiVersion": "meta.k8s.io/v1", "metadata": metadata})
}

fn cell(type_: &str, value: &Value, now: jiff::Timestamp) -> Value {
    match type_ {
        "date" => match value.as_str().map(str::parse::<jiff::Timestamp>) {
            Some(Ok(t)) => json!(human_duration(now.as_second() - t.as_second())),
            _ => json!("<invalid>"),
        },
        "integer" => match value {
            Value::Number(n) => n
                .as_i64()
                .map_or_else(|| json!(n.as_f64().unwrap_or(0.0) as i64), |i| json!(i)),
            Value::String(s) => s.parse::<i64>().map_or(Value::Null, |i| json!(i)),
            _ => Value::Null,
        },
        "number" => match value {
            Value::Number(_) => value.clone(),
            Value::String(s) => s.parse::<f64>().map_or(Value::Null, |f| json!(f)),
            _ => Value::Null,
        },
        "boolean" => match value {
            Value::Bool(_) => value.clone(),
            Value::String(s) => s.parse::<bool>().map_or(Value::Null, |b| json!(b)),
            _ => Value::Null,
        },
        _ => match value {
            Value::String(s) => json!(s),
            Value::Null => Value::Null,
            other => json!(other.to_string()),
        },
    }
}

/// How long ago, in kubectl's words (`5s`, `3m20s`, `4h`, `2d3h`), as apimachinery's HumanDuration.
pub(crate) fn human_duration(seconds: i64) -> String {
    if seconds < -1 {
        return "<invalid>".to_string();
    }
    if seconds < 0 {
        return "0s".to_string();
    }
    if seconds < 120 {
        return format!("{seconds}s");
    }
    let minutes = seconds / 60;
    if minutes < 10 {
        let s = seconds % 60;
        return if s == 0 {
            format!("{minutes}m")
        } else {
            format!("{minutes}m{s}s")
        };
    }
    if minutes < 180 {
        return format!("{minutes}m");
    }
    let hours = seconds / 3600;
    if hours < 8 {
        let m = minutes % 60;
        return if m == 0 {
            format!("{hours}h")
        } else {
            format!("{hours}h{m}m")
        };
    }
    if hours < 48 {
        return format!("{hours}h");
    }
    if hours < 24 * 8 {
        let h = hours % 24;
        return if h == 0 {
            format!("{}d", hours / 24)
        } else {
            format!("{}d{h}h", hours / 24)
        };
    }
    if hours < 24 * 365 * 2 {
        return format!("{}d", hours / 24);
    }
    if hours < 24 * 365 * 8 {
        let days = (hours / 24) % 365;
        return if days == 0 {
            format!("{}y", hours / 24 / 365)
        } else {
            format!("{}y{days}d", hours / 24 / 365)
        };
    }
    format!("{}y", hours / 24 / 365)
}

#[cfg(test)]
mod tests {
    use super::human_duration;

    #[test]
    fn durations_read_like_kubectl() {
        assert_eq!(human_duration(5), "5s");
        assert_eq!(human_duration(119), "119s");
        assert_eq!(human_duration(200), "3m20s");
        assert_eq!(human_duration(600), "10m");
        assert_eq!(human_duration(4 * 3600 + 60), "4h1m");
        assert_eq!(human_duration(10 * 3600), "10h");
        assert_eq!(human_duration(3 * 86400 + 3600), "3d1h");
        assert_eq!(human_duration(30 * 86400), "30d");
    }
}
