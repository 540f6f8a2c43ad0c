//! Mini-batch K-Means (Sculley, 2010), as scikit-learn's `MiniBatchKMeans` runs it: k-means++
//! on a sample of `3 × batch_size` rows, then steps that each draw `batch_size` rows (with
//! replacement), assign them to the nearest centroid and move each centroid towards its rows
//! with a per-centroid learning rate (its running count), reassigning centroids that attract
//! almost nothing; it stops after `max_iter` passes' worth of steps or when the smoothed batch
//! inertia has not improved for `max_no_improvement` steps. A last full pass labels every row.
//!
//! Each step touches `batch_size` rows, not all of them: on large tables it is much faster
//! than Lloyd, for an inertia a little higher.

pub mod plugin;

use super::init::Rows;
use super::pass::{Workspace, assign};
use super::{EngineError, KMeans, KMeansFit, on_the_pool, ordered_sum};
use crate::space::ModelRows;
use ndarray::Array2;
use rand::{Rng, SeedableRng};
use rand_xoshiro::Xoshiro256PlusPlus;

/// The parameters, with scikit-learn's defaults.
#[derive(Debug, Clone, PartialEq)]
pub struct MiniBatchParams {
    pub k: usize,
    /// Rows per step (scikit-learn: 1024).
    pub batch_size: usize,
    /// Passes over the data's worth of steps at most (scikit-learn: 100).
    pub max_iter: usize,
    /// Steps without an improvement of the smoothed batch inertia before stopping (10; 0:
    /// never stop early, run every step).
    pub max_no_improvement: usize,
    /// A centroid whose count falls below this share of the largest count is moved to a
    /// row of the batch (0.01).
    pub reassignment_ratio: f64,
    pub seed: u64,
}

impl MiniBatchParams {
    pub fn new(k: usize) -> Self {
        Self {
            k,
            batch_size: 1024,
            max_iter: 100,
            max_no_improvement: 10,
            reassignment_ratio: 0.01,
            seed: 42,
        }
    }

    fn check(&self, rows: usize) -> Result<(), EngineError> {
        if self.k == 0 || self.k > rows {
            return Err(EngineError::invalid(
                "k",
                "between 1 and the number of rows",
                self.k,
            ));
        }
        if self.batch_size == 0 {
            return Err(EngineError::invalid(
                "batch_size",
                "at least 1",
                self.batch_size,
            ));
        }
        if self.max_iter == 0 {
            return Err(EngineError::invalid(
                "max_iter",
                "at least 1",
                self.max_iter,
            ));
        }
        Ok(())
    }
}

/// Rows labelled at a time by the last pass over rows that are not held (8 of the kernel's
/// chunks: 8 MiB at 8 features).
const LABEL_BLOCK: usize = 8 * super::CHUNK;

/// Fits mini-batch K-Means on the rows of `x` (model space). Rows that are not held are
/// computed a batch at a time: the fit holds `batch_size` rows, the k-means++ sample, and
/// each row's label and distance, never the matrix.
pub fn fit<R: ModelRows + ?Sized>(
    x: &R,
    params: &MiniBatchParams,
) -> Result<KMeansFit, EngineError> {
    params.check(x.nrows())?;
    on_the_pool(|| Ok(fit_rows(x, params)))
}

