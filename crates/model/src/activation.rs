//! Activation functions with a Lipschitz constant K (SPEC §2).
//!
//! | name | φ(z) | φ'(z) |
//! |---|---|---|
//! | `sigmoid` | σ(4Kz) | 4K σ(4Kz)(1 − σ(4Kz)) |
//! | `relu` | K·max(0, z) | K·𝟙(z > 0) |
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
            Self::Sigmoid => 1.0 / (1.0 + exp_f32(-4.0 * k * z)),
            Self::Relu => k * z.max(0.0),
            Self::Tanh => (k * z).tanh(),
            Self::Softplus => softplus_f32(k * z),
        }
    }

    /// `z ← φ(z + b)` over stacked rows of width `b.len()` (pass an empty `b` for no bias).
    /// One match outside the loops, so the sigmoid and ReLU loops vectorise; on x86-64 CPUs
    /// with AVX-512F, or AVX2 and FMA, the same code is run compiled for them (16 or 8 lanes
    /// instead of 4). Rust does not contract `a·b + c` into FMAs, so every version gives
    /// bit-identical results.
    pub fn apply_rows_f32(self, z: &mut [f32], b: &[f32], k: f32) {
        #[cfg(target_arch = "x86_64")]
        {
            if std::arch::is_x86_feature_detected!("avx512f") {
                return avx2::apply_rows_512(self, z, b, k);
            }
            if std::arch::is_x86_feature_detected!("avx2")
                && std::arch::is_x86_feature_detected!("fma")
            {
                return avx2::apply_rows(self, z, b, k);
            }
        }
        apply_rows_portable(self, z, b, k)
    }
    /// φ'(z) and φ''(z) in f32, written over `z` (φ') and into `second` (φ''), where `z` holds
    /// pre-activations. Used by the analytic backward pass and the second-order bound.
    ///
    /// | φ | φ' | φ'' |
    /// |---|---|---|
    /// | σ(4Kz) = s | 4K s(1−s) | 16K² s(1−s)(1−2s) |
    /// | K·max(0,z) | K·𝟙(z > 0) | 0 |
    /// | tanh(Kz) = t | K(1−t²) | −2K² t(1−t²) |
    /// | ln(1+e^{Kz}) | K σ(Kz) = Ks | K² s(1−s) |
    pub fn derivatives_f32(self, z: &[f32], k: f32, first: &mut [f32], second: &mut [f32]) {
        for ((&v, d1), d2) in z.iter().zip(first.iter_mut()).zip(second.iter_mut()) {
            match self {
                Self::Sigmoid => {
                    let s = 1.0 / (1.0 + exp_f32(-4.0 * k * v));
                    *d1 = 4.0 * k * s * (1.0 - s);
                    *d2 = 16.0 * k * k * s * (1.0 - s) * (1.0 - 2.0 * s);
                }
                Self::Relu => {
                    *d1 = if v > 0.0 { k } else { 0.0 };
                    *d2 = 0.0;
                }
                Self::Tanh => {
                    let t = (k * v).tanh();
                    *d1 = k * (1.0 - t * t);
                    *d2 = -2.0 * k * k * t * (1.0 - t * t);
                }
                Self::Softplus => {
                    let s = 1.0 / (1.0 + exp_f32(-k * v));
                    *d1 = k * s;
                    *d2 = k * k * s * (1.0 - s);
                }
            }
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

    /// φ''(z) in f64 with Lipschitz constant `k` (ReLU: 0 everywhere).
    #[inline]
    pub fn second_derivative_f64(self, z: f64, k: f64) -> f64 {
        match self {
            Self::Sigmoid => {
                let s = 1.0 / (1.0 + (-4.0 * k * z).exp());
                16.0 * k * k * s * (1.0 - s) * (1.0 - 2.0 * s)
            }
            Self::Relu => 0.0,
            Self::Tanh => {
                let t = (k * z).tanh();
                -2.0 * k * k * t * (1.0 - t * t)
            }
            Self::Softplus => {
                let s = 1.0 / (1.0 + (-k * z).exp());
                k * k * s * (1.0 - s)
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

/// The body of [`Activation::apply_rows_f32`], inlined into each instruction-set version.
#[inline(always)]
fn apply_rows_portable(act: Activation, z: &mut [f32], b: &[f32], k: f32) {
    macro_rules! rows {
        ($f:expr) => {
            if b.is_empty() {
                z.iter_mut().for_each(|v| *v = $f(*v));
            } else {
                for row in z.chunks_exact_mut(b.len()) {
                    for (v, &bb) in row.iter_mut().zip(b) {
                        *v = $f(*v + bb);
                    }
                }
            }
        };
    }
    match act {
        Activation::Sigmoid => rows!(|t: f32| 1.0 / (1.0 + exp_f32(-4.0 * k * t))),
        Activation::Relu => rows!(|t: f32| k * t.max(0.0)),
        Activation::Tanh => rows!(|t: f32| (k * t).tanh()),
        Activation::Softplus => rows!(|t: f32| softplus_f32(k * t)),
    }
}

/// The AVX2 + FMA and AVX-512 builds of the activation loop, chosen at run time.
#[cfg(target_arch = "x86_64")]
#[allow(unsafe_code)]
mod avx2 {
    use super::{apply_rows_portable, Activation};

    #[target_feature(enable = "avx2,fma")]
    fn apply_rows_avx2(act: Activation, z: &mut [f32], b: &[f32], k: f32) {
        apply_rows_portable(act, z, b, k)
    }

    #[target_feature(enable = "avx512f,avx2,fma")]
    fn apply_rows_avx512(act: Activation, z: &mut [f32], b: &[f32], k: f32) {
        apply_rows_portable(act, z, b, k)
    }

    /// Runs the AVX-512 build (16 lanes); the caller has checked that the CPU has AVX-512F
    /// (which implies AVX2 and FMA).
    pub(super) fn apply_rows_512(act: Activation, z: &mut [f32], b: &[f32], k: f32) {
        debug_assert!(std::arch::is_x86_feature_detected!("avx512f"));
        // SAFETY: `apply_rows_avx512` needs AVX-512F, AVX2 and FMA; every CPU with AVX-512F has
        // the other two, and the only caller checks AVX-512F on this CPU first.
        unsafe { apply_rows_avx512(act, z, b, k) }
    }

    /// Runs the AVX2 build; the caller has checked that the CPU has AVX2 and FMA.
    pub(super) fn apply_rows(act: Activation, z: &mut [f32], b: &[f32], k: f32) {
        debug_assert!(std::arch::is_x86_feature_detected!("avx2"));
        // SAFETY: `apply_rows_avx2` only needs the AVX2 and FMA instructions, and the only
        // caller (`Activation::apply_rows_f32`) calls this after detecting both on this CPU.
        unsafe { apply_rows_avx2(act, z, b, k) }
    }
}

/// eˣ in f32 without a library call, so that loops over slices vectorise: Cephes' `expf`
/// (range reduction x = n·ln 2 + r with |r| ≤ ln 2 / 2 and a degree-6 polynomial, about one ulp).
/// n is rounded by adding 1.5·2²³, which also leaves n in the low mantissa bits, so 2ⁿ is
/// assembled from integer operations only (no float → int conversion, which would not
/// vectorise). The argument is clamped to [−87.3, 88], so the result stays a normal finite
/// number.
#[inline(always)]
#[allow(clippy::excessive_precision)] // Cephes' coefficients, as published
pub fn exp_f32(x: f32) -> f32 {
    const LOG2E: f32 = std::f32::consts::LOG2_E;
    const LN2_HI: f32 = 0.693_359_4;
    const LN2_LO: f32 = -2.121_944_4e-4;
    const ROUND: f32 = 12_582_912.0; // 1.5·2²³
    let x = x.clamp(-87.3, 88.0);
    let shifted = x * LOG2E + ROUND;
    let n = shifted - ROUND;
    // |n| ≤ 127 < 2²², so the bits of `shifted` are those of ROUND plus n.
    let n_int = shifted.to_bits().wrapping_sub(ROUND.to_bits());
    let r = x - n * LN2_HI - n * LN2_LO;
    let p = ((((1.987_569_1e-4 * r + 1.398_199_9e-3) * r + 8.333_452e-3) * r + 4.166_579_6e-2) * r
        + 1.666_666_5e-1)
        * r
        + 5.000_000_1e-1;
    let e = p * r * r + r + 1.0;
    e * f32::from_bits(n_int.wrapping_add(127) << 23)
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
    fn fast_exp_is_accurate() {
        let mut x = -87.0f32;
        while x < 88.0 {
            let (a, b) = (exp_f32(x) as f64, (x as f64).exp());
            assert!(((a - b) / b).abs() < 3e-7, "exp({x}) = {a} vs {b}");
            x += 0.0137;
        }
        assert!(exp_f32(-1000.0) > 0.0 && exp_f32(-1000.0) < 1e-37);
        assert!(exp_f32(1000.0).is_finite());
    }

    #[test]
    fn slice_forms_match_scalar_forms() {
        let z: Vec<f32> = (0..40).map(|i| (i as f32 - 20.0) / 7.0).collect();
        let b = [0.3f32, -0.1, 0.0, 1.0];
        for a in Activation::ALL {
            let mut v = z.clone();
            a.apply_rows_f32(&mut v, &b, 1.5);
            let (mut d1, mut d2) = (vec![0.0; 40], vec![0.0; 40]);
            a.derivatives_f32(&z, 1.5, &mut d1, &mut d2);
            for i in 0..40 {
                let t = z[i] + b[i % 4];
                assert!((v[i] - a.apply_f32(t, 1.5)).abs() < 1e-6);
                let zf = z[i] as f64;
                assert!((d1[i] as f64 - a.derivative_f64(zf, 1.5)).abs() < 1e-5);
                assert!((d2[i] as f64 - a.second_derivative_f64(zf, 1.5)).abs() < 1e-4);
            }
        }
    }

    /// The AVX2 build and the portable build give bit-identical results (no FMA contraction),
    /// so results do not depend on the CPU.
    #[cfg(target_arch = "x86_64")]
    #[test]
    fn avx2_and_portable_builds_agree_bitwise() {
        if !(std::arch::is_x86_feature_detected!("avx2")
            && std::arch::is_x86_feature_detected!("fma"))
        {
            return;
        }
        let z: Vec<f32> = (0..1003).map(|i| (i as f32 - 500.0) / 37.0).collect();
        let b: Vec<f32> = (0..17).map(|i| i as f32 / 10.0 - 0.8).collect();
        for a in Activation::ALL {
            let (mut u, mut v) = (z[..1003 / 17 * 17].to_vec(), z[..1003 / 17 * 17].to_vec());
            apply_rows_portable(a, &mut u, &b, 1.3);
            avx2::apply_rows(a, &mut v, &b, 1.3);
            assert!(
                u.iter().zip(&v).all(|(x, y)| x.to_bits() == y.to_bits()),
                "{a}"
            );
            if std::arch::is_x86_feature_detected!("avx512f") {
                let mut w = z[..1003 / 17 * 17].to_vec();
                avx2::apply_rows_512(a, &mut w, &b, 1.3);
                assert!(
                    u.iter().zip(&w).all(|(x, y)| x.to_bits() == y.to_bits()),
                    "{a} (AVX-512)"
                );
            }
        }
    }

    #[test]
    fn second_derivative_matches_finite_difference() {
        let h = 1e-4;
        for a in [Activation::Sigmoid, Activation::Tanh, Activation::Softplus] {
            for z in [-1.3, -0.2, 0.4, 2.0] {
                let fd = (a.derivative_f64(z + h, 0.8) - a.derivative_f64(z - h, 0.8)) / (2.0 * h);
                assert!(
                    (fd - a.second_derivative_f64(z, 0.8)).abs() < 1e-6,
                    "{a} {z}"
                );
            }
        }
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
