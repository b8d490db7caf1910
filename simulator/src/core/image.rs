//! image-reflector-controller (ImageRepository, ImagePolicy), image-automation-controller
//! (ImageUpdateAutomation) and notification-controller's Receiver.

use model::object::RefRole;
use serde_json::json;

use super::util::{k8s_time, Ctx};
use super::{retry_backoff, KindOutcome, Severity};
use crate::scenario::Fault;

pub(crate) fn reconcile(ctx: &mut Ctx) -> KindOutcome {
    match ctx.info.kind {
        "ImageRepository" => image_repository(ctx),
        "ImagePolicy" => image_policy(ctx),
        "ImageUpdateAutomation" => image_update_automation(ctx),
        _ => receiver(ctx),
    }
}

fn backoff(ctx: &Ctx) -> std::time::Duration {
    let since = ctx
        .obj
        .ready()
        .filter(|c| c.is_false())
        .and_then(|c| c.last_transition_time);
    retry_backoff(since, ctx.finish)
}

/// Tags an image has at this epoch, newest first.
fn tags(ctx: &Ctx) -> Vec<String> {
    let h = ctx.hash("tags");
    let (major, minor) = (1 + h % 4, (h >> 8) % 10 + ctx.revision_epoch());
    (0..3).rev().map(|p| format!("{major}.{minor}.{p}")).collect()
}

fn image_repository(ctx: &mut Ctx) -> KindOutcome {
    let image = ctx.spec_str("/image").unwrap_or("").to_string();
    if let Some(fault) = ctx.fault.map(|f| f.fault) {
        // imagerepository_controller.go: every scan error, a 401 included, is ReadOperationFailed
        // "scan failed: ..." (AuthenticationFailed is for configuring the auth options).
        let answer = match fault {
            Fault::AuthFailure => "UNAUTHORIZED: authentication required",
            _ => "unexpected status code 503 Service Unavailable",
        };
        let (reason, message) = (
            "ReadOperationFailed",
            format!(
                "scan failed: GET https://{}/v2/{}/tags/list: {answer}",
                image.split('/').next().unwrap_or(""),
                image.split_once('/').map_or("", |(_, p)| p)
            ),
        );
        let (reason, message) = ctx.failure(reason, message);
        ctx.set_false("Ready", &reason, &message);
        ctx.reconciling_with_retry(&message);
        ctx.event(Severity::Error, &reason, &message, &[]);
        return KindOutcome::failure(&reason, &message, backoff(ctx), true);
    }
    let tags = tags(ctx);
    let count = 20 + ctx.hash("tag-count") % 200 + ctx.revision_epoch();
    let message = format!("successful scan: found {count} tags");
    ctx.status.insert("canonicalImageName".into(), json!(image));
    ctx.status.insert(
        "lastScanResult".into(),
        json!({ "scanTime": k8s_time(ctx.finish), "tagCount": count, "latestTags": tags }),
    );
    let was_failing = ctx.was_failing();
    let changed = ctx.obj.revision() != Some(tags[0].as_str());
    ctx.delete("Reconciling");
    ctx.set_true("Ready", "Succeeded", &message);
    ctx.observe_generation();
    if changed || was_failing {
        ctx.event(Severity::Info, "Succeeded", &message, &[]);
    }
    KindOutcome::success(ctx.interval)
}

