//! The Gaussian mixture (linfa-clustering, full covariances): soft memberships, and a model
//! that gives a new point its most probable component and that probability.

use super::EngineError;
use linfa::DatasetBase;
use linfa::traits::Fit;
use linfa_clustering::{GaussianMixtureModel, GmmInitMethod};
use ndarray::{Array2, ArrayView2};
use rand::SeedableRng;
use rand_xoshiro::Xoshiro256Plus;

#[derive(Debug, Clone, PartialEq)]
pub struct GmmParams {
    pub k: usize,
    pub seed: u64,
    pub max_iter: u64,
    pub tol: f64,
    pub reg_covar: f64,
}

impl GmmParams {
    pub fn new(k: usize) -> Self {
        Self {
            k,
            seed: 42,
            max_iter: 100,
            tol: 1e-3,
            reg_covar: 1e-6,
        }
    }
}

#[derive(Debug, Clone)]
pub struct GmmFit {
    /// Most probable component of each row.
    pub labels: Vec<usize>,
    /// Membership probability of each row in each component (rows × k).
    pub probabilities: Array2<f64>,
    pub log_likelihood: f64,
    pub mean_log_likelihood: f64,
    /// Bayesian and Akaike information criteria (lower is better).
    pub bic: f64,
    pub aic: f64,
    pub model: GmmModel,
}

/// Full-covariance components; new points go to their most probable component.
#[derive(Debug, Clone, PartialEq, serde::Serialize, serde::Deserialize)]
pub struct GmmModel {
    pub weights: Vec<f64>,
    pub means: Array2<f64>,
    pub covariances: Vec<Array2<f64>>,
}

pub fn gmm(x: ArrayView2<f64>, params: &GmmParams) -> Result<GmmFit, EngineError> {
    let (n, d) = x.dim();
    super::error::check_k(params.k, n)?;
    let dataset = DatasetBase::from(x.to_owned());
    let fitted = GaussianMixtureModel::params(params.k)
        .n_runs(1)
        .tolerance(params.tol)
        .reg_covariance(params.reg_covar)
        .max_n_iterations(params.max_iter)
        .init_method(GmmInitMethod::KMeans)
        .with_rng(Xoshiro256Plus::seed_from_u64(params.seed))
        .fit(&dataset)
        .map_err(|e| EngineError::Linfa(super::error::LinfaError(e.to_string())))?;
    let model = GmmModel {
        weights: fitted.weights().to_vec(),
        means: fitted.means().clone(),
        covariances: fitted
            .covariances()
            .outer_iter()
            .map(|c| c.to_owned())
            .collect(),
    };
    let (log_likelihood, probabilities) = model.log_likelihood(x)?;
    let labels = probabilities
        .rows()
        .into_iter()
        .map(|r| {
            r.iter()
                .enumerate()
                .max_by(|a, b| a.1.total_cmp(b.1).then(b.0.cmp(&a.0)))
                .map_or(0, |(j, _)| j)
        })
        .collect();
    let k = params.k as f64;
    let free = k * d as f64 * (d as f64 + 1.0) / 2.0 + k * d as f64 + k - 1.0;
    Ok(GmmFit {
        labels,
        probabilities,
        mean_log_likelihood: log_likelihood / n as f64,
        bic: -2.0 * log_likelihood + free * (n as f64).ln(),
        aic: -2.0 * log_likelihood + 2.0 * free,
        log_likelihood,
        model,
    })
}

impl GmmModel {
    /// Total log-likelihood of `x` and each row's membership probabilities (log-sum-exp with
    /// the maximum subtracted).
    pub fn log_likelihood(&self, x: ArrayView2<f64>) -> Result<(f64, Array2<f64>), EngineError> {
        let k = self.weights.len();
        let d = x.ncols();
        let factors: Vec<(Vec<f64>, f64)> = self
            .covariances
            .iter()
            .map(|c| {
                cholesky(c).ok_or_else(|| {
                    EngineError::invalid("covariance", "positive definite", "a singular component")
                })
            })
            .collect::<Result<_, _>>()?;
        let mut probabilities = Array2::zeros((x.nrows(), k));
        let mut total = 0.0;
        let mut logp = vec![0.0; k];
        for (i, row) in x.rows().into_iter().enumerate() {
            for j in 0..k {
                let (l, log_det) = &factors[j];
                let diff: Vec<f64> = (0..d).map(|f| row[f] - self.means[[j, f]]).collect();
                let maha = solve_lower_norm2(l, &diff, d);
                logp[j] = self.weights[j].ln()
                    - 0.5 * (d as f64 * (2.0 * std::f64::consts::PI).ln() + log_det + maha);
            }
            let max = logp.iter().copied().fold(f64::NEG_INFINITY, f64::max);
            let sum: f64 = logp.iter().map(|v| (v - max).exp()).sum();
            let norm = max + sum.ln();
            total += norm;
            for j in 0..k {
                probabilities[[i, j]] = (logp[j] - norm).exp();
            }
        }
        Ok((total, probabilities))
    }

    /// Most probable component and its probability.
    pub fn predict(&self, x: ArrayView2<f64>) -> Result<Vec<(usize, f64)>, EngineError> {
        let (_, p) = self.log_likelihood(x)?;
        Ok(p.rows()
            .into_iter()
            .map(|r| {
                r.iter()
                    .enumerate()
                    .max_by(|a, b| a.1.total_cmp(b.1).then(b.0.cmp(&a.0)))
                    .map_or((0, 0.0), |(j, &p)| (j, p))
            })
            .collect())
    }
}

/// Lower Cholesky factor (row-major d × d) and log-determinant of a covariance matrix.
fn cholesky(c: &Array2<f64>) -> Option<(Vec<f64>, f64)> {
    let d = c.nrows();
    let mut l = vec![0.0; d * d];
    for i in 0..d {
        for j in 0..=i {
            let s: f64 = (0..j).map(|m| l[i * d + m] * l[j * d + m]).sum();
            if i == j {
                let v = c[[i, i]] - s;
                if v <= 0.0 {
                    return None;
                }
                l[i * d + i] = v.sqrt();
            } else {
                l[i * d + j] = (c[[i, j]] - s) / l[j * d + j];
            }
        }
    }
    let log_det = 2.0 * (0..d).map(|i| l[i * d + i].ln()).sum::<f64>();
    Some((l, log_det))
}

/// |L⁻¹ v|², by forward substitution.
fn solve_lower_norm2(l: &[f64], v: &[f64], d: usize) -> f64 {
    let mut y = vec![0.0; d];
    for i in 0..d {
        let s: f64 = (0..i).map(|m| l[i * d + m] * y[m]).sum();
        y[i] = (v[i] - s) / l[i * d + i];
    }
    y.iter().map(|v| v * v).sum()
}
