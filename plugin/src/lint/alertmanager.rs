//! An Alertmanager configuration: matchers that can never match (regexes written in `match`),
//! invalid matchers, shadowed routes, and where each Flux alert ends up when the routing tree is
//! walked with Alertmanager's semantics (first matching child wins unless `continue`; `match_re`
//! and `=~` anchored; a missing label is the empty string).

use std::collections::{BTreeMap, BTreeSet};

use super::prom::AlertRule;
use super::yaml::Node;
use super::Finding;

#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum Op {
    Eq,
    Ne,
    Re,
    NotRe,
}

#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct Matcher {
    pub name: String,
    pub op: Op,
    pub value: String,
}

impl Matcher {
    /// Whether the label value passes; None when the value is not known here: labels the
    /// query produces, and labels Prometheus adds on the way (external labels such as
    /// `cluster`), are unknown. Only the alert name and the rule's own labels are fixed.
    fn test(&self, alert: &Labels) -> Option<bool> {
        let value = alert.fixed.get(&self.name)?;
        Some(self.holds(value))
    }

    /// Whether a label value passes this matcher.
    pub fn holds(&self, value: &str) -> bool {
        match self.op {
            Op::Eq => value == self.value,
            Op::Ne => value != self.value,
            Op::Re | Op::NotRe => {
                let hit = anchored(&self.value).is_ok_and(|r| r.is_match(value));
                (self.op == Op::Re) == hit
            }
        }
    }
}

fn anchored(re: &str) -> Result<regex::Regex, regex::Error> {
    regex::Regex::new(&format!("^(?:{re})$"))
}

/// A value that reads as a regular expression although it will be compared literally.
pub fn looks_like_regex(v: &str) -> bool {
    v.contains("=~")
        || v.contains(".*")
        || v.contains(".+")
        || v.contains('|')
        || (v.starts_with('^') && v.len() > 1)
        || (v.ends_with('$') && !v.ends_with("\\$") && v.len() > 1)
        || (v.contains('[') && v.contains(']'))
}

/// Parses one matcher as Alertmanager writes them: `name op value`, value optionally quoted.
pub fn parse_matcher(s: &str) -> Result<Matcher, String> {
    let t = s
        .trim()
        .trim_start_matches('{')
        .trim_end_matches('}')
        .trim();
    let pos = ["=~", "!~", "!=", "="]
        .iter()
        .filter_map(|op| t.find(op).map(|i| (i, *op)))
        .min_by_key(|(i, op)| (*i, std::cmp::Reverse(op.len())));
    let Some((i, op)) = pos else {
        return Err(format!("{s:?} has no operator (=, !=, =~, !~)"));
    };
    let name = t[..i].trim().trim_matches('"');
    if name.is_empty()
        || !name.chars().all(|c| c.is_ascii_alphanumeric() || c == '_')
        || name.starts_with(|c: char| c.is_ascii_digit())
    {
        return Err(format!("{s:?}: {name:?} is not a label name"));
    }
    let raw = t[i + op.len()..].trim();
    let value = if let Some(inner) = raw.strip_prefix('"') {
        let Some(inner) = inner.strip_suffix('"') else {
            return Err(format!("{s:?}: unterminated quoted value"));
        };
        inner.replace("\\\"", "\"").replace("\\\\", "\\")
    } else {
        if raw.contains('"') {
            return Err(format!("{s:?}: stray quote in value"));
        }
        raw.to_string()
    };
    let op = match op {
        "=" => Op::Eq,
        "!=" => Op::Ne,
        "=~" => Op::Re,
        _ => Op::NotRe,
    };
    if matches!(op, Op::Re | Op::NotRe) {
        anchored(&value).map_err(|e| {
            format!(
                "{s:?}: invalid regex: {}",
                e.to_string().lines().last().unwrap_or("").trim()
            )
        })?;
    }
    Ok(Matcher {
        name: name.to_string(),
        op,
        value,
    })
}

