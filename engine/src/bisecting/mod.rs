//! Bisecting K-Means, as scikit-learn's `BisectingKMeans(bisecting_strategy=
//! "biggest_inertia")`: start with every row in one cluster, then k − 1 times split the leaf
//! with the largest inertia in two with 2-means. Memory grows with the rows (no n² matrix),
//! so it gives a hierarchy where Ward cannot go, and its split tree lets a marketer drill
//! down from 2 to k segments.
//!
//! As scikit-learn: the rows are centred on their mean first (more accurate distances), the
//! leaves are numbered depth first (left before right), a tie between leaves goes to the
//! first, Lloyd stops at the absolute tolerance `tol`, and a new row descends the tree
//! towards the nearer centre at each split (not the nearest leaf). With scikit-learn's random
//! stream each split starts from two random rows (its `init="random"`) drawn from one stream
//! across splits: the same seed gives its labels and inertia. With segstore's stream each
//! split starts from k-means++.

use crate::EngineError;
use crate::kmeans::{self, KMeansParams, Streams};
use ndarray::{Array2, ArrayView2};
use serde::{Deserialize, Serialize};

pub mod plugin;
#[cfg(test)]
mod tests;

/// A node of the split tree (model space).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct TreeNode {
    /// The mean of its rows.
    pub center: Vec<f64>,
    pub size: usize,
    /// Sum of squared distances of its rows to `center`.
    pub inertia: f64,
    pub parent: Option<usize>,
    /// Its two halves (left first), once split.
    pub children: Option<[usize; 2]>,
    /// Which split divided it: 1 for the first (the root), up to k − 1.
    pub split: Option<usize>,
    /// For a leaf, its cluster.
    pub cluster: Option<usize>,
}

/// The split tree: node 0 is the root, every split appends its two halves.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct SplitTree {
    pub nodes: Vec<TreeNode>,
}

#[derive(Debug, Clone)]
pub struct BisectingFit {
    pub labels: Vec<usize>,
    /// Leaf centres, by cluster (model space).
    pub centroids: Array2<f64>,
    pub inertia: f64,
    pub tree: SplitTree,
    /// Lloyd iterations summed over every split's kept restart.
    pub n_iter: usize,
    /// Whether every split's kept restart converged.
    pub converged: bool,
    /// Restarts per split (the first split's: later splits have fewer rows and may run
    /// more with `n_init: auto`).
    pub restarts: usize,
}

/// Restarts of a split of `rows` rows: `n_init` as given, or with `auto` as many as
/// K-Means' constant amount of work buys, at least one (scikit-learn's `BisectingKMeans`
/// runs one); with scikit-learn's stream `auto` is its one.
fn restarts(params: &KMeansParams, rows: usize) -> usize {
    params.n_init.count_from(rows, params.stream, 1, 1)
}

/// Fits `k` clusters by bisection; `params` gives the restarts, `max_iter`, `tol`
/// (absolute), the seed and the random stream (its `k` and `init` are not used).
pub fn fit(
    x: ArrayView2<f64>,
    k: usize,
    params: &KMeansParams,
) -> Result<BisectingFit, EngineError> {
    kmeans::on_the_pool(|| bisect(x, k, params))
}

