//! Reading Kubernetes events: which API serves them (core/v1 as `kubectl events` and `flux
//! events` read them, else events.k8s.io/v1, two views of the same objects on a real API server),
//! paged lists with field selectors, and one record per event in core/v1's shape whichever API
//! it came from.

use jiff::Timestamp;
use kube::api::ListParams;
use kube::discovery::ApiResource;
use model::ObjectRef;
use serde_json::{json, Value};

use crate::cluster::{CallError, Cluster, ClusterError};

/// Page size for event lists, as kubectl's chunk size.
const PAGE_SIZE: u32 = 500;

/// The API events are read from.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum EventsApi {
    /// `v1` Events (`involvedObject`, `message`, `count`, `firstTimestamp`, `lastTimestamp`).
    Core,
    /// `events.k8s.io/v1` Events (`regarding`, `note`, `series`, `deprecatedCount`, ...).
    EventsV1,
}

impl EventsApi {
    pub fn list_path(self, namespace: Option<&str>) -> String {
        let base = match self {
            EventsApi::Core => "/api/v1",
            EventsApi::EventsV1 => "/apis/events.k8s.io/v1",
        };
        match namespace {
            Some(ns) => format!("{base}/namespaces/{ns}/events"),
            None => format!("{base}/events"),
        }
    }

    /// A field selector term in this API's spelling (`involvedObject.kind` is `regarding.kind`).
    pub fn field(self, core_field: &str) -> String {
        match (self, core_field.strip_prefix("involvedObject.")) {
            (EventsApi::EventsV1, Some(rest)) => format!("regarding.{rest}"),
            _ => core_field.to_string(),
        }
    }

    pub fn api_resource(self) -> ApiResource {
        match self {
            EventsApi::Core => ApiResource::erase::<k8s_openapi::api::core::v1::Event>(&()),
            EventsApi::EventsV1 => ApiResource::erase::<k8s_openapi::api::events::v1::Event>(&()),
        }
    }

    pub fn name(self) -> &'static str {
        match self {
            EventsApi::Core => "events (v1)",
            EventsApi::EventsV1 => "events.events.k8s.io (v1)",
        }
    }

    /// The record of one listed or watched item of this API.
    pub fn record(self, item: Value) -> Option<EventRecord> {
        match self {
            EventsApi::Core => EventRecord::from_core(item),
            EventsApi::EventsV1 => EventRecord::from_events_v1(&item),
        }
    }
}

/// The event APIs the cluster serves, in the order to try them: core/v1 first (what kubectl and
/// flux read), then events.k8s.io/v1 (for a client allowed only that group).
pub async fn served_apis(cluster: &Cluster) -> Result<Vec<EventsApi>, ClusterError> {
    let core = cluster
        .call(
            "API discovery",
            cluster.client.list_core_api_resources("v1"),
        )
        .await;
    let events = cluster
        .call(
            "API discovery",
            cluster.client.list_api_group_resources("events.k8s.io/v1"),
        )
        .await;
    let mut out = Vec::new();
    let serves = |r: &k8s_openapi::apimachinery::pkg::apis::meta::v1::APIResourceList| {
        r.resources.iter().any(|x| x.name == "events")
    };
    match &core {
        Ok(list) if serves(list) => out.push(EventsApi::Core),
        Err(CallError::Cluster(e)) => return Err(e.clone()),
        _ => {}
    }
    if let Ok(list) = &events {
        if serves(list) {
            out.push(EventsApi::EventsV1);
        }
    }
    Ok(out)
}

/// What to list: a namespace (None = all) and core/v1 field selector terms.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Query {
    pub namespace: Option<String>,
    /// `(field, value)` in core/v1 spelling, e.g. `("involvedObject.kind", "Alert")`.
    pub fields: Vec<(String, String)>,
}

impl Query {
    pub fn field_selector(&self, api: EventsApi) -> Option<String> {
        (!self.fields.is_empty()).then(|| {
            self.fields
                .iter()
                .map(|(f, v)| format!("{}={v}", api.field(f)))
                .collect::<Vec<_>>()
                .join(",")
        })
    }
}

/// Lists events, page by page.
pub async fn list(
    cluster: &Cluster,
    api: EventsApi,
    query: &Query,
) -> Result<Vec<EventRecord>, CallError> {
    let path = api.list_path(query.namespace.as_deref());
    let mut out = Vec::new();
    let mut token: Option<String> = None;
    loop {
        let params = ListParams {
            field_selector: query.field_selector(api),
            limit: Some(PAGE_SIZE),
            continue_token: token.take(),
            ..Default::default()
        };
        let req = kube::core::Request::new(&path)
            .list(&params)
            .map_err(|e| CallError::Api {
                code: 0,
                message: e.to_string(),
            })?;
        let mut page: Value = cluster
            .call("list events", cluster.client.request::<Value>(req))
            .await?;
        if let Some(Value::Array(items)) = page.get_mut("items").map(Value::take) {
            out.extend(items.into_iter().filter_map(|i| api.record(i)));
        }
        token = page
            .pointer("/metadata/continue")
            .and_then(Value::as_str)
            .filter(|t| !t.is_empty())
            .map(str::to_string);
        if token.is_none() {
            return Ok(out);
        }
    }
}