fn fit_rows<R: ModelRows + ?Sized>(x: &R, params: &MiniBatchParams) -> KMeansFit {
    let (n, d) = (x.nrows(), x.ncols());
    let k = params.k;
    let started = std::time::Instant::now();
    let mut rng = Xoshiro256PlusPlus::seed_from_u64(params.seed);
    let batch = params.batch_size.min(n);
    // k-means++ on a sample of 3 × batch rows (at least 3k), drawn without replacement.
    let init_size = (3 * batch).max(3 * k).min(n);
    let sample = rand::seq::index::sample(&mut rng, n, init_size).into_vec();
    let mut init_rows = vec![0.0; init_size * d];
    x.fill(&sample, &mut init_rows);
    let mut ws = Workspace::new(init_size, d, k);
    let rows = Rows {
        data: &init_rows,
        weights: None,
        n: init_size,
        d,
    };
    let mut centroids = super::init::kmeans_plus_plus_seeded(rows, k, rng.r#gen(), &mut ws)
        .expect("k <= rows of the sample");

    let mut counts = vec![0.0f64; k];
    let steps = (params.max_iter * n).div_ceil(batch);
    let alpha = (batch as f64 * 2.0 / (n as f64 + 1.0)).min(1.0);
    let (mut ewa, mut ewa_min, mut no_improvement) = (f64::NAN, f64::INFINITY, 0usize);
    let mut batch_rows = vec![0usize; batch];
    let mut data = vec![0.0f64; batch * d];
    let mut sums = vec![0.0f64; k * d];
    let mut in_batch = vec![0.0f64; k];
    let mut since_reassign = 0usize;
    let mut n_steps = 0;
    let mut converged = false;
    for step in 0..steps {
        n_steps = step + 1;
        batch_rows.iter_mut().for_each(|r| *r = rng.gen_range(0..n));
        x.fill(&batch_rows, &mut data);
        // Assign the batch; sums and counts per centroid.
        sums.iter_mut().for_each(|s| *s = 0.0);
        in_batch.iter_mut().for_each(|c| *c = 0.0);
        let mut inertia = 0.0;
        for row in data.chunks_exact(d) {
            let (best, dist) = nearest(row, &centroids, k, d);
            inertia += dist;
            in_batch[best] += 1.0;
            for (s, v) in sums[best * d..(best + 1) * d].iter_mut().zip(row) {
                *s += v;
            }
        }
        // Each centroid moves to the running mean of the rows it has had.
        for j in 0..k {
            if in_batch[j] == 0.0 {
                continue;
            }
            let total = counts[j] + in_batch[j];
            for f in 0..d {
                let c = &mut centroids[j * d + f];
                *c = (*c * counts[j] + sums[j * d + f]) / total;
            }
            counts[j] = total;
        }
        // Now and then, centroids that attract almost nothing move to rows of the batch.
        // (scikit-learn: when a centroid has had no row yet, or every 10 k rows).
        since_reassign += batch;
        if params.reassignment_ratio > 0.0 && (counts.contains(&0.0) || since_reassign >= 10 * k) {
            since_reassign = 0;
            let largest = counts.iter().copied().fold(0.0, f64::max);
            let mut low: Vec<usize> = (0..k)
                .filter(|&j| counts[j] < params.reassignment_ratio * largest)
                .collect();
            if low.len() > batch / 2 {
                low.sort_by(|&a, &b| counts[a].total_cmp(&counts[b]));
                low.truncate(batch / 2);
            }
            if !low.is_empty() {
                let picks = rand::seq::index::sample(&mut rng, batch, low.len()).into_vec();
                let kept_min = (0..k)
                    .filter(|j| !low.contains(j))
                    .map(|j| counts[j])
                    .fold(f64::INFINITY, f64::min);
                for (&j, &p) in low.iter().zip(&picks) {
                    centroids[j * d..(j + 1) * d].copy_from_slice(&data[p * d..(p + 1) * d]);
                    counts[j] = if kept_min.is_finite() { kept_min } else { 0.0 };
                }
            }
        }
        // Early stop: the batch inertia per row, smoothed, has not improved for a while.
        // The first step's inertia is the initialisation's: not counted.
        let per_row = inertia / batch as f64;
        if step == 0 {
            continue;
        }
        ewa = match ewa.is_nan() {
            true => per_row,
            false => ewa * (1.0 - alpha) + per_row * alpha,
        };
        if ewa < ewa_min {
            ewa_min = ewa;
            no_improvement = 0;
        } else {
            no_improvement += 1;
        }
        if params.max_no_improvement > 0 && no_improvement >= params.max_no_improvement {
            converged = true;
            break;
        }
    }
    let iterations_seconds = started.elapsed().as_secs_f64();
    // Every row's label and distance: one full pass.
    let (labels, sq_distances) = label_every_row(x, &centroids, k);
    let inertia = ordered_sum(&sq_distances);
    KMeansFit {
        model: KMeans {
            centroids: Array2::from_shape_vec((k, d), centroids).expect("k × d"),
        },
        labels,
        sq_distances,
        inertia,
        n_iter: n_steps,
        converged,
        inertia_trace: vec![inertia],
        restart_inertias: vec![inertia],
        iterations_seconds,
    }
}

/// Each row's nearest centroid and squared distance: in one pass over held rows, else
/// [`LABEL_BLOCK`] computed rows at a time.
fn label_every_row<R: ModelRows + ?Sized>(
    x: &R,
    centroids: &[f64],
    k: usize,
) -> (Vec<usize>, Vec<f64>) {
    let (n, d) = (x.nrows(), x.ncols());
    if let Some(held) = x.held() {
        let data = held.as_standard_layout();
        let mut ws = Workspace::new(n, d, k);
        assign(
            data.as_slice().expect("standard layout"),
            d,
            k,
            centroids,
            &mut ws,
            false,
        );
        return (ws.labels, ws.sq_dist);
    }
    let (mut labels, mut sq_distances) = (Vec::with_capacity(n), Vec::with_capacity(n));
    let mut rows = Vec::with_capacity(LABEL_BLOCK);
    let mut data = vec![0.0; LABEL_BLOCK.min(n) * d];
    for start in (0..n).step_by(LABEL_BLOCK) {
        let end = (start + LABEL_BLOCK).min(n);
        rows.clear();
        rows.extend(start..end);
        let block = &mut data[..rows.len() * d];
        x.fill(&rows, block);
        let mut ws = Workspace::new(rows.len(), d, k);
        assign(block, d, k, centroids, &mut ws, false);
        labels.extend_from_slice(&ws.labels);
        sq_distances.extend_from_slice(&ws.sq_dist);
    }
    (labels, sq_distances)
}

/// The nearest centroid (ties: the lowest index) and the squared distance to it.
fn nearest(row: &[f64], centroids: &[f64], k: usize, d: usize) -> (usize, f64) {
    let mut best = (0, f64::INFINITY);
    for j in 0..k {
        let c = &centroids[j * d..(j + 1) * d];
        let dist: f64 = row.iter().zip(c).map(|(a, b)| (a - b) * (a - b)).sum();
        if dist < best.1 {
            best = (j, dist);
        }
    }
    best
}

#[cfg(test)]
mod tests {
    use super::*;
    use ndarray::Array2;

    /// `groups` tight blobs of `per` rows around far-apart centres, in a shuffled order.
    fn blobs(groups: usize, per: usize) -> (Array2<f64>, Vec<usize>) {
        let mut rng = Xoshiro256PlusPlus::seed_from_u64(1);
        let mut rows: Vec<(usize, [f64; 3])> = (0..groups * per)
            .map(|i| {
                let g = i % groups;
                let centre = [
                    g as f64 * 10.0,
                    (g % 3) as f64 * 10.0,
                    (g / 3) as f64 * 10.0,
                ];
                let mut r = [0.0; 3];
                for f in 0..3 {
                    r[f] = centre[f] + rng.gen_range(-0.5..0.5);
                }
                (g, r)
            })
            .collect();
        rand::seq::SliceRandom::shuffle(&mut rows[..], &mut rng);
        let truth = rows.iter().map(|(g, _)| *g).collect();
        let data = rows.iter().flat_map(|(_, r)| r.iter().copied()).collect();
        (
            Array2::from_shape_vec((groups * per, 3), data).unwrap(),
            truth,
        )
    }

    #[test]
    fn finds_separated_groups_with_lloyds_inertia_and_the_same_result_per_seed() {
        let (x, truth) = blobs(6, 5_000);
        let fit = fit(&x, &MiniBatchParams::new(6)).unwrap();
        // Every group is one segment, and every segment one group.
        let mut pairs: Vec<(usize, usize)> = truth
            .iter()
            .copied()
            .zip(fit.labels.iter().copied())
            .collect();
        pairs.sort_unstable();
        pairs.dedup();
        assert_eq!(pairs.len(), 6, "{pairs:?}");
        let lloyd = crate::kmeans::fit(x.view(), &crate::kmeans::KMeansParams::new(6)).unwrap();
        assert!(
            fit.inertia <= lloyd.inertia * 1.01,
            "{} vs {}",
            fit.inertia,
            lloyd.inertia
        );
        // Fewer steps than the bound: the smoothed inertia stopped improving.
        assert!(
            fit.converged && fit.n_iter < 100 * 30_000 / 1024,
            "{}",
            fit.n_iter
        );
        let again = super::fit(&x, &MiniBatchParams::new(6)).unwrap();
        assert_eq!(fit.labels, again.labels);
        assert_eq!(fit.inertia.to_bits(), again.inertia.to_bits());
    }

    #[test]
    fn refuses_what_cannot_be_fitted() {
        let (x, _) = blobs(2, 10);
        for (p, name) in [
            (MiniBatchParams::new(0), "k"),
            (MiniBatchParams::new(21), "k"),
            (
                MiniBatchParams {
                    batch_size: 0,
                    ..MiniBatchParams::new(2)
                },
                "batch_size",
            ),
            (
                MiniBatchParams {
                    max_iter: 0,
                    ..MiniBatchParams::new(2)
                },
                "max_iter",
            ),
        ] {
            let e = fit(&x, &p).unwrap_err();
            assert!(e.to_string().contains(name), "{e}");
        }
    }
}
