//! Vector and operator norms of weights (SPEC §4 b1 and the sum of norms, SPEC §8 W_l and
//! W_prod): ℓ1, ℓ2, ℓ∞ and Frobenius, accumulated in f64.

use crate::mlp::Dense;
use rand::SeedableRng;
use rand_distr::{Distribution, StandardNormal};

/// A vector or operator norm.
#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Serialize)]
pub enum Norm {
    /// ℓ1 / max column sum.
    One,
    /// ℓ2 / largest singular value.
    Two,
    /// ℓ∞ / max row sum.
    Inf,
    /// Frobenius (matrices only; for vectors the same as ℓ2).
    Fro,
}

/// Operator norm of `W` (`[n_out, n_in]`): q = 1 max column sum, q = 2 largest singular value
/// (power iteration on WᵀW in f64 until the estimate changes by < 1e-12 relative), q = ∞ max row
/// sum, Frobenius.
pub fn operator_norm(d: &Dense, q: Norm) -> f64 {
    let (n_out, n_in, w) = (d.n_out(), d.n_in(), d.weight());
    match q {
        Norm::One => (0..n_in)
            .map(|i| {
                (0..n_out)
                    .map(|o| (w[o * n_in + i] as f64).abs())
                    .sum::<f64>()
            })
            .fold(0.0, f64::max),
        Norm::Inf => (0..n_out)
            .map(|o| {
                w[o * n_in..(o + 1) * n_in]
                    .iter()
                    .map(|&v| (v as f64).abs())
                    .sum::<f64>()
            })
            .fold(0.0, f64::max),
        Norm::Fro => w.iter().map(|&v| (v as f64).powi(2)).sum::<f64>().sqrt(),
        Norm::Two => spectral_norm(w, n_out, n_in),
    }
}

fn spectral_norm(w: &[f32], n_out: usize, n_in: usize) -> f64 {
    let mut rng = rand_chacha::ChaCha8Rng::seed_from_u64(0x5eed);
    let mut v: Vec<f64> = (0..n_in).map(|_| StandardNormal.sample(&mut rng)).collect();
    let mut sigma = 0.0;
    for _ in 0..10_000 {
        let norm = v.iter().map(|x| x * x).sum::<f64>().sqrt();
        if norm == 0.0 {
            return 0.0;
        }
        v.iter_mut().for_each(|x| *x /= norm);
        let u: Vec<f64> = (0..n_out)
            .map(|o| {
                w[o * n_in..(o + 1) * n_in]
                    .iter()
                    .zip(&v)
                    .map(|(&a, b)| a as f64 * b)
                    .sum()
            })
            .collect();
        let mut next = vec![0f64; n_in];
        for o in 0..n_out {
            for i in 0..n_in {
                next[i] += w[o * n_in + i] as f64 * u[o];
            }
        }
        // ‖W v‖ with ‖v‖ = 1 converges to σ_max from below.
        let est = u.iter().map(|x| x * x).sum::<f64>().sqrt();
        let done = (est - sigma).abs() <= 1e-12 * est;
        sigma = est;
        v = next;
        if done {
            break;
        }
    }
    sigma
}

/// Vector norm of `x`.
pub fn vector_norm(x: &[f32], q: Norm) -> f64 {
    match q {
        Norm::One => x.iter().map(|&v| (v as f64).abs()).sum(),
        Norm::Two | Norm::Fro => x.iter().map(|&v| (v as f64).powi(2)).sum::<f64>().sqrt(),
        Norm::Inf => x.iter().map(|&v| (v as f64).abs()).fold(0.0, f64::max),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn matrix_norms_by_hand() {
        // W = [[3, 0], [4, 5]]: column sums 7, 5; row sums 3, 9; Frobenius sqrt(50);
        // singular values sqrt(45) and sqrt(5) (WᵀW = [[25, 20], [20, 25]]).
        let d = Dense::new(vec![3.0, 0.0, 4.0, 5.0], vec![0.0, 0.0], 2, 2).unwrap();
        assert_eq!(operator_norm(&d, Norm::One), 7.0);
        assert_eq!(operator_norm(&d, Norm::Inf), 9.0);
        assert!((operator_norm(&d, Norm::Fro) - 50f64.sqrt()).abs() < 1e-12);
        assert!((operator_norm(&d, Norm::Two) - 45f64.sqrt()).abs() < 1e-9);
        let x = [3.0f32, -4.0];
        assert_eq!(vector_norm(&x, Norm::One), 7.0);
        assert_eq!(vector_norm(&x, Norm::Two), 5.0);
        assert_eq!(vector_norm(&x, Norm::Inf), 4.0);
    }
}
