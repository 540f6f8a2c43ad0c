//! One pass over the rows: each row's log-density under every component and its
//! membership probabilities, and (for EM) the M-step's sufficient statistics about the
//! current means. Rows go in fixed-size chunks on rayon, merged in chunk order.

use super::{Covariance, EngineError, GmmModel};
use rayon::prelude::*;

/// Rows per parallel chunk (fixed, so sums do not depend on the number of threads).
const CHUNK: usize = 2048;

/// A model prepared for evaluation: means, the precision Cholesky factors (scikit-learn's
/// `precisions_cholesky_`, stored transposed so a row of it is contiguous) and each
/// component's constant term.
pub(super) struct Components {
    k: usize,
    d: usize,
    covariance: Covariance,
    means: Vec<f64>,
    /// Per component, d × d: `prec_t[j][i]` = P[i][j] (P upper triangular); for diagonal
    /// covariances only the d diagonal values.
    prec_t: Vec<f64>,
    /// log wⱼ + log|P| − d/2 · log 2π.
    constant: Vec<f64>,
}

impl Components {
    pub fn new(model: &GmmModel) -> Result<Self, EngineError> {
        let k = model.weights.len();
        let d = model.means.ncols();
        let diag = model.covariance == Covariance::Diag;
        let per = if diag { d } else { d * d };
        let mut prec_t = vec![0.0; k * per];
        let mut constant = Vec::with_capacity(k);
        for (j, c) in model.covariances.iter().enumerate() {
            let p = &mut prec_t[j * per..(j + 1) * per];
            let mut log_det = 0.0;
            if diag {
                for f in 0..d {
                    let v = c[[f, f]];
                    if v.is_nan() || v <= 0.0 {
                        return Err(singular(j));
                    }
                    p[f] = 1.0 / v.sqrt();
                    log_det += p[f].ln();
                }
            } else {
                // Σ = L Lᵀ; P = (L⁻¹)ᵀ, so Pᵀ = L⁻¹ (lower triangular).
                let l = cholesky(c, d).ok_or_else(|| singular(j))?;
                for col in 0..d {
                    // Forward substitution for column `col` of L⁻¹.
                    for row in col..d {
                        let mut s = if row == col { 1.0 } else { 0.0 };
                        for m in col..row {
                            s -= l[row * d + m] * p[m * d + col];
                        }
                        p[row * d + col] = s / l[row * d + row];
                    }
                }
                for f in 0..d {
                    log_det += p[f * d + f].ln();
                }
            }
            constant.push(
                model.weights[j].ln() + log_det
                    - 0.5 * d as f64 * (2.0 * std::f64::consts::PI).ln(),
            );
        }
        Ok(Self {
            k,
            d,
            covariance: model.covariance,
            means: model.means.as_standard_layout().iter().copied().collect(),
            prec_t,
            constant,
        })
    }

    /// Row `x`'s weighted log-densities into `logp` and its differences to each mean into
    /// `diff` (k × d); returns the log of their sum (log-sum-exp, maximum subtracted) and
    /// leaves the membership probabilities in `logp`.
    #[inline]
    fn row(&self, x: &[f64], diff: &mut [f64], logp: &mut [f64]) -> f64 {
        let d = self.d;
        let mut max = f64::NEG_INFINITY;
        for j in 0..self.k {
            let dj = &mut diff[j * d..(j + 1) * d];
            let mu = &self.means[j * d..(j + 1) * d];
            for f in 0..d {
                dj[f] = x[f] - mu[f];
            }
            let mut maha = 0.0;
            match self.covariance {
                Covariance::Full => {
                    let p = &self.prec_t[j * d * d..(j + 1) * d * d];
                    for a in 0..d {
                        let pa = &p[a * d..a * d + a + 1];
                        let y: f64 = pa.iter().zip(&dj[..=a]).map(|(p, v)| p * v).sum();
                        maha += y * y;
                    }
                }
                Covariance::Diag => {
                    let p = &self.prec_t[j * d..(j + 1) * d];
                    for f in 0..d {
                        let y = dj[f] * p[f];
                        maha += y * y;
                    }
                }
            }
            let v = self.constant[j] - 0.5 * maha;
            logp[j] = v;
            max = max.max(v);
        }
        let mut sum = 0.0;
        for v in logp.iter_mut() {
            *v = (*v - max).exp();
            sum += *v;
        }
        for v in logp.iter_mut() {
            *v /= sum;
        }
        max + sum.ln()
    }
}

fn singular(j: usize) -> EngineError {
    EngineError::InvalidParameter {
        name: "covariance",
        rule: "positive definite in every component (a component collapsed onto too few \
               distinct rows: lower k, or use covariance diag)",
        value: format!("a singular matrix in component {j}"),
    }
}

/// Lower Cholesky factor (row-major d × d) of a covariance matrix.
fn cholesky(c: &ndarray::Array2<f64>, d: usize) -> Option<Vec<f64>> {
    let mut l = vec![0.0; d * d];
    for i in 0..d {
        for j in 0..=i {
            let s: f64 = (0..j).map(|m| l[i * d + m] * l[j * d + m]).sum();
            if i == j {
                let v = c[[i, i]] - s;
                if v.is_nan() || v <= 0.0 {
                    return None;
                }
                l[i * d + i] = v.sqrt();
            } else {
                l[i * d + j] = (c[[i, j]] - s) / l[j * d + j];
            }
        }
    }
    Some(l)
}

