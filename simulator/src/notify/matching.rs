//! What notification-controller does to an event before any Provider sees it (v1.9.3
//! `internal/server/event_server.go` and `event_handlers.go`): metadata clean-up, the rate-limit
//! key and limiter, Alert matching, and the metadata merge.

use std::collections::{BTreeMap, HashMap};
use std::sync::Mutex;
use std::time::{Duration, Instant};

use regex::Regex;
use sha2::{Digest, Sha256};

use super::config::{Alert, EventSource};
use super::event::{EventV1, EVENT_GROUP_PREFIX};

/// `cleanupMetadata`: keep keys prefixed with `event.toolkit.fluxcd.io/` or the involved
/// object's group, except `<group>/checksum` and `<group>/digest`; prefixes stay for now.
pub fn cleanup_metadata(event: &mut EventV1) {
    let object_prefix = format!("{}/", event.involved_object.group());
    let excluded = [
        format!("{object_prefix}checksum"),
        format!("{object_prefix}digest"),
    ];
    event.metadata.retain(|k, _| {
        !excluded.iter().any(|x| x.eq_ignore_ascii_case(k))
            && (k.starts_with(EVENT_GROUP_PREFIX) || k.starts_with(&object_prefix))
    });
}

/// `eventKeyFunc`: hex sha256 of `event/name=../namespace=../kind=../message=..`, then
/// `originRevision=`, `revision=`, `token=` from the group-prefixed metadata when present,
/// joined with `/`.
pub fn rate_limit_key(event: &EventV1) -> String {
    let o = &event.involved_object;
    let mut comps = vec![
        "event".to_string(),
        format!("name={}", o.name),
        format!("namespace={}", o.namespace),
        format!("kind={}", o.kind),
        format!("message={}", event.message),
    ];
    let group = o.group();
    for key in ["originRevision", "revision", "token"] {
        if let Some(v) = event.metadata.get(&format!("{group}/{key}")) {
            comps.push(format!("{key}={v}"));
        }
    }
    hex::encode(Sha256::digest(comps.join("/")))
}

/// `excludeInternalMetadata`: drop `<group>/token` once the key is computed.
pub fn exclude_internal_metadata(event: &mut EventV1) {
    let key = format!("{}/token", event.involved_object.group());
    event.metadata.remove(&key);
}

/// go-limiter's memorystore as NC configures it: one token per key per interval, the interval
/// counted in ticks from the key's first event; buckets idle for two intervals are swept.
#[derive(Debug)]
pub struct RateLimiter {
    interval: Duration,
    buckets: Mutex<HashMap<String, Bucket>>,
}

#[derive(Debug, Clone, Copy)]
struct Bucket {
    start: Instant,
    last_tick: u64,
    tokens: u32,
    last_seen: Instant,
}

/// A refused take: when the key's next token comes.
#[derive(Debug, Clone, Copy)]
pub struct Limited {
    pub reset_in: Duration,
}

impl RateLimiter {
    pub fn new(interval: Duration) -> Self {
        Self {
            interval: interval.max(Duration::from_nanos(1)),
            buckets: Mutex::new(HashMap::new()),
        }
    }

    pub fn interval(&self) -> Duration {
        self.interval
    }

    /// Takes the key's token: `Ok(reset_in)`, when the next token comes, or `Err` when none is left.
    pub fn take(&self, key: &str) -> Result<Duration, Limited> {
        self.take_at(key, Instant::now())
    }

    pub fn take_at(&self, key: &str, now: Instant) -> Result<Duration, Limited> {
        let mut buckets = self.buckets.lock().unwrap_or_else(|e| e.into_inner());
        if buckets.len() > 4096 {
            let ttl = self.interval * 2;
            buckets.retain(|_, b| now.duration_since(b.last_seen) < ttl);
        }
        let interval = self.interval;
        let b = buckets.entry(key.to_string()).or_insert(Bucket {
            start: now,
            last_tick: 0,
            tokens: 1,
            last_seen: now,
        });
        let tick = (now.duration_since(b.start).as_nanos() / interval.as_nanos()) as u64;
        if tick > b.last_tick {
            b.last_tick = tick;
            b.tokens = 1;
        }
        b.last_seen = now;
        let next = b.start + interval * (tick as u32 + 1);
        let reset_in = next.saturating_duration_since(now);
        if b.tokens > 0 {
            b.tokens -= 1;
            Ok(reset_in)
        } else {
            Err(Limited { reset_in })
        }
    }
}

/// Whether a commit status update event (`commit_status: update`, e.g. "Reconciliation finished")
/// reaches a Provider of `provider_type` in `version`: Git providers always; generic ones except
/// in notification-controller v1.8 (Flux 2.8), which dropped them for every non-Git provider
/// (before v1.8 each chat notifier skipped them itself, generic forwarded; v1.9 forwards again).
pub fn commit_status_update_reaches(provider_type: &str, version: model::FluxVersion) -> bool {
    let generic = super::notifier::is_generic_type(provider_type);
    super::notifier::is_commit_status_type(provider_type)
        || (generic && (!version.at_least(2, 8) || version.at_least(2, 9)))
}