/// Lists with the first API that answers; a refusal (403) of one moves on to the next.
pub async fn list_any(
    cluster: &Cluster,
    apis: &[EventsApi],
    query: &Query,
) -> Result<(EventsApi, Vec<EventRecord>), CallError> {
    let mut last = None;
    for api in apis {
        match list(cluster, *api, query).await {
            Ok(items) => return Ok((*api, items)),
            Err(CallError::Api { code, message }) if code == 403 || code == 404 => {
                last = Some(CallError::Api {
                    code,
                    message: format!("{}: {message}", api.name()),
                });
            }
            Err(e) => return Err(e),
        }
    }
    Err(last.unwrap_or(CallError::Api {
        code: 404,
        message: "the Kubernetes API serves no events (neither v1 nor events.k8s.io/v1)".into(),
    }))
}

fn time_at(v: &Value, key: &str) -> Option<Timestamp> {
    v.get(key)
        .and_then(Value::as_str)
        .filter(|s| !s.is_empty())
        .and_then(|s| s.parse().ok())
}

fn str_at<'a>(v: &'a Value, path: &str) -> &'a str {
    v.pointer(path).and_then(Value::as_str).unwrap_or("")
}

/// One event, read into core/v1's fields (`raw` is the core/v1 object, for `-o json`).
#[derive(Debug, Clone, PartialEq)]
pub struct EventRecord {
    pub namespace: String,
    pub name: String,
    pub uid: String,
    pub resource_version: String,
    pub type_: String,
    pub reason: String,
    /// As recorded; show it through [`EventRecord::shown_message`].
    pub message: String,
    /// The object the event is about (`involvedObject`, `regarding`).
    pub object: ObjectRef,
    pub object_api_version: String,
    pub event_time: Option<Timestamp>,
    pub first_timestamp: Option<Timestamp>,
    pub last_timestamp: Option<Timestamp>,
    pub count: i64,
    /// `series.count` and `series.lastObservedTime`, for events recorded with the new API.
    pub series: Option<(i64, Option<Timestamp>)>,
    pub raw: Value,
}

impl EventRecord {
    pub fn from_core(raw: Value) -> Option<EventRecord> {
        let meta = raw.get("metadata")?;
        let involved = raw.get("involvedObject").cloned().unwrap_or(Value::Null);
        let namespace = str_at(meta, "/namespace").to_string();
        let object_ns = match str_at(&involved, "/namespace") {
            "" => namespace.clone(),
            ns => ns.to_string(),
        };
        let series = raw.get("series").filter(|s| s.is_object()).map(|s| {
            (
                s.get("count").and_then(Value::as_i64).unwrap_or(0),
                time_at(s, "lastObservedTime"),
            )
        });
        Some(EventRecord {
            name: str_at(meta, "/name").to_string(),
            uid: str_at(meta, "/uid").to_string(),
            resource_version: str_at(meta, "/resourceVersion").to_string(),
            type_: str_at(&raw, "/type").to_string(),
            reason: str_at(&raw, "/reason").to_string(),
            message: str_at(&raw, "/message").to_string(),
            object: ObjectRef::new(
                str_at(&involved, "/kind"),
                object_ns,
                str_at(&involved, "/name"),
            ),
            object_api_version: str_at(&involved, "/apiVersion").to_string(),
            event_time: time_at(&raw, "eventTime"),
            first_timestamp: time_at(&raw, "firstTimestamp"),
            last_timestamp: time_at(&raw, "lastTimestamp"),
            count: raw.get("count").and_then(Value::as_i64).unwrap_or(0),
            series,
            namespace,
            raw,
        })
    }

    /// An events.k8s.io/v1 Event as the API server converts it to core/v1.
    pub fn from_events_v1(v: &Value) -> Option<EventRecord> {
        let mut core = json!({
            "apiVersion": "v1",
            "kind": "Event",
            "metadata": v.get("metadata")?.clone(),
            "involvedObject": v.get("regarding").cloned().unwrap_or(json!({})),
            "reason": v.get("reason").cloned().unwrap_or(Value::Null),
            "message": v.get("note").cloned().unwrap_or(Value::Null),
            "source": v.get("deprecatedSource").cloned().unwrap_or(json!({})),
            "firstTimestamp": v.get("deprecatedFirstTimestamp").cloned().unwrap_or(Value::Null),
            "lastTimestamp": v.get("deprecatedLastTimestamp").cloned().unwrap_or(Value::Null),
            "count": v.get("deprecatedCount").cloned().unwrap_or(Value::Null),
            "type": v.get("type").cloned().unwrap_or(Value::Null),
            "eventTime": v.get("eventTime").cloned().unwrap_or(Value::Null),
            "reportingComponent": v.get("reportingController").cloned().unwrap_or(Value::Null),
            "reportingInstance": v.get("reportingInstance").cloned().unwrap_or(Value::Null),
            "action": v.get("action").cloned().unwrap_or(Value::Null),
        });
        if let Some(series) = v.get("series").filter(|s| s.is_object()) {
            core["series"] = series.clone();
        }
        if let Some(related) = v.get("related").filter(|s| s.is_object()) {
            core["related"] = related.clone();
        }
        if let Value::Object(map) = &mut core {
            map.retain(|_, v| !v.is_null());
        }
        EventRecord::from_core(core)
    }

