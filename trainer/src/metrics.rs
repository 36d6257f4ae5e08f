//! Evaluation metrics (see docs/TRAINER.md): [`ClassMetrics`] for classifiers, with
//! scikit-learn's definitions, and [`ForecastMetrics`] for regression and forecasts.
//!
//! Classification:
//! - `roc_auc`: area under the ROC curve by the trapezoidal rule over distinct score thresholds,
//!   as `sklearn.metrics.roc_auc_score`: tied scores form one threshold, so a tie between a
//!   positive and a negative counts one half.
//! - `pr_auc`: average precision, as `sklearn.metrics.average_precision_score`:
//!   `sum_k (R_k - R_{k-1}) P_k` over distinct thresholds, highest first, no interpolation.
//! - `log_loss`: mean negative log-likelihood with probabilities clipped to
//!   `[eps, 1 - eps]`, `eps` = `f64::EPSILON` (scikit-learn >= 1.5).
//! - `brier`: mean squared difference between probability and label.
//! - `accuracy`: share of rows where `p > 0.5` agrees with the label (the rule of
//!   `LogisticRegression.predict`: decision function > 0).
//! - `ece`: expected calibration error over 10 equal-width bins; a probability `p` falls in
//!   bin `#{j in 1..=9 : j * 0.1 < p}` (`np.digitize(p, edges, right=True)`, the binning of
//!   `sklearn.calibration.calibration_curve(strategy="uniform")`); ECE is the row-weighted mean
//!   of `|mean(label) - mean(p)|` over non-empty bins.
//! - `positive_rate`: share of positive labels; `predicted_positive_rate`: share with `p > 0.5`.
//! - `rows`, `positives`: counts.
//!
//! With a single class present ROC-AUC and average precision are undefined; they are left out
//! (scikit-learn warns and returns NaN or 0) so that no gate ever compares an undefined number.

use std::collections::BTreeMap;

use serde::{Deserialize, Serialize};

use crate::spec::Task;

/// Metrics of one evaluation, by task.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(untagged)]
pub enum Metrics {
    /// A classifier's.
    Classification(ClassMetrics),
    /// A regression model's or forecaster's.
    Regression(ForecastMetrics),
}

impl Metrics {
    /// The metrics as the ledger's name -> number map (undefined metrics left out).
    pub fn to_map(&self) -> BTreeMap<String, f64> {
        match self {
            Metrics::Classification(m) => m.to_map(),
            Metrics::Regression(m) => m.to_map(),
        }
    }

    /// A classifier's metrics, if these are.
    pub fn classification(&self) -> Option<&ClassMetrics> {
        match self {
            Metrics::Classification(m) => Some(m),
            Metrics::Regression(_) => None,
        }
    }

    /// A regression model's metrics, if these are.
    pub fn regression(&self) -> Option<&ForecastMetrics> {
        match self {
            Metrics::Regression(m) => Some(m),
            Metrics::Classification(_) => None,
        }
    }

    /// Rows evaluated.
    pub fn rows(&self) -> u64 {
        match self {
            Metrics::Classification(m) => m.rows,
            Metrics::Regression(m) => m.rows,
        }
    }

    /// Evaluates scores against targets by the task: `y` is 1.0/0.0 for a classifier and the
    /// number for a regression model; `scored` holds probabilities or predictions (and the
    /// prediction intervals, for regression). `None` for no rows.
    pub fn evaluate(task: Task, y: &[f64], scored: &Scored, tolerance: f64) -> Option<Metrics> {
        match task {
            Task::Classification => {
                let labels: Vec<bool> = y.iter().map(|&t| t == 1.0).collect();
                ClassMetrics::compute(&labels, &scored.value).map(Metrics::Classification)
            }
            Task::Regression => {
                ForecastMetrics::compute(y, &scored.value, scored.interval.as_deref(), tolerance)
                    .map(Metrics::Regression)
            }
        }
    }
}

/// What a model says about rows: a probability (classifier) or a prediction (regression),
/// and for regression the prediction interval of each row.
#[derive(Debug, Clone, PartialEq, Default)]
pub struct Scored {
    /// One score per row.
    pub value: Vec<f64>,
    /// Regression: the `(lower, upper)` interval bounds of each row.
    pub interval: Option<Vec<(f64, f64)>>,
}

