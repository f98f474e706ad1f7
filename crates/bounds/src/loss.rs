//! Differentiable losses for the b3 bound on the loss (SPEC §4, §6).

use crate::error::{BoundsError, Result};

/// A scalar loss L(ŷ, target) with its gradient in ŷ.
pub trait Loss: Sync {
    /// L(y, t).
    fn value(&self, y: &[f64], t: &[f64]) -> f64;
    /// ∂L/∂y written into `g`.
    fn grad(&self, y: &[f64], t: &[f64], g: &mut [f64]);
}

/// Mean squared error `L = (1/n) Σ_k (y_k − t_k)²` (Keras' `mse`), gradient `2(y − t)/n`.
#[derive(Debug, Clone, Copy, Default)]
pub struct Mse;

impl Loss for Mse {
    fn value(&self, y: &[f64], t: &[f64]) -> f64 {
        y.iter().zip(t).map(|(a, b)| (a - b).powi(2)).sum::<f64>() / y.len() as f64
    }
    fn grad(&self, y: &[f64], t: &[f64], g: &mut [f64]) {
        let n = y.len() as f64;
        for ((gk, a), b) in g.iter_mut().zip(y).zip(t) {
            *gk = 2.0 * (a - b) / n;
        }
    }
}

/// Softmax cross-entropy on logits `L = −Σ_k t_k log softmax(y)_k`, gradient
/// `softmax(y) − t` (for targets summing to 1).
#[derive(Debug, Clone, Copy, Default)]
pub struct CrossEntropy;

fn log_softmax(y: &[f64]) -> Vec<f64> {
    let m = y.iter().cloned().fold(f64::NEG_INFINITY, f64::max);
    let lse = m + y.iter().map(|v| (v - m).exp()).sum::<f64>().ln();
    y.iter().map(|v| v - lse).collect()
}

impl Loss for CrossEntropy {
    fn value(&self, y: &[f64], t: &[f64]) -> f64 {
        -log_softmax(y)
            .iter()
            .zip(t)
            .map(|(l, tk)| tk * l)
            .sum::<f64>()
    }
    fn grad(&self, y: &[f64], t: &[f64], g: &mut [f64]) {
        let ls = log_softmax(y);
        let tsum: f64 = t.iter().sum();
        for ((gk, l), tk) in g.iter_mut().zip(&ls).zip(t) {
            *gk = tsum * l.exp() - tk;
        }
    }
}

/// Checks a target matrix `[rows, width]`.
pub(crate) fn check_targets(t: &[f32], rows: usize, width: usize) -> Result<()> {
    if t.len() != rows * width {
        return Err(BoundsError::Comparison(format!(
            "targets have {} values, expected {rows} × {width}",
            t.len()
        )));
    }
    match t.iter().position(|v| !v.is_finite()) {
        Some(index) => Err(BoundsError::NonFinite {
            what: "targets".into(),
            index,
            value: t[index] as f64,
        }),
        None => Ok(()),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn check_grad(loss: &dyn Loss, y: &[f64], t: &[f64]) {
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
        check_grad(&Mse, &y, &[0.0, 1.0, 0.5]);
        check_grad(&CrossEntropy, &y, &[0.0, 1.0, 0.0]);
        assert!((Mse.value(&[1.0, 3.0], &[0.0, 1.0]) - 2.5).abs() < 1e-15);
        let ce = CrossEntropy.value(&[0.0, 0.0], &[1.0, 0.0]);
        assert!((ce - 2f64.ln()).abs() < 1e-15);
    }
}
