//! Log–log slope fits (SPEC §8). The fit itself ([`fit_loglog`], [`LogLogFit`]) lives in
//! `ftnn_decay::fit` and is re-exported here, with what the figures and reports do with a stored
//! fit ([`FitText`]) and [`series_with_fit`].

pub use ftnn_decay::fit::{fit_loglog, LogLogFit};

/// A fit as stored in results (NaN slopes and standard errors survive the store).
pub type StoredFit = LogLogFit;

/// Figure lines and report text of a fit.
pub trait FitText {
    /// The slope's standard error (NaN when missing).
    fn stderr(&self) -> f64;
    /// The fitted line `log y = a log n + c` over `[from, to]`, for a log–log plot.
    fn line(&self, name: &str, from: f64, to: f64) -> ftnn_plot::FitLine;
    /// `+0.038 ± 0.013`.
    fn text(&self) -> String;
}

impl FitText for LogLogFit {
    fn stderr(&self) -> f64 {
        self.slope_stderr
    }
    fn line(&self, name: &str, from: f64, to: f64) -> ftnn_plot::FitLine {
        ftnn_plot::FitLine::new(
            name,
            self.slope,
            self.intercept,
            self.slope_stderr,
            from,
            to,
        )
    }
    fn text(&self) -> String {
        format!(
            "{} ± {:.3}",
            ftnn_plot::signed(self.slope, 3),
            self.slope_stderr
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
