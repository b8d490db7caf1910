//! What the notification emulation reports: its options, the Warning events it records on
//! Alerts, and one record per dispatch (for drills and tests).

use std::time::Duration;

use jiff::Timestamp;
use serde_json::Value;
use tokio::sync::mpsc;

use super::delivery::Attempt;
use super::event::{core_event_for, ObjectReference};
use super::http::RetryWaits;

/// NC's `--rate-limit-interval` default.
pub const DEFAULT_RATE_LIMIT_INTERVAL: Duration = Duration::from_secs(5 * 60);
/// The event server's body limit (`maxRequestSizeBytes`, 3 MiB): larger bodies get 413.
pub const MAX_REQUEST_BYTES: usize = 3 * 1024 * 1024;

#[derive(Debug, Clone)]
pub struct NotifyOptions {
    /// `--rate-limit-interval`.
    pub rate_limit_interval: Duration,
    /// Provider retries (NC: 2s..30s, 4 retries); shorten in tests.
    pub retry: RetryWaits,
    /// `--no-cross-namespace-refs`.
    pub no_cross_namespace_refs: bool,
    /// Receives every Warning event as it is recorded (for writing to the API).
    pub event_sink: Option<mpsc::UnboundedSender<AlertEvent>>,
    /// The Flux release whose notification-controller to behave as (where behaviour changed
    /// between releases).
    pub flux_version: model::FluxVersion,
}

impl Default for NotifyOptions {
    fn default() -> Self {
        Self {
            rate_limit_interval: DEFAULT_RATE_LIMIT_INTERVAL,
            retry: RetryWaits {
                min: Duration::from_secs(2),
                max: Duration::from_secs(30),
                max_retries: 4,
            },
            no_cross_namespace_refs: false,
            flux_version: model::FluxVersion::newest(),
            event_sink: None,
        }
    }
}

/// A Kubernetes event notification-controller records on an Alert (`InvalidConfig`,
/// `SourceFetchFailed`, `MetadataAppendFailed`, `NotificationDispatchFailed`).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct AlertEvent {
    pub alert: ObjectReference,
    /// `Warning` for all of these.
    pub type_: String,
    pub reason: String,
    pub message: String,
    pub annotations: std::collections::BTreeMap<String, String>,
    pub timestamp: Timestamp,
}

impl AlertEvent {
    /// The core/v1 Event to write to the API.
    pub fn to_core_event(&self) -> Value {
        let ann = self
            .annotations
            .iter()
            .map(|(k, v)| (k.clone(), Value::String(v.clone())))
            .collect();
        core_event_for(
            &self.alert,
            &self.type_,
            &self.reason,
            &self.message,
            "notification-controller",
            self.timestamp,
            ann,
        )
    }
}

/// How a delivery to one Provider for one event ended.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Outcome {
    /// Posting (asynchronous; see [`NotificationController::settle`]).
    Pending,
    Delivered {
        status: u16,
    },
    /// Not sent, and NC would not report it (suspended Provider, commit-status rules,
    /// Progressing events for GitHub, a duplicate commit status).
    Skipped {
        why: String,
    },
    /// NC emits `NotificationDispatchFailed` with this message.
    Failed {
        error: String,
    },
}

/// One dispatch of one event to one Alert's Provider; secrets are redacted.
#[derive(Debug, Clone, PartialEq)]
pub struct Delivery {
    pub id: u64,
    /// `namespace/name`.
    pub alert: String,
    pub provider: String,
    pub provider_type: String,
    /// `Kind/namespace/name` of the involved object.
    pub object: String,
    pub reason: String,
    pub message: String,
    pub address: String,
    /// The body sent (JSON), when one was built.
    pub payload: Option<Value>,
    pub attempts: Vec<Attempt>,
    pub outcome: Outcome,
}

/// The answer to one POST to the event server.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Received {
    pub status: u16,
    /// For 429: when the key's token comes back.
    pub retry_after: Option<Duration>,
    /// For every event that reached the rate limiter: when its key's next token comes (the
    /// `X-RateLimit-*` headers).
    pub rate_reset: Option<Duration>,
}

/// Counters since start.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Stats {
    pub received: u64,
    pub accepted: u64,
    pub rate_limited: u64,
    pub bad_request: u64,
}
