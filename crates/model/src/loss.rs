//! The losses of ftnn, once: value, gradient and Hessian with respect to the network output
//! (SPEC §4 b3 on the loss, §7 training, §8 decay metrics).
//!
//! With n = n_L the number of outputs, s = softmax(y) and T = Σ_k t_k (1 for one-hot targets):
//!
//! | loss | L(y, t) | ∂L/∂y | ∂²L/∂y² |
//! |---|---|---|---|
//! | [`Loss::Mse`] | (1/n) Σ_k (y_k − t_k)² | 2(y − t)/n | (2/n) I |
//! | [`Loss::Mae`] | (1/n) Σ_k \|y_k − t_k\| | sign(y − t)/n (+1 at 0) | 0 |
//! | [`Loss::CrossEntropy`] | −Σ_k t_k log s_k | T s − t | T (diag(s) − s sᵀ) |
//!
//! **Convention.** MSE and MAE are Keras' `mse` / `mae`: the *mean* over outputs, not the sum
//! and not half of it; over a batch every loss is averaged over rows too. The network's output
//! is the logits for cross-entropy.
//!
//! The f64 functions ([`Loss::value`], [`Loss::grad`], [`Loss::hessian`]) serve the bounds and
//! decay metrics; [`Loss::sample`] and [`Loss::batch_grad`] are the f32 evaluation and the
//! analytic training step. The candle graph used for autodiff training lives in `ftnn-train`.

use crate::error::{ModelError, Result};
use std::fmt;
use std::str::FromStr;

/// A per-sample data loss L(ŷ, t) of the network output ŷ and a target t.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, serde::Serialize, serde::Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum Loss {
    /// Mean squared error (the paper's loss, on one-hot targets for classification).
    #[default]
    Mse,
    /// Mean absolute error (`ErrorOnTraining`).
    Mae,
    /// Softmax cross-entropy on logits.
    CrossEntropy,
}

/// `log softmax(y)`, shifted by the maximum for stability.
fn log_softmax(y: &[f64]) -> Vec<f64> {
    let m = y.iter().cloned().fold(f64::NEG_INFINITY, f64::max);
    let lse = m + y.iter().map(|v| (v - m).exp()).sum::<f64>().ln();
    y.iter().map(|v| v - lse).collect()
}

impl Loss {
    /// All losses, in a fixed order.
    pub const ALL: [Loss; 3] = [Loss::Mse, Loss::Mae, Loss::CrossEntropy];

