//! The backtest's calibration chart, as lifetimes' `plot_calibration_purchases_vs_holdout_purchases`
//! draws it: by purchases in the calibration period, the mean purchases customers made in the
//! holdout against the mean the model predicted.

use super::{Chart, Drawn, PALETTE, SMALL, Swatch, TEXT, heading, legend, tick};
use plotters::coord::Shift;
use plotters::prelude::*;

#[derive(Debug, Clone, PartialEq)]
pub struct CalibrationPoint {
    /// "0", …, "7+" (the last gathers the higher frequencies).
    pub label: String,
    pub customers: i64,
    pub actual: f64,
    pub predicted: f64,
}

pub struct CalibrationChart {
    pub title: String,
    pub subtitle: Option<String>,
    pub points: Vec<CalibrationPoint>,
}

const ACTUAL: RGBColor = PALETTE[0];
const PREDICTED: RGBColor = PALETTE[6];

impl Chart for CalibrationChart {
    fn size(&self) -> (u32, u32) {
        (820, 560)
    }

    fn draw<DB: DrawingBackend>(&self, root: &DrawingArea<DB, Shift>) -> Drawn
    where
        DB::ErrorType: 'static,
    {
        let body = heading(root, &self.title, self.subtitle.as_deref())?;
        let (plot, key) = body.split_vertically(body.dim_in_pixel().1 - 56);
        let n = self.points.len().max(1);
        let top = self
            .points
            .iter()
            .flat_map(|p| [p.actual, p.predicted])
            .fold(0.0_f64, f64::max)
            .max(1e-12);
        let labels: Vec<String> = self.points.iter().map(|p| p.label.clone()).collect();
        let mut chart = ChartBuilder::on(&plot)
            .margin(12)
            .x_label_area_size(56)
            .y_label_area_size(96)
            .build_cartesian_2d(-0.5..n as f64 - 0.5, 0.0..top * 1.1)?;
        chart
            .configure_mesh()
            .x_desc("purchase days in the calibration period (after the first)")
            .y_desc("mean purchase days in the holdout")
            .x_labels(n)
            .x_label_formatter(&|x| {
                let i = x.round();
                if (x - i).abs() > 1e-6 || i < 0.0 {
                    return String::new();
                }
                labels.get(i as usize).cloned().unwrap_or_default()
            })
            .y_label_formatter(&|v| tick(*v))
            .axis_desc_style(("sans-serif", TEXT))
            .label_style(("sans-serif", SMALL))
            .light_line_style(WHITE)
            .bold_line_style(RGBColor(0xEE, 0xEE, 0xEE))
            .draw()?;
        for (colour, values, marker) in [
            (
                ACTUAL,
                self.points.iter().map(|p| p.actual).collect::<Vec<_>>(),
                true,
            ),
            (
                PREDICTED,
                self.points.iter().map(|p| p.predicted).collect(),
                false,
            ),
        ] {
            let line: Vec<(f64, f64)> = values
                .iter()
                .enumerate()
                .map(|(i, v)| (i as f64, *v))
                .collect();
            chart.draw_series(LineSeries::new(
                line.iter().copied(),
                colour.stroke_width(3),
            ))?;
            if marker {
                chart.draw_series(line.iter().map(|&p| Circle::new(p, 4, colour.filled())))?;
            } else {
                chart.draw_series(
                    line.iter()
                        .map(|&p| TriangleMarker::new(p, 6, colour.filled())),
                )?;
            }
        }
        legend(
            &key.margin(0, 0, 90, 0),
            &[
                ("Actual (holdout)".to_owned(), Swatch::Line(ACTUAL)),
                ("Predicted (BG/NBD)".to_owned(), Swatch::Line(PREDICTED)),
            ],
        )?;
        Ok(())
    }
}
