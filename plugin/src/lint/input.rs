//! Everything lint reads, classified by content: rule groups (PrometheusRule, VMRule, plain,
//! Thanos and Mimir/Cortex rule files), Alertmanager configurations, Flux Alerts, Providers and
//! other Flux objects, Secrets, scrape configuration (PodMonitor, ServiceMonitor, Prometheus
//! `scrape_configs`), Grafana dashboards and kube-state-metrics custom-resource configs, also
//! when embedded in ConfigMaps, Secrets, GrafanaDashboards and Helm values.
//!
//! A file that cannot be read is an error that names it; it never hides the other files. Parts
//! of Helm templates that do not read as YAML without rendering are reported as skipped.

use std::path::{Path, PathBuf};

use serde::Serialize;

use super::helm;
use super::yaml::{self, LoadError, Node, Val};

/// A document and the file it came from (lines are 0 for objects read from a cluster, where
/// `file` names the object).
#[derive(Debug, Clone)]
pub struct Doc {
    pub file: String,
    pub node: Node,
}

pub type FluxDoc = Doc;

impl Doc {
    pub fn kind(&self) -> &str {
        self.node.get("kind").and_then(Node::as_str).unwrap_or("")
    }
    pub fn name(&self) -> String {
        self.node
            .at(&["metadata", "name"])
            .and_then(Node::scalar_text)
            .unwrap_or_default()
    }
    pub fn namespace(&self) -> Option<String> {
        self.node
            .at(&["metadata", "namespace"])
            .and_then(Node::scalar_text)
    }
    /// The line of the deepest node found along `path` (the document's line if none).
    pub fn line_of(&self, path: &[&str]) -> u64 {
        let mut line = self.node.line;
        let mut cur = &self.node;
        for p in path {
            match cur.get(p) {
                Some(n) => {
                    line = n.line;
                    cur = n;
                }
                None => break,
            }
        }
        line
    }
}

/// Which rule-file dialect a document is written in; it decides what a parse error means.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Dialect {
    /// Prometheus (also Thanos, Mimir, Cortex and Loki's metric rules: PromQL).
    Prometheus,
    /// VictoriaMetrics' vmalert: MetricsQL, a superset of PromQL.
    MetricsQl,
}

/// A document with rule groups.
#[derive(Debug, Clone)]
pub struct RuleDoc {
    pub file: String,
    /// The node holding `groups`.
    pub groups: Node,
    pub dialect: Dialect,
    /// From a Helm template: values made by Helm are placeholders.
    pub templated: bool,
}

/// A Grafana dashboard (the JSON model), where it was found.
#[derive(Debug, Clone)]
pub struct DashboardDoc {
    pub file: String,
    pub node: Node,
}

/// A part of the input lint did not read, and why.
#[derive(Debug, Clone, Serialize, PartialEq, Eq, PartialOrd, Ord)]
pub struct Skipped {
    pub file: String,
    pub line: u64,
    pub reason: String,
}

/// What was read from a file.
#[derive(Debug, Clone, Serialize, PartialEq, Eq, PartialOrd, Ord)]
pub struct Read {
    pub file: String,
    /// rules, rules (MetricsQL), alertmanager, flux, scrape, dashboard, kube-state-metrics.
    pub what: String,
}

/// Everything read, classified.
#[derive(Default)]
pub struct Gathered {
    /// Which file gave what, for the report.
    pub read: Vec<Read>,
    pub rules: Vec<RuleDoc>,
    pub alertmanager: Vec<(String, Node)>,
    /// Flux Alerts and Providers.
    pub flux: Vec<FluxDoc>,
    /// Every other Flux object (for intervals and coverage).
    pub objects: Vec<FluxDoc>,
    pub secrets: Vec<FluxDoc>,
    /// PodMonitors, ServiceMonitors, Services, and Prometheus configurations.
    pub scrape: Vec<FluxDoc>,
    pub dashboards: Vec<DashboardDoc>,
    /// kube-state-metrics custom-resource-state configurations (the `spec.resources` holder).
    pub ksm: Vec<(String, Node)>,
    pub skipped: Vec<Skipped>,
    /// Files that could not be read at all, each naming the file and line.
    pub errors: Vec<String>,
}

