//! Flux notifications in virtual time: every event the simulated controllers posted goes through
//! notification-controller's steps as the emulation in `simulator::notify` implements them
//! (metadata clean-up, the rate limiter keyed as NC keys it, Alert matching by kind, namespace,
//! name, labels and severity, inclusion/exclusion lists, the Provider's suspend and
//! commit-status rules), with the limiter fed scenario time instead of the wall clock.

use std::time::{Duration, Instant};

use model::notification::alert_matches;
use model::ObjectRef;
use serde_json::Value;
use simulator::core::Simulation;
use simulator::notify::{
    cleanup_metadata, commit_status_update_reaches, event_v1, rate_limit_key, RateLimiter, DEFAULT_RATE_LIMIT_INTERVAL,
};
use simulator::scenario::NotificationExpectation;

/// One notification a Provider would have sent.
#[derive(Debug, Clone)]
pub struct Delivery {
    pub at: Duration,
    pub provider: ObjectRef,
    pub provider_type: String,
    pub object: ObjectRef,
    pub severity: String,
    pub message: String,
}

/// One event as posted, and what became of it.
#[derive(Debug, Clone)]
pub struct Posted {
    pub object: ObjectRef,
    pub severity: String,
    pub rate_limited: bool,
}

#[derive(Debug, Default)]
pub struct NotifyRun {
    pub posted: Vec<Posted>,
    pub deliveries: Vec<Delivery>,
}

fn str_at<'a>(v: &'a Value, p: &str) -> &'a str {
    v.pointer(p).and_then(Value::as_str).unwrap_or("")
}

fn regex_list(alert: &Value, field: &str) -> Vec<regex::Regex> {
    alert
        .pointer(&format!("/spec/{field}"))
        .and_then(Value::as_array)
        .map(|l| {
            l.iter()
                .filter_map(Value::as_str)
                .filter_map(|r| regex::Regex::new(r).ok())
                .collect()
        })
        .unwrap_or_default()
}

/// Plays the simulation's events through notification-controller. `config` holds the Alert and
/// Provider objects (other kinds are ignored).
pub fn emulate(sim: &Simulation, config: &[Value]) -> NotifyRun {
    let alerts: Vec<&Value> = config
        .iter()
        .filter(|o| str_at(o, "/kind") == "Alert")
        .collect();
    let providers: Vec<&Value> = config
        .iter()
        .filter(|o| str_at(o, "/kind") == "Provider")
        .collect();
    let limiter = RateLimiter::new(DEFAULT_RATE_LIMIT_INTERVAL);
    let base = Instant::now();
    let mut run = NotifyRun::default();
    for te in sim.events().iter().filter(|te| te.event.severity.is_posted()) {
        let ev = &te.event;
        let Some(object) = sim.object(&ev.object) else {
            continue;
        };
        let mut e = event_v1(ev, object, &simulator::telemetry::scrape::pod_name(ev.controller));
        cleanup_metadata(&mut e);
        let limited = limiter.take_at(&rate_limit_key(&e), base + te.at).is_err();
        run.posted.push(Posted {
            object: ev.object.clone(),
            severity: e.severity.clone(),
            rate_limited: limited,
        });
        if limited {
            continue;
        }
        let commit_update = e
            .metadata
            .iter()
            .any(|(k, v)| k.ends_with("/commit_status") && v == "update");
        for alert in &alerts {
            if !alert_matches(alert, object, &e.severity) {
                continue;
            }
            let include = regex_list(alert, "inclusionList");
            if !include.is_empty() && !include.iter().any(|r| r.is_match(&e.message)) {
                continue;
            }
            if regex_list(alert, "exclusionList")
                .iter()
                .any(|r| r.is_match(&e.message))
            {
                continue;
            }
            let ns = str_at(alert, "/metadata/namespace");
            let pname = str_at(alert, "/spec/providerRef/name");
            let Some(provider) = providers.iter().find(|p| {
                str_at(p, "/metadata/namespace") == ns && str_at(p, "/metadata/name") == pname
            }) else {
                continue;
            };
            if provider
                .pointer("/spec/suspend")
                .and_then(Value::as_bool)
                .unwrap_or(false)
            {
                continue;
            }
            let ptype = str_at(provider, "/spec/type").to_string();
            if commit_update && !commit_status_update_reaches(&ptype, sim.scenario().flux_version) {
                continue;
            }
            run.deliveries.push(Delivery {
                at: te.at,
                provider: ObjectRef::new("Provider", ns, pname),
                provider_type: ptype,
                object: ev.object.clone(),
                severity: e.severity.clone(),
                message: e.message.clone(),
            });
        }
    }
    run
}

