//! The elbow plot: inertia per k, the chosen k marked, silhouette on a second axis.

use super::{Chart, Drawn, MUTED_INK, PALETTE, SMALL, Swatch, TEXT, heading, legend, span, tick};
use plotters::coord::Shift;
use plotters::prelude::*;

#[derive(Debug, Clone, PartialEq)]
pub struct ElbowPoint {
    pub k: usize,
    pub inertia: f64,
    /// Undefined for k = 1.
    pub silhouette: Option<f64>,
}

pub struct ElbowChart {
    pub title: String,
    pub subtitle: Option<String>,
    pub points: Vec<ElbowPoint>,
    /// The k the run used, and why ("best silhouette").
    pub chosen: Option<(usize, String)>,
}

const INERTIA: RGBColor = PALETTE[0];
const SILHOUETTE: RGBColor = PALETTE[6];

impl Chart for ElbowChart {
    fn size(&self) -> (u32, u32) {
        (820, 560)
    }

    fn draw<DB: DrawingBackend>(&self, root: &DrawingArea<DB, Shift>) -> Drawn
    where
        DB::ErrorType: 'static,
    {
        let body = heading(root, &self.title, self.subtitle.as_deref())?;
        let (plot, key) = body.split_vertically(body.dim_in_pixel().1 - 56);
        let k_lo = self.points.iter().map(|p| p.k).min().unwrap_or(1) as f64;
        let k_hi = self.points.iter().map(|p| p.k).max().unwrap_or(1) as f64;
        let top = self
            .points
            .iter()
            .map(|p| p.inertia)
            .fold(0.0_f64, f64::max)
            .max(1e-12);
        let silhouettes = span(self.points.iter().filter_map(|p| p.silhouette));
        let mut chart = ChartBuilder::on(&plot)
            .margin(12)
            .x_label_area_size(56)
            .y_label_area_size(96)
            .right_y_label_area_size(80)
            .build_cartesian_2d(k_lo - 0.5..k_hi + 0.5, 0.0..top * 1.08)?
            .set_secondary_coord(k_lo - 0.5..k_hi + 0.5, silhouettes);
        chart
            .configure_mesh()
            .x_desc("k (segments)")
            .y_desc("inertia (within-segment sum of squares)")
            .x_labels(self.points.len().max(2))
            .x_label_formatter(&|k| format!("{}", k.round() as i64))
            .y_label_formatter(&|v| tick(*v))
            .axis_desc_style(("sans-serif", TEXT))
            .label_style(("sans-serif", SMALL))
            .light_line_style(WHITE)
            .bold_line_style(RGBColor(0xEE, 0xEE, 0xEE))
            .draw()?;
        chart
            .configure_secondary_axes()
            .y_desc("silhouette")
            .axis_desc_style(("sans-serif", TEXT))
            .label_style(("sans-serif", SMALL))
            .y_label_formatter(&|v| format!("{v:.2}"))
            .draw()?;
        if let Some((k, _)) = &self.chosen {
            let k = *k as f64;
            chart.draw_series(DashedLineSeries::new(
                vec![(k, 0.0), (k, top * 1.08)],
                6,
                4,
                MUTED_INK.stroke_width(2),
            ))?;
        }
        let inertia: Vec<(f64, f64)> = self
            .points
            .iter()
            .map(|p| (p.k as f64, p.inertia))
            .collect();
        chart.draw_series(LineSeries::new(
            inertia.iter().copied(),
            INERTIA.stroke_width(3),
        ))?;
        chart.draw_series(
            inertia
                .iter()
                .map(|&(k, v)| Circle::new((k, v), 4, INERTIA.filled())),
        )?;
        let silhouette: Vec<(f64, f64)> = self
            .points
            .iter()
            .filter_map(|p| p.silhouette.map(|s| (p.k as f64, s)))
            .collect();
        chart.draw_secondary_series(LineSeries::new(
            silhouette.iter().copied(),
            SILHOUETTE.stroke_width(3),
        ))?;
        chart.draw_secondary_series(
            silhouette
                .iter()
                .map(|&(k, v)| TriangleMarker::new((k, v), 6, SILHOUETTE.filled())),
        )?;
        let mut entries = vec![
            ("Inertia (left axis)".to_owned(), Swatch::Line(INERTIA)),
            (
                "Silhouette (right axis)".to_owned(),
                Swatch::Line(SILHOUETTE),
            ),
        ];
        if let Some((k, rule)) = &self.chosen {
            entries.push((format!("Chosen: k = {k} ({rule})"), Swatch::Line(MUTED_INK)));
        }
        legend(&key.margin(0, 0, 90, 0), &entries[..entries.len().min(2)])?;
        if entries.len() > 2 {
            legend(&key.margin(0, 0, 470, 0), &entries[2..])?;
        }
        Ok(())
    }
}
