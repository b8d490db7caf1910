//! Prometheus rules (PrometheusRule and VMRule objects, plain, Thanos and Mimir/Cortex rule
//! files) against the Flux metrics catalog of the target Flux version: each expression (see
//! `exprs`), `for`, severity and annotations, annotations that read labels the query drops,
//! duplicates.

use std::collections::{BTreeMap, BTreeSet, HashMap};
use std::time::Duration;

use super::exprs::{self, ExprCtx, ExprFacts};
use super::helm;
use super::input::{Dialect, RuleDoc, Skipped};
use super::promql::closed_labels;
use super::yaml::Node;
use super::{Finding, Inputs};

/// An alerting rule as Alertmanager will see it: its name and static labels.
#[derive(Debug, Clone)]
pub struct AlertRule {
    pub file: String,
    pub line: u64,
    pub name: String,
    pub labels: BTreeMap<String, String>,
    /// Whether its expression reads a Flux metric (or its name says Flux).
    pub flux: bool,
    /// The expression, for coverage.
    pub expr: String,
    /// `for`, when given.
    pub for_: Option<Duration>,
    /// From a Helm template (duplicates may be alternatives of an if/else).
    pub templated: bool,
}

/// The rule groups of a document: `spec.groups` of a PrometheusRule, or `groups` of a rule file.
pub fn groups_of(doc: &Node) -> Option<&Node> {
    if doc.get("kind").and_then(Node::as_str) == Some("PrometheusRule") {
        return doc.at(&["spec", "groups"]);
    }
    doc.get("groups")
}

/// Whether a name speaks of Flux.
fn says_flux(s: &str) -> bool {
    s.to_lowercase().contains("flux")
}

/// Lints every rule of one document; returns the alerting rules for routing and duplicate checks.
pub fn lint(
    doc: &RuleDoc,
    inputs: &Inputs,
    out: &mut Vec<Finding>,
    skipped: &mut Vec<Skipped>,
) -> Vec<AlertRule> {
    let file = doc.file.as_str();
    let mut alerts = Vec::new();
    let mut group_names: HashMap<String, u64> = HashMap::new();
    for group in doc.groups.get("groups").map(Node::seq).unwrap_or_default() {
        let group_name = group
            .get("name")
            .and_then(Node::scalar_text)
            .unwrap_or_default();
        if let Some(name) = group.get("name").filter(|_| !doc.templated) {
            if let Some(first) = group_names.insert(group_name.clone(), name.line) {
                out.push(Finding::new(
                    file,
                    name.line,
                    "FM011",
                    format!("rule group {group_name:?} is defined twice in this file (first on line {first})"),
                    "rename or merge the groups".into(),
                ));
            }
        }
        for rule in group.get("rules").map(Node::seq).unwrap_or_default() {
            if let Some(a) = lint_rule(doc, &group_name, rule, inputs, out, skipped) {
                alerts.push(a);
            }
        }
    }
    alerts
}

/// Whether an expression that PromQL does not read is written in another query language.
fn other_language(text: &str, dialect: Dialect) -> Option<&'static str> {
    if dialect == Dialect::MetricsQl {
        return Some("MetricsQL (VictoriaMetrics)");
    }
    let logql = [
        "|=",
        "|~",
        "!~ \"",
        "| json",
        "| logfmt",
        "| pattern",
        "| line_format",
        "| unwrap",
    ];
    if logql.iter().any(|m| text.contains(m)) {
        return Some("LogQL (Loki)");
    }
    None
}

