//! Regression and forecasting: metrics by hand, intervals, the time-series features' leakage
//! safety, the bikeshare data, and the defects found on data sets outside the repository.

use proptest::prelude::*;
use trainer::artifact::Interval;
use trainer::data::{validate, Values};
use trainer::error::TrainError;
use trainer::metrics::ForecastMetrics;
use trainer::progress::Progress;
use trainer::spec::{ModelKind, Strategy, TrainParams};
use trainer::{load, train, DatasetSpec};

use crate::support::{data, spec};

fn close(a: f64, b: f64) -> bool {
    (a - b).abs() < 1e-12
}

#[test]
fn forecast_metrics_match_a_hand_computation() {
    // Actuals 10, 0, 4, 20; predictions 12, 1, 2, 20.
    let y = [10.0, 0.0, 4.0, 20.0];
    let p = [12.0, 1.0, 2.0, 20.0];
    let iv = [(9.0, 13.0), (0.0, 2.0), (3.0, 5.0), (21.0, 25.0)];
    let m = ForecastMetrics::compute(&y, &p, Some(&iv), 0.2).unwrap();
    // errors e = p - y: 2, 1, -2, 0
    assert!(close(m.mae, 5.0 / 4.0));
    assert!(close(m.rmse, (9.0f64 / 4.0).sqrt()));
    assert!(close(m.bias, 1.0 / 4.0));
    // MAPE over the three non-zero actuals: 2/10, 2/4, 0/20; one zero actual left out.
    assert!(close(m.mape.unwrap(), (0.2 + 0.5 + 0.0) / 3.0));
    assert_eq!(m.zero_actuals, 1);
    // WAPE: sum|e| / sum|y| = 5 / 34.
    assert!(close(m.wape.unwrap(), 5.0 / 34.0));
    // Coverage: 10 in [9,13], 0 in [0,2], 4 in [3,5], 20 not in [21,25].
    assert!(close(m.coverage.unwrap(), 0.75));
    // Stockout: y > 1.2 p: 4 > 2.4 yes; 10 > 14.4 no; 0 > 1.2 no; 20 > 24 no.
    assert!(close(m.stockout_miss_rate, 0.25));
    // Overstock: p > 1.2 y: 12 > 12 no; 1 > 0 yes; 2 > 4.8 no; 20 > 24 no.
    assert!(close(m.overstock_rate, 0.25));
    assert_eq!(m.rows, 4);
    let map = m.to_map();
    for k in ["mae", "rmse", "mape", "wape", "bias", "coverage", "stockout_miss_rate", "overstock_rate"] {
        assert!(map.contains_key(k), "{k}");
    }
}

#[test]
fn undefined_forecast_metrics_are_left_out() {
    let m = ForecastMetrics::compute(&[0.0, 0.0], &[1.0, 0.0], None, 0.2).unwrap();
    assert_eq!((m.mape, m.wape, m.coverage), (None, None, None));
    assert_eq!(m.zero_actuals, 2);
    let map = m.to_map();
    assert!(!map.contains_key("mape") && !map.contains_key("wape") && !map.contains_key("coverage"));
    assert!(ForecastMetrics::compute(&[], &[], None, 0.2).is_none());
}

#[test]
fn intervals_are_numpy_linear_quantiles_of_the_residuals() {
    // numpy.quantile([-4, -1, 0, 2, 8], [0.1, 0.9]) = [-2.8, 5.6]
    let iv = Interval::from_residuals(&[8.0, -1.0, 0.0, 2.0, -4.0], 0.8).unwrap();
    assert!(close(iv.lower, -2.8) && close(iv.upper, 5.6), "{iv:?}");
    assert!(Interval::from_residuals(&[], 0.8).is_none());
}

/// A small daily table: two series (`store`), a target that depends on the day.
fn daily_csv(days: usize, bump: Option<(usize, f64)>) -> String {
    let mut out = String::from("day,store,price,sales\n");
    for d in 1..=days {
        for (k, store) in ["a", "b"].iter().enumerate() {
            let mut sales = 10.0 + (d % 7) as f64 * 3.0 + k as f64 * 5.0 + ((d * 7 + k * 3) % 5) as f64;
            if let Some((day, by)) = bump {
                if d >= day {
                    sales += by * (((d + k) % 3) as f64 + 1.0);
                }
            }
            let price = 2.0 + ((d * 3 + k) % 4) as f64 * 0.5;
            out.push_str(&format!("{d},{store},{price},{sales}\n"));
        }
    }
    out
}

