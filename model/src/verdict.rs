//! The health verdict of one Flux object: Ready, Progressing, Failing, Stalled, Suspended, Stale
//! or Unknown, with since when and why. Pure: the caller passes the clock and whatever it knows
//! from outside the object (managedFields times, metrics, and for Alerts and Providers, which
//! have no status, the Warning events notification-controller recorded and the references that
//! do not resolve).

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
pub struct VerdictInput<'a> {
    pub now: Timestamp,
    /// An object is Stale when it lags for longer than `stale_factor` times its interval.
    pub stale_factor: f64,
    /// When spec.suspend was last written (managedFields), for "suspended since".
    pub suspended_at: Option<Timestamp>,
    /// When the spec was last written (managedFields), for "observedGeneration lags since".
    pub spec_changed_at: Option<Timestamp>,
    /// The last reconcile seen in metrics (gotk_reconcile_duration_seconds), when known.
    pub last_reconcile_at: Option<Timestamp>,
    /// For an Alert or a Provider: what its events and references say. `None` for other kinds,
    /// and for an Alert or Provider when nothing was read about it (its verdict is then Unknown).
    pub notification: Option<&'a NotificationEvidence>,
}

impl VerdictInput<'static> {
    pub fn at(now: Timestamp) -> Self {
        Self {
            now,
            stale_factor: 3.0,
            suspended_at: None,
            spec_changed_at: None,
            last_reconcile_at: None,
            notification: None,
        }
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

/// Judges one object. A suspended object is Suspended, and keeps the message (and reason) of its
/// last Ready condition, so the row still says why it was last failing or ready.
pub fn judge(obj: &FluxObject<'_>, input: &VerdictInput<'_>) -> Judgement {
    let notification_kind = obj.info().is_some_and(|i| !i.has_status);
    if obj.suspended() {
        let (reason, message) = if notification_kind {
            let j = judge_notification(obj, input);
            (j.reason, j.message)
        } else {
            obj.ready()
                .filter(|c| !c.message.is_empty())
                .map(|c| (c.reason, c.message))
                .unwrap_or_else(|| ("Suspended".into(), "reconciliation is suspended".into()))
        };
        return Judgement {
            verdict: Verdict::Suspended,
            since: input.suspended_at,
            reason,
            message,
        };
    }
    if notification_kind {
        return judge_notification(obj, input);
    }
    judge_reconciled(obj, input)
}

/// Objects that a controller reconciles and reports on in `status.conditions`.
fn judge_reconciled(obj: &FluxObject<'_>, input: &VerdictInput<'_>) -> Judgement {
    let ready = obj.ready();
    let since_ready = ready.as_ref().and_then(|c| c.last_transition_time);
    let (ready_reason, ready_message) = ready
        .as_ref()
        .map(|c| (c.reason.clone(), c.message.clone()))
        .unwrap_or_default();

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
            message: if stalled.message.is_empty() {
                ready_message
            } else {
                stalled.message
            },
        };
    }

    // Staleness: the controller has not caught up with the spec, is stuck reconciling, or
    // (from metrics) has not reconciled at all, for longer than k intervals.
    // The controller has not caught up with the spec when neither status.observedGeneration nor
    // the Ready condition's observedGeneration reached metadata.generation. A failing object is
    // Failing, not Stale: Flux writes its conditions (at the current generation) on every attempt.
    let observed = obj
        .observed_generation()
        .max(ready.as_ref().and_then(|c| c.observed_generation));
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
    if let Some(r) = ready
        .as_ref()
        .filter(|c| reconciling && !c.is_true() && !c.is_false())
    {
        if older_than_limit(r.last_transition_time) {
            return Judgement {
                verdict: Verdict::Stale,
                since: r.last_transition_time,
                reason: "ReconcileStuck".into(),
                message: format!(
                    "reconciliation in progress for more than {factor}x interval {interval_text}"
                ),
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
        Some(c) if c.is_true() => Judgement {
            verdict: Verdict::Ready,
            since: since_ready,
            reason: ready_reason,
            message: ready_message,
        },
        Some(c) if c.is_false() => Judgement {
            verdict: Verdict::Failing,
            since: since_ready,
            reason: ready_reason,
            message: ready_message,
        },
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

/// Warning reasons notification-controller records on an Alert when an event was not delivered
/// (v1.9.3 `internal/server/event_handlers.go`): the Provider could not be read or built or the
/// POST failed (`NotificationDispatchFailed`), a regex or `matchLabels` is invalid
/// (`InvalidConfig`), or the involved object could not be read for `matchLabels`
/// (`SourceFetchFailed`). `MetadataAppendFailed` is not among them: the notification still goes.
pub const ALERT_FAILURE_REASONS: [&str; 3] = [
    "NotificationDispatchFailed",
    "InvalidConfig",
    "SourceFetchFailed",
];

/// One Warning event (possibly aggregated) about an Alert, as the verdict of an Alert or of the
/// Provider it uses reads it. The message is redacted by whoever read it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct NotificationWarning {
    /// The Alert the event is about, `namespace/name`.
    pub alert: String,
    pub reason: String,
    pub message: String,
    pub first_seen: Option<Timestamp>,
    pub last_seen: Timestamp,
    /// How many times it happened (the event's count, or its series count).
    pub count: u32,
}

/// What is known of an Alert or a Provider from outside it. notification-controller gives them
/// no status: what went wrong shows only as Warning events, always recorded on the Alert (a
/// Provider's failures are read from the events of the Alerts that use it), and as references
/// that do not resolve.
#[derive(Debug, Clone, PartialEq, Default)]
pub struct NotificationEvidence {
    /// How far back warnings were read.
    pub window: Duration,
    /// Failures known without any event: `(reason, message)`, e.g. a providerRef or a Secret that
    /// does not exist. notification-controller fails every dispatch through them.
    pub broken: Vec<(String, String)>,
    /// Warnings in the window that mean an event was not delivered, oldest first.
    pub failures: Vec<NotificationWarning>,
    /// Other Warning events in the window (`MetadataAppendFailed`, ...), oldest first.
    pub notices: Vec<NotificationWarning>,
    /// Why events could not be read, when they could not.
    pub events_error: Option<String>,
}

/// A window as people say it: `1h`, `30m`, `1h30m`, `45s`.
pub fn format_window(d: Duration) -> String {
    let s = d.as_secs();
    let (h, m, sec) = (s / 3600, s % 3600 / 60, s % 60);
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

/// Alerts and Providers: Failing on a broken reference or a recent failure, Ready when the
/// window holds none (said as exactly that), Unknown when nothing could be read.
fn judge_notification(obj: &FluxObject<'_>, input: &VerdictInput<'_>) -> Judgement {
    let Some(ev) = input.notification else {
        return Judgement {
            verdict: Verdict::Unknown,
            since: None,
            reason: "NotRead".into(),
            message: format!(
                "{} has no status and its events were not read: notification-controller reports its failures only as events",
                obj.kind()
            ),
        };
    };
    let first_failure = ev
        .failures
        .iter()
        .filter_map(|w| w.first_seen.or(Some(w.last_seen)))
        .min();
    if let Some((reason, message)) = ev.broken.first() {
        return Judgement {
            verdict: Verdict::Failing,
            since: first_failure,
            reason: reason.clone(),
            message: message.clone(),
        };
    }
    if let Some(latest) = ev.failures.iter().max_by_key(|w| w.last_seen) {
        return Judgement {
            verdict: Verdict::Failing,
            since: first_failure,
            reason: latest.reason.clone(),
            message: latest.message.clone(),
        };
    }
    if let Some(e) = &ev.events_error {
        return Judgement {
            verdict: Verdict::Unknown,
            since: None,
            reason: "EventsUnreadable".into(),
            message: format!(
                "cannot read its events, where notification-controller reports failures: {e}"
            ),
        };
    }
    let window = format_window(ev.window);
    let mut message = match obj.kind() {
        "Provider" => format!("no dispatch failure on the Alerts using it in the last {window}"),
        _ => format!("no dispatch failure in the last {window}"),
    };
    if let Some(n) = ev.notices.iter().max_by_key(|w| w.last_seen) {
        message.push_str(&format!(" (last warning: {}: {})", n.reason, n.message));
    }
    Judgement {
        verdict: Verdict::Ready,
        since: obj.creation_timestamp(),
        reason: "NoDispatchFailure".into(),
        message,
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
        let ok = ks(
            json!({"observedGeneration": 1, "conditions": [cond("Ready", "True", "ReconciliationSucceeded", "2025-01-01T11:00:00Z")]}),
            1,
        );
        assert_eq!(
            judge(&FluxObject::new(&ok), &VerdictInput::at(now())).verdict,
            Verdict::Ready
        );
        let bad = ks(
            json!({"observedGeneration": 1, "conditions": [cond("Ready", "False", "BuildFailed", "2025-01-01T11:00:00Z")]}),
            1,
        );
        let j = judge(&FluxObject::new(&bad), &VerdictInput::at(now()));
        assert_eq!(
            (j.verdict, j.reason.as_str()),
            (Verdict::Failing, "BuildFailed")
        );
        let stalled = ks(
            json!({"observedGeneration": 1, "conditions": [
            cond("Ready", "False", "RetriesExceeded", "2025-01-01T11:00:00Z"),
            cond("Stalled", "True", "RetriesExceeded", "2025-01-01T11:30:00Z")]}),
            1,
        );
        let j = judge(&FluxObject::new(&stalled), &VerdictInput::at(now()));
        assert_eq!(j.verdict, Verdict::Stalled);
        assert_eq!(j.since.unwrap().to_string(), "2025-01-01T11:30:00Z");
    }

    #[test]
    fn stale_only_after_k_intervals() {
        let lag = ks(
            json!({"observedGeneration": 1, "conditions": [cond("Ready", "True", "ReconciliationSucceeded", "2025-01-01T11:00:00Z")]}),
            2,
        );
        let mut input = VerdictInput::at(now());
        input.spec_changed_at = Some("2025-01-01T11:45:00Z".parse().unwrap());
        assert_eq!(
            judge(&FluxObject::new(&lag), &input).verdict,
            Verdict::Ready,
            "15m < 3x10m"
        );
        input.spec_changed_at = Some("2025-01-01T11:00:00Z".parse().unwrap());
        assert_eq!(
            judge(&FluxObject::new(&lag), &input).verdict,
            Verdict::Stale,
            "60m > 3x10m"
        );
        let mut metrics = VerdictInput::at(now());
        let ok = ks(
            json!({"observedGeneration": 1, "conditions": [cond("Ready", "True", "ReconciliationSucceeded", "2025-01-01T11:00:00Z")]}),
            1,
        );
        metrics.last_reconcile_at = Some("2025-01-01T10:00:00Z".parse().unwrap());
        assert_eq!(
            judge(&FluxObject::new(&ok), &metrics).verdict,
            Verdict::Stale
        );
    }

    #[test]
    fn failing_beats_stale_while_flux_retries() {
        // Flux keeps Reconciling=True ProgressingWithRetry on a failing object and sets
        // observedGeneration only on success: that is Failing, however long it lasts.
        let in_progress_again = ks(
            json!({"observedGeneration": 3, "conditions": [
            cond("Ready", "Unknown", "Progressing", "2025-01-01T11:59:00Z"),
            cond("Reconciling", "True", "Progressing", "2025-01-01T08:00:00Z")]}),
            3,
        );
        assert_eq!(
            judge(
                &FluxObject::new(&in_progress_again),
                &VerdictInput::at(now())
            )
            .verdict,
            Verdict::Progressing
        );
        let stuck = ks(
            json!({"observedGeneration": 3, "conditions": [
            cond("Ready", "Unknown", "Progressing", "2025-01-01T08:00:00Z"),
            cond("Reconciling", "True", "Progressing", "2025-01-01T08:00:00Z")]}),
            3,
        );
        assert_eq!(
            judge(&FluxObject::new(&stuck), &VerdictInput::at(now())).verdict,
            Verdict::Stale
        );
        let retrying = ks(
            json!({"conditions": [
            cond("Ready", "False", "AuthenticationFailed", "2025-01-01T08:00:00Z"),
            cond("Reconciling", "True", "ProgressingWithRetry", "2025-01-01T08:00:00Z")]}),
            3,
        );
        let j = judge(&FluxObject::new(&retrying), &VerdictInput::at(now()));
        assert_eq!(
            (j.verdict, j.reason.as_str()),
            (Verdict::Failing, "AuthenticationFailed")
        );
    }

    #[test]
    fn progressing_and_unknown_and_suspended() {
        let rec = ks(
            json!({"observedGeneration": 1, "conditions": [
            cond("Ready", "Unknown", "Progressing", "2025-01-01T11:58:00Z"),
            cond("Reconciling", "True", "Progressing", "2025-01-01T11:58:00Z")]}),
            1,
        );
        assert_eq!(
            judge(&FluxObject::new(&rec), &VerdictInput::at(now())).verdict,
            Verdict::Progressing
        );
        let fresh = ks(json!({}), 1);
        assert_eq!(
            judge(&FluxObject::new(&fresh), &VerdictInput::at(now())).verdict,
            Verdict::Unknown
        );
        let mut sus = ks(json!({}), 1);
        sus["spec"]["suspend"] = json!(true);
        let mut input = VerdictInput::at(now());
        input.suspended_at = Some("2025-01-01T09:00:00Z".parse().unwrap());
        let j = judge(&FluxObject::new(&sus), &input);
        assert_eq!(j.verdict, Verdict::Suspended);
        assert_eq!(j.since, input.suspended_at);
    }

    #[test]
    fn suspended_keeps_the_ready_message() {
        let mut failing = ks(
            json!({"observedGeneration": 1, "conditions": [
            {"type": "Ready", "status": "False", "reason": "BuildFailed", "message": "kustomize build failed: missing resource",
             "lastTransitionTime": "2025-01-01T11:00:00Z"}]}),
            2,
        );
        failing["spec"]["suspend"] = json!(true);
        let j = judge(&FluxObject::new(&failing), &VerdictInput::at(now()));
        assert_eq!(j.verdict, Verdict::Suspended);
        assert_eq!(
            (j.reason.as_str(), j.message.as_str()),
            ("BuildFailed", "kustomize build failed: missing resource")
        );
        let mut never = ks(json!({}), 1);
        never["spec"]["suspend"] = json!(true);
        let j = judge(&FluxObject::new(&never), &VerdictInput::at(now()));
        assert_eq!(
            (j.verdict, j.message.as_str()),
            (Verdict::Suspended, "reconciliation is suspended")
        );
    }

    fn alert(suspend: bool) -> Value {
        json!({"apiVersion": "notification.toolkit.fluxcd.io/v1beta3", "kind": "Alert",
               "metadata": {"name": "on-call", "namespace": "flux-system", "creationTimestamp": "2025-01-01T00:00:00Z"},
               "spec": {"providerRef": {"name": "slack"}, "eventSources": [{"kind": "Kustomization", "name": "*"}], "suspend": suspend}})
    }

    fn warning(
        reason: &str,
        message: &str,
        first: &str,
        last: &str,
        count: u32,
    ) -> NotificationWarning {
        NotificationWarning {
            alert: "flux-system/on-call".into(),
            reason: reason.into(),
            message: message.into(),
            first_seen: Some(first.parse().unwrap()),
            last_seen: last.parse().unwrap(),
            count,
        }
    }

    fn with(ev: &NotificationEvidence) -> VerdictInput<'_> {
        VerdictInput {
            notification: Some(ev),
            ..VerdictInput::at(now())
        }
    }

    #[test]
    fn alerts_are_judged_by_their_events_and_references() {
        let a = alert(false);
        let j = judge(&FluxObject::new(&a), &VerdictInput::at(now()));
        assert_eq!(
            (j.verdict, j.reason.as_str()),
            (Verdict::Unknown, "NotRead"),
            "nothing read is no verdict"
        );

        let quiet = NotificationEvidence {
            window: Duration::from_secs(3600),
            ..Default::default()
        };
        let j = judge(&FluxObject::new(&a), &with(&quiet));
        assert_eq!(
            (j.verdict, j.message.as_str()),
            (Verdict::Ready, "no dispatch failure in the last 1h")
        );

        let failing = NotificationEvidence {
            window: Duration::from_secs(3600),
            failures: vec![
                warning("InvalidConfig", "failed to compile exclusion regex: ([", "2025-01-01T11:10:00Z", "2025-01-01T11:10:00Z", 1),
                warning("NotificationDispatchFailed", "failed to send notification for Kustomization/flux-system/apps: postMessage failed",
                        "2025-01-01T11:20:00Z", "2025-01-01T11:50:00Z", 4),
            ],
            ..Default::default()
        };
        let j = judge(&FluxObject::new(&a), &with(&failing));
        assert_eq!(j.verdict, Verdict::Failing);
        assert_eq!(
            j.reason, "NotificationDispatchFailed",
            "the latest warning speaks"
        );
        assert!(
            j.message.starts_with("failed to send notification"),
            "{}",
            j.message
        );
        assert_eq!(
            j.since.unwrap().to_string(),
            "2025-01-01T11:10:00Z",
            "failing since the first failure in the window"
        );

        let broken = NotificationEvidence {
            broken: vec![(
                "ProviderNotFound".into(),
                "Provider flux-system/slack does not exist".into(),
            )],
            events_error: Some("forbidden".into()),
            ..quiet.clone()
        };
        let j = judge(&FluxObject::new(&a), &with(&broken));
        assert_eq!(
            (j.verdict, j.reason.as_str()),
            (Verdict::Failing, "ProviderNotFound"),
            "no event needed"
        );

        let unreadable = NotificationEvidence {
            events_error: Some("events is forbidden".into()),
            ..quiet.clone()
        };
        assert_eq!(
            judge(&FluxObject::new(&a), &with(&unreadable)).verdict,
            Verdict::Unknown
        );

        let noticed = NotificationEvidence {
            notices: vec![warning(
                "MetadataAppendFailed",
                "metadata key conflicts detected",
                "2025-01-01T11:00:00Z",
                "2025-01-01T11:00:00Z",
                1,
            )],
            ..quiet.clone()
        };
        let j = judge(&FluxObject::new(&a), &with(&noticed));
        assert_eq!(
            j.verdict,
            Verdict::Ready,
            "metadata conflicts do not stop delivery"
        );
        assert!(
            j.message
                .ends_with("(last warning: MetadataAppendFailed: metadata key conflicts detected)"),
            "{}",
            j.message
        );

        let s = alert(true);
        let j = judge(&FluxObject::new(&s), &with(&failing));
        assert_eq!(j.verdict, Verdict::Suspended);
        assert!(
            j.message.starts_with("failed to send notification"),
            "suspended, still saying why: {}",
            j.message
        );

        let mut p = a.clone();
        p["kind"] = json!("Provider");
        let j = judge(&FluxObject::new(&p), &with(&quiet));
        assert_eq!(
            j.message,
            "no dispatch failure on the Alerts using it in the last 1h"
        );
        assert_eq!(format_window(Duration::from_secs(5400)), "1h30m");
        assert_eq!(format_window(Duration::from_secs(300)), "5m");
    }
}
