//! The GitHub job summary (`$GITHUB_STEP_SUMMARY`), also used for check runs and PR comments.
//!
//! At most `max_bytes` (GitHub: 1 MiB per step). Sections are built whole, in priority order:
//! headline, problems, failures table, rerun command, flaky tests, slowest tests and shard
//! balance are small and bounded by construction; the failures table and then the collapsible
//! tracebacks share what is left. A list that does not fit ends with an "… and N more" line;
//! nothing is cut inside an element, so the Markdown always stays well-formed.

use super::escape::{html_pre, md_code_spans, md_inline, url_path};
use super::model::{ShardRow, Summary};
use crate::text::{plural, seconds, truncate_bytes};

/// GitHub's limit for one step's job summary.
const JOB_SUMMARY_MAX_BYTES: usize = 1024 * 1024;

/// Where links to source lines point, when the repository and commit are known.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct SourceLinks {
    /// `https://github.com/owner/repo` (server URL + repository).
    pub repo_url: String,
    pub sha: String,
    /// The project folder inside the repository (`sub` when pytest ran in `sub/`), prepended to
    /// the report's project-relative paths.
    pub prefix: Option<String>,
}

impl SourceLinks {
    /// From `GITHUB_SERVER_URL`, `GITHUB_REPOSITORY`, `GITHUB_SHA` (all three needed).
    pub fn from_github(
        server: Option<&str>,
        repo: Option<&str>,
        sha: Option<&str>,
    ) -> Option<Self> {
        let (server, repo, sha) = (server?, repo?, sha?);
        let ok = |s: &str| !s.is_empty() && !s.contains(['\n', '\r', ' ', '"', '<', '>']);
        if !(ok(server) && ok(repo) && ok(sha)) {
            return None;
        }
        Some(SourceLinks {
            repo_url: format!("{}/{}", server.trim_end_matches('/'), repo),
            sha: sha.to_owned(),
            prefix: None,
        })
    }

    /// The link to `file` (relative to the project) at `line`, or `None` for a path that is
    /// absolute or climbs with `..`: it cannot be shown as a file of this repository.
    fn url(&self, file: &str, line: Option<u64>) -> Option<String> {
        let file = file.strip_prefix("./").unwrap_or(file);
        let inside = !file.is_empty()
            && !file.starts_with('/')
            && !file.contains('\\')
            && !file.contains(':')
            && file.split('/').all(|part| part != ".." && part != ".");
        if !inside {
            return None;
        }
        let path = match &self.prefix {
            Some(prefix) => format!("{}/{file}", prefix.trim_end_matches('/')),
            None => file.to_owned(),
        };
        let anchor = line.map(|l| format!("#L{l}")).unwrap_or_default();
        Some(format!(
            "{}/blob/{}/{}{anchor}",
            self.repo_url,
            url_path(&self.sha),
            url_path(&path)
        ))
    }
}

#[derive(Debug, Clone)]
pub struct MarkdownOptions {
    pub max_bytes: usize,
    pub links: Option<SourceLinks>,
    /// The command a developer runs locally, e.g. `python -m pytest`.
    pub pytest_command: String,
}

impl Default for MarkdownOptions {
    fn default() -> Self {
        MarkdownOptions {
            max_bytes: JOB_SUMMARY_MAX_BYTES,
            links: None,
            pytest_command: "python -m pytest".into(),
        }
    }
}

/// Room kept for the "… and N more" line of a list that stops early.
const MORE_LINE: usize = 96;
/// Bytes of one traceback shown in the summary.
const TRACEBACK_BYTES: usize = 20 * 1024;
/// Failures put on the rerun command line.
const RERUN_IDS: usize = 100;

pub fn render(summary: &Summary, opts: &MarkdownOptions) -> String {
    let head = headline(summary);
    let problems = problems(summary) + &notices(summary) + &comparison(summary);
    let rerun = rerun(summary, opts);
    let flaky = flaky(summary);
    let slowest = slowest(summary);
    let balance = balance(summary);
    let quarantine = quarantine_section(summary);
    let coverage = coverage_section(summary);
    let fixed = head.len()
        + problems.len()
        + rerun.len()
        + flaky.len()
        + slowest.len()
        + balance.len()
        + quarantine.len()
        + coverage.len();

    // If even the bounded sections do not fit (a tiny budget), keep them in priority order.
    let mut budget = opts.max_bytes.saturating_sub(fixed);
    let table = failures_table(summary, opts, &mut budget);
    let tracebacks = tracebacks(summary, &mut budget);

    let mut out = String::new();
    for part in [
        &head,
        &problems,
        &quarantine,
        &table,
        &tracebacks,
        &rerun,
        &flaky,
        &coverage,
        &slowest,
        &balance,
    ] {
        if out.len() + part.len() <= opts.max_bytes {
            out.push_str(part);
        }
    }
    out
}

