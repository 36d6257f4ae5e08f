//! Trainer bench: fit time and AUC on `taxi.csv` and on a synthetic table with taxi's columns.
//!
//! `cargo run --release -p trainer --example bench -- --json [--rows N] [--repeat K] [--csv PATH]
//! [--design DIR] [--wide-rows N]`
//!
//! Prints one JSON object. Fit time is the logistic fit on the design matrix alone (what
//! `compare_sklearn.py` times for scikit-learn); load and pipeline times are reported beside it.
//! Medians over `--repeat` runs (default 5; the synthetic table defaults to 1,000,000 rows).
//! `--csv PATH` writes the synthetic table so the Python script fits the very same rows.
//! The forecasters (ridge and Poisson) are timed on the bike data with the lags spec
//! (`bikeshare-lags.spec.json`); `--design DIR` writes that design matrix (`x_train.csv`,
//! `y_train.csv`, `x_test.csv`, `y_test.csv`) for `compare_sklearn.py --design DIR`, and the
//! wide logistic designs (124 and 448 columns, `--wide-rows` training rows, default 60,000) in
//! `DIR/wide124` and `DIR/wide448`, timed here beside linfa-logistic on the same rows.

use std::path::PathBuf;

use ndarray::ShapeBuilder;
use std::time::Instant;

use serde_json::json;
use trainer::features::Pipeline;
use trainer::metrics::{Metrics, Scored};
use trainer::model::Fitted;
use trainer::spec::ModelKind;
use trainer::train::{split, SplitMix64};
use trainer::{DatasetSpec, TrainParams};

// The allocator `pledge` itself uses.
#[global_allocator]
static GLOBAL: mimalloc::MiMalloc = mimalloc::MiMalloc;

fn median(mut v: Vec<f64>) -> f64 {
    v.sort_by(f64::total_cmp);
    v[v.len() / 2]
}

fn synthetic(rows: usize) -> String {
    let companies = [
        "Chicago Independents",
        "City Service",
        "Flash Cab",
        "Sun Taxi",
        "Taxi Affiliation Services",
        "Taxicab Insurance Agency Llc",
        "other",
    ];
    let days = ["Mon", "Tue", "Wed", "Thu", "Fri", "Sat", "Sun"];
    let months = ["Jan", "Feb", "Mar", "Apr"];
    let mut r = SplitMix64(2026);
    let mut unit = move || (r.next_u64() >> 11) as f64 / (1u64 << 53) as f64;
    let mut out = String::with_capacity(rows * 48);
    out.push_str("tip,distance,company,local,dow,month,hour\n");
    for _ in 0..rows {
        let distance = (-(1.0 - unit()).ln() * 6.0 * 100.0).round() / 100.0;
        let c = (unit() * 7.0) as usize;
        let local = unit() < 0.2;
        let d = (unit() * 7.0) as usize;
        let m = (unit() * 4.0) as usize;
        let hour = (unit() * 24.0) as usize;
        let z = 1.8 + 0.05 * distance - 0.4 * f64::from(u8::from(local)) + 0.15 * (c as f64 - 3.0)
            - 0.02 * (hour as f64 - 12.0)
            + if d >= 5 { 0.3 } else { 0.0 };
        let tip = unit() < 1.0 / (1.0 + (-z).exp());
        out.push_str(&format!(
            "{},{distance},{},{},{},{},{hour}\n",
            if tip { "yes" } else { "no" },
            companies[c],
            if local { "yes" } else { "no" },
            days[d],
            months[m]
        ));
    }
    out
}

