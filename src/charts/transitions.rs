//! How customers moved between two runs: the transition matrix as a heat map.

use super::*;
use plotters::coord::Shift;
use plotters::prelude::*;
use plotters::style::text_anchor::{HPos, VPos};

pub struct TransitionChart {
    pub title: String,
    pub subtitle: Option<String>,
    /// "run 3 (2026-11-27 10:00)".
    pub from_name: String,
    pub to_name: String,
    /// Segments of the first run (rows) and of the second (columns).
    pub from: Vec<SegmentKey>,
    pub to: Vec<SegmentKey>,
    /// Customers in row segment then column segment.
    pub counts: Vec<Vec<u64>>,
}

const CELL_H: i32 = 38;
const EMPTY: RGBColor = RGBColor(0xFF, 0xFF, 0xFF);
const FULL: RGBColor = RGBColor(0x21, 0x66, 0xAC);

impl TransitionChart {
    fn label_width(&self) -> i32 {
        names_width(self.from.iter())
    }

    fn cell_width(&self) -> i32 {
        let widest = self
            .to
            .iter()
            .map(|s| text_width(&clip(&s.name(), 18), SMALL))
            .max()
            .unwrap_or(0);
        (widest as i32 + 10).clamp(70, 140)
    }
}

/// Under the matrix: how to read it.
const NOTE: &str = "customers in a segment of the first run (row) and of the second (column); \
                    the diagonal of matched ids stayed";

impl Chart for TransitionChart {
    fn size(&self) -> (u32, u32) {
        let w = 20 + self.label_width() + self.cell_width() * self.to.len() as i32 + 30;
        let h = 66 + 76 + CELL_H * self.from.len() as i32 + 50;
        let note = text_width(NOTE, SMALL) as i32 + 40;
        (w.max(560).max(note) as u32, h as u32)
    }

    fn draw<DB: DrawingBackend>(&self, root: &DrawingArea<DB, Shift>) -> Drawn
    where
        DB::ErrorType: 'static,
    {
        let area = heading(root, &self.title, self.subtitle.as_deref())?;
        let left = 20;
        let grid = left + self.label_width();
        let cell = self.cell_width();
        let top = 70;
        text(
            &area,
            &format!("to: {}", self.to_name),
            (grid, 4),
            TEXT,
            &MUTED_INK,
            (HPos::Left, VPos::Top),
        )?;
        text(
            &area,
            &format!("from: {}", self.from_name),
            (left, top - 8),
            TEXT,
            &MUTED_INK,
            (HPos::Left, VPos::Bottom),
        )?;
        for (j, s) in self.to.iter().enumerate() {
            let x = grid + j as i32 * cell;
            area.draw(&Rectangle::new(
                [(x + cell / 2 - 6, 26), (x + cell / 2 + 6, 38)],
                s.rgb().filled(),
            ))?;
            text(
                &area,
                &clip(&s.name(), 18),
                (x + cell / 2, top - 8),
                SMALL,
                &INK,
                (HPos::Center, VPos::Bottom),
            )?;
        }
        let largest = self
            .counts
            .iter()
            .flatten()
            .copied()
            .max()
            .unwrap_or(1)
            .max(1);
        for (i, s) in self.from.iter().enumerate() {
            let y = top + i as i32 * CELL_H;
            let mid = y + CELL_H / 2;
            segment_name(&area, s, left, mid)?;
            for (j, &count) in self.counts[i].iter().enumerate() {
                let x = grid + j as i32 * cell;
                // Square root, so that small flows between segments stay visible.
                let colour = blend(EMPTY, FULL, (count as f64 / largest as f64).sqrt());
                heat_cell(&area, (x, y), (cell, CELL_H), colour, &super::count(count))?;
                area.draw(&Rectangle::new(
                    [(x + 1, y + 1), (x + cell - 1, y + CELL_H - 1)],
                    RGBColor(0xDD, 0xDD, 0xDD).stroke_width(1),
                ))?;
            }
        }
        text(
            &area,
            NOTE,
            (left, top + self.from.len() as i32 * CELL_H + 14),
            SMALL,
            &MUTED_INK,
            (HPos::Left, VPos::Top),
        )?;
        Ok(())
    }
}