fn headline(s: &Summary) -> String {
    // ⚠️: failing tests that `--fail-on new` does not let fail the job.
    let icon = match (s.green(), s.passes_job()) {
        (true, _) => "✅",
        (false, true) => "⚠️",
        (false, false) => "❌",
    };
    let mut out = format!(
        "## {icon} parallel-pytest: {}\n\n",
        md_inline(&s.headline())
    );
    let t = &s.totals;
    let mut facts = vec![format!(
        "**{} {}**",
        t.tests,
        plural(t.tests, "test", "tests")
    )];
    match (s.shards.only, s.shards.expected, s.workers) {
        (Some(only), _, _) => facts.push(format!("shard {only}")),
        (None, Some(n), Some(w)) => facts.push(format!(
            "{n} {} × {w} {}",
            plural(n.into(), "shard", "shards"),
            plural(w.into(), "worker", "workers")
        )),
        (None, Some(n), None) => facts.push(format!("{n} {}", plural(n.into(), "shard", "shards"))),
        _ => facts.push(format!(
            "{} {}",
            s.files_read,
            plural(s.files_read.into(), "file", "files")
        )),
    }
    if let Some(w) = s.wall_seconds {
        facts.push(format!("wall {}", seconds(w)));
    }
    facts.push(format!("test time {}", seconds(t.seconds)));
    out.push_str(&facts.join(" · "));
    out.push_str("\n\n");
    out
}

fn problems(s: &Summary) -> String {
    if s.problems.is_empty() {
        return String::new();
    }
    let mut out = String::from("### ⚠️ Problems\n\n");
    for p in s.problems.iter().take(50) {
        out.push_str(&format!(
            "- {}\n",
            md_code_spans(&truncate_bytes(&p.message, 1000))
        ));
    }
    if s.problems.len() > 50 {
        out.push_str(&format!("- … and {} more\n", s.problems.len() - 50));
    }
    out.push('\n');
    out
}

fn notices(s: &Summary) -> String {
    if s.notices.is_empty() {
        return String::new();
    }
    let mut out = String::from("### Notices\n\n");
    for n in &s.notices {
        out.push_str(&format!(
            "- {}\n",
            md_code_spans(&truncate_bytes(&n.message, 1000))
        ));
    }
    out.push('\n');
    out
}

/// Lines shown per quarantine list.
const QUARANTINE_SHOWN: usize = 50;

/// Expired entries, quarantined failures and quarantined tests that passed; nothing without a
/// quarantine.
fn quarantine_section(s: &Summary) -> String {
    let q = &s.quarantine;
    if q.is_empty() || (q.failed.is_empty() && q.passed.is_empty() && q.expired.is_empty()) {
        return String::new();
    }
    let mut out = String::from("### 🔒 Quarantine\n\n");
    for line in q.expired_lines() {
        out.push_str(&format!(
            "- ❌ {}\n",
            md_code_spans(&truncate_bytes(&line, 1000))
        ));
    }
    if !q.failed.is_empty() {
        out.push_str(&format!(
            "\n{} (not failing the run):\n\n| test | until | reason | message |\n| --- | --- | --- | --- |\n",
            crate::text::count(q.failed.len() as u64, "quarantined test failed", "quarantined tests failed")
        ));
        for qf in q.failed.iter().take(QUARANTINE_SHOWN) {
            let e = &q.entries[qf.entry];
            out.push_str(&format!(
                "| <code>{}</code> | {} | {} | {} |\n",
                md_inline(&truncate_bytes(&qf.failure.id, 300)),
                e.expires,
                md_inline(&truncate_bytes(&e.reason, 200)),
                md_inline(&truncate_bytes(qf.failure.headline().as_ref(), 300)),
            ));
        }
        if q.failed.len() > QUARANTINE_SHOWN {
            out.push_str(&format!(
                "\n… and {} more\n",
                q.failed.len() - QUARANTINE_SHOWN
            ));
        }
    }
    if !q.passed.is_empty() {
        out.push_str(&format!(
            "\n{} in this run (the entry may go):\n\n",
            crate::text::count(
                q.passed.len() as u64,
                "quarantined test passed",
                "quarantined tests passed"
            )
        ));
        for (id, _) in q.passed.iter().take(QUARANTINE_SHOWN) {
            out.push_str(&format!(
                "- <code>{}</code>\n",
                md_inline(&truncate_bytes(id, 300))
            ));
        }
        if q.passed.len() > QUARANTINE_SHOWN {
            out.push_str(&format!(
                "- … and {} more\n",
                q.passed.len() - QUARANTINE_SHOWN
            ));
        }
    }
    out.push('\n');
    out
}

