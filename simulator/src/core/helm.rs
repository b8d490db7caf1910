//! helm-controller: HelmRelease. Waits for dependencies and a ready chart, then installs or
//! upgrades, keeping `status.history` and the failure counters as helm-controller v2 does.

use model::object::RefRole;
use serde_json::{json, Map, Value};

use super::util::{k8s_time, not_found, str_at, Ctx};
use super::{KindOutcome, Severity, REQUEUE_DEPENDENCY};
use crate::scenario::Fault;

const MAX_HISTORY: usize = 5;

pub(crate) fn reconcile(ctx: &mut Ctx) -> KindOutcome {
    let refs = ctx.obj.references();
    let world = ctx.input.world;
    let (ns, name) = (ctx.ns().to_string(), ctx.name().to_string());

    for dep in refs.iter().filter(|r| r.role == RefRole::DependsOn).map(|r| &r.target) {
        let msg = match world.readiness(dep) {
            // helmrelease_controller.go checkDependencies.
            None => Some(format!(
                "unable to get '{}/{}' dependency: {}",
                dep.namespace,
                dep.name,
                not_found("HelmRelease", &dep.name)
            )),
            Some(r) if !r.ready => Some(format!("dependency '{}/{}' is not ready", dep.namespace, dep.name)),
            Some(_) => None,
        };
        if let Some(msg) = msg {
            ctx.set_false("Ready", "DependencyNotReady", &msg);
            ctx.event(Severity::Info, "DependencyNotReady", &msg, &[]);
            return KindOutcome::failure("DependencyNotReady", &msg, REQUEUE_DEPENDENCY, false);
        }
    }

    let Some(chart_ref) = refs.iter().find(|r| r.role == RefRole::Chart).map(|r| r.target.clone()) else {
        let msg = "could not get Source object: no chart or chartRef";
        ctx.set_false("Ready", "ArtifactFailed", msg);
        return KindOutcome::failure("ArtifactFailed", msg, ctx.interval, true);
    };
    let Some(source) = world.object(&chart_ref) else {
        let msg = format!("could not get Source object: {}", not_found(&chart_ref.kind, &chart_ref.name));
        ctx.set_false("Ready", "ArtifactFailed", &msg);
        return KindOutcome::failure("ArtifactFailed", &msg, REQUEUE_DEPENDENCY, false);
    };
    let artifact = world.artifact_revision(&chart_ref);
    if let Some(why) = source_not_ready(&source, artifact.is_some()) {
        let msg = format!("{} '{}/{}' is not ready: {why}", chart_ref.kind, chart_ref.namespace, chart_ref.name);
        ctx.set_false("Ready", "SourceNotReady", &msg);
        return KindOutcome::failure("SourceNotReady", &msg, REQUEUE_DEPENDENCY, false);
    }
    let artifact = artifact.unwrap_or_default();

    // The chart: a HelmChart's revision is the chart version; an OCIRepository's tag is.
    let (chart_name, chart_version, chart_digest) = if chart_ref.kind == "HelmChart" {
        let chart = ctx.spec_str("/chart/spec/chart").unwrap_or(&name).to_string();
        (chart, artifact.clone(), None)
    } else {
        let tag = artifact.split('@').next().unwrap_or("latest");
        let version = if tag.chars().next().is_some_and(|c| c.is_ascii_digit()) {
            tag.to_string()
        } else {
            "1.0.0".into()
        };
        let digest = artifact.split_once('@').map(|(_, d)| d.to_string());
        (chart_ref.name.clone(), version, digest)
    };
    let chart_label = format!("{chart_name}@{chart_version}");
    let config_digest = format!("sha256:{}", ctx.hex(&format!("values-{}", ctx.generation), 64));

    let history: Vec<Value> = ctx
        .status
        .get("history")
        .and_then(Value::as_array)
        .cloned()
        .unwrap_or_default();
    let installed = history
        .iter()
        .any(|s| matches!(s["status"].as_str(), Some("deployed" | "superseded")));
    let current = history.first();
    let in_sync = current.is_some_and(|s| {
        s["status"] == "deployed"
            && s["chartVersion"] == chart_version.as_str()
            && s["configDigest"] == config_digest.as_str()
    }) && ctx.obj.ready().is_some_and(|c| c.is_true());
    let next_version = current.and_then(|s| s["version"].as_u64()).unwrap_or(0) + 1;
    let action = if installed { "upgrade" } else { "install" };

    ctx.status.insert("lastAttemptedRevision".into(), json!(chart_version));
    if let Some(d) = &chart_digest {
        ctx.status.insert("lastAttemptedRevisionDigest".into(), json!(d));
    }
    ctx.status
        .insert("lastAttemptedConfigDigest".into(), json!(config_digest));
    ctx.status
        .insert("lastAttemptedGeneration".into(), json!(ctx.generation));
    ctx.status.insert("storageNamespace".into(), json!(ns));
    if chart_ref.kind == "HelmChart" {
        ctx.status.insert(
            "helmChart".into(),
            json!(format!("{}/{}", chart_ref.namespace, chart_ref.name)),
        );
    }
    let meta_token = config_digest.clone();
    let already_stalled = ctx.condition_is("Stalled", "True");
    // A stalled release whose fault persists runs no action (actionForState answers
    // ErrExceededMaxRetries before the "Running" mark), so nothing is marked in progress.
    let stays_stalled = already_stalled && ctx.fault.is_some();
    if !stays_stalled && (!in_sync || ctx.fault.is_some()) {
        let timeout = ctx.spec_str("/timeout").unwrap_or("5m0s");
        let running = format!("Running '{action}' action with timeout of {timeout}");
        ctx.mark_progressing(&running, &running);
    }

    if let Some(fault) = ctx.fault.map(|f| f.fault) {
        let err = match fault {
            Fault::InstallFailure => Some(("install", "InstallFailed", format!(
                "execution error at ({chart_name}/templates/deployment.yaml:14:18): image.tag is required"
            ))),
            Fault::UpgradeFailure => Some(("upgrade", "UpgradeFailed", "context deadline exceeded".to_string())),
            Fault::HealthCheckFailure => Some((action, if installed { "UpgradeFailed" } else { "InstallFailed" }, format!(
                "resource Deployment/{ns}/{name} not ready. status: InProgress, message: Deployment does not have minimum availability."
            ))),
            Fault::TestFailure => Some(("test", "TestFailed", format!(
                "pod {name}-test-{} failed", ctx.hex("test-pod", 5)
            ))),
            Fault::RetriesExhausted => Some((action, if installed { "UpgradeFailed" } else { "InstallFailed" }, "context deadline exceeded".to_string())),
            _ => None,
        };
        if let Some((act, reason, err)) = err {
            let app_version = app_version(ctx, &chart_version);
            let meta: [(&str, &str); 4] = [
                ("revision", &chart_version),
                ("token", &meta_token),
                ("app-version", &app_version),
                ("oci-digest", chart_digest.as_deref().unwrap_or("")),
            ];
            if act == "test" {
                return test_failure(ctx, &reason_message(ctx, reason, "test", &ns, &name, &chart_label, &err), installed, &next_version, &chart_label, &meta);
            }
            // Remediation (atomic_release.go): once the failures of the active remediation
            // exceed its retries (spec.install|upgrade.remediation.retries, default 0: no retry)
            // helm-controller stops: Stalled RetriesExceeded, returned as a TerminalError.
            let counter = if installed { "upgradeFailures" } else { "installFailures" };
            let retries = ctx
                .obj
                .json
                .pointer(if installed { "/spec/upgrade/remediation/retries" } else { "/spec/install/remediation/retries" })
                .and_then(Value::as_i64)
                .unwrap_or(0);
            let failures = ctx.status.get(counter).and_then(Value::as_i64).unwrap_or(0);
            if retries >= 0 && failures > retries {
                let stall = format!("Failed to {action} after {failures} attempt(s)");
                ctx.set_true("Stalled", "RetriesExceeded", &stall);
                ctx.delete("Reconciling");
                ctx.observe_generation();
                // The stall records no event of its own; the failed action already did.
                return KindOutcome::failure("RetriesExceeded", &stall, ctx.interval, !already_stalled).terminal();
            }
            let (reason, message) = reason_message(ctx, reason, act, &ns, &name, &chart_label, &err);
            bump(&mut ctx.status, "failures");
            bump(&mut ctx.status, counter);
            let snap = snapshot(ctx, &chart_name, &chart_version, &config_digest, next_version, "failed");
            push_history(&mut ctx.status, snap, None);
            ctx.set_false("Released", &reason, &message);
            ctx.set_false("Ready", &reason, &message);
            // Retrying: Reconciling says what Ready says (atomic_release.go).
            ctx.set_true("Reconciling", "ProgressingWithRetry", &message);
            ctx.event(Severity::Error, &reason, &with_helm_logs(ctx, &message, &err), &meta);
            return KindOutcome::failure(&reason, &message, requeue_after_failure(ctx), true);
        }
    }
    ctx.delete("Stalled");
    ctx.delete("Reconciling");
    ctx.delete("TestSuccess");
    if !in_sync {
        let (reason, verb) = if installed {
            ("UpgradeSucceeded", "upgrade")
        } else {
            ("InstallSucceeded", "install")
        };
        let message = format!("Helm {verb} succeeded for release {ns}/{name}.v{next_version} with chart {chart_label}");
        let snap = snapshot(
            ctx,
            &chart_name,
            &chart_version,
            &config_digest,
            next_version,
            "deployed",
        );
        push_history(&mut ctx.status, snap, Some(k8s_time(ctx.finish)));
        ctx.set_true("Released", reason, &message);
        ctx.set_true("Ready", reason, &message);
        ctx.status.insert("lastAttemptedReleaseAction".into(), json!(verb));
        for counter in ["failures", "installFailures", "upgradeFailures"] {
            ctx.status.remove(counter);
        }
        let app_version = app_version(ctx, &chart_version);
        ctx.event(
            Severity::Info,
            reason,
            &message,
            &[
                ("revision", &chart_version),
                ("token", &meta_token),
                ("app-version", &app_version),
                ("oci-digest", chart_digest.as_deref().unwrap_or("")),
            ],
        );
    }
    ctx.observe_generation();
    KindOutcome::success(ctx.interval)
}

