//! Lines with filled bands (mean ± 1 sd over repetitions), on one or two y axes.

use crate::axis::*;
use crate::render::*;
use crate::style::*;
use crate::types::*;
use plotters::prelude::*;
use std::path::{Path, PathBuf};

/// One line with a filled band around it: `mid[i]` at `xs[i]`, the band from `lo[i]` to
/// `hi[i]`. Drawn solid, or dashed when `dashed`; in palette colour `color` when set.
#[derive(Debug, Clone, PartialEq)]
pub struct Band {
    /// Legend entry.
    pub label: String,
    /// x values.
    pub xs: Vec<f64>,
    /// The line.
    pub mid: Vec<f64>,
    /// Lower edge of the band.
    pub lo: Vec<f64>,
    /// Upper edge of the band.
    pub hi: Vec<f64>,
    /// Dashed line (e.g. a training-set curve beside the test-set one).
    pub dashed: bool,
    /// Palette index of the colour ([`crate::color`]); by position when `None`.
    pub color: Option<usize>,
}

impl Band {
    /// The mean of `values[i]` (the repetitions at `xs[i]`) with a band of ± 1 sample sd.
    pub fn mean_sd(label: impl Into<String>, xs: &[f64], values: &[Vec<f64>]) -> Self {
        let stat = |v: &Vec<f64>| {
            let n = v.len() as f64;
            let m = v.iter().sum::<f64>() / n;
            let sd = if v.len() > 1 {
                (v.iter().map(|x| (x - m).powi(2)).sum::<f64>() / (n - 1.0)).sqrt()
            } else {
                0.0
            };
            (m, sd)
        };
        let st: Vec<(f64, f64)> = values.iter().map(stat).collect();
        Self {
            label: label.into(),
            xs: xs.to_vec(),
            mid: st.iter().map(|s| s.0).collect(),
            lo: st.iter().map(|s| s.0 - s.1).collect(),
            hi: st.iter().map(|s| s.0 + s.1).collect(),
            dashed: false,
            color: None,
        }
    }
    /// The same band drawn dashed.
    pub fn dashed(mut self) -> Self {
        self.dashed = true;
        self
    }
    /// The same band in palette colour `i`.
    pub fn color(mut self, i: usize) -> Self {
        self.color = Some(i);
        self
    }
}

struct Bands {
    axes: Axes,
    left: Vec<Band>,
    right: Option<(String, Scale, Vec<Band>)>,
}

/// The band's points (x, lo, mid, hi) that an axis pair can show, in x order.
fn band_points(b: &Band, x: &Axis, y: &Axis) -> Vec<(f64, f64, f64, f64)> {
    let mut pts: Vec<(f64, f64, f64, f64)> = (0..b.xs.len().min(b.mid.len()))
        .map(|i| {
            let (lo, hi) = (b.lo.get(i).copied(), b.hi.get(i).copied());
            let m = b.mid[i];
            (b.xs[i], lo.unwrap_or(m), m, hi.unwrap_or(m))
        })
        .filter(|&(a, _, m, _)| x.contains(a) && y.contains(m))
        .map(|(a, l, m, h)| (a, l.clamp(y.lo, y.hi), m, h.clamp(y.lo, y.hi)))
        .collect();
    pts.sort_by(|p, q| p.0.total_cmp(&q.0));
    pts
}

fn fit_y<'a>(bands: impl Iterator<Item = &'a Band> + Clone, scale: Scale) -> Axis {
    Axis::fit(
        bands.flat_map(|b| b.lo.iter().chain(&b.mid).chain(&b.hi).copied()),
        scale,
        0.06,
    )
}