/// A Warning event notification-controller records on an Alert while matching.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct MatchWarning {
    pub reason: &'static str,
    pub message: String,
}

/// `eventMatchesAlertSource` without the label check: namespace (defaulted) and kind exact,
/// severity, then name `*` or exact.
pub fn source_matches(event: &EventV1, alert: &Alert, source: &EventSource) -> bool {
    let o = &event.involved_object;
    let namespace = if source.namespace.is_empty() {
        &alert.namespace
    } else {
        &source.namespace
    };
    if &o.namespace != namespace || o.kind != source.kind {
        return false;
    }
    if event.severity != alert.event_severity && alert.event_severity != "info" {
        return false;
    }
    source.name == "*" || source.name == o.name
}

/// `metav1.LabelSelectorAsSelector` on matchLabels, then `Matches`: every pair must be present.
/// An invalid label (key or value) is an error, as the selector conversion fails on it.
pub fn labels_match(
    match_labels: &BTreeMap<String, String>,
    labels: &serde_json::Value,
) -> Result<bool, String> {
    for (k, v) in match_labels {
        if !valid_label_key(k) || !valid_label_value(v) {
            return Err(format!("invalid label selector {k}={v}"));
        }
    }
    Ok(match_labels
        .iter()
        .all(|(k, v)| labels.get(k).and_then(|l| l.as_str()) == Some(v.as_str())))
}

fn valid_label_value(v: &str) -> bool {
    v.len() <= 63
        && (v.is_empty()
            || (v
                .chars()
                .all(|c| c.is_ascii_alphanumeric() || matches!(c, '-' | '_' | '.'))
                && v.starts_with(|c: char| c.is_ascii_alphanumeric())
                && v.ends_with(|c: char| c.is_ascii_alphanumeric())))
}

fn valid_label_key(k: &str) -> bool {
    let name = match k.rsplit_once('/') {
        Some((prefix, name)) => {
            if prefix.is_empty() || prefix.len() > 253 {
                return false;
            }
            name
        }
        None => k,
    };
    !name.is_empty() && valid_label_value(name)
}

/// `messageIsIncluded` and `messageIsExcluded` (Go RE2 syntax, unanchored). Patterns that do
/// not compile are skipped, each with an `InvalidConfig` warning.
pub fn message_allowed(message: &str, alert: &Alert, warnings: &mut Vec<MatchWarning>) -> bool {
    if !alert.inclusion_list.is_empty() {
        let mut included = false;
        for exp in &alert.inclusion_list {
            match Regex::new(exp) {
                Ok(r) if r.is_match(message) => {
                    included = true;
                    break;
                }
                Ok(_) => {}
                Err(_) => warnings.push(MatchWarning {
                    reason: "InvalidConfig",
                    message: format!("failed to compile inclusion regex: {exp}"),
                }),
            }
        }
        if !included {
            return false;
        }
    }
    for exp in &alert.exclusion_list {
        match Regex::new(exp) {
            Ok(r) if r.is_match(message) => return false,
            Ok(_) => {}
            Err(_) => warnings.push(MatchWarning {
                reason: "InvalidConfig",
                message: format!("failed to compile exclusion regex: {exp}"),
            }),
        }
    }
    true
}

/// `combineEventMetadata` (RFC 0008), lowest to highest precedence: `event.toolkit.fluxcd.io/`
/// keys (object annotations), `spec.eventMetadata`, `spec.summary` as `summary`, the involved
/// object's group keys (the controller's). Prefixes are stripped. Returns the keys set by more
/// than one source (NC warns with `MetadataAppendFailed`), with the sources' names.
pub fn combine_metadata(event: &mut EventV1, alert: &Alert) -> Vec<(String, Vec<&'static str>)> {
    let mut metadata = BTreeMap::new();
    let mut sources: BTreeMap<String, Vec<&'static str>> = BTreeMap::new();
    let mut put = |k: &str, v: &str, source: &'static str| {
        metadata.insert(k.to_string(), v.to_string());
        sources.entry(k.to_string()).or_default().push(source);
    };
    for (k, v) in &event.metadata {
        if let Some(key) = k.strip_prefix(EVENT_GROUP_PREFIX) {
            put(key, v, "involved object annotations");
        }
    }
    for (k, v) in &alert.event_metadata {
        put(k, v, "Alert object .spec.eventMetadata");
    }
    if !alert.summary.is_empty() {
        put("summary", &alert.summary, "Alert object .spec.summary");
    }
    let object_prefix = format!("{}/", event.involved_object.group());
    for (k, v) in &event.metadata {
        if let Some(key) = k.strip_prefix(&object_prefix) {
            put(key, v, "involved object controller metadata");
        }
    }
    if !metadata.is_empty() {
        event.metadata = metadata;
    }
    sources.into_iter().filter(|(_, s)| s.len() > 1).collect()
}
