//! pytest's match expressions (`-k` and `-m`), parsed and evaluated without Python, so the plan
//! can leave out of the balance the stored tests a filter will deselect.
//!
//! The grammar is pytest's (`_pytest/mark/expression.py`):
//!
//! ```text
//! expression: expr? EOF
//! expr:       and_expr ('or' and_expr)*
//! and_expr:   not_expr ('and' not_expr)*
//! not_expr:   'not' not_expr | '(' expr ')' | ident kwargs?
//! ident:      (\w|:|\+|-|\.|\[|\]|\\|/)+
//! kwargs:     '(' name '=' value (',' name '=' value)* ')'
//! value:      'string' | "string" | (-)?[0-9]+ | True | False | None
//! ```
//!
//! An empty expression is false (pytest never evaluates one: an empty `-k`/`-m` filters
//! nothing). Evaluation is three-valued: a matcher may answer "cannot tell" (`None`), and
//! `and`/`or`/`not` follow Kleene's logic, so "unknown" survives exactly as far as it could
//! change the answer. Callers keep a test unless the answer is a definite `false`.

use std::fmt;

/// A keyword argument value of a marker call, as written (`'x'` without its quotes, `3`, `True`).
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Value {
    Str(String),
    Int(String),
    Bool(bool),
    None,
}

/// Answers for one identifier (with its call arguments, if any): `None` when it cannot tell.
pub type Matcher<'a> = dyn Fn(&str, Option<&[(String, Value)]>) -> Option<bool> + 'a;

#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Expr {
    /// The empty expression.
    Empty,
    Ident {
        name: String,
        /// `Some` for `name(k=v, ...)`.
        kwargs: Option<Vec<(String, Value)>>,
    },
    Not(Box<Expr>),
    And(Box<Expr>, Box<Expr>),
    Or(Box<Expr>, Box<Expr>),
}

/// Where and why an expression is not one pytest accepts (`column` is 1-based, as pytest says).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ParseError {
    pub column: usize,
    pub message: String,
}

impl fmt::Display for ParseError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "at column {}: {}", self.column, self.message)
    }
}

impl std::error::Error for ParseError {}

#[derive(Debug, Clone, PartialEq)]
enum Tok {
    LParen,
    RParen,
    Or,
    And,
    Not,
    Ident(String),
    Equal,
    Str(String),
    Comma,
    Eof,
}

impl Tok {
    fn describe(&self) -> &'static str {
        match self {
            Tok::LParen => "left parenthesis",
            Tok::RParen => "right parenthesis",
            Tok::Or => "or",
            Tok::And => "and",
            Tok::Not => "not",
            Tok::Ident(_) => "identifier",
            Tok::Equal => "=",
            Tok::Str(_) => "string literal",
            Tok::Comma => ",",
            Tok::Eof => "end of input",
        }
    }
}

/// A character of an identifier: Python's `\w` (letters, digits, `_`) or one of `:+-.[]\/`.
fn ident_char(c: char) -> bool {
    c.is_alphanumeric() || matches!(c, '_' | ':' | '+' | '-' | '.' | '[' | ']' | '\\' | '/')
}

/// Tokens with their 1-based column (in characters, as Python counts).
fn lex(input: &str) -> Result<Vec<(Tok, usize)>, ParseError> {
    let chars: Vec<char> = input.chars().collect();
    let mut out = Vec::new();
    let mut pos = 0;
    while pos < chars.len() {
        let c = chars[pos];
        let column = pos + 1;
        let single = match c {
            ' ' | '\t' => {
                pos += 1;
                continue;
            }
            '(' => Some(Tok::LParen),
            ')' => Some(Tok::RParen),
            '=' => Some(Tok::Equal),
            ',' => Some(Tok::Comma),
            _ => None,
        };
        if let Some(tok) = single {
            out.push((tok, column));
            pos += 1;
        } else if c == '\'' || c == '"' {
            let Some(len) = chars[pos + 1..].iter().position(|&q| q == c) else {
                return Err(ParseError {
                    column,
                    message: format!("closing quote \"{c}\" is missing"),
                });
            };
            let body: String = chars[pos + 1..pos + 1 + len].iter().collect();
            if let Some(at) = body.find('\\') {
                return Err(ParseError {
                    column: column + 1 + body[..at].chars().count(),
                    message: "escaping with \"\\\" not supported in marker expression".into(),
                });
            }
            out.push((Tok::Str(body), column));
            pos += len + 2;
        } else if ident_char(c) {
            let len = chars[pos..].iter().take_while(|&&c| ident_char(c)).count();
            let word: String = chars[pos..pos + len].iter().collect();
            let tok = match word.as_str() {
                "or" => Tok::Or,
                "and" => Tok::And,
                "not" => Tok::Not,
                _ => Tok::Ident(word),
            };
            out.push((tok, column));
            pos += len;
        } else {
            return Err(ParseError {
                column,
                message: format!("unexpected character \"{c}\""),
            });
        }
    }
    out.push((Tok::Eof, chars.len() + 1));
    Ok(out)
}

