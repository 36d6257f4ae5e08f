//! # projections: read models rebuilt from Pledge's events
//!
//! This crate will hold the projectors (champion per model and segment, alert inbox,
//! experiment status, lineage, timeline, model health), their checkpoints in the store's
//! auxiliary trees, and as-of queries. Each projector is a fold over `ledger::RecordedEvent`s
//! with no I/O inside. It is empty until the domain's event vocabulary lands.