/// Sufficient statistics of a pass: per component Σ r, Σ r (x − s) and Σ r (x − s)(x − s)ᵀ
/// (lower triangle; the diagonal only for diagonal covariances) about the shift s (the
/// means the pass evaluated), and the total log-likelihood.
pub(super) struct Stats {
    pub k: usize,
    pub d: usize,
    pub nk: Vec<f64>,
    pub sx: Vec<f64>,
    sxx: Vec<f64>,
    pub shift: Vec<f64>,
    pub log_likelihood: f64,
}

impl Stats {
    fn zero(k: usize, d: usize, shift: &[f64]) -> Self {
        Self {
            k,
            d,
            nk: vec![0.0; k],
            sx: vec![0.0; k * d],
            sxx: vec![0.0; k * d * d],
            shift: shift.to_vec(),
            log_likelihood: 0.0,
        }
    }

    /// Σ r (x − s)ₐ (x − s)ᵦ of component `j`, for b <= a.
    pub fn sxx(&self, j: usize, a: usize, b: usize) -> f64 {
        self.sxx[(j * self.d + a) * self.d + b]
    }

    fn add(&mut self, other: &Self) {
        let sum = |a: &mut [f64], b: &[f64]| a.iter_mut().zip(b).for_each(|(a, b)| *a += b);
        sum(&mut self.nk, &other.nk);
        sum(&mut self.sx, &other.sx);
        sum(&mut self.sxx, &other.sxx);
        self.log_likelihood += other.log_likelihood;
    }

    /// Folds row differences `diff` (k × d) weighted by `r` (k).
    #[inline]
    fn fold(&mut self, diff: &[f64], r: &[f64], covariance: Covariance) {
        let d = self.d;
        for (j, &w) in r.iter().enumerate() {
            self.nk[j] += w;
            let dj = &diff[j * d..(j + 1) * d];
            for (s, v) in self.sx[j * d..(j + 1) * d].iter_mut().zip(dj) {
                *s += w * v;
            }
            let block = &mut self.sxx[j * d * d..(j + 1) * d * d];
            for a in 0..d {
                let wa = w * dj[a];
                match covariance {
                    Covariance::Full => {
                        for (s, v) in block[a * d..a * d + a + 1].iter_mut().zip(&dj[..=a]) {
                            *s += wa * v;
                        }
                    }
                    Covariance::Diag => block[a * d + a] += wa * dj[a],
                }
            }
        }
    }

    /// The statistics of a hard assignment (K-Means labels), about each cluster's mean.
    pub fn hard(data: &[f64], d: usize, labels: &[usize], k: usize) -> Self {
        let mut mean = vec![0.0; k * d];
        let mut count = vec![0.0f64; k];
        for (x, &l) in data.chunks_exact(d).zip(labels) {
            count[l] += 1.0;
            for f in 0..d {
                mean[l * d + f] += x[f];
            }
        }
        for l in 0..k {
            for f in 0..d {
                mean[l * d + f] /= count[l].max(1.0);
            }
        }
        let mut stats = Self::zero(k, d, &mean);
        let mut diff = vec![0.0; k * d];
        let mut r = vec![0.0; k];
        for (x, &l) in data.chunks_exact(d).zip(labels) {
            for j in 0..k {
                for f in 0..d {
                    diff[j * d + f] = x[f] - mean[j * d + f];
                }
                r[j] = if j == l { 1.0 } else { 0.0 };
            }
            stats.fold(&diff, &r, Covariance::Full);
        }
        stats
    }
}

/// One EM pass: the E-step under `components` and the M-step's statistics.
pub(super) fn em(data: &[f64], d: usize, components: &Components, covariance: Covariance) -> Stats {
    let k = components.k;
    let parts: Vec<Stats> = data
        .par_chunks(CHUNK * d)
        .map(|chunk| {
            let mut stats = Stats::zero(k, d, &components.means);
            let (mut diff, mut logp) = (vec![0.0; k * d], vec![0.0; k]);
            for x in chunk.chunks_exact(d) {
                stats.log_likelihood += components.row(x, &mut diff, &mut logp);
                stats.fold(&diff, &logp, covariance);
            }
            stats
        })
        .collect();
    let mut total = Stats::zero(k, d, &components.means);
    for part in &parts {
        total.add(part);
    }
    total
}

/// Membership probabilities into `out` (rows × k); returns the total log-likelihood.
pub(super) fn probabilities(
    data: &[f64],
    d: usize,
    components: &Components,
    out: &mut [f64],
) -> f64 {
    let k = components.k;
    if d == 0 {
        return 0.0;
    }
    let parts: Vec<f64> = data
        .par_chunks(CHUNK * d)
        .zip(out.par_chunks_mut(CHUNK * k))
        .map(|(chunk, out)| {
            let mut diff = vec![0.0; k * d];
            let mut total = 0.0;
            for (x, p) in chunk.chunks_exact(d).zip(out.chunks_exact_mut(k)) {
                total += components.row(x, &mut diff, p);
            }
            total
        })
        .collect();
    parts.iter().sum()
}
