//! Expression shapes that cannot do what they say, whatever the metric values: rate() over a
//! gauge (FM012), `time() -` a value that is not a timestamp (FM013), a histogram threshold at
//! or above the top bucket (FM015), a "Flux" alert on controller_runtime_* of any operator
//! (FM016), `absent()` over several targets (FM017).

use std::collections::BTreeMap;

use model::metrics::{self, MetricType};
use promql_parser::label::MatchOp;
use promql_parser::parser::{Expr, VectorSelector};

use super::exprs::{has_flux_word, ExprCtx};
use super::promql::{all_matchers, line_in, matcher_admits, selector_name, Selectors};
use super::relabel::{Keep, Value};
use super::Finding;

/// The value of a simple comparison `lhs OP number`, if that is what `e` is.
fn comparison(e: &Expr) -> Option<(&Expr, String, f64)> {
    let Expr::Binary(b) = e else { return None };
    let op = b.op.to_string();
    match (&*b.lhs, &*b.rhs) {
        (l, Expr::NumberLiteral(n)) => Some((l, op, n.val)),
        (Expr::NumberLiteral(n), r) => {
            let flipped = match op.as_str() {
                ">" => "<",
                "<" => ">",
                ">=" => "<=",
                "<=" => ">=",
                o => o,
            };
            Some((r, flipped.to_string(), n.val))
        }
        _ => None,
    }
}

fn strip_wrappers(mut e: &Expr) -> &Expr {
    loop {
        match e {
            Expr::Paren(p) => e = &p.expr,
            Expr::Aggregate(a)
                if matches!(a.op.to_string().as_str(), "max" | "min" | "avg" | "sum") =>
            {
                e = &a.expr
            }
            _ => return e,
        }
    }
}

fn single_selector(e: &Expr) -> Option<&VectorSelector> {
    match strip_wrappers(e) {
        Expr::VectorSelector(vs) => Some(vs),
        Expr::MatrixSelector(ms) => Some(&ms.vs),
        _ => None,
    }
}

/// FM012, FM013, FM015, FM016, FM017: shapes that cannot do what they say.
pub fn shapes(expr: &Expr, ctx: &ExprCtx, out: &mut Vec<Finding>) {
    let mut stack = vec![expr];
    // FM016: every selector is an unscoped controller_runtime_* one (another metric joined
    // in, e.g. `* on(pod) group_left kube_pod_labels{...}`, may scope the result).
    let mut runtime_only = true;
    let mut unscoped_runtime: Option<String> = None;
    while let Some(e) = stack.pop() {
        match e {
            Expr::Call(c) => {
                let fname = c.func.name;
                if matches!(fname, "rate" | "irate" | "increase") {
                    if let Some(vs) = c.args.args.first().and_then(|a| single_selector(a)) {
                        if let Some(n) = selector_name(vs) {
                            if let Some(f) = metrics::family(&n)
                                .filter(|f| matches!(f.type_, MetricType::Gauge | MetricType::Info))
                            {
                                out.push(Finding::new(ctx.file, line_in(ctx.text, ctx.line, &n, 0), "FM012",
                                    format!("{}: {fname}() over {n}, a gauge ({}): {fname} assumes a counter that only goes up and reads every decrease as a counter reset, so the result is meaningless", ctx.who, f.help.trim_end_matches('.')),
                                    "use delta() or deriv() for a change in a gauge, or compare the gauge itself (e.g. == 1, changes(...[1h]) > 0)".into()));
                            }
                        }
                    }
                }
                if matches!(fname, "absent" | "absent_over_time") {
                    absent_over_many(c.args.args.first().map(|a| &**a), ctx, out);
                }
                stack.extend(c.args.args.iter().map(|a| &**a));
            }
            Expr::Binary(b) => {
                let op = b.op.to_string();
                if op == "-" {
                    if let (Expr::Call(t), rhs) = (strip_parens(&b.lhs), &*b.rhs) {
                        if t.func.name == "time" {
                            if let Some(vs) = single_selector(rhs) {
                                if let Some(n) = selector_name(vs) {
                                    if let Some(f) = metrics::family(&n) {
                                        out.push(Finding::new(ctx.file, line_in(ctx.text, ctx.line, &n, 0), "FM013",
                                            format!("{}: time() - {n}: {n} is not a timestamp ({}), so the difference is the current Unix time (about 1.7e9 seconds) whatever Flux does", ctx.who, f.help.trim_end_matches('.')),
                                            "to alert on a reconcile that has not happened, use the absence of increase: increase(gotk_reconcile_duration_seconds_count[2h]) == 0, or gotk_resource_info{ready=\"Unknown\"}".into()));
                                    }
                                }
                            }
                        }
                    }
                }
                if let Some((lhs, cmp, n)) = comparison(e) {
                    unreachable_quantile(lhs, &cmp, n, ctx, out);
                }
                stack.push(&b.lhs);
                stack.push(&b.rhs);
            }
            Expr::Aggregate(a) => {
                stack.push(&a.expr);
                if let Some(p) = &a.param {
                    stack.push(p);
                }
            }
            Expr::Paren(p) => stack.push(&p.expr),
            Expr::Unary(u) => stack.push(&u.expr),
            Expr::Subquery(s) => stack.push(&s.expr),
            Expr::VectorSelector(_) | Expr::MatrixSelector(_) => {
                let vs = match e {
                    Expr::VectorSelector(vs) => vs,
                    Expr::MatrixSelector(ms) => &ms.vs,
                    _ => unreachable!(),
                };
                match selector_name(vs).filter(|n| n.starts_with("controller_runtime_")) {
                    Some(n) => {
                        let limited = all_matchers(vs).iter().any(|m| {
                            !matches!(m.name.as_str(), "__name__" | "result" | "le")
                                && ((m.name == "controller"
                                    && !matches!(m.op, MatchOp::NotEqual | MatchOp::NotRe(_)))
                                    || has_flux_word(&m.value))
                        });
                        if limited {
                            runtime_only = false;
                        } else {
                            unscoped_runtime.get_or_insert(n);
                        }
                    }
                    None => runtime_only = false,
                }
            }
            _ => {}
        }
    }
    if ctx.flux_alert && runtime_only {
        if let Some(n) = unscoped_runtime {
            out.push(Finding::new(ctx.file, line_in(ctx.text, ctx.line, &n, 0), "FM016",
                format!("{}: {n} without a selector for Flux: every controller-runtime operator the Prometheus scrapes (cert-manager's webhook excepted, Crossplane, Kyverno, the Flux Operator, ...) has these series, so this \"Flux\" alert fires for them too", ctx.who),
                "limit it to Flux's controllers, e.g. {namespace=\"flux-system\"} or {controller=~\"kustomization|helmrelease|gitrepository|...\"}".into()));
        }
    }
}

