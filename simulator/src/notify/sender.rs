//! POSTs events to a notification-controller address as a Flux controller's recorder does
//! (fluxcd/pkg `runtime/events/recorder.go` on go-retryablehttp v0.7: 5s per attempt, 4 retries
//! waiting 1s, 2s, 4s, 8s (capped at 30s), retrying connection errors and 5xx but never 429).

use std::time::Duration;

use super::event::{go_json, EventV1};
use super::http::{backoff, is_retryable_status, RetryWaits};
use super::redact_url;

/// The recorder's retry rules; [`SenderRetry::default`] is Flux's.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct SenderRetry {
    /// `HTTPClient.Timeout`: each attempt, not the whole post.
    pub attempt_timeout: Duration,
    pub waits: RetryWaits,
}

impl Default for SenderRetry {
    fn default() -> Self {
        Self {
            attempt_timeout: Duration::from_secs(5),
            waits: RetryWaits {
                min: Duration::from_secs(1),
                max: Duration::from_secs(30),
                max_retries: 4,
            },
        }
    }
}

/// How notification-controller answered a post the recorder did not give up on.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum PostOutcome {
    /// 2xx (notification-controller answers 202).
    Accepted { status: u16, attempts: u32 },
    /// 429: a duplicate inside the rate-limit window; the recorder does not retry it.
    RateLimited { attempts: u32 },
    /// Another status that is not retried (400 for a body it cannot decode); the recorder
    /// ignores it, and so may the caller.
    Rejected { status: u16, attempts: u32 },
}

#[derive(Debug, thiserror::Error)]
pub enum SendError {
    #[error("invalid notification-controller address: {0}")]
    Address(String),
    /// The recorder logs "unable to record event" with this.
    #[error("POST {address} giving up after {attempts} attempt(s): {last}")]
    GaveUp {
        address: String,
        attempts: u32,
        last: String,
    },
}

/// A controller's event recorder, pointed at notification-controller (`--events-addr`).
#[derive(Clone)]
pub struct EventSender {
    client: reqwest::Client,
    address: reqwest::Url,
    retry: SenderRetry,
}

impl std::fmt::Debug for EventSender {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("EventSender")
            .field("address", &redact_url(self.address.as_str()))
            .field("retry", &self.retry)
            .finish()
    }
}

impl EventSender {
    pub fn new(address: &str) -> Result<Self, SendError> {
        let address =
            reqwest::Url::parse(address).map_err(|e| SendError::Address(e.to_string()))?;
        Ok(Self {
            client: super::http::client(),
            address,
            retry: SenderRetry::default(),
        })
    }

    /// Shorter waits for tests and compressed time.
    pub fn with_retry(mut self, retry: SenderRetry) -> Self {
        self.retry = retry;
        self
    }

    pub fn address(&self) -> &str {
        self.address.as_str()
    }

    /// Posts `event` as `application/json`, retrying as the recorder does.
    pub async fn post(&self, event: &EventV1) -> Result<PostOutcome, SendError> {
        let body = go_json(event);
        let mut attempts = 0u32;
        loop {
            attempts += 1;
            let sent = self
                .client
                .post(self.address.clone())
                .header("Content-Type", "application/json")
                .timeout(self.retry.attempt_timeout)
                .body(body.clone())
                .send()
                .await;
            let (last, retry_after) = match sent {
                Ok(resp) => {
                    let status = resp.status().as_u16();
                    if status == 429 {
                        return Ok(PostOutcome::RateLimited { attempts });
                    }
                    if (200..300).contains(&status) {
                        return Ok(PostOutcome::Accepted { status, attempts });
                    }
                    if !is_retryable_status(status) {
                        return Ok(PostOutcome::Rejected { status, attempts });
                    }
                    let after = super::http::retry_after(&resp);
                    (
                        format!(
                            "unexpected HTTP status {}",
                            super::http::status_text(status)
                        ),
                        after,
                    )
                }
                Err(e) => (super::http::describe_error(&e), None),
            };
            if attempts > self.retry.waits.max_retries {
                return Err(SendError::GaveUp {
                    address: redact_url(self.address.as_str()),
                    attempts,
                    last,
                });
            }
            tokio::time::sleep(
                retry_after.unwrap_or_else(|| backoff(&self.retry.waits, attempts - 1)),
            )
            .await;
        }
    }
}
