//! Escaping of untrusted text (test names, messages, file attributes) for each sink
//! (DESIGN.md invariant 4). Every renderer calls exactly one of these for every untrusted piece.

/// Unicode's bidirectional embeddings, overrides and isolates: in rendered text they reorder what
/// a reader sees (a name that displays differently from what it is). Shown as `�`.
fn is_bidi_control(c: char) -> bool {
    matches!(c, '\u{202a}'..='\u{202e}' | '\u{2066}'..='\u{2069}' | '\u{061c}' | '\u{200e}' | '\u{200f}')
}

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
            c if is_bidi_control(c) => out.push('\u{fffd}'),
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
            c if is_bidi_control(c) => out.push('\u{fffd}'),
            c => out.push(c),
        }
    }
    out
}

/// Our own notes on one Markdown line (a list item), where they may quote a forge's error
/// message: no HTML and no mentions, but backticks stay, so the code spans we write render.
pub fn md_note(s: &str) -> String {
    s.replace(is_bidi_control, "\u{fffd}")
        .replace('&', "&amp;")
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

/// Text for a terminal or a CI log: no escape sequences, other control characters or bidi
/// overrides from the test run (they could rewrite the screen or forge lines); newlines and tabs
/// are kept. In a GitHub log a line starting with `::` is a workflow command and a legacy
/// `##[command]` matches anywhere, so both are broken with a zero-width space.
pub fn terminal(s: &str) -> String {
    let clean: String = s
        .chars()
        .map(|c| {
            if (c.is_control() && c != '\n' && c != '\t') || is_bidi_control(c) {
                '\u{fffd}'
            } else {
                c
            }
        })
        .collect();
    let mut out = String::with_capacity(clean.len());
    for (i, line) in clean.split('\n').enumerate() {
        if i > 0 {
            out.push('\n');
        }
        if line.trim_start().starts_with("::") {
            out.push('\u{200b}');
        }
        out.push_str(&line.replace("##[", "#\u{200b}#["));
    }
    out
}

/// Workflow-command data (DESIGN.md §5): `%`, CR, LF escaped. The legacy `##[command]` syntax
/// matches anywhere in a line, so `##[` gets a zero-width space that stops the match. Other
/// control characters (NUL, ESC, BEL, …), which the runner has no escape for, show as their
/// Unicode control pictures (`␀`, `␛`, `␇`); bidi overrides as `�`.
pub fn workflow_data(s: &str) -> String {
    let visible: String = s
        .chars()
        .map(|c| match c {
            '\r' | '\n' | '\t' => c,
            '\u{0}'..='\u{1f}' => char::from_u32(0x2400 + c as u32).unwrap_or('\u{fffd}'),
            '\u{7f}' => '\u{2421}',
            c if c.is_control() || is_bidi_control(c) => '\u{fffd}',
            c => c,
        })
        .collect();
    visible
        .replace('%', "%25")
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
    fn control_and_bidi_characters_are_neutralised_for_every_sink() {
        assert_eq!(
            workflow_data("a\u{0}b\u{1b}[31mc\u{7}d\u{7f}"),
            "a␀b␛[31mc␇d␡"
        );
        assert_eq!(workflow_property("x\u{1b}:y"), "x␛%3Ay");
        let rlo = "test_\u{202e}gnp.exe";
        for out in [
            md_inline(rlo),
            html_pre(rlo),
            md_note(rlo),
            terminal(rlo),
            workflow_data(rlo),
        ] {
            assert!(!out.contains('\u{202e}'), "{out:?}");
            assert!(out.contains('\u{fffd}'), "{out:?}");
        }
        assert_eq!(
            terminal("warning: `x\n::error::pwned`\n  ::notice::x"),
            "warning: `x\n\u{200b}::error::pwned`\n\u{200b}  ::notice::x"
        );
    }

    #[test]
    fn workflow_escaping() {
        assert_eq!(workflow_data("50%\r\n::x"), "50%25%0D%0A::x");
        assert_eq!(workflow_property("a:b,c"), "a%3Ab%2Cc");
        assert!(!workflow_data("x ##[group]y").contains("##["));
    }
}
