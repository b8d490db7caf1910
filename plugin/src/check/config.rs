//! The checks file: which built-in checks run, with which thresholds, on which objects
//! (kinds, namespaces, label selector), with per-scope overrides. Documented in CHECKS.md.

use std::collections::BTreeMap;
use std::path::Path;
use std::time::Duration;

use model::kinds::KindInfo;
use serde_json::Value;

use crate::lint::yaml::{self, Node};

/// The built-in checks. Ids are stable: scripts and JUnit reports name them.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum CheckId {
    NotReady,
    Stalled,
    Suspended,
    Stale,
    RevisionDrift,
    Controllers,
    CrdVersions,
    NotificationCoverage,
}

impl CheckId {
    pub const ALL: [CheckId; 8] = [
        CheckId::Controllers,
        CheckId::CrdVersions,
        CheckId::NotReady,
        CheckId::Stalled,
        CheckId::Suspended,
        CheckId::Stale,
        CheckId::RevisionDrift,
        CheckId::NotificationCoverage,
    ];

    pub fn id(self) -> &'static str {
        match self {
            CheckId::NotReady => "not-ready",
            CheckId::Stalled => "stalled",
            CheckId::Suspended => "suspended",
            CheckId::Stale => "stale",
            CheckId::RevisionDrift => "revision-drift",
            CheckId::Controllers => "controllers",
            CheckId::CrdVersions => "crd-versions",
            CheckId::NotificationCoverage => "notification-coverage",
        }
    }

    pub fn title(self) -> &'static str {
        match self {
            CheckId::NotReady => "Flux objects are Ready (not failing longer than `after`)",
            CheckId::Stalled => "no Flux object is Stalled",
            CheckId::Suspended => "no Flux object is suspended longer than `after`",
            CheckId::Stale => "no Flux object lags more than `factor` x its interval",
            CheckId::RevisionDrift => "Kustomizations and HelmReleases apply their source's revision",
            CheckId::Controllers => "the Flux controllers' Deployments are available",
            CheckId::CrdVersions => "the Flux CRDs store the versions the installed Flux prefers",
            CheckId::NotificationCoverage => "every Kustomization, HelmRelease and source is covered by an Alert that delivers errors",
        }
    }

    pub fn from_id(s: &str) -> Option<CheckId> {
        CheckId::ALL.into_iter().find(|c| c.id() == s)
    }

    /// Whether the check judges Flux objects (else the installation: one case per Deployment or CRD).
    pub fn per_object(self) -> bool {
        !matches!(self, CheckId::Controllers | CheckId::CrdVersions)
    }

    /// The kinds the check applies to by default.
    pub fn applies_to(self, info: &KindInfo) -> bool {
        match self {
            CheckId::NotReady | CheckId::Stalled | CheckId::Stale => info.has_status,
            CheckId::Suspended => true,
            CheckId::RevisionDrift => matches!(info.kind, "Kustomization" | "HelmRelease"),
            CheckId::NotificationCoverage => {
                matches!(info.kind, "Kustomization" | "HelmRelease")
                    || (info.is_source && info.kind != "HelmChart")
            }
            CheckId::Controllers | CheckId::CrdVersions => false,
        }
    }

    fn default_params(self) -> Settings {
        let mut s = Settings {
            enabled: true,
            after: Duration::ZERO,
            factor: 3.0,
            namespace: "flux-system".into(),
        };
        s.after = match self {
            CheckId::NotReady => Duration::from_secs(600),
            CheckId::Suspended => Duration::from_secs(1800),
            CheckId::RevisionDrift => Duration::from_secs(900),
            _ => Duration::ZERO,
        };
        s
    }
}

/// Resolved settings of one check for one object.
#[derive(Debug, Clone, PartialEq)]
pub struct Settings {
    pub enabled: bool,
    pub after: Duration,
    pub factor: f64,
    pub namespace: String,
}

#[derive(Debug, Clone, Default)]
struct Params {
    enabled: Option<bool>,
    after: Option<Duration>,
    factor: Option<f64>,
    namespace: Option<String>,
    scope: Scope,
}

