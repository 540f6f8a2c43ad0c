//! The Gaussian mixture, fitted as scikit-learn's `GaussianMixture` fits it: one K-Means
//! initialisation (`n_init = 1`, the run's seed and random stream), then EM until the mean
//! log-likelihood changes by less than `tol`, full or diagonal covariances with `reg_covar` on
//! their diagonal. A model gives a new point its most probable component and that
//! probability.
//!
//! Each EM iteration is one parallel pass over the rows: the E-step (log-densities through
//! the precision Cholesky factors, log-sum-exp with the maximum subtracted) and the
//! M-step's sufficient statistics are computed together, per fixed-size chunk, and merged in
//! chunk order, so a fit is reproducible on any number of threads. Scatter matrices are
//! accumulated about the current means (not as Σxxᵀ − n·μμᵀ), which keeps them accurate on
//! unscaled data.

mod pass;

use super::EngineError;
use super::kmeans::{self, KMeansParams, RandomStream};
use ndarray::{Array2, ArrayView2};
use pass::{Components, Stats};
use serde::{Deserialize, Serialize};

/// Covariance structure of the components.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Covariance {
    /// A full matrix per component (scikit-learn's `covariance_type="full"`).
    #[default]
    Full,
    /// Variances only, per component (`"diag"`): features independent within a component.
    Diag,
}

impl Covariance {
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Full => "full",
            Self::Diag => "diag",
        }
    }
}

#[derive(Debug, Clone, PartialEq)]
pub struct GmmParams {
    pub k: usize,
    pub seed: u64,
    /// The random stream of the K-Means initialisation (scikit-learn's reproduces
    /// `GaussianMixture(random_state=seed)` exactly).
    pub stream: RandomStream,
    pub max_iter: usize,
    pub tol: f64,
    pub reg_covar: f64,
    pub covariance: Covariance,
}