fn bench(spec: &DatasetSpec, path: &std::path::Path, repeat: usize) -> serde_json::Value {
    let params = TrainParams::default();
    let t = Instant::now();
    let (table, _) = trainer::load(path, spec).expect("load");
    let load_s = t.elapsed().as_secs_f64();
    let s = split(&table, spec).expect("split");
    let (train, test) = (table.select(&s.train), table.select(&s.test));
    let t = Instant::now();
    let pipeline = Pipeline::fit(spec, &train).expect("pipeline");
    let x = pipeline.transform(&train).expect("transform");
    let xt = pipeline.transform(&test).expect("transform");
    let pipeline_s = t.elapsed().as_secs_f64();
    let mut fits = Vec::new();
    let mut model = None;
    for _ in 0..repeat {
        let t = Instant::now();
        let m = Fitted::fit(ModelKind::Logistic, &x, &train.target, &params).expect("fit");
        fits.push(t.elapsed().as_secs_f64());
        model = Some(m);
    }
    let model = model.expect("at least one run");
    let scored = Scored { value: model.predict(&xt), interval: None };
    let m = Metrics::evaluate(test.task, &test.target, &scored, params.stock_tolerance)
        .expect("metrics")
        .to_map();
    json!({
        "rows": table.len(), "train_rows": train.len(), "test_rows": test.len(),
        "design_columns": x.ncols(), "load_s": load_s, "pipeline_s": pipeline_s,
        "fit_s_median": median(fits.clone()), "fit_s_runs": fits,
        "roc_auc": m.get("roc_auc"), "log_loss": m.get("log_loss"),
    })
}

/// A synthetic classification design of `cols` columns (24 numeric, the rest one-hot blocks of
/// 5 to 40 levels) and `rows` rows, about 15% positive: the shape of the wide designs (124 and
/// 448 columns) on which the trainer was once 5-7x slower than scikit-learn.
fn wide_design(rows: usize, cols: usize, seed: u64) -> (ndarray::Array2<f64>, Vec<f64>) {
    let mut r = SplitMix64(seed);
    let mut unit = move || (r.next_u64() >> 11) as f64 / (1u64 << 53) as f64;
    let numeric = 24.min(cols);
    let mut blocks = Vec::new();
    let mut left = cols - numeric;
    let mut level = 5;
    while left > 0 {
        let b = level.min(left);
        blocks.push(b);
        left -= b;
        level = if level >= 40 { 5 } else { level + 7 };
    }
    // The true coefficients depend on the width only, so training and test rows share them.
    let mut t = SplitMix64(cols as u64);
    let truth: Vec<f64> = (0..cols)
        .map(|j| {
            (t.next_u64() >> 11) as f64 / (1u64 << 53) as f64 * if j % 3 == 0 { 1.6 } else { 0.0 }
                - if j % 3 == 0 { 0.8 } else { 0.0 }
        })
        .collect();
    let mut x = ndarray::Array2::<f64>::zeros((rows, cols).f());
    let mut y = Vec::with_capacity(rows);
    for i in 0..rows {
        let shared = unit() - 0.5;
        for j in 0..numeric {
            // Box-Muller for a normal, with a shared component so the columns correlate.
            let g = (-2.0 * (1.0 - unit()).ln()).sqrt() * (std::f64::consts::TAU * unit()).cos();
            x[[i, j]] = g + shared;
        }
        let mut at = numeric;
        for &b in &blocks {
            // Skewed levels: the first ones are common, the last rare.
            let level = ((unit() * unit()) * b as f64) as usize;
            x[[i, at + level.min(b - 1)]] = 1.0;
            at += b;
        }
        let z: f64 = -2.2 + x.row(i).iter().zip(&truth).map(|(v, w)| v * w).sum::<f64>();
        y.push(if unit() < 1.0 / (1.0 + (-z).exp()) { 1.0 } else { 0.0 });
    }
    (x, y)
}

fn write_design(
    dir: &std::path::Path,
    x: &ndarray::Array2<f64>,
    xt: &ndarray::Array2<f64>,
    y: &[f64],
    yt: &[f64],
) {
    std::fs::create_dir_all(dir).expect("design dir");
    let write = |name: &str, m: &ndarray::Array2<f64>| {
        let text: String = m
            .rows()
            .into_iter()
            .map(|r| r.iter().map(|v| format!("{v:?}")).collect::<Vec<_>>().join(",") + "\n")
            .collect();
        std::fs::write(dir.join(name), text).expect("write design");
    };
    write("x_train.csv", x);
    write("x_test.csv", xt);
    let col = |v: &[f64]| v.iter().map(|y| format!("{y:?}\n")).collect::<String>();
    std::fs::write(dir.join("y_train.csv"), col(y)).expect("write");
    std::fs::write(dir.join("y_test.csv"), col(yt)).expect("write");
}

