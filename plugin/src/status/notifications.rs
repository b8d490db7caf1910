//! What Alerts and Providers are judged by, since they have no status: the Warning events
//! notification-controller recorded on Alerts within a window (a Provider's failures are the
//! dispatch failures of the Alerts that use it), and the references that do not resolve (a
//! missing Provider; a missing Secret in `spec.secretRef`, `certSecretRef` or `proxySecretRef`,
//! read as metadata only). Messages are redacted here, before any output sees them.

use std::collections::{BTreeSet, HashMap};
use std::time::Duration;

use futures::StreamExt;
use jiff::Timestamp;
use model::verdict::ALERT_FAILURE_REASONS;
use model::{FluxObject, NotificationEvidence, NotificationWarning, ObjectRef};
use serde_json::Value;

use super::collect::{self, Scope, Snapshot};
use crate::cluster::{CallError, Cluster};
use crate::events::read::EventRecord;
use crate::events::redact;

/// The Secrets a Provider reads, by the field naming them; notification-controller fails every
/// dispatch through the Provider while one is missing (`getSecret` in `createNotifier`).
const SECRET_FIELDS: [&str; 3] = ["secretRef", "certSecretRef", "proxySecretRef"];

/// Evidence per Alert and Provider, and a warning for stderr when events could not be read.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct Notifications {
    pub evidence: HashMap<ObjectRef, NotificationEvidence>,
    pub warning: Option<String>,
}

fn provider_ref(alert: &Value) -> Option<ObjectRef> {
    let a = FluxObject::new(alert);
    let name = alert
        .pointer("/spec/providerRef/name")
        .and_then(Value::as_str)?;
    Some(ObjectRef::new("Provider", a.namespace(), name))
}

/// `(field, Secret name)` for every Secret a Provider names.
fn secrets_of(provider: &Value) -> Vec<(&'static str, String)> {
    SECRET_FIELDS
        .iter()
        .filter_map(|f| {
            provider
                .pointer(&format!("/spec/{f}/name"))
                .and_then(Value::as_str)
                .filter(|n| !n.is_empty())
                .map(|n| (*f, n.to_string()))
        })
        .collect()
}

/// Whether a Secret exists: `Some(false)` only on 404; a refusal (RBAC) or an error tells nothing.
async fn secret_exists(cluster: &Cluster, namespace: &str, name: &str) -> Option<bool> {
    let req = http::Request::get(format!("/api/v1/namespaces/{namespace}/secrets/{name}"))
        .header(
            "Accept",
            "application/json;as=PartialObjectMetadata;g=meta.k8s.io;v=v1,application/json",
        )
        .body(Vec::new())
        .ok()?;
    match cluster
        .call("get secret", cluster.client.request::<Value>(req))
        .await
    {
        Ok(_) => Some(true),
        Err(CallError::Api { code: 404, .. }) => Some(false),
        Err(_) => None,
    }
}

fn warning_of(e: &EventRecord) -> Option<NotificationWarning> {
    Some(NotificationWarning {
        alert: format!("{}/{}", e.object.namespace, e.object.name),
        reason: e.reason.clone(),
        message: redact::notification_message(e.message.trim()),
        first_seen: e.first_seen(),
        last_seen: e.last_seen()?,
        count: e.occurrences(),
    })
}

/// Whether a dispatch failure on an Alert is its Provider's doing: the POST failed or the
/// notifier could not be built (address, Secret, type). Not a missing Provider, nor the Alert's
/// own cross-namespace refusal.
fn is_provider_failure(w: &NotificationWarning) -> bool {
    w.reason == "NotificationDispatchFailed"
        && !w.message.contains("failed to read provider:")
        && !w
            .message
            .contains("access denied to cross-namespace sources")
}

