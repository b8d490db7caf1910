//! promtool as the rule evaluator: the scenario's series sampled in virtual time become
//! `input_series`, and every alert the expectations name is probed at every evaluation step with
//! `exp_alerts: []`. promtool then reports, for each step where the alert fired, the exact label
//! sets it fired with; those observations are what the expectations are judged on (labels as a
//! subset, deadlines, "never"), which exact-match `exp_alerts` alone cannot express.

use std::collections::{BTreeMap, BTreeSet};
use std::path::Path;
use std::process::Command;
use std::time::Duration;

use serde_json::{json, Value};
use simulator::scenario::Scenario;
use simulator::telemetry::VirtualScraper;

use super::InputError;

pub type Labels = BTreeMap<String, String>;

/// The series of one scenario: values per scrape step (`None`: not scraped then).
pub struct SeriesTable {
    pub interval: Duration,
    pub steps: usize,
    pub series: BTreeMap<String, Vec<Option<f64>>>,
}

/// What promtool saw firing: per alert name, per evaluation time, the label sets.
#[derive(Debug, Default)]
pub struct Observations {
    pub firing: BTreeMap<String, BTreeMap<Duration, Vec<Labels>>>,
}

/// Walks the scenario to its end in virtual time and keeps the series of the metrics the rules
/// read; the scraper's simulation is left at the end (its events feed the notifications).
pub fn sample(
    scenario: &Scenario,
    scraper: &mut VirtualScraper,
    needed: Option<&BTreeSet<String>>,
) -> SeriesTable {
    let interval = scenario.scrape_interval;
    let mut series: BTreeMap<String, Vec<Option<f64>>> = BTreeMap::new();
    let mut steps = 0;
    for (i, scrape) in scraper.by_ref().enumerate() {
        steps = i + 1;
        for s in scrape.samples() {
            if needed.is_some_and(|n| !n.contains(&s.metric)) {
                continue;
            }
            let key = series_text(&s.metric, &s.labels);
            let values = series.entry(key).or_default();
            values.resize(i, None);
            values.push(Some(s.value));
        }
    }
    for v in series.values_mut() {
        v.resize(steps, None);
    }
    SeriesTable {
        interval,
        steps,
        series,
    }
}

fn series_text(metric: &str, labels: &Labels) -> String {
    let inner: Vec<String> = labels
        .iter()
        .map(|(k, v)| {
            format!(
                "{k}=\"{}\"",
                v.replace('\\', "\\\\")
                    .replace('"', "\\\"")
                    .replace('\n', "\\n")
            )
        })
        .collect();
    format!("{metric}{{{}}}", inner.join(", "))
}

fn number(v: f64) -> String {
    if v.is_nan() {
        "NaN".into()
    } else if v.is_infinite() {
        if v > 0.0 {
            "+Inf".into()
        } else {
            "-Inf".into()
        }
    } else {
        format!("{v}")
    }
}

/// promtool's expanding notation: `_` before a series exists, `stale` when it disappears (as a
/// scrape writes a staleness marker), runs of one value as `vxN` (N+1 values), blanks as `_xN`.
pub fn values_text(values: &[Option<f64>]) -> String {
    let mut tokens: Vec<String> = Vec::with_capacity(values.len());
    let mut seen = false;
    let mut prev_present = false;
    for v in values {
        tokens.push(match v {
            Some(x) => {
                seen = true;
                number(*x)
            }
            None if seen && prev_present => "stale".into(),
            None => "_".into(),
        });
        prev_present = v.is_some();
    }
    let mut out: Vec<String> = Vec::new();
    let mut i = 0;
    while i < tokens.len() {
        let mut j = i + 1;
        while j < tokens.len() && tokens[j] == tokens[i] && tokens[i] != "stale" {
            j += 1;
        }
        let run = j - i;
        out.push(match (tokens[i].as_str(), run) {
            (t, 1) => t.to_string(),
            ("_", n) => format!("_x{n}"),
            (t, n) => format!("{t}x{}", n - 1),
        });
        i = j;
    }
    out.join(" ")
}

/// A Prometheus duration in whole seconds or milliseconds.
pub fn prom_duration(d: Duration) -> String {
    if d.subsec_millis() == 0 {
        format!("{}s", d.as_secs())
    } else {
        format!("{}ms", d.as_millis())
    }
}

