//! Logistic regression: a weighted, L2-penalised fit by L-BFGS, written for this one objective
//! (ADR 0009).
//!
//! The objective is scikit-learn's `LogisticRegression(C = 1/alpha, class_weight)` divided by
//! `C * S`, where `S` is the sum of the sample weights (the row count when unweighted):
//!
//! ```text
//! f(b, w) = (1/S) [ sum_i s_i log(1 + exp(-y_i z_i)) + alpha/2 |w|^2 ],  z_i = b + x_i . w
//! ```
//!
//! with `y_i` in {-1, +1} and the intercept `b` not penalised. Loss and gradient are computed in
//! one pass (two sweeps over the column-major design: `z = X w`, then `X' r`); the line search
//! enforces the strong Wolfe conditions (`c1 = 1e-4`, `c2 = 0.9`, as scipy's L-BFGS-B); the
//! run stops when the largest gradient component is at most `tolerance` (scipy's `pgtol`, the
//! test scikit-learn's `tol` sets), when an iteration lowers `f` by less than `64 eps`
//! relative (scikit-learn's `ftol`), or after `max_iterations` iterations. `converged` is the
//! gradient test at the returned point, whatever stopped the run. Deterministic: one thread,
//! start at zero, fixed summation order.

use ndarray::Array2;
use serde::{Deserialize, Serialize};

use crate::error::TrainError;
use crate::spec::TrainParams;

/// Tables with at least this many rows are fitted from a warm start.
pub const WARM_START_ROWS: usize = 100_000;
/// The warm start fits on every `WARM_STRIDE`-th row.
pub const WARM_STRIDE: usize = 20;
/// Correction pairs L-BFGS keeps (scipy's and scikit-learn's default).
const MEMORY: usize = 10;

/// Fitted coefficients.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Logistic {
    /// The intercept.
    pub intercept: f64,
    /// One coefficient per design-matrix column.
    pub coefficients: Vec<f64>,
    /// L-BFGS iterations the fit took (absent in artifacts written before it was recorded).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub iterations: Option<u64>,
    /// Whether the fit met the tolerance: the largest component of the mean objective's
    /// gradient at the solution is at most `tolerance`.
    pub converged: bool,
}

impl Logistic {
    /// Fits on a design matrix and labels (`true` positive), each row weighted by its class's
    /// weight (`weights = (positive, negative)`; `(1, 1)` is unweighted). Both classes must be
    /// present.
    pub fn fit(
        x: &Array2<f64>,
        y: &[bool],
        weights: (f64, f64),
        params: &TrainParams,
    ) -> Result<Logistic, TrainError> {
        let pos = y.iter().filter(|&&t| t).count();
        if pos == 0 || pos == y.len() {
            return Err(TrainError::TooLittleData("the training rows hold a single class".into()));
        }
        // Large tables start from the solution on every WARM_STRIDE-th row: the full-data solve
        // then needs a few iterations instead of dozens. Same optimum, deterministic.
        let mut start = vec![0.0; x.ncols() + 1];
        if y.len() >= WARM_START_ROWS {
            let rows: Vec<usize> = (0..y.len()).step_by(WARM_STRIDE).collect();
            let sub_y: Vec<bool> = rows.iter().map(|&i| y[i]).collect();
            let sub_pos = sub_y.iter().filter(|&&t| t).count();
            if sub_pos > 0 && sub_pos < sub_y.len() {
                let sub = Logistic::fit(&x.select(ndarray::Axis(0), &rows), &sub_y, weights, params)?;
                start[0] = sub.intercept;
                start[1..].copy_from_slice(&sub.coefficients);
            }
        }
        let problem = Problem::new(x, y, weights, params.alpha);
        let (theta, iterations, grad_max) =
            minimise(&problem, start, params.tolerance, params.max_iterations);
        let model = Logistic {
            intercept: theta[0],
            coefficients: theta[1..].to_vec(),
            iterations: Some(iterations),
            converged: grad_max <= params.tolerance,
        };
        if !model.intercept.is_finite() || model.coefficients.iter().any(|c| !c.is_finite()) {
            return Err(TrainError::Solver("the solver diverged (non-finite coefficients)".into()));
        }
        Ok(model)
    }

