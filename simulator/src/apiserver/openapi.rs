//! A minimal OpenAPI v3 description: enough for kubectl to see that the server validates fields
//! itself (`fieldValidation` on PATCH), so `kubectl create -f` and `kubectl apply -f` work.

use serde_json::{json, Map, Value};

use super::discovery::group_versions;
use super::types::ResourceType;

/// A stable hash of the served types, so kubectl's OpenAPI cache notices changes.
fn hash(types: &[ResourceType]) -> String {
    use std::hash::{Hash, Hasher};
    let mut hasher = std::collections::hash_map::DefaultHasher::new();
    for rt in types {
        (
            &rt.group,
            &rt.version,
            &rt.other_versions,
            &rt.plural,
            &rt.kind,
            rt.namespaced,
        )
            .hash(&mut hasher);
    }
    format!("{:016X}", hasher.finish())
}

fn group_version_path(group: &str, version: &str) -> String {
    if group.is_empty() {
        format!("api/{version}")
    } else {
        format!("apis/{group}/{version}")
    }
}

/// `/openapi/v3`: where each group version's document lives.
pub(crate) fn root(types: &[ResourceType]) -> Value {
    let hash = hash(types);
    let mut paths = Map::new();
    let mut groups: Vec<&str> = Vec::new();
    for rt in types {
        if !groups.contains(&rt.group.as_str()) {
            groups.push(&rt.group);
        }
    }
    for group in groups {
        for version in group_versions(types, group) {
            let path = group_version_path(group, &version);
            paths.insert(
                path.clone(),
                json!({"serverRelativeURL": format!("/openapi/v3/{path}?hash={hash}")}),
            );
        }
    }
    json!({"paths": paths})
}

fn schema_name(rt: &ResourceType, version: &str) -> String {
    let reversed: Vec<&str> = rt.group.split('.').rev().collect();
    let prefix = if rt.group.is_empty() {
        "io.k8s.api.core".to_string()
    } else {
        reversed.join(".")
    };
    format!("{prefix}.{version}.{}", rt.kind)
}

/// `/openapi/v3/apis/{group}/{version}` (or `/openapi/v3/api/v1`), if served.
pub(crate) fn group_version(types: &[ResourceType], group: &str, version: &str) -> Option<Value> {
    let served: Vec<&ResourceType> = types
        .iter()
        .filter(|t| t.group == group && t.serves(version))
        .collect();
    if served.is_empty() {
        return None;
    }
    let mut paths = Map::new();
    let mut schemas = Map::new();
    for rt in served {
        let gvk = json!({"group": rt.group, "version": version, "kind": rt.kind});
        let name = schema_name(rt, version);
        let reference = json!({"$ref": format!("#/components/schemas/{name}")});
        let query = |names: &[&str]| -> Vec<Value> {
            names.iter().map(|n| json!({"name": n, "in": "query", "schema": {"type": "string", "uniqueItems": true}})).collect()
        };
        let operation = |action: &str, params: &[&str], body: &[&str]| {
            let mut op = json!({
                "operationId": format!("{action}{}", rt.kind),
                "parameters": query(params),
                "responses": {"200": {"description": "OK", "content": {"application/json": {"schema": reference}}}},
                "x-kubernetes-action": action,
                "x-kubernetes-group-version-kind": gvk,
            });
            if !body.is_empty() {
                let content: Map<String, Value> = body
                    .iter()
                    .map(|b| (b.to_string(), json!({"schema": {"type": "object"}})))
                    .collect();
                op["requestBody"] = json!({"content": content, "required": true});
            }
            op
        };
        let write_params = ["dryRun", "fieldManager", "fieldValidation"];
        let patch_params = ["dryRun", "fieldManager", "fieldValidation", "force"];
        let patch_types = [
            "application/json-patch+json",
            "application/merge-patch+json",
            "application/apply-patch+yaml",
        ];
        let base = format!("/{}", group_version_path(group, version));
        let collection = if rt.namespaced {
            format!("{base}/namespaces/{{namespace}}/{}", rt.plural)
        } else {
            format!("{base}/{}", rt.plural)
        };
        paths.insert(
            collection.clone(),
            json!({
                "get": operation("list", &["labelSelector", "fieldSelector", "limit", "continue", "watch"], &[]),
                "post": operation("post", &write_params, &["application/json"]),
            }),
        );
        let object = json!({
            "get": operation("get", &[], &[]),
            "put": operation("put", &write_params, &["application/json"]),
            "patch": operation("patch", &patch_params, &patch_types),
            "delete": operation("delete", &["dryRun"], &[]),
        });
        paths.insert(format!("{collection}/{{name}}"), object);
        if rt.status_subresource {
            paths.insert(
                format!("{collection}/{{name}}/status"),
                json!({"get": operation("get", &[], &[]), "patch": operation("patch", &patch_params, &patch_types)}),
            );
        }
        schemas.insert(
            name,
            json!({
                "type": "object",
                "properties": {
                    "apiVersion": {"type": "string"},
                    "kind": {"type": "string"},
                    "metadata": {"type": "object"},
                    "spec": {"type": "object", "x-kubernetes-preserve-unknown-fields": true},
                    "status": {"type": "object", "x-kubernetes-preserve-unknown-fields": true},
                },
                "x-kubernetes-group-version-kind": [gvk],
            }),
        );
    }
    Some(json!({
        "openapi": "3.0.0",
        "info": {"title": "Kubernetes", "version": "v1.33.1"},
        "paths": paths,
        "components": {"schemas": schemas},
    }))
}
