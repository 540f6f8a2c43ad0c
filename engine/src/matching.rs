//! Stable segment identities across retrains: the new segments are matched to the previous
//! ones by centroid with a minimum-total-distance assignment (the Hungarian algorithm).

use super::preprocess::Preprocessor;

/// Minimum-cost assignment on a `rows × cols` cost matrix (row-major). Each row gets a
/// distinct column, or `None` when there are more rows than columns.
pub fn hungarian(cost: &[f64], rows: usize, cols: usize) -> Vec<Option<usize>> {
    assert_eq!(cost.len(), rows * cols, "cost is rows × cols");
    if rows == 0 || cols == 0 {
        return vec![None; rows];
    }
    if rows > cols {
        // Solve the transpose (each column gets a row), then invert.
        let mut t = vec![0.0; rows * cols];
        for r in 0..rows {
            for c in 0..cols {
                t[c * rows + r] = cost[r * cols + c];
            }
        }
        let by_col = hungarian(&t, cols, rows);
        let mut out = vec![None; rows];
        for (c, r) in by_col.into_iter().enumerate() {
            if let Some(r) = r {
                out[r] = Some(c);
            }
        }
        return out;
    }
    // Potentials method (Kuhn–Munkres with Dijkstra-like updates), 1-based with a virtual
    // column 0; O(rows² · cols).
    let (n, m) = (rows, cols);
    let mut u = vec![0.0; n + 1];
    let mut v = vec![0.0; m + 1];
    let mut owner = vec![0usize; m + 1];
    let mut way = vec![0usize; m + 1];
    for i in 1..=n {
        owner[0] = i;
        let mut j0 = 0;
        let mut minv = vec![f64::INFINITY; m + 1];
        let mut used = vec![false; m + 1];
        loop {
            used[j0] = true;
            let i0 = owner[j0];
            let mut delta = f64::INFINITY;
            let mut j1 = 0;
            for j in 1..=m {
                if !used[j] {
                    let cur = cost[(i0 - 1) * m + (j - 1)] - u[i0] - v[j];
                    if cur < minv[j] {
                        minv[j] = cur;
                        way[j] = j0;
                    }
                    if minv[j] < delta {
                        delta = minv[j];
                        j1 = j;
                    }
                }
            }
            for j in 0..=m {
                if used[j] {
                    u[owner[j]] += delta;
                    v[j] -= delta;
                } else {
                    minv[j] -= delta;
                }
            }
            j0 = j1;
            if owner[j0] == 0 {
                break;
            }
        }
        loop {
            let j1 = way[j0];
            owner[j0] = owner[j1];
            j0 = j1;
            if j0 == 0 {
                break;
            }
        }
    }
    let mut out = vec![None; n];
    for j in 1..=m {
        if owner[j] != 0 {
            out[owner[j] - 1] = Some(j - 1);
        }
    }
    out
}

