//! The typed status report, computed once from what the clusters returned: one row per object
//! with its verdict and root cause, a summary per verdict, root causes grouped, warnings, and
//! the exit status. Every renderer reads this and nothing else.

use std::collections::{BTreeMap, HashMap};

use jiff::Timestamp;
use model::managed_fields::{spec_changed_at, suspended_at};
use model::{judge, FluxObject, Judgement, NotificationEvidence, ObjectRef, Verdict, VerdictInput};
use serde_json::Value;

use super::collect::Snapshot;
use super::metrics::ReconcileMetrics;
use super::root_cause::{Graph, Node, RootCause};
use crate::cluster::ClusterError;

/// One Flux object's health.
#[derive(Debug, Clone, PartialEq)]
pub struct StatusRow {
    /// The kubeconfig context it was read from.
    pub cluster: String,
    pub api_version: String,
    pub object: ObjectRef,
    pub verdict: Verdict,
    pub since: Option<Timestamp>,
    pub reason: String,
    pub message: String,
    pub revision: Option<String>,
    pub interval: Option<String>,
    pub suspended: bool,
    pub root_cause: Option<RootCause>,
    /// From Prometheus, when --prometheus-url is given and the object has series.
    pub metrics: Option<ReconcileMetrics>,
}

/// Objects blocked by the same root.
#[derive(Debug, Clone, PartialEq)]
pub struct RootGroup {
    pub cluster: String,
    pub root: RootCause,
    pub count: usize,
}

#[derive(Debug, Clone, Default, PartialEq)]
pub struct Summary {
    /// Objects per verdict, in `Verdict::ALL` order, zero counts left out.
    pub counts: Vec<(Verdict, usize)>,
    /// Roots blocking objects, most blocking first.
    pub roots: Vec<RootGroup>,
    pub total: usize,
}

/// Which optional columns the table shows.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Columns {
    pub cluster: bool,
    pub namespace: bool,
    pub metrics: bool,
}

/// The process exit status the report implies.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Health {
    /// 0: every object read is Ready or Progressing, and everything in scope was read.
    Healthy,
    /// 1: an object has a problem, or a kind or cluster could not be read.
    Problems,
    /// 2: nothing could be read at all.
    CouldNotTell,
}

impl Health {
    pub fn code(self) -> u8 {
        match self {
            Health::Healthy => 0,
            Health::Problems => 1,
            Health::CouldNotTell => 2,
        }
    }
}

#[derive(Debug, Clone, PartialEq)]
pub struct Report {
    pub now: Timestamp,
    /// Rows to show (after --problems), sorted by cluster, namespace, kind, name.
    pub rows: Vec<StatusRow>,
    /// Counts over every object in scope, shown or not.
    pub summary: Summary,
    pub columns: Columns,
    /// One line each, for stderr: unreadable kinds, unreachable clusters, kinds not served.
    pub warnings: Vec<String>,
    /// Why nothing could be read, when that is the case.
    pub fatal: Option<String>,
    pub health: Health,
}

/// What one cluster gave: a snapshot (with optional metrics) or the reason there is none.
#[derive(Debug)]
pub struct ClusterResult {
    pub context: String,
    pub outcome: Result<Snapshot, ClusterError>,
    pub metrics: Option<HashMap<ObjectRef, ReconcileMetrics>>,
}

#[derive(Debug, Clone, Copy)]
pub struct Options {
    pub now: Timestamp,
    pub stale_factor: f64,
    pub problems_only: bool,
    /// Show the NAMESPACE column (-A, as kubectl does).
    pub all_namespaces: bool,
}

/// Judges one object with what its managedFields, metrics and (Alerts, Providers) events say.
pub fn judge_object(
    obj: &Value,
    now: Timestamp,
    stale_factor: f64,
    metrics: Option<&ReconcileMetrics>,
    notification: Option<&NotificationEvidence>,
) -> Judgement {
    let input = VerdictInput {
        now,
        stale_factor,
        suspended_at: suspended_at(obj),
        spec_changed_at: spec_changed_at(obj),
        last_reconcile_at: metrics.and_then(|m| m.last_reconcile_at),
        notification,
    };
    judge(&FluxObject::new(obj), &input)
}

fn kind_order(kind: &str) -> usize {
    model::KINDS
        .iter()
        .position(|k| k.kind == kind)
        .unwrap_or(usize::MAX)
}

