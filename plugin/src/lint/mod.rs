//! `kubectl flux-monitor lint`: static analysis of the alerting chain (Prometheus rules,
//! Alertmanager routing, Flux Alerts and Providers) against the target Flux version, with
//! FILE:LINE, a rule id, a severity and a fix for every finding.

pub mod alertmanager;
pub mod am_schema;
pub mod coverage;
pub mod dashboard;
pub mod eval;
pub mod exprs;
pub mod flux;
pub mod helm;
pub mod input;
pub mod install;
pub mod ksm;
pub mod prom;
pub mod promql;
pub mod relabel;
pub mod rules;
pub mod scrape;
pub mod shapes;
pub mod walk;
pub mod yaml;

use std::io::Write as _;
use std::time::Duration;

use model::FluxVersion;
use serde::Serialize;

use crate::cli::{FailOn, KubeArgs, LintArgs, LintFormat};
use crate::cluster;
use crate::error::Error;
use flux::FluxDoc;
use input::{As, Gathered, Skipped};
use rules::Severity;
use yaml::Node;

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

    /// The same finding at another severity (a rule whose evidence is weaker in this case).
    pub fn at_severity(mut self, severity: Severity) -> Finding {
        self.severity = severity;
        self
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
#[derive(Debug)]
pub struct Inputs {
    pub version: FluxVersion,
    /// (kind, spec.interval) of the Flux objects among the manifests, for FM006.
    pub intervals: Vec<(String, Duration)>,
    /// The Flux targets of the scrape configuration given (empty model when none).
    pub scrape: scrape::Model,
    /// The kube-state-metrics custom-resource families configured, when a config was given.
    pub ksm: ksm::Families,
}

impl Inputs {
    /// Whether the kube-state-metrics configuration given makes `family` with `label`.
    pub fn ksm_has(&self, family: &str, label: &str) -> bool {
        self.ksm.has(family, label)
    }
}

/// A report: the findings and the version they were judged for.
#[derive(Debug, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct Report {
    pub flux_version: String,
    pub findings: Vec<Finding>,
    pub summary: Summary,
    /// Parts of the input not read (Helm templates that need rendering, dashboards by URL, ...).
    pub skipped: Vec<Skipped>,
    /// Files that could not be read; the exit status is then 2.
    pub errors: Vec<String>,
    /// What each file was read as.
    pub read: Vec<input::Read>,
}

#[derive(Debug, Default, Serialize)]
pub struct Summary {
    pub errors: usize,
    pub warnings: usize,
    pub info: usize,
}

/// Lints what was gathered. Pure: no I/O.
pub fn lint_all(g: &Gathered, inputs: &Inputs, skipped: &mut Vec<Skipped>) -> Vec<Finding> {
    let mut out = Vec::new();
    let mut alerts = Vec::new();
    for doc in &g.rules {
        alerts.extend(prom::lint(doc, inputs, &mut out, skipped));
    }
    prom::duplicates(&alerts, &mut out);
    for (file, doc) in &g.alertmanager {
        alertmanager::lint(file, doc, &alerts, &mut out);
    }
    flux::lint(&g.flux, &g.secrets, inputs.version, &mut out);
    dashboard::lint(&g.dashboards, inputs, &mut out);
    out.sort_by(|a, b| (&a.file, a.line, a.rule).cmp(&(&b.file, b.line, b.rule)));
    out.dedup_by(|a, b| {
        a.file == b.file && a.line == b.line && a.rule == b.rule && a.message == b.message
    });
    out
}

