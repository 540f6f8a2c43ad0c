//! DBSCAN (linfa-clustering): density-based segments and noise, and a model that gives a new
//! point the segment of its nearest core point within `eps` (noise otherwise).

use super::EngineError;
use linfa::traits::Transformer;
use linfa_clustering::Dbscan;
use ndarray::{Array2, ArrayView2, Axis};

fn dist2(a: &[f64], b: &[f64]) -> f64 {
    a.iter().zip(b).map(|(x, y)| (x - y) * (x - y)).sum()
}

fn rows(x: ArrayView2<f64>) -> Vec<Vec<f64>> {
    x.rows().into_iter().map(|r| r.to_vec()).collect()
}

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
        return Err(EngineError::invalid(
            "eps",
            "a finite number > 0",
            params.eps,
        ));
    }
    if params.min_points < 2 {
        return Err(EngineError::invalid(
            "min_points",
            "at least 2",
            params.min_points,
        ));
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