    /// The name used on the command line and in files.
    pub fn name(self) -> &'static str {
        match self {
            Self::Mse => "mse",
            Self::Mae => "mae",
            Self::CrossEntropy => "cross-entropy",
        }
    }

    /// `L(y, t)` in f64 (table of the module documentation).
    pub fn value(self, y: &[f64], t: &[f64]) -> f64 {
        match self {
            Self::Mse => {
                y.iter().zip(t).map(|(a, b)| (a - b).powi(2)).sum::<f64>() / y.len() as f64
            }
            Self::Mae => y.iter().zip(t).map(|(a, b)| (a - b).abs()).sum::<f64>() / y.len() as f64,
            Self::CrossEntropy => -log_softmax(y)
                .iter()
                .zip(t)
                .map(|(l, tk)| tk * l)
                .sum::<f64>(),
        }
    }

    /// `∂L/∂y` at `(y, t)` written into `g` (same length as `y`).
    pub fn grad(self, y: &[f64], t: &[f64], g: &mut [f64]) {
        let n = y.len() as f64;
        match self {
            Self::Mse => {
                for ((gk, a), b) in g.iter_mut().zip(y).zip(t) {
                    *gk = 2.0 * (a - b) / n;
                }
            }
            Self::Mae => {
                for ((gk, a), b) in g.iter_mut().zip(y).zip(t) {
                    *gk = if a - b >= 0.0 { 1.0 } else { -1.0 } / n;
                }
            }
            Self::CrossEntropy => {
                let ls = log_softmax(y);
                let tsum: f64 = t.iter().sum();
                for ((gk, l), tk) in g.iter_mut().zip(&ls).zip(t) {
                    *gk = tsum * l.exp() - tk;
                }
            }
        }
    }

    /// `∂²L/∂y²` at `(y, t)`, written row-major into `h` (`[n, n]` with n = `y.len()`):
    /// `(2/n) I` for MSE, 0 for MAE (almost everywhere), `T (diag(s) − s sᵀ)` for
    /// cross-entropy.
    pub fn hessian(self, y: &[f64], t: &[f64], h: &mut [f64]) {
        let n = y.len();
        match self {
            Self::Mse => {
                h.fill(0.0);
                for k in 0..n {
                    h[k * n + k] = 2.0 / n as f64;
                }
            }
            Self::Mae => h.fill(0.0),
            Self::CrossEntropy => {
                let m = y.iter().cloned().fold(f64::NEG_INFINITY, f64::max);
                let e: Vec<f64> = y.iter().map(|v| (v - m).exp()).collect();
                let z: f64 = e.iter().sum();
                let s: Vec<f64> = e.iter().map(|v| v / z).collect();
                let tsum: f64 = t.iter().sum();
                for i in 0..n {
                    for j in 0..n {
                        let d = if i == j { s[i] } else { 0.0 };
                        h[i * n + j] = tsum * (d - s[i] * s[j]);
                    }
                }
            }
        }
    }

    /// The loss of one example of f32 outputs, accumulated in f64: its contribution to the
    /// batch mean (SPEC §7 evaluation).
    pub fn sample(self, y: &[f32], t: &[f32]) -> f64 {
        let n = y.len() as f64;
        match self {
            Self::Mse => {
                y.iter()
                    .zip(t)
                    .map(|(&a, &b)| (a as f64 - b as f64).powi(2))
                    .sum::<f64>()
                    / n
            }
            Self::Mae => {
                y.iter()
                    .zip(t)
                    .map(|(&a, &b)| (a as f64 - b as f64).abs())
                    .sum::<f64>()
                    / n
            }
            Self::CrossEntropy => {
                let max = y.iter().fold(f64::NEG_INFINITY, |m, &v| m.max(v as f64));
                let lse = max + y.iter().map(|&v| (v as f64 - max).exp()).sum::<f64>().ln();
                y.iter()
                    .zip(t)
                    .map(|(&a, &b)| -(b as f64) * (a as f64 - lse))
                    .sum()
            }
        }
    }

    /// The gradient, in f32, of the *batch-mean* loss over `rows` rows with respect to the
    /// outputs `y` of one row (target `t`), written into `g`: `2(y − t)/(rows·n)` for MSE,
    /// `sign(y − t)/(rows·n)` (+1 at 0, as candle's `abs`) for MAE and
    /// `(T s − t)/rows` for cross-entropy (SPEC §7, the analytic training step).
    pub fn batch_grad(self, y: &[f32], t: &[f32], rows: usize, g: &mut [f32]) {
        let cells = (rows * y.len()) as f32;
        match self {
            Self::Mse => {
                for ((gi, &a), &b) in g.iter_mut().zip(y).zip(t) {
                    *gi = 2.0 * (a - b) / cells;
                }
            }
            Self::Mae => {
                for ((gi, &a), &b) in g.iter_mut().zip(y).zip(t) {
                    *gi = if a - b >= 0.0 { 1.0 } else { -1.0 } / cells;
                }
            }
            Self::CrossEntropy => {
                let max = y.iter().fold(f32::NEG_INFINITY, |m, &v| m.max(v));
                let sum: f32 = y.iter().map(|&v| (v - max).exp()).sum();
                let tsum: f32 = t.iter().sum();
                for ((gi, &a), &b) in g.iter_mut().zip(y).zip(t) {
                    *gi = (tsum * (a - max).exp() / sum - b) / rows as f32;
                }
            }
        }
    }
}

impl fmt::Display for Loss {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.name())
    }
}

