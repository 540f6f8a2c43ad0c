//! Ward's agglomerative clustering as a plug-in: its configuration (k alone) and its fit.

use crate::EngineError;
use crate::algorithm::{Algorithm, AlgorithmParams, Clusterer, FitJob, Fitted, Problems};
use crate::kmeans::KMeansParams;
use crate::space::{self, ModelRows};
use serde::{Deserialize, Serialize};
use utoipa::ToSchema;

/// Agglomerative with Ward linkage (at most 10,000 customers).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct WardConfig {}

impl AlgorithmParams for WardConfig {
    const TYPE: &'static str = "ward";
    const TAKES_K: bool = true;

    fn check(&self, _: &mut KMeansParams, _: &mut Problems) -> Algorithm {
        Algorithm::new(Ward)
    }
}

/// Ward linkage, cut at k clusters.
#[derive(Debug)]
pub struct Ward;

impl Clusterer for Ward {
    fn name(&self) -> &'static str {
        WardConfig::TYPE
    }

    fn fit(&self, rows: &dyn ModelRows, job: FitJob<'_>) -> Result<Fitted, EngineError> {
        let fit = super::ward(space::whole(rows).view(), job.k)?;
        Ok(Fitted::hard(fit.labels, job.k))
    }
}
