//! One scenario drilled live: a capture sink, a real Alertmanager and a real Prometheus under a
//! temporary directory, flux-sim in-process at the time scale, then the run itself (polling every
//! hop until the scenario's duration has passed) and the clean-up, which happens whatever way the
//! run ends.

use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

use serde_json::{json, Value};
use simulator::scenario::{Resource, Scenario};
use simulator::serve::{ServeOptions, Serving};
use tokio::sync::watch;

use super::amcfg;
use super::judge::{self, fmt_d, Timeline};
use super::observe::{Observer, Seen};
use super::procs::{free_addr, Child};
use super::progress::Progress;
use super::promcfg::{self, Rules};
use super::proxy::Proxies;
use super::report::ScenarioReport;
use super::sink::Sink;
use crate::tools::Tool;

/// Everything the scenarios share.
pub struct Inputs {
    pub rules: Rules,
    pub alertmanager: Option<(Value, PathBuf)>,
    /// Alerts and Providers from `--flux-manifests`, replacing the scenario's own.
    pub manifests: Option<Vec<Value>>,
    pub prometheus: Tool,
    /// Present when there is an Alertmanager configuration to drill.
    pub alertmanager_tool: Option<Tool>,
    pub scale: f64,
    pub timeout: Option<Duration>,
}

/// How a scenario's drill ended when it did not produce a report.
pub enum Stop {
    Interrupted,
    Error(String),
}

impl From<String> for Stop {
    fn from(e: String) -> Self {
        Stop::Error(e)
    }
}

const READY_WITHIN: Duration = Duration::from_secs(20);
const TICK: Duration = Duration::from_millis(100);

fn interrupted(signals: &watch::Receiver<u32>) -> bool {
    *signals.borrow() > 0
}

/// Everything a scenario needs before its clock starts: a temporary directory, the capture
/// sink, the scrape stand-ins, Alertmanager and Prometheus (already scraping). The next
/// scenario's is made while the current one runs.
pub struct Prepared {
    tmp: tempfile::TempDir,
    sink: Sink,
    proxies: Proxies,
    prom: Child,
    am: Option<Child>,
    am_config: Option<amcfg::AmConfig>,
    notes: Vec<String>,
}

impl Prepared {
    /// Stops what was started and removes the directory.
    pub async fn cleanup(self) {
        self.prom.stop().await;
        if let Some(a) = self.am {
            a.stop().await;
        }
        self.sink.stop();
        self.proxies.stop();
        let _ = self.tmp.close();
    }
}

pub async fn prepare(inputs: &Inputs, scenario: &Scenario, signals: &watch::Receiver<u32>) -> Result<Prepared, Stop> {
    // 0700: the Alertmanager configuration inside holds the user's receiver secrets.
    let tmp = tempfile::Builder::new()
        .prefix("flux-monitor-drill-")
        .permissions(std::os::unix::fs::PermissionsExt::from_mode(0o700))
        .tempdir()
        .map_err(|e| format!("cannot create a temporary directory: {e}"))?;
    let sink = Sink::start()
        .await
        .map_err(|e| format!("cannot start the capture sink: {e}"))?;
    let sink_url = sink.url("");
    let mut notes = inputs.rules.floored.clone();
    let am_config = match &inputs.alertmanager {
        Some((config, path)) => Some(amcfg::rewrite(config, path, inputs.scale, &sink_url)?),
        None => None,
    };
    if let Some(cfg) = &am_config {
        notes.extend(cfg.notes.iter().cloned());
    }
    let am_addr = free_addr().map_err(|e| format!("no free port: {e}"))?;
    let prom_addr = free_addr().map_err(|e| format!("no free port: {e}"))?;
    let mut rule_files = Vec::new();
    for (i, file) in inputs.rules.files.iter().enumerate() {
        let p = tmp.path().join(format!("rules-{i}.yml"));
        write(&p, &serde_json::to_string_pretty(file).unwrap_or_default())?;
        rule_files.push(p.display().to_string());
    }
    let proxies = Proxies::start(scenario)
        .await
        .map_err(|e| format!("cannot bind the scrape stand-ins: {e}"))?;
    let prom_config = tmp.path().join("prometheus.yml");
    let scrape = proxies.endpoints().scrape_configs(promcfg::INTERVAL);
    write(
        &prom_config,
        &promcfg::config(&rule_files, am_config.as_ref().map(|_| am_addr), &scrape),
    )?;
    let prom_args = vec![
        format!("--config.file={}", prom_config.display()),
        format!(
            "--storage.tsdb.path={}",
            tmp.path().join("prometheus-data").display()
        ),
        format!("--web.listen-address={prom_addr}"),
        "--rules.alert.resend-delay=1s".into(),
        "--log.level=warn".into(),
    ];
    // Alertmanager and Prometheus start side by side.
    let prom = Child::start(
        "prometheus",
        &inputs.prometheus.path,
        &prom_args,
        prom_addr,
        tmp.path().join("prometheus.log"),
        READY_WITHIN,
    );
    let am = async {
        let (Some(cfg), Some(tool)) = (&am_config, &inputs.alertmanager_tool) else {
            return Ok(None);
        };
        let path = tmp.path().join("alertmanager.yml");
        write(&path, &cfg.text)?;
        let args = vec![
            format!("--config.file={}", path.display()),
            format!(
                "--storage.path={}",
                tmp.path().join("alertmanager-data").display()
            ),
            format!("--web.listen-address={am_addr}"),
            "--cluster.listen-address=".into(),
            "--log.level=warn".into(),
        ];
        Child::start(
            "alertmanager",
            &tool.path,
            &args,
            am_addr,
            tmp.path().join("alertmanager.log"),
            READY_WITHIN,
        )
        .await
        .map(Some)
    };
    let (prom, am) = match tokio::join!(prom, am) {
        (Ok(p), Ok(a)) => (p, a),
        (Err(e), _) | (_, Err(e)) => return Err(Stop::Error(e)),
    };
    wait_for_targets(&prom, proxies.addrs.len(), signals).await?;
    Ok(Prepared {
        tmp,
        sink,
        proxies,
        prom,
        am,
        am_config,
        notes,
    })
}

