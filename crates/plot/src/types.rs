//! The data a figure is drawn from: axes and scales, series, groups, fitted lines.

/// Linear or logarithmic axis.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum Scale {
    /// Linear.
    #[default]
    Linear,
    /// Logarithmic (base 10 ticks); non-positive values are left out.
    Log,
}

/// Title, axis labels and scales of a figure.
#[derive(Debug, Clone, PartialEq)]
pub struct Axes {
    /// Figure title.
    pub title: String,
    /// Label of the x axis.
    pub x_label: String,
    /// Label of the (left) y axis.
    pub y_label: String,
    /// Scale of the x axis.
    pub x_scale: Scale,
    /// Scale of the (left) y axis.
    pub y_scale: Scale,
}

impl Axes {
    /// Linear axes with these labels.
    pub fn new(
        title: impl Into<String>,
        x_label: impl Into<String>,
        y_label: impl Into<String>,
    ) -> Self {
        Self {
            title: title.into(),
            x_label: x_label.into(),
            y_label: y_label.into(),
            x_scale: Scale::Linear,
            y_scale: Scale::Linear,
        }
    }
    /// Makes the x axis logarithmic.
    pub fn log_x(mut self) -> Self {
        self.x_scale = Scale::Log;
        self
    }
    /// Makes the y axis logarithmic.
    pub fn log_y(mut self) -> Self {
        self.y_scale = Scale::Log;
        self
    }
}

/// A named set of (x, y) points: one line or one point cloud.
#[derive(Debug, Clone, PartialEq)]
pub struct Series {
    /// Legend entry.
    pub label: String,
    /// x values.
    pub xs: Vec<f64>,
    /// y values (same length as `xs`).
    pub ys: Vec<f64>,
}

impl Series {
    /// A series from its label and coordinates.
    pub fn new(label: impl Into<String>, xs: Vec<f64>, ys: Vec<f64>) -> Self {
        Self {
            label: label.into(),
            xs,
            ys,
        }
    }
    pub(crate) fn points(&self) -> impl Iterator<Item = (f64, f64)> + '_ {
        self.xs.iter().copied().zip(self.ys.iter().copied())
    }
}

/// A named sample of values: one histogram or one box.
#[derive(Debug, Clone, PartialEq)]
pub struct Group {
    /// Legend entry / category label.
    pub label: String,
    /// The values.
    pub values: Vec<f64>,
}

impl Group {
    /// A group from its label and values.
    pub fn new(label: impl Into<String>, values: Vec<f64>) -> Self {
        Self {
            label: label.into(),
            values,
        }
    }
}

/// Order of the bars of a [`crate::bar_chart`] (top to bottom).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum BarOrder {
    /// As given.
    #[default]
    AsGiven,
    /// Largest value first.
    Descending,
    /// Smallest value first.
    Ascending,
}

/// A straight line `log y = slope·log n + intercept` (natural logs) drawn over `[from, to]`.
#[derive(Debug, Clone, PartialEq)]
pub struct FitLine {
    /// Legend entry, e.g. `fit: slope −0.50 ± 0.01`.
    pub label: String,
    /// Slope a.
    pub slope: f64,
    /// Intercept c (natural log).
    pub intercept: f64,
    /// First width of the line.
    pub from: f64,
    /// Last width of the line.
    pub to: f64,
}

impl FitLine {
    /// The line `log y = slope·log n + intercept` over `[from, to]`, labelled
    /// `name: slope a ± se` (the `± se` part only when `slope_stderr` is finite).
    pub fn new(
        name: &str,
        slope: f64,
        intercept: f64,
        slope_stderr: f64,
        from: f64,
        to: f64,
    ) -> Self {
        let se = if slope_stderr.is_finite() {
            format!(" ± {slope_stderr:.3}")
        } else {
            String::new()
        };
        Self {
            label: format!("{name}: slope {}{se}", signed(slope, 3)),
            slope,
            intercept,
            from,
            to,
        }
    }
    pub(crate) fn at(&self, n: f64) -> f64 {
        (self.intercept + self.slope * n.ln()).exp()
    }
}

/// One metric against width for [`crate::loglog_fit`]: the repetitions at each width, drawn as
/// points, their geometric mean with a ±1 sd band of log(value), and fitted lines.
#[derive(Debug, Clone, PartialEq)]
pub struct LogLogSeries {
    /// Legend entry of the means.
    pub label: String,
    /// Widths n.
    pub widths: Vec<f64>,
    /// Per width, the repetitions (non-positive values are left out).
    pub values: Vec<Vec<f64>>,
    /// Fitted lines; the first is drawn solid, the others dashed.
    pub fits: Vec<FitLine>,
}

impl LogLogSeries {
    /// A series with one fitted line `log y = slope·log n + intercept` over the range of the
    /// widths, labelled `LABEL fit: slope a ± se`.
    pub fn with_line(
        label: impl Into<String>,
        widths: Vec<f64>,
        values: Vec<Vec<f64>>,
        slope: f64,
        intercept: f64,
        slope_stderr: f64,
    ) -> Self {
        let label = label.into();
        let (lo, hi) = min_max(widths.iter().copied()).unwrap_or((1.0, 1.0));
        let line = FitLine::new(
            &format!("{label} fit"),
            slope,
            intercept,
            slope_stderr,
            lo,
            hi,
        );
        Self {
            label,
            widths,
            values,
            fits: vec![line],
        }
    }
}

/// Formats `v` with a sign and `decimals` decimals, using the minus sign (`+0.04`, `−0.50`).
pub fn signed(v: f64, decimals: usize) -> String {
    if v < 0.0 {
        format!("−{:.*}", decimals, -v)
    } else {
        format!("+{v:.decimals$}")
    }
}

/// The smallest and largest finite value, if any.
pub(crate) fn min_max(values: impl Iterator<Item = f64>) -> Option<(f64, f64)> {
    values
        .filter(|v| v.is_finite())
        .fold(None, |acc, v| match acc {
            None => Some((v, v)),
            Some((a, b)) => Some((a.min(v), b.max(v))),
        })
}
