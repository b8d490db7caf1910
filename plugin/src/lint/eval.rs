//! A small PromQL evaluator over synthetic series, for `lint --coverage`: does a rule's
//! expression return anything when one Flux object fails, is suspended or goes stale?
//!
//! Series are described, not sampled: each is a constant or a counter growing at a steady rate
//! over the whole window, which is what the state of one object looks like once it has lasted
//! longer than a rule's `for`. Range functions read that description (`rate` is the growth,
//! `changes` is 0 for a constant). Anything the evaluator does not model (subqueries,
//! `histogram_quantile`, `predict_linear`, ...) makes the answer "cannot tell", never a guess.

use std::collections::BTreeMap;

use promql_parser::label::MatchOp;
use promql_parser::parser::{Expr, LabelModifier, VectorMatchCardinality};

use super::promql::matcher_admits;

pub type Labels = BTreeMap<String, String>;

/// One synthetic series: labels (with `__name__`), its value now and its growth per second.
#[derive(Debug, Clone)]
pub struct Series {
    pub labels: Labels,
    pub value: f64,
    pub rate: f64,
}

/// An evaluation result.
#[derive(Debug, Clone)]
pub enum Value {
    Scalar(f64),
    /// (labels, value, growth per second of the underlying series when known).
    Vector(Vec<(Labels, f64, f64)>),
}

/// The evaluator could not decide.
#[derive(Debug, Clone)]
pub struct Unknown(pub String);

/// The moment of evaluation (any time after the state began; `time()` returns it).
pub const NOW: f64 = 1.7e9;

pub fn eval(e: &Expr, db: &[Series]) -> Result<Value, Unknown> {
    match e {
        Expr::NumberLiteral(n) => Ok(Value::Scalar(n.val)),
        Expr::Paren(p) => eval(&p.expr, db),
        Expr::Unary(u) => match eval(&u.expr, db)? {
            Value::Scalar(v) => Ok(Value::Scalar(-v)),
            Value::Vector(v) => Ok(Value::Vector(
                v.into_iter().map(|(l, x, r)| (l, -x, -r)).collect(),
            )),
        },
        Expr::VectorSelector(vs) => Ok(Value::Vector(select(vs, db))),
        Expr::MatrixSelector(ms) => Ok(Value::Vector(select(&ms.vs, db))),
        Expr::Aggregate(a) => aggregate(a, db),
        Expr::Binary(b) => binary(b, db),
        Expr::Call(c) => call(c, db),
        Expr::StringLiteral(_) => Err(Unknown("a string result".into())),
        Expr::Subquery(_) => Err(Unknown("subqueries are not evaluated".into())),
        Expr::Extension(_) => Err(Unknown("an extension expression".into())),
    }
}

fn select(vs: &promql_parser::parser::VectorSelector, db: &[Series]) -> Vec<(Labels, f64, f64)> {
    let name = vs.name.clone();
    db.iter()
        .filter(|s| {
            name.as_ref()
                .is_none_or(|n| s.labels.get("__name__") == Some(n))
        })
        .filter(|s| {
            let plain = vs
                .matchers
                .matchers
                .iter()
                .all(|m| matcher_admits(m, s.labels.get(&m.name).map_or("", String::as_str)));
            let any_or = vs.matchers.or_matchers.is_empty()
                || vs.matchers.or_matchers.iter().any(|set| {
                    set.iter().all(|m| {
                        matcher_admits(m, s.labels.get(&m.name).map_or("", String::as_str))
                    })
                });
            plain && any_or
        })
        .map(|s| (s.labels.clone(), s.value, s.rate))
        .collect()
}

fn without_name(mut l: Labels) -> Labels {
    l.remove("__name__");
    l
}