/// Builds the report from every cluster's result.
pub fn build(results: &[ClusterResult], opts: &Options) -> Report {
    let multi = results.len() > 1;
    let mut all_rows = Vec::new();
    let mut warnings = Vec::new();
    let mut readable_clusters = 0;
    let mut partial = false;
    let mut fatal = None;
    for res in results {
        let where_ = if multi {
            format!(" in context {}", res.context)
        } else {
            String::new()
        };
        let snap = match &res.outcome {
            Ok(s) => s,
            Err(e) => {
                partial = true;
                if multi {
                    warnings.push(format!("error: context {}: {e}", res.context));
                } else {
                    fatal = Some(e.to_string());
                }
                continue;
            }
        };
        for u in &snap.unreadable {
            partial = true;
            let resource = model::kinds::by_kind(&u.kind)
                .map(|k| format!(" ({})", k.resource_name()))
                .unwrap_or_default();
            warnings.push(format!(
                "warning: cannot read {}{resource}{where_}: {}",
                u.kind, u.error
            ));
        }
        if let Some(w) = &snap.notifications.warning {
            partial = true;
            warnings.push(format!("{w}{where_}"));
        }
        for k in &snap.not_served {
            warnings.push(format!(
                "warning: {k} is not served{where_} (no CustomResourceDefinition)"
            ));
        }
        if snap.listed_kinds.is_empty() {
            let why = if snap.discovered.kinds.is_empty() && snap.unreadable.is_empty() {
                "serves no Flux kinds (is Flux installed?)"
            } else if snap.unreadable.is_empty() {
                "serves none of the kinds asked for"
            } else {
                "answered no list of any Flux kind"
            };
            let line = format!("the Kubernetes API{where_} {why}");
            if multi {
                warnings.push(format!("error: {line}"));
            } else {
                fatal = Some(line);
            }
            partial = true;
            continue;
        }
        readable_clusters += 1;
        all_rows.extend(cluster_rows(snap, res.metrics.as_ref(), opts));
    }

    all_rows.sort_by(|a, b| {
        (
            &a.cluster,
            &a.object.namespace,
            kind_order(&a.object.kind),
            &a.object.name,
        )
            .cmp(&(
                &b.cluster,
                &b.object.namespace,
                kind_order(&b.object.kind),
                &b.object.name,
            ))
    });
    let summary = summarise(&all_rows);
    let any_problem = all_rows.iter().any(|r| r.verdict.is_problem());
    let health = if readable_clusters == 0 {
        if fatal.is_none() {
            fatal = Some("no cluster could be read".to_string());
        }
        Health::CouldNotTell
    } else if any_problem || partial {
        Health::Problems
    } else {
        Health::Healthy
    };
    let columns = Columns {
        cluster: multi,
        namespace: opts.all_namespaces,
        metrics: all_rows.iter().any(|r| r.metrics.is_some()),
    };
    let rows = if opts.problems_only {
        all_rows
            .into_iter()
            .filter(|r| r.verdict.is_problem())
            .collect()
    } else {
        all_rows
    };
    Report {
        now: opts.now,
        rows,
        summary,
        columns,
        warnings,
        fatal: if readable_clusters == 0 { fatal } else { None },
        health,
    }
}

/// Rows of one cluster: judge everything read (in scope and upstream), then walk root causes.
fn cluster_rows(
    snap: &Snapshot,
    metrics: Option<&HashMap<ObjectRef, ReconcileMetrics>>,
    opts: &Options,
) -> Vec<StatusRow> {
    let metric = |r: &ObjectRef| metrics.and_then(|m| m.get(r));
    let mut graph = Graph {
        missing: snap.missing.clone(),
        ..Default::default()
    };
    let mut judged = Vec::with_capacity(snap.objects.len());
    for obj in snap.objects.iter().chain(snap.upstream.values()) {
        let view = FluxObject::new(obj);
        let r = view.object_ref();
        let evidence = snap.notifications.evidence.get(&r);
        let j = judge_object(obj, opts.now, opts.stale_factor, metric(&r), evidence);
        let refs = view.references().into_iter().map(|x| x.target).collect();
        graph.nodes.insert(
            r.clone(),
            Node {
                verdict: j.verdict,
                reason: j.reason.clone(),
                message: j.message.clone(),
                refs,
            },
        );
        judged.push((obj, r, j));
    }
    judged.truncate(snap.objects.len());
    judged
        .into_iter()
        .map(|(obj, r, j)| {
            let view = FluxObject::new(obj);
            StatusRow {
                cluster: snap.context.clone(),
                api_version: view.api_version().to_string(),
                root_cause: graph.root_cause(&r),
                metrics: metric(&r).cloned(),
                object: r,
                verdict: j.verdict,
                since: j.since,
                reason: j.reason,
                message: j.message,
                revision: view.revision().map(str::to_string),
                interval: view.interval_raw().map(str::to_string),
                suspended: view.suspended(),
            }
        })
        .collect()
}

