//! The built-in trainer from the terminal: `train-candidate --data --spec` on the real taxi
//! data, the classifier's own gates, `predict`, `drift check`, and refusals that leave neither
//! an event nor an artifact behind.

use std::path::PathBuf;

use serde_json::json;

use crate::workflow::team;

pub(crate) fn data(name: &str) -> String {
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../trainer/data").join(name).display().to_string()
}

pub(crate) fn refs(v: &[String]) -> Vec<&str> {
    v.iter().map(String::as_str).collect()
}

fn artifacts(t: &crate::workflow::Team) -> usize {
    std::fs::read_dir(t.ledger.join("artifacts")).map_or(0, |d| d.count())
}

pub(crate) const TRAIN: &[&str] = &[
    "train-candidate",
    "taxi-tip",
    "--hypothesis-id",
    "H-TAXI-1",
    "--change-type",
    "architecture",
    "--change-summary",
    "logistic baseline",
    "--owner",
    "maya",
    "--feature-set-version",
    "v1",
    "--dataset-version",
    "2026-04",
    "--as",
    "maya",
];

/// The hypotheses the training runs cite.
pub(crate) fn propose(t: &crate::workflow::Team, ids: &[&str]) {
    for id in ids {
        t.ok(&[
            "hypothesis",
            "propose",
            id,
            "taxi-tip",
            "--statement",
            "a logistic model predicts tips",
            "--change-type",
            "architecture",
            "--target-metric",
            "roc_auc",
            "--expected-improvement",
            "1",
            "--owner",
            "maya",
            "--as",
            "maya",
        ]);
    }
}

