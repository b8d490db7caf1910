//! Secrets out of event messages. notification-controller writes a Provider's webhook address
//! into some of its Warning events (go-retryablehttp's `POST <url> giving up after N attempt(s)`,
//! net/http's `Post "<url>": ...`, the notifiers' `invalid Slack hook URL <url>: 'parse "<url>": ...'`)
//! and masks only the Secret's `token`; a webhook's path and query are its credentials. So in
//! messages about Alerts and Providers every address keeps its scheme, host and port and loses
//! the rest, quoted addresses without a scheme go whole, bearer tokens and header parse errors
//! (which may quote the Secret's headers) are withheld. In every other message only the user
//! info of an address (`user:password@`) is removed.

use std::sync::OnceLock;

use regex::Regex;

fn url() -> &'static Regex {
    static RE: OnceLock<Regex> = OnceLock::new();
    RE.get_or_init(|| {
        Regex::new(r#"(?i)\b([a-z][a-z0-9+.-]*)://([^\s"'<>`]+)"#).expect("valid regex")
    })
}

fn quoted_unparsable() -> &'static Regex {
    // Go's url.Error: `parse "<address>": <reason>`, and the notifiers' `... URL <address>: ...`.
    static RE: OnceLock<Regex> = OnceLock::new();
    RE.get_or_init(|| {
        Regex::new(r#"(?i)(parse |URL |address )("[^"]*"|'[^']*'|[^\s"':]*/[^\s"':]*)"#)
            .expect("valid regex")
    })
}

fn bearer() -> &'static Regex {
    static RE: OnceLock<Regex> = OnceLock::new();
    RE.get_or_init(|| {
        Regex::new(r"(?i)\b(bearer|token|basic)(\s+|=|:\s*)([A-Za-z0-9._~+/=-]{8,})")
            .expect("valid regex")
    })
}

/// An address reduced to `scheme://host[:port]`, followed by `/***` when it had more.
fn reduce(scheme: &str, rest: &str) -> String {
    let (authority, tail) = match rest.find(['/', '?', '#']) {
        Some(i) => (&rest[..i], &rest[i..]),
        None => (rest, ""),
    };
    let host = authority.rsplit_once('@').map_or(authority, |(_, h)| h);
    let host = host.trim_end_matches(['.', ',', ';', ')', ']', ':']);
    let trimmed_tail = tail.trim_end_matches(['.', ',', ';', ')', ']', ':']);
    if trimmed_tail.is_empty() || trimmed_tail == "/" {
        format!("{scheme}://{host}{trimmed_tail}")
    } else {
        format!("{scheme}://{host}/***")
    }
}

/// A message about an Alert or a Provider, with every address, token and header withheld.
pub fn notification_message(message: &str) -> String {
    if let Some(i) = message.find("failed to read headers from secret:") {
        let keep = &message[..i + "failed to read headers from secret:".len()];
        return format!("{keep} *** (withheld: the error may quote the Secret's headers)");
    }
    let out = url().replace_all(message, |c: &regex::Captures| reduce(&c[1], &c[2]));
    let out = quoted_unparsable().replace_all(&out, |c: &regex::Captures| {
        let value = &c[2];
        if value.contains("://") && !value.contains("/***") && value.matches('/').count() <= 2 {
            // Already reduced to scheme://host: keep it.
            return format!("{}{value}", &c[1]);
        }
        if value.contains("/***") {
            return format!("{}{value}", &c[1]);
        }
        let quote = value.chars().next().filter(|q| *q == '"' || *q == '\'');
        match quote {
            Some(q) => format!("{}{q}***{q}", &c[1]),
            None => format!("{}***", &c[1]),
        }
    });
    let out = bearer().replace_all(&out, |c: &regex::Captures| format!("{}{}***", &c[1], &c[2]));
    out.into_owned()
}

