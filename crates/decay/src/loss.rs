//! Second derivatives of the losses of `ftnn_bounds` (SPEC §8 needs the loss Hessian with
//! respect to the network outputs to start the Hessian recursion).
//!
//! The losses themselves — value and gradient — are [`ftnn_bounds::Loss`]; this module only
//! adds `H_L = ∂²L/∂y_L²`:
//!
//! | loss | L(y, t) | ∂L/∂y | ∂²L/∂y² |
//! |---|---|---|---|
//! | [`Mse`] | (1/n) Σ_k (y_k − t_k)² | 2(y − t)/n | (2/n) I |
//! | [`CrossEntropy`] | −Σ_k t_k log softmax(y)_k | T s − t | T (diag(s) − s sᵀ) |
//!
//! with n = n_L the number of outputs, s = softmax(y) and T = Σ_k t_k (1 for one-hot targets).
//!
//! **Convention.** [`Mse`] is Keras' `mse`: the *mean* over outputs of the squared error, not
//! the sum and not half of it. For MNIST (n_L = 10) its gradient is therefore 2(y − t)/10, and
//! for Boston (n_L = 1) it is 2(y − t). This is the loss of the SPEC §8 metrics unless a
//! caller passes another.

pub use ftnn_bounds::{CrossEntropy, Loss, Mse};

/// A [`Loss`] whose Hessian with respect to the network outputs is known in closed form.
pub trait SecondOrderLoss: Loss {
    /// `∂²L/∂y²` at `(y, t)`, written row-major into `h` (`[n, n]` with n = `y.len()`).
    fn hessian(&self, y: &[f64], t: &[f64], h: &mut [f64]);
}

impl SecondOrderLoss for Mse {
    /// `(2/n) I`.
    fn hessian(&self, y: &[f64], _t: &[f64], h: &mut [f64]) {
        let n = y.len();
        h.fill(0.0);
        for k in 0..n {
            h[k * n + k] = 2.0 / n as f64;
        }
    }
}

impl SecondOrderLoss for CrossEntropy {
    /// `T (diag(s) − s sᵀ)` with s = softmax(y) and T = Σ_k t_k.
    fn hessian(&self, y: &[f64], t: &[f64], h: &mut [f64]) {
        let n = y.len();
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

#[cfg(test)]
mod tests {
    use super::*;

    /// Central differences of the gradient: truncation O(h²)·|∂³L| ≈ 1e-10 and rounding
    /// ε·|∂L|/h ≈ 1e-11 with h = 1e-5, so 1e-8 is a safe absolute tolerance for O(1) values.
    fn check_hessian(loss: &dyn SecondOrderLoss, y: &[f64], t: &[f64]) {
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
        check_hessian(&Mse, &y, &[0.0, 1.0, 0.5, 0.0]);
        check_hessian(&CrossEntropy, &y, &[0.0, 1.0, 0.0, 0.0]);
        check_hessian(&CrossEntropy, &y, &[0.2, 0.3, 0.1, 0.1]);
        // Keras' mse on 4 outputs: H = I/2.
        let mut h = vec![0.0; 16];
        Mse.hessian(&y, &[0.0; 4], &mut h);
        assert_eq!(h[0], 0.5);
        assert_eq!(h[1], 0.0);
    }
}