/// What a path given on the command line is expected to hold.
#[derive(Clone, Copy, PartialEq, Eq)]
pub enum As {
    Any,
    Rules,
    Alertmanager,
    Flux,
}

/// The extensions read when a directory is walked.
pub const EXTENSIONS: &[&str] = &["yaml", "yml", "json", "rules"];

impl Gathered {
    /// Reads every file under `paths`; a file that fails is recorded and the others still read.
    pub fn add(&mut self, paths: &[PathBuf], as_: As) -> Result<(), LoadError> {
        for path in super::walk::files(paths, EXTENSIONS)? {
            let file = path.display().to_string();
            let before = self.counts();
            self.add_file(&path, &file, as_);
            let used = self.counts() != before;
            if !used && as_ == As::Alertmanager && !self.errors.iter().any(|e| e.starts_with(&file))
            {
                self.errors.push(format!(
                    "{file}: not an Alertmanager configuration (no route and receivers)"
                ));
            }
            if !used && as_ == As::Rules && !self.errors.iter().any(|e| e.starts_with(&file)) {
                eprintln!("warning: {file}: no Prometheus rule groups found");
            }
        }
        Ok(())
    }

    fn note(&mut self, file: &str, what: &str) {
        let r = Read {
            file: file.to_string(),
            what: what.to_string(),
        };
        if !self.read.contains(&r) {
            self.read.push(r);
        }
    }

    fn counts(&self) -> [usize; 8] {
        [
            self.rules.len(),
            self.alertmanager.len(),
            self.flux.len(),
            self.objects.len(),
            self.scrape.len(),
            self.dashboards.len(),
            self.ksm.len(),
            self.skipped.len(),
        ]
    }

    fn add_file(&mut self, path: &Path, file: &str, as_: As) {
        let text = match yaml::read_text(path) {
            Ok(t) => t,
            Err(e) => {
                self.errors.push(e.0);
                return;
            }
        };
        let is_json = path.extension().is_some_and(|e| e == "json");
        self.add_text(file, text, is_json, as_);
    }

    /// Reads the text of one file that `file` names in messages (JSON when `is_json`, else YAML,
    /// Helm-templated or not) and files what it holds; what fails is recorded in `errors`.
    pub fn add_text(&mut self, file: &str, text: String, is_json: bool, as_: As) {
        if is_json {
            match parse_json(file, &text, 1) {
                Ok(node) => self.classify(file, node, as_, false),
                Err(e) => self.errors.push(e.0),
            }
            return;
        }
        let templated = helm::is_template(&text);
        let readable = if templated {
            helm::neutralise(&text)
        } else {
            text
        };
        for chunk in yaml::split_documents(&readable) {
            match yaml::parse_chunk(file, chunk) {
                Ok(Node { value: Val::Null, .. }) => {}
                Ok(node) => self.classify(file, node, as_, templated),
                Err(e) if templated => self.skipped.push(Skipped {
                    file: file.to_string(),
                    line: chunk.line,
                    reason: format!(
                        "Helm template: this document does not read as YAML without rendering ({}); lint the output of `helm template` to check it",
                        e.0.splitn(3, ": ").nth(2).unwrap_or("invalid YAML")
                    ),
                }),
                Err(e) => self.errors.push(e.0),
            }
        }
    }

