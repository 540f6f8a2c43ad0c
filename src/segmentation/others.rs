//! The other algorithms: DBSCAN and the Gaussian mixture (linfa-clustering), hierarchical
//! agglomerative clustering with Ward linkage (kodama). Each returns assignments and a model
//! that assigns new points.

use super::EngineError;
use linfa::DatasetBase;
use linfa::traits::{Fit, Transformer};
use linfa_clustering::{Dbscan, GaussianMixtureModel, GmmInitMethod};
use ndarray::{Array2, ArrayView2, Axis};
use rand::SeedableRng;
use rand_xoshiro::Xoshiro256Plus;

fn invalid(name: &'static str, rule: &'static str, value: impl ToString) -> EngineError {
    EngineError::InvalidParameter {
        name,
        rule,
        value: value.to_string(),
    }
}

fn dist2(a: &[f64], b: &[f64]) -> f64 {
    a.iter().zip(b).map(|(x, y)| (x - y) * (x - y)).sum()
}

fn rows(x: ArrayView2<f64>) -> Vec<Vec<f64>> {
    x.rows().into_iter().map(|r| r.to_vec()).collect()
}

// ---------------------------------------------------------------- DBSCAN

#[derive(Debug, Clone, PartialEq)]
pub struct DbscanParams {
    /// Neighbourhood radius (model space).
    pub eps: f64,
    /// Rows within `eps` (the row itself included) that make a row a core point.
    pub min_points: usize,
}

#[derive(Debug, Clone)]
pub struct DbscanFit {
    /// `None` is noise.
    pub labels: Vec<Option<usize>>,
    pub n_clusters: usize,
    pub n_noise: usize,
    pub model: DbscanModel,
}

/// New points join the cluster of the nearest core point within `eps`, else are noise.
#[derive(Debug, Clone, PartialEq, serde::Serialize, serde::Deserialize)]
pub struct DbscanModel {
    pub eps: f64,
    pub core_points: Array2<f64>,
    pub core_labels: Vec<usize>,
}

pub fn dbscan(x: ArrayView2<f64>, params: &DbscanParams) -> Result<DbscanFit, EngineError> {
    if !(params.eps > 0.0 && params.eps.is_finite()) {
        return Err(invalid("eps", "a finite number > 0", params.eps));
    }
    if params.min_points < 2 {
        return Err(invalid("min_points", "at least 2", params.min_points));
    }
    if x.nrows() == 0 {
        return Err(EngineError::Empty {
            reason: String::new(),
        });
    }
    let found = Dbscan::params(params.min_points)
        .tolerance(params.eps)
        .transform(&x.to_owned())
        .map_err(|e| EngineError::Linfa(super::error::LinfaError(e.to_string())))?;
    let labels: Vec<Option<usize>> = found.to_vec();
    let n_clusters = labels.iter().flatten().max().map_or(0, |m| m + 1);
    let n_noise = labels.iter().filter(|l| l.is_none()).count();
    // Core points: rows with at least min_points rows within eps.
    let all = rows(x);
    let eps2 = params.eps * params.eps;
    let core: Vec<usize> = (0..all.len())
        .filter(|&i| labels[i].is_some())
        .filter(|&i| all.iter().filter(|r| dist2(r, &all[i]) <= eps2).count() >= params.min_points)
        .collect();
    let model = DbscanModel {
        eps: params.eps,
        core_points: x.select(Axis(0), &core),
        core_labels: core
            .iter()
            .map(|&i| labels[i].expect("core points are clustered"))
            .collect(),
    };
    Ok(DbscanFit {
        labels,
        n_clusters,
        n_noise,
        model,
    })
}

impl DbscanModel {
    pub fn predict(&self, x: ArrayView2<f64>) -> Vec<Option<usize>> {
        let eps2 = self.eps * self.eps;
        x.rows()
            .into_iter()
            .map(|r| {
                let r = r.to_vec();
                self.core_points
                    .rows()
                    .into_iter()
                    .zip(&self.core_labels)
                    .map(|(c, &l)| (dist2(&r, c.as_slice().expect("standard layout")), l))
                    .filter(|(d, _)| *d <= eps2)
                    .min_by(|a, b| a.0.total_cmp(&b.0))
                    .map(|(_, l)| l)
            })
            .collect()
    }
}

// ---------------------------------------------------------------- Gaussian mixture

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
                    invalid("covariance", "positive definite", "a singular component")
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

// ---------------------------------------------------------------- Ward

/// Ward needs the n(n-1)/2 pairwise distances in memory: 10,000 rows take 400 MB. Larger
/// inputs are refused (use K-Means, or a sample).
pub const WARD_MAX_ROWS: usize = 10_000;

#[derive(Debug, Clone)]
pub struct WardFit {
    pub labels: Vec<usize>,
    /// Member means (model space); new points go to the nearest.
    pub centroids: Array2<f64>,
}

pub fn ward(x: ArrayView2<f64>, k: usize) -> Result<WardFit, EngineError> {
    let n = x.nrows();
    super::error::check_k(k, n)?;
    if n > WARD_MAX_ROWS {
        return Err(invalid(
            "rows",
            "at most 10000 for Ward (its distance matrix grows with rows²; use kmeans)",
            n,
        ));
    }
    let all = rows(x);
    let mut condensed = Vec::with_capacity(n * (n - 1) / 2);
    for i in 0..n {
        for j in i + 1..n {
            condensed.push(dist2(&all[i], &all[j]).sqrt());
        }
    }
    let dendrogram = kodama::linkage(&mut condensed, n, kodama::Method::Ward);
    // Replay the first n - k merges with a union-find over clusters numbered like SciPy's.
    let mut parent: Vec<usize> = (0..2 * n).collect();
    fn find(parent: &mut [usize], mut i: usize) -> usize {
        while parent[i] != i {
            parent[i] = parent[parent[i]];
            i = parent[i];
        }
        i
    }
    for (s, step) in dendrogram.steps().iter().take(n - k).enumerate() {
        let new = n + s;
        let a = find(&mut parent, step.cluster1);
        let b = find(&mut parent, step.cluster2);
        parent[a] = new;
        parent[b] = new;
    }
    let mut ids: Vec<usize> = Vec::new();
    let labels: Vec<usize> = (0..n)
        .map(|i| {
            let root = find(&mut parent, i);
            match ids.iter().position(|&r| r == root) {
                Some(p) => p,
                None => {
                    ids.push(root);
                    ids.len() - 1
                }
            }
        })
        .collect();
    let centroids = super::metrics::cluster_means(x, &labels, k);
    Ok(WardFit { labels, centroids })
}

impl WardFit {
    /// New points go to the nearest segment centroid (member mean).
    pub fn predict(&self, x: ArrayView2<f64>) -> Vec<usize> {
        super::kmeans::KMeans {
            centroids: self.centroids.clone(),
        }
        .predict_rows(x)
        .0
    }
}

/// Sizes of the clusters of `labels` (for reports and tests).
pub fn sizes(labels: impl IntoIterator<Item = usize>, k: usize) -> Vec<usize> {
    let mut s = vec![0; k];
    labels.into_iter().for_each(|l| s[l] += 1);
    s
}
