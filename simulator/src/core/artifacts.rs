//! source-watcher (Flux 2.7+, optional): the ArtifactGenerator and the ExternalArtifacts it
//! writes, and ExternalArtifacts written by a third-party producer.
//!
//! Sources: fluxcd/source-watcher internal/controller/artifactgenerator_controller.go (observe
//! the sources, skip when their digest has not drifted, build each output artifact, apply its
//! ExternalArtifact and patch that object's status), artifactgenerator_status.go (Reconciling
//! removed once Ready, ProgressingWithRetry on failure), cmd/main.go (`--requeue-dependency`
//! 5s), and the API (an ArtifactGenerator requeues every hour and has no observedGeneration;
//! an ExternalArtifact has only `spec.sourceRef` and `status.{artifact, conditions}`).

use std::time::Duration;

use model::ObjectRef;
use serde_json::{json, Value};
use sha2::{Digest as _, Sha256};

use super::util::{k8s_time, str_at, Ctx};
use super::{KindOutcome, Severity};
use crate::scenario::Fault;

/// source-watcher's `--requeue-dependency` default.
const REQUEUE_SOURCES: Duration = Duration::from_secs(5);
/// An ArtifactGenerator's `GetRequeueAfter`.
const REQUEUE_GENERATOR: Duration = Duration::from_secs(3600);
/// How often a third-party producer is modelled to publish a new artifact revision.
const REQUEUE_EXTERNAL: Duration = Duration::from_secs(3600);
const STORAGE: &str = "http://source-watcher.flux-system.svc.cluster.local.";

/// The ExternalArtifacts an ArtifactGenerator object produces (`spec.artifacts[].name` in its
/// namespace), with `spec.sourceRef` pointing back at it, as source-watcher applies them.
pub fn generated_artifacts(generator: &Value, flux_version: model::FluxVersion) -> Vec<Value> {
    let view = model::FluxObject::new(generator);
    if view.kind() != "ArtifactGenerator" {
        return Vec::new();
    }
    let Some(ea) = model::kinds::by_kind("ExternalArtifact") else { return Vec::new() };
    let api_version = ea.api_version(flux_version);
    generator
        .pointer("/spec/artifacts")
        .and_then(Value::as_array)
        .into_iter()
        .flatten()
        .filter_map(|a| a.get("name").and_then(Value::as_str))
        .map(|name| {
            json!({
                "apiVersion": api_version,
                "kind": "ExternalArtifact",
                "metadata": {
                    "name": name,
                    "namespace": view.namespace(),
                    "labels": {"app.kubernetes.io/managed-by": "source-watcher"},
                },
                "spec": {"sourceRef": {
                    "apiVersion": generator.get("apiVersion").cloned().unwrap_or(Value::Null),
                    "kind": "ArtifactGenerator",
                    "name": view.name(),
                    "namespace": view.namespace(),
                }},
            })
        })
        .collect()
}

/// The sources of a generator, resolved: `(kind, namespace, name)`.
fn sources(ctx: &Ctx) -> Vec<ObjectRef> {
    ctx.obj
        .json
        .pointer("/spec/sources")
        .and_then(Value::as_array)
        .into_iter()
        .flatten()
        .map(|s| {
            let text = |k: &str| s.get(k).and_then(Value::as_str).unwrap_or("");
            let ns = s.get("namespace").and_then(Value::as_str).unwrap_or(ctx.ns());
            ObjectRef::new(text("kind"), ns, text("name"))
        })
        .collect()
}

fn sha256(parts: &[&str]) -> String {
    let mut h = Sha256::new();
    for p in parts {
        h.update(p.as_bytes());
        h.update([0]);
    }
    hex::encode(h.finalize())
}

