//! Scoring a new row with a fitted HDBSCAN, by the `hdbscan` package's `approximate_predict`
//! (0.8.44; scikit-learn has none): the row's `2 × min_samples` nearest training rows, its core
//! distance (to the `min_samples + 1`-th of them, as that release takes it), its nearest of them by mutual reachability and the λ at
//! which it would join it; it falls into that row's cluster of the condensed tree, or, when it
//! is farther out than the row, into the first ancestor cluster already born at its λ. It
//! takes the label of the selected cluster that cluster lies in (noise when none), with
//! membership strength λ / the selected cluster's largest λ.

use crate::kdtree::KdTree;
use ndarray::Array2;
use serde::{Deserialize, Serialize};
use std::sync::OnceLock;

/// What scoring needs of a fit: the training rows (model space), their core distances, where
/// each leaves the condensed tree, and the condensed tree's clusters.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct HdbscanModel {
    pub min_samples: usize,
    pub rows: Array2<f64>,
    pub core: Vec<f64>,
    /// Per training row: the condensed cluster it leaves (index: cluster id − rows) and the λ
    /// at which it leaves.
    pub leaves: Vec<(u32, f64)>,
    /// Per condensed cluster: its parent (the root: itself), the λ at which it was born, its
    /// label (the selected cluster it lies in; `None`: noise) and that cluster's largest λ.
    pub clusters: Vec<ClusterNode>,
    /// A tree over the training rows, built at the first prediction.
    #[serde(skip)]
    tree: OnceLock<KdTree>,
}

#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
pub struct ClusterNode {
    pub parent: u32,
    pub birth: f64,
    pub label: Option<u32>,
    pub max_lambda: f64,
}

impl PartialEq for HdbscanModel {
    fn eq(&self, other: &Self) -> bool {
        self.min_samples == other.min_samples
            && self.rows == other.rows
            && self.core == other.core
            && self.leaves == other.leaves
            && self.clusters == other.clusters
    }
}

impl HdbscanModel {
    pub(super) fn new(
        min_samples: usize,
        rows: Array2<f64>,
        core: Vec<f64>,
        leaves: Vec<(u32, f64)>,
        clusters: Vec<ClusterNode>,
    ) -> Self {
        Self {
            min_samples,
            rows,
            core,
            leaves,
            clusters,
            tree: OnceLock::new(),
        }
    }

    /// A new row's cluster (`None`: noise) and membership strength.
    pub fn predict(&self, row: &[f64]) -> (Option<usize>, f64) {
        if self.clusters.iter().all(|c| c.label.is_none()) {
            return (None, 0.0);
        }
        let tree = self.tree.get_or_init(|| KdTree::new(self.rows.view()));
        let k = (2 * self.min_samples).min(tree.len());
        let neighbours = tree.k_nearest(row, k);
        // As the released package (0.8.44) takes it: the distance to the (min_samples + 1)-th
        // nearest training row (its development version takes the min_samples-th).
        let core_new = neighbours[self.min_samples.min(neighbours.len() - 1)].1;
        // The nearest by mutual reachability (the first of equals, in distance order).
        let (mut nearest, mut reach) = (usize::MAX, f64::INFINITY);
        for &(p, distance) in &neighbours {
            let r = self.core[tree.row_of(p)].max(core_new).max(distance);
            if r < reach {
                (nearest, reach) = (tree.row_of(p), r);
            }
        }
        let mut lambda = if reach > 0.0 { 1.0 / reach } else { f64::MAX };
        let (mut cluster, row_lambda) = self.leaves[nearest];
        if row_lambda > lambda {
            // Farther out than its neighbour: the first ancestor already born at its λ.
            while cluster != 0 && self.clusters[cluster as usize].birth >= lambda {
                cluster = self.clusters[cluster as usize].parent;
            }
        }
        let node = self.clusters[cluster as usize];
        match node.label {
            None => (None, 0.0),
            Some(label) => {
                let probability = if node.max_lambda > 0.0 {
                    lambda = lambda.min(node.max_lambda);
                    lambda / node.max_lambda
                } else {
                    1.0
                };
                (Some(label as usize), probability)
            }
        }
    }
}
