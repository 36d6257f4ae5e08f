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

/// What the target is, and so which models and metrics apply.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, Default)]
#[serde(rename_all = "snake_case")]
pub enum Task {
    /// Two classes (`target.positive`, `target.negative`): logistic regression, ROC-AUC, log-loss.
    #[default]
    Classification,
    /// A number (a demand, a count): ridge or a Poisson GLM, MAE, MAPE, interval coverage.
    Regression,
}

impl Task {
    /// The name used in specs.
    pub fn as_str(self) -> &'static str {
        match self {
            Task::Classification => "classification",
            Task::Regression => "regression",
        }
    }
}

/// The target column.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Target {
    /// The column name.
    pub column: String,
    /// Classification: the value that means "positive" (compared as text: `yes`, `Yes`, `1`).
    /// Regression: absent (the column holds numbers).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub positive: Option<String>,
    /// Classification: the value that means "negative". When absent, the column must hold
    /// exactly one other value, which becomes the negative label.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub negative: Option<String>,
}

impl Target {
    /// The positive label (classification specs are checked to have one).
    pub fn positive(&self) -> &str {
        self.positive.as_deref().unwrap_or_default()
    }
}

/// Features computed from the target's own past, per series (docs/TRAINER.md, "Time-series
/// features"). A row at period `t` reads only periods `<= t - horizon` of its series, so no
/// feature ever reads the row's own target or anything after its forecast origin.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Series {
    /// Columns that identify one series (`["hr"]`: each hour of the day is its own series;
    /// empty: the whole file is one series). A series' value in a period is the mean target of
    /// its rows in that period.
    #[serde(default)]
    pub key: Vec<String>,
    /// Periods between the forecast origin and the forecast (at least 1): the row at period
    /// `t` is forecast at the end of period `t - horizon`.
    #[serde(default = "one")]
    pub horizon: usize,
    /// Lags in periods (each `>= horizon`): `<target>_lag_<k>` is the series' value at `t - k`.
    #[serde(default)]
    pub lags: Vec<usize>,
    /// Rolling windows in periods: `<target>_mean_<w>` and `<target>_std_<w>` over the `w`
    /// periods ending at `t - horizon`, from the values present (at least half of `w` for
    /// the mean, two and at least half for the sample standard deviation).
    #[serde(default)]
    pub rolling: Vec<usize>,
}

/// A calendar field derived from each row's period.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum CalendarField {
    /// ISO day of the week, 1 (Monday) to 7 (Sunday); one-hot encoded.
    DayOfWeek,
    /// 1 on Saturdays and Sundays, else 0.
    Weekend,
    /// Month, 1 to 12; one-hot encoded.
    Month,
    /// Day of the month, 1 to 31.
    DayOfMonth,
    /// Day of the year, 1 to 366.
    DayOfYear,
    /// ISO week of the year, 1 to 53.
    WeekOfYear,
}

impl CalendarField {
    /// The feature's name.
    pub fn name(self) -> &'static str {
        match self {
            CalendarField::DayOfWeek => "day_of_week",
            CalendarField::Weekend => "weekend",
            CalendarField::Month => "month",
            CalendarField::DayOfMonth => "day_of_month",
            CalendarField::DayOfYear => "day_of_year",
            CalendarField::WeekOfYear => "week_of_year",
        }
    }

    /// How the feature is read.
    pub fn kind(self) -> FeatureType {
        match self {
            CalendarField::DayOfWeek | CalendarField::Month => FeatureType::Categorical,
            _ => FeatureType::Numeric,
        }
    }
}

/// Calendar features from the time axis: its values are ISO dates (`2011-03-14`), or day
/// numbers counted from `origin` (day 1 is `origin`).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Calendar {
    /// The date of day 1, for a time axis of day numbers (`2011-01-01`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub origin: Option<String>,
    /// The fields, in design-matrix order after the declared features.
    pub fields: Vec<CalendarField>,
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
    /// Periods in the test window (default: the last window). The test window is the last
    /// `test_periods` periods of the file.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub test_periods: Option<usize>,
    /// Train only on the last this many periods before the test window (and its gap): the
    /// seeds' "train on the last 90 days" (default: every earlier period).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub train_periods: Option<usize>,
    /// Periods left out between the training rows and the test window (default 0).
    #[serde(default, skip_serializing_if = "is_zero")]
    pub gap_periods: usize,
    /// The fewest rows a test window may have (default 30): a smaller one is refused rather
    /// than judged on a handful of rows.
    #[serde(default = "thirty")]
    pub min_test_rows: usize,
}