/// Any other message: addresses keep their path, lose their user info.
pub fn any_message(message: &str) -> String {
    url()
        .replace_all(message, |c: &regex::Captures| {
            let rest = &c[2];
            let end = rest.find(['/', '?', '#']).unwrap_or(rest.len());
            match rest[..end].rsplit_once('@') {
                Some((_, host)) => format!("{}://***@{host}{}", &c[1], &rest[end..]),
                None => c[0].to_string(),
            }
        })
        .into_owned()
}

/// The message as it may be shown, by the kind of the object the event is about.
pub fn message_for(kind: &str, message: &str) -> String {
    match kind {
        "Alert" | "Provider" => notification_message(message),
        _ => any_message(message),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const HOOK: &str = "https://hooks.slack.com/services/T0123/B0456/abcdefSECRET";

    #[test]
    fn webhook_paths_go_hosts_stay() {
        // go-retryablehttp's give-up error, as notification-controller v1.9.3 records it.
        let m = format!("failed to send notification for Kustomization/flux-system/apps: postMessage failed: failed to execute request: POST {HOOK} giving up after 5 attempt(s)");
        let r = notification_message(&m);
        assert_eq!(
            r,
            "failed to send notification for Kustomization/flux-system/apps: postMessage failed: failed to execute request: POST https://hooks.slack.com/*** giving up after 5 attempt(s)"
        );
        // net/http's url.Error quotes the address.
        let m = format!("postMessage failed: failed to execute request: Post \"{HOOK}\": dial tcp: lookup hooks.slack.com: no such host");
        let r = notification_message(&m);
        assert!(!r.contains("SECRET") && !r.contains("T0123"), "{r}");
        assert!(
            r.contains("Post \"https://hooks.slack.com/***\": dial tcp"),
            "{r}"
        );
        let m = "failed to initialize notifier for provider 'slack': failed to initialize notifier: invalid Slack hook URL hooks.slack.com/services/T/B/SECRET: 'parse \"hooks.slack.com/services/T/B/SECRET\": invalid URI for request'";
        let r = notification_message(m);
        assert!(!r.contains("SECRET"), "{r}");
        let m = "failed to send notification: http://user:hunter2@127.0.0.1:8080/hook?token=abc";
        assert_eq!(
            notification_message(m),
            "failed to send notification: http://127.0.0.1:8080/***"
        );
    }

    #[test]
    fn tokens_and_headers_are_withheld() {
        let r = notification_message(
            "request failed: Authorization: Bearer xoxb-1234567890-abcdefghij rejected",
        );
        assert!(!r.contains("xoxb-1234567890"), "{r}");
        let r = notification_message("failed to initialize notifier for provider 'x': failed to read headers from secret: yaml: line 1: did not find expected key: X-Api-Key: s3cr3t");
        assert!(!r.contains("s3cr3t"), "{r}");
        assert!(r.starts_with("failed to initialize notifier for provider 'x': failed to read headers from secret: ***"), "{r}");
    }

    #[test]
    fn harmless_messages_are_untouched() {
        for m in [
            "failed to dispatch notification for Kustomization/flux-system/apps: failed to read provider: providers.notification.toolkit.fluxcd.io \"slack\" not found",
            "failed to compile exclusion regex: ([unclosed",
            "failed to send notification for Kustomization/a/b: postMessage failed: request failed: request failed with status code 500: boom",
            "postMessage failed: failed to execute request: POST http://127.0.0.1:4321/*** giving up after 5 attempt(s)",
        ] {
            assert_eq!(notification_message(m), m);
        }
        let clone = "failed to checkout and determine revision: unable to clone 'https://github.com/acme/apps': authentication required";
        assert_eq!(any_message(clone), clone, "a Git URL is not a secret");
        assert_eq!(
            any_message("unable to clone 'https://x-access-token:ghp_abc@github.com/acme/apps'"),
            "unable to clone 'https://***@github.com/acme/apps'"
        );
    }
}