struct Parser {
    tokens: Vec<(Tok, usize)>,
    at: usize,
}

impl Parser {
    fn peek(&self) -> &(Tok, usize) {
        // `lex` always ends with `Eof`, and `Eof` is never consumed.
        &self.tokens[self.at.min(self.tokens.len() - 1)]
    }

    fn accept(&mut self, tok: &Tok) -> bool {
        let same = std::mem::discriminant(&self.peek().0) == std::mem::discriminant(tok);
        if same && self.peek().0 != Tok::Eof {
            self.at += 1;
        }
        same
    }

    fn reject(&self, expected: &[Tok]) -> ParseError {
        let (got, column) = self.peek();
        let names: Vec<&str> = expected.iter().map(Tok::describe).collect();
        ParseError {
            column: *column,
            message: format!("expected {}; got {}", names.join(" OR "), got.describe()),
        }
    }

    fn expect(&mut self, tok: Tok) -> Result<(), ParseError> {
        if self.accept(&tok) {
            Ok(())
        } else {
            Err(self.reject(&[tok]))
        }
    }

    fn ident(&mut self) -> Option<(String, usize)> {
        match self.peek().clone() {
            (Tok::Ident(name), column) => {
                self.at += 1;
                Some((name, column))
            }
            _ => None,
        }
    }

    fn expr(&mut self) -> Result<Expr, ParseError> {
        let mut left = self.and_expr()?;
        while self.accept(&Tok::Or) {
            left = Expr::Or(Box::new(left), Box::new(self.and_expr()?));
        }
        Ok(left)
    }

    fn and_expr(&mut self) -> Result<Expr, ParseError> {
        let mut left = self.not_expr()?;
        while self.accept(&Tok::And) {
            left = Expr::And(Box::new(left), Box::new(self.not_expr()?));
        }
        Ok(left)
    }

    fn not_expr(&mut self) -> Result<Expr, ParseError> {
        if self.accept(&Tok::Not) {
            return Ok(Expr::Not(Box::new(self.not_expr()?)));
        }
        if self.accept(&Tok::LParen) {
            let inner = self.expr()?;
            self.expect(Tok::RParen)?;
            return Ok(inner);
        }
        let Some((name, _)) = self.ident() else {
            return Err(self.reject(&[Tok::Not, Tok::LParen, Tok::Ident(String::new())]));
        };
        let kwargs = if self.accept(&Tok::LParen) {
            let mut kwargs = vec![self.kwarg()?];
            while self.accept(&Tok::Comma) {
                kwargs.push(self.kwarg()?);
            }
            self.expect(Tok::RParen)?;
            Some(kwargs)
        } else {
            None
        };
        Ok(Expr::Ident { name, kwargs })
    }

    fn kwarg(&mut self) -> Result<(String, Value), ParseError> {
        let Some((name, column)) = self.ident() else {
            return Err(self.reject(&[Tok::Ident(String::new())]));
        };
        if !is_python_identifier(&name) {
            return Err(ParseError {
                column,
                message: format!("not a valid python identifier {name}"),
            });
        }
        if PYTHON_KEYWORDS.contains(&name.as_str()) {
            return Err(ParseError {
                column,
                message: format!("unexpected reserved python keyword `{name}`"),
            });
        }
        self.expect(Tok::Equal)?;
        if let (Tok::Str(s), _) = self.peek().clone() {
            self.at += 1;
            return Ok((name, Value::Str(s)));
        }
        let Some((word, column)) = self.ident() else {
            return Err(self.reject(&[Tok::Ident(String::new())]));
        };
        let digits = word.strip_prefix('-').unwrap_or(&word);
        let value = if !digits.is_empty() && digits.chars().all(|c| c.is_ascii_digit()) {
            Value::Int(word)
        } else {
            match word.as_str() {
                "True" => Value::Bool(true),
                "False" => Value::Bool(false),
                "None" => Value::None,
                _ => {
                    return Err(ParseError {
                        column,
                        message: format!("unexpected character/s \"{word}\""),
                    });
                }
            }
        };
        Ok((name, value))
    }
}

