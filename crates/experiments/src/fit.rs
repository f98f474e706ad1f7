//! Log–log slope fits (SPEC §8): for each width n, average log(metric) over repetitions, fit
//! `log(metric) = a·log(n) + c` by least squares with a free slope, and report a, c and the
//! band mean ± 1 sd of log(metric) per width.

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

/// A [`LogLogFit`] read back from stored results, where JSON wrote NaN as `null` (a fit over
/// fewer than three widths has no slope standard error).
#[derive(Debug, Clone, Deserialize)]
pub struct StoredFit {
    /// Slope, if finite when stored.
    pub slope: Option<f64>,
    /// Intercept, if finite when stored.
    pub intercept: Option<f64>,
    /// Standard error of the slope, if finite when stored.
    pub slope_stderr: Option<f64>,
}

impl StoredFit {
    /// The slope (NaN when missing).
    pub fn slope(&self) -> f64 {
        self.slope.unwrap_or(f64::NAN)
    }
    /// The slope's standard error (NaN when missing).
    pub fn stderr(&self) -> f64 {
        self.slope_stderr.unwrap_or(f64::NAN)
    }
    /// The fitted line `log y = a log n + c` over `[from, to]`, for a log–log plot.
    pub fn line(&self, name: &str, from: f64, to: f64) -> crate::plot::FitLine {
        let fit = LogLogFit {
            slope: self.slope(),
            intercept: self.intercept.unwrap_or(f64::NAN),
            slope_stderr: self.stderr(),
            log_mean: Vec::new(),
            log_sd: Vec::new(),
        };
        crate::plot::FitLine::from_fit(name, &fit, from, to)
    }
    /// `+0.038 ± 0.013`.
    pub fn text(&self) -> String {
        format!(
            "{} ± {:.3}",
            crate::plot::signed(self.slope(), 3),
            self.stderr()
        )
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
}
