//! The dataset spec and the training parameters: what a file means and how to learn from it.
//!
//! Both are JSON documents with unknown keys refused, so a typo (`"segmnet"`) is an error and
//! not a silently ignored setting. Both are hashed into the artifact, so a model says exactly
//! which spec and parameters made it.

use serde::{Deserialize, Serialize};

use crate::error::TrainError;

/// How a feature column is read.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum FeatureType {
    /// A number; standardised with the training split's mean and standard deviation.
    Numeric,
    /// A label; one-hot encoded over the training split's categories plus an "unseen" bucket.
    Categorical,
}

/// One feature column.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Feature {
    /// The column name in the file.
    pub column: String,
    /// How it is read.
    #[serde(rename = "type")]
    pub kind: FeatureType,
}

/// The label column.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Target {
    /// The column name.
    pub column: String,
    /// The value that means "positive" (compared as text: `yes`, `Yes`, `1`).
    pub positive: String,
    /// The value that means "negative". When absent, the column must hold exactly one other
    /// value, which becomes the negative label.
    #[serde(default)]
    pub negative: Option<String>,
}

/// The time axis: what orders rows into periods.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct TimeAxis {
    /// The column name.
    pub column: String,
    /// The periods in time order, for a column of labels (`["Jan", "Feb", "Mar", "Apr"]`). When
    /// absent, values are ordered as numbers if they all parse as numbers, otherwise as text
    /// (which is time order for ISO-8601 dates).
    #[serde(default)]
    pub order: Option<Vec<String>>,
    /// Consecutive periods per window (default 1): the unit of the time split, the walk-forward
    /// backtest and drift windows.
    #[serde(default = "one")]
    pub periods_per_window: usize,
}

fn one() -> usize {
    1
}

/// What happens to empty feature, segment or time cells. There is no silent default: the
/// policy is part of the spec and of every artifact.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, Default)]
#[serde(rename_all = "snake_case")]
pub enum MissingPolicy {
    /// Any empty cell is an error naming the column and rows (the default).
    #[default]
    Refuse,
    /// Rows with an empty cell in a used column are dropped; the artifact records how many and which.
    DropRows,
    /// Numeric cells get the training split's mean, categorical cells the training split's
    /// most frequent category (ties: the first in sorted order). Empty segment or time cells
    /// are still refused: rows cannot be routed or ordered by a guess.
    Impute,
}

/// The random split used when there is no time axis.
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RandomSplit {
    /// Share of rows held out for testing (0 < f < 1).
    pub test_fraction: f64,
    /// The seed; the same seed and file give the same split on every machine.
    pub seed: u64,
}

impl Default for RandomSplit {
    fn default() -> Self {
        RandomSplit { test_fraction: 0.25, seed: 42 }
    }
}

/// A dataset spec.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct DatasetSpec {
    /// A name for humans (`taxi`).
    pub name: String,
    /// The label.
    pub target: Target,
    /// The features, in design-matrix order.
    pub features: Vec<Feature>,
    /// The time axis, if the data has one: the split and backtests then go by time.
    #[serde(default)]
    pub time: Option<TimeAxis>,
    /// The segment column a segmented router routes on.
    #[serde(default)]
    pub segment: Option<String>,
    /// Columns known to be derived from the target; naming one as a feature or segment is refused.
    #[serde(default)]
    pub target_derived: Vec<String>,
    /// What happens to empty cells.
    #[serde(default)]
    pub missing: MissingPolicy,
    /// The split used when there is no time axis.
    #[serde(default)]
    pub split: RandomSplit,
}

impl DatasetSpec {
    /// Parses and checks a spec document.
    pub fn from_json(text: &str) -> Result<DatasetSpec, TrainError> {
        let spec: DatasetSpec = serde_json::from_str(text).map_err(|e| TrainError::Spec(e.to_string()))?;
        spec.check()?;
        Ok(spec)
    }