fn daily_spec(extra: &str) -> DatasetSpec {
    DatasetSpec::from_json(&format!(
        r#"{{"name": "daily", "task": "regression", "target": {{"column": "sales"}},
            "features": [{{"column": "price", "type": "numeric"}}, {{"column": "store", "type": "categorical"}}],
            "time": {{"column": "day", "periods_per_window": 7, "test_periods": 14, "min_test_rows": 10}}
            {extra}}}"#
    ))
    .unwrap()
}

fn frame(csv: &str) -> polars::prelude::DataFrame {
    trainer::data::frame_from_bytes(csv.as_bytes().to_vec(), false).unwrap()
}

const SERIES: &str = r#", "series": {"key": ["store"], "horizon": 1, "lags": [1, 7], "rolling": [7]},
    "calendar": {"origin": "2026-01-05", "fields": ["day_of_week", "weekend", "day_of_year"]}"#;

#[test]
fn series_features_are_lags_and_past_windows_of_the_same_series() {
    let spec = daily_spec(SERIES);
    let t = validate(&frame(&daily_csv(30, None)), &spec).unwrap();
    // Rows without 7 days of history are dropped: days 1..=7 of each store.
    assert_eq!(t.report.rows_without_history, 14);
    let names: Vec<String> = spec.design_features().iter().map(|f| f.column.clone()).collect();
    assert_eq!(
        names,
        [
            "price",
            "store",
            "sales_lag_1",
            "sales_lag_7",
            "sales_mean_7",
            "sales_std_7",
            "day_of_week",
            "weekend",
            "day_of_year"
        ]
    );
    let num = |i: usize| match &t.features[i] {
        Values::Numeric(v) => v.clone(),
        Values::Categorical(_) => panic!("numeric expected"),
    };
    let (lag1, lag7, mean7) = (num(2), num(3), num(4));
    let period = t.period.clone().unwrap();
    let store = |i: usize| if t.row_numbers[i] % 2 == 1 { 0 } else { 1 };
    // For each row: lag k is the same store's target k days before; mean_7 the mean of the
    // 7 days before.
    for i in 0..t.len() {
        let day = period[i];
        let at =
            |d: usize| (0..t.len()).find(|&j| period[j] == d && store(j) == store(i)).map(|j| t.target[j]);
        if let Some(v) = at(day - 1) {
            assert_eq!(lag1[i], Some(v));
        }
        if let Some(v) = at(day - 7) {
            assert_eq!(lag7[i], Some(v));
        }
        let past: Vec<f64> = (day - 7..day).filter_map(at).collect();
        if past.len() == 7 {
            let m = past.iter().sum::<f64>() / 7.0;
            assert!((mean7[i].unwrap() - m).abs() < 1e-9);
        }
    }
    // 2026-01-05 is a Monday: day 1 -> 1, day 6 -> Saturday (weekend).
    let dow = match &t.features[6] {
        Values::Categorical(v) => v.clone(),
        Values::Numeric(_) => panic!(),
    };
    let weekend = num(7);
    for i in 0..t.len() {
        let d = period[i]; // index 0 = day 1
        assert_eq!(dow[i].as_deref(), Some(((d % 7) + 1).to_string().as_str()));
        assert_eq!(weekend[i], Some(if d % 7 >= 5 { 1.0 } else { 0.0 }));
    }
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 12, ..ProptestConfig::default() })]

    /// Leakage safety by construction: changing the target of every row from day `from` on
    /// changes no feature of any earlier row, and (when the change is inside the test
    /// window) no training feature and no prediction for an earlier day.
    #[test]
    fn changing_the_future_changes_nothing_before_it(from in 9usize..40, by in -8.0f64..25.0) {
        prop_assume!(by.abs() > 0.5);
        let spec = daily_spec(SERIES);
        let a = validate(&frame(&daily_csv(42, None)), &spec).unwrap();
        let b = validate(&frame(&daily_csv(42, Some((from, by)))), &spec).unwrap();
        prop_assert_eq!(&a.row_numbers, &b.row_numbers);
        let period = a.period.clone().unwrap();
        let early: Vec<usize> = (0..a.len()).filter(|&i| period[i] + 1 < from + 1).collect();
        for (fa, fb) in a.features.iter().zip(&b.features) {
            match (fa, fb) {
                (Values::Numeric(x), Values::Numeric(y)) => {
                    for &i in &early {
                        prop_assert_eq!(x[i], y[i], "row {} changed", a.row_numbers[i]);
                    }
                }
                (Values::Categorical(x), Values::Categorical(y)) => {
                    for &i in &early {
                        prop_assert_eq!(&x[i], &y[i]);
                    }
                }
                _ => prop_assert!(false, "feature kinds differ"),
            }
        }
        // Inside the test window (the last 14 days: 29..=42): the same model, the same
        // predictions for every earlier test day.
        if from > 28 {
            let params = TrainParams::default();
            let oa = train(&spec, &params, &a, "x", &Progress::hidden()).unwrap();
            let ob = train(&spec, &params, &b, "x", &Progress::hidden()).unwrap();
            prop_assert_eq!(oa.candidate.global.digest(), ob.candidate.global.digest());
            let rows: Vec<usize> = (0..a.len()).filter(|&i| period[i] >= 28 && period[i] + 1 < from).collect();
            let pa = oa.candidate.score(&a.select(&rows)).unwrap();
            let pb = ob.candidate.score(&b.select(&rows)).unwrap();
            prop_assert_eq!(pa, pb);
        }
    }
}