fn is_zero(n: &usize) -> bool {
    *n == 0
}

fn thirty() -> usize {
    30
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
    /// What the target is (default: classification).
    #[serde(default)]
    pub task: Task,
    /// The target.
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
    /// Cell texts that mean "empty" besides the empty string (`["NA", "NaN"]`), compared after
    /// trimming: such a cell is empty, and then follows `missing`.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub missing_markers: Vec<String>,
    /// Features from the target's past (needs a time axis).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub series: Option<Series>,
    /// Calendar features (needs a time axis).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub calendar: Option<Calendar>,
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
        match (self.task, &self.target.positive) {
            (Task::Classification, None) => {
                return bad(format!(
                    "`target.positive` is missing: a classification target names its positive label (or set `\"task\": \"regression\"` for a numeric target `{}`)",
                    self.target.column
                ))
            }
            (Task::Regression, _) if self.target.positive.is_some() || self.target.negative.is_some() => {
                return bad("a regression target has no `positive` or `negative` label".into())
            }
            _ => {}
        }
        if (self.series.is_some() || self.calendar.is_some()) && self.time.is_none() {
            return bad("`series` and `calendar` features need a `time` axis".into());
        }
        if let Some(sr) = &self.series {
            if self.task != Task::Regression {
                return bad("`series` features read past values of a numeric target; they need `\"task\": \"regression\"`".into());
            }
            if sr.horizon == 0 {
                return bad(
                    "`series.horizon` must be at least 1: a feature may not read its own period".into()
                );
            }
            if sr.lags.is_empty() && sr.rolling.is_empty() {
                return bad("`series` declares no `lags` and no `rolling` windows".into());
            }
            if let Some(k) = sr.lags.iter().find(|&&k| k < sr.horizon) {
                return bad(format!(
                    "`series.lags` holds {k}, shorter than the horizon {}: that lag would read periods after the forecast origin",
                    sr.horizon
                ));
            }
            if sr.rolling.contains(&0) {
                return bad("`series.rolling` windows must be at least 1 period".into());
            }
            for k in &sr.key {
                if k == &self.target.column || self.target_derived.contains(k) {
                    return Err(TrainError::Leakage {
                        column: k.clone(),
                        reason: "is the target or derived from it".into(),
                        role: "series key".into(),
                    });
                }
            }
        }
        if let Some(c) = &self.calendar {
            if c.fields.is_empty() {
                return bad("`calendar.fields` is empty".into());
            }
            if let Some(o) = &c.origin {
                if crate::series::parse_date(o).is_none() {
                    return bad(format!("`calendar.origin` {o:?} is not a date (YYYY-MM-DD)"));
                }
            }
        }
        let mut names = std::collections::BTreeSet::new();
        for f in self.design_features() {
            if !names.insert(f.column.clone()) {
                return bad(format!(
                    "two features are named `{}` (a generated feature's name is taken by a declared one)",
                    f.column
                ));
            }
        }
        if let Some(t) = &self.time {
            if t.test_periods == Some(0) {
                return bad("`time.test_periods` must be at least 1".into());
            }
            if t.train_periods == Some(0) {
                return bad("`time.train_periods` must be at least 1".into());
            }
        }
        if self.segment.as_deref() == Some(self.target.column.as_str()) {
            return Err(TrainError::Leakage {
                column: self.target.column.clone(),
                reason: "is the target itself".into(),
                role: "segment column".into(),
            });
        }
        if self.target.negative.is_some() && self.target.negative == self.target.positive {
            return bad("`target.negative` equals `target.positive`".into());
        }
        let f = self.split.test_fraction;
        if !(f > 0.0 && f < 1.0) {
            return bad(format!("`split.test_fraction` must be between 0 and 1 (exclusive), not {f}"));
        }
        Ok(())
    }

    /// Every feature of the design matrix, in order: the declared ones, then the generated
    /// series features, then the calendar fields (all read from the table's `features`).
    pub fn design_features(&self) -> Vec<Feature> {
        let mut out = self.features.clone();
        let numeric = |column: String| Feature { column, kind: FeatureType::Numeric };
        if let Some(s) = &self.series {
            let t = &self.target.column;
            out.extend(s.lags.iter().map(|k| numeric(format!("{t}_lag_{k}"))));
            for w in &s.rolling {
                out.push(numeric(format!("{t}_mean_{w}")));
                out.push(numeric(format!("{t}_std_{w}")));
            }
        }
        if let Some(c) = &self.calendar {
            out.extend(c.fields.iter().map(|f| Feature { column: f.name().to_string(), kind: f.kind() }));
        }
        out
    }

    /// Every column the spec reads, each once, in a fixed order: target, features, time,
    /// segment, series keys.
    pub fn columns(&self) -> Vec<&str> {
        let mut out = vec![self.target.column.as_str()];
        let more = self.features.iter().map(|f| f.column.as_str());
        let keys = self.series.iter().flat_map(|s| s.key.iter().map(String::as_str));
        let more = more
            .chain(self.time.as_ref().map(|t| t.column.as_str()))
            .chain(self.segment.as_deref())
            .chain(keys);
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

/// The model family.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum ModelKind {
    /// Logistic regression (classification): L-BFGS on the weighted mean log loss.
    Logistic,
    /// Ridge regression (regression): solved exactly by a Cholesky factorisation.
    Ridge,
    /// Poisson GLM with a log link (counts): Newton's method with a Cholesky solve.
    Poisson,
}

