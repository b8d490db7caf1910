//! Time compression for Prometheus: the user's rules with every `for`, `keep_firing_for`, group
//! `interval`, range-vector window, offset and subquery range/step divided by the time scale
//! (rewritten through promql-parser's AST and printed back as PromQL), and the Prometheus
//! configuration of a drill (scrape and evaluation every second, the drill's Alertmanager).
//!
//! Floors: a `for` or offset never drops below the evaluation interval (1s), a range window never
//! below 3 scrape intervals (3s: `rate` and `increase` need at least two samples in it), a
//! subquery step never below 1s. The report names every value that hit a floor.

use std::path::PathBuf;
use std::time::Duration;

use promql_parser::parser::{Expr, Offset};
use promql_parser::util::{display_duration, parse_duration};
use serde_json::Value;

use crate::lint::prom::groups_of;
use crate::lint::yaml;

/// Scrape and evaluation interval of a drill's Prometheus.
pub const INTERVAL: Duration = Duration::from_secs(1);
/// The smallest `for`, offset and subquery step after compression.
pub const FLOOR: Duration = Duration::from_secs(1);
/// The smallest range window after compression.
pub const RANGE_FLOOR: Duration = Duration::from_secs(3);

/// Divides durations by the time scale, with a floor; remembers which values hit it.
#[derive(Debug, Clone)]
pub struct Scaler {
    pub scale: f64,
    pub floored: Vec<String>,
}

impl Scaler {
    pub fn new(scale: f64) -> Self {
        Scaler {
            scale,
            floored: Vec::new(),
        }
    }

    /// `d / scale`, at least `floor` (zero stays zero), in whole milliseconds.
    pub fn scale(&mut self, d: Duration, floor: Duration, what: &str) -> Duration {
        if d.is_zero() {
            return d;
        }
        let ms = (d.as_secs_f64() * 1000.0 / self.scale).round();
        let scaled = Duration::from_millis(ms as u64);
        if scaled < floor {
            self.floored.push(format!(
                "{what} {}: {} / {} = {} raised to the {} floor",
                display_duration(&d),
                display_duration(&d),
                self.scale,
                display_duration(&scaled.max(Duration::from_millis(1))),
                display_duration(&floor),
            ));
            return floor;
        }
        scaled
    }

    /// A Prometheus duration string (`5m`, `1h30m`, `0s`) scaled.
    pub fn scale_text(
        &mut self,
        text: &str,
        floor: Duration,
        what: &str,
    ) -> Result<String, String> {
        let d = parse_prom_duration(text)?;
        Ok(display_duration(&self.scale(d, floor, what)))
    }
}

/// Prometheus' duration syntax (`1h30m`, `90s`, `1d`, `0`, `0s`).
pub fn parse_prom_duration(text: &str) -> Result<Duration, String> {
    let t = text.trim();
    if t.starts_with('0') && t.chars().all(|c| c == '0' || c.is_ascii_alphabetic()) {
        return Ok(Duration::ZERO);
    }
    parse_duration(t).map_err(|e| format!("{t:?} is not a duration: {e}"))
}

/// Rewrites every duration in a PromQL expression.
pub fn compress_expr(text: &str, s: &mut Scaler) -> Result<String, String> {
    let mut expr = promql_parser::parser::parse(text)
        .map_err(|e| e.lines().next().unwrap_or("").trim().to_string())?;
    walk(&mut expr, s);
    Ok(expr.to_string())
}

fn offset(o: &mut Option<Offset>, s: &mut Scaler) {
    if let Some(off) = o.take() {
        *o = Some(match off {
            Offset::Pos(d) => Offset::Pos(s.scale(d, FLOOR, "offset")),
            Offset::Neg(d) => Offset::Neg(s.scale(d, FLOOR, "offset")),
        });
    }
}

