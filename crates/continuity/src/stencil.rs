//! The kernels of Eq. 1 (SPEC §7): finite-difference stencils C and Gaussian smoothing
//! kernels g_m.
//!
//! * C = { forward difference [−1, 1], central first-derivative stencils of accuracy order
//!   4, 10 and 14 (5, 11 and 15 taps) }. The central stencils are computed **exactly**: the
//!   Vandermonde system Σ_k c_k k^j = δ_{j1} (j = 0..taps−1, k = −h..h, h = accuracy/2) is
//!   solved in 128-bit rational arithmetic and only the solution is rounded to `f64`.
//! * g_m = the N(0, 1) probability mass of m equal bins on [−3, 3], normalised to sum 1, with
//!   the original's special case g_2 = [−1, 1]. The normal CDF uses [`erf`], implemented here
//!   to full double precision.

use std::sync::OnceLock;

use crate::error::{ContinuityError, Result};

/// Accuracy orders of the central first-derivative stencils in C (SPEC §7).
pub const DERIVATIVE_ACCURACIES: [usize; 3] = [4, 10, 14];

/// Beyond this order the solve certainly overflows (20^40 > i128::MAX); rejecting it early
/// avoids allocating a huge system.
const MAX_ACCURACY: usize = 40;

/// The forward difference [−1, 1]: (c ⋆ w)_i = w_{i+1} − w_i.
pub fn forward_difference() -> Vec<f64> {
    vec![-1.0, 1.0]
}

/// The central first-derivative stencil of even `accuracy` order ≥ 2, with accuracy + 1 taps
/// at offsets k = −h..h (h = accuracy / 2).
///
/// The coefficients solve the Vandermonde system Σ_k c_k k^j = δ_{j1} for j = 0..accuracy,
/// i.e. the stencil is exact on polynomials of degree ≤ accuracy. The system is solved by
/// Gauss–Jordan elimination on exact fractions (i128 numerator and denominator, reduced by
/// their gcd after every operation); each coefficient is then rounded once to `f64`.
/// Accuracy 4 gives [1/12, −2/3, 0, 2/3, −1/12].
///
/// Errors: [`ContinuityError::InvalidAccuracy`] for an odd order or one below 2,
/// [`ContinuityError::StencilOverflow`] when 128-bit fractions cannot hold the solve (far above
/// the orders Eq. 1 uses).
pub fn central_first_derivative(accuracy: usize) -> Result<Vec<f64>> {
    if accuracy < 2 || accuracy % 2 == 1 {
        return Err(ContinuityError::InvalidAccuracy { accuracy });
    }
    let overflow = || ContinuityError::StencilOverflow { accuracy };
    if accuracy > MAX_ACCURACY {
        return Err(overflow());
    }
    let taps = accuracy + 1;
    let h = i128::try_from(accuracy / 2).map_err(|_| overflow())?;
    let node = |k: usize| i128::try_from(k).ok().map(|k| k - h);
    // Augmented system [A | e_1], A[j][k] = (k − h)^j.
    let mut system = Vec::with_capacity(taps);
    for j in 0..taps {
        let mut row = Vec::with_capacity(taps + 1);
        for k in 0..taps {
            let power = u32::try_from(j).ok().and_then(|e| node(k)?.checked_pow(e));
            row.push(Ratio::integer(power.ok_or_else(overflow)?));
        }
        row.push(Ratio::integer(i128::from(j == 1)));
        system.push(row);
    }
    let solution = solve_exact(system).ok_or_else(overflow)?;
    Ok(solution.into_iter().map(Ratio::to_f64).collect())
}

/// The four stencils of C in Eq. 1: the forward difference and the central first-derivative
/// stencils of accuracy 4, 10 and 14 (2, 5, 11 and 15 taps). Computed once per process.
pub fn derivative_stencils() -> Vec<Vec<f64>> {
    static STENCILS: OnceLock<Vec<Vec<f64>>> = OnceLock::new();
    STENCILS
        .get_or_init(|| {
            let mut stencils = vec![forward_difference()];
            for accuracy in DERIVATIVE_ACCURACIES {
                // Orders 4, 10 and 14 are far from overflowing (tested); this cannot fail.
                stencils.push(
                    central_first_derivative(accuracy)
                        .expect("the exact solve of a fixed, small accuracy order fits in i128"),
                );
            }
            stencils
        })
        .clone()
}

