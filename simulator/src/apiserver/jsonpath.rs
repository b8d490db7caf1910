//! A small JSONPath evaluator for printer columns (`.status.conditions[?(@.type=="Ready")].status`).

use serde_json::Value;

#[derive(Clone, Debug, PartialEq)]
enum Step {
    Field(String),
    Index(i64),
    All,
    /// `[?(@.a.b == "x")]`, `[?(@.a != 1)]`, `[?(@.a)]`
    Filter {
        path: Vec<Step>,
        test: Option<(bool, Value)>,
    },
}

/// A compiled JSONPath expression.
#[derive(Clone, Debug, PartialEq)]
pub struct JsonPath(Vec<Step>);

impl JsonPath {
    /// Compiles `.a.b[0]['c'][*][?(@.type=="Ready")].d` (optionally wrapped in `{}`).
    pub fn parse(text: &str) -> Result<JsonPath, String> {
        let text = text.trim();
        let text = text
            .strip_prefix('{')
            .and_then(|t| t.strip_suffix('}'))
            .unwrap_or(text);
        let text = text.strip_prefix('$').unwrap_or(text);
        let mut parser = Parser {
            chars: text.chars().collect(),
            pos: 0,
        };
        let steps = parser.steps(false)?;
        Ok(JsonPath(steps))
    }

    /// Every value the path selects, in document order.
    pub fn find<'v>(&self, value: &'v Value) -> Vec<&'v Value> {
        eval(&self.0, value)
    }

    /// The first selected value.
    pub fn first<'v>(&self, value: &'v Value) -> Option<&'v Value> {
        self.find(value).into_iter().next()
    }
}

fn eval<'v>(steps: &[Step], value: &'v Value) -> Vec<&'v Value> {
    let mut current = vec![value];
    for step in steps {
        let mut next = Vec::new();
        for v in current {
            match step {
                Step::Field(name) => next.extend(v.get(name)),
                Step::Index(i) => {
                    if let Some(items) = v.as_array() {
                        let index = if *i < 0 { items.len() as i64 + i } else { *i };
                        next.extend(usize::try_from(index).ok().and_then(|i| items.get(i)));
                    }
                }
                Step::All => match v {
                    Value::Array(items) => next.extend(items),
                    Value::Object(map) => next.extend(map.values()),
                    _ => {}
                },
                Step::Filter { path, test } => {
                    let items: Vec<&Value> = match v {
                        Value::Array(items) => items.iter().collect(),
                        other => vec![other],
                    };
                    next.extend(items.into_iter().filter(|item| {
                        let found = eval(path, item);
                        match test {
                            None => !found.is_empty(),
                            Some((equal, expected)) => found
                                .first()
                                .is_some_and(|f| loosely_equal(f, expected) == *equal),
                        }
                    }));
                }
            }
        }
        current = next;
    }
    current
}

fn loosely_equal(a: &Value, b: &Value) -> bool {
    match (a, b) {
        (Value::Number(x), Value::Number(y)) => x.as_f64() == y.as_f64(),
        _ => a == b,
    }
}

struct Parser {
    chars: Vec<char>,
    pos: usize,
}

impl Parser {
    fn peek(&self) -> Option<char> {
        self.chars.get(self.pos).copied()
    }

    fn eat(&mut self, c: char) -> bool {
        if self.peek() == Some(c) {
            self.pos += 1;
            true
        } else {
            false
        }
    }

    fn skip_spaces(&mut self) {
        while self.peek().is_some_and(char::is_whitespace) {
            self.pos += 1;
        }
    }

    /// Steps up to the end, or (inside a filter) up to a comparison or `)`.
    fn steps(&mut self, in_filter: bool) -> Result<Vec<Step>, String> {
        let mut steps = Vec::new();
        loop {
            match self.peek() {
                None => return Ok(steps),
                Some('.') => {
                    self.pos += 1;
                    if self.eat('*') {
                        steps.push(Step::All);
                    } else {
                        let name = self.name();
                        if name.is_empty() {
                            if self.peek().is_none() && steps.is_empty() {
                                return Ok(steps);
                            }
                            return Err(format!("empty field name at {}", self.pos));
                        }
                        steps.push(Step::Field(name));
                    }
                }
                Some('[') => {
                    self.pos += 1;
                    steps.push(self.bracket()?);
                }
                Some(c) if in_filter && (c.is_whitespace() || "=!)".contains(c)) => {
                    return Ok(steps)
                }
                Some(c) if steps.is_empty() && !in_filter && c.is_alphanumeric() => {
                    steps.push(Step::Field(self.name()));
                }
                Some(c) => return Err(format!("unexpected {c:?} at {}", self.pos)),
            }
        }
    }

