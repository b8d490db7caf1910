//! kustomize-controller: Kustomization. Needs its source's artifact and ready dependencies, then
//! builds, applies, prunes and health-checks; failures requeue at spec.retryInterval.

use std::time::Duration;

use model::object::RefRole;
use serde_json::json;

use super::util::{go_elapsed, not_found, Ctx};
use super::{KindOutcome, Severity, REQUEUE_DEPENDENCY};
use crate::scenario::Fault;

pub(crate) fn reconcile(ctx: &mut Ctx) -> KindOutcome {
    let retry = ctx
        .obj
        .json
        .pointer("/spec/retryInterval")
        .and_then(|v| v.as_str())
        .and_then(|s| model::parse_go_duration(s).ok())
        .unwrap_or(ctx.interval);
    let refs = ctx.obj.references();
    let world = ctx.input.world;

    // The source and its artifact (a failing source keeps serving its last artifact).
    let Some(src) = refs
        .iter()
        .find(|r| r.role == RefRole::Source)
        .map(|r| r.target.clone())
    else {
        let msg = "spec.sourceRef is required";
        ctx.set_false("Ready", "ArtifactFailed", msg);
        return KindOutcome::failure("ArtifactFailed", msg, retry, false);
    };
    if world.readiness(&src).is_none() {
        let msg = not_found(&src.kind, &src.name);
        ctx.set_false("Ready", "ArtifactFailed", &msg);
        return KindOutcome::failure("ArtifactFailed", &msg, retry, false);
    }
    let Some(revision) = world.artifact_revision(&src) else {
        let msg = format!(
            "Source artifact not found, retrying in {}",
            model::format_go_duration(REQUEUE_DEPENDENCY)
        );
        ctx.set_false("Ready", "ArtifactFailed", &msg);
        return KindOutcome::failure("ArtifactFailed", &msg, REQUEUE_DEPENDENCY, false);
    };

    for dep in refs.iter().filter(|r| r.role == RefRole::DependsOn).map(|r| &r.target) {
        let msg = match world.readiness(dep) {
            // kustomization_controller.go checkDependencies.
            None => Some(format!(
                "dependency '{}/{}' not found: {}",
                dep.namespace,
                dep.name,
                not_found("Kustomization", &dep.name)
            )),
            Some(r) if !r.ready => Some(format!("dependency '{}/{}' is not ready", dep.namespace, dep.name)),
            Some(_) => None,
        };
        if let Some(msg) = msg {
            ctx.set_false("Ready", "DependencyNotReady", &msg);
            let note = format!(
                "Dependencies do not meet ready condition, retrying in {}",
                model::format_go_duration(REQUEUE_DEPENDENCY)
            );
            ctx.event(Severity::Info, "DependencyNotReady", &note, &[("revision", &revision)]);
            return KindOutcome::failure("DependencyNotReady", &msg, REQUEUE_DEPENDENCY, false);
        }
    }

    let timeout = model::format_go_duration(timeout(ctx));
    let fetching = format!("Fetching manifests for revision {revision} with a timeout of {timeout}");
    ctx.set_true("Reconciling", "Progressing", &fetching);
    ctx.mark_progressing("Reconciliation in progress", &fetching);
    ctx.status.insert("lastAttemptedRevision".into(), json!(revision));
    let target_ns = ctx.spec_str("/targetNamespace").unwrap_or(ctx.ns()).to_string();
    let name = ctx.name().to_string();

    // The path must exist in the artifact (kustomization_controller.go: `os.Stat`); in flux-sim's
    // simulated artifacts every path exists but one with a segment starting `does-not-exist`.
    let path = ctx.spec_str("/path").unwrap_or("./");
    if path.split('/').any(|seg| seg.starts_with("does-not-exist")) {
        let dir = format!("/tmp/kustomization-{}", ctx.hash("tmp") % 4_000_000_000);
        let message = format!(
            "kustomization path not found: stat {dir}/{}: no such file or directory",
            path.trim_start_matches("./").trim_matches('/')
        );
        ctx.set_false("Ready", "ArtifactFailed", &message);
        ctx.reconciling_with_retry(&fetching);
        ctx.event(Severity::Error, "ArtifactFailed", &message, &[("revision", &revision)]);
        return KindOutcome::failure("ArtifactFailed", &message, retry, false);
    }

    if let Some(fault) = ctx.fault.map(|f| f.fault) {
        let failure = match fault {
            Fault::BuildFailure => Some(("BuildFailed", format!(
                "kustomize build failed: accumulating resources: accumulation err='accumulating resources from 'deployment.yaml': open /tmp/kustomization-{}/{}/deployment.yaml: no such file or directory'",
                ctx.hash("tmp") % 1_000_000_000,
                ctx.spec_str("/path").unwrap_or("./").trim_start_matches("./")
            ))),
            Fault::ApplyFailure => Some(("ReconciliationFailed", format!(
                "Deployment/{target_ns}/{name} dry-run failed (Invalid): Deployment.apps \"{name}\" is invalid: spec.template.spec.containers[0].image: Required value"
            ))),
            Fault::PruneFailure => Some(("PruneFailed", format!(
                "ConfigMap/{target_ns}/{name}-config deletion failed: configmaps \"{name}-config\" is forbidden: User \"system:serviceaccount:flux-system:kustomize-controller\" cannot delete resource \"configmaps\" in API group \"\" in the namespace \"{target_ns}\""
            ))),
            Fault::HealthCheckFailure => Some(("HealthCheckFailed", format!(
                "health check failed after {}: {}",
                go_elapsed(ctx.duration),
                waiting_for(&target_ns, &name)
            ))),
            _ => None,
        };
        if let Some((reason, message)) = failure {
            let (reason, message) = ctx.failure(reason, message);
            // checkHealth marks Healthy with the raw wait error whenever checks run; Ready
            // carries it wrapped in "health check failed after ...".
            if fault == Fault::HealthCheckFailure && runs_health_checks(ctx) {
                let raw = message.split_once(": ").map_or(message.as_str(), |(_, raw)| raw).to_string();
                ctx.set_false("Healthy", &reason, &raw);
            }
            ctx.set_false("Ready", &reason, &message);
            ctx.reconciling_with_retry("Reconciliation in progress");
            ctx.event(Severity::Error, &reason, &message, &[("revision", &revision)]);
            // kustomize-controller returns no error: it requeues at retryInterval.
            return KindOutcome::failure(&reason, &message, retry, false);
        }
    }

    let new_revision = ctx.status.get("lastAppliedRevision").and_then(|v| v.as_str()) != Some(revision.as_str());
    ctx.status.insert(
        "inventory".into(),
        json!({ "entries": [
            { "id": format!("{target_ns}_{name}__Service"), "v": "v1" },
            { "id": format!("{target_ns}_{name}_apps_Deployment"), "v": "v1" },
        ]}),
    );
    if new_revision {
        let verb = if ctx.status.contains_key("lastAppliedRevision") {
            "configured"
        } else {
            "created"
        };
        let changes = format!("Deployment/{target_ns}/{name} {verb}\nService/{target_ns}/{name} {verb}");
        ctx.event(Severity::Info, "Progressing", &changes, &[("revision", &revision)]);
    }
    ctx.status.insert("lastAppliedRevision".into(), json!(revision));
    if runs_health_checks(ctx) {
        let passed = format!("Health check passed in {}", go_elapsed(ctx.duration.max(Duration::from_millis(1))));
        ctx.set_true("Healthy", "Succeeded", &passed);
    }
    ctx.set_true(
        "Ready",
        "ReconciliationSucceeded",
        &format!("Applied revision: {revision}"),
    );
    ctx.delete("Reconciling");
    ctx.observe_generation();
    let msg = format!(
        "Reconciliation finished in {}, next run in {}",
        go_elapsed(ctx.duration.max(Duration::from_millis(1))),
        model::format_go_duration(ctx.interval)
    );
    ctx.event(
        Severity::Info,
        "ReconciliationSucceeded",
        &msg,
        &[("revision", &revision), ("commit_status", "update")],
    );
    KindOutcome::success(ctx.interval)
}

/// `Kustomization.GetTimeout`: spec.timeout, else the interval less 30s; never under 30s.
pub(crate) fn timeout(ctx: &Ctx) -> Duration {
    let interval = ctx
        .obj
        .json
        .pointer("/spec/interval")
        .and_then(|v| v.as_str())
        .and_then(|s| model::parse_go_duration(s).ok())
        .unwrap_or(ctx.interval);
    ctx.spec_str("/timeout")
        .and_then(|s| model::parse_go_duration(s).ok())
        .unwrap_or_else(|| interval.saturating_sub(Duration::from_secs(30)))
        .max(Duration::from_secs(30))
}

/// Health checks run with `spec.wait` or a non-empty `spec.healthChecks`.
fn runs_health_checks(ctx: &Ctx) -> bool {
    ctx.obj.json.pointer("/spec/wait").and_then(|v| v.as_bool()) == Some(true)
        || ctx.obj.json.pointer("/spec/healthChecks").and_then(|v| v.as_array()).is_some_and(|a| !a.is_empty())
}

/// fluxcd/pkg ssa's wait error for a Deployment that did not become ready.
fn waiting_for(ns: &str, name: &str) -> String {
    format!("timeout waiting for: [Deployment/{ns}/{name} status: 'InProgress']")
}