/// The Gaussian smoothing kernel g_m of Eq. 1, with `m` taps.
///
/// Tap t (t = 0..m) is the N(0, 1) probability mass of the bin [x_t, x_{t+1}] with
/// x_t = 3 (2t − m) / m (m equal bins covering [−3, 3]): Φ(x_{t+1}) − Φ(x_t),
/// Φ(x) = ½ (1 + erf(x / √2)); the taps are then divided by their sum so that Σ_t g_t = 1.
/// The bin edges are exactly symmetric and [`erf`] is exactly odd, so g_m is exactly symmetric.
///
/// Special cases, as in the original code:
/// * m = 2 returns **[−1, 1]** (a difference, not a smoothing kernel: the smoothness term then
///   penalises |w_{i+1} − 2 w_i| with TensorFlow "same" padding);
/// * m ≤ 1 returns an empty kernel, which contributes nothing to smooth() (a 1-tap normalised
///   kernel would be `[1]`, whose term (g ⋆ w) − w vanishes anyway).
pub fn gaussian_kernel(m: usize) -> Vec<f64> {
    match m {
        0 | 1 => Vec::new(),
        2 => vec![-1.0, 1.0],
        _ => {
            let edge = |t: usize| 3.0 * (2.0 * t as f64 - m as f64) / m as f64;
            let cdf: Vec<f64> = (0..=m)
                .map(|t| erf(edge(t) / std::f64::consts::SQRT_2))
                .collect();
            let mass: Vec<f64> = cdf.windows(2).map(|w| w[1] - w[0]).collect();
            let total: f64 = mass.iter().sum();
            mass.into_iter().map(|g| g / total).collect()
        }
    }
}

/// The error function erf(x) = 2/√π ∫₀ˣ e^{−t²} dt, to a relative error below 2·10⁻¹⁵
/// (about 10 ulp at worst, 1–2 ulp typically; checked against glibc on a grid of [0, 6.5]).
///
/// * |x| < 0.5: the Maclaurin series 2/√π Σ (−1)ⁿ x^{2n+1} / (n! (2n+1)) (little cancellation);
/// * 0.5 ≤ |x| < 2.5: the series of positive terms
///   erf(x) = 2/√π · e^{−x²} · Σ_{n≥0} 2ⁿ x^{2n+1} / (1·3·5···(2n+1)) (Abramowitz & Stegun 7.1.6);
/// * 2.5 ≤ |x| ≤ 6: 1 − erfc(x), erfc from its continued fraction (A&S 7.1.14, even
///   contraction) evaluated by the modified Lentz method;
/// * |x| > 6: ±1 (1 − erf(6) < 2.2·10⁻¹⁷).
///
/// e^{−x²} is evaluated with x² split exactly (fused multiply-add) into its rounded value and
/// remainder. erf(−x) = −erf(x) exactly; erf(NaN) = NaN.
pub fn erf(x: f64) -> f64 {
    if x.is_nan() {
        return f64::NAN;
    }
    if x < 0.0 {
        return -erf(-x);
    }
    let x2 = x * x;
    if x < 0.5 {
        let (mut power, mut sum, mut n) = (x, x, 0.0_f64);
        loop {
            n += 1.0;
            power *= -x2 / n;
            let term = power / (2.0 * n + 1.0);
            sum += term;
            if term.abs() <= sum.abs() * 1e-17 {
                break;
            }
        }
        std::f64::consts::FRAC_2_SQRT_PI * sum
    } else if x < 2.5 {
        let (mut term, mut sum, mut n) = (x, x, 0.0_f64);
        loop {
            n += 1.0;
            term *= 2.0 * x2 / (2.0 * n + 1.0);
            sum += term;
            if term <= sum * 1e-17 {
                break;
            }
        }
        std::f64::consts::FRAC_2_SQRT_PI * gaussian(x) * sum
    } else if x <= 6.0 {
        1.0 - erfc_continued_fraction(x)
    } else {
        1.0
    }
}