impl Params {
    fn apply(&self, s: &mut Settings) {
        if let Some(v) = self.enabled {
            s.enabled = v;
        }
        if let Some(v) = self.after {
            s.after = v;
        }
        if let Some(v) = self.factor {
            s.factor = v;
        }
        if let Some(v) = &self.namespace {
            s.namespace = v.clone();
        }
    }
}

/// Which objects: kinds, namespaces and a label selector, all optional.
#[derive(Debug, Clone, Default)]
pub struct Scope {
    kinds: Option<Vec<&'static str>>,
    namespaces: Option<Vec<String>>,
    selector: Option<Vec<Requirement>>,
}

impl Scope {
    pub fn matches(&self, obj: &Value) -> bool {
        let o = model::FluxObject::new(obj);
        self.kinds.as_ref().is_none_or(|ks| ks.contains(&o.kind()))
            && self
                .namespaces
                .as_ref()
                .is_none_or(|ns| ns.iter().any(|n| n == o.namespace()))
            && self.selector.as_ref().is_none_or(|reqs| {
                let labels = o.labels();
                reqs.iter()
                    .all(|r| r.matches(|k| labels.and_then(|l| l.get(k)).and_then(Value::as_str)))
            })
    }
}

#[derive(Debug, Clone, PartialEq)]
pub enum Requirement {
    Eq(String, String),
    Ne(String, String),
    Exists(String),
    NotExists(String),
    In(String, Vec<String>),
    NotIn(String, Vec<String>),
}

impl Requirement {
    fn matches<'a>(&self, label: impl Fn(&str) -> Option<&'a str>) -> bool {
        match self {
            Requirement::Eq(k, v) => label(k) == Some(v),
            Requirement::Ne(k, v) => label(k) != Some(v),
            Requirement::Exists(k) => label(k).is_some(),
            Requirement::NotExists(k) => label(k).is_none(),
            Requirement::In(k, vs) => label(k).is_some_and(|l| vs.iter().any(|v| v == l)),
            Requirement::NotIn(k, vs) => label(k).is_none_or(|l| !vs.iter().any(|v| v == l)),
        }
    }
}

/// A Kubernetes label selector: `a=b`, `a==b`, `a!=b`, `a`, `!a`, `a in (x,y)`, `a notin (x)`.
pub fn parse_selector(s: &str) -> Result<Vec<Requirement>, String> {
    let mut parts = Vec::new();
    let (mut cur, mut depth) = (String::new(), 0);
    for c in s.chars() {
        match c {
            '(' => depth += 1,
            ')' => depth -= 1,
            ',' if depth == 0 => {
                parts.push(std::mem::take(&mut cur));
                continue;
            }
            _ => {}
        }
        cur.push(c);
    }
    parts.push(cur);
    let set = |v: &str| -> Result<Vec<String>, String> {
        let inner = v
            .trim()
            .strip_prefix('(')
            .and_then(|v| v.strip_suffix(')'))
            .ok_or_else(|| format!("expected (values) in {}", quote(s)))?;
        Ok(inner
            .split(',')
            .map(|x| x.trim().to_string())
            .filter(|x| !x.is_empty())
            .collect())
    };
    let mut out = Vec::new();
    for p in parts.iter().map(|p| p.trim()).filter(|p| !p.is_empty()) {
        let req = if let Some((k, v)) = p.split_once("!=") {
            Requirement::Ne(k.trim().into(), v.trim().into())
        } else if let Some((k, v)) = p.split_once("==").or_else(|| p.split_once('=')) {
            Requirement::Eq(k.trim().into(), v.trim().into())
        } else if let Some((k, v)) = p.split_once(" notin ") {
            Requirement::NotIn(k.trim().into(), set(v)?)
        } else if let Some((k, v)) = p.split_once(" in ") {
            Requirement::In(k.trim().into(), set(v)?)
        } else if let Some(k) = p.strip_prefix('!') {
            Requirement::NotExists(k.trim().into())
        } else {
            Requirement::Exists(p.into())
        };
        let key = match &req {
            Requirement::Eq(k, _)
            | Requirement::Ne(k, _)
            | Requirement::Exists(k)
            | Requirement::NotExists(k)
            | Requirement::In(k, _)
            | Requirement::NotIn(k, _) => k,
        };
        if key.is_empty() || key.contains(char::is_whitespace) {
            return Err(format!("invalid label selector {}", quote(s)));
        }
        out.push(req);
    }
    Ok(out)
}

