//! The Clopper–Pearson upper confidence bound on a binomial proportion (SPEC §6, the
//! statistical check of a certificate), from the regularized incomplete beta function.
//!
//! With k successes in n trials, the one-sided upper bound at confidence 1 − γ is the u with
//! `P(Bin(n, u) ≤ k) = γ`, i.e. the (1 − γ) quantile of Beta(k + 1, n − k); u = 1 when k = n.
//! Since `P(Bin(n, u) ≤ k) = 1 − I_u(k + 1, n − k)` (I the regularized incomplete beta), u
//! solves `I_u(k + 1, n − k) = 1 − γ`, found by bisection on [0, 1] (the left side increases
//! in u). I is evaluated by the continued fraction of Numerical Recipes (§6.4, modified Lentz)
//! with ln Γ by the Lanczos approximation (g = 7, 9 terms; relative error ≈ 1e-15).
//! ftnn uses γ = 10⁻³ ([`CP_CONFIDENCE`] = 1 − 10⁻³), as SPEC §6 fixes.

/// The confidence of the Clopper–Pearson upper bound of the empirical check: 1 − 10⁻³
/// (one-sided), SPEC §6.
pub const CP_CONFIDENCE: f64 = 1.0 - 1e-3;

/// ln Γ(x) for x > 0 (Lanczos, g = 7, n = 9; reflection below ½).
pub fn ln_gamma(x: f64) -> f64 {
    const G: f64 = 7.0;
    const C: [f64; 9] = [
        0.999_999_999_999_809_9,
        676.520_368_121_885_1,
        -1_259.139_216_722_402_8,
        771.323_428_777_653_1,
        -176.615_029_162_140_6,
        12.507_343_278_686_905,
        -0.138_571_095_265_720_12,
        9.984_369_578_019_572e-6,
        1.505_632_735_149_311_6e-7,
    ];
    if x < 0.5 {
        // Γ(x) Γ(1 − x) = π / sin(πx).
        let pi = std::f64::consts::PI;
        return (pi / (pi * x).sin()).ln() - ln_gamma(1.0 - x);
    }
    let x = x - 1.0;
    let mut a = C[0];
    let t = x + G + 0.5;
    for (i, &c) in C.iter().enumerate().skip(1) {
        a += c / (x + i as f64);
    }
    0.5 * (2.0 * std::f64::consts::PI).ln() + (x + 0.5) * t.ln() - t + a.ln()
}

/// Continued fraction of the incomplete beta (Numerical Recipes `betacf`, modified Lentz).
fn beta_cf(a: f64, b: f64, x: f64) -> f64 {
    const MAX_ITER: usize = 100_000;
    const EPS: f64 = 1e-15;
    const FPMIN: f64 = 1e-300;
    let (qab, qap, qam) = (a + b, a + 1.0, a - 1.0);
    let mut c = 1.0;
    let mut d = 1.0 - qab * x / qap;
    if d.abs() < FPMIN {
        d = FPMIN;
    }
    d = 1.0 / d;
    let mut h = d;
    for m in 1..=MAX_ITER {
        let m = m as f64;
        let m2 = 2.0 * m;
        let aa = m * (b - m) * x / ((qam + m2) * (a + m2));
        d = 1.0 + aa * d;
        if d.abs() < FPMIN {
            d = FPMIN;
        }
        c = 1.0 + aa / c;
        if c.abs() < FPMIN {
            c = FPMIN;
        }
        d = 1.0 / d;
        h *= d * c;
        let aa = -(a + m) * (qab + m) * x / ((a + m2) * (qap + m2));
        d = 1.0 + aa * d;
        if d.abs() < FPMIN {
            d = FPMIN;
        }
        c = 1.0 + aa / c;
        if c.abs() < FPMIN {
            c = FPMIN;
        }
        d = 1.0 / d;
        let del = d * c;
        h *= del;
        if (del - 1.0).abs() < EPS {
            break;
        }
    }
    h
}

/// The regularized incomplete beta function `I_x(a, b) = B(x; a, b) / B(a, b)` for a, b > 0,
/// x ∈ [0, 1] (the CDF of Beta(a, b) at x).
pub fn regularized_incomplete_beta(a: f64, b: f64, x: f64) -> f64 {
    if x <= 0.0 {
        return 0.0;
    }
    if x >= 1.0 {
        return 1.0;
    }
    let ln_front = ln_gamma(a + b) - ln_gamma(a) - ln_gamma(b) + a * x.ln() + b * (-x).ln_1p();
    let front = ln_front.exp();
    if x < (a + 1.0) / (a + b + 2.0) {
        (front * beta_cf(a, b, x) / a).clamp(0.0, 1.0)
    } else {
        (1.0 - front * beta_cf(b, a, 1.0 - x) / b).clamp(0.0, 1.0)
    }
}

