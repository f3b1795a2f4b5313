//! Shared words and sizes for every message we print (STYLE.md §5): one plural helper, one way
//! to cut text to a budget, one way to write durations. Pure functions, no I/O; every stage may
//! use them (they sit at the bottom of the layer order, DESIGN.md §2).

/// The word for `n` things: `plural(1, "test", "tests")` is `test`.
pub fn plural<'a>(n: u64, one: &'a str, many: &'a str) -> &'a str {
    if n == 1 { one } else { many }
}

/// A count with its word: `count(3, "test", "tests")` is `3 tests`, `count(1, …)` is `1 test`.
pub fn count(n: u64, one: &str, many: &str) -> String {
    format!("{n} {}", plural(n, one, many))
}

/// The largest byte index `<= max` that lies on a char boundary of `s` (`str::floor_char_boundary`
/// is not stable yet).
pub fn floor_char_boundary(s: &str, max: usize) -> usize {
    if max >= s.len() {
        return s.len();
    }
    let mut end = max;
    while !s.is_char_boundary(end) {
        end -= 1;
    }
    end
}

/// Cuts `text` to at most `max` **bytes** on a char boundary, ending with `…` when cut. GitHub's
/// text limits count bytes, so every GitHub field goes through this one.
pub fn truncate_bytes(text: &str, max: usize) -> String {
    if text.len() <= max {
        return text.to_owned();
    }
    let end = floor_char_boundary(text, max.saturating_sub('…'.len_utf8()));
    format!("{}…", &text[..end])
}

/// Cuts `text` to at most `max` **characters**, ending with `…` when cut (for limits that count
/// characters, such as a GitLab note).
pub fn truncate_chars(text: &str, max: usize) -> String {
    if text.chars().count() <= max {
        return text.to_owned();
    }
    let keep: String = text.chars().take(max.saturating_sub(1)).collect();
    format!("{keep}…")
}

/// `0.31s`, `12.4s`, `3m 05s`: short enough for a table cell, precise where it matters.
pub fn seconds(s: f64) -> String {
    if s < 10.0 {
        format!("{s:.2}s")
    } else if s < 60.0 {
        format!("{s:.1}s")
    } else {
        let whole = s.round() as u64;
        format!("{}m {:02}s", whole / 60, whole % 60)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn counts_read_naturally() {
        assert_eq!(count(0, "test", "tests"), "0 tests");
        assert_eq!(count(1, "test", "tests"), "1 test");
        assert_eq!(count(2, "file", "files"), "2 files");
    }

    #[test]
    fn byte_truncation_never_splits_a_char() {
        let text = "ééééé"; // 10 bytes
        let cut = truncate_bytes(text, 6);
        assert!(cut.len() <= 6, "{cut}");
        assert!(cut.ends_with('…'));
        assert_eq!(truncate_bytes("short", 10), "short");
        assert_eq!(truncate_bytes("", 0), "");
    }

    #[test]
    fn char_truncation_counts_chars() {
        assert_eq!(truncate_chars("ééééé", 3), "éé…");
        assert_eq!(truncate_chars("abc", 3), "abc");
    }

    #[test]
    fn seconds_scale_with_magnitude() {
        assert_eq!(seconds(0.314), "0.31s");
        assert_eq!(seconds(12.44), "12.4s");
        assert_eq!(seconds(185.0), "3m 05s");
    }
}