/// Regression and forecast metrics. `e_i = yhat_i - y_i` over `n` rows:
///
/// - `mae` = mean |e|; `rmse` = sqrt(mean e^2); `bias` = mean e (positive: over-forecast);
/// - `mape` = mean |e_i| / |y_i| over the rows with `y_i != 0` (a fraction: 0.23 is 23%);
///   rows with a zero actual are left out and counted in `zero_actuals`; undefined when every
///   actual is zero;
/// - `wape` = sum |e| / sum |y| (undefined when every actual is zero);
/// - `coverage` = share of rows with `lower_i <= y_i <= upper_i` (when intervals are given);
/// - `stockout_miss_rate` = share of rows with `y_i > (1 + tau) yhat_i`: stocking to the
///   forecast, demand ran out more than `tau` beyond it;
/// - `overstock_rate` = share of rows with `yhat_i > (1 + tau) y_i`: the forecast stocked more
///   than `tau` beyond demand; `tau` is the training parameter `stock_tolerance` (0.2).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ForecastMetrics {
    /// Mean absolute error.
    pub mae: f64,
    /// Root mean squared error.
    pub rmse: f64,
    /// Mean absolute percentage error (a fraction), over rows with a non-zero actual.
    pub mape: Option<f64>,
    /// Weighted absolute percentage error (a fraction).
    pub wape: Option<f64>,
    /// Mean of prediction minus actual.
    pub bias: f64,
    /// Share of actuals inside their prediction interval.
    pub coverage: Option<f64>,
    /// Share of rows whose demand exceeded the forecast by more than the tolerance.
    pub stockout_miss_rate: f64,
    /// Share of rows whose forecast exceeded demand by more than the tolerance.
    pub overstock_rate: f64,
    /// Rows evaluated.
    pub rows: u64,
    /// Rows with a zero actual (left out of MAPE).
    pub zero_actuals: u64,
}

impl ForecastMetrics {
    /// Computes every metric; `None` for no rows.
    pub fn compute(
        y: &[f64],
        yhat: &[f64],
        interval: Option<&[(f64, f64)]>,
        tolerance: f64,
    ) -> Option<ForecastMetrics> {
        assert_eq!(y.len(), yhat.len(), "actuals and predictions differ in length");
        if y.is_empty() {
            return None;
        }
        let n = y.len() as f64;
        let (mut abs, mut sq, mut sum_e, mut sum_y) = (0.0, 0.0, 0.0, 0.0);
        let (mut ape, mut ape_rows, mut stockout, mut overstock) = (0.0, 0usize, 0usize, 0usize);
        for (&a, &f) in y.iter().zip(yhat) {
            let e = f - a;
            abs += e.abs();
            sq += e * e;
            sum_e += e;
            sum_y += a.abs();
            if a != 0.0 {
                ape += e.abs() / a.abs();
                ape_rows += 1;
            }
            if a > (1.0 + tolerance) * f {
                stockout += 1;
            }
            if f > (1.0 + tolerance) * a {
                overstock += 1;
            }
        }
        let coverage = interval.map(|iv| {
            assert_eq!(iv.len(), y.len(), "actuals and intervals differ in length");
            y.iter().zip(iv).filter(|(&a, &(lo, hi))| lo <= a && a <= hi).count() as f64 / n
        });
        Some(ForecastMetrics {
            mae: abs / n,
            rmse: (sq / n).sqrt(),
            mape: (ape_rows > 0).then(|| ape / ape_rows as f64),
            wape: (sum_y > 0.0).then(|| abs / sum_y),
            bias: sum_e / n,
            coverage,
            stockout_miss_rate: stockout as f64 / n,
            overstock_rate: overstock as f64 / n,
            rows: y.len() as u64,
            zero_actuals: (y.len() - ape_rows) as u64,
        })
    }

    /// The metrics as the ledger's name -> number map (undefined metrics left out).
    pub fn to_map(&self) -> BTreeMap<String, f64> {
        let mut m = BTreeMap::new();
        m.insert("mae".into(), self.mae);
        m.insert("rmse".into(), self.rmse);
        if let Some(v) = self.mape {
            m.insert("mape".into(), v);
        }
        if let Some(v) = self.wape {
            m.insert("wape".into(), v);
        }
        m.insert("bias".into(), self.bias);
        if let Some(v) = self.coverage {
            m.insert("coverage".into(), v);
        }
        m.insert("stockout_miss_rate".into(), self.stockout_miss_rate);
        m.insert("overstock_rate".into(), self.overstock_rate);
        m.insert("rows".into(), self.rows as f64);
        m.insert("zero_actuals".into(), self.zero_actuals as f64);
        m
    }
}

/// A classifier's metrics.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ClassMetrics {
    /// ROC-AUC, when both classes are present.
    pub roc_auc: Option<f64>,
    /// Average precision, when both classes are present.
    pub pr_auc: Option<f64>,
    /// Log-loss.
    pub log_loss: f64,
    /// Brier score.
    pub brier: f64,
    /// Accuracy at 0.5.
    pub accuracy: f64,
    /// Expected calibration error (10 uniform bins).
    pub ece: f64,
    /// Share of positive labels.
    pub positive_rate: f64,
    /// Share of rows predicted positive.
    pub predicted_positive_rate: f64,
    /// Rows evaluated.
    pub rows: u64,
    /// Positive rows.
    pub positives: u64,
}

