//! Figure size, fonts (the embedded DejaVu Sans) and the colour palette.

use anyhow::anyhow;
use plotters::prelude::*;

/// Figure size in pixels (PNG) and user units (SVG).
pub(crate) const SIZE: (u32, u32) = (1000, 680);
/// The font family every text is set in (registered from the embedded DejaVu Sans).
pub(crate) const FONT: &str = "sans-serif";
pub(crate) const TITLE_PX: u32 = 26;
pub(crate) const DESC_PX: u32 = 21;
pub(crate) const LABEL_PX: u32 = 17;
pub(crate) const LEGEND_PX: u32 = 17;

/// Tableau 10: distinguishable, colour-blind-friendly enough.
pub(crate) const PALETTE: [RGBColor; 10] = [
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
pub(crate) fn ensure_font() -> anyhow::Result<()> {
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
