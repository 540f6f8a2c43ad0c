//! Hartigan's single-row moves, from where Lloyd stopped (small data, segstore's stream).
//!
//! Lloyd stops when every row is nearest its own centroid; moving a row from cluster a
//! (n_a rows) to b (n_b) changes the inertia by n_b/(n_b+1)·|x−c_b|² − n_a/(n_a−1)·|x−c_a|²,
//! which can be negative for a row nearest its own centroid. With sample weights, n_a and n_b
//! are the clusters' weights and the 1 is the row's weight. Making every such move (the
//! means updated as rows move) escapes many of Lloyd's fixed points: Hartigan's optima are a
//! subset of them (Telgarsky & Vattani, 2010). Each restart then ends lower, so fewer restarts
//! reach the best inertia.

/// Passes over the rows at most (each makes every improving move; few are needed).
const MAX_PASSES: usize = 50;

/// Moves rows between clusters while a move lowers the inertia; `centroids` (k × d) end as
/// the clusters' (weighted) means. Returns whether any row moved.
///
/// Each row's squared distances to the k centroids are kept, and only those to centroids
/// that moved since the row was last looked at are computed again (after the first pass, most
/// of a row's k); the first pass computes a row's k together from the centroids laid out
/// features × k (the inner loop runs over k contiguous values and vectorises, as in Lloyd's
/// kernel). Each distance is summed feature by feature as [`sq_dist`](super::sq_dist) sums
/// it, and without weights the factors n/(n−1) and n/(n+1) are kept per cluster and renewed
/// when a row moves: the same bits as computing every distance and factor anew.
pub(super) fn refine(
    data: &[f64],
    weights: Option<&[f64]>,
    d: usize,
    k: usize,
    labels: &mut [usize],
    centroids: &mut [f64],
) -> bool {
    let weight = |i: usize| weights.map_or(1.0, |w| w[i]);
    // Per cluster, its rows' count (or weight).
    let mut counts = vec![0.0f64; k];
    let mut sums = vec![0.0; k * d];
    for (i, (row, &l)) in data.chunks_exact(d).zip(labels.iter()).enumerate() {
        let w = weight(i);
        counts[l] += w;
        sums[l * d..(l + 1) * d]
            .iter_mut()
            .zip(row)
            .for_each(|(s, x)| *s += w * x);
    }
    for j in 0..k {
        if counts[j] > 0.0 {
            for f in 0..d {
                centroids[j * d + f] = sums[j * d + f] / counts[j];
            }
        }
    }
    // The centroids features × k, and (unweighted) each cluster's leave and join factors.
    let mut ct = vec![0.0; d * k];
    for j in 0..k {
        for f in 0..d {
            ct[f * k + j] = centroids[j * d + f];
        }
    }
    let leave_of = |n: f64| n / (n - 1.0);
    let join_of = |n: f64| n / (n + 1.0);
    let mut leave_factor: Vec<f64> = counts.iter().map(|&n| leave_of(n)).collect();
    let mut join_factor: Vec<f64> = counts.iter().map(|&n| join_of(n)).collect();
    // Each row's distances, the move after which they were computed (`NEVER`: not yet), and
    // the move that last changed each centroid.
    const NEVER: u64 = u64::MAX;
    let n = labels.len();
    let mut cache = vec![0.0; n * k];
    let mut seen = vec![NEVER; n];
    let mut changed = vec![0u64; k];
    let mut moves = 0u64;
    let mut moved_any = false;
    for _ in 0..MAX_PASSES {
        let mut moved = false;
        for (i, (row, label)) in data.chunks_exact(d).zip(labels.iter_mut()).enumerate() {
            let a = *label;
            let w = weight(i);
            let na = counts[a];
            // The last row (or weight) of its cluster, or a row of no weight: it stays.
            if na - w <= 0.0 || w == 0.0 {
                continue;
            }
            let dist = &mut cache[i * k..(i + 1) * k];
            if seen[i] == NEVER {
                dist.iter_mut().for_each(|v| *v = 0.0);
                for (&x, c) in row.iter().zip(ct.chunks_exact(k)) {
                    for (acc, &cj) in dist.iter_mut().zip(c) {
                        let t = x - cj;
                        *acc += t * t;
                    }
                }
            } else {
                for j in (0..k).filter(|&j| changed[j] > seen[i]) {
                    let mut acc = 0.0;
                    for (f, &x) in row.iter().enumerate() {
                        let t = x - ct[f * k + j];
                        acc += t * t;
                    }
                    dist[j] = acc;
                }
            }
            seen[i] = moves;
            let (leave_f, join_f) = match weights {
                None => (leave_factor[a], None),
                Some(_) => (na / (na - w), Some(w)),
            };
            let leave = leave_f * dist[a];
            let mut best = (leave, a);
            for j in (0..k).filter(|&j| j != a) {
                let factor = match join_f {
                    None => join_factor[j],
                    Some(w) => counts[j] / (counts[j] + w),
                };
                let join = factor * dist[j];
                if join < best.0 {
                    best = (join, j);
                }
            }
            let (join, b) = best;
            // A relative margin: rounding cannot make a row move back and forth.
            if b == a || join >= leave * (1.0 - 1e-12) {
                continue;
            }
            let nb = counts[b];
            for (f, x) in row.iter().enumerate() {
                let ca = &mut ct[f * k + a];
                *ca = (*ca * na - w * x) / (na - w);
                let cb = &mut ct[f * k + b];
                *cb = (*cb * nb + w * x) / (nb + w);
            }
            counts[a] -= w;
            counts[b] += w;
            moves += 1;
            for j in [a, b] {
                leave_factor[j] = leave_of(counts[j]);
                join_factor[j] = join_of(counts[j]);
                changed[j] = moves;
            }
            *label = b;
            moved = true;
        }
        moved_any |= moved;
        if !moved {
            break;
        }
    }
    for j in 0..k {
        for f in 0..d {
            centroids[j * d + f] = ct[f * k + j];
        }
    }
    moved_any
}