    /// Files the document to every class it belongs to.
    fn classify(&mut self, file: &str, doc: Node, as_: As, templated: bool) {
        let api = doc
            .get("apiVersion")
            .and_then(Node::as_str)
            .unwrap_or("")
            .to_string();
        let kind = doc
            .get("kind")
            .and_then(Node::as_str)
            .unwrap_or("")
            .to_string();
        let any = as_ == As::Any;
        if matches!(as_, As::Any | As::Rules) {
            if let Some((groups, dialect)) = rule_groups(&doc, &api, &kind) {
                self.note(
                    file,
                    if dialect == Dialect::MetricsQl {
                        "rules (MetricsQL)"
                    } else {
                        "rules"
                    },
                );
                self.rules.push(RuleDoc {
                    file: file.to_string(),
                    groups: groups.clone(),
                    dialect,
                    templated,
                });
                return;
            }
        }
        if matches!(as_, As::Any | As::Alertmanager) && super::alertmanager::is_config(&doc) {
            self.note(file, "alertmanager");
            self.alertmanager.push((file.to_string(), doc));
            return;
        }
        if matches!(as_, As::Any | As::Flux) && api.contains(".toolkit.fluxcd.io/") {
            self.note(file, "flux");
            let d = FluxDoc {
                file: file.to_string(),
                node: doc,
            };
            if super::flux::is_alert_or_provider(&d.node) {
                self.flux.push(d);
            } else {
                self.objects.push(d);
            }
            return;
        }
        if as_ == As::Flux && api == "v1" && kind == "Secret" {
            self.secrets.push(FluxDoc {
                file: file.to_string(),
                node: doc,
            });
            return;
        }
        if !any {
            return;
        }
        match (api.as_str(), kind.as_str()) {
            (a, "PodMonitor" | "ServiceMonitor") if a.starts_with("monitoring.coreos.com/") => {
                self.note(file, "scrape");
                self.scrape.push(FluxDoc {
                    file: file.into(),
                    node: doc,
                });
                return;
            }
            ("v1", "Service") => {
                self.scrape.push(FluxDoc {
                    file: file.into(),
                    node: doc,
                });
                return;
            }
            ("v1", "Secret") => {
                self.embedded(file, &doc, templated);
                self.secrets.push(FluxDoc {
                    file: file.into(),
                    node: doc,
                });
                return;
            }
            ("v1", "ConfigMap") => {
                self.embedded(file, &doc, templated);
                return;
            }
            (a, "AlertmanagerConfig") if a.starts_with("monitoring.coreos.com/") => {
                self.skipped.push(Skipped {
                    file: file.into(),
                    line: doc.line,
                    reason: "AlertmanagerConfig object: prometheus-operator merges it into Alertmanager's configuration (adding a namespace matcher); lint reads Alertmanager's configuration itself (alertmanager.yaml, or the operator's generated Secret)".into(),
                });
                return;
            }
            (a, "GrafanaDashboard") if a.starts_with("grafana.integreatly.org/") => {
                self.grafana_dashboard(file, &doc);
                return;
            }
            _ => {}
        }
        if doc
            .get("scrape_configs")
            .is_some_and(|s| !s.seq().is_empty())
        {
            self.note(file, "scrape");
            self.scrape.push(FluxDoc {
                file: file.into(),
                node: doc,
            });
            return;
        }
        if is_dashboard(&doc) {
            let node = doc
                .get("dashboard")
                .filter(|d| is_dashboard_model(d))
                .cloned()
                .unwrap_or(doc);
            self.note(file, "dashboard");
            self.dashboards.push(DashboardDoc {
                file: file.into(),
                node,
            });
            return;
        }
        if let Some(resources) = ksm_resources(&doc) {
            self.note(file, "kube-state-metrics");
            self.ksm.push((file.to_string(), resources.clone()));
        }
        // Helm values and HelmReleases carry rule groups, Alertmanager configurations,
        // scrape configs and kube-state-metrics configs of kube-prometheus-stack.
        self.values_of(file, &doc, templated, 0);
    }

