//! The segmented rows in a canonical segment order (by member means).

use super::super::categorical::Encoded;
use super::super::metrics;
use super::super::space::ModelRows;
use ndarray::{Array2, ArrayView2, Axis, CowArray, Ix2};

/// The segmented rows with their segments in a canonical order: by member means in original
/// units, lexicographically, so that ids do not depend on which restart or merge came first.
pub(super) struct Segments<'a> {
    /// Indices of the rows in a segment (noise left out).
    pub(super) segmented: Vec<usize>,
    /// Their segments, canonical.
    pub(super) labels: Vec<usize>,
    /// `order[new] = old` and `rank[old] = new`.
    pub(super) order: Vec<usize>,
    pub(super) rank: Vec<usize>,
    /// The segmented rows in original units and in model space: the run's own when every
    /// row is in a segment (copies only when some are noise).
    pub(super) original: CowArray<'a, f64, Ix2>,
    pub(super) model_rows: Box<dyn ModelRows + 'a>,
    /// Their sample weights (weighted runs).
    pub(super) weights: Option<Vec<f64>>,
    /// Their categorical features.
    pub(super) categories: Vec<Encoded>,
    /// The member means in model space, weighted in weighted runs (for K-Means, its
    /// centroids at convergence).
    pub(super) centroids: Array2<f64>,
}

impl<'a> Segments<'a> {
    pub(super) fn canonical(
        original: ArrayView2<'a, f64>,
        space: &'a dyn ModelRows,
        weights: Option<&[f64]>,
        categories: &[Encoded],
        raw: &[Option<usize>],
        clusters: usize,
    ) -> Self {
        let segmented: Vec<usize> = (0..raw.len()).filter(|&i| raw[i].is_some()).collect();
        let raw_labels: Vec<usize> = segmented
            .iter()
            .map(|&i| raw[i].expect("segmented"))
            .collect();
        let all = segmented.len() == raw.len();
        let original: CowArray<'a, f64, Ix2> = match all {
            true => original.into(),
            false => original.select(Axis(0), &segmented).into(),
        };
        let model_rows: Box<dyn ModelRows + 'a> = match all {
            true => Box::new(space),
            false => Box::new(space.select(&segmented)),
        };
        let means = metrics::cluster_means(&original, &raw_labels, clusters);
        let d = original.ncols();
        // A segment no row fell in (a mixture component that is nowhere the likeliest) is
        // dropped: segments are the groups the rows form.
        let mut sizes = vec![0usize; clusters];
        for &l in &raw_labels {
            sizes[l] += 1;
        }
        let mut order: Vec<usize> = (0..clusters).filter(|&c| sizes[c] > 0).collect();
        order.sort_by(|&a, &b| {
            (0..d)
                .map(|f| means[[a, f]].total_cmp(&means[[b, f]]))
                .find(|o| o.is_ne())
                .unwrap_or(std::cmp::Ordering::Equal)
                .then(a.cmp(&b))
        });
        let mut rank = vec![usize::MAX; clusters];
        for (new, &old) in order.iter().enumerate() {
            rank[old] = new;
        }
        let labels: Vec<usize> = raw_labels.iter().map(|&l| rank[l]).collect();
        let weights: Option<Vec<f64>> = weights.map(|w| segmented.iter().map(|&i| w[i]).collect());
        let centroids = match &weights {
            None => metrics::cluster_means(&*model_rows, &labels, order.len()),
            Some(w) => metrics::weighted_means(&*model_rows, &labels, order.len(), w),
        };
        let categories = categories
            .iter()
            .map(|c| Encoded {
                encoding: c.encoding.clone(),
                levels: segmented.iter().map(|&i| c.levels[i]).collect(),
            })
            .collect();
        Self {
            categories,
            segmented,
            labels,
            order,
            rank,
            original,
            model_rows,
            weights,
            centroids,
        }
    }

    /// The centroids; the rest (each row's label, any copies of the rows) is freed.
    pub(super) fn into_centroids(self) -> Array2<f64> {
        self.centroids
    }

    /// Each of `n` rows' segment (`None`: noise).
    pub(super) fn of_rows(&self, n: usize) -> Vec<Option<u32>> {
        let mut segment_of = vec![None; n];
        for (&i, &l) in self.segmented.iter().zip(&self.labels) {
            segment_of[i] = Some(l as u32);
        }
        segment_of
    }
}