/// Judges the evidence for `alerts` and `providers` (objects as listed). `provider_exists` says
/// whether a Provider reference resolves (None: not known). `namespaces`: where to read events
/// (None: all namespaces at once).
pub async fn gather(
    cluster: &Cluster,
    alerts: &[Value],
    providers: &[Value],
    provider_exists: &(dyn Fn(&ObjectRef) -> Option<bool> + Sync),
    all_namespaces: bool,
    window: Duration,
    now: Timestamp,
) -> Notifications {
    let mut out = Notifications::default();
    if alerts.is_empty() && providers.is_empty() {
        return out;
    }
    let namespaces: Vec<String> = alerts
        .iter()
        .chain(providers)
        .map(|o| FluxObject::new(o).namespace().to_string())
        .collect::<BTreeSet<_>>()
        .into_iter()
        .collect();
    let scope = (!all_namespaces || namespaces.len() == 1).then_some(namespaces.as_slice());
    let (warnings, events_error) =
        match crate::events::alert_warnings(cluster, scope, window, now).await {
            Ok(events) => (
                events.iter().filter_map(warning_of).collect::<Vec<_>>(),
                None,
            ),
            Err(e) => {
                out.warning = Some(format!(
                    "warning: cannot read events, so Alerts and Providers cannot be judged: {e}"
                ));
                (Vec::new(), Some(e))
            }
        };

    // Providers: their Secrets, then the dispatch failures of the Alerts that use them.
    let mut provider_broken: HashMap<ObjectRef, Vec<(String, String)>> = HashMap::new();
    let checks = providers.iter().flat_map(|p| {
        let r = FluxObject::new(p).object_ref();
        secrets_of(p)
            .into_iter()
            .map(move |(field, name)| (r.clone(), field, name))
    });
    // At most 16 lookups at once, as the upstream GETs of `collect`.
    let found: Vec<_> = futures::stream::iter(checks.map(|(r, field, name)| async move {
        let exists = secret_exists(cluster, &r.namespace, &name).await;
        (r, field, name, exists)
    }))
    .buffer_unordered(16)
    .collect()
    .await;
    for (r, field, name, exists) in found {
        if exists == Some(false) {
            provider_broken.entry(r.clone()).or_default().push((
                "SecretNotFound".into(),
                format!(
                    "Secret {}/{name} (spec.{field}) does not exist",
                    r.namespace
                ),
            ));
        }
    }
    let alert_provider: HashMap<String, ObjectRef> = alerts
        .iter()
        .filter_map(|a| {
            let o = FluxObject::new(a);
            Some((format!("{}/{}", o.namespace(), o.name()), provider_ref(a)?))
        })
        .collect();
    for p in providers {
        let r = FluxObject::new(p).object_ref();
        let failures = warnings
            .iter()
            .filter(|w| alert_provider.get(&w.alert) == Some(&r) && is_provider_failure(w))
            .cloned()
            .collect();
        out.evidence.insert(
            r.clone(),
            NotificationEvidence {
                window,
                broken: provider_broken.get(&r).cloned().unwrap_or_default(),
                failures,
                notices: Vec::new(),
                events_error: events_error.clone(),
            },
        );
    }

    // Alerts: their own warnings, a missing Provider, a Provider that cannot deliver.
    for a in alerts {
        let o = FluxObject::new(a);
        let key = format!("{}/{}", o.namespace(), o.name());
        let mut broken = Vec::new();
        if let Some(p) = provider_ref(a) {
            if provider_exists(&p) == Some(false) {
                broken.push((
                    "ProviderNotFound".into(),
                    format!(
                        "Provider {}/{} (spec.providerRef) does not exist",
                        p.namespace, p.name
                    ),
                ));
            } else if let Some((_, why)) = provider_broken.get(&p).and_then(|b| b.first()) {
                broken.push((
                    "ProviderNotReady".into(),
                    format!("Provider {} cannot deliver: {why}", p.name),
                ));
            }
        }
        let (failures, notices): (Vec<_>, Vec<_>) = warnings
            .iter()
            .filter(|w| w.alert == key)
            .cloned()
            .partition(|w| ALERT_FAILURE_REASONS.contains(&w.reason.as_str()));
        out.evidence.insert(
            o.object_ref(),
            NotificationEvidence {
                window,
                broken,
                failures,
                notices,
                events_error: events_error.clone(),
            },
        );
    }
    out
}

fn of_kind<'a>(objects: impl Iterator<Item = &'a Value>, kind: &str) -> Vec<Value> {
    objects
        .filter(|o| FluxObject::new(o).kind() == kind)
        .cloned()
        .collect()
}

