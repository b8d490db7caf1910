//! helm-controller: HelmRelease. Waits for dependencies and a ready chart, then installs or
//! upgrades, keeping `status.history` and the failure counters as helm-controller v2 does.

use model::object::RefRole;
use serde_json::{json, Map, Value};

use super::util::{k8s_time, str_at, Ctx};
use super::{retry_backoff, KindOutcome, Severity, REQUEUE_DEPENDENCY};
use crate::scenario::Fault;

const MAX_HISTORY: usize = 5;

pub(crate) fn reconcile(ctx: &mut Ctx) -> KindOutcome {
    let refs = ctx.obj.references();
    let world = ctx.input.world;
    let (ns, name) = (ctx.ns().to_string(), ctx.name().to_string());

    for dep in refs.iter().filter(|r| r.role == RefRole::DependsOn).map(|r| &r.target) {
        let msg = match world.readiness(dep) {
            None => Some(format!(
                "unable to get '{}/{}' dependency: helmreleases.helm.toolkit.fluxcd.io \"{}\" not found",
                dep.namespace, dep.name, dep.name
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
    let not_ready = match world.readiness(&chart_ref) {
        None => {
            let plural = format!("{}s", chart_ref.kind.to_ascii_lowercase());
            let msg = format!(
                "could not get Source object: {plural}.source.toolkit.fluxcd.io \"{}\" not found",
                chart_ref.name
            );
            ctx.set_false("Ready", "ArtifactFailed", &msg);
            return KindOutcome::failure("ArtifactFailed", &msg, REQUEUE_DEPENDENCY, false);
        }
        Some(r) if !r.ready => Some(r.message),
        Some(_) => None,
    };
    let artifact = world.artifact_revision(&chart_ref);
    if not_ready.is_some() || artifact.is_none() {
        let why = not_ready.unwrap_or_else(|| "does not have an artifact".into());
        let msg = format!(
            "{} '{}/{}' is not ready: {why}",
            chart_ref.kind, chart_ref.namespace, chart_ref.name
        );
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
    if !in_sync || (ctx.fault.is_some() && !already_stalled) {
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
            let title = match act {
                "install" => "install",
                "test" => "test",
                _ => "upgrade",
            };
            let default = format!("Helm {title} failed for release {ns}/{name} with chart {chart_label}: {err}");
            let (reason, message) = ctx.failure(reason, default);
            let stalled = fault == Fault::RetriesExhausted;
            if !(stalled && already_stalled) {
                bump(&mut ctx.status, "failures");
                bump(
                    &mut ctx.status,
                    if act == "install" {
                        "installFailures"
                    } else if act == "test" {
                        "failures"
                    } else {
                        "upgradeFailures"
                    },
                );
                if act != "test" {
                    let snap = snapshot(ctx, &chart_name, &chart_version, &config_digest, next_version, "failed");
                    push_history(&mut ctx.status, snap, None);
                }
            }
            if act == "test" {
                ctx.set_false("TestSuccess", &reason, &message);
                ctx.set_true(
                    "Released",
                    if installed {
                        "UpgradeSucceeded"
                    } else {
                        "InstallSucceeded"
                    },
                    &format!(
                        "Helm {action} succeeded for release {ns}/{name}.v{next_version} with chart {chart_label}"
                    ),
                );
            } else {
                ctx.set_false("Released", &reason, &message);
            }
            ctx.set_false("Ready", &reason, &message);
            if stalled {
                let counter = if installed {
                    "upgradeFailures"
                } else {
                    "installFailures"
                };
                let attempts = ctx.status.get(counter).and_then(Value::as_u64).unwrap_or(1).max(3);
                ctx.status.insert(counter.into(), json!(attempts));
                let stall = format!("Failed to {action} after {attempts} attempt(s)");
                ctx.set_true("Stalled", "RetriesExceeded", &stall);
                ctx.delete("Reconciling");
                ctx.observe_generation();
                if !already_stalled {
                    ctx.event(
                        Severity::Error,
                        &reason,
                        &message,
                        &[("revision", &chart_version), ("token", &meta_token)],
                    );
                    ctx.event(
                        Severity::Error,
                        "RetriesExceeded",
                        &stall,
                        &[("revision", &chart_version), ("token", &meta_token)],
                    );
                }
                // helm-controller returns ErrExceededMaxRetries as a TerminalError
                // (helmrelease_controller.go), which controller-runtime counts as terminal.
                return KindOutcome::failure("RetriesExceeded", &stall, ctx.interval, !already_stalled).terminal();
            }
            ctx.set_true(
                "Reconciling",
                "ProgressingWithRetry",
                &format!(
                    "Running '{act}' action with timeout of {}",
                    ctx.spec_str("/timeout").unwrap_or("5m0s")
                ),
            );
            ctx.event(
                Severity::Error,
                &reason,
                &message,
                &[("revision", &chart_version), ("token", &meta_token)],
            );
            let since = ctx
                .obj
                .ready()
                .filter(|c| c.is_false())
                .and_then(|c| c.last_transition_time);
            return KindOutcome::failure(&reason, &message, retry_backoff(since, ctx.finish), true);
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
        ctx.event(
            Severity::Info,
            reason,
            &message,
            &[("revision", &chart_version), ("token", &meta_token)],
        );
    }
    ctx.observe_generation();
    KindOutcome::success(ctx.interval)
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
    let h = ctx.hash(&format!("app-{version}"));
    json!({
        "name": ctx.name(),
        "namespace": ctx.ns(),
        "version": release,
        "status": status,
        "chartName": chart,
        "chartVersion": version,
        "appVersion": format!("{}.{}.{}", h % 5 + 1, (h >> 8) % 30, (h >> 16) % 10),
        "configDigest": config_digest,
        "digest": format!("sha256:{}", ctx.hex(&format!("release-{release}"), 64)),
        "firstDeployed": first,
        "lastDeployed": now,
    })
}

/// Prepends a snapshot; the previous deployed release becomes superseded (when this one deploys).
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
    history.truncate(MAX_HISTORY);
    status.insert("history".into(), Value::Array(history));
}