/// The combined coverage: total and the files with the lowest coverage; nothing without data.
fn coverage_section(s: &Summary) -> String {
    let Some(c) = &s.coverage else {
        return String::new();
    };
    let mut out = format!(
        "### Coverage: {:.2}%\n\n{} of {} statements covered, combined from {}.\n\n",
        c.percent,
        c.covered_lines,
        c.num_statements,
        crate::text::count(c.shards.len() as u64, "shard", "shards"),
    );
    let lowest = c.lowest(super::coverage::LOWEST_SHOWN);
    if !lowest.is_empty() {
        out.push_str("<details><summary>Lowest coverage</summary>\n\n| file | coverage | missing |\n| --- | ---: | ---: |\n");
        for f in lowest {
            out.push_str(&format!(
                "| <code>{}</code> | {:.1}% | {} |\n",
                md_inline(&truncate_bytes(&f.path, 300)),
                f.percent,
                f.missing_lines
            ));
        }
        out.push_str("\n</details>\n\n");
    }
    out
}

/// Node ids shown per list of the comparison; the rest is counted.
const COMPARISON_IDS: usize = 20;

/// "Compared with the base": which failures are new, which were failing already, what was
/// fixed, added, removed or got slower, and the change in time. Bounded: at most
/// [`COMPARISON_IDS`] ids per list, each cut to 500 bytes.
fn comparison(s: &Summary) -> String {
    use super::compare::FailOn;
    let Some(c) = &s.comparison else {
        return String::new();
    };
    let mut out = String::from("### Compared with the base\n\n");
    let run = &c.base.run;
    let mut about = Vec::new();
    if let Some(r) = &run.git_ref {
        about.push(format!("<code>{}</code>", md_inline(r)));
    }
    if let Some(sha) = &run.commit {
        let short: String = sha.chars().take(12).collect();
        about.push(format!("commit <code>{}</code>", md_inline(&short)));
    }
    if let Some(id) = &run.run_id {
        about.push(format!("run {}", md_inline(id)));
    }
    if let Some(date) = &run.date {
        about.push(md_inline(date));
    }
    out.push_str(&format!(
        "Base: {}{} ({}, {} failed).\n\n",
        about.join(", "),
        if about.is_empty() {
            format!(
                "<code>{}</code>",
                md_inline(&truncate_bytes(&c.base.path, 300))
            )
        } else {
            String::new()
        },
        crate::text::count(run.tests, "test", "tests"),
        run.failed + run.errors,
    ));
    if let Some(line) = c.base_incomplete_line() {
        out.push_str(&format!("**⚠️ {}**\n\n", md_inline(&line)));
    }
    let forgiven = s.fail_on_applied() == FailOn::New;
    let lists: [(&[String], &str, &str, &str); 5] = [
        (
            &c.new_failures,
            "new failure",
            "new failures",
            "failing here, passed or absent on the base",
        ),
        (
            &c.still_failing,
            "still failing",
            "still failing",
            if forgiven {
                "also failing on the base; not failing this job because `--fail-on new`"
            } else {
                "also failing on the base"
            },
        ),
        (
            &c.fixed,
            "fixed",
            "fixed",
            "failing on the base, passing here",
        ),
        (&c.new_tests, "new test", "new tests", "not on the base"),
        (
            &c.removed_tests,
            "removed test",
            "removed tests",
            "on the base, not here",
        ),
    ];
    for (ids, one, many, meaning) in lists {
        if ids.is_empty() {
            continue;
        }
        out.push_str(&format!(
            "**{}** ({meaning}):\n\n",
            crate::text::count(ids.len() as u64, one, many)
        ));
        let (shown, more) = super::compare::first(ids, COMPARISON_IDS);
        for id in shown {
            out.push_str(&format!(
                "- <code>{}</code>\n",
                md_inline(&truncate_bytes(id, 500))
            ));
        }
        if more > 0 {
            out.push_str(&format!("- … and {more} more\n"));
        }
        out.push('\n');
    }
    if !c.slower.is_empty() {
        out.push_str(&format!(
            "**{} slower** (at least {}× and {} more than on the base):\n\n",
            c.slower.len(),
            super::compare::SLOWER_RATIO,
            seconds(super::compare::SLOWER_MIN_SECONDS)
        ));
        let (shown, more) = super::compare::first(&c.slower, COMPARISON_IDS);
        for t in shown {
            out.push_str(&format!(
                "- <code>{}</code>: {} → {}\n",
                md_inline(&truncate_bytes(&t.id, 500)),
                seconds(t.base_seconds),
                seconds(t.seconds)
            ));
        }
        if more > 0 {
            out.push_str(&format!("- … and {more} more\n"));
        }
        out.push('\n');
    }
    if [
        &c.new_failures,
        &c.still_failing,
        &c.fixed,
        &c.new_tests,
        &c.removed_tests,
    ]
    .iter()
    .all(|l| l.is_empty())
        && c.slower.is_empty()
    {
        out.push_str("Same tests, same outcomes, none much slower.\n\n");
    }
    let mut times = vec![format!("test time {}", change(c.test_seconds))];
    if let Some(w) = c.wall_seconds {
        times.push(format!("wall {}", change(w)));
    }
    if let Some(cov) = c.coverage_percent {
        times.push(format!("coverage {}", percent_change(cov)));
    }
    out.push_str(&times.join(" · "));
    out.push_str("\n\n");
    out
}