/// An alert's labels known before it fires: its name and its rule's static labels (the
/// query's and Prometheus' external labels are not known here).
pub struct Labels {
    pub fixed: BTreeMap<String, String>,
}

/// One route of the tree.
#[derive(Debug)]
struct Route {
    line: u64,
    receiver: Option<String>,
    matchers: Vec<Matcher>,
    continue_: bool,
    children: Vec<Route>,
}

fn read_route(file: &str, node: &Node, out: &mut Vec<Finding>) -> Route {
    let mut matchers = Vec::new();
    for (k, v) in node.get("match").map(Node::entries).unwrap_or_default() {
        let (name, value) = (
            k.scalar_text().unwrap_or_default(),
            v.scalar_text().unwrap_or_default(),
        );
        if looks_like_regex(&value) {
            out.push(Finding::new(
                file,
                v.line,
                "FM020",
                format!("match: {{{name}: {value:?}}} compares literally, so this route never matches (a regex written where match takes a literal)"),
                format!("use matchers: ['{name}=~\"{}\"']", strip_regex_syntax(&value)),
            ));
        }
        matchers.push(Matcher {
            name,
            op: Op::Eq,
            value,
        });
    }
    for (k, v) in node.get("match_re").map(Node::entries).unwrap_or_default() {
        let (name, value) = (
            k.scalar_text().unwrap_or_default(),
            v.scalar_text().unwrap_or_default(),
        );
        if let Err(e) = anchored(&value) {
            out.push(Finding::new(
                file,
                v.line,
                "FM021",
                format!(
                    "match_re {name}: {value:?} is not a valid regex: {}",
                    e.to_string().lines().last().unwrap_or("").trim()
                ),
                "write a valid RE2 regular expression".into(),
            ));
        }
        matchers.push(Matcher {
            name,
            op: Op::Re,
            value,
        });
    }
    for m in node.get("matchers").map(Node::seq).unwrap_or_default() {
        let text = m.scalar_text().unwrap_or_default();
        for part in split_matchers(&text) {
            match parse_matcher(&part) {
                Ok(parsed) => {
                    if parsed.op == Op::Eq && looks_like_regex(&parsed.value) {
                        out.push(Finding::new(
                            file,
                            m.line,
                            "FM020",
                            format!("matcher {part:?} compares literally with `=`, so this route never matches (a regex written where `=` takes a literal)"),
                            format!("use =~: '{}=~\"{}\"'", parsed.name, strip_regex_syntax(&parsed.value)),
                        ));
                    }
                    matchers.push(parsed);
                }
                Err(e) => out.push(Finding::new(
                    file,
                    m.line,
                    "FM021",
                    format!("invalid matcher {e}"),
                    "write name op \"value\" with op one of = != =~ !~".into(),
                )),
            }
        }
    }
    Route {
        line: node.line,
        receiver: node.get("receiver").and_then(Node::scalar_text),
        matchers,
        continue_: node
            .get("continue")
            .and_then(Node::as_bool)
            .unwrap_or(false),
        children: node
            .get("routes")
            .map(Node::seq)
            .unwrap_or_default()
            .iter()
            .map(|c| read_route(file, c, out))
            .collect(),
    }
}

/// `=~"Flux.*"` -> `Flux.*`, for the suggested fix.
fn strip_regex_syntax(v: &str) -> String {
    v.trim()
        .trim_start_matches("=~")
        .trim()
        .trim_matches('"')
        .to_string()
}

/// Splits `a="x", b=~"y"` at commas outside quotes.
fn split_matchers(s: &str) -> Vec<String> {
    let mut parts = Vec::new();
    let (mut cur, mut quoted, mut escaped) = (String::new(), false, false);
    for c in s
        .trim()
        .trim_start_matches('{')
        .trim_end_matches('}')
        .chars()
    {
        match c {
            '\\' if quoted => {
                escaped = !escaped;
                cur.push(c);
                continue;
            }
            '"' if !escaped => quoted = !quoted,
            ',' if !quoted => {
                parts.push(std::mem::take(&mut cur));
                continue;
            }
            _ => {}
        }
        escaped = false;
        cur.push(c);
    }
    parts.push(cur);
    parts
        .into_iter()
        .map(|p| p.trim().to_string())
        .filter(|p| !p.is_empty())
        .collect()
}

