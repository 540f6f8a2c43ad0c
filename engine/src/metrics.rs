//! Clustering quality: inertia, silhouette, Davies–Bouldin and Calinski–Harabasz, computed as
//! scikit-learn does (Euclidean distances in the space the model was fitted in).

use super::space::{self, ModelRows, column_means};
use ndarray::{Array2, ArrayView1, ArrayView2};
use rand::SeedableRng;
use rand::seq::index::sample;
use rand_xoshiro::Xoshiro256PlusPlus;
use rayon::prelude::*;
use serde::{Deserialize, Serialize};

/// Rows up to which the silhouette is exact; above, it is computed on a seeded sample of this
/// many rows (as `silhouette_score(sample_size=…)` does).
pub const SILHOUETTE_EXACT_LIMIT: usize = 10_000;

#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
pub struct Metrics {
    pub inertia: f64,
    /// Mean silhouette, in [-1, 1]; higher is better. `None` with a single cluster.
    pub silhouette: Option<f64>,
    /// Rows the silhouette was computed on (all of them, or the sample).
    pub silhouette_rows: usize,
    pub silhouette_sampled: bool,
    /// Lower is better. `None` with a single cluster.
    pub davies_bouldin: Option<f64>,
    /// Higher is better. `None` with a single cluster.
    pub calinski_harabasz: Option<f64>,
}

/// All metrics of a partition of `x` into `k` clusters.
pub fn evaluate<R: ModelRows + ?Sized>(x: &R, labels: &[usize], k: usize, seed: u64) -> Metrics {
    evaluate_many(x, &[(labels, k)], seed)
        .pop()
        .expect("one partition")
}

/// [`evaluate`] for several partitions of the same rows (a k sweep), with the same figures:
/// their silhouettes share one pass over the pairs of (sampled) rows, each distance computed
/// once for all of them.
pub fn evaluate_many<R: ModelRows + ?Sized>(
    x: &R,
    partitions: &[(&[usize], usize)],
    seed: u64,
) -> Vec<Metrics> {
    let mut metrics: Vec<(Metrics, usize)> = partitions
        .par_iter()
        .map(|&(labels, k)| {
            let centroids = cluster_means(x, labels, k);
            let occupied = count(labels, k).iter().filter(|&&c| c > 0).count();
            let (davies_bouldin, calinski_harabasz) = if occupied < 2 {
                (None, None)
            } else {
                (
                    Some(davies_bouldin(x, labels, &centroids)),
                    Some(calinski_harabasz(x, labels, &centroids)),
                )
            };
            let m = Metrics {
                inertia: inertia(x, labels, &centroids),
                silhouette: None,
                silhouette_rows: 0,
                silhouette_sampled: false,
                davies_bouldin,
                calinski_harabasz,
            };
            (m, occupied)
        })
        .collect();
    // The silhouette needs two occupied clusters; above the limit, it is computed on a seeded
    // sample of the rows (the same rows for every partition).
    let scored: Vec<usize> = (0..partitions.len())
        .filter(|&p| metrics[p].1 >= 2)
        .collect();
    if !scored.is_empty() {
        let rows = (x.nrows() > SILHOUETTE_EXACT_LIMIT).then(|| {
            let mut rng = Xoshiro256PlusPlus::seed_from_u64(seed);
            let mut rows = sample(&mut rng, x.nrows(), SILHOUETTE_EXACT_LIMIT).into_vec();
            rows.sort_unstable();
            rows
        });
        let labels: Vec<Vec<usize>> = scored
            .iter()
            .map(|&p| match &rows {
                Some(rows) => rows.iter().map(|&r| partitions[p].0[r]).collect(),
                None => partitions[p].0.to_vec(),
            })
            .collect();
        let sub = match &rows {
            Some(r) => x.select(r).into(),
            None => space::whole(x),
        };
        let view = sub.view();
        let wanted: Vec<(&[usize], usize)> = scored
            .iter()
            .zip(&labels)
            .map(|(&p, l)| (l.as_slice(), partitions[p].1))
            .collect();
        for (&p, value) in scored.iter().zip(silhouettes(view, &wanted)) {
            let m = &mut metrics[p].0;
            m.silhouette = Some(value);
            m.silhouette_rows = view.nrows();
            m.silhouette_sampled = rows.is_some();
        }
    }
    metrics.into_iter().map(|(m, _)| m).collect()
}

fn count(labels: &[usize], k: usize) -> Vec<usize> {
    let mut c = vec![0; k];
    labels.iter().for_each(|&l| c[l] += 1);
    c
}

