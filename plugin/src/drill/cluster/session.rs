//! One scenario drilled on a live cluster: plan the canaries, watch them, create them (broken
//! when a fault is at 0s), apply the later faults, poll every hop until each expectation is
//! decided or the time is up, judge, and clean up whatever way the run ends.

use std::time::{Duration, Instant};

use simulator::scenario::{ClusterTarget, Scenario};
use tokio::sync::watch;

use super::access::Endpoint;
use super::canary::{self, Plan};
use super::judge::{self, Case, Ctx};
use super::observe::Observation;
use super::report::ScenarioReport;
use super::setup::{self, Setup};
use super::watch::{Target, Watches};
use crate::cluster::Cluster;
use crate::discovery::Discovered;
use crate::drill::progress::Progress;
use crate::drill::sink::Sink;

/// What every scenario of one invocation shares.
pub struct Env {
    pub cluster: Cluster,
    pub discovered: Discovered,
    pub prometheus: Endpoint,
    pub alertmanager: Option<Endpoint>,
    pub sink: Sink,
    /// The sink's URL as notification-controller reaches it, or why it cannot.
    pub sink_address: Result<String, String>,
    pub run: String,
    pub namespace: Option<String>,
    pub touch_existing: bool,
    pub timeout: Option<Duration>,
    /// Rule names and `for` from --rules, to compare with what Prometheus runs.
    pub rules: Vec<(String, Duration, String)>,
}

pub enum Stop {
    Interrupted(Box<ScenarioReport>),
    Error(String),
}

const TICK: Duration = Duration::from_secs(1);

fn interrupted(signals: &watch::Receiver<u32>) -> bool {
    *signals.borrow() > 0
}