/// e^{−x²} with x² split exactly into x2 + rest, e^{−x²} ≈ e^{−x2} (1 − rest).
fn gaussian(x: f64) -> f64 {
    let x2 = x * x;
    let rest = x.mul_add(x, -x2);
    (-x2).exp() * (1.0 - rest)
}

/// erfc(x) for x ≥ 2.5 from the continued fraction
/// erfc(x) = 2x e^{−x²}/√π / (b₀ − a₁/(b₁ − a₂/(b₂ − …))), b_n = 2x² + 1 + 4n,
/// a_n = (2n − 1)(2n), by the modified Lentz method (converges in ≲ 25 steps there).
fn erfc_continued_fraction(x: f64) -> f64 {
    const TINY: f64 = 1e-300;
    let x2 = x * x;
    let mut f = 2.0 * x2 + 1.0;
    let (mut c, mut d) = (f, 0.0_f64);
    for n in 1..1000 {
        let n = f64::from(n);
        let a = -(2.0 * n - 1.0) * (2.0 * n);
        let b = 2.0 * x2 + 1.0 + 4.0 * n;
        d = b + a * d;
        d = if d == 0.0 { TINY } else { d };
        d = 1.0 / d;
        c = b + a / c;
        c = if c == 0.0 { TINY } else { c };
        let delta = c * d;
        f *= delta;
        if (delta - 1.0).abs() < 1e-17 {
            break;
        }
    }
    x * gaussian(x) * std::f64::consts::FRAC_2_SQRT_PI / f
}

/// Solves the square system held in `rows` (each row: coefficients then right-hand side) by
/// Gauss–Jordan elimination on exact fractions. `None` on overflow or a singular system.
fn solve_exact(mut rows: Vec<Vec<Ratio>>) -> Option<Vec<Ratio>> {
    let n = rows.len();
    for col in 0..n {
        let pivot = (col..n).find(|&r| !rows[r][col].is_zero())?;
        rows.swap(col, pivot);
        let inv = Ratio::ONE.div(rows[col][col])?;
        for entry in rows[col].iter_mut() {
            *entry = entry.mul(inv)?;
        }
        let pivot_row = rows[col].clone();
        for (r, row) in rows.iter_mut().enumerate() {
            let factor = row[col];
            if r == col || factor.is_zero() {
                continue;
            }
            for (entry, &p) in row.iter_mut().zip(&pivot_row) {
                *entry = entry.sub(factor.mul(p)?)?;
            }
        }
    }
    Some(rows.into_iter().map(|row| row[n]).collect())
}

/// An exact fraction num/den with den > 0 and gcd(num, den) = 1; every operation is checked.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
struct Ratio {
    num: i128,
    den: i128,
}

impl Ratio {
    const ONE: Ratio = Ratio { num: 1, den: 1 };

    fn integer(num: i128) -> Self {
        Self { num, den: 1 }
    }

    /// num/den reduced to lowest terms with a positive denominator; `None` if den = 0 or on
    /// overflow.
    fn new(num: i128, den: i128) -> Option<Self> {
        if den == 0 {
            return None;
        }
        let g = gcd(num.unsigned_abs(), den.unsigned_abs());
        let g = i128::try_from(g).ok()?;
        let (mut num, mut den) = (num / g, den / g);
        if den < 0 {
            num = num.checked_neg()?;
            den = den.checked_neg()?;
        }
        Some(Self { num, den })
    }

    fn is_zero(self) -> bool {
        self.num == 0
    }

