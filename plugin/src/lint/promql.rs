//! What a PromQL expression selects, judged against the Flux metrics catalog: metric names
//! (and the closest known one), the labels a family carries, the values a label can take, the
//! labels a result can carry, and where in a multi-line expression a metric is named.

use std::collections::BTreeSet;

use model::metrics;
use promql_parser::label::{MatchOp, Matcher};
use promql_parser::parser::{Expr, VectorSelector};
use promql_parser::util::ExprVisitor;

/// Families outside the catalog's label tables that Flux (or the Flux Operator) does serve.
pub(super) fn known_elsewhere(name: &str) -> bool {
    matches!(
        name,
        "gotk_cache_events_total"
            | "flux_resource_info"
            | "flux_instance_info"
            | "flux_resourceset_info"
            | "flux_resourcesetinputprovider_info"
            | "flux_operator_info"
    ) || [
        "gotk_token_cache_",
        "gotk_event_",
        "gotk_receiver_",
        "controller_runtime_webhook_",
        // What scheduled drills push (`drill --cluster --pushgateway-url`), read by `rules`' meta-alerts.
        "flux_monitor_drill_",
    ]
    .iter()
    .any(|p| name.starts_with(p))
}

pub(super) fn is_flux_name(name: &str) -> bool {
    name.starts_with("gotk_")
        || name.starts_with("flux_")
        || name.starts_with("controller_runtime_")
}

