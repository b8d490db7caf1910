//! Prometheus relabelling (`relabel_configs`, `metric_relabel_configs` and prometheus-operator's
//! `relabelings`) over label sets whose values may be unknown: a value lint cannot know (a pod
//! IP, a generated pod name) stays unknown, and a decision that consults one is "maybe".
//!
//! Regexes are anchored and compiled with the `regex` crate, which follows RE2 (Go's regexp)
//! for everything relabelling uses; it differs only in rarely used Unicode classes and in
//! rejecting a few constructs Go accepts (`\C`), which then count as unknown.

use std::collections::BTreeMap;

use super::yaml::Node;

/// A label value: known, or known to exist with an unknown value.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord)]
pub enum Value {
    Known(String),
    Unknown,
}

pub type Labels = BTreeMap<String, Value>;

/// Whether a target survives, as far as lint can tell.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Keep {
    Yes,
    No,
    Maybe,
}

/// One relabelling step.
#[derive(Debug, Clone)]
pub struct Step {
    pub line: u64,
    pub action: String,
    pub source_labels: Vec<String>,
    pub separator: String,
    pub target_label: Option<String>,
    pub regex: String,
    pub replacement: String,
}

impl Step {
    /// Reads one step, in Prometheus' spelling (`source_labels`) or prometheus-operator's
    /// (`sourceLabels`).
    pub fn read(n: &Node) -> Step {
        let get = |a: &str, b: &str| n.get(a).or_else(|| n.get(b));
        let text = |a: &str, b: &str| get(a, b).and_then(Node::scalar_text);
        Step {
            line: n.line,
            action: text("action", "action")
                .unwrap_or_else(|| "replace".into())
                .to_lowercase(),
            source_labels: get("source_labels", "sourceLabels")
                .map(|s| s.seq().iter().filter_map(Node::scalar_text).collect())
                .unwrap_or_default(),
            separator: text("separator", "separator").unwrap_or_else(|| ";".into()),
            target_label: text("target_label", "targetLabel"),
            regex: text("regex", "regex").unwrap_or_else(|| "(.*)".into()),
            replacement: text("replacement", "replacement").unwrap_or_else(|| "$1".into()),
        }
    }

    fn regex(&self) -> Option<regex::Regex> {
        regex::Regex::new(&format!("^(?:{})$", self.regex)).ok()
    }
}

/// The value relabelling reads from `source_labels`: joined with the separator; None when one
/// of them is unknown.
fn source_value(labels: &Labels, sources: &[String], sep: &str) -> Option<String> {
    let mut parts = Vec::new();
    for s in sources {
        match labels.get(s) {
            Some(Value::Known(v)) => parts.push(v.clone()),
            Some(Value::Unknown) => return None,
            None => parts.push(String::new()),
        }
    }
    Some(parts.join(sep))
}

/// Go's regexp `Expand` for `$1`, `${1}`, `$name`.
fn expand(re: &regex::Regex, value: &str, replacement: &str) -> Option<String> {
    let caps = re.captures(value)?;
    let mut out = String::new();
    caps.expand(replacement, &mut out);
    Some(out)
}