fn walk(e: &mut Expr, s: &mut Scaler) {
    match e {
        Expr::Aggregate(a) => {
            walk(&mut a.expr, s);
            if let Some(p) = a.param.as_mut() {
                walk(p, s);
            }
        }
        Expr::Unary(u) => walk(&mut u.expr, s),
        Expr::Binary(b) => {
            walk(&mut b.lhs, s);
            walk(&mut b.rhs, s);
        }
        Expr::Paren(p) => walk(&mut p.expr, s),
        Expr::Subquery(q) => {
            walk(&mut q.expr, s);
            q.range = s.scale(q.range, RANGE_FLOOR, "subquery range");
            if let Some(step) = q.step.as_mut() {
                *step = s.scale(*step, FLOOR, "subquery step");
            }
            offset(&mut q.offset, s);
        }
        Expr::VectorSelector(v) => offset(&mut v.offset, s),
        Expr::MatrixSelector(m) => {
            m.range = s.scale(m.range, RANGE_FLOOR, "range");
            offset(&mut m.vs.offset, s);
        }
        Expr::Call(c) => {
            for a in &mut c.args.args {
                walk(a, s);
            }
        }
        Expr::NumberLiteral(_) | Expr::StringLiteral(_) | Expr::Extension(_) => {}
    }
}

/// One alerting rule after compression (for the report and the bench's theoretical minimum).
#[derive(Debug, Clone)]
pub struct AlertRule {
    pub name: String,
    pub for_original: Duration,
    pub for_scaled: Duration,
}

/// The user's rules, compressed: one rule file (as JSON, which Prometheus reads as YAML) per
/// input document.
#[derive(Debug, Default)]
pub struct Rules {
    pub files: Vec<Value>,
    pub alerts: Vec<AlertRule>,
    pub floored: Vec<String>,
}

/// Reads every `--rules` file (plain rule files and PrometheusRule objects, with lint's reader)
/// and compresses it.
pub fn load_rules(paths: &[PathBuf], scale: f64) -> Result<Rules, String> {
    let mut out = Rules::default();
    let mut s = Scaler::new(scale);
    for path in paths {
        let shown = path.display().to_string();
        let docs = yaml::load_file(path).map_err(|e| e.0)?;
        let mut found = false;
        for doc in &docs {
            let Some(groups) = groups_of(doc) else {
                continue;
            };
            found = true;
            let mut groups_json = Vec::new();
            for group in groups.seq() {
                let mut g = group.to_json();
                compress_group(&shown, group, &mut g, &mut s, &mut out.alerts)?;
                groups_json.push(g);
            }
            out.files.push(serde_json::json!({ "groups": groups_json }));
        }
        if !found {
            return Err(format!(
                "{shown}:1: no rule groups: expected a Prometheus rule file (groups:) or a PrometheusRule object (spec.groups)"
            ));
        }
    }
    out.floored = s.floored;
    Ok(out)
}

