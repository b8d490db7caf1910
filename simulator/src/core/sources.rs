//! source-controller: GitRepository, OCIRepository, HelmRepository, Bucket, HelmChart (and
//! ExternalArtifact): fetch, store an artifact, keep the last good one when fetching fails.

use model::ObjectRef;
use serde_json::{json, Value};

use super::util::{hex, k8s_time, not_found, str_at, unresolvable, url_host, Ctx, CLUSTER_DNS};
use super::{retry_backoff, KindOutcome, Severity, REQUEUE_DEPENDENCY};
use crate::scenario::Fault;

const STORAGE: &str = "http://source-controller.flux-system.svc.cluster.local.";

/// What this reconcile fetched.
struct Fetched {
    revision: String,
    /// The file name of the artifact in storage.
    file: String,
    /// The NewArtifact event message.
    new_artifact: String,
    /// HelmChart only: `status.observedChartName` and the source revision it came from.
    chart: Option<(String, String)>,
}

pub(crate) fn reconcile(ctx: &mut Ctx) -> KindOutcome {
    let new_generation = ctx.obj.observed_generation() != Some(ctx.generation);
    if new_generation {
        let from = ctx.obj.observed_generation().unwrap_or(0).max(0);
        let msg = format!("processing object: new generation {from} -> {}", ctx.generation);
        ctx.set_true("Reconciling", "Progressing", &msg);
        ctx.mark_progressing("reconciliation in progress", &msg);
    }

    // OCI HelmRepositories are data holders: no artifact, just Ready.
    if ctx.info.kind == "HelmRepository" && ctx.spec_str("/type") == Some("oci") {
        ctx.set_true("Ready", "Succeeded", "Helm repository is ready");
        ctx.delete("Reconciling");
        ctx.observe_generation();
        return KindOutcome::success(ctx.interval);
    }

    if ctx.info.kind == "HelmChart" {
        if let Some(out) = check_chart_source(ctx) {
            return out;
        }
    }

    if let Some((condition, reason, message)) = spec_failure(ctx) {
        return fail(ctx, condition, reason, &message);
    }
    if let Some(fault) = ctx.fault.map(|f| f.fault) {
        if let Some((condition, reason, message)) = failure(ctx, fault) {
            let (reason, message) = ctx.failure(reason, message);
            return fail(ctx, condition, &reason, &message);
        }
    }

    let fetched = fetch(ctx);
    store(ctx, fetched)
}

/// HelmChart needs its source to exist and to offer an artifact (OCI HelmRepositories excepted).
fn check_chart_source(ctx: &mut Ctx) -> Option<KindOutcome> {
    let refs = ctx.obj.references();
    let src = refs.first()?.target.clone();
    match ctx.input.world.readiness(&src) {
        None => {
            let msg = format!("failed to get source: {}", not_found(&src.kind, &src.name));
            Some(fail(ctx, "FetchFailed", "SourceUnavailable", &msg))
        }
        Some(r) => {
            let oci_repo = src.kind == "HelmRepository" && r.ready;
            if ctx.input.world.artifact_revision(&src).is_none() && !oci_repo {
                let msg = format!("no artifact available for {} source '{}'", src.kind, src.name);
                ctx.set_true("FetchFailed", "NoSourceArtifact", &msg);
                ctx.set_false("Ready", "NoSourceArtifact", &msg);
                ctx.reconciling_with_retry(&msg);
                // A trace event (helmchart_controller.go): a Normal Kubernetes event, not posted.
                ctx.event(Severity::Trace, "NoSourceArtifact", &msg, &[]);
                let backoff = retry_backoff(failing_since(ctx), ctx.finish).max(REQUEUE_DEPENDENCY.min(ctx.interval));
                return Some(KindOutcome::failure("NoSourceArtifact", &msg, backoff, false));
            }
            None
        }
    }
}

fn failing_since(ctx: &Ctx) -> Option<jiff::Timestamp> {
    ctx.obj
        .ready()
        .filter(|c| c.is_false())
        .and_then(|c| c.last_transition_time)
}

/// Marks a failed fetch or build; the last good artifact stays (as source-controller does). The
/// failure event carries no revision: source-controller annotates only artifact events with one.
fn fail(ctx: &mut Ctx, condition: &str, reason: &str, message: &str) -> KindOutcome {
    ctx.set_true(condition, reason, message);
    ctx.set_false("Ready", reason, message);
    ctx.reconciling_with_retry(message);
    ctx.event(Severity::Error, reason, message, &[]);
    let backoff = retry_backoff(failing_since(ctx), ctx.finish);
    KindOutcome::failure(reason, message, backoff, true)
}

