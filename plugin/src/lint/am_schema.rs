//! The keys Alertmanager accepts in its configuration file, per section. Alertmanager reads the
//! file strictly (`yaml.UnmarshalStrict`): an unknown key anywhere makes it refuse the whole
//! configuration and keep running the previous one. Field names are those of the Go structs in
//! prometheus/alertmanager's `config/` and `notify/*/config.go` from v0.25 to v0.34 and the
//! current head, united, so a key some supported release knows is accepted. Sections that come
//! from other modules (`http_config`, `tls_config`, time intervals, SigV4) are not checked.

use super::yaml::Node;
use super::Finding;

/// A field and the section it opens (None: a value, or a section not checked).
type Field = (&'static str, Option<&'static str>);

pub static STRUCTS: &[(&str, &[Field])] = &[
    (
        "Config",
        &[
            ("event_recorder", None),
            ("global", Some("GlobalConfig")),
            ("inhibit_rules", Some("InhibitRule")),
            ("mute_time_intervals", Some("MuteTimeInterval")),
            ("receivers", Some("Receiver")),
            ("route", Some("Route")),
            ("templates", None),
            ("time_intervals", Some("TimeInterval")),
            ("tracing", Some("TracingConfig")),
        ],
    ),
    (
        "DiscordConfig",
        &[
            ("avatar_url", None),
            ("content", None),
            ("http_config", None),
            ("message", None),
            ("send_resolved", None),
            ("title", None),
            ("username", None),
            ("webhook_url", None),
            ("webhook_url_file", None),
        ],
    ),
    (
        "EmailConfig",
        &[
            ("auth_identity", None),
            ("auth_password", None),
            ("auth_password_file", None),
            ("auth_secret", None),
            ("auth_secret_file", None),
            ("auth_username", None),
            ("force_implicit_tls", None),
            ("from", None),
            ("headers", None),
            ("hello", None),
            ("html", None),
            ("require_tls", None),
            ("send_resolved", None),
            ("smarthost", None),
            ("text", None),
            ("threading", Some("ThreadingConfig")),
            ("tls_config", None),
            ("to", None),
        ],
    ),
    (
        "GlobalConfig",
        &[
            ("http_config", None),
            ("jira_api_url", None),
            ("mattermost_webhook_url", None),
            ("mattermost_webhook_url_file", None),
            ("opsgenie_api_key", None),
            ("opsgenie_api_key_file", None),
            ("opsgenie_api_url", None),
            ("pagerduty_url", None),
            ("resolve_timeout", None),
            ("rocketchat_api_url", None),
            ("rocketchat_token", None),
            ("rocketchat_token_file", None),
            ("rocketchat_token_id", None),
            ("rocketchat_token_id_file", None),
            ("slack_api_url", None),
            ("slack_api_url_file", None),
            ("slack_app_token", None),
            ("slack_app_token_file", None),
            ("slack_app_url", None),
            ("smtp_auth_identity", None),
            ("smtp_auth_password", None),
            ("smtp_auth_password_file", None),
            ("smtp_auth_secret", None),
            ("smtp_auth_secret_file", None),
            ("smtp_auth_username", None),
            ("smtp_force_implicit_tls", None),
            ("smtp_from", None),
            ("smtp_hello", None),
            ("smtp_require_tls", None),
            ("smtp_smarthost", None),
            ("smtp_tls_config", None),
            ("telegram_api_url", None),
            ("telegram_bot_token", None),
            ("telegram_bot_token_file", None),
            ("victorops_api_key", None),
            ("victorops_api_key_file", None),
            ("victorops_api_url", None),
            ("webex_api_url", None),
            ("wechat_api_corp_id", None),
            ("wechat_api_secret", None),
            ("wechat_api_secret_file", None),
            ("wechat_api_url", None),
        ],
    ),
    (
        "IncidentioConfig",
        &[
            ("alert_source_token", None),
            ("alert_source_token_file", None),
            ("http_config", None),
            ("max_alerts", None),
            ("send_resolved", None),
            ("timeout", None),
            ("url", None),
            ("url_file", None),
        ],
    ),
    (
        "InhibitRule",
        &[
            ("equal", None),
            ("name", None),
            ("source_match", None),
            ("source_match_re", None),
            ("source_matchers", None),
            ("target_match", None),
            ("target_match_re", None),
            ("target_matchers", None),
        ],
    ),
    (
        "JiraConfig",
        &[
            ("api_type", None),
            ("api_url", None),
            ("description", None),
            ("fields", None),
            ("http_config", None),
            ("issue_type", None),
            ("labels", None),
            ("priority", None),
            ("project", None),
            ("reopen_duration", None),
            ("reopen_transition", None),
            ("resolve_transition", None),
            ("send_resolved", None),
            ("summary", None),
            ("wont_fix_resolution", None),
        ],
    ),
    (
        "JiraFieldConfig",
        &[("enable_update", None), ("template", None)],
    ),
    (
        "MSTeamsConfig",
        &[
            ("http_config", None),
            ("send_resolved", None),
            ("summary", None),
            ("text", None),
            ("title", None),
            ("webhook_url", None),
            ("webhook_url_file", None),
        ],
    ),
    (
        "MSTeamsV2Config",
        &[
            ("http_config", None),
            ("send_resolved", None),
            ("text", None),
            ("title", None),
            ("webhook_url", None),
            ("webhook_url_file", None),
        ],
    ),
    (
        "MattermostAttachment",
        &[
            ("author_icon", None),
            ("author_link", None),
            ("author_name", None),
            ("color", None),
            ("fallback", None),
            ("fields", Some("MattermostField")),
            ("footer", None),
            ("footer_icon", None),
            ("image_url", None),
            ("pretext", None),
            ("text", None),
            ("thumb_url", None),
            ("title", None),
            ("title_link", None),
        ],
    ),
    (
        "MattermostConfig",
        &[
            ("attachments", Some("MattermostAttachment")),
            ("author_icon", None),
            ("author_link", None),
            ("author_name", None),
            ("channel", None),
            ("color", None),
            ("fallback", None),
            ("fields", Some("MattermostField")),
            ("footer", None),
            ("footer_icon", None),
            ("http_config", None),
            ("icon_emoji", None),
            ("icon_url", None),
            ("image_url", None),
            ("pretext", None),
            ("priority", Some("MattermostPriority")),
            ("props", Some("MattermostProps")),
            ("send_resolved", None),
            ("text", None),
            ("thumb_url", None),
            ("title", None),
            ("title_link", None),
            ("type", None),
            ("username", None),
            ("webhook_url", None),
            ("webhook_url_file", None),
        ],
    ),
    (
        "MattermostField",
        &[("short", None), ("title", None), ("value", None)],
    ),
    (
        "MattermostPriority",
        &[
            ("persistent_notifications", None),
            ("priority", None),
            ("requested_ack", None),
        ],
    ),
    ("MattermostProps", &[("card", None)]),
    (
        "MuteTimeInterval",
        &[("name", None), ("time_intervals", None)],
    ),
    ("NotifierConfig", &[("send_resolved", None)]),
    (
        "OpsGenieConfig",
        &[
            ("actions", None),
            ("api_key", None),
            ("api_key_file", None),
            ("api_url", None),
            ("description", None),
            ("details", None),
            ("entity", None),
            ("http_config", None),
            ("message", None),
            ("note", None),
            ("priority", None),
            ("responders", Some("OpsGenieConfigResponder")),
            ("send_resolved", None),
            ("source", None),
            ("tags", None),
            ("update_alerts", None),
        ],
    ),
    (
        "OpsGenieConfigResponder",
        &[
            ("id", None),
            ("name", None),
            ("type", None),
            ("username", None),
        ],
    ),
    (
        "PagerdutyConfig",
        &[
            ("class", None),
            ("client", None),
            ("client_url", None),
            ("component", None),
            ("description", None),
            ("details", None),
            ("group", None),
            ("http_config", None),
            ("images", Some("PagerdutyImage")),
            ("links", Some("PagerdutyLink")),
            ("routing_key", None),
            ("routing_key_file", None),
            ("send_resolved", None),
            ("service_key", None),
            ("service_key_file", None),
            ("severity", None),
            ("source", None),
            ("timeout", None),
            ("url", None),
        ],
    ),
    (
        "PagerdutyImage",
        &[("alt", None), ("href", None), ("src", None)],
    ),
    ("PagerdutyLink", &[("href", None), ("text", None)]),
    (
        "PushoverConfig",
        &[
            ("device", None),
            ("expire", None),
            ("html", None),
            ("http_config", None),
            ("message", None),
            ("monospace", None),
            ("priority", None),
            ("retry", None),
            ("send_resolved", None),
            ("sound", None),
            ("title", None),
            ("token", None),
            ("token_file", None),
            ("ttl", None),
            ("url", None),
            ("url_title", None),
            ("user_key", None),
            ("user_key_file", None),
        ],
    ),
    (
        "Receiver",
        &[
            ("discord_configs", Some("DiscordConfig")),
            ("email_configs", Some("EmailConfig")),
            ("incidentio_configs", Some("IncidentioConfig")),
            ("jira_configs", Some("JiraConfig")),
            ("labels", None),
            ("mattermost_configs", Some("MattermostConfig")),
            ("msteams_configs", Some("MSTeamsConfig")),
            ("msteamsv2_configs", Some("MSTeamsV2Config")),
            ("name", None),
            ("opsgenie_configs", Some("OpsGenieConfig")),
            ("pagerduty_configs", Some("PagerdutyConfig")),
            ("pushover_configs", Some("PushoverConfig")),
            ("rocketchat_configs", Some("RocketchatConfig")),
            ("slack_configs", Some("SlackConfig")),
            ("sns_configs", Some("SNSConfig")),
            ("telegram_configs", Some("TelegramConfig")),
            ("victorops_configs", Some("VictorOpsConfig")),
            ("webex_configs", Some("WebexConfig")),
            ("webhook_configs", Some("WebhookConfig")),
            ("wechat_configs", Some("WechatConfig")),
        ],
    ),
    (
        "RocketchatConfig",
        &[
            ("actions", None),
            ("api_url", None),
            ("channel", None),
            ("color", None),
            ("emoji", None),
            ("fields", None),
            ("http_config", None),
            ("icon_url", None),
            ("image_url", None),
            ("link_names", None),
            ("send_resolved", None),
            ("short_fields", None),
            ("text", None),
            ("thumb_url", None),
            ("title", None),
            ("title_link", None),
            ("token", None),
            ("token_file", None),
            ("token_id", None),
            ("token_id_file", None),
        ],
    ),
    (
        "Route",
        &[
            ("active_time_intervals", None),
            ("continue", None),
            ("group_by", None),
            ("group_interval", None),
            ("group_wait", None),
            ("labels", None),
            ("match", None),
            ("match_re", None),
            ("matchers", None),
            ("mute_time_intervals", None),
            ("receiver", None),
            ("repeat_interval", None),
            ("routes", Some("Route")),
        ],
    ),
    (
        "SNSConfig",
        &[
            ("api_url", None),
            ("attributes", None),
            ("http_config", None),
            ("message", None),
            ("phone_number", None),
            ("send_resolved", None),
            ("sigv4", None),
            ("subject", None),
            ("target_arn", None),
            ("topic_arn", None),
            ("use_aws_http_client", None),
        ],
    ),
    (
        "SlackAction",
        &[
            ("confirm", Some("SlackConfirmationField")),
            ("name", None),
            ("style", None),
            ("text", None),
            ("type", None),
            ("url", None),
            ("value", None),
        ],
    ),
    (
        "SlackConfig",
        &[
            ("actions", Some("SlackAction")),
            ("api_url", None),
            ("api_url_file", None),
            ("app_token", None),
            ("app_token_file", None),
            ("app_url", None),
            ("callback_id", None),
            ("channel", None),
            ("color", None),
            ("fallback", None),
            ("fields", Some("SlackField")),
            ("footer", None),
            ("http_config", None),
            ("icon_emoji", None),
            ("icon_url", None),
            ("image_url", None),
            ("link_names", None),
            ("message_text", None),
            ("mrkdwn_in", None),
            ("pretext", None),
            ("send_resolved", None),
            ("short_fields", None),
            ("text", None),
            ("thumb_url", None),
            ("timeout", None),
            ("title", None),
            ("title_link", None),
            ("update_message", None),
            ("username", None),
        ],
    ),
    (
        "SlackConfirmationField",
        &[
            ("dismiss_text", None),
            ("ok_text", None),
            ("text", None),
            ("title", None),
        ],
    ),
    (
        "SlackField",
        &[("short", None), ("title", None), ("value", None)],
    ),
    (
        "TelegramConfig",
        &[
            ("api_url", None),
            ("bot_token", None),
            ("bot_token_file", None),
            ("chat_id", None),
            ("chat_id_file", None),
            ("disable_notifications", None),
            ("http_config", None),
            ("message", None),
            ("message_thread_id", None),
            ("parse_mode", None),
            ("send_resolved", None),
        ],
    ),
    (
        "ThreadingConfig",
        &[("enabled", None), ("thread_by_date", None)],
    ),
    ("TimeInterval", &[("name", None), ("time_intervals", None)]),
    (
        "TracingConfig",
        &[
            ("client_type", None),
            ("compression", None),
            ("endpoint", None),
            ("headers", None),
            ("insecure", None),
            ("sampling_fraction", None),
            ("timeout", None),
            ("tls_config", None),
        ],
    ),
    (
        "VictorOpsConfig",
        &[
            ("api_key", None),
            ("api_key_file", None),
            ("api_url", None),
            ("custom_fields", None),
            ("entity_display_name", None),
            ("http_config", None),
            ("message_type", None),
            ("monitoring_tool", None),
            ("routing_key", None),
            ("send_resolved", None),
            ("state_message", None),
        ],
    ),
    (
        "WebexConfig",
        &[
            ("api_url", None),
            ("http_config", None),
            ("message", None),
            ("room_id", None),
            ("send_resolved", None),
        ],
    ),
    (
        "WebhookConfig",
        &[
            ("http_config", None),
            ("max_alerts", None),
            ("payload", None),
            ("send_resolved", None),
            ("timeout", None),
            ("url", None),
            ("url_file", None),
        ],
    ),
    (
        "WechatConfig",
        &[
            ("agent_id", None),
            ("api_secret", None),
            ("api_secret_file", None),
            ("api_url", None),
            ("corp_id", None),
            ("http_config", None),
            ("message", None),
            ("message_type", None),
            ("send_resolved", None),
            ("to_party", None),
            ("to_tag", None),
            ("to_user", None),
        ],
    ),
];

