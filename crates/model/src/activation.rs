//! Activation functions with a Lipschitz constant K (SPEC §2).
//!
//! | name | φ(z) | φ'(z) |
//! |---|---|---|
//! | `sigmoid` | σ(4Kz) | 4K σ(4Kz)(1 − σ(4Kz)) |
//! | `relu` | K·max(0, z) | K·[z > 0] |
//! | `tanh` | tanh(Kz) | K(1 − tanh²(Kz)) |
//! | `softplus` | ln(1 + e^{Kz}) | K σ(Kz) |
//!
//! Each φ is K-Lipschitz: the logistic σ has slope at most 1/4, hence the factor 4 in `sigmoid`.

use crate::error::{ModelError, Result};
use std::fmt;
use std::str::FromStr;

/// The hidden-layer nonlinearity of an MLP. The output layer is always linear.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, serde::Serialize, serde::Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Activation {
    /// φ(z) = σ(4Kz).
    Sigmoid,
    /// φ(z) = K·max(0, z).
    Relu,
    /// φ(z) = tanh(Kz).
    Tanh,
    /// φ(z) = ln(1 + e^{Kz}).
    Softplus,
}

impl Activation {
    /// All activations, in the order of the documentation.
    pub const ALL: [Activation; 4] = [Self::Sigmoid, Self::Relu, Self::Tanh, Self::Softplus];

    /// The name used in model files and on the command line.
    pub fn name(self) -> &'static str {
        match self {
            Self::Sigmoid => "sigmoid",
            Self::Relu => "relu",
            Self::Tanh => "tanh",
            Self::Softplus => "softplus",
        }
    }

    /// φ(z) in f32 with Lipschitz constant `k`.
    #[inline]
    pub fn apply_f32(self, z: f32, k: f32) -> f32 {
        match self {
            Self::Sigmoid => 1.0 / (1.0 + (-4.0 * k * z).exp()),
            Self::Relu => k * z.max(0.0),
            Self::Tanh => (k * z).tanh(),
            Self::Softplus => softplus_f32(k * z),
        }
    }

    /// φ(z) in f64 with Lipschitz constant `k` (used by exact enumeration).
    #[inline]
    pub fn apply_f64(self, z: f64, k: f64) -> f64 {
        match self {
            Self::Sigmoid => 1.0 / (1.0 + (-4.0 * k * z).exp()),
            Self::Relu => k * z.max(0.0),
            Self::Tanh => (k * z).tanh(),
            Self::Softplus => {
                let t = k * z;
                t.max(0.0) + (-t.abs()).exp().ln_1p()
            }
        }
    }

    /// φ'(z) in f64 with Lipschitz constant `k` (ReLU: derivative 0 at z = 0).
    #[inline]
    pub fn derivative_f64(self, z: f64, k: f64) -> f64 {
        match self {
            Self::Sigmoid => {
                let s = 1.0 / (1.0 + (-4.0 * k * z).exp());
                4.0 * k * s * (1.0 - s)
            }
            Self::Relu => {
                if z > 0.0 {
                    k
                } else {
                    0.0
                }
            }
            Self::Tanh => {
                let t = (k * z).tanh();
                k * (1.0 - t * t)
            }
            Self::Softplus => k / (1.0 + (-k * z).exp()),
        }
    }
}

/// Numerically stable softplus: ln(1 + eᵗ) = max(t, 0) + ln(1 + e^{−|t|}).
#[inline]
fn softplus_f32(t: f32) -> f32 {
    t.max(0.0) + (-t.abs()).exp().ln_1p()
}

impl fmt::Display for Activation {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.name())
    }
}

impl FromStr for Activation {
    type Err = ModelError;
    fn from_str(s: &str) -> Result<Self> {
        let lower = s.trim().to_ascii_lowercase();
        Self::ALL
            .into_iter()
            .find(|a| a.name() == lower)
            .ok_or_else(|| ModelError::UnknownActivation(s.to_string()))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parse_and_display_round_trip() {
        for a in Activation::ALL {
            assert_eq!(a.name().parse::<Activation>().unwrap(), a);
        }
        assert!(matches!(
            "swish".parse::<Activation>(),
            Err(ModelError::UnknownActivation(_))
        ));
    }

    #[test]
    fn known_values() {
        assert!((Activation::Sigmoid.apply_f64(0.0, 1.0) - 0.5).abs() < 1e-15);
        assert_eq!(Activation::Relu.apply_f64(-1.0, 2.0), 0.0);
        assert_eq!(Activation::Relu.apply_f64(1.5, 2.0), 3.0);
        assert!((Activation::Softplus.apply_f64(0.0, 1.0) - 2f64.ln()).abs() < 1e-15);
        assert!((Activation::Softplus.apply_f64(100.0, 1.0) - 100.0).abs() < 1e-12);
    }

    #[test]
    fn derivative_matches_finite_difference_and_lipschitz() {
        let h = 1e-6;
        for a in Activation::ALL {
            for k in [0.5, 1.0, 3.0] {
                for z in [-2.0, -0.3, 0.2, 1.7] {
                    let fd = (a.apply_f64(z + h, k) - a.apply_f64(z - h, k)) / (2.0 * h);
                    let d = a.derivative_f64(z, k);
                    assert!((fd - d).abs() < 1e-6, "{a} k={k} z={z}: {fd} vs {d}");
                    assert!(d.abs() <= k + 1e-12, "{a} is not {k}-Lipschitz at {z}");
                    let f32v = a.apply_f32(z as f32, k as f32) as f64;
                    assert!((f32v - a.apply_f64(z, k)).abs() < 1e-5);
                }
            }
        }
    }
}
