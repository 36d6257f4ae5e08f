//! Trainer tests: real data, metrics, validation, leakage, fuzzing.

mod fuzz;
mod metrics;
mod real_data;
mod support;
mod validation;
