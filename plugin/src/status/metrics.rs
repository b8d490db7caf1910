//! Optional enrichment from Prometheus (`--prometheus-url`): when each object last reconciled
//! and how long its reconciles take, from Flux's `gotk_reconcile_duration_seconds` histogram,
//! read through the Prometheus HTTP API.

use std::collections::HashMap;
use std::time::Duration;

use jiff::Timestamp;
use model::ObjectRef;
use serde_json::Value;

/// What the metrics say about one object.
#[derive(Debug, Clone, PartialEq)]
pub struct ReconcileMetrics {
    /// When the reconcile counter last moved (to the query step, one minute), or, when it did
    /// not move within the lookback, the oldest sample seen: the last reconcile was no later.
    pub last_reconcile_at: Option<Timestamp>,
    /// Mean reconcile duration over the series' lifetime (`_sum / _count`).
    pub mean_duration_seconds: Option<f64>,
}

#[derive(Debug, thiserror::Error)]
pub enum MetricsError {
    #[error("cannot query Prometheus at {url}: {reason}")]
    Http { url: String, reason: String },
    #[error("Prometheus at {url} rejected the query: {reason}")]
    Query { url: String, reason: String },
}

const COUNT: &str = "gotk_reconcile_duration_seconds_count";
const SUM: &str = "gotk_reconcile_duration_seconds_sum";

/// The PromQL for the last reconcile time within `lookback`: the newest step where the counter
/// differs from one minute before, or else the oldest sample in the window.
pub fn last_reconcile_query(lookback: Duration) -> String {
    let l = format!("{}s", lookback.as_secs().max(60));
    format!(
        "max by (kind, name, namespace, exported_namespace) (max_over_time((timestamp({COUNT}) and ({COUNT} != {COUNT} offset 1m))[{l}:1m])) \
         or max by (kind, name, namespace, exported_namespace) (min_over_time(timestamp({COUNT})[{l}:1m]))"
    )
}

pub fn mean_duration_query() -> String {
    format!("max by (kind, name, namespace, exported_namespace) ({SUM} / {COUNT})")
}

/// Queries Prometheus. `lookback` should cover k times the longest interval.
pub async fn fetch(
    base_url: &str,
    lookback: Duration,
    timeout: Option<Duration>,
) -> Result<HashMap<ObjectRef, ReconcileMetrics>, MetricsError> {
    let mut builder = reqwest::Client::builder();
    if let Some(t) = timeout {
        builder = builder.timeout(t).connect_timeout(t);
    }
    let http_err = |reason: String| MetricsError::Http {
        url: base_url.to_string(),
        reason,
    };
    let client = builder
        .build()
        .map_err(|e| http_err(crate::cluster::one_line(&e)))?;
    let (last_query, mean_query) = (last_reconcile_query(lookback), mean_duration_query());
    let (last, mean) = futures::join!(
        instant(&client, base_url, &last_query),
        instant(&client, base_url, &mean_query)
    );
    let mut out: HashMap<ObjectRef, ReconcileMetrics> = HashMap::new();
    for (r, v) in last? {
        let at = Timestamp::from_millisecond((v * 1000.0) as i64).ok();
        out.entry(r)
            .or_insert(ReconcileMetrics {
                last_reconcile_at: None,
                mean_duration_seconds: None,
            })
            .last_reconcile_at = at;
    }
    for (r, v) in mean? {
        if v.is_finite() {
            out.entry(r)
                .or_insert(ReconcileMetrics {
                    last_reconcile_at: None,
                    mean_duration_seconds: None,
                })
                .mean_duration_seconds = Some(v);
        }
    }
    Ok(out)
}

async fn instant(
    client: &reqwest::Client,
    base_url: &str,
    query: &str,
) -> Result<Vec<(ObjectRef, f64)>, MetricsError> {
    let url = format!("{}/api/v1/query", base_url.trim_end_matches('/'));
    let http_err = |reason: String| MetricsError::Http {
        url: base_url.to_string(),
        reason,
    };
    let resp = client
        .get(&url)
        .query(&[("query", query)])
        .send()
        .await
        .map_err(|e| http_err(crate::cluster::transport_reason(&e)))?;
    let status = resp.status();
    let body: Value = resp
        .json()
        .await
        .map_err(|e| http_err(format!("HTTP {status}: {e}")))?;
    if body.get("status").and_then(Value::as_str) != Some("success") {
        let reason = body
            .get("error")
            .and_then(Value::as_str)
            .unwrap_or("unknown error")
            .to_string();
        return Err(MetricsError::Query {
            url: base_url.to_string(),
            reason,
        });
    }
    Ok(parse_vector(&body))
}

/// Samples of an instant-vector answer, keyed by the object their labels name. The object's
/// namespace is `exported_namespace` when a PodMonitor scrape renamed it.
pub fn parse_vector(body: &Value) -> Vec<(ObjectRef, f64)> {
    let Some(result) = body.pointer("/data/result").and_then(Value::as_array) else {
        return Vec::new();
    };
    result
        .iter()
        .filter_map(|s| {
            let m = s.get("metric")?;
            let label = |k: &str| m.get(k).and_then(Value::as_str);
            let ns = label("exported_namespace").or_else(|| label("namespace"))?;
            let r = ObjectRef::new(label("kind")?, ns, label("name")?);
            let v: f64 = s.pointer("/value/1")?.as_str()?.parse().ok()?;
            Some((r, v))
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn reads_objects_from_labels() {
        let body = json!({"status": "success", "data": {"resultType": "vector", "result": [
            {"metric": {"kind": "Kustomization", "name": "apps", "namespace": "flux-system"}, "value": [1.7e9, "1735732800"]},
            {"metric": {"kind": "GitRepository", "name": "repo", "namespace": "flux-system", "exported_namespace": "apps"}, "value": [1.7e9, "0.5"]},
            {"metric": {"kind": "GitRepository"}, "value": [1.7e9, "1"]}
        ]}});
        let v = parse_vector(&body);
        assert_eq!(v.len(), 2);
        assert_eq!(
            v[0].0,
            ObjectRef::new("Kustomization", "flux-system", "apps")
        );
        assert_eq!(v[1].0, ObjectRef::new("GitRepository", "apps", "repo"));
        assert!(last_reconcile_query(Duration::from_secs(1800)).contains("[1800s:1m]"));
    }
}
