//! Path helpers with pytest's semantics: lexical `abspath` (no symlink resolution, like
//! `os.path.abspath`), common ancestor of existing paths, rootdir-relative `/` paths.

use std::path::{Component, Path, PathBuf};

/// `os.path.abspath(base / p)`: joins and removes `.`/`..` lexically.
pub fn absolute(base: &Path, p: &Path) -> PathBuf {
    let joined = if p.is_absolute() {
        p.to_path_buf()
    } else {
        base.join(p)
    };
    let mut out = PathBuf::new();
    for c in joined.components() {
        match c {
            Component::CurDir => {}
            Component::ParentDir => {
                out.pop();
            }
            other => out.push(other.as_os_str()),
        }
    }
    out
}

/// pytest's `get_common_ancestor`: the deepest folder containing every existing path, or
/// `invocation_dir` when none exists; a file's folder when the result is a file.
pub fn common_ancestor(invocation_dir: &Path, paths: &[PathBuf]) -> PathBuf {
    let mut common: Option<PathBuf> = None;
    for p in paths.iter().filter(|p| p.exists()) {
        common = Some(match common {
            None => p.clone(),
            Some(c) => {
                let mut shared = PathBuf::new();
                for (a, b) in c.components().zip(p.components()) {
                    if a != b {
                        break;
                    }
                    shared.push(a.as_os_str());
                }
                shared
            }
        });
    }
    match common {
        None => invocation_dir.to_path_buf(),
        Some(c) if c.is_file() => c.parent().map(Path::to_path_buf).unwrap_or(c),
        Some(c) => c,
    }
}

/// `path` relative to `base` with `/` separators, using `..` when `path` is outside `base`
/// (pytest's `bestrelpath`, which is how node ids name files outside the rootdir).
pub fn relative(base: &Path, path: &Path) -> String {
    let b: Vec<Component> = base.components().collect();
    let p: Vec<Component> = path.components().collect();
    let shared = b.iter().zip(&p).take_while(|(x, y)| x == y).count();
    let mut parts: Vec<String> = Vec::new();
    for _ in shared..b.len() {
        parts.push("..".into());
    }
    for c in &p[shared..] {
        parts.push(c.as_os_str().to_string_lossy().into_owned());
    }
    if parts.is_empty() {
        ".".into()
    } else {
        parts.join("/")
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn lexical_absolute_and_relative() {
        assert_eq!(
            absolute(Path::new("/a/b"), Path::new("../c/./d")),
            PathBuf::from("/a/c/d")
        );
        assert_eq!(
            relative(Path::new("/a/b"), Path::new("/a/b/c/d.py")),
            "c/d.py"
        );
        assert_eq!(relative(Path::new("/a/b"), Path::new("/a/x.py")), "../x.py");
        assert_eq!(relative(Path::new("/a/b"), Path::new("/a/b")), ".");
    }
}
