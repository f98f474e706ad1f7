//! Plot helpers on `plotters` for the figures of SPEC §5, §8 and §10.
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
//! * [`bars_under_curves`] — adjacent bars on given edges (a histogram of known heights, a
//!   Riemann sum) under one or more curves.
//!
//! Axes are described by [`Axes`] (title, axis labels, [`Scale`]s). Log axes drop
//! non-positive values; every axis drops non-finite values.

use crate::fit::{fit_loglog, LogLogFit};
use anyhow::{anyhow, Context as _};
use plotters::coord::ranged1d::{KeyPointHint, NoDefaultFormatting, Ranged, ValueFormatter};
use plotters::coord::Shift;
use plotters::prelude::*;
use plotters::style::text_anchor::{HPos, Pos, VPos};
use std::ops::Range;
use std::path::{Path, PathBuf};

/// Figure size in pixels (PNG) and user units (SVG).
const SIZE: (u32, u32) = (1000, 680);
/// The font family every text is set in (registered from the embedded DejaVu Sans).
const FONT: &str = "sans-serif";
const TITLE_PX: u32 = 26;
const DESC_PX: u32 = 21;
const LABEL_PX: u32 = 17;
const LEGEND_PX: u32 = 17;

/// Tableau 10: distinguishable, colour-blind-friendly enough.
const PALETTE: [RGBColor; 10] = [
    RGBColor(31, 119, 180),
    RGBColor(255, 127, 14),
    RGBColor(44, 160, 44),
    RGBColor(214, 39, 40),
    RGBColor(148, 103, 189),
    RGBColor(140, 86, 75),
    RGBColor(227, 119, 194),
    RGBColor(127, 127, 127),
    RGBColor(188, 189, 34),
    RGBColor(23, 190, 207),
];

/// The `i`-th colour of the palette (cycling).
pub fn color(i: usize) -> RGBColor {
    PALETTE[i % PALETTE.len()]
}

/// Registers the embedded font once.
fn ensure_font() -> anyhow::Result<()> {
    static FONT_BYTES: &[u8] = include_bytes!("../assets/DejaVuSans.ttf");
    static OK: std::sync::OnceLock<bool> = std::sync::OnceLock::new();
    let ok = *OK.get_or_init(|| {
        plotters::style::register_font(FONT, FontStyle::Normal, FONT_BYTES).is_ok()
    });
    if ok {
        Ok(())
    } else {
        Err(anyhow!("the embedded DejaVu Sans font does not parse"))
    }
}

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
    fn points(&self) -> impl Iterator<Item = (f64, f64)> + '_ {
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

/// Order of the bars of a [`bar_chart`] (top to bottom).
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
    /// The line of a [`LogLogFit`] over `[from, to]`, labelled `name: slope a ± se`.
    pub fn from_fit(name: &str, fit: &LogLogFit, from: f64, to: f64) -> Self {
        let se = if fit.slope_stderr.is_finite() {
            format!(" ± {:.3}", fit.slope_stderr)
        } else {
            String::new()
        };
        Self {
            label: format!("{name}: slope {}{se}", signed(fit.slope, 3)),
            slope: fit.slope,
            intercept: fit.intercept,
            from,
            to,
        }
    }
    fn at(&self, n: f64) -> f64 {
        (self.intercept + self.slope * n.ln()).exp()
    }
}