impl ModelKind {
    /// The name used in parameters.
    pub fn as_str(self) -> &'static str {
        match self {
            ModelKind::Logistic => "logistic",
            ModelKind::Ridge => "ridge",
            ModelKind::Poisson => "poisson",
        }
    }

    /// The task it serves.
    pub fn task(self) -> Task {
        match self {
            ModelKind::Logistic => Task::Classification,
            ModelKind::Ridge | ModelKind::Poisson => Task::Regression,
        }
    }
}

/// Class weights for an imbalanced classification target: each training row's loss is
/// multiplied by its class's weight (scikit-learn's `class_weight`). In parameters:
/// `"balanced"` or `{"positive": 5.0, "negative": 1.0}`.
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
#[serde(try_from = "serde_json::Value", into = "serde_json::Value")]
pub enum ClassWeight {
    /// `n / (2 n_class)` for each class, so both classes weigh the same in total.
    Balanced,
    /// Fixed weights, each finite and > 0.
    Fixed {
        /// Weight of a positive row.
        positive: f64,
        /// Weight of a negative row.
        negative: f64,
    },
}

impl TryFrom<serde_json::Value> for ClassWeight {
    type Error = String;

    fn try_from(v: serde_json::Value) -> Result<Self, String> {
        const SHAPE: &str = "`class_weight` is \"balanced\" or {\"positive\": w, \"negative\": w}";
        match v {
            serde_json::Value::String(s) if s == "balanced" => Ok(ClassWeight::Balanced),
            serde_json::Value::Object(map) => {
                if let Some(k) = map.keys().find(|k| *k != "positive" && *k != "negative") {
                    return Err(format!("{SHAPE}: unknown member `{k}`"));
                }
                let get = |k: &str| -> Result<f64, String> {
                    let w = map
                        .get(k)
                        .ok_or_else(|| format!("{SHAPE}: `{k}` is missing"))?
                        .as_f64()
                        .ok_or_else(|| format!("{SHAPE}: `{k}` must be a number"))?;
                    if w.is_finite() && w > 0.0 {
                        Ok(w)
                    } else {
                        Err(format!("{SHAPE}: `{k}` must be finite and > 0, not {w}"))
                    }
                };
                Ok(ClassWeight::Fixed { positive: get("positive")?, negative: get("negative")? })
            }
            other => Err(format!("{SHAPE}, not {other}")),
        }
    }
}