#[test]
fn a_scientist_trains_on_real_data_and_the_champion_scores_and_watches_drift() {
    let t = team();
    let (csv, spec) = (data("taxi.csv"), data("taxi.spec.json"));
    // A run citing a hypothesis nobody proposed is refused before any training.
    let mut args = TRAIN.to_vec();
    args.extend(["--data", &csv, "--spec", &spec]);
    t.fails(&args, 1, "experiment.unknown");
    assert_eq!(artifacts(&t), 0);
    propose(&t, &["H-TAXI-1", "H-TAXI-2"]);
    let mut args = TRAIN.to_vec();
    args.extend(["--data", &csv, "--spec", &spec]);
    let out = t.ok(&args);
    let tr = &out["training"];
    assert_eq!(tr["split"], "time split: train Jan..Mar, test Apr");
    let auc = tr["metrics"]["roc_auc"].as_f64().unwrap();
    assert!((auc - 0.5857).abs() < 0.001, "{auc}");
    let kinds: Vec<&str> =
        tr["events"].as_array().unwrap().iter().map(|e| e["kind"].as_str().unwrap()).collect();
    assert_eq!(
        kinds,
        [
            "run.recorded",
            "model.registered",
            "version.registered",
            "backtest.recorded",
            "backtest.recorded",
            "backtest.recorded"
        ],
        "the first run registers the model, as a classifier"
    );
    assert_eq!(tr["events"][1]["payload"]["task"], "classification");
    let windows: Vec<&str> = tr["events"].as_array().unwrap()[3..]
        .iter()
        .map(|e| e["payload"]["window_start"].as_str().unwrap())
        .collect();
    assert_eq!(windows, ["Feb", "Mar", "Apr"], "windows named by the spec's declared periods");
    assert_eq!(tr["events"][0]["payload"]["periods"], json!(["Jan", "Feb", "Mar", "Apr"]));
    let run = &tr["events"][0]["payload"];
    assert_eq!(run["dataset_digest"], blake3::hash(&std::fs::read(&csv).unwrap()).to_hex().as_str());
    assert!(run["trainer"].as_str().unwrap().starts_with("pledge-trainer"));
    assert_eq!(run["params"]["missing_policy"], "refuse");
    let artifact = tr["models"][0]["artifact_digest"].as_str().unwrap().to_string();
    assert!(t.ledger.join("artifacts").join(format!("{artifact}.json")).exists());
    assert_eq!(artifacts(&t), 1);

    // Training the same data twice gives the same artifact (content-addressed, reproducible),
    // but the run id is taken: refused, and nothing is left behind.
    t.fails(&args, 1, "is already recorded");
    assert_eq!(artifacts(&t), 1);

    t.ok(&["bootstrap-champion", "taxi-tip", "1", "--as", "colby", "--reason", "baseline"]);

    // A policy whose gates for this model need a metric the trainer does not produce is
    // refused before any training, naming the policy member and how to change it.
    let mut seg = TRAIN.to_vec();
    seg.extend([
        "--data",
        &csv,
        "--spec",
        &spec,
        "--strategy",
        "segmented_router",
        "--min-segment-rows",
        "1000",
    ]);
    seg[3] = "H-TAXI-2";
    let default = t.ok(&["policy", "show"])["policy"].clone();
    let mut policy = default.clone();
    policy["models"] = json!({"taxi-tip": {"gates": [
        {"metric": "mae", "direction": "lower", "margin": 0.05, "strict": true}]}});
    let file = t.ledger.parent().unwrap().join("policy.json");
    std::fs::write(&file, policy.to_string()).unwrap();
    t.ok(&["policy", "set", file.to_str().unwrap(), "--as", "root"]);
    let err = t.fails(&seg, 1, "models.taxi-tip.gates");
    assert!(err.contains("`mae`") && err.contains("pledge policy set"), "{err}");
    assert_eq!(artifacts(&t), 1, "nothing trained, nothing kept");

    // Under the default policy's classification gates, the segmented router is judged per
    // segment: each model against the champion scored on that model's own test rows.
    let mut back = default.clone();
    back["drift"]["psi_threshold"] = json!(0.25);
    std::fs::write(&file, back.to_string()).unwrap();
    t.ok(&["policy", "set", file.to_str().unwrap(), "--as", "root"]);
    let out = t.ok(&seg);
    let segs: Vec<&str> =
        out["training"]["models"].as_array().unwrap().iter().filter_map(|m| m["segment"].as_str()).collect();
    assert!(!segs.is_empty());
    let evaluations: Vec<&serde_json::Value> = out["training"]["events"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|e| e["kind"] == "promotion.evaluated")
        .collect();
    assert_eq!(evaluations.len(), segs.len() + 1, "the global model and every segment model are judged");
    for ev in &evaluations {
        assert_eq!(ev["payload"]["evidence"], "baseline", "judged on the same rows as the champion");
        assert_eq!(ev["payload"]["champion"], 1);
    }
    let global = evaluations.iter().find(|e| e["subject"]["segment"].is_null()).unwrap();
    let auc = &global["payload"]["gates"][0];
    assert_eq!(auc["metric"], "roc_auc");
    assert_eq!(auc["candidate"], auc["champion"], "the router's global model is the champion's twin");
    assert_eq!(global["payload"]["passed"], false, "not better is not promoted");
    assert!(artifacts(&t) > 1);

    // predict: the champion scores a file without labels; rows are numbered from 1.
    let unlabelled = t.ledger.parent().unwrap().join("new.csv");
    std::fs::write(
        &unlabelled,
        "distance,company,local,dow,month,hour\n1.5,Flash Cab,yes,Mon,Apr,9\n20,other,no,Sat,Apr,23\n",
    )
    .unwrap();
    let p = t.ok(&["predict", "--model", "taxi-tip", unlabelled.to_str().unwrap()]);
    let preds = p["predictions"].as_array().unwrap();
    assert_eq!(preds.len(), 2);
    assert_eq!(preds[0]["row"], 1);
    assert!(preds.iter().all(|r| (0.0..=1.0).contains(&r["probability"].as_f64().unwrap())));
    let human = t
        .pledge()
        .args(["predict", "--model", "taxi-tip", "--version", "v1", unlabelled.to_str().unwrap()])
        .output()
        .unwrap();
    let text = String::from_utf8(human.stdout).unwrap();
    assert!(text.starts_with("row,version,probability\n1,v1,"), "{text}");

    // drift check: the champion's metric and every feature's PSI, recorded as a signed signal.
    let d = t.ok(&[
        "drift",
        "check",
        "--model",
        "taxi-tip",
        "--baseline",
        &csv,
        "--recent",
        &csv,
        "--as",
        "maya",
    ]);
    assert_eq!(d["metric"], "log_loss");
    let ev = &d["events"][0]["payload"];
    assert_eq!(ev["drift_pct"], 0.0);
    assert!(ev["psi"].as_object().unwrap().values().all(|v| v.as_f64().unwrap().abs() < 1e-12));
    assert_eq!(ev["exceeded"], false);

    // verify hashes every artifact the ledger references: all present and intact.
    let v = t.ok(&["verify"]);
    let referenced = v["artifacts"]["referenced"].as_u64().unwrap();
    assert_eq!(
        (referenced, v["artifacts"]["ok"].as_u64().unwrap()),
        (artifacts(&t) as u64, artifacts(&t) as u64)
    );
    // An altered artifact is an integrity failure naming it; a missing one is listed (runs
    // recorded from elsewhere keep their artifacts elsewhere) unless --require-artifacts.
    let file = t.ledger.join("artifacts").join(format!("{artifact}.json"));
    let original = std::fs::read(&file).unwrap();
    let mut altered = original.clone();
    let at = altered.len() / 2;
    altered[at] ^= 0x01;
    std::fs::write(&file, &altered).unwrap();
    let out = t.pledge().args(["verify", "--json"]).output().unwrap();
    assert_eq!(out.status.code(), Some(3), "{}", String::from_utf8_lossy(&out.stderr));
    let doc: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!(doc["ok"], false);
    assert_eq!(doc["artifacts"]["problems"][0]["digest"], artifact.as_str());
    assert_eq!(doc["artifacts"]["problems"][0]["status"], "altered");
    assert!(String::from_utf8_lossy(&out.stderr).contains(&format!("artifact {artifact}")));
    std::fs::remove_file(&file).unwrap();
    let doc = t.ok(&["verify"]);
    assert_eq!(doc["artifacts"]["problems"][0]["status"], "missing");
    assert_eq!(doc["artifacts"]["problems"][0]["versions"][0], "taxi-tip v1");
    let strict = t.pledge().args(["verify", "--require-artifacts"]).output().unwrap();
    assert_eq!(strict.status.code(), Some(3));
    assert!(String::from_utf8_lossy(&strict.stdout).contains(&format!("missing  {artifact}")));
    std::fs::write(&file, &original).unwrap();
    assert_eq!(t.ok(&["verify", "--require-artifacts"])["ok"], true);
}

