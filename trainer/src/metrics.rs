//! Classification metrics, with scikit-learn's definitions (see docs/TRAINER.md).
//!
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

/// Metrics of one evaluation.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Metrics {
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

impl Metrics {
    /// Computes every metric. `p` are positive-class probabilities, `y` labels. Empty input is
    /// refused with `None`.
    pub fn compute(y: &[bool], p: &[f64]) -> Option<Metrics> {
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
        Some(Metrics {
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
