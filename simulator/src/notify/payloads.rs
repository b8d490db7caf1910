//! The bodies notification-controller's notifiers send (v1.9.3 `internal/notifier/`: slack.go,
//! discord.go, rocket.go, teams.go, google_chat.go, webex.go, alertmanager.go, github.go,
//! util.go). Structs mirror the Go ones so field order and `omitempty` match; Go iterates maps
//! in random order, so where a notifier lists metadata unsorted we sort by key.

use std::collections::BTreeMap;

use serde::Serialize;

use super::event::{format_metav1, EventV1};

fn object_name(e: &EventV1) -> String {
    let o = &e.involved_object;
    format!("{}/{}.{}", o.kind.to_lowercase(), o.name, o.namespace)
}

fn is_error(e: &EventV1) -> bool {
    e.severity == "error"
}

#[derive(Debug, Clone, Serialize)]
pub struct SlackPayload {
    pub channel: String,
    pub username: String,
    pub icon_url: String,
    pub icon_emoji: String,
    #[serde(skip_serializing_if = "String::is_empty")]
    pub text: String,
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub attachments: Vec<SlackAttachment>,
}

#[derive(Debug, Clone, Serialize)]
pub struct SlackAttachment {
    pub fallback: String,
    pub color: String,
    pub author_name: String,
    pub text: String,
    pub mrkdwn_in: Vec<String>,
    pub fields: Vec<SlackField>,
}

#[derive(Debug, Clone, Serialize)]
pub struct SlackField {
    pub title: String,
    pub value: String,
    pub short: bool,
}

fn slack_fields(e: &EventV1) -> Vec<SlackField> {
    e.metadata
        .iter()
        .map(|(k, v)| SlackField {
            title: k.clone(),
            value: v.clone(),
            short: false,
        })
        .collect()
}

/// slack.go: username falls back to `reportingController`; `fallback` is the first line.
pub fn slack(e: &EventV1, username: &str, channel: &str) -> SlackPayload {
    let author = object_name(e);
    let first_line = e.message.split('\n').next().unwrap_or_default();
    SlackPayload {
        channel: channel.to_string(),
        username: if username.is_empty() {
            e.reporting_controller.clone()
        } else {
            username.to_string()
        },
        icon_url: String::new(),
        icon_emoji: String::new(),
        text: String::new(),
        attachments: vec![SlackAttachment {
            fallback: format!("{author}: {first_line}"),
            color: if is_error(e) { "danger" } else { "good" }.into(),
            author_name: author,
            text: e.message.clone(),
            mrkdwn_in: vec!["text".into()],
            fields: slack_fields(e),
        }],
    }
}

/// discord.go: the Slack payload with an empty channel and no fallback.
pub fn discord(e: &EventV1, username: &str) -> SlackPayload {
    let mut p = slack(e, username, "");
    p.attachments[0].fallback = String::new();
    p
}

/// rocket.go: Slack-shaped, colours `#0076D7`/`#FF0000`, no username fallback, no fallback text.
pub fn rocket(e: &EventV1, username: &str, channel: &str) -> SlackPayload {
    let mut p = slack(e, "", channel);
    p.username = username.to_string();
    let a = &mut p.attachments[0];
    a.fallback = String::new();
    a.color = if is_error(e) { "#FF0000" } else { "#0076D7" }.into();
    p
}

/// teams.go legacy connector payload (`MessageCard`), for `*.webhook.office.com` hosts.
#[derive(Debug, Clone, Serialize)]
pub struct MsTeamsMessageCard {
    #[serde(rename = "@type")]
    pub type_: String,
    #[serde(rename = "@context")]
    pub context: String,
    #[serde(rename = "themeColor")]
    pub theme_color: String,
    pub summary: String,
    pub sections: Vec<MsTeamsSection>,
}

#[derive(Debug, Clone, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct MsTeamsSection {
    pub activity_title: String,
    pub activity_subtitle: String,
    pub facts: Vec<NameValue>,
}

#[derive(Debug, Clone, Serialize)]
pub struct NameValue {
    pub name: String,
    pub value: String,
}

pub fn msteams_legacy(e: &EventV1) -> MsTeamsMessageCard {
    let obj = object_name(e);
    MsTeamsMessageCard {
        type_: "MessageCard".into(),
        context: "http://schema.org/extensions".into(),
        theme_color: if is_error(e) { "FF0000" } else { "0076D7" }.into(),
        summary: obj.clone(),
        sections: vec![MsTeamsSection {
            activity_title: e.message.clone(),
            activity_subtitle: obj,
            facts: e
                .metadata
                .iter()
                .map(|(k, v)| NameValue {
                    name: k.clone(),
                    value: v.clone(),
                })
                .collect(),
        }],
    }
}

/// teams.go Adaptive Card 1.4 (notification-controller v1.4.0 and later).
#[derive(Debug, Clone, Serialize)]
pub struct AdaptiveCardMessage {
    #[serde(rename = "type")]
    pub type_: String,
    pub attachments: Vec<AdaptiveCardAttachment>,
}

#[derive(Debug, Clone, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct AdaptiveCardAttachment {
    pub content_type: String,
    pub content: AdaptiveCardContent,
}

