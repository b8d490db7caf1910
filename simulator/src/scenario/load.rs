//! Reading scenario files: YAML in, a validated [`Scenario`] out, or every problem found as
//! `FILE:LINE: message`.

use std::collections::HashMap;
use std::fmt;
use std::path::{Path, PathBuf};
use std::time::Duration;

use model::kinds::{self, KindInfo};
use model::object::RefRole;
use model::{parse_go_duration, Controller, FluxObject, FluxVersion, ObjectRef};
use serde_json::{json, Value};
use serde_saphyr::Spanned;

use super::file::{
    AlertExpectationFile, DocumentKind, ExpectationsFile, FaultFile, NotAlertExpectationFile,
    NotificationExpectationFile, ResourceFile, ScenarioFile,
};
use super::model::*;

/// One problem in a scenario file.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Diagnostic {
    pub file: PathBuf,
    /// 1-based line; 0 when the problem concerns the whole file (it could not be read).
    pub line: usize,
    pub message: String,
}

impl fmt::Display for Diagnostic {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        if self.line == 0 {
            write!(f, "{}: {}", self.file.display(), self.message)
        } else {
            write!(f, "{}:{}: {}", self.file.display(), self.line, self.message)
        }
    }
}

/// Every problem found while loading one or more scenario files, in file and line order.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ScenarioErrors {
    pub diagnostics: Vec<Diagnostic>,
}

impl ScenarioErrors {
    fn single(file: &Path, line: usize, message: impl Into<String>) -> Self {
        Self {
            diagnostics: vec![Diagnostic {
                file: file.to_path_buf(),
                line,
                message: message.into(),
            }],
        }
    }

    /// The exit code a command should end with: 2, "could not tell" (the input is unusable).
    pub fn exit_code(&self) -> i32 {
        2
    }

    pub fn len(&self) -> usize {
        self.diagnostics.len()
    }

    pub fn is_empty(&self) -> bool {
        self.diagnostics.is_empty()
    }
}

impl fmt::Display for ScenarioErrors {
    /// One `FILE:LINE: message` per line.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        for (i, d) in self.diagnostics.iter().enumerate() {
            if i > 0 {
                writeln!(f)?;
            }
            write!(f, "{d}")?;
        }
        Ok(())
    }
}

impl std::error::Error for ScenarioErrors {}

/// Reads and validates one scenario file (exactly one YAML document of kind Scenario).
pub fn load_file(path: &Path) -> Result<Scenario, ScenarioErrors> {
    let text = std::fs::read_to_string(path)
        .map_err(|e| ScenarioErrors::single(path, 0, format!("cannot read scenario file: {e}")))?;
    load_str(&text, path)
}

/// Parses and validates scenario text; `source` names it in messages and in `Scenario::source`.
pub fn load_str(text: &str, source: &Path) -> Result<Scenario, ScenarioErrors> {
    let docs = split_documents(text);
    match docs.as_slice() {
        [] => Err(ScenarioErrors::single(
            source,
            1,
            "empty file: expected one Scenario document",
        )),
        [doc] => load_document(doc, source),
        [_, second, ..] => Err(ScenarioErrors::single(
            source,
            second.first_line,
            format!(
                "a scenario file holds exactly one Scenario document, found {} documents \
                 (a directory may hold many files)",
                docs.len()
            ),
        )),
    }
}

/// Loads a scenario file, or every Scenario document in the YAML files under a directory
/// (recursively, in path order; YAML documents of other kinds are skipped). Problems from all
/// files are collected before failing.
pub fn load_dir_or_file(path: &Path) -> Result<Vec<Scenario>, ScenarioErrors> {
    let meta =
        std::fs::metadata(path).map_err(|e| ScenarioErrors::single(path, 0, format!("cannot read scenarios: {e}")))?;
    if !meta.is_dir() {
        return load_file(path).map(|s| vec![s]);
    }
    let mut files = Vec::new();
    let mut errors = Vec::new();
    collect_yaml_files(path, &mut files, &mut errors);
    files.sort();
    let mut scenarios = Vec::new();
    for file in files {
        let text = match std::fs::read_to_string(&file) {
            Ok(t) => t,
            Err(e) => {
                errors.push(Diagnostic {
                    file,
                    line: 0,
                    message: format!("cannot read: {e}"),
                });
                continue;
            }
        };
        for doc in split_documents(&text) {
            if !is_scenario_document(doc.text) {
                continue;
            }
            match load_document(&doc, &file) {
                Ok(s) => scenarios.push(s),
                Err(e) => errors.extend(e.diagnostics),
            }
        }
    }
    if errors.is_empty() {
        Ok(scenarios)
    } else {
        Err(ScenarioErrors { diagnostics: errors })
    }
}

