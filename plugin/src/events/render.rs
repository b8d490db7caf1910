//! Events as `kubectl events` and `flux events` print them: LAST SEEN (with `(xN over D)` for
//! repeated events), TYPE, REASON, OBJECT (`Kind/name`), MESSAGE, and NAMESPACE first when more
//! than one namespace is shown; or a kubectl-style List of core/v1 Events for `-o json|yaml`.
//! Messages go through redaction in every format.

use std::time::Duration;

use jiff::Timestamp;
use serde_json::{json, Value};

use super::read::EventRecord;

/// apimachinery's `duration.HumanDuration`, which kubectl uses for event ages.
pub fn human_duration(d: Duration) -> String {
    let seconds = d.as_secs();
    if seconds < 60 * 2 {
        return format!("{seconds}s");
    }
    let minutes = seconds / 60;
    if minutes < 10 {
        let s = seconds % 60;
        return if s == 0 {
            format!("{minutes}m")
        } else {
            format!("{minutes}m{s}s")
        };
    }
    if minutes < 60 * 3 {
        return format!("{minutes}m");
    }
    let hours = seconds / 3600;
    if hours < 8 {
        let m = minutes % 60;
        return if m == 0 {
            format!("{hours}h")
        } else {
            format!("{hours}h{m}m")
        };
    }
    if hours < 48 {
        return format!("{hours}h");
    }
    if hours < 24 * 8 {
        let h = hours % 24;
        return if h == 0 {
            format!("{}d", hours / 24)
        } else {
            format!("{}d{h}h", hours / 24)
        };
    }
    if hours < 24 * 365 * 2 {
        return format!("{}d", hours / 24);
    }
    if hours < 24 * 365 * 8 {
        let dy = (hours / 24) % 365;
        return if dy == 0 {
            format!("{}y", hours / 24 / 365)
        } else {
            format!("{}y{dy}d", hours / 24 / 365)
        };
    }
    format!("{}y", hours / 24 / 365)
}

/// Time since `t` as kubectl shows it; `<unknown>` without a time. Clocks a second or so ahead
/// read as 0s, as in apimachinery.
fn since(now: Timestamp, t: Option<Timestamp>) -> String {
    match t {
        None => "<unknown>".into(),
        Some(t) => {
            let secs = now.duration_since(t).as_secs_f64();
            if secs < -1.0 {
                "<invalid>".into()
            } else {
                human_duration(Duration::from_secs_f64(secs.max(0.0)))
            }
        }
    }
}

/// kubectl's `getInterval`: `3m (x5 over 10m)` for a repeated event, else the age.
pub fn last_seen(e: &EventRecord, now: Timestamp) -> String {
    let first = since(now, e.first_seen());
    match e.series {
        Some((count, last)) => format!("{} (x{count} over {first})", since(now, last)),
        None if e.count > 1 => format!(
            "{} (x{} over {first})",
            since(now, e.last_timestamp),
            e.count
        ),
        None => first,
    }
}

pub const HEADERS: [&str; 5] = ["LAST SEEN", "TYPE", "REASON", "OBJECT", "MESSAGE"];

/// The cells of one row.
pub fn row(e: &EventRecord, now: Timestamp, namespace: bool) -> Vec<String> {
    let mut cells = Vec::with_capacity(6);
    if namespace {
        cells.push(e.namespace.clone());
    }
    let message: String = e
        .shown_message()
        .split_whitespace()
        .collect::<Vec<_>>()
        .join(" ");
    cells.extend([
        last_seen(e, now),
        e.type_.clone(),
        e.reason.clone(),
        format!("{}/{}", e.object.kind, e.object.name),
        message,
    ]);
    cells
}

/// Column widths over the header and rows (the last column is never padded).
pub fn widths(rows: &[Vec<String>]) -> Vec<usize> {
    let n = rows.iter().map(Vec::len).max().unwrap_or(0);
    (0..n)
        .map(|i| {
            rows.iter()
                .filter_map(|r| r.get(i))
                .map(|c| c.chars().count())
                .max()
                .unwrap_or(0)
        })
        .collect()
}

