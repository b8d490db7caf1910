//! Verdicts: each expectation of a scenario judged against what the drill observed, hop by hop
//! (fault start, pending, firing, Alertmanager, receiver, Flux notification), each hop with its
//! scenario time and wall time since the scenario started.

use std::time::{Duration, Instant};

use simulator::notify::Outcome;
use simulator::scenario::{
    AlertExpectation, NotAlertExpectation, NotificationExpectation, Scenario,
};

use super::observe::{Episode, Labels, Observer};
use super::promcfg::AlertRule;

/// One step on the way from the fault to the person told.
#[derive(Debug, Clone, serde::Serialize)]
pub struct Hop {
    pub hop: String,
    /// Scenario time since the scenario started.
    #[serde(serialize_with = "secs")]
    pub scenario: Duration,
    /// Wall time since the scenario started.
    #[serde(serialize_with = "secs")]
    pub wall: Duration,
}

fn secs<S: serde::Serializer>(d: &Duration, s: S) -> Result<S::Ok, S::Error> {
    s.serialize_f64((d.as_secs_f64() * 1000.0).round() / 1000.0)
}

#[derive(Debug, Clone, serde::Serialize)]
pub struct Case {
    pub name: String,
    pub line: usize,
    pub passed: bool,
    pub reason: String,
    pub hops: Vec<Hop>,
}

/// Turns instants into scenario and wall offsets.
pub struct Timeline<'a> {
    pub start: Instant,
    pub scale: f64,
    pub scenario: &'a Scenario,
    pub observed: &'a Observer,
    pub rules: &'a [AlertRule],
    pub alertmanager: bool,
    /// Scenario time the run ended at (for "never" reasons).
    pub ended: Duration,
    /// Why the run ended early, if it did.
    pub cut_short: Option<String>,
}

pub fn fmt_d(d: Duration) -> String {
    let ms = d.as_millis();
    if ms < 1000 {
        return format!("{ms}ms");
    }
    let s = d.as_secs();
    let (h, m, sec) = (s / 3600, s / 60 % 60, s % 60);
    match (h, m) {
        (0, 0) => format!("{sec}s"),
        (0, _) => format!("{m}m{sec:02}s"),
        _ => format!("{h}h{m:02}m{sec:02}s"),
    }
}

impl Timeline<'_> {
    fn wall(&self, at: Instant) -> Duration {
        at.saturating_duration_since(self.start)
    }

    fn scenario_at(&self, at: Instant) -> Duration {
        self.wall(at).mul_f64(self.scale)
    }

    fn hop(&self, name: impl Into<String>, at: Instant) -> Hop {
        Hop {
            hop: name.into(),
            scenario: self.scenario_at(at),
            wall: self.wall(at),
        }
    }

    fn hop_at_scenario(&self, name: impl Into<String>, t: Duration) -> Hop {
        Hop {
            hop: name.into(),
            scenario: t,
            wall: t.div_f64(self.scale),
        }
    }

    /// The window's start and what starts it (`fault build-failure on Kustomization/...`).
    fn window(&self, after_fault: Option<usize>) -> (Duration, String) {
        match after_fault.and_then(|i| self.scenario.faults.get(i)) {
            Some(f) => {
                let target = match &f.target {
                    simulator::scenario::FaultTarget::Object(o) => o.to_string(),
                    simulator::scenario::FaultTarget::Controller(c) => c.name().to_string(),
                };
                let name = f.name.as_ref().map(|n| format!(" {n}")).unwrap_or_default();
                (f.at, format!("fault{name} {} on {target}", f.fault.name()))
            }
            None => (Duration::ZERO, "scenario start".into()),
        }
    }

    fn matching<'b>(
        &'b self,
        alertname: &'b str,
        want: &'b Labels,
    ) -> impl Iterator<Item = (&'b Labels, &'b Episode)> + 'b {
        self.observed
            .alerts
            .iter()
            .filter(move |(l, _)| {
                l.get("alertname").map(String::as_str) == Some(alertname)
                    && want.iter().all(|(k, v)| l.get(k) == Some(v))
            })
            .flat_map(|(l, eps)| eps.iter().map(move |e| (l, e)))
    }

    fn ran(&self) -> String {
        match &self.cut_short {
            Some(why) => format!(" ({why} at {})", fmt_d(self.ended)),
            None => format!(" (ran {})", fmt_d(self.ended)),
        }
    }
}

