//! Logistic regression with linfa-logistic (L-BFGS), and scoring with the fitted coefficients.
//!
//! The objective is linfa's: `sum_i log(1 + exp(-y_i z_i)) + alpha/2 |w|^2` (intercept not
//! penalised), which is scikit-learn's `LogisticRegression(C = 1/alpha)` objective. linfa's
//! stopping tolerance applies to the gradient of that *sum*; Pledge's `tolerance` is stated
//! for the mean loss and is multiplied by the row count before it is handed over.
//! Fitting is deterministic: one thread, fixed start (zeros), fixed iteration order.

use linfa::prelude::*;
use linfa_logistic::LogisticRegression;
use ndarray::{Array1, Array2};
use serde::{Deserialize, Serialize};

use crate::error::TrainError;
use crate::spec::TrainParams;

/// Tables with at least this many rows are fitted from a warm start.
pub const WARM_START_ROWS: usize = 100_000;
/// The warm start fits on every `WARM_STRIDE`-th row.
pub const WARM_STRIDE: usize = 20;

/// Fitted coefficients.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Logistic {
    /// The intercept.
    pub intercept: f64,
    /// One coefficient per design-matrix column.
    pub coefficients: Vec<f64>,
}

impl Logistic {
    /// Fits on a design matrix and labels (`true` positive). Both classes must be present.
    pub fn fit(x: &Array2<f64>, y: &[bool], params: &TrainParams) -> Result<Logistic, TrainError> {
        let pos = y.iter().filter(|&&t| t).count();
        if pos == 0 || pos == y.len() {
            return Err(TrainError::TooLittleData("the training rows hold a single class".into()));
        }
        // Large tables start from the solution on every WARM_STRIDE-th row: the full-data solve
        // then needs a few iterations instead of dozens. Same optimum, deterministic.
        let start = if y.len() >= WARM_START_ROWS {
            let rows: Vec<usize> = (0..y.len()).step_by(WARM_STRIDE).collect();
            let sub_y: Vec<bool> = rows.iter().map(|&i| y[i]).collect();
            let sub_pos = sub_y.iter().filter(|&&t| t).count();
            if sub_pos > 0 && sub_pos < sub_y.len() {
                Some(Logistic::fit(&x.select(ndarray::Axis(0), &rows), &sub_y, params)?)
            } else {
                None
            }
        } else {
            None
        };
        // linfa labels the *more frequent* class +1 (on a tie, the first row's class).
        let plus_is_true = if 2 * pos == y.len() { y[0] } else { 2 * pos > y.len() };
        let mut solver = LogisticRegression::default()
            .alpha(params.alpha)
            .max_iterations(params.max_iterations)
            .gradient_tolerance(params.tolerance * y.len() as f64);
        if let Some(s) = start {
            let sign = if plus_is_true { 1.0 } else { -1.0 };
            let init = s.coefficients.iter().chain([&s.intercept]).map(|c| sign * c).collect::<Array1<f64>>();
            solver = solver.initial_params(init);
        }
        let targets = Array1::from_iter(y.iter().copied());
        let dataset = DatasetBase::new(x.view(), targets);
        let fitted = solver.fit(&dataset).map_err(|e| TrainError::Solver(e.to_string()))?;
        // linfa labels the *more frequent* class +1; Pledge's coefficients always score `true`.
        let sign = if fitted.labels().pos.class { 1.0 } else { -1.0 };
        let coefficients: Vec<f64> = fitted.params().iter().map(|c| sign * c).collect();
        let intercept = sign * fitted.intercept();
        if !intercept.is_finite() || coefficients.iter().any(|c| !c.is_finite()) {
            return Err(TrainError::Solver("the solver diverged (non-finite coefficients)".into()));
        }
        Ok(Logistic { intercept, coefficients })
    }

    /// Positive-class probabilities of the design matrix's rows.
    pub fn predict(&self, x: &Array2<f64>) -> Vec<f64> {
        // Column by column: contiguous for the column-major matrices the pipeline makes.
        let mut z = vec![self.intercept; x.nrows()];
        for (col, &w) in x.columns().into_iter().zip(&self.coefficients) {
            for (z, &v) in z.iter_mut().zip(col.iter()) {
                *z += w * v;
            }
        }
        z.into_iter().map(sigmoid).collect()
    }
}

/// The logistic function, stable for large |z|.
pub fn sigmoid(z: f64) -> f64 {
    if z >= 0.0 {
        1.0 / (1.0 + (-z).exp())
    } else {
        let e = z.exp();
        e / (1.0 + e)
    }
}
