//! What the fuzz targets check beyond "no panic, no hang, bounded memory": an error a reader
//! gives is one a user can act on. It names the file and a line of it, stays one short line,
//! and never shows the parser's insides (budget breaches, option names, Debug-printed structs).

use std::sync::OnceLock;

use regex::Regex;

/// The name every target gives its input, as a path on the command line would be shown.
pub const FILE: &str = "fuzz/input.yaml";

/// The longest error line accepted. Messages may quote the input, but only a short piece of it
/// (lint quotes at most 80 characters); lists of known values fit well below this.
pub const MAX_MESSAGE_CHARS: usize = 1200;

/// The fuzzer's bytes as the readers get them: files are read as UTF-8 text and refused
/// otherwise before any parser runs (with a message naming the file and line).
pub fn text(data: &[u8]) -> Option<&str> {
    std::str::from_utf8(data).ok()
}

/// Words and shapes that only the parser's own code would print. Each is a defect only when the
/// input does not hold it itself (a message may quote the user's text).
fn internals() -> &'static [Regex] {
    static RES: OnceLock<Vec<Regex>> = OnceLock::new();
    RES.get_or_init(|| {
        [
            r"(?i)budget",
            r"(?i)breach",
            r"DuplicateKeyPolicy",
            r"(?i)\bset [A-Za-z]+ in Options",
            r"(?i)serde",
            r"(?i)saphyr",
            r"Spanned",
            r"panicked",
            r"RUST_BACKTRACE",
            r"\b(Some|Ok|Err)\(",
            r"expected (struct|enum|tuple struct|newtype struct) [A-Z]",
            r"(variant|field) identifier",
            // A Debug-printed struct: `Depth { depth: 65 }`, `Location { line: 3, .. }`.
            r"\b[A-Z][A-Za-z0-9_]* \{ [a-z_][a-z0-9_]*: ",
            // A Debug-printed tuple variant: `Depth(65)`, `Io(Custom { .. })`.
            r"\b[A-Z][a-z]+[A-Z][A-Za-z]*\(",
        ]
        .iter()
        .map(|r| Regex::new(r).expect("a valid pattern"))
        .collect()
    })
}

/// The 1-based number of the last line of `input` (a message may point just past it, at the
/// end of the file). Lines end as YAML says they do: at LF, CRLF or a lone CR.
fn last_line(input: &str) -> u64 {
    let breaks = input.replace("\r\n", "\n").matches(['\n', '\r']).count();
    breaks as u64 + 1
}

/// Asserts that `message` reads as a user-facing error: one line, short, no parser internals
/// unless the input itself holds those words.
pub fn assert_user_words(message: &str, input: &str) {
    assert!(!message.trim().is_empty(), "an empty error message");
    assert!(
        !message.contains('\n'),
        "an error message of several lines: {message:?}"
    );
    let chars = message.chars().count();
    assert!(
        chars <= MAX_MESSAGE_CHARS,
        "an error message of {chars} characters (quotes too much of the input): {:?}…",
        message.chars().take(300).collect::<String>()
    );
    for re in internals() {
        if let Some(m) = re.find(message) {
            assert!(
                input.contains(m.as_str()),
                "an error message shows the parser's internals ({:?}): {message:?}",
                m.as_str()
            );
        }
    }
}

/// Asserts that `message` is `FILE:LINE: what`, LINE a line of `input`, in user words.
pub fn assert_file_error(message: &str, file: &str, input: &str) {
    let rest = message
        .strip_prefix(file)
        .and_then(|r| r.strip_prefix(':'))
        .unwrap_or_else(|| panic!("an error message that does not start with {file}: {message:?}"));
    let (line, what) = rest
        .split_once(": ")
        .unwrap_or_else(|| panic!("an error message without FILE:LINE: {message:?}"));
    let line: u64 = line
        .parse()
        .unwrap_or_else(|_| panic!("an error message without a line number: {message:?}"));
    assert_line(line, input, message);
    assert_user_words(what, input);
}

/// Asserts that `line` is a line of `input` (1-based).
pub fn assert_line(line: u64, input: &str, what: &str) {
    assert!(
        (1..=last_line(input)).contains(&line),
        "line {line} is not a line of the input ({} lines): {what}",
        last_line(input)
    );
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_good_message_passes() {
        assert_file_error(
            "fuzz/input.yaml:2: invalid YAML: did not find expected key",
            FILE,
            "a: 1\nb: [\n",
        );
    }

    #[test]
    #[should_panic(expected = "internals")]
    fn a_budget_breach_is_internals() {
        assert_file_error(
            "fuzz/input.yaml:1: budget breached: Depth { depth: 65 }",
            FILE,
            "[[[[",
        );
    }

    #[test]
    #[should_panic(expected = "not a line")]
    fn a_line_past_the_end_is_refused() {
        assert_file_error("fuzz/input.yaml:9: bad", FILE, "a: 1\n");
    }

    #[test]
    fn a_lone_carriage_return_ends_a_line_as_in_yaml() {
        assert_line(3, "a\r\nb\rc", "CR");
    }

    #[test]
    fn quoted_input_is_not_internals() {
        assert_user_words("unknown field \"Some(x)\"", "Some(x): 1");
    }
}
