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

/// An ordinary least-squares line `y = intercept + slope·x` with the standard errors of its
/// coefficients (the textbook formulas for K points, means x̄ and ȳ):
///
/// ```text
/// S_xx = Σ (x − x̄)²,  S_xy = Σ (x − x̄)(y − ȳ),  slope = S_xy / S_xx,  intercept = ȳ − slope x̄,
/// s² = Σ (y − intercept − slope x)² / (K − 2),
/// se(slope) = sqrt(s² / S_xx),  se(intercept) = sqrt(s² (1/K + x̄² / S_xx))
/// ```
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
pub struct LineFit {
    /// Slope (NaN with fewer than two points or when all x are equal).
    pub slope: f64,
    /// Intercept, the value at x = 0 (NaN when the slope is).
    pub intercept: f64,
    /// Standard error of the slope (NaN with fewer than three points).
    pub slope_stderr: f64,
    /// Standard error of the intercept (NaN with fewer than three points).
    pub intercept_stderr: f64,
    /// x̄ (NaN without points).
    pub mean_x: f64,
    /// ȳ (NaN without points); the natural constant fit when the slope is undefined.
    pub mean_y: f64,
}

/// The least-squares line through the points `(xs[i], ys[i])` ([`LineFit`]), paired up to the
/// shorter slice. It never panics: degenerate data give NaN where a quantity is undefined.
/// [`fit_loglog`] is this fit on (log n, mean log metric).
pub fn fit_line(xs: &[f64], ys: &[f64]) -> LineFit {
    let n = xs.len().min(ys.len());
    let (xs, ys) = (&xs[..n], &ys[..n]);
    let k = n as f64;
    let (mx, my) = (xs.iter().sum::<f64>() / k, ys.iter().sum::<f64>() / k);
    let sxx: f64 = xs.iter().map(|x| (x - mx).powi(2)).sum();
    let sxy: f64 = xs.iter().zip(ys).map(|(x, y)| (x - mx) * (y - my)).sum();
    let slope = sxy / sxx;
    let intercept = my - slope * mx;
    let rss: f64 = xs
        .iter()
        .zip(ys)
        .map(|(x, y)| (y - intercept - slope * x).powi(2))
        .sum();
    let (slope_stderr, intercept_stderr) = if n > 2 {
        let s2 = rss / (k - 2.0);
        ((s2 / sxx).sqrt(), (s2 * (1.0 / k + mx * mx / sxx)).sqrt())
    } else {
        (f64::NAN, f64::NAN)
    };
    LineFit {
        slope,
        intercept,
        slope_stderr,
        intercept_stderr,
        mean_x: mx,
        mean_y: my,
    }
}

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
    let line = fit_line(&xs, &ys);
    let (slope, intercept, slope_stderr) = (line.slope, line.intercept, line.slope_stderr);
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

    /// Points (0, 1), (1, 2), (2, 2), (3, 4) by hand: x̄ = 1.5, ȳ = 2.25, S_xx = 5,
    /// S_xy = 4.5, slope 0.9, intercept 0.9, residuals 0.1, 0.2, −0.7, 0.4, RSS = 0.7,
    /// s² = 0.35, se(slope) = sqrt(0.07), se(intercept) = sqrt(0.35 (1/4 + 2.25/5)).
    #[test]
    fn line_fit_by_hand() {
        let f = fit_line(&[0.0, 1.0, 2.0, 3.0], &[1.0, 2.0, 2.0, 4.0]);
        assert!((f.slope - 0.9).abs() < 1e-15);
        assert!((f.intercept - 0.9).abs() < 1e-15);
        assert!((f.slope_stderr - 0.07f64.sqrt()).abs() < 1e-15);
        assert!((f.intercept_stderr - (0.35f64 * 0.7).sqrt()).abs() < 1e-15);
        assert_eq!((f.mean_x, f.mean_y), (1.5, 2.25));
        // Equal x: no slope, but the mean is still there.
        let f = fit_line(&[1.0, 1.0], &[2.0, 4.0]);
        assert!(f.slope.is_nan() && f.slope_stderr.is_nan());
        assert_eq!(f.mean_y, 3.0);
        // No points, and unequal lengths paired up to the shorter.
        assert!(fit_line(&[], &[]).mean_y.is_nan());
        let f = fit_line(&[0.0, 1.0, 5.0], &[0.0, 2.0]);
        assert_eq!((f.slope, f.intercept), (2.0, 0.0));
    }

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
