//! Verdicts of a cluster drill: each expectation judged hop by hop against what was observed,
//! every hop with its time since the fault and the window theory allows (scrape, evaluation,
//! `for`, group_wait). A hop that cannot be observed says why and is never counted as passed:
//! its expectation is INCOMPLETE, not PASS.

use std::time::{Duration, Instant};

use model::ObjectRef;
use simulator::scenario::{AlertExpectation, NotAlertExpectation, NotificationExpectation, Scenario};

use super::amroute;
use super::canary::Plan;
use super::observe::Observation;
use super::setup::{ResourceMetric, Setup, NOTIFICATIONS, NOTIFICATIONS_FAILED};
use crate::drill::judge::fmt_d;
use crate::drill::observe::{Episode, Labels};

#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Serialize)]
#[serde(rename_all = "lowercase")]
pub enum Verdict {
    Passed,
    Failed,
    /// A hop the expectation needs could not be observed.
    Incomplete,
}

#[derive(Debug, Clone, serde::Serialize)]
#[serde(rename_all = "camelCase")]
pub struct Hop {
    pub hop: String,
    /// Since the fault (None: not observable).
    #[serde(serialize_with = "opt_secs")]
    pub since_fault: Option<Duration>,
    /// The earliest and latest time since the fault theory allows, when known.
    #[serde(serialize_with = "opt_range")]
    pub theory: Option<(Duration, Duration)>,
    /// Why this hop could not be observed.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub unobservable: Option<String>,
}

fn opt_secs<S: serde::Serializer>(d: &Option<Duration>, s: S) -> Result<S::Ok, S::Error> {
    match d {
        Some(d) => s.serialize_f64((d.as_secs_f64() * 1000.0).round() / 1000.0),
        None => s.serialize_none(),
    }
}

fn opt_range<S: serde::Serializer>(d: &Option<(Duration, Duration)>, s: S) -> Result<S::Ok, S::Error> {
    use serde::ser::SerializeSeq;
    match d {
        Some((a, b)) => {
            let mut seq = s.serialize_seq(Some(2))?;
            seq.serialize_element(&a.as_secs_f64())?;
            seq.serialize_element(&b.as_secs_f64())?;
            seq.end()
        }
        None => s.serialize_none(),
    }
}

#[derive(Debug, Clone, serde::Serialize)]
pub struct Case {
    pub name: String,
    pub line: usize,
    pub verdict: Verdict,
    pub reason: String,
    pub hops: Vec<Hop>,
}

/// Everything a verdict is judged from.
pub struct Ctx<'a> {
    pub scenario: &'a Scenario,
    pub plan: &'a Plan,
    pub setup: &'a Setup,
    pub observed: &'a Observation,
    /// When the canaries were created.
    pub start: Instant,
    /// When each cluster fault was applied.
    pub applied: &'a [Option<Instant>],
    pub alertmanager: bool,
    /// Why Flux notifications cannot be observed, when they cannot.
    pub sink_unreachable: Option<&'a str>,
    pub now: Instant,
    /// Judging for the last time: what is still undecided is decided now.
    pub last: bool,
    /// Why the run ended, when it ended before every expectation was decided.
    pub cut_short: Option<&'a str>,
}

/// Slack for clocks: an episode whose activeAt is this much before the fault still counts.
const SLACK: Duration = Duration::from_secs(1);

