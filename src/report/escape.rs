//! Escaping of untrusted text (test names, messages, file attributes) for each sink
//! (DESIGN.md invariant 4). Every renderer calls exactly one of these for every untrusted piece.

/// Text inside Markdown or HTML (table cells, `<summary>`, `<code>`, list items), on one line.
///
/// Every character with a meaning in Markdown or HTML becomes a numeric entity, so it renders as
/// itself and is never parsed again: no tables broken by `|`, no code spans or fences from
/// backticks, no links, emphasis, tags (`<script>`) or headings. `@` gets a zero-width space so it
/// cannot mention anyone; `#N` cannot link an issue for the same reason. Line breaks and control
/// characters become spaces.
pub fn md_inline(s: &str) -> String {
    let mut out = String::with_capacity(s.len() + 16);
    for c in s.chars() {
        match c {
            '&' => out.push_str("&amp;"),
            '<' => out.push_str("&lt;"),
            '>' => out.push_str("&gt;"),
            '"' => out.push_str("&quot;"),
            '\'' => out.push_str("&#39;"),
            '|' => out.push_str("&#124;"),
            '`' => out.push_str("&#96;"),
            '\\' => out.push_str("&#92;"),
            '*' => out.push_str("&#42;"),
            '_' => out.push_str("&#95;"),
            '[' => out.push_str("&#91;"),
            ']' => out.push_str("&#93;"),
            '~' => out.push_str("&#126;"),
            '!' => out.push_str("&#33;"),
            '#' => out.push_str("&#35;"),
            '@' => out.push_str("@\u{200b}"),
            ':' => out.push_str("&#58;"),
            c if c.is_control() => out.push(' '),
            c => out.push(c),
        }
    }
    out
}

/// Our own message with `code spans` around untrusted names (problem and notice lines): each
/// span becomes `<code>` and every piece is escaped with [`md_inline`], so the spans render as
/// code instead of literal backticks. An odd number of backticks is escaped as plain text.
pub fn md_code_spans(s: &str) -> String {
    let pieces: Vec<&str> = s.split('`').collect();
    if pieces.len() % 2 == 0 {
        return md_inline(s);
    }
    let mut out = String::with_capacity(s.len() + 16);
    for (i, piece) in pieces.iter().enumerate() {
        if i % 2 == 1 {
            out.push_str("<code>");
            out.push_str(&md_inline(piece));
            out.push_str("</code>");
        } else {
            out.push_str(&md_inline(piece));
        }
    }
    out
}

/// Multi-line text inside `<pre>` (a raw HTML block: Markdown is not parsed there, HTML is).
pub fn html_pre(s: &str) -> String {
    let mut out = String::with_capacity(s.len() + 16);
    for c in s.chars() {
        match c {
            '&' => out.push_str("&amp;"),
            '<' => out.push_str("&lt;"),
            '>' => out.push_str("&gt;"),
            // Harmless inside `<pre>`, but keeps fences from ever forming if the block breaks.
            '`' => out.push_str("&#96;"),
            '[' => out.push_str("&#91;"),
            ']' => out.push_str("&#93;"),
            '@' => out.push_str("@\u{200b}"),
            '\n' | '\t' => out.push(c),
            '\r' => {}
            c if c.is_control() => out.push(' '),
            c => out.push(c),
        }
    }
    out
}

/// Our own notes on one Markdown line (a list item), where they may quote a forge's error
/// message: no HTML and no mentions, but backticks stay, so the code spans we write render.
pub fn md_note(s: &str) -> String {
    s.replace('&', "&amp;")
        .replace('<', "&lt;")
        .replace('>', "&gt;")
        .replace('@', "@\u{200b}")
        .replace(['\r', '\n'], " ")
}

/// Percent-encodes a repository path for a URL (keeps `/` and unreserved characters).
pub fn url_path(s: &str) -> String {
    let mut out = String::with_capacity(s.len());
    for b in s.bytes() {
        if b.is_ascii_alphanumeric() || b"-._~/".contains(&b) {
            out.push(b as char);
        } else {
            out.push_str(&format!("%{b:02X}"));
        }
    }
    out
}

/// Text for a terminal: no escape sequences or other control characters from the test run
/// (they could rewrite the screen or forge lines); newlines and tabs are kept, and a legacy
/// `##[command]` is broken with a zero-width space.
pub fn terminal(s: &str) -> String {
    let clean: String = s
        .chars()
        .map(|c| {
            if c.is_control() && c != '\n' && c != '\t' {
                '\u{fffd}'
            } else {
                c
            }
        })
        .collect();
    // The same text may land in a GitHub log, where `##[command]` matches anywhere in a line.
    clean.replace("##[", "#\u{200b}#[")
}

/// Workflow-command data (DESIGN.md §5): `%`, CR, LF escaped. The legacy `##[command]` syntax
/// matches anywhere in a line, so `##[` gets a zero-width space that stops the match.
pub fn workflow_data(s: &str) -> String {
    s.replace('%', "%25")
        .replace('\r', "%0D")
        .replace('\n', "%0A")
        .replace("##[", "#\u{200b}#[")
}

/// Workflow-command property: data escaping plus `:` and `,`.
pub fn workflow_property(s: &str) -> String {
    workflow_data(s).replace(':', "%3A").replace(',', "%2C")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn inline_markdown_is_inert() {
        let s = md_inline("a|b `x` <script>@team #1 [l](u)\n::error::");
        assert!(!s.contains('|') && !s.contains('`') && !s.contains('<') && !s.contains('\n'));
        assert!(s.contains("@\u{200b}team"));
        assert!(!s.contains("::"));
    }

    #[test]
    fn problem_code_spans_render_once() {
        assert_eq!(
            md_code_spans("lost: `t.py::a|b` and `<x>`"),
            "lost&#58; <code>t.py&#58;&#58;a&#124;b</code> and <code>&lt;x&gt;</code>"
        );
        // An unpaired backtick stays plain text.
        assert_eq!(md_code_spans("a `b"), "a &#96;b");
    }

    #[test]
    fn notes_keep_code_spans_but_no_html_or_mentions() {
        assert_eq!(
            md_note("use `x` <b>@me</b>\nnext"),
            "use `x` &lt;b&gt;@\u{200b}me&lt;/b&gt; next"
        );
    }

    #[test]
    fn workflow_escaping() {
        assert_eq!(workflow_data("50%\r\n::x"), "50%25%0D%0A::x");
        assert_eq!(workflow_property("a:b,c"), "a%3Ab%2Cc");
        assert!(!workflow_data("x ##[group]y").contains("##["));
    }
}
