//! Canaries: the Flux objects a cluster drill creates from a scenario's resources (named
//! `<name>-<run id>`, labelled `app.kubernetes.io/managed-by: flux-monitor` and with the run id,
//! references between them renamed alike), the faults that break them as real Flux notices by
//! itself, the faults put on existing objects (`--touch-existing`, recorded on the object so that
//! even a killed drill's changes can be restored), and the clean-up by label.

use std::collections::BTreeMap;
use std::time::{Duration, Instant};

use kube::api::{Api, DeleteParams, DynamicObject, ListParams, Patch, PatchParams, PostParams};
use model::ObjectRef;
use serde_json::{json, Value};
use simulator::scenario::{CanaryFault, ClusterTarget, Resource, Scenario, CANARY_KINDS};

use crate::cluster::{CallError, Cluster};
use crate::discovery::{Discovered, ServedKind};

pub const MANAGED_BY_LABEL: &str = "app.kubernetes.io/managed-by";
pub const MANAGED_BY: &str = "flux-monitor";
/// The run id of the drill that created a canary.
pub const RUN_LABEL: &str = "flux-monitor.dev/drill-run";
/// The scenario a canary belongs to (an annotation: names may be longer than a label value).
pub const SCENARIO_ANNOTATION: &str = "flux-monitor.dev/drill-scenario";
/// On an object the drill did not create: the run that changed it ...
pub const TOUCHED_LABEL: &str = "flux-monitor.dev/drill-touched";
/// ... and what to put back (`{"suspend": <value before, or null>}`).
pub const RESTORE_ANNOTATION: &str = "flux-monitor.dev/drill-restore";
pub const REQUESTED_AT: &str = "reconcile.fluxcd.io/requestedAt";
pub const FIELD_MANAGER: &str = "flux-monitor-drill";

/// Values the faults write; real Flux fails on each by itself.
pub const INVALID_DOMAIN: &str = "flux-monitor-drill.invalid";
pub const MISSING_PATH: &str = "./flux-monitor-drill/does-not-exist";
pub const MISSING_CHART_VERSION: &str = "9999.0.0-flux-monitor-drill";

/// Deletion order: consumers before what they consume, so nothing reports a vanished source.
const DELETE_ORDER: [&str; 9] = [
    "Alert",
    "Kustomization",
    "HelmRelease",
    "HelmChart",
    "GitRepository",
    "OCIRepository",
    "Bucket",
    "HelmRepository",
    "Provider",
];

/// One canary as the drill creates it.
#[derive(Debug, Clone)]
pub struct Canary {
    /// As the scenario names it.
    pub scenario_ref: ObjectRef,
    /// As the cluster knows it.
    pub cluster_ref: ObjectRef,
    pub kind: ServedKind,
    pub body: Value,
}

/// The canaries of one scenario's drill.
#[derive(Debug, Clone)]
pub struct Plan {
    /// The invocation's run id (label).
    pub run: String,
    /// What every canary name ends with (`-<run id><scenario index>`).
    pub suffix: String,
    pub namespace: Option<String>,
    pub canaries: Vec<Canary>,
    /// The HelmCharts helm-controller generates for canary HelmReleases (deleted with them).
    pub generated_charts: Vec<ObjectRef>,
}

impl Plan {
    /// Plans the canaries of `scenario`; `sink` is the drill's sink URL for canary Providers
    /// (None: Alerts and Providers are left out, their notifications cannot be observed).
    pub fn new(
        scenario: &Scenario,
        run: &str,
        index: usize,
        namespace: Option<&str>,
        discovered: &Discovered,
        sink: Option<&str>,
    ) -> Result<Plan, String> {
        let suffix = format!("-{run}{index}");
        let mut plan = Plan {
            run: run.to_string(),
            suffix,
            namespace: namespace.map(str::to_string),
            canaries: Vec::new(),
            generated_charts: Vec::new(),
        };
        for r in &scenario.resources {
            if matches!(r.kind.kind, "Alert" | "Provider") && sink.is_none() {
                continue;
            }
            let Some(kind) = discovered.get(r.kind.kind).cloned() else {
                return Err(format!(
                    "the cluster serves no {} (needed by {}:{}): is Flux installed, and may this account list {}?",
                    r.kind.kind,
                    scenario.source.display(),
                    r.line,
                    r.kind.plural
                ));
            };
            let cluster_ref = plan.cluster_ref(&r.object_ref());
            let body = plan.body(scenario, r, &kind, &cluster_ref, sink);
            if r.kind.kind == "HelmRelease" && body.pointer("/spec/chart/spec").is_some() {
                let src_ns = body
                    .pointer("/spec/chart/spec/sourceRef/namespace")
                    .and_then(Value::as_str)
                    .unwrap_or(&cluster_ref.namespace)
                    .to_string();
                plan.generated_charts.push(ObjectRef::new(
                    "HelmChart",
                    src_ns,
                    format!("{}-{}", cluster_ref.namespace, cluster_ref.name),
                ));
            }
            plan.canaries.push(Canary {
                scenario_ref: r.object_ref(),
                cluster_ref,
                kind,
                body,
            });
        }
        // Providers, then Alerts (they must exist before the events they carry), then the rest.
        plan.canaries.sort_by_key(|c| match c.kind.kind() {
            "Provider" => 0,
            "Alert" => 1,
            _ => 2,
        });
        Ok(plan)
    }

