//! The original's initialisation, bit for bit: `np.random.seed(seed)` followed, layer by
//! layer, by `W = randn(n_out, n_in) · √(2/n_in) / K` and `b = randn(n_out)` (SPEC §2, §15;
//! `TrainExperiment.__init__` of the original). Reproducing it lets a run start from the very
//! weights the published numbers came from.
//!
//! numpy's legacy `randn` is the polar Box–Muller method on MT19937 doubles
//! (`(a >> 5) · 2²⁶ + (b >> 6)) / 2⁵³`): draw x₁, x₂ uniform on (−1, 1) until
//! 0 < r² = x₁² + x₂² < 1, return f·x₂ with f = √(−2 ln r² / r²) and keep f·x₁ for the next call.

use ftnn_data::Mt19937;
use ftnn_model::{Activation, Dense, Mlp};

/// numpy's legacy `RandomState` normal generator.
#[derive(Debug, Clone)]
pub struct NumpyNormal {
    mt: Mt19937,
    cached: Option<f64>,
}

impl NumpyNormal {
    /// `np.random.seed(seed)`.
    pub fn new(seed: u32) -> Self {
        Self {
            mt: Mt19937::new(seed),
            cached: None,
        }
    }

    /// `np.random.random_sample()`: a 53-bit double in [0, 1).
    pub fn uniform(&mut self) -> f64 {
        let a = f64::from(self.mt.next_u32() >> 5);
        let b = f64::from(self.mt.next_u32() >> 6);
        (a * 67_108_864.0 + b) / 9_007_199_254_740_992.0
    }

    /// `np.random.randn()`.
    pub fn normal(&mut self) -> f64 {
        if let Some(v) = self.cached.take() {
            return v;
        }
        loop {
            let x1 = 2.0 * self.uniform() - 1.0;
            let x2 = 2.0 * self.uniform() - 1.0;
            let r2 = x1 * x1 + x2 * x2;
            if r2 < 1.0 && r2 != 0.0 {
                let f = (-2.0 * r2.ln() / r2).sqrt();
                self.cached = Some(f * x1);
                return f * x2;
            }
        }
    }
}

/// The original's network for `sizes` with `np.random.seed(seed)`: per layer
/// `W ~ N(0,1)·√(2/n_in)/K` (row-major `[n_out, n_in]`, as the original's `W[i]`) then
/// `b ~ N(0,1)`, rounded to f32 as Keras' `Constant` initialiser does.
pub fn original_init(
    sizes: &[usize],
    activation: Activation,
    k_lips: f64,
    seed: u32,
) -> anyhow::Result<Mlp> {
    anyhow::ensure!(sizes.len() >= 2, "at least two layer sizes, got {sizes:?}");
    anyhow::ensure!(
        k_lips.is_finite() && k_lips > 0.0,
        "K must be positive, got {k_lips}"
    );
    let mut rng = NumpyNormal::new(seed);
    let mut layers = Vec::new();
    for w in sizes.windows(2) {
        let (n_in, n_out) = (w[0], w[1]);
        let scale = (2.0 / n_in as f64).sqrt() / k_lips;
        let weight: Vec<f32> = (0..n_in * n_out)
            .map(|_| (rng.normal() * scale) as f32)
            .collect();
        let bias: Vec<f32> = (0..n_out).map(|_| rng.normal() as f32).collect();
        layers.push(Dense::new(weight, bias, n_out, n_in)?);
    }
    Ok(Mlp::new(layers, activation, k_lips)?)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn matches_numpy_randn_seed_0() {
        // np.random.seed(0); np.random.randn(4) — published numpy output.
        let mut g = NumpyNormal::new(0);
        let want = [
            1.764_052_345_967_664,
            0.400_157_208_367_223_3,
            0.978_737_984_105_739_2,
            2.240_893_199_201_458,
        ];
        for w in want {
            let v = g.normal();
            assert!((v - w).abs() < 1e-14, "{v} vs {w}");
        }
    }

    #[test]
    fn init_has_the_layout_and_scale() {
        let net = original_init(&[13, 20, 19, 1], Activation::Sigmoid, 1.0, 0).unwrap();
        assert_eq!(net.sizes(), vec![13, 20, 19, 1]);
        // First weight = randn()·√(2/13) with np.random.seed(0).
        let w0 = f64::from(net.layers()[0].weight()[0]);
        assert!((w0 - 1.764_052_345_967_664 * (2.0f64 / 13.0).sqrt()).abs() < 1e-6);
        assert!(original_init(&[13], Activation::Sigmoid, 1.0, 0).is_err());
        assert!(original_init(&[13, 2], Activation::Sigmoid, 0.0, 0).is_err());
    }
}
