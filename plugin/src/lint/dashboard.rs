//! Grafana dashboards (JSON models from files, GrafanaDashboard objects and dashboard
//! ConfigMaps): every Prometheus query of every panel and template variable, judged with the
//! same metric catalog as the rules. Grafana's variables (`$namespace`, `${var:regex}`,
//! `[[var]]`, `$__rate_interval`) are replaced by values PromQL reads, and label values holding
//! a variable are not judged.

use super::exprs::{self, ExprCtx};
use super::input::DashboardDoc;
use super::yaml::{Node, Val};
use super::{Finding, Inputs};

/// A query of a panel: where it is, what it says, which panel.
struct Query<'a> {
    node: &'a Node,
    text: String,
    panel: String,
}

/// Datasource types whose queries are not PromQL.
fn not_prometheus(ds: Option<&Node>) -> bool {
    let Some(ds) = ds else { return false };
    let t = match &ds.value {
        Val::Str(s) => s.to_lowercase(),
        Val::Map(_) => ds
            .get("type")
            .and_then(Node::as_str)
            .unwrap_or("")
            .to_lowercase(),
        _ => String::new(),
    };
    // A variable ($datasource, ${DS_PROMETHEUS}) may be anything: its queries are tried.
    if t.contains('$') || t.contains("prometheus") {
        return false;
    }
    t == "datasource"
        || t.starts_with("-- ")
        || [
            "loki",
            "elasticsearch",
            "influx",
            "tempo",
            "jaeger",
            "graphite",
            "mysql",
            "postgres",
            "cloudwatch",
            "grafana-",
            "testdata",
        ]
        .iter()
        .any(|k| t.contains(k))
}

fn collect<'a>(panels: &'a [Node], inherited: Option<&'a Node>, out: &mut Vec<Query<'a>>) {
    for p in panels {
        let ds = p.get("datasource").or(inherited);
        let title = p
            .get("title")
            .and_then(Node::scalar_text)
            .unwrap_or_default();
        for t in p.get("targets").map(Node::seq).unwrap_or_default() {
            if not_prometheus(t.get("datasource").or(ds)) {
                continue;
            }
            if let Some(e) = t.get("expr") {
                if let Some(text) = e.scalar_text().filter(|s| !s.trim().is_empty()) {
                    out.push(Query {
                        node: e,
                        text,
                        panel: title.clone(),
                    });
                }
            }
        }
        // Rows (collapsed rows keep their panels inside).
        if let Some(inner) = p.get("panels") {
            collect(inner.seq(), ds, out);
        }
    }
}

/// A Grafana query with its variables replaced so that PromQL reads it: inside a string the
/// variable stays (the matcher is then not judged); in a range or offset it becomes 5m;
/// elsewhere a number.
pub fn substitute(q: &str) -> String {
    let mut out = String::with_capacity(q.len());
    let mut in_string: Option<char> = None;
    let mut in_brackets = false;
    let chars: Vec<char> = q.chars().collect();
    let mut i = 0;
    while i < chars.len() {
        let c = chars[i];
        if let Some(quote) = in_string {
            out.push(c);
            if c == '\\' && i + 1 < chars.len() {
                out.push(chars[i + 1]);
                i += 2;
                continue;
            }
            if c == quote {
                in_string = None;
            }
            i += 1;
            continue;
        }
        match c {
            '"' | '\'' | '`' => {
                in_string = Some(c);
                out.push(c);
                i += 1;
            }
            '[' if chars.get(i + 1) == Some(&'[') => {
                // [[var]]
                let end = (i..chars.len().saturating_sub(1))
                    .find(|j| chars[*j] == ']' && chars[*j + 1] == ']');
                out.push_str(if in_brackets { "5m" } else { "1" });
                i = end.map_or(chars.len(), |e| e + 2);
            }
            '$' => {
                let mut j = i + 1;
                if chars.get(j) == Some(&'{') {
                    while j < chars.len() && chars[j] != '}' {
                        j += 1;
                    }
                    j += 1;
                } else {
                    while j < chars.len() && (chars[j].is_ascii_alphanumeric() || chars[j] == '_') {
                        j += 1;
                    }
                }
                out.push_str(if in_brackets { "5m" } else { "1" });
                i = j;
            }
            '[' => {
                in_brackets = true;
                out.push(c);
                i += 1;
            }
            ']' => {
                in_brackets = false;
                out.push(c);
                i += 1;
            }
            _ => {
                out.push(c);
                i += 1;
            }
        }
    }
    out
}

