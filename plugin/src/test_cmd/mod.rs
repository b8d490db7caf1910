//! `kubectl flux-monitor test`: offline, exact alert tests. Each scenario runs in virtual time;
//! the series the rules read are sampled at the scrape interval and handed to `promtool test
//! rules`, which evaluates the user's rules at every evaluation step; expected alerts are routed
//! through the Alertmanager configuration with amtool; Flux notifications are played through the
//! notification-controller emulation. Every expectation comes out PASS or FAIL with its reason.

mod judge;
mod notifications;
mod promtool;
mod report;
mod routes;
pub mod rules_input;

use std::collections::BTreeSet;
use std::path::{Path, PathBuf};
use std::time::Instant;

use serde_json::Value;
use simulator::scenario::{load_dir_or_file, Scenario};
use simulator::telemetry::VirtualScraper;

use crate::cli::{TestArgs, TestFormat};
use crate::tools::{self, Program};
use report::{Case, ScenarioReport};

/// Bad input or a missing tool: the run cannot tell (exit 2). The message names FILE:LINE
/// where there is one.
#[derive(Debug, Clone, thiserror::Error)]
#[error("{0}")]
pub struct InputError(pub String);

pub fn run(args: &TestArgs) -> u8 {
    match run_inner(args) {
        Ok(code) => code,
        Err(e) => {
            for line in e.0.lines() {
                eprintln!("error: {line}");
            }
            2
        }
    }
}

fn run_inner(args: &TestArgs) -> Result<u8, InputError> {
    let started = Instant::now();
    let mut scenarios = load_dir_or_file(&args.scenarios).map_err(|e| InputError(e.to_string()))?;
    crate::drill::cluster::refuse_cluster_scenarios(&scenarios, "test").map_err(InputError)?;
    if scenarios.is_empty() {
        return Err(InputError(format!(
            "{}: no Scenario documents found",
            args.scenarios.display()
        )));
    }
    for s in &mut scenarios {
        s.retarget(args.flux_version, &args.resource_metrics);
    }
    let rules = rules_input::load(&args.rules)?;
    let promtool = tools::find(Program::Promtool, args.promtool.as_deref()).map_err(InputError)?;
    let amtool = match &args.alertmanager_config {
        Some(_) => Some(tools::find(Program::Amtool, args.amtool.as_deref()).map_err(InputError)?),
        None => None,
    };
    let router = match (&args.alertmanager_config, &amtool) {
        (Some(config), Some(amtool)) => Some(routes::Router::new(config, amtool)?),
        _ => None,
    };
    let manifests = match args.flux_manifests.as_slice() {
        [] => None,
        paths => Some(load_manifests(paths)?),
    };

    // Where the promtool files go: --keep DIR, or a temporary directory removed at the end.
    let temp;
    let base: PathBuf = match &args.keep {
        Some(dir) => {
            std::fs::create_dir_all(dir)
                .map_err(|e| InputError(format!("{}: cannot create: {e}", dir.display())))?;
            dir.clone()
        }
        None => {
            // The handlers come first and the directory is made under their lock, so that a
            // signal at any moment finds either no directory or one it knows to remove.
            let slot = remove_on_signal()
                .map_err(|e| InputError(format!("cannot install signal handlers: {e}")))?;
            let mut known = slot.lock().unwrap_or_else(std::sync::PoisonError::into_inner);
            temp = tempfile::tempdir()
                .map_err(|e| InputError(format!("cannot create a temporary directory: {e}")))?;
            *known = Some(temp.path().to_path_buf());
            temp.path().to_path_buf()
        }
    };
    let mut rule_files = Vec::new();
    for (i, file) in rules.files.iter().enumerate() {
        let name = format!("rules-{i}.yaml");
        write(&base.join(&name), file)?;
        rule_files.push(format!("../{name}"));
    }

    let mut reports = Vec::new();
    for scenario in &scenarios {
        reports.push(run_scenario(
            scenario,
            &rules,
            &rule_files,
            router.as_ref(),
            manifests.as_deref(),
            &promtool,
            &base,
        )?);
    }
    let elapsed = started.elapsed();
    let failed = reports.iter().flat_map(|r| &r.cases).any(|c| !c.passed);
    let ran: Vec<&tools::Tool> = std::iter::once(&promtool).chain(amtool.as_ref()).collect();
    let junit = report::junit(&reports, &ran);
    if let Some(path) = &args.junit {
        std::fs::write(path, &junit)
            .map_err(|e| InputError(format!("{}: cannot write: {e}", path.display())))?;
    }
    match args.output {
        TestFormat::Text => print!(
            "{}",
            report::text(
                &reports,
                &ran,
                elapsed,
                std::io::IsTerminal::is_terminal(&std::io::stdout())
            )
        ),
        TestFormat::Junit => print!("{junit}"),
    }
    if let Some(dir) = &args.keep {
        eprintln!("promtool files kept in {}", dir.display());
    }
    Ok(u8::from(failed))
}

