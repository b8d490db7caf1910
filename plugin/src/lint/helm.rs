//! Helm-templated files (`{{ ... }}` actions in a chart's templates): lint the parts that read
//! as YAML without rendering, and say which parts were skipped.
//!
//! Without values nothing can be rendered, so the text is made readable instead, keeping every
//! line where it was: a line that holds only actions (`{{- if ... }}`, `{{ include ... | nindent
//! 4 }}`, `{{- end }}`) becomes blank; an action inside a value becomes [`PLACEHOLDER`]; escaped
//! Prometheus templates (``{{`{{ $labels.x }}`}}`` and `{{ "{{" }}`) become the text Helm
//! renders. Whatever depends on a placeholder is skipped by the rules that read it.

/// What stands for a Helm action inside a value. Chosen to be a plain YAML scalar, a valid
/// PromQL identifier and a valid label value, so the surrounding text still parses.
pub const PLACEHOLDER: &str = "__helm_value__";

/// Whether a text is a Helm template rather than plain YAML that happens to hold Prometheus
/// templates (`{{ $labels.name }}` in annotations is Prometheus' own syntax).
pub fn is_template(text: &str) -> bool {
    if !text.contains("{{") {
        return false;
    }
    const HELM_ONLY: &[&str] = &[
        ".Values",
        ".Release",
        ".Chart",
        ".Capabilities",
        ".Files",
        "include \"",
        "template \"",
        "{{-",
        "-}}",
        "{{`",
        "{{ `",
        "toYaml",
        "nindent",
        "{{/*",
        "{{ /*",
    ];
    HELM_ONLY.iter().any(|m| text.contains(m))
}

/// Stand-ins for the braces Helm's escapes print, so the action pass leaves them alone.
const OPEN: char = '\u{E000}';
const CLOSE: char = '\u{E001}';

/// The text with Helm's actions neutralised (see the module comment); same number of lines.
pub fn neutralise(text: &str) -> String {
    let unescaped = unescape(text);
    let mut out = String::with_capacity(unescaped.len());
    let mut rest = unescaped.as_str();
    // Actions may span lines (comments); a newline inside one is kept so lines stay put.
    let mut line = String::new();
    let mut line_had_action = false;
    let flush = |line: &mut String, had: &mut bool, out: &mut String, newline: bool| {
        if *had && line.trim().is_empty() {
            // A line of actions only: control flow or an include; nothing to read.
        } else if *had && line.trim() == PLACEHOLDER {
            // An action standing alone on its line (e.g. `{{ toYaml .Values.rules | nindent 4 }}`).
        } else {
            out.push_str(line);
        }
        if newline {
            out.push('\n');
        }
        line.clear();
        *had = false;
    };
    while !rest.is_empty() {
        let next_action = rest.find("{{");
        let next_newline = rest.find('\n');
        match (next_action, next_newline) {
            (Some(a), nl) if nl.is_none_or(|n| a < n) => {
                line.push_str(&rest[..a]);
                let after = &rest[a..];
                let end = after.find("}}").map_or(after.len(), |e| e + 2);
                let action = &after[..end];
                // A newline inside the action (a multi-line comment): keep the line count.
                for _ in action.matches('\n') {
                    flush(&mut line, &mut line_had_action, &mut out, true);
                }
                if !is_control(action) {
                    line.push_str(PLACEHOLDER);
                }
                line_had_action = true;
                rest = &after[end..];
            }
            (_, Some(n)) => {
                line.push_str(&rest[..n]);
                flush(&mut line, &mut line_had_action, &mut out, true);
                rest = &rest[n + 1..];
            }
            (_, None) => {
                line.push_str(rest);
                rest = "";
            }
        }
    }
    flush(&mut line, &mut line_had_action, &mut out, false);
    out.replace(OPEN, "{{").replace(CLOSE, "}}")
}