/// The metric a template variable's `label_values(metric, label)` or `query_result(expr)` reads.
fn variable_query(v: &Node) -> Option<(&Node, String)> {
    let q = v.get("query")?;
    let (node, text) = match &q.value {
        Val::Str(s) => (q, s.clone()),
        Val::Map(_) => {
            let inner = q.get("query")?;
            (inner, inner.scalar_text()?)
        }
        _ => return None,
    };
    let t = text.trim();
    if let Some(rest) = t.strip_prefix("label_values(") {
        let inner = rest.strip_suffix(')')?;
        // label_values(label) has no metric; label_values(expr, label) does.
        let (expr, _) = inner.rsplit_once(',')?;
        return Some((node, expr.trim().to_string()));
    }
    if let Some(rest) = t.strip_prefix("query_result(") {
        return Some((node, rest.strip_suffix(')')?.to_string()));
    }
    None
}

pub fn lint(dashboards: &[DashboardDoc], inputs: &Inputs, out: &mut Vec<Finding>) {
    for d in dashboards {
        let mut queries = Vec::new();
        let panels = d.node.get("panels").map(Node::seq).unwrap_or_default();
        collect(panels, None, &mut queries);
        for row in d.node.get("rows").map(Node::seq).unwrap_or_default() {
            collect(
                row.get("panels").map(Node::seq).unwrap_or_default(),
                None,
                &mut queries,
            );
        }
        for v in d
            .node
            .at(&["templating", "list"])
            .map(Node::seq)
            .unwrap_or_default()
        {
            if v.get("type").and_then(Node::as_str) != Some("query")
                || not_prometheus(v.get("datasource"))
            {
                continue;
            }
            if let Some((node, text)) = variable_query(v) {
                let name = v
                    .get("name")
                    .and_then(Node::scalar_text)
                    .unwrap_or_default();
                queries.push(Query {
                    node,
                    text,
                    panel: format!("variable ${name}"),
                });
            }
        }
        let title = d
            .node
            .get("title")
            .and_then(Node::scalar_text)
            .unwrap_or_default();
        for q in queries {
            let text = substitute(&q.text);
            // A query PromQL does not read (another datasource, a variable in a place PromQL
            // cannot take) is not ours to judge.
            let Ok(expr) = promql_parser::parser::parse(&text) else {
                continue;
            };
            let who = if q.panel.is_empty() {
                format!("dashboard {title:?}")
            } else {
                format!("dashboard {title:?} panel {:?}", q.panel)
            };
            // JSON keeps a query on one line (newlines are escaped): count no lines inside it.
            let flat = text.replace('\n', " ");
            let ctx = ExprCtx {
                file: &d.file,
                line: q.node.line,
                text: &flat,
                who: &who,
                inputs,
                flux_alert: false,
                variables: true,
            };
            exprs::lint_expr(&expr, &ctx, out);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn grafana_variables_become_promql() {
        assert_eq!(
            substitute("sum(rate(x{ns=~\"$namespace\"}[$__rate_interval])) by ($group) > $t"),
            "sum(rate(x{ns=~\"$namespace\"}[5m])) by (1) > 1"
        );
        assert_eq!(substitute("rate(x[${__range}])"), "rate(x[5m])");
        assert_eq!(substitute("up{job=\"[[job]]\"}"), "up{job=\"[[job]]\"}");
    }
}