fn collect_yaml_files(dir: &Path, files: &mut Vec<PathBuf>, errors: &mut Vec<Diagnostic>) {
    let entries = match std::fs::read_dir(dir) {
        Ok(e) => e,
        Err(e) => {
            errors.push(Diagnostic {
                file: dir.to_path_buf(),
                line: 0,
                message: format!("cannot read directory: {e}"),
            });
            return;
        }
    };
    for entry in entries.flatten() {
        let path = entry.path();
        let hidden = entry.file_name().to_string_lossy().starts_with('.');
        if hidden {
            continue;
        }
        if path.is_dir() {
            collect_yaml_files(&path, files, errors);
        } else if matches!(path.extension().and_then(|e| e.to_str()), Some("yaml" | "yml")) {
            files.push(path);
        }
    }
}

/// Whether a YAML document in a directory is a scenario. A document that does not parse is
/// treated as one when it says `kind: Scenario`, so its syntax error gets reported.
fn is_scenario_document(text: &str) -> bool {
    match serde_saphyr::from_str_with_options::<DocumentKind>(text, parse_options()) {
        Ok(d) => {
            d.kind.as_ref().and_then(Value::as_str) == Some("Scenario")
                && d.api_version
                    .as_ref()
                    .and_then(Value::as_str)
                    .is_none_or(|v| v.starts_with("flux-sim.flux-monitor.dev/"))
        }
        Err(_) => text.lines().any(|l| l.trim() == "kind: Scenario"),
    }
}

/// One YAML document of a file and the line it starts on.
struct Document<'a> {
    text: &'a str,
    /// 1-based line of the document's first line in the file.
    first_line: usize,
}

/// Splits a YAML stream at `---` markers, keeping line numbers; documents holding nothing but
/// comments and blank lines are dropped.
fn split_documents(text: &str) -> Vec<Document<'_>> {
    let mut docs = Vec::new();
    let mut start = 0usize;
    let mut start_line = 1usize;
    let mut offset = 0usize;
    for (i, line) in text.split_inclusive('\n').enumerate() {
        let is_marker =
            line.starts_with("---") && line[3..].chars().next().is_none_or(|c| c.is_whitespace() || c == '#');
        if is_marker && offset > start {
            docs.push(Document {
                text: &text[start..offset],
                first_line: start_line,
            });
            start = offset;
            start_line = i + 1;
        }
        offset += line.len();
    }
    docs.push(Document {
        text: &text[start..],
        first_line: start_line,
    });
    docs.retain(|d| has_content(d.text));
    docs
}

fn has_content(text: &str) -> bool {
    text.lines().any(|l| {
        let t = l.trim();
        !(t.is_empty() || t.starts_with('#') || t == "---" || t == "..." || t.starts_with("--- #"))
    })
}

fn parse_options() -> serde_saphyr::Options {
    let mut budget = serde_saphyr::Budget::default();
    // Generated scenarios hold tens of thousands of objects.
    budget.max_events = 50_000_000;
    budget.max_nodes = 20_000_000;
    serde_saphyr::options! { budget: Some(budget), with_snippet: false }
}

fn load_document(doc: &Document<'_>, source: &Path) -> Result<Scenario, ScenarioErrors> {
    let file: ScenarioFile = serde_saphyr::from_str_with_options(doc.text, parse_options()).map_err(|e| {
        let line = e.location().map_or(1, |l| l.line() as usize).max(1);
        let mut message = syntax_message(&e);
        // Type errors do not name the field; quote the line so the reader sees which one.
        let quoted = doc.text.lines().nth(line - 1).map(str::trim).filter(|l| !l.is_empty());
        if let Some(text) = quoted.filter(|_| !message.contains('`')) {
            message = format!("{message} in {text:?}");
        }
        ScenarioErrors::single(source, doc.first_line - 1 + line, message)
    })?;
    let mut v = Validator {
        source,
        line_offset: doc.first_line - 1,
        lines: doc.text.lines().collect(),
        diagnostics: Vec::new(),
    };
    let scenario = v.scenario(file);
    if v.diagnostics.is_empty() {
        Ok(scenario)
    } else {
        v.diagnostics.sort_by_key(|d| d.line);
        Err(ScenarioErrors {
            diagnostics: v.diagnostics,
        })
    }
}

/// serde-saphyr's message without its trailing location (we print `FILE:LINE:` in front).
fn syntax_message(e: &serde_saphyr::Error) -> String {
    let options = serde_saphyr::render_options! { snippets: serde_saphyr::SnippetMode::Off };
    let text = e.render_with_options(options);
    let text = text.trim();
    let text = match text.rfind(" at line ") {
        Some(i) if text[i..].contains("column") => &text[..i],
        _ => text,
    };
    text.trim_end_matches(':').to_string()
}