/// Calls `f(i, row)` for every row of `x`, in order.
fn for_rows<R: ModelRows + ?Sized>(x: &R, mut f: impl FnMut(usize, ArrayView1<f64>)) {
    x.for_blocks(&mut |start, block| {
        for (i, row) in block.rows().into_iter().enumerate() {
            f(start + i, row);
        }
    });
}

/// Mean of each cluster's rows (a row of NaN for an empty cluster).
pub fn cluster_means<R: ModelRows + ?Sized>(x: &R, labels: &[usize], k: usize) -> Array2<f64> {
    let mut sums = Array2::<f64>::zeros((k, x.ncols()));
    let counts = count(labels, k);
    for_rows(x, |i, row| {
        let mut s = sums.row_mut(labels[i]);
        s += &row;
    });
    for (j, &c) in counts.iter().enumerate() {
        sums.row_mut(j).mapv_inplace(|v| v / c as f64);
    }
    sums
}

/// Weighted mean of each cluster's rows, `Σ w·x / Σ w`: weighted K-Means' centroids. A
/// cluster whose rows all weigh 0 gets their plain mean (a row of NaN for an empty one).
pub fn weighted_means<R: ModelRows + ?Sized>(
    x: &R,
    labels: &[usize],
    k: usize,
    w: &[f64],
) -> Array2<f64> {
    let mut sums = Array2::<f64>::zeros((k, x.ncols()));
    let mut totals = vec![0.0; k];
    for_rows(x, |i, row| {
        totals[labels[i]] += w[i];
        sums.row_mut(labels[i]).scaled_add(w[i], &row);
    });
    let plain = cluster_means(x, labels, k);
    for (j, &t) in totals.iter().enumerate() {
        if t > 0.0 {
            sums.row_mut(j).mapv_inplace(|v| v / t);
        } else {
            sums.row_mut(j).assign(&plain.row(j));
        }
    }
    sums
}

/// `Σ w·d²` to the clusters' weighted means (weighted K-Means' objective, scikit-learn's
/// `inertia_` with `sample_weight`).
pub fn weighted_inertia<R: ModelRows + ?Sized>(
    x: &R,
    labels: &[usize],
    k: usize,
    w: &[f64],
) -> f64 {
    let centroids = weighted_means(x, labels, k, w);
    let mut total = 0.0;
    for_rows(x, |i, r| {
        total += w[i] * row_dist2(r.iter(), centroids.row(labels[i]).iter());
    });
    total
}

fn dist2(a: &[f64], b: &[f64]) -> f64 {
    a.iter().zip(b).map(|(x, y)| (x - y) * (x - y)).sum()
}

fn row_dist2<'a>(a: impl Iterator<Item = &'a f64>, b: impl Iterator<Item = &'a f64>) -> f64 {
    a.zip(b).map(|(x, y)| (x - y) * (x - y)).sum()
}

pub fn inertia<R: ModelRows + ?Sized>(x: &R, labels: &[usize], centroids: &Array2<f64>) -> f64 {
    let mut total = 0.0;
    for_rows(x, |i, r| {
        total += row_dist2(r.iter(), centroids.row(labels[i]).iter())
    });
    total
}

/// Exact mean silhouette, O(n²) distances, in parallel over rows. A row alone in its cluster
/// scores 0 (scikit-learn's convention).
pub fn silhouette(x: ArrayView2<f64>, labels: &[usize], k: usize) -> f64 {
    silhouettes(x, &[(labels, k)])[0]
}

/// [`silhouette`] of several partitions of the same rows, each distance computed once: a
/// row's distance to another is added to that row's cluster sum in every partition.
pub fn silhouettes(x: ArrayView2<f64>, partitions: &[(&[usize], usize)]) -> Vec<f64> {
    let x = x.as_standard_layout();
    let data = x.as_slice().expect("standard layout");
    let (n, d, m) = (x.nrows(), x.ncols(), partitions.len());
    let offsets: Vec<usize> = partitions
        .iter()
        .scan(0, |at, &(_, k)| {
            *at += k;
            Some(*at - k)
        })
        .collect();
    let total: usize = partitions.iter().map(|p| p.1).sum();
    // Row j's cluster in each partition, as an index into the concatenated sums.
    let slots: Vec<u32> = (0..n)
        .flat_map(|j| {
            partitions
                .iter()
                .zip(&offsets)
                .map(move |(&(labels, _), &at)| (at + labels[j]) as u32)
        })
        .collect();
    let sizes: Vec<Vec<usize>> = partitions.iter().map(|&(l, k)| count(l, k)).collect();
    let scores: Vec<Vec<f64>> = (0..n)
        .into_par_iter()
        .map_init(
            || vec![0.0; total],
            |sums, i| {
                sums.iter_mut().for_each(|s| *s = 0.0);
                let xi = &data[i * d..(i + 1) * d];
                for (j, xj) in data.chunks_exact(d).enumerate() {
                    let distance = dist2(xi, xj).sqrt();
                    for &slot in &slots[j * m..(j + 1) * m] {
                        sums[slot as usize] += distance;
                    }
                }
                (0..m)
                    .map(|p| {
                        let (labels, k) = partitions[p];
                        row_silhouette(&sums[offsets[p]..offsets[p] + k], &sizes[p], labels[i])
                    })
                    .collect()
            },
        )
        .collect();
    (0..m)
        .map(|p| scores.iter().map(|row| row[p]).sum::<f64>() / n as f64)
        .collect()
}