fn image_policy(ctx: &mut Ctx) -> KindOutcome {
    let Some(repo) = ctx
        .obj
        .references()
        .into_iter()
        .find(|r| r.role == RefRole::ImageRepository)
        .map(|r| r.target)
    else {
        return KindOutcome::success(ctx.interval);
    };
    let world = ctx.input.world;
    let msg = match world.readiness(&repo) {
        None => Some(format!(
            "failed to get the referred ImageRepository: referenced ImageRepository does not exist: ImageRepository.image.toolkit.fluxcd.io \"{}\" not found",
            repo.name
        )),
        Some(_) if world.artifact_revision(&repo).is_none() => Some("referenced ImageRepository has not been scanned yet".to_string()),
        Some(_) => None,
    };
    if let Some(msg) = msg {
        ctx.set_false("Ready", "DependencyNotReady", &msg);
        return KindOutcome::failure("DependencyNotReady", &msg, super::REQUEUE_DEPENDENCY, false);
    }
    let tag = world.artifact_revision(&repo).unwrap_or_default();
    // The world does not carry the repository's spec; the default image naming is used.
    let image = format!("ghcr.io/acme/{}", repo.name);
    let v1 = ctx.obj.api_version().ends_with("/v1");
    let previous = ctx.obj.revision().map(str::to_string);
    let message = if v1 {
        ctx.status
            .insert("latestRef".into(), json!({ "name": image, "tag": tag }));
        format!("Latest image tag for {image} resolved to {tag}")
    } else {
        ctx.status.insert("latestImage".into(), json!(format!("{image}:{tag}")));
        format!("Latest image tag for '{image}' resolved to {tag}")
    };
    ctx.delete("Reconciling");
    ctx.set_true("Ready", "Succeeded", &message);
    ctx.observe_generation();
    match previous {
        Some(p) if p != tag => {
            let m = format!("Latest image tag for '{image}' updated from {p} to {tag}");
            ctx.event(Severity::Info, "Succeeded", &m, &[]);
        }
        None => ctx.event(Severity::Info, "Succeeded", &message, &[]),
        _ => {}
    }
    KindOutcome::success(ctx.interval)
}

fn image_update_automation(ctx: &mut Ctx) -> KindOutcome {
    let Some(src) = ctx
        .obj
        .references()
        .into_iter()
        .find(|r| r.role == RefRole::Source)
        .map(|r| r.target)
    else {
        return KindOutcome::success(ctx.interval);
    };
    match ctx.input.world.readiness(&src) {
        None => {
            let msg = format!(
                "referenced git repository does not exist: gitrepositories.source.toolkit.fluxcd.io \"{}\" not found",
                src.name
            );
            ctx.set_false("Ready", "InvalidSourceConfiguration", &msg);
            return KindOutcome::failure("InvalidSourceConfiguration", &msg, ctx.interval, true);
        }
        Some(r) if !r.ready && !r.ready_message.is_empty() && r.reason != "Progressing" => {
            // The automation clones the same repository itself: it fails the same way.
            let reason = if r.reason == "AuthenticationFailed" {
                "AuthenticationFailed"
            } else {
                "GitOperationFailed"
            };
            let msg = r.ready_message;
            ctx.set_false("Ready", reason, &msg);
            ctx.event(Severity::Error, reason, &msg, &[]);
            return KindOutcome::failure(reason, &msg, backoff(ctx), true);
        }
        Some(_) => {}
    }
    let now = k8s_time(ctx.finish);
    ctx.status.insert("lastAutomationRunTime".into(), json!(now));
    let epoch = ctx.revision_epoch().to_string();
    let commit = ctx.hex(&format!("push-{epoch}"), 40);
    if ctx.status.get("lastPushCommit").and_then(|v| v.as_str()) != Some(commit.as_str()) && ctx.revision_epoch() > 0 {
        ctx.status.insert("lastPushCommit".into(), json!(commit));
        ctx.status.insert("lastPushTime".into(), json!(now));
        let branch = ctx.spec_str("/git/push/branch").unwrap_or("main").to_string();
        let m = format!(
            "pushed commit '{}' to branch '{branch}'\nchore: update images",
            &commit[..7]
        );
        ctx.event(
            Severity::Info,
            "Succeeded",
            &m,
            &[("revision", &format!("{branch}@sha1:{commit}"))],
        );
    }
    ctx.delete("Reconciling");
    ctx.set_true("Ready", "Succeeded", "repository up-to-date");
    ctx.observe_generation();
    KindOutcome::success(ctx.interval)
}

fn receiver(ctx: &mut Ctx) -> KindOutcome {
    let path = format!("/hook/{}", ctx.hex("webhook", 64));
    ctx.status.insert("webhookPath".into(), json!(path));
    ctx.delete("Reconciling");
    ctx.set_true("Ready", "Succeeded", &format!("Receiver initialized for path: {path}"));
    ctx.observe_generation();
    KindOutcome::success(ctx.interval)
}
