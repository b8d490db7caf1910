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
    /// Where each generated file's groups and rules come from, for promtool's messages.
    pub origins: Vec<Origin>,
}

/// The user's file behind one generated rule file: per group, its name and `file:line`, and
/// the `file:line` of each of its rules.
#[derive(Debug, Default)]
pub struct Origin {
    pub file: String,
    pub groups: Vec<(String, u64, Vec<u64>)>,
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
pub(crate) fn metric_names(expr: &Expr) -> Result<BTreeSet<String>, ()> {
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
    let text = yaml::read_text(path).map_err(|e| InputError(e.0))?;
    load_text(&path.display().to_string(), &text, set)
}

/// Reads the text of one rules file that `shown` names in messages, as [`load`] reads a file.
pub fn load_str(shown: &str, text: &str) -> Result<RuleSet, InputError> {
    let mut set = RuleSet {
        needed: Some(BTreeSet::new()),
        ..RuleSet::default()
    };
    load_text(shown, text, &mut set)?;
    Ok(set)
}

fn load_text(shown: &str, text: &str, set: &mut RuleSet) -> Result<(), InputError> {
    let shown = shown.to_string();
    let docs = yaml::parse_documents(&shown, text).map_err(|e| InputError(e.0))?;
    let mut found = false;
    for doc in &docs {
        let Some(groups) = groups_of(doc) else {
            continue;
        };
        found = true;
        let mut out_groups = Vec::new();
        let mut origin = Origin {
            file: shown.clone(),
            groups: Vec::new(),
        };
        for group in groups.seq() {
            let mut lines = Vec::new();
            for rule in group.get("rules").map(Node::seq).unwrap_or_default() {
                read_rule(&shown, rule, set)?;
                lines.push(rule.line);
            }
            let name = group
                .get("name")
                .and_then(Node::scalar_text)
                .unwrap_or_default();
            origin.groups.push((name, group.line, lines));
            out_groups.push(to_json(group));
        }
        set.files.push(json!({ "groups": out_groups }));
        set.origins.push(origin);
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
    // Names quoted short, line breaks (a multi-line scalar) escaped: one line per problem.
    let who = alert
        .as_deref()
        .map(|a| format!("alert {}", yaml::shorten(a).escape_debug()))
        .or_else(|| {
            rule.get("record")
                .and_then(Node::scalar_text)
                .map(|r| format!("recording rule {}", yaml::shorten(&r).escape_debug()))
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
            yaml::shorten(e.lines().next().unwrap_or(""))
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

impl RuleSet {
    /// promtool's messages about the generated rule files (`../rules-N.yaml`), pointed at the
    /// user's file and line: `group "g", rule 2, "name": ...` names the rule; `line L` of an
    /// unmarshal error is a line of the generated file, mapped to the rule that holds it.
    pub fn locate(&self, text: &str) -> String {
        let mut out = text.to_string();
        for (i, origin) in self.origins.iter().enumerate() {
            let generated = format!("../rules-{i}.yaml");
            if !out.contains(&generated) {
                continue;
            }
            let rule_at = |group: &str, n: usize| -> Option<u64> {
                let (_, _, rules) = origin.groups.iter().find(|(g, _, _)| g == group)?;
                rules.get(n.checked_sub(1)?).copied()
            };
            let mut fixed = String::new();
            for part in out.split(" | ") {
                let part = part.trim();
                let rest = part.strip_prefix(&format!("{generated}: ")).map(|r| {
                    // An optional `L:C: ` position in the generated file.
                    let mut it = r.splitn(3, ':');
                    match (it.next(), it.next(), it.next()) {
                        (Some(l), Some(c), Some(tail))
                            if l.chars().all(|x| x.is_ascii_digit())
                                && c.chars().all(|x| x.is_ascii_digit()) =>
                        {
                            tail.trim_start().to_string()
                        }
                        _ => r.to_string(),
                    }
                });
                let located = match rest {
                    Some(r) if r.starts_with("group \"") => {
                        let group = r["group \"".len()..]
                            .split('"')
                            .next()
                            .unwrap_or("")
                            .to_string();
                        let n: Option<usize> = r
                            .split(", rule ")
                            .nth(1)
                            .and_then(|t| t.split(',').next())
                            .and_then(|t| t.trim().parse().ok());
                        match n.and_then(|n| rule_at(&group, n)) {
                            Some(line) => format!("{}:{line}: {r}", origin.file),
                            None => match origin.groups.iter().find(|(g, _, _)| *g == group) {
                                Some((_, line, _)) => format!("{}:{line}: {r}", origin.file),
                                None => format!("{}: {r}", origin.file),
                            },
                        }
                    }
                    Some(r) => format!("{}: {r}", origin.file),
                    None => match part
                        .strip_prefix("line ")
                        .and_then(|t| t.split(':').next())
                        .and_then(|l| l.trim().parse::<usize>().ok())
                    {
                        Some(l) => match self.rule_of_generated_line(i, l) {
                            Some(line) => format!(
                                "{}:{line}: {}",
                                origin.file,
                                &part[part.find(':').map_or(0, |c| c + 1)..].trim()
                            ),
                            None => part.to_string(),
                        },
                        None => part.to_string(),
                    },
                };
                if !fixed.is_empty() {
                    fixed.push_str(" | ");
                }
                fixed.push_str(&located);
            }
            out = fixed;
        }
        out
    }

    /// The user's line of the rule that holds line `l` of generated file `i` (written with the
    /// same serializer, so its layout is known: one `- ` item per rule under each `rules:`).
    fn rule_of_generated_line(&self, i: usize, l: usize) -> Option<u64> {
        let text = serde_saphyr::to_string(self.files.get(i)?).ok()?;
        let origin = self.origins.get(i)?;
        // groups:
        // - name: g          <- a group item at the indentation of `groups:`
        //   rules:
        //   - alert: a       <- a rule item at the indentation of its `rules:`
        let (mut group, mut rule): (Option<usize>, Option<usize>) = (None, None);
        let mut rules_indent: Option<usize> = None;
        for (n, line) in text.lines().enumerate() {
            let indent = line.len() - line.trim_start().len();
            let t = line.trim_start();
            if indent == 0 && t.starts_with("- ") {
                group = Some(group.map_or(0, |g| g + 1));
                rule = None;
                rules_indent = None;
            } else if t.starts_with("rules:") && rules_indent.is_none() {
                rules_indent = Some(indent);
            } else if rules_indent == Some(indent) && t.starts_with("- ") {
                rule = Some(rule.map_or(0, |x| x + 1));
            }
            if n + 1 == l {
                return origin.groups.get(group?)?.2.get(rule?).copied();
            }
        }
        None
    }
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

#[cfg(test)]
mod message_tests {
    use super::*;

    #[test]
    fn a_long_rule_name_and_expression_are_quoted_short() {
        // Found by fuzzing (fuzz/corpus/test_rules/crash-long-alert-name): a rule whose name
        // and expression ran to thousands of characters came back whole in the message.
        let name = "FluxB".repeat(400);
        let expr = format!("sum(rate({}[5m])", "x".repeat(2000));
        let text = format!("groups:\n  - name: g\n    rules:\n      - alert: {name}\n        expr: {expr}\n");
        let e = load_str("r.yaml", &text).unwrap_err().0;
        assert!(e.starts_with("r.yaml:5: alert FluxB") && e.len() < 400, "{e}");
        // fuzz/corpus/test_rules/crash-multi-line-alert-name: a name over two lines.
        let text = "groups:\n  - name: g\n    rules:\n      - alert: FluxStuck\n\n          more\n";
        let e = load_str("r.yaml", text).unwrap_err().0;
        assert_eq!(e, "r.yaml:4: alert FluxStuck\\nmore: PromQL does not parse: no expression found in input");
    }
}

#[cfg(test)]
mod locate_tests {
    use super::*;

    #[test]
    fn promtool_messages_point_at_the_users_file_and_line() {
        let tmp = tempfile::tempdir().unwrap();
        let file = tmp.path().join("rules.yaml");
        std::fs::write(
            &file,
            "# comment\napiVersion: monitoring.coreos.com/v1\nkind: PrometheusRule\nmetadata: {name: r}\nspec:\n  groups:\n    - name: flux\n      rules:\n        - alert: A\n          expr: up == 0\n        - alert: B\n          expr: up == 1\n          labels: {bad-label: x}\n    - name: other\n      rules:\n        - record: good\n          expr: up\n        - alert: C\n          expr: up == 0\n          unknown_field: 1\n",
        )
        .unwrap();
        let set = load(std::slice::from_ref(&file)).unwrap();
        let shown = file.display().to_string();
        let msg = "promtool test rules failed: Unit Testing: test.yaml | FAILED: | ../rules-0.yaml: group \"flux\", rule 2, \"B\": invalid label name: bad-label | ../rules-0.yaml: 7:17: group \"other\", rule 1, \"good\": oops";
        let located = set.locate(msg);
        assert!(
            located.contains(&format!(
                "{shown}:11: group \"flux\", rule 2, \"B\": invalid label name"
            )),
            "{located}"
        );
        assert!(
            located.contains(&format!("{shown}:16: group \"other\", rule 1")),
            "{located}"
        );
        assert!(!located.contains("rules-0.yaml"), "{located}");
        // An unmarshal error names a line of the generated file: mapped to the rule holding it.
        let generated = serde_saphyr::to_string(&set.files[0]).unwrap();
        let l = generated
            .lines()
            .position(|x| x.contains("unknown_field"))
            .unwrap()
            + 1;
        let located = set.locate(&format!("../rules-0.yaml: yaml: unmarshal errors: | line {l}: field unknown_field not found in type rulefmt.RuleNode"));
        assert!(
            located.contains(&format!("{shown}:18: field unknown_field not found")),
            "{located}\n{generated}"
        );
    }
}
