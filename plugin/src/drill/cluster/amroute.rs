//! Alertmanager's route tree walked with an alert's full labels (as Alertmanager does: a child
//! matches when all its matchers hold, the first matching child wins unless `continue`, timers
//! inherited), for the `group_wait` each receiver applies: part of a hop's theoretical minimum.

use std::time::Duration;

use serde_json::Value;

use crate::drill::observe::Labels;
use crate::drill::promcfg::parse_prom_duration;
use crate::lint::alertmanager::parse_matcher;

/// Alertmanager's default `group_wait`.
const DEFAULT_GROUP_WAIT: Duration = Duration::from_secs(30);

/// The receivers an alert with `labels` reaches, each with its route's `group_wait`.
pub fn routes(config: &Value, labels: &Labels) -> Vec<(String, Duration)> {
    let Some(root) = config.get("route") else {
        return Vec::new();
    };
    let receiver = root["receiver"].as_str().unwrap_or_default().to_string();
    let wait = timer(root, DEFAULT_GROUP_WAIT);
    let mut out = Vec::new();
    walk(root, labels, &receiver, wait, &mut out);
    out
}

fn timer(route: &Value, inherited: Duration) -> Duration {
    route["group_wait"]
        .as_str()
        .and_then(|s| parse_prom_duration(s).ok())
        .unwrap_or(inherited)
}

fn walk(route: &Value, labels: &Labels, receiver: &str, wait: Duration, out: &mut Vec<(String, Duration)>) {
    let mut matched = false;
    for child in route["routes"].as_array().into_iter().flatten() {
        if !matches(child, labels) {
            continue;
        }
        matched = true;
        let r = child["receiver"].as_str().unwrap_or(receiver);
        walk(child, labels, r, timer(child, wait), out);
        if child["continue"] != true {
            break;
        }
    }
    if !matched {
        out.push((receiver.to_string(), wait));
    }
}

fn matches(route: &Value, labels: &Labels) -> bool {
    let value = |name: &str| labels.get(name).map(String::as_str).unwrap_or("");
    let eq = route["match"]
        .as_object()
        .into_iter()
        .flatten()
        .all(|(k, v)| value(k) == v.as_str().unwrap_or_default());
    let re = route["match_re"].as_object().into_iter().flatten().all(|(k, v)| {
        regex::Regex::new(&format!("^(?:{})$", v.as_str().unwrap_or_default())).is_ok_and(|r| r.is_match(value(k)))
    });
    let matchers = route["matchers"]
        .as_array()
        .into_iter()
        .flatten()
        .filter_map(Value::as_str)
        .all(|m| parse_matcher(m).is_ok_and(|m| m.holds(value(&m.name))));
    eq && re && matchers
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn first_match_wins_and_timers_inherit() {
        let config = json!({"route": {"receiver": "default", "group_wait": "10s", "routes": [
            {"receiver": "pager", "matchers": ["severity=\"critical\""], "group_wait": "1s"},
            {"receiver": "team", "match_re": {"alertname": "Flux.*"}},
        ]}});
        let l = |pairs: &[(&str, &str)]| {
            pairs
                .iter()
                .map(|(k, v)| (k.to_string(), v.to_string()))
                .collect::<Labels>()
        };
        assert_eq!(
            routes(&config, &l(&[("alertname", "FluxX"), ("severity", "critical")])),
            [("pager".to_string(), Duration::from_secs(1))]
        );
        assert_eq!(
            routes(&config, &l(&[("alertname", "FluxX"), ("severity", "warning")])),
            [("team".to_string(), Duration::from_secs(10))]
        );
        assert_eq!(
            routes(&config, &l(&[("alertname", "Other")])),
            [("default".to_string(), Duration::from_secs(10))]
        );
    }
}
