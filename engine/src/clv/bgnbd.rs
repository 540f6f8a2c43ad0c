//! BG/NBD: purchases at a Poisson rate λ ~ Gamma(r, α) while alive; after each repeat
//! purchase the customer drops out with probability π ~ Beta(a, b).
//!
//! The log-likelihood is section 7 of Fader, Hardie & Lee (2005) in log space, as lifetimes
//! writes it (A₁ … A₄), with its gradient in the log-parameters. As in lifetimes, times are
//! scaled by 1 / max T while fitting (α is scaled back after), the L2 penalty applies to the
//! scaled parameters, and the fit starts from log-parameters 0.1.

use super::optimize::{Objective, Settings, newton};
use super::{ClvError, FitReport, Summary, chunks, standard_errors};
use rayon::prelude::*;
use serde::{Deserialize, Serialize};

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
        // Grouped by sorting: recency and T are >= 0, so their bits sort as their values, and
        // the sums' order (and so the fit) depends on the histories alone.
        let mut keys: Vec<(u32, u64, u64)> = (0..summary.len())
            .map(|i| {
                (
                    summary.frequency[i],
                    summary.recency[i].to_bits(),
                    summary.t[i].to_bits(),
                )
            })
            .collect();
        keys.sort_unstable();
        let mut histories: Vec<[f64; 4]> = Vec::new();
        let mut by_frequency: Vec<(f64, f64)> = Vec::new();
        let mut previous = None;
        for key in keys {
            let (x, rec, t) = key;
            if previous == Some(key) {
                histories.last_mut().expect("pushed")[3] += 1.0;
            } else {
                histories.push([
                    x as f64,
                    f64::from_bits(rec) * scale,
                    f64::from_bits(t) * scale,
                    1.0,
                ]);
            }
            match by_frequency.last_mut() {
                Some(last) if last.0 == x as f64 => last.1 += 1.0,
                _ => by_frequency.push((x as f64, 1.0)),
            }
            previous = Some(key);
        }
        Data {
            by_frequency,
            histories,
            customers: summary.len() as f64,
            penalizer,
        }
    }

    /// The summed log-likelihood with its gradient and Hessian (row-major) in (r, α, a, b).
    fn log_likelihood(&self, p: [f64; 4]) -> (f64, [f64; 4], [f64; 16]) {
        let [r, alpha, a, b] = p;
        let (mut ll, mut g, mut h) = (0.0, [0.0; 4], [0.0; 16]);
        // A₁ and A₂ depend on the frequency alone, through differences of lnΓ at integer
        // steps: lnΓ(r+x) − lnΓ(r) = Σ_{k<x} ln(r+k), ψ(r+x) − ψ(r) = Σ_{k<x} 1/(r+k) and
        // ψ₁(r+x) − ψ₁(r) = −Σ_{k<x} 1/(r+k)². Summed up the sorted frequencies, exact where
        // lnΓ's own differences would cancel (a and b large: the likelihood's limit without
        // dropout heterogeneity).
        let ln_alpha = alpha.ln();
        let (mut k, mut ln_r, mut ln_b, mut ln_ab) = (0.0, 0.0, 0.0, 0.0);
        let (mut inv_r, mut inv_b, mut inv_ab) = (0.0, 0.0, 0.0);
        let (mut sq_r, mut sq_b, mut sq_ab) = (0.0, 0.0, 0.0);
        for &(x, w) in &self.by_frequency {
            while k < x {
                let (ir, ib, iab) = (1.0 / (r + k), 1.0 / (b + k), 1.0 / (a + b + k));
                ln_r += (r + k).ln();
                ln_b += (b + k).ln();
                ln_ab += (a + b + k).ln();
                inv_r += ir;
                inv_b += ib;
                inv_ab += iab;
                sq_r += ir * ir;
                sq_b += ib * ib;
                sq_ab += iab * iab;
                k += 1.0;
            }
            ll += w * (ln_r + r * ln_alpha + ln_b - ln_ab);
            g[0] += w * (inv_r + ln_alpha);
            g[1] += w * r / alpha;
            g[2] -= w * inv_ab;
            g[3] += w * (inv_b - inv_ab);
            h[0] -= w * sq_r; // r r
            h[1] += w / alpha; // r α
            h[5] -= w * r / (alpha * alpha); // α α
            h[10] += w * sq_ab; // a a
            h[11] += w * sq_ab; // a b
            h[15] += w * (sq_ab - sq_b); // b b
        }
        let ln_a = a.ln();
        let parts: Vec<(f64, [f64; 4], [f64; 16])> = chunks(self.histories.len())
            .into_par_iter()
            .map(|range| {
                let (mut ll, mut g, mut h) = (0.0, [0.0; 4], [0.0; 16]);
                for &[x, rec, t, w] in &self.histories[range] {
                    let (at, ar) = (1.0 / (alpha + t), 1.0 / (alpha + rec));
                    let ln_t = (alpha + t).ln();
                    let a3 = -(r + x) * ln_t;
                    // ∇A₃ and its Hessian (r, α only).
                    let d3 = [-ln_t, -(r + x) * at, 0.0, 0.0];
                    if x == 0.0 {
                        ll += w * a3;
                        g[0] += w * d3[0];
                        g[1] += w * d3[1];
                        h[1] -= w * at;
                        h[5] += w * (r + x) * at * at;
                        continue;
                    }
                    let ln_rec = (alpha + rec).ln();
                    let ib = 1.0 / (b + x - 1.0);
                    let a4 = ln_a + ib.ln() - (r + x) * ln_rec;
                    let d4 = [-ln_rec, -(r + x) * ar, 1.0 / a, -ib];
                    // log(e^A₃ + e^A₄) with its weights w₃, w₄.
                    let (m, e) = if a3 >= a4 {
                        (a3, (a4 - a3).exp())
                    } else {
                        (a4, (a3 - a4).exp())
                    };
                    let (w3, w4) = if a3 >= a4 {
                        (1.0 / (1.0 + e), e / (1.0 + e))
                    } else {
                        (e / (1.0 + e), 1.0 / (1.0 + e))
                    };
                    ll += w * (m + e.ln_1p());
                    for i in 0..4 {
                        g[i] += w * (w3 * d3[i] + w4 * d4[i]);
                    }
                    // ∇²l = w₃∇²A₃ + w₄∇²A₄ + w₃w₄ (∇A₃ − ∇A₄)(∇A₃ − ∇A₄)ᵀ.
                    let ww = w * w3 * w4;
                    let diff = [d3[0] - d4[0], d3[1] - d4[1], d3[2] - d4[2], d3[3] - d4[3]];
                    for i in 0..4 {
                        for j in i..4 {
                            h[i * 4 + j] += ww * diff[i] * diff[j];
                        }
                    }
                    h[1] -= w * (w3 * at + w4 * ar);
                    h[5] += w * (r + x) * (w3 * at * at + w4 * ar * ar);
                    h[10] -= w * w4 / (a * a);
                    h[15] += w * w4 * ib * ib;
                }
                (ll, g, h)
            })
            .collect();
        for (l, q, m) in parts {
            ll += l;
            (0..4).for_each(|k| g[k] += q[k]);
            (0..16).for_each(|k| h[k] += m[k]);
        }
        // Only the upper triangle was summed.
        for i in 0..4 {
            for j in 0..i {
                h[i * 4 + j] = h[j * 4 + i];
            }
        }
        (ll, g, h)
    }
}

