//! Provider types as notification-controller builds them (v1.9.3 `internal/notifier/factory.go`,
//! `forwarder.go`, `github_helpers.go`): which options a type takes, the URL checks, the
//! headers and body of the request.

use std::collections::BTreeMap;

use hmac::{Hmac, Mac};
use sha2::Sha256;

use super::event::{go_json, EventV1};
use super::payloads;
use super::redact_url;

/// What `createNotifier` hands the factory (address and token already taken from the Secret).
#[derive(Clone, Default)]
pub struct NotifierOptions {
    pub url: String,
    pub token: String,
    pub username: String,
    pub password: String,
    pub channel: String,
    pub headers: BTreeMap<String, String>,
    pub commit_status: String,
    /// notification-controller v1.4 (Flux 2.4) and later post Adaptive Cards to MS Teams
    /// workflows; earlier ones post only the legacy MessageCard (internal/notifier/teams.go).
    pub teams_adaptive_cards: bool,
}

/// Go's `Header.Set`: replaces every value of the (case-insensitive) name.
fn set_header(headers: &mut Vec<(String, String)>, name: &str, value: &str) {
    headers.retain(|(k, _)| !k.eq_ignore_ascii_case(name));
    headers.push((name.to_string(), value.to_string()));
}

/// A constructed notifier; secrets inside never reach `Debug` or errors.
#[derive(Clone)]
pub enum Notifier {
    Forward {
        url: String,
        headers: BTreeMap<String, String>,
        hmac_key: Option<Vec<u8>>,
    },
    Slack {
        url: String,
        token: String,
        username: String,
        channel: String,
    },
    Discord {
        url: String,
        username: String,
    },
    Rocket {
        url: String,
        username: String,
        channel: String,
    },
    MsTeams {
        url: String,
        legacy: bool,
    },
    GoogleChat {
        url: String,
    },
    Webex {
        url: String,
        room_id: String,
        token: String,
    },
    Alertmanager {
        url: String,
        token: String,
        username: String,
        password: String,
    },
    GitHub {
        api_base: String,
        owner: String,
        repo: String,
        token: String,
        commit_status: String,
    },
}

impl std::fmt::Debug for Notifier {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "Notifier({})", self.address())
    }
}

/// Provider types notification-controller v1.9.3 knows (`factory.go`); the emulation posts
/// the ones [`Notifier::build`] accepts and answers the rest as unsupported.
pub const KNOWN_TYPES: &[&str] = &[
    "generic",
    "generic-hmac",
    "slack",
    "discord",
    "rocket",
    "msteams",
    "googlechat",
    "googlepubsub",
    "webex",
    "sentry",
    "azureeventhub",
    "telegram",
    "lark",
    "matrix",
    "opsgenie",
    "alertmanager",
    "grafana",
    "pagerduty",
    "datadog",
    "nats",
    "github",
    "githubdispatch",
    "githubpullrequestcomment",
    "gitlab",
    "gitlabmergerequestcomment",
    "gitea",
    "giteapullrequestcomment",
    "bitbucketserver",
    "bitbucket",
    "azuredevops",
    "zulip",
    "otel",
];

/// `isCommitStatusProvider`.
pub fn is_commit_status_type(t: &str) -> bool {
    matches!(
        t,
        "github" | "gitlab" | "gitea" | "bitbucketserver" | "bitbucket" | "azuredevops"
    )
}

/// `isGenericProvider`.
pub fn is_generic_type(t: &str) -> bool {
    matches!(t, "generic" | "generic-hmac")
}

/// `url.ParseRequestURI` as the constructors use it; the message never shows the address.
fn check_url(what: &str, url: &str, quote: bool) -> Result<(), String> {
    let why = if url.is_empty() {
        "parse \"\": empty url".to_string()
    } else if url::Url::parse(url).is_ok() {
        return Ok(());
    } else {
        format!("parse \"{}\": invalid URI for request", redact_url(url))
    };
    let shown = redact_url(url);
    Err(if quote {
        format!("{what} {shown}: '{why}'")
    } else {
        format!("{what} {shown}: {why}")
    })
}