impl Ctx<'_> {
    fn since(&self, t0: Instant, at: Instant) -> Duration {
        at.saturating_duration_since(t0)
    }

    /// The window's start and its words.
    fn window(&self, after_fault: Option<usize>) -> Result<(Instant, String, Option<ObjectRef>), String> {
        match after_fault {
            None => Ok((self.start, "creation of the canaries".into(), None)),
            Some(i) => {
                let f = &self.scenario.cluster.as_ref().expect("a cluster scenario").faults[i];
                let target = self.plan.target_ref(&f.target);
                let name = f
                    .name
                    .as_ref()
                    .filter(|n| n.as_str() != f.fault.name())
                    .map(|n| format!(" {n}"))
                    .unwrap_or_default();
                let what = format!("fault{name} {} on {target}", f.fault.name());
                match self.applied.get(i).copied().flatten() {
                    Some(at) => Ok((at, what, Some(target))),
                    None => Err(format!("the {what} was never applied{}", self.ran())),
                }
            }
        }
    }

    fn ran(&self) -> String {
        let ran = fmt_d(self.now.saturating_duration_since(self.start));
        match self.cut_short {
            Some(why) => format!(" ({why} after {ran})"),
            None => format!(" (waited {ran})"),
        }
    }

    /// A label value as the cluster has it: a canary's scenario name (or, with -n, namespace)
    /// becomes its cluster name.
    fn map_labels(&self, labels: &std::collections::BTreeMap<String, String>) -> Labels {
        labels
            .iter()
            .map(|(k, v)| {
                let mapped = self
                    .plan
                    .canaries
                    .iter()
                    .find_map(|c| {
                        if &c.scenario_ref.name == v {
                            Some(c.cluster_ref.name.clone())
                        } else if self.plan.namespace.is_some() && &c.scenario_ref.namespace == v {
                            Some(c.cluster_ref.namespace.clone())
                        } else {
                            None
                        }
                    })
                    .unwrap_or_else(|| v.clone());
                (k.clone(), mapped)
            })
            .collect()
    }

    /// The object an alert is about: the watched object its `name` (and `kind`) labels name.
    fn subject(&self, labels: &Labels, fallback: Option<ObjectRef>) -> Option<ObjectRef> {
        let name = labels.get("name");
        let kind = labels.get("kind").or_else(|| labels.get("customresource_kind"));
        self.observed
            .objects
            .keys()
            .find(|o| Some(&o.name) == name && kind.is_none_or(|k| *k == o.kind))
            .cloned()
            .or(fallback)
    }
}

fn labels_text(l: &std::collections::BTreeMap<String, String>) -> String {
    let inner: Vec<String> = l.iter().map(|(k, v)| format!("{k}={v:?}")).collect();
    format!("{{{}}}", inner.join(", "))
}

fn hop(name: impl Into<String>, since: Duration) -> Hop {
    Hop {
        hop: name.into(),
        since_fault: Some(since),
        theory: None,
        unobservable: None,
    }
}

fn unobservable(name: impl Into<String>, why: impl Into<String>) -> Hop {
    Hop {
        hop: name.into(),
        since_fault: None,
        theory: None,
        unobservable: Some(why.into()),
    }
}

/// The status and metric hops of `subject` after `t0`; returns the status hop's time since t0.
fn object_hops(
    ctx: &Ctx,
    t0: Instant,
    subject: Option<&ObjectRef>,
    hops: &mut Vec<Hop>,
    scrape: &mut Duration,
) -> Option<Duration> {
    let subject = subject?;
    let state = ctx.observed.objects.get(subject)?;
    let status = match (&state.failed, state.suspended) {
        (Some((at, reason, message)), _) => {
            let mut m: String = message.chars().take(60).collect();
            if message.chars().count() > 60 {
                m.push('…');
            }
            Some((*at, format!("{subject}: Ready=False {reason}: {m} (watch)")))
        }
        (None, Some(at)) => Some((at, format!("{subject}: spec.suspend=true (watch)"))),
        (None, None) => None,
    };
    let base = status.as_ref().map(|(at, _)| ctx.since(t0, *at));
    match status {
        Some((at, text)) => hops.push(hop(text, ctx.since(t0, at))),
        None => hops.push(Hop {
            hop: format!("{subject}: status shows the fault (watch)"),
            since_fault: None,
            theory: None,
            unobservable: None,
        }),
    }
    match (&ctx.setup.metric, &state.metric) {
        (None, _) => hops.push(unobservable(
            "state metric in Prometheus",
            ctx.setup.metric_missing.clone().unwrap_or_default(),
        )),
        (Some(m), Some(seen)) => {
            *scrape = ctx.setup.scrape_interval(&seen.job);
            let b = base.unwrap_or_default();
            let refresh = if *m == ResourceMetric::FluxOperator {
                Duration::from_secs(300)
            } else {
                Duration::ZERO
            };
            let mut h = hop(format!("{} scraped", seen.series), ctx.since(t0, seen.scraped));
            h.theory = Some((b, b + *scrape + refresh));
            hops.push(h);
        }
        (Some(m), None) => hops.push(Hop {
            hop: format!("{} in Prometheus", m.family()),
            since_fault: None,
            theory: None,
            unobservable: None,
        }),
    }
    base
}