    /// The object a scenario reference stands for in the cluster: a canary's renamed one, or
    /// (an existing object) itself.
    pub fn cluster_ref(&self, r: &ObjectRef) -> ObjectRef {
        ObjectRef::new(
            r.kind.clone(),
            self.namespace.clone().unwrap_or_else(|| r.namespace.clone()),
            format!("{}{}", r.name, self.suffix),
        )
    }

    /// The cluster object of a fault target.
    pub fn target_ref(&self, t: &ClusterTarget) -> ObjectRef {
        match t {
            ClusterTarget::Canary(o) => self.cluster_ref(o),
            ClusterTarget::Existing(o) => o.clone(),
        }
    }

    /// Namespaces holding canaries.
    pub fn namespaces(&self) -> Vec<String> {
        let mut ns: Vec<String> = self.canaries.iter().map(|c| c.cluster_ref.namespace.clone()).collect();
        ns.sort();
        ns.dedup();
        ns
    }

    /// Label selector of this drill's canaries.
    pub fn selector(&self) -> String {
        format!("{MANAGED_BY_LABEL}={MANAGED_BY},{RUN_LABEL}={}", self.run)
    }

    fn body(&self, scenario: &Scenario, r: &Resource, kind: &ServedKind, me: &ObjectRef, sink: Option<&str>) -> Value {
        let mut spec = r.spec.clone();
        if !spec.is_object() {
            spec = json!({});
        }
        self.rename_references(&mut spec, r);
        if !r.interval.is_zero() {
            spec["interval"] = json!(model::format_go_duration(r.interval));
        }
        if r.suspend {
            spec["suspend"] = json!(true);
        }
        if r.kind.kind == "Provider" {
            let address = format!("{}/provider/{}/{}", sink.unwrap_or_default(), r.namespace, r.name);
            if let Some(m) = spec.as_object_mut() {
                m.insert("address".into(), json!(address));
                for key in ["secretRef", "proxy", "proxySecretRef", "certSecretRef"] {
                    m.remove(key);
                }
            }
        }
        let mut labels: BTreeMap<String, String> = r.labels.clone();
        labels.insert(MANAGED_BY_LABEL.into(), MANAGED_BY.into());
        labels.insert(RUN_LABEL.into(), self.run.clone());
        let mut annotations = r.annotations.clone();
        annotations.insert(SCENARIO_ANNOTATION.into(), scenario.name.clone());
        json!({
            "apiVersion": kind.api_version(),
            "kind": r.kind.kind,
            "metadata": {
                "name": me.name,
                "namespace": me.namespace,
                "labels": labels,
                "annotations": annotations,
            },
            "spec": spec,
        })
    }

    /// Renames every reference to another canary: sourceRef, chart template source, chartRef,
    /// dependsOn, providerRef, eventSources (a `*` stays).
    fn rename_references(&self, spec: &mut Value, r: &Resource) {
        let own_ns = r.namespace.clone();
        let rename = |v: &mut Value, kind: &str| {
            let name = v.get("name").and_then(Value::as_str).unwrap_or("").to_string();
            if name.is_empty() || name == "*" {
                return;
            }
            let ns = v
                .get("namespace")
                .and_then(Value::as_str)
                .unwrap_or(&own_ns)
                .to_string();
            let kind = v.get("kind").and_then(Value::as_str).unwrap_or(kind).to_string();
            let target = ObjectRef::new(kind, ns, name);
            let mapped = self.cluster_ref(&target);
            v["name"] = json!(mapped.name);
            if v.get("namespace").is_some() {
                v["namespace"] = json!(mapped.namespace);
            }
        };
        for path in ["/sourceRef", "/chart/spec/sourceRef", "/chartRef"] {
            if let Some(v) = spec.pointer_mut(path) {
                rename(v, "");
            }
        }
        if let Some(v) = spec.pointer_mut("/providerRef") {
            rename(v, "Provider");
        }
        for list in ["dependsOn", "eventSources"] {
            let kind = if list == "dependsOn" { r.kind.kind } else { "" };
            if let Some(items) = spec.get_mut(list).and_then(Value::as_array_mut) {
                for item in items {
                    rename(item, kind);
                }
            }
        }
    }
}

