//! Posting a built notifier's request: go-retryablehttp's default policy under the Provider's
//! timeout (NC v1.9.3 `internal/notifier/client.go` postMessage, `slack.go` response check),
//! and the GitHub commit status calls (`github.go`, go-github without retries).

use std::time::Duration;

use tokio::time::Instant;

use super::event::{go_json, EventV1};
use super::http::{backoff, client, describe_error, is_retryable_status, retry_after, RetryWaits};
use super::notifier::{Notifier, PlainRequest};
use super::payloads;
use super::redact_url;

/// One HTTP attempt of a delivery.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Attempt {
    /// `None` when no response came (connection error, timeout).
    pub status: Option<u16>,
    pub error: Option<String>,
}

/// `postMessage` with go-retryablehttp's default policy (429, 5xx except 501 and connection
/// errors retried; `waits` between attempts), the whole of it bounded by `deadline` (the
/// Provider's timeout). Errors read as NC's, with the address redacted.
pub async fn post_message(
    req: &PlainRequest,
    waits: &RetryWaits,
    deadline: Instant,
    attempts: &mut Vec<Attempt>,
) -> Result<u16, String> {
    let deadline_err =
        || "postMessage failed: failed to execute request: context deadline exceeded".to_string();
    let mut n = 0u32;
    loop {
        n += 1;
        let remaining = deadline.saturating_duration_since(Instant::now());
        if remaining.is_zero() {
            return Err(deadline_err());
        }
        let mut b = client()
            .post(&req.url)
            .timeout(remaining)
            .body(req.body.clone());
        for (k, v) in &req.headers {
            b = b.header(k, v);
        }
        let (last, wait_hint) = match b.send().await {
            Ok(resp) => {
                let status = resp.status().as_u16();
                if !is_retryable_status(status) {
                    let text = resp.text().await.unwrap_or_default();
                    let result = if (200..300).contains(&status) {
                        if req.slack_api {
                            validate_slack(&text)
                        } else {
                            Ok(status)
                        }
                    } else {
                        Err(format!(
                            "postMessage failed: request failed: request failed with status code {status}: {text}"
                        ))
                    };
                    attempts.push(Attempt {
                        status: Some(status),
                        error: result.as_ref().err().cloned(),
                    });
                    return result;
                }
                attempts.push(Attempt {
                    status: Some(status),
                    error: None,
                });
                (None, retry_after(&resp))
            }
            Err(e) => {
                if Instant::now() >= deadline {
                    attempts.push(Attempt {
                        status: None,
                        error: Some("context deadline exceeded".into()),
                    });
                    return Err(deadline_err());
                }
                let msg = describe_error(&e);
                attempts.push(Attempt {
                    status: None,
                    error: Some(msg.clone()),
                });
                (Some(msg), None)
            }
        };
        if n > waits.max_retries {
            let suffix = last.map(|m| format!(": {m}")).unwrap_or_default();
            return Err(format!(
                "postMessage failed: failed to execute request: POST {} giving up after {n} attempt(s){suffix}",
                redact_url(&req.url)
            ));
        }
        let wait = wait_hint.unwrap_or_else(|| backoff(waits, n - 1));
        if Instant::now() + wait >= deadline {
            tokio::time::sleep_until(deadline).await;
            return Err(deadline_err());
        }
        tokio::time::sleep(wait).await;
    }
}

fn validate_slack(body: &str) -> Result<u16, String> {
    #[derive(serde::Deserialize)]
    struct SlackResp {
        #[serde(default)]
        ok: bool,
        #[serde(default)]
        error: String,
    }
    match serde_json::from_str::<SlackResp>(body) {
        Ok(r) if r.ok => Ok(200),
        Ok(r) => Err(format!(
            "postMessage failed: request failed: Slack responded with error: {}",
            r.error
        )),
        Err(e) => Err(format!(
            "postMessage failed: request failed: unable to unmarshal response body: {e}"
        )),
    }
}

/// github.go `Post`: list the commit's statuses (skip when the latest with our context has the
/// same state and description), then create the status. No retries (go-github's client).
pub async fn post_github(
    n: &Notifier,
    e: &EventV1,
    deadline: Instant,
    attempts: &mut Vec<Attempt>,
) -> Result<Option<u16>, String> {
    let Notifier::GitHub {
        api_base,
        owner,
        repo,
        token,
        commit_status,
    } = n
    else {
        return Err("not a GitHub notifier".into());
    };
    let Some((sha, status)) = payloads::github_status(e, commit_status)? else {
        return Ok(None);
    };
    let timeout = deadline
        .saturating_duration_since(Instant::now())
        .max(Duration::from_millis(1));
    let gh = |b: reqwest::RequestBuilder| {
        b.timeout(timeout)
            .header("Accept", "application/vnd.github.v3+json")
            .header("User-Agent", "go-github/v64.0.0")
            .header("X-GitHub-Api-Version", "2022-11-28")
            .header("Authorization", format!("Bearer {token}"))
    };
    let list_url = format!("{api_base}repos/{owner}/{repo}/commits/{sha}/statuses?per_page=50");
    let resp = gh(client().get(&list_url)).send().await.map_err(|err| {
        attempts.push(Attempt {
            status: None,
            error: Some(describe_error(&err)),
        });
        format!(
            "could not list commit statuses: GET {}: {}",
            redact_url(&list_url),
            describe_error(&err)
        )
    })?;
    let code = resp.status().as_u16();
    let text = resp.text().await.unwrap_or_default();
    attempts.push(Attempt {
        status: Some(code),
        error: None,
    });
    if !(200..300).contains(&code) {
        return Err(format!(
            "could not list commit statuses: GET {}: {} {}",
            redact_url(&list_url),
            code,
            github_message(&text)
        ));
    }
    let existing: Vec<payloads::RepoStatus> = serde_json::from_str(&text).unwrap_or_default();
    if let Some(s) = existing.iter().find(|s| {
        s.context.is_some()
            && s.state.is_some()
            && s.description.is_some()
            && s.context == status.context
    }) {
        if s.state == status.state && s.description == status.description {
            return Ok(None);
        }
    }
    let create_url = format!("{api_base}repos/{owner}/{repo}/statuses/{sha}");
    let mut body = go_json(&status);
    body.push(b'\n'); // go-github encodes with json.Encoder
    let resp = gh(client().post(&create_url))
        .header("Content-Type", "application/json")
        .body(body)
        .send()
        .await
        .map_err(|err| {
            attempts.push(Attempt {
                status: None,
                error: Some(describe_error(&err)),
            });
            format!(
                "could not create commit status: POST {}: {}",
                redact_url(&create_url),
                describe_error(&err)
            )
        })?;
    let code = resp.status().as_u16();
    let text = resp.text().await.unwrap_or_default();
    if !(200..300).contains(&code) {
        let msg = format!(
            "could not create commit status: POST {}: {} {}",
            redact_url(&create_url),
            code,
            github_message(&text)
        );
        attempts.push(Attempt {
            status: Some(code),
            error: Some(msg.clone()),
        });
        return Err(msg);
    }
    attempts.push(Attempt {
        status: Some(code),
        error: None,
    });
    Ok(Some(code))
}

fn github_message(body: &str) -> String {
    serde_json::from_str::<serde_json::Value>(body)
        .ok()
        .and_then(|v| v["message"].as_str().map(str::to_string))
        .unwrap_or_default()
}
