//! Validation of the fault timeline and the expectations: fault names and parameters, targets,
//! `afterFault` references, Providers and objects of notification expectations.

use std::collections::HashMap;
use std::time::Duration;

use model::{kinds, Controller, ObjectRef};
use serde_saphyr::Spanned;

use super::file::{
    AlertExpectationFile, ExpectationsFile, FaultFile, NotAlertExpectationFile, NotificationExpectationFile,
};
use super::model::*;
use super::validate::{a, controller_names, line, parse_object_ref, Entry, Validator};

impl Validator<'_> {
    /// Fault names (each fault's optional `name`, in order), for `afterFault: <name>`; empty,
    /// numeric and duplicate names are reported.
    pub(super) fn fault_names<'n>(
        &mut self,
        faults: impl Iterator<Item = Option<&'n Spanned<String>>>,
    ) -> HashMap<String, usize> {
        let mut names = HashMap::new();
        for (i, name) in faults.enumerate() {
            let Some(name) = name else { continue };
            if name.value.is_empty() || name.value.chars().all(|c| c.is_ascii_digit()) {
                self.error(
                    line(name),
                    format!("fault name {:?} must not be empty or a number", name.value),
                );
            } else if let Some(first) = names.insert(name.value.clone(), i) {
                self.error(
                    line(name),
                    format!("duplicate fault name {:?} (also fault {first})", name.value),
                );
            }
        }
        names
    }

    pub(super) fn fault(
        &mut self,
        raw: &Spanned<FaultFile>,
        entries: &[Entry],
        index: &HashMap<ObjectRef, usize>,
        scenario_duration: Duration,
    ) -> Option<FaultSpec> {
        let f = &raw.value;
        let at_line = line(raw);
        let mut ok = true;
        let at = self.duration(&f.at, "at");
        if let Some(at) = at {
            if at >= scenario_duration {
                self.error(
                    line(&f.at),
                    format!(
                        "fault starts at {}, when the scenario has ended (duration {})",
                        f.at.value,
                        model::format_go_duration(scenario_duration)
                    ),
                );
                ok = false;
            }
        }
        let fault = Fault::from_name(&f.fault.value);
        if fault.is_none() {
            let known: Vec<&str> = Fault::ALL.iter().map(|f| f.name()).collect();
            self.error(
                line(&f.fault),
                format!("unknown fault {:?}; known faults: {}", f.fault.value, known.join(", ")),
            );
        }
        let duration = f.duration.as_ref().and_then(|d| {
            let r = self.positive_duration(d, "duration");
            ok &= r.is_some();
            r
        });
        let target = match fault {
            None => None,
            Some(fault) if fault.targets_controller() => {
                if let Some(t) = &f.target {
                    self.error(
                        line(t),
                        format!(
                            "{} acts on a controller: give `controller:` instead of `target:`",
                            fault.name()
                        ),
                    );
                }
                match &f.controller {
                    None if f.target.is_some() => None,
                    None => {
                        self.error(
                            at_line,
                            format!("{} needs `controller:` (one of {})", fault.name(), controller_names()),
                        );
                        None
                    }
                    Some(c) => match Controller::from_name(&c.value) {
                        Some(c) => Some(FaultTarget::Controller(c)),
                        None => {
                            self.error(
                                line(c),
                                format!(
                                    "unknown controller {:?}; controllers are: {}",
                                    c.value,
                                    controller_names()
                                ),
                            );
                            None
                        }
                    },
                }
            }
            Some(fault) => {
                if let Some(c) = &f.controller {
                    self.error(
                        line(c),
                        format!(
                            "{} acts on an object: give `target: Kind/name` instead of `controller:`",
                            fault.name()
                        ),
                    );
                }
                match &f.target {
                    None if f.controller.is_some() => None,
                    None => {
                        self.error(
                            at_line,
                            format!("{} needs `target: Kind/name` or `Kind/namespace/name`", fault.name()),
                        );
                        None
                    }
                    Some(t) => self.fault_target(t, fault, entries, index),
                }
            }
        };
        let reconcile_duration =
            self.fault_param(fault, Fault::Slow, f.reconcile_duration.as_ref(), "reconcileDuration");
        let reconcile_duration = reconcile_duration.and_then(|d| {
            let r = self.positive_duration(d, "reconcileDuration").filter(|r| {
                let max = super::validate::MAX_RECONCILE_DURATION;
                if *r > max {
                    let max = model::format_go_duration(max);
                    self.error(line(d), format!("reconcileDuration {} is longer than the {max} a reconcile may take", d.value));
                }
                *r <= super::validate::MAX_RECONCILE_DURATION
            });
            ok &= r.is_some();
            r
        });
        let rate = self
            .fault_param(fault, Fault::ErrorRate, f.rate.as_ref(), "rate")
            .and_then(|r| {
                if (0.0..=1.0).contains(&r.value) {
                    Some(r.value)
                } else {
                    self.error(
                        line(r),
                        format!("rate {} is out of range: give a fraction from 0 to 1", r.value),
                    );
                    ok = false;
                    None
                }
            });
        let count = self
            .fault_param(fault, Fault::EventStorm, f.count.as_ref(), "count")
            .and_then(|c| {
                if (1..=super::validate::MAX_EVENT_STORM).contains(&c.value) {
                    Some(c.value)
                } else {
                    let max = super::validate::MAX_EVENT_STORM;
                    self.error(line(c), format!("count {} is out of range: give 1 to {max}", c.value));
                    ok = false;
                    None
                }
            });
        let (fault, target, at) = (fault?, target?, at?);
        if !ok {
            return None;
        }
        Some(FaultSpec {
            name: f.name.as_ref().map(|n| n.value.clone()),
            at,
            target,
            fault,
            reason: f.reason.clone(),
            message: f.message.clone(),
            duration,
            reconcile_duration: reconcile_duration.or((fault == Fault::Slow).then_some(Duration::from_secs(45))),
            rate: rate.or((fault == Fault::ErrorRate).then_some(0.5)),
            count: count.or((fault == Fault::EventStorm).then_some(50)),
            line: self.file_line(at_line),
        })
    }

    /// A fault's parameter, reported when given to a fault it does not belong to.
    fn fault_param<'s, T>(
        &mut self,
        fault: Option<Fault>,
        owner: Fault,
        param: Option<&'s Spanned<T>>,
        name: &str,
    ) -> Option<&'s Spanned<T>> {
        let p = param?;
        match fault {
            Some(f) if f == owner => Some(p),
            Some(f) => {
                self.error(
                    line(p),
                    format!("`{name}` applies only to {}, not to {}", owner.name(), f.name()),
                );
                None
            }
            None => None,
        }
    }

    fn fault_target(
        &mut self,
        t: &Spanned<String>,
        fault: Fault,
        entries: &[Entry],
        index: &HashMap<ObjectRef, usize>,
    ) -> Option<FaultTarget> {
        let r = match parse_object_ref(&t.value) {
            Ok(r) => r,
            Err(e) => {
                self.error(line(t), format!("target: {e}"));
                return None;
            }
        };
        let kind = kinds::by_kind(&r.kind).expect("parse_object_ref checks the kind");
        let applies = fault.applies_to();
        let fits = if fault == Fault::Suspend {
            kind.has_status && super::validate::has_suspend(kind)
        } else if applies.is_empty() {
            kind.has_status
        } else {
            applies.contains(&kind.kind)
        };
        if !fits {
            let kinds_text = if applies.is_empty() {
                "kinds with a status".to_string()
            } else {
                applies.join(", ")
            };
            self.error(
                line(t),
                format!(
                    "fault {} does not apply to {} (it applies to {kinds_text})",
                    fault.name(),
                    a(kind.kind)
                ),
            );
            return None;
        }
        if !index.contains_key(&r) {
            self.error(line(t), format!("fault target {r} is not a resource of this scenario"));
            return None;
        }
        let _ = entries;
        Some(FaultTarget::Object(r))
    }

    fn after_fault(
        &mut self,
        s: Option<&Spanned<String>>,
        fault_count: usize,
        names: &HashMap<String, usize>,
    ) -> Result<Option<usize>, ()> {
        let Some(s) = s else { return Ok(None) };
        if let Ok(i) = s.value.parse::<usize>() {
            if i < fault_count {
                return Ok(Some(i));
            }
            let have = match fault_count {
                0 => "the scenario has no faults".to_string(),
                1 => "the scenario has 1 fault (index 0)".to_string(),
                n => format!("the scenario has {n} faults (indexes 0 to {})", n - 1),
            };
            self.error(line(s), format!("afterFault {i} is out of range: {have}"));
            return Err(());
        }
        match names.get(&s.value) {
            Some(&i) => Ok(Some(i)),
            None => {
                let mut known: Vec<&str> = names.keys().map(String::as_str).collect();
                known.sort_unstable();
                let known = if known.is_empty() {
                    "no fault has a name".to_string()
                } else {
                    format!("fault names: {}", known.join(", "))
                };
                self.error(line(s), format!("afterFault {:?} names no fault ({known})", s.value));
                Err(())
            }
        }
    }

    fn within(&mut self, s: Option<&Spanned<String>>, scenario_duration: Duration) -> Option<Duration> {
        match s {
            None => Some(scenario_duration),
            Some(s) => self.positive_duration(s, "within"),
        }
    }

    pub(super) fn expectations(
        &mut self,
        e: &ExpectationsFile,
        index: &HashMap<ObjectRef, usize>,
        fault_count: usize,
        names: &HashMap<String, usize>,
        scenario_duration: Duration,
    ) -> Expectations {
        let mut out = Expectations::default();
        for raw in &e.alerts {
            let a: &AlertExpectationFile = &raw.value;
            self.alertname(&a.alertname);
            let after = self.after_fault(a.after_fault.as_ref(), fault_count, names);
            let within = self.within(a.within.as_ref(), scenario_duration);
            if let (Ok(after_fault), Some(within)) = (after, within) {
                out.alerts.push(AlertExpectation {
                    alertname: a.alertname.value.clone(),
                    labels: a.labels.clone(),
                    after_fault,
                    within,
                    receiver: a.receiver.clone(),
                    line: self.file_line(line(raw)),
                });
            }
        }
        for raw in &e.not_alerts {
            let a: &NotAlertExpectationFile = &raw.value;
            self.alertname(&a.alertname);
            out.not_alerts.push(NotAlertExpectation {
                alertname: a.alertname.value.clone(),
                labels: a.labels.clone(),
                line: self.file_line(line(raw)),
            });
        }
        for raw in &e.notifications {
            if let Some(n) = self.notification(raw, index, fault_count, names, scenario_duration) {
                out.notifications.push(n);
            }
        }
        out
    }

    fn alertname(&mut self, name: &Spanned<String>) {
        let valid = name.value.starts_with(|c: char| c.is_ascii_alphabetic() || c == '_')
            && name
                .value
                .chars()
                .all(|c| c.is_ascii_alphanumeric() || c == '_' || c == ':');
        if !valid {
            self.error(
                line(name),
                format!("alertname {:?} is not a valid Prometheus alert name", name.value),
            );
        }
    }

    fn notification(
        &mut self,
        raw: &Spanned<NotificationExpectationFile>,
        index: &HashMap<ObjectRef, usize>,
        fault_count: usize,
        names: &HashMap<String, usize>,
        scenario_duration: Duration,
    ) -> Option<NotificationExpectation> {
        let n = &raw.value;
        let object = match parse_object_ref(&n.object.value) {
            Ok(o) if index.contains_key(&o) => Some(o),
            Ok(o) => {
                self.error(
                    line(&n.object),
                    format!("object {o} is not a resource of this scenario"),
                );
                None
            }
            Err(e) => {
                self.error(line(&n.object), format!("object: {e}"));
                None
            }
        };
        let provider = object.as_ref().and_then(|o| {
            let (ns, name) = match n.provider.value.split_once('/') {
                Some((ns, name)) => (ns.to_string(), name.to_string()),
                None => (o.namespace.clone(), n.provider.value.clone()),
            };
            let p = ObjectRef::new("Provider", ns, name);
            if index.contains_key(&p) {
                Some(format!("{}/{}", p.namespace, p.name))
            } else {
                self.error(
                    line(&n.provider),
                    format!(
                        "provider {:?} is not a Provider resource of this scenario (looked for {p})",
                        n.provider.value
                    ),
                );
                None
            }
        });
        let severity = match &n.severity {
            None => Some("error".to_string()),
            Some(s) if s.value == "info" || s.value == "error" => Some(s.value.clone()),
            Some(s) => {
                self.error(line(s), format!("severity must be info or error, not {:?}", s.value));
                None
            }
        };
        let count = match &n.count {
            Some(c) if c.value == 0 => {
                self.error(line(c), "count must be at least 1 (to forbid notifications, leave the Provider out of every Alert)".to_string());
                return None;
            }
            c => c.as_ref().map(|c| c.value),
        };
        let after = self.after_fault(n.after_fault.as_ref(), fault_count, names);
        let within = self.within(n.within.as_ref(), scenario_duration);
        Some(NotificationExpectation {
            count,
            provider: provider?,
            object: object?,
            severity: severity?,
            text: n.text.clone(),
            after_fault: after.ok()?,
            within: within?,
            line: self.file_line(line(raw)),
        })
    }
}
