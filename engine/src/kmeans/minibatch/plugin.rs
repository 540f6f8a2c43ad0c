//! Mini-batch K-Means as a plug-in: its configuration (batch size, passes, seed) and its fit.

use super::{MiniBatchParams, fit};
use crate::EngineError;
use crate::algorithm::config::seed;
use crate::algorithm::{Algorithm, AlgorithmParams, Clusterer, FitJob, Fitted, Problems};
use crate::kmeans::KMeansParams;
use crate::preprocess::Hold;
use crate::space::ModelRows;
use serde::{Deserialize, Serialize};
use utoipa::ToSchema;

/// Mini-batch K-Means (scikit-learn's `MiniBatchKMeans`): each step moves the centroids
/// towards `batch_size` customers drawn at random, with a learning rate per centroid; it
/// stops after `max_iter` passes' worth of steps, or earlier when the batches' inertia
/// stops improving. Much faster than K-Means on large stores, for an inertia a little
/// higher.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct MiniBatchConfig {
    #[serde(default = "batch_size")]
    #[schema(minimum = 1, maximum = 1_000_000)]
    pub batch_size: i64,
    #[serde(default = "max_iter")]
    #[schema(minimum = 1, maximum = 1_000)]
    pub max_iter: i64,
    #[serde(default = "seed")]
    pub seed: u64,
    /// Steps without an improvement of the smoothed batch inertia before it stops (0: run
    /// every step). The CLI's `--max-no-improvement`; the service keeps scikit-learn's 10.
    #[serde(skip, default = "max_no_improvement")]
    pub max_no_improvement: usize,
}

/// scikit-learn's `MiniBatchKMeans` defaults.
fn batch_size() -> i64 {
    1024
}

fn max_iter() -> i64 {
    100
}

fn max_no_improvement() -> usize {
    10
}

/// The largest mini-batch.
pub const MAX_BATCH_SIZE: i64 = 1_000_000;
/// The most passes' worth of mini-batch steps.
pub const MAX_MINIBATCH_ITER: i64 = 1_000;

impl AlgorithmParams for MiniBatchConfig {
    const TYPE: &'static str = "minibatch_kmeans";
    const TAKES_K: bool = true;

    fn check(&self, run: &mut KMeansParams, problems: &mut Problems) -> Algorithm {
        run.seed = self.seed;
        Algorithm::new(MiniBatch {
            batch_size: problems.count("batch_size", self.batch_size, MAX_BATCH_SIZE),
            max_iter: problems.count("max_iter", self.max_iter, MAX_MINIBATCH_ITER),
            max_no_improvement: self.max_no_improvement,
        })
    }
}

/// Mini-batch K-Means' checked parameters.
#[derive(Debug)]
pub struct MiniBatch {
    pub batch_size: usize,
    pub max_iter: usize,
    /// 0 runs every step.
    pub max_no_improvement: usize,
}

impl Clusterer for MiniBatch {
    fn name(&self) -> &'static str {
        MiniBatchConfig::TYPE
    }

    /// It reads a batch of rows at a time: model-space rows are computed from the columns
    /// as they are read, and the scaled matrix is never held.
    fn holds(&self) -> Hold {
        Hold::Columns
    }

    fn fit(&self, rows: &dyn ModelRows, job: FitJob<'_>) -> Result<Fitted, EngineError> {
        let params = MiniBatchParams {
            batch_size: self.batch_size,
            max_iter: self.max_iter,
            max_no_improvement: self.max_no_improvement,
            seed: job.kmeans.seed,
            ..MiniBatchParams::new(job.k)
        };
        let fit = fit(rows, &params)?;
        Ok(Fitted {
            n_iter: Some(fit.n_iter),
            converged: Some(fit.converged),
            restarts: Some(1),
            ..Fitted::hard(fit.labels, job.k)
        })
    }
}
