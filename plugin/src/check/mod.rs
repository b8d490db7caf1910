//! `kubectl flux-monitor check`: built-in health checks for CI and cron (not ready, stalled,
//! suspended, stale, revision drift, controllers, CRD versions, notification coverage), tuned
//! and scoped by a checks file; table, JSON or JUnit XML; exit 0 pass, 1 fail, 2 could not tell.

pub mod checks;
pub mod config;
pub mod install;
pub mod render;

use std::io::Write as _;

use model::FluxObject;
use serde_json::Value;

use crate::cli::{CheckArgs, CheckFormat, KubeArgs};
use crate::cluster::{self, Cluster};
use crate::error::Error;
use crate::status::collect::{self, Scope};
use checks::{CheckResult, Outcome, World};
use config::{CheckId, Config};
use render::ClusterReport;

/// Every enabled check against one cluster. Errors become "could not tell" results.
async fn check_cluster(
    cluster: &Cluster,
    kube: &KubeArgs,
    args: &CheckArgs,
    config: &Config,
) -> ClusterReport {
    // A gate checks the whole installation unless told otherwise (as `flux check` does): a
    // check that looked only at the kubeconfig's default namespace would pass on an empty one.
    let scope = Scope {
        namespace: if args.all_namespaces {
            None
        } else {
            kube.namespace.clone()
        },
        selector: args.selector.clone(),
        kinds: None,
    };
    let mut report = ClusterReport {
        context: cluster.context.clone(),
        flux_version: None,
        results: Vec::new(),
    };
    let enabled = |id: CheckId| config.settings(id).enabled || !id.per_object();
    let snap = match collect::collect(cluster, &scope).await {
        Ok(s) => s,
        Err(e) => {
            report.results = CheckId::ALL
                .into_iter()
                .filter(|id| enabled(*id))
                .map(|id| CheckResult {
                    id,
                    cases: Vec::new(),
                    error: Some(e.to_string()),
                })
                .collect();
            return report;
        }
    };

    // The installation: CRDs (and the Flux version they come from), then the controllers.
    let crds = install::flux_crds(cluster).await;
    let version = install::version_of(crds.as_deref().unwrap_or_default(), &snap.discovered);
    report.flux_version = version.map(|v| v.to_string());
    let controllers = config.settings(CheckId::Controllers);
    if controllers.enabled {
        report.results.push(
            match install::flux_deployments(cluster, &controllers.namespace).await {
                Ok(ds) => checks::controllers(&ds, &controllers.namespace),
                Err(e) => CheckResult {
                    id: CheckId::Controllers,
                    cases: Vec::new(),
                    error: Some(format!("cannot list Deployments: {e}")),
                },
            },
        );
    }
    if config.settings(CheckId::CrdVersions).enabled {
        report.results.push(match (&crds, version) {
            (Ok(list), Some(v)) => checks::crd_versions(list, v),
            (Err(e), _) => CheckResult {
                id: CheckId::CrdVersions,
                cases: Vec::new(),
                error: Some(format!("cannot list CRDs: {e}")),
            },
            (Ok(_), None) => CheckResult {
                id: CheckId::CrdVersions,
                cases: Vec::new(),
                error: Some("cannot tell the Flux version".into()),
            },
        });
    }

    // Alerts and Providers of every namespace: an Alert elsewhere may cover objects in scope.
    let (alerts, providers, mut notification_error) =
        notification_objects(cluster, &scope, &snap).await;
    let now = jiff::Timestamp::now();
    // Every namespace's Providers were listed, unless that failed: then absence proves nothing.
    let listed: std::collections::HashSet<model::ObjectRef> = providers
        .iter()
        .map(|p| FluxObject::new(p).object_ref())
        .collect();
    let complete = notification_error.is_none();
    let exists =
        |r: &model::ObjectRef| (listed.contains(r) || complete).then(|| listed.contains(r));
    let notifications = crate::status::notifications::gather(
        cluster,
        &alerts,
        &providers,
        &exists,
        true,
        args.notification_window,
        now,
    )
    .await;
    if notification_error.is_none() {
        notification_error = notifications.warning.clone();
    }
    let world = World {
        objects: &snap.objects,
        upstream: &snap.upstream,
        alerts: &alerts,
        providers: &providers,
        notifications: &notifications.evidence,
        now,
        index: Default::default(),
        alerts_by_namespace: Default::default(),
    };
    let unreadable = (!snap.unreadable.is_empty()).then(|| {
        let kinds: Vec<String> = snap
            .unreadable
            .iter()
            .map(|u| format!("{} ({})", u.kind, u.error))
            .collect();
        format!("could not read {}", kinds.join(", "))
    });
    for mut r in checks::object_checks(&world, config) {
        if !config.settings(r.id).enabled && r.cases.is_empty() {
            continue;
        }
        r.error = unreadable.clone();
        if r.id == CheckId::NotificationCoverage && notification_error.is_some() {
            r.error = notification_error.clone();
        }
        report.results.push(r);
    }
    report
}

