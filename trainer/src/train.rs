//! Splits, candidate fitting, walk-forward backtests: the trainer's main job.

use std::collections::BTreeMap;

use serde::Serialize;

use crate::artifact::{Artifact, Candidate, FORMAT};
use crate::data::{LoadReport, Table};
use crate::error::TrainError;
use crate::features::Pipeline;
use crate::leakage;
use crate::metrics::Metrics;
use crate::model::Logistic;
use crate::progress::Progress;
use crate::spec::{DatasetSpec, Strategy, TrainParams, WindowMode};

/// A train/test split (indices into the table, ascending).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Split {
    /// Training rows.
    pub train: Vec<usize>,
    /// Test rows.
    pub test: Vec<usize>,
    /// What it is, for humans and the record.
    pub description: String,
}

/// SplitMix64: a tiny, fixed, portable generator, so a seed means the same split everywhere.
#[derive(Debug, Clone)]
pub struct SplitMix64(pub u64);

impl SplitMix64 {
    /// The next number.
    pub fn next_u64(&mut self) -> u64 {
        self.0 = self.0.wrapping_add(0x9E37_79B9_7F4A_7C15);
        let mut z = self.0;
        z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
        z ^ (z >> 31)
    }

    /// Fisher-Yates shuffle.
    pub fn shuffle<T>(&mut self, v: &mut [T]) {
        for i in (1..v.len()).rev() {
            let j = (self.next_u64() % (i as u64 + 1)) as usize;
            v.swap(i, j);
        }
    }
}

/// Windows of a time-axis table: each a list of row indices, in time order, empty ones dropped.
/// Also returns each window's first and last period label.
pub fn windows(table: &Table, spec: &DatasetSpec) -> Vec<(Vec<usize>, String, String)> {
    let (Some(period), Some(t)) = (&table.period, &spec.time) else { return Vec::new() };
    let per = t.periods_per_window;
    let count = table.periods.len().div_ceil(per);
    let mut rows = vec![Vec::new(); count];
    for (i, &p) in period.iter().enumerate() {
        rows[p / per].push(i);
    }
    rows.into_iter()
        .enumerate()
        .filter(|(_, r)| !r.is_empty())
        .map(|(w, r)| {
            let first = table.periods[w * per].clone();
            let last = table.periods[((w + 1) * per).min(table.periods.len()) - 1].clone();
            (r, first, last)
        })
        .collect()
}

/// The split: by time when the spec has a time axis (the last window is the test, every
/// earlier row trains), otherwise seeded and stratified by class.
pub fn split(table: &Table, spec: &DatasetSpec) -> Result<Split, TrainError> {
    if spec.time.is_some() {
        let w = windows(table, spec);
        if w.len() < 2 {
            return Err(TrainError::TooLittleData(format!(
                "the time axis has {} non-empty window(s); a time split needs at least two (train on the past, test on the future)",
                w.len()
            )));
        }
        let (test, first, last) = w.last().cloned().unwrap_or_default();
        let mut train: Vec<usize> = w[..w.len() - 1].iter().flat_map(|(r, _, _)| r.iter().copied()).collect();
        train.sort_unstable();
        let range = if first == last { first } else { format!("{first}..{last}") };
        let (t0, t1) = (&w[0].1, &w[w.len() - 2].2);
        return Ok(Split { train, test, description: format!("time split: train {t0}..{t1}, test {range}") });
    }
    let s = spec.split;
    let mut rng = SplitMix64(s.seed);
    let mut test = Vec::new();
    let mut train = Vec::new();
    for class in [false, true] {
        let mut idx: Vec<usize> = (0..table.len()).filter(|&i| table.target[i] == class).collect();
        rng.shuffle(&mut idx);
        let k = ((idx.len() as f64) * s.test_fraction).round() as usize;
        let k = if idx.len() >= 2 { k.clamp(1, idx.len() - 1) } else { k.min(idx.len()) };
        test.extend_from_slice(&idx[..k]);
        train.extend_from_slice(&idx[k..]);
    }
    train.sort_unstable();
    test.sort_unstable();
    if train.is_empty() || test.is_empty() {
        return Err(TrainError::TooLittleData(format!(
            "{} rows are too few to hold out a test split",
            table.len()
        )));
    }
    Ok(Split {
        train,
        test,
        description: format!(
            "seeded split: seed {}, {:.0}% test, stratified by class",
            s.seed,
            s.test_fraction * 100.0
        ),
    })
}

