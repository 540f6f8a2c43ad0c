//! HDBSCAN as a plug-in: its configuration (`min_cluster_size`, `min_samples`,
//! `cluster_selection_method`), its fit and how its model assigns new rows.

use super::{HdbscanModel, HdbscanParams, Selection, hdbscan};
use crate::EngineError;
use crate::algorithm::{
    Algorithm, AlgorithmParams, AssignRows, Clusterer, FitJob, Fitted, Joined, Problems,
};
use crate::kmeans::KMeansParams;
use crate::space::{self, ModelRows};
use ndarray::ArrayView2;
use serde::{Deserialize, Serialize};
use utoipa::ToSchema;

/// Hierarchical density-based (scikit-learn's `HDBSCAN`): finds its own number of segments
/// of any shape and density, and leaves customers in no dense region as noise, without an
/// `eps` to tune. Each customer's score is its membership strength (0 to 1); a new customer
/// is scored as the `hdbscan` package's `approximate_predict` scores it.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct HdbscanConfig {
    /// The fewest customers a segment may have.
    #[serde(default = "min_cluster_size")]
    #[schema(minimum = 2, maximum = 1_000_000)]
    pub min_cluster_size: i64,
    /// Customers in a neighbourhood (the customer included) for it to be core; the larger,
    /// the more customers are noise. Absent: `min_cluster_size`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schema(minimum = 1, maximum = 1_000)]
    pub min_samples: Option<i64>,
    #[serde(default)]
    pub cluster_selection_method: ClusterSelectionMethod,
}

/// How HDBSCAN picks segments from its tree of clusters.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Serialize, Deserialize, ToSchema)]
#[serde(rename_all = "lowercase")]
pub enum ClusterSelectionMethod {
    /// Excess of mass: the most stable clusters (scikit-learn's default).
    #[default]
    Eom,
    /// The leaves of the condensed tree: smaller, more homogeneous segments.
    Leaf,
}

/// scikit-learn's default.
fn min_cluster_size() -> i64 {
    5
}

/// The largest `min_cluster_size`.
pub const MAX_MIN_CLUSTER_SIZE: i64 = 1_000_000;
/// The largest `min_samples`: each customer's core distance reads this many neighbours.
pub const MAX_MIN_SAMPLES: i64 = 1_000;

impl AlgorithmParams for HdbscanConfig {
    const TYPE: &'static str = "hdbscan";
    const TAKES_K: bool = false;

    fn check(&self, _: &mut KMeansParams, problems: &mut Problems) -> Algorithm {
        let size = self.min_cluster_size;
        if !(2..=MAX_MIN_CLUSTER_SIZE).contains(&size) {
            problems.add(
                "min_cluster_size",
                format!("must be between 2 and {MAX_MIN_CLUSTER_SIZE}, got {size}"),
            );
        }
        let min_samples = self
            .min_samples
            .map(|m| problems.count("min_samples", m, MAX_MIN_SAMPLES));
        Algorithm::new(Hdbscan(HdbscanParams {
            min_cluster_size: size.clamp(2, MAX_MIN_CLUSTER_SIZE) as usize,
            min_samples,
            selection: match self.cluster_selection_method {
                ClusterSelectionMethod::Eom => Selection::Eom,
                ClusterSelectionMethod::Leaf => Selection::Leaf,
            },
        }))
    }
}

/// HDBSCAN's checked parameters.
#[derive(Debug)]
pub struct Hdbscan(pub HdbscanParams);

impl Clusterer for Hdbscan {
    fn name(&self) -> &'static str {
        HdbscanConfig::TYPE
    }

    fn finds_own_k(&self) -> Option<&'static str> {
        Some("density (HDBSCAN)")
    }

    fn fit(&self, rows: &dyn ModelRows, _: FitJob<'_>) -> Result<Fitted, EngineError> {
        let fit = hdbscan(space::whole(rows).view(), &self.0)?;
        if fit.n_clusters == 0 {
            return Err(EngineError::InvalidParameter {
                name: "min_cluster_size",
                rule: "small enough for HDBSCAN to find a cluster",
                value: format!("{} (every row is noise)", self.0.min_cluster_size),
            });
        }
        let probability = fit
            .labels
            .iter()
            .zip(&fit.probabilities)
            .map(|(l, &p)| if l.is_some() { p } else { f64::NAN })
            .collect();
        Ok(Fitted {
            raw: fit.labels,
            probability: Some(probability),
            assign: fit.model.into(),
            ..Fitted::hard(Vec::new(), fit.n_clusters)
        })
    }
}

/// A new row joins the segment `approximate_predict` finds (or is noise), scored by its
/// membership strength.
impl AssignRows for HdbscanModel {
    fn assign(&self, x: ArrayView2<f64>) -> Result<Vec<Joined>, EngineError> {
        Ok(x.rows()
            .into_iter()
            .map(|row| match self.predict(&row.to_vec()) {
                (Some(s), strength) => (Some(s), Some(strength)),
                (None, _) => (None, None),
            })
            .collect())
    }

    fn reorder(&mut self, _order: &[usize], rank: &[usize]) {
        for cluster in &mut self.clusters {
            cluster.label = cluster.label.map(|l| rank[l as usize] as u32);
        }
    }
}