    /// Positive-class probabilities of the design matrix's rows.
    pub fn predict(&self, x: &Array2<f64>) -> Vec<f64> {
        crate::model::linear_predictor(x, self.intercept, &self.coefficients)
            .into_iter()
            .map(sigmoid)
            .collect()
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

/// `log(1 + exp(-m))` for a margin `m = y z`, stable for large |m|.
#[cfg(test)]
fn log1p_exp_neg(m: f64) -> f64 {
    if m > 0.0 {
        (-m).exp().ln_1p()
    } else {
        -m + m.exp().ln_1p()
    }
}

/// Dot product with eight accumulators (the compiler keeps a single sum sequential; eight
/// independent sums let the adds overlap).
pub(crate) fn dot(a: &[f64], b: &[f64]) -> f64 {
    let mut acc = [0.0f64; 8];
    let (ca, cb) = (a.chunks_exact(8), b.chunks_exact(8));
    let (ra, rb) = (ca.remainder(), cb.remainder());
    for (u, v) in ca.zip(cb) {
        for k in 0..8 {
            acc[k] += u[k] * v[k];
        }
    }
    let tail: f64 = ra.iter().zip(rb).map(|(u, v)| u * v).sum();
    ((acc[0] + acc[1]) + (acc[2] + acc[3])) + ((acc[4] + acc[5]) + (acc[6] + acc[7])) + tail
}

/// Bytes of the design one block covers: a block of every column stays in a core's L2 cache
/// between the `z = X w` and the `X' r` sweeps, so the design is read from memory once per
/// evaluation instead of twice. Blocks are at least `MIN_BLOCK` rows, so that each column's
/// stretch is long enough for the hardware prefetcher.
const BLOCK_BYTES: usize = 512 * 1024;
const MIN_BLOCK: usize = 128;
const MAX_BLOCK: usize = 8192;

/// The objective's data, column by column.
struct Problem<'a> {
    /// Design columns (borrowed when the matrix is column-major, else copied).
    columns: Vec<std::borrow::Cow<'a, [f64]>>,
    /// `+1.0` / `-1.0`.
    sign: Vec<f64>,
    /// Each row's weight divided by `S`.
    weight: Vec<f64>,
    /// `alpha / S`.
    penalty: f64,
}

impl<'a> Problem<'a> {
    fn new(x: &'a Array2<f64>, y: &[bool], (wp, wn): (f64, f64), alpha: f64) -> Problem<'a> {
        let raw: Vec<f64> = y.iter().map(|&t| if t { wp } else { wn }).collect();
        let total: f64 = raw.iter().sum();
        let columns = (0..x.ncols())
            .map(|j| {
                let c = x.column(j);
                match c.to_slice() {
                    Some(s) => std::borrow::Cow::Borrowed(s),
                    None => std::borrow::Cow::Owned(c.to_vec()),
                }
            })
            .collect();
        Problem {
            columns,
            sign: y.iter().map(|&t| if t { 1.0 } else { -1.0 }).collect(),
            weight: raw.iter().map(|w| w / total).collect(),
            penalty: alpha / total,
        }
    }

    /// The objective and its gradient at `theta = [b, w...]`, in one pass over the rows, block
    /// by block (`z` and `r` are scratch of one block).
    /// Rows per block for this design.
    fn block(&self) -> usize {
        (BLOCK_BYTES / (8 * self.columns.len().max(1))).clamp(MIN_BLOCK, MAX_BLOCK)
    }

    fn value_and_gradient(&self, theta: &[f64], grad: &mut [f64], z: &mut [f64], r: &mut [f64]) -> f64 {
        let n = self.sign.len();
        grad.fill(0.0);
        let mut loss = 0.0;
        let block = z.len();
        for start in (0..n).step_by(block) {
            let end = (start + block).min(n);
            let (z, r) = (&mut z[..end - start], &mut r[..end - start]);
            z.fill(theta[0]);
            // Four columns at a time: `z` is loaded and stored once per four columns.
            let mut cols = self.columns.chunks_exact(4);
            let mut ws = theta[1..].chunks_exact(4);
            for (c, w) in cols.by_ref().zip(ws.by_ref()) {
                let (c0, c1, c2, c3) =
                    (&c[0][start..end], &c[1][start..end], &c[2][start..end], &c[3][start..end]);
                for i in 0..z.len() {
                    z[i] += (w[0] * c0[i] + w[1] * c1[i]) + (w[2] * c2[i] + w[3] * c3[i]);
                }
            }
            for (col, &w) in cols.remainder().iter().zip(ws.remainder()) {
                for (z, &v) in z.iter_mut().zip(&col[start..end]) {
                    *z += w * v;
                }
            }
            let rows = self.sign[start..end].iter().zip(&self.weight[start..end]);
            for ((r, &z), (&s, &wt)) in r.iter_mut().zip(z.iter()).zip(rows) {
                let m = s * z;
                // One exponential per row: e = exp(-|m|) gives both the loss
                // log(1 + exp(-m)) and sigmoid(-m), its derivative's factor.
                let e = (-m.abs()).exp();
                loss += wt * ((-m).max(0.0) + e.ln_1p());
                let sig_neg = if m >= 0.0 { e / (1.0 + e) } else { 1.0 / (1.0 + e) };
                *r = -wt * s * sig_neg;
            }
            grad[0] += r.iter().sum::<f64>();
            // Four column dot products at a time: `r` is loaded once per four columns.
            let mut cols = self.columns.chunks_exact(4);
            let mut gs = grad[1..].chunks_exact_mut(4);
            for (c, g) in cols.by_ref().zip(gs.by_ref()) {
                let (c0, c1, c2, c3) =
                    (&c[0][start..end], &c[1][start..end], &c[2][start..end], &c[3][start..end]);
                // Four partial sums per column (rows i mod 4): sixteen independent chains, so
                // the adds overlap instead of waiting on each other.
                let mut acc = [[0.0f64; 4]; 4];
                let full = r.len() / 4 * 4;
                for i in (0..full).step_by(4) {
                    for l in 0..4 {
                        acc[0][l] += c0[i + l] * r[i + l];
                        acc[1][l] += c1[i + l] * r[i + l];
                        acc[2][l] += c2[i + l] * r[i + l];
                        acc[3][l] += c3[i + l] * r[i + l];
                    }
                }
                for i in full..r.len() {
                    acc[0][0] += c0[i] * r[i];
                    acc[1][0] += c1[i] * r[i];
                    acc[2][0] += c2[i] * r[i];
                    acc[3][0] += c3[i] * r[i];
                }
                for (g, a) in g.iter_mut().zip(acc) {
                    *g += (a[0] + a[1]) + (a[2] + a[3]);
                }
            }
            for (g, col) in gs.into_remainder().iter_mut().zip(cols.remainder()) {
                *g += dot(&col[start..end], r);
            }
        }
        let mut norm = 0.0;
        for (g, &w) in grad[1..].iter_mut().zip(&theta[1..]) {
            *g += self.penalty * w;
            norm += w * w;
        }
        loss + self.penalty / 2.0 * norm
    }
}

/// Minimises the objective from `start`. Returns the point, the iterations taken and the largest
/// gradient component there.
fn minimise(problem: &Problem, start: Vec<f64>, tolerance: f64, max_iterations: u64) -> (Vec<f64>, u64, f64) {
    let k = start.len();
    let (mut z, mut r) = (vec![0.0; problem.block()], vec![0.0; problem.block()]);
    let mut x = start;
    let mut g = vec![0.0; k];
    let mut f = problem.value_and_gradient(&x, &mut g, &mut z, &mut r);
    let inf_norm = |g: &[f64]| g.iter().fold(0.0f64, |a, v| a.max(v.abs()));
    let mut s_hist: std::collections::VecDeque<Vec<f64>> = std::collections::VecDeque::new();
    let mut y_hist: std::collections::VecDeque<Vec<f64>> = std::collections::VecDeque::new();
    let mut iterations = 0u64;
    let mut trial = vec![0.0; k];
    let mut g_trial = vec![0.0; k];
    while inf_norm(&g) > tolerance && iterations < max_iterations && f.is_finite() {
        // Two-loop recursion: d = -H g.
        let mut q = g.clone();
        let mut alphas = Vec::with_capacity(s_hist.len());
        for (s, y) in s_hist.iter().zip(&y_hist).rev() {
            let a = dot(s, &q) / dot(y, s);
            q.iter_mut().zip(y).for_each(|(q, y)| *q -= a * y);
            alphas.push(a);
        }
        let gamma = match (s_hist.back(), y_hist.back()) {
            (Some(s), Some(y)) => dot(s, y) / dot(y, y),
            _ => 1.0,
        };
        q.iter_mut().for_each(|q| *q *= gamma);
        for ((s, y), a) in s_hist.iter().zip(&y_hist).zip(alphas.into_iter().rev()) {
            let b = dot(y, &q) / dot(y, s);
            q.iter_mut().zip(s).for_each(|(q, s)| *q += (a - b) * s);
        }
        let mut d: Vec<f64> = q.into_iter().map(|v| -v).collect();
        let mut slope = dot(&g, &d);
        if slope.is_nan() || slope >= 0.0 {
            // Not a descent direction (numerical trouble): restart from steepest descent.
            s_hist.clear();
            y_hist.clear();
            d = g.iter().map(|v| -v).collect();
            slope = dot(&g, &d);
        }
        // First iteration: a step of length 1 along d, as scipy does; then the unit step.
        let step0 = if s_hist.is_empty() { (1.0 / dot(&d, &d).sqrt()).min(1.0) } else { 1.0 };
        let eval = |t: f64, trial: &mut [f64], g_trial: &mut [f64], z: &mut [f64], r: &mut [f64]| {
            trial.iter_mut().zip(&x).zip(&d).for_each(|((p, x), d)| *p = x + t * d);
            problem.value_and_gradient(trial, g_trial, z, r)
        };
        let mut last_t = f64::NAN;
        let Some((t, f_new)) = wolfe(f, slope, step0, |t| {
            last_t = t;
            let fv = eval(t, &mut trial, &mut g_trial, &mut z, &mut r);
            (fv, dot(&g_trial, &d))
        }) else {
            break;
        };
        // `trial` and `g_trial` hold the last point evaluated; the zoom may accept an earlier one.
        if last_t.to_bits() != t.to_bits() {
            eval(t, &mut trial, &mut g_trial, &mut z, &mut r);
        }
        iterations += 1;
        let s: Vec<f64> = trial.iter().zip(&x).map(|(a, b)| a - b).collect();
        let y: Vec<f64> = g_trial.iter().zip(&g).map(|(a, b)| a - b).collect();
        if dot(&s, &y) > f64::EPSILON * dot(&y, &y) {
            if s_hist.len() == MEMORY {
                s_hist.pop_front();
                y_hist.pop_front();
            }
            s_hist.push_back(s);
            y_hist.push_back(y);
        }
        let decrease = (f - f_new) / f.abs().max(f_new.abs()).max(1.0);
        x.copy_from_slice(&trial);
        g.copy_from_slice(&g_trial);
        f = f_new;
        if decrease <= 64.0 * f64::EPSILON {
            break;
        }
    }
    let worst = inf_norm(&g);
    (x, iterations, if worst.is_finite() { worst } else { f64::INFINITY })
}

/// A step `t` along the direction satisfying the strong Wolfe conditions (Nocedal and Wright,
/// algorithms 3.5 and 3.6, cubic interpolation in the zoom), or `None` after 50 evaluations
/// (scikit-learn's `maxls`). `phi(t)` returns the objective and its directional derivative.
fn wolfe(f0: f64, slope0: f64, t0: f64, mut phi: impl FnMut(f64) -> (f64, f64)) -> Option<(f64, f64)> {
    const C1: f64 = 1e-4;
    const C2: f64 = 0.9;
    const MAX_EVALS: usize = 50;
    let mut evals = 0;
    let (mut t_prev, mut f_prev, mut d_prev) = (0.0, f0, slope0);
    let mut t = t0;
    loop {
        let (ft, dt) = phi(t);
        evals += 1;
        if !ft.is_finite() {
            // Overflowed: shrink toward the last good step.
            if evals >= MAX_EVALS {
                return None;
            }
            t = t_prev + (t - t_prev) / 10.0;
            continue;
        }
        if ft > f0 + C1 * t * slope0 || (evals > 1 && ft >= f_prev) {
            return zoom(f0, slope0, (t_prev, f_prev, d_prev), (t, ft, dt), &mut phi, MAX_EVALS - evals);
        }
        if dt.abs() <= -C2 * slope0 {
            return Some((t, ft));
        }
        if dt >= 0.0 {
            return zoom(f0, slope0, (t, ft, dt), (t_prev, f_prev, d_prev), &mut phi, MAX_EVALS - evals);
        }
        if evals >= MAX_EVALS {
            return None;
        }
        (t_prev, f_prev, d_prev) = (t, ft, dt);
        t *= 2.0;
    }
}

/// The zoom phase: `lo` satisfies the sufficient decrease and has the lower value; the
/// minimiser lies between `lo` and `hi`.
fn zoom(
    f0: f64,
    slope0: f64,
    mut lo: (f64, f64, f64),
    mut hi: (f64, f64, f64),
    phi: &mut impl FnMut(f64) -> (f64, f64),
    budget: usize,
) -> Option<(f64, f64)> {
    const C1: f64 = 1e-4;
    const C2: f64 = 0.9;
    for _ in 0..budget {
        let t = cubic_min(lo, hi);
        let (ft, dt) = phi(t);
        if !ft.is_finite() || ft > f0 + C1 * t * slope0 || ft >= lo.1 {
            hi = (t, ft, dt);
        } else {
            if dt.abs() <= -C2 * slope0 {
                return Some((t, ft));
            }
            if dt * (hi.0 - lo.0) >= 0.0 {
                hi = lo;
            }
            lo = (t, ft, dt);
        }
        if (hi.0 - lo.0).abs() <= f64::EPSILON * lo.0.abs().max(1.0) {
            break;
        }
    }
    // The interval collapsed: accept the best point if it decreased the objective.
    (lo.0 > 0.0 && lo.1 < f0).then_some((lo.0, lo.1))
}

/// The minimiser of the cubic through two points with values and slopes, kept inside the
/// interval (bisection when the cubic has no usable minimum).
fn cubic_min((a, fa, da): (f64, f64, f64), (b, fb, db): (f64, f64, f64)) -> f64 {
    let (lo, hi) = if a < b { (a, b) } else { (b, a) };
    let d1 = da + db - 3.0 * (fa - fb) / (a - b);
    let rad = d1 * d1 - da * db;
    let mid = (a + b) / 2.0;
    if rad.is_nan() || rad < 0.0 || !fb.is_finite() {
        return mid;
    }
    let d2 = (b - a).signum() * rad.sqrt();
    let t = b - (b - a) * (db + d2 - d1) / (db - da + 2.0 * d2);
    // Keep away from the ends, so the interval shrinks.
    let margin = 0.1 * (hi - lo);
    if t.is_finite() && t > lo + margin && t < hi - margin {
        t
    } else {
        mid
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_gradient_matches_finite_differences() {
        // More rows than a block, so the blocked sums are exercised.
        let x = Array2::from_shape_fn((300, 2), |(i, j)| ((i * 3 + j * 5) % 7) as f64 / 3.0 - 1.0);
        let y: Vec<bool> = (0..300).map(|i| (i * 7) % 5 < 2).collect();
        let p = Problem::new(&x, &y, (2.0, 0.5), 0.7);
        let theta = [0.3, -0.4, 0.9];
        let (mut g, mut z, mut r) = (vec![0.0; 3], vec![0.0; MIN_BLOCK], vec![0.0; MIN_BLOCK]);
        p.value_and_gradient(&theta, &mut g, &mut z, &mut r);
        for j in 0..3 {
            let h = 1e-6;
            let (mut up, mut down) = (theta, theta);
            up[j] += h;
            down[j] -= h;
            let mut scratch = vec![0.0; 3];
            let fu = p.value_and_gradient(&up, &mut scratch, &mut z, &mut r);
            let fd = p.value_and_gradient(&down, &mut scratch, &mut z, &mut r);
            assert!(
                (g[j] - (fu - fd) / (2.0 * h)).abs() < 1e-8,
                "component {j}: {} vs {}",
                g[j],
                (fu - fd) / (2.0 * h)
            );
        }
    }

    #[test]
    fn the_margin_loss_is_stable_at_extremes() {
        assert!((log1p_exp_neg(0.0) - 2f64.ln()).abs() < 1e-15);
        assert_eq!(log1p_exp_neg(800.0), 0.0);
        assert!((log1p_exp_neg(-800.0) - 800.0).abs() < 1e-9);
    }
}
