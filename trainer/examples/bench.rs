//! Trainer bench: fit time and AUC on `taxi.csv` and on a synthetic table with taxi's columns.
//!
//! `cargo run --release -p trainer --example bench -- --json [--rows N] [--repeat K] [--csv PATH]
//! [--design DIR]`
//!
//! Prints one JSON object. Fit time is the logistic fit on the design matrix alone (what
//! `compare_sklearn.py` times for scikit-learn); load and pipeline times are reported beside it.
//! Medians over `--repeat` runs (default 5; the synthetic table defaults to 1,000,000 rows).
//! `--csv PATH` writes the synthetic table so the Python script fits the very same rows.
//! The forecasters (ridge and Poisson) are timed on the bike data with the lags spec
//! (`bikeshare-lags.spec.json`); `--design DIR` writes that design matrix (`x_train.csv`,
//! `y_train.csv`, `x_test.csv`, `y_test.csv`) for `compare_sklearn.py --design DIR`.

use std::path::PathBuf;
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
        std::fs::create_dir_all(dir).expect("design dir");
        let write = |name: &str, m: &ndarray::Array2<f64>| {
            let text: String = m
                .rows()
                .into_iter()
                .map(|r| r.iter().map(|v| format!("{v:?}")).collect::<Vec<_>>().join(",") + "\n")
                .collect();
            std::fs::write(dir.join(name), text).expect("write design");
        };
        write("x_train.csv", &x);
        write("x_test.csv", &xt);
        let col = |v: &[f64]| v.iter().map(|y| format!("{y:?}\n")).collect::<String>();
        std::fs::write(dir.join("y_train.csv"), col(&train.target)).expect("write");
        std::fs::write(dir.join("y_test.csv"), col(&test.target)).expect("write");
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
                   "converged": model.converged()}),
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
    let out = json!({"bench": "trainer", "threads": 1, "taxi": taxi, "synthetic": synth, "synthetic_csv": path,
        "bikeshare_forecasters": bikes});
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
    }
}
