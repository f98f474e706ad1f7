//! Twin-axis line plots and bars under curves.

use crate::axis::*;
use crate::render::*;
use crate::style::*;
use crate::types::*;
use plotters::prelude::*;
use std::path::{Path, PathBuf};

// ---------------------------------------------------------------------------------------------
// Twin-axis line plot.

pub(crate) struct Twin {
    pub(crate) axes: Axes,
    pub(crate) right_label: String,
    pub(crate) right_scale: Scale,
    pub(crate) left: Vec<Series>,
    pub(crate) right: Vec<Series>,
}

impl Draw for Twin {
    fn draw<DB: DrawingBackend>(&self, area: &Area<DB>) -> anyhow::Result<()>
    where
        DB::ErrorType: 'static,
    {
        let all = self.left.iter().chain(&self.right);
        let x = Axis::fit(
            all.flat_map(|s| s.xs.iter().copied()),
            self.axes.x_scale,
            0.04,
        );
        let yl = Axis::fit(
            self.left.iter().flat_map(|s| s.ys.iter().copied()),
            self.axes.y_scale,
            0.06,
        );
        let yr = Axis::fit(
            self.right.iter().flat_map(|s| s.ys.iter().copied()),
            self.right_scale,
            0.06,
        );
        let px = y_area_px(longest_tick(&yl).max(longest_tick(&yr)));
        let ch = chart(area, &self.axes.title, x.clone(), yl.clone(), px, true)?;
        let mut ch = ch.set_secondary_coord(x.clone(), yr.clone());
        mesh(&mut ch, &self.axes.x_label, &self.axes.y_label)?;
        ch.configure_secondary_axes()
            .y_desc(self.right_label.as_str())
            .axis_desc_style(font(DESC_PX))
            .label_style(font(LABEL_PX))
            .y_labels(8)
            .axis_style(RGBColor(60, 60, 60))
            .draw()?;
        let mut occupied = Vec::new();
        let mut chars = 1;
        for (i, s) in self.left.iter().enumerate() {
            let col = color(i);
            let pts: Vec<(f64, f64)> = s
                .points()
                .filter(|&(a, b)| x.contains(a) && yl.contains(b))
                .collect();
            trace(&x, &yl, &pts, true, &mut occupied);
            ch.draw_series(LineSeries::new(pts.clone(), col.stroke_width(3)))?
                .label(format!("{} (left)", s.label))
                .legend(line_legend(col));
            if pts.len() <= 60 {
                ch.draw_series(pts.iter().map(|&p| Circle::new(p, 4, col.filled())))?;
            }
            chars = chars.max(s.label.chars().count() + 7);
        }
        for (j, s) in self.right.iter().enumerate() {
            let col = color(self.left.len() + j);
            let pts: Vec<(f64, f64)> = s
                .points()
                .filter(|&(a, b)| x.contains(a) && yr.contains(b))
                .collect();
            trace(&x, &yr, &pts, true, &mut occupied);
            ch.draw_secondary_series(DashedLineSeries::new(
                pts.clone(),
                10,
                6,
                col.stroke_width(3),
            ))?
            .label(format!("{} (right)", s.label))
            .legend(dashed_legend(col));
            if pts.len() <= 60 {
                ch.draw_secondary_series(
                    pts.iter().map(|&p| TriangleMarker::new(p, 6, col.filled())),
                )?;
            }
            chars = chars.max(s.label.chars().count() + 8);
        }
        ch.configure_series_labels()
            .position(legend_position(
                &occupied,
                self.left.len() + self.right.len(),
                chars,
            ))
            .margin(12)
            .legend_area_size(30)
            .label_font(font(LEGEND_PX))
            .background_style(WHITE.mix(0.88))
            .border_style(RGBColor(150, 150, 150))
            .draw()?;
        Ok(())
    }
}

/// Line plot with two y axes: `left` series (solid, circles) against `axes.y_label` /
/// `axes.y_scale` on the left, `right` series (dashed, triangles) against `right_label` /
/// `right_scale` on the right. The legend marks each series `(left)` or `(right)`.
pub fn twin_axis(
    dir: &Path,
    name: &str,
    axes: &Axes,
    right_label: &str,
    right_scale: Scale,
    left: &[Series],
    right: &[Series],
) -> anyhow::Result<PathBuf> {
    render(
        dir,
        name,
        &Twin {
            axes: axes.clone(),
            right_label: right_label.into(),
            right_scale,
            left: left.to_vec(),
            right: right.to_vec(),
        },
    )
}

