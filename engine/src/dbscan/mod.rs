//! DBSCAN with scikit-learn's labels, on a k-d tree of our own, in parallel and in bounded
//! memory; and a model that gives a new point the segment of its nearest core point within
//! `eps` (noise otherwise).
//!
//! scikit-learn lists every row's neighbours (memory grows with rows × neighbours) and walks
//! them. Here three parallel passes over the tree give the same labels without the lists:
//!
//! 1. **Core rows**: a row is core when `min_points` rows (itself included) lie within
//!    `eps`. Its query stops at the `min_points`-th, and counts a tree node whose box lies
//!    inside the sphere without looking at its rows.
//! 2. **Clusters**: core rows within `eps` of each other are joined in a union-find that
//!    the threads share (lock-free; its final sets do not depend on the order of the joins).
//!    A node wholly within `eps` of a core row joins that row to the node's first core row,
//!    and is marked: its core rows are all neighbours of that row, so they are joined
//!    together once at the end instead of once per query. No neighbour or edge list is
//!    kept: memory is a few words per row, whatever the neighbourhoods' sizes.
//! 3. **Border rows**: a non-core row within `eps` of core rows joins the cluster
//!    scikit-learn gives it, the lowest-numbered one among them; clusters are numbered by
//!    their lowest core row, as scikit-learn's walk numbers them. Other rows are noise.

use super::EngineError;
use crate::kdtree::{Flow, Hit, KdTree};
use ndarray::{Array2, ArrayView2, Axis};
use rayon::prelude::*;
use std::sync::OnceLock;
use std::sync::atomic::{AtomicBool, AtomicU32, Ordering};

/// Rows per parallel task.
const CHUNK: usize = 1024;

/// The most rows DBSCAN takes. Its memory is a few words per row, but its time grows with
/// rows × neighbours within `eps` (1,000,000 rows in two dimensions, ~94% of them core with
/// `min_points` 20, took 2 s on two cores; BENCHMARKS.md): beyond this a careless `eps` could
/// keep a worker busy for hours. Above it, use kmeans or a sample.
pub const DBSCAN_MAX_ROWS: usize = 2_000_000;

#[derive(Debug, Clone, PartialEq)]
pub struct DbscanParams {
    /// Neighbourhood radius (model space).
    pub eps: f64,
    /// Rows within `eps` (the row itself included) that make a row a core point.
    pub min_points: usize,
}

#[derive(Debug, Clone)]
pub struct DbscanFit {
    /// `None` is noise; clusters numbered as scikit-learn numbers them.
    pub labels: Vec<Option<usize>>,
    pub n_clusters: usize,
    pub n_noise: usize,
    pub model: DbscanModel,
}

/// New points join the cluster of the nearest core point within `eps`, else are noise.
#[derive(Debug, Clone, serde::Serialize, serde::Deserialize)]
pub struct DbscanModel {
    pub eps: f64,
    pub core_points: Array2<f64>,
    pub core_labels: Vec<usize>,
    /// A tree over the core points, built at the first prediction.
    #[serde(skip)]
    tree: OnceLock<KdTree>,
}

impl PartialEq for DbscanModel {
    fn eq(&self, other: &Self) -> bool {
        self.eps == other.eps
            && self.core_points == other.core_points
            && self.core_labels == other.core_labels
    }
}

impl DbscanModel {
    pub fn new(eps: f64, core_points: Array2<f64>, core_labels: Vec<usize>) -> Self {
        Self {
            eps,
            core_points,
            core_labels,
            tree: OnceLock::new(),
        }
    }
}

fn check(x: ArrayView2<f64>, params: &DbscanParams) -> Result<(), EngineError> {
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
    if params.min_points > u32::MAX as usize {
        return Err(EngineError::invalid(
            "min_points",
            "at most 4294967295",
            params.min_points,
        ));
    }
    if x.nrows() == 0 {
        return Err(EngineError::Empty {
            reason: String::new(),
        });
    }
    if x.nrows() > DBSCAN_MAX_ROWS {
        return Err(EngineError::invalid(
            "rows",
            "at most 2000000 for DBSCAN (its time grows with rows × neighbours; use kmeans, \
             or cluster a sample)",
            x.nrows(),
        ));
    }
    Ok(())
}

/// A union-find over tree positions; a root is the lowest position of its set.
/// A union-find that threads share: the larger of two roots is pointed at the
/// smaller with a compare-and-swap, so the sets it ends with (connected components) do
/// not depend on the order of the joins, and it needs no edge lists: memory is one word per row.
struct Sets(Vec<AtomicU32>);

impl Sets {
    fn new(n: usize) -> Self {
        Self((0..n as u32).map(AtomicU32::new).collect())
    }

    fn find(&self, mut i: u32) -> u32 {
        loop {
            let up = self.0[i as usize].load(Ordering::Relaxed);
            if up == i {
                return i;
            }
            let grand = self.0[up as usize].load(Ordering::Relaxed);
            // Path halving; losing the race to another thread only skips a shortcut.
            let _ = self.0[i as usize].compare_exchange_weak(
                up,
                grand,
                Ordering::Relaxed,
                Ordering::Relaxed,
            );
            i = grand;
        }
    }

    fn join(&self, a: u32, b: u32) {
        let (mut a, mut b) = (a, b);
        loop {
            a = self.find(a);
            b = self.find(b);
            if a == b {
                return;
            }
            let (high, low) = (a.max(b), a.min(b));
            // Only a root is relinked, and only from itself: a failed exchange means another
            // thread linked it meanwhile, so look again.
            if self.0[high as usize]
                .compare_exchange(high, low, Ordering::AcqRel, Ordering::Acquire)
                .is_ok()
            {
                return;
            }
        }
    }
}