fn strip_parens(mut e: &Expr) -> &Expr {
    while let Expr::Paren(p) = e {
        e = &p.expr;
    }
    e
}

/// FM015: `histogram_quantile(...) > N` where N is at or above the top finite bucket.
fn unreachable_quantile(lhs: &Expr, cmp: &str, n: f64, ctx: &ExprCtx, out: &mut Vec<Finding>) {
    let Expr::Call(c) = strip_wrappers(lhs) else {
        return;
    };
    if c.func.name != "histogram_quantile" || !matches!(cmp, ">" | ">=" | "==") {
        return;
    }
    let mut sel = Selectors::default();
    if let Some(arg) = c.args.args.get(1) {
        let _ = promql_parser::util::walk_expr(&mut sel, arg);
    }
    for vs in &sel.0 {
        let Some(name) = selector_name(vs) else {
            continue;
        };
        let top = match name.as_str() {
            "gotk_reconcile_duration_seconds_bucket" => {
                metrics::RECONCILE_DURATION_BUCKETS[metrics::RECONCILE_DURATION_BUCKETS.len() - 1]
            }
            "controller_runtime_reconcile_time_seconds_bucket" => {
                metrics::CONTROLLER_RUNTIME_BUCKETS[metrics::CONTROLLER_RUNTIME_BUCKETS.len() - 1]
            }
            _ => continue,
        };
        let unreachable = match cmp {
            ">" => n >= top,
            _ => n > top,
        };
        if unreachable {
            out.push(Finding::new(ctx.file, line_in(ctx.text, ctx.line, &name, 0), "FM015",
                format!("{}: histogram_quantile over {name} never exceeds its top finite bucket ({top:.0}s; past it Prometheus returns that bound), so `{cmp} {n}` never holds", ctx.who),
                format!("use a threshold below {top:.0}s, or alert on the +Inf bucket growing: increase({name}{{le=\"+Inf\"}}[1h]) - increase({name}{{le=\"{top}\"}}[1h]) > 0")));
        }
    }
}

/// FM017: `absent(up{...} == 1)` over a selector that matches several Flux targets.
fn absent_over_many(arg: Option<&Expr>, ctx: &ExprCtx, out: &mut Vec<Finding>) {
    let Some(arg) = arg else { return };
    let inner = match strip_parens(arg) {
        Expr::Binary(b) => strip_parens(&b.lhs),
        other => other,
    };
    let Some(vs) = single_selector(inner) else {
        return;
    };
    if selector_name(vs).as_deref() != Some("up") || !ctx.inputs.scrape.given {
        return;
    }
    let matchers = all_matchers(vs);
    let mut matched: BTreeMap<&str, bool> = BTreeMap::new();
    for t in ctx.inputs.scrape.metric_targets() {
        if t.keep != Keep::Yes {
            continue;
        }
        let all =
            matchers
                .iter()
                .filter(|m| m.name != "__name__")
                .all(|m| match t.labels.get(&m.name) {
                    Some(Value::Known(v)) => matcher_admits(m, v),
                    Some(Value::Unknown) => false, // cannot tell: do not count it
                    None => matcher_admits(m, ""),
                });
        if all {
            let default = super::install::flux_pods(ctx.inputs.version)
                .iter()
                .any(|p| p.controller == t.controller && p.default);
            matched.insert(t.controller, default);
        }
    }
    // Several targets of controllers every install has (extras may be absent).
    if matched.values().filter(|d| **d).count() >= 2 {
        let names: Vec<&str> = matched.keys().copied().collect();
        out.push(Finding::new(ctx.file, line_in(ctx.text, ctx.line, "up", 0), "FM017",
            format!("{}: absent(up{{...}}) over a selector that matches the targets of {} Flux controllers ({}): it fires only when all of them are down, so one controller down goes unnoticed", ctx.who, names.len(), names.join(", ")),
            "alert per target instead: up{...} == 0 (with `for:`), or count by (job) (up{...} == 1) < <expected>".into()));
    }
}
