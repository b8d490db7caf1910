//! The Flux installation itself: its CustomResourceDefinitions (which Flux version they come
//! from, which versions they store) and the controllers' Deployments.

use std::str::FromStr;

use model::kinds::{self, KINDS};
use model::FluxVersion;
use serde_json::Value;

use crate::cluster::{CallError, Cluster};
use crate::discovery::Discovered;

const FLUX_LABEL: &str = "app.kubernetes.io%2Fpart-of%3Dflux";

async fn get_json(cluster: &Cluster, what: &str, path: &str) -> Result<Value, CallError> {
    let req = http::Request::get(path)
        .body(Vec::new())
        .map_err(|e| CallError::Api {
            code: 0,
            message: e.to_string(),
        })?;
    cluster
        .call(what, cluster.client.request::<Value>(req))
        .await
}

fn items(list: Value) -> Vec<Value> {
    match list {
        Value::Object(mut m) => match m.remove("items") {
            Some(Value::Array(a)) => a,
            _ => Vec::new(),
        },
        _ => Vec::new(),
    }
}

/// The Flux CRDs: those labelled `app.kubernetes.io/part-of=flux`, else every CRD of a Flux group.
pub async fn flux_crds(cluster: &Cluster) -> Result<Vec<Value>, CallError> {
    let base = "/apis/apiextensions.k8s.io/v1/customresourcedefinitions";
    let labelled = items(
        get_json(
            cluster,
            "list CRDs",
            &format!("{base}?labelSelector={FLUX_LABEL}"),
        )
        .await?,
    );
    if !labelled.is_empty() {
        return Ok(labelled);
    }
    let all = items(get_json(cluster, "list CRDs", base).await?);
    Ok(all
        .into_iter()
        .filter(|c| {
            let group = c
                .pointer("/spec/group")
                .and_then(Value::as_str)
                .unwrap_or("");
            KINDS.iter().any(|k| k.group == group)
        })
        .collect())
}

/// The Flux version: the CRDs' `app.kubernetes.io/version` label, else guessed from the
/// versions served.
pub fn version_of(crds: &[Value], discovered: &Discovered) -> Option<FluxVersion> {
    let list = serde_json::json!({ "items": crds });
    crate::version::version_from_crds(&list)
        .and_then(|v| FluxVersion::from_str(&v).ok())
        .or_else(|| crate::version::guess_from_served(discovered))
}

/// The Flux version of a cluster, when it can be told.
pub async fn detect_version(cluster: &Cluster, discovered: &Discovered) -> Option<FluxVersion> {
    let crds = flux_crds(cluster).await.unwrap_or_default();
    version_of(&crds, discovered)
}

/// Deployments labelled `app.kubernetes.io/part-of=flux` in `namespace`.
pub async fn flux_deployments(cluster: &Cluster, namespace: &str) -> Result<Vec<Value>, CallError> {
    let path =
        format!("/apis/apps/v1/namespaces/{namespace}/deployments?labelSelector={FLUX_LABEL}");
    Ok(items(get_json(cluster, "list Deployments", &path).await?))
}

/// Whether a Deployment is available, and why not.
pub fn deployment_problem(d: &Value) -> Option<String> {
    let available = d
        .pointer("/status/conditions")
        .and_then(Value::as_array)
        .and_then(|cs| cs.iter().find(|c| c["type"] == "Available"));
    let want = d
        .pointer("/spec/replicas")
        .and_then(Value::as_i64)
        .unwrap_or(1);
    let have = d
        .pointer("/status/availableReplicas")
        .and_then(Value::as_i64)
        .unwrap_or(0);
    if want == 0 {
        return Some("scaled to 0 replicas".into());
    }
    match available {
        Some(c) if c["status"] != "True" => Some(format!(
            "not Available ({}): {}",
            c["reason"].as_str().unwrap_or(""),
            c["message"].as_str().unwrap_or("")
        )),
        Some(_) => None,
        None if have < 1 => Some(format!("{have}/{want} replicas available")),
        None => None,
    }
}

/// What is wrong with one Flux CRD for `release`: a storage version that release deprecates
/// or no longer serves, or objects still stored at such a version.
pub fn crd_problems(crd: &Value, release: FluxVersion) -> Vec<String> {
    let kind = crd
        .pointer("/spec/names/kind")
        .and_then(Value::as_str)
        .unwrap_or("");
    let Some(info) = kinds::by_kind(kind).filter(|k| k.exists_in(release)) else {
        return Vec::new();
    };
    let preferred = info.storage_version(release).unwrap_or("");
    let served = info.served_versions(release);
    let state_of = |v: &str| {
        if info.is_deprecated_version(release, v) {
            "deprecated"
        } else if served.contains(&v) {
            "served but not stored"
        } else {
            "not served"
        }
    };
    let mut out = Vec::new();
    let storage = crd
        .pointer("/spec/versions")
        .and_then(Value::as_array)
        .and_then(|vs| vs.iter().find(|v| v["storage"] == true))
        .and_then(|v| v["name"].as_str());
    if let Some(s) = storage {
        if s != preferred {
            let state = state_of(s);
            out.push(format!(
                "stores {s}, {state} in Flux {release} (which stores {preferred}): the CRD is older than the Flux installed; upgrade the CRDs"
            ));
        }
    }
    for v in crd
        .pointer("/status/storedVersions")
        .and_then(Value::as_array)
        .into_iter()
        .flatten()
        .filter_map(Value::as_str)
    {
        if v != preferred && Some(v) != storage {
            let state = match state_of(v) {
                "not served" => "no longer served",
                other => other,
            };
            out.push(format!(
                "objects may still be stored as {v} ({state} in Flux {release}): migrate them to {preferred} (flux migrate) and drop {v} from status.storedVersions"
            ));
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn deprecated_storage_and_stored_versions() {
        let release = FluxVersion::new(2, 7);
        let crd = |storage: &str, stored: Value| {
            json!({"spec": {"names": {"kind": "HelmRelease"}, "versions": [
                {"name": "v2", "served": true, "storage": storage == "v2"},
                {"name": "v2beta2", "served": true, "storage": storage == "v2beta2"}]},
                "status": {"storedVersions": stored}})
        };
        assert!(crd_problems(&crd("v2", json!(["v2"])), release).is_empty());
        assert_eq!(
            crd_problems(&crd("v2beta2", json!(["v2beta2"])), release).len(),
            1
        );
        let p = crd_problems(&crd("v2", json!(["v2beta1", "v2"])), release);
        assert!(p[0].contains("v2beta1"), "{p:?}");
    }

    #[test]
    fn deployment_availability() {
        let ok = json!({"spec": {"replicas": 1}, "status": {"availableReplicas": 1, "conditions": [{"type": "Available", "status": "True"}]}});
        assert_eq!(deployment_problem(&ok), None);
        let down = json!({"spec": {"replicas": 1}, "status": {"conditions": [{"type": "Available", "status": "False", "reason": "MinimumReplicasUnavailable", "message": "Deployment does not have minimum availability."}]}});
        assert!(deployment_problem(&down)
            .unwrap()
            .contains("MinimumReplicasUnavailable"));
        assert!(deployment_problem(&json!({"spec": {"replicas": 0}})).is_some());
    }
}
