//! HTTP plumbing shared by the event sender and the provider deliveries: one reqwest client and
//! go-retryablehttp's retry policy and backoff (v0.7.8 `client.go`: `baseRetryPolicy`,
//! `DefaultBackoff`), which both Flux's recorder and notification-controller's notifiers use.

use std::sync::OnceLock;
use std::time::Duration;

/// go-retryablehttp `RetryWaitMin`, `RetryWaitMax`, `RetryMax`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct RetryWaits {
    pub min: Duration,
    pub max: Duration,
    /// Retries after the first attempt (attempts = retries + 1).
    pub max_retries: u32,
}

/// One client for everything: connection pooling matters for event storms.
pub(crate) fn client() -> reqwest::Client {
    static CLIENT: OnceLock<reqwest::Client> = OnceLock::new();
    CLIENT
        .get_or_init(|| {
            // TLS (real Slack, Teams, GitHub) through rustls with ring; idempotent.
            let _ = rustls::crypto::ring::default_provider().install_default();
            reqwest::Client::builder()
                .no_proxy()
                .pool_max_idle_per_host(64)
                .build()
                .unwrap_or_else(|_| reqwest::Client::new())
        })
        .clone()
}

/// `DefaultBackoff`: `min * 2^attempt`, capped at `max` (`attempt` counts from 0).
pub(crate) fn backoff(w: &RetryWaits, attempt: u32) -> Duration {
    let mult = w
        .min
        .saturating_mul(1u32.checked_shl(attempt.min(31)).unwrap_or(u32::MAX));
    mult.min(w.max)
}

/// `baseRetryPolicy` for a response: 429, 5xx except 501, and nonsense codes are retried.
pub(crate) fn is_retryable_status(status: u16) -> bool {
    status == 429 || status == 0 || (status >= 500 && status != 501)
}

/// `Retry-After` in seconds on a 429 or 503 (`DefaultBackoff` honours it for those).
pub(crate) fn retry_after(resp: &reqwest::Response) -> Option<Duration> {
    let status = resp.status().as_u16();
    if status != 429 && status != 503 {
        return None;
    }
    let v = resp.headers().get("retry-after")?.to_str().ok()?;
    v.trim().parse::<u64>().ok().map(Duration::from_secs)
}

/// Go's `resp.Status`: `500 Internal Server Error`.
pub(crate) fn status_text(status: u16) -> String {
    match reqwest::StatusCode::from_u16(status)
        .ok()
        .and_then(|s| s.canonical_reason())
    {
        Some(reason) => format!("{status} {reason}"),
        None => status.to_string(),
    }
}

/// A transport error without the URL (webhook addresses are secrets).
pub(crate) fn describe_error(e: &reqwest::Error) -> String {
    let mut parts = Vec::new();
    if e.is_timeout() {
        parts.push("timeout awaiting response".to_string());
    } else if e.is_connect() {
        parts.push("connection failed".to_string());
    }
    let mut source = std::error::Error::source(e);
    while let Some(s) = source {
        let text = s.to_string();
        if !parts.contains(&text) {
            parts.push(text);
        }
        source = s.source();
    }
    if parts.is_empty() {
        parts.push("request failed".to_string());
    }
    parts.join(": ")
}
