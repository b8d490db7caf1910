//! `kubectl flux-monitor lint`: static analysis of the alerting chain (Prometheus rules,
//! Alertmanager routing, Flux Alerts and Providers) against the target Flux version, with
//! FILE:LINE, a rule id, a severity and a fix for every finding.

pub mod alertmanager;
pub mod flux;
pub mod prom;
pub mod promql;
pub mod rules;
pub mod yaml;

use std::io::Write as _;
use std::path::PathBuf;
use std::time::Duration;

use model::FluxVersion;
use serde::Serialize;

use crate::cli::{FailOn, KubeArgs, LintArgs, LintFormat};
use crate::cluster;
use crate::error::Error;
use flux::FluxDoc;
use rules::Severity;
use yaml::{LoadError, Node};

/// One problem found, where, and what to do.
#[derive(Debug, Clone, Serialize)]
pub struct Finding {
    pub file: String,
    /// 1-based; 0 for objects read from a cluster.
    pub line: u64,
    pub rule: &'static str,
    pub severity: Severity,
    pub message: String,
    pub fix: String,
}

impl Finding {
    pub fn new(file: &str, line: u64, rule: &'static str, message: String, fix: String) -> Finding {
        let severity = rules::rule(rule).map_or(Severity::Error, |r| r.severity);
        let rule = rules::rule(rule).map_or(rule, |r| r.id);
        Finding {
            file: file.to_string(),
            line,
            rule,
            severity,
            message,
            fix,
        }
    }

    pub fn location(&self) -> String {
        if self.line == 0 {
            self.file.clone()
        } else {
            format!("{}:{}", self.file, self.line)
        }
    }
}

/// What the rules are judged against.
#[derive(Debug, Clone)]
pub struct Inputs {
    pub version: FluxVersion,
    /// (kind, spec.interval) of the Flux objects among the manifests, for FM006.
    pub intervals: Vec<(String, Duration)>,
}

/// Everything read, classified.
#[derive(Default)]
struct Gathered {
    rules: Vec<(String, Node)>,
    alertmanager: Vec<(String, Node)>,
    flux: Vec<FluxDoc>,
    intervals: Vec<(String, Duration)>,
}

#[derive(Clone, Copy, PartialEq, Eq)]
enum As {
    Any,
    Rules,
    Alertmanager,
    Flux,
}

impl Gathered {
    fn add(&mut self, paths: &[PathBuf], as_: As) -> Result<(), LoadError> {
        for path in yaml::expand(paths)? {
            let file = path.display().to_string();
            let docs = yaml::load_file(&path)?;
            let mut used = false;
            for doc in docs {
                used |= self.classify(&file, doc, as_);
            }
            if !used && as_ == As::Alertmanager {
                return Err(LoadError(format!(
                    "{file}: not an Alertmanager configuration (no route and receivers)"
                )));
            }
            if !used && as_ == As::Rules {
                eprintln!("warning: {file}: no Prometheus rule groups found");
            }
        }
        Ok(())
    }

    fn classify(&mut self, file: &str, doc: Node, as_: As) -> bool {
        if matches!(as_, As::Any | As::Rules) && prom::groups_of(&doc).is_some() {
            self.rules.push((file.to_string(), doc));
            return true;
        }
        if matches!(as_, As::Any | As::Alertmanager) && alertmanager::is_config(&doc) {
            self.alertmanager.push((file.to_string(), doc));
            return true;
        }
        if matches!(as_, As::Any | As::Flux) {
            if flux::is_alert_or_provider(&doc) {
                self.flux.push(FluxDoc {
                    file: file.to_string(),
                    node: doc,
                });
                return true;
            }
            let kind = doc.get("kind").and_then(Node::as_str).unwrap_or("");
            let flux_kind = doc
                .get("apiVersion")
                .and_then(Node::as_str)
                .is_some_and(|a| a.contains(".toolkit.fluxcd.io/"));
            if let (true, Some(i)) = (
                flux_kind,
                doc.at(&["spec", "interval"]).and_then(Node::as_str),
            ) {
                if let Ok(d) = model::parse_go_duration(i) {
                    self.intervals.push((kind.to_string(), d));
                    return true;
                }
            }
        }
        false
    }
}

/// A report: the findings and the version they were judged for.
#[derive(Debug, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct Report {
    pub flux_version: String,
    pub findings: Vec<Finding>,
    pub summary: Summary,
}

#[derive(Debug, Default, Serialize)]
pub struct Summary {
    pub errors: usize,
    pub warnings: usize,
    pub info: usize,
}

/// Lints what was gathered. Pure: no I/O.
fn lint_all(g: &Gathered, inputs: &Inputs) -> Vec<Finding> {
    let mut out = Vec::new();
    let mut alerts = Vec::new();
    for (file, doc) in &g.rules {
        if let Some(groups) = prom::groups_of(doc) {
            alerts.extend(prom::lint(file, groups, inputs, &mut out));
        }
    }
    prom::duplicates(&alerts, &mut out);
    for (file, doc) in &g.alertmanager {
        alertmanager::lint(file, doc, &alerts, &mut out);
    }
    flux::lint(&g.flux, &mut out);
    out.sort_by(|a, b| (&a.file, a.line, a.rule).cmp(&(&b.file, b.line, b.rule)));
    out.dedup_by(|a, b| {
        a.file == b.file && a.line == b.line && a.rule == b.rule && a.message == b.message
    });
    out
}

