//! K-Means: greedy k-means++ initialisation, Lloyd iterations with scikit-learn's stopping
//! rule, empty-cluster relocation and `n_init` restarts, on a tuned kernel.
//!
//! The kernel computes one row's distances to all k centroids together (centroids laid out
//! features × k, so the inner loop runs over k contiguous values and vectorises), takes the
//! argmin without branches, and folds the row into per-chunk partial sums (the next
//! centroids) in the same pass; an AVX2 + FMA build of it is picked at run time. Rows are
//! split into fixed-size chunks, independent of the number of threads, each with preallocated buffers; chunk
//! results are merged in chunk order, so a fit is reproducible to the last bit on any machine.
//! Nothing is allocated inside the iteration loop.
//!
//! Files: `params` (the builder and its checks), `init` (k-means++ and the random streams of
//! restarts), `pass` (one assignment pass over every chunk), `kernel` (a chunk's rows),
//! `avx2` (the kernel's AVX2 + FMA build: the engine's only `unsafe`), `lloyd` (iterations,
//! stopping rule, empty clusters), `hartigan` (single-row moves after Lloyd, on small
//! tables), `restarts` (small tables: several restarts at once, one per thread),
//! `minibatch` (mini-batch K-Means, as scikit-learn's `MiniBatchKMeans`); this file fits the
//! restarts one after the other on larger tables, keeps the best, and splits rows in two for
//! bisecting K-Means.

use super::EngineError;
use linfa::dataset::DatasetBase;
use linfa::traits::{Fit, PredictInplace};
use ndarray::{Array1, Array2, ArrayView2};
use rayon::prelude::*;
use serde::{Deserialize, Serialize};

/// Rows per parallel chunk.
const CHUNK: usize = 16 * 1024;

mod avx2;
mod hartigan;
mod init;
mod kernel;
mod lloyd;
pub mod minibatch;
mod params;
mod pass;
mod restarts;

pub use params::{AUTO_MAX, AUTO_MIN, AUTO_ROW_FITS, Init, KMeansParams, RandomStream, Restarts};

use init::Rows;
pub(crate) use init::Streams;
use lloyd::lloyd;
use pass::{Workspace, assign};
use restarts::restarts_in_parallel;

/// A fitted model: the centroids, in model space.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct KMeans {
    pub centroids: Array2<f64>,
}

/// Everything a fit found.
#[derive(Debug, Clone)]
pub struct KMeansFit {
    pub model: KMeans,
    pub labels: Vec<usize>,
    /// Squared distance of each row to its centroid.
    pub sq_distances: Vec<f64>,
    pub inertia: f64,
    /// Lloyd iterations of the kept restart.
    pub n_iter: usize,
    /// Whether it stopped by the rule (labels unchanged or shift within tolerance), not
    /// by `max_iter`.
    pub converged: bool,
    /// For the kept restart: the sum of squared distances of each assignment step. Never
    /// increases.
    pub inertia_trace: Vec<f64>,
    /// Inertia of every restart, in order.
    pub restart_inertias: Vec<f64>,
    /// Wall time of the kept restart's Lloyd iterations (not the initialisation).
    pub iterations_seconds: f64,
}

/// Fits K-Means on the rows of `x` (one row per customer, model space).
pub fn fit(x: ArrayView2<f64>, params: &KMeansParams) -> Result<KMeansFit, EngineError> {
    fit_weighted(x, None, params)
}

/// [`fit`] with a sample weight per row (`None`: all 1), as scikit-learn's `sample_weight`:
/// k-means++ draws in proportion to weight × squared distance, centroids are weighted means
/// and the inertia is `Σ w·d²`; the stopping tolerance stays relative to the unweighted
/// variance. Weights must be finite and >= 0, and not all 0.
pub fn fit_weighted(
    x: ArrayView2<f64>,
    weights: Option<&[f64]>,
    params: &KMeansParams,
) -> Result<KMeansFit, EngineError> {
    if let Some(w) = weights {
        check_weights(w, x.nrows())?;
    }
    on_the_pool(|| fit_restarts(x, weights, params))
}

/// Sample weights: one per row, finite and >= 0, some of them > 0.
pub fn check_weights(w: &[f64], rows: usize) -> Result<(), EngineError> {
    if w.len() != rows {
        return Err(EngineError::invalid(
            "sample weights",
            "one per row",
            format!("{} for {rows} rows", w.len()),
        ));
    }
    if let Some(bad) = w.iter().find(|w| !(w.is_finite() && **w >= 0.0)) {
        return Err(EngineError::invalid(
            "sample weights",
            "finite and >= 0",
            bad,
        ));
    }
    if rows > 0 && w.iter().all(|&w| w == 0.0) {
        return Err(EngineError::invalid(
            "sample weights",
            "not all 0",
            "0 for every row",
        ));
    }
    Ok(())
}

