//! The minimum spanning tree of the mutual reachability graph, by Prim's algorithm over the
//! rows as scikit-learn's `mst_from_data_matrix` grows it: from row 0, each step adds the row
//! nearest the tree (the lowest-numbered among equals), keeping the edge that first reached
//! it at that distance. A step's distances are computed in parallel over the rows left.

use ndarray::ArrayView2;
use rayon::prelude::*;

/// An edge of the tree: the row in the tree, the row it adds, their mutual reachability.
#[derive(Debug, Clone, Copy, PartialEq)]
pub(super) struct Edge {
    pub from: usize,
    pub to: usize,
    pub distance: f64,
}

/// Rows a thread takes at once in a step.
const CHUNK: usize = 4096;

/// A row not yet in the tree: its nearest reach to the tree so far, and from which row.
#[derive(Debug, Clone, Copy)]
struct Left {
    row: u32,
    reach: f64,
    source: u32,
}

/// The tree's `n - 1` edges, in the order Prim's algorithm adds them.
pub(super) fn prim(x: ArrayView2<f64>, core: &[f64]) -> Vec<Edge> {
    let (n, d) = x.dim();
    let data: Vec<f64> = x.iter().copied().collect();
    let row = |i: usize| &data[i * d..(i + 1) * d];
    let mut left: Vec<Left> = (1..n as u32)
        .map(|row| Left {
            row,
            reach: f64::INFINITY,
            source: 0,
        })
        .collect();
    let mut edges = Vec::with_capacity(n.saturating_sub(1));
    let mut current = 0usize;
    while !left.is_empty() {
        let (here, core_here) = (row(current), core[current]);
        // Per chunk: the nearest row left (its reach, its row number, its place).
        let best = left
            .par_chunks_mut(CHUNK)
            .enumerate()
            .map(|(c, chunk)| {
                let mut best = (f64::INFINITY, u32::MAX, usize::MAX);
                for (i, l) in chunk.iter_mut().enumerate() {
                    let j = l.row as usize;
                    let mut s = 0.0;
                    for (a, b) in here.iter().zip(row(j)) {
                        let t = a - b;
                        s += t * t;
                    }
                    let reach = core_here.max(core[j]).max(s.sqrt());
                    if reach < l.reach {
                        l.reach = reach;
                        l.source = current as u32;
                    }
                    if l.reach < best.0 || (l.reach == best.0 && l.row < best.1) {
                        best = (l.reach, l.row, c * CHUNK + i);
                    }
                }
                best
            })
            .reduce(
                || (f64::INFINITY, u32::MAX, usize::MAX),
                |a, b| if (b.0, b.1) < (a.0, a.1) { b } else { a },
            );
        let chosen = left.swap_remove(best.2);
        edges.push(Edge {
            from: chosen.source as usize,
            to: chosen.row as usize,
            distance: chosen.reach,
        });
        current = chosen.row as usize;
    }
    edges
}
