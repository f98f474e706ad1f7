//! Weight-norm bounds (SPEC §4): b1 (norm products), b2 (absolute-value propagation) and the
//! sum of norms. b1 and b2 are defined, as in the paper, for crashes at the first hidden layer
//! only (see [`crate::BoundKind::check_applicable`]).

use crate::error::Result;
use crate::estimate::{check_finite, BoundKind, MeanStd};
pub use ftnn_model::{operator_norm, vector_norm, Norm};
use ftnn_model::{FailureVector, Inputs, Mlp};

/// b1 with norm `q` ∈ {1, 2, ∞}: `p_1 · Π_{l≥2} ‖W_l‖_q · ‖x‖_q` per input, with x the
/// network **input** (what the original computes). One value per input; no std.
pub fn b1(net: &Mlp, p: &FailureVector, x: &Inputs, q: Norm) -> Result<Vec<f64>> {
    let kind = match q {
        Norm::One => BoundKind::B1One,
        Norm::Two => BoundKind::B1Two,
        _ => BoundKind::B1Inf,
    };
    kind.check_applicable(net, p)?;
    b1_checked(net, p, x, q)
}

/// [`b1`] for a failure vector already found applicable by
/// [`crate::BoundKind::check_applicable`].
pub(crate) fn b1_checked(net: &Mlp, p: &FailureVector, x: &Inputs, q: Norm) -> Result<Vec<f64>> {
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
    b2_checked(net, p, x)
}

/// [`b2`] for a failure vector already checked against `net` (by
/// [`crate::BoundKind::check_applicable`] or the public function).
pub(crate) fn b2_checked(net: &Mlp, p: &FailureVector, x: &Inputs) -> Result<MeanStd> {
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
    fn sum_of_norms_by_hand() {
        // W = [[3, 0], [4, 5]]: column sums 7, 5; row sums 3, 9; Frobenius sqrt(50);
        // singular values sqrt(45) and sqrt(5) (WᵀW = [[25, 20], [20, 25]]).
        let d = ftnn_model::Dense::new(vec![3.0, 0.0, 4.0, 5.0], vec![0.0, 0.0], 2, 2).unwrap();
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
    }
}
