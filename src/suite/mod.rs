//! What tests exist? pytest config, test-file discovery (no Python needed), optional collection.
