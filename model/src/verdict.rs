//! The health verdict of one Flux object: Ready, Progressing, Failing, Stalled, Suspended, Stale
//! or Unknown, with since when and why. Pure: the caller passes the clock and whatever it knows
//! from outside the object (managedFields times, metrics).

use std::time::Duration;

use jiff::Timestamp;
use serde::{Deserialize, Serialize};

use crate::object::FluxObject;

#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
pub enum Verdict {
    Ready,
    Progressing,
    Failing,
    Stalled,
    Suspended,
    Stale,
    Unknown,
}

impl Verdict {
    pub const ALL: [Verdict; 7] = [
        Verdict::Ready,
        Verdict::Progressing,
        Verdict::Failing,
        Verdict::Stalled,
        Verdict::Suspended,
        Verdict::Stale,
        Verdict::Unknown,
    ];

    pub fn as_str(self) -> &'static str {
        match self {
            Verdict::Ready => "Ready",
            Verdict::Progressing => "Progressing",
            Verdict::Failing => "Failing",
            Verdict::Stalled => "Stalled",
            Verdict::Suspended => "Suspended",
            Verdict::Stale => "Stale",
            Verdict::Unknown => "Unknown",
        }
    }

    /// Whether this verdict is a problem someone should look at. Progressing is not: Flux is at
    /// work. Suspended is: a suspended object no longer follows Git.
    pub fn is_problem(self) -> bool {
        !matches!(self, Verdict::Ready | Verdict::Progressing)
    }

    /// Whether objects downstream of this one are blocked by it.
    pub fn blocks_dependents(self) -> bool {
        matches!(self, Verdict::Failing | Verdict::Stalled | Verdict::Unknown)
    }
}

impl std::fmt::Display for Verdict {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.as_str())
    }
}

/// What the verdict needs beyond the object itself.
#[derive(Debug, Clone, Copy)]
pub struct VerdictInput {
    pub now: Timestamp,
    /// An object is Stale when it lags for longer than `stale_factor` times its interval.
    pub stale_factor: f64,
    /// When spec.suspend was last written (managedFields), for "suspended since".
    pub suspended_at: Option<Timestamp>,
    /// When the spec was last written (managedFields), for "observedGeneration lags since".
    pub spec_changed_at: Option<Timestamp>,
    /// The last reconcile seen in metrics (gotk_reconcile_duration_seconds), when known.
    pub last_reconcile_at: Option<Timestamp>,
}

impl VerdictInput {
    pub fn at(now: Timestamp) -> Self {
        Self { now, stale_factor: 3.0, suspended_at: None, spec_changed_at: None, last_reconcile_at: None }
    }
}

/// A verdict with its evidence.
#[derive(Debug, Clone, PartialEq)]
pub struct Judgement {
    pub verdict: Verdict,
    pub since: Option<Timestamp>,
    pub reason: String,
    pub message: String,
}

