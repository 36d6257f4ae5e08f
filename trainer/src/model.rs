//! The model families: logistic regression (linfa-logistic, L-BFGS) for classes, ridge
//! (a Cholesky solve, exact) and a Poisson GLM (Newton-Cholesky) for numbers, both here
//! (ADR 0008), and scoring with the fitted coefficients.
//!
//! Logistic regression:
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
use crate::spec::{ModelKind, TrainParams};

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
    /// Whether the fit met the tolerance: the largest component of the mean objective's
    /// gradient at the solution is at most `tolerance` (checked here; linfa-logistic does not
    /// say whether it stopped on the tolerance or on the iteration cap).
    pub converged: bool,
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
        let mut model = Logistic { intercept, coefficients, converged: false };
        // Mean objective: (1/n) sum log(1 + exp(-y z)) + alpha/(2n) |w|^2; its gradient is
        // (1/n) X'(p - y) + (alpha/n) w, and (1/n) sum (p - y) for the intercept.
        let n = y.len() as f64;
        let p = model.predict(x);
        let r: Vec<f64> = p.iter().zip(y).map(|(p, &t)| (p - if t { 1.0 } else { 0.0 }) / n).collect();
        let mut worst = r.iter().sum::<f64>().abs();
        for (col, &w) in x.columns().into_iter().zip(&model.coefficients) {
            let g: f64 = col.iter().zip(&r).map(|(v, r)| v * r).sum::<f64>() + params.alpha / n * w;
            worst = worst.max(g.abs());
        }
        model.converged = worst.is_finite() && worst <= params.tolerance;
        Ok(model)
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

/// A fitted linear model for a numeric target: `z = intercept + x . coefficients`, predicting
/// `z` (ridge) or `exp(z)` (Poisson, log link).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Linear {
    /// The intercept.
    pub intercept: f64,
    /// One coefficient per design-matrix column.
    pub coefficients: Vec<f64>,
    /// Newton steps (Poisson; ridge is solved directly).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub iterations: Option<u64>,
    /// Whether the fit is at the optimum: always for ridge (solved directly); for Poisson,
    /// the largest component of the mean objective's gradient is at most `tolerance`.
    pub converged: bool,
}

impl Linear {
    /// The linear predictor of each row.
    fn eta(&self, x: &Array2<f64>) -> Vec<f64> {
        let mut z = vec![self.intercept; x.nrows()];
        for (col, &w) in x.columns().into_iter().zip(&self.coefficients) {
            for (z, &v) in z.iter_mut().zip(col.iter()) {
                *z += w * v;
            }
        }
        z
    }

    fn finite(self) -> Result<Linear, TrainError> {
        if !self.intercept.is_finite() || self.coefficients.iter().any(|c| !c.is_finite()) {
            return Err(TrainError::Solver("the solver diverged (non-finite coefficients)".into()));
        }
        Ok(self)
    }

    /// Ridge regression, scikit-learn's `Ridge(alpha)` objective `|y - Xw - b|^2 + alpha |w|^2`
    /// (intercept not penalised), solved exactly as scikit-learn's `cholesky` solver does:
    /// centre the columns and the target on the training rows, solve
    /// `(Xc'Xc + alpha I) w = Xc'yc` by Cholesky, and `b = mean(y) - mean(x) . w`.
    pub fn ridge(x: &Array2<f64>, y: &[f64], params: &TrainParams) -> Result<Linear, TrainError> {
        let n = y.len() as f64;
        let p = x.ncols();
        let cols: Vec<ndarray::ArrayView1<'_, f64>> = x.columns().into_iter().collect();
        let means: Vec<f64> = cols.iter().map(|c| c.sum() / n).collect();
        let ybar = y.iter().sum::<f64>() / n;
        let centred: Vec<Vec<f64>> =
            cols.iter().zip(&means).map(|(c, m)| c.iter().map(|v| v - m).collect()).collect();
        let mut h = vec![0.0; p * p];
        let mut g = vec![0.0; p];
        for a in 0..p {
            g[a] = centred[a].iter().zip(y).map(|(v, t)| v * (t - ybar)).sum();
            for b in a..p {
                let v: f64 = centred[a].iter().zip(&centred[b]).map(|(u, v)| u * v).sum();
                h[a * p + b] = v;
                h[b * p + a] = v;
            }
            h[a * p + a] += params.alpha;
        }
        // A column constant on the training rows (an unseen-category column) is all zero once
        // centred: with alpha = 0 it would make the system singular; it gets coefficient 0.
        for a in 0..p {
            if h[a * p + a] == 0.0 {
                h[a * p + a] = 1.0;
            }
        }
        let w = solve_spd(&mut h, p, &g).ok_or_else(|| {
            TrainError::Solver("ridge: the design is singular (collinear features and alpha = 0?)".into())
        })?;
        let intercept = ybar - means.iter().zip(&w).map(|(m, w)| m * w).sum::<f64>();
        Linear { intercept, coefficients: w, iterations: None, converged: true }.finite()
    }

