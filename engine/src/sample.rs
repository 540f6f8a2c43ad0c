//! What a run keeps for its scatter chart: a seeded sample of the rows it segmented, their
//! values in original units and, with more than two features, their first two principal
//! components (of the scaled features, over all rows), with each segment's centre there.

use super::pca;
use super::space::ModelRows;
use ndarray::{ArrayView2, Axis};
use rand::SeedableRng;
use rand_xoshiro::Xoshiro256PlusPlus;

/// Rows kept for the scatter chart, at most.
pub const CHART_SAMPLE: usize = 20_000;

#[derive(Debug, Clone, Default, PartialEq)]
pub struct ChartSample {
    /// Indices of the rows used (the run's `assignments` order), in a seeded random order:
    /// every prefix is itself a random sample.
    pub rows: Vec<usize>,
    /// The sampled rows' values in original units, row-major.
    pub values: Vec<f64>,
    pub pca: Option<ChartPca>,
}

#[derive(Debug, Clone, PartialEq)]
pub struct ChartPca {
    /// Share of the variance PC1 and PC2 explain.
    pub explained: [f64; 2],
    /// Per sampled row, in `rows` order.
    pub points: Vec<[f64; 2]>,
    /// Per segment: the mean of its members' projections (every member, not only the sample).
    pub centres: Vec<[f64; 2]>,
}

/// Draws the sample. `scaled` and `original` hold the rows used; `labels[i]` is row i's
/// segment (`None`: noise). Only the sampled rows' projections are kept: the centres add the
/// others' up block by block.
pub fn chart_sample<R: ModelRows + ?Sized>(
    scaled: &R,
    original: ArrayView2<f64>,
    labels: &[Option<u32>],
    segments: usize,
    seed: u64,
    budget: usize,
) -> ChartSample {
    let n = scaled.nrows();
    let mut rng = Xoshiro256PlusPlus::seed_from_u64(seed ^ 0x5eed_c4a7);
    let rows = rand::seq::index::sample(&mut rng, n, n.min(budget)).into_vec();
    let values = rows
        .iter()
        .flat_map(|&i| original.row(i).to_vec())
        .collect();
    let pca = (scaled.ncols() > 2)
        .then(|| pca::fit(scaled, 2).ok())
        .flatten()
        .filter(|fit| fit.components.nrows() == 2)
        .map(|fit| {
            let mut sums = vec![[0.0; 2]; segments];
            let mut counts = vec![0usize; segments];
            scaled.for_blocks(&mut |start, block| {
                let projected = fit.project(block);
                for (i, row) in projected.axis_iter(Axis(0)).enumerate() {
                    if let Some(s) = labels[start + i] {
                        let s = s as usize;
                        sums[s][0] += row[0];
                        sums[s][1] += row[1];
                        counts[s] += 1;
                    }
                }
            });
            let points = fit.project(scaled.select(&rows).view());
            ChartPca {
                explained: [
                    fit.explained_variance_ratio[0],
                    fit.explained_variance_ratio[1],
                ],
                points: points.axis_iter(Axis(0)).map(|p| [p[0], p[1]]).collect(),
                centres: sums
                    .iter()
                    .zip(&counts)
                    .map(|(s, &c)| {
                        let c = c.max(1) as f64;
                        [s[0] / c, s[1] / c]
                    })
                    .collect(),
            }
        });
    ChartSample { rows, values, pca }
}

#[cfg(test)]
mod tests {
    use super::*;
    use ndarray::Array2;

    #[test]
    fn samples_are_seeded_bounded_and_centres_are_member_means() {
        let n = 500;
        let scaled = Array2::from_shape_fn((n, 3), |(i, j)| ((i * 7 + j * 13) % 17) as f64);
        let labels: Vec<Option<u32>> = (0..n).map(|i| Some(i as u32 % 2)).collect();
        let a = chart_sample(&scaled, scaled.view(), &labels, 2, 42, 100);
        let b = chart_sample(&scaled, scaled.view(), &labels, 2, 42, 100);
        assert_eq!(a, b);
        assert_eq!(a.rows.len(), 100);
        assert_eq!(a.values.len(), 300);
        let mut distinct = a.rows.clone();
        distinct.sort_unstable();
        distinct.dedup();
        assert_eq!(distinct.len(), 100);
        assert_ne!(
            a.rows,
            chart_sample(&scaled, scaled.view(), &labels, 2, 7, 100).rows
        );
        // Under the budget: every row, shuffled.
        let all = chart_sample(&scaled, scaled.view(), &labels, 2, 42, 10_000);
        assert_eq!(all.rows.len(), n);
        let pca = all.pca.unwrap();
        let fit = pca::pca(&scaled, 2).unwrap();
        let members: Vec<usize> = (0..n).filter(|i| i % 2 == 1).collect();
        let mean0 = members.iter().map(|&i| fit.projection[[i, 0]]).sum::<f64>() / 250.0;
        assert!((pca.centres[1][0] - mean0).abs() < 1e-9);
        let at = all.rows.iter().position(|&r| r == 3).unwrap();
        assert!((pca.points[at][1] - fit.projection[[3, 1]]).abs() < 1e-12);
        // Two features: no projection needed.
        let two = chart_sample(
            &scaled.slice(ndarray::s![.., ..2]),
            scaled.view(),
            &labels,
            2,
            1,
            10,
        );
        assert!(two.pca.is_none());
    }
}