/// The change a fault makes, as a merge patch (and, at creation, merged into the body).
pub fn fault_patch(fault: CanaryFault, object: &Value, now: jiff::Timestamp) -> Value {
    match fault {
        CanaryFault::UnreachableSource => {
            if object["kind"] == "Bucket" {
                json!({"spec": {"endpoint": INVALID_DOMAIN}})
            } else {
                let url = object.pointer("/spec/url").and_then(Value::as_str).unwrap_or("");
                json!({"spec": {"url": unreachable_url(url, object.pointer("/metadata/name").and_then(Value::as_str).unwrap_or("canary"))}})
            }
        }
        CanaryFault::MissingPath => json!({"spec": {"path": MISSING_PATH}}),
        CanaryFault::MissingChartVersion => {
            if object["kind"] == "HelmChart" {
                json!({"spec": {"version": MISSING_CHART_VERSION}})
            } else {
                json!({"spec": {"chart": {"spec": {"version": MISSING_CHART_VERSION}}}})
            }
        }
        CanaryFault::Suspend => json!({"spec": {"suspend": true}}),
        CanaryFault::Reconcile => json!({"metadata": {"annotations": {REQUESTED_AT: now.to_string()}}}),
    }
}

/// The URL with its host moved under the reserved `.invalid` domain (RFC 6761): scheme, path
/// and port kept, so the controller fails exactly at the DNS lookup.
pub fn unreachable_url(url: &str, name: &str) -> String {
    let host = format!("{name}.{INVALID_DOMAIN}");
    match reqwest::Url::parse(url) {
        Ok(mut u) if u.has_host() => {
            if u.set_host(Some(&host)).is_ok() {
                return u.to_string();
            }
            format!("https://{host}/")
        }
        _ => format!("https://{host}/"),
    }
}

/// RFC 7386 merge of `patch` into `target`.
pub fn merge(target: &mut Value, patch: &Value) {
    match (target.as_object_mut(), patch.as_object()) {
        (Some(t), Some(p)) => {
            for (k, v) in p {
                if v.is_null() {
                    t.remove(k);
                } else {
                    merge(t.entry(k.clone()).or_insert(Value::Null), v);
                }
            }
        }
        _ => *target = patch.clone(),
    }
}

fn api(cluster: &Cluster, kind: &ServedKind, namespace: &str) -> Api<DynamicObject> {
    Api::namespaced_with(cluster.client.clone(), namespace, &kind.api_resource())
}

fn call_error(e: CallError) -> String {
    e.to_string()
}

/// Creates one canary.
pub async fn create(cluster: &Cluster, c: &Canary) -> Result<(), String> {
    let obj: DynamicObject = serde_json::from_value(c.body.clone()).map_err(|e| e.to_string())?;
    let params = PostParams {
        field_manager: Some(FIELD_MANAGER.into()),
        ..Default::default()
    };
    let a = api(cluster, &c.kind, &c.cluster_ref.namespace);
    cluster
        .call("create", a.create(&params, &obj))
        .await
        .map(|_| ())
        .map_err(|e| format!("creating canary {}: {}", c.cluster_ref, call_error(e)))
}

/// Applies a merge patch to an object.
pub async fn patch(cluster: &Cluster, kind: &ServedKind, o: &ObjectRef, patch: &Value) -> Result<(), String> {
    let a = api(cluster, kind, &o.namespace);
    let params = PatchParams {
        field_manager: Some(FIELD_MANAGER.into()),
        ..Default::default()
    };
    cluster
        .call("patch", a.patch(&o.name, &params, &Patch::Merge(patch)))
        .await
        .map(|_| ())
        .map_err(|e| format!("changing {o}: {}", call_error(e)))
}

