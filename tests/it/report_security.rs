//! Hostile test names and messages (DESIGN.md invariant 4): a pull request controls them, so
//! they must not inject workflow commands, break the Markdown summary, or exceed a size limit.

use std::path::Path;

use crate::harness::Cmd;

/// Untrusted strings, each used as a test name and as a failure message.
const HOSTILE: &[&str] = &[
    "::error::injected error",
    "x%0A::warning::injected warning",
    "##[group]injected group",
    "::stop-commands::abc",
    "::add-mask::secret",
    "line one\n::error file=a.py::second line",
    "cr\r::notice::after cr",
    "| a | b |\n|---|---|\n| c | d |",
    "```\n# not a heading\n```",
    "<script>alert(1)</script><img src=x onerror=alert(2)>",
    "@octocat and @org/team please look",
    "[click](https://evil.example) ![img](https://evil.example/x.png)",
    "</pre></details><h1>escaped</h1>",
    "\u{1b}[31mred\u{1b}[0m and \u{7}bell",
];

fn xml_attr(s: &str) -> String {
    s.replace('&', "&amp;")
        .replace('<', "&lt;")
        .replace('>', "&gt;")
        .replace('"', "&quot;")
        .replace('\n', "&#10;")
        .replace('\r', "&#13;")
}

fn xml_text(s: &str) -> String {
    xml_attr(s).replace("&#10;", "\n")
}

/// A JUnit file with one failing test per hostile string, a 2 MB message and invalid UTF-8.
fn hostile_junit(dir: &Path) {
    let mut xml = b"<?xml version=\"1.0\"?><testsuites><testsuite name=\"s\">".to_vec();
    for (i, h) in HOSTILE.iter().enumerate() {
        xml.extend_from_slice(
            format!(
                "<testcase classname=\"tests.test_evil\" name=\"test_{i}[{}]\" file=\"tests/test_evil.py\" line=\"{i}\"><failure message=\"{}\">tests/test_evil.py:{}: {}</failure></testcase>",
                xml_attr(h),
                xml_attr(h),
                i + 1,
                xml_text(h)
            )
            .as_bytes(),
        );
    }
    // A file attribute that tries to break out of the annotation's properties.
    xml.extend_from_slice(
        b"<testcase classname=\"tests.test_evil\" name=\"test_file\" file=\"a,line=1::x.py\" line=\"1\"><failure message=\"m\">t</failure></testcase>",
    );
    // 2 MB message and text.
    let big = "A".repeat(2 * 1024 * 1024);
    xml.extend_from_slice(
        format!("<testcase classname=\"tests.test_evil\" name=\"test_big\"><failure message=\"{big}\">{big}</failure></testcase>").as_bytes(),
    );
    // Invalid UTF-8 in a name and a message.
    xml.extend_from_slice(b"<testcase classname=\"tests.test_evil\" name=\"test_bytes_\xff\xfe\"><error message=\"bad \xc3\x28 bytes\">x\xffy</error></testcase>");
    xml.extend_from_slice(b"</testsuite></testsuites>");
    std::fs::write(dir.join("junit-1-of-1.xml"), xml).unwrap();
}

/// What GitHub's runner does to workflow-command data.
fn unescape_data(s: &str) -> String {
    s.replace("%0D", "\r")
        .replace("%0A", "\n")
        .replace("%25", "%")
}

