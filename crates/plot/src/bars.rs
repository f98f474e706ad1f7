//! Bar charts, histograms and box plots.

use crate::axis::*;
use crate::render::*;
use crate::style::*;
use crate::types::*;
use plotters::prelude::*;
use plotters::style::text_anchor::{HPos, Pos, VPos};
use std::path::{Path, PathBuf};

// ---------------------------------------------------------------------------------------------
// Bar chart.

pub(crate) struct Bars {
    pub(crate) title: String,
    pub(crate) value_label: String,
    pub(crate) bars: Vec<(String, f64)>,
}

impl Draw for Bars {
    fn draw<DB: DrawingBackend>(&self, area: &Area<DB>) -> anyhow::Result<()>
    where
        DB::ErrorType: 'static,
    {
        let n = self.bars.len();
        // The first bar on top: category position n−1−i.
        let labels: Vec<String> = self.bars.iter().rev().map(|(l, _)| l.clone()).collect();
        let chars = labels.iter().map(|l| l.chars().count()).max().unwrap_or(1);
        let y = Axis::categorical(labels);
        let values = self.bars.iter().map(|b| b.1).chain([0.0]);
        let mut x = Axis::fit(values, Scale::Linear, 0.06);
        // Bars grow from 0: no padding on the zero side.
        let (lo, hi) = min_max(self.bars.iter().map(|b| b.1)).unwrap_or((0.0, 1.0));
        if lo >= 0.0 {
            x.lo = 0.0;
        }
        if hi <= 0.0 {
            x.hi = 0.0;
        }
        let mut ch = chart(area, &self.title, x.clone(), y, y_area_px(chars), false)?;
        ch.configure_mesh()
            .x_desc(self.value_label.as_str())
            .axis_desc_style(font(DESC_PX))
            .label_style(font(LABEL_PX))
            .x_labels(9)
            .disable_y_mesh()
            .bold_line_style(RGBColor(215, 215, 215))
            .light_line_style(RGBColor(242, 242, 242))
            .axis_style(RGBColor(60, 60, 60))
            .draw()?;
        let half = if n > 30 { 0.42 } else { 0.34 };
        ch.draw_series(
            self.bars
                .iter()
                .enumerate()
                .filter(|(_, b)| b.1.is_finite())
                .map(|(i, (_, v))| {
                    let p = (n - 1 - i) as f64;
                    Rectangle::new(
                        [(0.0, p - half), (*v, p + half)],
                        color(0).mix(0.85).filled(),
                    )
                }),
        )?;
        // Value labels at the end of each bar (inside when the bar reaches the axis end).
        let small = font(if n > 25 { 12 } else { 15 });
        for (i, (_, v)) in self.bars.iter().enumerate() {
            let p = (n - 1 - i) as f64;
            let text = if v.is_finite() {
                fmt_value(*v)
            } else {
                "n/a".into()
            };
            let v = if v.is_finite() { *v } else { 0.0 };
            let at_end = x.norm(v) > 0.85;
            let (dx, anchor) = if (v >= 0.0) != at_end {
                (6, HPos::Left)
            } else {
                (-6, HPos::Right)
            };
            // Inside the bar (at the axis end) in white, outside in near-black.
            let ink = if at_end { WHITE } else { RGBColor(30, 30, 30) };
            let style = small
                .clone()
                .pos(Pos::new(anchor, VPos::Center))
                .color(&ink);
            ch.draw_series(std::iter::once(
                EmptyElement::at((v, p)) + Text::new(text, (dx, 0), style),
            ))?;
        }
        Ok(())
    }
}

/// A value with four significant digits (`0.03125`, `1.235e-5`).
pub fn fmt_value(v: f64) -> String {
    if v == 0.0 || !v.is_finite() {
        return format!("{v}");
    }
    let a = v.abs();
    if (1e-3..1e5).contains(&a) {
        let decimals = (3 - a.log10().floor() as i32).max(0) as usize;
        format!("{v:.decimals$}")
    } else {
        format!("{v:.3e}")
    }
}

/// Horizontal bar chart: one bar per `(label, value)` pair, the first on top. `order` sorts the
/// pairs — each label stays with its own value. Non-finite values are shown as `n/a`.
pub fn bar_chart(
    dir: &Path,
    name: &str,
    title: &str,
    value_label: &str,
    bars: &[(String, f64)],
    order: BarOrder,
) -> anyhow::Result<PathBuf> {
    let mut bars = bars.to_vec();
    let key = |v: f64| if v.is_nan() { f64::NEG_INFINITY } else { v };
    match order {
        BarOrder::AsGiven => {}
        BarOrder::Descending => bars.sort_by(|a, b| key(b.1).total_cmp(&key(a.1))),
        BarOrder::Ascending => bars.sort_by(|a, b| key(a.1).total_cmp(&key(b.1))),
    }
    render(
        dir,
        name,
        &Bars {
            title: title.into(),
            value_label: value_label.into(),
            bars,
        },
    )
}

