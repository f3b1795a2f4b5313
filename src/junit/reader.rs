//! Streaming JUnit reader on `quick-xml`: one pass, one testcase at a time, bounded memory.
//!
//! What it accepts: `<testsuites>` or a bare `<testsuite>` root (any namespace prefix), suites
//! nested to any depth up to `Limits::max_depth`, CDATA, a UTF-8 BOM, CRLF, invalid UTF-8
//! (replaced by U+FFFD), and odd `time` values (see [`parse_seconds`]).
//!
//! What it refuses: a DTD is never processed and entities are never expanded (an unknown
//! `&name;` stays literal text), so XXE payloads are inert. A file whose root element is not a
//! JUnit element is a [`ReadError::NotJunit`]; an empty or non-XML file is a [`ReadError`] too.
//!
//! When a JUnit file breaks part-way (truncated upload, killed writer, malformed XML, limits
//! exceeded), every testcase that was complete before the break is kept and the file is marked
//! [`FileReport::truncated`] with the reason and byte offset: the report turns red instead of
//! silently dropping the rest (DESIGN.md invariant 5).

use std::io::{BufRead, BufReader, Read};
use std::path::Path;

use quick_xml::Reader;
use quick_xml::events::{BytesStart, Event};

use super::model::{Outcome, TestCase};
use crate::text::floor_char_boundary;

/// Bounds that keep memory and time flat whatever the input.
#[derive(Debug, Clone, Copy)]
pub struct Limits {
    /// Bytes read from one file; the rest is ignored and the file reported as truncated.
    pub max_file_bytes: u64,
    /// Element nesting depth; deeper input stops the read (reported as truncated).
    pub max_depth: usize,
    /// Bytes of a failure/error/skipped text kept per testcase (its start and end; the middle
    /// is counted and dropped).
    pub max_text_bytes: usize,
    /// Bytes of a `message` attribute kept per testcase.
    pub max_message_bytes: usize,
    /// Bytes of a testcase's `name`, `classname` or `file` attribute: a longer one becomes a
    /// short, unique stand-in carrying [`CUT_MARK`] (the test still counts).
    pub max_id_bytes: usize,
}

/// Marks an attribute that was over [`Limits::max_id_bytes`]: such an id is shown but never
/// stored in the timings (it names no real test).
pub const CUT_MARK: &str = "…[cut: ";

impl Default for Limits {
    fn default() -> Self {
        Limits {
            max_file_bytes: 1 << 30,
            max_depth: 64,
            max_text_bytes: 16 * 1024,
            max_message_bytes: 4 * 1024,
            max_id_bytes: 4 * 1024,
        }
    }
}

/// What one file yielded.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct FileReport {
    pub cases: Vec<TestCase>,
    /// `Some(reason)` when the read stopped early; `cases` holds the complete testcases before it.
    pub truncated: Option<String>,
    /// Wall time the file declares: the root `<testsuites time>` or the sum of top-level suites'.
    pub declared_seconds: Option<f64>,
    /// `<testsuite>` elements seen (any depth).
    pub suites: u32,
    /// Passing testcases with neither `name` nor `classname`, dropped: nothing to name or
    /// show. (Nameless failures are kept as [`UNNAMED`].)
    pub nameless_cases: u32,
    /// Testcases whose `name`, `classname` or `file` was over the limit and was replaced.
    pub oversized_ids: u32,
}

/// Why a file yielded nothing.
#[derive(Debug, thiserror::Error)]
pub enum ReadError {
    #[error("failed to read `{path}`: {source}")]
    Io {
        path: String,
        #[source]
        source: std::io::Error,
    },
    #[error("`{path}` is empty")]
    Empty { path: String },
    #[error("`{path}` is not XML: {reason}")]
    NotXml { path: String, reason: String },
    #[error(
        "`{path}` is not a JUnit report: its root element is `<{root}>`, expected `<testsuites>` or `<testsuite>`"
    )]
    NotJunit { path: String, root: String },
}

/// Reads a JUnit file from disk, keeping at most `limits.max_file_bytes` bytes.
pub fn read_path(path: &Path, limits: &Limits) -> Result<FileReport, ReadError> {
    let shown = path.display().to_string();
    let file = std::fs::File::open(path).map_err(|source| ReadError::Io {
        path: shown.clone(),
        source,
    })?;
    let size = file.metadata().map(|m| m.len()).unwrap_or(0);
    let reader = BufReader::with_capacity(64 * 1024, file.take(limits.max_file_bytes));
    let mut report = FileReport::default();
    read(reader, &shown, limits, |case| report.cases.push(case)).map(|summary| {
        report.truncated = summary.truncated;
        report.declared_seconds = summary.declared_seconds;
        report.suites = summary.suites;
        report.nameless_cases = summary.nameless_cases;
        report.oversized_ids = summary.oversized_ids;
        if size > limits.max_file_bytes {
            report.truncated = Some(format!(
                "file is {size} bytes, over the {} byte limit; only the start was read",
                limits.max_file_bytes
            ));
        }
        report
    })
}

/// Reads JUnit from a string (tests, fuzzing).
pub fn read_str(text: &str, limits: &Limits) -> Result<FileReport, ReadError> {
    read_bytes(text.as_bytes(), limits)
}