pub async fn run(
    scenario: &Scenario,
    inputs: &Inputs,
    prepared: Prepared,
    progress: &mut Progress,
    signals: watch::Receiver<u32>,
) -> Result<ScenarioReport, Stop> {
    let started = Instant::now();
    // The running parts stay in `prepared`, so every way out cleans up through it.
    let mut prepared = prepared;
    let mut notes = std::mem::take(&mut prepared.notes);
    let am_config = prepared.am_config.take();
    let (tmp, sink, proxies, prom, am) = (
        &prepared.tmp,
        &prepared.sink,
        &prepared.proxies,
        &prepared.prom,
        &prepared.am,
    );
    let sink_url = sink.url("");
    progress.event(&format!(
        "prometheus pid {} listening on http://{}",
        prom.pid, prom.addr
    ));
    if let Some(a) = &am {
        progress.event(&format!(
            "alertmanager pid {} listening on http://{}",
            a.pid, a.addr
        ));
    }
    progress.event(&format!("capture sink listening on {sink_url}"));
    let standins: Vec<String> = proxies.addrs.values().map(ToString::to_string).collect();
    progress.event(&format!(
        "scrape stand-ins listening on {}",
        standins.join(" ")
    ));
    if interrupted(&signals) {
        prepared.cleanup().await;
        return Err(Stop::Interrupted);
    }

    let mut sim = scenario.clone();
    redirect_providers(&mut sim, inputs.manifests.as_deref(), &sink_url);
    let serving = simulator::serve::start(ServeOptions {
        scenario: sim,
        api_addr: SocketAddr::from(([127, 0, 0, 1], 0)),
        kubeconfig_out: Some(tmp.path().join("kubeconfig")),
        endpoints_out: None,
        time_scale: inputs.scale,
        start_at: Duration::ZERO,
        kubeconfig: None,
        deny: vec![],
        notify: true,
        event_address: None,
        rate_limit_interval: simulator::notify::DEFAULT_RATE_LIMIT_INTERVAL.div_f64(inputs.scale),
    })
    .await;
    let serving = match serving {
        Ok(s) => s,
        Err(e) => {
            prepared.cleanup().await;
            return Err(Stop::Error(format!("starting flux-sim: {e:#}")));
        }
    };
    proxies.connect(&serving.metrics);
    progress.event(&format!(
        "flux-sim API on {}, time scale {}",
        serving.api_url, inputs.scale
    ));
    let receivers = am_config
        .as_ref()
        .map(|c| c.receivers.clone())
        .unwrap_or_default();
    let outcome = drive(
        scenario,
        inputs,
        progress,
        &serving,
        prom,
        am.as_ref(),
        sink,
        receivers,
        signals,
    )
    .await;

    // Clean-up, whatever happened.
    serving.stop().await;
    let am_config = am_config.map(|c| (c.receivers.len(), c.group_waits));
    prepared.cleanup().await;
    progress.clear();
    let (observer, scenario_start, ended, cut_short) = outcome?;

    let names: Vec<String> = scenario
        .expectations
        .alerts
        .iter()
        .map(|a| a.alertname.clone())
        .collect();
    let mut timers: Vec<(String, f64)> = inputs
        .rules
        .alerts
        .iter()
        .filter(|r| names.contains(&r.name))
        .map(|r| {
            (
                format!("for {} ({})", r.name, fmt_d(r.for_original)),
                r.for_scaled.as_secs_f64(),
            )
        })
        .collect();
    if let Some((_, group_waits)) = &am_config {
        timers.extend(
            group_waits
                .iter()
                .map(|(r, d)| (format!("group_wait {r}"), d.as_secs_f64())),
        );
    }
    let timeline = Timeline {
        start: scenario_start,
        scale: inputs.scale,
        scenario,
        observed: &observer,
        rules: &inputs.rules.alerts,
        alertmanager: am_config.is_some(),
        ended,
        cut_short,
    };
    let exp = &scenario.expectations;
    let mut cases = Vec::new();
    cases.extend(exp.alerts.iter().map(|a| judge::alert(&timeline, a)));
    cases.extend(
        exp.not_alerts
            .iter()
            .map(|n| judge::not_alert(&timeline, n)),
    );
    cases.extend(
        exp.notifications
            .iter()
            .map(|n| judge::notification(&timeline, n)),
    );
    for (source, e) in &observer.errors {
        notes.push(format!("last poll of {source} failed: {e}"));
    }
    Ok(ScenarioReport {
        name: scenario.name.clone(),
        file: scenario.source.display().to_string(),
        flux_version: scenario.flux_version.to_string(),
        time_scale: inputs.scale,
        notes,
        timers,
        cases,
        elapsed: started.elapsed(),
    })
}