#[derive(Debug, Clone, Serialize)]
pub struct AdaptiveCardContent {
    #[serde(rename = "$schema")]
    pub schema: String,
    #[serde(rename = "type")]
    pub type_: String,
    pub version: String,
    pub body: Vec<CardElement>,
    pub msteams: CardWidth,
}

#[derive(Debug, Clone, Serialize)]
pub struct CardWidth {
    #[serde(skip_serializing_if = "String::is_empty")]
    pub width: String,
}

/// Go embeds three optional structs inline; their fields are all `omitempty`.
#[derive(Debug, Clone, Default, Serialize)]
pub struct CardElement {
    #[serde(rename = "type")]
    pub type_: String,
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub items: Vec<CardElement>,
    #[serde(skip_serializing_if = "String::is_empty")]
    pub text: String,
    #[serde(skip_serializing_if = "String::is_empty")]
    pub size: String,
    #[serde(skip_serializing_if = "String::is_empty")]
    pub weight: String,
    #[serde(skip_serializing_if = "String::is_empty")]
    pub color: String,
    #[serde(skip_serializing_if = "std::ops::Not::not")]
    pub wrap: bool,
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub facts: Vec<TitleValue>,
}

#[derive(Debug, Clone, Serialize)]
pub struct TitleValue {
    pub title: String,
    pub value: String,
}

pub fn msteams_adaptive(e: &EventV1) -> AdaptiveCardMessage {
    // `summary` first, then the rest sorted by key (teams.go sorts them itself).
    let mut facts: Vec<TitleValue> = e
        .metadata
        .get("summary")
        .map(|s| TitleValue {
            title: "summary".into(),
            value: s.clone(),
        })
        .into_iter()
        .collect();
    facts.extend(
        e.metadata
            .iter()
            .filter(|(k, _)| k.as_str() != "summary")
            .map(|(k, v)| TitleValue {
                title: k.clone(),
                value: v.clone(),
            }),
    );
    let title = CardElement {
        type_: "TextBlock".into(),
        text: object_name(e),
        size: "large".into(),
        weight: "bolder".into(),
        wrap: true,
        ..Default::default()
    };
    let message = CardElement {
        type_: "TextBlock".into(),
        text: e.message.clone(),
        color: if is_error(e) {
            "attention".into()
        } else {
            String::new()
        },
        wrap: true,
        ..Default::default()
    };
    let fact_set = CardElement {
        type_: "FactSet".into(),
        facts,
        ..Default::default()
    };
    AdaptiveCardMessage {
        type_: "message".into(),
        attachments: vec![AdaptiveCardAttachment {
            content_type: "application/vnd.microsoft.card.adaptive".into(),
            content: AdaptiveCardContent {
                schema: "http://adaptivecards.io/schemas/adaptive-card.json".into(),
                type_: "AdaptiveCard".into(),
                version: "1.4".into(),
                body: vec![CardElement {
                    type_: "Container".into(),
                    items: vec![title, message, fact_set],
                    ..Default::default()
                }],
                msteams: CardWidth {
                    width: "Full".into(),
                },
            },
        }],
    }
}

/// google_chat.go: one card; pointer fields are `null`, not omitted.
pub fn google_chat(e: &EventV1) -> serde_json::Value {
    use serde_json::json;
    let text = if is_error(e) {
        format!("<font color=\"#ff0000\">{}</font>", e.message)
    } else {
        e.message.clone()
    };
    let mut sections = vec![
        json!({"header": "", "widgets": [{"textParagraph": {"text": text}, "keyValue": null}]}),
    ];
    if !e.metadata.is_empty() {
        let widgets: Vec<_> = e
            .metadata
            .iter()
            .map(|(k, v)| json!({"textParagraph": null, "keyValue": {"topLabel": k, "content": v, "contentMultiline": false, "bottomLabel": null, "icon": null}}))
            .collect();
        sections.push(json!({"header": "", "widgets": widgets}));
    }
    json!({"cards": [{"header": {"title": object_name(e), "subtitle": e.reporting_controller, "imageUrl": null, "imageStyle": null}, "sections": sections}]})
}

/// webex.go: markdown with ✅ or 💣, one `>**key**: value` line per metadata entry.
#[derive(Debug, Clone, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct WebexPayload {
    #[serde(skip_serializing_if = "String::is_empty")]
    pub room_id: String,
    #[serde(skip_serializing_if = "String::is_empty")]
    pub markdown: String,
}

pub fn webex(e: &EventV1, room_id: &str) -> WebexPayload {
    let emoji = if is_error(e) { "💣" } else { "✅" };
    let mut md = format!("{emoji} **{}**\n{}\n", object_name(e), e.message);
    for (k, v) in &e.metadata {
        md.push_str(&format!(">**{k}**: {v}\n"));
    }
    WebexPayload {
        room_id: room_id.to_string(),
        markdown: md,
    }
}

#[derive(Debug, Clone, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct AlertmanagerAlert {
    pub status: String,
    pub labels: BTreeMap<String, String>,
    pub annotations: BTreeMap<String, String>,
    pub starts_at: String,
    /// `omitempty` has no effect on Go structs: the zero time is always sent.
    pub ends_at: String,
}

