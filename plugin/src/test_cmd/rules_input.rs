//! The user's rules as `test` needs them: every rule group of every `--rules` document (plain
//! rule files and PrometheusRule objects alike, read with lint's YAML reader), written back as
//! plain rule files for promtool, and each alerting rule with the metric names its PromQL reads.

use std::collections::{BTreeMap, BTreeSet};
use std::path::{Path, PathBuf};

use promql_parser::label::MatchOp;
use promql_parser::parser::{Expr, VectorSelector};
use promql_parser::util::{walk_expr, ExprVisitor};
use serde_json::{json, Value};

use super::InputError;
use crate::lint::prom::groups_of;
use crate::lint::yaml::{self, Node, Val};

/// One alerting rule of the user's files.
#[derive(Debug, Clone)]
pub struct AlertRule {
    pub name: String,
    /// `file:line` of the rule.
    pub location: String,
    /// Metric names its expression selects (empty names skipped).
    pub metrics: BTreeSet<String>,
}

/// Everything read from `--rules`.
#[derive(Debug, Default)]
pub struct RuleSet {
    /// One plain rule file (`{"groups": [...]}`) per input document, in order.
    pub files: Vec<Value>,
    pub alerts: Vec<AlertRule>,
    /// Recording rules: the series they record and the metric names they read.
    pub records: BTreeMap<String, BTreeSet<String>>,
    /// Metric names any rule reads; `None` when a selector has no fixed name (then every
    /// sampled series is needed).
    pub needed: Option<BTreeSet<String>>,
}

impl RuleSet {
    /// The raw metrics a rule reads, recording rules resolved to what they read.
    pub fn raw_metrics(&self, rule: &AlertRule) -> BTreeSet<String> {
        let mut out = BTreeSet::new();
        let mut todo: Vec<String> = rule.metrics.iter().cloned().collect();
        let mut seen = BTreeSet::new();
        while let Some(m) = todo.pop() {
            if !seen.insert(m.clone()) {
                continue;
            }
            match self.records.get(&m) {
                Some(inner) => todo.extend(inner.iter().cloned()),
                None => {
                    out.insert(m);
                }
            }
        }
        out
    }

    pub fn alerts_named<'a>(&'a self, name: &'a str) -> impl Iterator<Item = &'a AlertRule> + 'a {
        self.alerts.iter().filter(move |a| a.name == name)
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

/// The metric name of a selector (`foo{...}` or `{__name__="foo"}`).
fn selector_name(vs: &VectorSelector) -> Option<String> {
    vs.name.clone().or_else(|| {
        vs.matchers
            .matchers
            .iter()
            .find(|m| m.name == "__name__" && m.op == MatchOp::Equal)
            .map(|m| m.value.clone())
    })
}

/// Metric names an expression selects; `Err(())` when a selector has no fixed name.
pub fn metric_names(expr: &Expr) -> Result<BTreeSet<String>, ()> {
    let mut sel = Selectors::default();
    let _ = walk_expr(&mut sel, expr);
    sel.0.iter().map(|vs| selector_name(vs).ok_or(())).collect()
}

/// A YAML node as JSON (keys as text), to write it back out and to read Kubernetes objects.
pub fn to_json(node: &Node) -> Value {
    match &node.value {
        Val::Null => Value::Null,
        Val::Bool(b) => Value::Bool(*b),
        Val::Int(i) => Value::from(*i),
        Val::Float(f) => Value::from(*f),
        Val::Str(s) => Value::String(s.clone()),
        Val::Seq(items) => Value::Array(items.iter().map(to_json).collect()),
        Val::Map(entries) => Value::Object(
            entries
                .iter()
                .map(|(k, v)| (k.scalar_text().unwrap_or_default(), to_json(v)))
                .collect(),
        ),
    }
}

/// Reads every `--rules` file.
pub fn load(paths: &[PathBuf]) -> Result<RuleSet, InputError> {
    let mut set = RuleSet {
        needed: Some(BTreeSet::new()),
        ..RuleSet::default()
    };
    for path in paths {
        load_file(path, &mut set)?;
    }
    Ok(set)
}

fn load_file(path: &Path, set: &mut RuleSet) -> Result<(), InputError> {
    let shown = path.display().to_string();
    let docs = yaml::load_file(path).map_err(|e| InputError(e.0))?;
    let mut found = false;
    for doc in &docs {
        let Some(groups) = groups_of(doc) else {
            continue;
        };
        found = true;
        let mut out_groups = Vec::new();
        for group in groups.seq() {
            for rule in group.get("rules").map(Node::seq).unwrap_or_default() {
                read_rule(&shown, rule, set)?;
            }
            out_groups.push(to_json(group));
        }
        set.files.push(json!({ "groups": out_groups }));
    }
    if !found {
        return Err(InputError(format!(
            "{shown}:1: no rule groups: expected a Prometheus rule file (groups:) or a PrometheusRule object (spec.groups)"
        )));
    }
    Ok(())
}

fn read_rule(file: &str, rule: &Node, set: &mut RuleSet) -> Result<(), InputError> {
    let alert = rule.get("alert").and_then(Node::scalar_text);
    let who = alert.clone().map(|a| format!("alert {a}")).or_else(|| {
        rule.get("record")
            .and_then(Node::scalar_text)
            .map(|r| format!("recording rule {r}"))
    });
    let Some(who) = who else {
        return Err(InputError(format!(
            "{file}:{}: a rule needs `alert:` or `record:`",
            rule.line
        )));
    };
    let expr_node = rule.get("expr");
    let line = expr_node.map_or(rule.line, |n| n.line);
    let text = expr_node.and_then(Node::scalar_text).unwrap_or_default();
    let expr = promql_parser::parser::parse(&text).map_err(|e| {
        InputError(format!(
            "{file}:{line}: {who}: PromQL does not parse: {}",
            e.lines().next().unwrap_or("").trim()
        ))
    })?;
    let names = metric_names(&expr);
    match (&mut set.needed, &names) {
        (Some(needed), Ok(n)) => needed.extend(n.iter().cloned()),
        _ => set.needed = None,
    }
    let metrics = names.unwrap_or_default();
    match alert {
        Some(name) => set.alerts.push(AlertRule {
            name,
            location: format!("{file}:{}", rule.line),
            metrics,
        }),
        None => {
            if let Some(record) = rule.get("record").and_then(Node::scalar_text) {
                set.records.entry(record).or_default().extend(metrics);
            }
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn metric_names_of_an_expression() {
        let e = promql_parser::parser::parse(
            "sum(rate(a_total[5m])) / sum(rate(b_total[5m])) > 0 unless on(x) {__name__=\"c\"}",
        )
        .unwrap();
        assert_eq!(
            metric_names(&e).unwrap().into_iter().collect::<Vec<_>>(),
            ["a_total", "b_total", "c"]
        );
        let e = promql_parser::parser::parse("{job=\"x\"}").unwrap();
        assert!(metric_names(&e).is_err());
    }
}