/// Puts a fault on an object the drill did not create, recording on it what to restore.
pub async fn touch(
    cluster: &Cluster,
    kind: &ServedKind,
    o: &ObjectRef,
    fault: CanaryFault,
    run: &str,
) -> Result<(), String> {
    if fault == CanaryFault::Reconcile {
        // A reconcile request changes nothing to restore.
        return patch(
            cluster,
            kind,
            o,
            &fault_patch(fault, &Value::Null, jiff::Timestamp::now()),
        )
        .await;
    }
    let a = api(cluster, kind, &o.namespace);
    let current = cluster
        .call("get", a.get(&o.name))
        .await
        .map_err(|e| format!("reading existing object {o}: {}", call_error(e)))?;
    let current = serde_json::to_value(&current).unwrap_or_default();
    if let Some(other) = current.pointer(&format!("/metadata/labels/{}", TOUCHED_LABEL.replace('/', "~1"))) {
        return Err(format!(
            "{o} was changed by drill run {other} and not restored yet: run `kubectl flux-monitor drill --cluster --cleanup` first"
        ));
    }
    let before = current.pointer("/spec/suspend").cloned().unwrap_or(Value::Null);
    let mut p = fault_patch(fault, &current, jiff::Timestamp::now());
    merge(
        &mut p,
        &json!({"metadata": {
            "labels": {TOUCHED_LABEL: run},
            "annotations": {RESTORE_ANNOTATION: json!({"suspend": before}).to_string()},
        }}),
    );
    patch(cluster, kind, o, &p).await
}

/// What a clean-up did.
#[derive(Debug, Default, Clone, serde::Serialize)]
pub struct Cleaned {
    pub deleted: Vec<String>,
    pub restored: Vec<String>,
    /// Objects still there when the clean-up gave up waiting, and errors.
    pub left: Vec<String>,
    #[serde(serialize_with = "secs")]
    pub took: Duration,
}

fn secs<S: serde::Serializer>(d: &Duration, s: S) -> Result<S::Ok, S::Error> {
    s.serialize_f64((d.as_secs_f64() * 1000.0).round() / 1000.0)
}

/// How long a clean-up waits for deletions (Flux's finalizers) to finish.
const DELETE_WAIT: Duration = Duration::from_secs(60);

/// Deletes every canary matching `selector` in `namespaces` (None: every namespace), and the
/// HelmCharts generated for canary HelmReleases; restores every object touched by a run
/// matching `run` (None: any); waits until the deleted objects are gone.
pub async fn cleanup(
    cluster: &Cluster,
    discovered: &Discovered,
    namespaces: Option<&[String]>,
    run: Option<&str>,
    extra_charts: &[ObjectRef],
) -> Cleaned {
    let started = Instant::now();
    let mut out = Cleaned::default();
    let selector = match run {
        Some(r) => format!("{MANAGED_BY_LABEL}={MANAGED_BY},{RUN_LABEL}={r}"),
        None => format!("{MANAGED_BY_LABEL}={MANAGED_BY}"),
    };
    let kinds: Vec<&ServedKind> = DELETE_ORDER.iter().filter_map(|k| discovered.get(k)).collect();
    let mut pending: Vec<(ServedKind, ObjectRef)> = Vec::new();
    let mut charts: Vec<ObjectRef> = extra_charts.to_vec();
    for kind in &kinds {
        for o in list(cluster, kind, namespaces, &selector, &mut out.left).await {
            if kind.kind() == "HelmRelease" && o.pointer("/spec/chart/spec").is_some() {
                let view = model::FluxObject::new(&o);
                let src_ns = o
                    .pointer("/spec/chart/spec/sourceRef/namespace")
                    .and_then(Value::as_str)
                    .unwrap_or(view.namespace())
                    .to_string();
                charts.push(ObjectRef::new(
                    "HelmChart",
                    src_ns,
                    format!("{}-{}", view.namespace(), view.name()),
                ));
            }
            let r = object_ref(kind, &o);
            match delete(cluster, kind, &r).await {
                Ok(()) => {
                    out.deleted.push(r.to_string());
                    pending.push(((*kind).clone(), r));
                }
                Err(e) => out.left.push(e),
            }
        }
    }
    if let Some(chart_kind) = discovered.get("HelmChart") {
        charts.sort_by_key(ToString::to_string);
        charts.dedup();
        for c in charts {
            if pending.iter().any(|(_, p)| *p == c) {
                continue;
            }
            match delete(cluster, chart_kind, &c).await {
                Ok(()) => {
                    out.deleted.push(format!("{c} (generated for a canary HelmRelease)"));
                    pending.push((chart_kind.clone(), c));
                }
                Err(e) if e.contains("NotFound") || e.contains("404") => {}
                Err(e) => out.left.push(e),
            }
        }
    }
    restore_touched(cluster, discovered, namespaces, run, &mut out).await;
    // Flux's finalizers run before an object goes: wait for them, bounded.
    let deadline = Instant::now() + DELETE_WAIT;
    while !pending.is_empty() && Instant::now() < deadline {
        let mut still = Vec::new();
        for (kind, o) in pending {
            let a = api(cluster, &kind, &o.namespace);
            match cluster.call("get", a.get_opt(&o.name)).await {
                Ok(None) => {}
                Ok(Some(_)) | Err(_) => still.push((kind, o)),
            }
        }
        pending = still;
        if !pending.is_empty() {
            tokio::time::sleep(Duration::from_millis(200)).await;
        }
    }
    for (_, o) in pending {
        out.left.push(format!(
            "{o} is still there {}s after its deletion (a Flux finalizer: is its controller running?)",
            DELETE_WAIT.as_secs()
        ));
    }
    out.took = started.elapsed();
    out
}