    /// kube-prometheus-stack (and kube-state-metrics) values anywhere in a document.
    fn values_of(&mut self, file: &str, node: &Node, templated: bool, depth: usize) {
        if depth > 8 {
            return;
        }
        for (k, v) in node.entries() {
            match k.as_str().unwrap_or("") {
                "additionalPrometheusRulesMap" => {
                    for (_, rule) in v.entries() {
                        if rule.get("groups").is_some() {
                            self.note(file, "rules");
                            self.rules.push(RuleDoc {
                                file: file.into(),
                                groups: rule.clone(),
                                dialect: Dialect::Prometheus,
                                templated,
                            });
                        }
                    }
                }
                "additionalPrometheusRules" => {
                    for rule in v.seq().iter().filter(|r| r.get("groups").is_some()) {
                        self.note(file, "rules");
                        self.rules.push(RuleDoc {
                            file: file.into(),
                            groups: rule.clone(),
                            dialect: Dialect::Prometheus,
                            templated,
                        });
                    }
                }
                "alertmanager" => {
                    if let Some(cfg) = v
                        .get("config")
                        .filter(|c| super::alertmanager::is_config(c))
                    {
                        self.note(file, "alertmanager");
                        self.alertmanager.push((file.into(), cfg.clone()));
                    }
                    self.values_of(file, v, templated, depth + 1);
                }
                "additionalScrapeConfigs" if !v.seq().is_empty() => {
                    self.note(file, "scrape");
                    let mut holder = v.clone();
                    holder.value = Val::Map(vec![(
                        Node {
                            line: k.line,
                            value: Val::Str("scrape_configs".into()),
                        },
                        v.clone(),
                    )]);
                    self.scrape.push(FluxDoc {
                        file: file.into(),
                        node: holder,
                    });
                }
                "customResourceState" => {
                    if let Some(r) = v.get("config").and_then(|c| match &c.value {
                        Val::Str(s) => parse_embedded(file, c.line, s)
                            .ok()
                            .and_then(|d| ksm_resources(&d).cloned()),
                        _ => ksm_resources(c).cloned(),
                    }) {
                        self.note(file, "kube-state-metrics");
                        self.ksm.push((file.to_string(), r));
                    }
                }
                _ if v.is_map() => self.values_of(file, v, templated, depth + 1),
                _ => {}
            }
        }
    }

    /// Documents held as text in a ConfigMap's or Secret's data (rule files, Alertmanager and
    /// Prometheus configurations, dashboards).
    fn embedded(&mut self, file: &str, doc: &Node, templated: bool) {
        for section in ["data", "stringData"] {
            for (k, v) in doc.get(section).map(Node::entries).unwrap_or_default() {
                let key = k.scalar_text().unwrap_or_default();
                let Val::Str(text) = &v.value else { continue };
                let is_json = key.ends_with(".json");
                if !(is_json
                    || [".yaml", ".yml", ".rules", ".conf"]
                        .iter()
                        .any(|e| key.ends_with(e)))
                {
                    continue;
                }
                let parsed = if is_json {
                    parse_json(file, text, v.line).map(|n| vec![n])
                } else {
                    let inner = if templated {
                        helm::neutralise(text)
                    } else {
                        text.clone()
                    };
                    yaml::split_documents(&inner)
                        .into_iter()
                        .map(|c| {
                            yaml::parse_chunk(
                                file,
                                yaml::Chunk {
                                    line: c.line,
                                    text: c.text,
                                },
                            )
                        })
                        .map(|r| {
                            r.map(|mut n| {
                                n.shift(v.line.saturating_sub(1));
                                n
                            })
                        })
                        .collect()
                };
                // A value that is not YAML (a template, a script) is not ours to judge.
                if let Ok(nodes) = parsed {
                    for n in nodes {
                        self.classify(file, n, As::Any, templated);
                    }
                }
            }
        }
    }

