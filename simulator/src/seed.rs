//! The scenario's objects as they stand at the scenario time serving starts: created fresh at
//! time 0, or fast-forwarded in virtual time (`--start-at`) so that they arrive with a history,
//! their timestamps moved so that the present is now, and managedFields saying who changed what
//! when (so "suspended since" reads as on a real cluster).

use std::time::Duration;

use anyhow::{anyhow, bail, Context as _};
use jiff::{SignedDuration, Timestamp};
use kube::api::{Api, DynamicObject, PostParams};
use kube::Client;
use serde_json::{json, Value};

use crate::apiserver::Store;
use crate::core::{self, Simulation};
use crate::scenario::{Fault, FaultTarget, Scenario};

/// The manager name seeded history is attributed to.
const HISTORY_MANAGER: &str = "flux-sim";

/// The objects to seed, with timestamps and managedFields set as if serving started `start_at`
/// into the scenario, now.
pub fn objects(scenario: &Scenario, start_at: Duration, now: Timestamp) -> Vec<Value> {
    let mut objects = Simulation::objects_only(scenario, start_at);
    // The core's clock starts at core::EPOCH; ours started start_at ago.
    let offset = now.duration_since(core::timestamp(start_at));
    for obj in &mut objects {
        shift_times(obj, offset, false);
        if !start_at.is_zero() {
            obj["metadata"]["managedFields"] = managed_fields(scenario, obj, start_at, offset);
        }
    }
    objects
}

/// Moves every RFC3339 timestamp in the object (not in annotations: those are user data) by `offset`.
fn shift_times(v: &mut Value, offset: SignedDuration, in_annotations: bool) {
    match v {
        Value::String(s) if !in_annotations && s.ends_with('Z') && s.len() >= 20 => {
            if let Some(moved) = s.parse::<Timestamp>().ok().and_then(|t| t.checked_add(offset).ok()) {
                *s = moved.strftime("%Y-%m-%dT%H:%M:%SZ").to_string();
            }
        }
        Value::Array(items) => items.iter_mut().for_each(|i| shift_times(i, offset, in_annotations)),
        Value::Object(map) => {
            for (k, child) in map.iter_mut() {
                shift_times(child, offset, in_annotations || k == "annotations");
            }
        }
        _ => {}
    }
}

/// managedFields for a fast-forwarded object: creation by the history manager at time 0, the
/// user-level spec writes of the fault timeline (suspend, a spec change nobody observed) at
/// their times, and status written by the controller.
fn managed_fields(scenario: &Scenario, obj: &Value, start_at: Duration, offset: SignedDuration) -> Value {
    let view = model::FluxObject::new(obj);
    let me = view.object_ref();
    let time = |t: Duration| {
        core::timestamp(t).checked_add(offset).map(|t| t.strftime("%Y-%m-%dT%H:%M:%SZ").to_string()).unwrap_or_default()
    };
    let api_version = view.api_version();
    let mut entries = vec![json!({
        "manager": HISTORY_MANAGER, "operation": "Update", "apiVersion": api_version, "time": time(Duration::ZERO),
        "fieldsType": "FieldsV1", "fieldsV1": {"f:spec": {".": {}}},
    })];
    for f in &scenario.faults {
        if f.at > start_at || f.target != FaultTarget::Object(me.clone()) {
            continue;
        }
        let fields = match f.fault {
            Fault::Suspend => json!({"f:spec": {"f:suspend": {}}}),
            Fault::Stale => json!({"f:spec": {"f:timeout": {}}}),
            _ => continue,
        };
        let end = f.duration.map(|d| f.at + d).filter(|e| *e <= start_at);
        entries.push(json!({
            "manager": "kubectl-patch", "operation": "Update", "apiVersion": api_version, "time": time(end.unwrap_or(f.at)),
            "fieldsType": "FieldsV1", "fieldsV1": fields,
        }));
    }
    if obj.get("status").is_some() {
        entries.push(json!({
            "manager": view.info().map_or("flux-sim", |i| i.controller.name()), "operation": "Update",
            "apiVersion": api_version, "time": time(start_at), "fieldsType": "FieldsV1",
            "fieldsV1": {"f:status": {".": {}}}, "subresource": "status",
        }));
    }
    Value::Array(entries)
}

/// Seeds the embedded API's store.
pub fn into_store(store: &Store, scenario: &Scenario, start_at: Duration) -> anyhow::Result<()> {
    for obj in objects(scenario, start_at, Timestamp::now()) {
        let name = model::FluxObject::new(&obj).object_ref();
        store.restore(obj).map_err(|e| anyhow!("seeding {name}: {e}"))?;
    }
    Ok(())
}

/// Creates the scenario's objects in a real cluster where they do not exist yet.
pub async fn into_cluster(client: &Client, scenario: &Scenario, start_at: Duration) -> anyhow::Result<()> {
    if !start_at.is_zero() {
        bail!("--start-at needs the embedded API: a real cluster's history cannot be written");
    }
    let namespaces: Api<k8s_openapi::api::core::v1::Namespace> = Api::all(client.clone());
    let mut seen = std::collections::BTreeSet::new();
    for obj in objects(scenario, Duration::ZERO, Timestamp::now()) {
        let view = model::FluxObject::new(&obj);
        let ns = view.namespace().to_string();
        if seen.insert(ns.clone()) {
            let namespace = serde_json::from_value(json!({"metadata": {"name": ns}}))?;
            match namespaces.create(&PostParams::default(), &namespace).await {
                Ok(_) => {}
                Err(kube::Error::Api(e)) if e.code == 409 => {}
                Err(e) => return Err(e).with_context(|| format!("creating namespace {ns}")),
            }
        }
        let info = view.info().ok_or_else(|| anyhow!("unknown kind {}", view.kind()))?;
        let ar = crate::controllers::api_resource(info, scenario.flux_version)
            .ok_or_else(|| anyhow!("{} does not exist in Flux {}", info.kind, scenario.flux_version))?;
        let api: Api<DynamicObject> = Api::namespaced_with(client.clone(), &ns, &ar);
        let dynamic: DynamicObject = serde_json::from_value(obj.clone())?;
        match api.create(&PostParams::default(), &dynamic).await {
            Ok(_) => {}
            Err(kube::Error::Api(e)) if e.code == 409 => {}
            Err(e) => return Err(e).with_context(|| format!("creating {}", view.object_ref())),
        }
    }
    Ok(())
}
