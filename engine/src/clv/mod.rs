//! Predicted customer value: BG/NBD (Fader, Hardie & Lee 2005, "Counting Your Customers the
//! Easy Way") for how often a customer buys again and whether they are still "alive", and
//! Gamma-Gamma (Fader & Hardie 2013, "The Gamma-Gamma Model of Monetary Value") for how much
//! they spend an order, fitted by maximum likelihood and checked against `lifetimes` 0.11
//! (`tests/fixtures/reference/clv.py`).
//!
//! Input is the per-customer summary `lifetimes.utils.summary_data_from_transaction_data`
//! builds: `frequency` (repeat purchase periods), `recency` (first to last purchase), `t` (first
//! purchase to the end of observation) and `monetary` (mean of the repeat periods' totals).
//! [`fit`] fits both models, [`predict`] scores customers. Everything is in days.

pub mod backtest;
mod bgnbd;
mod gamma_gamma;
mod hyp2f1;
pub mod optimize;
mod predict;
mod special;
pub mod summary;
#[cfg(test)]
mod tests;

pub use backtest::{Calibration, calibrate};
pub use bgnbd::BgNbd;
pub use gamma_gamma::GammaGamma;
pub use predict::{Horizon, Prediction, predict, predict_one};

use serde::{Deserialize, Serialize};

/// Per-customer summary columns, one entry per customer.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct Summary {
    /// Repeat purchase days: distinct purchase days − 1.
    pub frequency: Vec<u32>,
    /// Days from the first to the last purchase day.
    pub recency: Vec<f64>,
    /// Days from the first purchase day to the end of observation.
    pub t: Vec<f64>,
    /// Mean total of the repeat purchase days (0 without one).
    pub monetary: Vec<f64>,
}

impl Summary {
    pub fn len(&self) -> usize {
        self.frequency.len()
    }

    pub fn is_empty(&self) -> bool {
        self.frequency.is_empty()
    }

    pub fn push(&mut self, frequency: u32, recency: f64, t: f64, monetary: f64) {
        self.frequency.push(frequency);
        self.recency.push(recency);
        self.t.push(t);
        self.monetary.push(monetary);
    }

    /// Each row obeys the summary's rules: finite, 0 ≤ recency ≤ t, recency = 0 without a
    /// repeat purchase, monetary > 0 with one (0 without).
    pub fn check(&self) -> Result<(), ClvError> {
        let n = self.len();
        assert!(self.recency.len() == n && self.t.len() == n && self.monetary.len() == n);
        for i in 0..n {
            let (x, rec, t, m) = (
                self.frequency[i],
                self.recency[i],
                self.t[i],
                self.monetary[i],
            );
            let bad = |field: &'static str, value: f64, rule: &'static str| ClvError::Summary {
                row: i,
                field,
                value,
                rule,
            };
            if !(t.is_finite() && t >= 0.0) {
                return Err(bad("T", t, "a finite number of days >= 0"));
            }
            if !(rec.is_finite() && (0.0..=t).contains(&rec)) {
                return Err(bad("recency", rec, "between 0 and T"));
            }
            if x == 0 && rec != 0.0 {
                return Err(bad("recency", rec, "0 without a repeat purchase"));
            }
            if x > 0 && !(m.is_finite() && m > 0.0) {
                return Err(bad(
                    "monetary_value",
                    m,
                    "a finite amount > 0 for a repeat purchaser",
                ));
            }
            if x == 0 && m != 0.0 {
                return Err(bad("monetary_value", m, "0 without a repeat purchase"));
            }
        }
        Ok(())
    }
}

/// How a fit went: the optimizer's figures, and the standard errors from the inverse Hessian
/// of the log-likelihood (as lifetimes computes them; `None` where the Hessian is not
/// positive definite, i.e. the data do not pin a parameter down).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct FitReport<P> {
    pub params: P,
    pub standard_errors: Option<P>,
    /// The log-likelihood of the data at the parameters (times in days, no penalty).
    pub log_likelihood: f64,
    /// What was minimised, as lifetimes' `_negative_log_likelihood_` reports it: the mean
    /// negative log-likelihood (BG/NBD on time scaled by 1 / max T) plus the penalty.
    pub objective: f64,
    /// Customers the model was fitted on (Gamma-Gamma: the repeat purchasers).
    pub customers: usize,
    pub iterations: usize,
    /// The largest gradient component (of `objective`, in the log-parameters) at the end.
    pub gradient_norm: f64,
    /// Parameters the likelihood drove to a limit of the model (beyond e^±10), as `"a → 0"`
    /// or `"b → ∞"`: e.g. a → 0 with b → ∞ is BG/NBD without dropout, r and α → ∞ a purchase
    /// rate shared by everyone. Their values are not meaningful, the predictions are the
    /// limit model's.
    pub at_limit: Vec<String>,
}

/// The parameters `names` whose log-values `theta` lie beyond ±10.
fn at_limit(names: &[&str], theta: &[f64]) -> Vec<String> {
    names
        .iter()
        .zip(theta)
        .filter(|(_, t)| t.abs() > 10.0)
        .map(|(n, t)| format!("{n} → {}", if *t > 0.0 { "∞" } else { "0" }))
        .collect()
}

/// Both models, fitted on one summary.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Fitted {
    pub bgnbd: FitReport<BgNbd>,
    pub gamma_gamma: FitReport<GammaGamma>,
}

