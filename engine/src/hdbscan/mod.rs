//! HDBSCAN (Campello, Moulavi & Sander 2013; McInnes & Healy 2017) with scikit-learn's
//! labels and membership probabilities: density-based clusters of varying density, found
//! without a radius; rows in no cluster are noise.
//!
//! The steps, as scikit-learn's `HDBSCAN` takes them (`algorithm="auto"`, Euclidean):
//! 1. each row's **core distance**: to its `min_samples`-th nearest row, itself included
//!    (the k-d tree's k-nearest query, rows in parallel);
//! 2. the **minimum spanning tree** of the mutual reachability graph, where two rows are
//!    `max(core a, core b, |a - b|)` apart (`mst`: Prim's algorithm over the rows, each step
//!    in parallel, with scikit-learn's choice among equal edges, up to [`PRIM_MAX_ROWS`];
//!    `boruvka`: Borůvka's algorithm on the k-d tree beyond);
//! 3. the **single-linkage tree** of its edges in order of weight, **condensed** to clusters
//!    of at least `min_cluster_size` rows, each cluster's **stability**, and the clusters
//!    **selected** by excess of mass (`eom`) or as the tree's leaves (`leaf`) (`tree`).
//!
//! Equal edge weights may be ordered differently than numpy's unstable sort orders them; the
//! tests say where that changes a label.

mod boruvka;
mod model;
mod mst;
mod tree;

pub use model::{ClusterNode, HdbscanModel};

use crate::EngineError;
use crate::kdtree::KdTree;
use ndarray::ArrayView2;
use rayon::prelude::*;
use serde::{Deserialize, Serialize};

/// Up to this many rows the spanning tree is grown as scikit-learn grows it (Prim's algorithm,
/// quadratic: 0.4 s at 20,000 rows on two cores), so equal edges are chosen as it chooses them;
/// larger tables take Borůvka's algorithm on the k-d tree (same total weight, another choice
/// among equal edges).
pub const PRIM_MAX_ROWS: usize = 20_000;

/// The most rows HDBSCAN clusters: its model keeps every training row (new rows are scored
/// against their neighbours among them), as DBSCAN's keeps its core rows.
pub const HDBSCAN_MAX_ROWS: usize = 2_000_000;

/// The most values HDBSCAN's model may hold: rows × (columns + 3: each row's core distance and
/// where it leaves the condensed tree). A run stores its model as `jsonb` at about 20 bytes a
/// value (measured: 20.0 MB for a million standardized values) and PostgreSQL refuses a `jsonb`
/// value above 255 MB, so 12 million values (about 240 MB; 1M customers × 8 features is 11M)
/// is the largest model a run can keep.
pub const HDBSCAN_MAX_MODEL_VALUES: usize = 12_000_000;

/// How clusters are picked from the condensed tree.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Selection {
    /// Excess of mass: the most stable clusters (scikit-learn's default).
    #[default]
    Eom,
    /// The leaves of the condensed tree: smaller, more homogeneous clusters.
    Leaf,
}

#[derive(Debug, Clone, PartialEq)]
pub struct HdbscanParams {
    /// The fewest rows a cluster may have (at least 2).
    pub min_cluster_size: usize,
    /// Rows in a neighbourhood (the row itself included) for a row to be core; `None`: the
    /// minimum cluster size, as scikit-learn defaults it.
    pub min_samples: Option<usize>,
    pub selection: Selection,
}

impl HdbscanParams {
    pub fn new(min_cluster_size: usize) -> Self {
        Self {
            min_cluster_size,
            min_samples: None,
            selection: Selection::Eom,
        }
    }

    fn min_samples(&self) -> usize {
        self.min_samples.unwrap_or(self.min_cluster_size)
    }
}

#[derive(Debug, Clone, PartialEq)]
pub struct HdbscanFit {
    /// Each row's cluster, numbered as scikit-learn numbers them (`None`: noise).
    pub labels: Vec<Option<usize>>,
    /// Each row's membership strength in its cluster (0 for noise), as scikit-learn's
    /// `probabilities_`.
    pub probabilities: Vec<f64>,
    pub n_clusters: usize,
    /// What scores new rows as the `hdbscan` package's `approximate_predict` does.
    pub model: HdbscanModel,
}

/// Clusters the rows of `x`.
pub fn hdbscan(x: ArrayView2<f64>, params: &HdbscanParams) -> Result<HdbscanFit, EngineError> {
    let n = x.nrows();
    if params.min_cluster_size < 2 {
        return Err(EngineError::invalid(
            "min_cluster_size",
            "at least 2",
            params.min_cluster_size,
        ));
    }
    let min_samples = params.min_samples();
    if min_samples < 1 {
        return Err(EngineError::invalid(
            "min_samples",
            "at least 1",
            min_samples,
        ));
    }
    if n > HDBSCAN_MAX_ROWS {
        return Err(EngineError::invalid(
            "rows",
            "at most 2000000 for HDBSCAN (its model keeps every row; use kmeans, or cluster a \
             sample)",
            n,
        ));
    }
    if n.saturating_mul(x.ncols() + 3) > HDBSCAN_MAX_MODEL_VALUES {
        return Err(EngineError::invalid(
            "rows",
            "at most 12000000 / (features + 3) for HDBSCAN (its model keeps every row and is \
             stored with the run: 1M customers × 8 features at most; use kmeans, or cluster a \
             sample)",
            format!("{n} rows × {} columns", x.ncols()),
        ));
    }
    if n < 2 || min_samples > n {
        return Err(EngineError::invalid(
            "min_samples",
            "at most the number of rows (and at least 2 rows)",
            format!("{min_samples} for {n} rows"),
        ));
    }
    let (core_distances, edges) = if n <= PRIM_MAX_ROWS {
        let core = core_distances(x, min_samples);
        let edges = mst::prim(x, &core);
        (core, edges)
    } else {
        boruvka::core_and_tree(x, min_samples)
    };
    let linkage = tree::single_linkage(edges, n);
    let condensed = tree::condense(&linkage, n, params.min_cluster_size);
    let flat = tree::clusters(&condensed, n, params.selection);
    Ok(HdbscanFit {
        labels: flat.labels,
        probabilities: flat.probabilities,
        n_clusters: flat.n_clusters,
        model: HdbscanModel::new(
            min_samples,
            x.to_owned(),
            core_distances,
            flat.leaves,
            flat.nodes,
        ),
    })
}

/// Each row's distance to its `k`-th nearest row, itself included. Rows are queried in the
/// tree's order (neighbouring queries visit the same nodes), in parallel.
pub fn core_distances(x: ArrayView2<f64>, k: usize) -> Vec<f64> {
    if k <= 1 {
        return vec![0.0; x.nrows()];
    }
    let tree = KdTree::new(x);
    let by_position: Vec<f64> = (0..tree.len())
        .into_par_iter()
        .with_min_len(64)
        .map(|p| tree.kth_nearest_dist2(tree.point(p), k).sqrt())
        .collect();
    let mut core = vec![0.0; x.nrows()];
    for (p, c) in by_position.into_iter().enumerate() {
        core[tree.row_of(p)] = c;
    }
    core
}

pub mod plugin;
#[cfg(test)]
mod tests;
