//! Conditions on a customer's order history: the counted order lines (as RFM counts them) in a
//! window of days that ends at the latest counted line in the store, so that a store loaded
//! with history reads as if its last day were today.

use super::Test;
use serde::{Deserialize, Serialize};
use utoipa::ToSchema;

/// Longest window, in days (a century).
pub const MAX_DAYS: u32 = 36_500;

/// A condition on the order history.
#[derive(Debug, Clone, PartialEq)]
pub enum History {
    /// At least one counted line in the last `days` days.
    OrderedWithin { days: u32 },
    /// The customer's distinct orders, or their total spend, in the window (all time without
    /// one), tested; a customer without a line has 0.
    Measured {
        measure: Measure,
        days: Option<u32>,
        test: Test,
    },
    /// A counted line of the product in the window (ever without one).
    Bought { product: String, days: Option<u32> },
}

/// What a window counts.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Measure {
    /// Distinct orders.
    Orders,
    /// The lines' total amount.
    Spent,
}

/// `{"in_last_days": 90, "gte": 3}`: a window (optional: all time) and exactly one numeric
/// operator.
#[derive(Debug, Deserialize, Serialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct Window {
    /// The window's length in days, ending at the latest counted order line; all time without.
    #[schema(minimum = 1, maximum = 36500, example = 90)]
    pub in_last_days: Option<u32>,
    pub eq: Option<f64>,
    pub lt: Option<f64>,
    pub lte: Option<f64>,
    pub gt: Option<f64>,
    pub gte: Option<f64>,
    /// `[low, high]`, both included.
    #[schema(min_items = 2, max_items = 2)]
    pub between: Option<Vec<f64>>,
}

/// `{"product": "85123A", "in_last_days": 365}`: the product's code as imported.
#[derive(Debug, Deserialize, Serialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct BoughtProduct {
    #[schema(example = "85123A")]
    pub product: String,
    /// The window's length in days; ever without.
    #[schema(minimum = 1, maximum = 36500)]
    pub in_last_days: Option<u32>,
}

pub fn days(days: u32) -> Result<u32, String> {
    if !(1..=MAX_DAYS).contains(&days) {
        return Err(format!("a window of 1 to {MAX_DAYS} days"));
    }
    Ok(days)
}

/// Checks a window: its days and exactly one finite operator.
pub fn window(w: Window) -> Result<(Option<u32>, Test), String> {
    let days = w.in_last_days.map(days).transpose()?;
    let mut tests = Vec::new();
    let finite = |x: f64| {
        if x.is_finite() {
            Ok(x)
        } else {
            Err("a finite number".to_owned())
        }
    };
    for (x, make) in [
        (w.eq, Test::Eq as fn(f64) -> Test),
        (w.lt, Test::Lt),
        (w.lte, Test::Lte),
        (w.gt, Test::Gt),
        (w.gte, Test::Gte),
    ] {
        if let Some(x) = x {
            tests.push(make(finite(x)?));
        }
    }
    if let Some(between) = w.between {
        let [low, high] = <[f64; 2]>::try_from(between)
            .map_err(|b| format!("`between` takes [low, high], not {} numbers", b.len()))?;
        let (low, high) = (finite(low)?, finite(high)?);
        if low > high {
            return Err(format!("`between` runs from low to high: {low} > {high}"));
        }
        tests.push(Test::Between(low, high));
    }
    match tests.len() {
        1 => Ok((days, tests.remove(0))),
        0 => Err("one operator: eq, lt, lte, gt, gte or between".into()),
        _ => Err(format!(
            "one operator per condition: {}",
            tests
                .iter()
                .map(Test::key)
                .collect::<Vec<_>>()
                .join(" and ")
        )),
    }
}

/// Checks a product condition.
pub fn bought(b: BoughtProduct) -> Result<(String, Option<u32>), String> {
    let days = b.in_last_days.map(days).transpose()?;
    if b.product.is_empty() || b.product.len() > 200 || b.product.contains('\0') {
        return Err("a product code of 1 to 200 characters".into());
    }
    Ok((b.product, days))
}
