//! BG/NBD: purchases at a Poisson rate λ ~ Gamma(r, α) while alive; after each repeat
//! purchase the customer drops out with probability π ~ Beta(a, b).
//!
//! The log-likelihood is section 7 of Fader, Hardie & Lee (2005) in log space, as lifetimes
//! writes it (A₁ … A₄), with its gradient in the log-parameters. As in lifetimes, times are
//! scaled by 1 / max T while fitting (α is scaled back after), the L2 penalty applies to the
//! scaled parameters, and the fit starts from log-parameters 0.1.

use super::optimize::{Objective, Settings, bfgs};
use super::{ClvError, FitReport, Summary, chunks, hessian, standard_errors};
use rayon::prelude::*;
use serde::{Deserialize, Serialize};
use std::collections::HashMap;

/// BG/NBD's parameters, α in days.
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
pub struct BgNbd {
    pub r: f64,
    pub alpha: f64,
    pub a: f64,
    pub b: f64,
}

/// The customers grouped by their (frequency, recency, T): the log-likelihood is a weighted
/// sum over distinct histories, of which daily data have far fewer than customers.
struct Data {
    /// Distinct frequencies with the number of customers at each.
    by_frequency: Vec<(f64, f64)>,
    /// Distinct histories: frequency, scaled recency, scaled T, customers.
    histories: Vec<[f64; 4]>,
    customers: f64,
    penalizer: f64,
}

impl Data {
    fn new(summary: &Summary, scale: f64, penalizer: f64) -> Data {
        let mut histories: HashMap<(u32, u64, u64), f64> = HashMap::new();
        let mut by_frequency: HashMap<u32, f64> = HashMap::new();
        for i in 0..summary.len() {
            let x = summary.frequency[i];
            *histories
                .entry((x, summary.recency[i].to_bits(), summary.t[i].to_bits()))
                .or_default() += 1.0;
            *by_frequency.entry(x).or_default() += 1.0;
        }
        // Sorted, so that the sums' order (and so the fit) does not depend on hashing.
        let mut histories: Vec<[f64; 4]> = histories
            .into_iter()
            .map(|((x, rec, t), w)| {
                [
                    x as f64,
                    f64::from_bits(rec) * scale,
                    f64::from_bits(t) * scale,
                    w,
                ]
            })
            .collect();
        histories.sort_by(|p, q| {
            p.iter()
                .zip(q)
                .fold(std::cmp::Ordering::Equal, |o, (a, b)| {
                    o.then(a.total_cmp(b))
                })
        });
        let mut by_frequency: Vec<(f64, f64)> = by_frequency
            .into_iter()
            .map(|(x, w)| (x as f64, w))
            .collect();
        by_frequency.sort_by(|p, q| p.0.total_cmp(&q.0));
        Data {
            by_frequency,
            histories,
            customers: summary.len() as f64,
            penalizer,
        }
    }

    /// The summed log-likelihood and its gradient in (r, α, a, b).
    fn log_likelihood(&self, p: [f64; 4]) -> (f64, [f64; 4]) {
        let [r, alpha, a, b] = p;
        let (mut ll, mut g) = (0.0, [0.0; 4]);
        // A₁ and A₂ depend on the frequency alone, through differences of lnΓ at integer
        // steps: lnΓ(r+x) − lnΓ(r) = Σ_{k<x} ln(r+k), and ψ(r+x) − ψ(r) = Σ_{k<x} 1/(r+k).
        // Summed up the sorted frequencies, exact where lnΓ's own differences would cancel
        // (a and b large: the likelihood's limit without dropout heterogeneity).
        let ln_alpha = alpha.ln();
        let (mut k, mut ln_r, mut ln_b, mut ln_ab) = (0.0, 0.0, 0.0, 0.0);
        let (mut inv_r, mut inv_b, mut inv_ab) = (0.0, 0.0, 0.0);
        for &(x, w) in &self.by_frequency {
            while k < x {
                ln_r += (r + k).ln();
                ln_b += (b + k).ln();
                ln_ab += (a + b + k).ln();
                inv_r += 1.0 / (r + k);
                inv_b += 1.0 / (b + k);
                inv_ab += 1.0 / (a + b + k);
                k += 1.0;
            }
            ll += w * (ln_r + r * ln_alpha + ln_b - ln_ab);
            g[0] += w * (inv_r + ln_alpha);
            g[1] += w * r / alpha;
            g[2] -= w * inv_ab;
            g[3] += w * (inv_b - inv_ab);
        }
        let ln_a = a.ln();
        let parts: Vec<(f64, [f64; 4])> = chunks(self.histories.len())
            .into_par_iter()
            .map(|range| {
                let (mut ll, mut g) = (0.0, [0.0; 4]);
                for &[x, rec, t, w] in &self.histories[range] {
                    let ln_t = (alpha + t).ln();
                    let a3 = -(r + x) * ln_t;
                    if x == 0.0 {
                        ll += w * a3;
                        g[0] -= w * ln_t;
                        g[1] -= w * (r + x) / (alpha + t);
                        continue;
                    }
                    let ln_rec = (alpha + rec).ln();
                    let a4 = ln_a - (b + x - 1.0).ln() - (r + x) * ln_rec;
                    let m = a3.max(a4);
                    let (e3, e4) = ((a3 - m).exp(), (a4 - m).exp());
                    let s = e3 + e4;
                    let (w3, w4) = (e3 / s, e4 / s);
                    ll += w * (m + s.ln());
                    g[0] -= w * (w3 * ln_t + w4 * ln_rec);
                    g[1] -= w * (r + x) * (w3 / (alpha + t) + w4 / (alpha + rec));
                    g[2] += w * w4 / a;
                    g[3] -= w * w4 / (b + x - 1.0);
                }
                (ll, g)
            })
            .collect();
        for (l, q) in parts {
            ll += l;
            (0..4).for_each(|k| g[k] += q[k]);
        }
        (ll, g)
    }
}