/// Reads JUnit from bytes.
pub fn read_bytes(bytes: &[u8], limits: &Limits) -> Result<FileReport, ReadError> {
    let mut report = FileReport::default();
    let summary = read(bytes, "<memory>", limits, |case| report.cases.push(case))?;
    report.truncated = summary.truncated;
    report.declared_seconds = summary.declared_seconds;
    report.suites = summary.suites;
    report.nameless_cases = summary.nameless_cases;
    report.oversized_ids = summary.oversized_ids;
    Ok(report)
}

/// Everything but the testcases, which went to the callback.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct ReadSummary {
    pub truncated: Option<String>,
    pub declared_seconds: Option<f64>,
    pub suites: u32,
    pub nameless_cases: u32,
    pub oversized_ids: u32,
    pub cases: u64,
}

/// The streaming core: calls `on_case` for every complete, named `<testcase>` in document
/// order. `path` is only used in error messages.
pub fn read<R: BufRead>(
    input: R,
    path: &str,
    limits: &Limits,
    mut on_case: impl FnMut(TestCase),
) -> Result<ReadSummary, ReadError> {
    let mut reader = Reader::from_reader(input);
    // Keep the reader's defaults strict about end-tag names: a mismatch means the structure is
    // broken and later testcases cannot be trusted.
    reader.config_mut().check_end_names = true;
    let mut buf = Vec::with_capacity(8 * 1024);
    let mut state = State::new(limits);
    let mut summary = ReadSummary::default();

    loop {
        let pos = reader.buffer_position();
        let event = match reader.read_event_into(&mut buf) {
            Ok(event) => event,
            Err(err) => {
                if !state.root_seen {
                    return Err(not_xml(path, &err.to_string()));
                }
                summary.truncated = Some(format!(
                    "malformed XML at byte {}: {err}",
                    reader.error_position()
                ));
                break;
            }
        };
        match event {
            Event::Start(e) => {
                if let Some(stop) = state.start(&e, path, false, &mut on_case, &mut summary)? {
                    summary.truncated = Some(format!("{stop} (at byte {pos})"));
                    break;
                }
            }
            Event::Empty(e) => {
                if let Some(stop) = state.start(&e, path, true, &mut on_case, &mut summary)? {
                    summary.truncated = Some(format!("{stop} (at byte {pos})"));
                    break;
                }
            }
            Event::End(_) => state.end(&mut on_case, &mut summary),
            Event::Text(t) => state.text(&t.into_inner(), false),
            Event::CData(t) => state.text(&t.into_inner(), true),
            Event::GeneralRef(r) => state.text(resolve_ref(&r).as_bytes(), true),
            Event::Eof => {
                summary.truncated = state.at_eof(path, pos)?;
                break;
            }
            // DTDs are not processed (no entity definitions, no external fetches); comments,
            // processing instructions and the declaration carry nothing we need.
            Event::DocType(_) | Event::Comment(_) | Event::PI(_) | Event::Decl(_) => {}
        }
        buf.clear();
    }
    summary.declared_seconds = state.declared_seconds();
    summary.suites = state.suites;
    Ok(summary)
}

/// A character or predefined entity reference as text. Entities are never expanded: an
/// unknown one stays literal text.
fn resolve_ref(r: &quick_xml::events::BytesRef<'_>) -> String {
    match r.resolve_char_ref() {
        Ok(Some(c)) => c.to_string(),
        _ => {
            let name = String::from_utf8_lossy(r);
            quick_xml::escape::resolve_predefined_entity(&name)
                .map_or_else(|| format!("&{name};"), str::to_owned)
        }
    }
}

/// Whether the root element is `<testsuites>` (else `<testsuite>`); any other root is not JUnit.
fn root_is_suites(name: &[u8], path: &str) -> Result<bool, ReadError> {
    match name {
        b"testsuites" => Ok(true),
        b"testsuite" => Ok(false),
        other => Err(ReadError::NotJunit {
            path: path.into(),
            root: String::from_utf8_lossy(other).into_owned(),
        }),
    }
}

/// A testcase's attributes; unknown ones are ignored. `true`: an identifying attribute was over
/// `max_id` bytes and was replaced by a stand-in.
fn case_from_attributes(e: &BytesStart<'_>, max_id: usize) -> (CaseBuilder, bool) {
    let mut case = CaseBuilder::default();
    let mut cut = false;
    for a in e.attributes().with_checks(false).flatten() {
        let value = || attr_value(&a.value);
        let mut id = || {
            if a.value.len() <= max_id {
                return attr_value(&a.value);
            }
            cut = true;
            oversized_stand_in(&a.value)
        };
        match a.key.local_name().as_ref() {
            b"classname" => case.classname = Some(id()),
            b"name" => case.name = Some(id()),
            b"file" => case.file = Some(id()),
            b"line" => case.line = value().trim().parse().ok(),
            b"time" => case.time = parse_seconds(&value()).unwrap_or(0.0),
            b"status" => case.disabled = value() == "disabled",
            _ => {}
        }
    }
    (case, cut)
}

