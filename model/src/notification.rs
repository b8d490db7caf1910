//! notification-controller's rules for Alerts and Providers (v1beta3): the Provider types it
//! knows, which event severities an Alert passes, and which objects its eventSources match.

use std::sync::LazyLock;

use serde_json::Value;

use crate::catalog;
use crate::version::FluxVersion;

/// Every Provider type some known release of notification-controller accepts.
pub static PROVIDER_TYPES: LazyLock<Vec<&'static str>> = LazyLock::new(|| {
    let mut all: Vec<&'static str> = Vec::new();
    for (_, types) in catalog::DATA_FILE.provider_types.entries() {
        all.extend(
            types
                .iter()
                .map(String::as_str)
                .filter(|t| !all.contains(t))
                .collect::<Vec<_>>(),
        );
    }
    all
});

/// The Provider types notification-controller of `release` accepts (its CRD's enum).
pub fn provider_types(release: FluxVersion) -> Vec<&'static str> {
    catalog::DATA_FILE
        .provider_types
        .all_at(release)
        .flatten()
        .map(String::as_str)
        .collect()
}

/// The first known release whose notification-controller accepts `type_`.
pub fn provider_type_since(type_: &str) -> Option<FluxVersion> {
    FluxVersion::all()
        .into_iter()
        .find(|r| provider_types(*r).contains(&type_))
}

/// The kinds an Alert's `eventSources[].kind` may name in `release` (the Alert CRD's enum; a
/// cluster may patch it for third-party kinds, as Flux documents for tf-controller).
pub fn alert_event_source_kinds(release: FluxVersion) -> Vec<&'static str> {
    catalog::DATA_FILE
        .alert_event_source_kinds
        .all_at(release)
        .flatten()
        .map(String::as_str)
        .collect()
}

/// Provider types that work without an address (notification-controller supplies a default
/// endpoint or uses credentials only).
pub fn provider_needs_address(type_: &str) -> bool {
    !matches!(type_, "telegram" | "googlepubsub")
}

/// Whether an Alert of `alert_severity` (None = default info) passes an event of `event_severity`:
/// `info` passes every event, `error` only errors.
pub fn passes_severity(alert_severity: Option<&str>, event_severity: &str) -> bool {
    match alert_severity.unwrap_or("info") {
        "info" => true,
        "error" => event_severity == "error",
        _ => false,
    }
}

fn str_at<'a>(v: &'a Value, pointer: &str) -> Option<&'a str> {
    v.pointer(pointer).and_then(Value::as_str)
}

/// Whether one `eventSources[]` entry of an Alert in `alert_namespace` matches an object:
/// kind exactly, namespace (default the Alert's) exactly, name `*` or exactly (no globbing);
/// with name `*`, `matchLabels` must all equal the object's labels.
pub fn source_matches(source: &Value, alert_namespace: &str, obj: &Value) -> bool {
    let kind = str_at(source, "/kind").unwrap_or("");
    let name = str_at(source, "/name").unwrap_or("");
    let namespace = str_at(source, "/namespace")
        .filter(|n| !n.is_empty())
        .unwrap_or(alert_namespace);
    if str_at(obj, "/kind") != Some(kind) || str_at(obj, "/metadata/namespace") != Some(namespace) {
        return false;
    }
    if name != "*" {
        return str_at(obj, "/metadata/name") == Some(name);
    }
    let labels = obj.pointer("/metadata/labels");
    source
        .get("matchLabels")
        .and_then(Value::as_object)
        .is_none_or(|want| {
            want.iter()
                .all(|(k, v)| labels.and_then(|l| l.get(k)) == Some(v))
        })
}

/// Whether a (not suspended) Alert would pass an event of `severity` about `obj`, before its
/// inclusion/exclusion lists are applied to the message.
pub fn alert_matches(alert: &Value, obj: &Value, severity: &str) -> bool {
    if alert
        .pointer("/spec/suspend")
        .and_then(Value::as_bool)
        .unwrap_or(false)
    {
        return false;
    }
    if !passes_severity(str_at(alert, "/spec/eventSeverity"), severity) {
        return false;
    }
    let ns = str_at(alert, "/metadata/namespace").unwrap_or("");
    alert
        .pointer("/spec/eventSources")
        .and_then(Value::as_array)
        .is_some_and(|sources| sources.iter().any(|s| source_matches(s, ns, obj)))
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn provider_types_per_release() {
        let v = |m| FluxVersion::new(2, m);
        assert_eq!(provider_types(v(5)).len(), 27);
        assert_eq!(provider_types(v(6)).len(), 27);
        assert_eq!(provider_types(v(7)).len(), 29);
        assert_eq!(provider_types(v(8)).len(), 32);
        assert_eq!(provider_types(v(9)).len(), 32);
        assert_eq!(PROVIDER_TYPES.len(), 32);
        assert_eq!(provider_type_since("zulip"), Some(v(7)));
        assert_eq!(provider_type_since("githubpullrequestcomment"), Some(v(8)));
        assert_eq!(provider_type_since("slack"), Some(v(2)));
        assert!(!alert_event_source_kinds(v(7)).contains(&"ArtifactGenerator"));
        assert!(alert_event_source_kinds(v(8)).contains(&"ExternalArtifact"));
    }

    fn ks(ns: &str, name: &str, labels: Value) -> Value {
        json!({"kind": "Kustomization", "metadata": {"name": name, "namespace": ns, "labels": labels}})
    }

    #[test]
    fn sources_match_as_notification_controller_does() {
        let any = json!({"kind": "Kustomization", "name": "*"});
        assert!(source_matches(
            &any,
            "flux-system",
            &ks("flux-system", "apps", json!({}))
        ));
        assert!(!source_matches(
            &any,
            "flux-system",
            &ks("apps", "apps", json!({}))
        ));
        let glob = json!({"kind": "Kustomization", "name": "apps-*"});
        assert!(!source_matches(
            &glob,
            "flux-system",
            &ks("flux-system", "apps-web", json!({}))
        ));
        let other_ns = json!({"kind": "Kustomization", "name": "web", "namespace": "apps"});
        assert!(source_matches(
            &other_ns,
            "flux-system",
            &ks("apps", "web", json!({}))
        ));
        let labelled = json!({"kind": "Kustomization", "name": "*", "matchLabels": {"team": "a"}});
        assert!(source_matches(
            &labelled,
            "apps",
            &ks("apps", "web", json!({"team": "a"}))
        ));
        assert!(!source_matches(
            &labelled,
            "apps",
            &ks("apps", "web", json!({"team": "b"}))
        ));
        let lower = json!({"kind": "kustomization", "name": "*"});
        assert!(!source_matches(
            &lower,
            "flux-system",
            &ks("flux-system", "apps", json!({}))
        ));
    }

    #[test]
    fn info_passes_errors_too() {
        assert!(passes_severity(None, "error"));
        assert!(passes_severity(Some("info"), "error"));
        assert!(passes_severity(Some("error"), "error"));
        assert!(!passes_severity(Some("error"), "info"));
        assert!(!passes_severity(Some("warning"), "error"));
        let alert = json!({"metadata": {"namespace": "flux-system"}, "spec": {"suspend": true,
            "eventSources": [{"kind": "Kustomization", "name": "*"}]}});
        assert!(!alert_matches(
            &alert,
            &ks("flux-system", "a", json!({})),
            "error"
        ));
    }
}