impl Draw for Bands {
    fn draw<DB: DrawingBackend>(&self, area: &Area<DB>) -> anyhow::Result<()>
    where
        DB::ErrorType: 'static,
    {
        let right: &[Band] = self.right.as_ref().map_or(&[], |r| &r.2);
        let x = Axis::fit(
            self.left
                .iter()
                .chain(right)
                .flat_map(|b| b.xs.iter().copied()),
            self.axes.x_scale,
            0.04,
        );
        let yl = fit_y(self.left.iter(), self.axes.y_scale);
        let yr = self
            .right
            .as_ref()
            .map(|(_, scale, bands)| fit_y(bands.iter(), *scale));
        let ticks = longest_tick(&yl).max(yr.as_ref().map_or(0, longest_tick));
        let px = y_area_px(ticks);
        let ch = chart(
            area,
            &self.axes.title,
            x.clone(),
            yl.clone(),
            px,
            yr.is_some(),
        )?;
        let yr_axis = yr.clone().unwrap_or_else(|| yl.clone());
        let mut ch = ch.set_secondary_coord(x.clone(), yr_axis.clone());
        mesh(&mut ch, &self.axes.x_label, &self.axes.y_label)?;
        if let Some((label, _, _)) = &self.right {
            ch.configure_secondary_axes()
                .y_desc(label.as_str())
                .axis_desc_style(font(DESC_PX))
                .label_style(font(LABEL_PX))
                .y_labels(8)
                .axis_style(RGBColor(60, 60, 60))
                .draw()?;
        }
        let sides: Vec<(&Band, bool, usize)> = self
            .left
            .iter()
            .map(|b| (b, false))
            .chain(right.iter().map(|b| (b, true)))
            .enumerate()
            .map(|(i, (b, r))| (b, r, b.color.unwrap_or(i)))
            .collect();
        // Bands first, under every line.
        for &(b, on_right, c) in &sides {
            let y = if on_right { &yr_axis } else { &yl };
            let pts = band_points(b, &x, y);
            if pts.len() < 2 {
                continue;
            }
            let mut poly: Vec<(f64, f64)> = pts.iter().map(|p| (p.0, p.3)).collect();
            poly.extend(pts.iter().rev().map(|p| (p.0, p.1)));
            let fill = Polygon::new(
                poly,
                color(c).mix(if b.dashed { 0.12 } else { 0.2 }).filled(),
            );
            if on_right {
                ch.draw_secondary_series(std::iter::once(fill))?;
            } else {
                ch.draw_series(std::iter::once(fill))?;
            }
        }
        let mut occupied = Vec::new();
        let mut chars = 1;
        for &(b, on_right, c) in &sides {
            let y = if on_right { &yr_axis } else { &yl };
            let pts: Vec<(f64, f64)> = band_points(b, &x, y).iter().map(|p| (p.0, p.2)).collect();
            trace(&x, y, &pts, true, &mut occupied);
            for p in band_points(b, &x, y) {
                occupied.push((x.norm(p.0), y.norm(p.1)));
                occupied.push((x.norm(p.0), y.norm(p.3)));
            }
            let col = color(c);
            let label = match (&self.right, on_right) {
                (None, _) => b.label.clone(),
                (Some(_), false) => format!("{} (left)", b.label),
                (Some(_), true) => format!("{} (right)", b.label),
            };
            chars = chars.max(label.chars().count());
            let style = col.stroke_width(3);
            let dots = pts.iter().map(move |&p| Circle::new(p, 4, col.filled()));
            match (b.dashed, on_right) {
                (false, false) => {
                    ch.draw_series(LineSeries::new(pts.clone(), style))?
                        .label(label)
                        .legend(line_legend(col));
                    ch.draw_series(dots)?;
                }
                (true, false) => {
                    ch.draw_series(DashedLineSeries::new(pts.clone(), 10, 6, style))?
                        .label(label)
                        .legend(dashed_legend(col));
                    ch.draw_series(dots)?;
                }
                (false, true) => {
                    ch.draw_secondary_series(LineSeries::new(pts.clone(), style))?
                        .label(label)
                        .legend(line_legend(col));
                    ch.draw_secondary_series(dots)?;
                }
                (true, true) => {
                    ch.draw_secondary_series(DashedLineSeries::new(pts.clone(), 10, 6, style))?
                        .label(label)
                        .legend(dashed_legend(col));
                    ch.draw_secondary_series(dots)?;
                }
            }
        }
        if !sides.is_empty() {
            ch.configure_series_labels()
                .position(legend_position(&occupied, sides.len(), chars))
                .margin(12)
                .legend_area_size(30)
                .label_font(font(LEGEND_PX))
                .background_style(WHITE.mix(0.88))
                .border_style(RGBColor(150, 150, 150))
                .draw()?;
        }
        Ok(())
    }
}

/// Lines with filled bands (e.g. mean ± 1 sd over networks) on one y axis; bands are drawn
/// first, translucent, so that overlapping bands stay readable.
pub fn band_plot(dir: &Path, name: &str, axes: &Axes, bands: &[Band]) -> anyhow::Result<PathBuf> {
    render(
        dir,
        name,
        &Bands {
            axes: axes.clone(),
            left: bands.to_vec(),
            right: None,
        },
    )
}

/// [`band_plot`] with a second y axis: `left` against `axes.y_label` / `axes.y_scale`,
/// `right` against `right_label` / `right_scale`; the legend marks each `(left)` or `(right)`.
pub fn twin_band_plot(
    dir: &Path,
    name: &str,
    axes: &Axes,
    right_label: &str,
    right_scale: Scale,
    left: &[Band],
    right: &[Band],
) -> anyhow::Result<PathBuf> {
    render(
        dir,
        name,
        &Bands {
            axes: axes.clone(),
            left: left.to_vec(),
            right: Some((right_label.into(), right_scale, right.to_vec())),
        },
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn mean_sd_band() {
        let b = Band::mean_sd("x", &[0.0, 1.0], &[vec![1.0, 3.0], vec![2.0]]);
        assert_eq!(b.mid, vec![2.0, 2.0]);
        let s = 2f64.sqrt();
        assert_eq!(b.lo, vec![2.0 - s, 2.0]);
        assert_eq!(b.hi, vec![2.0 + s, 2.0]);
    }

    #[test]
    fn draws_one_and_two_axes() {
        let dir = std::env::temp_dir().join(format!("ftnn-plot-band-{}", std::process::id()));
        let a = Band::mean_sd(
            "a",
            &[0.0, 1.0, 2.0],
            &[vec![1.0, 2.0], vec![2.0, 3.0], vec![1.5]],
        );
        let b = a.clone().dashed().color(3);
        let axes = Axes::new("t", "x", "y");
        assert!(band_plot(&dir, "one", &axes, &[a.clone(), b.clone()])
            .unwrap()
            .exists());
        let r = Band::mean_sd("r", &[0.0, 2.0], &[vec![1e-3, 2e-3], vec![1e-4]]);
        let p = twin_band_plot(&dir, "two", &axes.log_x(), "r", Scale::Log, &[a, b], &[r]);
        // x = 0 has no place on a log axis: the points there are left out, the rest drawn.
        assert!(p.unwrap().exists());
        let _ = std::fs::remove_dir_all(&dir);
    }
}
