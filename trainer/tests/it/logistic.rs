//! The logistic fit: the same optimum as linfa-logistic (the solver it replaced) on the same
//! objective, the optimality conditions at the returned point, class weights (equal to
//! replicating rows, "balanced" as scikit-learn defines it) and their refusals.

use ndarray::{Array1, Array2, ShapeBuilder};
use proptest::prelude::*;
use trainer::features::Pipeline;
use trainer::model::{Fitted, Logistic};
use trainer::spec::{ClassWeight, ModelKind, Task, TrainParams};
use trainer::train::{split, SplitMix64};

use crate::support::{data, spec};

/// A design with `cols` columns (half one-hot, half numeric) and labels drawn from a logistic
/// model, about `share` positive.
fn design(rows: usize, cols: usize, share: f64, seed: u64) -> (Array2<f64>, Vec<bool>) {
    let mut r = SplitMix64(seed);
    let mut unit = move || (r.next_u64() >> 11) as f64 / (1u64 << 53) as f64;
    let mut x = Array2::<f64>::zeros((rows, cols).f());
    let mut y = Vec::with_capacity(rows);
    let base = (share / (1.0 - share)).ln();
    for i in 0..rows {
        let mut z = base;
        for j in 0..cols {
            let v = if j % 2 == 0 { unit() * 2.0 - 1.0 } else { f64::from(u8::from(unit() < 0.3)) };
            x[[i, j]] = v;
            z += v * ((j % 5) as f64 - 2.0) * 0.4;
        }
        y.push(unit() < 1.0 / (1.0 + (-z).exp()));
    }
    (x, y)
}

/// The mean objective's gradient at a fit, each row weighted by `s` (unnormalised).
fn gradient(x: &Array2<f64>, y: &[bool], s: &[f64], alpha: f64, m: &Logistic) -> Vec<f64> {
    let total: f64 = s.iter().sum();
    let p = m.predict(x);
    let r: Vec<f64> =
        p.iter().zip(y).zip(s).map(|((p, &t), s)| s * (p - f64::from(u8::from(t))) / total).collect();
    let mut g = vec![r.iter().sum::<f64>()];
    for (col, w) in x.columns().into_iter().zip(&m.coefficients) {
        g.push(col.iter().zip(&r).map(|(v, r)| v * r).sum::<f64>() + alpha / total * w);
    }
    g
}

fn max_abs(v: &[f64]) -> f64 {
    v.iter().fold(0.0f64, |a, b| a.max(b.abs()))
}

#[test]
fn the_fit_is_linfa_logistics_optimum_on_the_taxi_design() {
    // Given the taxi design the pipeline builds and a tight tolerance for both solvers
    let spec = spec("taxi.spec.json");
    let (table, _) = trainer::load(&data("taxi.csv"), &spec).unwrap();
    let s = split(&table, &spec).unwrap();
    let train = table.select(&s.train);
    let x = Pipeline::fit(&spec, &train).unwrap().transform(&train).unwrap();
    let y: Vec<bool> = train.target.iter().map(|&t| t == 1.0).collect();
    // (1e-7 on the mean objective is about as tight as a line search on f can see)
    let params = TrainParams { tolerance: 1e-7, max_iterations: 1000, ..TrainParams::default() };
    // When Pledge fits it, and linfa-logistic fits the same objective (a sum; its tolerance is
    // on the L2 norm of the sum's gradient)
    let ours = Logistic::fit(&x, &y, (1.0, 1.0), &params).unwrap();
    let theirs = {
        use linfa::prelude::*;
        let fitted = linfa_logistic::LogisticRegression::default()
            .alpha(params.alpha)
            .max_iterations(1000)
            .gradient_tolerance(1e-7)
            .fit(&DatasetBase::new(x.view(), Array1::from_iter(y.iter().copied())))
            .unwrap();
        let sign = if fitted.labels().pos.class { 1.0 } else { -1.0 };
        (sign * fitted.intercept(), fitted.params().iter().map(|c| sign * c).collect::<Vec<_>>())
    };
    // Then Pledge's fit converged, its objective is no worse than linfa's, and both score every
    // row alike. (The coefficients themselves are weakly determined along the one-hot blocks'
    // sum, which only the tiny penalty pins down; the objective and the scores are not.)
    assert!(ours.converged, "{ours:?}");
    let objective = |b: f64, w: &[f64]| {
        let m = Logistic { intercept: b, coefficients: w.to_vec(), iterations: None, converged: true };
        let n = y.len() as f64;
        let loss: f64 =
            m.predict(&x).iter().zip(&y).map(|(p, &t)| -(if t { *p } else { 1.0 - p }).ln()).sum::<f64>();
        (loss + params.alpha / 2.0 * w.iter().map(|c| c * c).sum::<f64>()) / n
    };
    let (f_ours, f_theirs) = (objective(ours.intercept, &ours.coefficients), objective(theirs.0, &theirs.1));
    assert!(f_ours <= f_theirs + 1e-10, "{f_ours} vs {f_theirs}");
    let theirs = Logistic { intercept: theirs.0, coefficients: theirs.1, iterations: None, converged: true };
    for (a, b) in ours.predict(&x).iter().zip(theirs.predict(&x)) {
        assert!((a - b).abs() < 1e-5, "{a} vs {b}");
    }
}

