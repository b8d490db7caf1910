//! The user's Alertmanager configuration made drillable: every receiver's endpoints (webhook
//! `url`, Slack `api_url`, PagerDuty `url`, Discord and Teams `webhook_url`, ...) pointed at the
//! capture sink, one extra webhook per receiver that tells the sink which alerts it got, the
//! routing timers (group_wait, group_interval, repeat_interval) and resolve_timeout divided by the
//! time scale. Integrations that cannot be pointed at an HTTP sink (email, SNS, Pushover) are
//! dropped and named in the report; nothing ever leaves the machine.

use std::path::Path;
use std::time::Duration;

use serde_json::{json, Map, Value};

use super::promcfg::Scaler;
use crate::lint::yaml;

/// Alertmanager's own defaults for the root route and `resolve_timeout`.
const DEFAULT_TIMERS: [(&str, &str); 3] = [
    ("group_wait", "30s"),
    ("group_interval", "5m"),
    ("repeat_interval", "4h"),
];
/// The smallest group_wait after compression; group_interval and repeat_interval keep 1s.
const GROUP_WAIT_FLOOR: Duration = Duration::from_millis(100);
const TIMER_FLOOR: Duration = Duration::from_secs(1);

/// Integration -> the key holding its endpoint (None: cannot be redirected, dropped).
const INTEGRATIONS: &[(&str, Option<&str>)] = &[
    ("webhook_configs", Some("url")),
    ("slack_configs", Some("api_url")),
    ("pagerduty_configs", Some("url")),
    ("opsgenie_configs", Some("api_url")),
    ("victorops_configs", Some("api_url")),
    ("wechat_configs", Some("api_url")),
    ("telegram_configs", Some("api_url")),
    ("webex_configs", Some("api_url")),
    ("discord_configs", Some("webhook_url")),
    ("msteams_configs", Some("webhook_url")),
    // Added after Debian's 0.25 (tools::alertmanager_needs names the release for each).
    ("msteamsv2_configs", Some("webhook_url")),
    ("jira_configs", Some("api_url")),
    ("rocketchat_configs", Some("api_url")),
    ("incidentio_configs", Some("url")),
    ("mattermost_configs", Some("webhook_url")),
    ("email_configs", None),
    ("pushover_configs", None),
    ("sns_configs", None),
];

/// Global keys that name an endpoint.
const GLOBAL_URLS: &[&str] = &[
    "slack_api_url",
    "pagerduty_url",
    "opsgenie_api_url",
    "wechat_api_url",
    "victorops_api_url",
    "telegram_api_url",
    "webex_api_url",
];
/// Global endpoint keys of releases after 0.25: rewritten only where the configuration has them,
/// since an older Alertmanager refuses keys it does not know.
const NEWER_GLOBAL_URLS: &[&str] = &[
    "jira_api_url",
    "rocketchat_api_url",
    "mattermost_webhook_url",
];

/// The rewritten configuration.
#[derive(Debug)]
pub struct AmConfig {
    /// JSON text (Alertmanager reads it as YAML).
    pub text: String,
    /// Receiver names by index: the sink path `/receiver/<index>/...` names receiver `index`.
    pub receivers: Vec<String>,
    /// What the rewrite changed that a reader should know (dropped integrations, floors).
    pub notes: Vec<String>,
    /// The root route's group_wait after scaling (for the theoretical minimum).
    pub group_waits: Vec<(String, Duration)>,
}

pub fn load(path: &Path) -> Result<Value, String> {
    let text = yaml::read_text(path).map_err(|e| e.0)?;
    parse(&path.display().to_string(), &text)
}

/// Parses the text of an Alertmanager configuration that `file` names in messages.
pub fn parse(file: &str, text: &str) -> Result<Value, String> {
    let docs = yaml::parse_documents(file, text).map_err(|e| e.0)?;
    let doc = docs.into_iter().find(yaml::Node::is_map).ok_or_else(|| {
        format!("{file}:1: not an Alertmanager configuration (expected route: and receivers:)")
    })?;
    check_timers(file, &doc)?;
    let receivers = doc.get("receivers").map(yaml::Node::seq).unwrap_or_default();
    if let Some((i, r)) = receivers.iter().enumerate().find(|(_, r)| !r.is_map()) {
        return Err(format!(
            "{file}:{}: receivers[{i}]: expected a receiver (a mapping with name: and its integrations)",
            r.line
        ));
    }
    Ok(doc.to_json())
}

