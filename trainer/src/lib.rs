//! # trainer: real data in, evidence out
//!
//! This crate will hold dataset loading and validation (polars), feature pipelines,
//! linfa-logistic training, walk-forward backtests, drift statistics and content-addressed
//! model artifacts. It must not depend on clap or axum. It is empty until the trainer issue
//! lands; until then `pledge` records the evidence of runs made elsewhere.