/// What an over-long identifying attribute becomes: its start, its size and a hash, so two
/// different long names stay two tests, without keeping megabytes per test.
fn oversized_stand_in(raw: &[u8]) -> String {
    use sha2::Digest;
    const KEPT: usize = 200;
    let start = attr_value(&raw[..KEPT.min(raw.len())]);
    let hash = sha2::Sha256::digest(raw);
    let short: String = hash[..6].iter().map(|b| format!("{b:02x}")).collect();
    format!(
        "{}{CUT_MARK}{} bytes, sha256 {short}]",
        &start[..crate::text::floor_char_boundary(&start, KEPT)],
        raw.len()
    )
}

fn not_xml(path: &str, reason: &str) -> ReadError {
    ReadError::NotXml {
        path: path.into(),
        reason: reason.into(),
    }
}

/// Name given to a testcase that has a result but neither `name` nor `classname`.
const UNNAMED: &str = "(unnamed testcase)";

/// Severity of a result element: the worst one of a testcase decides its outcome.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
enum Severity {
    Skipped,
    Failure,
    Error,
}

#[derive(Debug, Default)]
struct CaseBuilder {
    classname: Option<String>,
    name: Option<String>,
    file: Option<String>,
    line: Option<u64>,
    time: f64,
    disabled: bool,
    result: Option<ResultBuilder>,
    inner_reruns: u32,
}

#[derive(Debug)]
struct ResultBuilder {
    severity: Severity,
    kind: Option<String>,
    message: Option<String>,
    text: BoundedText,
}

/// A text that keeps its first quarter and last three quarters of `limit` bytes (on char
/// boundaries) and counts what it drops in between. Tracebacks matter most at their end (the
/// error, the `path:N:` of the deepest frame) and their start says what was running, so both
/// ends are kept; memory stays under about `2 × limit` however long the text is.
#[derive(Debug, Default)]
struct BoundedText {
    head: String,
    tail: String,
    dropped: u64,
    head_limit: usize,
    tail_limit: usize,
}

impl BoundedText {
    fn new(limit: usize) -> Self {
        let head_limit = limit / 4;
        BoundedText {
            head: String::new(),
            tail: String::new(),
            dropped: 0,
            head_limit,
            tail_limit: limit - head_limit,
        }
    }

    fn head_full(&self) -> bool {
        self.head.len() >= self.head_limit
    }

    /// Adds raw text bytes. Only the parts that can survive are decoded, so a multi-megabyte
    /// text never makes a multi-megabyte allocation here (big short-lived allocations between
    /// small long-lived ones fragment the heap and inflate memory).
    fn push_raw(&mut self, raw: &[u8], literal: bool) {
        let mut raw = raw;
        if !self.head_full() {
            let room = self.head_limit - self.head.len();
            if raw.len() <= room {
                self.head.push_str(&decode(raw, literal));
                return;
            }
            let mut cut = room;
            while cut > 0 && (raw[cut] & 0xC0) == 0x80 {
                cut -= 1; // not inside a UTF-8 sequence
            }
            self.head.push_str(&decode(&raw[..cut], literal));
            // The head is full now even if `cut` stopped short of the limit.
            self.head_limit = self.head.len();
            raw = &raw[cut..];
        }
        if raw.len() > self.tail_limit {
            // Only the last `tail_limit` bytes of this chunk can survive.
            let mut skip = raw.len() - self.tail_limit;
            while skip < raw.len() && (raw[skip] & 0xC0) == 0x80 {
                skip += 1;
            }
            self.dropped += (skip + self.tail.len()) as u64;
            self.tail.clear();
            raw = &raw[skip..];
        }
        self.tail.push_str(&decode(raw, literal));
        if self.tail.len() > 2 * self.tail_limit.max(1024) {
            self.trim_tail();
        }
    }

    fn trim_tail(&mut self) {
        if self.tail.len() > self.tail_limit {
            let mut cut = self.tail.len() - self.tail_limit;
            while !self.tail.is_char_boundary(cut) {
                cut += 1;
            }
            self.dropped += cut as u64;
            self.tail.drain(..cut);
        }
    }

    fn finish(mut self) -> Option<String> {
        self.trim_tail();
        if self.head.is_empty() && self.tail.is_empty() && self.dropped == 0 {
            return None;
        }
        let mut text = self.head;
        if self.dropped > 0 {
            text.push_str(&format!(
                "\n[... {} bytes not kept by parallel-pytest ...]\n",
                self.dropped
            ));
        }
        text.push_str(&self.tail);
        Some(text)
    }
}

/// Text bytes as a string: invalid UTF-8 becomes U+FFFD; outside CDATA, XML end-of-line
/// handling turns CRLF and lone CR into LF.
fn decode(raw: &[u8], literal: bool) -> std::borrow::Cow<'_, str> {
    let text = String::from_utf8_lossy(raw);
    if literal || !text.contains('\r') {
        text
    } else {
        std::borrow::Cow::Owned(text.replace("\r\n", "\n").replace('\r', "\n"))
    }
}

