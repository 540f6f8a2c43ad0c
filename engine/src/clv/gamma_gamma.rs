//! Gamma-Gamma: a customer's order values are Gamma(p, ν) around their own mean, and
//! ν ~ Gamma(q, v) across customers. Fitted on the repeat purchasers' mean repeat order value
//! and count (Fader & Hardie 2013, equation 1a), as lifetimes does, with its gradient in the
//! log-parameters and lifetimes' L2 penalty; no time scaling.

use super::optimize::{Objective, Settings, newton};
use super::special::trigamma;
use super::{ClvError, FitReport, Summary, chunks, standard_errors};
use rayon::prelude::*;
use serde::{Deserialize, Serialize};
use statrs::function::gamma::{digamma, ln_gamma};

#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
pub struct GammaGamma {
    pub p: f64,
    pub q: f64,
    pub v: f64,
}

struct Data {
    /// Distinct frequencies: x, customers, Σ ln m over them.
    by_frequency: Vec<(f64, f64, f64)>,
    /// Repeat purchasers: x, m.
    customers: Vec<(f64, f64)>,
    penalizer: f64,
}

impl Data {
    fn new(summary: &Summary, penalizer: f64) -> Data {
        let mut customers: Vec<(f64, f64)> = (0..summary.len())
            .filter(|&i| summary.frequency[i] > 0)
            .map(|i| (summary.frequency[i] as f64, summary.monetary[i]))
            .collect();
        // Sorted, so that the sums' order (and so the fit) does not depend on the rows'.
        customers.sort_by(|a, b| a.0.total_cmp(&b.0).then(a.1.total_cmp(&b.1)));
        let mut by_frequency: Vec<(f64, f64, f64)> = Vec::new();
        for &(x, m) in &customers {
            match by_frequency.last_mut() {
                Some(last) if last.0 == x => {
                    last.1 += 1.0;
                    last.2 += m.ln();
                }
                _ => by_frequency.push((x, 1.0, m.ln())),
            }
        }
        Data {
            by_frequency,
            customers,
            penalizer,
        }
    }

    /// The summed log-likelihood with its gradient and Hessian (row-major) in (p, q, v).
    fn log_likelihood(&self, [p, q, v]: [f64; 3]) -> (f64, [f64; 3], [f64; 9]) {
        let (mut ll, mut g, mut h) = (0.0, [0.0; 3], [0.0; 9]);
        let (lg_q, dg_q, tg_q, ln_v) = (ln_gamma(q), digamma(q), trigamma(q), v.ln());
        for &(x, w, ln_m) in &self.by_frequency {
            let px = p * x;
            let (dg_pxq, dg_px) = (digamma(px + q), digamma(px));
            let (tg_pxq, tg_px) = (trigamma(px + q), trigamma(px));
            ll += w * (ln_gamma(px + q) - ln_gamma(px) - lg_q + q * ln_v + px * x.ln())
                + (px - 1.0) * ln_m;
            g[0] += w * x * (dg_pxq - dg_px + x.ln()) + x * ln_m;
            g[1] += w * (dg_pxq - dg_q + ln_v);
            g[2] += w * q / v;
            h[0] += w * x * x * (tg_pxq - tg_px);
            h[1] += w * x * tg_pxq;
            h[4] += w * (tg_pxq - tg_q);
            h[5] += w / v;
            h[8] -= w * q / (v * v);
        }
        let parts: Vec<(f64, [f64; 3], [f64; 9])> = chunks(self.customers.len())
            .into_par_iter()
            .map(|range| {
                let (mut ll, mut g, mut h) = (0.0, [0.0; 3], [0.0; 9]);
                for &(x, m) in &self.customers[range] {
                    let (px, s) = (p * x, x * m + v);
                    let (ln_s, is) = (s.ln(), 1.0 / s);
                    ll -= (px + q) * ln_s;
                    g[0] -= x * ln_s;
                    g[1] -= ln_s;
                    g[2] -= (px + q) * is;
                    h[2] -= x * is;
                    h[5] -= is;
                    h[8] += (px + q) * is * is;
                }
                (ll, g, h)
            })
            .collect();
        for (l, q, m) in parts {
            ll += l;
            (0..3).for_each(|k| g[k] += q[k]);
            (0..9).for_each(|k| h[k] += m[k]);
        }
        for i in 0..3 {
            for j in 0..i {
                h[i * 3 + j] = h[j * 3 + i];
            }
        }
        (ll, g, h)
    }
}

impl Objective for Data {
    fn value_grad_hess(&self, theta: &[f64], grad: &mut [f64], hess: &mut [f64]) -> f64 {
        let p = [theta[0].exp(), theta[1].exp(), theta[2].exp()];
        if p.iter().any(|v| !v.is_finite() || *v <= 0.0) {
            return f64::NAN;
        }
        let (ll, g, h) = self.log_likelihood(p);
        let n = self.customers.len() as f64;
        super::to_log_params(&p, ll, &g, &h, n, self.penalizer, grad, hess)
    }
}

pub(super) fn fit(summary: &Summary, penalizer: f64) -> Result<FitReport<GammaGamma>, ClvError> {
    let data = Data::new(summary, penalizer);
    if data.customers.is_empty() {
        return Err(ClvError::NoRepeatPurchases {
            customers: summary.len(),
        });
    }
    let min = newton(&data, &[0.1; 3], &Settings::default());
    if !min.converged || min.x.iter().any(|v| !v.is_finite()) {
        return Err(ClvError::NotConverged {
            model: "Gamma-Gamma",
            iterations: min.iterations,
            gradient: min.gradient_norm,
        });
    }
    let p: Vec<f64> = min.x.iter().map(|v| v.exp()).collect();
    let params = GammaGamma {
        p: p[0],
        q: p[1],
        v: p[2],
    };
    if params.q <= 1.0 {
        return Err(ClvError::HeavyTail { q: params.q });
    }
    let n = data.customers.len() as f64;
    let ses = standard_errors(&min.hessian, &p, n);
    let (ll, _, _) = data.log_likelihood([p[0], p[1], p[2]]);
    Ok(FitReport {
        params,
        standard_errors: ses.map(|s| GammaGamma {
            p: s[0],
            q: s[1],
            v: s[2],
        }),
        log_likelihood: ll,
        objective: min.value,
        customers: data.customers.len(),
        iterations: min.iterations,
        gradient_norm: min.gradient_norm,
        at_limit: super::at_limit(&["p", "q", "v"], &min.x),
    })
}

impl GammaGamma {
    /// The population's mean order value, v p / (q − 1).
    pub fn population_mean(&self) -> f64 {
        self.v * self.p / (self.q - 1.0)
    }

    /// E[order value | x repeat orders averaging m] (lifetimes'
    /// `conditional_expected_average_profit`): a weighted mean of the customer's own mean and
    /// the population's; the population mean for x = 0.
    pub fn expected_order_value(&self, x: f64, m: f64) -> f64 {
        let weight = self.p * x / (self.p * x + self.q - 1.0);
        (1.0 - weight) * self.population_mean() + weight * m
    }
}

#[cfg(test)]
pub(super) mod tests_support {
    pub fn objective(summary: &super::Summary, penalizer: f64) -> impl super::Objective {
        super::Data::new(summary, penalizer)
    }
}
