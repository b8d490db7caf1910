//! Prometheus rules (PrometheusRule objects or plain rule files) against the Flux metrics
//! catalog of the target Flux version: parse, metric names, labels and their values, `for`,
//! severity/summary/runbook_url, duplicates.

use std::collections::{BTreeMap, BTreeSet, HashMap};
use std::time::Duration;

use model::metrics::{self, MetricSource};
use model::FluxVersion;
use promql_parser::label::{MatchOp, Matcher};
use promql_parser::parser::{Expr, VectorSelector};
use promql_parser::util::{walk_expr, ExprVisitor};

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

/// The labels an expression's result series can carry; None when unknown (any).
pub fn output_labels(e: &Expr) -> Option<BTreeSet<String>> {
    use promql_parser::parser::LabelModifier;
    use promql_parser::parser::VectorMatchCardinality as Card;
    let set = |ls: &[String]| ls.iter().cloned().collect::<BTreeSet<String>>();
    match e {
        Expr::NumberLiteral(_) | Expr::StringLiteral(_) => Some(BTreeSet::new()),
        Expr::VectorSelector(vs) => selector_labels(vs),
        Expr::MatrixSelector(ms) => selector_labels(&ms.vs),
        Expr::Paren(p) => output_labels(&p.expr),
        Expr::Unary(u) => output_labels(&u.expr),
        Expr::Subquery(s) => output_labels(&s.expr),
        Expr::Aggregate(a) => match &a.modifier {
            Some(LabelModifier::Include(ls)) => Some(set(&ls.labels)),
            Some(LabelModifier::Exclude(ls)) => output_labels(&a.expr).map(|mut all| {
                for l in &ls.labels {
                    all.remove(l);
                }
                all
            }),
            None => Some(BTreeSet::new()),
        },
        Expr::Binary(b) => {
            let (l, r) = (output_labels(&b.lhs), output_labels(&b.rhs));
            let scalar = |x: &Expr| matches!(x, Expr::NumberLiteral(_));
            match b.modifier.as_ref().map(|m| &m.card) {
                Some(Card::OneToMany(extra)) => r.map(|mut r| {
                    r.extend(extra.labels.iter().cloned());
                    r
                }),
                Some(Card::ManyToOne(extra)) => l.map(|mut l| {
                    l.extend(extra.labels.iter().cloned());
                    l
                }),
                _ if scalar(&b.lhs) => r,
                _ => l,
            }
        }
        Expr::Call(c) => {
            let arg = |i: usize| c.args.args.get(i).and_then(|a| output_labels(a));
            match c.func.name {
                "histogram_quantile" => arg(1).map(|mut s| {
                    s.remove("le");
                    s
                }),
                "rate" | "irate" | "increase" | "delta" | "idelta" | "deriv" | "abs" | "ceil" | "floor" | "round"
                | "clamp" | "clamp_min" | "clamp_max" | "sort" | "sort_desc" | "changes" | "resets" => arg(0),
                n if n.ends_with("_over_time") => arg(0),
                _ => None,
            }
        }
        Expr::Extension(_) => None,
    }
}

fn selector_labels(vs: &VectorSelector) -> Option<BTreeSet<String>> {
    let f = metrics::family(&selector_name(vs)?)?;
    let mut s: BTreeSet<String> = f.labels.iter().chain(TARGET_LABELS).map(|l| l.to_string()).collect();
    if f.labels.contains(&"namespace") {
        s.insert("exported_namespace".into());
    }
    Some(s)
}

/// The rule groups of a document: `spec.groups` of a PrometheusRule, or `groups` of a rule file.
pub fn groups_of(doc: &Node) -> Option<&Node> {
    if doc.get("kind").and_then(Node::as_str) == Some("PrometheusRule") {
        return doc.at(&["spec", "groups"]);
    }
    doc.get("groups")
}

/// Labels every scraped series may carry besides its own (target labels, relabelling habits).
const TARGET_LABELS: &[&str] = &[
    "__name__", "job", "instance", "namespace", "pod", "container", "service", "endpoint",
    "cluster", "prometheus", "prometheus_replica", "node", "le", "quantile",
];