#[test]
fn class_weights_reach_the_fit_and_the_signed_record() {
    let t = team();
    propose(&t, &["H-TAXI-1", "H-TAXI-2"]);
    let (csv, spec) = (data("taxi.csv"), data("taxi.spec.json"));
    let mut plain = TRAIN.to_vec();
    plain.extend(["--data", &csv, "--spec", &spec]);
    let plain = t.ok(&plain);
    let mut weighted: Vec<&str> =
        TRAIN.iter().map(|a| if *a == "H-TAXI-1" { "H-TAXI-2" } else { a }).collect();
    weighted.extend(["--data", &csv, "--spec", &spec, "--class-weight", "balanced"]);
    let weighted = t.ok(&weighted);
    let run = &weighted["training"]["events"][0]["payload"];
    assert_eq!(run["params"]["training"]["class_weight"], "balanced");
    assert_eq!(plain["training"]["events"][0]["payload"]["params"]["training"].get("class_weight"), None);
    // The weights changed the fit: another artifact, and (the tip class being the common one)
    // a lower mean predicted probability of a tip than the unweighted model's.
    let digest =
        |o: &serde_json::Value| o["training"]["models"][0]["artifact_digest"].as_str().unwrap().to_string();
    assert_ne!(digest(&plain), digest(&weighted));
    let intercept = |v: &str| {
        t.ok(&["model", "coefficients", "taxi-tip", "--version", v])["coefficients"]["intercept"]
            .as_f64()
            .unwrap()
    };
    let (a, b) = (intercept("v1"), intercept("v2"));
    assert!(b < a, "balanced weights lower the intercept of a common positive class: {b} vs {a}");
}