/// The timers the rewrite scales must be durations; checked here, where the lines are known
/// (the rewrite works on JSON).
fn check_timers(file: &str, doc: &yaml::Node) -> Result<(), String> {
    let check = |n: &yaml::Node, what: &str| match n.as_str() {
        Some(text) if super::promcfg::parse_prom_duration(text).is_err() => Err(format!(
            "{file}:{}: {what}: {:?} is not a duration (Alertmanager takes durations such as 30s, 5m, 4h)",
            n.line,
            yaml::shorten(text)
        )),
        _ => Ok(()),
    };
    if let Some(n) = doc.at(&["global", "resolve_timeout"]) {
        check(n, "global.resolve_timeout")?;
    }
    fn route(
        node: &yaml::Node,
        at: &str,
        check: &dyn Fn(&yaml::Node, &str) -> Result<(), String>,
    ) -> Result<(), String> {
        for (key, _) in DEFAULT_TIMERS {
            if let Some(n) = node.get(key) {
                check(n, &format!("{at} {key}"))?;
            }
        }
        let children = node.get("routes").map(yaml::Node::seq).unwrap_or_default();
        for (i, child) in children.iter().enumerate() {
            route(child, &format!("{at}.routes[{i}]"), check)?;
        }
        Ok(())
    }
    match doc.get("route") {
        Some(r) => route(r, "route", &check),
        None => Ok(()),
    }
}

/// Rewrites `config` (read from `path`) for a drill whose sink listens at `sink` (`http://host:port`).
pub fn rewrite(config: &Value, path: &Path, scale: f64, sink: &str) -> Result<AmConfig, String> {
    let shown = path.display().to_string();
    let mut c = config.clone();
    let Some(root) = c.as_object_mut() else {
        return Err(format!("{shown}:1: not an Alertmanager configuration"));
    };
    let mut s = Scaler::new(scale);
    let mut notes = Vec::new();

    let global = root.entry("global").or_insert_with(|| json!({}));
    if let Some(g) = global.as_object_mut() {
        for key in GLOBAL_URLS {
            g.remove(&format!("{key}_file"));
            g.insert(
                (*key).to_string(),
                Value::String(format!("{sink}/global/{key}")),
            );
        }
        for key in NEWER_GLOBAL_URLS {
            if g.remove(&format!("{key}_file")).is_some() || g.contains_key(*key) {
                g.insert(
                    (*key).to_string(),
                    Value::String(format!("{sink}/global/{key}")),
                );
            }
        }
        g.remove("http_config");
        let rt = g
            .get("resolve_timeout")
            .and_then(Value::as_str)
            .unwrap_or("5m")
            .to_string();
        g.insert(
            "resolve_timeout".into(),
            Value::String(
                s.scale_text(&rt, TIMER_FLOOR, "resolve_timeout")
                    .map_err(|e| format!("{shown}: {e}"))?,
            ),
        );
    }

    let mut group_waits = Vec::new();
    match root.get_mut("route") {
        Some(route) => {
            if let Some(r) = route.as_object_mut() {
                for (k, v) in DEFAULT_TIMERS {
                    r.entry(k).or_insert_with(|| Value::String(v.to_string()));
                }
            }
            scale_route(route, &mut s, &mut group_waits, "route")
                .map_err(|e| format!("{shown}: {e}"))?;
        }
        None => {
            return Err(format!(
                "{shown}:1: no route: not an Alertmanager configuration"
            ))
        }
    }

    if let Some(templates) = root.get_mut("templates").and_then(Value::as_array_mut) {
        // Template globs are relative to the configuration file, which now lives elsewhere.
        let dir = path.parent().unwrap_or(Path::new("."));
        for t in templates.iter_mut() {
            if let Some(p) = t.as_str().filter(|p| !Path::new(p).is_absolute()) {
                *t = Value::String(dir.join(p).display().to_string());
            }
        }
    }

    let mut names = Vec::new();
    let receivers = root
        .get_mut("receivers")
        .and_then(Value::as_array_mut)
        .ok_or_else(|| format!("{shown}:1: no receivers"))?;
    for (i, r) in receivers.iter_mut().enumerate() {
        let name = r
            .get("name")
            .and_then(Value::as_str)
            .unwrap_or("")
            .to_string();
        // Sink paths name receivers by index: every entry keeps its place.
        names.push(name.clone());
        let Some(obj) = r.as_object_mut() else {
            continue;
        };
        redirect_receiver(obj, i, &name, sink, &mut notes);
    }
    notes.extend(s.floored);
    Ok(AmConfig {
        text: serde_json::to_string_pretty(&c).unwrap_or_default(),
        receivers: names,
        notes,
        group_waits,
    })
}

