//! What happened? Streaming JUnit reader, model, merge, writer.

pub mod model;

pub use model::{Outcome, TestCase};
