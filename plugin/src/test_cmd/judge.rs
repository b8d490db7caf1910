//! Expectations against what promtool saw firing: an expected alert must fire with the given
//! labels (a subset of the alert's) between its fault's start and `within` after, and reach the
//! expected receiver; a notAlert must fire at no evaluation step at all. A rule that never fires
//! because it reads a metric the scenario's Flux version does not expose is told as such.

use std::time::Duration;

use model::metrics;
use model::FluxVersion;
use simulator::scenario::{AlertExpectation, NotAlertExpectation, Scenario};

use super::promtool::{Labels, Observations, SeriesTable};
use super::report::Case;
use super::routes::Router;
use super::rules_input::RuleSet;
use super::InputError;

pub struct Context<'a> {
    pub scenario: &'a Scenario,
    pub rules: &'a RuleSet,
    pub table: &'a SeriesTable,
    pub observations: &'a Observations,
    pub router: Option<&'a Router>,
}

/// `25m`, `1h5m`, `12m30s`, `0s`.
pub fn human(d: Duration) -> String {
    let s = d.as_secs();
    let (h, m, sec) = (s / 3600, (s % 3600) / 60, s % 60);
    let mut out = String::new();
    if h > 0 {
        out.push_str(&format!("{h}h"));
    }
    if m > 0 {
        out.push_str(&format!("{m}m"));
    }
    if sec > 0 || out.is_empty() {
        out.push_str(&format!("{sec}s"));
    }
    out
}

pub fn labels_text(l: &Labels) -> String {
    let inner: Vec<String> = l.iter().map(|(k, v)| format!("{k}={v:?}")).collect();
    format!("{{{}}}", inner.join(", "))
}

/// When an expectation's window opens, and how to name that moment.
pub fn window_start(s: &Scenario, after_fault: Option<usize>) -> (Duration, String) {
    match after_fault.and_then(|i| s.faults.get(i).map(|f| (i, f))) {
        Some((i, f)) => (
            f.at,
            format!(
                "{} ({} at {})",
                f.name.clone().unwrap_or_else(|| format!("fault {i}")),
                f.fault.name(),
                human(f.at)
            ),
        ),
        None => (Duration::ZERO, "the scenario's start".into()),
    }
}

fn subset(want: &Labels, got: &Labels) -> bool {
    want.iter().all(|(k, v)| got.get(k) == Some(v))
}

/// The first version where a family no longer exists, for "removed in X".
fn removed_in(family: &metrics::MetricFamily) -> Option<FluxVersion> {
    FluxVersion::all()
        .into_iter()
        .find(|v| !metrics::exists_in(family, *v))
}

/// Why rules named `alertname` cannot fire in this scenario, if a metric explains it.
fn missing_metric(ctx: &Context, alertname: &str) -> Option<String> {
    let version = ctx.scenario.flux_version;
    let produced = |m: &str| {
        ctx.table
            .series
            .keys()
            .any(|k| k.split('{').next() == Some(m))
    };
    for rule in ctx.rules.alerts_named(alertname) {
        for m in ctx.rules.raw_metrics(rule) {
            if produced(&m) {
                continue;
            }
            match metrics::family(&m) {
                Some(f) if !metrics::exists_in(f, version) => {
                    let when = removed_in(f)
                        .map(|v| format!(" (removed in {v})"))
                        .unwrap_or_default();
                    return Some(format!(
                        "rule uses {m}, which Flux {version} does not expose{when}"
                    ));
                }
                Some(_) => {}
                None if m.starts_with("gotk_")
                    || m.starts_with("flux_")
                    || m.starts_with("controller_runtime_") =>
                {
                    return Some(format!(
                        "rule uses {m}, which no Flux version exposes ({})",
                        rule.location
                    ));
                }
                None => {}
            }
        }
    }
    None
}

fn name_of(alertname: &str, labels: &Labels) -> String {
    if labels.is_empty() {
        alertname.to_string()
    } else {
        format!("{alertname}{}", labels_text(labels))
    }
}

