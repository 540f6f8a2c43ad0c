//! Charts of a run, drawn server-side with plotters: SVG (text left to the viewer's fonts), or
//! PNG (text rasterised with the DejaVu Sans font compiled into the binary, so nothing is read
//! from the system). Pure: the callers hand over plain data; nothing here sees HTTP or SQL.
//!
//! Colours: Paul Tol's "muted" qualitative palette (nine colours, distinguishable with the
//! common colour-vision deficiencies) for segments, a segment keeping its colour in every chart
//! of a run ([`segment_colours`]); ColorBrewer's BrBG (diverging, brown below the mean, teal above) for lift and its blue ramp
//! for counts.

mod calibration;
mod elbow;
mod scatter;
mod segments;
mod transitions;

pub use calibration::{CalibrationChart, CalibrationPoint};
pub use elbow::{ElbowChart, ElbowPoint};
pub use scatter::ScatterChart;
pub use segments::{SegmentBar, SegmentsChart};
pub use transitions::TransitionChart;

use plotters::coord::Shift;
use plotters::prelude::*;
use plotters::style::text_anchor::{HPos, Pos, VPos};
use plotters::style::{FontDesc, FontFamily, FontStyle, register_font};
use std::sync::Once;

/// Text sizes, in plotters' units. Its SVG backend writes `font-size` as the size / 1.24 (the
/// same em the PNG rasteriser draws), so 15 is 12.1 px: the smallest text any chart has, as
/// drawn and as the dashboard shows it (at its own size).
const SMALL: f64 = 15.0;
/// Legend entries, segment names, axis titles: 12.9 px.
const TEXT: f64 = 16.0;
/// Chart titles: 19.4 px.
const TITLE: f64 = 24.0;

/// The font PNG text is drawn with and SVG text is measured with (DejaVu Sans; its licence is
/// `assets/fonts/DejaVuSans.LICENSE`).
static FONT: &[u8] = include_bytes!("../../assets/fonts/DejaVuSans.ttf");
const FAMILY: &str = "sans-serif";

/// Tol's muted palette.
pub const PALETTE: [RGBColor; 9] = [
    RGBColor(0x33, 0x22, 0x88), // indigo
    RGBColor(0x88, 0xCC, 0xEE), // cyan
    RGBColor(0x44, 0xAA, 0x99), // teal
    RGBColor(0x11, 0x77, 0x33), // green
    RGBColor(0x99, 0x99, 0x33), // olive
    RGBColor(0xDD, 0xCC, 0x77), // sand
    RGBColor(0xCC, 0x66, 0x77), // rose
    RGBColor(0x88, 0x22, 0x55), // wine
    RGBColor(0xAA, 0x44, 0x99), // purple
];
/// DBSCAN's noise.
pub const NOISE: RGBColor = RGBColor(0xBB, 0xBB, 0xBB);
const INK: RGBColor = RGBColor(0x22, 0x22, 0x22);
const MUTED_INK: RGBColor = RGBColor(0x66, 0x66, 0x66);

/// Palette positions for a run's segments, by stable id: segment `id` gets colour
/// `(id − 1) mod 9`, so a segment that keeps its id across retrains keeps its colour too;
/// when two of the run's ids would share a colour, the run's own order decides instead.
pub fn segment_colours(stable_ids: &[i32]) -> Vec<usize> {
    let n = PALETTE.len() as i32;
    let by_id: Vec<usize> = stable_ids
        .iter()
        .map(|id| (id - 1).rem_euclid(n) as usize)
        .collect();
    let distinct = by_id
        .iter()
        .enumerate()
        .all(|(i, c)| !by_id[..i].contains(c));
    if distinct {
        by_id
    } else {
        (0..stable_ids.len()).map(|i| i % PALETTE.len()).collect()
    }
}

/// A segment as charts name and colour it.
#[derive(Debug, Clone, PartialEq)]
pub struct SegmentKey {
    /// The stable id (`None`: noise).
    pub id: Option<i32>,
    pub label: String,
    /// Position in [`PALETTE`] (ignored for noise).
    pub colour: usize,
}

impl SegmentKey {
    pub fn rgb(&self) -> RGBColor {
        match self.id {
            Some(_) => PALETTE[self.colour % PALETTE.len()],
            None => NOISE,
        }
    }