async fn notification_objects(
    cluster: &Cluster,
    scope: &Scope,
    snap: &collect::Snapshot,
) -> (Vec<Value>, Vec<Value>, Option<String>) {
    let of_kind = |objs: &[Value], kind: &str| -> Vec<Value> {
        objs.iter()
            .filter(|o| FluxObject::new(o).kind() == kind)
            .cloned()
            .collect()
    };
    if scope.namespace.is_none() && scope.selector.is_none() {
        return (
            of_kind(&snap.objects, "Alert"),
            of_kind(&snap.objects, "Provider"),
            None,
        );
    }
    let mut lists = Vec::new();
    let mut error = None;
    for kind in ["Alert", "Provider"] {
        let Some(served) = snap.discovered.get(kind) else {
            lists.push(Vec::new());
            continue;
        };
        match collect::list_kind(cluster, served, &Scope::default()).await {
            Ok(items) => lists.push(items),
            Err(e) => {
                error = Some(format!(
                    "cannot list {} in all namespaces: {e}",
                    served.info.plural
                ));
                lists.push(of_kind(&snap.objects, kind));
            }
        }
    }
    let providers = lists.pop().unwrap_or_default();
    let alerts = lists.pop().unwrap_or_default();
    (alerts, providers, error)
}

pub async fn run(kube: &KubeArgs, args: &CheckArgs) -> Result<u8, Error> {
    let config = match &args.checks {
        Some(path) => config::load(path).map_err(Error::Input)?,
        None => Config::default(),
    };
    let clusters = cluster::clusters(kube).await?;
    let single = clusters.len() == 1;
    let mut reports = Vec::new();
    for c in clusters {
        match c {
            Ok(cluster) => reports.push(check_cluster(&cluster, kube, args, &config).await),
            Err((_, e)) if single => return Err(e.into()),
            Err((context, e)) => reports.push(ClusterReport {
                context,
                flux_version: None,
                results: CheckId::ALL
                    .into_iter()
                    .map(|id| CheckResult {
                        id,
                        cases: Vec::new(),
                        error: Some(e.to_string()),
                    })
                    .collect(),
            }),
        }
    }
    // A cluster that could not be read at all: say so once, as status does.
    if single {
        if let Some(r) = reports.first() {
            if r.results
                .iter()
                .all(|c| c.cases.is_empty() && c.error.is_some())
            {
                if let Some(e) = r.results.first().and_then(|c| c.error.clone()) {
                    return Err(Error::Input(e));
                }
            }
        }
    }
    let text = match args.output {
        CheckFormat::Table => render::table(&reports),
        CheckFormat::Json => {
            serde_json::to_string_pretty(&render::json(&reports)).unwrap_or_default() + "\n"
        }
        CheckFormat::Junit => render::junit(&reports),
    };
    if let Some(path) = &args.junit {
        std::fs::write(path, render::junit(&reports))
            .map_err(|e| Error::Input(format!("cannot write {}: {e}", path.display())))?;
    }
    let mut out = std::io::stdout().lock();
    out.write_all(text.as_bytes())?;
    out.flush()?;
    let outcomes: Vec<Outcome> = reports
        .iter()
        .flat_map(|r| r.results.iter().map(CheckResult::outcome))
        .collect();
    Ok(if outcomes.contains(&Outcome::Fail) {
        1
    } else if outcomes.contains(&Outcome::Unknown) {
        2
    } else {
        0
    })
}