/// The checks configuration: built-in defaults unless a file says otherwise.
#[derive(Debug, Clone, Default)]
pub struct Config {
    scope: Scope,
    checks: BTreeMap<CheckId, Params>,
    overrides: Vec<(Scope, BTreeMap<CheckId, Params>)>,
}

impl Config {
    /// Settings of a check as a whole (for the installation checks and defaults).
    pub fn settings(&self, id: CheckId) -> Settings {
        let mut s = id.default_params();
        if let Some(p) = self.checks.get(&id) {
            p.apply(&mut s);
        }
        s
    }

    /// Settings for one object, or None when the check does not apply to it (kind, scope, disabled).
    pub fn for_object(&self, id: CheckId, obj: &Value) -> Option<Settings> {
        let info = model::FluxObject::new(obj).info()?;
        if !id.applies_to(info) || !self.scope.matches(obj) {
            return None;
        }
        let mut s = id.default_params();
        if let Some(p) = self.checks.get(&id) {
            if !p.scope.matches(obj) {
                return None;
            }
            p.apply(&mut s);
        }
        for (scope, checks) in &self.overrides {
            if let (true, Some(p)) = (scope.matches(obj), checks.get(&id)) {
                p.apply(&mut s);
            }
        }
        s.enabled.then_some(s)
    }
}

/// Reads a checks file; errors name FILE:LINE.
pub fn load(path: &Path) -> Result<Config, String> {
    let text = yaml::read_text(path).map_err(|e| e.0)?;
    parse(&path.display().to_string(), &text)
}

/// Parses the text of a checks file that `file` names in messages; errors name FILE:LINE.
pub fn parse(file: &str, text: &str) -> Result<Config, String> {
    let docs = yaml::parse_documents(file, text).map_err(|e| e.0)?;
    let Some(doc) = docs.first() else {
        return Ok(Config::default());
    };
    let err = |n: &Node, msg: String| format!("{file}:{}: {msg}", n.line);
    only_keys(
        doc,
        &["apiVersion", "kind", "scope", "checks", "overrides"],
        &err,
    )?;
    let mut config = Config::default();
    if let Some(s) = doc.get("scope") {
        config.scope = read_scope(s, &err)?;
    }
    if let Some(c) = doc.get("checks") {
        config.checks = read_checks(c, &err)?;
    }
    for o in doc.get("overrides").map(Node::seq).unwrap_or_default() {
        only_keys(o, &["scope", "checks"], &err)?;
        let scope = o
            .get("scope")
            .map(|s| read_scope(s, &err))
            .transpose()?
            .unwrap_or_default();
        let checks = o
            .get("checks")
            .map(|c| read_checks(c, &err))
            .transpose()?
            .unwrap_or_default();
        config.overrides.push((scope, checks));
    }
    Ok(config)
}

type ErrAt<'a> = dyn Fn(&Node, String) -> String + 'a;

/// A value of the file quoted in a message: escaped, and cut short when long.
fn quote(s: &str) -> String {
    format!("{:?}", yaml::shorten(s))
}

fn only_keys(n: &Node, allowed: &[&str], err: &ErrAt) -> Result<(), String> {
    if !n.is_map() {
        return Err(err(n, "expected a mapping".into()));
    }
    for (k, _) in n.entries() {
        let key = k.scalar_text().unwrap_or_default();
        if !allowed.contains(&key.as_str()) {
            return Err(err(
                k,
                format!(
                    "unknown field {} (expected one of {})",
                    quote(&key),
                    allowed.join(", ")
                ),
            ));
        }
    }
    Ok(())
}

fn strings(n: &Node, err: &ErrAt) -> Result<Vec<(String, u64)>, String> {
    match &n.value {
        yaml::Val::Seq(items) => items
            .iter()
            .map(|i| {
                i.scalar_text()
                    .map(|s| (s, i.line))
                    .ok_or_else(|| err(i, "expected a string".into()))
            })
            .collect(),
        _ => n
            .scalar_text()
            .map(|s| vec![(s, n.line)])
            .ok_or_else(|| err(n, "expected a list of strings".into())),
    }
}