    /// Poisson regression with a log link, scikit-learn's `PoissonRegressor(alpha)` objective
    /// `1/(2n) sum deviance + alpha/2 |w|^2` (intercept not penalised), minimised by Newton's
    /// method with a Cholesky solve and a backtracking (Armijo) line search: scikit-learn's
    /// `newton-cholesky` solver. Starts from `w = 0`, intercept `ln(mean y)`; stops when the
    /// largest gradient component is at most `tolerance`, or after `max_iterations` steps
    /// (then `converged` is false). Targets must be `>= 0` with a positive mean.
    pub fn poisson(x: &Array2<f64>, y: &[f64], params: &TrainParams) -> Result<Linear, TrainError> {
        if let Some(i) = y.iter().position(|&v| v < 0.0) {
            return Err(TrainError::Spec(format!(
                "the Poisson model needs counts >= 0; a training row has {}",
                y[i]
            )));
        }
        let n = y.len() as f64;
        let mean = y.iter().sum::<f64>() / n;
        if mean <= 0.0 {
            return Err(TrainError::TooLittleData(
                "every training target is 0; a Poisson model needs a positive mean".into(),
            ));
        }
        let p = x.ncols();
        let alpha = params.alpha;
        // theta = [intercept, w...]; the objective up to a constant:
        // f = (1/n) sum (exp(eta_i) - y_i eta_i) + alpha/2 |w|^2.
        let mut theta = vec![0.0; p + 1];
        theta[0] = mean.ln();
        let eta = |theta: &[f64]| -> Vec<f64> {
            let mut z = vec![theta[0]; x.nrows()];
            for (col, &w) in x.columns().into_iter().zip(&theta[1..]) {
                if w != 0.0 {
                    for (z, &v) in z.iter_mut().zip(col.iter()) {
                        *z += w * v;
                    }
                }
            }
            z
        };
        let objective = |theta: &[f64], z: &[f64]| -> f64 {
            let loss: f64 = z.iter().zip(y).map(|(&e, &t)| e.min(700.0).exp() - t * e).sum::<f64>() / n;
            loss + alpha / 2.0 * theta[1..].iter().map(|w| w * w).sum::<f64>()
        };
        let cap = params.max_iterations;
        let mut z = eta(&theta);
        let mut f = objective(&theta, &z);
        let mut iterations = 0u64;
        let mut converged = false;
        loop {
            let mu: Vec<f64> = z.iter().map(|&e| e.min(700.0).exp()).collect();
            let r: Vec<f64> = mu.iter().zip(y).map(|(m, t)| (m - t) / n).collect();
            let mut g = vec![0.0; p + 1];
            g[0] = r.iter().sum();
            for (j, col) in x.columns().into_iter().enumerate() {
                g[j + 1] = col.iter().zip(&r).map(|(v, r)| v * r).sum::<f64>() + alpha * theta[j + 1];
            }
            let worst = g.iter().fold(0.0f64, |a, v| a.max(v.abs()));
            if !worst.is_finite() {
                return Err(TrainError::Solver("the Poisson fit diverged (non-finite gradient)".into()));
            }
            if worst <= params.tolerance {
                converged = true;
                break;
            }
            if iterations >= cap {
                break;
            }
            iterations += 1;
            // Hessian (1/n) [1 X]' diag(mu) [1 X] + alpha on the coefficients.
            let k = p + 1;
            let mut h = vec![0.0; k * k];
            let cols: Vec<ndarray::ArrayView1<'_, f64>> = x.columns().into_iter().collect();
            let wmu: Vec<f64> = mu.iter().map(|m| m / n).collect();
            h[0] = wmu.iter().sum();
            for a in 0..p {
                let ca = &cols[a];
                let v: f64 = ca.iter().zip(&wmu).map(|(x, w)| x * w).sum();
                h[a + 1] = v;
                h[(a + 1) * k] = v;
                for b in a..p {
                    let v: f64 = ca.iter().zip(cols[b].iter()).zip(&wmu).map(|((x, z), w)| x * z * w).sum();
                    h[(a + 1) * k + b + 1] = v;
                    h[(b + 1) * k + a + 1] = v;
                }
                h[(a + 1) * k + a + 1] += alpha;
            }
            let step = solve_spd(&mut h, k, &g).ok_or_else(|| {
                TrainError::Solver(
                    "the Poisson fit's Hessian is singular (collinear features and alpha = 0?)".into(),
                )
            })?;
            // Backtracking line search on the objective (Armijo, c = 1e-4).
            let slope: f64 = -step.iter().zip(&g).map(|(s, g)| s * g).sum::<f64>();
            let mut t = 1.0;
            loop {
                let cand: Vec<f64> = theta.iter().zip(&step).map(|(th, s)| th - t * s).collect();
                let zc = eta(&cand);
                let fc = objective(&cand, &zc);
                if fc.is_finite() && fc <= f + 1e-4 * t * slope {
                    theta = cand;
                    z = zc;
                    f = fc;
                    break;
                }
                t /= 2.0;
                if t < 1e-12 {
                    // No decrease along the Newton direction: stop here, not converged (the
                    // gradient test above has not passed).
                    return Linear {
                        intercept: theta[0],
                        coefficients: theta[1..].to_vec(),
                        iterations: Some(iterations),
                        converged: false,
                    }
                    .finite();
                }
            }
        }
        Linear {
            intercept: theta[0],
            coefficients: theta[1..].to_vec(),
            iterations: Some(iterations),
            converged,
        }
        .finite()
    }
}

