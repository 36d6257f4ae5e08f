//! Helpers: the shipped data sets and specs, in-memory CSV tables.

use std::path::PathBuf;

use trainer::data::{frame_from_bytes, validate};
use trainer::{DatasetSpec, Table, TrainError};

pub fn data(name: &str) -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("data").join(name)
}

pub fn spec(name: &str) -> DatasetSpec {
    DatasetSpec::from_json(&std::fs::read_to_string(data(name)).unwrap()).unwrap()
}

pub fn spec_json(json: serde_json::Value) -> DatasetSpec {
    DatasetSpec::from_json(&json.to_string()).unwrap()
}

/// Validates CSV text against a spec.
pub fn csv(text: &str, spec: &DatasetSpec) -> Result<Table, TrainError> {
    let frame = frame_from_bytes(text.as_bytes().to_vec(), false)
        .map_err(|m| TrainError::Read { path: "<test>".into(), message: m })?;
    validate(&frame, spec)
}