impl Notifier {
    /// `Factory.Notifier(type)`: `provider X not supported` for types without a notifier here.
    pub fn build(type_: &str, o: &NotifierOptions) -> Result<Notifier, String> {
        let n = match type_ {
            "generic" | "generic-hmac" => {
                check_url("invalid hook URL", &o.url, false)?;
                let hmac_key = (type_ == "generic-hmac").then(|| o.token.as_bytes().to_vec());
                if hmac_key.as_ref().is_some_and(|k| k.is_empty()) {
                    return Err("HMAC key is empty".into());
                }
                Notifier::Forward {
                    url: o.url.clone(),
                    headers: o.headers.clone(),
                    hmac_key,
                }
            }
            "slack" => {
                check_url("invalid Slack hook URL", &o.url, true)?;
                Notifier::Slack {
                    url: o.url.clone(),
                    token: o.token.clone(),
                    username: o.username.clone(),
                    channel: o.channel.clone(),
                }
            }
            "discord" => {
                check_url("invalid Discord hook URL", &o.url, true)?;
                Notifier::Discord {
                    url: discord_url(&o.url),
                    username: o.username.clone(),
                }
            }
            "rocket" => {
                check_url("invalid Rocket hook URL", &o.url, true)?;
                Notifier::Rocket {
                    url: o.url.clone(),
                    username: o.username.clone(),
                    channel: o.channel.clone(),
                }
            }
            "msteams" => {
                check_url("invalid MS Teams webhook URL", &o.url, true)?;
                let host = url::Url::parse(&o.url)
                    .ok()
                    .and_then(|u| u.host_str().map(str::to_string))
                    .unwrap_or_default();
                Notifier::MsTeams {
                    url: o.url.clone(),
                    legacy: !o.teams_adaptive_cards || host.ends_with(".webhook.office.com"),
                }
            }
            "googlechat" => {
                if check_url("", &o.url, false).is_err() {
                    return Err(format!(
                        "invalid Google Chat hook URL {}",
                        redact_url(&o.url)
                    ));
                }
                Notifier::GoogleChat { url: o.url.clone() }
            }
            "webex" => {
                check_url("invalid Webex hook URL", &o.url, true)?;
                Notifier::Webex {
                    url: o.url.clone(),
                    room_id: o.channel.clone(),
                    token: o.token.clone(),
                }
            }
            "alertmanager" => {
                check_url("invalid Alertmanager URL", &o.url, true)?;
                Notifier::Alertmanager {
                    url: o.url.clone(),
                    token: o.token.clone(),
                    username: o.username.clone(),
                    password: o.password.clone(),
                }
            }
            "github" => {
                if o.commit_status.is_empty() {
                    return Err("commit status cannot be empty".into());
                }
                let token = if o.token.is_empty() {
                    o.password.clone()
                } else {
                    o.token.clone()
                };
                if token.is_empty() {
                    return Err("github token or github app details must be specified".into());
                }
                let (api_base, owner, repo) = github_api(&o.url)?;
                Notifier::GitHub {
                    api_base,
                    owner,
                    repo,
                    token,
                    commit_status: o.commit_status.clone(),
                }
            }
            other => return Err(format!("provider {other} not supported")),
        };
        Ok(n)
    }

    /// The address posted to, redacted.
    pub fn address(&self) -> String {
        match self {
            Notifier::Forward { url, .. }
            | Notifier::Slack { url, .. }
            | Notifier::Discord { url, .. }
            | Notifier::Rocket { url, .. }
            | Notifier::MsTeams { url, .. }
            | Notifier::GoogleChat { url }
            | Notifier::Webex { url, .. }
            | Notifier::Alertmanager { url, .. } => redact_url(url),
            Notifier::GitHub { api_base, .. } => redact_url(api_base),
        }
    }

    /// Token and password, for masking error messages (`masktoken`).
    pub fn secrets(&self) -> Vec<String> {
        let v = match self {
            Notifier::Forward { hmac_key, .. } => vec![hmac_key
                .as_ref()
                .map(|k| String::from_utf8_lossy(k).into_owned())
                .unwrap_or_default()],
            Notifier::Slack { token, .. }
            | Notifier::Webex { token, .. }
            | Notifier::GitHub { token, .. } => {
                vec![token.clone()]
            }
            Notifier::Alertmanager {
                token, password, ..
            } => vec![token.clone(), password.clone()],
            _ => Vec::new(),
        };
        v.into_iter().filter(|s| !s.is_empty()).collect()
    }