/// An alert expectation, hop by hop; None while undecided.
pub fn alert(ctx: &Ctx, a: &AlertExpectation) -> Option<Case> {
    let name = format!(
        "alert {} {}{}",
        a.alertname,
        labels_text(&a.labels),
        a.receiver.as_deref().map(|r| format!(" -> {r}")).unwrap_or_default()
    );
    let case = |verdict: Verdict, reason: String, hops: Vec<Hop>| Case {
        name: name.clone(),
        line: a.line,
        verdict,
        reason,
        hops,
    };
    let (t0, what, target) = match ctx.window(a.after_fault) {
        Ok(w) => w,
        Err(e) => return ctx.last.then(|| case(Verdict::Failed, e, Vec::new())),
    };
    let mut hops = vec![hop(what.clone(), Duration::ZERO)];
    let want = ctx.map_labels(&a.labels);
    let subject = ctx.subject(&want, target);
    let mut scrape = ctx.setup.global_scrape;
    let base = object_hops(ctx, t0, subject.as_ref(), &mut hops, &mut scrape).unwrap_or_default();
    let Some(rule) = ctx.setup.rules.get(&a.alertname) else {
        return Some(case(
            Verdict::Failed,
            format!(
                "Prometheus has no alerting rule named {} (its /api/v1/rules)",
                a.alertname
            ),
            hops,
        ));
    };
    let (f, e) = (rule.for_, rule.interval);
    let mut episodes: Vec<(&Labels, &Episode)> = ctx
        .observed
        .episodes
        .alerts
        .iter()
        .filter(|(l, _)| l.get("alertname") == Some(&a.alertname) && want.iter().all(|(k, v)| l.get(k) == Some(v)))
        .flat_map(|(l, eps)| eps.iter().map(move |e| (l, e)))
        .filter(|(_, ep)| ep.active_at.is_some_and(|p| p + SLACK >= t0))
        .collect();
    episodes.sort_by_key(|(_, e)| e.active_at);
    let fired = episodes.iter().find(|(_, e)| e.firing.is_some()).copied();
    let pending = episodes.first().and_then(|(_, e)| e.active_at);
    if let Some(p) = fired.and_then(|(_, e)| e.active_at).or(pending) {
        let mut h = hop("pending in Prometheus", ctx.since(t0, p));
        h.theory = Some((base, base + scrape + e));
        hops.push(h);
    }
    let Some((labels, ep)) = fired else {
        let waited = ctx.now.saturating_duration_since(t0);
        if waited > a.within || ctx.last {
            let reason = match pending {
                Some(p) => format!(
                    "never fired: pending from {} after the {what} but its `for` ({}) never elapsed{}",
                    fmt_d(ctx.since(t0, p)),
                    fmt_d(f),
                    ctx.ran()
                ),
                None => format!("never fired within {} of the {what}{}", fmt_d(a.within), ctx.ran()),
            };
            return Some(case(Verdict::Failed, reason, hops));
        }
        return None;
    };
    let firing = ep.firing.expect("found firing");
    let took = ctx.since(t0, firing);
    let fire_window = (base + f, base + scrape + e + e + f);
    let mut h = hop(format!("firing in Prometheus (for {})", fmt_d(f)), took);
    h.theory = Some(fire_window);
    hops.push(h);
    let mut failures = Vec::new();
    if took > a.within {
        failures.push(format!(
            "fired late: {} after the {what}, expected within {}",
            fmt_d(took),
            fmt_d(a.within)
        ));
    }
    if !ctx.alertmanager {
        hops.push(unobservable(
            "in Alertmanager",
            "no --alertmanager-url or --alertmanager-service: Alertmanager's routing is not observed",
        ));
        return Some(match (failures.is_empty(), &a.receiver) {
            (false, _) => case(Verdict::Failed, failures.join("; "), hops),
            (true, Some(r)) => case(
                Verdict::Incomplete,
                format!(
                    "fired {} after the {what}; whether it reaches {r} was not observed (no Alertmanager given)",
                    fmt_d(took)
                ),
                hops,
            ),
            (true, None) => case(Verdict::Passed, format!("fired {} after the {what}", fmt_d(took)), hops),
        });
    }
    let Some(in_am) = ep.in_alertmanager else {
        if ctx.last {
            failures.push(format!("fired but never reached Alertmanager{}", ctx.ran()));
            return Some(case(Verdict::Failed, failures.join("; "), hops));
        }
        return None;
    };
    let receivers = ctx.observed.receivers.get(labels).cloned().unwrap_or_default();
    let mut h = hop(
        format!("in Alertmanager -> {}", receivers.join(", ")),
        ctx.since(t0, in_am),
    );
    h.theory = Some(fire_window);
    hops.push(h);
    if ep.suppressed {
        failures.push("suppressed in Alertmanager (silenced or inhibited): nobody is told".into());
        return Some(case(Verdict::Failed, failures.join("; "), hops));
    }
    if let Some(want) = &a.receiver {
        if !receivers.contains(want) {
            failures.push(match receivers.is_empty() {
                false => format!("reached receiver {} instead of {want}", receivers.join(", ")),
                true => format!("Alertmanager's route tree picked no receiver, expected {want}"),
            });
            return Some(case(Verdict::Failed, failures.join("; "), hops));
        }
    }
    let checked: Vec<String> = match &a.receiver {
        Some(r) => vec![r.clone()],
        None => receivers.clone(),
    };
    // Alertmanager's counters, before and after, for each integration of each receiver.
    let routes = ctx
        .setup
        .am_config
        .as_ref()
        .map(|c| amroute::routes(c, labels))
        .unwrap_or_default();
    let mut decided_all = true;
    let mut incomplete = Vec::new();
    for r in &checked {
        let g = routes
            .iter()
            .find(|(n, _)| n == r)
            .map(|(_, g)| *g)
            .unwrap_or(Duration::from_secs(30));
        let window = (fire_window.0 + g, fire_window.1 + g);
        let Some(integrations) = ctx.setup.integrations(r) else {
            hops.push(unobservable(
                format!("Alertmanager notified {r}"),
                "Alertmanager's configuration could not be read",
            ));
            incomplete.push(format!("{r}'s integrations unknown"));
            continue;
        };
        if integrations.is_empty() {
            failures.push(format!("receiver {r} has no integrations: Alertmanager tells nobody"));
            continue;
        }
        let (Some(before), Some((read_at, after))) = (&ctx.setup.counters_before, &ctx.observed.counters) else {
            hops.push(unobservable(
                format!("Alertmanager notified {r}"),
                "Alertmanager's /metrics could not be read",
            ));
            incomplete.push(format!("{r}'s notifications not observed"));
            continue;
        };
        let mut moved = Vec::new();
        let mut all_attempted = true;
        for i in &integrations {
            let tried = after.get(NOTIFICATIONS, i, r) - before.get(NOTIFICATIONS, i, r);
            let failed = after.get(NOTIFICATIONS_FAILED, i, r) - before.get(NOTIFICATIONS_FAILED, i, r);
            if failed > 0.0 {
                failures.push(format!(
                    "Alertmanager's {i} notifications failed {failed} time(s) since the drill started ({NOTIFICATIONS_FAILED}): {r} may not be told"
                ));
            }
            if tried <= 0.0 {
                all_attempted = false;
            }
            moved.push(format!("{i} +{tried}, failed +{failed}"));
        }
        let scope = if after.per_receiver() {
            ""
        } else {
            "; counters are per integration"
        };
        if all_attempted {
            let mut h = hop(
                format!("Alertmanager notified {r} ({}{scope})", moved.join("; ")),
                ctx.since(t0, *read_at),
            );
            h.theory = Some(window);
            hops.push(h);
        } else {
            let waited = ctx.now.saturating_duration_since(in_am);
            // A new group waits group_wait; an alert joining a group waits up to group_interval.
            let limit = g + Duration::from_secs(5 * 60) + Duration::from_secs(15);
            if ctx.last || waited > limit {
                failures.push(format!(
                    "Alertmanager made no notification attempt for {r} ({}) within {} of receiving the alert",
                    integrations.join(", "),
                    fmt_d(waited)
                ));
            } else {
                decided_all = false;
            }
        }
        let mut reached_sink = false;
        for (recv, at) in ctx.observed.sink_receivers.get(labels).into_iter().flatten() {
            if recv == r {
                reached_sink = true;
                let mut h = hop(
                    format!("{r}'s webhook received it (the drill's sink)"),
                    ctx.since(t0, *at),
                );
                h.theory = Some(window);
                hops.push(h);
            }
        }
        // When the receiver posts to the drill's sink, its arrival there is the evidence (the
        // counters also count other alerts' notifications).
        let sink_serves = ctx
            .observed
            .sink_receivers
            .values()
            .flatten()
            .any(|(recv, _)| recv == r);
        if sink_serves && !reached_sink {
            let waited = ctx.now.saturating_duration_since(in_am);
            let limit = g + Duration::from_secs(5 * 60) + Duration::from_secs(15);
            if ctx.last || waited > limit {
                failures.push(format!(
                    "{r}'s webhook (the drill's sink) got other alerts but not this one within {} of Alertmanager receiving it",
                    fmt_d(waited)
                ));
            } else {
                decided_all = false;
            }
        }
    }
    if !failures.is_empty() {
        return Some(case(Verdict::Failed, failures.join("; "), hops));
    }
    if !decided_all {
        return None;
    }
    if !incomplete.is_empty() {
        return Some(case(Verdict::Incomplete, incomplete.join("; "), hops));
    }
    Some(case(
        Verdict::Passed,
        format!(
            "reached {} {} after the {what}",
            checked.join(", "),
            fmt_d(hops.last().and_then(|h| h.since_fault).unwrap_or(took))
        ),
        hops,
    ))
}