#[test]
fn a_lag_shorter_than_the_horizon_and_series_without_time_are_refused() {
    let bad = |extra: &str| {
        DatasetSpec::from_json(&format!(
            r#"{{"name": "d", "task": "regression", "target": {{"column": "sales"}},
                "features": [{{"column": "price", "type": "numeric"}}] {extra}}}"#
        ))
        .unwrap_err()
        .to_string()
    };
    let e = bad(r#", "time": {"column": "day"}, "series": {"horizon": 7, "lags": [1]}"#);
    assert!(e.contains("shorter than the horizon 7"), "{e}");
    let e = bad(r#", "series": {"lags": [1]}"#);
    assert!(e.contains("need a `time` axis"), "{e}");
    let e = bad(r#", "time": {"column": "day"}, "series": {"horizon": 0, "lags": [1]}"#);
    assert!(e.contains("at least 1"), "{e}");
    let e = bad(r#", "time": {"column": "day"}, "series": {"key": ["sales"], "lags": [1]}"#);
    assert!(e.contains("sales"), "{e}");
    let e = DatasetSpec::from_json(
        r#"{"name": "d", "task": "regression", "target": {"column": "sales", "positive": "yes"},
            "features": [{"column": "price", "type": "numeric"}]}"#,
    )
    .unwrap_err()
    .to_string();
    assert!(e.contains("no `positive` or `negative`"), "{e}");
    let e = DatasetSpec::from_json(
        r#"{"name": "d", "target": {"column": "sales"}, "features": [{"column": "price", "type": "numeric"}]}"#,
    )
    .unwrap_err()
    .to_string();
    assert!(e.contains("`target.positive` is missing"), "{e}");
}

#[test]
fn a_model_family_of_another_task_is_refused() {
    let spec = daily_spec("");
    let t = validate(&frame(&daily_csv(40, None)), &spec).unwrap();
    let params = TrainParams { model: Some(ModelKind::Logistic), ..TrainParams::default() };
    let e = train(&spec, &params, &t, "x", &Progress::hidden()).unwrap_err().to_string();
    assert!(e.contains("`logistic`, a classification model"), "{e}");
}

fn bikes(file: &str, params: &TrainParams) -> trainer::TrainOutput {
    let spec = spec(file);
    let (table, digest) = load(&data("bikeshare.csv"), &spec).unwrap();
    train(&spec, params, &table, &digest, &Progress::hidden()).unwrap()
}

fn params(kind: ModelKind) -> TrainParams {
    TrainParams { model: Some(kind), backtest_windows: Some(4), ..TrainParams::default() }
}

#[test]
fn bikeshare_forecasts_are_reproducible_converged_and_better_than_the_mean() {
    for kind in [ModelKind::Ridge, ModelKind::Poisson] {
        let a = bikes("bikeshare-lags.spec.json", &params(kind));
        let b = bikes("bikeshare-lags.spec.json", &params(kind));
        assert_eq!(a.candidate.global.digest(), b.candidate.global.digest(), "{kind:?}");
        assert_eq!(a.candidate.global.model.converged(), Some(true), "{kind:?}");
        let m = a.metrics.regression().unwrap();
        // The last 28 days of 2011: predicting the training mean would be off by far more.
        assert!(m.mae < 60.0, "{kind:?} MAE {}", m.mae);
        let cov = m.coverage.unwrap();
        assert!((0.6..=0.95).contains(&cov), "{kind:?} coverage {cov}");
        // The last 4 windows; the last one (day 365 alone, 24 rows) is under min_test_rows.
        assert_eq!(a.backtest.len(), 3);
        assert_eq!(a.backtest_skipped.len(), 1);
        assert!(a.backtest_skipped[0].contains("(365..365): 24 rows"), "{:?}", a.backtest_skipped);
        eprintln!("{kind:?}: MAE {:.3}, MAPE {:?}, coverage {cov:.3}", m.mae, m.mape);
    }
}

#[test]
fn target_derived_columns_are_refused_as_features() {
    let mut s = spec("bikeshare.spec.json");
    s.features
        .push(trainer::spec::Feature { column: "casual".into(), kind: trainer::spec::FeatureType::Numeric });
    let (table, digest) = load(&data("bikeshare.csv"), &s).unwrap();
    let e = train(&s, &TrainParams::default(), &table, &digest, &Progress::hidden()).unwrap_err();
    assert!(matches!(&e, TrainError::Leakage { column, .. } if column == "casual"), "{e}");
    // Undeclared, the exact copy of the target is caught by the guard itself.
    let mut s = spec("bikeshare.spec.json");
    s.target_derived.clear();
    s.features.push(trainer::spec::Feature {
        column: "registered".into(),
        kind: trainer::spec::FeatureType::Numeric,
    });
    s.features
        .push(trainer::spec::Feature { column: "bikers".into(), kind: trainer::spec::FeatureType::Numeric });
    assert!(s.check().is_err(), "the target itself as a feature");
}

#[test]
fn a_segment_model_without_test_rows_is_reported_not_fatal() {
    // Store `c` exists only in the first weeks: it gets a model on its training rows, but the
    // test window has none of its rows.
    let mut csv = daily_csv(40, None);
    for d in 1..=20 {
        csv.push_str(&format!("{d},c,2.5,{}\n", 30 + d % 5));
    }
    let spec = DatasetSpec::from_json(
        r#"{"name": "daily", "task": "regression", "target": {"column": "sales"},
            "features": [{"column": "price", "type": "numeric"}],
            "time": {"column": "day", "periods_per_window": 7, "test_periods": 14, "min_test_rows": 10},
            "segment": "store"}"#,
    )
    .unwrap();
    let t = validate(&frame(&csv), &spec).unwrap();
    let params =
        TrainParams { strategy: Strategy::SegmentedRouter, min_segment_rows: 10, ..TrainParams::default() };
    let out = train(&spec, &params, &t, "x", &Progress::hidden()).unwrap();
    assert!(out.candidate.segments.contains_key("a") && out.candidate.segments.contains_key("b"));
    assert!(!out.candidate.segments.contains_key("c"));
    assert!(out.candidate.skipped["c"].contains("no rows in the test split"), "{:?}", out.candidate.skipped);
}

#[test]
fn a_test_window_below_the_minimum_is_refused_and_the_gap_is_left_out() {
    let spec = DatasetSpec::from_json(
        r#"{"name": "daily", "task": "regression", "target": {"column": "sales"},
            "features": [{"column": "price", "type": "numeric"}],
            "time": {"column": "day", "test_periods": 2, "min_test_rows": 30}}"#,
    )
    .unwrap();
    let t = validate(&frame(&daily_csv(40, None)), &spec).unwrap();
    let e = trainer::train::split(&t, &spec).unwrap_err().to_string();
    assert!(e.contains("has 4 rows, fewer than `time.min_test_rows` 30"), "{e}");
    let spec = DatasetSpec::from_json(
        r#"{"name": "daily", "task": "regression", "target": {"column": "sales"},
            "features": [{"column": "price", "type": "numeric"}],
            "time": {"column": "day", "test_periods": 10, "gap_periods": 3, "min_test_rows": 5}}"#,
    )
    .unwrap();
    let s = trainer::train::split(&t, &spec).unwrap();
    let period = t.period.clone().unwrap();
    assert!(s.test.iter().all(|&i| period[i] >= 30));
    assert!(s.train.iter().all(|&i| period[i] < 27), "the 3 gap days are in neither split");
    assert_eq!(s.test.len(), 20);
    assert!(s.description.contains("gap 3 periods"), "{}", s.description);
}