#[test]
fn hostile_names_and_messages_stay_text() {
    let dir = tempfile::tempdir().unwrap();
    hostile_junit(dir.path());
    let summary_path = dir.path().join("summary.md");
    let out = Cmd::new()
        .current_dir(dir.path())
        .args([
            "report",
            "junit-1-of-1.xml",
            "--junit-out",
            "merged.xml",
            "--codequality-out",
            "cq.json",
        ])
        .arg("--summary")
        .arg(&summary_path)
        .env("GITHUB_ACTIONS", "true")
        .output();
    assert_eq!(out.status.code(), Some(1));
    let stdout = String::from_utf8(out.stdout).expect("stdout is UTF-8");
    // Raw ESC/BEL bytes from the file never reach the terminal (colour is off under the harness).
    assert!(!stdout.contains('\u{1b}') && !stdout.contains('\u{7}'));

    // --- The log: workflow commands only before the guard, everything else inside it.
    let mut lines = stdout.lines();
    let mut commands = Vec::new();
    let token = loop {
        let line = lines.next().expect("a ::stop-commands:: line");
        if let Some(token) = line.strip_prefix("::stop-commands::") {
            break token.to_owned();
        }
        commands.push(line);
    };
    assert_eq!(token.len(), 32);
    assert!(!HOSTILE.iter().any(|h| h.contains(&token)));
    let rest: Vec<&str> = lines.collect();
    // Even inside the guard, no legacy `##[command]` can form.
    assert!(rest.iter().all(|l| !l.contains("##[")), "{rest:#?}");
    assert_eq!(
        rest.last(),
        Some(&format!("::{token}::").as_str()),
        "the guard closes last"
    );
    assert_eq!(
        rest.iter().filter(|l| l.contains(&token)).count(),
        1,
        "only our closing line carries the token"
    );
    let errors = commands
        .iter()
        .filter(|l| l.starts_with("::error "))
        .count();
    assert!(errors <= 10, "at most 10 errors per step, got {errors}");
    assert!(
        commands
            .last()
            .unwrap()
            .starts_with("::notice title=parallel-pytest::")
            && commands.last().unwrap().contains("more annotations"),
        "the remainder is summed up in one notice: {commands:#?}"
    );
    for line in &commands {
        // One command per line, and nothing a runner would read as a second command.
        assert!(!line.contains('\n') && !line.contains('\r'));
        assert!(!line.contains("##["), "{line}");
        let (head, data) = line[2..].split_once("::").expect("::cmd props::data");
        assert!(
            ["error ", "warning ", "notice "]
                .iter()
                .any(|c| head.starts_with(c)),
            "{line}"
        );
        // Properties: `key=value` pairs whose values contain no raw `,` or `:`.
        let props = head.split_once(' ').map(|(_, p)| p).unwrap_or("");
        for prop in props.split(',') {
            let (key, value) = prop.split_once('=').expect("key=value");
            assert!(["file", "line", "title"].contains(&key), "{line}");
            assert!(!value.contains(':'), "{line}");
        }
        // Data decodes back to text that was in the input (or ours), never to a command.
        let decoded = unescape_data(data);
        assert!(
            decoded.len() <= 4096 + 4,
            "annotation message is bounded: {}",
            decoded.len()
        );
    }
    // The `file` attribute that tried to add properties is escaped inside `file=`.
    assert!(
        commands
            .iter()
            .any(|l| l.contains("file=a%2Cline=1%3A%3Ax.py,")),
        "{commands:#?}"
    );

    // --- The summary: size, no HTML, no mentions, tables intact.
    let md = std::fs::read_to_string(&summary_path).unwrap();
    assert!(md.len() <= 1024 * 1024, "summary is {} bytes", md.len());
    for bad in ["<script", "<img", "<h1>", "```", "](https://evil", "\u{1b}"] {
        assert!(!md.contains(bad), "`{bad}` in the summary");
    }
    for (i, _) in md.match_indices('@') {
        assert!(
            md[i + 1..].starts_with('\u{200b}'),
            "a live @mention at byte {i}"
        );
    }
    // Every row of the failures table has exactly the table's cells.
    let table: Vec<&str> = md
        .split("### Failures")
        .nth(1)
        .unwrap()
        .lines()
        .skip_while(|l| !l.starts_with('|'))
        .take_while(|l| l.starts_with('|'))
        .collect();
    assert!(table.len() >= HOSTILE.len() + 2, "{table:#?}");
    for row in &table {
        assert_eq!(row.matches('|').count(), 5, "row with extra cells: {row}");
    }
    // `<pre>` blocks open and close in pairs: nothing escaped out of a traceback.
    assert_eq!(md.matches("<pre>").count(), md.matches("</pre>").count());
    assert_eq!(
        md.matches("<details>").count(),
        md.matches("</details>").count()
    );

    // --- Merged JUnit and Code Quality stay well-formed and bounded.
    let merged = std::fs::read(dir.path().join("merged.xml")).unwrap();
    assert!(merged.len() < 30_000_000);
    let back = parallel_pytest::junit::reader::read_bytes(&merged, &Default::default()).unwrap();
    assert!(back.truncated.is_none(), "{:?}", back.truncated);
    assert_eq!(back.cases.len(), HOSTILE.len() + 3);
    let cq: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(dir.path().join("cq.json")).unwrap())
            .unwrap();
    assert_eq!(cq.as_array().unwrap().len(), HOSTILE.len() + 3);
}

#[test]
fn hostile_text_in_json_output_stays_inert_and_exact() {
    let dir = tempfile::tempdir().unwrap();
    hostile_junit(dir.path());
    let out = Cmd::new()
        .current_dir(dir.path())
        .args(["report", "junit-1-of-1.xml", "--format", "json"])
        .env("GITHUB_ACTIONS", "true")
        .output();
    assert_eq!(out.status.code(), Some(1));
    let stdout = String::from_utf8(out.stdout).unwrap();
    assert!(!stdout.contains("##["));
    for line in stdout.lines() {
        assert!(!line.trim_start().starts_with("::"), "{line}");
    }
    let json: serde_json::Value = serde_json::from_str(&stdout).unwrap();
    // The data itself is exact (JSON consumers get the real message back).
    let messages: Vec<&str> = json["failures"]
        .as_array()
        .unwrap()
        .iter()
        .map(|f| f["message"].as_str().unwrap())
        .collect();
    assert!(
        messages.contains(&"##[group]injected group"),
        "{messages:?}"
    );
    assert!(
        messages.iter().all(|m| m.len() <= 4096 + 64),
        "messages are bounded"
    );
}