// ---------------------------------------------------------------------------------------------
// Bars under curves.

pub(crate) struct BarsCurves {
    pub(crate) axes: Axes,
    pub(crate) bars_label: String,
    pub(crate) edges: Vec<f64>,
    pub(crate) heights: Vec<f64>,
    pub(crate) curves: Vec<Series>,
}

impl Draw for BarsCurves {
    fn draw<DB: DrawingBackend>(&self, area: &Area<DB>) -> anyhow::Result<()>
    where
        DB::ErrorType: 'static,
    {
        let xs = self
            .edges
            .iter()
            .copied()
            .chain(self.curves.iter().flat_map(|s| s.xs.iter().copied()));
        let x = Axis::fit(xs, self.axes.x_scale, 0.02);
        let log_y = self.axes.y_scale == Scale::Log;
        let ys = self
            .heights
            .iter()
            .copied()
            .chain(self.curves.iter().flat_map(|s| s.ys.iter().copied()))
            .chain((!log_y).then_some(0.0));
        let mut y = Axis::fit(ys, self.axes.y_scale, 0.05);
        if !log_y && y.lo < 0.0 && self.heights.iter().all(|&h| h >= 0.0) {
            y.lo = 0.0;
        }
        let y_px = y_area_px(longest_tick(&y));
        let mut ch = chart(area, &self.axes.title, x.clone(), y.clone(), y_px, false)?;
        mesh(&mut ch, &self.axes.x_label, &self.axes.y_label)?;
        let base = if log_y { y.lo } else { 0.0 };
        let col = color(0);
        let rects: Vec<[(f64, f64); 2]> = self
            .edges
            .windows(2)
            .zip(&self.heights)
            .filter(|(e, h)| x.contains(e[0]) && x.contains(e[1]) && y.contains(**h))
            .map(|(e, &h)| [(e[0], base), (e[1], h)])
            .collect();
        let mut occupied = Vec::new();
        for r in &rects {
            for k in 0..=4 {
                let t = r[0].0 + (r[1].0 - r[0].0) * k as f64 / 4.0;
                for j in 0..=4 {
                    let v = r[0].1 + (r[1].1 - r[0].1) * j as f64 / 4.0;
                    occupied.push((x.norm(t), y.norm(v)));
                }
            }
        }
        ch.draw_series(
            rects
                .iter()
                .map(|&r| Rectangle::new(r, col.mix(0.35).filled())),
        )?
        .label(self.bars_label.as_str())
        .legend(box_legend(col));
        ch.draw_series(
            rects
                .iter()
                .map(|&r| Rectangle::new(r, col.stroke_width(1))),
        )?;
        let mut chars = self.bars_label.chars().count();
        for (i, s) in self.curves.iter().enumerate() {
            let c = color(i + 1);
            let pts: Vec<(f64, f64)> = s
                .points()
                .filter(|&(a, b)| x.contains(a) && y.contains(b))
                .collect();
            trace(&x, &y, &pts, true, &mut occupied);
            ch.draw_series(LineSeries::new(pts, c.stroke_width(3)))?
                .label(s.label.as_str())
                .legend(line_legend(c));
            chars = chars.max(s.label.chars().count());
        }
        draw_legend(
            &mut ch,
            legend_position(&occupied, 1 + self.curves.len(), chars),
        )?;
        Ok(())
    }
}

/// Adjacent bars `[edges[k], edges[k+1]] × [0, heights[k]]` (e.g. the terms of a Riemann sum,
/// or a histogram with known heights), filled and outlined in one colour and labelled
/// `bars_label`, under the `curves` drawn as lines. `edges` has one more entry than `heights`;
/// bars that the axes cannot show (non-finite, or non-positive on a log axis) are left out.
pub fn bars_under_curves(
    dir: &Path,
    name: &str,
    axes: &Axes,
    bars_label: &str,
    edges: &[f64],
    heights: &[f64],
    curves: &[Series],
) -> anyhow::Result<PathBuf> {
    anyhow::ensure!(
        edges.len() == heights.len() + 1,
        "bars_under_curves: {} edges for {} heights (need one more edge than heights)",
        edges.len(),
        heights.len()
    );
    render(
        dir,
        name,
        &BarsCurves {
            axes: axes.clone(),
            bars_label: bars_label.into(),
            edges: edges.to_vec(),
            heights: heights.to_vec(),
            curves: curves.to_vec(),
        },
    )
}