#[test]
fn declared_missing_markers_are_empty_cells_not_categories() {
    let csv = "day,store,price,sales\n1,a,2,10\n2,NA,2,11\n3,b,2.5,12\n4, NaN ,3,9\n";
    let spec = DatasetSpec::from_json(
        r#"{"name": "m", "task": "regression", "target": {"column": "sales"},
            "features": [{"column": "price", "type": "numeric"}, {"column": "store", "type": "categorical"}],
            "missing_markers": ["NA", "NaN"], "missing": "drop_rows", "split": {"test_fraction": 0.5, "seed": 1}}"#,
    )
    .unwrap();
    let t = validate(&frame(csv), &spec).unwrap();
    assert_eq!(t.row_numbers, [1, 3]);
    assert_eq!(t.report.empty_cells["store"], 2);
}

#[test]
fn duplicate_headers_short_rows_and_header_only_files_are_refused_by_name() {
    use trainer::data::frame_from_bytes;
    let e = frame_from_bytes(b"a,b,a\n1,2,3\n".to_vec(), false).unwrap_err();
    assert_eq!(e, "the header names column `a` twice (columns 1 and 3)");
    let e = frame_from_bytes(b"a,b,c\n1,2,3\n4,5\n".to_vec(), false).unwrap_err();
    assert_eq!(e, "row 2 has 2 field(s) where the header has 3");
    let e = frame_from_bytes(b"a,b\n1,2,3\n".to_vec(), false).unwrap_err();
    assert_eq!(e, "row 1 has 3 field(s) where the header has 2");
    // Quoted commas and line breaks are one field; a trailing empty line is fine.
    assert!(frame_from_bytes(b"a,b\n\"x,\ny\",2\r\n3,4\n\n".to_vec(), false).is_ok());
    let spec = daily_spec("");
    let e = validate(&frame("day,store,price,sales\n"), &spec).unwrap_err().to_string();
    assert!(e.contains("a header but no data rows"), "{e}");
}

#[test]
fn train_periods_keeps_only_the_last_periods_before_the_test_window() {
    let spec = DatasetSpec::from_json(
        r#"{"name": "daily", "task": "regression", "target": {"column": "sales"},
            "features": [{"column": "price", "type": "numeric"}],
            "time": {"column": "day", "test_periods": 7, "train_periods": 14, "gap_periods": 1, "min_test_rows": 5}}"#,
    )
    .unwrap();
    let t = validate(&frame(&daily_csv(40, None)), &spec).unwrap();
    let s = trainer::train::split(&t, &spec).unwrap();
    let period = t.period.clone().unwrap();
    // Test: days 34..40 (indices 33..39); gap: day 33; train: days 19..32.
    assert!(s.test.iter().all(|&i| period[i] >= 33));
    let days: std::collections::BTreeSet<usize> = s.train.iter().map(|&i| period[i] + 1).collect();
    assert_eq!(days, (19..=32).collect());
    assert_eq!(s.description, "time split: train 19..32, gap 1 periods, test 34..40");
}