fn read_scope(n: &Node, err: &ErrAt) -> Result<Scope, String> {
    only_keys(n, &["kinds", "namespaces", "selector"], err)?;
    let mut scope = Scope::default();
    if let Some(k) = n.get("kinds") {
        let mut kinds = Vec::new();
        for (name, line) in strings(k, err)? {
            let at = Node {
                line,
                value: yaml::Val::Null,
            };
            let info = model::kinds::lookup(&name)
                .ok_or_else(|| err(&at, format!("unknown kind {}", quote(&name))))?;
            kinds.push(info.kind);
        }
        scope.kinds = Some(kinds);
    }
    if let Some(ns) = n.get("namespaces") {
        scope.namespaces = Some(strings(ns, err)?.into_iter().map(|(s, _)| s).collect());
    }
    if let Some(sel) = n.get("selector") {
        let text = sel
            .scalar_text()
            .ok_or_else(|| err(sel, "expected a label selector string".into()))?;
        scope.selector = Some(parse_selector(&text).map_err(|e| err(sel, e))?);
    }
    Ok(scope)
}

fn read_checks(n: &Node, err: &ErrAt) -> Result<BTreeMap<CheckId, Params>, String> {
    if !n.is_map() {
        return Err(err(n, "expected a mapping of check ids".into()));
    }
    let mut out = BTreeMap::new();
    for (k, v) in n.entries() {
        let name = k.scalar_text().unwrap_or_default();
        let id = CheckId::from_id(&name).ok_or_else(|| {
            err(
                k,
                format!(
                    "unknown check {} (known: {})",
                    quote(&name),
                    CheckId::ALL.map(CheckId::id).join(", ")
                ),
            )
        })?;
        let mut p = Params::default();
        if matches!(v.value, yaml::Val::Null) {
            out.insert(id, p);
            continue;
        }
        only_keys(
            v,
            &["enabled", "after", "factor", "namespace", "scope"],
            err,
        )?;
        if let Some(e) = v.get("enabled") {
            p.enabled = Some(
                e.as_bool()
                    .ok_or_else(|| err(e, "enabled: expected true or false".into()))?,
            );
        }
        if let Some(a) = v.get("after") {
            let text = a.scalar_text().unwrap_or_default();
            p.after =
                Some(model::parse_go_duration(&text).map_err(|e| err(a, format!("after: {e}")))?);
        }
        if let Some(f) = v.get("factor") {
            let x = f
                .scalar_text()
                .and_then(|t| t.parse::<f64>().ok())
                .filter(|x| *x > 0.0);
            p.factor = Some(x.ok_or_else(|| err(f, "factor: expected a positive number".into()))?);
        }
        if let Some(ns) = v.get("namespace") {
            p.namespace = Some(
                ns.scalar_text()
                    .ok_or_else(|| err(ns, "namespace: expected a string".into()))?,
            );
        }
        if let Some(s) = v.get("scope") {
            p.scope = read_scope(s, err)?;
        }
        out.insert(id, p);
    }
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn selectors_as_kubernetes_reads_them() {
        let reqs = parse_selector("team=a, tier in (web,db),!legacy,env!=prod").unwrap();
        let obj = |labels: Value| json!({"kind": "Kustomization", "metadata": {"name": "x", "namespace": "n", "labels": labels}});
        let scope = Scope {
            selector: Some(reqs),
            ..Default::default()
        };
        assert!(scope.matches(&obj(json!({"team": "a", "tier": "web"}))));
        assert!(!scope.matches(&obj(json!({"team": "a", "tier": "web", "legacy": "1"}))));
        assert!(!scope.matches(&obj(json!({"team": "a", "tier": "cache"}))));
        assert!(parse_selector("a in b").is_err());
    }

    #[test]
    fn long_values_are_quoted_short() {
        // Found by fuzzing (fuzz/corpus/checks_file/crash-long-unknown-key): an unknown key of
        // 1,000 characters came back whole in the message.
        let long = "x".repeat(1000);
        for text in [
            format!("{long}: 1\n"),
            format!("checks:\n  {long}: {{}}\n"),
            format!("scope:\n  kinds: [{long}]\n"),
            format!("scope:\n  selector: \"a in {long}\"\n"),
        ] {
            let e = parse("c.yaml", &text).unwrap_err();
            assert!(e.starts_with("c.yaml:") && e.len() < 400, "{e}");
        }
    }
}