/// Counts per verdict and objects grouped by root.
pub fn summarise(rows: &[StatusRow]) -> Summary {
    let counts = Verdict::ALL
        .iter()
        .map(|v| (*v, rows.iter().filter(|r| r.verdict == *v).count()))
        .filter(|(_, n)| *n > 0)
        .collect();
    let mut groups: BTreeMap<(String, ObjectRef), (RootCause, usize)> = BTreeMap::new();
    for row in rows {
        if let Some(root) = &row.root_cause {
            groups
                .entry((row.cluster.clone(), root.object.clone()))
                .or_insert_with(|| (root.clone(), 0))
                .1 += 1;
        }
    }
    let mut roots: Vec<RootGroup> = groups
        .into_iter()
        .map(|((cluster, _), (root, count))| RootGroup {
            cluster,
            root,
            count,
        })
        .collect();
    roots.sort_by(|a, b| {
        b.count
            .cmp(&a.count)
            .then_with(|| (&a.cluster, &a.root.object).cmp(&(&b.cluster, &b.root.object)))
    });
    Summary {
        counts,
        roots,
        total: rows.len(),
    }
}

#[cfg(test)]
pub(crate) mod tests {
    use super::*;
    use crate::discovery::ServedKind;
    use serde_json::json;

    pub fn now() -> Timestamp {
        "2025-01-01T12:00:00Z".parse().unwrap()
    }

    fn cond(status: &str, reason: &str, message: &str) -> Value {
        json!([{"type": "Ready", "status": status, "reason": reason, "message": message,
                "lastTransitionTime": "2025-01-01T11:00:00Z"}])
    }

    pub fn sample_snapshot() -> Snapshot {
        let git = json!({"apiVersion": "source.toolkit.fluxcd.io/v1", "kind": "GitRepository",
            "metadata": {"name": "flux-system", "namespace": "flux-system", "generation": 1},
            "spec": {"interval": "1m0s", "url": "https://example.com/repo"},
            "status": {"observedGeneration": 1, "conditions": cond("False", "GitOperationFailed", "authentication required")}});
        let ks = |name: &str, deps: Value| {
            json!({"apiVersion": "kustomize.toolkit.fluxcd.io/v1", "kind": "Kustomization",
            "metadata": {"name": name, "namespace": "flux-system", "generation": 1},
            "spec": {"interval": "10m0s", "sourceRef": {"kind": "GitRepository", "name": "flux-system"}, "dependsOn": deps},
            "status": {"observedGeneration": 1, "lastAppliedRevision": "main@sha1:abc",
                       "conditions": cond("False", "ArtifactFailed", "Source artifact not found")}})
        };
        let ok = json!({"apiVersion": "source.toolkit.fluxcd.io/v1", "kind": "HelmRepository",
            "metadata": {"name": "podinfo", "namespace": "apps", "generation": 1},
            "spec": {"interval": "1h"},
            "status": {"observedGeneration": 1, "artifact": {"revision": "sha256:1234"},
                       "conditions": cond("True", "Succeeded", "stored artifact for revision 'sha256:1234'")}});
        let hr = json!({"apiVersion": "helm.toolkit.fluxcd.io/v2", "kind": "HelmRelease",
            "metadata": {"name": "podinfo", "namespace": "apps", "generation": 2, "managedFields": [
                {"manager": "kubectl-patch", "operation": "Update", "time": "2025-01-01T09:00:00Z",
                 "fieldsType": "FieldsV1", "fieldsV1": {"f:spec": {"f:suspend": {}}}}]},
            "spec": {"interval": "5m", "suspend": true},
            "status": {"observedGeneration": 1, "conditions": cond("True", "UpgradeSucceeded", "ok")}});
        let info = |k: &str| ServedKind {
            info: model::kinds::by_kind(k).unwrap(),
            version: "v1".into(),
            served: vec!["v1".into()],
        };
        Snapshot {
            context: "kind-test".into(),
            objects: vec![
                git,
                ks("infra", json!([])),
                ks("apps", json!([{"name": "infra"}])),
                ok,
                hr,
            ],
            discovered: crate::discovery::Discovered {
                kinds: vec![info("GitRepository"), info("Kustomization")],
                unreadable: vec![],
            },
            listed_kinds: vec![
                "GitRepository",
                "Kustomization",
                "HelmRepository",
                "HelmRelease",
            ],
            ..Default::default()
        }
    }

