//! The k-d tree's queries against a scan of every row, on rounded data with ties and
//! duplicate rows.

use super::*;
use ndarray::Array2;
use rand::{Rng, SeedableRng};
use rand_xoshiro::Xoshiro256PlusPlus;

fn data(n: usize, d: usize, seed: u64) -> Array2<f64> {
    let mut rng = Xoshiro256PlusPlus::seed_from_u64(seed);
    // Rounded so that ties and duplicate rows occur.
    Array2::from_shape_fn((n, d), |_| (rng.r#gen::<f64>() * 20.0).round() / 10.0)
}

/// The squared distance from row `i` of `x` to `q`, summed in feature order as the tree sums.
fn dist2(x: &Array2<f64>, i: usize, q: &[f64]) -> f64 {
    x.row(i).iter().zip(q).map(|(a, b)| (a - b) * (a - b)).sum()
}

fn brute(x: &Array2<f64>, q: &[f64], r2: f64) -> Vec<usize> {
    (0..x.nrows()).filter(|&i| dist2(x, i, q) <= r2).collect()
}

#[test]
fn k_nearest_queries_agree_with_a_sort_of_every_row() {
    for (n, d) in [(1, 1), (7, 3), (500, 2), (2000, 8)] {
        let x = data(n, d, 7 + n as u64);
        let tree = KdTree::new(x.view());
        for (qi, k) in [(0, 1), (n / 2, 5), (n - 1, 20), (n / 3, n)] {
            let q = x.row(qi).to_vec();
            let mut all: Vec<(f64, usize)> = (0..n).map(|i| (dist2(&x, i, &q), i)).collect();
            all.sort_by(|a, b| a.0.total_cmp(&b.0).then(a.1.cmp(&b.1)));
            let k = k.min(n);
            let got: Vec<(usize, f64)> = tree
                .k_nearest(&q, k)
                .into_iter()
                .map(|(p, dist)| (tree.row_of(p), dist))
                .collect();
            let want: Vec<(usize, f64)> = all[..k].iter().map(|&(d2, i)| (i, d2.sqrt())).collect();
            assert_eq!(got, want, "n {n} d {d} k {k}");
            assert_eq!(tree.kth_nearest_dist2(&q, k), all[k - 1].0);
        }
    }
}

#[test]
fn radius_and_nearest_queries_agree_with_a_scan_of_every_row() {
    for (n, d) in [(1, 1), (7, 3), (500, 2), (2000, 8), (300, 1)] {
        let x = data(n, d, n as u64);
        let tree = KdTree::new(x.view());
        assert_eq!(tree.len(), n);
        for (qi, r2) in [(0, 0.05), (n / 2, 0.3), (n - 1, 2.0), (n / 3, 0.0)] {
            let q = x.row(qi).to_vec();
            let mut got = Vec::new();
            tree.each_within(&q, r2, |p| {
                got.push(tree.row_of(p));
                Flow::Continue
            });
            got.sort();
            assert_eq!(got, brute(&x, &q, r2), "n {n} d {d} r2 {r2}");
            // Counting with whole nodes gives the same count.
            let mut count = 0;
            tree.within(&q, r2, |hit| {
                count += match hit {
                    Hit::Node(node) => tree.range(node).len(),
                    Hit::Point(_) => 1,
                };
                Flow::Continue
            });
            assert_eq!(count, got.len());
            // The nearest other row within the radius, ties to the lower row.
            let want = brute(&x, &q, r2)
                .into_iter()
                .filter(|&i| i != qi)
                .map(|i| (dist2(&x, i, &q), i))
                .min_by(|a, b| a.0.total_cmp(&b.0).then(a.1.cmp(&b.1)));
            let found = tree
                .nearest_within(&q, r2, |p| tree.row_of(p) != qi)
                .map(|(p, d2)| (d2, tree.row_of(p)));
            assert_eq!(found, want, "n {n} d {d} r2 {r2}");
        }
    }
}

#[test]
fn a_query_stops_when_told() {
    let x = data(1000, 2, 1);
    let tree = KdTree::new(x.view());
    let mut seen = 0;
    tree.each_within(&[1.0, 1.0], 100.0, |_| {
        seen += 1;
        if seen == 5 {
            Flow::Stop
        } else {
            Flow::Continue
        }
    });
    assert_eq!(seen, 5);
}