const PYTHON_KEYWORDS: &[&str] = &[
    "False", "None", "True", "and", "as", "assert", "async", "await", "break", "class", "continue",
    "def", "del", "elif", "else", "except", "finally", "for", "from", "global", "if", "import",
    "in", "is", "lambda", "nonlocal", "not", "or", "pass", "raise", "return", "try", "while",
    "with", "yield",
];

fn is_python_identifier(s: &str) -> bool {
    let mut chars = s.chars();
    chars.next().is_some_and(|c| c.is_alphabetic() || c == '_')
        && chars.all(|c| c.is_alphanumeric() || c == '_')
}

/// Parses `input` as pytest would (`-k`/`-m`); an error says where, as pytest does.
pub fn parse(input: &str) -> Result<Expr, ParseError> {
    let mut p = Parser {
        tokens: lex(input)?,
        at: 0,
    };
    if p.peek().0 == Tok::Eof {
        return Ok(Expr::Empty);
    }
    let e = p.expr()?;
    p.expect(Tok::Eof)?;
    Ok(e)
}

impl Expr {
    /// Three-valued evaluation: `matcher(name, kwargs)` answers for one identifier, `None` when
    /// it cannot tell; `and`/`or`/`not` keep `None` only where it could change the result.
    pub fn evaluate(&self, matcher: &Matcher<'_>) -> Option<bool> {
        match self {
            Expr::Empty => Some(false),
            Expr::Ident { name, kwargs } => matcher(name, kwargs.as_deref()),
            Expr::Not(e) => e.evaluate(matcher).map(|b| !b),
            Expr::And(a, b) => match (a.evaluate(matcher), b.evaluate(matcher)) {
                (Some(false), _) | (_, Some(false)) => Some(false),
                (Some(true), Some(true)) => Some(true),
                _ => None,
            },
            Expr::Or(a, b) => match (a.evaluate(matcher), b.evaluate(matcher)) {
                (Some(true), _) | (_, Some(true)) => Some(true),
                (Some(false), Some(false)) => Some(false),
                _ => None,
            },
        }
    }

    /// `-k`: an identifier matches when it is a case-insensitive substring of any of the
    /// test's keyword names (its own name, its parents', its markers', extra keywords).
    /// pytest refuses call arguments in `-k` (a usage error): we cannot tell.
    pub fn matches_keywords(&self, keywords: &[String]) -> Option<bool> {
        let lower: Vec<String> = keywords.iter().map(|k| k.to_lowercase()).collect();
        self.evaluate(&|name, kwargs| {
            if kwargs.is_some() {
                return None;
            }
            let name = name.to_lowercase();
            Some(lower.iter().any(|k| k.contains(&name)))
        })
    }