fn compress_group(
    file: &str,
    node: &yaml::Node,
    g: &mut Value,
    s: &mut Scaler,
    alerts: &mut Vec<AlertRule>,
) -> Result<(), String> {
    let at = |key: &str, n: &yaml::Node| {
        format!("{file}:{}: {key}", n.get(key).map_or(n.line, |v| v.line))
    };
    if let Some(i) = g
        .get("interval")
        .and_then(Value::as_str)
        .map(str::to_string)
    {
        g["interval"] = Value::String(
            s.scale_text(&i, INTERVAL, "group interval")
                .map_err(|e| format!("{}: {e}", at("interval", node)))?,
        );
    }
    let rule_nodes = node.get("rules").map(yaml::Node::seq).unwrap_or_default();
    let Some(rules) = g.get_mut("rules").and_then(Value::as_array_mut) else {
        return Ok(());
    };
    for (rule, rn) in rules.iter_mut().zip(rule_nodes) {
        let name = rule
            .get("alert")
            .or_else(|| rule.get("record"))
            .and_then(Value::as_str)
            .unwrap_or("")
            .to_string();
        let expr = match rule.get("expr") {
            Some(Value::String(t)) => t.clone(),
            Some(other) => other.to_string(),
            None => String::new(),
        };
        let compressed = compress_expr(&expr, s)
            .map_err(|e| format!("{}: {name}: PromQL does not parse: {e}", at("expr", rn)))?;
        rule["expr"] = Value::String(compressed);
        let mut for_original = Duration::ZERO;
        let mut for_scaled = Duration::ZERO;
        for key in ["for", "keep_firing_for"] {
            if let Some(text) = rule.get(key).and_then(Value::as_str).map(str::to_string) {
                let d = parse_prom_duration(&text).map_err(|e| format!("{}: {e}", at(key, rn)))?;
                let scaled = s.scale(d, FLOOR, &format!("{name} {key}"));
                rule[key] = Value::String(display_duration(&scaled));
                if key == "for" {
                    (for_original, for_scaled) = (d, scaled);
                }
            }
        }
        if rule.get("alert").is_some() {
            alerts.push(AlertRule {
                name,
                for_original,
                for_scaled,
            });
        }
    }
    Ok(())
}

/// `prometheus.yml`: scrape and evaluate every second, the drill's rules and Alertmanager, and
/// the simulator's scrape configs (YAML text from `Endpoints::scrape_configs`).
pub fn config(
    rule_files: &[String],
    alertmanager: Option<std::net::SocketAddr>,
    scrape_configs: &str,
) -> String {
    let mut out = format!(
        "global:\n  scrape_interval: {iv}\n  evaluation_interval: {iv}\n  scrape_timeout: {iv}\nrule_files:\n",
        iv = display_duration(&INTERVAL)
    );
    for f in rule_files {
        out.push_str(&format!("  - {}\n", serde_json::Value::String(f.clone())));
    }
    if let Some(am) = alertmanager {
        out.push_str(&format!(
            "alerting:\n  alertmanagers:\n    - api_version: v2\n      timeout: 1s\n      static_configs:\n        - targets: [\"{am}\"]\n"
        ));
    }
    out.push_str(scrape_configs);
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn windows_offsets_and_subqueries_are_divided() {
        let mut s = Scaler::new(60.0);
        let out = compress_expr(
            "sum(increase(a_total[30m])) / sum(rate(b[10m] offset 90m)) > 0 and max_over_time(up[1h:1m] offset 2h) == 0",
            &mut s,
        )
        .unwrap();
        assert_eq!(out, "sum(increase(a_total[30s])) / sum(rate(b[10s] offset 1m30s)) > 0 and max_over_time(up[1m:1s] offset 2m) == 0");
        assert!(s.floored.is_empty(), "{:?}", s.floored);
    }

    #[test]
    fn small_values_hit_the_floor_and_say_so() {
        let mut s = Scaler::new(60.0);
        assert_eq!(compress_expr("rate(x[1m])", &mut s).unwrap(), "rate(x[3s])");
        assert_eq!(s.scale_text("30s", FLOOR, "for").unwrap(), "1s");
        assert_eq!(s.scale_text("0s", FLOOR, "for").unwrap(), "0s");
        assert_eq!(s.floored.len(), 2, "{:?}", s.floored);
        assert_eq!(
            s.floored[0],
            "range 1m: 1m / 60 = 1s raised to the 3s floor"
        );
    }

    #[test]
    fn durations_in_prometheus_syntax() {
        assert_eq!(
            parse_prom_duration("1h30m").unwrap(),
            Duration::from_secs(5400)
        );
        assert_eq!(parse_prom_duration("0").unwrap(), Duration::ZERO);
        assert_eq!(
            parse_prom_duration("1d").unwrap(),
            Duration::from_secs(86400)
        );
        assert!(parse_prom_duration("soon").is_err());
    }
}