pub async fn run(
    env: &Env,
    scenario: &Scenario,
    index: usize,
    progress: &mut Progress,
    mut signals: watch::Receiver<u32>,
) -> Result<ScenarioReport, Stop> {
    let started = Instant::now();
    let drill = scenario.cluster.as_ref().expect("cluster scenarios only");
    let sink = env.sink_address.as_ref().ok().map(String::as_str);
    let mut plan = Plan::new(
        scenario,
        &env.run,
        index,
        env.namespace.as_deref(),
        &env.discovered,
        sink,
    )
    .map_err(Stop::Error)?;
    for f in &drill.faults {
        if let ClusterTarget::Existing(o) = &f.target {
            if !env.touch_existing {
                return Err(Stop::Error(format!(
                    "{}:{}: fault {} on {o}, an object the drill did not create: pass --touch-existing to allow it (it is restored afterwards)",
                    scenario.source.display(),
                    f.line,
                    f.fault.name()
                )));
            }
            if env.discovered.get(&o.kind).is_none() {
                return Err(Stop::Error(format!("the cluster serves no {} (for {o})", o.kind)));
            }
        }
    }
    let mut setup = setup::read(&env.prometheus, env.alertmanager.as_ref())
        .await
        .map_err(Stop::Error)?;
    // Faults at 0s are part of the canary as created.
    let now = jiff::Timestamp::now();
    for f in drill.faults.iter().filter(|f| f.at.is_zero()) {
        if let ClusterTarget::Canary(o) = &f.target {
            let target = plan.cluster_ref(o);
            if let Some(c) = plan.canaries.iter_mut().find(|c| c.cluster_ref == target) {
                let p = canary::fault_patch(f.fault, &c.body, now);
                canary::merge(&mut c.body, &p);
            }
        }
    }
    let watched: Vec<model::ObjectRef> = plan
        .canaries
        .iter()
        .filter(|c| !matches!(c.kind.kind(), "Alert" | "Provider"))
        .map(|c| c.cluster_ref.clone())
        .chain(drill.faults.iter().filter_map(|f| match &f.target {
            ClusterTarget::Existing(o) => Some(o.clone()),
            ClusterTarget::Canary(_) => None,
        }))
        .collect();
    let mut targets = Vec::new();
    for c in &plan.canaries {
        let ns = c.cluster_ref.namespace.clone();
        if !targets.iter().any(|t| matches!(t, Target::Labelled { kind, namespace, .. } if kind.kind() == c.kind.kind() && *namespace == ns)) {
            targets.push(Target::Labelled { kind: c.kind.clone(), namespace: ns, selector: plan.selector() });
        }
    }
    for f in &drill.faults {
        if let ClusterTarget::Existing(o) = &f.target {
            let kind = env.discovered.get(&o.kind).expect("checked above").clone();
            targets.push(Target::Named {
                kind,
                object: o.clone(),
            });
        }
    }
    let mut watches = Watches::start(&env.cluster, targets);
    let mut observed = Observation::new(&watched);
    let mut applied: Vec<Option<Instant>> = vec![None; drill.faults.len()];
    let mut notes: Vec<String> = setup.notes.clone();
    let start = Instant::now();
    let outcome = drive(
        env,
        scenario,
        &mut plan,
        &mut setup,
        &mut watches,
        &mut observed,
        &mut applied,
        &mut notes,
        start,
        progress,
        &mut signals,
    )
    .await;
    watches.stop();
    progress.clear();
    // Clean-up, whatever happened.
    progress.event(&format!("cleaning up run {} ({})", env.run, plan.selector()));
    // The canaries' namespaces, and those of the existing objects a fault touched.
    let mut namespaces = plan.namespaces();
    for f in &drill.faults {
        if let ClusterTarget::Existing(o) = &f.target {
            if !namespaces.contains(&o.namespace) {
                namespaces.push(o.namespace.clone());
            }
        }
    }
    let cleaned = canary::cleanup(
        &env.cluster,
        &env.discovered,
        Some(&namespaces),
        Some(&env.run),
        &plan.generated_charts,
    )
    .await;
    progress.event(&format!(
        "cleanup: {} deleted, {} restored in {:.1}s",
        cleaned.deleted.len(),
        cleaned.restored.len(),
        cleaned.took.as_secs_f64()
    ));
    let (cases, cut_short) = match outcome {
        Ok(x) => x,
        Err(DriveStop::Error(e)) => {
            let left = if cleaned.left.is_empty() {
                String::new()
            } else {
                format!(" (cleanup: {})", cleaned.left.join("; "))
            };
            return Err(Stop::Error(format!("{e}{left}")));
        }
        Err(DriveStop::Interrupted) => (Vec::new(), Some("interrupted".to_string())),
    };
    let _ = cut_short;
    if let Some(m) = &setup.metric {
        notes.push(format!("per-object state metric: {}", m.family()));
    }
    if let Some(v) = &setup.am_version {
        notes.push(format!("Alertmanager {v}"));
    }
    if let Err(why) = &env.sink_address {
        notes.push(format!("Flux notifications not observed: {why}"));
    }
    for (source, e) in &observed.errors {
        notes.push(format!("last poll of {source} failed: {e}"));
    }
    let report = ScenarioReport {
        name: scenario.name.clone(),
        file: scenario.source.display().to_string(),
        cluster: env.cluster.context.clone(),
        run_id: env.run.clone(),
        canaries: plan.canaries.iter().map(|c| c.cluster_ref.to_string()).collect(),
        notes,
        cases,
        cleanup: cleaned,
        elapsed: started.elapsed(),
    };
    if interrupted(&signals) {
        return Err(Stop::Interrupted(Box::new(report)));
    }
    Ok(report)
}

enum DriveStop {
    Interrupted,
    Error(String),
}