/// One metric against width for [`loglog_fit`]: the repetitions at each width, drawn as
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
    /// A series with the least-squares fit over all widths ([`fit_loglog`]).
    pub fn with_fit(label: impl Into<String>, widths: Vec<f64>, values: Vec<Vec<f64>>) -> Self {
        let label = label.into();
        let fit = fit_loglog(&widths, &values);
        let (lo, hi) = min_max(widths.iter().copied()).unwrap_or((1.0, 1.0));
        let line = FitLine::from_fit(&format!("{label} fit"), &fit, lo, hi);
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

fn min_max(values: impl Iterator<Item = f64>) -> Option<(f64, f64)> {
    values
        .filter(|v| v.is_finite())
        .fold(None, |acc, v| match acc {
            None => Some((v, v)),
            Some((a, b)) => Some((a.min(v), b.max(v))),
        })
}

// ---------------------------------------------------------------------------------------------
// The axis type: linear, log or categorical, with our own ticks and tick labels.

#[derive(Debug, Clone)]
struct Axis {
    lo: f64,
    hi: f64,
    log: bool,
    /// Labels of the integer positions 0, 1, … (categorical axis).
    categories: Option<Vec<String>>,
}

impl Axis {
    /// An axis covering `values` (non-finite, and for log non-positive, values dropped),
    /// padded by `pad` of the span on each side.
    fn fit(values: impl Iterator<Item = f64>, scale: Scale, pad: f64) -> Self {
        let log = scale == Scale::Log;
        let vals = values.filter(|v| v.is_finite() && (!log || *v > 0.0));
        let (lo, hi) = min_max(vals).unwrap_or(if log { (0.1, 10.0) } else { (0.0, 1.0) });
        if log {
            let (mut a, mut b) = (lo.log10(), hi.log10());
            if b - a < 1e-9 {
                a -= 0.3;
                b += 0.3;
            }
            let p = (b - a) * pad;
            Self::new(10f64.powf(a - p), 10f64.powf(b + p), true)
        } else {
            let (mut a, mut b) = (lo, hi);
            if b - a < 1e-12 * a.abs().max(1e-300) || b == a {
                let d = if a == 0.0 { 1.0 } else { 0.1 * a.abs() };
                a -= d;
                b += d;
            }
            let p = (b - a) * pad;
            Self::new(a - p, b + p, false)
        }
    }
    fn new(lo: f64, hi: f64, log: bool) -> Self {
        Self {
            lo,
            hi,
            log,
            categories: None,
        }
    }
    /// A categorical axis: positions 0..n labelled by `labels`.
    fn categorical(labels: Vec<String>) -> Self {
        let n = labels.len().max(1) as f64;
        Self {
            lo: -0.6,
            hi: n - 0.4,
            log: false,
            categories: Some(labels),
        }
    }
    /// Position of `v` on the axis in [0, 1] (NaN for a value the axis cannot show).
    fn norm(&self, v: f64) -> f64 {
        if self.log {
            if v <= 0.0 {
                return f64::NAN;
            }
            (v.ln() - self.lo.ln()) / (self.hi.ln() - self.lo.ln())
        } else {
            (v - self.lo) / (self.hi - self.lo)
        }
    }
    fn contains(&self, v: f64) -> bool {
        v.is_finite() && (!self.log || v > 0.0)
    }
    /// Nice linear ticks, at most `max` of them (light: five subdivisions each).
    fn linear_ticks(lo: f64, hi: f64, max: usize, light: bool) -> Vec<f64> {
        let max = max.max(2);
        let raw = (hi - lo) / max as f64;
        if raw.partial_cmp(&0.0) != Some(std::cmp::Ordering::Greater) {
            return vec![lo];
        }
        let mag = 10f64.powf(raw.log10().floor());
        let mut step = [1.0, 2.0, 5.0, 10.0]
            .iter()
            .map(|m| m * mag)
            .find(|s| *s >= raw * (1.0 - 1e-9))
            .unwrap_or(10.0 * mag);
        if light {
            step /= 5.0;
        }
        let first = (lo / step).ceil() as i64;
        let last = (hi / step).floor() as i64;
        (first..=last).map(|k| k as f64 * step).collect()
    }
    fn log_ticks(&self, max: usize, light: bool) -> Vec<f64> {
        let (a, b) = (self.lo.log10(), self.hi.log10());
        let within = |v: f64| v >= self.lo * (1.0 - 1e-9) && v <= self.hi * (1.0 + 1e-9);
        let with = |mantissas: &[f64]| -> Vec<f64> {
            let mut out = Vec::new();
            for k in (a.floor() as i32)..=(b.ceil() as i32) {
                for m in mantissas {
                    let v = m * 10f64.powi(k);
                    if within(v) {
                        out.push(v);
                    }
                }
            }
            out
        };
        let decades = with(&[1.0]);
        if light {
            let all = with(&[1.0, 2.0, 3.0, 4.0, 5.0, 6.0, 7.0, 8.0, 9.0]);
            return if all.len() <= max.max(1) * 10 {
                all
            } else {
                decades
            };
        }
        let max = max.max(2);
        if decades.len() >= 3 {
            let stride = decades.len().div_ceil(max);
            return decades
                .iter()
                .copied()
                .filter(|v| (v.log10().round() as i64).rem_euclid(stride as i64) == 0)
                .collect();
        }
        for mantissas in [
            &[1.0, 2.0, 5.0][..],
            &[1.0, 2.0, 3.0, 4.0, 5.0, 6.0, 7.0, 8.0, 9.0],
        ] {
            let t = with(mantissas);
            if t.len() >= 3 && t.len() <= max {
                return t;
            }
        }
        Self::linear_ticks(self.lo, self.hi, max.min(6), false)
    }
}

/// A tick label: plain decimals between 10⁻³ and 10⁵, otherwise m×10ᵏ.
fn tick_label(v: f64) -> String {
    if v == 0.0 {
        return "0".into();
    }
    let a = v.abs();
    if (1e-3..1e5).contains(&a) {
        let s = format!("{v:.10}");
        let s = s.trim_end_matches('0').trim_end_matches('.');
        return s.replace('-', "−");
    }
    let k = a.log10().floor() as i32;
    let m = v / 10f64.powi(k);
    let m = (m * 1000.0).round() / 1000.0;
    let exp: String = k
        .to_string()
        .chars()
        .map(|c| match c {
            '-' => '⁻',
            d => ['⁰', '¹', '²', '³', '⁴', '⁵', '⁶', '⁷', '⁸', '⁹']
                [d.to_digit(10).unwrap_or(0) as usize],
        })
        .collect();
    if (m - 1.0).abs() < 1e-9 {
        format!("10{exp}")
    } else if (m + 1.0).abs() < 1e-9 {
        format!("−10{exp}")
    } else {
        format!("{}×10{exp}", tick_label(m))
    }
}

impl Ranged for Axis {
    type FormatOption = NoDefaultFormatting;
    type ValueType = f64;

    fn map(&self, value: &f64, limit: (i32, i32)) -> i32 {
        let t = self.norm(*value);
        let t = if t.is_finite() {
            t.clamp(-10.0, 11.0)
        } else {
            -10.0
        };
        (limit.0 as f64 + t * (limit.1 - limit.0) as f64).round() as i32
    }

    fn key_points<H: KeyPointHint>(&self, hint: H) -> Vec<f64> {
        let light = hint.weight().allow_light_points();
        if let Some(c) = &self.categories {
            return if light {
                Vec::new()
            } else {
                (0..c.len()).map(|i| i as f64).collect()
            };
        }
        if self.log {
            self.log_ticks(hint.bold_points(), light)
        } else {
            Self::linear_ticks(self.lo, self.hi, hint.bold_points(), light)
        }
    }

    fn range(&self) -> Range<f64> {
        self.lo..self.hi
    }
}

impl ValueFormatter<f64> for Axis {
    fn format_ext(&self, value: &f64) -> String {
        match &self.categories {
            Some(c) => {
                let i = value.round();
                if (value - i).abs() < 1e-6 && i >= 0.0 && (i as usize) < c.len() {
                    c[i as usize].clone()
                } else {
                    String::new()
                }
            }
            None => tick_label(*value),
        }
    }
}

// ---------------------------------------------------------------------------------------------
// Rendering to SVG and PNG.

type Area<DB> = DrawingArea<DB, Shift>;
type Chart<'a, DB> = ChartContext<'a, DB, Cartesian2d<Axis, Axis>>;

/// Something drawable on any backend.
trait Draw {
    fn draw<DB: DrawingBackend>(&self, area: &Area<DB>) -> anyhow::Result<()>
    where
        DB::ErrorType: 'static;
}

/// Draws `plot` into `dir/NAME.svg` and `dir/NAME.png` (atomically); returns the PNG path.
fn render<P: Draw>(dir: &Path, name: &str, plot: &P) -> anyhow::Result<PathBuf> {
    ensure_font()?;
    std::fs::create_dir_all(dir)
        .with_context(|| format!("cannot create figure directory {}", dir.display()))?;
    let svg_path = dir.join(format!("{name}.svg"));
    let png_path = dir.join(format!("{name}.png"));
    let mut svg = String::new();
    {
        let area = SVGBackend::with_string(&mut svg, SIZE).into_drawing_area();
        area.fill(&WHITE)?;
        plot.draw(&area)
            .with_context(|| format!("cannot draw {}", svg_path.display()))?;
        area.present()?;
    }
    ftnn_model::io::write_atomic(&svg_path, svg.as_bytes())
        .with_context(|| format!("cannot write {}", svg_path.display()))?;
    // The bitmap backend picks the encoder from the extension: render to a hidden `.png`
    // beside the target, then rename it into place.
    let tmp = dir.join(format!(".{name}.{}.tmp.png", std::process::id()));
    let drawn = (|| -> anyhow::Result<()> {
        let area = BitMapBackend::new(&tmp, SIZE).into_drawing_area();
        area.fill(&WHITE)?;
        plot.draw(&area)?;
        area.present()?;
        Ok(())
    })();
    if let Err(e) = drawn.and_then(|()| Ok(std::fs::rename(&tmp, &png_path)?)) {
        let _ = std::fs::remove_file(&tmp);
        return Err(e.context(format!("cannot write {}", png_path.display())));
    }
    Ok(png_path)
}

fn font(px: u32) -> TextStyle<'static> {
    (FONT, px).into_font().into()
}

