//! What happens to notification-controller's Warning events between `Eventf` and the API:
//! controller-runtime's `GetEventRecorderFor` (which NC v1.9.3 uses) records core/v1 Events through
//! client-go's `EventCorrelator` (`tools/record/events_cache.go`). It merges 10 or more events
//! about one object that differ only in message, seen within 10 minutes of each other, into one
//! "(combined from similar events): <latest message>" event, then lets a source write at most 25
//! events about one object (and type) in a burst, refilled at one per 5 minutes; the rest are
//! dropped. Repeats of an identical event become one Event with a higher `count` when written.

use std::collections::{HashMap, HashSet};
use std::sync::Mutex;
use std::time::{Duration, Instant};

use super::records::AlertEvent;

/// `defaultAggregateMaxEvents`.
pub const AGGREGATE_MAX_EVENTS: usize = 10;
/// `defaultAggregateIntervalInSeconds`.
pub const AGGREGATE_INTERVAL: Duration = Duration::from_secs(600);
/// `defaultSpamBurst`.
pub const SPAM_BURST: f64 = 25.0;
/// `defaultSpamQPS`: one event per 300 s.
pub const SPAM_QPS: f64 = 1.0 / 300.0;
/// `EventAggregatorByReasonMessageFunc`'s prefix.
pub const COMBINED_PREFIX: &str = "(combined from similar events): ";

struct Aggregate {
    messages: HashSet<String>,
    last: Instant,
}

struct Bucket {
    tokens: f64,
    last: Instant,
}

/// client-go's correlator for one recorder (notification-controller's).
#[derive(Default)]
pub struct EventCorrelator {
    state: Mutex<(HashMap<String, Aggregate>, HashMap<String, Bucket>)>,
}

impl EventCorrelator {
    pub fn new() -> Self {
        Self::default()
    }

    /// The event to write, possibly combined, or `None` when the spam filter drops it.
    pub fn correlate(&self, mut event: AlertEvent, now: Instant) -> Option<AlertEvent> {
        let a = &event.alert;
        // getSpamKey: source and involved object (and the type); the aggregate key adds the reason.
        let spam_key = format!(
            "{}/{}/{}/{}/{}",
            a.kind, a.namespace, a.name, a.uid, event.type_
        );
        let aggregate_key = format!("{spam_key}/{}", event.reason);
        let mut state = self.state.lock().unwrap_or_else(|e| e.into_inner());
        let (aggregates, buckets) = &mut *state;

        let record = aggregates
            .entry(aggregate_key)
            .or_insert_with(|| Aggregate {
                messages: HashSet::new(),
                last: now,
            });
        if now.saturating_duration_since(record.last) > AGGREGATE_INTERVAL {
            record.messages.clear();
        }
        record.messages.insert(event.message.clone());
        record.last = now;
        if record.messages.len() >= AGGREGATE_MAX_EVENTS {
            // Keep the set from growing past the threshold, as client-go's PopAny does.
            if let Some(any) = record.messages.iter().next().cloned() {
                record.messages.remove(&any);
            }
            event.message = format!("{COMBINED_PREFIX}{}", event.message);
        }

        let bucket = buckets.entry(spam_key).or_insert_with(|| Bucket {
            tokens: SPAM_BURST,
            last: now,
        });
        let refill = now.saturating_duration_since(bucket.last).as_secs_f64() * SPAM_QPS;
        bucket.tokens = (bucket.tokens + refill).min(SPAM_BURST);
        bucket.last = now;
        if bucket.tokens >= 1.0 {
            bucket.tokens -= 1.0;
            Some(event)
        } else {
            None
        }
    }
}
