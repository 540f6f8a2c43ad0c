//! DBSCAN as a plug-in: its configuration (`eps`, `min_points`), its fit and how its model
//! assigns new rows.

use super::{DbscanModel, DbscanParams, dbscan};
use crate::EngineError;
use crate::algorithm::{
    Algorithm, AlgorithmParams, AssignRows, Clusterer, FitJob, Fitted, Joined, Problems,
};
use crate::kmeans::KMeansParams;
use crate::space::{self, ModelRows};
use ndarray::ArrayView2;
use serde::{Deserialize, Serialize};
use utoipa::ToSchema;

/// Density-based: finds its own number of segments; `eps` is in scaled units.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct DbscanConfig {
    pub eps: f64,
    pub min_points: i64,
}

impl AlgorithmParams for DbscanConfig {
    const TYPE: &'static str = "dbscan";
    const TAKES_K: bool = false;

    fn check(&self, _: &mut KMeansParams, problems: &mut Problems) -> Algorithm {
        if !(self.eps > 0.0 && self.eps.is_finite()) {
            problems.add(
                "eps",
                format!("must be a finite number above 0, got {}", self.eps),
            );
        }
        if self.min_points < 2 {
            problems.add(
                "min_points",
                format!("must be at least 2, got {}", self.min_points),
            );
        }
        Algorithm::new(Dbscan(DbscanParams {
            eps: self.eps,
            min_points: self.min_points.max(2) as usize,
        }))
    }
}

/// DBSCAN's checked parameters.
#[derive(Debug)]
pub struct Dbscan(pub DbscanParams);

impl Clusterer for Dbscan {
    fn name(&self) -> &'static str {
        DbscanConfig::TYPE
    }

    fn finds_own_k(&self) -> Option<&'static str> {
        Some("density (DBSCAN)")
    }

    fn fit(&self, rows: &dyn ModelRows, _: FitJob<'_>) -> Result<Fitted, EngineError> {
        let fit = dbscan(space::whole(rows).view(), &self.0)?;
        if fit.n_clusters == 0 {
            return Err(EngineError::InvalidParameter {
                name: "eps",
                rule: "large enough for DBSCAN to find a cluster",
                value: format!("{} (every row is noise)", self.0.eps),
            });
        }
        Ok(Fitted {
            raw: fit.labels,
            assign: fit.model.into(),
            ..Fitted::hard(Vec::new(), fit.n_clusters)
        })
    }
}

/// A new row joins the segment of its nearest core point within `eps`, else it is noise;
/// scored by the distance to the segment's centroid.
impl AssignRows for DbscanModel {
    fn assign(&self, x: ArrayView2<f64>) -> Result<Vec<Joined>, EngineError> {
        Ok(self.predict(x).into_iter().map(|s| (s, None)).collect())
    }

    fn reorder(&mut self, _order: &[usize], rank: &[usize]) {
        for l in &mut self.core_labels {
            *l = rank[*l];
        }
    }
}
