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
    pub fn line(&self, name: &str, from: f64, to: f64) -> ftnn_plot::FitLine {
        ftnn_plot::FitLine::new(
            name,
            self.slope(),
            self.intercept.unwrap_or(f64::NAN),
            self.stderr(),
            from,
            to,
        )
    }
    /// `+0.038 ± 0.013`.
    pub fn text(&self) -> String {
        format!(
            "{} ± {:.3}",
            ftnn_plot::signed(self.slope(), 3),
            self.stderr()
        )
    }
}

/// A log–log series with the least-squares fit over all widths ([`fit_loglog`]).
pub fn series_with_fit(
    label: impl Into<String>,
    widths: Vec<f64>,
    values: Vec<Vec<f64>>,
) -> ftnn_plot::LogLogSeries {
    let fit = fit_loglog(&widths, &values);
    ftnn_plot::LogLogSeries::with_line(
        label,
        widths,
        values,
        fit.slope,
        fit.intercept,
        fit.slope_stderr,
    )
}