/// The failure reason and condition message of a Helm action (install.go, upgrade.go, test.go).
fn reason_message(ctx: &Ctx, reason: &str, act: &str, ns: &str, name: &str, chart: &str, err: &str) -> (String, String) {
    let default = format!("Helm {act} failed for release {ns}/{name} with chart {chart}: {err}");
    ctx.failure(reason, default)
}

/// The event message of a failed action: the condition's message and, when Helm logged while
/// waiting, `Last Helm logs` (release.go eventMessageWithLog). An action that failed before
/// waiting on anything logs nothing.
fn with_helm_logs(ctx: &Ctx, message: &str, err: &str) -> String {
    if !err.contains("deadline") && !err.contains("not ready") {
        return message.to_string();
    }
    let (ns, name) = (ctx.ns(), ctx.name());
    let started = k8s_time(ctx.input.now);
    let waiting = k8s_time(ctx.finish);
    let timeout = ctx.spec_str("/timeout").unwrap_or("5m0s");
    format!(
        "{message}\n\nLast Helm logs:\n\n{started}: beginning wait for 2 resources with timeout of {timeout}\n{waiting}: Deployment is not ready: {ns}/{name}. 0 out of 1 expected pods are ready"
    )
}

/// A failed `helm test`: the release stays released, TestSuccess and Ready turn False.
fn test_failure(
    ctx: &mut Ctx,
    (reason, message): &(String, String),
    installed: bool,
    next_version: &u64,
    chart_label: &str,
    meta: &[(&str, &str)],
) -> KindOutcome {
    let (ns, name) = (ctx.ns().to_string(), ctx.name().to_string());
    bump(&mut ctx.status, "failures");
    ctx.set_false("TestSuccess", reason, message);
    let (released, verb) = if installed { ("UpgradeSucceeded", "upgrade") } else { ("InstallSucceeded", "install") };
    ctx.set_true(
        "Released",
        released,
        &format!("Helm {verb} succeeded for release {ns}/{name}.v{next_version} with chart {chart_label}"),
    );
    ctx.set_false("Ready", reason, message);
    ctx.set_true("Reconciling", "ProgressingWithRetry", message);
    ctx.event(Severity::Error, reason, message, meta);
    KindOutcome::failure(reason, message, requeue_after_failure(ctx), true)
}