/// One line, columns three spaces apart as kubectl's tabwriter sets them.
pub fn line(cells: &[String], widths: &[usize]) -> String {
    let mut out = String::new();
    for (i, c) in cells.iter().enumerate() {
        if i + 1 == cells.len() {
            out.push_str(c);
        } else {
            let w = widths.get(i).copied().unwrap_or(0);
            out.push_str(&format!("{c:<w$}   "));
        }
    }
    out.truncate(out.trim_end().len());
    out.push('\n');
    out
}

pub fn header(namespace: bool) -> Vec<String> {
    let mut h: Vec<String> = Vec::new();
    if namespace {
        h.push("NAMESPACE".into());
    }
    h.extend(HEADERS.iter().map(|s| (*s).to_string()));
    h
}

/// The whole table, and its column widths (for rows printed later in the same columns).
pub fn table(events: &[EventRecord], now: Timestamp, namespace: bool) -> (String, Vec<usize>) {
    let mut rows = vec![header(namespace)];
    rows.extend(events.iter().map(|e| row(e, now, namespace)));
    let w = widths(&rows);
    (rows.iter().map(|r| line(r, &w)).collect(), w)
}

pub fn list(events: &[EventRecord]) -> Value {
    json!({
        "apiVersion": "v1",
        "kind": "List",
        "items": events.iter().map(EventRecord::shown_object).collect::<Vec<_>>(),
        "metadata": {"resourceVersion": ""},
    })
}

pub fn json_text(v: &Value) -> String {
    let mut s = serde_json::to_string_pretty(v).unwrap_or_default();
    s.push('\n');
    s
}

pub fn yaml_text(v: &Value) -> String {
    serde_saphyr::to_string(v).unwrap_or_default()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ages_read_as_apimachinery_writes_them() {
        let cases = [
            (0, "0s"),
            (119, "119s"),
            (120, "2m"),
            (185, "3m5s"),
            (600, "10m"),
            (179 * 60, "179m"),
            (3 * 3600, "3h"),
            (3 * 3600 + 120, "3h2m"),
            (8 * 3600, "8h"),
            (47 * 3600, "47h"),
            (50 * 3600, "2d2h"),
            (9 * 86_400, "9d"),
            (3 * 365 * 86_400, "3y"),
            (3 * 365 * 86_400 + 10 * 86_400, "3y10d"),
        ];
        for (secs, want) in cases {
            assert_eq!(human_duration(Duration::from_secs(secs)), want, "{secs}s");
        }
    }

    fn ev(extra: Value) -> EventRecord {
        let mut v = json!({"metadata": {"name": "apps.1", "namespace": "flux-system"},
            "involvedObject": {"kind": "Kustomization", "name": "apps", "apiVersion": "kustomize.toolkit.fluxcd.io/v1"},
            "type": "Warning", "reason": "BuildFailed", "message": "kustomize build failed:\n  accumulating resources"});
        for (k, val) in extra.as_object().unwrap() {
            v[k] = val.clone();
        }
        EventRecord::from_core(v).unwrap()
    }

    #[test]
    fn repeated_events_show_their_count_as_kubectl_does() {
        let now: Timestamp = "2025-01-01T12:00:00Z".parse().unwrap();
        let once = ev(
            json!({"firstTimestamp": "2025-01-01T11:55:00Z", "lastTimestamp": "2025-01-01T11:55:00Z", "count": 1}),
        );
        assert_eq!(last_seen(&once, now), "5m");
        let many = ev(
            json!({"firstTimestamp": "2025-01-01T11:50:00Z", "lastTimestamp": "2025-01-01T11:57:00Z", "count": 5}),
        );
        assert_eq!(last_seen(&many, now), "3m (x5 over 10m)");
        let series = ev(
            json!({"eventTime": "2025-01-01T11:00:00.000000Z", "series": {"count": 3, "lastObservedTime": "2025-01-01T11:58:00.000000Z"}}),
        );
        assert_eq!(last_seen(&series, now), "2m (x3 over 60m)");
        let (t, _) = table(&[many], now, false);
        let want = format!(
            "LAST SEEN{}TYPE{}REASON{}OBJECT{}MESSAGE\n3m (x5 over 10m)   Warning   BuildFailed   Kustomization/apps   kustomize build failed: accumulating resources\n",
            " ".repeat(10),
            " ".repeat(6),
            " ".repeat(8),
            " ".repeat(15)
        );
        assert_eq!(t, want);
    }
}
