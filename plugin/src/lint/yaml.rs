//! YAML documents as trees that remember the line of every node, so a finding can say FILE:LINE.

use std::fmt;
use std::path::{Path, PathBuf};

use serde::de::{Deserialize, Deserializer, MapAccess, SeqAccess, Visitor};
use serde_json::Value;

/// One YAML node and the line it starts on (1-based).
#[derive(Debug, Clone, PartialEq)]
pub struct Node {
    pub line: u64,
    pub value: Val,
}

#[derive(Debug, Clone, PartialEq)]
pub enum Val {
    Null,
    Bool(bool),
    Int(i64),
    Float(f64),
    Str(String),
    Seq(Vec<Node>),
    Map(Vec<(Node, Node)>),
}

impl Node {
    /// The value under `key` of a mapping.
    pub fn get(&self, key: &str) -> Option<&Node> {
        match &self.value {
            Val::Map(entries) => entries
                .iter()
                .find(|(k, _)| k.as_str() == Some(key))
                .map(|(_, v)| v),
            _ => None,
        }
    }

    /// The value at a path of mapping keys.
    pub fn at(&self, path: &[&str]) -> Option<&Node> {
        path.iter().try_fold(self, |n, k| n.get(k))
    }

    pub fn as_str(&self) -> Option<&str> {
        match &self.value {
            Val::Str(s) => Some(s),
            _ => None,
        }
    }

    /// A scalar as text (numbers and booleans too), as Kubernetes and Prometheus read labels.
    pub fn scalar_text(&self) -> Option<String> {
        match &self.value {
            Val::Str(s) => Some(s.clone()),
            Val::Bool(b) => Some(b.to_string()),
            Val::Int(i) => Some(i.to_string()),
            Val::Float(f) => Some(f.to_string()),
            _ => None,
        }
    }

    pub fn as_bool(&self) -> Option<bool> {
        match &self.value {
            Val::Bool(b) => Some(*b),
            _ => None,
        }
    }

    pub fn seq(&self) -> &[Node] {
        match &self.value {
            Val::Seq(items) => items,
            _ => &[],
        }
    }

    pub fn entries(&self) -> &[(Node, Node)] {
        match &self.value {
            Val::Map(entries) => entries,
            _ => &[],
        }
    }

    pub fn is_map(&self) -> bool {
        matches!(self.value, Val::Map(_))
    }

    /// The node as JSON (keys as text), for code that reads Kubernetes objects as JSON.
    #[allow(dead_code)]
    pub fn to_json(&self) -> Value {
        match &self.value {
            Val::Null => Value::Null,
            Val::Bool(b) => Value::Bool(*b),
            Val::Int(i) => Value::from(*i),
            Val::Float(f) => Value::from(*f),
            Val::Str(s) => Value::String(s.clone()),
            Val::Seq(items) => Value::Array(items.iter().map(Node::to_json).collect()),
            Val::Map(entries) => Value::Object(
                entries
                    .iter()
                    .map(|(k, v)| (k.scalar_text().unwrap_or_default(), v.to_json()))
                    .collect(),
            ),
        }
    }
}

impl Node {
    /// A JSON value (an object read from a cluster) as a node without lines.
    pub fn from_json(v: &Value) -> Node {
        let value = match v {
            Value::Null => Val::Null,
            Value::Bool(b) => Val::Bool(*b),
            Value::Number(n) => n
                .as_i64()
                .map_or_else(|| Val::Float(n.as_f64().unwrap_or(0.0)), Val::Int),
            Value::String(s) => Val::Str(s.clone()),
            Value::Array(a) => Val::Seq(a.iter().map(Node::from_json).collect()),
            Value::Object(m) => Val::Map(
                m.iter()
                    .map(|(k, v)| {
                        (
                            Node {
                                line: 0,
                                value: Val::Str(k.clone()),
                            },
                            Node::from_json(v),
                        )
                    })
                    .collect(),
            ),
        };
        Node { line: 0, value }
    }
}

impl<'de> Deserialize<'de> for Node {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        let spanned = serde_saphyr::Spanned::<Val>::deserialize(d)?;
        Ok(Node {
            line: spanned.referenced.line(),
            value: spanned.value,
        })
    }
}

struct ValVisitor;

impl<'de> Visitor<'de> for ValVisitor {
    type Value = Val;