/// The chart's appVersion as the history records it.
fn app_version(ctx: &Ctx, version: &str) -> String {
    let h = ctx.hash(&format!("app-{version}"));
    format!("{}.{}.{}", h % 5 + 1, (h >> 8) % 30, (h >> 16) % 10)
}

fn bump(status: &mut Map<String, Value>, key: &str) {
    let n = status.get(key).and_then(Value::as_u64).unwrap_or(0) + 1;
    status.insert(key.into(), json!(n));
}

fn snapshot(ctx: &Ctx, chart: &str, version: &str, config_digest: &str, release: u64, status: &str) -> Value {
    let now = k8s_time(ctx.finish);
    let first = ctx
        .status
        .get("history")
        .and_then(|h| h.as_array())
        .and_then(|h| h.last())
        .and_then(|s| str_at(s, "/firstDeployed"))
        .map_or_else(|| now.clone(), str::to_string);
    json!({
        "name": ctx.name(),
        "namespace": ctx.ns(),
        "version": release,
        "status": status,
        "chartName": chart,
        "chartVersion": version,
        "appVersion": app_version(ctx, version),
        "configDigest": config_digest,
        "digest": format!("sha256:{}", ctx.hex(&format!("release-{release}"), 64)),
        "firstDeployed": first,
        "lastDeployed": now,
    })
}

