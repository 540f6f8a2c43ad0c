//! Predicted customer value: a refresh's settings and the model document it keeps
//! (`clv_models.document`), which `GET /v1/clv/model` answers.

use chrono::{DateTime, NaiveDate, Utc};
use serde::{Deserialize, Serialize};
use utoipa::ToSchema;

/// Bounds of the settings.
pub const MAX_HORIZON_DAYS: u32 = 3650;
pub const MAX_HOLDOUT_DAYS: u32 = 3650;
pub const MAX_PENALIZER: f64 = 1e6;

/// How a refresh fits and scores.
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize, ToSchema)]
pub struct ClvSettings {
    /// Days over which `clv_expected_orders` counts; `clv_value` sums its whole months of 30
    /// days (365 → 12 months).
    #[schema(example = 365, minimum = 30, maximum = 3650)]
    pub horizon_days: u32,
    /// Monthly discount rate of `clv_value`'s cash flows.
    #[schema(example = 0.01)]
    pub discount_rate: f64,
    /// lifetimes' L2 penalizer on the parameters (0: none).
    pub penalizer: f64,
    /// The last day observed (lines after it are left out); `null`: the latest counted line's
    /// day.
    pub as_of: Option<NaiveDate>,
    /// When set, a backtest: fitted on the lines before the last `holdout_days` days, scored
    /// against them.
    pub holdout_days: Option<u32>,
}

impl Default for ClvSettings {
    fn default() -> Self {
        ClvSettings {
            horizon_days: 365,
            discount_rate: 0.01,
            penalizer: 0.0,
            as_of: None,
            holdout_days: None,
        }
    }
}

/// BG/NBD's fitted parameters (α in days).
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize, ToSchema)]
pub struct BgNbdParams {
    /// Shape of the purchase rates' Gamma distribution.
    pub r: f64,
    /// Its scale, in days.
    pub alpha: f64,
    /// The dropout probability's Beta distribution.
    pub a: f64,
    pub b: f64,
}

/// Gamma-Gamma's fitted parameters.
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize, ToSchema)]
pub struct GammaGammaParams {
    /// Shape of an order value's Gamma distribution around the customer's mean.
    pub p: f64,
    /// Shape and rate of the customers' Gamma rate distribution.
    pub q: f64,
    pub v: f64,
}

/// How a model's maximum-likelihood fit went.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, ToSchema)]
pub struct FitFigures {
    /// Customers the model was fitted on (Gamma-Gamma: those with a repeat purchase day).
    pub customers: i64,
    /// The data's log-likelihood at the parameters (days; without the penalty).
    pub log_likelihood: f64,
    /// What the optimizer minimised, as lifetimes' `_negative_log_likelihood_`: the mean
    /// negative log-likelihood (BG/NBD on time scaled by 1 / max T) plus the penalty.
    pub objective: f64,
    /// Always `true` in a stored model: a fit that does not converge is refused.
    pub converged: bool,
    pub iterations: i64,
    /// The largest gradient component of the objective at the end (log-parameters).
    pub gradient_norm: f64,
    /// Parameters the likelihood drove to a limit of the model (beyond e^±10), as `"a → 0"`
    /// or `"b → ∞"`: a → 0 with b → ∞ is BG/NBD without dropout, r and alpha → ∞ one purchase
    /// rate shared by everyone. Their values are not meaningful; the predictions are the
    /// limit model's. Empty for an interior fit.
    pub at_limit: Vec<String>,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, ToSchema)]
pub struct BgNbdFit {
    #[serde(flatten)]
    pub params: BgNbdParams,
    /// From the inverse Hessian, as lifetimes reports them; `null` where the data do not pin
    /// the parameters down (the Hessian is not positive definite).
    pub standard_errors: Option<BgNbdParams>,
    #[serde(flatten)]
    pub fit: FitFigures,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, ToSchema)]
pub struct GammaGammaFit {
    #[serde(flatten)]
    pub params: GammaGammaParams,
    pub standard_errors: Option<GammaGammaParams>,
    /// The population's mean order value, v p / (q − 1): `clv_expected_order_value` of a
    /// customer without a repeat purchase.
    pub population_mean_order_value: f64,
    #[serde(flatten)]
    pub fit: FitFigures,
}

/// Milliseconds per step of a refresh.
#[derive(Debug, Clone, Copy, PartialEq, Default, Serialize, Deserialize, ToSchema)]
pub struct ClvTimings {
    /// Reading the per-customer summary (SQL).
    pub summary: f64,
    /// Both maximum-likelihood fits (the backtest's excluded).
    pub fit: f64,
    /// The four figures for every customer.
    pub score: f64,
    pub backtest: f64,
    /// Writing the figures and the model.
    pub write: f64,
    pub total: f64,
}

/// One row of the calibration table (lifetimes'
/// `plot_calibration_purchases_vs_holdout_purchases`): the customers with this many repeat
/// purchase days in the calibration period, their mean actual and predicted purchase days in
/// the holdout.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, ToSchema)]
pub struct CalibrationRow {
    /// Repeat purchase days in the calibration period.
    pub frequency: u32,
    /// On the last row, which gathers every higher frequency: the highest.
    pub frequency_max: Option<u32>,
    pub customers: i64,
    /// Mean purchase days in the holdout.
    pub actual: f64,
    /// Mean expected purchases over the holdout.
    pub predicted: f64,
}

