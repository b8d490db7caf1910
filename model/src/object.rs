//! A read-only view over any Flux object as JSON: metadata, conditions, suspend, interval,
//! revisions and the references to the objects it depends on, with per-kind differences taken
//! from the kinds catalog.

use std::time::Duration;

use jiff::Timestamp;
use serde_json::Value;

use crate::duration::parse_go_duration;
use crate::kinds::{self, KindInfo, RefField, RevisionSource};

/// A `metav1.Condition`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Condition {
    pub type_: String,
    pub status: String,
    pub reason: String,
    pub message: String,
    pub last_transition_time: Option<Timestamp>,
    pub observed_generation: Option<i64>,
}

impl Condition {
    pub fn is_true(&self) -> bool {
        self.status == "True"
    }
    pub fn is_false(&self) -> bool {
        self.status == "False"
    }
}

/// A reference from one Flux object to another, resolved to a full identity.
#[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct ObjectRef {
    pub kind: String,
    pub namespace: String,
    pub name: String,
}

impl ObjectRef {
    pub fn new(kind: impl Into<String>, namespace: impl Into<String>, name: impl Into<String>) -> Self {
        Self { kind: kind.into(), namespace: namespace.into(), name: name.into() }
    }
}

impl std::fmt::Display for ObjectRef {
    /// `Kind/namespace/name`, the form Flux uses in dependency messages.
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{}/{}/{}", self.kind, self.namespace, self.name)
    }
}

/// Why a reference exists: a source, a chart, an explicit dependency, an image repository, a provider.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum RefRole {
    Source,
    Chart,
    DependsOn,
    ImageRepository,
    Provider,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Reference {
    pub role: RefRole,
    pub target: ObjectRef,
}

/// A view over one Flux object.
#[derive(Debug, Clone, Copy)]
pub struct FluxObject<'a> {
    pub json: &'a Value,
}

fn str_at<'a>(v: &'a Value, path: &[&str]) -> Option<&'a str> {
    path.iter().try_fold(v, |v, p| v.get(p)).and_then(Value::as_str)
}

fn parse_time(s: &str) -> Option<Timestamp> {
    s.parse().ok()
}

impl<'a> FluxObject<'a> {
    pub fn new(json: &'a Value) -> Self {
        Self { json }
    }