    fn mul(self, other: Self) -> Option<Self> {
        // Cross-reduce first to keep the intermediate products small.
        let g1 = i128::try_from(gcd(self.num.unsigned_abs(), other.den.unsigned_abs())).ok()?;
        let g2 = i128::try_from(gcd(other.num.unsigned_abs(), self.den.unsigned_abs())).ok()?;
        let num = (self.num / g1).checked_mul(other.num / g2)?;
        let den = (self.den / g2).checked_mul(other.den / g1)?;
        Self::new(num, den)
    }

    fn div(self, other: Self) -> Option<Self> {
        self.mul(Self::new(other.den, other.num)?)
    }

    fn sub(self, other: Self) -> Option<Self> {
        let g = i128::try_from(gcd(self.den.unsigned_abs(), other.den.unsigned_abs())).ok()?;
        let left = self.num.checked_mul(other.den / g)?;
        let right = other.num.checked_mul(self.den / g)?;
        let den = (self.den / g).checked_mul(other.den)?;
        Self::new(left.checked_sub(right)?, den)
    }

    /// num/den as `f64`: the correctly rounded quotient when |num| and den are below 2⁵³, as
    /// for every stencil of C (e.g. 1/24024, 7/10296).
    fn to_f64(self) -> f64 {
        self.num as f64 / self.den as f64
    }
}