    /// The request `Post` sends for `e` (not GitHub, which talks to an API).
    pub fn request(&self, e: &EventV1) -> Option<PlainRequest> {
        let mut headers: Vec<(String, String)> =
            vec![("Content-Type".into(), "application/json".into())];
        let (url, body) = match self {
            Notifier::Forward {
                url,
                headers: extra,
                hmac_key,
            } => {
                let body = go_json(e);
                // forwarder.go sets each header with Go's Header.Set: a header from the Secret
                // replaces the one of the same (case-insensitive) name.
                set_header(&mut headers, "Gotk-Component", &e.reporting_controller);
                for (k, v) in extra {
                    set_header(&mut headers, k, v);
                }
                if let Some(key) = hmac_key {
                    set_header(&mut headers, "X-Signature", &format!("sha256={}", sign(&body, key)));
                }
                (url, body)
            }
            Notifier::Slack {
                url,
                token,
                username,
                channel,
            } => {
                if !token.is_empty() {
                    headers.push(("Authorization".into(), format!("Bearer {token}")));
                }
                (url, go_json(&payloads::slack(e, username, channel)))
            }
            Notifier::Discord { url, username } => (url, go_json(&payloads::discord(e, username))),
            Notifier::Rocket {
                url,
                username,
                channel,
            } => (url, go_json(&payloads::rocket(e, username, channel))),
            Notifier::MsTeams { url, legacy: true } => (url, go_json(&payloads::msteams_legacy(e))),
            Notifier::MsTeams { url, legacy: false } => {
                (url, go_json(&payloads::msteams_adaptive(e)))
            }
            Notifier::GoogleChat { url } => (url, go_json(&payloads::google_chat(e))),
            Notifier::Webex {
                url,
                room_id,
                token,
            } => {
                headers.push(("Authorization".into(), format!("Bearer {token}")));
                (url, go_json(&payloads::webex(e, room_id)))
            }
            Notifier::Alertmanager {
                url,
                token,
                username,
                password,
            } => {
                if !token.is_empty() {
                    headers.push(("Authorization".into(), format!("Bearer {token}")));
                }
                if !username.is_empty() && !password.is_empty() {
                    use base64::Engine;
                    let basic = base64::engine::general_purpose::STANDARD
                        .encode(format!("{username}:{password}"));
                    headers.retain(|(k, _)| k != "Authorization");
                    headers.push(("Authorization".into(), format!("Basic {basic}")));
                }
                (url, go_json(&payloads::alertmanager(e)))
            }
            Notifier::GitHub { .. } => return None,
        };
        let slack_api = matches!(self, Notifier::Slack { .. })
            && url == "https://slack.com/api/chat.postMessage";
        Some(PlainRequest {
            url: url.clone(),
            headers,
            body,
            slack_api,
        })
    }
}

/// discord.go: `path.Join(path, "slack")` unless the address already ends in `/slack`.
fn discord_url(address: &str) -> String {
    if address.ends_with("/slack") {
        return address.to_string();
    }
    match url::Url::parse(address) {
        Ok(mut u) => {
            let joined = format!("{}/slack", u.path().trim_end_matches('/'));
            u.set_path(&joined);
            u.to_string()
        }
        Err(_) => address.to_string(),
    }
}

/// `parseGitAddress` + `createGitHubClient`: `https://github.com/o/r` talks to
/// `https://api.github.com/`, any other host to `<scheme>://<host>/api/v3/` (GitHub Enterprise).
fn github_api(address: &str) -> Result<(String, String, String), String> {
    let (scheme, host, path) = if let Ok(u) = url::Url::parse(address) {
        let scheme = if u.scheme() == "ssh" {
            "https".to_string()
        } else {
            u.scheme().to_string()
        };
        let host = match u.port() {
            Some(p) => format!("{}:{p}", u.host_str().unwrap_or_default()),
            None => u.host_str().unwrap_or_default().to_string(),
        };
        (scheme, host, u.path().to_string())
    } else if let Some((userhost, path)) = address.split_once(':') {
        // scp-like `git@github.com:owner/repo.git`
        let host = userhost.rsplit('@').next().unwrap_or(userhost);
        ("https".to_string(), host.to_string(), path.to_string())
    } else {
        return Err(format!("failed parsing URL {:?}", redact_url(address)));
    };
    let id = path
        .trim_start_matches('/')
        .trim_end_matches(".git")
        .to_string();
    let parts: Vec<&str> = id.split('/').collect();
    if parts.len() != 2 {
        return Err(format!("invalid repository id: '{id}'"));
    }
    let base = if host == "github.com" {
        "https://api.github.com/".to_string()
    } else if host.starts_with("api.") || host.contains(".api.") {
        format!("{scheme}://{host}/")
    } else {
        format!("{scheme}://{host}/api/v3/")
    };
    Ok((base, parts[0].to_string(), parts[1].to_string()))
}

/// forwarder.go `sign`: hex HMAC-SHA256 of the body.
pub fn sign(body: &[u8], key: &[u8]) -> String {
    let mut mac =
        <Hmac<Sha256> as Mac>::new_from_slice(key).expect("HMAC takes keys of any length");
    mac.update(body);
    hex::encode(mac.finalize().into_bytes())
}

/// A POST with a JSON body and its headers.
#[derive(Clone)]
pub struct PlainRequest {
    pub url: String,
    pub headers: Vec<(String, String)>,
    pub body: Vec<u8>,
    /// slack.go validates chat.postMessage answers (`{"ok":false}` is an error).
    pub slack_api: bool,
}
