//! The leakage guard: refuses features and routing columns that leak the target.
//!
//! A column is refused when the spec names it target-derived (`target_derived`), or when on the
//! training rows it alone gives the answer away. For a classifier: every category holds a
//! single class (a label column), or a threshold splits the classes with no overlap (a numeric
//! column). For a regression target: a numeric feature that is an exact affine function of the
//! target (|Pearson r| >= 0.999999, as `bikers` and `casual + registered`), or a label column
//! in which every category holds a single target value while there are at least two and
//! fewer categories than rows. A model that can read the answer off one column learns nothing
//! it can use on future rows. The guard runs once, on the training split.

use std::collections::BTreeMap;

use crate::data::{Table, Values};
use crate::error::TrainError;
use crate::spec::DatasetSpec;

fn refuse(column: &str, reason: String, role: &str) -> TrainError {
    TrainError::Leakage { column: column.to_string(), reason, role: role.to_string() }
}

/// Checks every feature and the segment column of `train` (the rows a model learns from).
pub fn guard(spec: &DatasetSpec, train: &Table) -> Result<(), TrainError> {
    for f in &spec.features {
        if spec.target_derived.contains(&f.column) {
            return Err(refuse(&f.column, "is declared target-derived in the spec".into(), "features"));
        }
    }
    if let Some(s) = &spec.segment {
        if spec.target_derived.contains(s) {
            return Err(refuse(
                s,
                "is declared target-derived in the spec; routing on it would route on the answer".into(),
                "segment column",
            ));
        }
    }
    if train.task == crate::spec::Task::Regression {
        return guard_numeric_target(spec, train);
    }
    let y: Vec<bool> = train.target.iter().map(|&t| t == 1.0).collect();
    let y = &y;
    let pos = y.iter().filter(|&&t| t).count();
    if pos == 0 || pos == y.len() {
        return Ok(()); // nothing to separate; the trainer reports the single class itself
    }
    for (f, values) in spec.features.iter().zip(&train.features) {
        let why = match values {
            Values::Numeric(v) => separates_numeric(v, y),
            Values::Categorical(v) => separates_labels(v.iter().map(|c| c.as_deref()), y),
        };
        if let Some(why) = why {
            return Err(refuse(&f.column, why, "features"));
        }
    }
    if let (Some(s), Some(seg)) = (&spec.segment, &train.segment) {
        if let Some(why) = separates_labels(seg.iter().map(|c| Some(c.as_str())), y) {
            return Err(refuse(s, why, "segment column"));
        }
    }
    Ok(())
}

fn separates_labels<'a>(values: impl Iterator<Item = Option<&'a str>>, y: &[bool]) -> Option<String> {
    let mut classes: BTreeMap<&str, (usize, usize)> = BTreeMap::new();
    for (v, &t) in values.zip(y) {
        let e = classes.entry(v?).or_default();
        if t {
            e.1 += 1;
        } else {
            e.0 += 1;
        }
    }
    let pure = classes.values().all(|&(neg, pos)| neg == 0 || pos == 0);
    (pure && classes.len() >= 2).then(|| {
        format!(
            "alone separates the classes perfectly in the {} training rows (each of its {} values holds a single class)",
            y.len(),
            classes.len()
        )
    })
}

fn separates_numeric(v: &[Option<f64>], y: &[bool]) -> Option<String> {
    let (mut pmin, mut pmax, mut nmin, mut nmax) =
        (f64::INFINITY, f64::NEG_INFINITY, f64::INFINITY, f64::NEG_INFINITY);
    for (x, &t) in v.iter().zip(y) {
        let Some(x) = *x else { continue };
        if t {
            pmin = pmin.min(x);
            pmax = pmax.max(x);
        } else {
            nmin = nmin.min(x);
            nmax = nmax.max(x);
        }
    }
    if !(pmin.is_finite() && nmin.is_finite()) {
        return None;
    }
    let (low, high, cut) = if nmax < pmin {
        ("negative", "positive", nmax)
    } else if pmax < nmin {
        ("positive", "negative", pmax)
    } else {
        return None;
    };
    Some(format!(
        "alone separates the classes perfectly in the {} training rows (every value <= {cut} is {low}, every larger one {high})",
        y.len()
    ))
}

fn guard_numeric_target(spec: &DatasetSpec, train: &Table) -> Result<(), TrainError> {
    let y = &train.target;
    for (f, values) in spec.design_features().iter().zip(&train.features) {
        let why = match values {
            Values::Numeric(v) => affine(v, y),
            Values::Categorical(v) => constant_per_label(v.iter().map(|c| c.as_deref()), y),
        };
        if let Some(why) = why {
            return Err(refuse(&f.column, why, "features"));
        }
    }
    if let (Some(s), Some(seg)) = (&spec.segment, &train.segment) {
        if let Some(why) = constant_per_label(seg.iter().map(|c| Some(c.as_str())), y) {
            return Err(refuse(s, why, "segment column"));
        }
    }
    Ok(())
}

fn affine(v: &[Option<f64>], y: &[f64]) -> Option<String> {
    let pairs: Vec<(f64, f64)> = v.iter().zip(y).filter_map(|(x, &y)| x.map(|x| (x, y))).collect();
    if pairs.len() < 3 {
        return None;
    }
    let n = pairs.len() as f64;
    let (mx, my) = pairs.iter().fold((0.0, 0.0), |(a, b), (x, y)| (a + x / n, b + y / n));
    let (mut sxy, mut sxx, mut syy) = (0.0, 0.0, 0.0);
    for (x, y) in &pairs {
        sxy += (x - mx) * (y - my);
        sxx += (x - mx) * (x - mx);
        syy += (y - my) * (y - my);
    }
    if sxx <= 0.0 || syy <= 0.0 {
        return None;
    }
    let r = sxy / (sxx * syy).sqrt();
    (r.abs() >= 0.999_999).then(|| {
        format!(
            "is an exact linear function of the target in the {} training rows (Pearson r = {r:.6})",
            pairs.len()
        )
    })
}

fn constant_per_label<'a>(values: impl Iterator<Item = Option<&'a str>>, y: &[f64]) -> Option<String> {
    let mut seen: BTreeMap<&str, (f64, bool)> = BTreeMap::new();
    let mut rows = 0usize;
    for (v, &t) in values.zip(y) {
        let Some(v) = v else { continue };
        rows += 1;
        let e = seen.entry(v).or_insert((t, true));
        if e.0 != t {
            e.1 = false;
        }
    }
    let distinct: std::collections::BTreeSet<u64> = y.iter().map(|t| t.to_bits()).collect();
    let pure = seen.values().all(|&(_, same)| same);
    (pure && seen.len() >= 2 && seen.len() < rows && distinct.len() >= 2).then(|| {
        format!(
            "alone gives the target away in the {rows} training rows (each of its {} values holds a single target value)",
            seen.len()
        )
    })
}
