//! Flux events and notification-controller, emulated: the eventv1 JSON a controller posts
//! (and the core/v1 Event it records), a sender with the recorder's retry rules, and an event
//! server that rate-limits, matches Alerts and delivers to Providers as notification-controller
//! v1.9.3 does. Webhook addresses and tokens never appear in logs, errors or `Debug` output.

mod config;
mod controller;
mod correlator;
mod delivery;
mod event;
mod http;
mod matching;
mod notifier;
pub mod payloads;
mod records;
mod sender;
mod server;

pub use config::{
    load_manifests, Alert, Config, ConfigError, ConfigSource, EventSource, NoObjects, ObjectLookup,
    Provider, Secret, SharedConfig, DEFAULT_PROVIDER_TIMEOUT,
};
pub use controller::NotificationController;
pub use correlator::{
    EventCorrelator, AGGREGATE_INTERVAL, AGGREGATE_MAX_EVENTS, COMBINED_PREFIX, SPAM_BURST,
    SPAM_QPS,
};
pub use delivery::Attempt;
pub use event::{
    core_event, core_event_for, event_v1, go_json, EventV1, ObjectReference, EVENT_GROUP_PREFIX,
};
pub use http::RetryWaits;
pub use matching::{cleanup_metadata, combine_metadata, commit_status_update_reaches, rate_limit_key, RateLimiter};
pub use notifier::{sign, Notifier, NotifierOptions, PlainRequest, KNOWN_TYPES};
pub use records::{
    AlertEvent, Delivery, NotifyOptions, Outcome, Received, Stats, DEFAULT_RATE_LIMIT_INTERVAL,
    MAX_REQUEST_BYTES,
};
pub use sender::{EventSender, PostOutcome, SendError, SenderRetry};
pub use server::{serve, Running};

/// An address as it may be shown: scheme, host and port; the path and query (where webhook
/// tokens live) and any user info replaced by `***`.
pub fn redact_url(address: &str) -> String {
    if address.is_empty() {
        return String::new();
    }
    match url::Url::parse(address) {
        Ok(u) => match (u.host_str(), u.port()) {
            (Some(h), Some(p)) => format!("{}://{h}:{p}/***", u.scheme()),
            (Some(h), None) => format!("{}://{h}/***", u.scheme()),
            _ => "***".to_string(),
        },
        Err(_) => "***".to_string(),
    }
}

/// fluxcd/pkg `masktoken`: every occurrence of a secret replaced by `*****`.
pub fn mask_secrets(text: &str, secrets: &[String]) -> String {
    let mut out = text.to_string();
    for s in secrets.iter().filter(|s| !s.trim().is_empty()) {
        out = out.replace(s.as_str(), "*****");
    }
    out
}