/// Fits BG/NBD on every customer and Gamma-Gamma on the repeat purchasers, with lifetimes'
/// L2 `penalizer` (0 for none).
pub fn fit(summary: &Summary, penalizer: f64) -> Result<Fitted, ClvError> {
    Ok(Fitted {
        bgnbd: fit_bgnbd(summary, penalizer)?,
        gamma_gamma: gamma_gamma::fit(summary, penalizer)?,
    })
}

/// Fits BG/NBD alone (a backtest needs no order values).
pub fn fit_bgnbd(summary: &Summary, penalizer: f64) -> Result<FitReport<BgNbd>, ClvError> {
    summary.check()?;
    if !(penalizer.is_finite() && penalizer >= 0.0) {
        return Err(ClvError::Penalizer(penalizer));
    }
    bgnbd::fit(summary, penalizer)
}

/// Why a model could not be fitted or used.
#[derive(Debug, Clone, PartialEq, thiserror::Error)]
pub enum ClvError {
    #[error("no customer has a counted purchase: there is nothing to fit")]
    NoCustomers,
    #[error(
        "none of the {customers} customers bought on a second day: BG/NBD and Gamma-Gamma learn \
         from repeat purchases, so at least one customer needs two purchase days"
    )]
    NoRepeatPurchases { customers: usize },
    #[error(
        "all {customers} customers made their first purchase on the last day observed (T = 0 \
         for everyone): there is no time over which to see them buy again"
    )]
    NoTimeObserved { customers: usize },
    #[error("summary row {row}: `{field}` is {value}; it must be {rule}")]
    Summary {
        row: usize,
        field: &'static str,
        value: f64,
        rule: &'static str,
    },
    #[error("`penalizer` is {0}; it must be a finite number >= 0")]
    Penalizer(f64),
    #[error(
        "{model} did not converge: after {iterations} iterations the log-likelihood's gradient \
         is still {gradient:.3e}; a penalizer (e.g. 0.001) often makes it converge"
    )]
    NotConverged {
        model: &'static str,
        iterations: usize,
        gradient: f64,
    },
    #[error(
        "Gamma-Gamma's fitted q is {q:.4} (<= 1): the order values are too heavy-tailed for a \
         finite mean order value; check for extreme amounts, or lower the penalizer"
    )]
    HeavyTail { q: f64 },
    #[error("{what} is not a finite number for summary row {row}")]
    NotFinite { what: &'static str, row: usize },
}

/// Standard errors by the delta method from the Hessian `h` (row-major) of a mean negative
/// log-likelihood in log-parameters over `n` customers: se_k = p_k √((H⁻¹)_kk / n).
fn standard_errors(h: &[f64], params: &[f64], n: f64) -> Option<Vec<f64>> {
    let inv = invert(h, params.len())?;
    params
        .iter()
        .enumerate()
        .map(|(k, p)| {
            let v = inv[k * params.len() + k];
            (v > 0.0 && v.is_finite()).then(|| p * (v / n).sqrt())
        })
        .collect()
}

/// Gauss-Jordan inverse with partial pivoting; `None` when singular.
fn invert(m: &[f64], n: usize) -> Option<Vec<f64>> {
    let mut a = m.to_vec();
    let mut inv = vec![0.0; n * n];
    (0..n).for_each(|i| inv[i * n + i] = 1.0);
    for col in 0..n {
        let pivot =
            (col..n).max_by(|&i, &j| a[i * n + col].abs().total_cmp(&a[j * n + col].abs()))?;
        if a[pivot * n + col].abs() < 1e-300 {
            return None;
        }
        for j in 0..n {
            a.swap(col * n + j, pivot * n + j);
            inv.swap(col * n + j, pivot * n + j);
        }
        let d = a[col * n + col];
        for j in 0..n {
            a[col * n + j] /= d;
            inv[col * n + j] /= d;
        }
        for i in (0..n).filter(|&i| i != col) {
            let f = a[i * n + col];
            for j in 0..n {
                a[i * n + j] -= f * a[col * n + j];
                inv[i * n + j] -= f * inv[col * n + j];
            }
        }
    }
    Some(inv)
}

/// The objective lifetimes minimises, −ll/n + penalizer · Σ p², with its gradient and Hessian
/// in the log-parameters θ = ln p, from the log-likelihood's in p: ∂/∂θᵢ = pᵢ ∂/∂pᵢ and
/// ∂²/∂θᵢ∂θⱼ = pᵢpⱼ ∂²/∂pᵢ∂pⱼ + δᵢⱼ pᵢ ∂/∂pᵢ.
#[allow(clippy::too_many_arguments)]
fn to_log_params(
    p: &[f64],
    ll: f64,
    g: &[f64],
    h: &[f64],
    n: f64,
    penalizer: f64,
    grad: &mut [f64],
    hess: &mut [f64],
) -> f64 {
    let k = p.len();
    for i in 0..k {
        grad[i] = -g[i] * p[i] / n + 2.0 * penalizer * p[i] * p[i];
        for j in 0..k {
            hess[i * k + j] = -h[i * k + j] * p[i] * p[j] / n;
        }
        hess[i * k + i] += -g[i] * p[i] / n + 4.0 * penalizer * p[i] * p[i];
    }
    -ll / n + penalizer * p.iter().map(|v| v * v).sum::<f64>()
}

/// Splits `0..n` into chunks for the parallel sums, fixed by `n` alone so that the sums (and
/// so the fit) do not depend on the number of threads.
fn chunks(n: usize) -> Vec<std::ops::Range<usize>> {
    const CHUNK: usize = 16_384;
    (0..n.div_ceil(CHUNK))
        .map(|c| c * CHUNK..((c + 1) * CHUNK).min(n))
        .collect()
}