    pub fn kind(&self) -> &'a str {
        str_at(self.json, &["kind"]).unwrap_or("")
    }
    pub fn api_version(&self) -> &'a str {
        str_at(self.json, &["apiVersion"]).unwrap_or("")
    }
    pub fn name(&self) -> &'a str {
        str_at(self.json, &["metadata", "name"]).unwrap_or("")
    }
    pub fn namespace(&self) -> &'a str {
        str_at(self.json, &["metadata", "namespace"]).unwrap_or("")
    }
    pub fn info(&self) -> Option<&'static KindInfo> {
        kinds::by_kind(self.kind())
    }
    pub fn object_ref(&self) -> ObjectRef {
        ObjectRef::new(self.kind(), self.namespace(), self.name())
    }
    pub fn generation(&self) -> Option<i64> {
        self.json.pointer("/metadata/generation").and_then(Value::as_i64)
    }
    pub fn observed_generation(&self) -> Option<i64> {
        self.json.pointer("/status/observedGeneration").and_then(Value::as_i64)
    }
    pub fn creation_timestamp(&self) -> Option<Timestamp> {
        str_at(self.json, &["metadata", "creationTimestamp"]).and_then(parse_time)
    }
    pub fn labels(&self) -> Option<&'a serde_json::Map<String, Value>> {
        self.json.pointer("/metadata/labels").and_then(Value::as_object)
    }
    pub fn annotation(&self, key: &str) -> Option<&'a str> {
        self.json.pointer("/metadata/annotations").and_then(|a| a.get(key)).and_then(Value::as_str)
    }

    /// `spec.suspend`, false when absent.
    /// `spec.suspend`; source-watcher pauses an ArtifactGenerator with the annotation
    /// `source.extensions.fluxcd.io/reconcile: disabled` instead.
    pub fn suspended(&self) -> bool {
        if self.kind() == "ArtifactGenerator" {
            return self
                .annotation("source.extensions.fluxcd.io/reconcile")
                .is_some_and(|v| v.eq_ignore_ascii_case("disabled"));
        }
        self.json.pointer("/spec/suspend").and_then(Value::as_bool).unwrap_or(false)
    }

    /// `spec.interval` parsed; `None` when absent or not a Go duration.
    pub fn interval(&self) -> Option<Duration> {
        str_at(self.json, &["spec", "interval"]).and_then(|s| parse_go_duration(s).ok())
    }
    pub fn interval_raw(&self) -> Option<&'a str> {
        str_at(self.json, &["spec", "interval"])
    }

    /// `status.lastHandledReconcileAt`: the `reconcile.fluxcd.io/requestedAt` value last handled.
    pub fn last_handled_reconcile_at(&self) -> Option<&'a str> {
        str_at(self.json, &["status", "lastHandledReconcileAt"])
    }

    pub fn conditions(&self) -> Vec<Condition> {
        let Some(list) = self.json.pointer("/status/conditions").and_then(Value::as_array) else {
            return Vec::new();
        };
        list.iter()
            .map(|c| Condition {
                type_: str_at(c, &["type"]).unwrap_or("").to_string(),
                status: str_at(c, &["status"]).unwrap_or("Unknown").to_string(),
                reason: str_at(c, &["reason"]).unwrap_or("").to_string(),
                message: str_at(c, &["message"]).unwrap_or("").to_string(),
                last_transition_time: str_at(c, &["lastTransitionTime"]).and_then(parse_time),
                observed_generation: c.get("observedGeneration").and_then(Value::as_i64),
            })
            .collect()
    }

    pub fn condition(&self, type_: &str) -> Option<Condition> {
        self.conditions().into_iter().find(|c| c.type_ == type_)
    }

    pub fn ready(&self) -> Option<Condition> {
        self.condition("Ready")
    }

    /// The revision this object last reconciled, per its kind's catalog entry.
    pub fn revision(&self) -> Option<&'a str> {
        let status = self.json.get("status")?;
        match self.info()?.revision {
            RevisionSource::Artifact => str_at(status, &["artifact", "revision"]),
            RevisionSource::LastApplied => str_at(status, &["lastAppliedRevision"]),
            RevisionSource::HelmHistory => status
                .get("history")
                .and_then(|h| h.get(0))
                .and_then(|h| h.get("chartVersion"))
                .and_then(Value::as_str)
                .or_else(|| str_at(status, &["lastAttemptedRevision"])),
            RevisionSource::LatestImage => str_at(status, &["latestRef", "tag"])
                .or_else(|| str_at(status, &["latestImage"]).and_then(|i| i.rsplit(':').next())),
            RevisionSource::LastPushCommit => str_at(status, &["lastPushCommit"]),
            RevisionSource::LatestTag => status
                .pointer("/lastScanResult/latestTags/0")
                .and_then(Value::as_str),
            RevisionSource::SourcesDigest => str_at(status, &["observedSourcesDigest"]),
            RevisionSource::None => None,
        }
    }

    /// The revision the object last attempted (Kustomization, HelmRelease).
    pub fn last_attempted_revision(&self) -> Option<&'a str> {
        str_at(self.json, &["status", "lastAttemptedRevision"])
    }

    /// Every object this one depends on, resolved with Flux's defaulting rules
    /// (a reference without a namespace points into the object's own namespace).
    pub fn references(&self) -> Vec<Reference> {
        let Some(info) = self.info() else { return Vec::new() };
        let ns = self.namespace();
        let spec = self.json.get("spec");
        let mut out = Vec::new();
        let target = |r: &Value, default_kind: &str| -> Option<ObjectRef> {
            let name = str_at(r, &["name"])?;
            let kind = str_at(r, &["kind"]).unwrap_or(default_kind);
            let namespace = str_at(r, &["namespace"]).unwrap_or(ns);
            Some(ObjectRef::new(kind, namespace, name))
        };
        for field in info.refs {
            match field {
                RefField::SourceRef => {
                    let default = if info.kind == "ImageUpdateAutomation" { "GitRepository" } else { "" };
                    if let Some(t) = spec.and_then(|s| s.get("sourceRef")).and_then(|r| target(r, default)) {
                        let role = RefRole::Source;
                        out.push(Reference { role, target: t });
                    }
                }
                RefField::ChartTemplateSourceRef => {
                    if let Some(src) = spec.and_then(|s| s.pointer("/chart/spec/sourceRef")).and_then(|r| target(r, "")) {
                        // source-controller names the generated HelmChart `<ns>-<name>` in the source's namespace.
                        let chart = ObjectRef::new("HelmChart", src.namespace.clone(), format!("{ns}-{}", self.name()));
                        out.push(Reference { role: RefRole::Chart, target: chart });
                    }
                }
                RefField::ChartRef => {
                    if let Some(t) = spec.and_then(|s| s.get("chartRef")).and_then(|r| target(r, "")) {
                        out.push(Reference { role: RefRole::Chart, target: t });
                    }
                }
                RefField::DependsOn => {
                    let deps = spec.and_then(|s| s.get("dependsOn")).and_then(Value::as_array);
                    for d in deps.into_iter().flatten() {
                        if let Some(t) = target(d, info.kind) {
                            out.push(Reference { role: RefRole::DependsOn, target: t });
                        }
                    }
                }
                RefField::ImageRepositoryRef => {
                    if let Some(t) = spec.and_then(|s| s.get("imageRepositoryRef")).and_then(|r| target(r, "ImageRepository")) {
                        out.push(Reference { role: RefRole::ImageRepository, target: t });
                    }
                }
                RefField::Sources => {
                    let sources = spec.and_then(|s| s.get("sources")).and_then(Value::as_array);
                    for src in sources.into_iter().flatten() {
                        if let Some(t) = target(src, "") {
                            out.push(Reference { role: RefRole::Source, target: t });
                        }
                    }
                }
                RefField::ProviderRef => {
                    if let Some(name) = spec.and_then(|s| str_at(s, &["providerRef", "name"])) {
                        out.push(Reference { role: RefRole::Provider, target: ObjectRef::new("Provider", ns, name) });
                    }
                }
            }
        }
        out
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn helmrelease() -> Value {
        json!({
            "apiVersion": "helm.toolkit.fluxcd.io/v2", "kind": "HelmRelease",
            "metadata": {"name": "podinfo", "namespace": "apps", "generation": 3},
            "spec": {
                "interval": "10m0s", "suspend": true,
                "chart": {"spec": {"chart": "podinfo", "sourceRef": {"kind": "HelmRepository", "name": "podinfo", "namespace": "flux-system"}}},
                "dependsOn": [{"name": "redis"}, {"name": "cert-manager", "namespace": "infra"}]
            },
            "status": {
                "observedGeneration": 2,
                "history": [{"chartName": "podinfo", "chartVersion": "6.5.4"}],
                "conditions": [{"type": "Ready", "status": "False", "reason": "UpgradeFailed", "message": "boom", "lastTransitionTime": "2025-01-01T10:00:00Z"}]
            }
        })
    }

    #[test]
    fn reads_common_fields() {
        let v = helmrelease();
        let o = FluxObject::new(&v);
        assert!(o.suspended());
        assert_eq!(o.interval(), Some(Duration::from_secs(600)));
        assert_eq!(o.generation(), Some(3));
        assert_eq!(o.observed_generation(), Some(2));
        assert_eq!(o.revision(), Some("6.5.4"));
        let ready = o.ready().unwrap();
        assert!(ready.is_false());
        assert_eq!(ready.reason, "UpgradeFailed");
        assert_eq!(ready.last_transition_time.unwrap().to_string(), "2025-01-01T10:00:00Z");
    }

    #[test]
    fn resolves_references_with_flux_defaults() {
        let v = helmrelease();
        let refs = FluxObject::new(&v).references();
        let targets: Vec<String> = refs.iter().map(|r| r.target.to_string()).collect();
        assert_eq!(
            targets,
            vec!["HelmChart/flux-system/apps-podinfo", "HelmRelease/apps/redis", "HelmRelease/infra/cert-manager"]
        );
        assert_eq!(refs[0].role, RefRole::Chart);
    }

    #[test]
    fn kustomization_source_and_revision() {
        let v = json!({
            "apiVersion": "kustomize.toolkit.fluxcd.io/v1", "kind": "Kustomization",
            "metadata": {"name": "apps", "namespace": "flux-system"},
            "spec": {"sourceRef": {"kind": "GitRepository", "name": "flux-system"}},
            "status": {"lastAppliedRevision": "main@sha1:abc"}
        });
        let o = FluxObject::new(&v);
        assert_eq!(o.revision(), Some("main@sha1:abc"));
        assert!(!o.suspended());
        assert_eq!(o.references()[0].target, ObjectRef::new("GitRepository", "flux-system", "flux-system"));
    }
}