#[allow(clippy::too_many_arguments)]
async fn drive(
    env: &Env,
    scenario: &Scenario,
    plan: &mut Plan,
    setup: &mut Setup,
    watches: &mut Watches,
    observed: &mut Observation,
    applied: &mut [Option<Instant>],
    notes: &mut Vec<String>,
    start: Instant,
    progress: &mut Progress,
    signals: &mut watch::Receiver<u32>,
) -> Result<(Vec<Case>, Option<String>), DriveStop> {
    let drill = scenario.cluster.as_ref().expect("cluster scenarios only");
    let mut start = start;
    // Providers and Alerts first, so that the Alerts exist before the events they carry.
    let mut made_alerts = false;
    for c in &plan.canaries {
        if interrupted(signals) {
            return Err(DriveStop::Interrupted);
        }
        if made_alerts && !matches!(c.kind.kind(), "Alert" | "Provider") {
            // notification-controller reads Alerts from its cache: give it a moment.
            tokio::time::sleep(Duration::from_millis(1500)).await;
            made_alerts = false;
            start = Instant::now();
        }
        // A consumer created before its source has an artifact fails on that first ("Source
        // artifact not found"), not on its own fault: wait (bounded) for healthy canary sources.
        wait_for_sources(env, plan, c, signals).await;
        canary::create(&env.cluster, c).await.map_err(DriveStop::Error)?;
        progress.event(&format!("created {}", c.cluster_ref));
        if matches!(c.kind.kind(), "Alert" | "Provider") {
            made_alerts = true;
        }
        for (i, f) in drill.faults.iter().enumerate() {
            if f.at.is_zero()
                && matches!(&f.target, ClusterTarget::Canary(_))
                && plan.target_ref(&f.target) == c.cluster_ref
            {
                applied[i] = Some(Instant::now());
                progress.event(&format!("fault {} on {} (at creation)", f.fault.name(), c.cluster_ref));
            }
        }
    }
    let deadline = start + scenario.duration;
    let cut_deadline = env.timeout.map(|t| start + t);
    let rules_case = rules_check(env, setup);
    let mut tick = 0u64;
    loop {
        let now = Instant::now();
        for (i, f) in drill.faults.iter().enumerate() {
            if applied[i].is_some() || start + f.at > now {
                continue;
            }
            let target = plan.target_ref(&f.target);
            let result = match &f.target {
                ClusterTarget::Canary(_) => {
                    let c = plan.canaries.iter().find(|c| c.cluster_ref == target).expect("planned");
                    let p = canary::fault_patch(f.fault, &c.body, jiff::Timestamp::now());
                    canary::patch(&env.cluster, &c.kind, &target, &p).await
                }
                ClusterTarget::Existing(o) => {
                    let kind = env.discovered.get(&o.kind).expect("checked");
                    canary::touch(&env.cluster, kind, o, f.fault, &env.run).await
                }
            };
            result.map_err(DriveStop::Error)?;
            applied[i] = Some(Instant::now());
            progress.event(&format!("fault {} on {target}", f.fault.name()));
        }
        while let Ok(change) = watches.changes.try_recv() {
            if let Some(text) = observed.object_changed(change.at, &change.object) {
                progress.event(&format!(
                    "{:>6.1}s  {text}",
                    change.at.saturating_duration_since(start).as_secs_f64()
                ));
            }
        }
        let mut news = observed
            .poll(&env.prometheus, env.alertmanager.as_ref(), setup.metric)
            .await;
        news.extend(observed.captures(&env.sink));
        let in_am = observed
            .episodes
            .alerts
            .values()
            .flatten()
            .any(|e| e.in_alertmanager.is_some());
        if in_am {
            if let Some(am) = &env.alertmanager {
                observed.read_counters(am).await;
            }
        }
        if tick.is_multiple_of(5) {
            dispatch_failures(env, plan, observed, start).await;
        }
        tick += 1;
        news.extend(observed.new_errors().into_iter().map(|e| format!("warning: {e}")));
        for n in news {
            progress.event(&format!("{:>6.1}s  {n}", start.elapsed().as_secs_f64()));
        }
        let now = Instant::now();
        let cut = if interrupted(signals) {
            return Err(DriveStop::Interrupted);
        } else if cut_deadline.is_some_and(|d| now >= d) {
            Some("stopped by --timeout".to_string())
        } else if now >= deadline {
            Some(format!(
                "the scenario's duration ({}) ended",
                model::format_go_duration(scenario.duration)
            ))
        } else {
            None
        };
        if setup.metric.is_none() && tick % 5 == 1 {
            setup.detect_metric(&env.prometheus).await;
        }
        let all_applied = applied.iter().all(Option::is_some);
        let mut cases = judge_all(
            env,
            scenario,
            plan,
            setup,
            observed,
            start,
            applied,
            now,
            cut.is_some(),
            cut.as_deref(),
        );
        // notAlerts hold for as long as the drill runs: once every other expectation is
        // decided, the drill ends and they are judged over that time.
        let positive = scenario.expectations.alerts.len() + scenario.expectations.notifications.len();
        let decided = all_applied && positive > 0 && cases[..positive].iter().all(Option::is_some);
        if decided && cut.is_none() && cases.iter().any(Option::is_none) {
            cases = judge_all(env, scenario, plan, setup, observed, start, applied, now, true, None);
        }
        progress.status(&format!(
            "[{}] {:.0}s  {} of {} expectation(s) decided",
            scenario.name,
            start.elapsed().as_secs_f64(),
            cases.iter().filter(|c| c.is_some()).count(),
            cases.len()
        ));
        if cut.is_some() || (all_applied && cases.iter().all(Option::is_some)) {
            let mut out: Vec<Case> = rules_case.into_iter().collect();
            out.extend(cases.into_iter().flatten());
            out.extend(judge::dispatch_failures(&ctx(
                env,
                scenario,
                plan,
                setup,
                observed,
                start,
                applied,
                now,
                true,
                cut.as_deref(),
            )));
            let _ = notes;
            return Ok((out, cut));
        }
        tokio::select! {
            () = tokio::time::sleep(TICK) => {}
            _ = signals.changed() => {}
        }
    }
}