fn scale_route(
    route: &mut Value,
    s: &mut Scaler,
    waits: &mut Vec<(String, Duration)>,
    at: &str,
) -> Result<(), String> {
    let Some(r) = route.as_object_mut() else {
        return Ok(());
    };
    let receiver = r
        .get("receiver")
        .and_then(Value::as_str)
        .unwrap_or("(inherited)")
        .to_string();
    for (key, _) in DEFAULT_TIMERS {
        if let Some(text) = r.get(key).and_then(Value::as_str).map(str::to_string) {
            let floor = if key == "group_wait" {
                GROUP_WAIT_FLOOR
            } else {
                TIMER_FLOOR
            };
            let scaled = s.scale_text(&text, floor, &format!("{at} {key}"))?;
            if key == "group_wait" {
                waits.push((
                    receiver.clone(),
                    super::promcfg::parse_prom_duration(&scaled)?,
                ));
            }
            r.insert(key.to_string(), Value::String(scaled));
        }
    }
    if let Some(children) = r.get_mut("routes").and_then(Value::as_array_mut) {
        for (i, child) in children.iter_mut().enumerate() {
            scale_route(child, s, waits, &format!("{at}.routes[{i}]"))?;
        }
    }
    Ok(())
}

fn redirect_receiver(
    obj: &mut Map<String, Value>,
    index: usize,
    name: &str,
    sink: &str,
    notes: &mut Vec<String>,
) {
    let keys: Vec<String> = obj
        .keys()
        .filter(|k| k.ends_with("_configs"))
        .cloned()
        .collect();
    for key in keys {
        let known = INTEGRATIONS
            .iter()
            .find(|(k, _)| *k == key)
            .map(|(_, url)| *url);
        match known {
            Some(Some(url_key)) => {
                if let Some(list) = obj.get_mut(&key).and_then(Value::as_array_mut) {
                    for (j, integration) in list.iter_mut().enumerate() {
                        if let Some(i) = integration.as_object_mut() {
                            i.remove(&format!("{url_key}_file"));
                            i.remove("http_config");
                            let kind = key.trim_end_matches("_configs");
                            i.insert(
                                url_key.to_string(),
                                Value::String(format!("{sink}/receiver/{index}/{kind}-{j}")),
                            );
                        }
                    }
                }
            }
            Some(None) | None => {
                obj.remove(&key);
                notes.push(format!(
                    "receiver {name}: {key} dropped (cannot be pointed at the capture sink)"
                ));
            }
        }
    }
    // The sink learns which alerts reached this receiver from a webhook of its own.
    let hooks = obj.entry("webhook_configs").or_insert_with(|| json!([]));
    if let Some(list) = hooks.as_array_mut() {
        list.push(
            json!({"url": format!("{sink}/receiver/{index}/capture"), "send_resolved": false}),
        );
    }
}

