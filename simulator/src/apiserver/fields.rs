//! managedFields bookkeeping: which manager last set which field, in the FieldsV1 form.

use std::collections::{BTreeMap, BTreeSet};

use serde_json::{json, Map, Value};

/// A field path in FieldsV1 tokens: `f:spec`, `k:{"type":"Ready"}`, `.`.
pub(crate) type FieldPath = Vec<String>;

/// One `metadata.managedFields[]` entry.
#[derive(Clone, Debug)]
pub(crate) struct ManagedEntry {
    pub manager: String,
    pub operation: String,
    pub api_version: String,
    pub time: String,
    pub subresource: Option<String>,
    pub fields: BTreeSet<FieldPath>,
}

/// Who writes, and how, for managedFields.
#[derive(Clone, Debug)]
pub(crate) struct Writer<'a> {
    pub manager: &'a str,
    /// `Update` or `Apply`.
    pub operation: &'a str,
    pub subresource: Option<&'a str>,
    pub api_version: &'a str,
    pub time: &'a str,
}

/// Metadata fields the server owns; they never appear in managedFields.
const SYSTEM_METADATA: &[&str] = &[
    "name",
    "namespace",
    "uid",
    "resourceVersion",
    "generation",
    "creationTimestamp",
    "managedFields",
    "deletionTimestamp",
    "selfLink",
];

static NULL: Value = Value::Null;

/// Every leaf field of an object with its value, skipping what the server owns.
pub(crate) fn leaves(object: &Value) -> BTreeMap<FieldPath, &Value> {
    let mut out = BTreeMap::new();
    if let Some(map) = object.as_object() {
        for (key, value) in map {
            match key.as_str() {
                "apiVersion" | "kind" => {}
                "metadata" => {
                    if let Some(meta) = value.as_object() {
                        for (mkey, mvalue) in meta
                            .iter()
                            .filter(|(k, _)| !SYSTEM_METADATA.contains(&k.as_str()))
                        {
                            collect(
                                mvalue,
                                vec!["f:metadata".to_string(), format!("f:{mkey}")],
                                &mut out,
                            );
                        }
                    }
                }
                _ => collect(value, vec![format!("f:{key}")], &mut out),
            }
        }
    }
    out
}

fn collect<'v>(value: &'v Value, path: FieldPath, out: &mut BTreeMap<FieldPath, &'v Value>) {
    match value {
        Value::Object(map) if !map.is_empty() => {
            for (key, child) in map {
                let mut p = path.clone();
                p.push(format!("f:{key}"));
                collect(child, p, out);
            }
        }
        Value::Array(items) if list_key(items).is_some() => {
            let key = list_key(items).unwrap_or_default();
            for item in items {
                let mut p = path.clone();
                let mut merge_key = Map::new();
                merge_key.insert(key.to_string(), item[key].clone());
                p.push(format!("k:{}", Value::Object(merge_key)));
                let mut dot = p.clone();
                dot.push(".".to_string());
                out.insert(dot, &NULL);
                collect(item, p, out);
            }
        }
        _ => {
            out.insert(path, value);
        }
    }
}

/// The merge key of a list of objects (`type` for conditions, `name` for most others), if it has one.
fn list_key(items: &[Value]) -> Option<&'static str> {
    if items.is_empty() {
        return None;
    }
    ["type", "name"].into_iter().find(|key| {
        let mut seen = BTreeSet::new();
        items.iter().all(|i| {
            i.get(*key)
                .is_some_and(|k| k.is_string() && seen.insert(k.to_string()))
        })
    })
}

/// Records a write from `old` to `new` in `entries`: changed fields move to the writer's entry,
/// removed fields leave every entry. For Apply, `applied` (the fields of the applied configuration)
/// is what the writer owns afterwards.
pub(crate) fn record(
    entries: &mut Vec<ManagedEntry>,
    old: Option<&Value>,
    new: &Value,
    writer: &Writer,
    applied: Option<BTreeSet<FieldPath>>,
) {
    let empty = Value::Null;
    let old_leaves = leaves(old.unwrap_or(&empty));
    let new_leaves = leaves(new);
    let changed: BTreeSet<FieldPath> = new_leaves
        .iter()
        .filter(|(path, value)| old_leaves.get(*path) != Some(*value))
        .map(|(path, _)| path.clone())
        .collect();
    let removed: BTreeSet<&FieldPath> = old_leaves
        .keys()
        .filter(|p| !new_leaves.contains_key(*p))
        .collect();
    let taken = match &applied {
        Some(applied) => applied
            .iter()
            .filter(|p| new_leaves.contains_key(*p))
            .cloned()
            .collect(),
        None => changed,
    };
    if taken.is_empty() && removed.is_empty() {
        return;
    }
    let is_writer = |e: &ManagedEntry| {
        e.manager == writer.manager
            && e.operation == writer.operation
            && e.subresource.as_deref() == writer.subresource
    };
    for entry in entries.iter_mut() {
        let own = is_writer(entry);
        entry
            .fields
            .retain(|p| !removed.contains(p) && (own || !taken.contains(p)));
    }
    if !taken.is_empty() {
        let index = match entries.iter().position(is_writer) {
            Some(index) => index,
            None => {
                entries.push(ManagedEntry {
                    manager: writer.manager.to_string(),
                    operation: writer.operation.to_string(),
                    api_version: String::new(),
                    time: String::new(),
                    subresource: writer.subresource.map(str::to_string),
                    fields: BTreeSet::new(),
                });
                entries.len() - 1
            }
        };
        let entry = &mut entries[index];
        if applied.is_some() {
            entry.fields.clear();
        }
        entry.fields.extend(taken);
        entry.api_version = writer.api_version.to_string();
        entry.time = writer.time.to_string();
    }
    entries.retain(|e| !e.fields.is_empty());
}

