//! Lloyd iterations with scikit-learn's stopping rule, and the relocation of empty clusters;
//! with sample weights, each centroid is the weighted mean of its rows and the inertia the
//! weighted sum of squared distances (scikit-learn's `sample_weight`).

use super::pass::{Workspace, accumulate_weighted, assign};
use super::{KMeans, KMeansFit};
use ndarray::Array2;

/// Lloyd iterations from `centroids`, with scikit-learn's stopping rule (`weights`: each
/// row's sample weight, `None` for all 1).
#[allow(clippy::too_many_arguments)]
pub(super) fn lloyd(
    data: &[f64],
    weights: Option<&[f64]>,
    n: usize,
    d: usize,
    k: usize,
    mut centroids: Vec<f64>,
    max_iter: usize,
    tol: f64,
    ws: &mut Workspace,
) -> KMeansFit {
    ws.labels.iter_mut().for_each(|l| *l = usize::MAX);
    let mut next = vec![0.0; k * d];
    // Per centroid, its rows' count (or weight).
    let mut counts = vec![0.0f64; k];
    let mut trace = Vec::new();
    let mut strict = false;
    let mut converged = false;
    let mut n_iter = 0;
    let started = std::time::Instant::now();
    for _ in 0..max_iter {
        n_iter += 1;
        assign(data, d, k, &centroids, ws, weights.is_none());
        if let Some(w) = weights {
            accumulate_weighted(data, d, w, ws);
        }
        // Merge the chunks in order (reproducible sums).
        next.iter_mut().for_each(|v| *v = 0.0);
        counts.iter_mut().for_each(|c| *c = 0.0);
        let mut inertia = 0.0;
        let mut changed = 0;
        for st in &ws.chunks {
            for (a, b) in next.iter_mut().zip(&st.sums) {
                *a += b;
            }
            match weights {
                None => {
                    for (a, b) in counts.iter_mut().zip(&st.counts) {
                        *a += *b as f64;
                    }
                }
                Some(_) => {
                    for (a, b) in counts.iter_mut().zip(&st.weights) {
                        *a += b;
                    }
                }
            }
            inertia += st.inertia;
            changed += st.changed;
        }
        trace.push(inertia);
        relocate_empty(
            data,
            weights,
            d,
            &ws.labels,
            &ws.sq_dist,
            &mut next,
            &mut counts,
        );
        let mut shift = 0.0;
        for j in 0..k {
            // A cluster of zero weight keeps its (zero) sum, as scikit-learn's does.
            let c = if counts[j] > 0.0 { counts[j] } else { 1.0 };
            for f in 0..d {
                let v = next[j * d + f] / c;
                shift += (v - centroids[j * d + f]).powi(2);
                next[j * d + f] = v;
            }
        }
        std::mem::swap(&mut centroids, &mut next);
        if changed == 0 {
            strict = true;
            converged = true;
            break;
        }
        if shift <= tol {
            converged = true;
            break;
        }
    }
    let iterations_seconds = started.elapsed().as_secs_f64();
    // Labels that match the final centroids (scikit-learn does the same).
    if !strict {
        assign(data, d, k, &centroids, ws, false);
    }
    if strict {
        // The centroids are the means of the unchanged clusters: measure against them.
        for i in 0..n {
            let j = ws.labels[i];
            ws.sq_dist[i] = (0..d)
                .map(|f| (data[i * d + f] - centroids[j * d + f]).powi(2))
                .sum();
        }
    }
    let inertia = match (weights, strict) {
        (None, true) => ws.sq_dist.iter().sum(),
        (None, false) => ws.chunks.iter().map(|c| c.inertia).sum(),
        (Some(w), _) => weighted_sum(&ws.sq_dist, w),
    };
    KMeansFit {
        model: KMeans {
            centroids: Array2::from_shape_vec((k, d), centroids).expect("k × d"),
        },
        labels: ws.labels.clone(),
        sq_distances: ws.sq_dist.clone(),
        inertia,
        n_iter,
        converged,
        inertia_trace: trace,
        restart_inertias: Vec::new(),
        iterations_seconds,
    }
}

/// `Σ w·v`, in fixed chunks merged in order.
pub(super) fn weighted_sum(v: &[f64], w: &[f64]) -> f64 {
    use rayon::prelude::*;
    v.par_chunks(super::CHUNK)
        .zip(w.par_chunks(super::CHUNK))
        .map(|(v, w)| v.iter().zip(w).map(|(v, w)| v * w).sum::<f64>())
        .collect::<Vec<_>>()
        .iter()
        .sum()
}

/// An empty cluster (no rows, or no weight) takes the row farthest from its centroid
/// (scikit-learn's rule), which leaves its old cluster's (weighted) sums.
pub(super) fn relocate_empty(
    data: &[f64],
    weights: Option<&[f64]>,
    d: usize,
    labels: &[usize],
    sq_dist: &[f64],
    sums: &mut [f64],
    counts: &mut [f64],
) {
    let empty: Vec<usize> = (0..counts.len()).filter(|&j| counts[j] == 0.0).collect();
    if empty.is_empty() {
        return;
    }
    let mut far: Vec<usize> = (0..labels.len()).collect();
    far.sort_unstable_by(|&a, &b| sq_dist[b].total_cmp(&sq_dist[a]).then(a.cmp(&b)));
    for (&row, &j) in far.iter().zip(&empty) {
        let old = labels[row];
        let x = &data[row * d..(row + 1) * d];
        let w = weights.map_or(1.0, |w| w[row]);
        for f in 0..d {
            sums[old * d + f] -= x[f] * w;
            sums[j * d + f] = x[f] * w;
        }
        counts[old] -= w;
        counts[j] = w;
    }
}
