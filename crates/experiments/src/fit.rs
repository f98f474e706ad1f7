//! Log–log slope fits (SPEC §8). The fit itself ([`fit_loglog`], [`LogLogFit`]) lives in
//! `ftnn_decay::fit` and is re-exported here; this module keeps [`StoredFit`], a fit read back
//! from stored JSON results.

pub use ftnn_decay::fit::{fit_loglog, LogLogFit};
use serde::Deserialize;

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