/// Families outside the catalog's label tables that Flux (or the Flux Operator) does serve.
fn known_elsewhere(name: &str) -> bool {
    matches!(name, "gotk_cache_events_total" | "flux_resource_info" | "flux_instance_info" | "flux_resourceset_info")
        || ["gotk_token_cache_", "gotk_event_", "gotk_receiver_", "controller_runtime_webhook_"]
            .iter()
            .any(|p| name.starts_with(p))
}

fn is_flux_name(name: &str) -> bool {
    name.starts_with("gotk_") || name.starts_with("flux_") || name.starts_with("controller_runtime_")
}

fn names_of_catalog() -> Vec<String> {
    let mut names = Vec::new();
    for f in metrics::ALL {
        names.push(f.name.to_string());
        if f.type_ == metrics::MetricType::Histogram {
            for s in ["_bucket", "_sum", "_count"] {
                names.push(format!("{}{s}", f.name));
            }
        }
    }
    names.push("gotk_cache_events_total".into());
    names
}

/// Levenshtein distance, for "did you mean".
fn distance(a: &str, b: &str) -> usize {
    let b: Vec<char> = b.chars().collect();
    let mut prev: Vec<usize> = (0..=b.len()).collect();
    for (i, ca) in a.chars().enumerate() {
        let mut cur = vec![i + 1];
        for (j, cb) in b.iter().enumerate() {
            cur.push((prev[j] + usize::from(ca != *cb)).min(prev[j + 1] + 1).min(cur[j] + 1));
        }
        prev = cur;
    }
    prev[b.len()]
}

fn closest(name: &str) -> Option<String> {
    names_of_catalog()
        .into_iter()
        .map(|n| (distance(name, &n), n))
        .min()
        .filter(|(d, n)| *d <= (n.len() / 3).max(3))
        .map(|(_, n)| n)
}

/// The values a label of a metric can take, when they are a closed set.
fn allowed_values(metric: &str, label: &str) -> Option<Vec<String>> {
    let owned = |v: &[&str]| Some(v.iter().map(|s| s.to_string()).collect());
    let kinds = || Some(model::KINDS.iter().map(|k| k.kind.to_string()).collect());
    let info = metric == "gotk_resource_info" || metric == "flux_resource_info";
    match label {
        "ready" if info => owned(&["True", "False", "Unknown"]),
        "suspended" if info => owned(&["true", "false"]),
        "customresource_kind" if metric == "gotk_resource_info" => kinds(),
        "customresource_group" if metric == "gotk_resource_info" => {
            let mut g: Vec<String> = model::KINDS.iter().map(|k| k.group.to_string()).collect();
            g.dedup();
            Some(g)
        }
        "kind" if metric.starts_with("gotk_") || metric == "flux_resource_info" => kinds(),
        "status" if metric == "gotk_reconcile_condition" => owned(&["True", "False", "Unknown"]),
        "controller" if metric.starts_with("controller_runtime_") => {
            Some(model::KINDS.iter().map(|k| k.kind.to_lowercase()).collect())
        }
        "result" if metric == "controller_runtime_reconcile_total" => {
            owned(&["success", "error", "requeue", "requeue_after"])
        }
        _ => None,
    }
}

fn matcher_admits(m: &Matcher, value: &str) -> bool {
    match &m.op {
        MatchOp::Equal => m.value == value,
        MatchOp::NotEqual => m.value != value,
        MatchOp::Re(_) | MatchOp::NotRe(_) => {
            let anchored = regex::Regex::new(&format!("^(?:{})$", m.value));
            let hit = anchored.is_ok_and(|r| r.is_match(value));
            matches!(m.op, MatchOp::Re(_)) == hit
        }
    }
}

#[derive(Default)]
struct Selectors(Vec<VectorSelector>);

