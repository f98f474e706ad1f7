//! Comparing a bound with the experiment over a set of points (SPEC §5): Pearson correlation,
//! rank loss, clipped relative error.

use crate::error::{BoundsError, Result};

fn check(exp: &[f64], bound: &[f64], min: usize) -> Result<()> {
    if exp.len() != bound.len() {
        return Err(BoundsError::Comparison(format!(
            "{} experiment values but {} bound values",
            exp.len(),
            bound.len()
        )));
    }
    if exp.len() < min {
        return Err(BoundsError::Comparison(format!(
            "need at least {min} points, got {}",
            exp.len()
        )));
    }
    for (what, v) in [("experiment", exp), ("bound", bound)] {
        ftnn_model::check_finite(what, v)?;
    }
    Ok(())
}

/// Pearson correlation of `exp` and `bound`; `None` when either is constant.
pub fn pearson(exp: &[f64], bound: &[f64]) -> Result<Option<f64>> {
    check(exp, bound, 2)?;
    let n = exp.len() as f64;
    let (mx, my) = (exp.iter().sum::<f64>() / n, bound.iter().sum::<f64>() / n);
    let (mut sxy, mut sxx, mut syy) = (0.0, 0.0, 0.0);
    for (x, y) in exp.iter().zip(bound) {
        sxy += (x - mx) * (y - my);
        sxx += (x - mx).powi(2);
        syy += (y - my).powi(2);
    }
    if sxx == 0.0 || syy == 0.0 {
        return Ok(None);
    }
    Ok(Some(sxy / (sxx * syy).sqrt()))
}

/// Rank loss: order the points by the experiment (ascending; ties in the experiment keep
/// their input order), count the pairs i < j with `bound_i ≥ bound_j` — a tie in the bound
/// counts as discordant, as in the original — divide by n(n−1)/2 and report
/// `min(r, 1 − r)`. O(n log n) by merge-sort inversion counting.
pub fn rank_loss(exp: &[f64], bound: &[f64]) -> Result<f64> {
    check(exp, bound, 2)?;
    let mut order: Vec<usize> = (0..exp.len()).collect();
    order.sort_by(|&a, &b| exp[a].total_cmp(&exp[b]).then(a.cmp(&b)));
    let mut seq: Vec<f64> = order.iter().map(|&i| bound[i]).collect();
    let mut buf = vec![0f64; seq.len()];
    let discordant = count_non_strict_inversions(&mut seq, &mut buf);
    let n = exp.len() as f64;
    let r = discordant as f64 / (n * (n - 1.0) / 2.0);
    Ok(r.min(1.0 - r))
}

/// Number of pairs i < j with v_i ≥ v_j; sorts `v`.
fn count_non_strict_inversions(v: &mut [f64], buf: &mut [f64]) -> u64 {
    let n = v.len();
    if n < 2 {
        return 0;
    }
    let mid = n / 2;
    let mut count = {
        let (a, b) = v.split_at_mut(mid);
        let (ba, bb) = buf.split_at_mut(mid);
        count_non_strict_inversions(a, ba) + count_non_strict_inversions(b, bb)
    };
    let (mut i, mut j, mut k) = (0, mid, 0);
    while i < mid && j < n {
        if v[i] < v[j] {
            buf[k] = v[i];
            i += 1;
        } else {
            // v[i..mid] are all ≥ v[j] (sorted left half): each forms a discordant pair.
            count += (mid - i) as u64;
            buf[k] = v[j];
            j += 1;
        }
        k += 1;
    }
    buf[k..k + mid - i].copy_from_slice(&v[i..mid]);
    k += mid - i;
    buf[k..k + n - j].copy_from_slice(&v[j..n]);
    v.copy_from_slice(&buf[..n]);
    count
}