/// Cuts `s` to at most `max` bytes on a char boundary, saying how much was cut.
pub fn bounded(s: &str, max: usize) -> String {
    if s.len() <= max {
        return s.to_owned();
    }
    let cut = floor_char_boundary(s, max);
    format!("{}[... {} more bytes]", &s[..cut], s.len() - cut)
}

struct State<'l> {
    limits: &'l Limits,
    root_seen: bool,
    depth: usize,
    /// Local names of open elements, only kept shallowly for messages: the innermost name.
    open: Vec<String>,
    case: Option<CaseBuilder>,
    case_depth: usize,
    /// Depth of the result element whose text we collect.
    result_depth: Option<usize>,
    suites: u32,
    root_is_suites: bool,
    root_time: Option<f64>,
    top_suite_time: Option<f64>,
    nameless: u32,
}

impl<'l> State<'l> {
    fn new(limits: &'l Limits) -> Self {
        State {
            limits,
            root_seen: false,
            depth: 0,
            open: Vec::new(),
            case: None,
            case_depth: 0,
            result_depth: None,
            suites: 0,
            root_is_suites: false,
            root_time: None,
            top_suite_time: None,
            nameless: 0,
        }
    }

    fn open_name(&self) -> &str {
        self.open.last().map(String::as_str).unwrap_or("?")
    }

    fn declared_seconds(&self) -> Option<f64> {
        self.root_time.or(self.top_suite_time)
    }

    /// At the end of the input: an error when there was no root element, the reason the file
    /// counts as truncated when elements are still open.
    fn at_eof(&self, path: &str, pos: u64) -> Result<Option<String>, ReadError> {
        if !self.root_seen {
            return Err(if pos == 0 {
                ReadError::Empty { path: path.into() }
            } else {
                not_xml(path, "no XML element found")
            });
        }
        Ok((self.depth > 0).then(|| {
            format!(
                "file ends inside `<{}>` at byte {pos}: it was cut off",
                self.open_name()
            )
        }))
    }

    /// Handles a start (or empty) tag. Returns `Some(reason)` to stop reading.
    fn start(
        &mut self,
        e: &BytesStart<'_>,
        path: &str,
        empty: bool,
        on_case: &mut impl FnMut(TestCase),
        summary: &mut ReadSummary,
    ) -> Result<Option<String>, ReadError> {
        let local = e.local_name();
        let name = local.as_ref();
        if !self.root_seen {
            self.root_seen = true;
            self.root_is_suites = root_is_suites(name, path)?;
        }
        let depth = self.depth + 1;
        if depth > self.limits.max_depth {
            return Ok(Some(format!(
                "elements nested deeper than {} levels",
                self.limits.max_depth
            )));
        }

        match name {
            b"testsuite" => {
                self.suites += 1;
                let top = depth == 1 || (self.root_is_suites && depth == 2);
                if top && self.case.is_none() {
                    if let Some(t) = attr(e, b"time").and_then(|t| parse_seconds(&t)) {
                        *self.top_suite_time.get_or_insert(0.0) += t;
                    }
                }
            }
            b"testsuites" if depth == 1 => {
                self.root_time = attr(e, b"time").and_then(|t| parse_seconds(&t));
            }
            b"testcase" if self.case.is_none() => {
                let (case, cut) = case_from_attributes(e, self.limits.max_id_bytes);
                summary.oversized_ids += u32::from(cut);
                self.case = Some(case);
                self.case_depth = depth;
                if empty {
                    self.finish_case(on_case, summary);
                    return Ok(None);
                }
            }
            _ if self.case.is_some() && depth == self.case_depth + 1 => {
                self.case_child(e, name, depth, empty);
            }
            _ => {}
        }
        if !empty {
            self.depth = depth;
            // Only the innermost names matter for messages; keep the vector small.
            if self.open.len() >= 8 {
                self.open.remove(0);
            }
            self.open.push(String::from_utf8_lossy(name).into_owned());
        }
        Ok(None)
    }

    /// A direct child of the open testcase: a result element (the worst one wins; of equal
    /// ones the first is kept) or a rerun recorded inside it.
    fn case_child(&mut self, e: &BytesStart<'_>, name: &[u8], depth: usize, empty: bool) {
        let Some(case) = self.case.as_mut() else {
            return;
        };
        let severity = match name {
            b"failure" => Severity::Failure,
            b"error" => Severity::Error,
            b"skipped" => Severity::Skipped,
            b"rerunFailure" | b"rerunError" | b"flakyFailure" | b"flakyError" => {
                case.inner_reruns += 1;
                return;
            }
            _ => return,
        };
        if case.result.as_ref().is_some_and(|r| severity <= r.severity) {
            return;
        }
        case.result = Some(ResultBuilder {
            severity,
            kind: attr(e, b"type"),
            message: attr(e, b"message").map(|m| bounded(&m, self.limits.max_message_bytes)),
            text: BoundedText::new(self.limits.max_text_bytes),
        });
        if !empty {
            self.result_depth = Some(depth);
        }
    }

    fn end(&mut self, on_case: &mut impl FnMut(TestCase), summary: &mut ReadSummary) {
        if self.result_depth == Some(self.depth) {
            self.result_depth = None;
        }
        if self.case.is_some() && self.depth == self.case_depth {
            self.finish_case(on_case, summary);
        }
        self.depth = self.depth.saturating_sub(1);
        self.open.pop();
    }