#[test]
fn a_converged_fit_meets_the_gradient_test_and_an_iteration_cap_is_reported() {
    let (x, y) = design(3000, 40, 0.3, 11);
    let params = TrainParams::default();
    let m = Logistic::fit(&x, &y, (1.0, 1.0), &params).unwrap();
    assert!(m.converged);
    let ones = vec![1.0; y.len()];
    assert!(max_abs(&gradient(&x, &y, &ones, params.alpha, &m)) <= params.tolerance);
    // Two iterations cannot get there: the fit says so, with the count.
    let capped =
        Logistic::fit(&x, &y, (1.0, 1.0), &TrainParams { max_iterations: 2, ..params.clone() }).unwrap();
    assert!(!capped.converged);
    assert_eq!(capped.iterations, Some(2));
    assert!(max_abs(&gradient(&x, &y, &ones, params.alpha, &capped)) > params.tolerance);
}

#[test]
fn balanced_weights_are_scikit_learns_and_meet_the_weighted_optimality_conditions() {
    // Given an imbalanced target (about 10% positive)
    let (x, y) = design(4000, 12, 0.1, 5);
    let pos = y.iter().filter(|&&t| t).count() as f64;
    let n = y.len() as f64;
    let params = TrainParams { class_weight: Some(ClassWeight::Balanced), ..TrainParams::default() };
    // When the weights are resolved: n / (2 n_class), scikit-learn's "balanced"
    let (wp, wn) = params.class_weights(&y);
    assert_eq!((wp, wn), (n / (2.0 * pos), n / (2.0 * (n - pos))));
    let Fitted::Logistic(m) = Fitted::fit(
        ModelKind::Logistic,
        &x,
        &y.iter().map(|&t| f64::from(u8::from(t))).collect::<Vec<_>>(),
        &params,
    )
    .unwrap() else {
        panic!("a logistic fit")
    };
    // Then the weighted gradient vanishes at the fit (so the weights were applied) ...
    let s: Vec<f64> = y.iter().map(|&t| if t { wp } else { wn }).collect();
    assert!(m.converged);
    assert!(max_abs(&gradient(&x, &y, &s, params.alpha, &m)) <= params.tolerance);
    // ... and the mean predicted probability moves from the base rate toward one half.
    let unweighted = Logistic::fit(&x, &y, (1.0, 1.0), &TrainParams::default()).unwrap();
    let mean = |m: &Logistic| m.predict(&x).iter().sum::<f64>() / n;
    assert!((mean(&unweighted) - pos / n).abs() < 0.01);
    assert!(mean(&m) > 0.4, "balanced mean probability {}", mean(&m));
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 8, .. ProptestConfig::default() })]

    /// Integer class weights are the same fit as replicating each row that many times.
    #[test]
    fn integer_class_weights_equal_replicated_rows(seed in 0u64..1000, wp in 1usize..4, wn in 1usize..4) {
        let (x, y) = design(600, 6, 0.25, seed);
        let params = TrainParams { tolerance: 1e-8, max_iterations: 500, ..TrainParams::default() };
        let weighted = Logistic::fit(&x, &y, (wp as f64, wn as f64), &params).unwrap();
        let rows: Vec<usize> =
            (0..y.len()).flat_map(|i| std::iter::repeat_n(i, if y[i] { wp } else { wn })).collect();
        let xr = x.select(ndarray::Axis(0), &rows);
        let yr: Vec<bool> = rows.iter().map(|&i| y[i]).collect();
        let replicated = Logistic::fit(&xr, &yr, (1.0, 1.0), &params).unwrap();
        prop_assert!((weighted.intercept - replicated.intercept).abs() < 1e-5);
        for (a, b) in weighted.coefficients.iter().zip(&replicated.coefficients) {
            prop_assert!((a - b).abs() < 1e-5, "{} vs {}", a, b);
        }
    }
}

#[test]
fn class_weight_parameters_parse_and_bad_ones_are_refused_by_name() {
    let parse =
        |v: serde_json::Value| serde_json::from_value::<TrainParams>(serde_json::json!({"class_weight": v}));
    assert_eq!(parse(serde_json::json!("balanced")).unwrap().class_weight, Some(ClassWeight::Balanced));
    assert_eq!(
        parse(serde_json::json!({"positive": 4, "negative": 0.5})).unwrap().class_weight,
        Some(ClassWeight::Fixed { positive: 4.0, negative: 0.5 })
    );
    for (bad, says) in [
        (serde_json::json!("even"), "\"balanced\""),
        (serde_json::json!({"positive": 2}), "`negative` is missing"),
        (serde_json::json!({"positive": 2, "negative": 1, "neutral": 1}), "unknown member `neutral`"),
        (serde_json::json!({"positive": -1, "negative": 1}), "`positive` must be finite and > 0"),
        (serde_json::json!({"positive": "2", "negative": 1}), "`positive` must be a number"),
    ] {
        let e = parse(bad.clone()).unwrap_err().to_string();
        assert!(e.contains(says), "{bad}: {e}");
    }
    // Round trip: what is recorded reads back the same.
    let p = TrainParams {
        class_weight: Some(ClassWeight::Fixed { positive: 3.0, negative: 1.0 }),
        ..TrainParams::default()
    };
    let back: TrainParams = serde_json::from_str(&serde_json::to_string(&p).unwrap()).unwrap();
    assert_eq!(back, p);
    // A regression task refuses class weights.
    let e = TrainParams { class_weight: Some(ClassWeight::Balanced), ..TrainParams::default() }
        .model_for(Task::Regression)
        .unwrap_err()
        .to_string();
    assert!(e.contains("`class_weight` applies to classification"), "{e}");
}
