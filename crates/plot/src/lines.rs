//! Scatter, line and log–log plots.

use crate::axis::*;
use crate::render::*;
use crate::style::*;
use crate::types::*;
use plotters::prelude::*;
use std::path::{Path, PathBuf};

// ---------------------------------------------------------------------------------------------
// Scatter and line plots.

pub(crate) struct Lines {
    pub(crate) axes: Axes,
    pub(crate) series: Vec<Series>,
    /// Draw lines (false: points only).
    pub(crate) lines: bool,
    pub(crate) identity: bool,
}

/// Series with more points than this are drawn with 1-pixel lines.
const DENSE_POINTS: usize = 300;

impl Draw for Lines {
    fn draw<DB: DrawingBackend>(&self, area: &Area<DB>) -> anyhow::Result<()>
    where
        DB::ErrorType: 'static,
    {
        let x = Axis::fit(
            self.series.iter().flat_map(|s| s.xs.iter().copied()),
            self.axes.x_scale,
            0.04,
        );
        let y = Axis::fit(
            self.series.iter().flat_map(|s| s.ys.iter().copied()),
            self.axes.y_scale,
            0.06,
        );
        let y_px = y_area_px(longest_tick(&y));
        let mut ch = chart(area, &self.axes.title, x.clone(), y.clone(), y_px, false)?;
        mesh(&mut ch, &self.axes.x_label, &self.axes.y_label)?;
        let mut occupied = Vec::new();
        let mut entries = 0;
        let mut chars = 1;
        if self.identity {
            let lo = x.lo.max(y.lo);
            let hi = x.hi.min(y.hi);
            if lo < hi {
                let pts: Vec<(f64, f64)> = if x.log || y.log {
                    (0..=50)
                        .map(|k| lo * (hi / lo).powf(k as f64 / 50.0))
                        .map(|v| (v, v))
                        .collect()
                } else {
                    vec![(lo, lo), (hi, hi)]
                };
                trace(&x, &y, &pts, true, &mut occupied);
                ch.draw_series(DashedLineSeries::new(
                    pts,
                    8,
                    6,
                    RGBColor(90, 90, 90).stroke_width(2),
                ))?
                .label("y = x")
                .legend(dashed_legend(RGBColor(90, 90, 90)));
                entries += 1;
                chars = 5;
            }
        }
        for (i, s) in self.series.iter().enumerate() {
            let col = color(i);
            let pts: Vec<(f64, f64)> = s
                .points()
                .filter(|&(a, b)| x.contains(a) && y.contains(b))
                .collect();
            trace(&x, &y, &pts, self.lines, &mut occupied);
            if self.lines {
                // Thick polylines through many zig-zagging points grow miter spikes far beyond
                // the data (and over the title): dense series are drawn thin.
                let width = if pts.len() > DENSE_POINTS { 1 } else { 3 };
                ch.draw_series(LineSeries::new(pts.clone(), col.stroke_width(width)))?
                    .label(s.label.as_str())
                    .legend(line_legend(col));
                if pts.len() <= 60 {
                    ch.draw_series(pts.iter().map(|&p| Circle::new(p, 4, col.filled())))?;
                }
            } else {
                let r = if pts.len() > 500 { 2 } else { 4 };
                ch.draw_series(
                    pts.iter()
                        .map(|&p| Circle::new(p, r, col.mix(0.7).filled())),
                )?
                .label(s.label.as_str())
                .legend(dot_legend(col));
            }
            entries += 1;
            chars = chars.max(s.label.chars().count());
        }
        if entries > 0 && !(entries == 1 && self.series.iter().all(|s| s.label.is_empty())) {
            draw_legend(&mut ch, legend_position(&occupied, entries, chars))?;
        }
        Ok(())
    }
}

/// Scatter plot of each series' points; `identity` adds the dashed line y = x (for comparing a
/// prediction with a measurement).
pub fn scatter(
    dir: &Path,
    name: &str,
    axes: &Axes,
    series: &[Series],
    identity: bool,
) -> anyhow::Result<PathBuf> {
    render(
        dir,
        name,
        &Lines {
            axes: axes.clone(),
            series: series.to_vec(),
            lines: false,
            identity,
        },
    )
}

/// Line plot of several series (points marked when there are few), linear or log axes.
pub fn line_plot(
    dir: &Path,
    name: &str,
    axes: &Axes,
    series: &[Series],
) -> anyhow::Result<PathBuf> {
    render(
        dir,
        name,
        &Lines {
            axes: axes.clone(),
            series: series.to_vec(),
            lines: true,
            identity: false,
        },
    )
}

// ---------------------------------------------------------------------------------------------
// Log–log plot with band and fitted lines.

pub(crate) struct LogLog {
    pub(crate) axes: Axes,
    pub(crate) series: Vec<LogLogSeries>,
}

/// Per width (ascending): (n, mean of log, sd of log) over the positive values.
pub(crate) fn log_stats(s: &LogLogSeries) -> Vec<(f64, f64, f64)> {
    let mut out: Vec<(f64, f64, f64)> = s
        .widths
        .iter()
        .zip(&s.values)
        .filter(|(n, _)| n.is_finite() && **n > 0.0)
        .filter_map(|(&n, vals)| {
            let logs: Vec<f64> = vals
                .iter()
                .filter(|v| v.is_finite() && **v > 0.0)
                .map(|v| v.ln())
                .collect();
            if logs.is_empty() {
                return None;
            }
            let m = logs.iter().sum::<f64>() / logs.len() as f64;
            let sd = if logs.len() > 1 {
                (logs.iter().map(|l| (l - m).powi(2)).sum::<f64>() / (logs.len() - 1) as f64).sqrt()
            } else {
                0.0
            };
            Some((n, m, sd))
        })
        .collect();
    out.sort_by(|a, b| a.0.total_cmp(&b.0));
    out
}

