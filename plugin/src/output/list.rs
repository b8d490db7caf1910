//! `-o json|yaml`: a kubectl-style `List` whose items carry each object's reference, verdict,
//! evidence and root cause. Warnings never go here (stderr has them), so the output stays a List.

use serde_json::{json, Value};

use crate::status::report::{Report, StatusRow};
use crate::status::root_cause::RootCause;

fn root_cause(r: &RootCause) -> Value {
    json!({
        "kind": r.object.kind,
        "namespace": r.object.namespace,
        "name": r.object.name,
        "verdict": r.verdict_text(),
        "reason": r.reason,
        "message": r.message,
    })
}

/// One item of the List.
pub fn item(row: &StatusRow) -> Value {
    json!({
        "cluster": row.cluster,
        "objectRef": {
            "apiVersion": row.api_version,
            "kind": row.object.kind,
            "namespace": row.object.namespace,
            "name": row.object.name,
        },
        "verdict": row.verdict.as_str(),
        "since": row.since.map(|t| t.to_string()),
        "reason": row.reason,
        "message": row.message,
        "revision": row.revision,
        "interval": row.interval,
        "suspended": row.suspended,
        "rootCause": row.root_cause.as_ref().map(root_cause),
        "lastReconcileAt": row.metrics.as_ref().and_then(|m| m.last_reconcile_at).map(|t| t.to_string()),
        "reconcileDurationSeconds": row.metrics.as_ref().and_then(|m| m.mean_duration_seconds),
    })
}

pub fn list(report: &Report) -> Value {
    // In the order `json` writes them (and serde_json's sorted maps would).
    json!({
        "apiVersion": "v1",
        "items": report.rows.iter().map(item).collect::<Vec<_>>(),
        "kind": "List",
        "metadata": {},
    })
}

/// The List as `serde_json::to_string_pretty` writes it, built item by item: at 100k objects
/// a tree of the whole List would hold several times the text it prints.
pub fn json(report: &Report) -> String {
    if report.rows.is_empty() {
        let mut s = serde_json::to_string_pretty(&list(report)).unwrap_or_default();
        s.push('\n');
        return s;
    }
    let mut s = String::from("{\n  \"apiVersion\": \"v1\",\n  \"items\": [\n");
    for (i, row) in report.rows.iter().enumerate() {
        if i > 0 {
            s.push_str(",\n");
        }
        let text = serde_json::to_string_pretty(&item(row)).unwrap_or_default();
        for (j, line) in text.lines().enumerate() {
            if j > 0 {
                s.push('\n');
            }
            s.push_str("    ");
            s.push_str(line);
        }
    }
    s.push_str("\n  ],\n  \"kind\": \"List\",\n  \"metadata\": {}\n}\n");
    s
}

pub fn yaml(report: &Report) -> String {
    serde_saphyr::to_string(&list(report)).unwrap_or_default()
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::status::report::tests::sample_report;

    #[test]
    fn json_is_written_as_to_string_pretty_writes_the_list() {
        let report = sample_report();
        let mut whole = serde_json::to_string_pretty(&list(&report)).unwrap();
        whole.push('\n');
        assert_eq!(json(&report), whole);
    }

    #[test]
    fn json_is_a_kubectl_list() {
        let v: Value = serde_json::from_str(&json(&sample_report())).unwrap();
        assert_eq!(v["apiVersion"], "v1");
        assert_eq!(v["kind"], "List");
        assert_eq!(v["metadata"], json!({}));
        let items = v["items"].as_array().unwrap();
        assert_eq!(items.len(), 5);
        let apps = items
            .iter()
            .find(|i| i["objectRef"]["name"] == "apps")
            .unwrap();
        assert_eq!(
            apps["objectRef"]["apiVersion"],
            "kustomize.toolkit.fluxcd.io/v1"
        );
        assert_eq!(apps["verdict"], "Failing");
        assert_eq!(apps["since"], "2025-01-01T11:00:00Z");
        assert_eq!(apps["interval"], "10m0s");
        assert_eq!(apps["rootCause"]["kind"], "GitRepository");
        assert_eq!(apps["rootCause"]["verdict"], "Failing");
        assert_eq!(apps["rootCause"]["reason"], "GitOperationFailed");
        let repo = items
            .iter()
            .find(|i| i["objectRef"]["kind"] == "HelmRepository")
            .unwrap();
        assert_eq!(repo["rootCause"], Value::Null);
        assert_eq!(repo["revision"], "sha256:1234");
    }

    #[test]
    fn yaml_carries_the_same_list() {
        let y = yaml(&sample_report());
        assert!(y.starts_with("apiVersion: v1\n"), "{y}");
        assert!(y.contains("kind: List"));
        assert!(y.contains("verdict: Suspended"));
    }
}