    /// A GrafanaDashboard object: the model inline (`spec.json`); dashboards fetched from a
    /// URL or grafana.com cannot be read offline.
    fn grafana_dashboard(&mut self, file: &str, doc: &Node) {
        let spec = doc.get("spec");
        match spec.and_then(|s| s.get("json")) {
            Some(j) => {
                if let Val::Str(text) = &j.value {
                    match parse_json(file, text, j.line) {
                        Ok(node) => {
                            self.note(file, "dashboard");
                            self.dashboards.push(DashboardDoc {
                                file: file.into(),
                                node,
                            });
                        }
                        Err(e) => self.errors.push(e.0),
                    }
                }
            }
            None => {
                let from = spec
                    .and_then(|s| {
                        s.get("url")
                            .or_else(|| s.get("grafanaCom"))
                            .or_else(|| s.get("gzipJson"))
                    })
                    .map_or(doc.line, |n| n.line);
                self.skipped.push(Skipped {
                    file: file.into(),
                    line: from,
                    reason: "GrafanaDashboard without spec.json (a URL, grafana.com id or gzipped model): lint reads dashboards offline only; lint the JSON file itself".into(),
                });
            }
        }
    }
}

/// A YAML or JSON text held inside another document, lines relative to where it starts.
fn parse_embedded(file: &str, line: u64, text: &str) -> Result<Node, LoadError> {
    let mut n = yaml::parse_chunk(file, yaml::Chunk { line: 1, text })?;
    n.shift(line.saturating_sub(1));
    Ok(n)
}

/// A JSON text as nodes with lines: JSON is YAML, so the YAML reader keeps the lines (tabs
/// that indent, which YAML refuses, read as spaces). JSON that YAML still refuses is read with
/// every node on the text's first line.
pub fn parse_json(file: &str, text: &str, first_line: u64) -> Result<Node, LoadError> {
    let spaced;
    let text = if text.contains('\t') {
        spaced = text
            .split_inclusive('\n')
            .map(|l| {
                let body = l.trim_start_matches([' ', '\t']);
                let indent = &l[..l.len() - body.len()];
                format!("{}{body}", indent.replace('\t', " "))
            })
            .collect::<String>();
        spaced.as_str()
    } else {
        text
    };
    match yaml::parse_json_chunk(file, yaml::Chunk { line: 1, text }) {
        Ok(mut n) => {
            n.shift(first_line.saturating_sub(1));
            Ok(n)
        }
        Err(_) => serde_json::from_str::<serde_json::Value>(text)
            .map(|v| {
                let mut n = Node::from_json(&v);
                // Line 0 would read as "from a cluster": every node at the text's start.
                n.set_lines(first_line);
                n
            })
            .map_err(|e| {
                LoadError(format!(
                    "{file}:{}: invalid JSON: {}",
                    first_line + e.line().saturating_sub(1) as u64,
                    yaml::shorten(&e.to_string())
                ))
            }),
    }
}

/// The rule groups of a document and their dialect: `spec.groups` of a PrometheusRule or a
/// VMRule, or `groups` of a rule file (Prometheus, Thanos, Mimir/Cortex with `namespace:`).
/// promtool unit-test files (`rule_files` and `tests`) are not rules.
pub fn rule_groups<'a>(doc: &'a Node, api: &str, kind: &str) -> Option<(&'a Node, Dialect)> {
    let groups = match kind {
        "PrometheusRule" if api.starts_with("monitoring.coreos.com/") => {
            doc.at(&["spec", "groups"])
        }
        "VMRule" if api.starts_with("operator.victoriametrics.com/") => {
            return doc
                .at(&["spec", "groups"])
                .filter(|g| looks_like_groups(g))
                .map(|_| (doc.get("spec").unwrap_or(doc), Dialect::MetricsQl));
        }
        _ if doc.get("tests").is_some() && doc.get("rule_files").is_some() => None,
        _ => doc.get("groups"),
    }?;
    if !looks_like_groups(groups) {
        return None;
    }
    let holder = if kind == "PrometheusRule" {
        doc.get("spec").unwrap_or(doc)
    } else {
        doc
    };
    Some((holder, Dialect::Prometheus))
}

