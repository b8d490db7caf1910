//! `kubectl flux-monitor status`: read every Flux object of every served kind from one or more
//! clusters, judge each, find what blocks it, and print one report.

pub mod collect;
pub mod metrics;
pub mod notifications;
pub mod report;
pub mod root_cause;

use std::collections::HashMap;
use std::io::Write as _;
use std::time::Duration;

use model::kinds::KindInfo;
use model::{FluxObject, ObjectRef};

use crate::cli::{KubeArgs, StatusArgs};
use crate::cluster::{self, Cluster};
use crate::error::Error;
use crate::output;
use collect::{Scope, Snapshot};
use metrics::ReconcileMetrics;
use report::{ClusterResult, Health, Options, Report};

/// Resolves `--kind` values the way kubectl resolves resource names.
pub fn resolve_kinds(names: &[String]) -> Result<Option<Vec<&'static KindInfo>>, Error> {
    if names.is_empty() {
        return Ok(None);
    }
    let mut kinds: Vec<&'static KindInfo> = Vec::new();
    for name in names.iter().map(|n| n.trim()).filter(|n| !n.is_empty()) {
        let info =
            model::kinds::lookup(name).ok_or_else(|| Error::UnknownKind(name.to_string()))?;
        if !kinds.iter().any(|k| k.kind == info.kind) {
            kinds.push(info);
        }
    }
    Ok(Some(kinds))
}

/// The scope in one cluster: -A, else -n, else the context's namespace (as kubectl does).
pub fn scope_for(
    cluster: &Cluster,
    kube: &KubeArgs,
    args: &StatusArgs,
    kinds: &Option<Vec<&'static KindInfo>>,
) -> Scope {
    Scope {
        namespace: if args.all_namespaces {
            None
        } else {
            Some(
                kube.namespace
                    .clone()
                    .unwrap_or_else(|| cluster.default_namespace.clone()),
            )
        },
        selector: args.selector.clone(),
        kinds: kinds.clone(),
    }
}

pub fn options(args: &StatusArgs) -> Options {
    Options {
        now: jiff::Timestamp::now(),
        stale_factor: args.stale_factor,
        problems_only: args.problems,
        all_namespaces: args.all_namespaces,
    }
}

pub async fn run(kube: &KubeArgs, args: &StatusArgs) -> Result<Health, Error> {
    let kinds = resolve_kinds(&args.kinds)?;
    let clusters = cluster::clusters(kube).await?;
    if args.prometheus_url.is_some() && clusters.len() > 1 {
        eprintln!(
            "warning: --prometheus-url applies to one cluster; ignored with several contexts"
        );
    }
    if args.watch {
        return crate::watch::run(clusters, kube, args, kinds).await;
    }
    let single = clusters.len() == 1;
    let reads = clusters.iter().map(|c| {
        let kinds = &kinds;
        async move {
            match c {
                Ok(cluster) => {
                    let scope = scope_for(cluster, kube, args, kinds);
                    let mut outcome = collect::collect(cluster, &scope).await;
                    if let Ok(snap) = &mut outcome {
                        snap.notifications = notifications::for_snapshot(
                            cluster,
                            snap,
                            &scope,
                            args.notification_window,
                            jiff::Timestamp::now(),
                        )
                        .await;
                    }
                    let metrics = match (&outcome, &args.prometheus_url, single) {
                        (Ok(snap), Some(url), true) => {
                            enrich(url, snap, args.stale_factor, cluster.timeout).await
                        }
                        _ => None,
                    };
                    ClusterResult {
                        context: cluster.context.clone(),
                        outcome,
                        metrics,
                    }
                }
                Err((context, e)) => ClusterResult {
                    context: context.clone(),
                    outcome: Err(e.clone()),
                    metrics: None,
                },
            }
        }
    });
    let results = futures::future::join_all(reads).await;
    let report = report::build(&results, &options(args));
    print_report(&report, args, true)?;
    Ok(report.health)
}

/// Metrics for a snapshot, or a warning and none.
pub async fn enrich(
    url: &str,
    snap: &Snapshot,
    stale_factor: f64,
    timeout: Option<Duration>,
) -> Option<HashMap<ObjectRef, ReconcileMetrics>> {
    let longest = snap
        .objects
        .iter()
        .filter_map(|o| FluxObject::new(o).interval())
        .max()
        .unwrap_or(Duration::from_secs(600));
    let lookback = Duration::from_secs_f64(longest.as_secs_f64() * stale_factor + 600.0)
        .clamp(Duration::from_secs(600), Duration::from_secs(7 * 86_400));
    match metrics::fetch(url, lookback, timeout).await {
        Ok(m) => Some(m),
        Err(e) => {
            eprintln!("warning: {e}; showing status without metrics");
            None
        }
    }
}

/// Writes warnings to stderr and the rendering to stdout. `warnings` is false when a watch has
/// already shown them.
pub fn print_report(report: &Report, args: &StatusArgs, warnings: bool) -> Result<(), Error> {
    if warnings {
        for w in &report.warnings {
            eprintln!("{w}");
        }
    }
    if let Some(fatal) = &report.fatal {
        eprintln!("error: {fatal}");
        return Ok(());
    }
    let text = output::render(report, args.output, output::stdout_wants_color());
    let mut out = std::io::stdout().lock();
    out.write_all(text.as_bytes())?;
    out.flush()?;
    if report.summary.total == 0
        && matches!(
            args.output,
            crate::cli::OutputFormat::Table | crate::cli::OutputFormat::Wide
        )
    {
        eprintln!("No Flux objects found.");
    }
    Ok(())
}