/// The `spec.interval` a resource gets when the file gives none.
pub fn default_interval(kind: &KindInfo) -> Duration {
    let minutes = match kind.kind {
        "Alert" | "Provider" => 0,
        "HelmRepository" | "HelmChart" => 10,
        "GitRepository" | "OCIRepository" | "Bucket" | "ExternalArtifact" => 1,
        "ImageRepository" => 5,
        _ => 10,
    };
    Duration::from_secs(minutes * 60)
}

/// Whether a kind has `spec.interval` at all.
fn has_interval(kind: &KindInfo) -> bool {
    !matches!(kind.kind, "Alert" | "Provider")
}

/// Parses `Kind/name` (namespace flux-system) or `Kind/namespace/name`.
fn parse_object_ref(text: &str) -> Result<ObjectRef, String> {
    let parts: Vec<&str> = text.split('/').collect();
    let (kind, namespace, name) = match parts.as_slice() {
        [kind, name] => (*kind, DEFAULT_NAMESPACE, *name),
        [kind, namespace, name] => (*kind, *namespace, *name),
        _ => return Err(format!("{text:?} is not Kind/name or Kind/namespace/name")),
    };
    if kind.is_empty() || namespace.is_empty() || name.is_empty() {
        return Err(format!("{text:?} is not Kind/name or Kind/namespace/name"));
    }
    if kinds::by_kind(kind).is_none() {
        return Err(unknown_kind_message(kind));
    }
    Ok(ObjectRef::new(kind, namespace, name))
}

fn unknown_kind_message(kind: &str) -> String {
    let hint = match kinds::lookup(kind) {
        Some(k) => format!(" (did you mean {}?)", k.kind),
        None => String::new(),
    };
    let known: Vec<&str> = kinds::KINDS.iter().map(|k| k.kind).collect();
    format!("unknown kind {kind:?}{hint}; Flux kinds are: {}", known.join(", "))
}

/// The namespace a resource gets when the file gives none.
pub const DEFAULT_NAMESPACE: &str = "flux-system";

/// RFC 1123 subdomain (object names) or label (namespaces).
fn valid_k8s_name(s: &str, max: usize, dots: bool) -> bool {
    let ok_char = |c: char| c.is_ascii_lowercase() || c.is_ascii_digit() || c == '-' || (dots && c == '.');
    !s.is_empty()
        && s.len() <= max
        && s.chars().all(ok_char)
        && s.starts_with(|c: char| c.is_ascii_alphanumeric())
        && s.ends_with(|c: char| c.is_ascii_alphanumeric())
}

struct Validator<'a> {
    source: &'a Path,
    line_offset: usize,
    /// The document's lines, to find the line of a key inside a free-form `spec`.
    lines: Vec<&'a str>,
    diagnostics: Vec<Diagnostic>,
}

/// A resource as validated, with what reference checks need.
struct Entry {
    resource: Resource,
    /// Line of `spec:` (or of the resource when it has none), document-relative.
    spec_line: usize,
    /// Line where the next resource starts (search bound), document-relative.
    end_line: usize,
}

