//! `-o table` and `-o wide` in kubectl's layout: upper-case headers, no borders, columns three
//! spaces apart; then a summary line per verdict and the root causes grouped.

use std::fmt::Write as _;

use model::duration::format_age;
use model::Verdict;
use owo_colors::{OwoColorize, Style};

use crate::status::report::{Report, StatusRow};

/// Table MESSAGE cells are cut to this many characters; wide and json keep them whole.
const MESSAGE_WIDTH: usize = 72;
const GAP: &str = "   ";

struct Cell {
    text: String,
    style: Option<Style>,
}

impl Cell {
    fn plain(text: impl Into<String>) -> Self {
        Cell {
            text: text.into(),
            style: None,
        }
    }
}

fn verdict_style(v: Verdict) -> Style {
    match v {
        Verdict::Ready => Style::new().green(),
        Verdict::Progressing => Style::new().cyan(),
        Verdict::Failing => Style::new().red(),
        Verdict::Stalled => Style::new().red().bold(),
        Verdict::Suspended => Style::new().yellow(),
        Verdict::Stale => Style::new().magenta(),
        Verdict::Unknown => Style::new().dimmed(),
    }
}

/// Messages on one line, cut with an ellipsis when longer than `max` characters.
pub fn one_line(message: &str, max: Option<usize>) -> String {
    let flat: String = message.split_whitespace().collect::<Vec<_>>().join(" ");
    match max {
        Some(max) if flat.chars().count() > max => {
            let cut: String = flat.chars().take(max.saturating_sub(1)).collect();
            format!("{}…", cut.trim_end())
        }
        _ => flat,
    }
}

fn age(report: &Report, t: Option<jiff::Timestamp>) -> String {
    match t {
        Some(t) => {
            let secs = report.now.duration_since(t).as_secs_f64().max(0.0);
            format_age(std::time::Duration::from_secs_f64(secs))
        }
        None => "<unknown>".into(),
    }
}

fn headers(report: &Report, wide: bool) -> Vec<&'static str> {
    let mut h = Vec::new();
    if report.columns.cluster {
        h.push("CLUSTER");
    }
    if report.columns.namespace {
        h.push("NAMESPACE");
    }
    h.extend(["NAME", "VERDICT", "SINCE", "MESSAGE", "BLOCKED BY"]);
    if wide {
        h.extend(["REVISION", "INTERVAL", "SUSPENDED"]);
        if report.columns.metrics {
            h.extend(["LAST RECONCILE", "AVG DURATION"]);
        }
    }
    h
}

fn cells(report: &Report, row: &StatusRow, wide: bool) -> Vec<Cell> {
    let mut c = Vec::new();
    if report.columns.cluster {
        c.push(Cell::plain(&row.cluster));
    }
    if report.columns.namespace {
        c.push(Cell::plain(&row.object.namespace));
    }
    c.push(Cell::plain(format!(
        "{}/{}",
        row.object.kind, row.object.name
    )));
    c.push(Cell {
        text: row.verdict.to_string(),
        style: Some(verdict_style(row.verdict)),
    });
    c.push(Cell::plain(age(report, row.since)));
    c.push(Cell::plain(one_line(
        &row.message,
        (!wide).then_some(MESSAGE_WIDTH),
    )));
    c.push(Cell {
        text: row
            .root_cause
            .as_ref()
            .map(|r| r.object.to_string())
            .unwrap_or_default(),
        style: row
            .root_cause
            .as_ref()
            .map(|r| r.verdict.map_or(Style::new().red(), verdict_style)),
    });
    if wide {
        c.push(Cell::plain(
            row.revision.clone().unwrap_or_else(|| "<none>".into()),
        ));
        c.push(Cell::plain(
            row.interval.clone().unwrap_or_else(|| "<none>".into()),
        ));
        c.push(Cell::plain(row.suspended.to_string()));
        if report.columns.metrics {
            let m = row.metrics.as_ref();
            c.push(Cell::plain(
                m.and_then(|m| m.last_reconcile_at)
                    .map_or("<none>".into(), |t| age(report, Some(t))),
            ));
            c.push(Cell::plain(
                m.and_then(|m| m.mean_duration_seconds)
                    .map_or("<none>".into(), |d| format!("{d:.2}s")),
            ));
        }
    }
    c
}