/// FM022: a sibling whose every alert an earlier sibling (without continue) already takes.
fn shadowed(file: &str, route: &Route, out: &mut Vec<Finding>) {
    for (j, later) in route.children.iter().enumerate() {
        let later_set: BTreeSet<&Matcher> = later.matchers.iter().collect();
        if let Some(earlier) = route.children[..j]
            .iter()
            .find(|e| !e.continue_ && e.matchers.iter().all(|m| later_set.contains(m)))
        {
            out.push(Finding::new(
                file,
                later.line,
                "FM022",
                format!(
                    "this route (receiver {}) is never reached: the route on line {} takes every alert it matches and has no continue: true",
                    later.receiver.as_deref().unwrap_or("inherited"),
                    earlier.line
                ),
                "move the more specific route first, or set continue: true on the earlier one".into(),
            ));
        }
        shadowed(file, later, out);
    }
}

/// The receivers an alert may reach. Matchers on labels the rule does not set are taken as
/// possibly matching (their values come from the query).
fn receivers(route: &Route, labels: &Labels, inherited: &str, out: &mut BTreeSet<String>) {
    let receiver = route.receiver.as_deref().unwrap_or(inherited);
    let mut definite = false;
    for child in &route.children {
        let verdict = child
            .matchers
            .iter()
            .try_fold(true, |acc, m| match m.test(labels) {
                Some(false) => None,
                Some(true) => Some(acc),
                None => Some(false),
            });
        match verdict {
            None => {}
            Some(sure) => {
                receivers(child, labels, receiver, out);
                if sure {
                    definite = true;
                    if !child.continue_ {
                        break;
                    }
                }
            }
        }
    }
    if !definite {
        out.insert(receiver.to_string());
    }
}

/// Whether the document is an Alertmanager configuration.
pub fn is_config(doc: &Node) -> bool {
    doc.get("route").is_some_and(Node::is_map) && doc.get("receivers").is_some()
}

/// A route written for Flux's alerts: a matcher value names Flux.
fn meant_for_flux(route: &Route) -> bool {
    route
        .matchers
        .iter()
        .any(|m| m.op != Op::Ne && m.op != Op::NotRe && m.value.to_lowercase().contains("flux"))
}

/// Whether an alert may reach `target` (a route of the tree, by line): every route on the way
/// may match and no earlier sibling without `continue` surely takes it first.
fn may_reach(route: &Route, labels: &Labels, target: u64) -> bool {
    if route.line == target {
        return true;
    }
    for child in &route.children {
        // Some(false) when a matcher surely fails, Some(true) when all surely hold, None when unknown.
        let tests: Vec<Option<bool>> = child.matchers.iter().map(|m| m.test(labels)).collect();
        let verdict = if tests.contains(&Some(false)) {
            Some(false)
        } else if tests.iter().all(|t| *t == Some(true)) {
            Some(true)
        } else {
            None
        };
        if verdict == Some(false) {
            continue;
        }
        if may_reach(child, labels, target) {
            return true;
        }
        if verdict == Some(true) && !child.continue_ {
            return false;
        }
    }
    false
}

fn flux_routes<'a>(route: &'a Route, out: &mut Vec<&'a Route>) {
    for c in &route.children {
        if meant_for_flux(c) {
            out.push(c);
        }
        flux_routes(c, out);
    }
}

