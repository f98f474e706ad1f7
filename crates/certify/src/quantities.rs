//! The ingredients of the tail guarantee of SPEC §6 (and the `ftnn certify` rules of
//! SPEC §11): balancedness q, the Chernoff term δ₀, the Chebyshev term and the number of
//! copies R of the median-of-R amplification.
//!
//! For a network whose neurons crash at one layer l (n = n_l neurons, probability p = p_l) and
//! the loss perturbation Δ = L(ŷ_crashed, t) − L(ŷ, t):
//!
//! ```text
//! q   = min_i ‖W_l[i, :]‖₁ / max_i ‖W_l[i, :]‖₁        (rows = incoming weights of neuron i)
//! α   = e^{2.5} · p
//! δ₀  = exp(−n · q · KL(α ‖ p))   if α < 1,   else 1
//! KL(a ‖ b) = a ln(a/b) + (1 − a) ln((1 − a)/(1 − b))
//! P(Δ > ε) ≤ δ₀ + Var Δ / (ε − E Δ)²                   when E Δ < ε   (Chebyshev)
//! R   = ⌈2 ln(1/δ) / ln 3⌉
//! ```

use crate::error::{CertifyError, Result};
use ftnn_model::Dense;

/// The factor of α = e^{2.5}·p in the Chernoff step (SPEC §6).
pub const CHERNOFF_FACTOR_LN: f64 = 2.5;

/// The failure probability below which one network counts as good enough for the median-of-R
/// amplification (SPEC §6): 1/3.
pub const ONE_THIRD: f64 = 1.0 / 3.0;

/// Balancedness of the weights into the crashing layer (SPEC §6, §11):
/// `q = min_i ‖W[i, :]‖₁ / max_i ‖W[i, :]‖₁` over the rows of `weight` (`[n_out, n_in]`,
/// row i = incoming weights of neuron i), so q ∈ [0, 1] and q = 1 when every neuron receives
/// the same total absolute weight. A matrix whose rows are all zero is perfectly balanced
/// (q = 1) rather than 0/0.
pub fn balancedness(weight: &[f32], n_out: usize, n_in: usize) -> Result<f64> {
    if n_out == 0 || weight.len() != n_out * n_in {
        return Err(CertifyError::InvalidParameter {
            name: "weight rows",
            value: weight.len() as f64,
            reason: "the weight matrix must be [n_out, n_in] with n_out ≥ 1",
        });
    }
    let norms = weight
        .chunks_exact(n_in.max(1))
        .map(|row| row.iter().map(|&w| (w as f64).abs()).sum::<f64>());
    let (min, max) = norms.fold((f64::INFINITY, 0f64), |(lo, hi), v| (lo.min(v), hi.max(v)));
    if !min.is_finite() || !max.is_finite() {
        return Err(CertifyError::InvalidParameter {
            name: "weight",
            value: max,
            reason: "the weights must be finite",
        });
    }
    Ok(if max == 0.0 { 1.0 } else { min / max })
}

/// [`balancedness`] of a layer of an MLP (`layer.weight()` is `[n_out, n_in]`).
pub fn layer_balancedness(layer: &Dense) -> Result<f64> {
    balancedness(layer.weight(), layer.n_out(), layer.n_in())
}

/// Kullback–Leibler divergence of Bernoulli(a) from Bernoulli(b) (SPEC §6):
/// `KL(a ‖ b) = a ln(a/b) + (1 − a) ln((1 − a)/(1 − b))`, with 0 ln 0 = 0; a ∈ [0, 1],
/// b ∈ (0, 1). It is ≥ 0 and 0 only at a = b.
pub fn kl_bernoulli(a: f64, b: f64) -> Result<f64> {
    if !(0.0..=1.0).contains(&a) {
        return Err(CertifyError::InvalidParameter {
            name: "a",
            value: a,
            reason: "KL(a‖b) needs a in [0, 1]",
        });
    }
    if !(b > 0.0 && b < 1.0) {
        return Err(CertifyError::InvalidParameter {
            name: "b",
            value: b,
            reason: "KL(a‖b) needs b in (0, 1)",
        });
    }
    let term = |x: f64, y: f64| if x == 0.0 { 0.0 } else { x * (x / y).ln() };
    Ok((term(a, b) + term(1.0 - a, 1.0 - b)).max(0.0))
}

/// The Chernoff step of SPEC §6 for one network.
#[derive(Debug, Clone, Copy, PartialEq, serde::Serialize)]
pub struct Chernoff {
    /// α = e^{2.5}·p.
    pub alpha: f64,
    /// δ₀ = exp(−n·q·KL(α‖p)) when α < 1, else 1.
    pub delta0: f64,
}

impl Chernoff {
    /// Whether the Chernoff step applies (α < 1); otherwise δ₀ = 1 and nothing is certified.
    pub fn applies(&self) -> bool {
        self.alpha < 1.0
    }
}

/// The Chernoff term (SPEC §6, §11): with α = e^{2.5}·p, `δ₀ = exp(−n · q · KL(α‖p))` when
/// α < 1, else δ₀ = 1 (the step does not apply). `n` is the width of the crashing layer, `q`
/// its [`balancedness`], `p` ∈ (0, 1] its crash probability.
pub fn chernoff(n: usize, q: f64, p: f64) -> Result<Chernoff> {
    if !(p > 0.0 && p <= 1.0) {
        return Err(CertifyError::InvalidParameter {
            name: "p",
            value: p,
            reason: "the crash probability of the crashing layer must be in (0, 1]",
        });
    }
    if !(0.0..=1.0).contains(&q) {
        return Err(CertifyError::InvalidParameter {
            name: "q",
            value: q,
            reason: "balancedness is in [0, 1]",
        });
    }
    let alpha = CHERNOFF_FACTOR_LN.exp() * p;
    let delta0 = if alpha < 1.0 {
        (-(n as f64) * q * kl_bernoulli(alpha, p)?).exp()
    } else {
        1.0
    };
    Ok(Chernoff { alpha, delta0 })
}

