//! The checks themselves, as pure functions of what was read: one case per object (or per
//! Deployment, per CRD), passed or failed with a message that says why.

use std::collections::HashMap;
use std::time::Duration;

use jiff::Timestamp;
use model::object::RefRole;
use model::{FluxObject, FluxVersion, NotificationEvidence, ObjectRef, Verdict, VerdictInput};
use serde::Serialize;
use serde_json::Value;

use super::config::{CheckId, Config};
use super::install;

#[derive(Debug, Clone, Serialize)]
pub struct Case {
    /// `Kind/namespace/name`, `Deployment/flux-system/<name>` or `CustomResourceDefinition/<name>`.
    pub subject: String,
    pub passed: bool,
    pub message: String,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum Outcome {
    Pass,
    Fail,
    /// Could not tell: something the check needs could not be read.
    Unknown,
}

#[derive(Debug, Clone)]
pub struct CheckResult {
    pub id: CheckId,
    pub cases: Vec<Case>,
    pub error: Option<String>,
}

impl CheckResult {
    pub fn new(id: CheckId) -> Self {
        CheckResult {
            id,
            cases: Vec::new(),
            error: None,
        }
    }

    pub fn outcome(&self) -> Outcome {
        if self.cases.iter().any(|c| !c.passed) {
            Outcome::Fail
        } else if self.error.is_some() {
            Outcome::Unknown
        } else {
            Outcome::Pass
        }
    }

    fn case(&mut self, subject: String, passed: bool, message: String) {
        self.cases.push(Case {
            subject,
            passed,
            message,
        });
    }
}

/// A duration as people say it: 45s, 12m, 2h5m, 3d4h.
pub fn human(d: Duration) -> String {
    let s = d.as_secs();
    match s {
        0..=59 => format!("{s}s"),
        60..=3599 => format!("{}m", s / 60),
        3600..=86_399 => format!("{}h{}m", s / 3600, s % 3600 / 60),
        _ => format!("{}d{}h", s / 86_400, s % 86_400 / 3600),
    }
}

fn age(now: Timestamp, since: Option<Timestamp>) -> Option<Duration> {
    since.map(|t| Duration::from_secs_f64(now.duration_since(t).as_secs_f64().max(0.0)))
}

/// What the object checks read.
pub struct World<'a> {
    pub objects: &'a [Value],
    /// Objects outside the scope that were fetched to follow references.
    pub upstream: &'a HashMap<ObjectRef, Value>,
    pub alerts: &'a [Value],
    pub providers: &'a [Value],
    /// What each Alert and Provider is judged by (their events and references).
    pub notifications: &'a HashMap<ObjectRef, NotificationEvidence>,
    pub now: Timestamp,
    /// `objects` by reference, built on first use: a scan per lookup is quadratic at 100k.
    pub index: std::sync::OnceLock<HashMap<ObjectRef, usize>>,
    /// Alerts by the namespaces their event sources can match (a source names one namespace,
    /// its Alert's by default), so each object is held against its namespace's Alerts only.
    pub alerts_by_namespace: std::sync::OnceLock<HashMap<String, Vec<usize>>>,
}

impl World<'_> {
    /// The Alerts that may match an object of `namespace`, in their listed order.
    fn alerts_for(&self, namespace: &str) -> impl Iterator<Item = &Value> {
        let by_ns = self.alerts_by_namespace.get_or_init(|| {
            let mut by_ns: HashMap<String, Vec<usize>> = HashMap::new();
            for (i, alert) in self.alerts.iter().enumerate() {
                let own = FluxObject::new(alert).namespace().to_string();
                let sources = alert
                    .pointer("/spec/eventSources")
                    .and_then(Value::as_array);
                for source in sources.into_iter().flatten() {
                    let ns = source
                        .get("namespace")
                        .and_then(Value::as_str)
                        .filter(|n| !n.is_empty())
                        .map_or_else(|| own.clone(), str::to_string);
                    let list = by_ns.entry(ns).or_default();
                    if list.last() != Some(&i) {
                        list.push(i);
                    }
                }
            }
            by_ns
        });
        by_ns
            .get(namespace)
            .into_iter()
            .flatten()
            .map(|i| &self.alerts[*i])
    }

    fn find(&self, r: &ObjectRef) -> Option<&Value> {
        let index = self.index.get_or_init(|| {
            self.objects
                .iter()
                .enumerate()
                .map(|(i, o)| (FluxObject::new(o).object_ref(), i))
                .collect()
        });
        index
            .get(r)
            .map(|i| &self.objects[*i])
            .or_else(|| self.upstream.get(r))
    }
}

