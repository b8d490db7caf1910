//! The scenario's fault timeline in real time: the user-level actions a fault stands for
//! (suspending and resuming, a spec change nobody reconciles), applied when scenario time
//! reaches them. Object faults that change outcomes need no action: reconciles consult the
//! timeline themselves.

use std::sync::Arc;
use std::time::Duration;

use kube::api::{Api, DynamicObject, Patch};
use serde_json::json;

use super::{patch_params, Ctx};
use crate::scenario::{Fault, FaultTarget};

/// Whether a fault stands for a user's spec write the timeline makes (suspend, stale).
pub(super) fn writes_spec(fault: Fault) -> bool {
    matches!(fault, Fault::Suspend | Fault::Stale)
}

/// The spec-writing faults already part of the seeded history when serving starts at `start`.
pub(super) fn written_before(scenario: &crate::scenario::Scenario, start: Duration) -> std::collections::HashSet<usize> {
    scenario
        .faults
        .iter()
        .enumerate()
        .filter(|(_, f)| writes_spec(f.fault) && start > Duration::ZERO && f.at <= start)
        .map(|(i, _)| i)
        .collect()
}

/// One write the timeline makes at a scenario time.
struct Action {
    fault: usize,
    at: Duration,
    target: model::ObjectRef,
    patch: serde_json::Value,
    what: &'static str,
}

pub(super) async fn run(ctx: Arc<Ctx>) {
    let start = ctx.clock.start_at();
    let mut actions: Vec<Action> = Vec::new();
    for (fault, f) in ctx.scenario.faults.iter().enumerate() {
        let FaultTarget::Object(target) = &f.target else { continue };
        match f.fault {
            Fault::Suspend => {
                actions.push(Action { fault, at: f.at, target: target.clone(), patch: json!({"spec": {"suspend": true}}), what: "suspend" });
                if let Some(d) = f.duration {
                    actions.push(Action { fault, at: f.at + d, target: target.clone(), patch: json!({"spec": {"suspend": false}}), what: "resume" });
                }
            }
            Fault::Stale => {
                actions.push(Action { fault, at: f.at, target: target.clone(), patch: json!({"spec": {"timeout": "5m1s"}}), what: "spec change (stale)" });
            }
            _ => {}
        }
    }
    // Actions before the fast-forward point are already part of the seeded history.
    actions.retain(|a| a.at >= start && !(a.at == start && start > Duration::ZERO));
    actions.sort_by_key(|a| a.at);
    for action in actions {
        tokio::time::sleep_until(ctx.clock.wall_instant(action.at).into()).await;
        let Some((ar, _)) = ctx.api_resources.get(action.target.kind.as_str()) else { continue };
        if action.at == Duration::ZERO {
            // As in virtual time: a fault from the very start strikes after the object's first
            // reconcile, so that it has a status to keep.
            wait_for_first_status(&ctx, &action.target).await;
        }
        let api: Api<DynamicObject> = Api::namespaced_with(ctx.client.clone(), &action.target.namespace, ar);
        if let Err(err) = api.patch(&action.target.name, &patch_params(), &Patch::Merge(&action.patch)).await {
            tracing::warn!(target = %action.target, error = %err, "scenario action {} failed", action.what);
        } else {
            tracing::info!(target = %action.target, "scenario action: {}", action.what);
        }
        ctx.written.lock().expect("written lock").insert(action.fault);
    }
}

async fn wait_for_first_status(ctx: &Ctx, target: &model::ObjectRef) {
    use crate::core::World as _;
    let deadline = tokio::time::Instant::now() + Duration::from_secs(10);
    while tokio::time::Instant::now() < deadline {
        if ctx.world.readiness(target).is_some_and(|r| !r.reason.is_empty()) {
            return;
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}