fn fields(section: &str) -> Option<&'static [Field]> {
    STRUCTS.iter().find(|(n, _)| *n == section).map(|(_, f)| *f)
}

/// FM025: every key of the configuration that no Alertmanager release accepts.
pub fn unknown_fields(file: &str, config: &Node, out: &mut Vec<Finding>) {
    walk(file, config, "Config", "", out, 0);
}

fn walk(file: &str, node: &Node, section: &str, path: &str, out: &mut Vec<Finding>, depth: usize) {
    let Some(known) = fields(section) else { return };
    if depth > 16 {
        return;
    }
    for (k, v) in node.entries() {
        let Some(key) = k.as_str() else { continue };
        let here = if path.is_empty() {
            key.to_string()
        } else {
            format!("{path}.{key}")
        };
        match known.iter().find(|(name, _)| *name == key) {
            None => {
                let near = known
                    .iter()
                    .map(|(n, _)| (super::promql::distance(key, n), *n))
                    .min()
                    .filter(|(d, _)| *d <= 3)
                    .map(|(_, n)| n);
                out.push(Finding::new(
                    file,
                    k.line,
                    "FM025",
                    format!("{here}: Alertmanager knows no field {key:?} here and refuses the whole configuration (it keeps running the previous one)"),
                    match near {
                        Some(n) => format!("did you mean {n}?"),
                        None => format!("remove it; the fields of {} are {}", if path.is_empty() { "the top level" } else { path }, known.iter().map(|(n, _)| *n).collect::<Vec<_>>().join(", ")),
                    },
                ));
            }
            Some((_, Some(inner))) => {
                if v.is_map() {
                    walk(file, v, inner, &here, out, depth + 1);
                } else {
                    for (i, item) in v.seq().iter().enumerate() {
                        walk(file, item, inner, &format!("{here}[{i}]"), out, depth + 1);
                    }
                }
            }
            Some((_, None)) => {}
        }
    }
}