/// The fields an applied configuration sets.
pub(crate) fn applied_fields(config: &Value) -> BTreeSet<FieldPath> {
    leaves(config).into_keys().collect()
}

/// `metadata.managedFields` as JSON.
pub(crate) fn render(entries: &[ManagedEntry]) -> Value {
    Value::Array(
        entries
            .iter()
            .map(|e| {
                let mut tree = Map::new();
                for path in &e.fields {
                    let mut node = &mut tree;
                    for token in path {
                        node = node
                            .entry(token.clone())
                            .or_insert_with(|| Value::Object(Map::new()))
                            .as_object_mut()
                            .expect("field tree nodes are objects");
                    }
                }
                let mut entry = json!({
                    "manager": e.manager,
                    "operation": e.operation,
                    "apiVersion": e.api_version,
                    "time": e.time,
                    "fieldsType": "FieldsV1",
                    "fieldsV1": Value::Object(tree),
                });
                if let Some(sub) = &e.subresource {
                    entry["subresource"] = json!(sub);
                }
                entry
            })
            .collect(),
    )
}

/// Reads `metadata.managedFields` back (for objects restored with their history).
pub(crate) fn parse(managed_fields: Option<&Value>) -> Vec<ManagedEntry> {
    fn walk(node: &Value, path: &mut FieldPath, out: &mut BTreeSet<FieldPath>) {
        match node.as_object() {
            Some(children) if !children.is_empty() => {
                for (token, child) in children {
                    path.push(token.clone());
                    walk(child, path, out);
                    path.pop();
                }
            }
            _ if !path.is_empty() => {
                out.insert(path.clone());
            }
            _ => {}
        }
    }
    let text = |e: &Value, key: &str| {
        e.get(key)
            .and_then(Value::as_str)
            .unwrap_or_default()
            .to_string()
    };
    managed_fields
        .and_then(Value::as_array)
        .map(|entries| {
            entries
                .iter()
                .map(|e| {
                    let mut fields = BTreeSet::new();
                    walk(
                        e.get("fieldsV1").unwrap_or(&Value::Null),
                        &mut Vec::new(),
                        &mut fields,
                    );
                    ManagedEntry {
                        manager: text(e, "manager"),
                        operation: text(e, "operation"),
                        api_version: text(e, "apiVersion"),
                        time: text(e, "time"),
                        subresource: e
                            .get("subresource")
                            .and_then(Value::as_str)
                            .map(str::to_string),
                        fields,
                    }
                })
                .filter(|e| !e.fields.is_empty())
                .collect()
        })
        .unwrap_or_default()
}

/// Removes the field at `path` from an object (a `.` token removes the list item it follows).
pub(crate) fn remove(value: &mut Value, path: &[String]) {
    let Some((token, rest)) = path.split_first() else {
        return;
    };
    let dot = rest.len() == 1 && rest[0] == ".";
    if let Some(key) = token.strip_prefix("f:") {
        let Some(map) = value.as_object_mut() else {
            return;
        };
        if rest.is_empty() {
            map.remove(key);
        } else if let Some(child) = map.get_mut(key) {
            remove(child, rest);
        }
    } else if let Some(merge_key) = token.strip_prefix("k:") {
        let (Ok(Value::Object(wanted)), Some(items)) = (
            serde_json::from_str::<Value>(merge_key),
            value.as_array_mut(),
        ) else {
            return;
        };
        let matches = |item: &Value| wanted.iter().all(|(k, v)| item.get(k) == Some(v));
        if rest.is_empty() || dot {
            items.retain(|item| !matches(item));
        } else if let Some(item) = items.iter_mut().find(|item| matches(item)) {
            remove(item, rest);
        }
    }
}
