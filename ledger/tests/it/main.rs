//! Integration tests of the `ledger` crate (one test binary, one module per area).

mod append;
mod export;
mod support;
mod tamper;
