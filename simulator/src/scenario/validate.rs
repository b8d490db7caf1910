//! Semantic checks of a parsed scenario file: kinds per Flux version, defaults, duplicates,
//! references between resources, dependsOn cycles. Every problem becomes a [`Diagnostic`] at the
//! line of the node at fault; validation goes on so a file's problems are reported together.

use std::collections::HashMap;
use std::path::Path;
use std::time::Duration;

use model::kinds::{self, KindInfo};
use model::object::RefRole;
use model::{parse_go_duration, Controller, FluxObject, FluxVersion, ObjectRef};
use serde_json::{json, Value};
use serde_saphyr::Spanned;

use super::file::{ResourceFile, ScenarioFile};
use super::load::{Diagnostic, ScenarioErrors};
use super::model::*;

/// Validates a parsed document that starts after `line_offset` lines of its file.
pub(super) fn validate(
    file: ScenarioFile,
    source: &Path,
    line_offset: usize,
    text: &str,
) -> Result<Scenario, ScenarioErrors> {
    let mut v = Validator {
        source,
        line_offset,
        lines: text.lines().collect(),
        diagnostics: Vec::new(),
        components_extra: Vec::new(),
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

/// The longest duration any scenario field may give (a scenario's length, an interval, a
/// fault's span): what virtual time simulates and real time serves in bounded time.
pub const MAX_DURATION: Duration = Duration::from_secs(30 * 86_400);
/// The shortest scrape interval and reconcile interval: below it a reconcile loop or a sampler
/// spins instead of ticking.
pub const MIN_INTERVAL: Duration = Duration::from_secs(1);
/// At most this many samples per series (`duration / scrapeInterval`) are simulated.
pub const MAX_SAMPLES: u64 = 100_000;
/// The longest reconcile a `slow` fault may ask for.
pub const MAX_RECONCILE_DURATION: Duration = Duration::from_secs(3600);
/// The most events an `event-storm` fault may emit.
pub const MAX_EVENT_STORM: u32 = 10_000;
/// Per controller: the largest `concurrent`, `kubeApiQps` and `kubeApiBurst`.
pub const MAX_CONCURRENT: u32 = 1_000;
pub const MAX_KUBE_API_QPS: f64 = 100_000.0;
pub const MAX_KUBE_API_BURST: u32 = 100_000;

/// The `spec.interval` a resource gets when the file gives none.
pub fn default_interval(kind: &KindInfo) -> Duration {
    let minutes = match kind.kind {
        // ArtifactGenerators have no interval: source-watcher requeues them every hour.
        // ExternalArtifacts have no interval (their producer decides); ArtifactGenerators neither
        // (source-watcher requeues them every hour).
        "Alert" | "Provider" | "ArtifactGenerator" | "ExternalArtifact" => 0,
        "HelmRepository" | "HelmChart" => 10,
        "GitRepository" | "OCIRepository" | "Bucket" => 1,
        "ImageRepository" => 5,
        _ => 10,
    };
    Duration::from_secs(minutes * 60)
}

/// Whether a kind has `spec.interval` at all in `version` (ImagePolicy gained one with v1, in 2.7).
pub fn has_interval(kind: &KindInfo, version: FluxVersion) -> bool {
    match kind.kind {
        "Alert" | "Provider" | "ArtifactGenerator" | "ExternalArtifact" => false,
        "ImagePolicy" => version.at_least(2, 7),
        _ => true,
    }
}

/// Whether a kind has `spec.suspend` (an ArtifactGenerator is paused with the annotation
/// `source.extensions.fluxcd.io/reconcile: disabled`; an ExternalArtifact cannot be paused).
pub(super) fn has_suspend(kind: &KindInfo) -> bool {
    !matches!(kind.kind, "ArtifactGenerator" | "ExternalArtifact")
}

/// Parses `Kind/name` (namespace flux-system) or `Kind/namespace/name`.
pub(super) fn parse_object_ref(text: &str) -> Result<ObjectRef, String> {
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

/// The longest message kept whole; messages quote the file's values, and a value may be long.
const MAX_MESSAGE_CHARS: usize = 600;

/// A message as one line of reasonable length, whatever values it quotes: control characters
/// (a line break inside a quoted name) escaped, the middle of an overlong message cut.
pub(super) fn one_line(message: String) -> String {
    let message = if message.contains(char::is_control) {
        let mut escaped = String::with_capacity(message.len());
        for c in message.chars() {
            if c.is_control() {
                escaped.extend(c.escape_default());
            } else {
                escaped.push(c);
            }
        }
        escaped
    } else {
        message
    };
    let chars = message.chars().count();
    if chars <= MAX_MESSAGE_CHARS {
        return message;
    }
    let head: String = message.chars().take(MAX_MESSAGE_CHARS / 2).collect();
    let tail: String = message.chars().skip(chars - MAX_MESSAGE_CHARS / 4).collect();
    format!("{head} … {tail}")
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

pub(super) struct Validator<'a> {
    pub(super) source: &'a Path,
    pub(super) line_offset: usize,
    /// The document's lines, to find the line of a key inside a free-form `spec`.
    pub(super) lines: Vec<&'a str>,
    pub(super) diagnostics: Vec<Diagnostic>,
    /// The scenario's optional controllers, once read.
    pub(super) components_extra: Vec<Controller>,
}

/// A resource as validated, with what reference checks need.
pub(super) struct Entry {
    resource: Resource,
    /// Line of `spec:` (or of the resource when it has none), document-relative.
    spec_line: usize,
    /// Line where the next resource starts (search bound), document-relative.
    end_line: usize,
}

impl Validator<'_> {
    pub(super) fn error(&mut self, line: usize, message: impl Into<String>) {
        self.diagnostics.push(Diagnostic {
            file: self.source.to_path_buf(),
            line: self.line_offset + line.max(1),
            message: one_line(message.into()),
        });
    }

    pub(super) fn file_line(&self, line: usize) -> usize {
        self.line_offset + line
    }

    pub(super) fn duration(&mut self, s: &Spanned<String>, what: &str) -> Option<Duration> {
        match parse_go_duration(&s.value) {
            Ok(d) => Some(d),
            Err(e) => {
                self.error(line(s), format!("{what}: {e}"));
                None
            }
        }
    }

    pub(super) fn positive_duration(&mut self, s: &Spanned<String>, what: &str) -> Option<Duration> {
        let d = self.duration(s, what)?;
        if d.is_zero() {
            self.error(line(s), format!("{what} must be greater than zero"));
            return None;
        }
        if d > MAX_DURATION {
            let max = model::format_go_duration(MAX_DURATION);
            self.error(line(s), format!("{what} {} is longer than the {max} a scenario can simulate", s.value));
            return None;
        }
        Some(d)
    }

    /// A positive duration of at least `min`.
    pub(super) fn duration_at_least(&mut self, s: &Spanned<String>, what: &str, min: Duration) -> Option<Duration> {
        let d = self.positive_duration(s, what)?;
        if d < min {
            let min = model::format_go_duration(min);
            self.error(line(s), format!("{what} {} is shorter than the {min} minimum", s.value));
            return None;
        }
        Some(d)
    }

    /// First line in `[from, to)` (document-relative, 1-based) whose text contains `needle`.
    pub(super) fn find_line(&self, from: usize, to: usize, needle: &str) -> Option<usize> {
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
            None => FluxVersion::newest(),
            Some(v) => match v.value.parse::<FluxVersion>() {
                Ok(fv) => fv,
                Err(e) => {
                    // The error quotes the value as written; a long one or one with line
                    // breaks is quoted here instead, short and escaped.
                    let plain = v.value.chars().count() <= 40 && !v.value.contains(char::is_control);
                    let message = if plain {
                        format!("fluxVersion: {e}")
                    } else {
                        let start: String = v.value.chars().take(40).collect();
                        let cut = if v.value.chars().count() > 40 { "…" } else { "" };
                        format!("fluxVersion: {start:?}{cut} is not a Flux release: write MAJOR.MINOR such as \"2.9\"")
                    };
                    self.error(line(v), message);
                    FluxVersion::newest()
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
            .and_then(|d| self.duration_at_least(d, "scrapeInterval", MIN_INTERVAL))
            .unwrap_or(Duration::from_secs(30));
        self.components_extra = self.components_extra(spec.components_extra.as_ref(), flux_version);
        let resource_metrics = self.resource_metrics(spec.resource_metrics.as_ref());
        let samples = duration.as_secs() / scrape_interval.as_secs().max(1);
        if samples > MAX_SAMPLES {
            let at = spec.scrape_interval.as_ref().or(spec.duration.as_ref()).map_or(1, line);
            self.error(
                at,
                format!(
                    "duration {} at scrapeInterval {} makes {samples} samples per series; at most {MAX_SAMPLES} \
                     are simulated: raise scrapeInterval to at least {}s or shorten the duration",
                    model::format_go_duration(duration),
                    model::format_go_duration(scrape_interval),
                    duration.as_secs().div_ceil(MAX_SAMPLES)
                ),
            );
        }
        let controllers = self.controllers(spec.controllers.as_ref());

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
        self.generated_artifacts(&entries, &mut index);
        self.references(&entries, &index);
        self.depends_on_cycles(&entries, &index);

        let fault_names = self.fault_names(spec.faults.iter().map(|f| f.value.name.as_ref()));
        let mut faults = Vec::with_capacity(spec.faults.len());
        for raw in &spec.faults {
            if let Some(f) = self.fault(raw, &entries, &index, duration) {
                faults.push(f);
            }
        }
        // A cluster drill's expectations refer to its cluster faults.
        let (cluster, fault_count, fault_names) = match &spec.cluster {
            Some(raw) => {
                let resources: Vec<&Resource> = entries.iter().map(|e| &e.resource).collect();
                let (drill, names) = self.cluster(raw, &spec.faults, &resources, &index, duration);
                let count = raw.value.faults.len();
                (Some(drill), count, names)
            }
            None => (None, spec.faults.len(), fault_names),
        };
        let expectations = match &spec.expectations {
            Some(e) => self.expectations(e, &index, fault_count, &fault_names, duration),
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
            components_extra: std::mem::take(&mut self.components_extra),
            resource_metrics,
            resources,
            faults,
            expectations,
            controllers,
            cluster,
        }
    }

    fn components_extra(&mut self, raw: Option<&Spanned<Vec<String>>>, version: FluxVersion) -> Vec<Controller> {
        let Some(raw) = raw else { return Vec::new() };
        let mut out = Vec::new();
        for name in &raw.value {
            match Controller::from_name(name).filter(|c| c.is_optional()) {
                Some(c) if !c.exists_in(version) => self.error(
                    line(raw),
                    format!("componentsExtra: {name} does not exist in Flux {version}"),
                ),
                Some(c) => out.push(c),
                None => {
                    let optional: Vec<&str> =
                        Controller::ALL.iter().filter(|c| c.is_optional()).map(|c| c.name()).collect();
                    self.error(
                        line(raw),
                        format!("componentsExtra: unknown component {name:?} (one of {})", optional.join(", ")),
                    );
                }
            }
        }
        out
    }

    fn resource_metrics(&mut self, raw: Option<&Spanned<Vec<String>>>) -> Vec<ResourceMetrics> {
        let Some(raw) = raw else { return vec![ResourceMetrics::KubeStateMetrics] };
        let mut out = Vec::new();
        for name in &raw.value {
            match ResourceMetrics::from_name(name) {
                Some(m) if !out.contains(&m) => out.push(m),
                Some(_) => {}
                None => self.error(
                    line(raw),
                    format!("resourceMetrics: unknown source {name:?} (kube-state-metrics or flux-operator)"),
                ),
            }
        }
        if out.is_empty() && raw.value.is_empty() {
            self.error(line(raw), "resourceMetrics: name at least one of kube-state-metrics, flux-operator");
        }
        out
    }

    /// `spec.controllers`: per Flux controller, its `concurrent` and API client limits.
    fn controllers(
        &mut self,
        file: Option<&Spanned<std::collections::BTreeMap<String, super::file::ControllerSettingsFile>>>,
    ) -> Vec<(Controller, ControllerSettings)> {
        let Some(file) = file else { return Vec::new() };
        let mut out = Vec::new();
        for (name, settings) in &file.value {
            let at = self.find_line(line(file), self.lines.len() + 1, &format!("{name}:")).unwrap_or(line(file));
            let Some(controller) = Controller::ALL.iter().copied().find(|c| c.name() == name) else {
                self.error(at, format!("unknown controller {name:?}; known controllers: {}", controller_names()));
                continue;
            };
            let mut s = ControllerSettings::flux_default(controller);
            if let Some(c) = &settings.concurrent {
                if (1..=MAX_CONCURRENT).contains(&c.value) {
                    s.concurrent = c.value;
                } else {
                    self.error(line(c), format!("concurrent {} is out of range: give 1 to {MAX_CONCURRENT}", c.value));
                }
            }
            if let Some(q) = &settings.kube_api_qps {
                if q.value.is_finite() && q.value > 0.0 && q.value <= MAX_KUBE_API_QPS {
                    s.kube_api_qps = q.value;
                } else {
                    let message = format!("kubeApiQps {} is out of range: give a number above 0, at most {MAX_KUBE_API_QPS}", q.value);
                    self.error(line(q), message);
                }
            }
            if let Some(b) = &settings.kube_api_burst {
                if (1..=MAX_KUBE_API_BURST).contains(&b.value) {
                    s.kube_api_burst = b.value;
                } else {
                    self.error(line(b), format!("kubeApiBurst {} is out of range: give 1 to {MAX_KUBE_API_BURST}", b.value));
                }
            }
            out.push((controller, s));
        }
        out
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
                let since = k.first_release().map(|s| s.to_string()).unwrap_or_default();
                self.error(
                    line(&r.kind),
                    format!(
                        "kind {} does not exist in Flux {version} (it arrived in Flux {since})",
                        k.kind
                    ),
                );
                None
            }
            Some(k) if k.is_optional() && !self.components_extra.contains(&k.controller) => {
                let c = k.controller.name();
                self.error(
                    line(&r.kind),
                    format!("kind {} needs {c}, an optional component: add `componentsExtra: [{c}]` to spec", k.kind),
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
            (Some(k), Some(i)) if !has_interval(k, version) => {
                let when = if FluxVersion::all().into_iter().any(|v| has_interval(k, v)) {
                    format!(" in Flux {version}")
                } else {
                    String::new()
                };
                self.error(line(i), format!("{} has no interval{when}: remove `interval`", a(k.kind)));
                None
            }
            (_, Some(i)) => self.duration_at_least(i, "interval", MIN_INTERVAL),
            (Some(k), None) if !has_interval(k, version) => Some(Duration::ZERO),
            (Some(k), None) => Some(default_interval(k)),
            (None, None) => None,
        };
        if let (Some(k), Some(true)) = (kind, r.suspend) {
            if !has_suspend(k) {
                let l = self.find_line(at, end_line, "suspend").unwrap_or(at);
                self.error(l, format!("{} has no spec.suspend: remove `suspend`", a(k.kind)));
                ok = false;
            }
        }
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
    /// The ExternalArtifacts each ArtifactGenerator writes (`spec.artifacts[].name`) exist for the
    /// objects that consume them, as the HelmChart of a HelmRelease's chart template does; listing
    /// one too is an error.
    fn generated_artifacts(&mut self, entries: &[Entry], index: &mut HashMap<ObjectRef, usize>) {
        for (i, e) in entries.iter().enumerate().filter(|(_, e)| e.resource.kind.kind == "ArtifactGenerator") {
            let r = &e.resource;
            let names = r.spec.get("artifacts").and_then(Value::as_array).into_iter().flatten();
            for name in names.filter_map(|a| a.get("name").and_then(Value::as_str)) {
                let ea = ObjectRef::new("ExternalArtifact", r.namespace.clone(), name);
                if let Some(&listed) = index.get(&ea) {
                    let at = entries[listed].resource.line;
                    self.error(
                        at,
                        format!("{ea} is written by ArtifactGenerator {}/{}: leave it out, it is implied", r.namespace, r.name),
                    );
                } else {
                    index.insert(ea, i);
                }
            }
        }
    }

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
                    "{field}: {} cannot refer to {} (allowed: {})",
                    a(e.resource.kind.kind),
                    a(&target.kind),
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
}

/// "a Kustomization", "an Alert".
pub(super) fn a(kind: &str) -> String {
    let article = if kind.starts_with(['A', 'E', 'I', 'O', 'U']) {
        "an"
    } else {
        "a"
    };
    format!("{article} {kind}")
}

pub(super) fn controller_names() -> String {
    Controller::ALL.iter().map(|c| c.name()).collect::<Vec<_>>().join(", ")
}

pub(super) fn line<T>(s: &Spanned<T>) -> usize {
    usize::try_from(s.referenced.line()).unwrap_or(0)
}
