//! Property tests of the formulas of SPEC §6 (proptest).

use ftnn_certify::{
    balancedness, chebyshev, chernoff, clopper_pearson_upper, copies, kl_bernoulli,
    regularized_incomplete_beta, Chernoff, Verdict, VerdictKind,
};
use proptest::prelude::*;

proptest! {
    #[test]
    fn delta0_is_a_probability_and_decreases_with_width_and_balance(
        n in 1usize..5000, q in 0.0f64..=1.0, p in 1e-6f64..=1.0, extra in 1usize..1000,
        dq in 0.0f64..=1.0,
    ) {
        let c = chernoff(n, q, p).unwrap();
        prop_assert!((0.0..=1.0).contains(&c.delta0), "{c:?}");
        prop_assert_eq!(c.applies(), c.alpha < 1.0);
        if !c.applies() {
            prop_assert_eq!(c.delta0, 1.0);
        }
        // Monotone: more neurons or better balance never raise δ₀.
        let wider = chernoff(n + extra, q, p).unwrap();
        prop_assert!(wider.delta0 <= c.delta0);
        let q2 = (q + dq * (1.0 - q)).min(1.0);
        prop_assert!(chernoff(n, q2, p).unwrap().delta0 <= c.delta0);
    }

    #[test]
    fn kl_is_nonnegative_and_zero_on_the_diagonal(a in 0.0f64..=1.0, b in 1e-9f64..0.999_999) {
        let kl = kl_bernoulli(a, b).unwrap();
        prop_assert!(kl >= 0.0);
        prop_assert!(kl_bernoulli(b, b).unwrap().abs() < 1e-12);
    }

    #[test]
    fn balancedness_is_in_unit_interval_and_scale_free(
        rows in prop::collection::vec(prop::collection::vec(-10.0f32..10.0, 3), 1..8),
        scale in 0.1f32..10.0,
    ) {
        let flat: Vec<f32> = rows.concat();
        let q = balancedness(&flat, rows.len(), 3).unwrap();
        prop_assert!((0.0..=1.0).contains(&q));
        let scaled: Vec<f32> = flat.iter().map(|w| w * scale).collect();
        let q2 = balancedness(&scaled, rows.len(), 3).unwrap();
        prop_assert!((q - q2).abs() < 1e-5, "{q} vs {q2}");
    }

    #[test]
    fn chebyshev_is_nonnegative_and_decreases_in_epsilon(
        mean in -1.0f64..1.0, var in 0.0f64..1.0, gap in 1e-6f64..1.0, more in 0.0f64..1.0,
    ) {
        let eps = mean + gap;
        let c = chebyshev(mean, var, eps).unwrap();
        prop_assert!(c >= 0.0);
        prop_assert!(chebyshev(mean, var, eps + more).unwrap() <= c);
        prop_assert!(chebyshev(mean, var, mean).is_none());
    }

    /// R is the least number of copies with 3^{−R/2} ≤ δ (the median-of-R bound of SPEC §6),
    /// and it never decreases as δ shrinks.
    #[test]
    fn copies_are_the_least_that_reach_delta(delta in 1e-12f64..0.999, shrink in 0.01f64..1.0) {
        let r = copies(delta).unwrap() as f64;
        prop_assert!(3f64.powf(-r / 2.0) <= delta * (1.0 + 1e-12));
        if r > 1.0 {
            prop_assert!(3f64.powf(-(r - 1.0) / 2.0) > delta);
        }
        prop_assert!(copies(delta * shrink).unwrap() as f64 >= r);
    }

    #[test]
    fn incomplete_beta_symmetry(a in 0.5f64..200.0, b in 0.5f64..200.0, x in 0.0f64..=1.0) {
        let i = regularized_incomplete_beta(a, b, x);
        prop_assert!((0.0..=1.0).contains(&i));
        let j = regularized_incomplete_beta(b, a, 1.0 - x);
        prop_assert!((i + j - 1.0).abs() < 1e-9, "{i} + {j}");
    }

    /// The upper bound lies above the point estimate, increases with k, and for k = 0 has the
    /// closed form 1 − γ^{1/n}.
    #[test]
    fn clopper_pearson_is_an_upper_bound(n in 1u64..200_000, frac in 0.0f64..1.0) {
        let k = ((n as f64) * frac) as u64;
        let u = clopper_pearson_upper(k, n, 0.999);
        prop_assert!(u >= k as f64 / n as f64 && u <= 1.0);
        if k < n {
            prop_assert!(clopper_pearson_upper(k + 1, n, 0.999) >= u);
        }
        let u0 = clopper_pearson_upper(0, n, 0.999);
        let closed = 1.0 - 1e-3f64.powf(1.0 / n as f64);
        prop_assert!((u0 - closed).abs() < 1e-12 + 1e-9 * closed, "{u0} vs {closed}");
    }

    /// The verdict follows SPEC §11's rules exactly.
    #[test]
    fn verdict_follows_the_rules(
        delta0 in 0.0f64..=1.0, mean in -1.0f64..1.0, var in 0.0f64..1.0, eps in 1e-6f64..1.0,
    ) {
        let c = Chernoff { alpha: 0.5, delta0 };
        let v = Verdict::decide(c, mean, var, eps);
        let want = if mean >= eps {
            VerdictKind::Infeasible
        } else if delta0 + var / (eps - mean).powi(2) < 1.0 / 3.0 {
            VerdictKind::Certified
        } else {
            VerdictKind::NotCertified
        };
        prop_assert_eq!(v.kind(), want);
        match v {
            Verdict::Certified { feasibility_margin, bound_margin } => {
                prop_assert!(feasibility_margin > 0.0 && bound_margin > 0.0);
            }
            Verdict::NotCertified { excess, .. } | Verdict::Infeasible { excess } => {
                prop_assert!(excess >= 0.0);
            }
        }
    }
}