/// `3.20s → 4.10s (+0.90s)`.
pub(super) fn change(c: super::compare::Change) -> String {
    let delta = c.here - c.base;
    let sign = if delta < 0.0 { "−" } else { "+" };
    format!(
        "{} → {} ({sign}{})",
        seconds(c.base),
        seconds(c.here),
        seconds(delta.abs())
    )
}

/// `74.47% → 75.10% (+0.63)`: percentage points.
pub(super) fn percent_change(c: super::compare::Change) -> String {
    let delta = c.here - c.base;
    let sign = if delta < 0.0 { "−" } else { "+" };
    format!("{:.2}% → {:.2}% ({sign}{:.2})", c.base, c.here, delta.abs())
}

fn location_cell(f: &super::model::Failure, links: Option<&SourceLinks>) -> String {
    let Some(file) = &f.file else {
        return String::new();
    };
    let text = match f.line {
        Some(l) => format!("{file}:{l}"),
        None => file.clone(),
    };
    let text = md_inline(&truncate_bytes(&text, 300));
    match links
        .filter(|_| file.len() <= 1000)
        .and_then(|l| l.url(file, f.line))
    {
        Some(url) => format!("[{text}]({url})"),
        None => text,
    }
}

fn failures_table(s: &Summary, opts: &MarkdownOptions, budget: &mut usize) -> String {
    if s.failures.is_empty() {
        return String::new();
    }
    let n = s.failures.len();
    let mut out =
        format!("### Failures ({n})\n\n| Test | Location | Message | Shard |\n|---|---|---|---|\n");
    if out.len() + MORE_LINE > *budget {
        return String::new();
    }
    for (i, f) in s.failures.iter().enumerate() {
        let outcome = if f.crashed_worker.is_some() {
            "💥 "
        } else if f.outcome == crate::junit::Outcome::Error {
            "⚠️ "
        } else {
            ""
        };
        let shard = match (f.shard, f.shard_total) {
            (Some(i), Some(n)) => format!("{i}/{n}"),
            _ => String::new(),
        };
        let row = format!(
            "| {outcome}<code>{}</code> | {} | {} | {shard} |\n",
            md_inline(&truncate_bytes(&f.id, 500)),
            location_cell(f, opts.links.as_ref()),
            md_inline(&truncate_bytes(&f.headline(), 300)),
        );
        if out.len() + row.len() + MORE_LINE > *budget {
            out.push_str(&format!(
                "\n_… and {} more failures (not shown: size limit)_\n",
                n - i
            ));
            break;
        }
        out.push_str(&row);
    }
    out.push('\n');
    *budget = budget.saturating_sub(out.len());
    out
}