    fn text(&mut self, raw: &[u8], literal: bool) {
        if self.result_depth.is_none() {
            return;
        }
        if let Some(result) = self.case.as_mut().and_then(|c| c.result.as_mut()) {
            result.text.push_raw(raw, literal);
        }
    }

    fn finish_case(&mut self, on_case: &mut impl FnMut(TestCase), summary: &mut ReadSummary) {
        let Some(mut case) = self.case.take() else {
            return;
        };
        self.result_depth = None;
        if case.classname.as_deref().unwrap_or("").is_empty()
            && case.name.as_deref().unwrap_or("").is_empty()
        {
            // A passing testcase without a name carries nothing (xdist writes such an empty
            // element after a worker crash): drop it, as other readers do. A nameless *failure*
            // is kept under a placeholder name: dropping it would hide a failure.
            if case.result.is_none() {
                self.nameless += 1;
                summary.nameless_cases = self.nameless;
                return;
            }
            case.name = Some(UNNAMED.to_owned());
        }
        let (outcome, message, text) = match case.result {
            None if case.disabled => (Outcome::Skipped, None, None),
            None => (Outcome::Passed, None, None),
            Some(r) => {
                let outcome = classify(r.severity, r.kind.as_deref(), r.message.as_deref());
                (outcome, r.message, r.text.finish())
            }
        };
        summary.cases += 1;
        on_case(TestCase {
            classname: case.classname.unwrap_or_default(),
            name: case.name.unwrap_or_default(),
            file: case.file.filter(|f| !f.is_empty()),
            line: case.line,
            time_seconds: case.time,
            outcome,
            message,
            text,
            inner_reruns: case.inner_reruns,
        });
    }
}

/// pytest's encodings of outcomes in JUnit:
/// - xfail: `<skipped type="pytest.xfail" message="reason">`;
/// - strict XPASS: `<failure message="[XPASS(strict)] reason">`: a failure, counted as failed;
/// - non-strict XPASS: an empty (passing) testcase in current pytest; older pytest wrote
///   `<skipped message="xfail-marked test passes unexpectedly">`, which we read as xpassed.
fn classify(severity: Severity, kind: Option<&str>, message: Option<&str>) -> Outcome {
    match severity {
        Severity::Error => Outcome::Error,
        Severity::Failure => Outcome::Failed,
        Severity::Skipped => {
            if kind == Some("pytest.xfail") {
                Outcome::Xfailed
            } else if message == Some("xfail-marked test passes unexpectedly") {
                Outcome::Xpassed
            } else {
                Outcome::Skipped
            }
        }
    }
}

fn attr(e: &BytesStart<'_>, key: &[u8]) -> Option<String> {
    e.attributes()
        .with_checks(false)
        .flatten()
        .find(|a| a.key.local_name().as_ref() == key)
        .map(|a| attr_value(&a.value))
}

/// Attribute value normalisation (XML 1.0 §3.3.3): literal tabs and line breaks become spaces,
/// then references are resolved. Unknown entities stay literal (never expanded); invalid UTF-8
/// becomes U+FFFD.
fn attr_value(raw: &[u8]) -> String {
    let text = String::from_utf8_lossy(raw);
    let normalised = if text.contains(['\r', '\n', '\t']) {
        std::borrow::Cow::Owned(text.replace("\r\n", " ").replace(['\r', '\n', '\t'], " "))
    } else {
        text
    };
    match quick_xml::escape::unescape(&normalised) {
        Ok(v) => v.into_owned(),
        Err(_) => unescape_lenient(&normalised),
    }
}

/// Resolves what can be resolved (predefined entities and character references) and keeps
/// anything else, such as `&xxe;` or a bare `&`, as written.
fn unescape_lenient(s: &str) -> String {
    let mut out = String::with_capacity(s.len());
    let mut rest = s;
    while let Some(amp) = rest.find('&') {
        out.push_str(&rest[..amp]);
        let after = &rest[amp..];
        match after.find(';').filter(|&semi| semi <= 12) {
            Some(semi) => {
                let piece = &after[..=semi];
                match quick_xml::escape::unescape(piece) {
                    Ok(v) => out.push_str(&v),
                    Err(_) => out.push_str(piece),
                }
                rest = &after[semi + 1..];
            }
            None => {
                out.push('&');
                rest = &after[1..];
            }
        }
    }
    out.push_str(rest);
    out
}

