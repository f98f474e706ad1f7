//! Log–log slope fits (SPEC §8): for each width n, average log(metric) over repetitions, fit
//! `log(metric) = a·log(n) + c` by least squares with a free slope, and report a, c, the
//! slope's standard error and the band mean ± 1 sd of log(metric) per width.
//!
//! With `m_w` the mean of log(metric) over the repetitions at width `n_w`, `x_w = log n_w`,
//! and the means x̄, m̄ over the K widths that have a positive value:
//!
//! ```text
//! a = Σ_w (x_w − x̄)(m_w − m̄) / Σ_w (x_w − x̄)²,   c = m̄ − a x̄,
//! se(a) = sqrt( Σ_w (m_w − c − a x_w)² / (K − 2) / Σ_w (x_w − x̄)² )   (K > 2, else NaN)
//! ```
//!
//! Expected slopes in the continuous limit (SPEC §8): D −1, H −2, Var Δ −1. Logs are natural.

use serde::{Deserialize, Serialize};

/// The result of a log–log fit.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct LogLogFit {
    /// Slope a.
    pub slope: f64,
    /// Intercept c (natural log).
    pub intercept: f64,
    /// Standard error of the slope (from the residuals of the per-width means).
    pub slope_stderr: f64,
    /// Per width: mean of log(metric).
    pub log_mean: Vec<f64>,
    /// Per width: sd of log(metric) over repetitions (0 with one repetition).
    pub log_sd: Vec<f64>,
}

/// Fits `log(values) = a log(widths) + c`; `values[w]` holds the repetitions at `widths[w]`.
/// Non-positive values are skipped; widths with no positive value are left out of the fit.
/// It never panics: with fewer than two usable widths the slope and intercept are NaN, with
/// fewer than three the slope's standard error is NaN (NaN values count as non-positive).
/// `widths` and `values` are paired up to the shorter of the two.
pub fn fit_loglog(widths: &[f64], values: &[Vec<f64>]) -> LogLogFit {
    let mut log_mean = Vec::with_capacity(widths.len());
    let mut log_sd = Vec::with_capacity(widths.len());
    let (mut xs, mut ys) = (Vec::new(), Vec::new());
    for (&n, vals) in widths.iter().zip(values) {
        let logs: Vec<f64> = vals.iter().filter(|&&v| v > 0.0).map(|v| v.ln()).collect();
        if logs.is_empty() {
            log_mean.push(f64::NAN);
            log_sd.push(f64::NAN);
            continue;
        }
        let m = logs.iter().sum::<f64>() / logs.len() as f64;
        let sd = if logs.len() > 1 {
            (logs.iter().map(|l| (l - m).powi(2)).sum::<f64>() / (logs.len() - 1) as f64).sqrt()
        } else {
            0.0
        };
        log_mean.push(m);
        log_sd.push(sd);
        xs.push(n.ln());
        ys.push(m);
    }
    let k = xs.len() as f64;
    let (mx, my) = (xs.iter().sum::<f64>() / k, ys.iter().sum::<f64>() / k);
    let sxx: f64 = xs.iter().map(|x| (x - mx).powi(2)).sum();
    let sxy: f64 = xs.iter().zip(&ys).map(|(x, y)| (x - mx) * (y - my)).sum();
    let slope = sxy / sxx;
    let intercept = my - slope * mx;
    let rss: f64 = xs
        .iter()
        .zip(&ys)
        .map(|(x, y)| (y - intercept - slope * x).powi(2))
        .sum();
    let slope_stderr = if xs.len() > 2 {
        (rss / (k - 2.0) / sxx).sqrt()
    } else {
        f64::NAN
    };
    LogLogFit {
        slope,
        intercept,
        slope_stderr,
        log_mean,
        log_sd,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn recovers_a_power_law() {
        let widths = [10.0, 20.0, 40.0, 80.0, 160.0];
        let values: Vec<Vec<f64>> = widths
            .iter()
            .map(|&n: &f64| vec![3.0 * n.powf(-0.7) * 1.1, 3.0 * n.powf(-0.7) / 1.1])
            .collect();
        let fit = fit_loglog(&widths, &values);
        assert!((fit.slope + 0.7).abs() < 1e-12);
        assert!((fit.intercept - 3f64.ln()).abs() < 1e-12);
        assert!(fit.slope_stderr < 1e-12);
        let sd = (2.0f64).sqrt() * 1.1f64.ln();
        assert!(fit.log_sd.iter().all(|&s| (s - sd).abs() < 1e-12));
    }

    #[test]
    fn degenerate_inputs_give_nan_not_panics() {
        // One usable width (the other has only non-positive or NaN values): no line.
        let fit = fit_loglog(&[10.0, 20.0], &[vec![1.0, 2.0], vec![0.0, -1.0, f64::NAN]]);
        assert!(fit.slope.is_nan() && fit.intercept.is_nan() && fit.slope_stderr.is_nan());
        assert!(fit.log_mean[1].is_nan() && fit.log_sd[1].is_nan());
        assert!((fit.log_mean[0] - 2f64.ln() / 2.0).abs() < 1e-15);
        // Two widths: an exact line, no standard error.
        let fit = fit_loglog(
            &[1.0, std::f64::consts::E],
            &[vec![1.0], vec![std::f64::consts::E.powi(2)]],
        );
        assert!((fit.slope - 2.0).abs() < 1e-12 && fit.intercept.abs() < 1e-12);
        assert!(fit.slope_stderr.is_nan());
        let empty = fit_loglog(&[], &[]);
        assert!(empty.slope.is_nan() && empty.log_mean.is_empty());
    }
}
