//! `kubectl flux-monitor drill --local`: live alert-fire drills. For each scenario, flux-sim runs
//! in-process at a time scale, a real Prometheus evaluates the user's rules (time compressed) on
//! what it scrapes, a real Alertmanager routes with the user's configuration (timers compressed,
//! receivers pointed at a capture sink), and Flux's notifications go to capture sinks too; every
//! expectation is reported hop by hop. Processes and temporary directories are removed on
//! success, failure and Ctrl-C.

pub mod amcfg;
pub mod cluster;
mod judge;
mod observe;
mod procs;
mod progress;
mod promcfg;
mod proxy;
mod report;
mod session;
mod sink;

use std::path::PathBuf;
use std::time::Instant;

use serde_json::Value;
use tokio::sync::watch;

use crate::cli::{DrillArgs, DrillFormat};
use crate::tools::{self, Program};
use session::{Inputs, Stop};

pub async fn run(args: &DrillArgs) -> u8 {
    if args.cluster.cluster || args.cluster.print_cronjob {
        return cluster::run(args).await;
    }
    match run_inner(args).await {
        Ok(code) => code,
        Err(e) => {
            for line in e.lines() {
                eprintln!("error: {line}");
            }
            2
        }
    }
}

fn load_inputs(args: &DrillArgs) -> Result<(Vec<simulator::scenario::Scenario>, Inputs), String> {
    let scenarios_path = args.scenarios.as_deref().ok_or("--scenarios is required")?;
    // Past the simulator's largest scale a scaled timer cannot be represented.
    let max = simulator::controllers::TIME_SCALE_RANGE.1;
    if !(args.time_scale.is_finite() && (1.0..=max).contains(&args.time_scale)) {
        return Err(format!(
            "--time-scale {}: expected a number from 1 to {max}",
            args.time_scale
        ));
    }
    let mut scenarios =
        simulator::scenario::load_dir_or_file(scenarios_path).map_err(|e| e.to_string())?;
    if scenarios.is_empty() {
        return Err(format!(
            "{}: no Scenario documents found",
            scenarios_path.display()
        ));
    }
    cluster::refuse_cluster_scenarios(&scenarios, "drill --local")?;
    for s in &mut scenarios {
        s.retarget(args.flux_version, &args.resource_metrics);
    }
    let rules = promcfg::load_rules(&args.rules, args.time_scale)?;
    let alertmanager = match &args.alertmanager_config {
        Some(p) => Some((amcfg::load(p)?, p.clone())),
        None => None,
    };
    let manifests = match args.flux_manifests.as_slice() {
        [] => None,
        paths => Some(load_manifests(paths)?),
    };
    let prometheus = tools::find(Program::Prometheus, args.prometheus.as_deref())?;
    let alertmanager_tool = match &alertmanager {
        Some((config, path)) => {
            let tool = tools::find(Program::Alertmanager, args.alertmanager.as_deref())?;
            tools::alertmanager_supports(config, path, &tool)?;
            Some(tool)
        }
        None => None,
    };
    Ok((
        scenarios,
        Inputs {
            rules,
            alertmanager,
            manifests,
            prometheus,
            alertmanager_tool,
            scale: args.time_scale,
            timeout: args.timeout,
        },
    ))
}

/// Alerts and Providers (and anything else) from `--flux-manifests`, read with lint's YAML reader.
fn load_manifests(paths: &[PathBuf]) -> Result<Vec<Value>, String> {
    let mut out = Vec::new();
    for f in crate::lint::yaml::expand(paths).map_err(|e| e.0)? {
        for doc in crate::lint::yaml::load_file(&f).map_err(|e| e.0)? {
            out.push(doc.to_json());
        }
    }
    Ok(out)
}

async fn run_inner(args: &DrillArgs) -> Result<u8, String> {
    let started = Instant::now();
    let (scenarios, inputs) = load_inputs(args)?;
    let (tx, rx) = watch::channel(0u32);
    let signals = tokio::spawn(async move {
        loop {
            wait_for_signal().await;
            tx.send_modify(|n| *n += 1);
        }
    });
    let mut progress = progress::Progress::new();
    let mut reports = Vec::new();
    let mut stop = None;
    let mut second = rx.clone();
    // A second signal abandons the orderly clean-up: dropping the futures kills the process
    // groups and removes the directories in Drop.
    let mut next = match scenarios.first() {
        Some(first) => tokio::select! {
            p = session::prepare(&inputs, first, &rx) => Some(p),
            _ = second.wait_for(|n| *n >= 2) => None,
        },
        None => None,
    };
    for (i, scenario) in scenarios.iter().enumerate() {
        let prepared = match next.take() {
            Some(Ok(p)) => p,
            Some(Err(s)) => {
                stop = Some(s);
                break;
            }
            None => {
                stop = Some(Stop::Interrupted);
                break;
            }
        };
        progress.event(&format!(
            "scenario {} ({})",
            scenario.name,
            scenario.source.display()
        ));
        // The next scenario's Prometheus and Alertmanager start while this one runs.
        let following = scenarios.get(i + 1);
        let both = async {
            tokio::join!(
                session::run(scenario, &inputs, prepared, &mut progress, rx.clone()),
                async {
                    match following {
                        Some(s) => Some(session::prepare(&inputs, s, &rx).await),
                        None => None,
                    }
                }
            )
        };
        let (outcome, prepared_next) = tokio::select! {
            r = both => r,
            _ = second.wait_for(|n| *n >= 2) => (Err(Stop::Interrupted), None),
        };
        next = prepared_next;
        match outcome {
            Ok(r) => reports.push(r),
            Err(s) => {
                stop = Some(s);
                break;
            }
        }
    }
    if let Some(Ok(p)) = next.take() {
        p.cleanup().await;
    }
    signals.abort();
    match stop {
        Some(Stop::Interrupted) => {
            eprintln!("drill: interrupted; every process and temporary directory it made is gone");
            return Ok(2);
        }
        Some(Stop::Error(e)) => return Err(e),
        None => {}
    }
    let failed = reports.iter().flat_map(|r| &r.cases).any(|c| !c.passed);
    let ran: Vec<&tools::Tool> = std::iter::once(&inputs.prometheus)
        .chain(inputs.alertmanager_tool.as_ref())
        .collect();
    let junit = report::junit(&reports, &ran);
    if let Some(path) = &args.junit {
        std::fs::write(path, &junit)
            .map_err(|e| format!("{}: cannot write: {e}", path.display()))?;
    }
    match args.output {
        DrillFormat::Text => print!(
            "{}",
            report::text(
                &reports,
                &ran,
                started.elapsed(),
                std::io::IsTerminal::is_terminal(&std::io::stdout())
            )
        ),
        DrillFormat::Json => print!("{}", report::json(&reports, &ran)),
        DrillFormat::Junit => print!("{junit}"),
    }
    Ok(u8::from(failed))
}

async fn wait_for_signal() {
    let mut term = match tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate()) {
        Ok(t) => t,
        Err(_) => {
            let _ = tokio::signal::ctrl_c().await;
            return;
        }
    };
    tokio::select! {
        _ = tokio::signal::ctrl_c() => {}
        _ = term.recv() => {}
    }
}