impl Validator<'_> {
    fn error(&mut self, line: usize, message: impl Into<String>) {
        self.diagnostics.push(Diagnostic {
            file: self.source.to_path_buf(),
            line: self.line_offset + line.max(1),
            message: message.into(),
        });
    }

    fn file_line(&self, line: usize) -> usize {
        self.line_offset + line
    }

    fn duration(&mut self, s: &Spanned<String>, what: &str) -> Option<Duration> {
        match parse_go_duration(&s.value) {
            Ok(d) => Some(d),
            Err(e) => {
                self.error(line(s), format!("{what}: {e}"));
                None
            }
        }
    }

    fn positive_duration(&mut self, s: &Spanned<String>, what: &str) -> Option<Duration> {
        let d = self.duration(s, what)?;
        if d.is_zero() {
            self.error(line(s), format!("{what} must be greater than zero"));
            return None;
        }
        Some(d)
    }

    /// First line in `[from, to)` (document-relative, 1-based) whose text contains `needle`.
    fn find_line(&self, from: usize, to: usize, needle: &str) -> Option<usize> {
        let to = to.min(self.lines.len() + 1);
        (from.max(1)..to).find(|&l| self.lines[l - 1].contains(needle))
    }

    fn scenario(&mut self, file: ScenarioFile) -> Scenario {
        if file.api_version.value != API_VERSION {
            self.error(
                line(&file.api_version),
                format!("apiVersion must be {API_VERSION:?}, not {:?}", file.api_version.value),
            );
        }
        if file.kind.value != "Scenario" {
            self.error(
                line(&file.kind),
                format!("kind must be \"Scenario\", not {:?}", file.kind.value),
            );
        }
        if file.metadata.name.value.trim().is_empty() {
            self.error(line(&file.metadata.name), "metadata.name must not be empty");
        }
        let spec = file.spec;
        let flux_version = match &spec.flux_version {
            None => FluxVersion::NEWEST,
            Some(v) => match v.value.parse::<FluxVersion>() {
                Ok(fv) => fv,
                Err(e) => {
                    self.error(line(v), format!("fluxVersion: {e}"));
                    FluxVersion::NEWEST
                }
            },
        };
        let duration = spec
            .duration
            .as_ref()
            .and_then(|d| self.positive_duration(d, "duration"))
            .unwrap_or(Duration::from_secs(3600));
        let scrape_interval = spec
            .scrape_interval
            .as_ref()
            .and_then(|d| self.positive_duration(d, "scrapeInterval"))
            .unwrap_or(Duration::from_secs(30));

        let mut entries: Vec<Entry> = Vec::with_capacity(spec.resources.len());
        let mut index: HashMap<ObjectRef, usize> = HashMap::with_capacity(spec.resources.len());
        let resource_lines: Vec<usize> = spec.resources.iter().map(line).collect();
        let resources_end = spec.faults.first().map_or(usize::MAX, line);
        for (i, raw) in spec.resources.iter().enumerate() {
            let end_line = resource_lines.get(i + 1).copied().unwrap_or(resources_end);
            let Some(entry) = self.resource(raw, flux_version, end_line) else {
                continue;
            };
            let r = entry.resource.object_ref();
            if let Some(&first) = index.get(&r) {
                let first_line = self.file_line(entries[first].resource.line);
                let msg = format!("duplicate resource {r}: already defined at line {first_line}");
                self.error(line(raw), msg);
                continue;
            }
            index.insert(r, entries.len());
            entries.push(entry);
        }
        self.references(&entries, &index);
        self.depends_on_cycles(&entries, &index);

        let fault_names = self.fault_names(&spec.faults);
        let mut faults = Vec::with_capacity(spec.faults.len());
        for raw in &spec.faults {
            if let Some(f) = self.fault(raw, &entries, &index, duration) {
                faults.push(f);
            }
        }
        let expectations = match &spec.expectations {
            Some(e) => self.expectations(e, &index, spec.faults.len(), &fault_names, duration),
            None => Expectations::default(),
        };

        // Resource lines are document-relative while validating; report them file-relative.
        let offset = self.line_offset;
        let resources = entries
            .into_iter()
            .map(|mut e| {
                e.resource.line += offset;
                e.resource
            })
            .collect();
        Scenario {
            name: file.metadata.name.value,
            description: file.metadata.description.unwrap_or_default(),
            source: self.source.to_path_buf(),
            flux_version,
            seed: spec.seed.unwrap_or(1),
            duration,
            scrape_interval,
            resources,
            faults,
            expectations,
        }
    }

    fn resource(&mut self, raw: &Spanned<ResourceFile>, version: FluxVersion, end_line: usize) -> Option<Entry> {
        let r = &raw.value;
        let at = line(raw);
        let mut ok = true;
        let kind = match kinds::by_kind(&r.kind.value) {
            None => {
                self.error(line(&r.kind), unknown_kind_message(&r.kind.value));
                None
            }
            Some(k) if !k.exists_in(version) => {
                let since = k.versions.first().map(|s| s.since.to_string()).unwrap_or_default();
                self.error(
                    line(&r.kind),
                    format!(
                        "kind {} does not exist in Flux {version} (it arrived in Flux {since})",
                        k.kind
                    ),
                );
                None
            }
            Some(k) => Some(k),
        };
        if !valid_k8s_name(&r.name.value, 253, true) {
            self.error(
                line(&r.name),
                format!(
                    "name {:?} is not a valid Kubernetes object name (lowercase letters, digits, '-' and '.')",
                    r.name.value
                ),
            );
            ok = false;
        }
        let namespace = match &r.namespace {
            Some(ns) => {
                if !valid_k8s_name(&ns.value, 63, false) {
                    self.error(
                        line(ns),
                        format!("namespace {:?} is not a valid Kubernetes namespace name", ns.value),
                    );
                    ok = false;
                }
                ns.value.clone()
            }
            None => DEFAULT_NAMESPACE.to_string(),
        };
        let interval = match (kind, &r.interval) {
            (Some(k), Some(i)) if !has_interval(k) => {
                self.error(line(i), format!("a {} has no interval: remove `interval`", k.kind));
                None
            }
            (_, Some(i)) => self.positive_duration(i, "interval"),
            (Some(k), None) => Some(default_interval(k)),
            (None, None) => None,
        };
        let (spec, spec_line) = match &r.spec {
            None => (json!({}), at),
            Some(s) => {
                if !s.value.is_object() {
                    self.error(line(s), "spec must be a mapping (the fields of the object's spec)");
                    ok = false;
                }
                for key in ["interval", "suspend"] {
                    if s.value.get(key).is_some() {
                        let l = self.find_line(line(s), end_line, key).unwrap_or(line(s));
                        self.error(l, format!("set `{key}` on the resource itself, not inside spec"));
                        ok = false;
                    }
                }
                (s.value.clone(), line(s))
            }
        };
        let kind = kind?;
        if !ok {
            return None;
        }
        Some(Entry {
            resource: Resource {
                kind,
                name: r.name.value.clone(),
                namespace,
                interval: interval.unwrap_or_default(),
                labels: r.labels.clone().unwrap_or_default(),
                annotations: r.annotations.clone().unwrap_or_default(),
                suspend: r.suspend.unwrap_or(false),
                spec,
                line: at,
            },
            spec_line,
            end_line,
        })
    }

    /// Every reference in a resource's spec must name a resource of the scenario, of a kind the
    /// referring field allows. A HelmRelease's generated HelmChart need not be listed, but the
    /// source it is built from must.
    fn references(&mut self, entries: &[Entry], index: &HashMap<ObjectRef, usize>) {
        for e in entries {
            let r = &e.resource;
            let json = json!({
                "kind": r.kind.kind,
                "metadata": {"name": r.name, "namespace": r.namespace},
                "spec": r.spec,
            });
            let object = FluxObject::new(&json);
            let chart_template = r.spec.pointer("/chart/spec/sourceRef");
            if r.kind.kind == "HelmRelease" && chart_template.is_some() && r.spec.get("chartRef").is_some() {
                let l = self
                    .find_line(e.spec_line, e.end_line, "chartRef")
                    .unwrap_or(e.spec_line);
                self.error(l, "a HelmRelease takes spec.chart or spec.chartRef, not both");
            }
            for reference in object.references() {
                let t = &reference.target;
                let (field, key, allowed): (&str, &str, &[&str]) = match reference.role {
                    RefRole::Source => ("spec.sourceRef", "sourceRef", kinds::allowed_source_kinds(r.kind.kind)),
                    RefRole::Chart
                        if r.kind.kind == "HelmRelease"
                            && chart_template.is_some()
                            && t.kind == "HelmChart"
                            && t.name == format!("{}-{}", r.namespace, r.name) =>
                    {
                        // The generated chart: check the source it is built from instead.
                        let src = chart_template.expect("checked above");
                        let name = src.get("name").and_then(Value::as_str).unwrap_or("");
                        let kind = src.get("kind").and_then(Value::as_str).unwrap_or("");
                        let ns = src.get("namespace").and_then(Value::as_str).unwrap_or(&r.namespace);
                        let source = ObjectRef::new(kind, ns, name);
                        self.check_ref(
                            e,
                            "spec.chart.spec.sourceRef",
                            "sourceRef",
                            &source,
                            kinds::allowed_source_kinds("HelmRelease"),
                            index,
                        );
                        continue;
                    }
                    RefRole::Chart => ("spec.chartRef", "chartRef", kinds::CHART_REF_KINDS),
                    RefRole::DependsOn => ("spec.dependsOn", "dependsOn", &[][..]),
                    RefRole::ImageRepository => (
                        "spec.imageRepositoryRef",
                        "imageRepositoryRef",
                        &["ImageRepository"][..],
                    ),
                    RefRole::Provider => ("spec.providerRef", "providerRef", &["Provider"][..]),
                };
                self.check_ref(e, field, key, t, allowed, index);
            }
        }
    }

    fn check_ref(
        &mut self,
        e: &Entry,
        field: &str,
        key: &str,
        target: &ObjectRef,
        allowed: &[&str],
        index: &HashMap<ObjectRef, usize>,
    ) {
        let key_line = self.find_line(e.spec_line, e.end_line, key).unwrap_or(e.spec_line);
        // Point at the line naming the target when the reference spans several lines.
        let at = self
            .find_line(key_line, e.end_line, &target.name)
            .filter(|&l| l <= key_line + 4)
            .unwrap_or(key_line);
        if target.kind.is_empty() {
            self.error(at, format!("{field} has no kind (one of {})", allowed.join(", ")));
            return;
        }
        if target.name.is_empty() {
            self.error(at, format!("{field} has no name"));
            return;
        }
        if !allowed.is_empty() && !allowed.contains(&target.kind.as_str()) {
            self.error(
                at,
                format!(
                    "{field}: a {} cannot refer to a {} (allowed: {})",
                    e.resource.kind.kind,
                    target.kind,
                    allowed.join(", ")
                ),
            );
            return;
        }
        if !index.contains_key(target) {
            self.error(at, format!("{field}: {target} is not a resource of this scenario"));
        }
    }

    /// Reports every dependsOn cycle once, naming its members in order.
    fn depends_on_cycles(&mut self, entries: &[Entry], index: &HashMap<ObjectRef, usize>) {
        let edges: Vec<Vec<usize>> = entries
            .iter()
            .map(|e| {
                let deps = e.resource.spec.get("dependsOn").and_then(Value::as_array);
                deps.into_iter()
                    .flatten()
                    .filter_map(|d| {
                        let name = d.get("name")?.as_str()?;
                        let ns = d
                            .get("namespace")
                            .and_then(Value::as_str)
                            .unwrap_or(&e.resource.namespace);
                        index.get(&ObjectRef::new(e.resource.kind.kind, ns, name)).copied()
                    })
                    .collect()
            })
            .collect();
        // Iterative depth-first search; 0 = unseen, 1 = on the current path, 2 = done.
        let mut state = vec![0u8; entries.len()];
        let mut seen_cycles: Vec<Vec<usize>> = Vec::new();
        for root in 0..entries.len() {
            if state[root] != 0 || edges[root].is_empty() {
                continue;
            }
            let mut stack: Vec<(usize, usize)> = vec![(root, 0)];
            state[root] = 1;
            while let Some(&mut (node, ref mut next)) = stack.last_mut() {
                if let Some(&dep) = edges[node].get(*next) {
                    *next += 1;
                    match state[dep] {
                        0 => {
                            state[dep] = 1;
                            stack.push((dep, 0));
                        }
                        1 => {
                            let start = stack.iter().position(|&(n, _)| n == dep).expect("on path");
                            let cycle: Vec<usize> = stack[start..].iter().map(|&(n, _)| n).collect();
                            let mut key = cycle.clone();
                            key.sort_unstable();
                            if !seen_cycles.contains(&key) {
                                seen_cycles.push(key);
                                let mut names: Vec<String> = cycle
                                    .iter()
                                    .map(|&n| entries[n].resource.object_ref().to_string())
                                    .collect();
                                names.push(names[0].clone());
                                let first = &entries[cycle[0]];
                                let at = self
                                    .find_line(first.spec_line, first.end_line, "dependsOn")
                                    .unwrap_or(first.resource.line);
                                self.error(at, format!("dependsOn cycle: {}", names.join(" -> ")));
                            }
                        }
                        _ => {}
                    }
                } else {
                    state[node] = 2;
                    stack.pop();
                }
            }
        }
    }

    /// Fault names, for `afterFault: <name>`; duplicates are reported.
    fn fault_names(&mut self, faults: &[Spanned<FaultFile>]) -> HashMap<String, usize> {
        let mut names = HashMap::new();
        for (i, f) in faults.iter().enumerate() {
            let Some(name) = &f.value.name else { continue };
            if name.value.is_empty() || name.value.chars().all(|c| c.is_ascii_digit()) {
                self.error(
                    line(name),
                    format!("fault name {:?} must not be empty or a number", name.value),
                );
            } else if let Some(first) = names.insert(name.value.clone(), i) {
                self.error(
                    line(name),
                    format!("duplicate fault name {:?} (also fault {first})", name.value),
                );
            }
        }
        names
    }

    fn fault(
        &mut self,
        raw: &Spanned<FaultFile>,
        entries: &[Entry],
        index: &HashMap<ObjectRef, usize>,
        scenario_duration: Duration,
    ) -> Option<FaultSpec> {
        let f = &raw.value;
        let at_line = line(raw);
        let mut ok = true;
        let at = self.duration(&f.at, "at");
        if let Some(at) = at {
            if at >= scenario_duration {
                self.error(
                    line(&f.at),
                    format!(
                        "fault starts at {}, when the scenario has ended (duration {})",
                        f.at.value,
                        model::format_go_duration(scenario_duration)
                    ),
                );
                ok = false;
            }
        }
        let fault = Fault::from_name(&f.fault.value);
        if fault.is_none() {
            let known: Vec<&str> = Fault::ALL.iter().map(|f| f.name()).collect();
            self.error(
                line(&f.fault),
                format!("unknown fault {:?}; known faults: {}", f.fault.value, known.join(", ")),
            );
        }
        let duration = f.duration.as_ref().and_then(|d| {
            let r = self.positive_duration(d, "duration");
            ok &= r.is_some();
            r
        });
        let target = match fault {
            None => None,
            Some(fault) if fault.targets_controller() => {
                if let Some(t) = &f.target {
                    self.error(
                        line(t),
                        format!(
                            "{} acts on a controller: give `controller:` instead of `target:`",
                            fault.name()
                        ),
                    );
                }
                match &f.controller {
                    None => {
                        self.error(
                            at_line,
                            format!("{} needs `controller:` (one of {})", fault.name(), controller_names()),
                        );
                        None
                    }
                    Some(c) => match Controller::from_name(&c.value) {
                        Some(c) => Some(FaultTarget::Controller(c)),
                        None => {
                            self.error(
                                line(c),
                                format!(
                                    "unknown controller {:?}; controllers are: {}",
                                    c.value,
                                    controller_names()
                                ),
                            );
                            None
                        }
                    },
                }
            }
            Some(fault) => {
                if let Some(c) = &f.controller {
                    self.error(
                        line(c),
                        format!(
                            "{} acts on an object: give `target: Kind/name` instead of `controller:`",
                            fault.name()
                        ),
                    );
                }
                match &f.target {
                    None => {
                        self.error(
                            at_line,
                            format!("{} needs `target: Kind/name` or `Kind/namespace/name`", fault.name()),
                        );
                        None
                    }
                    Some(t) => self.fault_target(t, fault, entries, index),
                }
            }
        };
        let reconcile_duration =
            self.fault_param(fault, Fault::Slow, f.reconcile_duration.as_ref(), "reconcileDuration");
        let reconcile_duration = reconcile_duration.and_then(|d| {
            let r = self.positive_duration(d, "reconcileDuration");
            ok &= r.is_some();
            r
        });
        let rate = self
            .fault_param(fault, Fault::ErrorRate, f.rate.as_ref(), "rate")
            .and_then(|r| {
                if (0.0..=1.0).contains(&r.value) {
                    Some(r.value)
                } else {
                    self.error(
                        line(r),
                        format!("rate {} is out of range: give a fraction from 0 to 1", r.value),
                    );
                    ok = false;
                    None
                }
            });
        let count = self
            .fault_param(fault, Fault::EventStorm, f.count.as_ref(), "count")
            .and_then(|c| {
                if c.value >= 1 {
                    Some(c.value)
                } else {
                    self.error(line(c), "count must be at least 1");
                    ok = false;
                    None
                }
            });
        let (fault, target, at) = (fault?, target?, at?);
        if !ok {
            return None;
        }
        Some(FaultSpec {
            at,
            target,
            fault,
            reason: f.reason.clone(),
            message: f.message.clone(),
            duration,
            reconcile_duration: reconcile_duration.or((fault == Fault::Slow).then_some(Duration::from_secs(45))),
            rate: rate.or((fault == Fault::ErrorRate).then_some(0.5)),
            count: count.or((fault == Fault::EventStorm).then_some(50)),
            line: self.file_line(at_line),
        })
    }

    /// A fault's parameter, reported when given to a fault it does not belong to.
    fn fault_param<'s, T>(
        &mut self,
        fault: Option<Fault>,
        owner: Fault,
        param: Option<&'s Spanned<T>>,
        name: &str,
    ) -> Option<&'s Spanned<T>> {
        let p = param?;
        match fault {
            Some(f) if f == owner => Some(p),
            Some(f) => {
                self.error(
                    line(p),
                    format!("`{name}` applies only to {}, not to {}", owner.name(), f.name()),
                );
                None
            }
            None => None,
        }
    }

    fn fault_target(
        &mut self,
        t: &Spanned<String>,
        fault: Fault,
        entries: &[Entry],
        index: &HashMap<ObjectRef, usize>,
    ) -> Option<FaultTarget> {
        let r = match parse_object_ref(&t.value) {
            Ok(r) => r,
            Err(e) => {
                self.error(line(t), format!("target: {e}"));
                return None;
            }
        };
        let kind = kinds::by_kind(&r.kind).expect("parse_object_ref checks the kind");
        let applies = fault.applies_to();
        let fits = if applies.is_empty() {
            kind.has_status
        } else {
            applies.contains(&kind.kind)
        };
        if !fits {
            let kinds_text = if applies.is_empty() {
                "kinds with a status".to_string()
            } else {
                applies.join(", ")
            };
            self.error(
                line(t),
                format!(
                    "fault {} does not apply to a {} (it applies to {kinds_text})",
                    fault.name(),
                    kind.kind
                ),
            );
            return None;
        }
        if !index.contains_key(&r) {
            self.error(line(t), format!("fault target {r} is not a resource of this scenario"));
            return None;
        }
        let _ = entries;
        Some(FaultTarget::Object(r))
    }

    fn after_fault(
        &mut self,
        s: Option<&Spanned<String>>,
        fault_count: usize,
        names: &HashMap<String, usize>,
    ) -> Result<Option<usize>, ()> {
        let Some(s) = s else { return Ok(None) };
        if let Ok(i) = s.value.parse::<usize>() {
            if i < fault_count {
                return Ok(Some(i));
            }
            let have = match fault_count {
                0 => "the scenario has no faults".to_string(),
                1 => "the scenario has 1 fault (index 0)".to_string(),
                n => format!("the scenario has {n} faults (indexes 0 to {})", n - 1),
            };
            self.error(line(s), format!("afterFault {i} is out of range: {have}"));
            return Err(());
        }
        match names.get(&s.value) {
            Some(&i) => Ok(Some(i)),
            None => {
                let mut known: Vec<&str> = names.keys().map(String::as_str).collect();
                known.sort_unstable();
                let known = if known.is_empty() {
                    "no fault has a name".to_string()
                } else {
                    format!("fault names: {}", known.join(", "))
                };
                self.error(line(s), format!("afterFault {:?} names no fault ({known})", s.value));
                Err(())
            }
        }
    }

    fn within(&mut self, s: Option<&Spanned<String>>, scenario_duration: Duration) -> Option<Duration> {
        match s {
            None => Some(scenario_duration),
            Some(s) => self.positive_duration(s, "within"),
        }
    }

    fn expectations(
        &mut self,
        e: &ExpectationsFile,
        index: &HashMap<ObjectRef, usize>,
        fault_count: usize,
        names: &HashMap<String, usize>,
        scenario_duration: Duration,
    ) -> Expectations {
        let mut out = Expectations::default();
        for raw in &e.alerts {
            let a: &AlertExpectationFile = &raw.value;
            self.alertname(&a.alertname);
            let after = self.after_fault(a.after_fault.as_ref(), fault_count, names);
            let within = self.within(a.within.as_ref(), scenario_duration);
            if let (Ok(after_fault), Some(within)) = (after, within) {
                out.alerts.push(AlertExpectation {
                    alertname: a.alertname.value.clone(),
                    labels: a.labels.clone(),
                    after_fault,
                    within,
                    receiver: a.receiver.clone(),
                    line: self.file_line(line(raw)),
                });
            }
        }
        for raw in &e.not_alerts {
            let a: &NotAlertExpectationFile = &raw.value;
            self.alertname(&a.alertname);
            out.not_alerts.push(NotAlertExpectation {
                alertname: a.alertname.value.clone(),
                labels: a.labels.clone(),
                line: self.file_line(line(raw)),
            });
        }
        for raw in &e.notifications {
            if let Some(n) = self.notification(raw, index, fault_count, names, scenario_duration) {
                out.notifications.push(n);
            }
        }
        out
    }

    fn alertname(&mut self, name: &Spanned<String>) {
        let valid = name.value.starts_with(|c: char| c.is_ascii_alphabetic() || c == '_')
            && name
                .value
                .chars()
                .all(|c| c.is_ascii_alphanumeric() || c == '_' || c == ':');
        if !valid {
            self.error(
                line(name),
                format!("alertname {:?} is not a valid Prometheus alert name", name.value),
            );
        }
    }

    fn notification(
        &mut self,
        raw: &Spanned<NotificationExpectationFile>,
        index: &HashMap<ObjectRef, usize>,
        fault_count: usize,
        names: &HashMap<String, usize>,
        scenario_duration: Duration,
    ) -> Option<NotificationExpectation> {
        let n = &raw.value;
        let object = match parse_object_ref(&n.object.value) {
            Ok(o) if index.contains_key(&o) => Some(o),
            Ok(o) => {
                self.error(
                    line(&n.object),
                    format!("object {o} is not a resource of this scenario"),
                );
                None
            }
            Err(e) => {
                self.error(line(&n.object), format!("object: {e}"));
                None
            }
        };
        let provider = object.as_ref().and_then(|o| {
            let (ns, name) = match n.provider.value.split_once('/') {
                Some((ns, name)) => (ns.to_string(), name.to_string()),
                None => (o.namespace.clone(), n.provider.value.clone()),
            };
            let p = ObjectRef::new("Provider", ns, name);
            if index.contains_key(&p) {
                Some(format!("{}/{}", p.namespace, p.name))
            } else {
                self.error(
                    line(&n.provider),
                    format!(
                        "provider {:?} is not a Provider resource of this scenario (looked for {p})",
                        n.provider.value
                    ),
                );
                None
            }
        });
        let severity = match &n.severity {
            None => Some("error".to_string()),
            Some(s) if s.value == "info" || s.value == "error" => Some(s.value.clone()),
            Some(s) => {
                self.error(line(s), format!("severity must be info or error, not {:?}", s.value));
                None
            }
        };
        let after = self.after_fault(n.after_fault.as_ref(), fault_count, names);
        let within = self.within(n.within.as_ref(), scenario_duration);
        Some(NotificationExpectation {
            provider: provider?,
            object: object?,
            severity: severity?,
            text: n.text.clone(),
            after_fault: after.ok()?,
            within: within?,
            line: self.file_line(line(raw)),
        })
    }
}

fn controller_names() -> String {
    Controller::ALL.iter().map(|c| c.name()).collect::<Vec<_>>().join(", ")
}

fn line<T>(s: &Spanned<T>) -> usize {
    usize::try_from(s.referenced.line()).unwrap_or(0)
}