/// A chart with title, margins and label areas; `right` adds a right label area.
fn chart<'a, DB: DrawingBackend>(
    area: &'a Area<DB>,
    title: &str,
    x: Axis,
    y: Axis,
    y_label_px: u32,
    right: bool,
) -> anyhow::Result<Chart<'a, DB>>
where
    DB::ErrorType: 'static,
{
    let mut b = ChartBuilder::on(area);
    b.caption(title, font(TITLE_PX))
        .margin_top(12)
        .margin_left(16)
        .margin_right(if right { 16 } else { 30 })
        .margin_bottom(12)
        .x_label_area_size(66)
        .y_label_area_size(y_label_px);
    if right {
        b.right_y_label_area_size(y_label_px);
    }
    Ok(b.build_cartesian_2d(x, y)?)
}

/// Grid, ticks and axis descriptions.
fn mesh<DB: DrawingBackend>(
    chart: &mut Chart<'_, DB>,
    x_desc: &str,
    y_desc: &str,
) -> anyhow::Result<()>
where
    DB::ErrorType: 'static,
{
    chart
        .configure_mesh()
        .x_desc(x_desc)
        .y_desc(y_desc)
        .axis_desc_style(font(DESC_PX))
        .label_style(font(LABEL_PX))
        .x_labels(9)
        .y_labels(8)
        .bold_line_style(RGBColor(215, 215, 215))
        .light_line_style(RGBColor(242, 242, 242))
        .axis_style(RGBColor(60, 60, 60))
        .draw()?;
    Ok(())
}