impl From<ClassWeight> for serde_json::Value {
    fn from(c: ClassWeight) -> Self {
        match c {
            ClassWeight::Balanced => serde_json::Value::from("balanced"),
            ClassWeight::Fixed { positive, negative } => {
                serde_json::json!({"positive": positive, "negative": negative})
            }
        }
    }
}

/// Training parameters (hyper-parameters and strategy).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct TrainParams {
    /// The model family (default: `logistic` for classification, `ridge` for regression).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub model: Option<ModelKind>,
    /// Global or segmented router.
    pub strategy: Strategy,
    /// How the router routes.
    pub router_mode: RouterMode,
    /// Minimum training rows for a segment to get its own model.
    pub min_segment_rows: usize,
    /// L2 penalty on the coefficients (not the intercept), in scikit-learn's terms for each
    /// family: `1/C` of `LogisticRegression`, `alpha` of `Ridge` (on the sum of squared errors)
    /// and of `PoissonRegressor` (on the mean half deviance).
    pub alpha: f64,
    /// Iteration cap: L-BFGS iterations (logistic), Newton steps (Poisson); ridge is solved
    /// directly.
    pub max_iterations: u64,
    /// Convergence tolerance: the largest component of the gradient of the *mean* objective
    /// (logistic and Poisson; scikit-learn's `tol` for lbfgs).
    pub tolerance: f64,
    /// Backtest window mode.
    pub backtest: WindowMode,
    /// Training windows for a rolling backtest.
    pub train_windows: usize,
    /// Backtest only the last this many windows (the seeds' "weekly windows over the last
    /// 90 days" is 13 windows of 7 periods); default: every window after the first.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub backtest_windows: Option<usize>,
    /// Regression: the central share of the training residuals the prediction interval
    /// covers (default 0.8: from the 10% to the 90% residual quantile).
    pub interval: f64,
    /// Regression: the relative miss that counts as a stockout or an overstock (default 0.2).
    pub stock_tolerance: f64,
    /// Classification: class weights (default: every row weighs 1).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub class_weight: Option<ClassWeight>,
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
            backtest_windows: None,
            interval: 0.8,
            stock_tolerance: 0.2,
            model: None,
            class_weight: None,
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
        if self.backtest_windows == Some(0) {
            return bad("`backtest_windows` must be at least 1");
        }
        if !(self.interval > 0.0 && self.interval < 1.0) {
            return bad("`interval` must be between 0 and 1 (exclusive)");
        }
        if !(self.stock_tolerance.is_finite() && self.stock_tolerance >= 0.0) {
            return bad("`stock_tolerance` must be a finite number >= 0");
        }
        Ok(())
    }

    /// The `(positive, negative)` weights for training labels `y` (`(1, 1)` unweighted).
    pub fn class_weights(&self, y: &[bool]) -> (f64, f64) {
        match self.class_weight {
            None => (1.0, 1.0),
            Some(ClassWeight::Fixed { positive, negative }) => (positive, negative),
            Some(ClassWeight::Balanced) => {
                let n = y.len() as f64;
                let pos = y.iter().filter(|&&t| t).count() as f64;
                // Both classes are present whenever a fit runs; a single class is refused there.
                (n / (2.0 * pos.max(1.0)), n / (2.0 * (n - pos).max(1.0)))
            }
        }
    }

    /// The model family for `task`: the one named, or the task's default. A family of another
    /// task is refused.
    pub fn model_for(&self, task: Task) -> Result<ModelKind, TrainError> {
        if self.class_weight.is_some() && task == Task::Regression {
            return Err(TrainError::Spec(
                "training parameters: `class_weight` applies to classification; the spec's task is regression"
                    .into(),
            ));
        }
        match self.model {
            None => Ok(match task {
                Task::Classification => ModelKind::Logistic,
                Task::Regression => ModelKind::Ridge,
            }),
            Some(m) if m.task() == task => Ok(m),
            Some(m) => Err(TrainError::Spec(format!(
                "training parameters: `model` is `{}`, a {} model, but the spec's task is {}",
                m.as_str(),
                m.task().as_str(),
                task.as_str()
            ))),
        }
    }
}