pub fn dbscan(x: ArrayView2<f64>, params: &DbscanParams) -> Result<DbscanFit, EngineError> {
    check(x, params)?;
    let n = x.nrows();
    let eps2 = params.eps * params.eps;
    let min_points = params.min_points;
    let tree = KdTree::new(x);

    // 1. Core rows (by tree position).
    let core: Vec<bool> = (0..n)
        .into_par_iter()
        .with_min_len(CHUNK)
        .map(|p| {
            let mut count = 0usize;
            tree.within(tree.point(p), eps2, |hit| {
                count += match hit {
                    Hit::Node(node) => tree.range(node).len(),
                    Hit::Point(_) => 1,
                };
                if count >= min_points {
                    Flow::Stop
                } else {
                    Flow::Continue
                }
            });
            count >= min_points
        })
        .collect();

    // Each node's first core row (u32::MAX when it has none), children before parents.
    let mut first_core = vec![u32::MAX; tree.n_nodes()];
    for node in (0..tree.n_nodes()).rev() {
        first_core[node] = match tree.children(node) {
            Some((l, r)) => first_core[l].min(first_core[r]),
            None => tree
                .range(node)
                .find(|&p| core[p])
                .map_or(u32::MAX, |p| p as u32),
        };
    }

    // 2. Clusters of core rows.
    let core_rows: Vec<u32> = (0..n as u32).filter(|&p| core[p as usize]).collect();
    let marked: Vec<AtomicBool> = (0..tree.n_nodes())
        .map(|_| AtomicBool::new(false))
        .collect();
    let sets = Sets::new(n);
    core_rows.par_iter().with_min_len(CHUNK).for_each(|&p| {
        tree.within(tree.point(p as usize), eps2, |hit| {
            match hit {
                Hit::Node(node) if first_core[node] != u32::MAX => {
                    sets.join(p, first_core[node]);
                    marked[node].store(true, Ordering::Relaxed);
                }
                Hit::Point(q) if q as u32 > p && core[q] => sets.join(p, q as u32),
                _ => {}
            }
            Flow::Continue
        });
    });
    // A marked node's core rows are neighbours of one core row: one cluster.
    let mut stack = vec![0usize];
    while let Some(node) = stack.pop() {
        if marked[node].load(Ordering::Relaxed) {
            let first = first_core[node];
            for p in tree.range(node).filter(|&p| core[p]) {
                sets.join(first, p as u32);
            }
        } else if let Some((l, r)) = tree.children(node) {
            stack.extend([r, l]);
        }
    }

    // Clusters numbered by their lowest input row, as scikit-learn's walk numbers them.
    let mut lowest = vec![u32::MAX; n];
    for &p in &core_rows {
        let root = sets.find(p) as usize;
        lowest[root] = lowest[root].min(tree.row_of(p as usize) as u32);
    }
    let mut roots: Vec<usize> = (0..n).filter(|&r| lowest[r] != u32::MAX).collect();
    roots.sort_by_key(|&r| lowest[r]);
    let mut number = vec![usize::MAX; n];
    for (c, &r) in roots.iter().enumerate() {
        number[r] = c;
    }
    let mut cluster_of = vec![usize::MAX; n];
    for &p in &core_rows {
        cluster_of[p as usize] = number[sets.find(p) as usize];
    }

    // 3. Border rows: the lowest-numbered cluster among their core neighbours.
    let by_position: Vec<Option<usize>> = (0..n)
        .into_par_iter()
        .with_min_len(CHUNK)
        .map(|p| {
            if core[p] {
                return Some(cluster_of[p]);
            }
            let mut best = usize::MAX;
            tree.each_within(tree.point(p), eps2, |q| {
                if core[q] {
                    best = best.min(cluster_of[q]);
                }
                Flow::Continue
            });
            (best != usize::MAX).then_some(best)
        })
        .collect();
    let mut labels = vec![None; n];
    for (p, label) in by_position.into_iter().enumerate() {
        labels[tree.row_of(p)] = label;
    }

    let n_clusters = roots.len();
    let n_noise = labels.iter().filter(|l| l.is_none()).count();
    let mut core_in_rows: Vec<usize> = core_rows.iter().map(|&p| tree.row_of(p as usize)).collect();
    core_in_rows.sort_unstable();
    let model = DbscanModel::new(
        params.eps,
        x.select(Axis(0), &core_in_rows),
        core_in_rows
            .iter()
            .map(|&i| labels[i].expect("core rows are clustered"))
            .collect(),
    );
    Ok(DbscanFit {
        labels,
        n_clusters,
        n_noise,
        model,
    })
}

impl DbscanModel {
    pub fn predict(&self, x: ArrayView2<f64>) -> Vec<Option<usize>> {
        let tree = self
            .tree
            .get_or_init(|| KdTree::new(self.core_points.view()));
        let eps2 = self.eps * self.eps;
        let rows: Vec<Vec<f64>> = x.rows().into_iter().map(|r| r.to_vec()).collect();
        rows.par_iter()
            .map(|r| {
                tree.nearest_within(r, eps2, |_| true)
                    .map(|(p, _)| self.core_labels[tree.row_of(p)])
            })
            .collect()
    }
}

pub mod plugin;
#[cfg(test)]
mod tests;
