//! Lloyd iterations with scikit-learn's stopping rule, and the relocation of empty clusters.

use super::pass::{Workspace, assign};
use super::{KMeans, KMeansFit};
use ndarray::Array2;

/// Lloyd iterations from `centroids`, with scikit-learn's stopping rule.
#[allow(clippy::too_many_arguments)]
pub(super) fn lloyd(
    data: &[f64],
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
    let mut counts = vec![0u64; k];
    let mut trace = Vec::new();
    let mut strict = false;
    let mut converged = false;
    let mut n_iter = 0;
    let started = std::time::Instant::now();
    for _ in 0..max_iter {
        n_iter += 1;
        assign(data, d, k, &centroids, ws, true);
        // Merge the chunks in order (reproducible sums).
        next.iter_mut().for_each(|v| *v = 0.0);
        counts.iter_mut().for_each(|c| *c = 0);
        let mut inertia = 0.0;
        let mut changed = 0;
        for st in &ws.chunks {
            for (a, b) in next.iter_mut().zip(&st.sums) {
                *a += b;
            }
            for (a, b) in counts.iter_mut().zip(&st.counts) {
                *a += b;
            }
            inertia += st.inertia;
            changed += st.changed;
        }
        trace.push(inertia);
        relocate_empty(data, d, &ws.labels, &ws.sq_dist, &mut next, &mut counts);
        let mut shift = 0.0;
        for j in 0..k {
            let c = counts[j] as f64;
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
    let inertia = if strict {
        // The centroids are the means of the unchanged clusters: measure against them.
        (0..n)
            .map(|i| {
                let j = ws.labels[i];
                (0..d)
                    .map(|f| (data[i * d + f] - centroids[j * d + f]).powi(2))
                    .sum::<f64>()
            })
            .sum()
    } else {
        ws.chunks.iter().map(|c| c.inertia).sum()
    };
    if strict {
        for i in 0..n {
            let j = ws.labels[i];
            ws.sq_dist[i] = (0..d)
                .map(|f| (data[i * d + f] - centroids[j * d + f]).powi(2))
                .sum();
        }
    }
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

/// An empty cluster takes the row farthest from its centroid (scikit-learn's rule), which
/// leaves its old cluster's sums.
pub(super) fn relocate_empty(
    data: &[f64],
    d: usize,
    labels: &[usize],
    sq_dist: &[f64],
    sums: &mut [f64],
    counts: &mut [u64],
) {
    let empty: Vec<usize> = (0..counts.len()).filter(|&j| counts[j] == 0).collect();
    if empty.is_empty() {
        return;
    }
    let mut far: Vec<usize> = (0..labels.len()).collect();
    far.sort_unstable_by(|&a, &b| sq_dist[b].total_cmp(&sq_dist[a]).then(a.cmp(&b)));
    for (&row, &j) in far.iter().zip(&empty) {
        let old = labels[row];
        let x = &data[row * d..(row + 1) * d];
        for f in 0..d {
            sums[old * d + f] -= x[f];
            sums[j * d + f] = x[f];
        }
        counts[old] -= 1;
        counts[j] = 1;
    }
}
