//! Initial objects: realistic per-kind spec defaults deep-merged with the scenario's overlay, and
//! the HelmChart that helm-controller creates for a HelmRelease's chart template.

use model::{format_go_duration, FluxObject, FluxVersion, KindInfo};
use serde_json::{json, Map, Value};

use crate::scenario::{Resource, Scenario};

/// The full initial object of a scenario resource (no status; the API server sets generation).
pub fn initial_object(scenario: &Scenario, resource: &Resource) -> Value {
    let kind = resource.kind;
    let api_version = kind
        .api_version(scenario.flux_version)
        .or_else(|| kind.api_version(FluxVersion::newest()))
        .unwrap_or_else(|| kind.group.to_string());
    let mut metadata = Map::new();
    metadata.insert("name".into(), json!(resource.name));
    metadata.insert("namespace".into(), json!(resource.namespace));
    if !resource.labels.is_empty() {
        metadata.insert("labels".into(), json!(resource.labels));
    }
    if !resource.annotations.is_empty() {
        metadata.insert("annotations".into(), json!(resource.annotations));
    }
    let mut spec = default_spec(kind, &resource.name, &resource.namespace);
    // A scenario run as another release (`--flux-version`) keeps only fields that release has.
    if !resource.interval.is_zero() && crate::scenario::has_interval(kind, scenario.flux_version) {
        spec.insert("interval".into(), json!(format_go_duration(resource.interval)));
    }
    let mut spec = Value::Object(spec);
    if kind.kind == "HelmRelease" && resource.spec.get("chartRef").is_some() {
        // chart and chartRef are mutually exclusive.
        spec.as_object_mut().expect("spec is an object").remove("chart");
    }
    if kind.kind == "Provider" && resource.spec.get("address").is_some() {
        // A Provider given its address needs no Secret holding one.
        spec.as_object_mut().expect("spec is an object").remove("secretRef");
    }
    merge(&mut spec, &resource.spec);
    if resource.suspend {
        spec["suspend"] = json!(true);
    }
    json!({ "apiVersion": api_version, "kind": kind.kind, "metadata": metadata, "spec": spec })
}

/// Keys that name one thing as a whole: an overlay replaces them instead of merging into them
/// (a `sourceRef` without `namespace` must not keep the default's namespace).
const WHOLE_KEYS: &[&str] = &[
    "sourceRef",
    "chartRef",
    "imageRepositoryRef",
    "providerRef",
    "secretRef",
    "ref",
];

/// Deep merge: objects merge key by key, anything else is replaced; `null` removes a key.
fn merge(base: &mut Value, overlay: &Value) {
    match (base, overlay) {
        (Value::Object(b), Value::Object(o)) => {
            for (k, v) in o {
                if v.is_null() {
                    b.remove(k);
                } else if WHOLE_KEYS.contains(&k.as_str()) {
                    b.insert(k.clone(), v.clone());
                } else if let Some(existing) = b.get_mut(k) {
                    merge(existing, v);
                } else {
                    b.insert(k.clone(), v.clone());
                }
            }
        }
        (b, o) => *b = o.clone(),
    }
}

/// `{kind, name}` plus `namespace` when it differs from the referring object's.
fn source_ref(kind: &str, name: &str, ns: &str, from_ns: &str) -> Value {
    if ns == from_ns {
        json!({ "kind": kind, "name": name })
    } else {
        json!({ "kind": kind, "name": name, "namespace": ns })
    }
}

