//! What happened? Streaming JUnit reader, model, node ids, merge, writer.
//!
//! # Why our own reader on quick-xml, and our own writer in quick-junit's layout
//!
//! The two Rust crates for JUnit are `junit-parser` and `quick-junit`. Both read a whole document
//! into a tree before handing anything back, so a truncated file (a shard killed while pytest
//! was writing, an upload cut short) yields an error and *no* testcases, and a file with
//! megabytes of captured tracebacks costs that much memory. The report must keep every complete
//! testcase of a broken file and say the file was truncated (DESIGN.md invariant 5), and keep
//! memory flat whatever the size of failure texts. So [`reader`] is a small streaming reader on
//! `quick-xml` (already our XML crate) that emits one testcase at a time and keeps only a
//! bounded prefix of each text; it also never processes a DTD or expands entities.
//!
//! Writing is the easy direction: [`writer`] writes the merged file in `quick-junit`'s layout
//! (the writer behind cargo-nextest), cleaning and escaping text as it does, byte for byte (a
//! test checks every case against quick-junit itself), straight from the merged tests: building
//! a `quick_junit::Report` of a million testcases was most of the report's time.

pub mod merge;
pub mod model;
pub mod node_id;
pub mod reader;
pub mod rewrite;
pub mod writer;

pub use model::{Outcome, TestCase};
pub use node_id::{NodeIdMapper, to_junit_names};
pub use reader::{FileReport, Limits, ReadError, read_path};
