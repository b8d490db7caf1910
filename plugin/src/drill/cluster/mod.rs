//! `kubectl flux-monitor drill --cluster`: alert-fire drills on a live cluster. For each
//! scenario with a `spec.cluster` section, canary Flux objects are created and broken the way
//! real Flux notices by itself; each alert is followed through the cluster's own Prometheus,
//! Alertmanager and notification-controller, hop by hop with times since the fault; the canaries
//! are deleted on every exit (also failure, timeout, Ctrl-C and SIGTERM). `--cleanup` removes
//! what a killed drill left; `--print-cronjob` prints the manifests of a scheduled drill;
//! `--pushgateway-url` pushes each result as metrics.

mod access;
mod amroute;
mod canary;
pub mod cronjob;
mod judge;
mod observe;
mod push;
mod report;
mod session;
mod setup;
mod watch;

use std::time::Instant;

use simulator::scenario::Scenario;
use tokio::sync::watch as signal_watch;

use crate::cli::{DrillArgs, DrillFormat};
use access::Endpoint;
use session::{Env, Stop};

pub async fn run(args: &DrillArgs) -> u8 {
    let result = if args.cluster.print_cronjob {
        print_cronjob(args)
    } else if args.cluster.cleanup {
        cleanup(args).await
    } else {
        drill(args).await
    };
    match result {
        Ok(code) => code,
        Err(e) => {
            for line in e.lines() {
                eprintln!("error: {line}");
            }
            2
        }
    }
}

/// Local drills and tests cannot play a cluster drill (its faults are changes to real objects).
pub fn refuse_cluster_scenarios(scenarios: &[Scenario], command: &str) -> Result<(), String> {
    match scenarios.iter().find(|s| s.cluster.is_some()) {
        Some(s) => Err(format!(
            "{}: scenario {} is a cluster drill (spec.cluster): run it with `drill --cluster`, not `{command}`",
            s.source.display(),
            s.name
        )),
        None => Ok(()),
    }
}

fn load_scenarios(args: &DrillArgs) -> Result<Vec<Scenario>, String> {
    let path = args.scenarios.as_deref().ok_or("--scenarios is required")?;
    let scenarios = simulator::scenario::load_dir_or_file(path).map_err(|e| e.to_string())?;
    if scenarios.is_empty() {
        return Err(format!("{}: no Scenario documents found", path.display()));
    }
    if let Some(s) = scenarios.iter().find(|s| s.cluster.is_none()) {
        return Err(format!(
            "{}: scenario {} has no spec.cluster section: it is a simulator scenario (run it with `drill --local`); scenarios/README.md describes cluster drills",
            s.source.display(),
            s.name
        ));
    }
    if scenarios.len() > 99 {
        return Err(format!(
            "{}: {} scenarios; a run drills at most 99",
            path.display(),
            scenarios.len()
        ));
    }
    Ok(scenarios)
}

/// A run id: 5 lowercase letters and digits, from the clock and the process id.
fn new_run_id() -> String {
    use std::hash::{Hash, Hasher};
    let mut h = std::collections::hash_map::DefaultHasher::new();
    (std::time::SystemTime::now(), std::process::id()).hash(&mut h);
    let mut n = h.finish();
    let alphabet = b"abcdefghijklmnopqrstuvwxyz0123456789";
    let mut out = String::new();
    // Start with a letter: names and labels then never look like numbers.
    out.push(alphabet[(n % 26) as usize] as char);
    n /= 26;
    for _ in 0..4 {
        out.push(alphabet[(n % 36) as usize] as char);
        n /= 36;
    }
    out
}

async fn connect(args: &DrillArgs) -> Result<(crate::cluster::Cluster, crate::discovery::Discovered), String> {
    let kube = args.cluster.kube.to_kube_args();
    let clusters = crate::cluster::clusters(&kube).await.map_err(|e| e.to_string())?;
    let cluster = clusters
        .into_iter()
        .next()
        .ok_or("the kubeconfig names no context")?
        .map_err(|(_, e)| e.to_string())?;
    let discovered = crate::discovery::discover(&cluster).await.map_err(|e| e.to_string())?;
    Ok((cluster, discovered))
}