fn tracebacks(s: &Summary, budget: &mut usize) -> String {
    let with_text: Vec<_> = s.failures.iter().filter(|f| f.text.is_some()).collect();
    if with_text.is_empty() {
        return String::new();
    }
    let mut out = String::from("### Tracebacks\n\n");
    if out.len() + MORE_LINE > *budget {
        return String::new();
    }
    for (i, f) in with_text.iter().enumerate() {
        let text = f.text.as_deref().unwrap_or("");
        let element = format!(
            "<details><summary><code>{}</code></summary>\n\n<pre>\n{}\n</pre>\n\n</details>\n\n",
            md_inline(&truncate_bytes(&f.id, 500)),
            html_pre(&truncate_bytes(text, TRACEBACK_BYTES)),
        );
        if out.len() + element.len() + MORE_LINE > *budget {
            out.push_str(&format!(
                "_… and {} more tracebacks (not shown: size limit; see the merged JUnit)_\n\n",
                with_text.len() - i
            ));
            break;
        }
        out.push_str(&element);
    }
    *budget = budget.saturating_sub(out.len());
    out
}

fn rerun(s: &Summary, opts: &MarkdownOptions) -> String {
    let ids = s.rerun_ids();
    if ids.is_empty() {
        return String::new();
    }
    let quoted: Vec<String> = ids
        .iter()
        .take(RERUN_IDS)
        .map(|id| {
            shlex::try_quote(&truncate_bytes(id, 500))
                .map(|q| q.into_owned())
                .unwrap_or_else(|_| "''".into())
        })
        .collect();
    let mut out = String::from("### Rerun the failures locally\n\n<pre>\n");
    out.push_str(&html_pre(&format!(
        "{} {}",
        opts.pytest_command,
        quoted.join(" ")
    )));
    out.push_str("\n</pre>\n\n");
    if ids.len() > RERUN_IDS {
        out.push_str(&format!(
            "_(first {RERUN_IDS} of {} failures)_\n\n",
            ids.len()
        ));
    }
    out
}

fn flaky(s: &Summary) -> String {
    if s.flaky.is_empty() {
        return String::new();
    }
    let mut out = format!(
        "### Flaky ({})\n\nPassed on a rerun after failing.\n\n| Test | Attempts | First failure |\n|---|---|---|\n",
        s.flaky.len()
    );
    for f in s.flaky.iter().take(50) {
        out.push_str(&format!(
            "| <code>{}</code> | {} | {} |\n",
            md_inline(&truncate_bytes(&f.id, 500)),
            f.attempts,
            md_inline(&truncate_bytes(
                f.first_failure.as_deref().unwrap_or(""),
                200
            )),
        ));
    }
    if s.flaky.len() > 50 {
        out.push_str(&format!(
            "\n_… and {} more flaky tests_\n",
            s.flaky.len() - 50
        ));
    }
    out.push('\n');
    out
}

fn slowest(s: &Summary) -> String {
    if s.slowest.is_empty() {
        return String::new();
    }
    let mut out = String::from("### Slowest tests\n\n| Test | Time | Shard |\n|---|---:|---|\n");
    for t in &s.slowest {
        out.push_str(&format!(
            "| <code>{}</code> | {} | {} |\n",
            md_inline(&truncate_bytes(&t.id, 500)),
            seconds(t.seconds),
            t.shard.map(|i| i.to_string()).unwrap_or_default()
        ));
    }
    out.push('\n');
    out
}