/// Evidence for the Alerts and Providers of a status snapshot. When the scope may leave out the
/// Alerts that use a Provider in scope (a kind or label filter), those are listed too.
pub async fn for_snapshot(
    cluster: &Cluster,
    snap: &Snapshot,
    scope: &Scope,
    window: Duration,
    now: Timestamp,
) -> Notifications {
    // Providers in scope and those fetched because an Alert in scope uses them.
    let providers = of_kind(
        snap.objects.iter().chain(snap.upstream.values()),
        "Provider",
    );
    let mut alerts = of_kind(snap.objects.iter(), "Alert");
    if providers.is_empty() && alerts.is_empty() {
        return Notifications::default();
    }
    let alerts_cover_providers = scope.selector.is_none()
        && scope
            .kinds
            .as_ref()
            .is_none_or(|ks| ks.iter().any(|k| k.kind == "Alert"));
    if !alerts_cover_providers && !providers.is_empty() {
        if let Some(served) = snap.discovered.get("Alert") {
            let namespaces: BTreeSet<&str> = providers
                .iter()
                .map(|p| FluxObject::new(p).namespace())
                .collect();
            for ns in namespaces {
                let s = Scope {
                    namespace: Some(ns.to_string()),
                    selector: None,
                    kinds: None,
                };
                if let Ok(items) = collect::list_kind(cluster, served, &s).await {
                    let known: BTreeSet<ObjectRef> = alerts
                        .iter()
                        .map(|a| FluxObject::new(a).object_ref())
                        .collect();
                    alerts.extend(
                        items
                            .into_iter()
                            .filter(|a| !known.contains(&FluxObject::new(a).object_ref())),
                    );
                }
            }
        }
    }
    let listed: BTreeSet<ObjectRef> = snap
        .objects
        .iter()
        .chain(snap.upstream.values())
        .filter(|o| FluxObject::new(o).kind() == "Provider")
        .map(|o| FluxObject::new(o).object_ref())
        .collect();
    let exists = |r: &ObjectRef| {
        if listed.contains(r) {
            Some(true)
        } else if snap.missing.contains(r) {
            Some(false)
        } else {
            None
        }
    };
    // Only the objects read are judged; Alerts listed for their Providers only tell about those.
    let in_scope: BTreeSet<ObjectRef> = snap
        .objects
        .iter()
        .chain(snap.upstream.values())
        .map(|o| FluxObject::new(o).object_ref())
        .collect();
    let mut n = gather(
        cluster,
        &alerts,
        &providers,
        &exists,
        scope.namespace.is_none(),
        window,
        now,
    )
    .await;
    n.evidence.retain(|r, _| in_scope.contains(r));
    n
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn provider_failures_are_told_from_the_alerts_own() {
        let w = |reason: &str, message: &str| NotificationWarning {
            alert: "flux-system/on-call".into(),
            reason: reason.into(),
            message: message.into(),
            first_seen: None,
            last_seen: "2025-01-01T11:00:00Z".parse().unwrap(),
            count: 1,
        };
        assert!(is_provider_failure(&w(
            "NotificationDispatchFailed",
            "failed to send notification for Kustomization/a/b: postMessage failed"
        )));
        assert!(is_provider_failure(&w("NotificationDispatchFailed", "failed to dispatch notification for Kustomization/a/b: failed to initialize notifier for provider 'slack': failed to get secret 'a/s': secrets \"s\" not found")));
        assert!(!is_provider_failure(&w("NotificationDispatchFailed", "failed to dispatch notification for Kustomization/a/b: failed to read provider: providers.notification.toolkit.fluxcd.io \"x\" not found")));
        assert!(!is_provider_failure(&w(
            "InvalidConfig",
            "failed to compile exclusion regex: ("
        )));
        let p = json!({"kind": "Provider", "metadata": {"name": "slack", "namespace": "a"},
                       "spec": {"type": "slack", "secretRef": {"name": "hook"}, "certSecretRef": {"name": "ca"}}});
        assert_eq!(
            secrets_of(&p),
            [
                ("secretRef", "hook".to_string()),
                ("certSecretRef", "ca".to_string())
            ]
        );
    }
}
