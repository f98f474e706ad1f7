//! Rendering to SVG and PNG: chart frames, meshes, legends.

use crate::axis::*;
use crate::style::*;
use anyhow::Context as _;
use plotters::coord::ranged1d::{KeyPointHint, Ranged, ValueFormatter};
use plotters::coord::Shift;
use plotters::prelude::*;
use std::path::{Path, PathBuf};

pub(crate) type Area<DB> = DrawingArea<DB, Shift>;
pub(crate) type Chart<'a, DB> = ChartContext<'a, DB, Cartesian2d<Axis, Axis>>;

/// Something drawable on any backend.
pub(crate) trait Draw {
    fn draw<DB: DrawingBackend>(&self, area: &Area<DB>) -> anyhow::Result<()>
    where
        DB::ErrorType: 'static;
}

/// Draws `plot` into `dir/NAME.svg` and `dir/NAME.png` (atomically); returns the PNG path.
pub(crate) fn render<P: Draw>(dir: &Path, name: &str, plot: &P) -> anyhow::Result<PathBuf> {
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
    write_atomic(&svg_path, svg.as_bytes())
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

pub(crate) fn font(px: u32) -> TextStyle<'static> {
    (FONT, px).into_font().into()
}

/// A chart with title, margins and label areas; `right` adds a right label area.
pub(crate) fn chart<'a, DB: DrawingBackend>(
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
pub(crate) fn mesh<DB: DrawingBackend>(
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
pub(crate) fn y_area_px(chars: usize) -> u32 {
    (chars as u32 * (LABEL_PX * 6 / 10) + 48).clamp(80, 420)
}

/// The longest tick label of an axis (for sizing its label area).
pub(crate) fn longest_tick(axis: &Axis) -> usize {
    axis.key_points(BoldPointsHint(8))
        .iter()
        .map(|v| axis.format_ext(v).chars().count())
        .max()
        .unwrap_or(4)
}

pub(crate) struct BoldPointsHint(usize);
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
pub(crate) fn legend_position(
    points: &[(f64, f64)],
    entries: usize,
    chars: usize,
) -> SeriesLabelPosition {
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
pub(crate) fn trace(x: &Axis, y: &Axis, pts: &[(f64, f64)], line: bool, out: &mut Vec<(f64, f64)>) {
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

pub(crate) fn draw_legend<'a, DB: DrawingBackend + 'a>(
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

pub(crate) fn line_legend(c: RGBColor) -> impl Fn((i32, i32)) -> PathElement<(i32, i32)> {
    move |(x, y)| PathElement::new(vec![(x, y), (x + 24, y)], c.stroke_width(3))
}

pub(crate) fn dashed_legend(c: RGBColor) -> impl Fn((i32, i32)) -> PathElement<(i32, i32)> {
    move |(x, y)| PathElement::new(vec![(x, y), (x + 9, y)], c.stroke_width(3))
}

pub(crate) fn dot_legend(c: RGBColor) -> impl Fn((i32, i32)) -> Circle<(i32, i32), i32> {
    move |(x, y)| Circle::new((x + 12, y), 5, c.filled())
}

pub(crate) fn box_legend(c: RGBColor) -> impl Fn((i32, i32)) -> Rectangle<(i32, i32)> {
    move |(x, y)| Rectangle::new([(x + 2, y - 7), (x + 22, y + 7)], c.mix(0.5).filled())
}

/// Writes `bytes` to `path` through a temporary file in the same directory, synced and renamed
/// into place, so that a reader never sees a partial file.
pub(crate) fn write_atomic(path: &Path, bytes: &[u8]) -> std::io::Result<()> {
    use std::io::Write as _;
    let dir = match path.parent() {
        Some(d) if !d.as_os_str().is_empty() => d.to_path_buf(),
        _ => PathBuf::from("."),
    };
    let name = path
        .file_name()
        .ok_or_else(|| std::io::Error::other("not a file path"))?;
    let tmp = dir.join(format!(
        ".{}.{}.tmp",
        name.to_string_lossy(),
        std::process::id()
    ));
    let result = (|| {
        let mut f = std::fs::File::create(&tmp)?;
        f.write_all(bytes)?;
        f.sync_all()?;
        std::fs::rename(&tmp, path)
    })();
    if result.is_err() {
        let _ = std::fs::remove_file(&tmp);
    }
    result
}