/// One row's silhouette from its summed distances to each cluster's rows.
fn row_silhouette(sums: &[f64], sizes: &[usize], own: usize) -> f64 {
    if sizes[own] <= 1 {
        return 0.0;
    }
    let a = sums[own] / (sizes[own] - 1) as f64;
    let b = (0..sums.len())
        .filter(|&c| c != own && sizes[c] > 0)
        .map(|c| sums[c] / sizes[c] as f64)
        .fold(f64::INFINITY, f64::min);
    if a.max(b) > 0.0 {
        (b - a) / a.max(b)
    } else {
        0.0
    }
}

/// Mean over clusters of the worst ratio (sᵢ + sⱼ) / dᵢⱼ, where sᵢ is the mean distance of a
/// cluster's rows to its centroid and dᵢⱼ the distance between centroids.
pub fn davies_bouldin<R: ModelRows + ?Sized>(
    x: &R,
    labels: &[usize],
    centroids: &Array2<f64>,
) -> f64 {
    let k = centroids.nrows();
    let sizes = count(labels, k);
    let mut spread = vec![0.0; k];
    for_rows(x, |i, r| {
        let l = labels[i];
        spread[l] += row_dist2(r.iter(), centroids.row(l).iter()).sqrt();
    });
    let live: Vec<usize> = (0..k).filter(|&j| sizes[j] > 0).collect();
    for &j in &live {
        spread[j] /= sizes[j] as f64;
    }
    let worst = live.iter().map(|&i| {
        live.iter()
            .filter(|&&j| j != i)
            .map(|&j| {
                let dij = row_dist2(centroids.row(i).iter(), centroids.row(j).iter()).sqrt();
                if dij == 0.0 {
                    f64::INFINITY
                } else {
                    (spread[i] + spread[j]) / dij
                }
            })
            .fold(0.0, f64::max)
    });
    worst.sum::<f64>() / live.len() as f64
}

/// Between-cluster dispersion over within-cluster dispersion, scaled by their degrees of
/// freedom: [B / (k - 1)] / [W / (n - k)].
pub fn calinski_harabasz<R: ModelRows + ?Sized>(
    x: &R,
    labels: &[usize],
    centroids: &Array2<f64>,
) -> f64 {
    let n = x.nrows();
    let k = centroids.nrows();
    let sizes = count(labels, k);
    let k_live = sizes.iter().filter(|&&s| s > 0).count();
    let mean = column_means(x);
    let between: f64 = (0..k)
        .filter(|&j| sizes[j] > 0)
        .map(|j| sizes[j] as f64 * row_dist2(centroids.row(j).iter(), mean.iter()))
        .sum();
    let within = inertia(x, labels, centroids);
    if within == 0.0 {
        return 1.0;
    }
    (between / (k_live - 1) as f64) / (within / (n - k_live) as f64)
}

#[cfg(test)]
mod tests {
    use super::*;
    use ndarray::array;

    #[test]
    fn hand_computed_two_clusters() {
        let x = array![[0.0], [2.0], [10.0], [12.0]];
        let labels = [0, 0, 1, 1];
        let m = evaluate(&x, &labels, 2, 0);
        assert_eq!(m.inertia, 4.0);
        // Row 0: a = 2, b = (10 + 12) / 2 = 11 → 9/11; row 1: a = 2, b = 9 → 7/9; symmetric.
        let s = (9.0 / 11.0 + 7.0 / 9.0) / 2.0;
        assert!((m.silhouette.unwrap() - s).abs() < 1e-12);
        // s = 1 for both, centroid distance 10 → (1 + 1) / 10.
        assert!((m.davies_bouldin.unwrap() - 0.2).abs() < 1e-12);
        // B = 2·25 + 2·25 = 100, W = 4 → (100/1) / (4/2) = 50.
        assert!((m.calinski_harabasz.unwrap() - 50.0).abs() < 1e-12);
    }