#[allow(clippy::too_many_arguments)]
fn ctx<'a>(
    env: &'a Env,
    scenario: &'a Scenario,
    plan: &'a Plan,
    setup: &'a Setup,
    observed: &'a Observation,
    start: Instant,
    applied: &'a [Option<Instant>],
    now: Instant,
    last: bool,
    cut_short: Option<&'a str>,
) -> Ctx<'a> {
    Ctx {
        scenario,
        plan,
        setup,
        observed,
        start,
        applied,
        alertmanager: env.alertmanager.is_some(),
        sink_unreachable: env.sink_address.as_ref().err().map(String::as_str),
        now,
        last,
        cut_short,
    }
}

#[allow(clippy::too_many_arguments)]
fn judge_all(
    env: &Env,
    scenario: &Scenario,
    plan: &Plan,
    setup: &Setup,
    observed: &Observation,
    start: Instant,
    applied: &[Option<Instant>],
    now: Instant,
    last: bool,
    cut_short: Option<&str>,
) -> Vec<Option<Case>> {
    let c = ctx(
        env, scenario, plan, setup, observed, start, applied, now, last, cut_short,
    );
    let e = &scenario.expectations;
    let mut out = Vec::new();
    out.extend(e.alerts.iter().map(|a| judge::alert(&c, a)));
    out.extend(e.notifications.iter().map(|n| judge::notification(&c, n)));
    out.extend(e.not_alerts.iter().map(|n| judge::not_alert(&c, n)));
    out
}