// ---------------------------------------------------------------------------------------------
// Histogram.

pub(crate) struct Hist {
    pub(crate) axes: Axes,
    pub(crate) groups: Vec<Group>,
    pub(crate) bins: usize,
}

impl Draw for Hist {
    fn draw<DB: DrawingBackend>(&self, area: &Area<DB>) -> anyhow::Result<()>
    where
        DB::ErrorType: 'static,
    {
        let log = self.axes.x_scale == Scale::Log;
        let ok = |v: &f64| v.is_finite() && (!log || *v > 0.0);
        let t = |v: f64| if log { v.log10() } else { v };
        let inv = |v: f64| if log { 10f64.powf(v) } else { v };
        let (lo, hi) = min_max(
            self.groups
                .iter()
                .flat_map(|g| g.values.iter().copied())
                .filter(ok),
        )
        .map(|(a, b)| (t(a), t(b)))
        .unwrap_or((0.0, 1.0));
        let (lo, hi) = if hi - lo < 1e-12 {
            (lo - 0.5, hi + 0.5)
        } else {
            (lo, hi)
        };
        let bins = self.bins.max(1);
        let width = (hi - lo) / bins as f64;
        let counts: Vec<Vec<usize>> = self
            .groups
            .iter()
            .map(|g| {
                let mut c = vec![0usize; bins];
                for v in g.values.iter().copied().filter(ok) {
                    let k = (((t(v) - lo) / width) as usize).min(bins - 1);
                    c[k] += 1;
                }
                c
            })
            .collect();
        let max = counts.iter().flatten().copied().max().unwrap_or(1).max(1) as f64;
        let x = Axis::fit([inv(lo), inv(hi)].into_iter(), self.axes.x_scale, 0.03);
        let y = if self.axes.y_scale == Scale::Log {
            Axis::fit([0.8, max].into_iter(), Scale::Log, 0.05)
        } else {
            Axis::new(0.0, max * 1.08, false)
        };
        let y_px = y_area_px(longest_tick(&y));
        let mut ch = chart(area, &self.axes.title, x.clone(), y.clone(), y_px, false)?;
        mesh(&mut ch, &self.axes.x_label, &self.axes.y_label)?;
        let base = if y.log { y.lo } else { 0.0 };
        let mut occupied = Vec::new();
        let alpha = if self.groups.len() > 1 { 0.45 } else { 0.75 };
        for (gi, (g, c)) in self.groups.iter().zip(&counts).enumerate() {
            let col = color(gi);
            let corners: Vec<[(f64, f64); 2]> = c
                .iter()
                .enumerate()
                .filter(|(_, &k)| k > 0)
                .map(|(b, &k)| {
                    let (x0, x1) = (inv(lo + b as f64 * width), inv(lo + (b + 1) as f64 * width));
                    occupied.push((x.norm(0.5 * (x0 + x1)), y.norm(k as f64)));
                    [(x0, base), (x1, k as f64)]
                })
                .collect();
            ch.draw_series(
                corners
                    .iter()
                    .map(|&r| Rectangle::new(r, col.mix(alpha).filled())),
            )?
            .label(g.label.as_str())
            .legend(box_legend(col));
            ch.draw_series(
                corners
                    .iter()
                    .map(|&r| Rectangle::new(r, col.stroke_width(1))),
            )?;
        }
        if self.groups.len() > 1 || !self.groups.iter().all(|g| g.label.is_empty()) {
            let chars = self
                .groups
                .iter()
                .map(|g| g.label.chars().count())
                .max()
                .unwrap_or(1);
            draw_legend(
                &mut ch,
                legend_position(&occupied, self.groups.len(), chars),
            )?;
        }
        Ok(())
    }
}

/// Histogram of each group on common bins (`bins` of them; log-spaced when `axes.x_scale` is
/// [`Scale::Log`]), overlaid with transparency. The y axis counts values.
pub fn histogram(
    dir: &Path,
    name: &str,
    axes: &Axes,
    groups: &[Group],
    bins: usize,
) -> anyhow::Result<PathBuf> {
    render(
        dir,
        name,
        &Hist {
            axes: axes.clone(),
            groups: groups.to_vec(),
            bins,
        },
    )
}

