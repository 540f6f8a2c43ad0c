//! The minimum spanning tree of the mutual reachability graph for large tables: Borůvka's
//! algorithm on the k-d tree (as the `fast_hdbscan` package does). Each round every row looks,
//! in parallel, for its nearest row of another component; a component's lightest edge joins
//! it to another, so the components at least halve each round. The first round, most of the
//! work, is mostly read off the neighbour lists the core distances come from.
//!
//! A query skips a tree node whose rows all belong to the row's own component, and a node
//! whose reach (the largest of the box's distance, the row's core distance and the node's
//! smallest core distance) exceeds the best edge found so far for the component. Edges of equal
//! weight are told apart by their rows' numbers, so the tree does not depend on the threads.
//! The total weight is Prim's; where edges tie, the tree may hold another of them than Prim's.

use super::mst::Edge;
use crate::kdtree::KdTree;
use ndarray::ArrayView2;
use rayon::prelude::*;
use std::sync::atomic::{AtomicU64, Ordering};

/// No component (a node whose rows belong to several).
const MIXED: u32 = u32::MAX;

/// A candidate edge, ordered by weight, then by its rows (input numbers).
#[derive(Debug, Clone, Copy, PartialEq)]
struct Candidate {
    weight: f64,
    low: u32,
    high: u32,
}

impl Candidate {
    const NONE: Self = Self {
        weight: f64::INFINITY,
        low: u32::MAX,
        high: u32::MAX,
    };

    fn of(weight: f64, a: u32, b: u32) -> Self {
        Self {
            weight,
            low: a.min(b),
            high: a.max(b),
        }
    }

    fn better(&self, other: &Self) -> bool {
        (self.weight, self.low, self.high) < (other.weight, other.low, other.high)
    }
}

/// Each row's core distance (to its `k`-th nearest row, itself included) and the spanning
/// tree's `n - 1` edges. The first round, where every row is a component of its own, is
/// mostly answered from the core distances' neighbour lists: no row is nearer than its own
/// core distance, and a neighbour whose core distance is no larger is exactly that near.
pub(super) fn core_and_tree(x: ArrayView2<f64>, k: usize) -> (Vec<f64>, Vec<Edge>) {
    let n = x.nrows();
    let tree = KdTree::new(x);
    let row: Vec<u32> = (0..n).map(|p| tree.row_of(p) as u32).collect();
    // Per tree position: its k nearest (itself included), its core distance, and whether
    // every row within that distance is among them (the (k + 1)-th lies farther).
    let width = k.max(1);
    let mut neighbours = vec![u32::MAX; n * width];
    let mut core_at = vec![0.0f64; n];
    let mut complete = vec![false; n];
    neighbours
        .par_chunks_mut(width)
        .zip(core_at.par_iter_mut())
        .zip(complete.par_iter_mut())
        .enumerate()
        .with_min_len(64)
        .for_each(|(p, ((list, core), complete))| {
            let nearest = tree.k_nearest(tree.point(p), k + 1);
            let within = width.min(nearest.len());
            *core = if k <= 1 { 0.0 } else { nearest[within - 1].1 };
            *complete = nearest.len() <= within || nearest[within].1 > *core;
            for (slot, &(q, _)) in list.iter_mut().zip(&nearest[..within]) {
                *slot = q as u32;
            }
        });
    // A row's lightest edge when its list is complete and a listed row has a core distance
    // no larger than its own.
    let first: Vec<Option<(u32, Candidate)>> = (0..n)
        .into_par_iter()
        .with_min_len(256)
        .map(|p| {
            if !complete[p] {
                return None;
            }
            neighbours[p * width..(p + 1) * width]
                .iter()
                .map(|&q| q as usize)
                .filter(|&q| q != u32::MAX as usize && q != p && core_at[q] <= core_at[p])
                .map(|q| (q as u32, Candidate::of(core_at[p], row[p], row[q])))
                .reduce(|a, b| if b.1.better(&a.1) { b } else { a })
        })
        .collect();
    drop(neighbours);
    let mut core = vec![0.0; n];
    for (p, &c) in core_at.iter().enumerate() {
        core[row[p] as usize] = c;
    }
    let edges = rounds(&tree, &row, &core_at, Some(first));
    (core, edges)
}

/// The tree's `n - 1` edges, round by round (core distances given).
#[cfg(test)]
pub(super) fn boruvka(x: ArrayView2<f64>, core: &[f64]) -> Vec<Edge> {
    let tree = KdTree::new(x);
    let row: Vec<u32> = (0..x.nrows()).map(|p| tree.row_of(p) as u32).collect();
    let core_at: Vec<f64> = row.iter().map(|&r| core[r as usize]).collect();
    rounds(&tree, &row, &core_at, None)
}

