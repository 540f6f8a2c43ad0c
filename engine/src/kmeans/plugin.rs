//! K-Means as a plug-in: its configuration (restarts, seed, where it starts) and its fit.

use super::{Init, KMeansParams};
use crate::EngineError;
use crate::algorithm::config::seed;
use crate::algorithm::{
    Algorithm, AlgorithmParams, Clusterer, FitJob, Fitted, KMeansFromSweep, NInitConfig, Problems,
};
use crate::space::{self, ModelRows};
use serde::{Deserialize, Serialize};
use utoipa::ToSchema;

// K-Means (k-means++ restarts, Lloyd's iterations); `k: "auto"` chooses with its own sweep.
// (No doc comment: the OpenAPI document has never described this member.)
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct KMeansConfig {
    #[serde(default)]
    pub n_init: NInitConfig,
    #[serde(default = "seed")]
    pub seed: u64,
    #[serde(default, skip_serializing_if = "InitConfig::is_default")]
    pub init: InitConfig,
}

/// Where K-Means starts.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Serialize, Deserialize, ToSchema)]
pub enum InitConfig {
    /// k-means++ restarts (`n_init` of them).
    #[default]
    #[serde(rename = "k-means++")]
    KMeansPlusPlus,
    /// The active run's centroids, taken into this run's preprocessing: one fit from there,
    /// fewer iterations and segments that stay put. Falls back to k-means++ when there is no
    /// active run, or k or the features changed (the run's `fit.warm_start` says which).
    #[serde(rename = "previous")]
    Previous,
}

impl InitConfig {
    fn is_default(&self) -> bool {
        *self == Self::default()
    }
}

impl AlgorithmParams for KMeansConfig {
    const TYPE: &'static str = "kmeans";
    const TAKES_K: bool = true;

    fn check(&self, run: &mut KMeansParams, problems: &mut Problems) -> Algorithm {
        *run = run
            .clone()
            .restarts(self.n_init.check(problems))
            .seed(self.seed);
        Algorithm::new(KMeansAlgorithm)
    }

    fn warm_start(&self) -> bool {
        self.init == InitConfig::Previous
    }
}

/// K-Means with the run's settings (restarts, seed, iterations): the only algorithm that
/// weighs rows and starts from given centroids.
#[derive(Debug)]
pub struct KMeansAlgorithm;

impl Clusterer for KMeansAlgorithm {
    fn name(&self) -> &'static str {
        KMeansConfig::TYPE
    }

    fn takes_weights(&self) -> bool {
        true
    }

    fn starts_from_centroids(&self) -> bool {
        true
    }

    /// Reuses the sweep's fit of k, or starts from given centroids, or restarts k-means++.
    fn fit(&self, rows: &dyn ModelRows, job: FitJob<'_>) -> Result<Fitted, EngineError> {
        let mut params = job.kmeans.clone();
        params.k = job.k;
        let fit = match job.swept {
            Some(KMeansFromSweep::Fit(fit)) => fit,
            Some(KMeansFromSweep::Start(centroids)) => {
                let params = params.n_init(1).init(Init::Centroids(centroids));
                super::fit_weighted(space::whole(rows).view(), job.weights, &params)?
            }
            None => super::fit_weighted(space::whole(rows).view(), job.weights, &params)?,
        };
        Ok(Fitted {
            n_iter: Some(fit.n_iter),
            converged: Some(fit.converged),
            restarts: Some(fit.restart_inertias.len()),
            ..Fitted::hard(fit.labels, job.k)
        })
    }
}