impl ExprVisitor for Selectors {
    type Error = ();
    fn pre_visit(&mut self, e: &Expr) -> Result<bool, ()> {
        match e {
            Expr::VectorSelector(vs) => self.0.push(vs.clone()),
            Expr::MatrixSelector(ms) => self.0.push(ms.vs.clone()),
            _ => {}
        }
        Ok(true)
    }
}

fn selector_name(vs: &VectorSelector) -> Option<String> {
    vs.name.clone().or_else(|| {
        vs.matchers
            .matchers
            .iter()
            .find(|m| m.name == "__name__" && m.op == MatchOp::Equal)
            .map(|m| m.value.clone())
    })
}

fn all_matchers(vs: &VectorSelector) -> Vec<&Matcher> {
    vs.matchers.matchers.iter().chain(vs.matchers.or_matchers.iter().flatten()).collect()
}

/// What one expression tells: findings about its selectors, and which Flux kinds it watches.
struct ExprFacts {
    flux: bool,
    kinds: Vec<String>,
}

/// The line of the `nth` occurrence of metric `name` in a (possibly multi-line) expression
/// whose first line is `base`.
fn line_in(text: &str, base: u64, name: &str, nth: usize) -> u64 {
    let ident = |c: char| c.is_ascii_alphanumeric() || c == '_' || c == ':';
    let hits: Vec<usize> = text
        .match_indices(name)
        .filter(|(i, _)| {
            let before = text[..*i].chars().next_back();
            let after = text[i + name.len()..].chars().next();
            !before.is_some_and(ident) && !after.is_some_and(ident)
        })
        .map(|(i, _)| i)
        .collect();
    hits.get(nth).or(hits.first()).map_or(base, |i| base + text[..*i].matches('\n').count() as u64)
}

fn lint_expr(expr: &Expr, text: &str, version: FluxVersion, file: &str, base: u64, who: &str, out: &mut Vec<Finding>) -> ExprFacts {
    let mut sel = Selectors::default();
    let _ = walk_expr(&mut sel, expr);
    let mut facts = ExprFacts { flux: false, kinds: Vec::new() };
    let mut seen: HashMap<String, usize> = HashMap::new();
    for vs in &sel.0 {
        let Some(name) = selector_name(vs) else { continue };
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
            if matches!(m.name.as_str(), "kind" | "customresource_kind" | "controller") {
                for k in model::KINDS {
                    let v = if m.name == "controller" { k.kind.to_lowercase() } else { k.kind.to_string() };
                    if matcher_admits(m, &v) && !matches!(m.op, MatchOp::NotEqual | MatchOp::NotRe(_)) {
                        facts.kinds.push(k.kind.to_string());
                    }
                }
            }
        }
        match family {
            Some(f) if !metrics::exists_in(f, version) => out.push(at(
                "FM002",
                format!("{who}: metric {name} was removed in Flux 2.5 (linting for Flux {version}): it selects nothing and this rule never fires"),
                if f.name == metrics::SUSPEND_STATUS.name {
                    "use gotk_resource_info{suspended=\"true\"} from kube-state-metrics".into()
                } else {
                    "use gotk_resource_info{ready=\"False\"} from kube-state-metrics (flux2-monitoring-example config)".into()
                },
            )),
            Some(f) if f.name == metrics::RECONCILE_CONDITION.name || f.name == metrics::SUSPEND_STATUS.name => {
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
            let is_info = f.name == metrics::RESOURCE_INFO.name;
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
                    "gotk_resource_info carries the Ready status as ready=\"True|False|Unknown\"".to_string()
                } else {
                    format!("{} has labels {}", f.name, f.labels.join(", "))
                };
                out.push(at("FM004", format!("{who}: {name} has no label {}", m.name), hint));
                continue;
            }
            if let Some(allowed) = allowed_values(f.name, &m.name) {
                let positive = matches!(m.op, MatchOp::Equal | MatchOp::Re(_));
                if positive && !allowed.iter().any(|v| matcher_admits(m, v)) {
                    let suggestion = allowed
                        .iter()
                        .find(|v| v.eq_ignore_ascii_case(&m.value))
                        .map_or_else(|| format!("one of {}", allowed.join(", ")), |v| format!("\"{v}\" (values are case-sensitive)"));
                    out.push(at(
                        "FM005",
                        format!("{who}: {}{}\"{}\" matches no value {name} ever has", m.name, op_text(&m.op), m.value),
                        format!("use {}", suggestion),
                    ));
                }
            }
        }
    }
    facts
}