/// Reads a `time` value as seconds. Accepts `1.5`, `4.5e-05`, a decimal comma (`0,288`, from
/// non-English locales) and thousands separators (`1,234.5`). Negative, non-finite and
/// unreadable values give `None` (callers treat that as unknown, never as a crash).
pub fn parse_seconds(raw: &str) -> Option<f64> {
    let s = raw.trim();
    if s.is_empty() {
        return None;
    }
    let parsed = s.parse::<f64>().ok().or_else(|| {
        let cleaned = if s.contains('.') {
            // `1,234.5`: commas are thousands separators.
            s.replace(',', "")
        } else if s.matches(',').count() == 1 {
            // `0,288`: a decimal comma.
            s.replace(',', ".")
        } else {
            // `1,234,567`: thousands separators only.
            s.replace(',', "")
        };
        cleaned.parse::<f64>().ok()
    })?;
    (parsed.is_finite() && parsed >= 0.0).then_some(parsed)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn parse(s: &str) -> FileReport {
        read_str(s, &Limits::default()).unwrap()
    }

    #[test]
    fn times() {
        assert_eq!(parse_seconds("1.5"), Some(1.5));
        assert_eq!(parse_seconds(" 4.5e-05 "), Some(4.5e-05));
        assert_eq!(parse_seconds("0,288"), Some(0.288));
        assert_eq!(parse_seconds("1,234.5"), Some(1234.5));
        assert_eq!(parse_seconds("1,234,567"), Some(1234567.0));
        assert_eq!(parse_seconds("-345345"), None);
        assert_eq!(parse_seconds("NaN"), None);
        assert_eq!(parse_seconds("inf"), None);
        assert_eq!(parse_seconds(""), None);
        assert_eq!(parse_seconds("abc"), None);
    }

    /// A report written on Windows (CRLF, `\` in `file`) reads like its Unix twin: the same
    /// cases, outcomes and times, and node ids with `/`.
    #[test]
    fn windows_written_report_reads_like_unix() {
        let unix = "<?xml version=\"1.0\"?>\n<testsuites time=\"2.5\">\n<testsuite name=\"pytest\">\n\
            <testcase classname=\"tests.test_a\" file=\"tests/test_a.py\" name=\"test_ok\" time=\"0.5\"/>\n\
            <testcase classname=\"tests.test_a\" file=\"tests/test_a.py\" name=\"test_bad\" time=\"2\">\n\
            <failure message=\"assert 0\">tests/test_a.py:5: AssertionError</failure>\n</testcase>\n\
            </testsuite>\n</testsuites>\n";
        let windows = unix
            .replace("tests/test_a.py", "tests\\test_a.py")
            .replace('\n', "\r\n");
        let (u, w) = (parse(unix), parse(&windows));
        assert_eq!(w.declared_seconds, u.declared_seconds);
        let summary = |r: &FileReport| -> Vec<(String, Outcome, f64)> {
            let mapper = crate::junit::NodeIdMapper::new();
            r.cases
                .iter()
                .map(|c| {
                    let id = mapper.node_id(&c.classname, &c.name, c.file.as_deref());
                    (id, c.outcome, c.time_seconds)
                })
                .collect()
        };
        assert_eq!(summary(&w), summary(&u));
        assert_eq!(summary(&w)[1].0, "tests/test_a.py::test_bad");
    }

    #[test]
    fn pytest_outcomes() {
        let r = parse(
            r#"<?xml version="1.0" encoding="utf-8"?><testsuites><testsuite name="pytest" time="1.5">
<testcase classname="t.test_a" name="test_ok" time="0.1"/>
<testcase classname="t.test_a" name="test_fail" file="t/test_a.py" line="3" time="0.2"><failure message="assert 1 == 2&#10;next">def test():
&gt;   assert 1 == 2
t/test_a.py:5: AssertionError</failure></testcase>
<testcase classname="t.test_a" name="test_err" time="0"><error message="failed on setup">boom</error></testcase>
<testcase classname="t.test_a" name="test_skip" time="0"><skipped type="pytest.skip" message="nope">t/test_a.py:9: nope</skipped></testcase>
<testcase classname="t.test_a" name="test_xfail" time="0"><skipped type="pytest.xfail" message="bug"/></testcase>
<testcase classname="t.test_a" name="test_xpass_old" time="0"><skipped message="xfail-marked test passes unexpectedly"/></testcase>
<testcase classname="t.test_a" name="test_strict" time="0"><failure message="[XPASS(strict)] r">[XPASS(strict)] r</failure></testcase>
</testsuite></testsuites>"#,
        );
        assert_eq!(r.truncated, None);
        assert_eq!(r.declared_seconds, Some(1.5));
        let outcomes: Vec<_> = r.cases.iter().map(|c| c.outcome).collect();
        assert_eq!(
            outcomes,
            [
                Outcome::Passed,
                Outcome::Failed,
                Outcome::Error,
                Outcome::Skipped,
                Outcome::Xfailed,
                Outcome::Xpassed,
                Outcome::Failed
            ]
        );
        let fail = &r.cases[1];
        assert_eq!(fail.message.as_deref(), Some("assert 1 == 2\nnext"));
        assert_eq!(
            fail.text.as_deref(),
            Some("def test():\n>   assert 1 == 2\nt/test_a.py:5: AssertionError")
        );
        assert_eq!(fail.file.as_deref(), Some("t/test_a.py"));
        assert_eq!(fail.line, Some(3));
    }

    #[test]
    fn truncated_file_keeps_complete_cases() {
        let r = parse(
            r#"<testsuites><testsuite><testcase classname="a" name="one"/><testcase classname="a" name="two"><failure message="x">partial"#,
        );
        assert_eq!(r.cases.len(), 1);
        assert_eq!(r.cases[0].name, "one");
        let reason = r.truncated.unwrap();
        assert!(
            reason.contains("cut off") || reason.contains("malformed"),
            "{reason}"
        );
    }

    #[test]
    fn bare_testsuite_bom_crlf_cdata() {
        let r = parse(
            "\u{feff}<?xml version=\"1.0\"?>\r\n<testsuite time=\"2,5\">\r\n<testcase classname=\"a\" name=\"b\"><failure><![CDATA[line1\r\n<b>&amp;]]></failure></testcase></testsuite>",
        );
        assert_eq!(r.cases.len(), 1);
        assert_eq!(r.cases[0].text.as_deref(), Some("line1\r\n<b>&amp;"));
        assert_eq!(r.declared_seconds, Some(2.5));
    }

    #[test]
    fn entities_are_never_expanded() {
        let r = parse(
            r#"<?xml version="1.0"?><!DOCTYPE t [<!ENTITY xxe SYSTEM "file:///etc/passwd">]><testsuite><testcase classname="a" name="b"><failure message="&xxe;">&xxe;</failure></testcase></testsuite>"#,
        );
        assert_eq!(r.cases[0].message.as_deref(), Some("&xxe;"));
        assert_eq!(r.cases[0].text.as_deref(), Some("&xxe;"));
    }

    #[test]
    fn not_junit_and_empty_and_text() {
        let limits = Limits::default();
        assert!(matches!(
            read_str("<assemblies/>", &limits),
            Err(ReadError::NotJunit { .. })
        ));
        assert!(matches!(
            read_str("", &limits),
            Err(ReadError::Empty { .. })
        ));
        assert!(matches!(
            read_str("this is not xml", &limits),
            Err(ReadError::NotXml { .. })
        ));
    }

    #[test]
    fn long_texts_keep_their_start_and_end() {
        let limits = Limits {
            max_text_bytes: 40,
            max_message_bytes: 5,
            ..Limits::default()
        };
        let big = format!("START{}é-END", "é".repeat(1000));
        let xml = format!(
            r#"<testsuite><testcase classname="a" name="b"><failure message="{big}">{big}</failure></testcase></testsuite>"#
        );
        let r = read_str(&xml, &limits).unwrap();
        let text = r.cases[0].text.as_deref().unwrap();
        assert!(text.starts_with("STARTéé"), "{text}");
        assert!(text.ends_with("éé-END"), "{text}");
        assert!(text.contains("bytes not kept by parallel-pytest"), "{text}");
        assert!(text.len() < 120, "{}", text.len());
        assert!(
            r.cases[0]
                .message
                .as_deref()
                .unwrap()
                .starts_with("START[...")
        );
        // Split across many text events (entities) gives the same.
        let xml = format!(
            r#"<testsuite><testcase classname="a" name="b"><failure>START{}x-END</failure></testcase></testsuite>"#,
            "&amp;".repeat(5000)
        );
        let text = read_str(&xml, &limits).unwrap().cases[0]
            .text
            .clone()
            .unwrap();
        assert!(
            text.starts_with("START&&") && text.ends_with("&&x-END"),
            "{text}"
        );
        assert!(text.len() < 120, "{}", text.len());
    }

    #[test]
    fn depth_limit_stops_reading() {
        let limits = Limits {
            max_depth: 4,
            ..Limits::default()
        };
        let xml = format!(
            "<testsuites><testsuite><testcase classname=\"a\" name=\"ok\"/>{}{}</testsuite></testsuites>",
            "<testsuite>".repeat(10),
            "</testsuite>".repeat(10)
        );
        let r = read_str(&xml, &limits).unwrap();
        assert_eq!(r.cases.len(), 1);
        assert!(r.truncated.unwrap().contains("deeper than 4"));
    }

    #[test]
    fn invalid_utf8_is_replaced() {
        let mut xml = b"<testsuite><testcase classname=\"a\" name=\"b\xff\"><failure>x\xfey</failure></testcase></testsuite>".to_vec();
        xml.extend_from_slice(b"");
        let r = read_bytes(&xml, &Limits::default()).unwrap();
        assert_eq!(r.cases[0].name, "b\u{fffd}");
        assert_eq!(r.cases[0].text.as_deref(), Some("x\u{fffd}y"));
    }

    #[test]
    fn oversized_identifying_attributes_become_short_unique_stand_ins() {
        let big_a = "a".repeat(100_000);
        let big_b = format!("{}b", "a".repeat(100_000));
        let xml = format!(
            r#"<testsuite><testcase classname="t" name="{big_a}"><failure>x</failure></testcase><testcase classname="t" name="{big_b}"/><testcase classname="t" name="ok" file="{big_a}"/></testsuite>"#
        );
        let report = read_str(&xml, &Limits::default()).unwrap();
        assert_eq!(report.cases.len(), 3, "every test still counts");
        assert_eq!(report.oversized_ids, 3);
        let (a, b) = (&report.cases[0].name, &report.cases[1].name);
        assert!(
            a.len() < 300 && a.contains(CUT_MARK) && a.contains("100000 bytes"),
            "{a}"
        );
        assert_ne!(a, b, "two different long names stay two tests");
        assert_eq!(report.cases[0].outcome, Outcome::Failed);
        assert!(report.cases[2].file.as_ref().unwrap().contains(CUT_MARK));
        let exactly = "n".repeat(4096);
        let xml = format!(r#"<testsuite><testcase classname="t" name="{exactly}"/></testsuite>"#);
        let report = read_str(&xml, &Limits::default()).unwrap();
        assert_eq!(
            (report.oversized_ids, report.cases[0].name.len()),
            (0, 4096)
        );
    }

    #[test]
    fn nameless_passes_are_dropped_and_nameless_failures_kept() {
        let r = parse(
            r#"<testsuite><testcase time="0"/><testcase name="x"/><testcase><failure/></testcase></testsuite>"#,
        );
        assert_eq!(r.cases.len(), 2);
        assert_eq!(r.nameless_cases, 1);
        assert_eq!(r.cases[1].name, UNNAMED);
        assert_eq!(r.cases[1].outcome, Outcome::Failed);
    }

    #[test]
    fn surefire_reruns_are_counted() {
        let r = parse(
            r#"<testsuite><testcase classname="a" name="b"><flakyFailure message="x"><stackTrace>t</stackTrace></flakyFailure><flakyFailure/></testcase></testsuite>"#,
        );
        assert_eq!(r.cases[0].outcome, Outcome::Passed);
        assert_eq!(r.cases[0].inner_reruns, 2);
    }
}

/// Property tests: bounded (a fixed number of cases, small inputs), part of `cargo test`.
#[cfg(test)]
mod props {
    use proptest::prelude::*;

    use super::*;

    const FULL: &str = r#"<?xml version="1.0" encoding="utf-8"?><testsuites><testsuite name="pytest" time="1.0"><testcase classname="t.test_a" name="test_1" time="0.1"/><testcase classname="t.test_a" name="test_2" time="0.2"><failure message="boom &amp; bust">trace
t/test_a.py:3: AssertionError</failure></testcase><testsuite name="nested"><testcase classname="t.test_b" name="test_3"><skipped type="pytest.xfail" message="x"/></testcase></testsuite><testcase classname="t.test_c" name="test_4"><![CDATA[ignored]]></testcase></testsuite></testsuites>"#;

    fn escape(s: &str) -> String {
        s.replace('&', "&amp;")
            .replace('<', "&lt;")
            .replace('>', "&gt;")
            .replace('"', "&quot;")
    }

    proptest! {
        #![proptest_config(ProptestConfig { cases: 256, ..ProptestConfig::default() })]

        /// Arbitrary bytes never panic; the result is an error or a report.
        #[test]
        fn arbitrary_bytes_never_panic(bytes in proptest::collection::vec(any::<u8>(), 0..1500)) {
            let _ = read_bytes(&bytes, &Limits::default());
        }

        /// Bytes spliced into a valid document never panic either.
        #[test]
        fn corrupted_documents_never_panic(at in 0usize..FULL.len(), junk in proptest::collection::vec(any::<u8>(), 0..40)) {
            let mut bytes = FULL.as_bytes().to_vec();
            bytes.splice(at..at, junk);
            let _ = read_bytes(&bytes, &Limits::default());
        }

        /// A document cut anywhere yields a prefix of the full document's testcases, and is
        /// marked truncated unless the cut only removed trailing markup after the last case.
        #[test]
        fn truncation_keeps_complete_testcases(cut in 0usize..FULL.len()) {
            let full = read_str(FULL, &Limits::default()).unwrap();
            prop_assert_eq!(full.cases.len(), 4);
            if let Ok(part) = read_bytes(&FULL.as_bytes()[..cut], &Limits::default()) {
                prop_assert!(part.cases.len() <= full.cases.len());
                prop_assert_eq!(&part.cases[..], &full.cases[..part.cases.len()]);
                prop_assert!(part.truncated.is_some(), "a cut document is never complete");
            }
        }

        /// Any names and messages survive escaping and reading unchanged (modulo the XML
        /// rules on characters).
        #[test]
        fn names_and_messages_round_trip(
            cases in proptest::collection::vec(("[a-zA-Z0-9_ <>&\"'\\[\\]:%#@|`-]{1,20}", "[ -~]{0,40}"), 1..12)
        ) {
            let mut xml = String::from("<testsuite>");
            for (name, message) in &cases {
                xml.push_str(&format!(
                    "<testcase classname=\"c\" name=\"{}\"><failure message=\"{}\">{}</failure></testcase>",
                    escape(name), escape(message), escape(message)
                ));
            }
            xml.push_str("</testsuite>");
            let report = read_str(&xml, &Limits::default()).unwrap();
            prop_assert!(report.truncated.is_none());
            prop_assert_eq!(report.cases.len(), cases.len());
            for (case, (name, message)) in report.cases.iter().zip(&cases) {
                prop_assert_eq!(&case.name, name);
                prop_assert_eq!(case.message.as_deref(), Some(message.as_str()));
                prop_assert_eq!(case.outcome, Outcome::Failed);
                let text = case.text.as_deref().unwrap_or("");
                prop_assert_eq!(text, message.as_str());
            }
        }
    }
}
