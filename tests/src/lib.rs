//! End-to-end scenarios for Pledge live in this package's `e2e` test binary: they drive the
//! real `pledge` executable (built by `cargo test --workspace`) through whole workflows and
//! check its JSON output, its human output, its exit codes and the ledger it leaves behind.
