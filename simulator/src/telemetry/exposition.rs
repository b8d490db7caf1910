//! Metric families as plain values and their rendering: the Prometheus text format 0.0.4 as Go's
//! client_golang writes it (families by name, labels sorted, `le` last, Go float formatting) and
//! flat samples for virtual time.
//!
//! Hand-written rather than prometheus-client: that crate renders OpenMetrics only (`# EOF`,
//! `_created`, `unknown` types), and its registry cannot be read back into samples, whereas the
//! same families must become both `/metrics` text and promtool input series; series also come
//! and go with the objects at each scrape.

use std::collections::BTreeMap;
use std::fmt::Write as _;

use model::metrics::{MetricFamily, MetricType};

/// One time series of a family: label pairs (name, value) and a value. Histograms are already
/// expanded into their `_bucket`, `_sum` and `_count` series (`suffix`).
#[derive(Debug, Clone, PartialEq)]
pub struct Series {
    pub suffix: &'static str,
    pub labels: Vec<(&'static str, String)>,
    pub value: f64,
}

/// A family ready to render: the catalog entry (name, HELP, TYPE) and its series, in order.
#[derive(Debug, Clone)]
pub struct Family {
    pub family: &'static MetricFamily,
    pub series: Vec<Series>,
}

/// One sample as Prometheus stores it: full metric name, labels, value.
#[derive(Debug, Clone, PartialEq, serde::Serialize)]
pub struct Sample {
    pub metric: String,
    pub labels: BTreeMap<String, String>,
    pub value: f64,
}

impl Family {
    pub fn new(family: &'static MetricFamily) -> Self {
        Family {
            family,
            series: Vec::new(),
        }
    }