/// Reads what the arguments name, then the cluster when needed; the Flux version to judge for.
async fn gather(
    kube: &KubeArgs,
    args: &LintArgs,
    want_objects: bool,
) -> Result<(Gathered, FluxVersion), Error> {
    let mut g = Gathered::default();
    let load = |g: &mut Gathered| -> Result<(), yaml::LoadError> {
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
    let cluster_alerts = g.flux.is_empty() && args.flux_manifests.is_empty();
    let cluster_objects = want_objects && g.objects.is_empty() && args.flux_manifests.is_empty();
    let mut version = args.flux_version;
    if version.is_none() || cluster_alerts || cluster_objects {
        match from_cluster(kube, cluster_alerts, cluster_objects).await {
            Ok((v, docs)) => {
                if version.is_none() {
                    version = v;
                }
                for d in docs {
                    if flux::is_alert_or_provider(&d.node) {
                        g.flux.push(d);
                    } else {
                        g.objects.push(d);
                    }
                }
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
    Ok((g, version))
}

/// (kind, interval) of the Flux objects given, for FM006.
fn intervals(objects: &[FluxDoc]) -> Vec<(String, Duration)> {
    objects
        .iter()
        .filter_map(|d| {
            let i = d.node.at(&["spec", "interval"]).and_then(Node::as_str)?;
            Some((d.kind().to_string(), model::parse_go_duration(i).ok()?))
        })
        .collect()
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
    let (g, version) = match gather(kube, args, args.coverage).await {
        Ok(gathered) => gathered,
        Err(e) => {
            // A script reading -o json still gets JSON: an empty report naming the error.
            if args.output == LintFormat::Json && !args.coverage {
                let report = Report {
                    flux_version: args.flux_version.unwrap_or(FluxVersion::newest()).to_string(),
                    findings: Vec::new(),
                    summary: Summary::default(),
                    skipped: Vec::new(),
                    errors: vec![e.to_string()],
                    read: Vec::new(),
                };
                let text = serde_json::to_string_pretty(&report).unwrap_or_default();
                let _ = writeln!(stdout, "{text}");
            }
            return Err(e);
        }
    };
    let mut scrape_findings = Vec::new();
    let inputs = Inputs {
        version,
        intervals: intervals(&g.objects),
        scrape: scrape::model(&g.scrape, version, &mut scrape_findings),
        ksm: ksm::Families::read(&g.ksm),
    };
    let mut skipped = g.skipped.clone();
    for e in &g.errors {
        eprintln!("error: {e}");
    }
    if args.coverage {
        let report = coverage::build(&g, &inputs);
        let text = match args.output {
            LintFormat::Json => {
                serde_json::to_string_pretty(&report).map_err(|e| Error::Input(e.to_string()))?
                    + "\n"
            }
            LintFormat::Text => coverage::render_text(&report),
        };
        stdout.write_all(text.as_bytes())?;
        stdout.flush()?;
        if !g.errors.is_empty() {
            return Ok(2);
        }
        return Ok(u8::from(report.unheard > 0));
    }
    let mut findings = lint_all(&g, &inputs, &mut skipped);
    findings.extend(scrape_findings);
    findings.sort_by(|a, b| (&a.file, a.line, a.rule).cmp(&(&b.file, b.line, b.rule)));
    skipped.sort();
    skipped.dedup();
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
        skipped,
        errors: g.errors.clone(),
        read: g.read.clone(),
    };
    let text = match args.output {
        LintFormat::Json => {
            serde_json::to_string_pretty(&report).map_err(|e| Error::Input(e.to_string()))? + "\n"
        }
        LintFormat::Text => render_text(&report),
    };
    stdout.write_all(text.as_bytes())?;
    stdout.flush()?;
    if !report.errors.is_empty() {
        return Ok(2);
    }
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
    for k in &r.skipped {
        out.push_str(&format!("{}:{}: skipped: {}\n", k.file, k.line, k.reason));
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
    alerts: bool,
    objects: bool,
) -> Result<(Option<FluxVersion>, Vec<FluxDoc>), Error> {
    let clusters = cluster::clusters(kube).await?;
    let Some(first) = clusters.into_iter().next() else {
        return Ok((None, Vec::new()));
    };
    let c = first.map_err(|(_, e)| Error::Cluster(e))?;
    let discovered = crate::discovery::discover(&c).await?;
    let version = crate::check::install::detect_version(&c, &discovered).await;
    let mut docs = Vec::new();
    if alerts || objects {
        let scope = crate::status::collect::Scope::default();
        for kind in discovered.kinds.iter().filter(|k| {
            if matches!(k.kind(), "Alert" | "Provider") {
                alerts
            } else {
                objects
            }
        }) {
            let items = match crate::status::collect::list_kind(&c, kind, &scope).await {
                Ok(items) => items,
                // One unreadable kind must not hide the others.
                Err(e) => {
                    eprintln!("warning: cannot list {}: {e}", kind.info.plural);
                    continue;
                }
            };
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