#[cfg(test)]
mod tests {
    use super::super::{Workspace, init, lloyd, sq_dist};
    use super::refine;
    use rand::{Rng, SeedableRng};

    fn inertia(data: &[f64], d: usize, labels: &[usize], centroids: &[f64]) -> f64 {
        data.chunks_exact(d)
            .zip(labels)
            .map(|(row, &l)| sq_dist(row, &centroids[l * d..(l + 1) * d]))
            .sum()
    }

    /// From Lloyd's fixed points on random data: the moves never raise the inertia, the
    /// centroids end as the clusters' means, and some starts end lower.
    #[test]
    fn the_moves_lower_the_inertia_from_lloyds_fixed_points() {
        let (n, d, k) = (300, 2, 6);
        let mut rng = rand_xoshiro::Xoshiro256PlusPlus::seed_from_u64(8);
        let data: Vec<f64> = (0..n * d).map(|_| rng.r#gen::<f64>()).collect();
        let mut ws = Workspace::new(n, d, k);
        let mut lowered = 0;
        for seed in 0..40 {
            let rows = init::Rows {
                data: &data,
                weights: None,
                n,
                d,
            };
            let start = init::kmeans_plus_plus_seeded(rows, k, seed, &mut ws).unwrap();
            let fit = lloyd(&data, None, n, d, k, start, 300, 0.0, &mut ws);
            let mut labels = fit.labels.clone();
            let mut centroids = fit.model.centroids.as_slice().unwrap().to_vec();
            let moved = refine(&data, None, d, k, &mut labels, &mut centroids);
            let after = inertia(&data, d, &labels, &centroids);
            assert!(
                after <= fit.inertia * (1.0 + 1e-12),
                "{after} > {}",
                fit.inertia
            );
            for j in 0..k {
                let members: Vec<&[f64]> = data
                    .chunks_exact(d)
                    .zip(&labels)
                    .filter(|(_, l)| **l == j)
                    .map(|(r, _)| r)
                    .collect();
                for f in 0..d {
                    let mean = members.iter().map(|r| r[f]).sum::<f64>() / members.len() as f64;
                    assert!((mean - centroids[j * d + f]).abs() < 1e-9);
                }
            }
            if moved && after < fit.inertia * (1.0 - 1e-9) {
                lowered += 1;
            }
        }
        assert!(lowered > 0, "no start was improved");
    }
}