fn bisect(
    x: ArrayView2<f64>,
    k: usize,
    params: &KMeansParams,
) -> Result<BisectingFit, EngineError> {
    let (n, d) = x.dim();
    crate::error::check_k(k, n)?;
    KMeansParams {
        k,
        ..params.clone()
    }
    .check(n, d)?;
    let standard = x.as_standard_layout();
    let data = standard.as_slice().expect("standard layout");
    // Centred, as scikit-learn does before it splits.
    let mean: Vec<f64> = (0..d)
        .map(|j| data.iter().skip(j).step_by(d).sum::<f64>() / n as f64)
        .collect();
    let centred: Vec<f64> = data
        .chunks_exact(d)
        .flat_map(|row| row.iter().zip(&mean).map(|(v, m)| v - m))
        .collect();
    let root_inertia = centred.iter().map(|v| v * v).sum();
    let mut nodes = vec![TreeNode {
        center: vec![0.0; d],
        size: n,
        inertia: root_inertia,
        parent: None,
        children: None,
        split: None,
        cluster: None,
    }];
    // The rows of each leaf (dropped once it is split).
    let mut members: Vec<Option<Vec<usize>>> = vec![Some((0..n).collect())];
    let mut streams = Streams::new(params);
    let (mut n_iter, mut converged, mut first_restarts) = (0, true, None);
    let mut subset = Vec::new();
    for split in 1..k {
        // The leaf with the largest inertia, depth first; the first of equals. The root
        // is the only leaf at first.
        let leaf = leaves(&nodes)
            .into_iter()
            .reduce(|best, l| {
                if nodes[l].inertia > nodes[best].inertia {
                    l
                } else {
                    best
                }
            })
            .expect("a tree has a leaf");
        let rows = members[leaf].take().expect("a leaf keeps its rows");
        subset.clear();
        subset.extend(rows.iter().flat_map(|&r| &centred[r * d..(r + 1) * d]));
        let runs = restarts(params, rows.len());
        first_restarts.get_or_insert(runs);
        let halves = kmeans::split_in_two(
            &subset,
            rows.len(),
            d,
            runs,
            params.max_iter,
            params.tol,
            &mut streams,
        )
        .map_err(|e| match e {
            // The leaf with the most inertia cannot be split: no leaf can.
            EngineError::TooFewDistinctPoints { .. } | EngineError::KTooLarge { .. } => {
                EngineError::TooFewDistinctPoints {
                    k,
                    distinct: kmeans::distinct_rows(data, n, d),
                }
            }
            e => e,
        })?;
        n_iter += halves.n_iter;
        converged &= halves.converged;
        let mut parts: [Vec<usize>; 2] = [Vec::new(), Vec::new()];
        let mut inertia = [0.0; 2];
        for ((&row, &label), &sq) in rows.iter().zip(&halves.labels).zip(&halves.sq_distances) {
            parts[label].push(row);
            inertia[label] += sq;
        }
        let first = nodes.len();
        for half in 0..2 {
            nodes.push(TreeNode {
                center: halves.model.centroids.row(half).to_vec(),
                size: parts[half].len(),
                inertia: inertia[half],
                parent: Some(leaf),
                children: None,
                split: None,
                cluster: None,
            });
        }
        nodes[leaf].children = Some([first, first + 1]);
        nodes[leaf].split = Some(split);
        let [left, right] = parts;
        members.push(Some(left));
        members.push(Some(right));
    }
    let mut labels = vec![0; n];
    let mut centroids = Array2::zeros((k, d));
    for (cluster, leaf) in leaves(&nodes).into_iter().enumerate() {
        nodes[leaf].cluster = Some(cluster);
        for &r in members[leaf].as_deref().expect("a leaf keeps its rows") {
            labels[r] = cluster;
        }
        for (j, c) in nodes[leaf].center.iter().enumerate() {
            centroids[[cluster, j]] = c + mean[j];
        }
    }
    for node in &mut nodes {
        node.center.iter_mut().zip(&mean).for_each(|(c, m)| *c += m);
    }
    let inertia = data
        .chunks_exact(d)
        .zip(&labels)
        .map(|(row, &l)| {
            row.iter()
                .zip(centroids.row(l))
                .map(|(v, c)| (v - c) * (v - c))
                .sum::<f64>()
        })
        .sum();
    Ok(BisectingFit {
        labels,
        centroids,
        inertia,
        tree: SplitTree { nodes },
        n_iter,
        converged,
        restarts: first_restarts.unwrap_or(0),
    })
}

/// The leaves, depth first, left before right.
fn leaves(nodes: &[TreeNode]) -> Vec<usize> {
    let mut out = Vec::new();
    let mut stack = vec![0];
    while let Some(i) = stack.pop() {
        match nodes[i].children {
            Some([left, right]) => {
                stack.push(right);
                stack.push(left);
            }
            None => out.push(i),
        }
    }
    out
}

impl SplitTree {
    /// Each row's cluster: from the root, towards the nearer of the two centres at every
    /// split (the left one on a tie), as scikit-learn predicts.
    pub fn predict(&self, x: ArrayView2<f64>) -> Vec<usize> {
        let dist2 = |row: &[f64], node: usize| -> f64 {
            row.iter()
                .zip(&self.nodes[node].center)
                .map(|(a, b)| (a - b) * (a - b))
                .sum()
        };
        x.rows()
            .into_iter()
            .map(|row| {
                let row = row.to_vec();
                let mut node = 0;
                while let Some([left, right]) = self.nodes[node].children {
                    node = if dist2(&row, right) < dist2(&row, left) {
                        right
                    } else {
                        left
                    };
                }
                self.nodes[node].cluster.expect("a leaf has a cluster")
            })
            .collect()
    }

    /// The clusters of the leaves under `node` (itself, for a leaf), ascending.
    pub fn clusters_under(&self, node: usize) -> Vec<usize> {
        let mut out = Vec::new();
        let mut stack = vec![node];
        while let Some(i) = stack.pop() {
            match self.nodes[i].children {
                Some(halves) => stack.extend(halves),
                None => out.extend(self.nodes[i].cluster),
            }
        }
        out.sort_unstable();
        out
    }

    /// The split nodes in the order they were split.
    pub fn splits(&self) -> Vec<usize> {
        let mut split: Vec<usize> = (0..self.nodes.len())
            .filter(|&i| self.nodes[i].split.is_some())
            .collect();
        split.sort_by_key(|&i| self.nodes[i].split);
        split
    }

    /// Renumbers the leaves' clusters (`rank[old] = new`).
    pub fn renumber(&mut self, rank: &[usize]) {
        for node in &mut self.nodes {
            if let Some(c) = node.cluster.as_mut() {
                *c = rank[*c];
            }
        }
    }
}