#[test]
fn bad_training_input_is_refused_with_its_reason_and_changes_nothing() {
    let t = team();
    propose(&t, &["H-TAXI-1"]);
    let dir = t.ledger.parent().unwrap().to_path_buf();
    let spec = data("taxi.spec.json");
    let run = |extra: &[&str]| {
        let mut a = TRAIN.to_vec();
        a.extend_from_slice(extra);
        a.iter().map(|s| s.to_string()).collect::<Vec<_>>()
    };
    // Missing data file.
    let a = run(&["--data", "/nonexistent.csv", "--spec", &spec]);
    t.fails(&refs(&a), 2, "cannot read `/nonexistent.csv`");
    // Malformed spec (unknown key).
    let bad_spec = dir.join("bad.spec.json");
    std::fs::write(
        &bad_spec,
        r#"{"name":"x","target":{"column":"tip","positive":"yes"},"features":[],"segmnet":"company"}"#,
    )
    .unwrap();
    let a = run(&["--data", &data("taxi.csv"), "--spec", bad_spec.to_str().unwrap()]);
    t.fails(&refs(&a), 2, "unknown field `segmnet`");
    // A spec holding a member twice.
    let twice = dir.join("twice.spec.json");
    let spec_text = std::fs::read_to_string(&spec).unwrap();
    std::fs::write(
        &twice,
        spec_text.replacen("\"name\": \"taxi\",", "\"name\": \"taxi\", \"name\": \"other\",", 1),
    )
    .unwrap();
    let a = run(&["--data", &data("taxi.csv"), "--spec", twice.to_str().unwrap()]);
    t.fails(&refs(&a), 2, "the member `name` appears twice");
    // A file with an unparseable number names the column and row.
    let dirty = dir.join("dirty.csv");
    let mut text = std::fs::read_to_string(data("taxi.csv")).unwrap();
    text = text.replacen("\nyes,0.88,", "\nyes,0.8.8,", 1);
    std::fs::write(&dirty, text).unwrap();
    let a = run(&["--data", dirty.to_str().unwrap(), "--spec", &spec]);
    t.fails(&refs(&a), 2, "column `distance`: row 2 cannot be read as numbers");
    // A target-derived routing column.
    let leak = dir.join("leak.spec.json");
    let mut s: serde_json::Value = serde_json::from_str(&std::fs::read_to_string(&spec).unwrap()).unwrap();
    s["target_derived"] = json!(["company"]);
    std::fs::write(&leak, s.to_string()).unwrap();
    let a = run(&["--data", &data("taxi.csv"), "--spec", leak.to_str().unwrap()]);
    t.fails(&refs(&a), 2, "leakage guard: `company` is declared target-derived");
    // Bad flags: --data without --spec, an unknown strategy.
    let a = run(&["--data", &data("taxi.csv")]);
    t.fails(&refs(&a), 2, "--spec");
    let a = run(&["--data", &data("taxi.csv"), "--spec", &spec, "--strategy", "forest"]);
    t.fails(&refs(&a), 2, "`--strategy forest` is not a strategy");
    // Class weights that are not weights.
    let a = run(&["--data", &data("taxi.csv"), "--spec", &spec, "--class-weight", "even"]);
    t.fails(&refs(&a), 2, "`--class-weight even`");
    let a = run(&["--data", &data("taxi.csv"), "--spec", &spec, "--class-weight", "positive=-1,negative=1"]);
    t.fails(&refs(&a), 2, "`positive` must be finite and > 0");
    let a = run(&[
        "--data",
        &data("taxi.csv"),
        "--spec",
        &spec,
        "--class-weight",
        "positive=2,negative=1,positive=3",
    ]);
    t.fails(&refs(&a), 2, "`positive` is given twice");
    // predict and drift check on a model the ledger does not have.
    t.fails(&["predict", "--model", "nope", &data("taxi.csv")], 2, "no model `nope`");
    assert_eq!(artifacts(&t), 0);
}