    pub fn push(&mut self, labels: Vec<(&'static str, String)>, value: f64) {
        self.series.push(Series {
            suffix: "",
            labels,
            value,
        });
    }

    /// The series of one histogram child (`labels` without `le`).
    pub fn push_histogram(&mut self, labels: &[(&'static str, String)], h: &Histogram) {
        let mut cumulative = 0u64;
        for (i, upper) in h.buckets.iter().chain(std::iter::once(&f64::INFINITY)).enumerate() {
            cumulative += h.counts.get(i).copied().unwrap_or(0);
            let mut l = labels.to_vec();
            l.push(("le", go_float(*upper)));
            self.series.push(Series {
                suffix: "_bucket",
                labels: l,
                value: cumulative as f64,
            });
        }
        self.series.push(Series {
            suffix: "_sum",
            labels: labels.to_vec(),
            value: h.sum,
        });
        self.series.push(Series {
            suffix: "_count",
            labels: labels.to_vec(),
            value: h.count as f64,
        });
    }
}

/// A classic Prometheus histogram: per-bucket (non-cumulative) counts, the last one `+Inf`.
#[derive(Debug, Clone, PartialEq)]
pub struct Histogram {
    buckets: &'static [f64],
    counts: Vec<u64>,
    sum: f64,
    count: u64,
}

impl Histogram {
    pub fn new(buckets: &'static [f64]) -> Self {
        Histogram {
            buckets,
            counts: vec![0; buckets.len() + 1],
            sum: 0.0,
            count: 0,
        }
    }

    /// As client_golang: the first bucket whose upper bound is >= the value.
    pub fn observe(&mut self, v: f64) {
        let i = self.buckets.iter().position(|b| v <= *b).unwrap_or(self.buckets.len());
        self.counts[i] += 1;
        self.sum += v;
        self.count += 1;
    }

    pub fn count(&self) -> u64 {
        self.count
    }

    pub fn sum(&self) -> f64 {
        self.sum
    }
}

fn type_name(t: MetricType) -> &'static str {
    match t {
        MetricType::Counter => "counter",
        MetricType::Histogram => "histogram",
        // kube-state-metrics rewrites info (and stateset) to gauge in the text format
        // (pkg/metrics_store/metrics_writer.go).
        MetricType::Gauge | MetricType::Info => "gauge",
    }
}

/// Renders families in the text format 0.0.4, sorted by name as client_golang's Gather sorts
/// them. Families without series are left out, as client_golang leaves out a vector with no
/// children.
pub fn encode(families: &[Family]) -> String {
    let mut out = String::with_capacity(families.iter().map(|f| f.series.len() * 96 + 128).sum());
    let mut sorted: Vec<&Family> = families.iter().filter(|f| !f.series.is_empty()).collect();
    sorted.sort_by_key(|f| f.family.name);
    for f in sorted {
        let name = f.family.name;
        let _ = writeln!(out, "# HELP {name} {}", escape_help(f.family.help));
        let _ = writeln!(out, "# TYPE {name} {}", type_name(f.family.type_));
        for s in &f.series {
            out.push_str(name);
            out.push_str(s.suffix);
            if !s.labels.is_empty() {
                out.push('{');
                for (i, (k, v)) in s.labels.iter().enumerate() {
                    if i > 0 {
                        out.push(',');
                    }
                    out.push_str(k);
                    out.push_str("=\"");
                    escape_label_into(&mut out, v);
                    out.push('"');
                }
                out.push('}');
            }
            out.push(' ');
            out.push_str(&go_float(s.value));
            out.push('\n');
        }
    }
    out
}

/// Flattens families into samples (what a scrape stores, before target labels). Prometheus
/// stores no label whose value is empty, so none is kept.
pub fn samples(families: &[Family]) -> Vec<Sample> {
    families
        .iter()
        .flat_map(|f| {
            f.series.iter().map(move |s| Sample {
                metric: format!("{}{}", f.family.name, s.suffix),
                labels: s
                    .labels
                    .iter()
                    .filter(|(_, v)| !v.is_empty())
                    .map(|(k, v)| ((*k).to_string(), v.clone()))
                    .collect(),
                value: s.value,
            })
        })
        .collect()
}

fn escape_help(s: &str) -> String {
    s.replace('\\', "\\\\").replace('\n', "\\n")
}

fn escape_label_into(out: &mut String, v: &str) {
    for c in v.chars() {
        match c {
            '\\' => out.push_str("\\\\"),
            '"' => out.push_str("\\\""),
            '\n' => out.push_str("\\n"),
            c => out.push(c),
        }
    }
}

/// Go's `strconv.FormatFloat(f, 'g', -1, 64)` with Prometheus' `+Inf`/`-Inf`/`NaN`: the shortest
/// digits that round-trip, in exponent form below 1e-4 and from 1e21.
pub fn go_float(v: f64) -> String {
    if v.is_nan() {
        return "NaN".into();
    }
    if v.is_infinite() {
        return if v > 0.0 { "+Inf".into() } else { "-Inf".into() };
    }
    if v == 0.0 {
        return if v.is_sign_negative() { "-0".into() } else { "0".into() };
    }
    let sci = format!("{v:e}"); // shortest round-trip digits, e.g. 3.8363583488692544e-2
    let (mantissa, exp) = sci.split_once('e').expect("exponent form");
    let exp: i32 = exp.parse().expect("exponent");
    if !(-4..21).contains(&exp) {
        let sign = if exp < 0 { '-' } else { '+' };
        return format!("{mantissa}e{sign}{:02}", exp.abs());
    }
    format!("{v}")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn floats_print_as_go_does() {
        assert_eq!(go_float(0.038_363_583_488_692_544), "0.038363583488692544");
        assert_eq!(go_float(1_799.999_999_999_998_6), "1799.9999999999986");
        assert_eq!(go_float(5.0), "5");
        assert_eq!(go_float(1e-5), "1e-05");
        assert_eq!(go_float(0.0001), "0.0001");
        assert_eq!(go_float(1e21), "1e+21");
        assert_eq!(go_float(f64::INFINITY), "+Inf");
    }

    #[test]
    fn histogram_buckets_are_inclusive() {
        static B: [f64; 2] = [1.0, 2.0];
        let mut h = Histogram::new(&B);
        h.observe(1.0);
        h.observe(1.5);
        h.observe(3.0);
        assert_eq!(h.counts, vec![1, 1, 1]);
        assert_eq!(h.count(), 3);
    }
}