impl Draw for LogLog {
    fn draw<DB: DrawingBackend>(&self, area: &Area<DB>) -> anyhow::Result<()>
    where
        DB::ErrorType: 'static,
    {
        let stats: Vec<Vec<(f64, f64, f64)>> = self.series.iter().map(log_stats).collect();
        let xs = self.series.iter().flat_map(|s| s.widths.iter().copied());
        let x = Axis::fit(xs, Scale::Log, 0.05);
        let ys = self
            .series
            .iter()
            .flat_map(|s| s.values.iter().flatten().copied())
            .chain(
                stats
                    .iter()
                    .flatten()
                    .flat_map(|&(_, m, sd)| [(m - sd).exp(), (m + sd).exp()]),
            )
            .chain(
                self.series
                    .iter()
                    .flat_map(|s| s.fits.iter().flat_map(|f| [f.at(f.from), f.at(f.to)])),
            );
        let y = Axis::fit(ys, Scale::Log, 0.06);
        let y_px = y_area_px(longest_tick(&y));
        let mut ch = chart(area, &self.axes.title, x.clone(), y.clone(), y_px, false)?;
        mesh(&mut ch, &self.axes.x_label, &self.axes.y_label)?;
        let mut occupied = Vec::new();
        let (mut entries, mut chars) = (0, 1);
        // Bands first, under everything.
        for (i, st) in stats.iter().enumerate() {
            if st.len() < 2 {
                continue;
            }
            let mut poly: Vec<(f64, f64)> =
                st.iter().map(|&(n, m, sd)| (n, (m + sd).exp())).collect();
            poly.extend(st.iter().rev().map(|&(n, m, sd)| (n, (m - sd).exp())));
            ch.draw_series(std::iter::once(Polygon::new(
                poly,
                color(i).mix(0.16).filled(),
            )))?;
        }
        for (i, (s, st)) in self.series.iter().zip(&stats).enumerate() {
            let col = color(i);
            let pts: Vec<(f64, f64)> = s
                .widths
                .iter()
                .zip(&s.values)
                .flat_map(|(&n, v)| v.iter().map(move |&v| (n, v)))
                .filter(|&(n, v)| x.contains(n) && y.contains(v))
                .collect();
            trace(&x, &y, &pts, false, &mut occupied);
            ch.draw_series(
                pts.iter()
                    .map(|&p| Circle::new(p, 2, col.mix(0.45).filled())),
            )?;
            let means: Vec<(f64, f64)> = st.iter().map(|&(n, m, _)| (n, m.exp())).collect();
            trace(&x, &y, &means, true, &mut occupied);
            for w in st.windows(2) {
                // Band edges as thin lines, for legibility on white.
                for sign in [-1.0, 1.0] {
                    occupied.push((x.norm(w[0].0), y.norm((w[0].1 + sign * w[0].2).exp())));
                }
            }
            ch.draw_series(means.iter().map(|&p| Circle::new(p, 6, col.filled())))?
                .label(format!("{} (mean ± 1 sd)", s.label))
                .legend(dot_legend(col));
            entries += 1;
            chars = chars.max(s.label.chars().count() + 15);
            for (k, f) in s.fits.iter().enumerate() {
                let (a, b) = (f.from.max(x.lo), f.to.min(x.hi));
                let line = vec![(a, f.at(a)), (b, f.at(b))];
                trace(&x, &y, &line, true, &mut occupied);
                let shade = if k == 0 { col } else { darker(col) };
                if k == 0 {
                    ch.draw_series(LineSeries::new(line, shade.stroke_width(3)))?
                        .label(f.label.as_str())
                        .legend(line_legend(shade));
                } else {
                    ch.draw_series(DashedLineSeries::new(line, 10, 6, shade.stroke_width(3)))?
                        .label(f.label.as_str())
                        .legend(dashed_legend(shade));
                }
                entries += 1;
                chars = chars.max(f.label.chars().count());
            }
        }
        if entries > 0 {
            draw_legend(&mut ch, legend_position(&occupied, entries, chars))?;
        }
        Ok(())
    }
}

pub(crate) fn darker(c: RGBColor) -> RGBColor {
    RGBColor(
        (c.0 as f64 * 0.6) as u8,
        (c.1 as f64 * 0.6) as u8,
        (c.2 as f64 * 0.6) as u8,
    )
}

/// Log–log plot of metrics against width (SPEC §8): every repetition as a small point, the
/// geometric mean per width as a large point with a band of ±1 sd of log(value), and each
/// series' fitted lines (the first solid, the others dashed and darker). Both axes are log;
/// `axes.x_scale`/`y_scale` are ignored.
pub fn loglog_fit(
    dir: &Path,
    name: &str,
    axes: &Axes,
    series: &[LogLogSeries],
) -> anyhow::Result<PathBuf> {
    render(
        dir,
        name,
        &LogLog {
            axes: axes.clone(),
            series: series.to_vec(),
        },
    )
}
