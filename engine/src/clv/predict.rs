//! Scores customers with fitted models: the four figures segstore stores per customer.

use super::{BgNbd, ClvError, GammaGamma, Summary};
use rayon::prelude::*;

/// Days in one of `customer_lifetime_value`'s monthly steps (lifetimes' factor for `freq="D"`).
pub const DAYS_PER_MONTH: f64 = 30.0;

/// What to predict over.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Horizon {
    /// Expected orders are counted over this many days.
    pub days: u32,
    /// The value sums this many monthly steps (lifetimes' `time`).
    pub months: u32,
    /// Monthly discount rate of the value's cash flows.
    pub discount_rate: f64,
}

impl Horizon {
    /// `days` with its whole months: 365 days → 12 months, as lifetimes' default `time=12`.
    pub fn days(days: u32, discount_rate: f64) -> Horizon {
        Horizon {
            days,
            months: (days as f64 / DAYS_PER_MONTH).floor() as u32,
            discount_rate,
        }
    }
}

/// One customer's predicted figures.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Prediction {
    pub p_alive: f64,
    /// Repeat orders (purchase days) expected over the horizon's days.
    pub expected_orders: f64,
    /// Gamma-Gamma's expected value of an order.
    pub expected_order_value: f64,
    /// lifetimes' `customer_lifetime_value`: over each month, the expected orders of that month
    /// × the expected order value, discounted by (1 + rate)^month, summed.
    pub value: f64,
}

/// One customer's figures.
pub fn predict_one(
    bg: &BgNbd,
    gg: &GammaGamma,
    horizon: Horizon,
    (x, recency, t, monetary): (f64, f64, f64, f64),
) -> Prediction {
    let expected_order_value = gg.expected_order_value(x, monetary);
    // The horizon, then the months' ends: one shared series for all of them.
    let months = horizon.months.min(31) as usize;
    let mut at = [0.0; 32];
    at[0] = horizon.days as f64;
    for (m, day) in at.iter_mut().enumerate().take(months + 1).skip(1) {
        *day = m as f64 * DAYS_PER_MONTH;
    }
    let mut expected = [0.0; 32];
    bg.expected_purchases_many(&at[..=months], x, recency, t, &mut expected[..=months]);
    let mut value = 0.0;
    let mut before = 0.0;
    let cumulative_after = |m: u32| -> f64 {
        if (m as usize) <= months {
            expected[m as usize]
        } else {
            bg.expected_purchases(m as f64 * DAYS_PER_MONTH, x, recency, t)
        }
    };
    for month in 1..=horizon.months {
        let cumulative = cumulative_after(month);
        value += expected_order_value * (cumulative - before)
            / (1.0 + horizon.discount_rate).powi(month as i32);
        before = cumulative;
    }
    Prediction {
        p_alive: bg.p_alive(x, recency, t),
        expected_orders: expected[0],
        expected_order_value,
        value,
    }
}

/// Every customer's figures, in the summary's order; refuses rather than return a number
/// that is not finite.
pub fn predict(
    bg: &BgNbd,
    gg: &GammaGamma,
    horizon: Horizon,
    summary: &Summary,
) -> Result<Vec<Prediction>, ClvError> {
    let out: Vec<Prediction> = (0..summary.len())
        .into_par_iter()
        .with_min_len(1024)
        .map(|i| {
            predict_one(
                bg,
                gg,
                horizon,
                (
                    summary.frequency[i] as f64,
                    summary.recency[i],
                    summary.t[i],
                    summary.monetary[i],
                ),
            )
        })
        .collect();
    for (row, p) in out.iter().enumerate() {
        for (what, v) in [
            ("clv_p_alive", p.p_alive),
            ("clv_expected_orders", p.expected_orders),
            ("clv_expected_order_value", p.expected_order_value),
            ("clv_value", p.value),
        ] {
            if !v.is_finite() {
                return Err(ClvError::NotFinite { what, row });
            }
        }
    }
    Ok(out)
}