impl FromStr for Loss {
    type Err = ModelError;
    fn from_str(s: &str) -> Result<Self> {
        match s {
            "mse" => Ok(Self::Mse),
            "mae" => Ok(Self::Mae),
            "cross-entropy" | "crossentropy" | "ce" => Ok(Self::CrossEntropy),
            _ => Err(ModelError::UnknownLoss(s.to_string())),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn check_grad(loss: Loss, y: &[f64], t: &[f64]) {
        let mut g = vec![0.0; y.len()];
        loss.grad(y, t, &mut g);
        let h = 1e-6;
        for k in 0..y.len() {
            let (mut a, mut b) = (y.to_vec(), y.to_vec());
            a[k] += h;
            b[k] -= h;
            let fd = (loss.value(&a, t) - loss.value(&b, t)) / (2.0 * h);
            assert!((fd - g[k]).abs() < 1e-7, "{k}: {fd} vs {}", g[k]);
        }
    }

    #[test]
    fn gradients_match_finite_differences() {
        let y = [0.3, -1.2, 2.0];
        check_grad(Loss::Mse, &y, &[0.0, 1.0, 0.5]);
        check_grad(Loss::CrossEntropy, &y, &[0.0, 1.0, 0.0]);
        check_grad(Loss::Mae, &y, &[0.0, 1.0, 0.5]);
        assert!((Loss::Mse.value(&[1.0, 3.0], &[0.0, 1.0]) - 2.5).abs() < 1e-15);
        let ce = Loss::CrossEntropy.value(&[0.0, 0.0], &[1.0, 0.0]);
        assert!((ce - 2f64.ln()).abs() < 1e-15);
        assert_eq!(Loss::Mae.value(&[1.0, -3.0], &[0.0, 1.0]), 2.5);
    }

    /// Central differences of the gradient: truncation O(h²)·|∂³L| ≈ 1e-10 and rounding
    /// ε·|∂L|/h ≈ 1e-11 with h = 1e-5, so 1e-8 is a safe absolute tolerance for O(1) values.
    fn check_hessian(loss: Loss, y: &[f64], t: &[f64]) {
        let n = y.len();
        let mut h = vec![0.0; n * n];
        loss.hessian(y, t, &mut h);
        let eps = 1e-5;
        let (mut gp, mut gm) = (vec![0.0; n], vec![0.0; n]);
        for j in 0..n {
            let (mut a, mut b) = (y.to_vec(), y.to_vec());
            a[j] += eps;
            b[j] -= eps;
            loss.grad(&a, t, &mut gp);
            loss.grad(&b, t, &mut gm);
            for i in 0..n {
                let fd = (gp[i] - gm[i]) / (2.0 * eps);
                assert!(
                    (fd - h[i * n + j]).abs() < 1e-8,
                    "({i},{j}): {fd} vs {}",
                    h[i * n + j]
                );
            }
        }
    }

    #[test]
    fn loss_hessians_match_finite_differences() {
        let y = [0.3, -1.2, 2.0, 0.1];
        check_hessian(Loss::Mse, &y, &[0.0, 1.0, 0.5, 0.0]);
        check_hessian(Loss::CrossEntropy, &y, &[0.0, 1.0, 0.0, 0.0]);
        check_hessian(Loss::CrossEntropy, &y, &[0.2, 0.3, 0.1, 0.1]);
        check_hessian(Loss::Mae, &y, &[0.0, 1.0, 0.5, 0.0]);
        // Keras' mse on 4 outputs: H = I/2.
        let mut h = vec![0.0; 16];
        Loss::Mse.hessian(&y, &[0.0; 4], &mut h);
        assert_eq!(h[0], 0.5);
        assert_eq!(h[1], 0.0);
    }

    #[test]
    fn f32_sample_and_batch_gradient_match_hand_values() {
        // MSE of (1, 3) vs (0, 1): (1 + 4)/2; MAE: (1 + 2)/2.
        assert_eq!(Loss::Mse.sample(&[1.0, 3.0], &[0.0, 1.0]), 2.5);
        assert_eq!(Loss::Mae.sample(&[1.0, 3.0], &[0.0, 1.0]), 1.5);
        let ce = Loss::CrossEntropy.sample(&[0.0, 0.0], &[1.0, 0.0]);
        assert!((ce - 2f64.ln()).abs() < 1e-7);
        // Batch of 2 rows, 2 outputs: MSE 2(y − t)/4, MAE sign/4, CE (s − t)/2.
        let mut g = [0f32; 2];
        Loss::Mse.batch_grad(&[1.0, 3.0], &[0.0, 1.0], 2, &mut g);
        assert_eq!(g, [0.5, 1.0]);
        Loss::Mae.batch_grad(&[1.0, 0.0], &[0.0, 1.0], 2, &mut g);
        assert_eq!(g, [0.25, -0.25]);
        Loss::CrossEntropy.batch_grad(&[0.0, 0.0], &[1.0, 0.0], 2, &mut g);
        assert_eq!(g, [-0.25, 0.25]);
    }

    #[test]
    fn names_round_trip() {
        for loss in Loss::ALL {
            assert_eq!(loss.to_string().parse::<Loss>().unwrap(), loss);
        }
        assert_eq!("ce".parse::<Loss>().unwrap(), Loss::CrossEntropy);
        assert!(matches!(
            "l2".parse::<Loss>(),
            Err(ModelError::UnknownLoss(_))
        ));
    }
}