type Driven = (Observer, Instant, Duration, Option<String>);

#[allow(clippy::too_many_arguments)]
async fn drive(
    scenario: &Scenario,
    inputs: &Inputs,
    progress: &mut Progress,
    serving: &Serving,
    prom: &Child,
    am: Option<&Child>,
    sink: &Sink,
    receivers: Vec<String>,
    mut signals: watch::Receiver<u32>,
) -> Result<Driven, Stop> {
    let clock = serving.clock;
    let scenario_start = clock.wall_instant(Duration::ZERO);
    let mut observer = Observer::new(
        format!("http://{}", prom.addr),
        am.map(|a| format!("http://{}", a.addr)),
        receivers,
    );
    let grace = Duration::from_secs(1);
    let end = clock.wall_instant(scenario.duration) + grace;
    let deadline = inputs.timeout.map(|t| Instant::now() + t);
    let mut next_fault = 0;
    let mut faults: Vec<_> = scenario.faults.iter().collect();
    faults.sort_by_key(|f| f.at);
    let cut_short = loop {
        let now_s = clock.scenario_now();
        while next_fault < faults.len() && faults[next_fault].at <= now_s {
            let f = faults[next_fault];
            progress.event(&format!(
                "{:>8}  fault {} starts",
                fmt_d(f.at),
                f.fault.name()
            ));
            next_fault += 1;
        }
        for s in observer.poll(sink, serving.notifications()).await {
            let t = fmt_d(clock.scenario_now());
            let text = match s {
                Seen::Pending(l) => format!("{t:>8}  pending   {}", short(&l)),
                Seen::Firing(l) => format!("{t:>8}  firing    {}", short(&l)),
                Seen::InAlertmanager(l) => format!("{t:>8}  in Alertmanager {}", short(&l)),
                Seen::Delivered(l, r) => format!("{t:>8}  delivered to {r}: {}", short(&l)),
                Seen::Notification(p, o, reason) => {
                    format!("{t:>8}  Flux notification to {p}: {o} {reason}")
                }
            };
            progress.event(&text);
        }
        let now = Instant::now();
        progress.status(&format!(
            "[{}] scenario {} / {}  wall {:.1}s",
            scenario.name,
            fmt_d(clock.scenario_now().min(scenario.duration)),
            fmt_d(scenario.duration),
            now.saturating_duration_since(scenario_start).as_secs_f64()
        ));
        if now >= end {
            break None;
        }
        if deadline.is_some_and(|d| now >= d) {
            break Some("stopped by --timeout".to_string());
        }
        if interrupted(&signals) {
            return Err(Stop::Interrupted);
        }
        tokio::select! {
            () = tokio::time::sleep(TICK) => {}
            _ = signals.changed() => {}
        }
    };
    let ended = clock.scenario_now().min(scenario.duration);
    Ok((observer, scenario_start, ended, cut_short))
}