impl GmmParams {
    /// scikit-learn's defaults.
    pub fn new(k: usize) -> Self {
        Self {
            k,
            seed: 42,
            stream: RandomStream::Segstore,
            max_iter: 100,
            tol: 1e-3,
            reg_covar: 1e-6,
            covariance: Covariance::Full,
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
    /// EM iterations, and whether the change in mean log-likelihood fell below `tol`
    /// before `max_iter`.
    pub n_iter: usize,
    pub converged: bool,
    pub model: GmmModel,
}

/// The components; new points go to their most probable one. Diagonal covariances are kept
/// as diagonal matrices.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct GmmModel {
    pub weights: Vec<f64>,
    pub means: Array2<f64>,
    pub covariances: Vec<Array2<f64>>,
    #[serde(default)]
    pub covariance: Covariance,
}

fn check(n: usize, params: &GmmParams) -> Result<(), EngineError> {
    super::error::check_k(params.k, n)?;
    if params.max_iter == 0 {
        return Err(EngineError::invalid("max_iter", "at least 1", 0));
    }
    if !(params.tol >= 0.0 && params.tol.is_finite()) {
        return Err(EngineError::invalid(
            "tol",
            "a finite number >= 0",
            params.tol,
        ));
    }
    if !(params.reg_covar >= 0.0 && params.reg_covar.is_finite()) {
        return Err(EngineError::invalid(
            "reg_covar",
            "a finite number >= 0",
            params.reg_covar,
        ));
    }
    Ok(())
}

/// The number of free parameters (scikit-learn's `_n_parameters`).
fn free_parameters(k: usize, d: usize, covariance: Covariance) -> f64 {
    let (k, d) = (k as f64, d as f64);
    let cov = match covariance {
        Covariance::Full => k * d * (d + 1.0) / 2.0,
        Covariance::Diag => k * d,
    };
    cov + k * d + k - 1.0
}

pub fn gmm(x: ArrayView2<f64>, params: &GmmParams) -> Result<GmmFit, EngineError> {
    let (n, d) = x.dim();
    check(n, params)?;
    let standard = x.as_standard_layout();
    let data: &[f64] = standard.as_slice().expect("standard layout");
    let k = params.k;
    let init = kmeans::fit(
        x,
        &KMeansParams::new(k)
            .n_init(1)
            .seed(params.seed)
            .stream(params.stream),
    )?;
    let mut model = GmmModel::from_stats(
        &Stats::hard(data, d, &init.labels, k),
        params.reg_covar,
        params.covariance,
    );
    let mut lower_bound = f64::NEG_INFINITY;
    let (mut n_iter, mut converged) = (0, false);
    for iteration in 1..=params.max_iter {
        n_iter = iteration;
        let components = Components::new(&model)?;
        let stats = pass::em(data, d, &components, params.covariance);
        model = GmmModel::from_stats(&stats, params.reg_covar, params.covariance);
        let previous = lower_bound;
        lower_bound = stats.log_likelihood / n as f64;
        if (lower_bound - previous).abs() < params.tol {
            converged = true;
            break;
        }
    }
    let (log_likelihood, probabilities) = model.log_likelihood(x)?;
    let labels = most_probable(&probabilities)
        .into_iter()
        .map(|(j, _)| j)
        .collect();
    let free = free_parameters(k, d, params.covariance);
    Ok(GmmFit {
        labels,
        probabilities,
        mean_log_likelihood: log_likelihood / n as f64,
        bic: -2.0 * log_likelihood + free * (n as f64).ln(),
        aic: -2.0 * log_likelihood + 2.0 * free,
        log_likelihood,
        n_iter,
        converged,
        model,
    })
}

/// Each row's most probable component (the first on ties) and its probability.
fn most_probable(p: &Array2<f64>) -> Vec<(usize, f64)> {
    p.rows()
        .into_iter()
        .map(|r| {
            r.iter()
                .enumerate()
                .fold((0, f64::NEG_INFINITY), |best, (j, &v)| {
                    if v > best.1 { (j, v) } else { best }
                })
        })
        .collect()
}

impl GmmModel {
    /// The M-step: weights, means and covariances from a pass's statistics, as
    /// scikit-learn's `_estimate_gaussian_parameters` computes them.
    fn from_stats(stats: &Stats, reg_covar: f64, covariance: Covariance) -> Self {
        let (k, d) = (stats.k, stats.d);
        let total: f64 = stats.nk.iter().sum();
        let mut means = Array2::zeros((k, d));
        let mut covariances = Vec::with_capacity(k);
        for j in 0..k {
            // scikit-learn adds 10 ε so that an empty component divides by something.
            let nk = stats.nk[j] + 10.0 * f64::EPSILON;
            // Σ r (x − s) about the shift s, so the mean is s + that / nk.
            let offset: Vec<f64> = (0..d).map(|f| stats.sx[j * d + f] / nk).collect();
            for f in 0..d {
                means[[j, f]] = stats.shift[j * d + f] + offset[f];
            }
            let mut c = Array2::zeros((d, d));
            for a in 0..d {
                for b in 0..=a {
                    if covariance == Covariance::Diag && a != b {
                        continue;
                    }
                    let v = stats.sxx(j, a, b) / nk - offset[a] * offset[b];
                    c[[a, b]] = v;
                    c[[b, a]] = v;
                }
                c[[a, a]] += reg_covar;
            }
            covariances.push(c);
        }
        Self {
            weights: stats
                .nk
                .iter()
                .map(|&w| (w + 10.0 * f64::EPSILON) / (total + 10.0 * f64::EPSILON * k as f64))
                .collect(),
            means,
            covariances,
            covariance,
        }
    }

    /// Total log-likelihood of `x` and each row's membership probabilities.
    pub fn log_likelihood(&self, x: ArrayView2<f64>) -> Result<(f64, Array2<f64>), EngineError> {
        let (n, d) = x.dim();
        let owned;
        let data: &[f64] = match x.as_slice() {
            Some(s) => s,
            None => {
                owned = x.as_standard_layout().into_owned();
                owned.as_slice().expect("standard layout")
            }
        };
        let components = Components::new(self)?;
        let mut probabilities = Array2::zeros((n, self.weights.len()));
        let total = pass::probabilities(
            data,
            d,
            &components,
            probabilities.as_slice_mut().expect("standard layout"),
        );
        Ok((total, probabilities))
    }

    /// Most probable component and its probability.
    pub fn predict(&self, x: ArrayView2<f64>) -> Result<Vec<(usize, f64)>, EngineError> {
        let (_, p) = self.log_likelihood(x)?;
        Ok(most_probable(&p))
    }
}

pub mod plugin;
#[cfg(test)]
mod tests;