/// Every per-object check the configuration enables.
pub fn object_checks(world: &World, config: &Config) -> Vec<CheckResult> {
    let mut out = Vec::new();
    for id in CheckId::ALL.into_iter().filter(|c| c.per_object()) {
        let mut result = CheckResult::new(id);
        for obj in world.objects {
            let Some(settings) = config.for_object(id, obj) else {
                continue;
            };
            let o = FluxObject::new(obj);
            let subject = o.object_ref().to_string();
            let verdict = match id {
                CheckId::NotReady => not_ready(&o, settings.after, world.now),
                CheckId::Stalled => stalled(&o, settings.after, world.now),
                CheckId::Suspended => suspended(&o, obj, settings.after, world.now),
                CheckId::Stale => stale(&o, obj, settings.factor, world.now),
                CheckId::RevisionDrift => drift(&o, world, settings.after),
                CheckId::NotificationCoverage => coverage(obj, world),
                CheckId::Controllers | CheckId::CrdVersions => continue,
            };
            result.case(subject, verdict.0, verdict.1);
        }
        out.push(result);
    }
    out
}

type Verdict2 = (bool, String);

fn not_ready(o: &FluxObject, after: Duration, now: Timestamp) -> Verdict2 {
    if o.suspended() {
        return (true, "suspended: judged by the suspended check".into());
    }
    match o.ready() {
        Some(c) if c.is_true() => (true, "Ready".into()),
        ready => {
            let since = ready
                .as_ref()
                .and_then(|c| c.last_transition_time)
                .or_else(|| o.creation_timestamp());
            let (reason, message) = ready.map_or(
                (
                    "NoReadyCondition".to_string(),
                    "waiting to be reconciled".to_string(),
                ),
                |c| (c.reason, c.message),
            );
            match age(now, since) {
                Some(a) if a > after => (
                    false,
                    format!("not Ready for {} ({reason}): {message}", human(a)),
                ),
                Some(a) => (
                    true,
                    format!(
                        "not Ready for {}, within {} ({reason})",
                        human(a),
                        human(after)
                    ),
                ),
                None => (
                    false,
                    format!("not Ready since an unknown time ({reason}): {message}"),
                ),
            }
        }
    }
}

fn stalled(o: &FluxObject, after: Duration, now: Timestamp) -> Verdict2 {
    match o.condition("Stalled").filter(|c| c.is_true()) {
        None => (true, "not Stalled".into()),
        Some(c) => match age(now, c.last_transition_time) {
            Some(a) if a < after => (
                true,
                format!("Stalled for {}, within {}", human(a), human(after)),
            ),
            a => (
                false,
                format!(
                    "Stalled{} ({}): {}",
                    a.map(|a| format!(" for {}", human(a))).unwrap_or_default(),
                    c.reason,
                    c.message
                ),
            ),
        },
    }
}

fn suspended(o: &FluxObject, obj: &Value, after: Duration, now: Timestamp) -> Verdict2 {
    if !o.suspended() {
        return (true, "not suspended".into());
    }
    match age(now, model::managed_fields::suspended_at(obj)) {
        Some(a) if a > after => (
            false,
            format!("suspended for {} (longer than {})", human(a), human(after)),
        ),
        Some(a) => (
            true,
            format!("suspended for {}, within {}", human(a), human(after)),
        ),
        None => (
            false,
            "suspended since an unknown time (no managedFields entry for spec.suspend)".into(),
        ),
    }
}

fn stale(o: &FluxObject, obj: &Value, factor: f64, now: Timestamp) -> Verdict2 {
    if o.suspended() {
        return (true, "suspended: judged by the suspended check".into());
    }
    let input = VerdictInput {
        now,
        stale_factor: factor,
        suspended_at: None,
        spec_changed_at: model::managed_fields::spec_changed_at(obj),
        last_reconcile_at: None,
        notification: None,
    };
    let j = model::judge(o, &input);
    if j.verdict == Verdict::Stale {
        let since = age(now, j.since)
            .map(|a| format!(" for {}", human(a)))
            .unwrap_or_default();
        (false, format!("stale{since} ({}): {}", j.reason, j.message))
    } else {
        (true, format!("not stale ({})", j.verdict))
    }
}

/// The revision a Kustomization/HelmRelease applied against its source's artifact revision.
fn drift(o: &FluxObject, world: &World, after: Duration) -> Verdict2 {
    if o.suspended() {
        return (true, "suspended: judged by the suspended check".into());
    }
    let role = if o.kind() == "HelmRelease" {
        RefRole::Chart
    } else {
        RefRole::Source
    };
    let Some(source_ref) = o
        .references()
        .into_iter()
        .find(|r| r.role == role)
        .map(|r| r.target)
    else {
        return (true, "no source reference".into());
    };
    let Some(source) = world.find(&source_ref) else {
        return (true, format!("source {source_ref} not read"));
    };
    let s = FluxObject::new(source);
    let Some(artifact) = s.revision() else {
        return (
            true,
            format!("source {source_ref} has no artifact yet (the not-ready check covers it)"),
        );
    };
    let Some(applied) = o.revision() else {
        return (
            true,
            "nothing applied yet (the not-ready check covers it)".into(),
        );
    };
    let same = applied == artifact
        || (o.kind() == "HelmRelease" && artifact.starts_with(&format!("{applied}+")));
    if same {
        return (true, format!("applied {artifact}"));
    }
    let since: Option<Timestamp> = source
        .pointer("/status/artifact/lastUpdateTime")
        .and_then(Value::as_str)
        .and_then(|t| t.parse().ok());
    let applied_text = applied;
    match age(world.now, since) {
        Some(a) if a <= after => (
            true,
            format!(
                "applied {applied_text}; {source_ref} has {artifact} since {} (within {})",
                human(a),
                human(after)
            ),
        ),
        a => (
            false,
            format!(
                "applied {applied_text}, behind {source_ref} at {artifact}{}",
                a.map(|a| format!(" for {}", human(a)))
                    .unwrap_or_else(|| " (since an unknown time)".into())
            ),
        ),
    }
}