// ---------------------------------------------------------------------------------------------
// Box plots.

/// Quantile by linear interpolation (type 7) of sorted values.
pub(crate) fn quantile(sorted: &[f64], q: f64) -> f64 {
    let h = (sorted.len() - 1) as f64 * q;
    let (i, f) = (h.floor() as usize, h - h.floor());
    if i + 1 < sorted.len() {
        sorted[i] + f * (sorted[i + 1] - sorted[i])
    } else {
        sorted[i]
    }
}

pub(crate) struct Boxes {
    pub(crate) axes: Axes,
    pub(crate) groups: Vec<Group>,
}

impl Draw for Boxes {
    fn draw<DB: DrawingBackend>(&self, area: &Area<DB>) -> anyhow::Result<()>
    where
        DB::ErrorType: 'static,
    {
        let log = self.axes.y_scale == Scale::Log;
        let x = Axis::categorical(self.groups.iter().map(|g| g.label.clone()).collect());
        let y = Axis::fit(
            self.groups.iter().flat_map(|g| g.values.iter().copied()),
            self.axes.y_scale,
            0.06,
        );
        let y_px = y_area_px(longest_tick(&y));
        let mut ch = chart(area, &self.axes.title, x, y.clone(), y_px, false)?;
        ch.configure_mesh()
            .x_desc(self.axes.x_label.as_str())
            .y_desc(self.axes.y_label.as_str())
            .axis_desc_style(font(DESC_PX))
            .label_style(font(LABEL_PX))
            .y_labels(8)
            .disable_x_mesh()
            .bold_line_style(RGBColor(215, 215, 215))
            .light_line_style(RGBColor(242, 242, 242))
            .axis_style(RGBColor(60, 60, 60))
            .draw()?;
        for (i, g) in self.groups.iter().enumerate() {
            let mut v: Vec<f64> = g
                .values
                .iter()
                .copied()
                .filter(|v| v.is_finite() && (!log || *v > 0.0))
                .collect();
            if v.is_empty() {
                continue;
            }
            v.sort_by(f64::total_cmp);
            let (q1, med, q3) = (quantile(&v, 0.25), quantile(&v, 0.5), quantile(&v, 0.75));
            let iqr = q3 - q1;
            let lo_fence = q1 - 1.5 * iqr;
            let hi_fence = q3 + 1.5 * iqr;
            let wlo = v.iter().copied().find(|&a| a >= lo_fence).unwrap_or(q1);
            let whi = v
                .iter()
                .rev()
                .copied()
                .find(|&a| a <= hi_fence)
                .unwrap_or(q3);
            let p = i as f64;
            let col = color(i);
            let w = 0.3;
            ch.draw_series([
                Rectangle::new([(p - w, q1), (p + w, q3)], col.mix(0.35).filled()),
                Rectangle::new([(p - w, q1), (p + w, q3)], col.stroke_width(2)),
            ])?;
            ch.draw_series([
                PathElement::new(vec![(p - w, med), (p + w, med)], BLACK.stroke_width(3)),
                PathElement::new(vec![(p, q3), (p, whi)], col.stroke_width(2)),
                PathElement::new(vec![(p, q1), (p, wlo)], col.stroke_width(2)),
                PathElement::new(
                    vec![(p - w / 2.0, whi), (p + w / 2.0, whi)],
                    col.stroke_width(2),
                ),
                PathElement::new(
                    vec![(p - w / 2.0, wlo), (p + w / 2.0, wlo)],
                    col.stroke_width(2),
                ),
            ])?;
            ch.draw_series(
                v.iter()
                    .filter(|&&a| a < wlo || a > whi)
                    .map(|&a| Circle::new((p, a), 3, col.stroke_width(1))),
            )?;
        }
        Ok(())
    }
}

/// Box plots, one per group: box from the first to the third quartile, a black median line,
/// whiskers to the furthest values within 1.5 IQR, outliers as circles. `axes.x_label` names
/// the grouping; `axes.y_scale` may be log.
pub fn box_plots(dir: &Path, name: &str, axes: &Axes, groups: &[Group]) -> anyhow::Result<PathBuf> {
    render(
        dir,
        name,
        &Boxes {
            axes: axes.clone(),
            groups: groups.to_vec(),
        },
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn quantiles_interpolate() {
        let v = [1.0, 2.0, 3.0, 4.0];
        assert_eq!(quantile(&v, 0.5), 2.5);
        assert_eq!(quantile(&v, 0.0), 1.0);
        assert_eq!(quantile(&v, 1.0), 4.0);
    }
}