fn balance(s: &Summary) -> String {
    if s.shard_rows.is_empty() && s.shards.missing.is_empty() {
        return String::new();
    }
    let max = s
        .shard_rows
        .iter()
        .flat_map(|r| [r.predicted_wall(), r.actual_seconds])
        .flatten()
        .fold(0.0_f64, f64::max);
    // CPU and memory columns only when some shard measured them, so reports of plain JUnit
    // files keep their shape.
    let measured = s.shard_rows.iter().any(|r| r.resources.is_some());
    // The error column only when some shard had a prediction with fixed costs, so reports of
    // plain JUnit files and older manifests keep their shape.
    let errors = s.shard_rows.iter().any(|r| r.error_percent.is_some());
    let (error_head, error_rule) = if errors {
        (" Error |", "---:|")
    } else {
        ("", "")
    };
    let mut out = if measured {
        format!(
            "### Shard balance\n\n| Shard | Predicted | Actual |{error_head} | Tests | Failed | Exit | CPU used | Peak memory |\n|---|---:|---:|{error_rule}---|---:|---:|---|---:|---:|\n"
        )
    } else {
        format!(
            "### Shard balance\n\n| Shard | Predicted | Actual |{error_head} | Tests | Failed | Exit |\n|---|---:|---:|{error_rule}---|---:|---:|---|\n"
        )
    };
    let mut rows: Vec<(u32, String)> = s
        .shard_rows
        .iter()
        .take(300)
        .map(|r| (r.index, balance_row(r, measured, errors, max)))
        .collect();
    let total = s.shards.expected.unwrap_or(0);
    let missing_extra = if measured { " | |" } else { "" };
    let error_cell = if errors { " |" } else { "" };
    for &i in s.shards.missing.iter().take(300) {
        rows.push((
            i,
            format!("| {i}/{total} | | |{error_cell} **missing** | | | |{missing_extra}\n"),
        ));
    }
    rows.sort_by_key(|(i, _)| *i);
    for (_, row) in rows {
        out.push_str(&row);
    }
    out.push('\n');
    out.push_str(&resource_advice(s));
    out
}

/// A bar of 20 cells for `v` out of `max`.
fn bar(v: Option<f64>, max: f64) -> String {
    match v {
        Some(v) if max > 0.0 => {
            let n = ((v / max) * 20.0).round() as usize;
            format!("{}{}", "█".repeat(n), "░".repeat(20 - n.min(20)))
        }
        _ => String::new(),
    }
}

/// The predicted wall, marked when it is a guess from test counts or uses default fixed costs.
fn predicted_cell(r: &ShardRow) -> String {
    let marks: Vec<&str> = [
        (r.estimated, "from test counts"),
        (r.wall_estimated, "default start-up"),
    ]
    .into_iter()
    .filter_map(|(on, m)| on.then_some(m))
    .collect();
    match r.predicted_wall() {
        Some(p) if !marks.is_empty() => format!("{} ({})", seconds(p), marks.join(", ")),
        Some(p) => seconds(p),
        None => String::new(),
    }
}

/// `+12.5%`: how far the prediction was from the actual wall.
pub fn error_cell(r: &ShardRow) -> String {
    r.error_percent
        .map(|e| format!("{e:+.1}%"))
        .unwrap_or_default()
}

fn balance_row(r: &ShardRow, measured: bool, errors: bool, max: f64) -> String {
    let exit = match (&r.signal, r.exit_code) {
        (Some(sig), _) => md_inline(sig),
        (None, Some(c)) => c.to_string(),
        (None, None) => String::new(),
    };
    let extra = match (&r.resources, measured) {
        (Some(res), _) => format!(" {} | {} |", res.cpu_cell(), res.memory_cell()),
        (None, true) => " | |".to_string(),
        (None, false) => String::new(),
    };
    let error = if errors {
        format!(" {} |", error_cell(r))
    } else {
        String::new()
    };
    format!(
        "| {}/{} | {} | {} |{error} <code>{}</code> | {} | {} | {exit} |{extra}\n",
        r.index,
        r.total,
        predicted_cell(r),
        r.actual_seconds.map(seconds).unwrap_or_default(),
        bar(r.actual_seconds, max),
        r.tests,
        r.failed,
    )
}