/// Waits until Prometheus has scraped every stand-in once (its discovery applies targets only
/// every 5s), so that the scenario clock starts with Prometheus already watching.
async fn wait_for_targets(
    prom: &Child,
    want: usize,
    signals: &watch::Receiver<u32>,
) -> Result<(), Stop> {
    let http = reqwest::Client::builder()
        .timeout(Duration::from_secs(1))
        .build()
        .map_err(|e| e.to_string())?;
    let url = format!("http://{}/api/v1/targets?state=active", prom.addr);
    let deadline = Instant::now() + READY_WITHIN;
    loop {
        if let Ok(r) = http.get(&url).send().await {
            if let Ok(v) = r.json::<Value>().await {
                let targets = v
                    .pointer("/data/activeTargets")
                    .and_then(Value::as_array)
                    .cloned()
                    .unwrap_or_default();
                if targets.len() >= want && targets.iter().all(|t| t["health"] == "up") {
                    return Ok(());
                }
            }
        }
        if interrupted(signals) {
            return Err(Stop::Interrupted);
        }
        if Instant::now() > deadline {
            return Err(Stop::Error(format!(
                "prometheus did not scrape its targets within {READY_WITHIN:?}: {}",
                prom.log_tail()
            )));
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}

fn short(l: &super::observe::Labels) -> String {
    let name = l.get("alertname").cloned().unwrap_or_default();
    let rest: Vec<String> = l
        .iter()
        .filter(|(k, _)| {
            ["name", "kind", "pod", "controller", "exported_namespace"].contains(&k.as_str())
        })
        .map(|(k, v)| format!("{k}={v}"))
        .collect();
    format!("{name}{{{}}}", rest.join(","))
}

/// Writes a file only its owner can read (0600): the Alertmanager configuration carries the
/// user's receiver secrets, and nothing else here needs to be shared either.
fn write(path: &Path, text: &str) -> Result<(), String> {
    use std::io::Write as _;
    use std::os::unix::fs::OpenOptionsExt;
    std::fs::OpenOptions::new()
        .write(true)
        .create(true)
        .truncate(true)
        .mode(0o600)
        .open(path)
        .and_then(|mut f| f.write_all(text.as_bytes()))
        .map_err(|e| format!("{}: cannot write: {e}", path.display()))
}

/// Every Provider points at the sink (`/provider/<namespace>/<name>`), with no Secret, proxy or
/// certificate; with `--flux-manifests` their Alerts and Providers replace the scenario's own.
pub fn redirect_providers(s: &mut Scenario, manifests: Option<&[Value]>, sink: &str) {
    if let Some(objects) = manifests {
        s.resources
            .retain(|r| !matches!(r.kind.kind, "Alert" | "Provider"));
        for o in objects {
            let kind = o["kind"].as_str().unwrap_or_default();
            if !matches!(kind, "Alert" | "Provider") {
                continue;
            }
            let Some(info) = model::kinds::by_kind(kind) else {
                continue;
            };
            let str_map = |v: &Value| {
                v.as_object()
                    .map(|m| {
                        m.iter()
                            .map(|(k, v)| (k.clone(), v.as_str().unwrap_or_default().to_string()))
                            .collect()
                    })
                    .unwrap_or_default()
            };
            s.resources.push(Resource {
                kind: info,
                name: o
                    .pointer("/metadata/name")
                    .and_then(Value::as_str)
                    .unwrap_or_default()
                    .to_string(),
                namespace: o
                    .pointer("/metadata/namespace")
                    .and_then(Value::as_str)
                    .unwrap_or("default")
                    .to_string(),
                interval: Duration::ZERO,
                labels: str_map(&o["metadata"]["labels"]),
                annotations: str_map(&o["metadata"]["annotations"]),
                suspend: o
                    .pointer("/spec/suspend")
                    .and_then(Value::as_bool)
                    .unwrap_or(false),
                spec: o
                    .get("spec")
                    .cloned()
                    .filter(Value::is_object)
                    .unwrap_or_else(|| json!({})),
                line: 0,
            });
        }
    }
    for r in &mut s.resources {
        if r.kind.kind != "Provider" {
            continue;
        }
        let address = format!("{sink}/provider/{}/{}", r.namespace, r.name);
        if let Some(spec) = r.spec.as_object_mut() {
            spec.insert("address".into(), Value::String(address));
            for key in ["secretRef", "proxy", "certSecretRef"] {
                spec.insert(key.into(), Value::Null);
            }
        }
    }
}