/// Actions that produce no value: control flow, definitions, comments, whitespace trimming.
fn is_control(action: &str) -> bool {
    let inner = action
        .trim_start_matches("{{")
        .trim_end_matches("}}")
        .trim_matches('-')
        .trim();
    inner.starts_with("/*")
        || ["if ", "else", "end", "range ", "with ", "define ", "block "]
            .iter()
            .any(|k| inner.starts_with(k) || inner == k.trim())
        || (inner.starts_with('$') && inner.contains(":="))
}

/// Helm's escapes for literal braces become the text they render to.
fn unescape(text: &str) -> String {
    let mut out = String::with_capacity(text.len());
    let mut rest = text;
    while let Some(i) = rest.find("{{") {
        out.push_str(&rest[..i]);
        let after = &rest[i..];
        // {{`...`}} and {{ `...` }}: a raw Go string printed as is.
        let trimmed = after[2..].trim_start_matches(['-', ' ']);
        if let Some(body) = trimmed.strip_prefix('`') {
            if let Some(close) = body.find('`') {
                let tail = body[close + 1..].trim_start_matches([' ', '-']);
                if let Some(tail) = tail.strip_prefix("}}") {
                    out.push_str(
                        &body[..close]
                            .replace("{{", &OPEN.to_string())
                            .replace("}}", &CLOSE.to_string()),
                    );
                    rest = tail;
                    continue;
                }
            }
        }
        // {{ "{{" }} and {{ "}}" }}: a quoted string printed as is.
        if let Some(body) = trimmed.strip_prefix('"') {
            if let Some(close) = body.find('"') {
                let tail = body[close + 1..].trim_start_matches([' ', '-']);
                if let Some(tail) = tail.strip_prefix("}}") {
                    let s = &body[..close];
                    if s == "{{" || s == "}}" {
                        out.push(if s == "{{" { OPEN } else { CLOSE });
                        rest = tail;
                        continue;
                    }
                }
            }
        }
        out.push_str("{{");
        rest = &after[2..];
    }
    out.push_str(rest);
    out
}

/// Whether a value was (partly) made by Helm and so cannot be judged.
pub fn depends_on_values(s: &str) -> bool {
    s.contains(PLACEHOLDER)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn helm_actions_are_neutralised_line_for_line() {
        let text = "metadata:\n  labels:\n    {{- include \"labels.common\" . | nindent 4 }}\n  namespace: {{ .Values.namespace }}\nspec:\n  groups:\n  {{- if .Values.flux }}\n  - name: flux\n    rules:\n    - alert: A\n      annotations:\n        description: '{{`Flux {{ $labels.name }} failed`}}'\n      expr: up{job=\"{{ .Values.job }}\"} == 0\n  {{- end }}\n";
        assert!(is_template(text));
        let out = neutralise(text);
        assert_eq!(out.lines().count(), text.lines().count(), "{out}");
        let docs = crate::lint::yaml::parse_documents("f", &out).unwrap();
        let rule = &docs[0].at(&["spec", "groups"]).unwrap().seq()[0]
            .get("rules")
            .unwrap()
            .seq()[0];
        assert_eq!(
            rule.at(&["annotations", "description"]).unwrap().as_str(),
            Some("Flux {{ $labels.name }} failed")
        );
        assert!(depends_on_values(
            rule.get("expr").unwrap().as_str().unwrap()
        ));
        assert_eq!(rule.get("expr").unwrap().line, 13);
        assert_eq!(
            docs[0].at(&["metadata", "namespace"]).unwrap().as_str(),
            Some(PLACEHOLDER)
        );
    }

    #[test]
    fn prometheus_templates_alone_are_not_helm() {
        assert!(!is_template(
            "annotations:\n  summary: '{{ $labels.name }} is down'\n"
        ));
        assert!(is_template("namespace: {{ .Release.Namespace }}\n"));
        assert_eq!(
            neutralise("a: '{{ \"{{\" }} $labels.x {{ \"}}\" }}'"),
            "a: '{{ $labels.x }}'"
        );
    }
}