/// Judges one object.
pub fn judge(obj: &FluxObject<'_>, input: &VerdictInput) -> Judgement {
    let ready = obj.ready();
    let since_ready = ready.as_ref().and_then(|c| c.last_transition_time);
    let (ready_reason, ready_message) = ready
        .as_ref()
        .map(|c| (c.reason.clone(), c.message.clone()))
        .unwrap_or_default();

    if obj.suspended() {
        return Judgement {
            verdict: Verdict::Suspended,
            since: input.suspended_at,
            reason: "Suspended".into(),
            message: "reconciliation is suspended".into(),
        };
    }
    if obj.info().is_some_and(|i| !i.has_status) {
        return Judgement {
            verdict: Verdict::Ready,
            since: obj.creation_timestamp(),
            reason: "NoStatus".into(),
            message: format!("{} has no status; it is ready when created", obj.kind()),
        };
    }

    let limit = obj
        .interval()
        .map(|i| Duration::from_secs_f64(i.as_secs_f64() * input.stale_factor));
    let older_than_limit = |t: Option<Timestamp>| match (t, limit) {
        (Some(t), Some(limit)) => input.now.duration_since(t).as_secs_f64() > limit.as_secs_f64(),
        _ => false,
    };
    let interval_text = obj.interval_raw().unwrap_or("?");
    let factor = input.stale_factor;

    if let Some(stalled) = obj.condition("Stalled").filter(|c| c.is_true()) {
        return Judgement {
            verdict: Verdict::Stalled,
            since: stalled.last_transition_time.or(since_ready),
            reason: stalled.reason,
            message: if stalled.message.is_empty() { ready_message } else { stalled.message },
        };
    }

    // Staleness: the controller has not caught up with the spec, is stuck reconciling, or
    // (from metrics) has not reconciled at all, for longer than k intervals.
    // The controller has not caught up with the spec when neither status.observedGeneration nor
    // the Ready condition's observedGeneration reached metadata.generation. A failing object is
    // Failing, not Stale: Flux writes its conditions (at the current generation) on every attempt.
    let observed = obj.observed_generation().max(ready.as_ref().and_then(|c| c.observed_generation));
    let lagging = matches!((obj.generation(), observed), (Some(g), Some(o)) if o < g)
        && !ready.as_ref().is_some_and(|c| c.is_false());
    if lagging {
        let from = input.spec_changed_at.or(since_ready);
        if older_than_limit(from) {
            return Judgement {
                verdict: Verdict::Stale,
                since: from,
                reason: "ObservedGenerationLag".into(),
                message: format!(
                    "observedGeneration {} behind generation {} for more than {factor}x interval {interval_text}",
                    obj.observed_generation().map_or("none".into(), |g| g.to_string()),
                    obj.generation().unwrap_or_default()
                ),
            };
        }
    }
    // Stuck in progress: Ready has been Unknown while reconciling for longer than k intervals.
    // (Reconciling's own transition time is no clock for this: it stays True across retries.)
    let reconciling = obj.condition("Reconciling").is_some_and(|c| c.is_true());
    if let Some(r) = ready.as_ref().filter(|c| reconciling && !c.is_true() && !c.is_false()) {
        if older_than_limit(r.last_transition_time) {
            return Judgement {
                verdict: Verdict::Stale,
                since: r.last_transition_time,
                reason: "ReconcileStuck".into(),
                message: format!("reconciliation in progress for more than {factor}x interval {interval_text}"),
            };
        }
    }
    if input.last_reconcile_at.is_some() && older_than_limit(input.last_reconcile_at) {
        return Judgement {
            verdict: Verdict::Stale,
            since: input.last_reconcile_at,
            reason: "NoRecentReconcile".into(),
            message: format!("no reconcile for more than {factor}x interval {interval_text}"),
        };
    }

    match ready {
        None => Judgement {
            verdict: Verdict::Unknown,
            since: obj.creation_timestamp(),
            reason: "NoReadyCondition".into(),
            message: "waiting to be reconciled".into(),
        },
        Some(c) if c.is_true() => {
            Judgement { verdict: Verdict::Ready, since: since_ready, reason: ready_reason, message: ready_message }
        }
        Some(c) if c.is_false() => {
            Judgement { verdict: Verdict::Failing, since: since_ready, reason: ready_reason, message: ready_message }
        }
        Some(_) => Judgement {
            verdict: if obj.condition("Reconciling").is_some_and(|c| c.is_true()) {
                Verdict::Progressing
            } else {
                Verdict::Unknown
            },
            since: since_ready,
            reason: ready_reason,
            message: ready_message,
        },
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::{json, Value};

    fn ks(status: Value, generation: i64) -> Value {
        json!({"apiVersion": "kustomize.toolkit.fluxcd.io/v1", "kind": "Kustomization",
               "metadata": {"name": "apps", "namespace": "flux-system", "generation": generation,
                            "creationTimestamp": "2025-01-01T00:00:00Z"},
               "spec": {"interval": "10m"}, "status": status})
    }
    fn now() -> Timestamp {
        "2025-01-01T12:00:00Z".parse().unwrap()
    }
    fn cond(t: &str, s: &str, reason: &str, at: &str) -> Value {
        json!({"type": t, "status": s, "reason": reason, "message": "m", "lastTransitionTime": at})
    }

    #[test]
    fn ready_failing_stalled() {
        let ok = ks(json!({"observedGeneration": 1, "conditions": [cond("Ready", "True", "ReconciliationSucceeded", "2025-01-01T11:00:00Z")]}), 1);
        assert_eq!(judge(&FluxObject::new(&ok), &VerdictInput::at(now())).verdict, Verdict::Ready);
        let bad = ks(json!({"observedGeneration": 1, "conditions": [cond("Ready", "False", "BuildFailed", "2025-01-01T11:00:00Z")]}), 1);
        let j = judge(&FluxObject::new(&bad), &VerdictInput::at(now()));
        assert_eq!((j.verdict, j.reason.as_str()), (Verdict::Failing, "BuildFailed"));
        let stalled = ks(json!({"observedGeneration": 1, "conditions": [
            cond("Ready", "False", "RetriesExceeded", "2025-01-01T11:00:00Z"),
            cond("Stalled", "True", "RetriesExceeded", "2025-01-01T11:30:00Z")]}), 1);
        let j = judge(&FluxObject::new(&stalled), &VerdictInput::at(now()));
        assert_eq!(j.verdict, Verdict::Stalled);
        assert_eq!(j.since.unwrap().to_string(), "2025-01-01T11:30:00Z");
    }

    #[test]
    fn stale_only_after_k_intervals() {
        let lag = ks(json!({"observedGeneration": 1, "conditions": [cond("Ready", "True", "ReconciliationSucceeded", "2025-01-01T11:00:00Z")]}), 2);
        let mut input = VerdictInput::at(now());
        input.spec_changed_at = Some("2025-01-01T11:45:00Z".parse().unwrap());
        assert_eq!(judge(&FluxObject::new(&lag), &input).verdict, Verdict::Ready, "15m < 3x10m");
        input.spec_changed_at = Some("2025-01-01T11:00:00Z".parse().unwrap());
        assert_eq!(judge(&FluxObject::new(&lag), &input).verdict, Verdict::Stale, "60m > 3x10m");
        let mut metrics = VerdictInput::at(now());
        let ok = ks(json!({"observedGeneration": 1, "conditions": [cond("Ready", "True", "ReconciliationSucceeded", "2025-01-01T11:00:00Z")]}), 1);
        metrics.last_reconcile_at = Some("2025-01-01T10:00:00Z".parse().unwrap());
        assert_eq!(judge(&FluxObject::new(&ok), &metrics).verdict, Verdict::Stale);
    }

    #[test]
    fn failing_beats_stale_while_flux_retries() {
        // Flux keeps Reconciling=True ProgressingWithRetry on a failing object and sets
        // observedGeneration only on success: that is Failing, however long it lasts.
        let in_progress_again = ks(json!({"observedGeneration": 3, "conditions": [
            cond("Ready", "Unknown", "Progressing", "2025-01-01T11:59:00Z"),
            cond("Reconciling", "True", "Progressing", "2025-01-01T08:00:00Z")]}), 3);
        assert_eq!(judge(&FluxObject::new(&in_progress_again), &VerdictInput::at(now())).verdict, Verdict::Progressing);
        let stuck = ks(json!({"observedGeneration": 3, "conditions": [
            cond("Ready", "Unknown", "Progressing", "2025-01-01T08:00:00Z"),
            cond("Reconciling", "True", "Progressing", "2025-01-01T08:00:00Z")]}), 3);
        assert_eq!(judge(&FluxObject::new(&stuck), &VerdictInput::at(now())).verdict, Verdict::Stale);
        let retrying = ks(json!({"conditions": [
            cond("Ready", "False", "AuthenticationFailed", "2025-01-01T08:00:00Z"),
            cond("Reconciling", "True", "ProgressingWithRetry", "2025-01-01T08:00:00Z")]}), 3);
        let j = judge(&FluxObject::new(&retrying), &VerdictInput::at(now()));
        assert_eq!((j.verdict, j.reason.as_str()), (Verdict::Failing, "AuthenticationFailed"));
    }

    #[test]
    fn progressing_and_unknown_and_suspended() {
        let rec = ks(json!({"observedGeneration": 1, "conditions": [
            cond("Ready", "Unknown", "Progressing", "2025-01-01T11:58:00Z"),
            cond("Reconciling", "True", "Progressing", "2025-01-01T11:58:00Z")]}), 1);
        assert_eq!(judge(&FluxObject::new(&rec), &VerdictInput::at(now())).verdict, Verdict::Progressing);
        let fresh = ks(json!({}), 1);
        assert_eq!(judge(&FluxObject::new(&fresh), &VerdictInput::at(now())).verdict, Verdict::Unknown);
        let mut sus = ks(json!({}), 1);
        sus["spec"]["suspend"] = json!(true);
        let mut input = VerdictInput::at(now());
        input.suspended_at = Some("2025-01-01T09:00:00Z".parse().unwrap());
        let j = judge(&FluxObject::new(&sus), &input);
        assert_eq!(j.verdict, Verdict::Suspended);
        assert_eq!(j.since, input.suspended_at);
    }
}