/// The Chebyshev term (SPEC §6): `Var Δ / (ε − E Δ)²` when `E Δ < ε`, `None` otherwise (the
/// input is infeasible). By Chebyshev's inequality P(Δ > ε) ≤ P(|Δ − E Δ| ≥ ε − E Δ) ≤ this
/// — for the true moments; ftnn feeds it b3's first-order estimates.
pub fn chebyshev(mean: f64, var: f64, epsilon: f64) -> Option<f64> {
    (mean < epsilon).then(|| var.max(0.0) / (epsilon - mean).powi(2))
}

/// The number of copies of the median-of-R amplification (SPEC §6): if one network fails with
/// probability < 1/3, the median of R independent copies fails with probability < δ when
/// `R = ⌈2 ln(1/δ) / ln 3⌉` (the original printed the truncated value: 20 instead of 21 for
/// δ = 1e-5). δ ∈ (0, 1).
pub fn copies(delta: f64) -> Result<usize> {
    check_delta(delta)?;
    let r = (2.0 * (1.0 / delta).ln() / 3f64.ln()).ceil();
    Ok((r as usize).max(1))
}

/// δ must be a probability in (0, 1).
pub fn check_delta(delta: f64) -> Result<()> {
    if !(delta > 0.0 && delta < 1.0) {
        return Err(CertifyError::InvalidParameter {
            name: "delta",
            value: delta,
            reason: "δ must be a number in (0, 1)",
        });
    }
    Ok(())
}

/// ε must be a finite positive number.
pub fn check_epsilon(epsilon: f64) -> Result<()> {
    if !(epsilon.is_finite() && epsilon > 0.0) {
        return Err(CertifyError::InvalidParameter {
            name: "epsilon",
            value: epsilon,
            reason: "ε must be a finite number > 0",
        });
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn balancedness_by_hand() {
        // Rows (1, −2), (3, 0), (0.5, 0.5): L1 norms 3, 3, 1 → q = 1/3.
        let q = balancedness(&[1.0, -2.0, 3.0, 0.0, 0.5, 0.5], 3, 2).unwrap();
        assert!((q - 1.0 / 3.0).abs() < 1e-15);
        assert_eq!(balancedness(&[0.0; 4], 2, 2).unwrap(), 1.0);
        assert!(balancedness(&[1.0; 3], 2, 2).is_err());
    }

    #[test]
    fn kl_by_hand() {
        // KL(0.5‖0.25) = 0.5 ln 2 + 0.5 ln(0.5/0.75) = 0.5 (0.693147 − 0.405465) = 0.143841.
        let kl = kl_bernoulli(0.5, 0.25).unwrap();
        assert!((kl - 0.143_841_036_225_890_1).abs() < 1e-12, "{kl}");
        assert_eq!(kl_bernoulli(0.3, 0.3).unwrap(), 0.0);
        // a = 0: 0 + ln(1/(1 − b)) = −ln 0.9 = 0.105361.
        assert!((kl_bernoulli(0.0, 0.1).unwrap() - 0.105_360_515_657_826_3).abs() < 1e-12);
        assert!(kl_bernoulli(0.5, 0.0).is_err());
    }

    #[test]
    fn chernoff_by_hand() {
        // p = 0.01: α = e^{2.5}·0.01 = 0.121824939607;
        // KL(α‖p) = α·2.5 + (1 − α) ln((1 − α)/0.99)
        //         = 0.304562349 + 0.878175060·ln(0.887045516)
        //         = 0.304562349 + 0.878175060·(−0.119858984) = 0.304562349 − 0.105257170
        //         = 0.199305179;
        // n = 100, q = 0.5: δ₀ = exp(−50 · 0.199305179) = exp(−9.965259) = 4.70049e-5.
        let c = chernoff(100, 0.5, 0.01).unwrap();
        assert!(
            (c.alpha - 0.121_824_939_607_034_7).abs() < 1e-12,
            "{}",
            c.alpha
        );
        let kl = kl_bernoulli(c.alpha, 0.01).unwrap();
        assert!((kl - 0.199_305_179).abs() < 1e-8, "{kl}");
        assert!((c.delta0 / 4.70049e-5 - 1.0).abs() < 1e-5, "{}", c.delta0);
        // p = 0.1: α = 1.218 ≥ 1, the step does not apply.
        let c = chernoff(100, 1.0, 0.1).unwrap();
        assert!(!c.applies());
        assert_eq!(c.delta0, 1.0);
    }

    #[test]
    fn chebyshev_and_copies_by_hand() {
        // Var = 1e-6, ε − E = 0.003 − 0.001 = 0.002: 1e-6 / 4e-6 = 0.25.
        assert!((chebyshev(0.001, 1e-6, 0.003).unwrap() - 0.25).abs() < 1e-12);
        assert_eq!(chebyshev(0.003, 1e-6, 0.003), None);
        // δ = 1e-5: 2 · 11.512925 / 1.098612 = 20.96 → 21 (the original printed 20).
        assert_eq!(copies(1e-5).unwrap(), 21);
        // δ = 0.01: 2 · 4.605170 / 1.098612 = 8.38 → 9; δ = 0.1: 4.19 → 5.
        assert_eq!(copies(0.01).unwrap(), 9);
        assert_eq!(copies(0.1).unwrap(), 5);
        assert!(copies(0.0).is_err());
        assert!(copies(1.0).is_err());
    }
}