fn labels_text(l: &Labels) -> String {
    let inner: Vec<String> = l
        .iter()
        .filter(|(k, _)| *k != "alertname")
        .map(|(k, v)| format!("{k}={v:?}"))
        .collect();
    format!("{{{}}}", inner.join(", "))
}

pub fn alert(t: &Timeline, a: &AlertExpectation) -> Case {
    let name = format!(
        "alert {} {}{}",
        a.alertname,
        labels_text(&a.labels),
        a.receiver
            .as_deref()
            .map(|r| format!(" -> {r}"))
            .unwrap_or_default()
    );
    let (start, what) = t.window(a.after_fault);
    let mut hops = vec![t.hop_at_scenario(what.clone(), start)];
    let case = |passed: bool, reason: String, hops: Vec<Hop>| Case {
        name: name.clone(),
        line: a.line,
        passed,
        reason,
        hops,
    };
    if !t.rules.iter().any(|r| r.name == a.alertname) {
        return case(
            false,
            format!("no alerting rule named {} in --rules", a.alertname),
            hops,
        );
    }
    let mut episodes: Vec<(&Labels, &Episode)> = t
        .matching(&a.alertname, &a.labels)
        .filter(|(_, e)| e.firing.is_some_and(|f| t.scenario_at(f) >= start))
        .collect();
    episodes.sort_by_key(|(_, e)| e.firing);
    let Some((labels, e)) = episodes.first().copied() else {
        let pending = t
            .matching(&a.alertname, &a.labels)
            .filter_map(|(_, e)| e.active_at)
            .find(|p| t.scenario_at(*p) >= start);
        let before = t
            .matching(&a.alertname, &a.labels)
            .filter_map(|(_, e)| e.firing)
            .next();
        let reason = match (pending, before) {
            (Some(p), _) => format!(
                "never fired: pending from {} but its `for` never elapsed{}",
                fmt_d(t.scenario_at(p)),
                t.ran()
            ),
            (None, Some(f)) => format!(
                "never fired after the {what}; it fired only before it, at {}",
                fmt_d(t.scenario_at(f))
            ),
            (None, None) => format!("never fired{}", t.ran()),
        };
        if let Some(p) = pending {
            hops.push(t.hop("pending in Prometheus", p));
        }
        return case(false, reason, hops);
    };
    if let Some(p) = e.active_at {
        hops.push(t.hop("pending in Prometheus", p));
    }
    let firing = e.firing.expect("filtered on firing");
    hops.push(t.hop("firing in Prometheus", firing));
    let took = t.scenario_at(firing).saturating_sub(start);
    let mut failures = Vec::new();
    if took > a.within {
        failures.push(format!(
            "fired late: {} after the {what}, expected within {}",
            fmt_d(took),
            fmt_d(a.within)
        ));
    }
    if t.alertmanager {
        match e.in_alertmanager {
            Some(at) => hops.push(t.hop("in Alertmanager", at)),
            None => failures.push("never reached Alertmanager".into()),
        }
        let mut delivered = e.delivered.clone();
        delivered.sort_by_key(|(_, at)| *at);
        for (r, at) in &delivered {
            hops.push(t.hop(format!("delivered to {r}"), *at));
        }
        if let Some(want) = &a.receiver {
            let names: Vec<&str> = delivered.iter().map(|(r, _)| r.as_str()).collect();
            if !names.contains(&want.as_str()) {
                failures.push(match (names.is_empty(), e.suppressed) {
                    (false, _) => format!("reached receiver {} instead of {want}", names.join(", ")),
                    (true, true) => format!("suppressed in Alertmanager (inhibited or silenced): reached no receiver, expected {want}"),
                    (true, false) => format!("reached no receiver, expected {want}{}", t.ran()),
                });
            }
        }
    } else if a.receiver.is_some() {
        hops.push(t.hop("(receiver not checked: no --alertmanager-config)", firing));
    }
    let _ = labels;
    match failures.is_empty() {
        true => case(
            true,
            format!("fired {} after the {what}", fmt_d(took)),
            hops,
        ),
        false => case(false, failures.join("; "), hops),
    }
}