/// FM026: a route whose matchers, with its parents', can never all hold.
fn unsatisfiable(file: &str, route: &Route, inherited: &[(Matcher, u64)], out: &mut Vec<Finding>) {
    let mut all: Vec<(Matcher, u64)> = inherited.to_vec();
    all.extend(route.matchers.iter().map(|m| (m.clone(), route.line)));
    if let Some((a, b)) = conflict(&all) {
        if b.1 == route.line {
            let where_ = if a.1 == route.line {
                "on this route".to_string()
            } else {
                format!("(its parent route on line {})", a.1)
            };
            out.push(Finding::new(
                file,
                route.line,
                "FM026",
                format!(
                    "this route (receiver {}) never matches: {} and {} {where_} can never both hold",
                    route.receiver.as_deref().unwrap_or("inherited"),
                    show(&b.0),
                    show(&a.0)
                ),
                "fix the matcher values (a child route only sees alerts its parent matched)".into(),
            ));
            return; // its children cannot be reached either; one finding says it
        }
    }
    for c in &route.children {
        unsatisfiable(file, c, &all, out);
    }
}

fn show(m: &Matcher) -> String {
    let op = match m.op {
        Op::Eq => "=",
        Op::Ne => "!=",
        Op::Re => "=~",
        Op::NotRe => "!~",
    };
    format!("{}{op}\"{}\"", m.name, m.value)
}

/// Two matchers on one label that no value satisfies together, when that can be decided: an
/// equality against any other matcher, or two regexes that are alternations of literals.
fn conflict(all: &[(Matcher, u64)]) -> Option<((Matcher, u64), (Matcher, u64))> {
    for (i, a) in all.iter().enumerate() {
        for b in &all[i + 1..] {
            if a.0.name != b.0.name {
                continue;
            }
            let candidates = |m: &Matcher| -> Option<Vec<String>> {
                match m.op {
                    Op::Eq => Some(vec![m.value.clone()]),
                    Op::Re => literal_alternatives(&m.value),
                    _ => None,
                }
            };
            let (sa, sb) = (candidates(&a.0), candidates(&b.0));
            let disjoint = match (sa, sb) {
                (Some(va), _) => !va.iter().any(|v| b.0.holds(v)),
                (None, Some(vb)) => !vb.iter().any(|v| a.0.holds(v)),
                _ => false,
            };
            if disjoint {
                return Some((a.clone(), b.clone()));
            }
        }
    }
    None
}

/// `a|b|c` (optionally in one group) as its literal values; None when it is a real regex.
fn literal_alternatives(re: &str) -> Option<Vec<String>> {
    let inner = re
        .strip_prefix('(')
        .and_then(|r| r.strip_suffix(')'))
        .unwrap_or(re);
    let parts: Vec<String> = inner.split('|').map(str::to_string).collect();
    parts
        .iter()
        .all(|p| {
            p.chars()
                .all(|c| c.is_ascii_alphanumeric() || matches!(c, '_' | '-' | ' ' | ':' | '/'))
        })
        .then_some(parts)
}