    /// kubectl's sort time: the series' last observation, else lastTimestamp, else eventTime.
    pub fn last_seen(&self) -> Option<Timestamp> {
        match self.series {
            Some((_, last)) => last,
            None => self.last_timestamp.or(self.event_time),
        }
        .or(self.first_timestamp)
    }

    /// When it was first seen: eventTime, else firstTimestamp.
    pub fn first_seen(&self) -> Option<Timestamp> {
        self.event_time.or(self.first_timestamp)
    }

    /// How many times it happened (a singleton counts 1).
    pub fn occurrences(&self) -> u32 {
        let n = self.series.map_or(self.count, |(c, _)| c).max(1);
        u32::try_from(n).unwrap_or(u32::MAX)
    }

    /// Whether the object it is about is of a Flux kind (by kind and, when given, API group).
    pub fn is_about_flux(&self) -> bool {
        model::kinds::by_kind(&self.object.kind).is_some_and(|k| {
            let group = self
                .object_api_version
                .rsplit_once('/')
                .map_or("", |(g, _)| g);
            self.object_api_version.is_empty() || group == k.group
        })
    }

    /// The message with secrets withheld (addresses in notification-controller's messages).
    pub fn shown_message(&self) -> String {
        super::redact::message_for(&self.object.kind, self.message.trim())
    }

    /// The core/v1 object with the shown message, for `-o json|yaml` (without managedFields, as
    /// kubectl prints objects).
    pub fn shown_object(&self) -> Value {
        let mut v = self.raw.clone();
        if v.get("message").is_some() {
            v["message"] = Value::String(self.shown_message());
        }
        if let Some(meta) = v.get_mut("metadata").and_then(Value::as_object_mut) {
            meta.remove("managedFields");
        }
        v
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn events_v1_reads_as_core() {
        let v = json!({"apiVersion": "events.k8s.io/v1", "kind": "Event",
            "metadata": {"name": "on-call.1", "namespace": "flux-system", "uid": "u1", "resourceVersion": "7"},
            "regarding": {"kind": "Alert", "name": "on-call", "namespace": "flux-system", "apiVersion": "notification.toolkit.fluxcd.io/v1beta3"},
            "reason": "NotificationDispatchFailed", "note": "failed to send notification", "type": "Warning",
            "eventTime": "2025-01-01T10:00:00.000000Z", "reportingController": "notification-controller",
            "series": {"count": 4, "lastObservedTime": "2025-01-01T10:30:00.000000Z"}});
        let r = EventRecord::from_events_v1(&v).unwrap();
        assert_eq!(r.object, ObjectRef::new("Alert", "flux-system", "on-call"));
        assert_eq!(
            (r.type_.as_str(), r.reason.as_str(), r.message.as_str()),
            (
                "Warning",
                "NotificationDispatchFailed",
                "failed to send notification"
            )
        );
        assert_eq!(r.occurrences(), 4);
        assert_eq!(r.last_seen().unwrap().to_string(), "2025-01-01T10:30:00Z");
        assert_eq!(r.first_seen().unwrap().to_string(), "2025-01-01T10:00:00Z");
        assert_eq!(r.raw["involvedObject"]["kind"], "Alert");
        assert_eq!(r.raw["message"], "failed to send notification");
        assert!(r.is_about_flux());
        assert_eq!(
            EventsApi::EventsV1.field("involvedObject.kind"),
            "regarding.kind"
        );
        assert_eq!(EventsApi::EventsV1.field("type"), "type");
    }

    #[test]
    fn flux_kinds_are_told_by_group_too() {
        let ev = |kind: &str, api: &str| {
            EventRecord::from_core(json!({"metadata": {"name": "x", "namespace": "a"},
                "involvedObject": {"kind": kind, "name": "x", "apiVersion": api}}))
            .unwrap()
        };
        assert!(ev("Kustomization", "kustomize.toolkit.fluxcd.io/v1").is_about_flux());
        assert!(
            !ev("Alert", "monitoring.example.com/v1").is_about_flux(),
            "another project's Alert kind"
        );
        assert!(!ev("Pod", "v1").is_about_flux());
        assert!(ev("HelmRelease", "").is_about_flux());
        let q = Query {
            namespace: None,
            fields: vec![
                ("involvedObject.kind".into(), "Alert".into()),
                ("type".into(), "Warning".into()),
            ],
        };
        assert_eq!(
            q.field_selector(EventsApi::Core).unwrap(),
            "involvedObject.kind=Alert,type=Warning"
        );
        assert_eq!(
            q.field_selector(EventsApi::EventsV1).unwrap(),
            "regarding.kind=Alert,type=Warning"
        );
    }
}