pub fn not_alert(t: &Timeline, n: &NotAlertExpectation) -> Case {
    let name = format!("notAlert {} {}", n.alertname, labels_text(&n.labels));
    let mut fired: Vec<(&Labels, Instant)> = t
        .matching(&n.alertname, &n.labels)
        .filter_map(|(l, e)| e.firing.map(|f| (l, f)))
        .collect();
    fired.sort_by_key(|(_, f)| *f);
    match fired.first() {
        Some((labels, at)) => Case {
            name,
            line: n.line,
            passed: false,
            reason: format!(
                "fired at {} (wall {:.1}s) with {}",
                fmt_d(t.scenario_at(*at)),
                t.wall(*at).as_secs_f64(),
                labels_text(labels)
            ),
            hops: vec![t.hop("firing in Prometheus", *at)],
        },
        None => Case {
            name,
            line: n.line,
            passed: true,
            reason: format!("never fired{}", t.ran()),
            hops: Vec::new(),
        },
    }
}

pub fn notification(t: &Timeline, n: &NotificationExpectation) -> Case {
    let provider = if n.provider.contains('/') {
        n.provider.clone()
    } else {
        format!("{}/{}", n.object.namespace, n.provider)
    };
    let name = format!(
        "notification {provider} {} {}{}",
        n.object,
        n.severity,
        n.text
            .as_deref()
            .map(|s| format!(" {s:?}"))
            .unwrap_or_default()
    );
    let (start, what) = t.window(n.after_fault);
    let mut hops = vec![t.hop_at_scenario(what.clone(), start)];
    let object = n.object.to_string();
    let to_provider: Vec<_> = t
        .observed
        .deliveries
        .iter()
        .filter(|d| {
            d.delivery.provider == provider
                && d.delivery.object == object
                && t.scenario_at(d.at) >= start
        })
        .collect();
    let hit = to_provider.iter().find(|d| {
        matches!(d.delivery.outcome, Outcome::Delivered { .. })
            && d.severity.as_deref().is_none_or(|s| s == n.severity)
            && n.text
                .as_deref()
                .is_none_or(|s| d.delivery.message.contains(s))
    });
    let Some(d) = hit else {
        let failed = to_provider.iter().find_map(|d| match &d.delivery.outcome {
            Outcome::Failed { error } => Some(error.clone()),
            _ => None,
        });
        let reason = match (failed, to_provider.len()) {
            (Some(err), _) => format!("delivery to {provider} failed: {err}"),
            (None, 0) => format!("{provider} got no notification about {object} after the {what}{}", t.ran()),
            (None, k) => format!(
                "{provider} got {k} notification(s) about {object}, none {} with the text; first: {:?}",
                n.severity,
                to_provider[0].delivery.message
            ),
        };
        return Case {
            name,
            line: n.line,
            passed: false,
            reason,
            hops,
        };
    };
    hops.push(t.hop(format!("Flux notification delivered to {provider}"), d.at));
    let took = t.scenario_at(d.at).saturating_sub(start);
    let delivered_in_window = to_provider
        .iter()
        .filter(|d| {
            matches!(d.delivery.outcome, Outcome::Delivered { .. })
                && d.severity.as_deref().is_none_or(|s| s == n.severity)
                && n.text
                    .as_deref()
                    .is_none_or(|s| d.delivery.message.contains(s))
                && t.scenario_at(d.at).saturating_sub(start) <= n.within
        })
        .count();
    let (passed, reason) = if took > n.within {
        (
            false,
            format!(
                "delivered late: {} after the {what}, expected within {}",
                fmt_d(took),
                fmt_d(n.within)
            ),
        )
    } else if n
        .count
        .is_some_and(|want| want as usize != delivered_in_window)
    {
        (
            false,
            format!(
                "delivered {delivered_in_window} time(s) within {} of the {what}, expected exactly {}",
                fmt_d(n.within),
                n.count.unwrap_or_default()
            ),
        )
    } else {
        (
            true,
            format!(
                "delivered {} after the {what}: {:?}",
                fmt_d(took),
                d.delivery.message
            ),
        )
    };
    Case {
        name,
        line: n.line,
        passed,
        reason,
        hops,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn durations_read_like_a_clock() {
        assert_eq!(fmt_d(Duration::from_millis(250)), "250ms");
        assert_eq!(fmt_d(Duration::from_secs(42)), "42s");
        assert_eq!(fmt_d(Duration::from_secs(15 * 60 + 3)), "15m03s");
        assert_eq!(fmt_d(Duration::from_secs(2 * 3600 + 60)), "2h01m00s");
    }
}
