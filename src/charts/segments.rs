//! Segment sizes (bars) beside a profile heat map: segments × features, each cell the
//! segment's lift in standard deviations.

use super::*;
use plotters::coord::Shift;
use plotters::prelude::*;
use plotters::style::text_anchor::{HPos, VPos};

pub struct SegmentBar {
    pub key: SegmentKey,
    pub size: u64,
    pub share: f64,
    /// Per feature, in standard deviations.
    pub lift: Vec<f64>,
}

pub struct SegmentsChart {
    pub title: String,
    pub subtitle: Option<String>,
    pub features: Vec<String>,
    pub segments: Vec<SegmentBar>,
}

const ROW: i32 = 34;
const BAR: i32 = 220;
const HEADER: i32 = 50;
/// Lift at which a cell is fully coloured.
const FULL: f64 = 2.0;
const LOW: RGBColor = RGBColor(0x8C, 0x51, 0x0A);
const HIGH: RGBColor = RGBColor(0x01, 0x66, 0x5E);
const MID: RGBColor = RGBColor(0xF5, 0xF5, 0xF5);

/// ColorBrewer's BrBG: brown below the population, teal above. Neither end reads as good or
/// bad news (red above average made high recency, a lapsed segment, look alarming or hot).
fn lift_colour(lift: f64) -> RGBColor {
    if lift >= 0.0 {
        blend(MID, HIGH, lift / FULL)
    } else {
        blend(MID, LOW, -lift / FULL)
    }
}

impl SegmentsChart {
    fn label_width(&self) -> i32 {
        names_width(self.segments.iter().map(|s| &s.key))
    }

    fn cell_width(&self) -> i32 {
        let widest = self
            .features
            .iter()
            .map(|f| text_width(&clip(f, 22), SMALL))
            .max()
            .unwrap_or(0);
        (widest as i32 + 12).clamp(64, 150)
    }
}

impl Chart for SegmentsChart {
    fn size(&self) -> (u32, u32) {
        let w = 20
            + self.label_width()
            + BAR
            + 110
            + self.cell_width() * self.features.len() as i32
            + 20;
        let h = 66 + HEADER + ROW * self.segments.len() as i32 + 76;
        (w.max(560) as u32, h as u32)
    }

    fn draw<DB: DrawingBackend>(&self, root: &DrawingArea<DB, Shift>) -> Drawn
    where
        DB::ErrorType: 'static,
    {
        let area = heading(root, &self.title, self.subtitle.as_deref())?;
        let left = 20;
        let bars = left + self.label_width();
        let cells = bars + BAR + 110;
        let cell = self.cell_width();
        text(
            &area,
            "customers",
            (bars, HEADER - 10),
            SMALL,
            &MUTED_INK,
            (HPos::Left, VPos::Bottom),
        )?;
        for (j, f) in self.features.iter().enumerate() {
            text(
                &area,
                &clip(f, 22),
                (cells + j as i32 * cell + cell / 2, HEADER - 10),
                SMALL,
                &INK,
                (HPos::Center, VPos::Bottom),
            )?;
        }
        let largest = self
            .segments
            .iter()
            .map(|s| s.size)
            .max()
            .unwrap_or(1)
            .max(1);
        for (i, s) in self.segments.iter().enumerate() {
            let y = HEADER + i as i32 * ROW;
            let mid = y + ROW / 2;
            segment_name(&area, &s.key, left, mid)?;
            let length = ((s.size as f64 / largest as f64) * BAR as f64).round() as i32;
            area.draw(&Rectangle::new(
                [(bars, y + 5), (bars + length.max(1), y + ROW - 5)],
                s.key.rgb().filled(),
            ))?;
            text(
                &area,
                &format!("{} ({:.1}%)", count(s.size), s.share * 100.0),
                (bars + length + 6, mid),
                SMALL,
                &INK,
                (HPos::Left, VPos::Center),
            )?;
            for (j, &lift) in s.lift.iter().enumerate() {
                let at = (cells + j as i32 * cell, y);
                heat_cell(
                    &area,
                    at,
                    (cell, ROW),
                    lift_colour(lift),
                    &format!("{lift:+.2}"),
                )?;
            }
        }
        // The colour scale of the heat map.
        let y = HEADER + self.segments.len() as i32 * ROW + 22;
        let width = (cell * self.features.len() as i32).max(200);
        let steps = 40;
        for step in 0..steps {
            let lift = -FULL + 2.0 * FULL * (step as f64 + 0.5) / steps as f64;
            let x0 = cells + width * step / steps;
            let x1 = cells + width * (step + 1) / steps;
            area.draw(&Rectangle::new(
                [(x0, y), (x1, y + 10)],
                lift_colour(lift).filled(),
            ))?;
        }
        for (at, label, anchor) in [
            (0, "−2 sd: below", HPos::Left),
            (width / 2, "mean", HPos::Center),
            (width, "above: +2 sd", HPos::Right),
        ] {
            text(
                &area,
                label,
                (cells + at, y + 14),
                SMALL,
                &MUTED_INK,
                (anchor, VPos::Top),
            )?;
        }
        text(
            &area,
            "lift: segment mean − population mean, in standard deviations",
            (left, y + 5),
            SMALL,
            &MUTED_INK,
            (HPos::Left, VPos::Center),
        )?;
        Ok(())
    }
}