pub(crate) fn bike_run(hypothesis: &str, spec: &str, extra: &[&str]) -> Vec<String> {
    let mut a: Vec<String> = [
        "train-candidate",
        "bikes",
        "--hypothesis-id",
        hypothesis,
        "--change-type",
        "feature",
        "--change-summary",
        "demand forecaster",
        "--owner",
        "maya",
        "--feature-set-version",
        "v1",
        "--dataset-version",
        "2011",
        "--data",
        &data("bikeshare.csv"),
        "--spec",
        &data(spec),
        "--as",
        "maya",
    ]
    .iter()
    .map(|s| s.to_string())
    .collect();
    a.extend(extra.iter().map(|s| s.to_string()));
    a
}

#[test]
fn a_demand_forecaster_is_trained_on_real_data_judged_by_the_forecast_gates_and_forecasts() {
    let t = team();
    for id in ["H-BIKE-1", "H-BIKE-2", "H-BIKE-3"] {
        t.propose_mae(id, "bikes", "hourly demand");
    }
    let dir = t.ledger.parent().unwrap().to_path_buf();
    let params = dir.join("params.json");
    std::fs::write(&params, r#"{"backtest_windows": 4}"#).unwrap();
    let p = params.to_str().unwrap();

    // A key that is not enrolled is refused before any training: no artifact is written.
    t.ok(&["keys", "new", "eve"]);
    let mut eve = bike_run("H-BIKE-1", "bikeshare.spec.json", &["--params", p]);
    let at = eve.iter().position(|a| a == "maya").unwrap();
    let last = eve.len() - 1 - eve.iter().rev().position(|a| a == "maya").unwrap();
    assert!(last > at);
    eve[last] = "eve".into();
    t.fails(&refs(&eve), 1, "key `eve` is not enrolled");
    assert_eq!(artifacts(&t), 0);

    // The baseline: ridge on the weather and the hour; the first run registers a forecaster.
    let out = t.ok(&refs(&bike_run("H-BIKE-1", "bikeshare.spec.json", &["--params", p])));
    let tr = &out["training"];
    assert_eq!(tr["split"], "time split: train 1..337, test 338..365");
    for m in ["mae", "rmse", "mape", "wape", "bias", "coverage", "stockout_miss_rate", "overstock_rate"] {
        assert!(tr["metrics"][m].is_number(), "{m} missing: {}", tr["metrics"]);
    }
    assert_eq!(tr["events"][1]["kind"], "model.registered");
    assert_eq!(tr["events"][1]["payload"]["task"], "forecast");
    let run = &tr["events"][0]["payload"];
    assert!(run["trainer"].as_str().unwrap().contains("ridge"), "{}", run["trainer"]);
    assert_eq!(run["params"]["model_family"], "ridge");
    assert_eq!(run["params"]["not_converged"], json!([]));
    let windows =
        tr["events"].as_array().unwrap().iter().filter(|e| e["kind"] == "backtest.recorded").count();
    assert_eq!(windows, 3, "backtest_windows 4 from the params file; day 365 alone is under min_test_rows");
    assert_eq!(
        run["params"]["backtest_skipped"][0],
        "window 52 (365..365): 24 rows, fewer than `time.min_test_rows` 30"
    );
    t.ok(&["bootstrap-champion", "bikes", "1", "--as", "colby", "--reason", "baseline forecaster"]);
    // What v1 fitted: the intercept and one coefficient per design column, and its interval.
    let c = t.ok(&["model", "coefficients", "bikes", "--version", "v1"])["coefficients"].clone();
    assert_eq!((c["version"].as_u64(), c["family"].as_str()), (Some(1), Some("ridge")));
    assert_eq!(c["converged"], true);
    let names: Vec<&str> =
        c["coefficients"].as_array().unwrap().iter().map(|r| r["feature"].as_str().unwrap()).collect();
    assert!(
        names.contains(&"temp") && names.contains(&"hr=17") && names.contains(&"hr=<unseen>"),
        "{names:?}"
    );
    assert!(c["interval"]["lower"].as_f64().unwrap() < 0.0 && c["interval"]["upper"].as_f64().unwrap() > 0.0);
    let human = t.pledge().args(["model", "coefficients", "bikes", "--version", "v1"]).output().unwrap();
    let text = String::from_utf8(human.stdout).unwrap();
    assert!(text.starts_with("bikes v1 (ridge, converged; artifact "), "{text}");

    // A Poisson GLM with lags and rolling means of the same hour: judged by the forecast gates
    // (MAE and MAPE 5% better, coverage not lower) against the champion scored, with its own
    // spec, on exactly the candidate's test rows.
    let out = t.ok(&refs(&bike_run(
        "H-BIKE-2",
        "bikeshare-lags.spec.json",
        &["--params", p, "--family", "poisson"],
    )));
    let tr = &out["training"];
    assert!(tr["load"]["rows_without_history"].as_u64().unwrap() > 0);
    let ev = tr["events"].as_array().unwrap().iter().find(|e| e["kind"] == "promotion.evaluated").unwrap();
    assert_eq!(ev["payload"]["evidence"], "baseline");
    let gates: Vec<&str> =
        ev["payload"]["gates"].as_array().unwrap().iter().map(|g| g["metric"].as_str().unwrap()).collect();
    assert_eq!(gates, ["mae", "mape", "coverage"]);
    let baseline = &tr["models"][0]["baseline"];
    assert_eq!(baseline["version"], 1);
    assert_eq!(ev["payload"]["gates"][0]["champion"], baseline["metrics"]["mae"]);
    assert_eq!(
        baseline["metrics"]["rows"], tr["models"][0]["metrics"]["rows"],
        "the champion is scored on the same test rows"
    );

    // The strategy in a --params file is kept when --strategy is not given.
    let router = dir.join("router.json");
    std::fs::write(
        &router,
        r#"{"strategy": "segmented_router", "min_segment_rows": 500, "backtest_windows": 2}"#,
    )
    .unwrap();
    let out =
        t.ok(&refs(&bike_run("H-BIKE-3", "bikeshare.spec.json", &["--params", router.to_str().unwrap()])));
    let segs: Vec<&str> =
        out["training"]["models"].as_array().unwrap().iter().filter_map(|m| m["segment"].as_str()).collect();
    assert_eq!(segs, ["0", "1"], "one model per workingday value");

    // Forecasting with the champion: a file without targets, and intervals around each value.
    let csv = std::fs::read_to_string(data("bikeshare.csv")).unwrap();
    let recent: String =
        csv.lines().take(1).chain(csv.lines().skip(8600)).map(|l| format!("{l}\n")).collect();
    let file = dir.join("recent.csv");
    std::fs::write(&file, recent).unwrap();
    let p = t.ok(&["predict", "--model", "bikes", "--version", "v1", file.to_str().unwrap()]);
    let preds = p["predictions"].as_array().unwrap();
    assert_eq!(preds.len(), 46);
    for r in preds {
        let (v, lo, hi) = (
            r["prediction"].as_f64().unwrap(),
            r["interval"][0].as_f64().unwrap(),
            r["interval"][1].as_f64().unwrap(),
        );
        assert!(lo <= v && v <= hi, "{r}");
        assert!(r.get("probability").is_none());
    }

    // The seeds' daily drift check from data: the champion's MAE on the last 7 days against
    // the 30 days before them, and PSI per feature, recorded as a signed signal.
    let d = t.ok(&[
        "drift",
        "check",
        "--model",
        "bikes",
        "--data",
        &data("bikeshare.csv"),
        "--recent-periods",
        "7",
        "--baseline-periods",
        "30",
        "--as",
        "maya",
    ]);
    assert_eq!(d["metric"], "mae");
    assert_eq!(d["compared"], "periods 359..365 against 329..358");
    let ev = &d["events"][0];
    assert_eq!(ev["kind"], "drift.recorded");
    let (b, r) = (ev["payload"]["baseline"].as_f64().unwrap(), ev["payload"]["recent"].as_f64().unwrap());
    assert_eq!(d["report"]["baseline"]["mae"].as_f64().unwrap(), b);
    assert_eq!(d["report"]["recent"]["mae"].as_f64().unwrap(), r);
    assert!(ev["payload"]["psi"]["temp"].is_number());
    t.fails(
        &[
            "drift",
            "check",
            "--model",
            "bikes",
            "--data",
            &data("bikeshare.csv"),
            "--recent-periods",
            "7",
            "--baseline-periods",
            "400",
            "--as",
            "maya",
        ],
        2,
        "the file holds 365 periods",
    );
}