fn default_spec(kind: &KindInfo, name: &str, ns: &str) -> Map<String, Value> {
    let spec = match kind.kind {
        "GitRepository" => json!({
            "url": format!("https://github.com/acme/{name}"),
            "ref": { "branch": "main" },
            "timeout": "60s",
        }),
        "HelmRepository" => json!({
            "url": if name == "podinfo" { "https://stefanprodan.github.io/podinfo".to_string() }
                   else { format!("https://charts.example.com/{name}") },
            "timeout": "60s",
        }),
        "OCIRepository" => json!({
            "url": format!("oci://ghcr.io/acme/manifests/{name}"),
            "ref": { "tag": "latest" },
            "timeout": "60s",
        }),
        "Bucket" => json!({
            "bucketName": name,
            "endpoint": "minio.minio-system.svc.cluster.local:9000",
            "provider": "generic",
            "insecure": true,
            "timeout": "60s",
        }),
        "HelmChart" => json!({
            "chart": name,
            "version": "*",
            "sourceRef": { "kind": "HelmRepository", "name": name },
            "reconcileStrategy": "ChartVersion",
        }),
        "ExternalArtifact" => json!({}),
        "ArtifactGenerator" => json!({"sources": [], "artifacts": []}),
        "ImageRepository" => json!({ "image": format!("ghcr.io/acme/{name}"), "provider": "generic" }),
        "ImagePolicy" => json!({
            "imageRepositoryRef": { "name": name },
            "policy": { "semver": { "range": ">=1.0.0" } },
        }),
        "ImageUpdateAutomation" => json!({
            "sourceRef": source_ref("GitRepository", "flux-system", "flux-system", ns),
            "git": {
                "checkout": { "ref": { "branch": "main" } },
                "commit": {
                    "author": { "name": "fluxcdbot", "email": "fluxcdbot@users.noreply.github.com" },
                    "messageTemplate": "chore: update images",
                },
                "push": { "branch": "main" },
            },
            "update": { "path": "./clusters/production", "strategy": "Setters" },
        }),
        "Kustomization" => json!({
            "path": format!("./{name}"),
            "prune": true,
            "sourceRef": source_ref("GitRepository", "flux-system", "flux-system", ns),
        }),
        "HelmRelease" => json!({
            "chart": { "spec": {
                "chart": name,
                "version": "*",
                "sourceRef": source_ref("HelmRepository", name, "flux-system", ns),
            }},
        }),
        "Alert" => json!({
            "providerRef": { "name": "slack" },
            "eventSeverity": "info",
            "eventSources": [
                { "kind": "GitRepository", "name": "*" },
                { "kind": "Kustomization", "name": "*" },
                { "kind": "HelmRelease", "name": "*" },
            ],
        }),
        "Provider" => json!({
            "type": "slack",
            "channel": "flux-alerts",
            "secretRef": { "name": format!("{name}-webhook") },
        }),
        "Receiver" => json!({
            "type": "github",
            "events": ["ping", "push"],
            "resources": [ { "kind": "GitRepository", "name": "flux-system" } ],
            "secretRef": { "name": "webhook-token" },
        }),
        _ => json!({}),
    };
    match spec {
        Value::Object(m) => m,
        _ => Map::new(),
    }
}

/// The HelmChart helm-controller creates for a HelmRelease with `spec.chart`: named
/// `<release namespace>-<release name>` in the source's namespace. `None` for `chartRef`.
pub fn helm_chart_for(release: &Value, flux_version: FluxVersion) -> Option<Value> {
    let hr = FluxObject::new(release);
    let template = release
        .pointer("/chart/spec")
        .or_else(|| release.pointer("/spec/chart/spec"))?;
    let src = template.get("sourceRef")?;
    let src_ns = src.get("namespace").and_then(Value::as_str).unwrap_or(hr.namespace());
    let kind = model::kinds::by_kind("HelmChart")?;
    let interval = template
        .get("interval")
        .cloned()
        .or_else(|| release.pointer("/spec/interval").cloned())
        .unwrap_or(json!("10m0s"));
    Some(json!({
        "apiVersion": kind.api_version(flux_version),
        "kind": "HelmChart",
        "metadata": {
            "name": format!("{}-{}", hr.namespace(), hr.name()),
            "namespace": src_ns,
            "labels": {
                "helm.toolkit.fluxcd.io/name": hr.name(),
                "helm.toolkit.fluxcd.io/namespace": hr.namespace(),
            },
        },
        "spec": {
            "chart": template.get("chart").cloned().unwrap_or(json!(hr.name())),
            "version": template.get("version").cloned().unwrap_or(json!("*")),
            "sourceRef": { "kind": src.get("kind").cloned().unwrap_or(json!("HelmRepository")),
                           "name": src.get("name").cloned().unwrap_or(Value::Null) },
            "interval": interval,
            "reconcileStrategy": template.get("reconcileStrategy").cloned().unwrap_or(json!("ChartVersion")),
        },
    }))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn merge_overlays_win_and_null_removes() {
        let mut base = json!({"a": {"b": 1, "c": 2}, "d": [1, 2], "e": true});
        merge(&mut base, &json!({"a": {"b": 9}, "d": [3], "e": null}));
        assert_eq!(base, json!({"a": {"b": 9, "c": 2}, "d": [3]}));
        let mut spec =
            json!({"sourceRef": {"kind": "GitRepository", "name": "flux-system", "namespace": "flux-system"}});
        merge(
            &mut spec,
            &json!({"sourceRef": {"kind": "GitRepository", "name": "apps"}}),
        );
        assert_eq!(spec, json!({"sourceRef": {"kind": "GitRepository", "name": "apps"}}));
    }
}