pub(super) fn names_of_catalog() -> Vec<String> {
    let mut names = Vec::new();
    for f in metrics::all() {
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
pub(super) fn distance(a: &str, b: &str) -> usize {
    let b: Vec<char> = b.chars().collect();
    let mut prev: Vec<usize> = (0..=b.len()).collect();
    for (i, ca) in a.chars().enumerate() {
        let mut cur = vec![i + 1];
        for (j, cb) in b.iter().enumerate() {
            cur.push(
                (prev[j] + usize::from(ca != *cb))
                    .min(prev[j + 1] + 1)
                    .min(cur[j] + 1),
            );
        }
        prev = cur;
    }
    prev[b.len()]
}

pub(super) fn closest(name: &str) -> Option<String> {
    names_of_catalog()
        .into_iter()
        .map(|n| (distance(name, &n), n))
        .min()
        .filter(|(d, n)| *d <= (n.len() / 3).max(3))
        .map(|(_, n)| n)
}

/// The values a label of a metric can take, when they are a closed set.
pub(super) fn allowed_values(metric: &str, label: &str) -> Option<Vec<String>> {
    let owned = |v: &[&str]| Some(v.iter().map(|s| s.to_string()).collect());
    let kinds = || Some(model::KINDS.iter().map(|k| k.kind.to_string()).collect());
    let info = metric == "gotk_resource_info" || metric == "flux_resource_info";
    match label {
        "ready" if info => owned(&["True", "False", "Unknown"]),
        // kube-state-metrics prints spec.suspend as Go does; the Flux Operator capitalises it.
        "suspended" if metric == "gotk_resource_info" => owned(&["true", "false"]),
        "suspended" if metric == "flux_resource_info" => owned(&["True", "False"]),
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

pub(super) fn matcher_admits(m: &Matcher, value: &str) -> bool {
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
pub(super) struct Selectors(pub(super) Vec<VectorSelector>);

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

pub(super) fn selector_name(vs: &VectorSelector) -> Option<String> {
    vs.name.clone().or_else(|| {
        vs.matchers
            .matchers
            .iter()
            .find(|m| m.name == "__name__" && m.op == MatchOp::Equal)
            .map(|m| m.value.clone())
    })
}

pub(super) fn all_matchers(vs: &VectorSelector) -> Vec<&Matcher> {
    vs.matchers
        .matchers
        .iter()
        .chain(vs.matchers.or_matchers.iter().flatten())
        .collect()
}

/// The line of the `nth` occurrence of metric `name` in a (possibly multi-line) expression
/// whose first line is `base`.
pub(super) fn line_in(text: &str, base: u64, name: &str, nth: usize) -> u64 {
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
    hits.get(nth)
        .or(hits.first())
        .map_or(base, |i| base + text[..*i].matches('\n').count() as u64)
}

pub(super) fn op_text(op: &MatchOp) -> &'static str {
    match op {
        MatchOp::Equal => "=",
        MatchOp::NotEqual => "!=",
        MatchOp::Re(_) => "=~",
        MatchOp::NotRe(_) => "!~",
    }
}

/// The labels an expression's result series carry when that set is closed (an aggregation
/// `by (...)` or without grouping, `absent()`, literals); None when target labels, relabelling
/// or an unknown function could add others. Used to tell that an annotation reads a label the
/// query has dropped.
pub fn closed_labels(e: &Expr) -> Option<BTreeSet<String>> {
    use promql_parser::parser::LabelModifier;
    use promql_parser::parser::VectorMatchCardinality as Card;
    match e {
        Expr::NumberLiteral(_) | Expr::StringLiteral(_) => Some(BTreeSet::new()),
        Expr::VectorSelector(_) | Expr::MatrixSelector(_) | Expr::Extension(_) => None,
        Expr::Paren(p) => closed_labels(&p.expr),
        Expr::Unary(u) => closed_labels(&u.expr),
        Expr::Subquery(s) => closed_labels(&s.expr),
        Expr::Aggregate(a) => {
            let op = a.op.to_string();
            let mut base = match &a.modifier {
                Some(LabelModifier::Include(ls)) => ls.labels.iter().cloned().collect(),
                Some(LabelModifier::Exclude(_)) => return None,
                None => BTreeSet::new(),
            };
            match op.as_str() {
                "topk" | "bottomk" | "limitk" | "limit_ratio" => closed_labels(&a.expr),
                "count_values" => {
                    if let Some(Expr::StringLiteral(s)) = a.param.as_deref() {
                        base.insert(s.val.clone());
                    }
                    Some(base)
                }
                _ => Some(base),
            }
        }
        Expr::Binary(b) => {
            let scalar = |x: &Expr| {
                closed_labels(x).is_some_and(|s| s.is_empty()) && !matches!(x, Expr::Aggregate(_))
            };
            let card = b.modifier.as_ref().map(|m| &m.card);
            match card {
                Some(Card::ManyToOne(extra)) => closed_labels(&b.lhs).map(|mut l| {
                    l.extend(extra.labels.iter().cloned());
                    l
                }),
                Some(Card::OneToMany(extra)) => closed_labels(&b.rhs).map(|mut r| {
                    r.extend(extra.labels.iter().cloned());
                    r
                }),
                _ if b.op.to_string() == "or" => {
                    let (l, r) = (closed_labels(&b.lhs)?, closed_labels(&b.rhs)?);
                    Some(l.union(&r).cloned().collect())
                }
                _ if scalar(&b.lhs) => closed_labels(&b.rhs),
                _ => closed_labels(&b.lhs),
            }
        }
        Expr::Call(c) => {
            let arg = |i: usize| c.args.args.get(i).and_then(|a| closed_labels(a));
            let str_arg = |i: usize| match c.args.args.get(i).map(|a| &**a) {
                Some(Expr::StringLiteral(s)) => Some(s.val.clone()),
                _ => None,
            };
            match c.func.name {
                "vector" | "time" | "scalar" | "pi" => Some(BTreeSet::new()),
                "absent" | "absent_over_time" => {
                    // absent() keeps the equality matchers of its selector.
                    let vs = match c.args.args.first().map(|a| &**a) {
                        Some(Expr::VectorSelector(vs)) => vs,
                        Some(Expr::MatrixSelector(ms)) => &ms.vs,
                        _ => return Some(BTreeSet::new()),
                    };
                    Some(
                        vs.matchers
                            .matchers
                            .iter()
                            .filter(|m| m.op == MatchOp::Equal && m.name != "__name__")
                            .map(|m| m.name.clone())
                            .collect(),
                    )
                }
                "label_replace" | "label_join" => arg(0).map(|mut s| {
                    if let Some(dst) = str_arg(1) {
                        s.insert(dst);
                    }
                    s
                }),
                "histogram_quantile" => arg(1).map(|mut s| {
                    s.remove("le");
                    s
                }),
                "rate" | "irate" | "increase" | "delta" | "idelta" | "deriv" | "abs" | "ceil"
                | "floor" | "round" | "clamp" | "clamp_min" | "clamp_max" | "sort"
                | "sort_desc" | "changes" | "resets" | "predict_linear" | "exp" | "ln" | "log2"
                | "log10" | "sqrt" | "sgn" => arg(0),
                n if n.ends_with("_over_time") => arg(0),
                _ => None,
            }
        }
    }
}
