//! Tell people: summary model and pure renderers (markdown, terminal, annotations, Code Quality, JSON).
