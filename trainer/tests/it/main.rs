//! Trainer tests: real data, metrics, validation, leakage, fuzzing.

mod forecast;
mod fuzz;
mod logistic;
mod metrics;
mod real_data;
mod support;
mod validation;
