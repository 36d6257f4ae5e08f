//! Splits, candidate fitting, walk-forward backtests: the trainer's main job.

use std::collections::BTreeMap;

use serde::Serialize;

use crate::artifact::{Artifact, Candidate, Interval, FORMAT};
use crate::data::{LoadReport, Table};
use crate::error::TrainError;
use crate::features::Pipeline;
use crate::leakage;
use crate::metrics::{Metrics, Scored};
use crate::model::Fitted;
use crate::progress::Progress;
use crate::spec::{DatasetSpec, Strategy, Task, TrainParams, WindowMode};

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

/// The split: by time when the spec has a time axis (the test window is the last
/// `time.test_periods` periods, or the last window; `time.gap_periods` before it are left out;
/// every earlier row trains), otherwise seeded (and stratified by class for a classifier).
/// A test window with fewer than `time.min_test_rows` rows is refused.
pub fn split(table: &Table, spec: &DatasetSpec) -> Result<Split, TrainError> {
    if let (Some(t), Some(period)) = (&spec.time, &table.period) {
        let present: std::collections::BTreeSet<usize> = period.iter().copied().collect();
        let last = present.iter().next_back().copied().unwrap_or(0);
        let test_from = match t.test_periods {
            Some(k) => (last + 1).saturating_sub(k),
            None => {
                let w = windows(table, spec);
                if w.len() < 2 {
                    return Err(TrainError::TooLittleData(format!(
                        "the time axis has {} non-empty window(s); a time split needs at least two (train on the past, test on the future)",
                        w.len()
                    )));
                }
                let first_label = &w[w.len() - 1].1;
                table.periods.iter().position(|p| p == first_label).unwrap_or(last)
            }
        };
        let train_to = test_from.saturating_sub(t.gap_periods); // exclusive
        let train_from = t.train_periods.map_or(0, |k| train_to.saturating_sub(k));
        let test: Vec<usize> = (0..table.len()).filter(|&i| period[i] >= test_from).collect();
        let train: Vec<usize> =
            (0..table.len()).filter(|&i| period[i] >= train_from && period[i] < train_to).collect();
        if train.is_empty() {
            return Err(TrainError::TooLittleData(format!(
                "no training rows before the test window (test from period {}, gap {} periods)",
                table.periods.get(test_from).cloned().unwrap_or_default(),
                t.gap_periods
            )));
        }
        if test.len() < t.min_test_rows.max(1) {
            return Err(TrainError::TooLittleData(format!(
                "the test window (from period {}) has {} rows, fewer than `time.min_test_rows` {}; set `time.test_periods` to hold out more periods",
                table.periods.get(test_from).cloned().unwrap_or_default(),
                test.len(),
                t.min_test_rows
            )));
        }
        let label = |i: usize| table.periods.get(i).cloned().unwrap_or_default();
        let t0 = label(train.iter().map(|&i| period[i]).min().unwrap_or(0));
        let t1 = label(train.iter().map(|&i| period[i]).max().unwrap_or(0));
        let (f, l) = (label(test_from), label(last));
        let range = if f == l { f } else { format!("{f}..{l}") };
        let gap = if t.gap_periods > 0 { format!(", gap {} periods", t.gap_periods) } else { String::new() };
        return Ok(Split {
            train,
            test,
            description: format!("time split: train {t0}..{t1}{gap}, test {range}"),
        });
    }
    let s = spec.split;
    let mut rng = SplitMix64(s.seed);
    let mut test = Vec::new();
    let mut train = Vec::new();
    let strata: Vec<Option<bool>> = match table.task {
        Task::Classification => vec![Some(false), Some(true)],
        Task::Regression => vec![None],
    };
    for class in strata {
        let mut idx: Vec<usize> =
            (0..table.len()).filter(|&i| class.is_none_or(|c| (table.target[i] == 1.0) == c)).collect();
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
            "seeded split: seed {}, {:.0}% test{}",
            s.seed,
            s.test_fraction * 100.0,
            if table.task == Task::Classification { ", stratified by class" } else { "" }
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
    let model = Fitted::fit(params.model_for(spec.task)?, &x, &train.target, params)?;
    let interval = match spec.task {
        Task::Classification => None,
        Task::Regression => {
            let p = model.predict(&x);
            let r: Vec<f64> = train.target.iter().zip(&p).map(|(y, p)| y - p).collect();
            Interval::from_residuals(&r, params.interval)
        }
    };
    Ok(Artifact {
        format: FORMAT.to_string(),
        segment,
        spec: spec.clone(),
        params: params.clone(),
        dataset_digest: dataset_digest.to_string(),
        trained_on: trained_on.to_string(),
        train_rows: train.len(),
        pipeline,
        model,
        interval,
    })
}

/// Whether a classifier's rows hold a single class (`Some(the class)`); never for regression.
fn single_class(table: &Table, rows: &[usize]) -> Option<bool> {
    if table.task != Task::Classification || rows.is_empty() {
        return None;
    }
    let pos = rows.iter().filter(|&&i| table.target[i] == 1.0).count();
    (pos == 0 || pos == rows.len()).then_some(pos > 0)
}

/// Fits a candidate on `train`: the global model, then (segmented router) a model per
/// segment with at least `min_segment_rows` training rows (and both classes, for a classifier).
/// The leakage guard is the caller's: [`train`] runs it once, on the training split.
pub fn fit_candidate(
    spec: &DatasetSpec,
    params: &TrainParams,
    train: &Table,
    dataset_digest: &str,
    trained_on: &str,
) -> Result<Candidate, TrainError> {
    params.check()?;
    let all: Vec<usize> = (0..train.len()).collect();
    if let Some(class) = single_class(train, &all) {
        return Err(TrainError::SingleClass {
            column: spec.target.column.clone(),
            class: if class {
                spec.target.positive().to_string()
            } else {
                train.report.negative_label.clone()
            },
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
            if rows.len() < params.min_segment_rows {
                skipped.insert(
                    name.to_string(),
                    format!(
                        "{} training rows, fewer than min_segment_rows {}",
                        rows.len(),
                        params.min_segment_rows
                    ),
                );
            } else if single_class(train, &rows).is_some() {
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
    let mut out = Vec::new();
    let mut skipped = Vec::new();
    let first = params.backtest_windows.map_or(1, |n| w.len().saturating_sub(n).max(1));
    let min_rows = spec.time.as_ref().map_or(1, |t| t.min_test_rows.max(1));
    progress.stage("walk-forward backtest", w.len().saturating_sub(first) as u64);
    for k in first..w.len() {
        if w[k].0.len() < min_rows {
            skipped.push(format!(
                "window {k} ({}..{}): {} rows, fewer than `time.min_test_rows` {min_rows}",
                w[k].1,
                w[k].2,
                w[k].0.len()
            ));
            progress.step();
            continue;
        }
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
        let metrics = evaluate(&test, &p, params).expect("a window has rows");
        let mut segments = BTreeMap::new();
        if let Some(seg) = &test.segment {
            for (name, model) in &candidate.segments {
                let rows: Vec<usize> = (0..test.len()).filter(|&i| &seg[i] == name).collect();
                if rows.is_empty() {
                    continue;
                }
                let sub = test.select(&rows);
                let ps = model.score(&sub)?;
                segments.insert(name.clone(), evaluate(&sub, &ps, params).expect("non-empty"));
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

/// The metrics of scores against a labelled table's targets, by its task (`None`: no rows).
pub fn evaluate(table: &Table, scored: &Scored, params: &TrainParams) -> Option<Metrics> {
    Metrics::evaluate(table.task, &table.target, scored, params.stock_tolerance)
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
    leakage::guard(spec, &train)?;
    progress.stage("fitting the candidate", 1);
    let mut candidate = fit_candidate(spec, params, &train, dataset_digest, &s.description)?;
    progress.step();
    // A segment model with no test rows cannot be judged: it is left out (its rows go to the
    // global model) and the run says so.
    if let Some(seg) = &test.segment {
        let untested: Vec<String> =
            candidate.segments.keys().filter(|name| !seg.contains(name)).cloned().collect();
        for name in untested {
            candidate.segments.remove(&name);
            candidate.skipped.insert(
                name,
                "no rows in the test split, so its model cannot be evaluated (its rows go to the global model)".into(),
            );
        }
    }
    let p = candidate.score(&test)?;
    let metrics = evaluate(&test, &p, params).expect("the test split has rows");
    let mut model_metrics = BTreeMap::new();
    let pg = candidate.global.score(&test)?;
    model_metrics.insert(None, evaluate(&test, &pg, params).expect("non-empty"));
    if let Some(seg) = &test.segment {
        for (name, model) in &candidate.segments {
            let rows: Vec<usize> = (0..test.len()).filter(|&i| &seg[i] == name).collect();
            let sub = test.select(&rows);
            let ps = model.score(&sub)?;
            model_metrics.insert(Some(name.clone()), evaluate(&sub, &ps, params).expect("non-empty"));
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