fn endpoint(
    cluster: &crate::cluster::Cluster,
    http: &reqwest::Client,
    url: Option<&String>,
    service: Option<&crate::cli::ServiceRef>,
    token_file: Option<&std::path::PathBuf>,
) -> Result<Option<Endpoint>, String> {
    match (url, service) {
        (Some(u), _) => {
            let token = token_file.map(|p| access::read_token(p)).transpose()?;
            Endpoint::direct(http.clone(), u, token).map(Some)
        }
        (None, Some(s)) => Ok(Some(Endpoint::proxy(cluster.clone(), s.clone()))),
        (None, None) => Ok(None),
    }
}

/// The sink's address as notification-controller reaches it, or why it cannot.
fn sink_address(args: &DrillArgs, listening: std::net::SocketAddr, server: &str) -> Result<String, String> {
    if let Some(a) = &args.cluster.sink_address {
        return Ok(a.trim_end_matches('/').to_string());
    }
    if let Ok(ip) = std::env::var("POD_IP") {
        if listening.ip().is_loopback() {
            return Err(format!(
                "the drill runs in a pod but its sink listens on {listening}: pass --sink-listen 0.0.0.0:PORT"
            ));
        }
        return Ok(format!("http://{ip}:{}", listening.port()));
    }
    let host = reqwest::Url::parse(server)
        .ok()
        .and_then(|u| u.host_str().map(str::to_string))
        .unwrap_or_default();
    let local = host == "localhost" || host.parse::<std::net::IpAddr>().is_ok_and(|ip| ip.is_loopback());
    if local {
        return Ok(format!("http://{listening}"));
    }
    Err(format!(
        "notification-controller runs in the cluster at {server} and cannot reach this drill's sink on {listening}: \
         run the drill in the cluster (--print-cronjob) or pass --sink-address with an address it can reach"
    ))
}

async fn drill(args: &DrillArgs) -> Result<u8, String> {
    let started = Instant::now();
    let scenarios = load_scenarios(args)?;
    let c = &args.cluster;
    let rules = match args.rules.as_slice() {
        [] => Vec::new(),
        paths => {
            let loaded = crate::drill::promcfg::load_rules(paths, 1.0)?;
            let files: Vec<String> = paths.iter().map(|p| p.display().to_string()).collect();
            loaded
                .alerts
                .into_iter()
                .map(|a| (a.name, a.for_original, files.join(", ")))
                .collect()
        }
    };
    let http = access::http_client(c.ca_file.as_deref())?;
    let (cluster, discovered) = connect(args).await?;
    let prometheus = endpoint(
        &cluster,
        &http,
        c.prometheus_url.as_ref(),
        c.prometheus_service.as_ref(),
        c.prometheus_token_file.as_ref(),
    )?
    .ok_or("drill --cluster needs Prometheus: pass --prometheus-url URL or --prometheus-service NAMESPACE/NAME:PORT")?;
    let alertmanager = endpoint(
        &cluster,
        &http,
        c.alertmanager_url.as_ref(),
        c.alertmanager_service.as_ref(),
        c.alertmanager_token_file.as_ref(),
    )?;
    let pushgateway = match &c.pushgateway_url {
        Some(u) => Some(Endpoint::direct(http.clone(), u, None)?),
        None => None,
    };
    let sink = crate::drill::sink::Sink::start_on(c.sink_listen)
        .await
        .map_err(|e| format!("cannot start the drill's sink on {}: {e}", c.sink_listen))?;
    let sink_address = sink_address(args, sink.addr, &cluster.server);
    let run = c.run_id.clone().unwrap_or_else(new_run_id);
    let env = Env {
        cluster,
        discovered,
        prometheus,
        alertmanager,
        sink,
        sink_address,
        run,
        namespace: c.kube.namespace.clone(),
        touch_existing: c.touch_existing,
        timeout: args.timeout,
        rules,
    };
    let (tx, rx) = signal_watch::channel(0u32);
    let signals = tokio::spawn(async move {
        loop {
            super::wait_for_signal().await;
            tx.send_modify(|n| *n += 1);
        }
    });
    let mut progress = crate::drill::progress::Progress::new();
    progress.event(&format!(
        "drilling cluster {} ({}), run {}; Prometheus: {}; Alertmanager: {}",
        env.cluster.context,
        env.cluster.server,
        env.run,
        env.prometheus.describe(),
        env.alertmanager.as_ref().map_or("not given".into(), Endpoint::describe)
    ));
    let mut reports = Vec::new();
    let mut interrupted = false;
    for (i, scenario) in scenarios.iter().enumerate() {
        progress.event(&format!("scenario {} ({})", scenario.name, scenario.source.display()));
        match session::run(&env, scenario, i, &mut progress, rx.clone()).await {
            Ok(r) => reports.push(r),
            Err(Stop::Interrupted(r)) => {
                reports.push(*r);
                interrupted = true;
                break;
            }
            Err(Stop::Error(e)) => {
                signals.abort();
                return Err(e);
            }
        }
    }
    signals.abort();
    if let Some(pg) = &pushgateway {
        if !interrupted {
            for r in &reports {
                match push::push(pg, r).await {
                    Ok(()) => progress.event(&format!("pushed scenario {} to {}", r.name, pg.describe())),
                    Err(e) => eprintln!("warning: cannot push scenario {}'s result: {e}", r.name),
                }
            }
        }
    }
    if interrupted {
        let left: Vec<&String> = reports.iter().flat_map(|r| &r.cleanup.left).collect();
        if left.is_empty() {
            eprintln!("drill: interrupted; every canary it created is deleted");
        } else {
            for l in left {
                eprintln!("drill: interrupted; cleanup failed: {l}");
            }
            eprintln!("drill: remove what is left with `kubectl flux-monitor drill --cluster --cleanup`");
        }
        return Ok(2);
    }
    let junit = report::junit(&reports);
    if let Some(path) = &args.junit {
        std::fs::write(path, &junit).map_err(|e| format!("{}: cannot write: {e}", path.display()))?;
    }
    match args.output {
        DrillFormat::Text => print!(
            "{}",
            report::text(
                &reports,
                started.elapsed(),
                std::io::IsTerminal::is_terminal(&std::io::stdout())
            )
        ),
        DrillFormat::Json => print!("{}", report::json(&reports)),
        DrillFormat::Junit => print!("{junit}"),
    }
    Ok(u8::from(!reports.iter().all(report::ScenarioReport::passed)))
}