pub fn lint(file: &str, doc: &Node, alerts: &[AlertRule], out: &mut Vec<Finding>) {
    let Some(root_node) = doc.get("route") else {
        return;
    };
    super::am_schema::unknown_fields(file, doc, out);
    let root = read_route(file, root_node, out);
    shadowed(file, &root, out);
    for c in &root.children {
        unsatisfiable(
            file,
            c,
            &root
                .matchers
                .iter()
                .map(|m| (m.clone(), root.line))
                .collect::<Vec<_>>(),
            out,
        );
    }
    // Receivers and whether they deliver anywhere.
    let mut defined: BTreeMap<String, bool> = BTreeMap::new();
    for r in doc.get("receivers").map(Node::seq).unwrap_or_default() {
        let name = r
            .get("name")
            .and_then(Node::scalar_text)
            .unwrap_or_default();
        let delivers = r.entries().iter().any(|(k, v)| {
            k.as_str().is_some_and(|k| k.ends_with("_configs")) && !v.seq().is_empty()
        });
        defined.insert(name, delivers);
    }
    check_receivers_defined(file, &root, &defined, out);
    let root_receiver = root.receiver.clone().unwrap_or_default();
    let mut for_flux = Vec::new();
    flux_routes(&root, &mut for_flux);
    for a in alerts.iter().filter(|a| a.flux) {
        let mut fixed = a.labels.clone();
        fixed.insert("alertname".into(), a.name.clone());
        if fixed
            .values()
            .any(|v| super::helm::depends_on_values(v) || v.contains("{{"))
        {
            continue; // labels made by templates: their values are not known here
        }
        let labels = Labels { fixed };
        let mut reached = BTreeSet::new();
        receivers(&root, &labels, &root_receiver, &mut reached);
        let delivering: Vec<&String> = reached
            .iter()
            .filter(|r| defined.get(*r).copied().unwrap_or(false))
            .collect();
        if delivering.is_empty() {
            out.push(Finding::new(
                &a.file,
                a.line,
                "FM024",
                format!("alert {} reaches no one in {file}: receiver(s) {} deliver nowhere", a.name, join(&reached)),
                "route it to a receiver with slack_configs, pagerduty_configs, webhook_configs, ...".into(),
            ));
        } else if !for_flux.is_empty()
            && !for_flux.iter().any(|r| may_reach(&root, &labels, r.line))
        {
            let lines: Vec<String> = for_flux.iter().map(|r| r.line.to_string()).collect();
            out.push(Finding::new(
                &a.file,
                a.line,
                "FM023",
                format!(
                    "alert {} never reaches the route(s) written for Flux ({file}, line {}); it goes to {}",
                    a.name,
                    lines.join(", "),
                    join(&reached)
                ),
                "make the Flux route match it, e.g. matchers: ['alertname=~\"Flux.*\"']".into(),
            ));
        }
    }
}

fn check_receivers_defined(
    file: &str,
    route: &Route,
    defined: &BTreeMap<String, bool>,
    out: &mut Vec<Finding>,
) {
    if let Some(r) = &route.receiver {
        if !defined.contains_key(r) {
            out.push(Finding::new(file, route.line, "FM024", format!("route receiver {r:?} is not defined in receivers (Alertmanager refuses this configuration)"), "define the receiver or fix its name".into()));
        }
    }
    for c in &route.children {
        check_receivers_defined(file, c, defined, out);
    }
}

fn join(set: &BTreeSet<String>) -> String {
    set.iter()
        .map(|s| format!("{s:?}"))
        .collect::<Vec<_>>()
        .join(", ")
}

/// The receivers an alert with these labels may reach in a configuration (labels it does not
/// carry, such as external labels, may or may not match, so both ways are followed).
pub fn route_alert(doc: &Node, labels: &BTreeMap<String, String>) -> BTreeSet<String> {
    let mut scratch = Vec::new();
    let Some(root_node) = doc.get("route") else {
        return BTreeSet::new();
    };
    let root = read_route("", root_node, &mut scratch);
    let root_receiver = root.receiver.clone().unwrap_or_default();
    let mut reached = BTreeSet::new();
    let labels = Labels {
        fixed: labels.clone(),
    };
    receivers(&root, &labels, &root_receiver, &mut reached);
    reached
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn matchers_parse_as_alertmanager_writes_them() {
        let m = parse_matcher("alertname=~\"Flux.*\"").unwrap();
        assert_eq!(
            (m.name.as_str(), m.op, m.value.as_str()),
            ("alertname", Op::Re, "Flux.*")
        );
        assert_eq!(
            parse_matcher("severity = critical").unwrap().value,
            "critical"
        );
        assert_eq!(parse_matcher("a!=\"b\"").unwrap().op, Op::Ne);
        assert!(parse_matcher("severity").is_err());
        assert!(parse_matcher("a=~\"(\"").is_err());
        assert_eq!(
            split_matchers("{a=\"x,y\", b=~\"z\"}"),
            ["a=\"x,y\"", "b=~\"z\""]
        );
    }

    #[test]
    fn regex_lookalikes() {
        assert!(looks_like_regex("=~\"Flux.*\""));
        assert!(looks_like_regex("Flux.*"));
        assert!(looks_like_regex("critical|warning"));
        assert!(!looks_like_regex("FluxReconciliationFailure"));
        assert!(!looks_like_regex("critical"));
    }
}
