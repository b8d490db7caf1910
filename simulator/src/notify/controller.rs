//! notification-controller's event handling (v1.9.3 `internal/server/event_server.go`,
//! `event_handlers.go`): decode, clean up, rate-limit, match Alerts, merge metadata, dispatch to
//! each Provider asynchronously, and record every outcome and every Warning event it would emit.

use std::sync::atomic::{AtomicU64, AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};

use jiff::Timestamp;
use tokio::sync::Notify;

use super::config::{Alert, ConfigSource, ObjectLookup, Provider};
use super::correlator::EventCorrelator;
use super::delivery::{self, Attempt};
use super::event::EventV1;
use super::matching::{self, MatchWarning, RateLimiter};
use super::notifier::{self, Notifier, NotifierOptions};
use super::records::*;
use super::{mask_secrets, redact_url};

/// The emulated notification-controller; cheap to clone (shared state).
#[derive(Clone)]
pub struct NotificationController {
    inner: Arc<Inner>,
}

struct Inner {
    config: Arc<dyn ConfigSource>,
    lookup: Arc<dyn ObjectLookup>,
    limiter: RateLimiter,
    opts: NotifyOptions,
    deliveries: Mutex<Vec<Delivery>>,
    events: Mutex<Vec<AlertEvent>>,
    correlator: EventCorrelator,
    next_id: AtomicU64,
    inflight: AtomicUsize,
    idle: Notify,
    received: AtomicU64,
    accepted: AtomicU64,
    rate_limited: AtomicU64,
    bad_request: AtomicU64,
}

impl NotificationController {
    pub fn new(
        config: Arc<dyn ConfigSource>,
        lookup: Arc<dyn ObjectLookup>,
        opts: NotifyOptions,
    ) -> Self {
        Self {
            inner: Arc::new(Inner {
                config,
                lookup,
                limiter: RateLimiter::new(opts.rate_limit_interval),
                opts,
                deliveries: Mutex::new(Vec::new()),
                events: Mutex::new(Vec::new()),
                correlator: EventCorrelator::new(),
                next_id: AtomicU64::new(1),
                inflight: AtomicUsize::new(0),
                idle: Notify::new(),
                received: AtomicU64::new(0),
                accepted: AtomicU64::new(0),
                rate_limited: AtomicU64::new(0),
                bad_request: AtomicU64::new(0),
            }),
        }
    }

    /// Every dispatch so far, in order.
    pub fn deliveries(&self) -> Vec<Delivery> {
        self.inner
            .deliveries
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .clone()
    }

    /// Every Warning event notification-controller asked to record on an Alert so far (its
    /// `Eventf` calls); what reaches the API through `event_sink` has passed client-go's
    /// correlator (combined, or dropped by the spam filter).
    pub fn events(&self) -> Vec<AlertEvent> {
        self.inner
            .events
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .clone()
    }

    pub fn stats(&self) -> Stats {
        let i = &self.inner;
        Stats {
            received: i.received.load(Ordering::Relaxed),
            accepted: i.accepted.load(Ordering::Relaxed),
            rate_limited: i.rate_limited.load(Ordering::Relaxed),
            bad_request: i.bad_request.load(Ordering::Relaxed),
        }
    }

    /// Waits until no delivery is in flight.
    pub async fn settle(&self) {
        loop {
            let notified = self.inner.idle.notified();
            if self.inner.inflight.load(Ordering::SeqCst) == 0 {
                return;
            }
            notified.await;
        }
    }