/// One ArtifactGenerator reconcile by source-watcher.
pub(crate) fn reconcile_generator(ctx: &mut Ctx) -> KindOutcome {
    // observeSources: every source must exist and offer an artifact.
    let mut revisions = Vec::new();
    for src in sources(ctx) {
        let missing = match ctx.input.world.readiness(&src) {
            None => {
                let plural = model::kinds::by_kind(&src.kind).map_or_else(
                    || src.kind.to_lowercase(),
                    |k| format!("{}.{}", k.plural, k.group),
                );
                Some(format!("{plural} \"{}\" not found", src.name))
            }
            Some(_) => match ctx.input.world.artifact_revision(&src) {
                Some(rev) => {
                    revisions.push(format!("{src}@{rev}"));
                    None
                }
                None => Some(format!("source '{}/{}/{}' is not ready", src.kind, src.namespace, src.name)),
            },
        };
        if let Some(why) = missing {
            let message = format!("get sources failed: {why}");
            ctx.set_false("Ready", "SourceFetchFailed", &message);
            if ctx.condition("Reconciling").is_some() {
                ctx.reconciling_with_retry(&message);
            }
            ctx.event(Severity::Error, "SourceFetchFailed", &message, &[]);
            return KindOutcome::failure("SourceFetchFailed", &message, REQUEUE_SOURCES, false);
        }
    }
    revisions.sort();
    let refs: Vec<&str> = revisions.iter().map(String::as_str).collect();
    let digest = format!("sha256:{}", sha256(&refs));
    let names: Vec<String> = ctx
        .obj
        .json
        .pointer("/spec/artifacts")
        .and_then(Value::as_array)
        .into_iter()
        .flatten()
        .filter_map(|a| a.get("name").and_then(Value::as_str).map(str::to_string))
        .collect();
    let inventory_complete = ctx
        .status
        .get("inventory")
        .and_then(Value::as_array)
        .is_some_and(|inv| names.iter().all(|n| inv.iter().any(|e| e["name"] == n.as_str())));
    let drifted = ctx.status.get("observedSourcesDigest").and_then(Value::as_str) != Some(digest.as_str())
        || !inventory_complete
        || !ctx.condition_is("Ready", "True")
        || ctx.fault.is_some();
    if !drifted {
        // "No drift detected, N artifact(s) up to date" is a trace event: recorded, never posted.
        return KindOutcome::success(REQUEUE_GENERATOR);
    }
    ctx.mark_progressing("Reconciliation in progress", "Reconciliation in progress");
    if let Some(Fault::BuildFailure) = ctx.fault.map(|f| f.fault) {
        let first = names.first().cloned().unwrap_or_else(|| "artifact".into());
        let (reason, message) = ctx.failure(
            "BuildFailed",
            format!("{first} build failed: failed to copy files: no files matched pattern '@{}/**'", ctx.name()),
        );
        ctx.set_false("Ready", &reason, &message);
        ctx.reconciling_with_retry(&message);
        ctx.event(Severity::Error, &reason, &message, &[]);
        let backoff = super::retry_backoff(None, ctx.finish).max(REQUEUE_SOURCES);
        return KindOutcome::failure(&reason, &message, backoff, true);
    }
    let old: Vec<Value> = ctx.status.get("inventory").and_then(Value::as_array).cloned().unwrap_or_default();
    let mut changed = Vec::new();
    let inventory: Vec<Value> = names
        .iter()
        .map(|name| {
            let content = sha256(&[&digest, name]);
            let entry = json!({
                "name": name,
                "namespace": ctx.ns(),
                "digest": format!("sha256:{content}"),
                "filename": format!("{}.tar.gz", &content[..16]),
            });
            if !old.contains(&entry) {
                changed.push(format!("{}/{name} (sha256:{content})", ctx.ns()));
            }
            entry
        })
        .collect();
    let message = format!("reconciliation succeeded, generated {} artifact(s)", inventory.len());
    ctx.status.insert("inventory".into(), Value::Array(inventory));
    ctx.status.insert("observedSourcesDigest".into(), json!(digest));
    ctx.set_true("Ready", "Succeeded", &message);
    ctx.delete("Reconciling");
    ctx.delete("Stalled");
    if !changed.is_empty() {
        ctx.event(Severity::Info, "Ready", &format!("external artifacts reconciled: {}", changed.join("\n")), &[]);
    }
    KindOutcome::success(REQUEUE_GENERATOR)
}

/// The artifact JSON of an ExternalArtifact, as its producer writes it.
fn artifact(ctx: &Ctx, digest: &str, filename: &str) -> Value {
    let path = format!("externalartifact/{}/{}/{filename}", ctx.ns(), ctx.name());
    json!({
        "digest": digest,
        "lastUpdateTime": k8s_time(ctx.finish),
        "path": path,
        "revision": format!("latest@{digest}"),
        "size": 1_024 + ctx.hash(digest) % 400_000,
        "url": format!("{STORAGE}/{path}"),
    })
}

/// An ExternalArtifact's status as its producer writes it: source-watcher copies the artifact of
/// its generator's inventory; a third-party producer publishes on its own.
pub(crate) fn reconcile_external(ctx: &mut Ctx) -> KindOutcome {
    let producer = ctx.obj.json.pointer("/spec/sourceRef").filter(|r| r["kind"] == "ArtifactGenerator");
    let (digest, filename, requeue) = match producer {
        Some(r) => {
            let ns = r.get("namespace").and_then(Value::as_str).unwrap_or(ctx.ns());
            let generator = ObjectRef::new("ArtifactGenerator", ns, str_at(r, "/name").unwrap_or(""));
            let entry = ctx.input.world.object(&generator).and_then(|g| {
                g.pointer("/status/inventory")?
                    .as_array()?
                    .iter()
                    .find(|e| e["name"] == ctx.name())
                    .cloned()
            });
            // Until the generator has built it, the object has no status.
            let Some(entry) = entry else { return KindOutcome::idle() };
            let text = |k: &str| entry.get(k).and_then(Value::as_str).unwrap_or_default().to_string();
            (text("digest"), text("filename"), None)
        }
        None => {
            let epoch = ctx.finish.as_second() / REQUEUE_EXTERNAL.as_secs() as i64;
            let content = ctx.hex(&format!("external-{epoch}"), 64);
            (format!("sha256:{content}"), format!("{}.tar.gz", &content[..16]), Some(REQUEUE_EXTERNAL))
        }
    };
    let same = ctx.status.get("artifact").and_then(|a| a.get("digest")).and_then(Value::as_str) == Some(digest.as_str());
    if !same {
        let a = artifact(ctx, &digest, &filename);
        ctx.status.insert("artifact".into(), a);
    }
    ctx.set_true("Ready", "Succeeded", "Artifact is ready");
    KindOutcome { requeue_after: requeue, ..KindOutcome::success(Duration::ZERO) }
}