    fn expecting(&self, f: &mut fmt::Formatter) -> fmt::Result {
        f.write_str("any YAML value")
    }
    fn visit_unit<E>(self) -> Result<Val, E> {
        Ok(Val::Null)
    }
    fn visit_none<E>(self) -> Result<Val, E> {
        Ok(Val::Null)
    }
    fn visit_some<D: Deserializer<'de>>(self, d: D) -> Result<Val, D::Error> {
        Val::deserialize(d)
    }
    fn visit_bool<E>(self, b: bool) -> Result<Val, E> {
        Ok(Val::Bool(b))
    }
    fn visit_i64<E>(self, i: i64) -> Result<Val, E> {
        Ok(Val::Int(i))
    }
    fn visit_u64<E>(self, u: u64) -> Result<Val, E> {
        Ok(i64::try_from(u).map_or(Val::Float(u as f64), Val::Int))
    }
    fn visit_f64<E>(self, f: f64) -> Result<Val, E> {
        Ok(Val::Float(f))
    }
    fn visit_str<E>(self, s: &str) -> Result<Val, E> {
        Ok(Val::Str(s.to_string()))
    }
    fn visit_string<E>(self, s: String) -> Result<Val, E> {
        Ok(Val::Str(s))
    }
    fn visit_seq<A: SeqAccess<'de>>(self, mut seq: A) -> Result<Val, A::Error> {
        let mut items = Vec::new();
        while let Some(n) = seq.next_element::<Node>()? {
            items.push(n);
        }
        Ok(Val::Seq(items))
    }
    fn visit_map<A: MapAccess<'de>>(self, mut map: A) -> Result<Val, A::Error> {
        let mut entries = Vec::new();
        while let Some(k) = map.next_key::<Node>()? {
            let v = map.next_value::<Node>()?;
            entries.push((k, v));
        }
        Ok(Val::Map(entries))
    }
}

impl<'de> Deserialize<'de> for Val {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        d.deserialize_any(ValVisitor)
    }
}

/// An input that could not be read or parsed: one line naming the file (and line).
#[derive(Debug, Clone, thiserror::Error)]
#[error("{0}")]
pub struct LoadError(pub String);

/// The largest file lint reads. Rule files of tens of megabytes are real (promtool accepts a
/// 20 MB file of 66,000 rules); past this size a file is almost certainly not configuration.
pub const MAX_FILE_BYTES: u64 = 256 * 1024 * 1024;

/// How deep mappings and sequences may nest. Rule files, Alertmanager configurations and
/// dashboards stay far below; a deeper document is almost certainly generated by mistake.
pub const MAX_DEPTH: usize = 64;

/// The longest piece of an input line quoted back in a message.
const QUOTE_CHARS: usize = 80;

/// One document of a multi-document text: its first line (1-based) and its text.
#[derive(Debug, Clone, Copy)]
pub struct Chunk<'a> {
    pub line: u64,
    pub text: &'a str,
}

/// Splits a text at its `---` / `...` document markers (at column 0, as YAML defines them),
/// keeping each document's first line so nodes keep the line numbers of the whole file.
pub fn split_documents(text: &str) -> Vec<Chunk<'_>> {
    let mut out = Vec::new();
    let (mut start, mut start_line, mut offset, mut line) = (0usize, 1u64, 0usize, 1u64);
    for l in text.split_inclusive('\n') {
        let bare = l.trim_end_matches(['\n', '\r']);
        let marker = |m: &str| {
            bare.strip_prefix(m)
                .is_some_and(|rest| rest.is_empty() || rest.starts_with([' ', '\t']))
        };
        if marker("---") || marker("...") {
            out.push(Chunk {
                line: start_line,
                text: &text[start..offset],
            });
            // Content after `--- ` on the marker line belongs to the next document.
            start = offset + 3;
            start_line = line;
        }
        offset += l.len();
        line += 1;
    }
    out.push(Chunk {
        line: start_line,
        text: &text[start..],
    });
    out.retain(|c| !is_blank_yaml(c.text));
    out
}

/// Whether a document holds nothing but whitespace and comments.
fn is_blank_yaml(text: &str) -> bool {
    text.lines().all(|l| {
        let t = l.trim();
        t.is_empty() || t.starts_with('#')
    })
}

fn options_for(len: usize) -> serde_saphyr::Options {
    // The default budget (1M events, 250k nodes, 64 MiB of scalars) stops a valid 20 MB rule
    // file. The limits grow with the input instead, so only inputs that expand beyond their
    // own size (alias bombs) are refused; aliases and depth keep their defaults.
    let mut budget = serde_saphyr::Budget::default();
    budget.max_events = 1_000_000 + len * 2;
    budget.max_nodes = 250_000 + len;
    budget.max_total_scalar_bytes = 64 * 1024 * 1024 + len * 2;
    budget.max_depth = MAX_DEPTH;
    let mut options = serde_saphyr::Options::default();
    options.budget = Some(budget);
    options
}