pub async fn run(kube: &KubeArgs, args: &LintArgs) -> Result<u8, Error> {
    let mut stdout = std::io::stdout().lock();
    if let Some(id) = &args.explain {
        if id.is_empty() {
            stdout.write_all(rules::list().as_bytes())?;
            return Ok(0);
        }
        return match rules::rule(id) {
            Some(r) => {
                stdout.write_all(rules::explain(r).as_bytes())?;
                Ok(0)
            }
            None => Err(Error::Usage(format!(
                "no lint rule {id:?}; `lint --explain` lists them"
            ))),
        };
    }
    let mut g = Gathered::default();
    let load = |g: &mut Gathered| -> Result<(), LoadError> {
        g.add(&args.paths, As::Any)?;
        g.add(&args.rules, As::Rules)?;
        if let Some(am) = &args.alertmanager_config {
            g.add(std::slice::from_ref(am), As::Alertmanager)?;
        }
        g.add(&args.flux_manifests, As::Flux)
    };
    load(&mut g).map_err(|e| Error::Input(e.0))?;

    let given_files = !args.paths.is_empty()
        || !args.rules.is_empty()
        || args.alertmanager_config.is_some()
        || !args.flux_manifests.is_empty();
    let want_cluster_flux = g.flux.is_empty() && args.flux_manifests.is_empty();
    let mut version = args.flux_version;
    if version.is_none() || want_cluster_flux {
        match from_cluster(kube, want_cluster_flux).await {
            Ok((v, docs)) => {
                if version.is_none() {
                    version = v;
                }
                g.flux.extend(docs);
            }
            Err(e) if !given_files => return Err(e),
            Err(e) if version.is_none() => {
                eprintln!("note: no cluster to read the Flux version from ({e})")
            }
            Err(_) => {}
        }
    }
    let version = version.unwrap_or_else(|| {
        eprintln!(
            "note: linting for Flux {} (the newest known); pass --flux-version to choose",
            FluxVersion::newest()
        );
        FluxVersion::newest()
    });
    let inputs = Inputs {
        version,
        intervals: g.intervals.clone(),
    };
    let findings = lint_all(&g, &inputs);
    let mut summary = Summary::default();
    for f in &findings {
        match f.severity {
            Severity::Error => summary.errors += 1,
            Severity::Warning => summary.warnings += 1,
            Severity::Info => summary.info += 1,
        }
    }
    let threshold = match args.fail_on {
        FailOn::Error => Severity::Error,
        FailOn::Warning => Severity::Warning,
        FailOn::Info => Severity::Info,
    };
    let failing = findings.iter().any(|f| f.severity <= threshold);
    let report = Report {
        flux_version: version.to_string(),
        findings,
        summary,
    };
    let text = match args.output {
        LintFormat::Json => serde_json::to_string_pretty(&report).unwrap_or_default() + "\n",
        LintFormat::Text => render_text(&report),
    };
    stdout.write_all(text.as_bytes())?;
    stdout.flush()?;
    Ok(u8::from(failing))
}

pub fn render_text(r: &Report) -> String {
    let mut out = String::new();
    for f in &r.findings {
        out.push_str(&format!(
            "{}: {} {}: {}\n    fix: {}\n",
            f.location(),
            f.severity.as_str(),
            f.rule,
            f.message,
            f.fix
        ));
    }
    let s = &r.summary;
    if r.findings.is_empty() {
        out.push_str(&format!("No findings (Flux {}).\n", r.flux_version));
    } else {
        out.push_str(&format!(
            "\n{} findings: {} errors, {} warnings, {} info (Flux {}). `lint --explain ID` says why and how to fix.\n",
            r.findings.len(),
            s.errors,
            s.warnings,
            s.info,
            r.flux_version
        ));
    }
    out
}

/// The Flux version (from the CRDs' labels or served versions) and, when asked, the Alerts and
/// Providers of the current context's cluster.
async fn from_cluster(
    kube: &KubeArgs,
    with_objects: bool,
) -> Result<(Option<FluxVersion>, Vec<FluxDoc>), Error> {
    let clusters = cluster::clusters(kube).await?;
    let Some(first) = clusters.into_iter().next() else {
        return Ok((None, Vec::new()));
    };
    let c = first.map_err(|(_, e)| Error::Cluster(e))?;
    let discovered = crate::discovery::discover(&c).await?;
    let version = crate::check::install::detect_version(&c, &discovered).await;
    let mut docs = Vec::new();
    if with_objects {
        let scope = crate::status::collect::Scope::default();
        for kind in discovered
            .kinds
            .iter()
            .filter(|k| matches!(k.kind(), "Alert" | "Provider"))
        {
            let items = crate::status::collect::list_kind(&c, kind, &scope)
                .await
                .map_err(|e| Error::Input(format!("cannot list {}: {e}", kind.info.plural)))?;
            for item in items {
                let o = model::FluxObject::new(&item);
                let file = format!("{}:{}/{}/{}", c.context, o.kind(), o.namespace(), o.name());
                docs.push(FluxDoc {
                    file,
                    node: Node::from_json(&item),
                });
            }
        }
    }
    Ok((version, docs))
}