/// The condition, reason and default message of a fault on this source kind. Reasons are the
/// ones source-controller reports (gitrepository_controller.go: every clone error, credentials
/// refused included, is GitOperationFailed; AuthenticationFailed is for reading the Secret or
/// the auth options; a 401 from a Helm repository or registry fails the fetch like any other
/// HTTP error; helm/chart/errors.go: ChartPullError, ChartPackageError).
fn failure(ctx: &Ctx, fault: Fault) -> Option<(&'static str, &'static str, String)> {
    let url = ctx.spec_str("/url").unwrap_or("").to_string();
    let auth = fault == Fault::AuthFailure;
    let r = match (ctx.info.kind, fault) {
        ("GitRepository", Fault::FetchFailure | Fault::AuthFailure) => (
            "FetchFailed",
            "GitOperationFailed",
            format!(
                "failed to checkout and determine revision: unable to clone '{url}': {}",
                if auth { "authentication required: Invalid username or token" } else { "context deadline exceeded" }
            ),
        ),
        ("HelmRepository", Fault::FetchFailure | Fault::AuthFailure) => (
            "FetchFailed",
            "Failed",
            format!(
                "failed to fetch Helm repository index: failed to cache index to temporary file: failed to fetch {}/index.yaml : {}",
                url.trim_end_matches('/'),
                if auth { "401 Unauthorized" } else { "503 Service Unavailable" }
            ),
        ),
        ("OCIRepository", Fault::FetchFailure | Fault::AuthFailure) => {
            let repo = url.trim_start_matches("oci://");
            let (host, path) = repo.split_once('/').unwrap_or((repo, ""));
            let tag = ctx.spec_str("/ref/tag").unwrap_or("latest");
            (
                "FetchFailed",
                "OCIArtifactPullFailed",
                format!(
                    "failed to determine artifact digest: GET https://{host}/v2/{path}/manifests/{tag}: {}",
                    if auth { "UNAUTHORIZED: authentication required" } else { "unexpected status code 503 Service Unavailable" }
                ),
            )
        }
        ("Bucket", Fault::FetchFailure | Fault::AuthFailure) => {
            let bucket = ctx.spec_str("/bucketName").unwrap_or(ctx.name()).to_string();
            let endpoint = ctx.spec_str("/endpoint").unwrap_or("").to_string();
            (
                "FetchFailed",
                "BucketOperationFailed",
                if auth {
                    format!("failed to confirm existence of '{bucket}' bucket: Access Denied.")
                } else {
                    format!("failed to confirm existence of '{bucket}' bucket: Get \"http://{endpoint}/{bucket}/?location=\": dial tcp: i/o timeout")
                },
            )
        }
        ("HelmChart", Fault::FetchFailure | Fault::AuthFailure) => {
            let chart = ctx.spec_str("/chart").unwrap_or(ctx.name()).to_string();
            let version = chart_version(ctx, ctx.revision_epoch());
            (
                "FetchFailed",
                "ChartPullError",
                format!(
                    "chart pull error: failed to download chart for remote reference: failed to fetch {chart}-{version}.tgz : {}",
                    if auth { "401 Unauthorized" } else { "503 Service Unavailable" }
                ),
            )
        }
        ("HelmChart", Fault::BuildFailure) => (
            "BuildFailed",
            "ChartPackageError",
            format!(
                "chart package error: failed to package chart '{}': Chart.yaml file is missing",
                ctx.spec_str("/chart").unwrap_or(ctx.name())
            ),
        ),
        _ => return None,
    };
    Some(r)
}

