//! The model families: logistic regression (L-BFGS, in `logistic`, ADR 0009) for classes,
//! ridge (a Cholesky solve, exact) and a Poisson GLM (Newton-Cholesky) for numbers (ADR 0008),
//! and scoring with the fitted coefficients. Every fit is deterministic: one thread, a fixed
//! start, a fixed summation order.

use ndarray::Array2;
use serde::{Deserialize, Serialize};

use crate::error::TrainError;
use crate::logistic::dot;
pub use crate::logistic::{sigmoid, Logistic, WARM_START_ROWS, WARM_STRIDE};
use crate::spec::{ModelKind, TrainParams};

/// `intercept + x . coefficients` for each row, column by column (contiguous for the
/// column-major matrices the pipeline makes); every family scores through it.
pub(crate) fn linear_predictor(x: &Array2<f64>, intercept: f64, coefficients: &[f64]) -> Vec<f64> {
    let mut z = vec![intercept; x.nrows()];
    for (col, &w) in x.columns().into_iter().zip(coefficients) {
        for (z, &v) in z.iter_mut().zip(col.iter()) {
            *z += w * v;
        }
    }
    z
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
        linear_predictor(x, self.intercept, &self.coefficients)
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
        // The centred columns as the rows of a p x n matrix.
        let mut centred = x.t().to_owned();
        for (mut row, m) in centred.rows_mut().into_iter().zip(&means) {
            row.mapv_inplace(|v| v - m);
        }
        let yc: Vec<f64> = y.iter().map(|t| t - ybar).collect();
        let g: Vec<f64> =
            centred.rows().into_iter().map(|c| c.as_slice().map_or(0.0, |c| dot(c, &yc))).collect();
        let mut h = cross(&centred, &centred);
        for a in 0..p {
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
        let eta = |theta: &[f64]| linear_predictor(x, theta[0], &theta[1..]);
        let objective = |theta: &[f64], z: &[f64]| -> f64 {
            let loss: f64 = z.iter().zip(y).map(|(&e, &t)| e.min(700.0).exp() - t * e).sum::<f64>() / n;
            loss + alpha / 2.0 * theta[1..].iter().map(|w| w * w).sum::<f64>()
        };
        let cap = params.max_iterations;
        // The columns as the rows of a p x n matrix, read by every gradient and Hessian.
        let plain = x.t().as_standard_layout().into_owned();
        let mut z = eta(&theta);
        let mut f = objective(&theta, &z);
        let mut iterations = 0u64;
        let mut converged = false;
        loop {
            let mu: Vec<f64> = z.iter().map(|&e| e.min(700.0).exp()).collect();
            let r: Vec<f64> = mu.iter().zip(y).map(|(m, t)| (m - t) / n).collect();
            let mut g = vec![0.0; p + 1];
            g[0] = r.iter().sum();
            for (j, col) in plain.rows().into_iter().enumerate() {
                g[j + 1] = col.as_slice().map_or(0.0, |c| dot(c, &r)) + alpha * theta[j + 1];
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
            let wmu: Vec<f64> = mu.iter().map(|m| m / n).collect();
            h[0] = wmu.iter().sum();
            // Each column weighted by mu / n.
            let mut weighted = plain.clone();
            for mut row in weighted.rows_mut() {
                row.iter_mut().zip(&wmu).for_each(|(x, w)| *x *= w);
            }
            let inner = cross(&weighted, &plain);
            for a in 0..p {
                let v: f64 = weighted.row(a).sum();
                h[a + 1] = v;
                h[(a + 1) * k] = v;
                h[(a + 1) * k + 1..(a + 2) * k].copy_from_slice(&inner[a * p..(a + 1) * p]);
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

/// `out[a * p + b] = left[a] . right[b]` for `p x n` matrices whose rows are columns of the
/// design, as one matrix product (ndarray's matrixmultiply kernels), row-major `p x p`.
fn cross(left: &Array2<f64>, right: &Array2<f64>) -> Vec<f64> {
    let product = left.dot(&right.t());
    let p = left.nrows();
    let mut out = vec![0.0; p * p];
    // Symmetric in exact arithmetic; the upper triangle is kept so that H is exactly so.
    for a in 0..p {
        for b in a..p {
            out[a * p + b] = product[[a, b]];
            out[b * p + a] = product[[a, b]];
        }
    }
    out
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
                let weights = params.class_weights(&labels);
                Logistic::fit(x, &labels, weights, params).map(Fitted::Logistic)
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