/// `|exp − bound| / |exp|` per point, clipped at 2 (200 %); 0 when both are 0, 2 when only
/// the experiment is 0.
pub fn relative_errors(exp: &[f64], bound: &[f64]) -> Result<Vec<f64>> {
    check(exp, bound, 0)?;
    Ok(exp
        .iter()
        .zip(bound)
        .map(|(&e, &b)| {
            if e == 0.0 {
                if b == 0.0 {
                    0.0
                } else {
                    2.0
                }
            } else {
                ((e - b).abs() / e.abs()).min(2.0)
            }
        })
        .collect())
}

#[cfg(test)]
mod tests {
    use super::*;
    use rand::{Rng, SeedableRng};

    /// The O(n²) definition.
    fn rank_loss_quadratic(exp: &[f64], bound: &[f64]) -> f64 {
        let mut order: Vec<usize> = (0..exp.len()).collect();
        order.sort_by(|&a, &b| exp[a].total_cmp(&exp[b]).then(a.cmp(&b)));
        let n = exp.len();
        let mut c = 0usize;
        for i in 0..n {
            for j in i + 1..n {
                if bound[order[i]] >= bound[order[j]] {
                    c += 1;
                }
            }
        }
        let r = c as f64 / (n * (n - 1) / 2) as f64;
        r.min(1.0 - r)
    }

    #[test]
    fn rank_loss_matches_the_definition_with_ties() {
        let mut rng = rand_chacha::ChaCha8Rng::seed_from_u64(1);
        for n in [2, 3, 7, 50, 333] {
            for _ in 0..20 {
                // Few distinct values: many ties in both.
                let exp: Vec<f64> = (0..n).map(|_| rng.random_range(0..5) as f64).collect();
                let bound: Vec<f64> = (0..n).map(|_| rng.random_range(0..4) as f64).collect();
                let (a, b) = (
                    rank_loss(&exp, &bound).unwrap(),
                    rank_loss_quadratic(&exp, &bound),
                );
                assert!((a - b).abs() < 1e-12, "n={n}: {a} vs {b}");
                let bound: Vec<f64> = (0..n).map(|_| rng.random::<f64>()).collect();
                let (a, b) = (
                    rank_loss(&exp, &bound).unwrap(),
                    rank_loss_quadratic(&exp, &bound),
                );
                assert!((a - b).abs() < 1e-12);
            }
        }
    }

    #[test]
    fn known_values() {
        let e = [1.0, 2.0, 3.0, 4.0];
        assert_eq!(rank_loss(&e, &[10.0, 20.0, 30.0, 40.0]).unwrap(), 0.0);
        assert_eq!(rank_loss(&e, &[40.0, 30.0, 20.0, 10.0]).unwrap(), 0.0); // min(r, 1 − r)
                                                                            // One swapped pair out of 6.
        assert!((rank_loss(&e, &[1.0, 3.0, 2.0, 4.0]).unwrap() - 1.0 / 6.0).abs() < 1e-15);
        // A constant bound: every pair is a tie, hence discordant: r = 1 → 0 after min.
        assert_eq!(rank_loss(&e, &[1.0; 4]).unwrap(), 0.0);
        assert!((pearson(&e, &[2.0, 4.0, 6.0, 8.0]).unwrap().unwrap() - 1.0).abs() < 1e-15);
        assert!((pearson(&e, &[-1.0, -2.0, -3.0, -4.0]).unwrap().unwrap() + 1.0).abs() < 1e-15);
        assert_eq!(pearson(&e, &[1.0; 4]).unwrap(), None);
        assert_eq!(
            relative_errors(&[1.0, -2.0, 0.0, 0.0, 1.0], &[1.5, -1.0, 0.0, 1.0, 9.0]).unwrap(),
            vec![0.5, 0.5, 0.0, 2.0, 2.0]
        );
        assert!(pearson(&e, &[1.0, 2.0]).is_err());
        assert!(rank_loss(&[1.0, f64::NAN], &[1.0, 2.0]).is_err());
    }
}