/// The text of a parser error in the user's words: what was wrong, at most a short quote.
fn describe(e: &serde_saphyr::Error) -> (Option<u64>, String) {
    use serde_saphyr::budget::BudgetBreach;
    use serde_saphyr::Error as E;
    let line = e.location().map(|l| l.line());
    let message = match e.without_snippet() {
        E::DuplicateMappingKey { key, .. } => format!(
            "key {} appears twice in the same mapping; Prometheus, Alertmanager and Kubernetes reject such a file: remove or rename one",
            key.as_deref().map_or_else(|| "(a complex key)".to_string(), |k| format!("{:?}", shorten(k)))
        ),
        E::Budget { breach, .. } => match breach {
            BudgetBreach::Depth { .. } => format!(
                "mappings and sequences nest deeper than {MAX_DEPTH} levels, more than any rule file, Alertmanager configuration or dashboard needs: check the file is the one you meant"
            ),
            BudgetBreach::Aliases { .. } | BudgetBreach::Anchors { .. } => "the document uses more YAML aliases or anchors than lint reads (50,000): expand them, or split the file".to_string(),
            other => format!(
                "the document is too large to read ({}): split it into several files",
                breach_words(other)
            ),
        },
        other => {
            let text = other.to_string();
            let first = text.lines().next().unwrap_or("").trim();
            // "error: line 3 column 7: <what>" -> "<what>", without the parser's advice.
            let what = first
                .split_once(": ")
                .map_or(first, |(head, rest)| if head == "error" { rest } else { first });
            let what = match what.split_once("column ") {
                Some((head, rest)) if head.starts_with("line ") => rest.split_once(": ").map_or(what, |(_, r)| r),
                _ => what,
            };
            let what = what.split(", set ").next().unwrap_or(what);
            shorten(what)
        }
    };
    (line, message)
}

fn breach_words(b: &serde_saphyr::budget::BudgetBreach) -> String {
    let text = format!("{b:?}");
    let kind = text
        .split([' ', '{', '('])
        .next()
        .unwrap_or("")
        .to_lowercase();
    match kind.as_str() {
        "events" | "nodes" => "too many YAML nodes".into(),
        "totalscalarbytes" | "scalarbytes" => "too much text in values".into(),
        "documents" => "too many documents".into(),
        _ => "a parser limit was reached".into(),
    }
}

/// At most QUOTE_CHARS characters of a text, for quoting input back.
pub fn shorten(s: &str) -> String {
    let s = s.trim();
    match s.char_indices().nth(QUOTE_CHARS) {
        Some((i, _)) => format!("{}…", &s[..i]),
        None => s.to_string(),
    }
}

/// One document parsed, its node lines those of the whole file.
pub fn parse_chunk(file: &str, chunk: Chunk<'_>) -> Result<Node, LoadError> {
    parse_chunk_with(file, chunk, options_for(chunk.text.len()))
}

/// A JSON text parsed as YAML (so nodes keep their lines). JSON allows a key twice in an object
/// and its readers (Grafana's among them) keep the last value; so does this.
pub fn parse_json_chunk(file: &str, chunk: Chunk<'_>) -> Result<Node, LoadError> {
    let mut options = options_for(chunk.text.len());
    options.duplicate_keys = serde_saphyr::DuplicateKeyPolicy::PassThrough;
    let mut node = parse_chunk_with(file, chunk, options)?;
    let mut stack = vec![&mut node];
    while let Some(n) = stack.pop() {
        match &mut n.value {
            Val::Seq(items) => stack.extend(items.iter_mut()),
            Val::Map(entries) => {
                let mut seen = std::collections::HashSet::new();
                let mut kept: Vec<(Node, Node)> = Vec::with_capacity(entries.len());
                for (k, v) in std::mem::take(entries).into_iter().rev() {
                    if k.scalar_text().is_none_or(|t| seen.insert(t)) {
                        kept.push((k, v));
                    }
                }
                kept.reverse();
                *entries = kept;
                for (k, v) in entries.iter_mut() {
                    stack.push(k);
                    stack.push(v);
                }
            }
            _ => {}
        }
    }
    Ok(node)
}