pub fn alert(ctx: &Context, exp: &AlertExpectation) -> Result<Case, InputError> {
    let name = name_of(&exp.alertname, &exp.labels);
    let case = |r: Result<String, String>| Case::new(name.clone(), exp.line, r);
    if ctx.rules.alerts_named(&exp.alertname).next().is_none() {
        return Ok(case(Err(format!(
            "no alerting rule named {} in the --rules files",
            exp.alertname
        ))));
    }
    let (start, what) = window_start(ctx.scenario, exp.after_fault);
    let deadline = start + exp.within;
    let firing = ctx.observations.firing.get(&exp.alertname);
    let matching: Vec<(Duration, &Labels)> = firing
        .into_iter()
        .flatten()
        .filter(|(t, _)| **t >= start)
        .flat_map(|(t, sets)| {
            sets.iter()
                .filter(|l| subset(&exp.labels, l))
                .map(move |l| (*t, l))
        })
        .collect();
    let in_time = matching.iter().find(|(t, _)| *t <= deadline);
    let Some((t, labels)) = in_time else {
        if let Some((t, _)) = matching.first() {
            return Ok(case(Err(format!(
                "fired only at {}, {} after {what}: later than within {}",
                human(*t),
                human(t.saturating_sub(start)),
                human(exp.within)
            ))));
        }
        let other = firing
            .into_iter()
            .flatten()
            .filter(|(t, _)| **t >= start)
            .flat_map(|(_, s)| s.iter())
            .next();
        if let Some(other) = other {
            return Ok(case(Err(format!(
                "never fired with {}; it fired with {}",
                labels_text(&exp.labels),
                labels_text(other)
            ))));
        }
        let why = missing_metric(ctx, &exp.alertname).unwrap_or_else(|| {
            format!(
                "no rule condition held long enough during the {} scenario (evaluated every {})",
                human(ctx.scenario.duration),
                human(ctx.table.interval)
            )
        });
        return Ok(case(Err(format!("never fired: {why}"))));
    };
    let mut reason = format!(
        "fired at {}, {} after {what} (within {})",
        human(*t),
        human(t.saturating_sub(start)),
        human(exp.within)
    );
    if let Some(want) = &exp.receiver {
        match ctx.router {
            Some(router) => {
                let got = router.receivers(labels)?;
                let file = router.config().display();
                if got.iter().any(|r| r == want) {
                    reason.push_str(&format!("; routed to {want} ({file})"));
                } else {
                    return Ok(case(Err(format!(
                        "fired at {}, but Alertmanager routes it to {}, not {want} ({file}; labels {})",
                        human(*t),
                        got.join(", "),
                        labels_text(labels)
                    ))));
                }
            }
            None => reason.push_str(&format!(
                "; receiver {want} not checked (no --alertmanager-config)"
            )),
        }
    }
    Ok(case(Ok(reason)))
}

pub fn not_alert(ctx: &Context, exp: &NotAlertExpectation) -> Case {
    let name = format!("not {}", name_of(&exp.alertname, &exp.labels));
    if ctx.rules.alerts_named(&exp.alertname).next().is_none() {
        return Case::new(
            name,
            exp.line,
            Ok(format!(
                "no alerting rule named {} in the --rules files",
                exp.alertname
            )),
        );
    }
    let fired = ctx
        .observations
        .firing
        .get(&exp.alertname)
        .into_iter()
        .flatten()
        .find_map(|(t, sets)| {
            sets.iter()
                .find(|l| subset(&exp.labels, l))
                .map(|l| (*t, l))
        });
    let result = match fired {
        Some((t, l)) => Err(format!("fired at {} with {}", human(t), labels_text(l))),
        None => {
            let mut r = format!(
                "never fired in {} ({} evaluations every {})",
                human(ctx.scenario.duration),
                ctx.table.steps,
                human(ctx.table.interval)
            );
            if let Some(why) = missing_metric(ctx, &exp.alertname) {
                r.push_str(&format!("; vacuous: {why}"));
            }
            Ok(r)
        }
    };
    Case::new(name, exp.line, result)
}