/// Solves `H s = g` for a symmetric positive definite `H` (row-major `k x k`, overwritten by
/// its Cholesky factor). `None` when `H` is not positive definite.
fn solve_spd(h: &mut [f64], k: usize, g: &[f64]) -> Option<Vec<f64>> {
    for j in 0..k {
        let mut d = h[j * k + j];
        for m in 0..j {
            d -= h[j * k + m] * h[j * k + m];
        }
        if d <= 0.0 || !d.is_finite() {
            return None;
        }
        let d = d.sqrt();
        h[j * k + j] = d;
        for i in j + 1..k {
            let mut v = h[i * k + j];
            for m in 0..j {
                v -= h[i * k + m] * h[j * k + m];
            }
            h[i * k + j] = v / d;
        }
    }
    // L u = g, then L' s = u.
    let mut u = vec![0.0; k];
    for i in 0..k {
        let mut v = g[i];
        for m in 0..i {
            v -= h[i * k + m] * u[m];
        }
        u[i] = v / h[i * k + i];
    }
    let mut s = vec![0.0; k];
    for i in (0..k).rev() {
        let mut v = u[i];
        for m in i + 1..k {
            v -= h[m * k + i] * s[m];
        }
        s[i] = v / h[i * k + i];
    }
    Some(s)
}

/// A fitted model of any family.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(tag = "family", rename_all = "snake_case")]
pub enum Fitted {
    /// Logistic regression: probabilities of the positive class.
    Logistic(Logistic),
    /// Ridge regression: predictions on the target's scale.
    Ridge(Linear),
    /// Poisson GLM: predicted means (`exp` of the linear predictor).
    Poisson(Linear),
}

impl Fitted {
    /// Fits the family `kind` on a design matrix and targets (1.0/0.0 for classes).
    pub fn fit(
        kind: ModelKind,
        x: &Array2<f64>,
        y: &[f64],
        params: &TrainParams,
    ) -> Result<Fitted, TrainError> {
        match kind {
            ModelKind::Logistic => {
                let labels: Vec<bool> = y.iter().map(|&t| t == 1.0).collect();
                Logistic::fit(x, &labels, params).map(Fitted::Logistic)
            }
            ModelKind::Ridge => Linear::ridge(x, y, params).map(Fitted::Ridge),
            ModelKind::Poisson => Linear::poisson(x, y, params).map(Fitted::Poisson),
        }
    }

    /// Scores each row: a probability, or a prediction.
    pub fn predict(&self, x: &Array2<f64>) -> Vec<f64> {
        match self {
            Fitted::Logistic(m) => m.predict(x),
            Fitted::Ridge(m) => m.eta(x),
            Fitted::Poisson(m) => m.eta(x).into_iter().map(|z| z.min(700.0).exp()).collect(),
        }
    }

    /// The intercept and coefficients.
    pub fn coefficients(&self) -> (f64, &[f64]) {
        match self {
            Fitted::Logistic(m) => (m.intercept, &m.coefficients),
            Fitted::Ridge(m) | Fitted::Poisson(m) => (m.intercept, &m.coefficients),
        }
    }

    /// Whether the solver converged (see each family's `converged`).
    pub fn converged(&self) -> Option<bool> {
        match self {
            Fitted::Logistic(m) => Some(m.converged),
            Fitted::Ridge(m) | Fitted::Poisson(m) => Some(m.converged),
        }
    }
}