    /// "#3 High income · High spend".
    pub fn name(&self) -> String {
        match self.id {
            Some(id) => format!("#{id} {}", self.label),
            None => self.label.clone(),
        }
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Format {
    Svg,
    Png,
}

impl Format {
    pub fn content_type(self) -> &'static str {
        match self {
            Format::Svg => "image/svg+xml",
            Format::Png => "image/png",
        }
    }
}

#[derive(Debug, thiserror::Error)]
#[error("drawing the chart failed: {0}")]
pub struct ChartError(String);

type Drawn = Result<(), Box<dyn std::error::Error>>;

/// Something drawable on any plotters backend.
pub trait Chart {
    /// Width and height in pixels.
    fn size(&self) -> (u32, u32);
    fn draw<DB: DrawingBackend>(&self, root: &DrawingArea<DB, Shift>) -> Drawn
    where
        DB::ErrorType: 'static;
}

/// Registers the bundled font (once): PNG text is drawn with it, text is measured with it.
fn fonts() {
    static FONTS: Once = Once::new();
    FONTS.call_once(|| {
        if register_font(FAMILY, FontStyle::Normal, FONT).is_err() {
            panic!("the bundled font does not parse");
        }
    });
}

/// The chart as an SVG document or a PNG image.
pub fn render(chart: &impl Chart, format: Format) -> Result<Vec<u8>, ChartError> {
    fonts();
    let (w, h) = chart.size();
    let failed = |e: Box<dyn std::error::Error>| ChartError(e.to_string());
    match format {
        Format::Svg => {
            let mut svg = String::new();
            {
                let root = SVGBackend::with_string(&mut svg, (w, h)).into_drawing_area();
                root.fill(&WHITE).map_err(|e| ChartError(e.to_string()))?;
                chart.draw(&root).map_err(failed)?;
                root.present().map_err(|e| ChartError(e.to_string()))?;
            }
            Ok(svg.into_bytes())
        }
        Format::Png => {
            let mut pixels = vec![0u8; (w * h * 3) as usize];
            {
                let root = BitMapBackend::with_buffer(&mut pixels, (w, h)).into_drawing_area();
                root.fill(&WHITE).map_err(|e| ChartError(e.to_string()))?;
                chart.draw(&root).map_err(failed)?;
                root.present().map_err(|e| ChartError(e.to_string()))?;
            }
            encode_png(&pixels, w, h)
        }
    }
}

fn encode_png(rgb: &[u8], w: u32, h: u32) -> Result<Vec<u8>, ChartError> {
    let mut out = Vec::new();
    let mut encoder = png::Encoder::new(&mut out, w, h);
    encoder.set_color(png::ColorType::Rgb);
    encoder.set_depth(png::BitDepth::Eight);
    let mut writer = encoder
        .write_header()
        .map_err(|e| ChartError(e.to_string()))?;
    writer
        .write_image_data(rgb)
        .map_err(|e| ChartError(e.to_string()))?;
    writer.finish().map_err(|e| ChartError(e.to_string()))?;
    Ok(out)
}

/// Text in the chart font, anchored at `at` as `h`/`v` say.
fn text<DB: DrawingBackend>(
    area: &DrawingArea<DB, Shift>,
    s: &str,
    at: (i32, i32),
    size: f64,
    colour: &RGBColor,
    anchor: (HPos, VPos),
) -> Drawn
where
    DB::ErrorType: 'static,
{
    let style = TextStyle::from((FAMILY, size).into_font())
        .color(colour)
        .pos(Pos::new(anchor.0, anchor.1));
    area.draw(&Text::new(s, at, style))?;
    Ok(())
}

/// The title line and, under it, a grey subtitle; returns the area below them.
fn heading<DB: DrawingBackend>(
    root: &DrawingArea<DB, Shift>,
    title: &str,
    subtitle: Option<&str>,
) -> Result<DrawingArea<DB, Shift>, Box<dyn std::error::Error>>
where
    DB::ErrorType: 'static,
{
    let (w, _) = root.dim_in_pixel();
    text(
        root,
        title,
        (w as i32 / 2, 8),
        TITLE,
        &INK,
        (HPos::Center, VPos::Top),
    )?;
    let mut top = 42;
    if let Some(s) = subtitle {
        text(
            root,
            s,
            (w as i32 / 2, 40),
            TEXT,
            &MUTED_INK,
            (HPos::Center, VPos::Top),
        )?;
        top = 66;
    }
    Ok(root.split_vertically(top).1)
}

/// A legend panel: a swatch and a name per entry, a line each.
fn legend<DB: DrawingBackend>(area: &DrawingArea<DB, Shift>, entries: &[(String, Swatch)]) -> Drawn
where
    DB::ErrorType: 'static,
{
    let line = 26;
    for (i, (name, swatch)) in entries.iter().enumerate() {
        let y = 8 + i as i32 * line + line / 2;
        match swatch {
            Swatch::Square(c) => {
                area.draw(&Rectangle::new([(6, y - 6), (18, y + 6)], c.filled()))?;
            }
            Swatch::Cross => {
                area.draw(&Cross::new((12, y), 5, INK.stroke_width(2)))?;
            }
            Swatch::Line(c) => {
                area.draw(&PathElement::new(vec![(2, y), (22, y)], c.stroke_width(3)))?;
            }
        }
        text(area, name, (28, y), TEXT, &INK, (HPos::Left, VPos::Center))?;
    }
    Ok(())
}

/// Width of a column of segment names (a swatch and the name).
fn names_width<'a>(keys: impl Iterator<Item = &'a SegmentKey>) -> i32 {
    let widest = keys
        .map(|k| text_width(&clip(&k.name(), 64), TEXT))
        .max()
        .unwrap_or(0);
    (widest as i32 + 30).clamp(140, 460)
}