/// The Provider an expectation names: `namespace/name`, or `name` in the object's namespace.
fn provider_ref(exp: &NotificationExpectation) -> ObjectRef {
    match exp.provider.split_once('/') {
        Some((ns, name)) => ObjectRef::new("Provider", ns, name),
        None => ObjectRef::new(
            "Provider",
            exp.object.namespace.clone(),
            exp.provider.clone(),
        ),
    }
}

fn short(s: &str) -> String {
    let first = s.lines().next().unwrap_or("");
    if first.chars().count() > 100 {
        format!("{}...", first.chars().take(100).collect::<String>())
    } else {
        first.to_string()
    }
}

/// Judges one expectation: `Ok(reason)` or `Err(reason)`. `start`: when the window opens
/// (the fault's start), `what`: how to name that moment.
pub fn judge(
    run: &NotifyRun,
    exp: &NotificationExpectation,
    start: Duration,
    what: &str,
) -> Result<String, String> {
    let fmt = |d: Duration| super::judge::human(d);
    let deadline = start + exp.within;
    let provider = provider_ref(exp);
    let obj = &exp.object;
    let posted: Vec<&Posted> = run
        .posted
        .iter()
        .filter(|p| &p.object == obj && p.severity == exp.severity)
        .collect();
    let limited = posted.iter().filter(|p| p.rate_limited).count();
    let to_provider: Vec<&Delivery> = run
        .deliveries
        .iter()
        .filter(|d| d.provider == provider && &d.object == obj && d.severity == exp.severity)
        .collect();
    let text_ok = |m: &str| exp.text.as_deref().is_none_or(|t| m.contains(t));
    let hit = to_provider
        .iter()
        .find(|d| d.at >= start && d.at <= deadline && text_ok(&d.message));
    let counts = format!(
        "{} of {} {} event(s) about {obj} delivered, {limited} rate-limited",
        to_provider.len(),
        posted.len(),
        exp.severity
    );
    if let (Some(want), Some(_)) = (exp.count, hit) {
        let got = to_provider
            .iter()
            .filter(|d| d.at >= start && d.at <= deadline && text_ok(&d.message))
            .count();
        if got != want as usize {
            return Err(format!(
                "delivered {got} time(s) between {} and {}, expected exactly {want} ({counts})",
                fmt(start),
                fmt(deadline)
            ));
        }
    }
    if let Some(d) = hit {
        return Ok(format!(
            "delivered to Provider {}/{} ({}) at {}, {} after {what}: \"{}\" ({counts})",
            provider.namespace,
            provider.name,
            d.provider_type,
            fmt(d.at),
            fmt(d.at.saturating_sub(start)),
            short(&d.message)
        ));
    }
    if posted.is_empty() {
        return Err(format!("{obj} posted no {} event at all", exp.severity));
    }
    if to_provider.is_empty() {
        return Err(if posted.iter().all(|p| p.rate_limited) {
            format!(
                "every {} event about {obj} was rate-limited ({counts})",
                exp.severity
            )
        } else {
            format!(
                "no Alert sends {} events about {obj} to Provider {}/{} ({counts})",
                exp.severity, provider.namespace, provider.name
            )
        });
    }
    let in_window: Vec<&&Delivery> = to_provider
        .iter()
        .filter(|d| d.at >= start && d.at <= deadline)
        .collect();
    if let (Some(t), Some(d)) = (&exp.text, in_window.first()) {
        return Err(format!(
            "delivered at {}, but no message contains {t:?}: got \"{}\"",
            fmt(d.at),
            short(&d.message)
        ));
    }
    let later = to_provider
        .iter()
        .find(|d| d.at > deadline && text_ok(&d.message));
    Err(match later {
        Some(d) => format!(
            "first delivered at {}, {} after {what}: later than within {}",
            fmt(d.at),
            fmt(d.at.saturating_sub(start)),
            fmt(exp.within)
        ),
        None => format!(
            "nothing delivered to Provider {}/{} between {} and {} ({counts})",
            provider.namespace,
            provider.name,
            fmt(start),
            fmt(deadline)
        ),
    })
}