    /// Handles one POST body as NC's event server does (also usable without HTTP).
    pub async fn receive(&self, body: &[u8]) -> Received {
        let i = &self.inner;
        i.received.fetch_add(1, Ordering::Relaxed);
        if body.len() > MAX_REQUEST_BYTES {
            i.bad_request.fetch_add(1, Ordering::Relaxed);
            return Received {
                status: 413,
                retry_after: None,
                rate_reset: None,
            };
        }
        let decoded = EventV1::decode_go(body);
        let Ok(mut event) = decoded else {
            i.bad_request.fetch_add(1, Ordering::Relaxed);
            tracing::debug!("event server: decoding the request body failed");
            return Received {
                status: 400,
                retry_after: None,
                rate_reset: None,
            };
        };
        matching::cleanup_metadata(&mut event);
        let reset_in = match i.limiter.take(&matching::rate_limit_key(&event)) {
            Ok(reset_in) => reset_in,
            Err(limited) => {
                i.rate_limited.fetch_add(1, Ordering::Relaxed);
                tracing::debug!(object = %event.involved_object.display(), "Discarding event, rate limiting duplicate events");
                return Received {
                    status: 429,
                    retry_after: Some(limited.reset_in),
                    rate_reset: Some(limited.reset_in),
                };
            }
        };
        matching::exclude_internal_metadata(&mut event);
        let alerts = match i.config.alerts().await {
            Ok(a) => a,
            Err(e) => {
                tracing::warn!("failed to get alerts for the event: failed listing alerts: {e}");
                Vec::new()
            }
        };
        let matched = self.filter_alerts(&alerts, &event).await;
        for alert in matched {
            if let Err(err) = self.dispatch(&event, alert).await {
                self.record_event(
                    alert,
                    "NotificationDispatchFailed",
                    format!(
                        "failed to dispatch notification for {}: {err}",
                        event.involved_object.display()
                    ),
                    Default::default(),
                );
            }
        }
        i.accepted.fetch_add(1, Ordering::Relaxed);
        Received {
            status: 202,
            retry_after: None,
            rate_reset: Some(reset_in),
        }
    }

