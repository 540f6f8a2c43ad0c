//! Backtesting BG/NBD: predictions over a holdout against the purchases made in it, as
//! lifetimes' `plot_calibration_purchases_vs_holdout_purchases` tabulates them.

use super::{BgNbd, ClvError, Summary};
use rayon::prelude::*;
use std::collections::BTreeMap;

/// Rows of the table drawn one by one (lifetimes' `n = 7`); the rest share a last row.
pub const TABLE_ROWS: usize = 7;

/// Customers with one calibration frequency (or, on the last row, `frequency..=frequency_max`).
#[derive(Debug, Clone, PartialEq)]
pub struct Row {
    pub frequency: u32,
    pub frequency_max: Option<u32>,
    pub customers: usize,
    pub actual: f64,
    pub predicted: f64,
}

#[derive(Debug, Clone, PartialEq)]
pub struct Calibration {
    pub rows: Vec<Row>,
    pub mean_absolute_error: f64,
    pub predicted_orders: f64,
    pub actual_orders: f64,
}

/// Scores `bg` (fitted on `summary`, the calibration period) against `holdout[i]`, customer
/// i's purchase days in the `holdout_days` after it.
pub fn calibrate(
    bg: &BgNbd,
    summary: &Summary,
    holdout: &[u32],
    holdout_days: f64,
) -> Result<Calibration, ClvError> {
    assert_eq!(summary.len(), holdout.len());
    let predicted: Vec<f64> = (0..summary.len())
        .into_par_iter()
        .with_min_len(1024)
        .map(|i| {
            bg.expected_purchases(
                holdout_days,
                summary.frequency[i] as f64,
                summary.recency[i],
                summary.t[i],
            )
        })
        .collect();
    if let Some(row) = predicted.iter().position(|p| !p.is_finite()) {
        return Err(ClvError::NotFinite {
            what: "the expected holdout purchases",
            row,
        });
    }
    // Per frequency: customers, Σ actual, Σ predicted.
    let mut groups: BTreeMap<u32, (usize, f64, f64)> = BTreeMap::new();
    let (mut error, mut predicted_orders, mut actual_orders) = (0.0, 0.0, 0.0);
    for (i, p) in predicted.iter().enumerate() {
        let actual = holdout[i] as f64;
        let g = groups.entry(summary.frequency[i]).or_default();
        g.0 += 1;
        g.1 += actual;
        g.2 += p;
        error += (p - actual).abs();
        predicted_orders += p;
        actual_orders += actual;
    }
    let mut rows: Vec<Row> = Vec::new();
    for (i, (&frequency, &(n, actual, pred))) in groups.iter().enumerate() {
        if i < TABLE_ROWS {
            rows.push(Row {
                frequency,
                frequency_max: None,
                customers: n,
                actual,
                predicted: pred,
            });
            continue;
        }
        if i == TABLE_ROWS {
            rows.push(Row {
                frequency,
                frequency_max: Some(frequency),
                customers: 0,
                actual: 0.0,
                predicted: 0.0,
            });
        }
        let last = rows.last_mut().expect("pushed");
        last.frequency_max = Some(frequency);
        last.customers += n;
        last.actual += actual;
        last.predicted += pred;
    }
    for row in &mut rows {
        row.actual /= row.customers as f64;
        row.predicted /= row.customers as f64;
    }
    let n = summary.len().max(1) as f64;
    Ok(Calibration {
        rows,
        mean_absolute_error: error / n,
        predicted_orders,
        actual_orders,
    })
}