/// For each new segment, the previous segment it continues and the distance between their
/// centroids, measured in the new run's scaled space (centroids given in original units).
/// With more new segments than previous ones, the farthest stay unmatched.
pub fn match_segments(
    new: &[Vec<f64>],
    previous: &[Vec<f64>],
    scaler: &Preprocessor,
) -> Vec<Option<(usize, f64)>> {
    let a: Vec<Vec<f64>> = new.iter().map(|c| scaler.apply(c)).collect();
    let b: Vec<Vec<f64>> = previous.iter().map(|c| scaler.apply(c)).collect();
    let distance = |x: &[f64], y: &[f64]| -> f64 {
        x.iter()
            .zip(y)
            .map(|(p, q)| (p - q) * (p - q))
            .sum::<f64>()
            .sqrt()
    };
    let cost: Vec<f64> = a
        .iter()
        .flat_map(|x| b.iter().map(move |y| distance(x, y)))
        .collect();
    // Non-finite distances (a log1p of a negative centroid) cannot be matched.
    let cost: Vec<f64> = cost
        .into_iter()
        .map(|c| if c.is_finite() { c } else { 1e300 })
        .collect();
    hungarian(&cost, a.len(), b.len())
        .into_iter()
        .enumerate()
        .map(|(i, j)| j.map(|j| (j, cost[i * b.len() + j])))
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    fn total(cost: &[f64], cols: usize, a: &[Option<usize>]) -> f64 {
        a.iter()
            .enumerate()
            .filter_map(|(r, c)| c.map(|c| cost[r * cols + c]))
            .sum()
    }

    /// Every injective assignment, by brute force.
    fn best(cost: &[f64], rows: usize, cols: usize) -> f64 {
        fn go(r: usize, rows: usize, cols: usize, cost: &[f64], used: &mut Vec<bool>) -> f64 {
            if r == rows {
                return 0.0;
            }
            let mut best = f64::INFINITY;
            let free = used.iter().filter(|u| !**u).count();
            // A row may stay unmatched only when rows outnumber columns.
            if rows - r > free {
                best = go(r + 1, rows, cols, cost, used);
            }
            for c in 0..cols {
                if !used[c] {
                    used[c] = true;
                    best = best.min(cost[r * cols + c] + go(r + 1, rows, cols, cost, used));
                    used[c] = false;
                }
            }
            best
        }
        go(0, rows, cols, cost, &mut vec![false; cols])
    }

    #[test]
    fn known_matrix() {
        // The classic 3×3 example: optimum 5 (0→1, 1→0, 2→2).
        let cost = [4.0, 1.0, 3.0, 2.0, 0.0, 5.0, 3.0, 2.0, 2.0];
        let a = hungarian(&cost, 3, 3);
        assert_eq!(a, vec![Some(1), Some(0), Some(2)]);
        assert_eq!(total(&cost, 3, &a), 5.0);
    }

    #[test]
    fn more_rows_than_columns_leaves_the_costliest_unmatched() {
        let cost = [1.0, 9.0, 9.0, 1.0, 5.0, 5.0];
        assert_eq!(hungarian(&cost, 3, 2), vec![Some(0), Some(1), None]);
    }

    #[test]
    fn permuted_centroids_find_their_partners() {
        let scaler = Preprocessor {
            features: ["a", "b"]
                .iter()
                .map(|n| super::super::preprocess::Feature {
                    name: (*n).into(),
                    transform: Default::default(),
                })
                .collect(),
            scaling: super::super::preprocess::Scaling::None,
            center: vec![0.0, 0.0],
            scale: vec![1.0, 1.0],
            impute: None,
            categories: Vec::new(),
        };
        let previous = vec![vec![0.0, 0.0], vec![10.0, 0.0], vec![0.0, 10.0]];
        let new = vec![
            vec![0.5, 10.0],
            vec![0.0, 0.2],
            vec![9.0, 0.0],
            vec![50.0, 50.0],
        ];
        let m = match_segments(&new, &previous, &scaler);
        assert_eq!(m[0].map(|x| x.0), Some(2));
        assert_eq!(m[1].map(|x| x.0), Some(0));
        assert_eq!(m[2].map(|x| x.0), Some(1));
        assert_eq!(m[3], None);
        assert!((m[2].unwrap().1 - 1.0).abs() < 1e-12);
    }

    proptest! {
        #[test]
        fn optimal_against_brute_force(
            rows in 1usize..6,
            cols in 1usize..6,
            seed in proptest::collection::vec(0.0f64..100.0, 36),
        ) {
            let cost: Vec<f64> = seed[..rows * cols].to_vec();
            let a = hungarian(&cost, rows, cols);
            let mut seen = vec![false; cols];
            for c in a.iter().flatten() {
                prop_assert!(!seen[*c], "column used twice");
                seen[*c] = true;
            }
            prop_assert_eq!(a.iter().flatten().count(), rows.min(cols));
            prop_assert!((total(&cost, cols, &a) - best(&cost, rows, cols)).abs() < 1e-9);
        }
    }
}