fn lint_rule(
    doc: &RuleDoc,
    group: &str,
    rule: &Node,
    inputs: &Inputs,
    out: &mut Vec<Finding>,
    skipped: &mut Vec<Skipped>,
) -> Option<AlertRule> {
    let file = doc.file.as_str();
    let alert = rule.get("alert").and_then(Node::scalar_text);
    let who = alert
        .clone()
        .map(|a| format!("alert {a}"))
        .or_else(|| {
            rule.get("record")
                .and_then(Node::scalar_text)
                .map(|r| format!("recording rule {r}"))
        })
        .unwrap_or_else(|| "rule".into());
    let expr_node = rule.get("expr");
    let expr_text = expr_node.and_then(Node::scalar_text).unwrap_or_default();
    let line = expr_node.map_or(rule.line, |n| n.line);
    if helm::depends_on_values(&expr_text) {
        skipped.push(Skipped {
            file: file.into(),
            line,
            reason: format!("{who}: the expression is made by Helm values; lint the output of `helm template` to check it"),
        });
        return None;
    }
    let flux_alert = says_flux(alert.as_deref().unwrap_or("")) || says_flux(group);
    let mut facts = ExprFacts::default();
    let mut closed = None;
    match promql_parser::parser::parse(&expr_text) {
        Ok(expr) => {
            let ctx = ExprCtx { file, line, text: &expr_text, who: &who, inputs, flux_alert, variables: false };
            facts = exprs::lint_expr(&expr, &ctx, out);
            closed = closed_labels(&expr);
        }
        Err(e) => match other_language(&expr_text, doc.dialect) {
            Some(lang) => skipped.push(Skipped {
                file: file.into(),
                line,
                reason: format!("{who}: the expression is not PromQL, it reads as {lang}; lint judges PromQL only"),
            }),
            None => out.push(Finding::new(
                file,
                line,
                "FM001",
                format!("{who}: PromQL does not parse: {}", super::yaml::shorten(e.lines().next().unwrap_or(""))),
                "correct the expression (promtool check rules shows the same error)".into(),
            )),
        },
    }
    let name = alert?;
    let labels: BTreeMap<String, String> = rule
        .get("labels")
        .map(|l| {
            l.entries()
                .iter()
                .filter_map(|(k, v)| Some((k.scalar_text()?, v.scalar_text()?)))
                .collect()
        })
        .unwrap_or_default();
    let annotations = rule.get("annotations");
    let annotation = |k: &str| {
        annotations
            .and_then(|a| a.get(k))
            .and_then(Node::scalar_text)
            .filter(|v| !v.trim().is_empty())
    };
    let flux = facts.flux || says_flux(&name);
    if facts.flux {
        lint_for(file, rule, &name, &facts.kinds, inputs, out);
    }
    if flux {
        if !labels.contains_key("severity") {
            out.push(Finding::new(
                file,
                rule.line,
                "FM007",
                format!("alert {name} has no severity label"),
                "add labels: {severity: critical} (or warning)".into(),
            ));
        }
        if ["summary", "description", "message"]
            .iter()
            .all(|k| annotation(k).is_none())
        {
            out.push(Finding::new(
                file,
                rule.line,
                "FM008",
                format!("alert {name} has no summary, description or message annotation: the notification says only its name"),
                "add annotations.summary naming the object (kind, namespace, name)".into(),
            ));
        }
        if annotation("runbook_url").is_none() {
            out.push(Finding::new(
                file,
                rule.line,
                "FM009",
                format!("alert {name} has no runbook_url annotation"),
                "add annotations.runbook_url".into(),
            ));
        }
        if let (Some(closed), Some(ann)) = (&closed, annotations) {
            dropped_labels(file, &name, ann, closed, &labels, out);
        }
    }
    let for_ = rule
        .get("for")
        .and_then(Node::scalar_text)
        .and_then(|t| promql_parser::util::parse_duration(&t).ok());
    Some(AlertRule {
        file: file.to_string(),
        line: rule.line,
        name,
        labels,
        flux,
        expr: expr_text,
        for_,
        templated: doc.templated,
    })
}

/// The labels an annotation template reads: `$labels.x`, `.Labels.x`, `index $labels "x"`.
fn template_labels(text: &str) -> Vec<String> {
    let mut out = Vec::new();
    for prefix in ["$labels.", ".Labels."] {
        for (i, _) in text.match_indices(prefix) {
            let rest = &text[i + prefix.len()..];
            let name: String = rest
                .chars()
                .take_while(|c| c.is_ascii_alphanumeric() || *c == '_')
                .collect();
            if !name.is_empty() {
                out.push(name);
            }
        }
    }
    for (i, _) in text.match_indices("index $labels \"") {
        let rest = &text[i + "index $labels \"".len()..];
        if let Some(end) = rest.find('"') {
            out.push(rest[..end].to_string());
        }
    }
    out
}