async fn list(
    cluster: &Cluster,
    kind: &ServedKind,
    namespaces: Option<&[String]>,
    selector: &str,
    errors: &mut Vec<String>,
) -> Vec<Value> {
    let params = ListParams::default().labels(selector);
    let apis: Vec<Api<DynamicObject>> = match namespaces {
        Some(list) => list.iter().map(|ns| api(cluster, kind, ns)).collect(),
        None => vec![Api::all_with(cluster.client.clone(), &kind.api_resource())],
    };
    let mut out = Vec::new();
    for a in apis {
        match cluster.call("list", a.list(&params)).await {
            Ok(items) => out.extend(items.items.into_iter().filter_map(|i| serde_json::to_value(i).ok())),
            // A kind this account may not list is one it could not have created or changed
            // (a scheduled drill's Role grants only the kinds its scenarios use).
            Err(CallError::Api { code: 403, .. }) => {}
            Err(e) => errors.push(format!("cannot list {} ({selector}): {e}", kind.info.plural)),
        }
    }
    out
}

fn object_ref(kind: &ServedKind, o: &Value) -> ObjectRef {
    let view = model::FluxObject::new(o);
    ObjectRef::new(kind.kind(), view.namespace(), view.name())
}

async fn delete(cluster: &Cluster, kind: &ServedKind, o: &ObjectRef) -> Result<(), String> {
    let a = api(cluster, kind, &o.namespace);
    let params = DeleteParams::background();
    match cluster.call("delete", a.delete(&o.name, &params)).await {
        Ok(_) => Ok(()),
        Err(CallError::Api { code: 404, message }) => Err(format!("{o}: NotFound: {message}")),
        Err(e) => Err(format!("deleting {o}: {e}")),
    }
}

async fn restore_touched(
    cluster: &Cluster,
    discovered: &Discovered,
    namespaces: Option<&[String]>,
    run: Option<&str>,
    out: &mut Cleaned,
) {
    let selector = match run {
        Some(r) => format!("{TOUCHED_LABEL}={r}"),
        None => TOUCHED_LABEL.to_string(),
    };
    for kind in CANARY_KINDS.iter().filter_map(|k| discovered.get(k)) {
        for o in list(cluster, kind, namespaces, &selector, &mut out.left).await {
            let r = object_ref(kind, &o);
            let before = o
                .pointer(&format!(
                    "/metadata/annotations/{}",
                    RESTORE_ANNOTATION.replace('/', "~1")
                ))
                .and_then(Value::as_str)
                .and_then(|s| serde_json::from_str::<Value>(s).ok());
            let Some(before) = before else {
                out.left.push(format!(
                    "{r} carries {TOUCHED_LABEL} but no readable {RESTORE_ANNOTATION}: restore spec.suspend by hand"
                ));
                continue;
            };
            let p = json!({
                "spec": {"suspend": before.get("suspend").cloned().unwrap_or(Value::Null)},
                "metadata": {"labels": {TOUCHED_LABEL: null}, "annotations": {RESTORE_ANNOTATION: null}},
            });
            match patch(cluster, kind, &r, &p).await {
                Ok(()) => out.restored.push(r.to_string()),
                Err(e) => out.left.push(e),
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn unreachable_urls_keep_scheme_and_path() {
        assert_eq!(
            unreachable_url("https://github.com/stefanprodan/podinfo", "src-a0"),
            "https://src-a0.flux-monitor-drill.invalid/stefanprodan/podinfo"
        );
        assert_eq!(
            unreachable_url("oci://ghcr.io/stefanprodan/charts", "r"),
            "oci://r.flux-monitor-drill.invalid/stefanprodan/charts"
        );
        assert_eq!(
            unreachable_url("git@github.com:x/y.git", "r"),
            "https://r.flux-monitor-drill.invalid/"
        );
    }

    #[test]
    fn merge_patch_semantics() {
        let mut v = json!({"spec": {"a": 1, "b": {"c": 2}}});
        merge(&mut v, &json!({"spec": {"a": null, "b": {"d": 3}}}));
        assert_eq!(v, json!({"spec": {"b": {"c": 2, "d": 3}}}));
    }
}
