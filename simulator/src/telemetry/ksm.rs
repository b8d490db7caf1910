//! kube-state-metrics with flux2-monitoring-example's custom-resource-state config: one
//! `gotk_resource_info` series (value 1) per Flux object, computed from the objects at scrape time.
//!
//! Sources: fluxcd/flux2-monitoring-example
//! monitoring/controllers/kube-prometheus-stack/kube-state-metrics-config.yaml (labels and paths),
//! kubernetes/kube-state-metrics pkg/customresourcestate/registry_factory.go (customresource_*
//! labels, a path that resolves to nothing adds no label, values printed with `%v`, label names
//! sorted) and pkg/metrics_store/metrics_writer.go (`info` written as `gauge` in text format,
//! one header per family).

use std::collections::BTreeMap;

use model::metrics::{self as catalog, resource_info_has_ready, resource_info_labels};
use model::{FluxObject, FluxVersion};
use serde_json::Value;

use super::exposition::Family;

/// (group, namespace, name, kind): the order kube-state-metrics' writers list objects in, near
/// enough; the kind only orders objects of one group that share a name.
type Key = (String, String, String, &'static str);
type Labels = Vec<(&'static str, String)>;

/// `gotk_resource_info` for every object of a kind the config lists. The config pins a version
/// per kind; the simulator uses the version the scenario's Flux release prefers, as a config kept
/// in step with the installation does.
pub fn resource_info<'a>(objects: impl IntoIterator<Item = &'a Value>, version: FluxVersion) -> Family {
    let mut rows: Vec<(Key, Labels)> = Vec::new();
    for o in objects {
        let view = FluxObject::new(o);
        let Some(info) = view.info() else { continue };
        if !catalog::resource_info_covers(info.kind) {
            continue;
        }
        let Some(api_version) = info.preferred_version(version) else {
            continue;
        };
        let mut labels: BTreeMap<&'static str, String> = BTreeMap::new();
        labels.insert("customresource_group", info.group.to_string());
        labels.insert("customresource_kind", info.kind.to_string());
        labels.insert("customresource_version", api_version.to_string());
        labels.insert("name", view.name().to_string());
        labels.insert("exported_namespace", view.namespace().to_string());
        if let Some(s) = o.pointer("/spec/suspend").and_then(go_value) {
            labels.insert("suspended", s);
        }
        if resource_info_has_ready(info.kind) {
            if let Some(ready) = view.ready() {
                labels.insert("ready", ready.status);
            }
        }
        for (label, path) in resource_info_labels(info.kind) {
            if let Some(v) = o.pointer(path).and_then(go_value) {
                labels.insert(label, v);
            }
        }
        let key = (
            info.group.to_string(),
            view.namespace().to_string(),
            view.name().to_string(),
            info.kind,
        );
        rows.push((key, labels.into_iter().collect()));
    }
    rows.sort_by(|a, b| a.0.cmp(&b.0));
    let mut family = Family::new(catalog::get(catalog::RESOURCE_INFO));
    for (_, labels) in rows {
        family.push(labels, 1.0);
    }
    family
}

/// A JSON value as Go's `fmt.Sprintf("%v", v)` prints the unstructured value; null is no label.
fn go_value(v: &Value) -> Option<String> {
    match v {
        Value::Null => None,
        Value::String(s) => Some(s.clone()),
        Value::Bool(b) => Some(b.to_string()),
        Value::Number(n) => Some(n.to_string()),
        // Maps and lists print in Go syntax; no path of the config points at one.
        other => Some(other.to_string()),
    }
}