/// Which receiver a sink path belongs to, and whether it is the capture webhook.
pub fn receiver_of(path: &str) -> Option<(usize, bool)> {
    let rest = path.strip_prefix("/receiver/")?;
    let (index, what) = rest.split_once('/')?;
    Some((index.parse().ok()?, what == "capture"))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn receivers_point_at_the_sink_and_timers_shrink() {
        let config = json!({
            "global": {"slack_api_url": "https://hooks.slack.com/x"},
            "route": {"receiver": "default", "group_wait": "10s", "routes": [{"receiver": "pager", "group_interval": "10m"}]},
            "receivers": [
                {"name": "default", "webhook_configs": [{"url": "http://example.com/hook"}]},
                {"name": "pager", "pagerduty_configs": [{"routing_key": "k"}], "email_configs": [{"to": "a@b"}]},
            ]
        });
        let out = rewrite(
            &config,
            Path::new("/etc/am/alertmanager.yml"),
            60.0,
            "http://127.0.0.1:9",
        )
        .unwrap();
        let v: Value = serde_json::from_str(&out.text).unwrap();
        assert_eq!(v["route"]["group_wait"], "167ms");
        assert_eq!(v["route"]["group_interval"], "5s");
        assert_eq!(v["route"]["repeat_interval"], "4m");
        assert_eq!(v["route"]["routes"][0]["group_interval"], "10s");
        assert_eq!(v["global"]["resolve_timeout"], "5s");
        assert_eq!(
            v["receivers"][0]["webhook_configs"][0]["url"],
            "http://127.0.0.1:9/receiver/0/webhook-0"
        );
        assert_eq!(
            v["receivers"][0]["webhook_configs"][1]["url"],
            "http://127.0.0.1:9/receiver/0/capture"
        );
        assert_eq!(
            v["receivers"][1]["pagerduty_configs"][0]["url"],
            "http://127.0.0.1:9/receiver/1/pagerduty-0"
        );
        assert!(v["receivers"][1].get("email_configs").is_none());
        assert_eq!(out.receivers, ["default", "pager"]);
        assert!(
            out.notes
                .iter()
                .any(|n| n.contains("email_configs dropped")),
            "{:?}",
            out.notes
        );
        assert_eq!(receiver_of("/receiver/1/capture"), Some((1, true)));
        assert!(!v.to_string().contains("slack.com"));
    }

    #[test]
    fn a_timer_that_is_no_duration_is_named_at_its_line() {
        // Found by fuzzing (fuzz/corpus/drill_alertmanager/crash-timer-not-a-duration): the
        // rewrite's error named the file but no line.
        let text = "route:\n  receiver: a\n  routes:\n    - receiver: b\n      group_wait: 5muor\nreceivers: [{name: a}, {name: b}]\n";
        let e = parse("am.yaml", text).unwrap_err();
        assert!(
            e.starts_with("am.yaml:5: route.routes[0] group_wait: \"5muor\" is not a duration"),
            "{e}"
        );
        let e = parse("am.yaml", "global: {resolve_timeout: x}\nroute: {receiver: a}\nreceivers: [{name: a}]\n").unwrap_err();
        assert!(e.starts_with("am.yaml:1: global.resolve_timeout:"), "{e}");
        let ok = parse("am.yaml", "route: {receiver: a, group_wait: 1m30s}\nreceivers: [{name: a}]\n").unwrap();
        assert!(rewrite(&ok, Path::new("am.yaml"), 60.0, "http://127.0.0.1:9").is_ok());
    }

    #[test]
    fn receivers_keep_their_index_and_a_receiver_that_is_no_mapping_is_refused() {
        // Found by fuzzing (fuzz/corpus/drill_alertmanager/crash-receiver-not-a-mapping): a
        // receiver that was not a mapping was left out of the names, so the sink credited
        // every later receiver's deliveries to the one before it.
        let text = "route: {receiver: a}\nreceivers:\n  - name: a\n  - [x]\n  - name: b\n";
        let e = parse("am.yaml", text).unwrap_err();
        assert!(e.starts_with("am.yaml:4: receivers[1]: expected a receiver"), "{e}");
        let config = json!({"route": {"receiver": "a"}, "receivers": [{"name": "a"}, ["x"], {"name": "b"}]});
        let out = rewrite(&config, Path::new("am.yaml"), 60.0, "http://127.0.0.1:9").unwrap();
        assert_eq!(out.receivers, ["a", "", "b"]);
        let v: Value = serde_json::from_str(&out.text).unwrap();
        assert_eq!(
            v["receivers"][2]["webhook_configs"][0]["url"],
            "http://127.0.0.1:9/receiver/2/capture"
        );
    }
}