/// The promtool unit-test file: rule files, the input series and the probes.
pub fn test_file(
    name: &str,
    rule_files: &[String],
    table: &SeriesTable,
    alertnames: &BTreeSet<String>,
) -> Value {
    let input: Vec<Value> = table
        .series
        .iter()
        .map(|(s, v)| json!({"series": s, "values": values_text(v)}))
        .collect();
    let mut probes = Vec::new();
    for step in 0..table.steps {
        let t = table.interval * step as u32;
        for a in alertnames {
            probes.push(json!({"eval_time": prom_duration(t), "alertname": a, "exp_alerts": []}));
        }
    }
    json!({
        "rule_files": rule_files,
        "evaluation_interval": prom_duration(table.interval),
        "tests": [{
            "name": name,
            "interval": prom_duration(table.interval),
            "input_series": input,
            "alert_rule_test": probes,
        }]
    })
}

/// Runs `promtool test rules FILE` in `dir` and reads what fired.
pub fn run(promtool: &Path, dir: &Path, file: &str) -> Result<Observations, InputError> {
    let out = Command::new(promtool)
        .args(["test", "rules", file])
        .current_dir(dir)
        .output()
        .map_err(|e| InputError(format!("cannot run {}: {e}", promtool.display())))?;
    let text = format!(
        "{}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    let obs = parse_output(&text);
    if !out.status.success() && obs.firing.is_empty() {
        let detail: Vec<&str> = text
            .lines()
            .map(str::trim)
            .filter(|l| !l.is_empty())
            .collect();
        return Err(InputError(format!(
            "promtool test rules failed: {}",
            detail.join(" | ")
        )));
    }
    Ok(obs)
}

/// Reads promtool's failure report: `alertname: A, time: 2m,` then `got:[` with `Labels:{...}`.
pub fn parse_output(text: &str) -> Observations {
    let mut obs = Observations::default();
    let mut current: Option<(String, Duration)> = None;
    let mut in_got = false;
    for line in text.lines() {
        let l = line.trim();
        if let Some(rest) = l.strip_prefix("alertname: ") {
            let mut parts = rest.splitn(2, ", time: ");
            let name = parts.next().unwrap_or("").to_string();
            let t = parts
                .next()
                .unwrap_or("")
                .trim_end_matches(',')
                .trim()
                .trim_end_matches(',');
            current = parse_model_duration(t).map(|d| (name, d));
            in_got = false;
        } else if l.starts_with("got:[") {
            in_got = true;
        } else if in_got && l.starts_with("Labels:{") {
            if let (Some((name, t)), Some(labels)) = (&current, parse_labels(&l["Labels:".len()..]))
            {
                obs.firing
                    .entry(name.clone())
                    .or_default()
                    .entry(*t)
                    .or_default()
                    .push(labels);
            }
        } else if l == "]" {
            in_got = false;
        }
    }
    obs
}

/// Prometheus' model.Duration text: `1h2m30s`, `500ms`, `1d`, `0s`.
pub fn parse_model_duration(s: &str) -> Option<Duration> {
    let mut total = Duration::ZERO;
    let mut rest = s.trim();
    if rest.is_empty() {
        return None;
    }
    while !rest.is_empty() {
        let digits = rest.find(|c: char| !c.is_ascii_digit())?;
        let n: u64 = rest[..digits].parse().ok()?;
        rest = &rest[digits..];
        let unit_len = rest
            .find(|c: char| c.is_ascii_digit())
            .unwrap_or(rest.len());
        let unit = &rest[..unit_len];
        rest = &rest[unit_len..];
        total += match unit {
            "ms" => Duration::from_millis(n),
            "s" => Duration::from_secs(n),
            "m" => Duration::from_secs(n * 60),
            "h" => Duration::from_secs(n * 3600),
            "d" => Duration::from_secs(n * 86_400),
            "w" => Duration::from_secs(n * 7 * 86_400),
            "y" => Duration::from_secs(n * 365 * 86_400),
            _ => return None,
        };
    }
    Some(total)
}

/// Go's `labels.Labels.String()`: `{a="x", b="y"}` with Go-quoted values.
pub fn parse_labels(s: &str) -> Option<Labels> {
    let mut chars = s.trim().strip_prefix('{')?.chars().peekable();
    let mut labels = Labels::new();
    loop {
        while chars.peek().is_some_and(|c| *c == ' ' || *c == ',') {
            chars.next();
        }
        match chars.peek() {
            Some('}') | None => return Some(labels),
            _ => {}
        }
        let name: String = std::iter::from_fn(|| chars.next_if(|c| *c != '=')).collect();
        chars.next(); // '='
        if chars.next() != Some('"') {
            return None;
        }
        let mut value = String::new();
        loop {
            match chars.next()? {
                '"' => break,
                '\\' => match chars.next()? {
                    'n' => value.push('\n'),
                    't' => value.push('\t'),
                    'u' => {
                        let hex: String = (0..4).filter_map(|_| chars.next()).collect();
                        value.push(char::from_u32(u32::from_str_radix(&hex, 16).ok()?)?);
                    }
                    c => value.push(c),
                },
                c => value.push(c),
            }
        }
        labels.insert(name.trim().to_string(), value);
    }
}

/// Where promtool 2.x and 3.x evaluate a rule differently on these inputs: `count_over_time`
/// over a range that is a multiple of the scrape interval. promtool's samples lie exactly on the
/// evaluation grid, so Prometheus 2 (closed windows) counts range/interval + 1 samples and
/// Prometheus 3 (left-open windows since 3.0) one fewer. One note per rule, naming the release
/// this run uses.
pub fn left_open_notes(
    files: &[Value],
    interval: Duration,
    promtool: &crate::tools::Tool,
) -> Vec<String> {
    let mut notes = Vec::new();
    let rules = files
        .iter()
        .flat_map(|f| f["groups"].as_array().into_iter().flatten())
        .flat_map(|g| g["rules"].as_array().into_iter().flatten());
    for rule in rules {
        let (Some(name), Some(expr)) = (rule["alert"].as_str(), rule["expr"].as_str()) else {
            continue;
        };
        let Ok(ast) = promql_parser::parser::parse(expr) else {
            continue;
        };
        let mut ranges = Vec::new();
        counted_ranges(&ast, &mut ranges);
        let Some(range) = ranges
            .into_iter()
            .find(|r| !interval.is_zero() && r.as_nanos() % interval.as_nanos() == 0)
        else {
            continue;
        };
        let n = range.as_nanos() / interval.as_nanos();
        let behaviour = if promtool.at_least(crate::tools::Version::new(3, 0, 0)) {
            format!("counts {n} samples here; Prometheus 2 counts {}", n + 1)
        } else {
            format!("counts {} samples here; Prometheus 3 counts {n}", n + 1)
        };
        notes.push(format!(
            "alert {name}: count_over_time over [{}] with samples every {}: promtool {} {behaviour} (range selectors are left-open since Prometheus 3.0)",
            model::format_go_duration(range),
            model::format_go_duration(interval),
            promtool.version
        ));
    }
    notes
}

/// The ranges of every `count_over_time(selector[range])` in `e`.
fn counted_ranges(e: &promql_parser::parser::Expr, out: &mut Vec<Duration>) {
    use promql_parser::parser::Expr;
    match e {
        Expr::Call(c) => {
            if c.func.name == "count_over_time" {
                if let Some(Expr::MatrixSelector(m)) = c.args.args.first().map(|a| a.as_ref()) {
                    out.push(m.range);
                }
            }
            for a in &c.args.args {
                counted_ranges(a, out);
            }
        }
        Expr::Aggregate(a) => {
            counted_ranges(&a.expr, out);
            if let Some(p) = &a.param {
                counted_ranges(p, out);
            }
        }
        Expr::Unary(u) => counted_ranges(&u.expr, out),
        Expr::Binary(b) => {
            counted_ranges(&b.lhs, out);
            counted_ranges(&b.rhs, out);
        }
        Expr::Paren(p) => counted_ranges(&p.expr, out),
        Expr::Subquery(s) => counted_ranges(&s.expr, out),
        _ => {}
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn expanding_notation() {
        let v = [
            None,
            None,
            Some(5.0),
            Some(5.0),
            Some(5.0),
            None,
            None,
            Some(7.0),
        ];
        assert_eq!(values_text(&v), "_x2 5x2 stale _ 7");
        assert_eq!(values_text(&[Some(1.0), None, Some(1.0)]), "1 stale 1");
    }

    #[test]
    fn reads_promtool_failures() {
        let text = "Unit Testing:  t.yaml\n  FAILED:\n    alertname: A, time: 1h2m30s, \n        exp:[], \n        got:[\n            0:\n              Labels:{alertname=\"A\", name=\"a \\\"q\\\"\", severity=\"critical\"}\n              Annotations:{summary=\"s a\"}\n            ]\n";
        let obs = parse_output(text);
        let at = Duration::from_secs(3750);
        let got = &obs.firing["A"][&at][0];
        assert_eq!(got["name"], "a \"q\"");
        assert_eq!(got["severity"], "critical");
    }
}