fn looks_like_groups(groups: &Node) -> bool {
    matches!(groups.value, Val::Seq(_))
        && groups
            .seq()
            .iter()
            .all(|g| g.is_map() && (g.get("rules").is_some() || g.get("name").is_some()))
}

/// Whether a document is a Grafana dashboard model (or a wrapper with `dashboard:`).
fn is_dashboard(doc: &Node) -> bool {
    is_dashboard_model(doc) || doc.get("dashboard").is_some_and(is_dashboard_model)
}

fn is_dashboard_model(doc: &Node) -> bool {
    let has = |k: &str| doc.get(k).is_some_and(|n| matches!(n.value, Val::Seq(_)));
    (has("panels") || has("rows"))
        && (doc.get("title").is_some()
            || doc.get("schemaVersion").is_some()
            || doc.get("templating").is_some())
}

/// The `resources` list of a kube-state-metrics custom-resource-state config.
fn ksm_resources(doc: &Node) -> Option<&Node> {
    let spec = if doc.get("kind").and_then(Node::as_str) == Some("CustomResourceStateMetrics") {
        doc.get("spec")
    } else {
        doc.get("spec").filter(|s| s.get("resources").is_some())
    }?;
    spec.get("resources").filter(|r| {
        r.seq()
            .iter()
            .any(|res| res.get("groupVersionKind").is_some())
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn json_with_a_repeated_key_or_tab_indentation_keeps_its_lines() {
        // Found by fuzzing (fuzz/corpus/lint_files/crash-dashboard-repeated-key): a dashboard
        // with a key twice in an object was read without lines, so its findings had none.
        let repeated = "{\n  \"title\": \"Flux\",\n  \"panels\": [\n    {\n      \"title\": \"a\",\n      \"title\": \"b\",\n      \"targets\": [{\"expr\": \"gotk_reconcile_condition\"}]\n    }\n  ]\n}\n";
        let n = parse_json("d.json", repeated, 1).unwrap();
        let panel = &n.get("panels").unwrap().seq()[0];
        assert_eq!(panel.get("title").unwrap().as_str(), Some("b"), "the last value counts");
        assert_eq!(panel.get("title").unwrap().line, 6);
        assert_eq!(panel.get("targets").unwrap().line, 7);
        let tabs = repeated.replace("  ", "\t");
        let n = parse_json("d.json", &tabs, 1).unwrap();
        assert_eq!(n.get("panels").unwrap().seq()[0].get("targets").unwrap().line, 7);

        let mut g = Gathered::default();
        g.add_text("d.json", repeated.to_string(), true, As::Any);
        assert_eq!(g.dashboards.len(), 1);
        let version = model::FluxVersion::newest();
        let inputs = super::super::Inputs {
            version,
            intervals: Vec::new(),
            scrape: super::super::scrape::model(&[], version, &mut Vec::new()),
            ksm: super::super::ksm::Families::read(&[]),
        };
        let findings = super::super::lint_all(&g, &inputs, &mut Vec::new());
        assert!(!findings.is_empty(), "the removed metric is found");
        assert!(findings.iter().all(|f| f.line == 7), "{findings:?}");
    }

    #[test]
    fn json_only_serde_json_reads_still_has_a_line() {
        // Nesting past the YAML reader's depth limit: serde_json reads it, without lines. The
        // YAML reader recurses once per level; unoptimised, that needs more than a test
        // thread's 2 MB of stack before the limit stops it.
        let deep = format!("{}1{}", "[".repeat(100), "]".repeat(100));
        std::thread::Builder::new()
            .stack_size(64 << 20)
            .spawn(move || {
                let n = parse_json("d.json", &deep, 3).unwrap();
                let mut cur = &n;
                while let Some(first) = cur.seq().first() {
                    assert_eq!(first.line, 3);
                    cur = first;
                }
            })
            .unwrap()
            .join()
            .unwrap();
    }
}