/// FM014: an annotation reads a label the query's aggregation has dropped.
fn dropped_labels(
    file: &str,
    name: &str,
    annotations: &Node,
    closed: &BTreeSet<String>,
    static_labels: &BTreeMap<String, String>,
    out: &mut Vec<Finding>,
) {
    for (k, v) in annotations.entries() {
        let Some(text) = v.scalar_text() else {
            continue;
        };
        let mut missing: Vec<String> = template_labels(&text)
            .into_iter()
            // Rule labels are not in $labels in Prometheus, but some rulers add them: silent.
            .filter(|l| !closed.contains(l) && !static_labels.contains_key(l) && l != "alertname")
            .collect();
        missing.sort();
        missing.dedup();
        if missing.is_empty() {
            continue;
        }
        let kept = if closed.is_empty() {
            "no labels".to_string()
        } else {
            closed.iter().cloned().collect::<Vec<_>>().join(", ")
        };
        out.push(Finding::new(
            file,
            v.line,
            "FM014",
            format!(
                "alert {name}: annotation {} reads {} but the query keeps only {kept}: it renders empty",
                k.scalar_text().unwrap_or_default(),
                missing.iter().map(|l| format!("$labels.{l}")).collect::<Vec<_>>().join(", ")
            ),
            format!("keep the labels in the aggregation (e.g. by ({})) or drop them from the annotation", closed.iter().chain(missing.iter()).cloned().collect::<Vec<_>>().join(", ")),
        ));
    }
}

/// FM006: `for` against the interval of the objects watched (from the Flux manifests given), at least 1m.
fn lint_for(
    file: &str,
    rule: &Node,
    name: &str,
    kinds: &[String],
    inputs: &Inputs,
    out: &mut Vec<Finding>,
) {
    let floor = Duration::from_secs(60);
    let watched = inputs
        .intervals
        .iter()
        .filter(|(k, _)| kinds.is_empty() || kinds.contains(k))
        .map(|(_, d)| *d)
        .min();
    let want = watched.map_or(floor, |d| d.max(floor));
    let basis = match watched {
        Some(d) if d >= floor => format!(
            "the shortest interval of the objects it watches ({})",
            model::format_go_duration(d)
        ),
        _ => "1m".to_string(),
    };
    match rule.get("for") {
        None => out.push(Finding::new(
            file,
            rule.line,
            "FM006",
            format!("alert {name} has no `for`: it fires on the first failed reconcile, which Flux retries"),
            format!("add for: {} or longer", model::format_go_duration(want)),
        )),
        Some(n) => {
            let text = n.scalar_text().unwrap_or_default();
            if helm::depends_on_values(&text) {
                return;
            }
            match promql_parser::util::parse_duration(&text) {
                Ok(d) if d < want => out.push(Finding::new(
                    file,
                    n.line,
                    "FM006",
                    format!("alert {name} has for: {text}, shorter than {basis}"),
                    format!("use for: {} or longer", model::format_go_duration(want)),
                )),
                Ok(_) => {}
                Err(_) => out.push(Finding::new(
                    file,
                    n.line,
                    "FM001",
                    format!("alert {name}: for: {text:?} is not a Prometheus duration"),
                    "write a duration such as 10m or 1h".into(),
                )),
            }
        }
    }
}

/// FM010: alerting rules with the same name and the same labels (alternatives of a Helm
/// if/else are not duplicates).
pub fn duplicates(alerts: &[AlertRule], out: &mut Vec<Finding>) {
    let mut seen: HashMap<(&str, &BTreeMap<String, String>), &AlertRule> = HashMap::new();
    for a in alerts.iter().filter(|a| !a.templated) {
        if let Some(first) = seen.get(&(a.name.as_str(), &a.labels)) {
            out.push(Finding::new(
                &a.file,
                a.line,
                "FM010",
                format!(
                    "alert {} is defined again with the same labels (first at {}:{})",
                    a.name, first.file, first.line
                ),
                "remove the copy, or tell the two apart with labels".into(),
            ));
        } else {
            seen.insert((a.name.as_str(), &a.labels), a);
        }
    }
}
