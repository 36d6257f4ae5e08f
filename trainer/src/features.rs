//! The feature pipeline: fitted on the training split only, then applied unchanged to any
//! other rows (test split, backtest window, a file to score).
//!
//! - numeric: `(x - mean) / scale`, mean and population standard deviation of the training
//!   rows (scikit-learn's `StandardScaler`; a constant column gets scale 1). Under the `impute`
//!   policy an empty cell takes the training mean (so it standardises to 0).
//! - categorical: one-hot over the training rows' categories in sorted order, plus a last
//!   "unseen" column for any category the training rows did not have. Under `impute` an empty
//!   cell takes the training rows' most frequent category (ties: first in sorted order).

use std::collections::BTreeMap;

use ndarray::{Array2, ShapeBuilder};
use serde::{Deserialize, Serialize};

use crate::data::{Table, Values};
use crate::error::TrainError;
use crate::spec::DatasetSpec;

/// One fitted step.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(tag = "step", rename_all = "snake_case")]
pub enum Step {
    /// Standardise a numeric column.
    Standardise {
        /// The column.
        column: String,
        /// Training mean (also the imputed value).
        mean: f64,
        /// Training standard deviation (1 when it is 0).
        scale: f64,
    },
    /// One-hot encode a categorical column, with an "unseen" bucket last.
    OneHot {
        /// The column.
        column: String,
        /// Training categories, sorted.
        categories: Vec<String>,
        /// The category an empty cell takes under `impute`.
        impute: String,
    },
}

/// A fitted pipeline.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Pipeline {
    /// Steps in feature order.
    pub steps: Vec<Step>,
}

impl Pipeline {
    /// Fits the pipeline on `train` (every row of it).
    pub fn fit(spec: &DatasetSpec, train: &Table) -> Result<Pipeline, TrainError> {
        let design = spec.design_features();
        if design.len() != train.features.len() {
            return Err(TrainError::Spec("the table's features do not match the spec's".into()));
        }
        let mut steps = Vec::with_capacity(design.len());
        for (f, values) in design.iter().zip(&train.features) {
            let step = match values {
                Values::Numeric(v) => {
                    // Welford: no overflow from summing large values.
                    let (mut k, mut mean, mut m2) = (0.0f64, 0.0f64, 0.0f64);
                    for x in v.iter().flatten() {
                        k += 1.0;
                        let d = x - mean;
                        mean += d / k;
                        m2 += d * (x - mean);
                    }
                    if k == 0.0 {
                        return Err(TrainError::AllNull { column: f.column.clone() });
                    }
                    let sd = (m2 / k).sqrt();
                    if !mean.is_finite() || !sd.is_finite() {
                        return Err(TrainError::TooLittleData(format!(
                            "feature `{}`: its values span too wide a range to standardise (the spread overflows a 64-bit float)",
                            f.column
                        )));
                    }
                    let scale = if sd > 0.0 && sd.is_normal() { sd } else { 1.0 };
                    Step::Standardise { column: f.column.clone(), mean, scale }
                }
                Values::Categorical(v) => {
                    let mut counts: BTreeMap<&str, usize> = BTreeMap::new();
                    for c in v.iter().flatten() {
                        *counts.entry(c.as_str()).or_default() += 1;
                    }
                    let mut impute = "";
                    let mut best = 0;
                    for (c, &n) in &counts {
                        if n > best {
                            best = n;
                            impute = c;
                        }
                    }
                    if counts.is_empty() {
                        return Err(TrainError::AllNull { column: f.column.clone() });
                    }
                    Step::OneHot {
                        column: f.column.clone(),
                        impute: impute.to_string(),
                        categories: counts.keys().map(|c| c.to_string()).collect(),
                    }
                }
            };
            steps.push(step);
        }
        Ok(Pipeline { steps })
    }

    /// Columns of the design matrix.
    pub fn width(&self) -> usize {
        self.steps
            .iter()
            .map(|s| match s {
                Step::Standardise { .. } => 1,
                Step::OneHot { categories, .. } => categories.len() + 1,
            })
            .sum()
    }

    /// Names of the design matrix's columns (`distance`, `company=Flash Cab`, `company=<unseen>`).
    pub fn names(&self) -> Vec<String> {
        let mut out = Vec::with_capacity(self.width());
        for s in &self.steps {
            match s {
                Step::Standardise { column, .. } => out.push(column.clone()),
                Step::OneHot { column, categories, .. } => {
                    out.extend(categories.iter().map(|c| format!("{column}={c}")));
                    out.push(format!("{column}=<unseen>"));
                }
            }
        }
        out
    }

    /// The design matrix of `table`'s rows, column-major (the layout linfa's gradient reads
    /// fastest). Errors if a feature's values do not match the step (wrong table).
    pub fn transform(&self, table: &Table) -> Result<Array2<f64>, TrainError> {
        let n = table.len();
        let p = self.width();
        let mut data = vec![0.0f64; n * p];
        let mut col = 0;
        for (step, values) in self.steps.iter().zip(&table.features) {
            match (step, values) {
                (Step::Standardise { column, mean, scale }, Values::Numeric(v)) => {
                    let out = &mut data[col * n..(col + 1) * n];
                    for (o, x) in out.iter_mut().zip(v) {
                        *o = (x.unwrap_or(*mean) - mean) / scale;
                    }
                    if let Some(i) = out.iter().position(|x| !x.is_finite()) {
                        return Err(TrainError::TooLittleData(format!(
                            "feature `{column}`: row {} is too far from the training rows to standardise",
                            table.row_numbers[i]
                        )));
                    }
                    col += 1;
                }
                (Step::OneHot { categories, impute, .. }, Values::Categorical(v)) => {
                    let w = categories.len() + 1;
                    let index: std::collections::HashMap<&str, usize> =
                        categories.iter().enumerate().map(|(i, c)| (c.as_str(), i)).collect();
                    for (i, c) in v.iter().enumerate() {
                        let c = c.as_deref().unwrap_or(impute.as_str());
                        let k = index.get(c).copied().unwrap_or(w - 1);
                        data[(col + k) * n + i] = 1.0;
                    }
                    col += w;
                }
                (s, _) => {
                    let column = match s {
                        Step::Standardise { column, .. } | Step::OneHot { column, .. } => column,
                    };
                    return Err(TrainError::Spec(format!(
                        "feature `{column}` changed type since the model was fitted"
                    )));
                }
            }
        }
        if self.steps.len() != table.features.len() {
            return Err(TrainError::Spec("the table's features do not match the model's".into()));
        }
        Array2::from_shape_vec((n, p).f(), data).map_err(|e| TrainError::Spec(e.to_string()))
    }
}
