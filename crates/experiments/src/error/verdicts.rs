//! Shared pieces of the error family's SPEC §16 verdicts: the section verdict from its rows,
//! the standard error of a Pearson correlation, and bootstrap standard errors of a median.

use ftnn_lab::{PaperRow, Verdict};
use rand::{Rng, SeedableRng};
use rand_chacha::ChaCha8Rng;

/// The section's verdict: *differs* when a row differs (naming them), else *not comparable*
/// when a row is, else *reproduced*.
pub fn overall(rows: &[PaperRow]) -> Verdict {
    let differs: Vec<&str> = rows
        .iter()
        .filter(|r| matches!(r.verdict, Verdict::Differs(_)))
        .map(|r| r.quantity.as_str())
        .collect();
    if !differs.is_empty() {
        let ok = rows
            .iter()
            .filter(|r| r.verdict == Verdict::Reproduced)
            .count();
        return Verdict::Differs(format!(
            "{ok} of {} rows reproduced; differs: {}",
            rows.len(),
            differs.join("; ")
        ));
    }
    let nc: Vec<String> = rows
        .iter()
        .filter_map(|r| match &r.verdict {
            Verdict::NotComparable(why) => Some(format!("{} ({why})", r.quantity)),
            _ => None,
        })
        .collect();
    if nc.is_empty() {
        Verdict::Reproduced
    } else {
        Verdict::NotComparable(nc.join("; "))
    }
}

/// Standard error of a Pearson correlation r over n points, (1 − r²)/√(n − 3) (the delta
/// method on Fisher's z); NaN for n ≤ 3 or a non-finite r.
pub fn pearson_se(r: f64, n: usize) -> f64 {
    if n <= 3 || !r.is_finite() {
        return f64::NAN;
    }
    (1.0 - r * r).abs() / ((n - 3) as f64).sqrt()
}

/// The median of `v` (NaN when empty; NaNs sort last).
pub fn median(v: &[f64]) -> f64 {
    if v.is_empty() {
        return f64::NAN;
    }
    let mut s = v.to_vec();
    s.sort_by(f64::total_cmp);
    let n = s.len();
    if n % 2 == 1 {
        s[n / 2]
    } else {
        0.5 * (s[n / 2 - 1] + s[n / 2])
    }
}

/// Standard deviation of `stat` over `resamples` bootstrap resamples of `v` (seeded).
pub fn bootstrap_se(v: &[f64], resamples: usize, seed: u64, stat: impl Fn(&[f64]) -> f64) -> f64 {
    if v.len() < 2 || resamples < 2 {
        return f64::NAN;
    }
    let mut rng = ChaCha8Rng::seed_from_u64(seed);
    let mut buf = vec![0.0; v.len()];
    let stats: Vec<f64> = (0..resamples)
        .map(|_| {
            for b in buf.iter_mut() {
                *b = v[rng.random_range(0..v.len())];
            }
            stat(&buf)
        })
        .collect();
    let m = stats.iter().sum::<f64>() / stats.len() as f64;
    (stats.iter().map(|s| (s - m).powi(2)).sum::<f64>() / (stats.len() - 1) as f64).sqrt()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn overall_orders_differs_before_not_comparable() {
        let row = |v: Verdict| PaperRow::new("q", "1", "1", v);
        assert_eq!(overall(&[row(Verdict::Reproduced)]), Verdict::Reproduced);
        let nc = overall(&[
            row(Verdict::Reproduced),
            row(Verdict::NotComparable("x".into())),
        ]);
        assert_eq!(nc.label(), "not comparable");
        let d = overall(&[
            row(Verdict::NotComparable("x".into())),
            row(Verdict::Differs("y".into())),
        ]);
        assert_eq!(d.label(), "differs");
    }

    #[test]
    fn pearson_se_and_median() {
        assert!((pearson_se(0.6, 19) - 0.64 / 4.0).abs() < 1e-12);
        assert!(pearson_se(0.5, 3).is_nan());
        assert_eq!(median(&[3.0, 1.0, 2.0]), 2.0);
        assert_eq!(median(&[4.0, 1.0, 2.0, 3.0]), 2.5);
    }

    #[test]
    fn bootstrap_se_of_the_mean_matches_the_formula() {
        // The bootstrap se of a mean ≈ sd/√n (population sd): 0..100 has sd ≈ 28.87, n = 100.
        let v: Vec<f64> = (0..100).map(f64::from).collect();
        let se = bootstrap_se(&v, 2000, 1, |s| s.iter().sum::<f64>() / s.len() as f64);
        let want = 28.866 / 10.0;
        assert!((se - want).abs() < 0.1 * want, "{se} vs {want}");
    }
}