impl ClassMetrics {
    /// Computes every metric. `p` are positive-class probabilities, `y` labels. Empty input is
    /// refused with `None`.
    pub fn compute(y: &[bool], p: &[f64]) -> Option<ClassMetrics> {
        assert_eq!(y.len(), p.len(), "labels and scores differ in length");
        if y.is_empty() {
            return None;
        }
        let n = y.len() as f64;
        let positives = y.iter().filter(|&&t| t).count();
        let eps = f64::EPSILON;
        let mut log_loss = 0.0;
        let mut brier = 0.0;
        let mut correct = 0usize;
        let mut predicted = 0usize;
        for (&t, &q) in y.iter().zip(p) {
            let c = q.clamp(eps, 1.0 - eps);
            log_loss -= if t { c.ln() } else { (1.0 - c).ln() };
            let l = if t { 1.0 } else { 0.0 };
            brier += (q - l) * (q - l);
            if (q > 0.5) == t {
                correct += 1;
            }
            if q > 0.5 {
                predicted += 1;
            }
        }
        let two_classes = positives > 0 && positives < y.len();
        Some(ClassMetrics {
            roc_auc: two_classes.then(|| roc_auc(y, p)),
            pr_auc: two_classes.then(|| average_precision(y, p)),
            log_loss: log_loss / n,
            brier: brier / n,
            accuracy: correct as f64 / n,
            ece: ece(y, p),
            positive_rate: positives as f64 / n,
            predicted_positive_rate: predicted as f64 / n,
            rows: y.len() as u64,
            positives: positives as u64,
        })
    }

    /// The metrics as the ledger's name → number map (undefined metrics left out).
    pub fn to_map(&self) -> BTreeMap<String, f64> {
        let mut m = BTreeMap::new();
        if let Some(a) = self.roc_auc {
            m.insert("roc_auc".into(), a);
        }
        if let Some(a) = self.pr_auc {
            m.insert("pr_auc".into(), a);
        }
        m.insert("log_loss".into(), self.log_loss);
        m.insert("brier".into(), self.brier);
        m.insert("accuracy".into(), self.accuracy);
        m.insert("ece".into(), self.ece);
        m.insert("positive_rate".into(), self.positive_rate);
        m.insert("predicted_positive_rate".into(), self.predicted_positive_rate);
        m.insert("rows".into(), self.rows as f64);
        m.insert("positives".into(), self.positives as f64);
        m
    }
}

/// Cumulative (false positives, true positives) at each distinct threshold, highest first.
fn curve(y: &[bool], p: &[f64]) -> Vec<(f64, f64)> {
    let mut order: Vec<usize> = (0..y.len()).collect();
    order.sort_by(|&a, &b| p[b].total_cmp(&p[a]));
    let mut out = Vec::new();
    let (mut fp, mut tp) = (0.0, 0.0);
    for (k, &i) in order.iter().enumerate() {
        if y[i] {
            tp += 1.0;
        } else {
            fp += 1.0;
        }
        let last_of_tie = order.get(k + 1).is_none_or(|&j| p[j] != p[i]);
        if last_of_tie {
            out.push((fp, tp));
        }
    }
    out
}

/// ROC-AUC (trapezoidal, ties as one threshold). Requires both classes.
pub fn roc_auc(y: &[bool], p: &[f64]) -> f64 {
    let pts = curve(y, p);
    let (fp_total, tp_total) = *pts.last().expect("non-empty input");
    let mut area = 0.0;
    let (mut x0, mut y0) = (0.0, 0.0);
    for &(fp, tp) in &pts {
        let (x1, y1) = (fp / fp_total, tp / tp_total);
        area += (x1 - x0) * (y0 + y1) / 2.0;
        (x0, y0) = (x1, y1);
    }
    area
}

/// Average precision (step-wise, no interpolation). Requires at least one positive.
pub fn average_precision(y: &[bool], p: &[f64]) -> f64 {
    let pts = curve(y, p);
    let tp_total = pts.last().expect("non-empty input").1;
    let mut ap = 0.0;
    let mut r0 = 0.0;
    for &(fp, tp) in &pts {
        let r = tp / tp_total;
        let precision = if tp + fp > 0.0 { tp / (tp + fp) } else { 1.0 };
        ap += (r - r0) * precision;
        r0 = r;
    }
    ap
}

/// Expected calibration error over 10 uniform bins (see the module docs for the bin rule).
pub fn ece(y: &[bool], p: &[f64]) -> f64 {
    let mut count = [0usize; 10];
    let mut sum_p = [0.0f64; 10];
    let mut sum_y = [0.0f64; 10];
    for (&t, &q) in y.iter().zip(p) {
        let bin = (1..=9).filter(|&j| (j as f64) * 0.1 < q).count();
        count[bin] += 1;
        sum_p[bin] += q;
        sum_y[bin] += if t { 1.0 } else { 0.0 };
    }
    let n = y.len() as f64;
    (0..10)
        .filter(|&b| count[b] > 0)
        .map(|b| {
            let c = count[b] as f64;
            (sum_y[b] / c - sum_p[b] / c).abs() * c / n
        })
        .sum()
}