/// A notAlert expectation: never fired after the canaries were created.
pub fn not_alert(ctx: &Ctx, n: &NotAlertExpectation) -> Option<Case> {
    let name = format!("notAlert {} {}", n.alertname, labels_text(&n.labels));
    let want = ctx.map_labels(&n.labels);
    let fired = ctx
        .observed
        .episodes
        .alerts
        .iter()
        .filter(|(l, _)| l.get("alertname") == Some(&n.alertname) && want.iter().all(|(k, v)| l.get(k) == Some(v)))
        .flat_map(|(_, eps)| eps.iter())
        .filter_map(|e| e.firing)
        .filter(|f| *f + SLACK >= ctx.start)
        .min();
    match fired {
        Some(at) => Some(Case {
            name,
            line: n.line,
            verdict: Verdict::Failed,
            reason: format!(
                "fired {} after the canaries were created",
                fmt_d(ctx.since(ctx.start, at))
            ),
            hops: vec![hop("firing in Prometheus", ctx.since(ctx.start, at))],
        }),
        None if ctx.last => Some(Case {
            name,
            line: n.line,
            verdict: Verdict::Passed,
            reason: format!("never fired{}", ctx.ran()),
            hops: Vec::new(),
        }),
        None => None,
    }
}

/// A notification expectation: the canary Provider's sink got the event.
pub fn notification(ctx: &Ctx, n: &NotificationExpectation) -> Option<Case> {
    let object = ctx.plan.cluster_ref(&n.object);
    let name = format!(
        "notification {} {} {}{}",
        n.provider,
        n.object,
        n.severity,
        n.text.as_deref().map(|s| format!(" {s:?}")).unwrap_or_default()
    );
    let case = |verdict: Verdict, reason: String, hops: Vec<Hop>| Case {
        name: name.clone(),
        line: n.line,
        verdict,
        reason,
        hops,
    };
    let (t0, what, _) = match ctx.window(n.after_fault) {
        Ok(w) => w,
        Err(e) => return ctx.last.then(|| case(Verdict::Failed, e, Vec::new())),
    };
    let mut hops = vec![hop(what.clone(), Duration::ZERO)];
    if let Some(why) = ctx.sink_unreachable {
        hops.push(unobservable(
            format!("Flux notification to Provider {}", n.provider),
            why,
        ));
        return Some(case(Verdict::Incomplete, format!("not observed: {why}"), hops));
    }
    let mut scrape = Duration::ZERO;
    object_hops(ctx, t0, Some(&object), &mut hops, &mut scrape);
    hops.retain(|h| {
        !h.hop.contains("scraped") && !h.hop.ends_with("in Prometheus") && h.hop != "state metric in Prometheus"
    });
    let object_text = object.to_string();
    let matching: Vec<_> = ctx
        .observed
        .deliveries
        .iter()
        .filter(|d| {
            d.provider == n.provider
                && d.object == object_text
                && d.at + SLACK >= t0
                && d.severity == n.severity
                && n.text.as_deref().is_none_or(|t| d.message.contains(t))
        })
        .collect();
    let in_window = matching.iter().filter(|d| ctx.since(t0, d.at) <= n.within).count();
    let waited = ctx.now.saturating_duration_since(t0);
    match matching.first() {
        Some(d) => {
            hops.push(hop(
                format!(
                    "Flux notification delivered to Provider {} (the drill's sink): {} {}",
                    n.provider, d.severity, d.reason
                ),
                ctx.since(t0, d.at),
            ));
            let took = ctx.since(t0, d.at);
            if took > n.within {
                return Some(case(
                    Verdict::Failed,
                    format!(
                        "delivered late: {} after the {what}, expected within {}",
                        fmt_d(took),
                        fmt_d(n.within)
                    ),
                    hops,
                ));
            }
            if let Some(want) = n.count {
                if !ctx.last && waited <= n.within {
                    return None;
                }
                if in_window != want as usize {
                    return Some(case(
                        Verdict::Failed,
                        format!(
                            "delivered {in_window} time(s) within {} of the {what}, expected exactly {want}",
                            fmt_d(n.within)
                        ),
                        hops,
                    ));
                }
            }
            Some(case(
                Verdict::Passed,
                format!("delivered {} after the {what}: {:?}", fmt_d(took), d.message),
                hops,
            ))
        }
        None if waited > n.within || ctx.last => {
            let others = ctx
                .observed
                .deliveries
                .iter()
                .filter(|d| d.provider == n.provider)
                .count();
            Some(case(
                Verdict::Failed,
                format!(
                    "Provider {} got no {} notification about {object} within {} of the {what} ({others} other notification(s) reached it){}",
                    n.provider,
                    n.severity,
                    fmt_d(n.within),
                    ctx.ran()
                ),
                hops,
            ))
        }
        None => None,
    }
}