/// Width of the y label area for tick labels of `chars` characters (plus the description).
fn y_area_px(chars: usize) -> u32 {
    (chars as u32 * (LABEL_PX * 6 / 10) + 48).clamp(80, 420)
}

/// The longest tick label of an axis (for sizing its label area).
fn longest_tick(axis: &Axis) -> usize {
    axis.key_points(BoldPointsHint(8))
        .iter()
        .map(|v| axis.format_ext(v).chars().count())
        .max()
        .unwrap_or(4)
}

struct BoldPointsHint(usize);
impl KeyPointHint for BoldPointsHint {
    fn max_num_points(&self) -> usize {
        self.0
    }
    fn weight(&self) -> plotters::coord::ranged1d::KeyPointWeight {
        plotters::coord::ranged1d::KeyPointWeight::Bold
    }
}

/// The legend corner covering the fewest of `points` (normalised to [0, 1]²), for a legend of
/// `entries` lines whose longest label has `chars` characters.
fn legend_position(points: &[(f64, f64)], entries: usize, chars: usize) -> SeriesLabelPosition {
    let w = ((chars as f64 * 9.5 + 70.0) / 820.0).min(0.9);
    let h = ((entries as f64 * 26.0 + 20.0) / 540.0).min(0.9);
    let corners = [
        (SeriesLabelPosition::UpperRight, 1.0 - w, 1.0, 1.0 - h, 1.0),
        (SeriesLabelPosition::UpperLeft, 0.0, w, 1.0 - h, 1.0),
        (SeriesLabelPosition::LowerRight, 1.0 - w, 1.0, 0.0, h),
        (SeriesLabelPosition::LowerLeft, 0.0, w, 0.0, h),
    ];
    let mut best = (usize::MAX, SeriesLabelPosition::UpperRight);
    for (pos, x0, x1, y0, y1) in corners {
        let n = points
            .iter()
            .filter(|(x, y)| {
                *x >= x0 - 0.03 && *x <= x1 + 0.03 && *y >= y0 - 0.03 && *y <= y1 + 0.03
            })
            .count();
        if n < best.0 {
            best = (n, pos);
        }
    }
    best.1
}

/// Points along the polyline through `pts` (normalised), dense enough for [`legend_position`].
fn trace(x: &Axis, y: &Axis, pts: &[(f64, f64)], line: bool, out: &mut Vec<(f64, f64)>) {
    let norm: Vec<(f64, f64)> = pts
        .iter()
        .map(|&(a, b)| (x.norm(a), y.norm(b)))
        .filter(|(a, b)| a.is_finite() && b.is_finite())
        .collect();
    out.extend(&norm);
    if line {
        for w in norm.windows(2) {
            for k in 1..20 {
                let t = k as f64 / 20.0;
                out.push((
                    w[0].0 + t * (w[1].0 - w[0].0),
                    w[0].1 + t * (w[1].1 - w[0].1),
                ));
            }
        }
    }
}

