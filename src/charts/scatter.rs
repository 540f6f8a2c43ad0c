//! Customers in two dimensions, coloured by segment, with the segment centres marked.

use super::{
    Chart, Drawn, INK, SMALL, SegmentKey, Swatch, TEXT, heading, legend, span, text_width, tick,
};
use plotters::coord::Shift;
use plotters::prelude::*;

pub struct ScatterChart {
    pub title: String,
    /// Under the title, e.g. "sample of 20,000 of 1,000,000 customers (seed 42)".
    pub subtitle: Option<String>,
    pub x_label: String,
    pub y_label: String,
    /// The run's segments in legend order; the noise, when there is any, last.
    pub segments: Vec<SegmentKey>,
    /// x, y and the index into `segments`, drawn in this order.
    pub points: Vec<(f64, f64, usize)>,
    /// Per segment (same order, noise excluded): the centre, when it has one.
    pub centres: Vec<Option<(f64, f64)>>,
}

impl ScatterChart {
    fn legend_width(&self) -> u32 {
        let widest = self
            .segments
            .iter()
            .map(|s| text_width(&s.name(), TEXT))
            .max()
            .unwrap_or(0);
        (widest + 48).clamp(160, 520)
    }
}

impl Chart for ScatterChart {
    fn size(&self) -> (u32, u32) {
        (640 + self.legend_width(), 600)
    }

    fn draw<DB: DrawingBackend>(&self, root: &DrawingArea<DB, Shift>) -> Drawn
    where
        DB::ErrorType: 'static,
    {
        let body = heading(root, &self.title, self.subtitle.as_deref())?;
        let (w, _) = body.dim_in_pixel();
        let (plot, key) = body.split_horizontally(w - self.legend_width());
        let xs = span(
            self.points
                .iter()
                .map(|p| p.0)
                .chain(self.centres.iter().flatten().map(|c| c.0)),
        );
        let ys = span(
            self.points
                .iter()
                .map(|p| p.1)
                .chain(self.centres.iter().flatten().map(|c| c.1)),
        );
        let mut chart = ChartBuilder::on(&plot)
            .margin(10)
            .x_label_area_size(56)
            .y_label_area_size(80)
            .build_cartesian_2d(xs, ys)?;
        chart
            .configure_mesh()
            .x_desc(self.x_label.as_str())
            .y_desc(self.y_label.as_str())
            .x_label_formatter(&|v| tick(*v))
            .y_label_formatter(&|v| tick(*v))
            .axis_desc_style(("sans-serif", TEXT))
            .label_style(("sans-serif", SMALL))
            .light_line_style(WHITE)
            .bold_line_style(RGBColor(0xEE, 0xEE, 0xEE))
            .draw()?;
        let colours: Vec<RGBColor> = self.segments.iter().map(SegmentKey::rgb).collect();
        chart.draw_series(
            self.points
                .iter()
                .map(|&(x, y, s)| Circle::new((x, y), 3, colours[s].mix(0.75).filled())),
        )?;
        // A white outline under the dark cross: the mark shows on every segment colour.
        for (colour, size, width) in [(WHITE, 8, 7), (INK, 7, 3)] {
            chart.draw_series(
                self.centres
                    .iter()
                    .flatten()
                    .map(|&(x, y)| Cross::new((x, y), size, colour.stroke_width(width))),
            )?;
        }
        let mut entries: Vec<(String, Swatch)> = self
            .segments
            .iter()
            .map(|s| (s.name(), Swatch::Square(s.rgb())))
            .collect();
        if self.centres.iter().any(Option::is_some) {
            entries.push(("Segment centre".to_owned(), Swatch::Cross));
        }
        legend(&key.margin(24, 0, 0, 0), &entries)
    }
}