/// The logistic fit on wide synthetic designs, beside linfa-logistic (the solver it replaced)
/// on the same rows: fit time (median), iterations, convergence and test AUC.
fn wide(repeat: usize, rows: usize, design: Option<&std::path::Path>) -> serde_json::Value {
    let mut out = serde_json::Map::new();
    for cols in [124usize, 448] {
        let (x, y) = wide_design(rows, cols, 7 + cols as u64);
        let (xt, yt) = wide_design(rows / 4, cols, 1007 + cols as u64);
        if let Some(dir) = design {
            write_design(&dir.join(format!("wide{cols}")), &x, &xt, &y, &yt);
        }
        let params = TrainParams::default();
        let mut fits = Vec::new();
        let mut model = None;
        for _ in 0..repeat {
            let t = Instant::now();
            model = Some(Fitted::fit(ModelKind::Logistic, &x, &y, &params).expect("fit"));
            fits.push(t.elapsed().as_secs_f64());
        }
        let model = model.expect("a run");
        let auc = |p: Vec<f64>| {
            Metrics::evaluate(
                trainer::spec::Task::Classification,
                &yt,
                &Scored { value: p, interval: None },
                0.2,
            )
            .expect("metrics")
            .to_map()
            .get("roc_auc")
            .copied()
        };
        let Fitted::Logistic(fitted) = &model else { unreachable!("a logistic fit") };
        let mut linfa_runs = Vec::new();
        let mut linfa_auc = None;
        for _ in 0..repeat.min(3) {
            use linfa::prelude::*;
            let t = Instant::now();
            let targets = ndarray::Array1::from_iter(y.iter().map(|&v| v == 1.0));
            let fitted = linfa_logistic::LogisticRegression::default()
                .alpha(params.alpha)
                .max_iterations(params.max_iterations)
                .gradient_tolerance(params.tolerance * y.len() as f64)
                .fit(&DatasetBase::new(x.view(), targets))
                .expect("linfa fit");
            linfa_runs.push(t.elapsed().as_secs_f64());
            let p = fitted.predict_probabilities(&xt);
            // linfa's probabilities are of its own "positive" class (the more frequent one).
            let pos = fitted.labels().pos.class;
            linfa_auc = auc(p.iter().map(|&q| if pos { q } else { 1.0 - q }).collect());
        }
        out.insert(
            format!("columns_{cols}"),
            json!({"train_rows": rows, "test_rows": rows / 4, "design_columns": cols,
                   "positive_share": y.iter().sum::<f64>() / rows as f64,
                   "fit_s_median": median(fits.clone()), "fit_s_runs": fits,
                   "iterations": fitted.iterations, "converged": fitted.converged,
                   "roc_auc": auc(model.predict(&xt)),
                   "linfa_logistic": {"fit_s_median": median(linfa_runs.clone()), "fit_s_runs": linfa_runs,
                                      "roc_auc": linfa_auc}}),
        );
    }
    serde_json::Value::Object(out)
}