    #[test]
    fn one_cluster_has_no_relative_metrics() {
        let x = array![[0.0], [2.0]];
        let m = evaluate(&x, &[0, 0], 1, 0);
        assert_eq!(
            (m.silhouette, m.davies_bouldin, m.calinski_harabasz),
            (None, None, None)
        );
        assert_eq!(m.inertia, 2.0);
    }

    #[test]
    fn partitions_measured_together_score_as_each_alone() {
        // 300 rows in 2 dimensions, cut three ways (k = 1, 3 and 7), bit for bit.
        let x = Array2::from_shape_fn((300, 2), |(i, j)| {
            ((i * 37 + j * 11) % 101) as f64 / 7.0 + (i % 3) as f64 * 5.0
        });
        let cuts: Vec<(Vec<usize>, usize)> = [1, 3, 7]
            .iter()
            .map(|&k| ((0..300).map(|i| (i * 13 + i / 7) % k).collect(), k))
            .collect();
        let partitions: Vec<(&[usize], usize)> =
            cuts.iter().map(|(l, k)| (l.as_slice(), *k)).collect();
        let together = evaluate_many(&x, &partitions, 9);
        for ((labels, k), m) in cuts.iter().zip(&together) {
            assert_eq!(*m, evaluate(&x, labels, *k, 9));
        }
        assert_eq!(together[0].silhouette, None);
        assert!(together[2].silhouette.is_some());
    }
}

/// Adjusted Rand Index of two labelings given as their contingency table: (label in the
/// first, label in the second, items with both). 1 for identical partitions (up to
/// renaming), about 0 for independent ones; `None` with fewer than two items.
pub fn adjusted_rand_index<A, B>(table: &[(A, B, u64)]) -> Option<f64>
where
    A: Eq + std::hash::Hash,
    B: Eq + std::hash::Hash,
{
    use std::collections::HashMap;
    let pairs = |n: u64| (n as f64) * (n as f64 - 1.0) / 2.0;
    let mut rows: HashMap<&A, u64> = HashMap::new();
    let mut cols: HashMap<&B, u64> = HashMap::new();
    let mut n = 0;
    let mut index = 0.0;
    for (a, b, c) in table {
        *rows.entry(a).or_default() += c;
        *cols.entry(b).or_default() += c;
        n += c;
        index += pairs(*c);
    }
    if n < 2 {
        return None;
    }
    let sum_a: f64 = rows.values().map(|&c| pairs(c)).sum();
    let sum_b: f64 = cols.values().map(|&c| pairs(c)).sum();
    let expected = sum_a * sum_b / pairs(n);
    let max = (sum_a + sum_b) / 2.0;
    if max == expected {
        // Both partitions trivial (one cluster, or all singletons): identical by convention.
        return Some(1.0);
    }
    Some((index - expected) / (max - expected))
}

#[cfg(test)]
mod ari_tests {
    use super::adjusted_rand_index;

    fn table(a: &[i32], b: &[i32]) -> Vec<(i32, i32, u64)> {
        let mut t: Vec<(i32, i32, u64)> = Vec::new();
        for (x, y) in a.iter().zip(b) {
            match t.iter_mut().find(|(p, q, _)| p == x && q == y) {
                Some(e) => e.2 += 1,
                None => t.push((*x, *y, 1)),
            }
        }
        t
    }

    #[test]
    fn matches_scikit_learn() {
        // sklearn.metrics.adjusted_rand_score on the same labels.
        let cases: [(&[i32], &[i32], f64); 4] = [
            (&[0, 0, 1, 1], &[1, 1, 0, 0], 1.0),
            (&[0, 0, 1, 2], &[0, 0, 1, 1], 0.5714285714285714),
            (&[0, 0, 1, 1], &[0, 1, 0, 1], -0.5),
            (
                &[0, 0, 0, 1, 1, 1, 2, 2, 2, 2],
                &[0, 0, 1, 1, 2, 2, 2, 2, 0, 1],
                -0.022727272727272728,
            ),
        ];
        for (a, b, want) in cases {
            let got = adjusted_rand_index(&table(a, b)).unwrap();
            assert!((got - want).abs() < 1e-12, "{a:?} {b:?}: {got} vs {want}");
        }
    }

    #[test]
    fn needs_two_items() {
        assert_eq!(adjusted_rand_index(&[(1, 1, 1u64)]), None);
    }
}