impl Objective for Data {
    /// lifetimes' objective, −mean log-likelihood + penalizer · Σ params², in the
    /// log-parameters θ = ln p: ∂/∂θ = p ∂/∂p, ∂²/∂θᵢ∂θⱼ = pᵢpⱼ ∂²/∂pᵢ∂pⱼ + δᵢⱼ pᵢ ∂/∂pᵢ.
    fn value_grad_hess(&self, theta: &[f64], grad: &mut [f64], hess: &mut [f64]) -> f64 {
        let p = [
            theta[0].exp(),
            theta[1].exp(),
            theta[2].exp(),
            theta[3].exp(),
        ];
        if p.iter().any(|v| !v.is_finite() || *v <= 0.0) {
            return f64::NAN;
        }
        let (ll, g, h) = self.log_likelihood(p);
        super::to_log_params(&p, ll, &g, &h, self.customers, self.penalizer, grad, hess)
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
    let min = newton(&data, &[0.1; 4], &Settings::default());
    if !min.converged || min.x.iter().any(|v| !v.is_finite()) {
        return Err(ClvError::NotConverged {
            model: "BG/NBD",
            iterations: min.iterations,
            gradient: min.gradient_norm,
        });
    }
    let p: Vec<f64> = min.x.iter().map(|v| v.exp()).collect();
    let ses = standard_errors(&min.hessian, &p, data.customers);
    let (ll_scaled, _, _) = data.log_likelihood([p[0], p[1], p[2], p[3]]);
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
        let mut out = [0.0];
        self.expected_purchases_many(&[horizon], x, recency, t, &mut out);
        out[0]
    }

    /// [`Self::expected_purchases`] over several horizons (at most 32), sharing the
    /// hypergeometric series' terms.
    pub fn expected_purchases_many(
        &self,
        horizons: &[f64],
        x: f64,
        recency: f64,
        t: f64,
        out: &mut [f64],
    ) {
        let BgNbd { r, alpha, a, b } = *self;
        let c = a + b + x - 1.0;
        let mut zs = [0.0; 32];
        for (z, h) in zs.iter_mut().zip(horizons) {
            *z = h / (alpha + t + h);
        }
        let n = horizons.len();
        super::hyp2f1::ln_hyp2f1_many(a + b - 1.0 - r, a - 1.0, c, &zs[..n], out);
        let first = c / (a - 1.0);
        let denominator = if x > 0.0 {
            1.0 + a / (b + x - 1.0) * ((alpha + t) / (alpha + recency)).powf(r + x)
        } else {
            1.0
        };
        for (i, &h) in horizons.iter().enumerate() {
            if h == 0.0 {
                out[i] = 0.0;
                continue;
            }
            let one_minus_z = (alpha + t) / (alpha + t + h);
            let second = -(out[i] + (a - 1.0) * one_minus_z.ln()).exp_m1();
            out[i] = first * second / denominator;
        }
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
