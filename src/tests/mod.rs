//! loom models that need the crate's internals (the public-API models are in `tests/loom_*.rs`).

mod loom_catalog;
mod loom_hot;
mod loom_journal;
mod loom_lifecycle;
mod loom_wait;
