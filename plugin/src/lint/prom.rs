//! Prometheus rules (PrometheusRule objects or plain rule files) against the Flux metrics
//! catalog of the target Flux version: parse, metric names, labels and their values, `for`,
//! severity/summary/runbook_url, duplicates.

use std::collections::{BTreeMap, BTreeSet, HashMap};
use std::time::Duration;

use model::metrics::{self, MetricSource};
use model::FluxVersion;
use promql_parser::label::MatchOp;
use promql_parser::parser::Expr;
use promql_parser::util::walk_expr;

use super::promql::{
    all_matchers, allowed_values, closest, is_flux_name, known_elsewhere, line_in, matcher_admits,
    op_text, output_labels, selector_name, Selectors, TARGET_LABELS,
};
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
    /// The labels its alerts can carry from the query; None when that cannot be told.
    pub query_labels: Option<BTreeSet<String>>,
}

/// The rule groups of a document: `spec.groups` of a PrometheusRule, or `groups` of a rule file.
pub fn groups_of(doc: &Node) -> Option<&Node> {
    if doc.get("kind").and_then(Node::as_str) == Some("PrometheusRule") {
        return doc.at(&["spec", "groups"]);
    }
    doc.get("groups")
}

/// What one expression tells: findings about its selectors, and which Flux kinds it watches.
struct ExprFacts {
    flux: bool,
    kinds: Vec<String>,
}

fn lint_expr(
    expr: &Expr,
    text: &str,
    version: FluxVersion,
    file: &str,
    base: u64,
    who: &str,
    out: &mut Vec<Finding>,
) -> ExprFacts {
    let mut sel = Selectors::default();
    let _ = walk_expr(&mut sel, expr);
    let mut facts = ExprFacts {
        flux: false,
        kinds: Vec::new(),
    };
    let mut seen: HashMap<String, usize> = HashMap::new();
    for vs in &sel.0 {
        let Some(name) = selector_name(vs) else {
            continue;
        };
        let nth = seen.entry(name.clone()).or_default();
        let line = line_in(text, base, &name, *nth);
        *nth += 1;
        let at = |rule, message: String, fix: String| Finding::new(file, line, rule, message, fix);
        let matchers = all_matchers(vs);
        let family = metrics::family(&name);
        if is_flux_name(&name) || family.is_some_and(|f| f.source != MetricSource::Prometheus) {
            facts.flux = true;
        }
        for m in &matchers {
            if matches!(
                m.name.as_str(),
                "kind" | "customresource_kind" | "controller"
            ) {
                for k in model::KINDS.iter() {
                    let v = if m.name == "controller" {
                        k.kind.to_lowercase()
                    } else {
                        k.kind.to_string()
                    };
                    if matcher_admits(m, &v)
                        && !matches!(m.op, MatchOp::NotEqual | MatchOp::NotRe(_))
                    {
                        facts.kinds.push(k.kind.to_string());
                    }
                }
            }
        }
        match family {
            Some(f) if !metrics::exists_in(f, version) => out.push(at(
                "FM002",
                format!("{who}: metric {name} was removed in Flux 2.5 (linting for Flux {version}): it selects nothing and this rule never fires"),
                if f.name == metrics::SUSPEND_STATUS {
                    "use gotk_resource_info{suspended=\"true\"} from kube-state-metrics".into()
                } else {
                    "use gotk_resource_info{ready=\"False\"} from kube-state-metrics (flux2-monitoring-example config)".into()
                },
            )),
            Some(f) if f.name == metrics::RECONCILE_CONDITION || f.name == metrics::SUSPEND_STATUS => {
                let helm = matchers.iter().any(|m| m.name == "kind" && m.op == MatchOp::Equal && m.value == "HelmRelease");
                if helm {
                    out.push(at(
                        "FM002",
                        format!("{who}: helm-controller stopped emitting {name} in Flux 2.2: kind=\"HelmRelease\" selects nothing"),
                        "use gotk_resource_info{customresource_kind=\"HelmRelease\"} from kube-state-metrics".into(),
                    ));
                }
            }
            None if is_flux_name(&name) && !known_elsewhere(&name) => out.push(at(
                "FM003",
                format!("{who}: no Flux version exposes metric {name}"),
                closest(&name).map_or_else(
                    || "use a metric of the Flux catalog (gotk_resource_info, gotk_reconcile_duration_seconds, controller_runtime_*)".into(),
                    |c| format!("did you mean {c}?"),
                ),
            )),
            _ => {}
        }
        let Some(f) = family else { continue };
        for m in &matchers {
            if m.name == "__name__" {
                continue;
            }
            let is_info = f.name == metrics::RESOURCE_INFO;
            if is_info && m.name == "namespace" {
                out.push(at(
                    "FM004",
                    format!("{who}: gotk_resource_info's namespace label is kube-state-metrics' own namespace; the object's is exported_namespace"),
                    format!("match exported_namespace{}\"{}\" instead", op_text(&m.op), m.value),
                ));
                continue;
            }
            let own = f.labels.contains(&m.name.as_str());
            let renamed = m.name == "exported_namespace" && f.labels.contains(&"namespace");
            if !own && !renamed && !TARGET_LABELS.contains(&m.name.as_str()) {
                let hint = if is_info && m.name == "status" {
                    "gotk_resource_info carries the Ready status as ready=\"True|False|Unknown\""
                        .to_string()
                } else {
                    format!("{} has labels {}", f.name, f.labels.join(", "))
                };
                out.push(at(
                    "FM004",
                    format!("{who}: {name} has no label {}", m.name),
                    hint,
                ));
                continue;
            }
            if let Some(allowed) = allowed_values(f.name, &m.name) {
                let positive = matches!(m.op, MatchOp::Equal | MatchOp::Re(_));
                if positive && !allowed.iter().any(|v| matcher_admits(m, v)) {
                    let suggestion = allowed
                        .iter()
                        .find(|v| v.eq_ignore_ascii_case(&m.value))
                        .map_or_else(
                            || format!("one of {}", allowed.join(", ")),
                            |v| format!("\"{v}\" (values are case-sensitive)"),
                        );
                    out.push(at(
                        "FM005",
                        format!(
                            "{who}: {}{}\"{}\" matches no value {name} ever has",
                            m.name,
                            op_text(&m.op),
                            m.value
                        ),
                        format!("use {}", suggestion),
                    ));
                }
            }
        }
    }
    facts
}