/// Advice is our own text (no test names), one bullet per shard and line.
fn resource_advice(s: &Summary) -> String {
    let advice: Vec<String> = s
        .shard_rows
        .iter()
        .take(300)
        .flat_map(|r| {
            r.resources.iter().flat_map(move |res| {
                res.advice
                    .iter()
                    .map(move |a| format!("- shard {}/{}: {}\n", r.index, r.total, md_inline(a)))
            })
        })
        .collect();
    if advice.is_empty() {
        return String::new();
    }
    let mut out = String::from("**Resource advice**\n\n");
    for line in advice {
        out.push_str(&line);
    }
    out.push('\n');
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::junit::Outcome;
    use crate::report::model::{Failure, Summary};

    fn failures(n: usize, text: usize) -> Summary {
        let mut s = Summary::default();
        for i in 0..n {
            s.failures.push(Failure {
                id: format!("tests/test_{i}.py::test_{i}"),
                file: Some(format!("tests/test_{i}.py")),
                line: Some(i as u64 + 1),
                outcome: Outcome::Failed,
                message: format!("assert {i} | x"),
                shard: Some(1),
                shard_total: Some(2),
                text: Some("E   boom\n".repeat(text / 9)),
                attempts: 1,
                crashed_worker: None,
            });
        }
        s.totals.tests = n as u64;
        s.totals.failed = n as u64;
        s
    }

    #[test]
    fn over_budget_summaries_end_lists_with_a_count_and_stay_well_formed() {
        let s = failures(20_000, 4_000);
        let md = render(&s, &MarkdownOptions::default());
        assert!(md.len() <= JOB_SUMMARY_MAX_BYTES, "{}", md.len());
        // The table is complete up to its "N more" line; tracebacks were crowded out entirely
        // or end with their own count; the rerun command survives (small, bounded).
        assert!(
            md.contains("more failures (not shown: size limit)"),
            "table truncated"
        );
        assert!(md.contains("### Rerun the failures locally"));
        for line in md.lines().filter(|l| l.starts_with("| <code>")) {
            assert_eq!(line.matches('|').count(), 5, "{line}");
        }
        assert_eq!(
            md.matches("<details>").count(),
            md.matches("</details>").count()
        );
        assert_eq!(md.matches("<pre>").count(), md.matches("</pre>").count());
    }

    #[test]
    fn tracebacks_give_way_before_the_table() {
        let s = failures(200, 20_000);
        let md = render(&s, &MarkdownOptions::default());
        assert!(md.len() <= JOB_SUMMARY_MAX_BYTES);
        assert!(!md.contains("more failures (not shown"), "all 200 rows fit");
        assert!(
            md.contains("more tracebacks (not shown: size limit"),
            "tracebacks truncated"
        );
    }

    #[test]
    fn tiny_budgets_never_cut_inside_an_element() {
        let s = failures(50, 1_000);
        for max in [0, 100, 1_000, 5_000, 20_000, 60_000] {
            let md = render(
                &s,
                &MarkdownOptions {
                    max_bytes: max,
                    ..MarkdownOptions::default()
                },
            );
            assert!(md.len() <= max, "{} > {max}", md.len());
            assert_eq!(
                md.matches("<details>").count(),
                md.matches("</details>").count()
            );
            assert_eq!(md.matches("<pre>").count(), md.matches("</pre>").count());
        }
    }

    #[test]
    fn comparison_section_golden() {
        use crate::report::compare::{FailOn, sample_summary};
        let md = comparison(&sample_summary(FailOn::New));
        // 25 new failures: the first 20 are listed, the rest counted.
        assert_eq!(
            md.matches("<code>t.py&#58;&#58;test&#95;new&#95;").count(),
            19
        );
        assert!(md.contains("- … and 5 more\n"), "{md}");
        for raw in [
            "<img",
            "<b>",
            "`code`",
            "\u{1b}",
            "\n::error",
            "@team",
            "<main>",
        ] {
            assert!(!md.contains(raw), "{raw:?} unescaped in\n{md}");
        }
        insta::assert_snapshot!(md);
    }

    #[test]
    fn links_follow_the_project_folder_and_never_leave_the_repository() {
        let mut links =
            SourceLinks::from_github(Some("https://github.com/"), Some("o/r"), Some("abc"))
                .unwrap();
        assert_eq!(
            links.url("tests/x.py", Some(3)).as_deref(),
            Some("https://github.com/o/r/blob/abc/tests/x.py#L3")
        );
        links.prefix = Some("sub".into());
        assert_eq!(
            links.url("./tests/x.py", None).as_deref(),
            Some("https://github.com/o/r/blob/abc/sub/tests/x.py")
        );
        for outside in [
            "../secret.py",
            "tests/../../x.py",
            "/etc/passwd",
            "C:/x.py",
            "a\\b.py",
        ] {
            assert_eq!(links.url(outside, Some(1)), None, "{outside}");
        }
    }
}