fn draw_legend<'a, DB: DrawingBackend + 'a>(
    chart: &mut Chart<'a, DB>,
    pos: SeriesLabelPosition,
) -> anyhow::Result<()>
where
    DB::ErrorType: 'static,
{
    chart
        .configure_series_labels()
        .position(pos)
        .margin(12)
        .legend_area_size(30)
        .label_font(font(LEGEND_PX))
        .background_style(WHITE.mix(0.88))
        .border_style(RGBColor(150, 150, 150))
        .draw()?;
    Ok(())
}

fn line_legend(c: RGBColor) -> impl Fn((i32, i32)) -> PathElement<(i32, i32)> {
    move |(x, y)| PathElement::new(vec![(x, y), (x + 24, y)], c.stroke_width(3))
}

fn dashed_legend(c: RGBColor) -> impl Fn((i32, i32)) -> PathElement<(i32, i32)> {
    move |(x, y)| PathElement::new(vec![(x, y), (x + 9, y)], c.stroke_width(3))
}

fn dot_legend(c: RGBColor) -> impl Fn((i32, i32)) -> Circle<(i32, i32), i32> {
    move |(x, y)| Circle::new((x + 12, y), 5, c.filled())
}

fn box_legend(c: RGBColor) -> impl Fn((i32, i32)) -> Rectangle<(i32, i32)> {
    move |(x, y)| Rectangle::new([(x + 2, y - 7), (x + 22, y + 7)], c.mix(0.5).filled())
}

// ---------------------------------------------------------------------------------------------
// Bar chart.

struct Bars {
    title: String,
    value_label: String,
    bars: Vec<(String, f64)>,
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

struct Hist {
    axes: Axes,
    groups: Vec<Group>,
    bins: usize,
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
fn quantile(sorted: &[f64], q: f64) -> f64 {
    let h = (sorted.len() - 1) as f64 * q;
    let (i, f) = (h.floor() as usize, h - h.floor());
    if i + 1 < sorted.len() {
        sorted[i] + f * (sorted[i + 1] - sorted[i])
    } else {
        sorted[i]
    }
}

struct Boxes {
    axes: Axes,
    groups: Vec<Group>,
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

// ---------------------------------------------------------------------------------------------
// Scatter and line plots.

struct Lines {
    axes: Axes,
    series: Vec<Series>,
    /// Draw lines (false: points only).
    lines: bool,
    identity: bool,
}

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
                ch.draw_series(LineSeries::new(pts.clone(), col.stroke_width(3)))?
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

struct LogLog {
    axes: Axes,
    series: Vec<LogLogSeries>,
}

/// Per width (ascending): (n, mean of log, sd of log) over the positive values.
fn log_stats(s: &LogLogSeries) -> Vec<(f64, f64, f64)> {
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

fn darker(c: RGBColor) -> RGBColor {
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

// ---------------------------------------------------------------------------------------------
// Twin-axis line plot.

struct Twin {
    axes: Axes,
    right_label: String,
    right_scale: Scale,
    left: Vec<Series>,
    right: Vec<Series>,
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

struct BarsCurves {
    axes: Axes,
    bars_label: String,
    edges: Vec<f64>,
    heights: Vec<f64>,
    curves: Vec<Series>,
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

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn tick_labels_are_plain_or_powers_of_ten() {
        assert_eq!(tick_label(0.30000000000000004), "0.3");
        assert_eq!(tick_label(1000.0), "1000");
        assert_eq!(tick_label(1e-4), "10⁻⁴");
        assert_eq!(tick_label(2e6), "2×10⁶");
        assert_eq!(tick_label(-0.5), "−0.5");
    }

    #[test]
    fn log_ticks_are_decades_or_finer() {
        let a = Axis::new(0.8, 12_000.0, true);
        assert_eq!(
            a.log_ticks(8, false),
            vec![1.0, 10.0, 100.0, 1000.0, 10_000.0]
        );
        let narrow = Axis::new(0.2, 0.35, true);
        let t = narrow.log_ticks(8, false);
        assert!(
            t.len() >= 2 && t.iter().all(|v| (0.2..=0.35).contains(v)),
            "{t:?}"
        );
        let wide = Axis::new(1e-12, 1.0, true);
        assert!(wide.log_ticks(5, false).len() <= 5);
    }

    #[test]
    fn quantiles_interpolate() {
        let v = [1.0, 2.0, 3.0, 4.0];
        assert_eq!(quantile(&v, 0.5), 2.5);
        assert_eq!(quantile(&v, 0.0), 1.0);
        assert_eq!(quantile(&v, 1.0), 4.0);
    }
}