fn aggregate(a: &promql_parser::parser::AggregateExpr, db: &[Series]) -> Result<Value, Unknown> {
    let Value::Vector(input) = eval(&a.expr, db)? else {
        return Err(Unknown("aggregation over a scalar".into()));
    };
    let op = a.op.to_string();
    if matches!(op.as_str(), "topk" | "bottomk" | "limitk") {
        return Ok(Value::Vector(input));
    }
    let key = |l: &Labels| -> Labels {
        match &a.modifier {
            Some(LabelModifier::Include(ls)) => ls
                .labels
                .iter()
                .filter_map(|k| l.get(k).map(|v| (k.clone(), v.clone())))
                .collect(),
            Some(LabelModifier::Exclude(ls)) => without_name(l.clone())
                .into_iter()
                .filter(|(k, _)| !ls.labels.contains(k))
                .collect(),
            None => Labels::new(),
        }
    };
    let mut groups: BTreeMap<Labels, Vec<(f64, f64)>> = BTreeMap::new();
    for (l, v, r) in input {
        groups.entry(key(&l)).or_default().push((v, r));
    }
    let mut out = Vec::new();
    for (k, vals) in groups {
        let n = vals.len() as f64;
        let sum: f64 = vals.iter().map(|(v, _)| v).sum();
        let rsum: f64 = vals.iter().map(|(_, r)| r).sum();
        let v = match op.as_str() {
            "sum" => (sum, rsum),
            "count" => (n, 0.0),
            "group" => (1.0, 0.0),
            "avg" => (sum / n, rsum / n),
            "max" => vals
                .iter()
                .cloned()
                .fold((f64::MIN, 0.0), |a, b| if b.0 > a.0 { b } else { a }),
            "min" => vals
                .iter()
                .cloned()
                .fold((f64::MAX, 0.0), |a, b| if b.0 < a.0 { b } else { a }),
            "stddev" | "stdvar" if vals.len() == 1 => (0.0, 0.0),
            other => return Err(Unknown(format!("aggregation {other}"))),
        };
        out.push((k, v.0, v.1));
    }
    Ok(Value::Vector(out))
}

fn compare(op: &str, a: f64, b: f64) -> Option<bool> {
    Some(match op {
        "==" => a == b,
        "!=" => a != b,
        ">" => a > b,
        "<" => a < b,
        ">=" => a >= b,
        "<=" => a <= b,
        _ => return None,
    })
}

fn arith(op: &str, a: f64, b: f64) -> Option<f64> {
    Some(match op {
        "+" => a + b,
        "-" => a - b,
        "*" => a * b,
        "/" => a / b,
        "%" => a % b,
        "^" => a.powf(b),
        _ => return None,
    })
}

fn binary(b: &promql_parser::parser::BinaryExpr, db: &[Series]) -> Result<Value, Unknown> {
    let op = b.op.to_string();
    let lhs = eval(&b.lhs, db)?;
    let rhs = eval(&b.rhs, db)?;
    let return_bool = b.modifier.as_ref().is_some_and(|m| m.return_bool);
    let apply = |x: f64, y: f64| -> Result<Option<f64>, Unknown> {
        if let Some(c) = compare(&op, x, y) {
            return Ok(if return_bool {
                Some(f64::from(u8::from(c)))
            } else {
                c.then_some(x)
            });
        }
        arith(&op, x, y)
            .map(Some)
            .ok_or_else(|| Unknown(format!("operator {op}")))
    };
    match (lhs, rhs) {
        (Value::Scalar(x), Value::Scalar(y)) => Ok(Value::Scalar(apply(x, y)?.unwrap_or(f64::NAN))),
        (Value::Vector(v), Value::Scalar(y)) => {
            let mut out = Vec::new();
            for (l, x, r) in v {
                if let Some(res) = apply(x, y)? {
                    let keep_name = compare(&op, 0.0, 0.0).is_some() && !return_bool;
                    out.push((if keep_name { l } else { without_name(l) }, res, r));
                }
            }
            Ok(Value::Vector(out))
        }
        (Value::Scalar(x), Value::Vector(v)) => {
            let mut out = Vec::new();
            for (l, y, r) in v {
                let res = if let Some(c) = compare(&op, x, y) {
                    if return_bool {
                        Some(f64::from(u8::from(c)))
                    } else {
                        c.then_some(y)
                    }
                } else {
                    arith(&op, x, y)
                };
                if let Some(res) = res {
                    out.push((without_name(l), res, r));
                }
            }
            Ok(Value::Vector(out))
        }
        (Value::Vector(lv), Value::Vector(rv)) => vector_binary(b, &op, lv, rv, return_bool),
    }
}

