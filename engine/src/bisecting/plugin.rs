//! Bisecting K-Means as a plug-in: its configuration (restarts per split, seed), its fit and
//! how its split tree assigns new rows.

use super::{SplitTree, fit};
use crate::EngineError;
use crate::algorithm::config::seed;
use crate::algorithm::{
    Algorithm, AlgorithmParams, AssignRows, Clusterer, FitJob, Fitted, Joined, NInitConfig,
    Problems,
};
use crate::kmeans::KMeansParams;
use crate::space::{self, ModelRows};
use ndarray::ArrayView2;
use serde::{Deserialize, Serialize};
use utoipa::ToSchema;

/// Divisive: bisecting K-Means (any number of customers), splitting the segment with the
/// largest inertia in two until there are k; its split tree is served with the run
/// (`GET /v1/runs/{id}/tree`). `n_init`: restarts of each split (`"auto"`: 25,000 /
/// its customers, between 1 and 1,000).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct BisectingConfig {
    #[serde(default)]
    pub n_init: NInitConfig,
    #[serde(default = "seed")]
    pub seed: u64,
}

impl AlgorithmParams for BisectingConfig {
    const TYPE: &'static str = "bisecting";
    const TAKES_K: bool = true;

    fn check(&self, run: &mut KMeansParams, problems: &mut Problems) -> Algorithm {
        *run = run
            .clone()
            .restarts(self.n_init.check(problems))
            .seed(self.seed);
        Algorithm::new(Bisecting)
    }
}

/// Bisecting K-Means with the run's K-Means settings for each split.
#[derive(Debug)]
pub struct Bisecting;

impl Clusterer for Bisecting {
    fn name(&self) -> &'static str {
        BisectingConfig::TYPE
    }

    fn fit(&self, rows: &dyn ModelRows, job: FitJob<'_>) -> Result<Fitted, EngineError> {
        let fit = fit(space::whole(rows).view(), job.k, job.kmeans)?;
        Ok(Fitted {
            n_iter: Some(fit.n_iter),
            converged: Some(fit.converged),
            restarts: Some(fit.restarts),
            assign: fit.tree.into(),
            ..Fitted::hard(fit.labels, job.k)
        })
    }
}

/// A new row goes down the split tree, towards the nearer centre at each split; scored by the
/// distance to its segment's centroid.
impl AssignRows for SplitTree {
    fn assign(&self, x: ArrayView2<f64>) -> Result<Vec<Joined>, EngineError> {
        Ok(self
            .predict(x)
            .into_iter()
            .map(|s| (Some(s), None))
            .collect())
    }

    fn reorder(&mut self, _order: &[usize], rank: &[usize]) {
        self.renumber(rank);
    }
}
