//! What the fake controllers' reconciles tell the world besides status: the eventv1 JSON they
//! POST to a notification-controller address (with the Flux recorder's retry rules), and the
//! core/v1 Events they record in the API, aggregated per object and reason as client-go's
//! recorder aggregates repeats.

use std::sync::Arc;

use kube::api::{Api, ApiResource, DynamicObject, Patch, PatchParams, PostParams};
use kube::Client;
use serde_json::{json, Value};

use crate::controllers::{Observer, ReconcileObservation};
use crate::notify::{self, EventSender};

/// The `reportingInstance` of a controller: its pod's name, the one its metrics' `pod` label has.
fn instance(controller: model::Controller) -> String {
    crate::telemetry::scrape::pod_name(controller)
}

fn core_events() -> ApiResource {
    ApiResource::erase::<k8s_openapi::api::core::v1::Event>(&())
}

/// An observer that posts every reconcile's events to `sender` (when given) and records them as
/// core/v1 Events through `client`.
pub fn observer(client: Client, sender: Option<Arc<EventSender>>) -> Observer {
    Arc::new(move |obs: &ReconcileObservation| {
        for ev in &obs.outcome.events {
            if let Some(sender) = sender.as_ref().filter(|_| ev.severity.is_posted()) {
                let body = notify::event_v1(ev, &obs.live, &instance(obs.controller));
                let sender = sender.clone();
                tokio::spawn(async move {
                    if let Err(e) = sender.post(&body).await {
                        tracing::warn!(error = %e, "posting event to notification-controller failed");
                    }
                });
            }
            let event = notify::core_event(ev, &obs.live);
            let client = client.clone();
            tokio::spawn(async move { record(client, event).await });
        }
    })
}

/// Records a core/v1 Event: one per involved object and reason, counting repeats.
pub async fn record(client: Client, mut event: Value) {
    let ns = event.pointer("/metadata/namespace").and_then(Value::as_str).unwrap_or("default").to_string();
    let uid = event.pointer("/involvedObject/uid").and_then(Value::as_str).unwrap_or("");
    let object = event.pointer("/involvedObject/name").and_then(Value::as_str).unwrap_or("object");
    let reason = event.get("reason").and_then(Value::as_str).unwrap_or("");
    let key = {
        use std::hash::{Hash, Hasher};
        let mut h = std::collections::hash_map::DefaultHasher::new();
        (uid, reason).hash(&mut h);
        h.finish()
    };
    let name = format!("{object}.{key:016x}");
    event["metadata"]["name"] = json!(name);
    let api: Api<DynamicObject> = Api::namespaced_with(client, &ns, &core_events());
    let Ok(obj) = serde_json::from_value::<DynamicObject>(event.clone()) else { return };
    match api.create(&PostParams::default(), &obj).await {
        Ok(_) => {}
        Err(kube::Error::Api(e)) if e.code == 409 => {
            let count = api
                .get(&name)
                .await
                .ok()
                .and_then(|o| o.data.get("count").and_then(Value::as_i64))
                .unwrap_or(1);
            let patch = json!({
                "message": event["message"], "lastTimestamp": event["lastTimestamp"],
                "type": event["type"], "count": count + 1,
            });
            if let Err(e) = api.patch(&name, &PatchParams::default(), &Patch::Merge(&patch)).await {
                tracing::debug!(error = %e, "updating event {name} failed");
            }
        }
        Err(e) => tracing::debug!(error = %e, "recording event {name} failed"),
    }
}

/// Combines observers: each sees every reconcile.
pub fn fan_out(observers: Vec<Observer>) -> Observer {
    Arc::new(move |obs: &ReconcileObservation| observers.iter().for_each(|o| o(obs)))
}