fn vector_binary(
    b: &promql_parser::parser::BinaryExpr,
    op: &str,
    lv: Vec<(Labels, f64, f64)>,
    rv: Vec<(Labels, f64, f64)>,
    return_bool: bool,
) -> Result<Value, Unknown> {
    let matching = b.modifier.as_ref().and_then(|m| m.matching.as_ref());
    let sig = |l: &Labels| -> Labels {
        match matching {
            Some(LabelModifier::Include(ls)) => ls
                .labels
                .iter()
                .filter_map(|k| l.get(k).map(|v| (k.clone(), v.clone())))
                .collect(),
            Some(LabelModifier::Exclude(ls)) => without_name(l.clone())
                .into_iter()
                .filter(|(k, _)| !ls.labels.contains(k))
                .collect(),
            None => without_name(l.clone()),
        }
    };
    let card = b.modifier.as_ref().map(|m| &m.card);
    match op {
        "and" => Ok(Value::Vector(
            lv.into_iter()
                .filter(|(l, _, _)| rv.iter().any(|(r, _, _)| sig(r) == sig(l)))
                .collect(),
        )),
        "unless" => Ok(Value::Vector(
            lv.into_iter()
                .filter(|(l, _, _)| !rv.iter().any(|(r, _, _)| sig(r) == sig(l)))
                .collect(),
        )),
        "or" => {
            let mut out = lv.clone();
            out.extend(
                rv.into_iter()
                    .filter(|(r, _, _)| !lv.iter().any(|(l, _, _)| sig(l) == sig(r))),
            );
            Ok(Value::Vector(out))
        }
        _ => {
            let mut out = Vec::new();
            let group_right = matches!(card, Some(VectorMatchCardinality::OneToMany(_)));
            let (many, one) = if group_right { (&rv, &lv) } else { (&lv, &rv) };
            for (ml, mx, mr) in many {
                let partners: Vec<&(Labels, f64, f64)> =
                    one.iter().filter(|(ol, _, _)| sig(ol) == sig(ml)).collect();
                if partners.len() > 1 {
                    return Err(Unknown("many-to-many matching".into()));
                }
                let Some((ol, ox, _)) = partners.first() else {
                    continue;
                };
                let (x, y) = if group_right { (*ox, *mx) } else { (*mx, *ox) };
                let res = if let Some(c) = compare(op, x, y) {
                    if return_bool {
                        Some(f64::from(u8::from(c)))
                    } else {
                        c.then_some(x)
                    }
                } else {
                    Some(arith(op, x, y).ok_or_else(|| Unknown(format!("operator {op}")))?)
                };
                let Some(res) = res else { continue };
                let mut labels = if compare(op, 0.0, 0.0).is_some() && !return_bool {
                    ml.clone()
                } else {
                    without_name(ml.clone())
                };
                if let Some(extra) = card.and_then(|c| c.labels()) {
                    for k in &extra.labels {
                        match ol.get(k) {
                            Some(v) => labels.insert(k.clone(), v.clone()),
                            None => labels.remove(k),
                        };
                    }
                }
                out.push((labels, res, *mr));
            }
            Ok(Value::Vector(out))
        }
    }
}