/// `--rules`: every alerting rule of the files runs in the cluster's Prometheus with the same `for`.
fn rules_check(env: &Env, setup: &Setup) -> Option<Case> {
    if env.rules.is_empty() {
        return None;
    }
    let mut problems = Vec::new();
    for (name, for_, file) in &env.rules {
        match setup.rules.get(name) {
            None => problems.push(format!("{name} ({file}) is not loaded")),
            Some(r) if r.for_ != *for_ => problems.push(format!(
                "{name} runs with for {} but {file} says {}",
                crate::drill::judge::fmt_d(r.for_),
                crate::drill::judge::fmt_d(*for_)
            )),
            Some(_) => {}
        }
    }
    Some(Case {
        name: format!(
            "rules: Prometheus runs the {} alerting rule(s) of --rules",
            env.rules.len()
        ),
        line: 0,
        verdict: if problems.is_empty() {
            judge::Verdict::Passed
        } else {
            judge::Verdict::Failed
        },
        reason: if problems.is_empty() {
            "every rule is loaded with the same `for`".into()
        } else {
            problems.join("; ")
        },
        hops: Vec::new(),
    })
}

/// NotificationDispatchFailed events on Alerts in the canaries' namespaces since the start.
async fn dispatch_failures(env: &Env, plan: &Plan, observed: &mut Observation, start: Instant) {
    let window = start.elapsed() + Duration::from_secs(5);
    let now = jiff::Timestamp::now();
    let namespaces = plan.namespaces();
    match crate::events::alert_warnings(&env.cluster, Some(&namespaces), window, now).await {
        Ok(events) => {
            observed.errors.remove("events");
            for e in events.into_iter().filter(|e| e.reason == "NotificationDispatchFailed") {
                if !observed
                    .dispatch_failures
                    .iter()
                    .any(|(_, x)| x.uid == e.uid && x.count == e.count)
                {
                    observed.dispatch_failures.push((Instant::now(), e));
                }
            }
        }
        Err(e) => {
            observed.errors.insert("events", e);
        }
    }
}

/// How long a consumer waits for its canary source to be Ready before it is created anyway.
const SOURCE_WAIT: Duration = Duration::from_secs(60);

/// Waits until every canary this one reads from (sourceRef, chart source) that no fault breaks at
/// creation is Ready, or [`SOURCE_WAIT`] passes.
async fn wait_for_sources(env: &Env, plan: &Plan, c: &canary::Canary, signals: &watch::Receiver<u32>) {
    let body = &c.body;
    let own_ns = c.cluster_ref.namespace.clone();
    let refs: Vec<model::ObjectRef> = ["/spec/sourceRef", "/spec/chart/spec/sourceRef"]
        .iter()
        .filter_map(|p| body.pointer(p))
        .filter_map(|r| {
            Some(model::ObjectRef::new(
                r.get("kind")?.as_str()?,
                r.get("namespace")
                    .and_then(serde_json::Value::as_str)
                    .unwrap_or(&own_ns),
                r.get("name")?.as_str()?,
            ))
        })
        .collect();
    let deadline = Instant::now() + SOURCE_WAIT;
    for r in refs {
        let Some(source) = plan.canaries.iter().find(|s| s.cluster_ref == r) else {
            continue;
        };
        let broken = source
            .body
            .pointer("/spec/url")
            .and_then(serde_json::Value::as_str)
            .is_some_and(|u| u.contains(canary::INVALID_DOMAIN))
            || source.body.pointer("/spec/suspend") == Some(&serde_json::json!(true));
        if broken {
            continue;
        }
        let api: kube::Api<kube::api::DynamicObject> =
            kube::Api::namespaced_with(env.cluster.client.clone(), &r.namespace, &source.kind.api_resource());
        while Instant::now() < deadline && !interrupted(signals) {
            if let Ok(Ok(o)) = tokio::time::timeout(Duration::from_secs(5), api.get(&r.name)).await {
                let v = serde_json::to_value(&o).unwrap_or_default();
                if model::FluxObject::new(&v).ready().is_some_and(|c| c.status == "True") {
                    break;
                }
            }
            tokio::time::sleep(Duration::from_millis(250)).await;
        }
    }
}