impl Objective for Data {
    /// lifetimes' objective: −mean log-likelihood + penalizer · Σ params², in log-params.
    fn value_grad(&self, theta: &[f64], grad: &mut [f64]) -> f64 {
        let p = [
            theta[0].exp(),
            theta[1].exp(),
            theta[2].exp(),
            theta[3].exp(),
        ];
        if p.iter().any(|v| !v.is_finite() || *v <= 0.0) {
            grad.fill(f64::NAN);
            return f64::NAN;
        }
        let (ll, g) = self.log_likelihood(p);
        let n = self.customers;
        for k in 0..4 {
            grad[k] = -g[k] * p[k] / n + 2.0 * self.penalizer * p[k] * p[k];
        }
        -ll / n + self.penalizer * p.iter().map(|v| v * v).sum::<f64>()
    }
}

pub(super) fn fit(summary: &Summary, penalizer: f64) -> Result<FitReport<BgNbd>, ClvError> {
    let n = summary.len();
    if n == 0 {
        return Err(ClvError::NoCustomers);
    }
    let max_t = summary.t.iter().fold(0.0f64, |m, &t| m.max(t));
    if max_t <= 0.0 {
        return Err(ClvError::NoTimeObserved { customers: n });
    }
    if summary.frequency.iter().all(|&x| x == 0) {
        return Err(ClvError::NoRepeatPurchases { customers: n });
    }
    let scale = 1.0 / max_t;
    let data = Data::new(summary, scale, penalizer);
    let min = bfgs(&data, &[0.1; 4], &Settings::default());
    if !min.converged || min.x.iter().any(|v| !v.is_finite()) {
        return Err(ClvError::NotConverged {
            model: "BG/NBD",
            iterations: min.iterations,
            gradient: min.gradient_norm,
        });
    }
    let p: Vec<f64> = min.x.iter().map(|v| v.exp()).collect();
    let ses = standard_errors(&hessian(&data, &min.x), &p, data.customers);
    let (ll_scaled, _) = data.log_likelihood([p[0], p[1], p[2], p[3]]);
    // Back to days: the times' density gains ln(scale) per repeat purchase.
    let repeat: f64 = summary.frequency.iter().map(|&x| x as f64).sum();
    let unscale = |q: &[f64]| BgNbd {
        r: q[0],
        alpha: q[1] / scale,
        a: q[2],
        b: q[3],
    };
    Ok(FitReport {
        params: unscale(&p),
        standard_errors: ses.as_deref().map(unscale),
        log_likelihood: ll_scaled + repeat * scale.ln(),
        objective: min.value,
        customers: n,
        iterations: min.iterations,
        gradient_norm: min.gradient_norm,
        at_limit: super::at_limit(&["r", "alpha", "a", "b"], &min.x),
    })
}

impl BgNbd {
    /// The probability a customer with this history is still alive (Fader, Hardie & Lee,
    /// "Computing P(alive) using the BG/NBD model", note 021): 1 without a repeat purchase.
    pub fn p_alive(&self, x: f64, recency: f64, t: f64) -> f64 {
        if x == 0.0 {
            return 1.0;
        }
        let log_div = (self.r + x) * ((self.alpha + t) / (self.alpha + recency)).ln()
            + (self.a / (self.b + x - 1.0)).ln();
        // expit(−log_div), as scipy computes it.
        if log_div >= 0.0 {
            let e = (-log_div).exp();
            e / (1.0 + e)
        } else {
            1.0 / (1.0 + log_div.exp())
        }
    }

    /// Expected repeat purchases in the next `horizon` days (equation 10), with the
    /// hypergeometric term through Euler's transformation, lifetimes' fallback form:
    /// ₂F₁(r+x, b+x; a+b+x−1; z) (1−z)^(r+x) = ₂F₁(a+b−1−r, a−1; a+b+x−1; z) (1−z)^(a−1), which
    /// converges fast for any x.
    pub fn expected_purchases(&self, horizon: f64, x: f64, recency: f64, t: f64) -> f64 {
        if horizon == 0.0 {
            return 0.0;
        }
        let BgNbd { r, alpha, a, b } = *self;
        let c = a + b + x - 1.0;
        let one_minus_z = (alpha + t) / (alpha + t + horizon);
        let z = horizon / (alpha + t + horizon);
        let Some(ln_f) = super::hyp2f1::ln_hyp2f1(a + b - 1.0 - r, a - 1.0, c, z) else {
            return f64::NAN;
        };
        let first = c / (a - 1.0);
        let second = -(ln_f + (a - 1.0) * one_minus_z.ln()).exp_m1();
        let denominator = if x > 0.0 {
            1.0 + a / (b + x - 1.0) * ((alpha + t) / (alpha + recency)).powf(r + x)
        } else {
            1.0
        };
        first * second / denominator
    }
}

#[cfg(test)]
pub(super) mod tests_support {
    /// The objective lifetimes minimises, for gradient checks.
    pub fn objective(summary: &super::Summary, penalizer: f64) -> impl super::Objective {
        let max_t = summary.t.iter().fold(0.0f64, |m, &t| m.max(t));
        super::Data::new(summary, 1.0 / max_t, penalizer)
    }
}
