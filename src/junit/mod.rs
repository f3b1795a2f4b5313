//! What happened? Streaming JUnit reader, model, merge, writer.

pub mod model;
pub mod node_id;

pub use model::{Outcome, TestCase};