/// The one-sided Clopper–Pearson upper bound at confidence `confidence` (e.g.
/// [`CP_CONFIDENCE`]) on a binomial probability from `k` successes in `n` trials: the
/// `confidence` quantile of Beta(k + 1, n − k), 1 when k = n. For k = 0 it equals
/// `1 − (1 − confidence)^{1/n}`. Bisection to 1e-15 absolute (60 halvings of [0, 1]).
pub fn clopper_pearson_upper(k: u64, n: u64, confidence: f64) -> f64 {
    assert!(k <= n, "k = {k} successes in n = {n} trials");
    assert!(
        confidence > 0.0 && confidence < 1.0,
        "confidence {confidence} not in (0, 1)"
    );
    if k == n {
        return 1.0;
    }
    let (a, b) = ((k + 1) as f64, (n - k) as f64);
    let (mut lo, mut hi) = (k as f64 / n as f64, 1.0f64);
    for _ in 0..60 {
        let mid = 0.5 * (lo + hi);
        if regularized_incomplete_beta(a, b, mid) < confidence {
            lo = mid;
        } else {
            hi = mid;
        }
    }
    hi
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ln_gamma_at_known_points() {
        // Γ(1) = Γ(2) = 1, Γ(5) = 24, Γ(½) = √π, Γ(10.5) = 1133278.3889487855.
        assert!(ln_gamma(1.0).abs() < 1e-14);
        assert!(ln_gamma(2.0).abs() < 1e-14);
        assert!((ln_gamma(5.0) - 24f64.ln()).abs() < 1e-13);
        assert!((ln_gamma(0.5) - std::f64::consts::PI.sqrt().ln()).abs() < 1e-13);
        assert!((ln_gamma(10.5) - 1_133_278.388_948_785_5f64.ln()).abs() < 1e-12);
    }

    #[test]
    fn incomplete_beta_by_hand() {
        // For integers, I_x(a, b) = P(Bin(a + b − 1, x) ≥ a):
        // I_½(2, 3) = P(Bin(4, ½) ≥ 2) = (6 + 4 + 1)/16 = 0.6875.
        assert!((regularized_incomplete_beta(2.0, 3.0, 0.5) - 0.6875).abs() < 1e-13);
        // I_0.2(1, 1) = 0.2 (uniform); I_x(1, b) = 1 − (1 − x)^b: I_0.1(1, 10) = 1 − 0.9¹⁰.
        assert!((regularized_incomplete_beta(1.0, 1.0, 0.2) - 0.2).abs() < 1e-14);
        let want = 1.0 - 0.9f64.powi(10);
        assert!((regularized_incomplete_beta(1.0, 10.0, 0.1) - want).abs() < 1e-13);
        // I_x(a, 1) = x^a: I_0.7(3, 1) = 0.343.
        assert!((regularized_incomplete_beta(3.0, 1.0, 0.7) - 0.343).abs() < 1e-13);
    }

    #[test]
    fn clopper_pearson_by_hand() {
        // k = 0, n = 10 000, confidence 1 − 10⁻³: u = 1 − 10^{−3/10000}
        //   = 1 − exp(−6.907755e-4) = 6.9053700e-4.
        let u = clopper_pearson_upper(0, 10_000, CP_CONFIDENCE);
        assert!((u - 6.905_369_97e-4).abs() < 1e-10, "{u}");
        assert_eq!(clopper_pearson_upper(7, 7, 0.95), 1.0);
        // k = n − 1: P(Bin(n, u) ≤ n − 1) = 1 − uⁿ = γ → u = (1 − γ)^{1/n};
        // n = 10, γ = 0.05: u = 0.95^{0.1} = 0.994883.
        let u = clopper_pearson_upper(9, 10, 0.95);
        assert!((u - 0.95f64.powf(0.1)).abs() < 1e-12, "{u}");
        // k = 1, n = 2 at 95 %: P(Bin(2, u) ≤ 1) = 1 − u² = 0.05 → u = √0.95 = 0.974679.
        let u = clopper_pearson_upper(1, 2, 0.95);
        assert!((u - 0.95f64.sqrt()).abs() < 1e-12, "{u}");
    }

    /// Large n: the bound at k = 5000 of 10⁵ trials must sit a few standard errors above
    /// k/n (normal approximation: 0.05 + 3.09·√(0.05·0.95/10⁵) = 0.052130).
    #[test]
    fn clopper_pearson_large_n_is_near_the_normal_approximation() {
        let u = clopper_pearson_upper(5000, 100_000, CP_CONFIDENCE);
        assert!((u - 0.052_130).abs() < 1e-4, "{u}");
        // The binomial CDF at u is γ.
        let cdf = 1.0 - regularized_incomplete_beta(5001.0, 95_000.0, u);
        assert!((cdf - 1e-3).abs() < 1e-9, "{cdf}");
    }
}