fn op_text(op: &MatchOp) -> &'static str {
    match op {
        MatchOp::Equal => "=",
        MatchOp::NotEqual => "!=",
        MatchOp::Re(_) => "=~",
        MatchOp::NotRe(_) => "!~",
    }
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
                    format!("rule group {text:?} is defined twice in this file (first on line {first})"),
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

fn lint_rule(file: &str, rule: &Node, inputs: &Inputs, out: &mut Vec<Finding>) -> Option<AlertRule> {
    let alert = rule.get("alert").and_then(Node::scalar_text);
    let who = alert
        .clone()
        .map(|a| format!("alert {a}"))
        .or_else(|| rule.get("record").and_then(Node::scalar_text).map(|r| format!("recording rule {r}")))
        .unwrap_or_else(|| "rule".into());
    let expr_node = rule.get("expr");
    let expr_text = expr_node.and_then(Node::scalar_text).unwrap_or_default();
    let line = expr_node.map_or(rule.line, |n| n.line);
    let mut facts = ExprFacts { flux: false, kinds: Vec::new() };
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
            format!("{who}: PromQL does not parse: {}", e.lines().next().unwrap_or("").trim()),
            "correct the expression (promtool check rules shows the same error)".into(),
        )),
    }
    let name = alert?;
    let labels: BTreeMap<String, String> = rule
        .get("labels")
        .map(|l| l.entries().iter().filter_map(|(k, v)| Some((k.scalar_text()?, v.scalar_text()?))).collect())
        .unwrap_or_default();
    let annotations = rule.get("annotations");
    let has_annotation = |k: &str| annotations.and_then(|a| a.get(k)).and_then(Node::scalar_text).is_some_and(|v| !v.trim().is_empty());
    let flux = facts.flux || name.starts_with("Flux");
    if facts.flux {
        lint_for(file, rule, &name, &facts.kinds, inputs, out);
    }
    if !labels.contains_key("severity") {
        out.push(Finding::new(file, rule.line, "FM007", format!("alert {name} has no severity label"), "add labels: {severity: critical} (or warning)".into()));
    }
    if !has_annotation("summary") {
        out.push(Finding::new(file, rule.line, "FM008", format!("alert {name} has no summary annotation"), "add annotations.summary naming the object (kind, namespace, name)".into()));
    }
    if !has_annotation("runbook_url") {
        out.push(Finding::new(file, rule.line, "FM009", format!("alert {name} has no runbook_url annotation"), "add annotations.runbook_url".into()));
    }
    Some(AlertRule { file: file.to_string(), line: rule.line, name, labels, flux, query_labels })
}

/// FM006: `for` against the interval of the objects watched (from the Flux manifests given), at least 1m.
fn lint_for(file: &str, rule: &Node, name: &str, kinds: &[String], inputs: &Inputs, out: &mut Vec<Finding>) {
    let floor = Duration::from_secs(60);
    let watched = inputs
        .intervals
        .iter()
        .filter(|(k, _)| kinds.is_empty() || kinds.contains(k))
        .map(|(_, d)| *d)
        .min();
    let want = watched.map_or(floor, |d| d.max(floor));
    let basis = match watched {
        Some(d) if d >= floor => format!("the shortest interval of the objects it watches ({})", model::format_go_duration(d)),
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
                format!("alert {} is defined again with the same labels (first at {}:{})", a.name, first.file, first.line),
                "remove the copy, or tell the two apart with labels".into(),
            ));
        } else {
            seen.insert((a.name.as_str(), &a.labels), a);
        }
    }
}