/// NotificationDispatchFailed events about the canaries on Alerts the drill did not create:
/// notification-controller could not deliver a canary's event for them.
pub fn dispatch_failures(ctx: &Ctx) -> Vec<Case> {
    let names: Vec<String> = ctx.plan.canaries.iter().map(|c| c.cluster_ref.to_string()).collect();
    let ours: Vec<&ObjectRef> = ctx
        .plan
        .canaries
        .iter()
        .filter(|c| c.cluster_ref.kind == "Alert")
        .map(|c| &c.cluster_ref)
        .collect();
    ctx.observed
        .dispatch_failures
        .iter()
        .filter(|(_, e)| {
            !ours
                .iter()
                .any(|o| o.name == e.object.name && o.namespace == e.object.namespace)
        })
        .filter(|(_, e)| names.iter().any(|n| e.message.contains(n.as_str())))
        .map(|(at, e)| Case {
            name: format!(
                "Flux Alert {}/{} dispatches the canaries' events",
                e.object.namespace, e.object.name
            ),
            line: 0,
            verdict: Verdict::Failed,
            reason: format!("NotificationDispatchFailed: {}", e.shown_message()),
            hops: vec![hop("NotificationDispatchFailed recorded", ctx.since(ctx.start, *at))],
        })
        .collect()
}
