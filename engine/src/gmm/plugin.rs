//! The Gaussian mixture as a plug-in: its configuration (covariance, seed), its fit and how
//! its model assigns new rows.

use super::{Covariance, GmmModel, GmmParams, gmm};
use crate::EngineError;
use crate::algorithm::config::seed;
use crate::algorithm::{
    Algorithm, AlgorithmParams, AssignRows, Clusterer, FitJob, Fitted, Joined, MixtureFit, Problems,
};
use crate::kmeans::KMeansParams;
use crate::space::{self, ModelRows};
use ndarray::{ArrayView2, Axis};
use serde::{Deserialize, Serialize};
use utoipa::ToSchema;

/// Gaussian mixture (`covariance`: `full`, the default, or `diag`); `k: "auto"` chooses
/// with the K-Means sweep.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct GmmConfig {
    #[serde(default = "seed")]
    pub seed: u64,
    #[serde(default)]
    pub covariance: CovarianceConfig,
}

/// Covariance structure of a Gaussian mixture's components.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Serialize, Deserialize, ToSchema)]
#[serde(rename_all = "snake_case")]
pub enum CovarianceConfig {
    /// A full covariance matrix per component (scikit-learn's `covariance_type="full"`).
    #[default]
    Full,
    /// Variances only (`"diag"`): fewer parameters, features independent within a segment.
    Diag,
}

impl AlgorithmParams for GmmConfig {
    const TYPE: &'static str = "gmm";
    const TAKES_K: bool = true;

    fn check(&self, run: &mut KMeansParams, _: &mut Problems) -> Algorithm {
        run.seed = self.seed;
        Algorithm::new(Mixture {
            covariance: match self.covariance {
                CovarianceConfig::Full => Covariance::Full,
                CovarianceConfig::Diag => Covariance::Diag,
            },
        })
    }
}

/// A Gaussian mixture of k components: soft memberships, each row scored by the probability
/// of its segment.
#[derive(Debug)]
pub struct Mixture {
    pub covariance: Covariance,
}

impl Clusterer for Mixture {
    fn name(&self) -> &'static str {
        GmmConfig::TYPE
    }

    fn fit(&self, rows: &dyn ModelRows, job: FitJob<'_>) -> Result<Fitted, EngineError> {
        let params = GmmParams {
            seed: job.kmeans.seed,
            stream: job.kmeans.stream,
            covariance: self.covariance,
            ..GmmParams::new(job.k)
        };
        let fit = gmm(space::whole(rows).view(), &params)?;
        let probability = fit
            .labels
            .iter()
            .enumerate()
            .map(|(i, &l)| fit.probabilities[[i, l]])
            .collect();
        Ok(Fitted {
            probability: Some(probability),
            mixture: Some(MixtureFit {
                log_likelihood: fit.log_likelihood,
                mean_log_likelihood: fit.mean_log_likelihood,
                bic: fit.bic,
                aic: fit.aic,
            }),
            n_iter: Some(fit.n_iter),
            converged: Some(fit.converged),
            assign: fit.model.into(),
            ..Fitted::hard(fit.labels, job.k)
        })
    }
}

/// A new row joins its most probable component, scored by that probability.
impl AssignRows for GmmModel {
    fn assign(&self, x: ArrayView2<f64>) -> Result<Vec<Joined>, EngineError> {
        Ok(self
            .predict(x)?
            .into_iter()
            .map(|(s, p)| (Some(s), Some(p)))
            .collect())
    }

    fn reorder(&mut self, order: &[usize], _rank: &[usize]) {
        self.weights = order.iter().map(|&o| self.weights[o]).collect();
        self.means = self.means.select(Axis(0), order);
        self.covariances = order.iter().map(|&o| self.covariances[o].clone()).collect();
    }
}
