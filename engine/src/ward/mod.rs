//! Agglomerative clustering with Ward linkage (kodama), and a model that gives a new point
//! the segment of the nearest member mean.

pub mod plugin;

use super::EngineError;
use ndarray::{Array2, ArrayView2};

fn dist2(a: &[f64], b: &[f64]) -> f64 {
    a.iter().zip(b).map(|(x, y)| (x - y) * (x - y)).sum()
}

fn rows(x: ArrayView2<f64>) -> Vec<Vec<f64>> {
    x.rows().into_iter().map(|r| r.to_vec()).collect()
}

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
        return Err(EngineError::invalid(
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
    let centroids = super::metrics::cluster_means(&x, &labels, k);
    Ok(WardFit { labels, centroids })
}

impl WardFit {
    /// New points go to the nearest segment centroid (member mean).
    pub fn predict(&self, x: ArrayView2<f64>) -> Vec<usize> {
        crate::kmeans::KMeans {
            centroids: self.centroids.clone(),
        }
        .predict_rows(x)
        .0
    }
}