/// Failures that follow from the spec itself, as real Flux meets them: a URL under the `.invalid`
/// domain never resolves; a chart version that no release of the simulated repositories has (they
/// publish majors below 1000) is not found. Canary drills use both to break objects on purpose.
fn spec_failure(ctx: &Ctx) -> Option<(&'static str, &'static str, String)> {
    let dns = |url: &str| format!("dial tcp: lookup {} on {CLUSTER_DNS}: no such host", url_host(url));
    let url = ctx.spec_str("/url").unwrap_or("");
    match ctx.info.kind {
        "GitRepository" if unresolvable(url) => Some((
            "FetchFailed",
            "GitOperationFailed",
            format!(
                "failed to checkout and determine revision: unable to clone '{url}': Get \"{}/info/refs?service=git-upload-pack\": {}",
                url.trim_end_matches('/'),
                dns(url)
            ),
        )),
        "HelmRepository" if unresolvable(url) && ctx.spec_str("/type") != Some("oci") => {
            let index = format!("{}/index.yaml", url.trim_end_matches('/'));
            Some((
                "FetchFailed",
                "Failed",
                format!(
                    "failed to fetch Helm repository index: failed to cache index to temporary file: failed to fetch {index} : Get \"{index}\": {}",
                    dns(url)
                ),
            ))
        }
        "OCIRepository" if unresolvable(url) => Some((
            "FetchFailed",
            "OCIArtifactPullFailed",
            format!(
                "failed to determine artifact digest: Get \"https://{}/v2/\": {}",
                url_host(url),
                dns(url)
            ),
        )),
        "Bucket" if unresolvable(ctx.spec_str("/endpoint").unwrap_or("")) => {
            let endpoint = ctx.spec_str("/endpoint").unwrap_or("");
            let bucket = ctx.spec_str("/bucketName").unwrap_or(ctx.name());
            Some((
                "FetchFailed",
                "BucketOperationFailed",
                format!(
                    "failed to confirm existence of '{bucket}' bucket: Get \"https://{endpoint}/{bucket}/?location=\": {}",
                    dns(endpoint)
                ),
            ))
        }
        "HelmChart" if !version_published(ctx.spec_str("/version").unwrap_or("*")) => {
            let chart = ctx.spec_str("/chart").unwrap_or(ctx.name());
            let version = ctx.spec_str("/version").unwrap_or("*");
            // helm/repository/chart_repository.go returns a plain error: the build reason is Unknown.
            Some((
                "FetchFailed",
                "Unknown",
                format!(
                    "unknown build error: failed to get chart version for remote reference: no '{chart}' chart with version matching '{version}' found"
                ),
            ))
        }
        _ => None,
    }
}

/// Whether some release of a simulated chart satisfies `constraint`: the simulated repositories
/// publish every version with a major below 1000, so an exact version, or a lower bound, at 1000
/// or above matches nothing.
pub(crate) fn version_published(constraint: &str) -> bool {
    let c = constraint.trim();
    if c.is_empty() || c == "*" || c.contains("||") {
        return true;
    }
    let first = c.split([',', ' ']).find(|p| !p.is_empty()).unwrap_or("");
    let bound = first.trim_start_matches(['v', '=', '^', '~', '>']);
    if first.starts_with('<') {
        return true;
    }
    match bound.split('.').next().and_then(|m| m.parse::<u64>().ok()) {
        Some(major) => major < 1000,
        None => true,
    }
}

/// A chart version: the exact one asked for, or one within the asked major that moves with the
/// upstream (`18.x` gives `18.4.2`, `*` any).
pub(crate) fn chart_version(ctx: &Ctx, epoch: u64) -> String {
    let asked = ctx
        .spec_str("/version")
        .unwrap_or("*")
        .trim()
        .trim_start_matches(['v', '=']);
    let core = asked.split(['-', '+']).next().unwrap_or("");
    let parts: Vec<&str> = core.split('.').collect();
    if parts.len() == 3
        && parts
            .iter()
            .all(|p| !p.is_empty() && p.chars().all(|c| c.is_ascii_digit()))
    {
        return asked.to_string();
    }
    let h = ctx.hash("chart-version");
    let major = asked
        .trim_start_matches(['^', '~', '>', '<', '='])
        .split('.')
        .next()
        .and_then(|m| m.parse::<u64>().ok())
        .unwrap_or(1 + h % 9);
    format!("{major}.{}.{}", (h >> 8) % 20 + epoch, (h >> 16) % 10)
}