/// Greatest common divisor (gcd(0, 0) = 1 so that it can always divide).
fn gcd(mut a: u128, mut b: u128) -> u128 {
    while b != 0 {
        (a, b) = (b, a % b);
    }
    a.max(1)
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Σ_i i^j c_i over the offsets i = −(taps−1)/2 .., as used for moments of a stencil.
    fn moment(c: &[f64], j: u32) -> f64 {
        let h = (c.len() as i64 - 1) / 2;
        c.iter()
            .enumerate()
            .map(|(t, &ct)| ct * ((t as i64 - h) as f64).powi(j as i32))
            .sum()
    }

    #[test]
    fn central_stencils_have_the_right_moments() {
        for accuracy in (2..=16).step_by(2) {
            let c = central_first_derivative(accuracy).unwrap();
            assert_eq!(c.len(), accuracy + 1);
            for j in 0..c.len() as u32 {
                let expected = f64::from(u8::from(j == 1));
                // Higher moments grow like h^j; compare relative to Σ |i^j c_i|.
                let scale: f64 = {
                    let h = (c.len() as i64 - 1) / 2;
                    c.iter()
                        .enumerate()
                        .map(|(t, &ct)| (ct * ((t as i64 - h) as f64).powi(j as i32)).abs())
                        .sum()
                };
                let got = moment(&c, j);
                assert!(
                    (got - expected).abs() <= 1e-13 * scale.max(1.0),
                    "accuracy {accuracy}, moment {j}: {got} (scale {scale})"
                );
            }
        }
    }

    #[test]
    fn central_stencils_match_the_closed_form() {
        // c_k = (−1)^{k+1} (h!)² / (k (h−k)! (h+k)!) for k ≠ 0, c_0 = 0 (Fornberg).
        for accuracy in DERIVATIVE_ACCURACIES {
            let h = accuracy / 2;
            let fact = |n: usize| (1..=n).map(|v| v as f64).product::<f64>();
            let c = central_first_derivative(accuracy).unwrap();
            for (t, &ct) in c.iter().enumerate() {
                let k = t as i64 - h as i64;
                let expected = if k == 0 {
                    0.0
                } else {
                    let sign = if k % 2 == 0 { -1.0 } else { 1.0 };
                    let ka = k.unsigned_abs() as usize;
                    let mag = fact(h) * fact(h) / (ka as f64 * fact(h - ka) * fact(h + ka));
                    sign * mag * k.signum() as f64
                };
                assert!(
                    (ct - expected).abs() <= 1e-15,
                    "accuracy {accuracy}, k {k}: {ct} vs {expected}"
                );
            }
        }
    }

    #[test]
    fn accuracy_four_is_the_textbook_stencil() {
        let c = central_first_derivative(4).unwrap();
        assert_eq!(c, vec![1.0 / 12.0, -2.0 / 3.0, 0.0, 2.0 / 3.0, -1.0 / 12.0]);
        assert_eq!(central_first_derivative(2).unwrap(), vec![-0.5, 0.0, 0.5]);
    }

    #[test]
    fn derivative_stencils_are_the_four_of_c() {
        let stencils = derivative_stencils();
        let taps: Vec<usize> = stencils.iter().map(Vec::len).collect();
        assert_eq!(taps, vec![2, 5, 11, 15]);
        assert_eq!(stencils[0], vec![-1.0, 1.0]);
        for c in &stencils {
            let sum: f64 = c.iter().sum();
            let first: f64 = c.iter().enumerate().map(|(t, &ct)| t as f64 * ct).sum();
            assert!(sum.abs() < 1e-14, "Σc = {sum}");
            assert!((first - 1.0).abs() < 1e-13, "Σ i·c_i = {first}");
        }
    }

    #[test]
    fn bad_accuracies_are_errors() {
        for accuracy in [0, 1, 3, 13] {
            assert!(matches!(
                central_first_derivative(accuracy),
                Err(ContinuityError::InvalidAccuracy { .. })
            ));
        }
        assert!(matches!(
            central_first_derivative(200),
            Err(ContinuityError::StencilOverflow { accuracy: 200 })
        ));
    }

    #[test]
    fn erf_matches_reference_values() {
        // Reference values (glibc / A&S), on both sides of every branch boundary (0.5, 2.5, 6).
        let cases = [
            (0.0, 0.0),
            (1e-10, 1.1283791670955126e-10),
            (0.1, 0.1124629160182849),
            (0.49, 0.511668261188523),
            (0.5, 0.5204998778130465),
            (1.0, 0.8427007929497149),
            (1.5, 0.9661051464753108),
            (2.0, 0.9953222650189527),
            (2.49, 0.9995707121322661),
            (2.5, 0.999593047982555),
            (3.0, 0.9999779095030014),
            (4.0, 0.9999999845827421),
            (5.0, 0.9999999999984626),
            (6.0, 1.0),
            (6.5, 1.0),
        ];
        for (x, expected) in cases {
            let got = erf(x);
            assert!(
                (got - expected).abs() <= 1e-15 * expected,
                "erf({x}) = {got:e}, expected {expected:e}"
            );
            assert_eq!(erf(-x), -got);
        }
        assert!(erf(f64::NAN).is_nan());
        assert_eq!(erf(f64::INFINITY), 1.0);
        // Monotone across the branch boundaries.
        for b in [0.5_f64, 2.5, 6.0] {
            let below = erf(b - 1e-12);
            assert!(below <= erf(b) && erf(b) <= erf(b + 1e-12), "around {b}");
        }
    }

    #[test]
    fn gaussian_kernels_are_normalised_and_symmetric() {
        for m in [3, 4, 5, 10, 19, 20, 75, 150] {
            let g = gaussian_kernel(m);
            assert_eq!(g.len(), m);
            let sum: f64 = g.iter().sum();
            assert!((sum - 1.0).abs() < 1e-14, "m = {m}: Σg = {sum}");
            for t in 0..m {
                assert_eq!(g[t], g[m - 1 - t], "m = {m}, tap {t}");
                assert!(g[t] > 0.0);
            }
            // Peaked in the middle.
            assert!(g[(m - 1) / 2] >= g[0]);
        }
        // m = 3: bins [−3,−1], [−1,1], [1,3]; Φ(1) − Φ(−1) = erf(1/√2) = 0.6826894921370859.
        let g = gaussian_kernel(3);
        let centre = 0.6826894921370859 / (1.0 - 2.0 * 0.0013498980316301035);
        assert!((g[1] - centre).abs() < 1e-15, "{g:?}");
    }

    #[test]
    fn gaussian_special_cases() {
        assert_eq!(gaussian_kernel(2), vec![-1.0, 1.0]);
        assert!(gaussian_kernel(1).is_empty());
        assert!(gaussian_kernel(0).is_empty());
    }
}