    fn name(&mut self) -> String {
        let start = self.pos;
        while self.peek().is_some_and(|c| !".[]=!) ".contains(c)) {
            self.pos += 1;
        }
        self.chars[start..self.pos].iter().collect()
    }

    fn bracket(&mut self) -> Result<Step, String> {
        self.skip_spaces();
        let step = match self.peek() {
            Some('*') => {
                self.pos += 1;
                Step::All
            }
            Some('\'' | '"') => Step::Field(self.quoted()?),
            Some('?') => {
                self.pos += 1;
                if !self.eat('(') || !self.eat('@') {
                    return Err("filter must start with ?(@".to_string());
                }
                let path = self.steps(true)?;
                self.skip_spaces();
                let test = if self.eat('=') {
                    self.eat('=');
                    Some((true, self.literal()?))
                } else if self.eat('!') {
                    self.eat('=');
                    Some((false, self.literal()?))
                } else {
                    None
                };
                self.skip_spaces();
                if !self.eat(')') {
                    return Err("unterminated filter".to_string());
                }
                Step::Filter { path, test }
            }
            _ => {
                let start = self.pos;
                while self.peek().is_some_and(|c| c == '-' || c.is_ascii_digit()) {
                    self.pos += 1;
                }
                let digits: String = self.chars[start..self.pos].iter().collect();
                Step::Index(
                    digits
                        .parse()
                        .map_err(|_| format!("bad index {digits:?}"))?,
                )
            }
        };
        self.skip_spaces();
        if self.eat(']') {
            Ok(step)
        } else {
            Err(format!("expected ] at {}", self.pos))
        }
    }

    fn quoted(&mut self) -> Result<String, String> {
        let quote = self.peek().ok_or("expected a quote")?;
        self.pos += 1;
        let start = self.pos;
        while self.peek().is_some_and(|c| c != quote) {
            self.pos += 1;
        }
        let text = self.chars[start..self.pos].iter().collect();
        if !self.eat(quote) {
            return Err("unterminated string".to_string());
        }
        Ok(text)
    }

    fn literal(&mut self) -> Result<Value, String> {
        self.skip_spaces();
        match self.peek() {
            Some('\'' | '"') => Ok(Value::String(self.quoted()?)),
            _ => {
                let start = self.pos;
                while self.peek().is_some_and(|c| c != ')' && !c.is_whitespace()) {
                    self.pos += 1;
                }
                let word: String = self.chars[start..self.pos].iter().collect();
                serde_json::from_str(&word).map_err(|_| format!("bad literal {word:?}"))
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn finds_ready_condition_fields() {
        let obj = json!({"status": {"conditions": [
            {"type": "Reconciling", "status": "False"},
            {"type": "Ready", "status": "True", "message": "Applied revision: main@sha1:abc"}]},
            "spec": {"url": "https://example", "n": 3}});
        let ready = JsonPath::parse(r#".status.conditions[?(@.type=="Ready")].status"#).unwrap();
        assert_eq!(ready.first(&obj), Some(&json!("True")));
        let message =
            JsonPath::parse(r#"{.status.conditions[?(@.type == 'Ready')].message}"#).unwrap();
        assert_eq!(
            message.first(&obj),
            Some(&json!("Applied revision: main@sha1:abc"))
        );
        assert_eq!(
            JsonPath::parse(".spec.url").unwrap().first(&obj),
            Some(&json!("https://example"))
        );
        assert_eq!(
            JsonPath::parse(".status.conditions[-1].type")
                .unwrap()
                .first(&obj),
            Some(&json!("Ready"))
        );
        assert_eq!(
            JsonPath::parse(".status.conditions[*].type")
                .unwrap()
                .find(&obj)
                .len(),
            2
        );
        assert_eq!(
            JsonPath::parse("['spec']['n']").unwrap().first(&obj),
            Some(&json!(3))
        );
        assert_eq!(JsonPath::parse(".spec.missing").unwrap().first(&obj), None);
        assert!(JsonPath::parse(".a[?(@.x").is_err());
    }
}