    /// Checks the spec's internal consistency.
    pub fn check(&self) -> Result<(), TrainError> {
        let bad = |m: String| Err(TrainError::Spec(m));
        if self.features.is_empty() {
            return bad("`features` is empty; name at least one feature column".into());
        }
        let mut seen = std::collections::BTreeSet::new();
        for f in &self.features {
            if !seen.insert(f.column.as_str()) {
                return bad(format!("feature `{}` is listed twice", f.column));
            }
            if f.column == self.target.column {
                return Err(TrainError::Leakage {
                    column: f.column.clone(),
                    reason: "is the target itself".into(),
                    role: "features".into(),
                });
            }
        }
        if let Some(t) = &self.time {
            if t.column == self.target.column {
                return bad(format!("the time column `{}` is the target", t.column));
            }
            if t.periods_per_window == 0 {
                return bad("`time.periods_per_window` must be at least 1".into());
            }
            if let Some(order) = &t.order {
                let set: std::collections::BTreeSet<_> = order.iter().collect();
                if set.len() != order.len() || order.is_empty() {
                    return bad("`time.order` must list each period once".into());
                }
            }
        }
        if self.segment.as_deref() == Some(self.target.column.as_str()) {
            return Err(TrainError::Leakage {
                column: self.target.column.clone(),
                reason: "is the target itself".into(),
                role: "segment column".into(),
            });
        }
        if self.target.negative.as_deref() == Some(self.target.positive.as_str()) {
            return bad("`target.negative` equals `target.positive`".into());
        }
        let f = self.split.test_fraction;
        if !(f > 0.0 && f < 1.0) {
            return bad(format!("`split.test_fraction` must be between 0 and 1 (exclusive), not {f}"));
        }
        Ok(())
    }

    /// Every column the spec reads, each once, in a fixed order: target, features, time, segment.
    pub fn columns(&self) -> Vec<&str> {
        let mut out = vec![self.target.column.as_str()];
        let more = self.features.iter().map(|f| f.column.as_str());
        let more = more.chain(self.time.as_ref().map(|t| t.column.as_str())).chain(self.segment.as_deref());
        for c in more {
            if !out.contains(&c) {
                out.push(c);
            }
        }
        out
    }
}

/// How a candidate is built.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, Default)]
#[serde(rename_all = "snake_case")]
pub enum Strategy {
    /// One model for every row.
    #[default]
    Global,
    /// One model per segment with enough training rows, the global model for the rest.
    SegmentedRouter,
}

/// Which rows a segmented router sends to a segment model.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, Default)]
#[serde(rename_all = "snake_case")]
pub enum RouterMode {
    /// Route on the segment column alone: a row goes to its segment's model if there is one,
    /// otherwise to the global model.
    #[default]
    SegmentOnly,
}

/// Walk-forward windows' training span.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, Default)]
#[serde(rename_all = "snake_case")]
pub enum WindowMode {
    /// Train on every earlier window.
    #[default]
    Expanding,
    /// Train on the `train_windows` most recent earlier windows.
    Rolling,
}

/// Training parameters (hyper-parameters and strategy).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct TrainParams {
    /// Global or segmented router.
    pub strategy: Strategy,
    /// How the router routes.
    pub router_mode: RouterMode,
    /// Minimum training rows for a segment to get its own model.
    pub min_segment_rows: usize,
    /// L2 penalty on the coefficients (not the intercept); `alpha = 1/C` in scikit-learn's terms.
    pub alpha: f64,
    /// L-BFGS iteration cap.
    pub max_iterations: u64,
    /// Convergence tolerance on the L2 norm of the gradient of the *mean* loss (scaled by the
    /// row count before it is handed to linfa, whose loss is a sum).
    pub tolerance: f64,
    /// Backtest window mode.
    pub backtest: WindowMode,
    /// Training windows for a rolling backtest.
    pub train_windows: usize,
}

impl Default for TrainParams {
    fn default() -> Self {
        TrainParams {
            strategy: Strategy::Global,
            router_mode: RouterMode::SegmentOnly,
            min_segment_rows: 200,
            alpha: 1.0,
            max_iterations: 100,
            tolerance: 1e-4,
            backtest: WindowMode::Expanding,
            train_windows: 2,
        }
    }
}

impl TrainParams {
    /// Checks ranges.
    pub fn check(&self) -> Result<(), TrainError> {
        let bad = |m: &str| Err(TrainError::Spec(format!("training parameters: {m}")));
        if !(self.alpha.is_finite() && self.alpha >= 0.0) {
            return bad("`alpha` must be a finite number >= 0");
        }
        if !(self.tolerance.is_finite() && self.tolerance > 0.0) {
            return bad("`tolerance` must be a finite number > 0");
        }
        if self.max_iterations == 0 {
            return bad("`max_iterations` must be at least 1");
        }
        if self.min_segment_rows == 0 {
            return bad("`min_segment_rows` must be at least 1");
        }
        if self.train_windows == 0 {
            return bad("`train_windows` must be at least 1");
        }
        Ok(())
    }
}