/// Ridge and Poisson on the bike data's lags design: fit time (median) and test MAE.
fn forecasters(repeat: usize, design: Option<&std::path::Path>) -> serde_json::Value {
    let data = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("data");
    let spec = DatasetSpec::from_json(
        &std::fs::read_to_string(data.join("bikeshare-lags.spec.json")).expect("spec"),
    )
    .expect("bike spec");
    let t = Instant::now();
    let (table, _) = trainer::load(&data.join("bikeshare.csv"), &spec).expect("load");
    let load_s = t.elapsed().as_secs_f64();
    let s = split(&table, &spec).expect("split");
    let (train, test) = (table.select(&s.train), table.select(&s.test));
    let pipeline = Pipeline::fit(&spec, &train).expect("pipeline");
    let x = pipeline.transform(&train).expect("transform");
    let xt = pipeline.transform(&test).expect("transform");
    if let Some(dir) = design {
        write_design(dir, &x, &xt, &train.target, &test.target);
    }
    let mut out = serde_json::Map::new();
    out.insert("rows".into(), json!(table.len()));
    out.insert("train_rows".into(), json!(train.len()));
    out.insert("design_columns".into(), json!(x.ncols()));
    out.insert("load_and_features_s".into(), json!(load_s));
    for kind in [ModelKind::Ridge, ModelKind::Poisson] {
        let params = TrainParams { model: Some(kind), ..TrainParams::default() };
        let mut fits = Vec::new();
        let mut model = None;
        for _ in 0..repeat {
            let t = Instant::now();
            model = Some(Fitted::fit(kind, &x, &train.target, &params).expect("fit"));
            fits.push(t.elapsed().as_secs_f64());
        }
        let model = model.expect("a run");
        let p = model.predict(&xt);
        let mae = p.iter().zip(&test.target).map(|(p, y)| (p - y).abs()).sum::<f64>() / p.len() as f64;
        out.insert(
            kind.as_str().into(),
            json!({"fit_s_median": median(fits.clone()), "fit_s_runs": fits, "test_mae": mae,
                   "converged": model.converged(),
                   "iterations": match &model { Fitted::Poisson(m) | Fitted::Ridge(m) => m.iterations, Fitted::Logistic(m) => m.iterations }}),
        );
    }
    serde_json::Value::Object(out)
}

fn main() {
    let args: Vec<String> = std::env::args().collect();
    let arg = |name: &str| args.iter().position(|a| a == name).and_then(|i| args.get(i + 1)).cloned();
    let rows: usize = arg("--rows").map(|r| r.parse().expect("--rows N")).unwrap_or(1_000_000);
    let repeat: usize = arg("--repeat").map(|r| r.parse().expect("--repeat K")).unwrap_or(5).max(1);
    let data = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("data");
    let spec = DatasetSpec::from_json(&std::fs::read_to_string(data.join("taxi.spec.json")).expect("spec"))
        .expect("taxi spec");
    let taxi = bench(&spec, &data.join("taxi.csv"), repeat);
    let dir = tempfile::tempdir().expect("temp dir");
    let path = arg("--csv").map(PathBuf::from).unwrap_or_else(|| dir.path().join("synthetic.csv"));
    std::fs::write(&path, synthetic(rows)).expect("write synthetic");
    let synth = bench(&spec, &path, repeat.min(3));
    let design = arg("--design").map(PathBuf::from);
    let bikes = forecasters(repeat, design.as_deref());
    let wide_rows: usize = arg("--wide-rows").map(|r| r.parse().expect("--wide-rows N")).unwrap_or(60_000);
    let wide = wide(repeat, wide_rows, design.as_deref());
    let out = json!({"bench": "trainer", "threads": 1, "taxi": taxi, "synthetic": synth, "synthetic_csv": path,
        "bikeshare_forecasters": bikes, "wide_logistic": wide});
    if args.iter().any(|a| a == "--json") {
        println!("{}", serde_json::to_string_pretty(&out).expect("json"));
    } else {
        println!("taxi:      fit {:.4} s (median), AUC {}", taxi["fit_s_median"], taxi["roc_auc"]);
        println!(
            "synthetic: fit {:.4} s (median), AUC {} ({} rows)",
            synth["fit_s_median"], synth["roc_auc"], rows
        );
        for kind in ["ridge", "poisson"] {
            let b = &bikes[kind];
            println!("bikeshare {kind}: fit {:.4} s (median), test MAE {}", b["fit_s_median"], b["test_mae"]);
        }
        for (name, w) in wide.as_object().expect("an object") {
            println!(
                "wide {name}: fit {:.4} s (median), AUC {}; linfa-logistic {:.4} s, AUC {}",
                w["fit_s_median"],
                w["roc_auc"],
                w["linfa_logistic"]["fit_s_median"],
                w["linfa_logistic"]["roc_auc"]
            );
        }
    }
}
