//! The Flux Operator's per-object metric, `flux_resource_info`, as its reporter computes it
//! (controlplaneio-fluxcd/flux-operator internal/reporter/metrics.go, `fluxLabelsToValues`): one
//! series of value 1 per Flux object, with the Ready condition's status and reason, suspension
//! (capitalised `True`/`False`, unlike kube-state-metrics' `true`/`false`), the revision and where
//! the object comes from. The reporter lists every Flux CRD and resets the family at each FluxReport
//! reconcile, every `--reporting-interval` (5m by default): between reports the series show the
//! state as of the last one.

use std::time::Duration;

use model::metrics as catalog;
use model::FluxObject;
use serde_json::Value;

use super::exposition::Family;

/// The Flux Operator's default `--reporting-interval`.
pub const REPORTING_INTERVAL: Duration = Duration::from_secs(300);

fn str_at<'a>(o: &'a Value, pointer: &str) -> Option<&'a str> {
    o.pointer(pointer).and_then(Value::as_str)
}

/// The labels the reporter gives one object, in its order of precedence.
fn labels(o: &Value) -> Option<Vec<(&'static str, String)>> {
    let view = FluxObject::new(o);
    let info = view.info()?;
    let mut ready = "Unknown".to_string();
    let mut reason = String::new();
    if let Some(c) = view.ready() {
        ready = c.status;
        reason = c.reason;
    }
    let mut revision = str_at(o, "/status/artifact/revision").unwrap_or_default();
    if let Some(attempted) = str_at(o, "/status/lastAttemptedRevision") {
        revision = attempted;
    }
    let mut url = str_at(o, "/spec/url").unwrap_or_default();
    let mut reference = "";
    let mut source_name = str_at(o, "/spec/sourceRef/name").unwrap_or_default();
    let mut path = "";
    match info.kind {
        "Kustomization" => path = str_at(o, "/spec/path").unwrap_or_default(),
        "GitRepository" => {
            for key in ["branch", "tag", "semver", "name"] {
                if let Some(r) = str_at(o, &format!("/spec/ref/{key}")) {
                    reference = r;
                }
            }
        }
        "OCIRepository" => {
            for key in ["tag", "semver"] {
                if let Some(r) = str_at(o, &format!("/spec/ref/{key}")) {
                    reference = r;
                }
            }
        }
        "Bucket" => {
            if let Some(e) = str_at(o, "/spec/endpoint") {
                url = e;
            }
            if let Some(b) = str_at(o, "/spec/bucketName") {
                reference = b;
            }
        }
        "HelmRelease" => {
            for pointer in ["/spec/chartRef/name", "/spec/chart/spec/sourceRef/name"] {
                if let Some(s) = str_at(o, pointer) {
                    source_name = s;
                }
            }
        }
        "HelmRepository" if str_at(o, "/spec/type") == Some("oci") => ready = "True".into(),
        "Alert" | "Provider" => ready = "True".into(),
        "Receiver" => {
            if let Some(p) = str_at(o, "/status/webhookPath") {
                url = p;
            }
        }
        "ImageRepository" => {
            if let Some(i) = str_at(o, "/spec/image") {
                url = i;
            }
        }
        "ImagePolicy" => {
            if let Some(s) = str_at(o, "/spec/imageRepositoryRef/name") {
                source_name = s;
            }
        }
        _ => {}
    }
    let suspended = if view.suspended() { "True" } else { "False" };
    Some(vec![
        (
            "uid",
            str_at(o, "/metadata/uid").unwrap_or_default().to_string(),
        ),
        ("kind", info.kind.to_string()),
        ("name", view.name().to_string()),
        ("exported_namespace", view.namespace().to_string()),
        ("ready", ready),
        ("reason", reason),
        ("suspended", suspended.to_string()),
        ("revision", revision.to_string()),
        ("url", url.to_string()),
        ("ref", reference.to_string()),
        ("source_name", source_name.to_string()),
        ("path", path.to_string()),
    ])
}

/// `flux_resource_info` for these objects (a report); objects that are not Flux kinds are
/// ignored. Series are sorted by label values, as client_golang writes them.
pub fn resource_info<'a>(objects: impl IntoIterator<Item = &'a Value>) -> Family {
    let mut rows: Vec<Vec<(&'static str, String)>> =
        objects.into_iter().filter_map(labels).collect();
    rows.sort_by(|a, b| {
        let mut ka: Vec<&(&str, String)> = a.iter().collect();
        let mut kb: Vec<&(&str, String)> = b.iter().collect();
        ka.sort_by_key(|(k, _)| *k);
        kb.sort_by_key(|(k, _)| *k);
        ka.cmp(&kb)
    });
    let mut family = Family::new(catalog::get(catalog::FLUX_RESOURCE_INFO));
    for row in rows {
        family.push(row, 1.0);
    }
    family
}

/// The time of the last report at or before scenario time `t` (the operator reports at start-up
/// and every `interval` after).
pub fn last_report(t: Duration, interval: Duration) -> Duration {
    let every = interval.as_nanos().max(1);
    Duration::from_nanos(u64::try_from(t.as_nanos() / every * every).unwrap_or(u64::MAX))
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn labels_of(o: &Value) -> std::collections::BTreeMap<&'static str, String> {
        labels(o).unwrap().into_iter().collect()
    }

    #[test]
    fn labels_follow_the_reporter() {
        let ks = json!({"apiVersion": "kustomize.toolkit.fluxcd.io/v1", "kind": "Kustomization",
            "metadata": {"name": "apps", "namespace": "flux-system", "uid": "u1"},
            "spec": {"path": "./apps", "suspend": true, "sourceRef": {"kind": "GitRepository", "name": "fleet"}},
            "status": {"lastAttemptedRevision": "main@sha1:abc", "conditions": [
                {"type": "Ready", "status": "False", "reason": "BuildFailed", "message": "x"}]}});
        let l = labels_of(&ks);
        assert_eq!(l["ready"], "False");
        assert_eq!(l["reason"], "BuildFailed");
        assert_eq!(l["suspended"], "True");
        assert_eq!(l["revision"], "main@sha1:abc");
        assert_eq!(l["source_name"], "fleet");
        assert_eq!(l["path"], "./apps");
        let git = json!({"apiVersion": "source.toolkit.fluxcd.io/v1", "kind": "GitRepository",
            "metadata": {"name": "fleet", "namespace": "flux-system"},
            "spec": {"url": "https://example.com/x", "ref": {"branch": "main", "tag": "v1"}}});
        let l = labels_of(&git);
        assert_eq!(
            (l["ready"].as_str(), l["ref"].as_str(), l["url"].as_str()),
            ("Unknown", "v1", "https://example.com/x")
        );
        let alert = json!({"apiVersion": "notification.toolkit.fluxcd.io/v1beta3", "kind": "Alert",
            "metadata": {"name": "a", "namespace": "flux-system"}, "spec": {}});
        assert_eq!(labels_of(&alert)["ready"], "True");
        assert_eq!(labels_of(&alert)["suspended"], "False");
    }

    #[test]
    fn reports_every_interval() {
        let five = Duration::from_secs(300);
        assert_eq!(last_report(Duration::from_secs(299), five), Duration::ZERO);
        assert_eq!(last_report(Duration::from_secs(300), five), five);
        assert_eq!(last_report(Duration::from_secs(601), five), 2 * five);
    }
}