    /// `-m`: an identifier matches a marker name exactly. `marker(k=v)` needs the marker's
    /// arguments, which the store does not keep: without the marker it is false, with it we
    /// cannot tell.
    pub fn matches_markers(&self, markers: &[String]) -> Option<bool> {
        self.evaluate(&|name, kwargs| {
            let has = markers.iter().any(|m| m == name);
            match (has, kwargs) {
                (false, _) => Some(false),
                (true, None) => Some(true),
                (true, Some(_)) => None,
            }
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    /// pytest's own examples evaluate with a matcher that knows only `true`.
    fn eval(input: &str) -> bool {
        parse(input)
            .unwrap()
            .evaluate(&|name, _| Some(name == "true"))
            .unwrap()
    }

    #[test]
    fn empty_is_false() {
        for input in ["", "   ", "\t"] {
            assert_eq!(parse(input), Ok(Expr::Empty));
            assert!(!eval(input));
        }
    }

    #[test]
    fn basic_boolean_logic_as_pytest_tests_it() {
        for (input, expected) in [
            ("true", true),
            ("false", false),
            ("not true", false),
            ("not false", true),
            ("not not true", true),
            ("not not false", false),
            ("true and true", true),
            ("true and false", false),
            ("false and true", false),
            ("true and true and true", true),
            ("true and true and false", false),
            ("true and true and not true", false),
            ("false or false", false),
            ("false or true", true),
            ("true or true", true),
            ("true or true or false", true),
            ("true and true or false", true),
            ("not true or true", true),
            ("(not true) or true", true),
            ("not (true or true)", false),
            ("true and true or false and false", true),
            ("true and (true or false) and false", false),
            ("true and (true or (not (not false))) and false", false),
        ] {
            assert_eq!(eval(input), expected, "{input}");
        }
    }

    #[test]
    fn syntax_oddities_pytest_accepts() {
        for (input, expected) in [
            ("               true           ", true),
            ("               ((((((true))))))           ", true),
            ("     (         ((\t  (((true)))))  \t   \t)", true),
            ("(     true     and   (((false))))", false),
            ("not not not not true", true),
            ("not not not not not true", false),
        ] {
            assert_eq!(eval(input), expected, "{input}");
        }
    }

    #[test]
    fn syntax_errors_name_the_column_as_pytest_does() {
        for (input, column, message) in [
            (
                "(",
                2,
                "expected not OR left parenthesis OR identifier; got end of input",
            ),
            (
                " (",
                3,
                "expected not OR left parenthesis OR identifier; got end of input",
            ),
            (
                ")",
                1,
                "expected not OR left parenthesis OR identifier; got right parenthesis",
            ),
            (
                ") ",
                1,
                "expected not OR left parenthesis OR identifier; got right parenthesis",
            ),
            (
                "not",
                4,
                "expected not OR left parenthesis OR identifier; got end of input",
            ),
            (
                "not not",
                8,
                "expected not OR left parenthesis OR identifier; got end of input",
            ),
            (
                "(not)",
                5,
                "expected not OR left parenthesis OR identifier; got right parenthesis",
            ),
            (
                "and",
                1,
                "expected not OR left parenthesis OR identifier; got and",
            ),
            (
                "ident and",
                10,
                "expected not OR left parenthesis OR identifier; got end of input",
            ),
            (
                "ident and or",
                11,
                "expected not OR left parenthesis OR identifier; got or",
            ),
            ("ident ident", 7, "expected end of input; got identifier"),
            ("ident ;", 7, "unexpected character \";\""),
            ("ident (", 8, "expected identifier; got end of input"),
        ] {
            let err = parse(input).unwrap_err();
            assert_eq!(
                (err.column, err.message.as_str()),
                (column, message),
                "{input}"
            );
        }
    }

    #[test]
    fn identifiers_pytest_accepts() {
        for ident in [
            ".",
            "...",
            ":::",
            "a:::c",
            "a+-b",
            "אבגד",
            "aaאבגדcc",
            "a[bcd]",
            "1234",
            "1234abcd",
            "1234and",
            "1234or",
            "1234not",
            "notandor",
            "not_and_or",
            "not[and]or",
            "1234+5678",
            "123.232",
            "True",
            "False",
            "None",
            "if",
            "else",
            "while",
            "a\\b",
            "a/b",
            "a/b/c",
        ] {
            assert!(
                parse(ident)
                    .unwrap()
                    .evaluate(&|name, _| Some(name == ident))
                    .unwrap(),
                "{ident}"
            );
        }
        for bad in [
            "^", "*", "=", "&", "%", "$", "#", "@", "!", "~", "{", "}", "\"", "'", "|", ";", "←",
        ] {
            assert!(parse(bad).is_err(), "{bad}");
        }
    }

    #[test]
    fn marker_calls_parse_and_reject_as_pytest_does() {
        let e = parse("slow(reason='x', n=-3, on=True, off=None)").unwrap();
        assert_eq!(
            e,
            Expr::Ident {
                name: "slow".into(),
                kwargs: Some(vec![
                    ("reason".into(), Value::Str("x".into())),
                    ("n".into(), Value::Int("-3".into())),
                    ("on".into(), Value::Bool(true)),
                    ("off".into(), Value::None),
                ])
            }
        );
        for bad in [
            "mark(True=False)",
            "mark(def=False)",
            "mark(1=2)",
            "mark(a=b)",
            "mark(a='unclosed)",
            "mark(a='\\x')",
            "mark(a=1",
        ] {
            assert!(parse(bad).is_err(), "{bad}");
        }
    }

    #[test]
    fn keywords_match_case_insensitive_substrings() {
        let kw: Vec<String> = ["test_Login_fast", "test_auth.py", "tests", "TestUser", "db"]
            .map(String::from)
            .to_vec();
        let m = |e: &str| parse(e).unwrap().matches_keywords(&kw);
        assert_eq!(m("login"), Some(true));
        assert_eq!(m("LOGIN and not slow"), Some(true));
        assert_eq!(m("auth.py"), Some(true));
        assert_eq!(m("testuser and db"), Some(true));
        assert_eq!(m("slow"), Some(false));
        assert_eq!(m("not db"), Some(false));
        assert_eq!(m("x(a=1)"), None);
    }

    #[test]
    fn markers_match_names_exactly_and_calls_are_unknown_only_when_present() {
        let mk: Vec<String> = vec!["slow".into(), "db".into()];
        let m = |e: &str| parse(e).unwrap().matches_markers(&mk);
        assert_eq!(m("slow"), Some(true));
        assert_eq!(m("slo"), Some(false));
        assert_eq!(m("SLOW"), Some(false));
        assert_eq!(m("not slow"), Some(false));
        assert_eq!(m("slow(x=1)"), None);
        assert_eq!(m("not slow(x=1)"), None);
        assert_eq!(m("fast(x=1)"), Some(false));
        assert_eq!(m("slow(x=1) and fast"), Some(false));
        assert_eq!(m("slow(x=1) or db"), Some(true));
    }

    fn arb_expr() -> impl Strategy<Value = Expr> {
        let leaf =
            prop_oneof![Just("true"), Just("false"), Just("t"), Just("unknown")].prop_map(|n| {
                Expr::Ident {
                    name: n.into(),
                    kwargs: None,
                }
            });
        leaf.prop_recursive(5, 32, 2, |inner| {
            prop_oneof![
                inner.clone().prop_map(|e| Expr::Not(Box::new(e))),
                (inner.clone(), inner.clone())
                    .prop_map(|(a, b)| Expr::And(Box::new(a), Box::new(b))),
                (inner.clone(), inner).prop_map(|(a, b)| Expr::Or(Box::new(a), Box::new(b))),
            ]
        })
    }

    /// Fully parenthesised text of an expression.
    fn show(e: &Expr) -> String {
        match e {
            Expr::Empty => String::new(),
            Expr::Ident { name, .. } => name.clone(),
            Expr::Not(a) => format!("not ({})", show(a)),
            Expr::And(a, b) => format!("({}) and ({})", show(a), show(b)),
            Expr::Or(a, b) => format!("({}) or ({})", show(a), show(b)),
        }
    }

    /// Plain two-valued truth, as Python's `eval` computes it.
    fn truth(e: &Expr, unknown: bool) -> bool {
        match e {
            Expr::Empty => false,
            Expr::Ident { name, .. } => match name.as_str() {
                "true" | "t" => true,
                "unknown" => unknown,
                _ => false,
            },
            Expr::Not(a) => !truth(a, unknown),
            Expr::And(a, b) => truth(a, unknown) && truth(b, unknown),
            Expr::Or(a, b) => truth(a, unknown) || truth(b, unknown),
        }
    }

    proptest! {
        /// Printing and parsing again gives the same tree and the same truth.
        #[test]
        fn round_trip(e in arb_expr()) {
            let again = parse(&show(&e)).unwrap();
            prop_assert_eq!(truth(&again, false), truth(&e, false));
            prop_assert_eq!(show(&again), show(&e));
        }

        /// `and` binds tighter than `or`, `not` tighter than both, as in Python.
        #[test]
        fn precedence_matches_python(a in any::<bool>(), b in any::<bool>(), c in any::<bool>(), na in any::<bool>()) {
            let w = |x: bool| if x { "true" } else { "false" };
            let n = if na { "not " } else { "" };
            let text = format!("{n}{} or {} and {}", w(a), w(b), w(c));
            let python = (a != na) || (b && c);
            prop_assert_eq!(eval(&text), python);
        }

        /// Three-valued evaluation never contradicts either way the unknown could fall (so a
        /// test it calls deselected is deselected whatever the unknown is), and it is definite
        /// whenever the unknown does not occur.
        #[test]
        fn unknown_is_sound(e in arb_expr()) {
            let three = e.evaluate(&|name, _| match name {
                "true" | "t" => Some(true),
                "unknown" => None,
                _ => Some(false),
            });
            let (f, t) = (truth(&e, false), truth(&e, true));
            match three {
                Some(v) => { prop_assert_eq!(v, f); prop_assert_eq!(v, t); }
                None => prop_assert!(show(&e).contains("unknown")),
            }
        }
    }
}