/// Runs `work` on one of rayon's worker threads (at once if this is one). A parallel pass
/// started from outside the pool waits for a worker to pick it up; on small data, where
/// every pass is a single chunk, that wait was most of a restart (Mall: 1,000 restarts took
/// ~100 ms called from outside the pool).
pub fn on_the_pool<R: Send>(work: impl FnOnce() -> R + Send) -> R {
    if rayon::current_thread_index().is_some() {
        work()
    } else {
        rayon::scope(|_| work())
    }
}

fn fit_restarts(
    x: ArrayView2<f64>,
    weights: Option<&[f64]>,
    params: &KMeansParams,
) -> Result<KMeansFit, EngineError> {
    let (n, d) = x.dim();
    params.check(n, d)?;
    let standard = x.as_standard_layout();
    let data: &[f64] = standard.as_slice().expect("standard layout");
    let tol = params.tol * mean_variance(data, n, d);
    let mut streams = Streams::new(params);
    let mut ws = Workspace::new(n, d, params.k);
    let mut best: Option<KMeansFit> = None;
    let restarts = match params.init {
        // The same start gives the same fit: one restart is all of them.
        Init::Centroids(_) => 1,
        Init::KMeansPlusPlus => params.n_init.count(n, params.stream),
    };
    // Small data (one chunk: every pass runs on one thread) with restarts of their own
    // streams: the restarts share the threads instead.
    if n <= CHUNK
        && restarts > 1
        && params.init == Init::KMeansPlusPlus
        && let Some(seeds) = streams.restart_seeds(restarts)
    {
        let rows = Rows {
            data,
            weights,
            n,
            d,
        };
        return restarts_in_parallel(rows, params, tol, &seeds, ws);
    }
    let mut restart_inertias = Vec::with_capacity(restarts);
    for restart in 0..restarts {
        let init_started = std::time::Instant::now();
        let centroids = match &params.init {
            Init::KMeansPlusPlus => {
                streams.kmeans_plus_plus(data, weights, n, d, params.k, &mut ws)?
            }
            Init::Centroids(c) => c.as_standard_layout().iter().copied().collect(),
        };
        let run = lloyd(
            data,
            weights,
            n,
            d,
            params.k,
            centroids,
            params.max_iter,
            tol,
            &mut ws,
        );
        tracing::debug!(
            restart,
            init_ms = (init_started.elapsed().as_secs_f64() - run.iterations_seconds) * 1e3,
            iterations = run.n_iter,
            iterations_ms = run.iterations_seconds * 1e3,
            inertia = run.inertia,
            "k-means restart"
        );
        restart_inertias.push(run.inertia);
        if best.as_ref().is_none_or(|b| run.inertia < b.inertia) {
            best = Some(run);
        }
    }
    let mut best = best.expect("n_init >= 1");
    best.restart_inertias = restart_inertias;
    Ok(best)
}

/// Splits the rows of `data` (`n` × `d`, row-major) in two: bisecting K-Means' step.
/// `streams` is the caller's, drawn on across splits; each of `restarts` restarts starts as
/// [`Streams::split_start`] says, and Lloyd stops at the absolute tolerance `tol`. A later
/// restart is kept only when it is lower by more than 1e-6 (relative), as scikit-learn keeps
/// them.
pub(crate) fn split_in_two(
    data: &[f64],
    n: usize,
    d: usize,
    restarts: usize,
    max_iter: usize,
    tol: f64,
    streams: &mut Streams,
) -> Result<KMeansFit, EngineError> {
    crate::error::check_k(2, n)?;
    let mut ws = Workspace::new(n, d, 2);
    let mut best: Option<KMeansFit> = None;
    let mut restart_inertias = Vec::with_capacity(restarts);
    for _ in 0..restarts.max(1) {
        let start = streams.split_start(data, n, d, &mut ws)?;
        let run = lloyd(data, None, n, d, 2, start, max_iter, tol, &mut ws);
        restart_inertias.push(run.inertia);
        if best
            .as_ref()
            .is_none_or(|b| run.inertia < b.inertia * (1.0 - 1e-6))
        {
            best = Some(run);
        }
    }
    let mut best = best.expect("at least one restart");
    best.restart_inertias = restart_inertias;
    Ok(best)
}