/// A segment's swatch and name, vertically centred on `mid`.
fn segment_name<DB: DrawingBackend>(
    area: &DrawingArea<DB, Shift>,
    key: &SegmentKey,
    left: i32,
    mid: i32,
) -> Drawn
where
    DB::ErrorType: 'static,
{
    area.draw(&Rectangle::new(
        [(left, mid - 6), (left + 12, mid + 6)],
        key.rgb().filled(),
    ))?;
    text(
        area,
        &clip(&key.name(), 64),
        (left + 18, mid),
        TEXT,
        &INK,
        (HPos::Left, VPos::Center),
    )
}

/// A heat-map cell: filled with `colour`, `value` centred in black or white.
fn heat_cell<DB: DrawingBackend>(
    area: &DrawingArea<DB, Shift>,
    (x, y): (i32, i32),
    (w, h): (i32, i32),
    colour: RGBColor,
    value: &str,
) -> Drawn
where
    DB::ErrorType: 'static,
{
    area.draw(&Rectangle::new(
        [(x + 1, y + 1), (x + w - 1, y + h - 1)],
        colour.filled(),
    ))?;
    text(
        area,
        value,
        (x + w / 2, y + h / 2),
        SMALL,
        &ink_on(colour),
        (HPos::Center, VPos::Center),
    )
}

#[derive(Debug, Clone, Copy)]
enum Swatch {
    Square(RGBColor),
    Cross,
    Line(RGBColor),
}

/// Width in pixels `s` takes at `size` px in the bundled font (viewers' sans-serif fonts are
/// about as wide).
fn text_width(s: &str, size: f64) -> u32 {
    fonts();
    FontDesc::new(FontFamily::Name(FAMILY), size, FontStyle::Normal)
        .box_size(s)
        .map(|(w, _)| w)
        .unwrap_or_else(|_| (s.chars().count() as f64 * size * 0.62).ceil() as u32)
}

/// `s` cut to `max` characters with an ellipsis.
fn clip(s: &str, max: usize) -> String {
    if s.chars().count() <= max {
        s.to_owned()
    } else {
        let mut out: String = s.chars().take(max.saturating_sub(1)).collect();
        out.push('…');
        out
    }
}

/// Interpolates between two colours (t in 0..=1).
fn blend(a: RGBColor, b: RGBColor, t: f64) -> RGBColor {
    let t = t.clamp(0.0, 1.0);
    let mix = |x: u8, y: u8| (x as f64 + (y as f64 - x as f64) * t).round() as u8;
    RGBColor(mix(a.0, b.0), mix(a.1, b.1), mix(a.2, b.2))
}

/// Black or white, whichever reads better on `background`.
fn ink_on(background: RGBColor) -> RGBColor {
    let luminance =
        0.299 * background.0 as f64 + 0.587 * background.1 as f64 + 0.114 * background.2 as f64;
    if luminance > 140.0 { INK } else { WHITE }
}

/// A count with thousands separators: 1,234,567.
pub fn count(n: u64) -> String {
    let digits = n.to_string();
    let mut out = String::new();
    for (i, c) in digits.chars().enumerate() {
        if i > 0 && (digits.len() - i).is_multiple_of(3) {
            out.push(',');
        }
        out.push(c);
    }
    out
}

/// Numbers the way the charts print them: 1,234 / 12.3 / 0.123.
pub fn number(v: f64) -> String {
    if !v.is_finite() {
        return "–".to_owned();
    }
    let a = v.abs();
    if a >= 1000.0 {
        let sign = if v < 0.0 { "-" } else { "" };
        format!("{sign}{}", count(a.round() as u64))
    } else if a >= 100.0 {
        format!("{v:.0}")
    } else if a >= 10.0 {
        format!("{v:.1}")
    } else {
        format!("{v:.2}")
    }
}

/// An axis tick: as [`number`], without a fraction when the tick is whole (20, not 20.0).
pub fn tick(v: f64) -> String {
    if v.is_finite() && v.fract().abs() < 1e-9 && v.abs() < 1e15 {
        let whole = v.round();
        if whole.abs() >= 1000.0 {
            number(whole)
        } else {
            format!("{}", whole as i64)
        }
    } else {
        number(v)
    }
}

/// An axis range around `values` with 5% air (one unit when they are all equal).
fn span(values: impl Iterator<Item = f64>) -> std::ops::Range<f64> {
    let (lo, hi) = values
        .filter(|v| v.is_finite())
        .fold((f64::INFINITY, f64::NEG_INFINITY), |(lo, hi), v| {
            (lo.min(v), hi.max(v))
        });
    if !lo.is_finite() {
        return 0.0..1.0;
    }
    if hi - lo < 1e-12 {
        return lo - 1.0..hi + 1.0;
    }
    let air = (hi - lo) * 0.05;
    lo - air..hi + air
}

#[cfg(test)]
mod tests;