/// `--cleanup`: what killed drills left, by label.
async fn cleanup(args: &DrillArgs) -> Result<u8, String> {
    let (cluster, discovered) = connect(args).await?;
    let namespaces = args.cluster.kube.namespace.clone().map(|n| vec![n]);
    let cleaned = canary::cleanup(
        &cluster,
        &discovered,
        namespaces.as_deref(),
        args.cluster.run_id.as_deref(),
        &[],
    )
    .await;
    for d in &cleaned.deleted {
        println!("deleted {d}");
    }
    for r in &cleaned.restored {
        println!("restored {r}");
    }
    for l in &cleaned.left {
        eprintln!("error: {l}");
    }
    println!(
        "{} object(s) deleted, {} restored in {:.1}s",
        cleaned.deleted.len(),
        cleaned.restored.len(),
        cleaned.took.as_secs_f64()
    );
    Ok(if cleaned.left.is_empty() { 0 } else { 1 })
}

fn print_cronjob(args: &DrillArgs) -> Result<u8, String> {
    let scenarios = load_scenarios(args)?;
    let root = args.scenarios.clone().unwrap_or_default();
    let base = if root.is_dir() {
        root.clone()
    } else {
        root.parent().map(std::path::Path::to_path_buf).unwrap_or_default()
    };
    let mut files: Vec<(String, String)> = Vec::new();
    for s in &scenarios {
        let key = cronjob::key_for(&base, &s.source);
        if files.iter().any(|(k, _)| *k == key) {
            continue;
        }
        let text =
            std::fs::read_to_string(&s.source).map_err(|e| format!("{}: cannot read: {e}", s.source.display()))?;
        files.push((key, text));
    }
    let mut rules = Vec::new();
    for p in &args.rules {
        crate::drill::promcfg::load_rules(std::slice::from_ref(p), 1.0)?;
        let text = std::fs::read_to_string(p).map_err(|e| format!("{}: cannot read: {e}", p.display()))?;
        let key = cronjob::key_for(p.parent().unwrap_or(std::path::Path::new("")), p);
        rules.push((key, text));
    }
    print!("{}", cronjob::manifests(args, &scenarios, &files, &rules)?);
    Ok(0)
}