fn fit_one(
    spec: &DatasetSpec,
    params: &TrainParams,
    train: &Table,
    segment: Option<String>,
    dataset_digest: &str,
    trained_on: &str,
) -> Result<Artifact, TrainError> {
    let pipeline = Pipeline::fit(spec, train)?;
    let x = pipeline.transform(train)?;
    let logistic = Logistic::fit(&x, &train.target, params)?;
    Ok(Artifact {
        format: FORMAT.to_string(),
        segment,
        spec: spec.clone(),
        params: params.clone(),
        dataset_digest: dataset_digest.to_string(),
        trained_on: trained_on.to_string(),
        train_rows: train.len(),
        pipeline,
        logistic,
    })
}

/// Fits a candidate on `train`: the leakage guard, the global model, then (segmented router)
/// a model per segment with at least `min_segment_rows` training rows and both classes.
pub fn fit_candidate(
    spec: &DatasetSpec,
    params: &TrainParams,
    train: &Table,
    dataset_digest: &str,
    trained_on: &str,
) -> Result<Candidate, TrainError> {
    params.check()?;
    leakage::guard(spec, train)?;
    let pos = train.target.iter().filter(|&&t| t).count();
    if pos == 0 || pos == train.len() {
        return Err(TrainError::SingleClass {
            column: spec.target.column.clone(),
            class: if pos == 0 { train.report.negative_label.clone() } else { spec.target.positive.clone() },
            scope: format!("the training rows ({trained_on})"),
        });
    }
    let global = fit_one(spec, params, train, None, dataset_digest, trained_on)?;
    let mut segments = BTreeMap::new();
    let mut skipped = BTreeMap::new();
    if params.strategy == Strategy::SegmentedRouter {
        let (Some(col), Some(seg)) = (&spec.segment, &train.segment) else {
            return Err(TrainError::Spec(
                "the segmented_router strategy needs a `segment` column in the spec".into(),
            ));
        };
        let mut groups: BTreeMap<&str, Vec<usize>> = BTreeMap::new();
        for (i, s) in seg.iter().enumerate() {
            groups.entry(s.as_str()).or_default().push(i);
        }
        for (name, rows) in groups {
            let pos = rows.iter().filter(|&&i| train.target[i]).count();
            if rows.len() < params.min_segment_rows {
                skipped.insert(
                    name.to_string(),
                    format!(
                        "{} training rows, fewer than min_segment_rows {}",
                        rows.len(),
                        params.min_segment_rows
                    ),
                );
            } else if pos == 0 || pos == rows.len() {
                skipped
                    .insert(name.to_string(), format!("a single class in its {} training rows", rows.len()));
            } else {
                let sub = train.select(&rows);
                let on = format!("{trained_on}, {col} = {name}");
                let model = fit_one(spec, params, &sub, Some(name.to_string()), dataset_digest, &on)?;
                segments.insert(name.to_string(), model);
            }
        }
    }
    Ok(Candidate { global, segments, skipped })
}

/// One walk-forward window's result.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Window {
    /// 1-based window number (window 0 only ever trains).
    pub index: usize,
    /// First period of the training span.
    pub train_start: String,
    /// Last period of the training span.
    pub train_end: String,
    /// First period of the test window.
    pub window_start: String,
    /// Last period of the test window.
    pub window_end: String,
    /// Training rows.
    pub train_rows: usize,
    /// The candidate's metrics over the whole window.
    pub metrics: Metrics,
    /// Per segment that has its own model in the window's candidate: that model on its rows.
    pub segments: BTreeMap<String, Metrics>,
}

/// Walk-forward backtest: for each window after the first, train on earlier windows
/// (expanding, or the `train_windows` latest for rolling) and test on the window. Windows
/// whose training rows hold a single class are skipped and listed in the second result.
pub fn walk_forward(
    spec: &DatasetSpec,
    params: &TrainParams,
    table: &Table,
    dataset_digest: &str,
    progress: &Progress,
) -> Result<(Vec<Window>, Vec<String>), TrainError> {
    let w = windows(table, spec);
    progress.stage("walk-forward backtest", w.len().saturating_sub(1) as u64);
    let mut out = Vec::new();
    let mut skipped = Vec::new();
    for k in 1..w.len() {
        let from = match params.backtest {
            WindowMode::Expanding => 0,
            WindowMode::Rolling => k.saturating_sub(params.train_windows),
        };
        let mut train_idx: Vec<usize> = w[from..k].iter().flat_map(|(r, _, _)| r.iter().copied()).collect();
        train_idx.sort_unstable();
        let train = table.select(&train_idx);
        let test = table.select(&w[k].0);
        let on = format!("backtest window {k}: train {}..{}", w[from].1, w[k - 1].2);
        let candidate = match fit_candidate(spec, params, &train, dataset_digest, &on) {
            Ok(c) => c,
            Err(TrainError::SingleClass { .. }) => {
                skipped.push(format!("window {k} ({}): its training rows hold a single class", w[k].1));
                progress.step();
                continue;
            }
            Err(e) => return Err(e),
        };
        let p = candidate.score(&test)?;
        let metrics = Metrics::compute(&test.target, &p).expect("a window has rows");
        let mut segments = BTreeMap::new();
        if let Some(seg) = &test.segment {
            for (name, model) in &candidate.segments {
                let rows: Vec<usize> = (0..test.len()).filter(|&i| &seg[i] == name).collect();
                if rows.is_empty() {
                    continue;
                }
                let sub = test.select(&rows);
                let ps = model.score(&sub)?;
                segments.insert(name.clone(), Metrics::compute(&sub.target, &ps).expect("non-empty"));
            }
        }
        out.push(Window {
            index: k,
            train_start: w[from].1.clone(),
            train_end: w[k - 1].2.clone(),
            window_start: w[k].1.clone(),
            window_end: w[k].2.clone(),
            train_rows: train.len(),
            metrics,
            segments,
        });
        progress.step();
    }
    Ok((out, skipped))
}