/// An Alert or Provider judged by its events and references.
fn judged(obj: &Value, world: &World) -> model::Judgement {
    let o = FluxObject::new(obj);
    let input = VerdictInput {
        notification: world.notifications.get(&o.object_ref()),
        ..VerdictInput::at(world.now)
    };
    model::judge(&o, &input)
}

/// Whether a non-suspended Alert that passes error events, with an existing, non-suspended
/// Provider, neither of them Failing (no dispatch failure in the window, no missing Secret),
/// matches the object.
fn coverage(obj: &Value, world: &World) -> Verdict2 {
    let mut reasons = Vec::new();
    for alert in world.alerts_for(FluxObject::new(obj).namespace()) {
        if !model::notification::alert_matches(alert, obj, "error") {
            continue;
        }
        let a = FluxObject::new(alert);
        let name = alert
            .pointer("/spec/providerRef/name")
            .and_then(Value::as_str)
            .unwrap_or("");
        let provider = world.providers.iter().find(|p| {
            let p = FluxObject::new(p);
            p.name() == name && p.namespace() == a.namespace()
        });
        match provider {
            Some(p) if !FluxObject::new(p).suspended() => {
                let (alert_j, provider_j) = (judged(alert, world), judged(p, world));
                if alert_j.verdict == Verdict::Failing {
                    reasons.push(format!(
                        "Alert {}/{} is Failing ({}): {}",
                        a.namespace(),
                        a.name(),
                        alert_j.reason,
                        alert_j.message
                    ));
                    continue;
                }
                if provider_j.verdict == Verdict::Failing {
                    reasons.push(format!(
                        "Alert {}/{} uses Provider {name}, which is Failing ({}): {}",
                        a.namespace(),
                        a.name(),
                        provider_j.reason,
                        provider_j.message
                    ));
                    continue;
                }
                let unconfirmed = [&alert_j, &provider_j]
                    .into_iter()
                    .find(|j| j.verdict == Verdict::Unknown)
                    .map(|j| format!(" (delivery not confirmed: {})", j.message))
                    .unwrap_or_default();
                return (
                    true,
                    format!(
                        "Alert {}/{} -> Provider {name}: {}{unconfirmed}",
                        a.namespace(),
                        a.name(),
                        provider_j.message
                    ),
                );
            }
            Some(_) => reasons.push(format!(
                "Alert {}/{} uses suspended Provider {name}",
                a.namespace(),
                a.name()
            )),
            None => reasons.push(format!(
                "Alert {}/{} names missing Provider {name}",
                a.namespace(),
                a.name()
            )),
        }
    }
    if reasons.is_empty() {
        (
            false,
            "no Alert delivers its error events (none matches it, or they are suspended)".into(),
        )
    } else {
        (
            false,
            format!("no Alert delivers its error events: {}", reasons.join("; ")),
        )
    }
}

/// The controllers check: one case per Flux Deployment.
pub fn controllers(deployments: &[Value], namespace: &str) -> CheckResult {
    let mut r = CheckResult::new(CheckId::Controllers);
    if deployments.is_empty() {
        r.case(
            format!("Deployment/{namespace}/*"),
            false,
            format!(
                "no Deployment labelled app.kubernetes.io/part-of=flux in namespace {namespace}"
            ),
        );
    }
    for d in deployments {
        let name = d
            .pointer("/metadata/name")
            .and_then(Value::as_str)
            .unwrap_or("");
        let subject = format!("Deployment/{namespace}/{name}");
        match install::deployment_problem(d) {
            None => r.case(subject, true, "Available".into()),
            Some(p) => r.case(subject, false, p),
        }
    }
    r
}

/// The CRD versions check: one case per Flux CRD, judged for `release`.
pub fn crd_versions(crds: &[Value], release: FluxVersion) -> CheckResult {
    let mut r = CheckResult::new(CheckId::CrdVersions);
    for crd in crds {
        let name = crd
            .pointer("/metadata/name")
            .and_then(Value::as_str)
            .unwrap_or("");
        let problems = install::crd_problems(crd, release);
        let subject = format!("CustomResourceDefinition/{name}");
        if problems.is_empty() {
            r.case(
                subject,
                true,
                format!("stores the version Flux {release} prefers"),
            );
        } else {
            r.case(subject, false, problems.join("; "));
        }
    }
    r
}
