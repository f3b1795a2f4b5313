//! Reading the pytest arguments that change *which files* are collected: positional paths and
//! node ids, `--ignore`, `--ignore-glob`, `-c`/`--config-file`, `--rootdir`, `-o`/`--override-ini`,
//! `--collect-in-virtualenv`, `--deselect` — from the args after `--`, `PYTEST_ADDOPTS` and the
//! config's `addopts`.
//!
//! We cannot ask pytest's argparse which options take a value, so [`VALUE_OPTIONS`] lists those
//! of pytest, pytest-xdist and common plugins; an unknown `--opt value` pair would make `value`
//! look like a path (documented in the README).

/// Options whose value is the next argument when not written `--opt=value`.
const VALUE_OPTIONS: &[&str] = &[
    // pytest
    "-k",
    "-m",
    "-p",
    "-c",
    "-o",
    "-W",
    "-r",
    "--maxfail",
    "--rootdir",
    "--confcutdir",
    "--basetemp",
    "--junitxml",
    "--junit-xml",
    "--junitprefix",
    "--junit-prefix",
    "--deselect",
    "--ignore",
    "--ignore-glob",
    "--config-file",
    "--override-ini",
    "--durations",
    "--durations-min",
    "--log-level",
    "--log-file",
    "--log-file-level",
    "--log-format",
    "--log-date-format",
    "--log-cli-level",
    "--log-cli-format",
    "--log-cli-date-format",
    "--log-file-format",
    "--log-file-date-format",
    "--log-file-mode",
    "--log-disable",
    "--capture",
    "--tb",
    "--show-capture",
    "--import-mode",
    "--assert",
    "--color",
    "--code-highlight",
    "--pastebin",
    "--debugging-plugin",
    "--pdbcls",
    "--rootdir",
    "--doctest-glob",
    "--doctest-report",
    "--last-failed-no-failures",
    "--lfnf",
    "--verbosity",
    "--inifile",
    "--report-log",
    // pytest-xdist
    "-n",
    "--numprocesses",
    "--maxprocesses",
    "--dist",
    "--tx",
    "--rsyncdir",
    "--rsyncignore",
    "--max-worker-restart",
    "--maxschedchunk",
    // pytest-rerunfailures, pytest-timeout, pytest-randomly, pytest-split, pytest-cov
    "--reruns",
    "--reruns-delay",
    "--only-rerun",
    "--rerun-except",
    "--timeout",
    "--timeout-method",
    "--timeout_method",
    "-P",
    "--randomly-seed",
    "--splits",
    "--group",
    "--splitting-algorithm",
    "--durations-path",
    "--store-durations",
    "--cov-report",
    "--cov-config",
    "--cov-fail-under",
    "--cov-context",
];

/// What the args say about collection.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct ParsedArgs {
    /// Positional args (files, folders, node ids), in order.
    pub positional: Vec<String>,
    pub ignore: Vec<String>,
    pub ignore_glob: Vec<String>,
    pub deselect: Vec<String>,
    pub config_file: Option<String>,
    pub rootdir: Option<String>,
    /// `-o key=value` overrides, in order (the last one wins).
    pub overrides: Vec<(String, String)>,
    pub collect_in_virtualenv: bool,
    pub pyargs: bool,
    /// `--doctest-glob` patterns, in order.
    pub doctest_glob: Vec<String>,
    pub doctest_modules: bool,
    /// `-p no:doctest`.
    pub no_doctest: bool,
    /// `-k EXPR` (the last one wins, as with argparse).
    pub keyword_expr: Option<String>,
    /// `-m EXPR` (the last one wins).
    pub mark_expr: Option<String>,
    /// Every arg that is not positional (options and their values), in order.
    pub options: Vec<String>,
}

fn takes_value(opt: &str) -> bool {
    VALUE_OPTIONS.contains(&opt)
}

fn strip_eq(v: String) -> String {
    v.strip_prefix('=').map(str::to_owned).unwrap_or(v)
}