/// Alerts and Providers (and anything else) from `--flux-manifests` files and directories.
fn load_manifests(paths: &[PathBuf]) -> Result<Vec<Value>, InputError> {
    let files = crate::lint::yaml::expand(paths).map_err(|e| InputError(e.0))?;
    let mut out = Vec::new();
    for f in files {
        for doc in crate::lint::yaml::load_file(&f).map_err(|e| InputError(e.0))? {
            let mut v = rules_input::to_json(&doc);
            // Objects without a namespace live in the default namespace, as kubectl applies them.
            if v.pointer("/metadata/namespace").is_none() {
                if let Some(meta) = v.get_mut("metadata").and_then(Value::as_object_mut) {
                    meta.insert("namespace".into(), Value::String("default".into()));
                }
            }
            check_provider_address(&f, &v)?;
            out.push(v);
        }
    }
    Ok(out)
}

/// The directory a signal removes, once it exists.
type SignalSlot = std::sync::Arc<std::sync::Mutex<Option<PathBuf>>>;

/// On SIGINT, SIGTERM or SIGHUP, removes the directory put in the returned slot and exits 130,
/// as Ctrl-C in a test run must leave no files behind (promtool runs in the foreground; its
/// child dies with the terminal's signal, or finishes on its own).
fn remove_on_signal() -> std::io::Result<SignalSlot> {
    let slot = SignalSlot::default();
    let dir = slot.clone();
    simulator::signals::spawn("test-signals", move |mut signals| async move {
        let name = signals.next().await;
        let dir = dir.lock().unwrap_or_else(std::sync::PoisonError::into_inner);
        if let Some(dir) = dir.as_ref() {
            let _ = std::fs::remove_dir_all(dir);
        }
        eprintln!("{name}: stopped; temporary files removed");
        std::process::exit(130);
    })?;
    Ok(slot)
}

/// A Provider whose `spec.address` notification-controller cannot parse never delivers (its
/// notifier fails to build), so a test must not assume it does: refused, naming the object.
/// Addresses kept in a Secret (`secretRef`) are not checked.
fn check_provider_address(file: &Path, object: &Value) -> Result<(), InputError> {
    let text = |pointer: &str| {
        object
            .pointer(pointer)
            .and_then(Value::as_str)
            .unwrap_or_default()
    };
    if text("/kind") != "Provider" || object.pointer("/spec/secretRef").is_some() {
        return Ok(());
    }
    let (type_, address) = (text("/spec/type"), text("/spec/address"));
    if address.is_empty() {
        return Ok(());
    }
    let options = simulator::notify::NotifierOptions {
        url: address.to_string(),
        // Checked for presence only by some types; the address is what is judged here.
        token: "token".into(),
        ..Default::default()
    };
    match simulator::notify::Notifier::build(type_, &options) {
        Err(e) if e.contains("URL") || e.contains("URI") => Err(InputError(format!(
            "{}: Provider {}/{}: spec.address cannot be used by notification-controller ({e}): fix the address",
            file.display(),
            text("/metadata/namespace"),
            text("/metadata/name"),
        ))),
        _ => Ok(()),
    }
}