fn parse_chunk_with(
    file: &str,
    chunk: Chunk<'_>,
    options: serde_saphyr::Options,
) -> Result<Node, LoadError> {
    let mut node: Node =
        serde_saphyr::from_str_with_options(chunk.text, options).map_err(
            |e| {
                let (line, message) = describe(&e);
                let line = line.map_or(chunk.line, |l| chunk.line + l.saturating_sub(1));
                LoadError(format!("{file}:{line}: invalid YAML: {message}"))
            },
        )?;
    if chunk.line > 1 {
        node.shift(chunk.line - 1);
    }
    Ok(node)
}

impl Node {
    /// Moves every line of the tree down by `by` (a document that starts further into a file).
    pub(crate) fn shift(&mut self, by: u64) {
        self.each_mut(&mut |n| {
            if n.line > 0 {
                n.line += by;
            }
        });
    }

    /// Puts every node of the tree on one line (a text embedded in a single line).
    pub(crate) fn set_lines(&mut self, line: u64) {
        self.each_mut(&mut |n| n.line = line);
    }

    /// Calls `f` on every node of the tree, keys included.
    fn each_mut(&mut self, f: &mut impl FnMut(&mut Node)) {
        let mut stack = vec![self];
        while let Some(n) = stack.pop() {
            f(n);
            match &mut n.value {
                Val::Seq(items) => stack.extend(items.iter_mut()),
                Val::Map(entries) => {
                    for (k, v) in entries.iter_mut() {
                        stack.push(k);
                        stack.push(v);
                    }
                }
                _ => {}
            }
        }
    }
}

/// Every document of a multi-document YAML text; empty documents are skipped. The first
/// document that does not parse fails the whole text (callers that want the others use
/// [`split_documents`] and [`parse_chunk`]).
pub fn parse_documents(file: &str, text: &str) -> Result<Vec<Node>, LoadError> {
    split_documents(text)
        .into_iter()
        .map(|c| parse_chunk(file, c))
        .filter(|r| {
            !matches!(
                r,
                Ok(Node {
                    value: Val::Null,
                    ..
                })
            )
        })
        .collect()
}

/// Reads a file as text, refusing what is too large or not text, in words naming the file.
pub fn read_text(path: &Path) -> Result<String, LoadError> {
    let shown = path.display().to_string();
    let meta =
        std::fs::metadata(path).map_err(|e| LoadError(format!("{shown}: cannot read: {e}")))?;
    if meta.len() > MAX_FILE_BYTES {
        return Err(LoadError(format!(
            "{shown}: the file has {} MB; lint reads files up to {} MB: split it",
            meta.len() / (1024 * 1024),
            MAX_FILE_BYTES / (1024 * 1024)
        )));
    }
    let bytes = std::fs::read(path).map_err(|e| LoadError(format!("{shown}: cannot read: {e}")))?;
    String::from_utf8(bytes).map_err(|e| {
        let before = &e.as_bytes()[..e.utf8_error().valid_up_to()];
        let line = before.iter().filter(|b| **b == b'\n').count() + 1;
        LoadError(format!(
            "{shown}:{line}: not UTF-8 text: save the file as UTF-8"
        ))
    })
}

/// Reads and parses one file.
pub fn load_file(path: &Path) -> Result<Vec<Node>, LoadError> {
    let shown = path.display().to_string();
    let text = read_text(path)?;
    parse_documents(&shown, &text)
}

/// The YAML files named: files as given, directories walked (sorted) for `*.yaml` / `*.yml`.
/// Each file is visited once, through however many symbolic links it is reached, and a link
/// back to a directory being walked is not followed again.
pub fn expand(paths: &[PathBuf]) -> Result<Vec<PathBuf>, LoadError> {
    super::walk::files(paths, &["yaml", "yml"])
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn nodes_know_their_lines() {
        let docs = parse_documents(
            "f.yaml",
            "a: 1\nb:\n  - x\n  - {c: d}\n---\nkind: Second\nexpr: |\n  up == 0\n",
        )
        .unwrap();
        assert_eq!(docs.len(), 2);
        assert_eq!(docs[0].get("b").unwrap().seq()[1].line, 4);
        assert_eq!(docs[0].at(&["b"]).unwrap().seq()[0].as_str(), Some("x"));
        assert_eq!(docs[1].get("kind").unwrap().line, 6);
        assert_eq!(docs[1].get("expr").unwrap().as_str(), Some("up == 0\n"));
        assert_eq!(docs[0].to_json()["a"], 1);
    }

    #[test]
    fn bad_yaml_names_file_and_line() {
        let e = parse_documents("f.yaml", "a: 1\nb: [\n").unwrap_err();
        assert!(e.0.starts_with("f.yaml:"), "{}", e.0);
        eprintln!("{}", e.0);
    }
}
