//! # ftnn-plot — figures on `plotters`, and nothing of ftnn's
//!
//! Plot helpers for the figures of SPEC §5, §8 and §10.
//!
//! Every helper takes plain data, draws one figure and writes it twice into a directory:
//! `NAME.svg` (vector, for papers) and `NAME.png` (bitmap, for `REPORT.md`); it returns the PNG
//! path. Files are written atomically (temporary file + rename). Text is set in DejaVu Sans,
//! embedded in the binary, so PNGs render the same on a bare machine without system fonts.
//!
//! The plot types:
//! * [`bar_chart`] — horizontal bars, each label kept with its own value (sorting moves the
//!   pair; the original mis-paired them, SPEC §12);
//! * [`histogram`] — one or several overlaid distributions on common bins;
//! * [`box_plots`] — one box per group (quartiles, 1.5 IQR whiskers, outliers);
//! * [`scatter`] — point clouds, optionally with the line y = x;
//! * [`line_plot`] — several lines, linear or log axes;
//! * [`loglog_fit`] — per-width points, mean ± 1 sd band of log(value) and fitted lines
//!   `log y = a log n + c` (SPEC §8);
//! * [`twin_axis`] — lines against a left and a right y axis.
//! * [`band_plot`], [`twin_band_plot`] — lines with filled bands (mean ± 1 sd over
//!   repetitions), on one or two y axes.
//! * [`bars_under_curves`] — adjacent bars on given edges (a histogram of known heights, a
//!   Riemann sum) under one or more curves.
//!
//! Axes are described by [`Axes`] (title, axis labels, [`Scale`]s). Log axes drop
//! non-positive values; every axis drops non-finite values.

mod axis;
mod band;
mod bars;
mod lines;
mod render;
mod style;
mod twin;
mod types;

pub use band::{band_plot, twin_band_plot, Band};
pub use bars::{bar_chart, box_plots, fmt_value, histogram};
pub use lines::{line_plot, loglog_fit, scatter};
pub use style::color;
pub use twin::{bars_under_curves, twin_axis};
pub use types::{signed, Axes, BarOrder, FitLine, Group, LogLogSeries, Scale, Series};