/// Prepends a snapshot; the previous deployed release becomes superseded (when this one deploys).
/// At most MAX_HISTORY snapshots stay, but never without the latest released one (helm-controller
/// api/v2 Snapshots.Truncate keeps it: Helm's storage still holds that release).
fn push_history(status: &mut Map<String, Value>, snap: Value, deployed_at: Option<String>) {
    let mut history: Vec<Value> = status
        .get("history")
        .and_then(Value::as_array)
        .cloned()
        .unwrap_or_default();
    if deployed_at.is_some() {
        for s in &mut history {
            if s["status"] == "deployed" {
                s["status"] = json!("superseded");
            }
        }
    }
    history.insert(0, snap);
    let released = |s: &Value| matches!(s["status"].as_str(), Some("deployed" | "superseded"));
    if history.len() > MAX_HISTORY {
        let keep = history.iter().position(released).filter(|&i| i >= MAX_HISTORY);
        let kept = keep.map(|i| history[i].clone());
        history.truncate(if kept.is_some() { MAX_HISTORY - 1 } else { MAX_HISTORY });
        history.extend(kept);
    }
    status.insert("history".into(), Value::Array(history));
}

/// helm-controller's `isSourceReady`: an ExternalArtifact needs only an artifact; any other
/// source blocks the release while its generation is not observed (saying Ready's message when
/// Ready is False), while it is Stalled, or while it has no artifact. A source that fails with
/// an older artifact in storage does not block: the release uses that artifact.
fn source_not_ready(source: &Value, has_artifact: bool) -> Option<String> {
    let o = model::FluxObject::new(source);
    if o.kind() == "ExternalArtifact" {
        return (!has_artifact).then(|| "does not have an artifact".to_string());
    }
    if o.generation() != Some(o.observed_generation().unwrap_or(0)) {
        return Some(match o.ready().filter(|c| c.is_false()) {
            Some(c) => c.message,
            None => "latest generation of object has not been reconciled".to_string(),
        });
    }
    if let Some(stalled) = o.condition("Stalled").filter(|c| c.is_true()) {
        return Some(stalled.message);
    }
    (!has_artifact).then(|| "does not have an artifact".to_string())
}

/// controller-runtime's per-object rate limiter after a failed Helm action (Flux's
/// `--min-retry-delay` 750ms, doubling, `--max-retry-delay` 15m): the action itself took its
/// time, so the delay follows the number of failures, not the time spent failing.
fn requeue_after_failure(ctx: &Ctx) -> std::time::Duration {
    let failures = ctx.status.get("failures").and_then(Value::as_u64).unwrap_or(1).clamp(1, 20);
    let millis = 750u64.saturating_mul(1 << (failures - 1));
    std::time::Duration::from_millis(millis.min(15 * 60 * 1000))
}
