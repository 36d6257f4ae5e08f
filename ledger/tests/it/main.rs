//! Integration tests of the `ledger` crate (one test binary, one module per area).

mod append;
mod crash;
mod export;
mod model;
mod support;
mod tamper;