/// Parses pytest args the way pytest's argparse would for the options we care about.
pub fn parse(args: &[String]) -> ParsedArgs {
    let mut out = ParsedArgs::default();
    let mut i = 0;
    let mut only_positional = false;
    while i < args.len() {
        let arg = &args[i];
        i += 1;
        if only_positional || !arg.starts_with('-') || arg == "-" {
            out.positional.push(arg.clone());
            continue;
        }
        if arg == "--" {
            only_positional = true;
            out.options.push(arg.clone());
            continue;
        }
        out.options.push(arg.clone());
        // `--opt=value`, `-kexpr` (short option glued to its value) or `--opt value`.
        let (name, inline): (String, Option<String>) = if let Some((n, v)) = arg.split_once('=')
            && n.starts_with("--")
        {
            (n.to_owned(), Some(v.to_owned()))
        } else if !arg.starts_with("--") && arg.len() > 2 && takes_value(&arg[..2]) {
            (arg[..2].to_owned(), Some(arg[2..].to_owned()))
        } else {
            (arg.clone(), None)
        };
        let value = match inline {
            Some(v) => Some(v),
            None if takes_value(&name) => {
                let v = args.get(i).cloned();
                if let Some(v) = &v {
                    out.options.push(v.clone());
                    i += 1;
                }
                v
            }
            None => None,
        };
        match (name.as_str(), value) {
            ("--ignore", Some(v)) => out.ignore.push(v),
            ("--ignore-glob", Some(v)) => out.ignore_glob.push(v),
            ("--deselect", Some(v)) => out.deselect.push(v),
            ("-c" | "--config-file" | "--inifile", Some(v)) => out.config_file = Some(v),
            ("--rootdir", Some(v)) => out.rootdir = Some(v),
            ("-o" | "--override-ini", Some(v)) => {
                if let Some((k, val)) = v.split_once('=') {
                    out.overrides.push((k.to_owned(), val.to_owned()));
                }
            }
            ("--collect-in-virtualenv", _) => out.collect_in_virtualenv = true,
            ("--pyargs", _) => out.pyargs = true,
            ("--doctest-glob", Some(v)) => out.doctest_glob.push(v),
            ("--doctest-modules", _) => out.doctest_modules = true,
            ("-p", Some(v)) if v == "no:doctest" => out.no_doctest = true,
            // argparse reads `-k=expr` as `expr`.
            ("-k", Some(v)) => out.keyword_expr = Some(strip_eq(v)),
            ("-m", Some(v)) => out.mark_expr = Some(strip_eq(v)),
            _ => {}
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    fn v(s: &str) -> Vec<String> {
        shlex::split(s).unwrap()
    }

    #[test]
    fn options_values_and_positionals() {
        let p = parse(&v(
            "-k 'slow and not db' tests/unit --ignore=tests/unit/x -n4 --ignore-glob '*_old.py' -o python_files=check_*.py -x tests/test_a.py::test_b -mfast",
        ));
        assert_eq!(p.positional, vec!["tests/unit", "tests/test_a.py::test_b"]);
        assert_eq!(p.ignore, vec!["tests/unit/x"]);
        assert_eq!(p.ignore_glob, vec!["*_old.py"]);
        assert_eq!(
            p.overrides,
            vec![("python_files".to_owned(), "check_*.py".to_owned())]
        );
        assert!(p.options.contains(&"slow and not db".to_owned()));
        assert_eq!(p.keyword_expr.as_deref(), Some("slow and not db"));
        assert_eq!(p.mark_expr.as_deref(), Some("fast"));
        let p = parse(&v("-m slow -m 'not slow' -k=login"));
        assert_eq!(p.mark_expr.as_deref(), Some("not slow"));
        assert_eq!(p.keyword_expr.as_deref(), Some("login"));
    }

    #[test]
    fn rootdir_and_config() {
        let p = parse(&v("--rootdir=/x -c cfg/pytest.ini --collect-in-virtualenv"));
        assert_eq!(p.rootdir.as_deref(), Some("/x"));
        assert_eq!(p.config_file.as_deref(), Some("cfg/pytest.ini"));
        assert!(p.collect_in_virtualenv);
        assert!(p.positional.is_empty());
    }

    #[test]
    fn doctest_options() {
        let p = parse(&v(
            "--doctest-glob '*.rst' --doctest-glob=doc*.md --doctest-modules -pno:doctest x",
        ));
        assert_eq!(p.doctest_glob, vec!["*.rst", "doc*.md"]);
        assert!(p.doctest_modules && p.no_doctest);
        assert_eq!(p.positional, vec!["x"]);
        let p = parse(&v("-p no:cacheprovider"));
        assert!(!p.no_doctest && !p.doctest_modules && p.doctest_glob.is_empty());
    }
}
