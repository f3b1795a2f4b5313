//! A port of `iniconfig`, the INI parser pytest itself uses for `pytest.ini`, `tox.ini` and
//! `setup.cfg`.
//!
//! Why not an INI crate: `rust-ini` and `configparser` differ from iniconfig in exactly the
//! places pytest configs rely on (indented continuation lines joined with `\n`, `key: value`,
//! case-sensitive keys, no interpolation, duplicate keys being an error, no inline comments).
//! A faithful 80-line port answers the way pytest does; a crate would need the same amount of
//! glue and still disagree on edge cases.

use std::collections::BTreeMap;

/// Sections in file order are not needed: pytest looks sections up by name.
#[derive(Debug, Default, Clone, PartialEq)]
pub struct Ini {
    pub sections: BTreeMap<String, BTreeMap<String, String>>,
}

/// A parse error with a 1-based line number.
#[derive(Debug, Clone, PartialEq, thiserror::Error)]
#[error("line {line}: {message}")]
pub struct IniError {
    pub line: usize,
    pub message: String,
}

impl Ini {
    pub fn section(&self, name: &str) -> Option<&BTreeMap<String, String>> {
        self.sections.get(name)
    }
}

enum Parsed {
    Blank,
    Section(String),
    Value(String, String),
    Continuation(String),
}

fn parse_line(line: &str, lineno: usize) -> Result<Parsed, IniError> {
    let trimmed_start = line.trim_start();
    if trimmed_start.starts_with('#') || trimmed_start.starts_with(';') {
        return Ok(Parsed::Blank);
    }
    let line = line.trim_end();
    if line.is_empty() {
        return Ok(Parsed::Blank);
    }
    let first = line.chars().next().unwrap_or(' ');
    if first == '[' {
        let mut head = line;
        for c in ['#', ';'] {
            head = head.split(c).next().unwrap_or("").trim_end();
        }
        if let Some(name) = head.strip_prefix('[').and_then(|h| h.strip_suffix(']')) {
            return Ok(Parsed::Section(name.to_owned()));
        }
        return Ok(Parsed::Continuation(line.trim().to_owned()));
    }
    if !first.is_whitespace() {
        let split = match line.split_once('=') {
            Some((name, value)) if !name.contains(':') => Some((name, value)),
            _ => line.split_once(':'),
        };
        return match split {
            Some((name, value)) => Ok(Parsed::Value(
                name.trim().to_owned(),
                value.trim().to_owned(),
            )),
            None => Err(IniError {
                line: lineno,
                message: format!("unexpected line: `{line}`"),
            }),
        };
    }
    Ok(Parsed::Continuation(line.trim().to_owned()))
}

/// Parse INI text as iniconfig does (values of continued keys are joined with `\n`).
pub fn parse(text: &str) -> Result<Ini, IniError> {
    let text = text.strip_prefix('\u{feff}').unwrap_or(text);
    let mut ini = Ini::default();
    let mut section: Option<String> = None;
    // (section, key, parts) of the value being continued.
    let mut current: Option<(String, String, Vec<String>)> = None;
    let flush = |ini: &mut Ini, current: &mut Option<(String, String, Vec<String>)>| {
        if let Some((s, k, parts)) = current.take() {
            ini.sections
                .entry(s)
                .or_default()
                .insert(k, parts.join("\n"));
        }
    };
    for (index, line) in text.lines().enumerate() {
        let lineno = index + 1;
        match parse_line(line, lineno)? {
            Parsed::Blank => {}
            Parsed::Section(name) => {
                flush(&mut ini, &mut current);
                if name.is_empty() {
                    return Err(IniError {
                        line: lineno,
                        message: "empty section name".into(),
                    });
                }
                if ini.sections.contains_key(&name) {
                    return Err(IniError {
                        line: lineno,
                        message: format!("duplicate section `{name}`"),
                    });
                }
                ini.sections.insert(name.clone(), BTreeMap::new());
                section = Some(name);
            }
            Parsed::Value(key, value) => {
                flush(&mut ini, &mut current);
                let Some(s) = section.clone() else {
                    return Err(IniError {
                        line: lineno,
                        message: "no section header defined".into(),
                    });
                };
                if ini.sections.get(&s).is_some_and(|m| m.contains_key(&key)) {
                    return Err(IniError {
                        line: lineno,
                        message: format!("duplicate name `{key}`"),
                    });
                }
                let parts = if value.is_empty() {
                    vec![]
                } else {
                    vec![value]
                };
                current = Some((s, key, parts));
            }
            Parsed::Continuation(data) => match current.as_mut() {
                Some((_, _, parts)) => parts.push(data),
                None => {
                    return Err(IniError {
                        line: lineno,
                        message: "unexpected value continuation".into(),
                    });
                }
            },
        }
    }
    flush(&mut ini, &mut current);
    Ok(ini)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn continuation_and_colon() {
        let ini = parse(
            "# c\n[pytest]\ntestpaths =\n    tests\n    integration\npython_files: check_*.py\n\n[other]\nx=1\n",
        )
        .unwrap();
        let p = ini.section("pytest").unwrap();
        assert_eq!(p["testpaths"], "tests\nintegration");
        assert_eq!(p["python_files"], "check_*.py");
        assert_eq!(ini.section("other").unwrap()["x"], "1");
    }

    #[test]
    fn errors_name_the_line() {
        assert_eq!(parse("x = 1\n").unwrap_err().line, 1);
        assert_eq!(parse("[a]\n[a]\n").unwrap_err().line, 2);
        assert_eq!(parse("[a]\nnot a pair\n").unwrap_err().line, 2);
        assert_eq!(parse("[a]\n  cont\n").unwrap_err().line, 2);
    }

    #[test]
    fn section_with_comment() {
        let ini = parse("[tool:pytest] # here\naddopts = -q # not stripped\n").unwrap();
        assert_eq!(
            ini.section("tool:pytest").unwrap()["addopts"],
            "-q # not stripped"
        );
    }
}