fn fetch(ctx: &Ctx) -> Fetched {
    let epoch = ctx.revision_epoch();
    let e = epoch.to_string();
    let url = ctx.spec_str("/url").unwrap_or("").to_string();
    let digest_hex = ctx.hex(&format!("content-{e}"), 64);
    match ctx.info.kind {
        "GitRepository" => {
            let sha = ctx.hex(&format!("commit-{e}"), 40);
            let revision = match (ctx.spec_str("/ref/tag"), ctx.spec_str("/ref/commit")) {
                (_, Some(commit)) => format!("sha1:{commit}"),
                (Some(tag), None) => format!("{tag}@sha1:{sha}"),
                (None, None) => format!("{}@sha1:{sha}", ctx.spec_str("/ref/branch").unwrap_or("main")),
            };
            let subjects = [
                "Merge pull request #{n} from acme/renovate",
                "Update {name} manifests",
                "chore: bump image tags",
                "fix: raise memory limits for {name}",
            ];
            let h = ctx.hash(&format!("subject-{e}"));
            let subject = subjects[(h % subjects.len() as u64) as usize]
                .replace("{n}", &(100 + h % 900).to_string())
                .replace("{name}", ctx.name());
            Fetched {
                revision,
                file: format!("{sha}.tar.gz"),
                new_artifact: format!("stored artifact for commit '{subject}'"),
                chart: None,
            }
        }
        "OCIRepository" => {
            let tag = ctx.spec_str("/ref/tag").unwrap_or("latest");
            let revision = format!("{tag}@sha256:{}", ctx.hex(&format!("manifest-{e}"), 64));
            let msg = format!("stored artifact with revision '{revision}' from '{url}'");
            Fetched {
                revision,
                file: format!("{digest_hex}.tar.gz"),
                new_artifact: msg,
                chart: None,
            }
        }
        "HelmRepository" => {
            let size = super::util::human_size(20_000 + ctx.hash(&format!("index-size-{e}")) % 2_000_000);
            Fetched {
                revision: format!("sha256:{digest_hex}"),
                file: format!("index-{digest_hex}.yaml"),
                new_artifact: format!("stored fetched index of size {size} from '{url}'"),
                chart: None,
            }
        }
        "Bucket" => {
            let bucket = ctx.spec_str("/bucketName").unwrap_or(ctx.name());
            let files = 3 + ctx.hash("files") % 40;
            Fetched {
                revision: format!("sha256:{digest_hex}"),
                file: format!("{digest_hex}.tar.gz"),
                new_artifact: format!("stored artifact with {files} fetched files from '{bucket}' bucket"),
                chart: None,
            }
        }
        "HelmChart" => {
            let chart = ctx.spec_str("/chart").unwrap_or(ctx.name()).to_string();
            let version = chart_version(ctx, epoch);
            let src = ctx.obj.references().first().map(|r| r.target.clone());
            let src_rev = src
                .and_then(|s: ObjectRef| ctx.input.world.artifact_revision(&s))
                .unwrap_or_default();
            Fetched {
                revision: version.clone(),
                file: format!("{chart}-{version}.tgz"),
                new_artifact: format!("pulled '{chart}' chart with version '{version}'"),
                chart: Some((chart, src_rev)),
            }
        }
        _ => Fetched {
            revision: format!("sha256:{digest_hex}"),
            file: format!("{digest_hex}.tar.gz"),
            new_artifact: format!("stored artifact for revision 'sha256:{digest_hex}'"),
            chart: None,
        },
    }
}

fn store(ctx: &mut Ctx, fetched: Fetched) -> KindOutcome {
    let kind = ctx.info.kind.to_ascii_lowercase();
    let dir = format!("{kind}/{}/{}", ctx.ns(), ctx.name());
    let old = ctx.status.get("artifact").cloned();
    let changed = old.as_ref().and_then(|a| str_at(a, "/revision")) != Some(fetched.revision.as_str());
    let digest = format!("sha256:{}", hex(ctx.seed(), &[&dir, &fetched.revision, "artifact"], 64));
    let artifact = if changed {
        let path = format!("{dir}/{}", fetched.file);
        json!({
            "digest": digest,
            "lastUpdateTime": k8s_time(ctx.finish),
            "path": path,
            "revision": fetched.revision,
            "size": 1_024 + ctx.hash(&fetched.revision) % 4_000_000,
            "url": format!("{STORAGE}/{path}"),
        })
    } else {
        old.clone().unwrap_or(Value::Null)
    };
    let latest = match ctx.info.kind {
        "HelmRepository" => "index.yaml".to_string(),
        "HelmChart" => fetched.file.clone(),
        _ => "latest.tar.gz".to_string(),
    };
    ctx.status.insert("artifact".into(), artifact);
    // GitRepository v1 dropped the deprecated status.url; the other sources keep it.
    if ctx.info.kind != "GitRepository" {
        ctx.status.insert("url".into(), json!(format!("{STORAGE}/{dir}/{latest}")));
    }
    if let Some((chart, src_rev)) = &fetched.chart {
        ctx.status.insert("observedChartName".into(), json!(chart));
        ctx.status
            .insert("observedSourceArtifactRevision".into(), json!(src_rev));
    }
    let message = format!("stored artifact for revision '{}'", fetched.revision);
    let was_failing = ctx.was_failing();
    ctx.delete("FetchFailed");
    ctx.delete("BuildFailed");
    ctx.delete("Reconciling");
    ctx.set_true("ArtifactInStorage", "Succeeded", &message);
    ctx.set_true("Ready", "Succeeded", &message);
    ctx.observe_generation();
    let meta = [("revision", fetched.revision.as_str()), ("digest", digest.as_str())];
    if changed {
        ctx.event(Severity::Info, "NewArtifact", &fetched.new_artifact, &meta);
    } else if was_failing {
        ctx.event(Severity::Info, "Succeeded", &fetched.new_artifact, &meta);
    }
    KindOutcome::success(ctx.interval)
}