/// The centroids the first restart's k-means++ would start from (to seed another
/// implementation with exactly the same start, as the benchmark does).
pub fn initial_centroids(
    x: ArrayView2<f64>,
    params: &KMeansParams,
) -> Result<Array2<f64>, EngineError> {
    let (n, d) = x.dim();
    params.check(n, d)?;
    let x = x.as_standard_layout();
    let data = x.as_slice().expect("standard layout");
    let mut ws = Workspace::new(n, d, params.k);
    let centroids = Streams::new(params).kmeans_plus_plus(data, None, n, d, params.k, &mut ws)?;
    Ok(Array2::from_shape_vec((params.k, d), centroids).expect("k × d"))
}

/// The mean over features of each feature's (population) variance: two row-wise passes,
/// in fixed chunks merged in order.
fn mean_variance(data: &[f64], n: usize, d: usize) -> f64 {
    let column_sums = |f: &(dyn Fn(&[f64], &mut [f64]) + Sync)| -> Vec<f64> {
        data.par_chunks(CHUNK * d)
            .map(|rows| {
                let mut acc = vec![0.0; d];
                for row in rows.chunks_exact(d) {
                    f(row, &mut acc);
                }
                acc
            })
            .collect::<Vec<_>>()
            .into_iter()
            .fold(vec![0.0; d], |mut a, b| {
                a.iter_mut().zip(b).for_each(|(x, y)| *x += y);
                a
            })
    };
    let means: Vec<f64> = column_sums(&|row, acc| {
        acc.iter_mut().zip(row).for_each(|(a, x)| *a += x);
    })
    .into_iter()
    .map(|s| s / n as f64)
    .collect();
    let squares = column_sums(&|row, acc| {
        for ((a, x), m) in acc.iter_mut().zip(row).zip(&means) {
            *a += (x - m) * (x - m);
        }
    });
    squares.iter().sum::<f64>() / n as f64 / d as f64
}

fn sq_dist(a: &[f64], b: &[f64]) -> f64 {
    a.iter().zip(b).map(|(x, y)| (x - y) * (x - y)).sum()
}

/// Sum in fixed chunks merged in order: the same bits with any number of threads.
fn ordered_sum(v: &[f64]) -> f64 {
    v.par_chunks(CHUNK)
        .map(|c| c.iter().sum::<f64>())
        .collect::<Vec<_>>()
        .iter()
        .sum()
}

pub(crate) fn distinct_rows(data: &[f64], n: usize, d: usize) -> usize {
    let mut rows: Vec<&[f64]> = (0..n).map(|i| &data[i * d..(i + 1) * d]).collect();
    rows.sort_unstable_by(|a, b| {
        a.iter()
            .zip(b.iter())
            .map(|(x, y)| x.total_cmp(y))
            .find(|o| o.is_ne())
            .unwrap_or(std::cmp::Ordering::Equal)
    });
    rows.dedup();
    rows.len()
}

impl KMeans {
    /// Nearest centroid of each row (ties: the lowest index) and its squared distance.
    pub fn predict_rows(&self, x: ArrayView2<f64>) -> (Vec<usize>, Vec<f64>) {
        let (n, d) = x.dim();
        let k = self.centroids.nrows();
        let mut ws = Workspace::new(n, d, k);
        let owned = x.as_standard_layout();
        let centroids = self.centroids.as_standard_layout();
        assign(
            owned.as_slice().expect("standard layout"),
            d,
            k,
            centroids.as_slice().expect("standard layout"),
            &mut ws,
            false,
        );
        (ws.labels, ws.sq_dist)
    }
}

impl<T> Fit<Array2<f64>, T, EngineError> for KMeansParams {
    type Object = KMeans;

    fn fit(&self, dataset: &DatasetBase<Array2<f64>, T>) -> Result<KMeans, EngineError> {
        fit(dataset.records().view(), self).map(|f| f.model)
    }
}

impl PredictInplace<Array2<f64>, Array1<usize>> for KMeans {
    fn predict_inplace(&self, x: &Array2<f64>, y: &mut Array1<usize>) {
        let (labels, _) = self.predict_rows(x.view());
        for (slot, label) in y.iter_mut().zip(labels) {
            *slot = label;
        }
    }

    fn default_target(&self, x: &Array2<f64>) -> Array1<usize> {
        Array1::zeros(x.nrows())
    }
}

pub mod plugin;
#[cfg(test)]
mod tests;
