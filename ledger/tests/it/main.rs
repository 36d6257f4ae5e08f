//! Integration tests of the `ledger` crate (one test binary, one module per area).

mod append;
mod canonical;
mod crash;
mod derive;
mod event_index;
mod export;
mod floats;
mod layout;
mod merkle;
mod model;
mod schemas;
mod support;
mod tamper;
mod vectors;