    pub fn sample_report() -> Report {
        let results = [ClusterResult {
            context: "kind-test".into(),
            outcome: Ok(sample_snapshot()),
            metrics: None,
        }];
        build(
            &results,
            &Options {
                now: now(),
                stale_factor: 3.0,
                problems_only: false,
                all_namespaces: true,
            },
        )
    }

    #[test]
    fn judges_roots_and_groups() {
        let report = sample_report();
        let verdicts: Vec<(String, Verdict)> = report
            .rows
            .iter()
            .map(|r| (format!("{}/{}", r.object.kind, r.object.name), r.verdict))
            .collect();
        assert_eq!(
            verdicts,
            [
                ("HelmRepository/podinfo".to_string(), Verdict::Ready),
                ("HelmRelease/podinfo".to_string(), Verdict::Suspended),
                ("GitRepository/flux-system".to_string(), Verdict::Failing),
                ("Kustomization/apps".to_string(), Verdict::Failing),
                ("Kustomization/infra".to_string(), Verdict::Failing),
            ]
        );
        let hr = &report.rows[1];
        assert_eq!(
            hr.since.unwrap().to_string(),
            "2025-01-01T09:00:00Z",
            "suspended since managedFields time"
        );
        let apps = &report.rows[3];
        assert_eq!(
            apps.root_cause.as_ref().unwrap().object.to_string(),
            "GitRepository/flux-system/flux-system"
        );
        assert_eq!(
            report.summary.counts,
            [
                (Verdict::Ready, 1),
                (Verdict::Failing, 3),
                (Verdict::Suspended, 1)
            ]
        );
        assert_eq!(report.summary.roots.len(), 1);
        assert_eq!(report.summary.roots[0].count, 2);
        assert_eq!(report.health, Health::Problems);
    }

    #[test]
    fn exit_status_follows_the_documented_rule() {
        let opts = Options {
            now: now(),
            stale_factor: 3.0,
            problems_only: true,
            all_namespaces: false,
        };
        let mut healthy = sample_snapshot();
        healthy
            .objects
            .retain(|o| o["metadata"]["name"] == "podinfo" && o["kind"] == "HelmRepository");
        let ok = |s: Snapshot| ClusterResult {
            context: "a".into(),
            outcome: Ok(s),
            metrics: None,
        };
        let report = build(&[ok(healthy.clone())], &opts);
        assert_eq!(report.health, Health::Healthy);
        assert!(report.rows.is_empty(), "--problems hides healthy rows");
        assert_eq!(report.summary.total, 1);

        let mut partial = healthy.clone();
        partial.unreadable.push(crate::discovery::Unreadable {
            kind: "Bucket".into(),
            error: "forbidden".into(),
        });
        let report = build(&[ok(partial)], &opts);
        assert_eq!(
            report.health,
            Health::Problems,
            "an unreadable kind means health is not confirmed"
        );
        assert_eq!(report.warnings.len(), 1);
        assert!(
            report.warnings[0].contains("buckets.source.toolkit.fluxcd.io"),
            "{}",
            report.warnings[0]
        );

        let unreachable = ClusterResult {
            context: "b".into(),
            outcome: Err(ClusterError::Unreachable {
                server: "https://127.0.0.1:1".into(),
                reason: "connection refused".into(),
            }),
            metrics: None,
        };
        let report = build(std::slice::from_ref(&unreachable), &opts);
        assert_eq!(report.health, Health::CouldNotTell);
        assert!(report
            .fatal
            .as_ref()
            .unwrap()
            .contains("connection refused"));

        let report = build(&[ok(healthy.clone()), unreachable], &opts);
        assert_eq!(
            report.health,
            Health::Problems,
            "one cluster down among several"
        );
        assert!(report.columns.cluster);
        assert!(report.warnings[0].starts_with("error: context b:"));

        let mut empty = healthy;
        empty.listed_kinds.clear();
        empty.objects.clear();
        empty.discovered.kinds.clear();
        let report = build(&[ok(empty)], &opts);
        assert_eq!(report.health, Health::CouldNotTell);
        assert!(report.fatal.unwrap().contains("no Flux kinds"));
    }
}