fn write(path: &Path, value: &Value) -> Result<(), InputError> {
    let text = serde_saphyr::to_string(value).unwrap_or_else(|_| value.to_string());
    std::fs::write(path, text)
        .map_err(|e| InputError(format!("{}: cannot write: {e}", path.display())))
}

/// A directory name for a scenario: its name, made safe.
fn dir_name(s: &Scenario, i: usize) -> String {
    let clean: String = s
        .name
        .chars()
        .map(|c| {
            if c.is_ascii_alphanumeric() || c == '-' {
                c
            } else {
                '_'
            }
        })
        .collect();
    format!("{i:02}-{clean}")
}

fn run_scenario(
    scenario: &Scenario,
    rules: &rules_input::RuleSet,
    rule_files: &[String],
    router: Option<&routes::Router>,
    manifests: Option<&[Value]>,
    promtool_tool: &tools::Tool,
    base: &Path,
) -> Result<ScenarioReport, InputError> {
    let promtool_bin = promtool_tool.path.as_path();
    let started = Instant::now();
    let exp = &scenario.expectations;
    let mut scraper = VirtualScraper::new(scenario);
    let table = promtool::sample(scenario, &mut scraper, rules.needed.as_ref());

    // Probe only the alerts the expectations name and the rules define.
    let wanted: BTreeSet<String> = exp
        .alerts
        .iter()
        .map(|a| a.alertname.clone())
        .chain(exp.not_alerts.iter().map(|a| a.alertname.clone()))
        .filter(|n| rules.alerts_named(n).next().is_some())
        .collect();
    let observations = if wanted.is_empty() {
        promtool::Observations::default()
    } else {
        let dir = base.join(dir_name(scenario, scenario_index(base)));
        std::fs::create_dir_all(&dir)
            .map_err(|e| InputError(format!("{}: cannot create: {e}", dir.display())))?;
        let test = promtool::test_file(&scenario.name, rule_files, &table, &wanted);
        write(&dir.join("test.yaml"), &test)?;
        promtool::run(promtool_bin, &dir, "test.yaml").map_err(|e| InputError(rules.locate(&e.0)))?
    };

    // Where promtool 2.x and 3.x disagree on this scenario's probed rules, the report says so.
    let notes: Vec<String> = promtool::left_open_notes(&rules.files, scenario.scrape_interval, promtool_tool)
        .into_iter()
        .filter(|n| {
            n.strip_prefix("alert ")
                .and_then(|r| r.split(':').next())
                .is_some_and(|name| wanted.contains(name))
        })
        .collect();
    let ctx = judge::Context {
        scenario,
        rules,
        table: &table,
        observations: &observations,
        router,
    };
    let mut cases: Vec<Case> = Vec::new();
    for a in &exp.alerts {
        cases.push(judge::alert(&ctx, a)?);
    }
    for n in &exp.not_alerts {
        cases.push(judge::not_alert(&ctx, n));
    }
    if !exp.notifications.is_empty() {
        let sim = scraper.simulation();
        let config: Vec<Value> = match manifests {
            Some(m) => m.to_vec(),
            None => sim.objects(),
        };
        let run = notifications::emulate(sim, &config);
        for n in &exp.notifications {
            let (start, what) = judge::window_start(scenario, n.after_fault);
            let result = notifications::judge(&run, n, start, &what);
            let name = format!(
                "notification {} {} {}{}",
                n.provider,
                n.object,
                n.severity,
                n.text
                    .as_deref()
                    .map(|t| format!(" {t:?}"))
                    .unwrap_or_default()
            );
            cases.push(Case::new(name, n.line, result));
        }
    }
    Ok(ScenarioReport {
        name: scenario.name.clone(),
        file: scenario.source.display().to_string(),
        version: scenario.flux_version,
        notes,
        cases,
        elapsed: started.elapsed(),
    })
}

/// The next free scenario index under `base` (directories are numbered in run order).
fn scenario_index(base: &Path) -> usize {
    std::fs::read_dir(base)
        .map(|d| {
            d.filter_map(Result::ok)
                .filter(|e| e.path().is_dir())
                .count()
        })
        .unwrap_or(0)
}