/// Everything one training run produces.
#[derive(Debug, Clone)]
pub struct TrainOutput {
    /// The fitted candidate.
    pub candidate: Candidate,
    /// The split description.
    pub split: String,
    /// Training and test row counts.
    pub train_rows: usize,
    /// Test rows.
    pub test_rows: usize,
    /// The candidate (router) on the test split.
    pub metrics: Metrics,
    /// Each model on the test rows it serves: the global model on every test row, a segment
    /// model on its segment's test rows. Keyed by segment (`None`: global).
    pub model_metrics: BTreeMap<Option<String>, Metrics>,
    /// Walk-forward windows (time axis only).
    pub backtest: Vec<Window>,
    /// Windows skipped, and why.
    pub backtest_skipped: Vec<String>,
    /// What loading did.
    pub load: LoadReport,
}

/// Scores the test split of `table` (the same split [`train`] makes) with `score`, on the rows
/// of `segment` only when one is given: how a serving model does on exactly the rows a
/// candidate was evaluated on. `None` when the split has no such rows.
pub fn evaluate_on_test(
    spec: &DatasetSpec,
    table: &Table,
    segment: Option<&str>,
    score: &dyn Fn(&Table) -> Result<Vec<f64>, TrainError>,
) -> Result<Option<Metrics>, TrainError> {
    let s = split(table, spec)?;
    let rows: Vec<usize> = match (segment, &table.segment) {
        (None, _) => s.test,
        (Some(name), Some(seg)) => s.test.into_iter().filter(|&i| seg[i] == name).collect(),
        (Some(_), None) => return Ok(None),
    };
    if rows.is_empty() {
        return Ok(None);
    }
    let sub = table.select(&rows);
    let p = score(&sub)?;
    Ok(Metrics::compute(&sub.target, &p))
}

/// Trains a candidate on `table`: split, fit, evaluate, backtest.
pub fn train(
    spec: &DatasetSpec,
    params: &TrainParams,
    table: &Table,
    dataset_digest: &str,
    progress: &Progress,
) -> Result<TrainOutput, TrainError> {
    params.check()?;
    let s = split(table, spec)?;
    let train = table.select(&s.train);
    let test = table.select(&s.test);
    progress.stage("fitting the candidate", 1);
    let candidate = fit_candidate(spec, params, &train, dataset_digest, &s.description)?;
    progress.step();
    let p = candidate.score(&test)?;
    let metrics = Metrics::compute(&test.target, &p).expect("the test split has rows");
    let mut model_metrics = BTreeMap::new();
    let pg = candidate.global.score(&test)?;
    model_metrics.insert(None, Metrics::compute(&test.target, &pg).expect("non-empty"));
    if let Some(seg) = &test.segment {
        for (name, model) in &candidate.segments {
            let rows: Vec<usize> = (0..test.len()).filter(|&i| &seg[i] == name).collect();
            if rows.is_empty() {
                return Err(TrainError::TooLittleData(format!(
                    "segment `{name}` has a model but no rows in the test split, so it cannot be evaluated"
                )));
            }
            let sub = test.select(&rows);
            let ps = model.score(&sub)?;
            model_metrics.insert(Some(name.clone()), Metrics::compute(&sub.target, &ps).expect("non-empty"));
        }
    }
    let (backtest, backtest_skipped) = if spec.time.is_some() {
        walk_forward(spec, params, table, dataset_digest, progress)?
    } else {
        (Vec::new(), Vec::new())
    };
    progress.finish();
    Ok(TrainOutput {
        candidate,
        split: s.description,
        train_rows: s.train.len(),
        test_rows: s.test.len(),
        metrics,
        model_metrics,
        backtest,
        backtest_skipped,
        load: table.report.clone(),
    })
}