/// Applies the steps; returns whether the target is kept.
pub fn apply(labels: &mut Labels, steps: &[Step]) -> Keep {
    let mut keep = Keep::Yes;
    for s in steps {
        let Some(re) = s.regex() else {
            // A regex lint cannot compile (Prometheus would refuse it): stop judging.
            return Keep::Maybe;
        };
        let value = source_value(labels, &s.source_labels, &s.separator);
        match s.action.as_str() {
            "keep" | "drop" => {
                let hit = value.as_ref().map(|v| re.is_match(v));
                match (s.action.as_str(), hit) {
                    ("keep", Some(false)) | ("drop", Some(true)) => return Keep::No,
                    (_, None) => keep = Keep::Maybe,
                    _ => {}
                }
            }
            "keepequal" | "dropequal" => {
                let target = s
                    .target_label
                    .as_deref()
                    .and_then(|t| labels.get(t))
                    .cloned();
                match (value, target) {
                    (Some(v), Some(Value::Known(t))) => {
                        if (v == t) != (s.action == "keepequal") {
                            return Keep::No;
                        }
                    }
                    (Some(v), None) => {
                        if v.is_empty() != (s.action == "keepequal") {
                            return Keep::No;
                        }
                    }
                    _ => keep = Keep::Maybe,
                }
            }
            "replace" => {
                let Some(target) = &s.target_label else {
                    continue;
                };
                match value {
                    Some(v) => {
                        if let Some(new) = expand(&re, &v, &s.replacement) {
                            let target = expand(&re, &v, target).unwrap_or_else(|| target.clone());
                            if new.is_empty() {
                                labels.remove(&target);
                            } else {
                                labels.insert(target, Value::Known(new));
                            }
                        }
                    }
                    None => {
                        if !target.contains('$') {
                            labels.insert(target.clone(), Value::Unknown);
                        }
                    }
                }
            }
            "lowercase" | "uppercase" => {
                if let Some(target) = &s.target_label {
                    let v = value.map_or(Value::Unknown, |v| {
                        Value::Known(if s.action == "lowercase" {
                            v.to_lowercase()
                        } else {
                            v.to_uppercase()
                        })
                    });
                    labels.insert(target.clone(), v);
                }
            }
            "hashmod" => {
                if let Some(target) = &s.target_label {
                    labels.insert(target.clone(), Value::Unknown);
                }
            }
            "labelmap" => {
                let mapped: Vec<(String, Value)> = labels
                    .iter()
                    .filter_map(|(k, v)| expand(&re, k, &s.replacement).map(|n| (n, v.clone())))
                    .collect();
                labels.extend(mapped);
            }
            "labeldrop" => labels.retain(|k, _| !re.is_match(k)),
            "labelkeep" => labels.retain(|k, _| re.is_match(k)),
            _ => keep = Keep::Maybe,
        }
    }
    keep
}

/// Whether a metric family survives `metric_relabel_configs` that look only at `__name__`
/// (steps on other labels make the answer "maybe").
pub fn metric_kept(name: &str, steps: &[Step]) -> (Keep, Option<u64>) {
    let mut labels = Labels::new();
    labels.insert("__name__".into(), Value::Known(name.into()));
    for (i, s) in steps.iter().enumerate() {
        if !matches!(s.action.as_str(), "keep" | "drop") {
            continue;
        }
        if s.source_labels.iter().any(|l| l != "__name__") {
            return (Keep::Maybe, None);
        }
        if apply(&mut labels, &steps[i..=i]) == Keep::No {
            return (Keep::No, Some(s.line));
        }
    }
    (Keep::Yes, None)
}

/// Prometheus' label name sanitising for Kubernetes labels (`app.kubernetes.io/name` ->
/// `app_kubernetes_io_name`).
pub fn sanitize(name: &str) -> String {
    name.chars()
        .map(|c| {
            if c.is_ascii_alphanumeric() || c == '_' {
                c
            } else {
                '_'
            }
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn step(yaml: &str) -> Step {
        Step::read(&crate::lint::yaml::parse_documents("t", yaml).unwrap()[0])
    }

    #[test]
    fn relabelling_follows_prometheus() {
        let mut l = Labels::new();
        l.insert(
            "__meta_kubernetes_namespace".into(),
            Value::Known("flux-system".into()),
        );
        l.insert(
            "__meta_kubernetes_pod_label_app".into(),
            Value::Known("kustomize-controller".into()),
        );
        l.insert("__meta_kubernetes_pod_ip".into(), Value::Unknown);
        let steps = [
            step("action: labelmap\nregex: __meta_kubernetes_pod_label_(.+)\n"),
            step("source_labels: [__meta_kubernetes_namespace]\ntarget_label: kubernetes_namespace\n"),
            step("source_labels: [__meta_kubernetes_pod_ip]\ntarget_label: ip\n"),
        ];
        assert_eq!(apply(&mut l, &steps), Keep::Yes);
        assert_eq!(l["app"], Value::Known("kustomize-controller".into()));
        assert_eq!(
            l["kubernetes_namespace"],
            Value::Known("flux-system".into())
        );
        assert_eq!(l["ip"], Value::Unknown);
        let keep = [step(
            "source_labels: [app]\naction: keep\nregex: source-controller\n",
        )];
        assert_eq!(apply(&mut l.clone(), &keep), Keep::No);
        let maybe = [step("source_labels: [ip]\naction: keep\nregex: 10\\..*\n")];
        assert_eq!(apply(&mut l, &maybe), Keep::Maybe);
        let drop = [step("sourceLabels: [__name__]\nregex: gotk_reconcile_duration_seconds_bucket\naction: drop\n")];
        assert_eq!(
            metric_kept("gotk_reconcile_duration_seconds_bucket", &drop).0,
            Keep::No
        );
        assert_eq!(
            metric_kept("gotk_reconcile_duration_seconds_count", &drop).0,
            Keep::Yes
        );
    }
}
