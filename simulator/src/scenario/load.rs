//! Reading scenario files: YAML in, a validated [`Scenario`] out, or every problem found as
//! `FILE:LINE: message`.

use std::fmt;
use std::path::{Path, PathBuf};

use serde_json::Value;

use super::file::{DocumentKind, ScenarioFile};
use super::model::Scenario;
use super::validate;

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
    pub(super) fn single(file: &Path, line: usize, message: impl Into<String>) -> Self {
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

/// The longest piece of an input line quoted back in a message.
const QUOTE_CHARS: usize = 80;

fn load_document(doc: &Document<'_>, source: &Path) -> Result<Scenario, ScenarioErrors> {
    let file: ScenarioFile = serde_saphyr::from_str_with_options(doc.text, parse_options()).map_err(|e| {
        let line = e.location().map_or(1, |l| l.line() as usize).max(1);
        let mut message = syntax_message(&e);
        // Type errors do not name the field; quote the line so the reader sees which one.
        let quoted = doc.text.lines().nth(line - 1).map(str::trim).filter(|l| !l.is_empty());
        if let Some(text) = quoted.filter(|_| !message.contains('`')) {
            // A short piece of the line is enough to find it; a generated line may be huge.
            let text = match text.char_indices().nth(QUOTE_CHARS) {
                Some((i, _)) => format!("{}…", &text[..i]),
                None => text.to_string(),
            };
            message = format!("{message} in `{text}`");
        }
        ScenarioErrors::single(source, doc.first_line - 1 + line, validate::one_line(message))
    })?;
    validate::validate(file, source, doc.first_line - 1, doc.text)
}

/// serde-saphyr's message without its trailing location (we print `FILE:LINE:` in front), in
/// the user's words where the parser's would name its own options or limits.
fn syntax_message(e: &serde_saphyr::Error) -> String {
    use serde_saphyr::budget::BudgetBreach;
    use serde_saphyr::Error as E;
    match e.without_snippet() {
        E::DuplicateMappingKey { key, .. } => {
            let key = match key.as_deref() {
                Some(k) if k.chars().count() <= 40 => format!("{k:?}"),
                _ => "a key".into(),
            };
            return format!("{key} appears twice in the same mapping: remove or rename one");
        }
        E::Budget { breach, .. } => {
            return match breach {
                BudgetBreach::Depth { .. } => {
                    "mappings and sequences nest deeper than 64 levels: a scenario needs far fewer"
                }
                BudgetBreach::Aliases { .. }
                | BudgetBreach::Anchors { .. }
                | BudgetBreach::AliasAnchorRatio { .. } => {
                    "too many YAML aliases or anchors: write the values out, or split the scenario"
                }
                _ => "the scenario is too large to read: split it into several files",
            }
            .into()
        }
        _ => {}
    }
    let options = serde_saphyr::render_options! { snippets: serde_saphyr::SnippetMode::Off };
    let text = e.render_with_options(options);
    let text = text.trim();
    let text = match text.rfind(" at line ") {
        Some(i) if text[i..].contains("column") => &text[..i],
        _ => text,
    };
    text.trim_end_matches(':').to_string()
}