/// Lints every rule of one document; returns the alerting rules for routing and duplicate checks.
pub fn lint(file: &str, groups: &Node, inputs: &Inputs, out: &mut Vec<Finding>) -> Vec<AlertRule> {
    let mut alerts = Vec::new();
    let mut group_names: HashMap<String, u64> = HashMap::new();
    for group in groups.seq() {
        if let Some(name) = group.get("name") {
            let text = name.scalar_text().unwrap_or_default();
            if let Some(first) = group_names.insert(text.clone(), name.line) {
                out.push(Finding::new(
                    file,
                    name.line,
                    "FM011",
                    format!(
                        "rule group {text:?} is defined twice in this file (first on line {first})"
                    ),
                    "rename or merge the groups".into(),
                ));
            }
        }
        for rule in group.get("rules").map(Node::seq).unwrap_or_default() {
            if let Some(a) = lint_rule(file, rule, inputs, out) {
                alerts.push(a);
            }
        }
    }
    alerts
}

fn lint_rule(
    file: &str,
    rule: &Node,
    inputs: &Inputs,
    out: &mut Vec<Finding>,
) -> Option<AlertRule> {
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
    let mut facts = ExprFacts {
        flux: false,
        kinds: Vec::new(),
    };
    let mut query_labels = None;
    match promql_parser::parser::parse(&expr_text) {
        Ok(expr) => {
            facts = lint_expr(&expr, &expr_text, inputs.version, file, line, &who, out);
            query_labels = output_labels(&expr);
        }
        Err(e) => out.push(Finding::new(
            file,
            line,
            "FM001",
            format!(
                "{who}: PromQL does not parse: {}",
                e.lines().next().unwrap_or("").trim()
            ),
            "correct the expression (promtool check rules shows the same error)".into(),
        )),
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
    let has_annotation = |k: &str| {
        annotations
            .and_then(|a| a.get(k))
            .and_then(Node::scalar_text)
            .is_some_and(|v| !v.trim().is_empty())
    };
    let flux = facts.flux || name.starts_with("Flux");
    if facts.flux {
        lint_for(file, rule, &name, &facts.kinds, inputs, out);
    }
    if !labels.contains_key("severity") {
        out.push(Finding::new(
            file,
            rule.line,
            "FM007",
            format!("alert {name} has no severity label"),
            "add labels: {severity: critical} (or warning)".into(),
        ));
    }
    if !has_annotation("summary") {
        out.push(Finding::new(
            file,
            rule.line,
            "FM008",
            format!("alert {name} has no summary annotation"),
            "add annotations.summary naming the object (kind, namespace, name)".into(),
        ));
    }
    if !has_annotation("runbook_url") {
        out.push(Finding::new(
            file,
            rule.line,
            "FM009",
            format!("alert {name} has no runbook_url annotation"),
            "add annotations.runbook_url".into(),
        ));
    }
    Some(AlertRule {
        file: file.to_string(),
        line: rule.line,
        name,
        labels,
        flux,
        query_labels,
    })
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

/// FM010: alerting rules with the same name and the same labels.
pub fn duplicates(alerts: &[AlertRule], out: &mut Vec<Finding>) {
    let mut seen: HashMap<(&str, &BTreeMap<String, String>), &AlertRule> = HashMap::new();
    for a in alerts {
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
