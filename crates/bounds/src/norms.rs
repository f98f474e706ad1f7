//! Weight-norm bounds (SPEC §4): b1 (norm products), b2 (absolute-value propagation) and the
//! sum of norms. b1 and b2 are defined, as in the paper, for crashes at the first hidden layer
//! only (see [`crate::BoundKind::check_applicable`]).

use crate::error::Result;
use crate::estimate::{check_finite, BoundKind, MeanStd};
use ftnn_model::{Dense, FailureVector, Inputs, Mlp};
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

/// b1 with norm `q` ∈ {1, 2, ∞}: `p_1 · Π_{l≥2} ‖W_l‖_q · ‖x‖_q` per input, with x the
/// network **input** (what the original computes). One value per input; no std.
pub fn b1(net: &Mlp, p: &FailureVector, x: &Inputs, q: Norm) -> Result<Vec<f64>> {
    let kind = match q {
        Norm::One => BoundKind::B1One,
        Norm::Two => BoundKind::B1Two,
        _ => BoundKind::B1Inf,
    };
    kind.check_applicable(net, p)?;
    x.check_width(net.n_inputs())?;
    let prod: f64 = net.layers()[1..]
        .iter()
        .map(|d| operator_norm(d, q))
        .product();
    let out: Vec<f64> = (0..x.rows())
        .map(|n| p[1] * prod * vector_norm(x.row(n), q))
        .collect();
    check_finite("b1", &out)?;
    Ok(out)
}

/// b2: with `R = |W_L|·…·|W_2|` and `R₂ = (W_L∘W_L)·…·(W_2∘W_2)`,
/// `mean = p_1 · R y_1` and `std = sqrt(p_1 · R₂ (y_1∘y_1))` per input and output.
pub fn b2(net: &Mlp, p: &FailureVector, x: &Inputs) -> Result<MeanStd> {
    BoundKind::B2.check_applicable(net, p)?;
    x.check_width(net.n_inputs())?;
    let n1 = net.sizes()[1];
    let n_out = net.n_outputs();
    // R, R₂ as [n_L, n_1], built from the output backwards in f64.
    let mut r: Option<(Vec<f64>, Vec<f64>, usize)> = None; // (R, R₂, width)
    for d in net.layers()[1..].iter().rev() {
        let (n_o, n_i, w) = (d.n_out(), d.n_in(), d.weight());
        r = Some(match r {
            None => (
                w.iter().map(|&v| (v as f64).abs()).collect(),
                w.iter().map(|&v| (v as f64).powi(2)).collect(),
                n_i,
            ),
            Some((ra, rb, width)) => {
                debug_assert_eq!(width, n_o);
                let rows = ra.len() / width;
                let (mut na, mut nb) = (vec![0f64; rows * n_i], vec![0f64; rows * n_i]);
                for k in 0..rows {
                    for o in 0..n_o {
                        let (a, b) = (ra[k * width + o], rb[k * width + o]);
                        for i in 0..n_i {
                            let v = w[o * n_i + i] as f64;
                            na[k * n_i + i] += a * v.abs();
                            nb[k * n_i + i] += b * v * v;
                        }
                    }
                }
                (na, nb, n_i)
            }
        });
    }
    let (ra, rb, _) = r.expect("at least one layer after the first");
    let y1 = net.forward_layers(x.data(), x.rows())?.swap_remove(1);
    let (mut mean, mut var) = (vec![0f64; x.rows() * n_out], vec![0f64; x.rows() * n_out]);
    for n in 0..x.rows() {
        let y = &y1[n * n1..(n + 1) * n1];
        for k in 0..n_out {
            let (mut s1, mut s2) = (0f64, 0f64);
            for i in 0..n1 {
                let v = y[i] as f64;
                s1 += ra[k * n1 + i] * v;
                s2 += rb[k * n1 + i] * v * v;
            }
            mean[n * n_out + k] = p[1] * s1;
            var[n * n_out + k] = p[1] * s2;
        }
    }
    MeanStd::from_moments(x.rows(), n_out, mean, var)
}

/// The weight-size baseline `Σ_l ‖W_l‖_q` for q ∈ {1, 2, ∞, Frobenius} (not a bound).
#[derive(Debug, Clone, PartialEq, serde::Serialize)]
pub struct SumNorms {
    /// Σ‖W_l‖₁.
    pub one: f64,
    /// Σ‖W_l‖₂.
    pub two: f64,
    /// Σ‖W_l‖_∞.
    pub inf: f64,
    /// Σ‖W_l‖_F.
    pub fro: f64,
}

/// Sums of the operator norms of every weight matrix.
pub fn sum_norms(net: &Mlp) -> SumNorms {
    let s = |q| net.layers().iter().map(|d| operator_norm(d, q)).sum();
    SumNorms {
        one: s(Norm::One),
        two: s(Norm::Two),
        inf: s(Norm::Inf),
        fro: s(Norm::Fro),
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
        // Σ over layers: the same matrix twice doubles every norm.
        let net = Mlp::new(
            vec![d.clone(), d.clone()],
            ftnn_model::Activation::Relu,
            1.0,
        )
        .unwrap();
        let s = sum_norms(&net);
        assert_eq!((s.one, s.inf), (14.0, 18.0));
        assert!((s.fro - 2.0 * 50f64.sqrt()).abs() < 1e-12);
        assert!((s.two - 2.0 * 45f64.sqrt()).abs() < 1e-9);
        let x = [3.0f32, -4.0];
        assert_eq!(vector_norm(&x, Norm::One), 7.0);
        assert_eq!(vector_norm(&x, Norm::Two), 5.0);
        assert_eq!(vector_norm(&x, Norm::Inf), 4.0);
    }
}