/// alertmanager.go: metadata become labels (`summary` moves to annotations), plus alertname
/// `Flux<Kind><Title(reason)>`, severity, reason, kind, name, namespace, reportingcontroller.
pub fn alertmanager(e: &EventV1) -> Vec<AlertmanagerAlert> {
    let mut labels = e.metadata.clone();
    let mut annotations = BTreeMap::from([("message".to_string(), e.message.clone())]);
    if let Some(summary) = labels.remove("summary") {
        annotations.insert("summary".into(), summary);
    }
    let o = &e.involved_object;
    labels.insert(
        "alertname".into(),
        format!("Flux{}{}", o.kind, title_case(&e.reason)),
    );
    labels.insert("severity".into(), e.severity.clone());
    labels.insert("reason".into(), e.reason.clone());
    labels.insert("kind".into(), o.kind.clone());
    labels.insert("name".into(), o.name.clone());
    labels.insert("namespace".into(), o.namespace.clone());
    labels.insert("reportingcontroller".into(), e.reporting_controller.clone());
    vec![AlertmanagerAlert {
        status: "firing".into(),
        labels,
        annotations,
        starts_at: e
            .timestamp
            .map(format_metav1)
            .unwrap_or_else(|| "0001-01-01T00:00:00Z".into()),
        ends_at: "0001-01-01T00:00:00Z".into(),
    }]
}

/// `cases.Title(language.Und)`: each word's first letter upper-cased, the rest lower-cased
/// (`ReconciliationSucceeded` becomes `Reconciliationsucceeded`).
pub fn title_case(s: &str) -> String {
    let mut out = String::with_capacity(s.len());
    let mut start = true;
    for c in s.chars() {
        if c.is_alphanumeric() || c == '\'' {
            if start {
                out.extend(c.to_uppercase());
            } else {
                out.extend(c.to_lowercase());
            }
            start = false;
        } else {
            out.push(c);
            start = true;
        }
    }
    out
}

/// go-github `RepoStatus` as `CreateStatus` sends it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, serde::Deserialize)]
pub struct RepoStatus {
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub state: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub description: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub context: Option<String>,
}

/// github.go `Post` up to the API calls: `None` for Progressing events (skipped), otherwise
/// the commit hash and the status. Errors are NC's messages.
pub fn github_status(
    e: &EventV1,
    commit_status: &str,
) -> Result<Option<(String, RepoStatus)>, String> {
    if e.reason == "Progressing" {
        return Ok(None);
    }
    let rev = ["commit", "originRevision", "revision"]
        .iter()
        .find_map(|k| e.metadata.get(*k))
        .ok_or("missing revision metadata")?;
    let sha = commit_hash(rev)
        .ok_or_else(|| format!("failed to extract commit hash from '{rev}' revision"))?;
    let state = match e.severity.as_str() {
        "info" => "success",
        "error" => "failure",
        _ => return Err("can't convert to github state".into()),
    };
    let description = split_camel_case(&e.reason).join(" ").to_lowercase();
    Ok(Some((
        sha,
        RepoStatus {
            state: Some(state.into()),
            description: Some(description),
            context: Some(commit_status.to_string()),
        },
    )))
}

/// fluxcd/pkg git `ExtractHashFromRevision` of `TransformRevision`; only SHA-1 (40 chars).
fn commit_hash(rev: &str) -> Option<String> {
    let hash = match rev.rfind(':') {
        Some(i) => &rev[i + 1..],
        None => rev.rsplit('/').next().unwrap_or(rev),
    };
    (hash.len() == 40).then(|| hash.to_string())
}

/// `generateDefaultCommitStatus`: `kind/name/<first UID segment>`, lower-cased.
pub fn default_commit_status(provider_uid: &str, e: &EventV1) -> String {
    let uid = provider_uid.split('-').next().unwrap_or_default();
    format!(
        "{}/{}/{}",
        e.involved_object.kind, e.involved_object.name, uid
    )
    .to_lowercase()
}

/// util.go `splitCamelcase` (lower, upper, digit and other runs; `PDFLoader` gives PDF Loader).
pub fn split_camel_case(src: &str) -> Vec<String> {
    let class = |c: char| {
        if c.is_lowercase() {
            1
        } else if c.is_uppercase() {
            2
        } else if c.is_numeric() {
            3
        } else {
            4
        }
    };
    let mut runs: Vec<Vec<char>> = Vec::new();
    let mut last = 0;
    for c in src.chars() {
        let k = class(c);
        match runs.last_mut() {
            Some(run) if k == last => run.push(c),
            _ => runs.push(vec![c]),
        }
        last = k;
    }
    for i in 0..runs.len().saturating_sub(1) {
        if runs[i][0].is_uppercase() && runs[i + 1][0].is_lowercase() {
            if let Some(c) = runs[i].pop() {
                runs[i + 1].insert(0, c);
            }
        }
    }
    runs.into_iter()
        .filter(|r| !r.is_empty())
        .map(|r| r.into_iter().collect())
        .collect()
}
