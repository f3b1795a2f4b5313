//! Reading the text of many test files, as the plan's marker scan does without `--collect`.
//!
//! A big suite's plan reads every test file (100,000 of them in the benchmark of
//! BENCHMARKS.md), and that is almost all system time: opening a file by its absolute path makes
//! the kernel resolve every component of that path again. Discovery lists files sorted, so a
//! folder's files come together: [`TextReader`] keeps the current folder open and opens each
//! file relative to it (`openat`), one path component per file, and reuses one buffer for every
//! file's bytes.

use std::io::Read;
use std::path::{Path, PathBuf};

/// Where the marker scan gets each file's text; one per thread.
pub trait Texts {
    /// The text of `rel` (rootdir-relative, `/`-separated); `None` when it cannot be read or is
    /// not UTF-8.
    fn text(&mut self, rel: &str) -> Option<&str>;
}

/// Texts from a function that returns a file's text (tests, and callers that have one).
pub struct FromFn<'a> {
    source: &'a (dyn Fn(&str) -> Option<String> + Sync),
    last: Option<String>,
}

impl<'a> FromFn<'a> {
    pub fn new(source: &'a (dyn Fn(&str) -> Option<String> + Sync)) -> Self {
        FromFn { source, last: None }
    }
}

impl Texts for FromFn<'_> {
    fn text(&mut self, rel: &str) -> Option<&str> {
        self.last = (self.source)(rel);
        self.last.as_deref()
    }
}

/// Reads files under `root`, relative to the folder of the previous file when it is the same.
pub struct TextReader {
    root: PathBuf,
    #[cfg(unix)]
    folder: Option<(String, std::os::fd::OwnedFd)>,
    /// Bytes of the current file are `buf[..len]`; the rest is room, zeroed once.
    buf: Vec<u8>,
    len: usize,
}

impl TextReader {
    pub fn new(root: &Path) -> Self {
        TextReader {
            root: root.to_path_buf(),
            #[cfg(unix)]
            folder: None,
            buf: vec![0; 16 * 1024],
            len: 0,
        }
    }

    #[cfg(unix)]
    fn open(&mut self, rel: &str) -> Option<std::fs::File> {
        use nix::fcntl::{OFlag, open, openat};
        use nix::sys::stat::Mode;
        let Some((folder, name)) = rel.rsplit_once('/') else {
            return std::fs::File::open(self.root.join(rel)).ok();
        };
        if self.folder.as_ref().is_none_or(|(f, _)| f != folder) {
            let flags = OFlag::O_RDONLY | OFlag::O_DIRECTORY | OFlag::O_CLOEXEC;
            self.folder = open(&self.root.join(folder), flags, Mode::empty())
                .ok()
                .map(|fd| (folder.to_owned(), fd));
        }
        match &self.folder {
            Some((_, dir)) => openat(dir, name, OFlag::O_RDONLY | OFlag::O_CLOEXEC, Mode::empty())
                .ok()
                .map(std::fs::File::from),
            // The folder cannot be opened (permissions): try the file by its whole path.
            None => std::fs::File::open(self.root.join(rel)).ok(),
        }
    }

    #[cfg(not(unix))]
    fn open(&mut self, rel: &str) -> Option<std::fs::File> {
        std::fs::File::open(self.root.join(rel)).ok()
    }
}

impl Texts for TextReader {
    fn text(&mut self, rel: &str) -> Option<&str> {
        let mut file = self.open(rel)?;
        // Open, read to the end, close: no `statx`/`lseek` for a size hint (the buffer is
        // usually big enough already).
        self.len = 0;
        loop {
            if self.len == self.buf.len() {
                self.buf.resize(self.buf.len() * 2, 0);
            }
            match file.read(&mut self.buf[self.len..]) {
                Ok(0) => break,
                Ok(n) => self.len += n,
                Err(e) if e.kind() == std::io::ErrorKind::Interrupted => {}
                Err(_) => return None,
            }
        }
        std::str::from_utf8(&self.buf[..self.len]).ok()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn reads_files_across_folders_and_sizes() {
        let d = tempfile::tempdir().unwrap();
        let big = "x".repeat(40_000);
        for (rel, text) in [
            ("top.py", "top"),
            ("a/one.py", "one"),
            ("a/two.py", big.as_str()),
            ("a/b/three.py", "three"),
            ("c/four.py", "four"),
        ] {
            let p = d.path().join(rel);
            std::fs::create_dir_all(p.parent().unwrap()).unwrap();
            std::fs::write(p, text).unwrap();
        }
        std::fs::write(d.path().join("a/bad.py"), b"\xff\xfe").unwrap();
        let mut r = TextReader::new(d.path());
        assert_eq!(r.text("top.py"), Some("top"));
        assert_eq!(r.text("a/one.py"), Some("one"));
        assert_eq!(r.text("a/two.py"), Some(big.as_str()));
        assert_eq!(
            r.text("a/one.py"),
            Some("one"),
            "a long file leaves no tail"
        );
        assert_eq!(r.text("a/missing.py"), None);
        assert_eq!(r.text("a/bad.py"), None, "not UTF-8");
        assert_eq!(r.text("a/b/three.py"), Some("three"));
        assert_eq!(r.text("nowhere/x.py"), None);
        assert_eq!(r.text("c/four.py"), Some("four"));
    }
}