fn call(c: &promql_parser::parser::Call, db: &[Series]) -> Result<Value, Unknown> {
    let name = c.func.name;
    let args = &c.args.args;
    let vec_arg = |i: usize| -> Result<Vec<(Labels, f64, f64)>, Unknown> {
        match args.get(i).map(|a| eval(a, db)).transpose()? {
            Some(Value::Vector(v)) => Ok(v),
            _ => Err(Unknown(format!("{name}() argument"))),
        }
    };
    let window = || -> f64 {
        match args.first().map(|a| &**a) {
            Some(Expr::MatrixSelector(ms)) => ms.range.as_secs_f64(),
            _ => 300.0,
        }
    };
    let map = |f: &dyn Fn(f64, f64) -> f64| -> Result<Value, Unknown> {
        Ok(Value::Vector(
            vec_arg(0)?
                .into_iter()
                .map(|(l, v, r)| (without_name(l), f(v, r), 0.0))
                .collect(),
        ))
    };
    match name {
        "time" => Ok(Value::Scalar(NOW)),
        "vector" => match args.first().map(|a| eval(a, db)).transpose()? {
            Some(Value::Scalar(v)) => Ok(Value::Vector(vec![(Labels::new(), v, 0.0)])),
            _ => Err(Unknown("vector() argument".into())),
        },
        "scalar" => {
            let v = vec_arg(0)?;
            Ok(Value::Scalar(if v.len() == 1 { v[0].1 } else { f64::NAN }))
        }
        "rate" | "irate" | "deriv" => map(&|_, r| r),
        "increase" | "delta" => {
            let w = window();
            map(&|_, r| r * w)
        }
        "idelta" => map(&|_, r| r * 30.0),
        "changes" => map(&|_, r| if r != 0.0 { 1.0 } else { 0.0 }),
        "resets" => map(&|_, _| 0.0),
        "abs" => map(&|v, _| v.abs()),
        "ceil" => map(&|v, _| v.ceil()),
        "floor" => map(&|v, _| v.floor()),
        "round" => map(&|v, _| v.round()),
        "sgn" => map(&|v, _| v.signum()),
        "timestamp" => map(&|_, _| NOW),
        "sort" | "sort_desc" => Ok(Value::Vector(vec_arg(0)?)),
        "present_over_time" => map(&|_, _| 1.0),
        "count_over_time" => {
            let w = window();
            map(&|_, _| (w / 30.0).max(1.0))
        }
        n if n.ends_with("_over_time")
            && matches!(
                n,
                "avg_over_time"
                    | "min_over_time"
                    | "max_over_time"
                    | "last_over_time"
                    | "sum_over_time"
            ) =>
        {
            let w = window();
            let sum = n == "sum_over_time";
            map(&|v, _| if sum { v * (w / 30.0).max(1.0) } else { v })
        }
        "absent" | "absent_over_time" => {
            let v = vec_arg(0)?;
            if !v.is_empty() {
                return Ok(Value::Vector(Vec::new()));
            }
            let vs = match args.first().map(|a| &**a) {
                Some(Expr::VectorSelector(vs)) => Some(vs),
                Some(Expr::MatrixSelector(ms)) => Some(&ms.vs),
                _ => None,
            };
            let labels = vs
                .map(|vs| {
                    vs.matchers
                        .matchers
                        .iter()
                        .filter(|m| m.op == MatchOp::Equal && m.name != "__name__")
                        .map(|m| (m.name.clone(), m.value.clone()))
                        .collect()
                })
                .unwrap_or_default();
            Ok(Value::Vector(vec![(labels, 1.0, 0.0)]))
        }
        "label_replace" => {
            let s = |i: usize| match args.get(i).map(|a| &**a) {
                Some(Expr::StringLiteral(s)) => Ok(s.val.clone()),
                _ => Err(Unknown("label_replace() arguments".into())),
            };
            let (dst, repl, src, re) = (s(1)?, s(2)?, s(3)?, s(4)?);
            let re = regex::Regex::new(&format!("^(?:{re})$"))
                .map_err(|_| Unknown("label_replace() regex".into()))?;
            let out = vec_arg(0)?
                .into_iter()
                .map(|(mut l, v, r)| {
                    let val = l.get(&src).cloned().unwrap_or_default();
                    if let Some(caps) = re.captures(&val) {
                        let mut new = String::new();
                        caps.expand(&repl, &mut new);
                        if new.is_empty() {
                            l.remove(&dst);
                        } else {
                            l.insert(dst.clone(), new);
                        }
                    }
                    (l, v, r)
                })
                .collect();
            Ok(Value::Vector(out))
        }
        // Durations are not part of an object's state: the synthetic series have no buckets,
        // so a quantile over none is empty; over some it cannot be told.
        "histogram_quantile" => match args.get(1).map(|a| eval(a, db)).transpose()? {
            Some(Value::Vector(v)) if v.is_empty() => Ok(Value::Vector(Vec::new())),
            _ => Err(Unknown(
                "histogram_quantile() over buckets is not evaluated".into(),
            )),
        },
        other => Err(Unknown(format!("{other}() is not evaluated"))),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn s(labels: &[(&str, &str)], value: f64, rate: f64) -> Series {
        Series {
            labels: labels
                .iter()
                .map(|(k, v)| (k.to_string(), v.to_string()))
                .collect(),
            value,
            rate,
        }
    }

    fn fires(q: &str, db: &[Series]) -> bool {
        match eval(&promql_parser::parser::parse(q).unwrap(), db).unwrap() {
            Value::Vector(v) => !v.is_empty(),
            Value::Scalar(_) => false,
        }
    }

    #[test]
    fn rules_evaluate_over_one_objects_state() {
        let db = [
            s(
                &[
                    ("__name__", "gotk_resource_info"),
                    ("customresource_kind", "Kustomization"),
                    ("name", "apps"),
                    ("ready", "False"),
                ],
                1.0,
                0.0,
            ),
            s(
                &[
                    ("__name__", "gotk_reconcile_duration_seconds_count"),
                    ("kind", "Kustomization"),
                    ("name", "apps"),
                ],
                10.0,
                0.0,
            ),
        ];
        assert!(fires("gotk_resource_info{ready=\"False\"} == 1", &db));
        assert!(!fires("gotk_resource_info{ready=\"True\"} == 1", &db));
        assert!(fires("max by (name) (gotk_resource_info{customresource_kind=\"Kustomization\", ready!=\"True\"}) > 0", &db));
        assert!(fires(
            "increase(gotk_reconcile_duration_seconds_count[1h]) == 0",
            &db
        ));
        assert!(!fires("absent(gotk_resource_info)", &db));
        assert!(fires(
            "count(gotk_resource_info{ready=\"False\"}) > 0 unless on() vector(0) > 1",
            &db
        ));
        assert!(!fires("histogram_quantile(0.9, sum by (le) (rate(gotk_reconcile_duration_seconds_bucket[5m]))) > 60", &db));
        assert!(eval(
            &promql_parser::parser::parse("predict_linear(gotk_resource_info[1h], 60)").unwrap(),
            &db
        )
        .is_err());
    }
}