/// Lays rows out as kubectl's tabwriter does: each column as wide as its widest cell, three
/// spaces apart, the last column unpadded. Widths count characters, colours are added after.
fn layout(headers: &[&str], rows: &[Vec<Cell>], color: bool) -> String {
    let width = |s: &str| s.chars().count();
    let mut widths: Vec<usize> = headers.iter().map(|h| width(h)).collect();
    for row in rows {
        for (w, cell) in widths.iter_mut().zip(row) {
            *w = (*w).max(width(&cell.text));
        }
    }
    let mut out = String::new();
    let mut line = |cells: &mut dyn Iterator<Item = (&str, Option<Style>)>| {
        let mut text = String::new();
        let mut pending_pad = 0;
        for (i, (cell, style)) in cells.enumerate() {
            text.push_str(&" ".repeat(pending_pad));
            match style {
                Some(s) if color && !cell.is_empty() => {
                    let _ = write!(text, "{}", cell.style(s));
                }
                _ => text.push_str(cell),
            }
            pending_pad = widths[i] - width(cell) + GAP.len();
        }
        out.push_str(text.trim_end());
        out.push('\n');
    };
    line(&mut headers.iter().map(|h| (*h, None)));
    for row in rows {
        line(&mut row.iter().map(|c| (c.text.as_str(), c.style)));
    }
    out
}

/// The summary: one line of counts per verdict, then one line per root cause.
pub fn summary_lines(report: &Report) -> Vec<String> {
    let s = &report.summary;
    if s.total == 0 {
        return Vec::new();
    }
    let mut lines = vec![s
        .counts
        .iter()
        .map(|(v, n)| format!("{n} {v}"))
        .collect::<Vec<_>>()
        .join(", ")];
    for g in &s.roots {
        let objects = if g.count == 1 { "object" } else { "objects" };
        let cluster = if report.columns.cluster {
            format!(" in {}", g.cluster)
        } else {
            String::new()
        };
        let why = if g.root.message.is_empty() {
            g.root.reason.clone()
        } else {
            one_line(&g.root.message, Some(MESSAGE_WIDTH))
        };
        lines.push(format!(
            "{} {objects} blocked by {}{cluster} ({}: {why})",
            g.count,
            g.root.object,
            g.root.verdict_text()
        ));
    }
    lines
}

pub fn render(report: &Report, wide: bool, color: bool) -> String {
    let mut out = String::new();
    if !report.rows.is_empty() {
        let rows: Vec<Vec<Cell>> = report.rows.iter().map(|r| cells(report, r, wide)).collect();
        out.push_str(&layout(&headers(report, wide), &rows, color));
    }
    let summary = summary_lines(report);
    if !summary.is_empty() {
        if !out.is_empty() {
            out.push('\n');
        }
        for l in summary {
            out.push_str(&l);
            out.push('\n');
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::status::report::tests::sample_report;

    #[test]
    fn table_in_kubectl_layout() {
        let out = render(&sample_report(), false, false);
        let lines: Vec<&str> = out.lines().collect();
        assert_eq!(lines[0], "NAMESPACE     NAME                        VERDICT     SINCE   MESSAGE                                      BLOCKED BY");
        assert_eq!(
            lines[4],
            "flux-system   Kustomization/apps          Failing     60m     Source artifact not found                    GitRepository/flux-system/flux-system"
        );
        assert!(
            lines[2].starts_with("apps          HelmRelease/podinfo         Suspended   3h"),
            "{}",
            lines[2]
        );
        assert_eq!(lines[6], "");
        assert_eq!(lines[7], "1 Ready, 3 Failing, 1 Suspended");
        assert_eq!(
            lines[8],
            "2 objects blocked by GitRepository/flux-system/flux-system (Failing: authentication required)"
        );
        assert!(out.lines().all(|l| l == l.trim_end()), "no trailing spaces");
        assert!(!out.contains('\x1b'), "no colour when not asked");
    }

    #[test]
    fn wide_adds_revision_interval_suspended() {
        let mut report = sample_report();
        report.columns.namespace = false;
        let out = render(&report, true, false);
        let header = out.lines().next().unwrap();
        assert!(header.starts_with("NAME "), "{header}");
        assert!(
            header.ends_with(
                "BLOCKED BY                              REVISION        INTERVAL   SUSPENDED"
            ),
            "{header}"
        );
        assert!(out.contains("sha256:1234"));
        assert!(out
            .lines()
            .any(|l| l.contains("HelmRelease/podinfo") && l.ends_with("5m         true")));
    }

    #[test]
    fn colours_only_the_verdicts_when_asked() {
        let out = render(&sample_report(), false, true);
        assert!(out.contains("\x1b[31mFailing\x1b[0m"), "{out}");
        let header = out.lines().next().unwrap();
        assert!(!header.contains('\x1b'));
    }

    #[test]
    fn long_messages_are_cut_on_one_line() {
        assert_eq!(one_line("a\nb  c", None), "a b c");
        let cut = one_line(&"x".repeat(100), Some(10));
        assert_eq!(cut.chars().count(), 10);
        assert!(cut.ends_with('…'));
    }
}