    async fn filter_alerts<'a>(&self, alerts: &'a [Alert], event: &EventV1) -> Vec<&'a Alert> {
        let mut out = Vec::new();
        for alert in alerts.iter().filter(|a| !a.suspend) {
            let mut matched = false;
            for source in &alert.event_sources {
                if !matching::source_matches(event, alert, source) {
                    continue;
                }
                let Some(labels) = &source.match_labels else {
                    matched = true;
                    break;
                };
                if self.labels_match(event, alert, source, labels).await {
                    matched = true;
                    break;
                }
            }
            if !matched {
                continue;
            }
            let mut warnings: Vec<MatchWarning> = Vec::new();
            let allowed = matching::message_allowed(&event.message, alert, &mut warnings);
            for w in warnings {
                tracing::warn!(alert = %format!("{}/{}", alert.namespace, alert.name), "{}", w.message);
                self.record_event(alert, w.reason, w.message, Default::default());
            }
            if allowed {
                out.push(alert);
            }
        }
        out
    }

    async fn labels_match(
        &self,
        event: &EventV1,
        alert: &Alert,
        source: &super::config::EventSource,
        labels: &std::collections::BTreeMap<String, String>,
    ) -> bool {
        let o = &event.involved_object;
        let obj = match self.inner.lookup.get(o).await {
            Ok(Some(obj)) => obj,
            Ok(None) | Err(_) => {
                self.record_event(
                    alert,
                    "SourceFetchFailed",
                    format!("error getting source object {}", o.display()),
                    Default::default(),
                );
                return false;
            }
        };
        match matching::labels_match(labels, &obj["metadata"]["labels"]) {
            Ok(m) => m,
            Err(_) => {
                let ns = if source.namespace.is_empty() {
                    &alert.namespace
                } else {
                    &source.namespace
                };
                self.record_event(
                    alert,
                    "InvalidConfig",
                    format!(
                        "error using matchLabels from event source {}/{}/{}",
                        source.kind, ns, source.name
                    ),
                    Default::default(),
                );
                false
            }
        }
    }

    fn record_event(
        &self,
        alert: &Alert,
        reason: &str,
        message: String,
        annotations: std::collections::BTreeMap<String, String>,
    ) {
        let ev = AlertEvent {
            alert: alert.object_ref(),
            type_: "Warning".into(),
            reason: reason.into(),
            message,
            annotations,
            timestamp: Timestamp::now(),
        };
        if let Some(sink) = &self.inner.opts.event_sink {
            if let Some(written) = self
                .inner
                .correlator
                .correlate(ev.clone(), std::time::Instant::now())
            {
                let _ = sink.send(written);
            }
        }
        self.inner
            .events
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .push(ev);
    }

    fn push_delivery(&self, d: Delivery) {
        self.inner
            .deliveries
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .push(d);
    }

    fn finish_delivery(&self, id: u64, attempts: Vec<Attempt>, outcome: Outcome) {
        let mut all = self
            .inner
            .deliveries
            .lock()
            .unwrap_or_else(|e| e.into_inner());
        if let Some(d) = all.iter_mut().rev().find(|d| d.id == id) {
            d.attempts = attempts;
            d.outcome = outcome;
        }
    }

    /// `dispatchNotification` + `getNotificationParams`: the synchronous part; the POST runs in
    /// a task. `Err` is reported as `failed to dispatch notification`.
    async fn dispatch(&self, event: &EventV1, alert: &Alert) -> Result<(), String> {
        let i = &self.inner;
        let o = &event.involved_object;
        let mut record = Delivery {
            id: i.next_id.fetch_add(1, Ordering::Relaxed),
            alert: format!("{}/{}", alert.namespace, alert.name),
            provider: format!("{}/{}", alert.namespace, alert.provider_ref),
            provider_type: String::new(),
            object: o.display(),
            reason: event.reason.clone(),
            message: event.message.clone(),
            address: String::new(),
            payload: None,
            attempts: Vec::new(),
            outcome: Outcome::Pending,
        };
        let fail = |this: &Self, mut record: Delivery, error: String| {
            record.outcome = Outcome::Failed {
                error: error.clone(),
            };
            this.push_delivery(record);
            Err(error)
        };
        let skip = |this: &Self, mut record: Delivery, why: &str| {
            record.outcome = Outcome::Skipped { why: why.into() };
            this.push_delivery(record);
            Ok(())
        };
        if i.opts.no_cross_namespace_refs && o.namespace != alert.namespace {
            let e = format!(
                "discarding event, access denied to cross-namespace sources: alert '{}/{}' can't process event from '{}', cross-namespace references have been blocked",
                alert.namespace, alert.name, o.display()
            );
            return fail(self, record, e);
        }
        let provider = match i
            .config
            .provider(&alert.namespace, &alert.provider_ref)
            .await
        {
            Ok(p) => p,
            Err(e) => return fail(self, record, format!("failed to read provider: {e}")),
        };
        record.provider_type = provider.type_.clone();
        record.address = redact_url(&provider.address);
        if provider.suspend {
            return skip(self, record, "Provider is suspended");
        }
        let commit_status_update = event
            .metadata
            .get(&format!("{}/commit_status", o.group()))
            .is_some_and(|v| v == "update");
        let t = provider.type_.as_str();
        // Commit status update events: before notification-controller v1.8 (Flux 2.8) each chat
        // notifier skipped them itself and generic ones forwarded them; v1.8 dropped them for
        // every non-Git provider, generic included; v1.9 forwards them to generic again.
        let version = self.inner.opts.flux_version;
        if commit_status_update && !matching::commit_status_update_reaches(t, version) {
            return skip(
                self,
                record,
                "commit status update events go to Git and generic providers only",
            );
        }
        let has_commit = event
            .metadata
            .get("event.toolkit.fluxcd.io/commit")
            .is_some_and(|v| !v.is_empty());
        // v1.8 began dropping, for commit status providers, events without the commit key;
        // v1.9 lets failure events through anyway.
        if version.at_least(2, 8)
            && notifier::is_commit_status_type(t)
            && !has_commit
            && !commit_status_update
            && (event.severity != "error" || !version.at_least(2, 9))
        {
            return skip(
                self,
                record,
                "event dropped for commit status providers due to missing commit metadata key",
            );
        }
        let mut notification = event.clone();
        let conflicts = matching::combine_metadata(&mut notification, alert);
        if !conflicts.is_empty() {
            let ann = conflicts
                .iter()
                .map(|(k, s)| (k.clone(), s.join(", ")))
                .collect();
            self.record_event(
                alert,
                "MetadataAppendFailed",
                "metadata key conflicts detected (please refer to the Alert API docs and Flux RFC 0008 for more information)".into(),
                ann,
            );
        }
        let commit_status = if notifier::is_commit_status_type(t) {
            crate::notify::payloads::default_commit_status(&provider.uid, &notification)
        } else {
            String::new()
        };
        let n = match self.create_notifier(&provider, commit_status).await {
            Ok(n) => n,
            Err(e) => {
                return fail(
                    self,
                    record,
                    format!(
                        "failed to initialize notifier for provider '{}': {e}",
                        provider.name
                    ),
                )
            }
        };
        record.address = n.address();
        let request = n.request(&notification);
        record.payload = request
            .as_ref()
            .and_then(|r| serde_json::from_slice(&r.body).ok());
        let id = record.id;
        self.push_delivery(record);

        i.inflight.fetch_add(1, Ordering::SeqCst);
        let this = self.clone();
        let timeout = provider.timeout();
        let alert = alert.clone();
        tokio::spawn(async move {
            let deadline = tokio::time::Instant::now() + timeout;
            let mut attempts = Vec::new();
            let result = match &request {
                Some(req) => {
                    delivery::post_message(req, &this.inner.opts.retry, deadline, &mut attempts)
                        .await
                        .map(Some)
                }
                None => delivery::post_github(&n, &notification, deadline, &mut attempts).await,
            };
            let outcome = match result {
                Ok(Some(status)) => Outcome::Delivered { status },
                Ok(None) => Outcome::Skipped {
                    why: "nothing to post (Progressing event or unchanged commit status)".into(),
                },
                Err(err) => {
                    let err = mask_secrets(&err, &n.secrets());
                    tracing::warn!(alert = %format!("{}/{}", alert.namespace, alert.name), "failed to send notification: {err}");
                    this.record_event(
                        &alert,
                        "NotificationDispatchFailed",
                        format!(
                            "failed to send notification for {}: {err}",
                            notification.involved_object.display()
                        ),
                        Default::default(),
                    );
                    Outcome::Failed { error: err }
                }
            };
            this.finish_delivery(id, attempts, outcome);
            if this.inner.inflight.fetch_sub(1, Ordering::SeqCst) == 1 {
                this.inner.idle.notify_waiters();
            }
        });
        Ok(())
    }

    /// `createNotifier`: address and token from the Secret override the spec; `headers` is a
    /// YAML map; `username`/`password` give basic auth.
    async fn create_notifier(
        &self,
        provider: &Provider,
        commit_status: String,
    ) -> Result<Notifier, String> {
        let mut o = NotifierOptions {
            url: provider.address.clone(),
            channel: provider.channel.clone(),
            username: provider.username.clone(),
            commit_status,
            teams_adaptive_cards: self.inner.opts.flux_version.at_least(2, 4),
            ..Default::default()
        };
        if let Some(secret_name) = &provider.secret_ref {
            let secret = self
                .inner
                .config
                .secret(&provider.namespace, secret_name)
                .await
                .map_err(|e| {
                    format!(
                        "failed to get secret '{}/{}': {e}",
                        provider.namespace, secret_name
                    )
                })?;
            if let Some(address) = secret.data.get("address") {
                if address.len() > 2048 {
                    return Err(
                        "invalid address in secret: address exceeds maximum length of 2048 bytes"
                            .into(),
                    );
                }
                o.url = String::from_utf8_lossy(address).trim().to_string();
            }
            if let Some(h) = secret.string("headers") {
                let headers: std::collections::BTreeMap<String, String> =
                    serde_saphyr::from_str(&h).map_err(|e| {
                        format!(
                            "failed to read headers from secret: {}",
                            mask_secrets(&e.to_string(), std::slice::from_ref(&h))
                        )
                    })?;
                o.headers = headers;
            }
            if let Some(token) = secret.string("token") {
                o.token = token.trim().to_string();
            }
            if let (Some(u), Some(p)) = (secret.string("username"), secret.string("password")) {
                o.username = u;
                o.password = p;
            }
        }
        Notifier::build(&provider.type_, &o)
            .map_err(|e| format!("failed to initialize notifier: {e}"))
    }
}
