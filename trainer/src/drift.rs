//! Drift between a baseline and a recent sample: population stability index per feature and
//! the model's metrics on each.
//!
//! Binning (the same for every caller, so PSI figures are comparable across runs):
//! - numeric: edges are the baseline's deciles (10%..90%, linear interpolation between order
//!   statistics, numpy's default), duplicates removed; a value falls in bin
//!   `#{edges < value}`, so bins are closed on the right. Empty cells get their own bin.
//! - categorical: one bin per baseline category, one for categories the baseline never had,
//!   one for empty cells.
//!
//! Shares below 0.0001 are raised to 0.0001 before `PSI = sum (r - b) ln(r / b)`, so an empty
//! bin on one side gives a large but finite index. Conventional reading: < 0.1 stable,
//! 0.1-0.2 moderate shift, > 0.2 significant shift.

use std::collections::BTreeMap;

use serde::Serialize;

use crate::data::{Table, Values};
use crate::error::TrainError;
use crate::metrics::Metrics;
use crate::spec::DatasetSpec;

/// The smallest share a bin is given.
pub const SHARE_FLOOR: f64 = 1e-4;

/// One bin of a PSI computation.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Bin {
    /// What the bin holds (`<= 3.2`, `(3.2, 5.1]`, `> 9.4`, a category, `<unseen>`, `<empty>`).
    pub label: String,
    /// Share of baseline rows.
    pub baseline: f64,
    /// Share of recent rows.
    pub recent: f64,
}

/// PSI of one feature.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct FeatureDrift {
    /// The feature.
    pub column: String,
    /// The index.
    pub psi: f64,
    /// The bins.
    pub bins: Vec<Bin>,
}

/// A drift check's result.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct DriftReport {
    /// Per feature, in spec order.
    pub features: Vec<FeatureDrift>,
    /// The model on the baseline rows (when a model was given).
    pub baseline: Option<Metrics>,
    /// The model on the recent rows.
    pub recent: Option<Metrics>,
    /// Baseline rows.
    pub baseline_rows: usize,
    /// Recent rows.
    pub recent_rows: usize,
}

impl DriftReport {
    /// PSI by feature.
    pub fn psi(&self) -> BTreeMap<String, f64> {
        self.features.iter().map(|f| (f.column.clone(), f.psi)).collect()
    }
}

/// Population stability index over paired shares.
pub fn psi(bins: &[Bin]) -> f64 {
    bins.iter()
        .map(|b| {
            let (x, y) = (b.baseline.max(SHARE_FLOOR), b.recent.max(SHARE_FLOOR));
            (y - x) * (y / x).ln()
        })
        .sum()
}

/// Quantile with linear interpolation between order statistics (numpy's default). `sorted`
/// must be sorted and non-empty.
pub fn quantile(sorted: &[f64], q: f64) -> f64 {
    let h = (sorted.len() - 1) as f64 * q;
    let lo = h.floor() as usize;
    let hi = (lo + 1).min(sorted.len() - 1);
    sorted[lo] + (h - lo as f64) * (sorted[hi] - sorted[lo])
}

/// Bins of a numeric feature.
pub fn numeric_bins(baseline: &[Option<f64>], recent: &[Option<f64>]) -> Vec<Bin> {
    let mut sorted: Vec<f64> = baseline.iter().flatten().copied().collect();
    sorted.sort_by(f64::total_cmp);
    let mut edges: Vec<f64> = if sorted.is_empty() {
        Vec::new()
    } else {
        (1..=9).map(|d| quantile(&sorted, d as f64 / 10.0)).collect()
    };
    edges.dedup();
    let k = edges.len() + 2; // value bins + empty
    let count = |values: &[Option<f64>]| {
        let mut c = vec![0usize; k];
        for v in values {
            let bin = match v {
                Some(x) => edges.iter().filter(|&&e| e < *x).count(),
                None => k - 1,
            };
            c[bin] += 1;
        }
        c
    };
    let (cb, cr) = (count(baseline), count(recent));
    let label = |i: usize| -> String {
        if i == k - 1 {
            "<empty>".into()
        } else if edges.is_empty() {
            "all values".into()
        } else if i == 0 {
            format!("<= {}", edges[0])
        } else if i == edges.len() {
            format!("> {}", edges[i - 1])
        } else {
            format!("({}, {}]", edges[i - 1], edges[i])
        }
    };
    shares(&cb, &cr, baseline.len(), recent.len(), label)
}

fn shares(cb: &[usize], cr: &[usize], nb: usize, nr: usize, label: impl Fn(usize) -> String) -> Vec<Bin> {
    (0..cb.len())
        .filter(|&i| cb[i] + cr[i] > 0)
        .map(|i| Bin {
            label: label(i),
            baseline: cb[i] as f64 / nb.max(1) as f64,
            recent: cr[i] as f64 / nr.max(1) as f64,
        })
        .collect()
}

/// Bins of a categorical feature.
pub fn categorical_bins(baseline: &[Option<String>], recent: &[Option<String>]) -> Vec<Bin> {
    let cats: Vec<&str> = {
        let mut c: Vec<&str> = baseline.iter().flatten().map(String::as_str).collect();
        c.sort_unstable();
        c.dedup();
        c
    };
    let k = cats.len() + 2;
    let count = |values: &[Option<String>]| {
        let mut c = vec![0usize; k];
        for v in values {
            let bin = match v {
                Some(x) => cats.binary_search(&x.as_str()).unwrap_or(k - 2),
                None => k - 1,
            };
            c[bin] += 1;
        }
        c
    };
    let (cb, cr) = (count(baseline), count(recent));
    let label = |i: usize| match i {
        i if i == k - 1 => "<empty>".to_string(),
        i if i == k - 2 => "<unseen>".to_string(),
        i => cats[i].to_string(),
    };
    shares(&cb, &cr, baseline.len(), recent.len(), label)
}

/// A scorer: the model whose metrics are compared (e.g. the champion's artifact).
pub type Scorer<'a> = &'a dyn Fn(&Table) -> Result<crate::metrics::Scored, TrainError>;

/// Compares `recent` with `baseline` (both validated against `spec`): PSI per feature of the
/// design (declared and generated) and, with a scorer, the model's metrics on each
/// (`stock_tolerance` as in [`crate::spec::TrainParams`]).
pub fn check(
    spec: &DatasetSpec,
    baseline: &Table,
    recent: &Table,
    scorer: Option<Scorer<'_>>,
    stock_tolerance: f64,
) -> Result<DriftReport, TrainError> {
    let design = spec.design_features();
    let mut features = Vec::with_capacity(design.len());
    for ((f, b), r) in design.iter().zip(&baseline.features).zip(&recent.features) {
        let bins = match (b, r) {
            (Values::Numeric(b), Values::Numeric(r)) => numeric_bins(b, r),
            (Values::Categorical(b), Values::Categorical(r)) => categorical_bins(b, r),
            _ => {
                return Err(TrainError::Spec(format!(
                    "feature `{}` differs in type between the files",
                    f.column
                )))
            }
        };
        features.push(FeatureDrift { column: f.column.clone(), psi: psi(&bins), bins });
    }
    let (mb, mr) = match scorer {
        Some(score) => (
            Metrics::evaluate(baseline.task, &baseline.target, &score(baseline)?, stock_tolerance),
            Metrics::evaluate(recent.task, &recent.target, &score(recent)?, stock_tolerance),
        ),
        None => (None, None),
    };
    Ok(DriftReport {
        features,
        baseline: mb,
        recent: mr,
        baseline_rows: baseline.len(),
        recent_rows: recent.len(),
    })
}
