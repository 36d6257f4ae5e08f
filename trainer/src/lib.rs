//! # trainer: real data in, evidence out
//!
//! Loads a CSV or Parquet file against a declared [`spec::DatasetSpec`] (polars for the
//! reading, this crate for every check), computes time-series and calendar features with
//! polars' lazy engine ([`series`]), fits a feature [`features::Pipeline`] and a model
//! ([`model`]: logistic for classes, by [`logistic`]'s L-BFGS; ridge or Poisson for numbers) on the training split only,
//! evaluates with classification or forecast metrics ([`metrics`]), backtests walk-forward over a time axis ([`train::walk_forward`]),
//! measures drift ([`drift`]) and stores each fitted model as a content-addressed
//! [`artifact::Artifact`]. No clap, no axum: the `pledge` CLI wires it to the ledger.
//!
//! Determinism: the same file bytes, spec and parameters give the same artifact bytes (and
//! digest) on every run on a machine: seeded portable splits, single-threaded fitting from a
//! fixed start in a fixed summation order, sorted category orders, shortest round-trip float
//! formatting. (Ridge and Poisson form their Gram matrices with matrixmultiply, which uses FMA
//! where the CPU has it: on a CPU without, a coefficient's last bits can differ.)

pub mod artifact;
pub mod data;
pub mod drift;
pub mod error;
pub mod features;
pub mod leakage;
pub mod logistic;
pub mod metrics;
pub mod model;
pub mod progress;
pub mod series;
pub mod spec;
pub mod train;

pub use artifact::{Artifact, Candidate};
pub use data::{load, Table};
pub use error::TrainError;
pub use metrics::Metrics;
pub use spec::{DatasetSpec, TrainParams};
pub use train::{train, TrainOutput};