/// A fit on the lines before the holdout, scored against the holdout's purchases.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, ToSchema)]
pub struct Backtest {
    pub holdout_days: u32,
    /// The calibration period's last day.
    pub calibration_end: NaiveDate,
    /// The holdout's last day.
    pub observation_end: NaiveDate,
    /// Customers with a purchase in the calibration period (those first seen in the holdout
    /// are left out, as lifetimes does).
    pub customers: i64,
    /// The model fitted on the calibration period.
    pub bgnbd: BgNbdFit,
    /// By calibration frequency 0 … 6, and one row for 7 and more.
    pub by_frequency: Vec<CalibrationRow>,
    /// Mean over customers of |predicted − actual| holdout purchase days.
    pub mean_absolute_error: f64,
    /// Totals over the customers.
    pub predicted_orders: f64,
    pub actual_orders: f64,
}

/// A refresh's models and what it wrote.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, ToSchema)]
pub struct ClvModel {
    pub fitted_at: DateTime<Utc>,
    pub settings: ClvSettings,
    /// The last day observed.
    pub observation_end: NaiveDate,
    /// Months `clv_value` sums.
    pub months: u32,
    pub bgnbd: BgNbdFit,
    pub gamma_gamma: GammaGammaFit,
    /// Customers given figures (a counted line up to the observation end).
    pub customers_with_clv: i64,
    /// Customers without (no counted line): their `clv_*` attributes are empty.
    pub customers_without_clv: i64,
    /// Sums over the customers.
    pub total_expected_orders: f64,
    pub total_value: f64,
    /// The attributes written.
    pub attributes: Vec<String>,
    /// How `clv_value` is spread over the customers.
    #[serde(default)]
    pub value_distribution: ValueDistribution,
    /// The longest customer age T in days and the highest frequency (the probability-alive
    /// matrix's extent).
    #[serde(default)]
    pub max_t_days: f64,
    #[serde(default)]
    pub max_frequency: u32,
    pub backtest: Option<Backtest>,
    pub ms: ClvTimings,
}

/// The spread of `clv_value`: its deciles and a histogram.
#[derive(Debug, Clone, PartialEq, Default, Serialize, Deserialize, ToSchema)]
pub struct ValueDistribution {
    /// Minimum, the 10th, 20th … 90th percentiles and maximum (11 values; nearest rank).
    pub deciles: Vec<f64>,
    /// Twenty equal bins from 0 to the 99th percentile; the last also holds everyone above.
    pub histogram: Vec<ValueBin>,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, ToSchema)]
pub struct ValueBin {
    pub from: f64,
    /// `null` on the last bin: no upper end.
    pub to: Option<f64>,
    pub customers: i64,
}

impl ValueDistribution {
    /// From every customer's value (finite).
    pub fn of(values: &[f64]) -> ValueDistribution {
        if values.is_empty() {
            return ValueDistribution::default();
        }
        let mut sorted = values.to_vec();
        sorted.sort_by(f64::total_cmp);
        let rank = |q: f64| {
            sorted[((q * (sorted.len() - 1) as f64).round() as usize).min(sorted.len() - 1)]
        };
        let deciles = (0..=10).map(|d| rank(d as f64 / 10.0)).collect();
        let (low, high) = (sorted[0].min(0.0), rank(0.99));
        const BINS: usize = 20;
        let width = (high - low) / BINS as f64;
        let mut counts = [0i64; BINS];
        for &v in &sorted {
            let bin = if width > 0.0 {
                (((v - low) / width).floor() as usize).min(BINS - 1)
            } else {
                BINS - 1
            };
            counts[bin] += 1;
        }
        let histogram = (0..BINS)
            .map(|b| ValueBin {
                from: low + b as f64 * width,
                to: (b + 1 < BINS).then(|| low + (b + 1) as f64 * width),
                customers: counts[b],
            })
            .collect();
        ValueDistribution { deciles, histogram }
    }
}

#[cfg(test)]
mod tests {
    use super::ValueDistribution;

    #[test]
    fn deciles_and_bins_hold_every_customer() {
        let values: Vec<f64> = (0..=1000).map(f64::from).collect();
        let d = ValueDistribution::of(&values);
        assert_eq!(d.deciles.len(), 11);
        assert_eq!(d.deciles[0], 0.0);
        assert_eq!(d.deciles[5], 500.0);
        assert_eq!(d.deciles[10], 1000.0);
        assert_eq!(d.histogram.len(), 20);
        assert_eq!(d.histogram.iter().map(|b| b.customers).sum::<i64>(), 1001);
        assert_eq!(d.histogram[19].to, None);
        assert_eq!(d.histogram[0].from, 0.0);
        assert_eq!(ValueDistribution::of(&[]), ValueDistribution::default());
        // All equal: one bin holds them.
        let d = ValueDistribution::of(&[5.0; 10]);
        assert_eq!(d.histogram.iter().map(|b| b.customers).sum::<i64>(), 10);
    }
}