/// Borůvka's rounds over the tree's positions (`row`: each one's input row, `core_at`: its
/// core distance); `first`: the first round's edges already known for some positions.
fn rounds(
    tree: &KdTree,
    row: &[u32],
    core_at: &[f64],
    mut first: Option<Vec<Option<(u32, Candidate)>>>,
) -> Vec<Edge> {
    let n = row.len();
    // Per node: its smallest core distance (nodes are in preorder: children follow parents).
    let nodes = tree.n_nodes();
    let mut node_core = vec![f64::INFINITY; nodes];
    for node in (0..nodes).rev() {
        node_core[node] = match tree.children(node) {
            Some((l, r)) => node_core[l].min(node_core[r]),
            None => tree
                .range(node)
                .map(|p| core_at[p])
                .fold(f64::INFINITY, f64::min),
        };
    }
    // Union-find over tree positions.
    let mut parent: Vec<u32> = (0..n as u32).collect();
    fn find(parent: &mut [u32], mut x: u32) -> u32 {
        while parent[x as usize] != x {
            let up = parent[parent[x as usize] as usize];
            parent[x as usize] = up;
            x = up;
        }
        x
    }
    let mut edges = Vec::with_capacity(n.saturating_sub(1));
    let mut component = vec![0u32; n];
    let mut node_component = vec![MIXED; nodes];
    while edges.len() + 1 < n {
        for (p, slot) in component.iter_mut().enumerate() {
            *slot = find(&mut parent, p as u32);
        }
        for node in (0..nodes).rev() {
            node_component[node] = match tree.children(node) {
                Some((l, r)) if node_component[l] == node_component[r] => node_component[l],
                Some(_) => MIXED,
                None => {
                    let range = tree.range(node);
                    let first = component[range.start];
                    if range.clone().all(|p| component[p] == first) {
                        first
                    } else {
                        MIXED
                    }
                }
            };
        }
        // Per component (its root position): the lightest weight found so far, as bits
        // (non-negative floats order as their bits do).
        let bound: Vec<AtomicU64> = (0..n)
            .map(|_| AtomicU64::new(f64::INFINITY.to_bits()))
            .collect();
        let search = Search {
            tree,
            component: &component,
            node_component: &node_component,
            node_core: &node_core,
            core: core_at,
            row,
        };
        let known = first.take();
        // Per row that may improve its component's edge: (component, edge, row, other row).
        let found: Vec<(u32, Candidate, u32, u32)> = (0..n)
            .into_par_iter()
            .with_min_len(256)
            .filter_map(|p| {
                let c = component[p] as usize;
                if let Some((q, edge)) = known.as_ref().and_then(|k| k[p]) {
                    return Some((c as u32, edge, p as u32, q));
                }
                if core_at[p] > f64::from_bits(bound[c].load(Ordering::Relaxed)) {
                    return None;
                }
                let (q, edge) = search.nearest_outside(p, &bound[c]);
                edge.weight
                    .is_finite()
                    .then_some((c as u32, edge, p as u32, q))
            })
            .collect();
        // Each component's lightest edge (ties: the lower rows).
        let mut lightest: Vec<Option<(Candidate, u32, u32)>> = vec![None; n];
        for (c, edge, p, q) in found {
            let slot = &mut lightest[c as usize];
            if slot.is_none_or(|(b, _, _)| edge.better(&b)) {
                *slot = Some((edge, p, q));
            }
        }
        let before = edges.len();
        for (edge, p, q) in lightest.into_iter().flatten() {
            let (a, b) = (find(&mut parent, p), find(&mut parent, q));
            if a != b {
                parent[a as usize] = b;
                edges.push(Edge {
                    from: row[p as usize] as usize,
                    to: row[q as usize] as usize,
                    distance: edge.weight,
                });
            }
        }
        assert!(edges.len() > before, "a Borůvka round joined no components");
    }
    edges
}

/// What a round's queries read.
struct Search<'a> {
    tree: &'a KdTree,
    /// Per tree position, its component.
    component: &'a [u32],
    /// Per node, the component all its rows belong to ([`MIXED`]: several).
    node_component: &'a [u32],
    /// Per node, its smallest core distance.
    node_core: &'a [f64],
    /// Per tree position, its core distance and input row.
    core: &'a [f64],
    row: &'a [u32],
}

impl Search<'_> {
    /// Tree position `p`'s lightest edge to another component (the other end's position), at
    /// most as heavy as the component's bound so far, which it lowers.
    fn nearest_outside(&self, p: usize, bound: &AtomicU64) -> (u32, Candidate) {
        let tree = self.tree;
        let (c, core_p, q_point) = (self.component[p], self.core[p], tree.point(p));
        let mut best = (u32::MAX, Candidate::NONE);
        let limit = |best: &Candidate| {
            best.weight
                .min(f64::from_bits(bound.load(Ordering::Relaxed)))
        };
        let mut stack = vec![(0usize, 0.0f64)];
        while let Some((node, reach)) = stack.pop() {
            if self.node_component[node] == c || reach > limit(&best.1) {
                continue;
            }
            match tree.children(node) {
                Some((l, r)) => {
                    let reach_of = |child: usize| {
                        tree.box_dist2(child, q_point)
                            .0
                            .sqrt()
                            .max(core_p)
                            .max(self.node_core[child])
                    };
                    let (rl, rr) = (reach_of(l), reach_of(r));
                    // The nearer child last, so it is searched first.
                    if rl <= rr {
                        stack.extend([(r, rr), (l, rl)]);
                    } else {
                        stack.extend([(l, rl), (r, rr)]);
                    }
                }
                None => {
                    for q in tree.range(node) {
                        if self.component[q] == c {
                            continue;
                        }
                        let mut s = 0.0;
                        for (a, b) in q_point.iter().zip(tree.point(q)) {
                            let t = a - b;
                            s += t * t;
                        }
                        let weight = core_p.max(self.core[q]).max(s.sqrt());
                        let edge = Candidate::of(weight, self.row[p], self.row[q]);
                        if edge.better(&best.1) {
                            best = (q as u32, edge);
                        }
                    }
                }
            }
        }
        if best.1.weight.is_finite() {
            bound.fetch_min(best.1.weight.to_bits(), Ordering::Relaxed);
        }
        best
    }
}
