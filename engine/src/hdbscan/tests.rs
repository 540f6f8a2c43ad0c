//! HDBSCAN's own checks: parameters, the spanning tree against a brute-force one, and
//! clusters on data whose answer is known (scikit-learn parity is in `tests/engine/`).

use super::*;
use super::{boruvka, mst};
use ndarray::Array2;

/// Two tight groups far apart, and one row far from both.
fn two_groups() -> Array2<f64> {
    let mut rows = Vec::new();
    for i in 0..10 {
        rows.extend([i as f64 * 0.01, 0.0]);
        rows.extend([10.0 + i as f64 * 0.01, 10.0]);
    }
    rows.extend([50.0, -50.0]);
    Array2::from_shape_vec((21, 2), rows).unwrap()
}

#[test]
fn parameters_are_checked() {
    let x = two_groups();
    let err = |p: HdbscanParams| hdbscan(x.view(), &p).unwrap_err().to_string();
    assert!(err(HdbscanParams::new(1)).contains("min_cluster_size"));
    let too_many = HdbscanParams {
        min_samples: Some(22),
        ..HdbscanParams::new(5)
    };
    assert!(err(too_many).contains("min_samples"));
    // The size rule is checked before any work (a view of one row repeated, no allocation).
    let row = [0.0, 0.0];
    let one = ndarray::ArrayView1::from(&row[..]);
    let huge = one.broadcast((HDBSCAN_MAX_ROWS + 1, 2)).unwrap();
    let e = hdbscan(huge, &HdbscanParams::new(5))
        .unwrap_err()
        .to_string();
    assert!(
        e.starts_with("rows must be at most 2000000 for HDBSCAN"),
        "{e}"
    );
    // So is the model's size: 1.2M rows of 8 columns would be 13.2M values.
    let wide = [0.0; 8];
    let one = ndarray::ArrayView1::from(&wide[..]);
    let big = one.broadcast((1_200_000, 8)).unwrap();
    let e = hdbscan(big, &HdbscanParams::new(5))
        .unwrap_err()
        .to_string();
    assert!(
        e.starts_with("rows must be at most 12000000 / (features + 3) for HDBSCAN")
            && e.ends_with("got 1200000 rows × 8 columns"),
        "{e}"
    );
}

#[test]
fn two_groups_are_two_clusters_and_the_far_row_is_noise() {
    let x = two_groups();
    for selection in [Selection::Eom, Selection::Leaf] {
        let fit = hdbscan(
            x.view(),
            &HdbscanParams {
                selection,
                ..HdbscanParams::new(5)
            },
        )
        .unwrap();
        assert_eq!(fit.n_clusters, 2);
        assert_eq!(fit.labels[20], None);
        assert_eq!(fit.probabilities[20], 0.0);
        let first = fit.labels[0].unwrap();
        assert!((0..20).step_by(2).all(|i| fit.labels[i] == Some(first)));
        assert!((1..20).step_by(2).all(|i| fit.labels[i] == Some(1 - first)));
        assert!(
            fit.probabilities[..20]
                .iter()
                .all(|p| *p > 0.0 && *p <= 1.0)
        );
    }
}

#[test]
fn core_distances_count_the_row_itself() {
    let x = Array2::from_shape_vec((4, 1), vec![0.0, 1.0, 3.0, 6.0]).unwrap();
    assert_eq!(core_distances(x.view(), 1), vec![0.0; 4]);
    assert_eq!(core_distances(x.view(), 2), vec![1.0, 1.0, 2.0, 3.0]);
    assert_eq!(core_distances(x.view(), 3), vec![3.0, 2.0, 3.0, 5.0]);
}

/// Pseudo-random rows in the unit cube; `grid` rounds them to tenths (many equal edges).
fn random_rows(n: usize, d: usize, seed: u64, grid: bool) -> Array2<f64> {
    let mut state = seed;
    let mut next = || {
        state = state
            .wrapping_mul(6364136223846793005)
            .wrapping_add(1442695040888963407);
        let v = (state >> 11) as f64 / (1u64 << 53) as f64;
        if grid { (v * 10.0).round() / 10.0 } else { v }
    };
    Array2::from_shape_fn((n, d), |_| next())
}

fn find(root: &mut [usize], x: usize) -> usize {
    if root[x] != x {
        root[x] = find(root, root[x]);
    }
    root[x]
}

/// The mutual reachability of two rows, computed as both trees compute it.
fn reach(x: &Array2<f64>, core: &[f64], i: usize, j: usize) -> f64 {
    let mut s = 0.0;
    for f in 0..x.ncols() {
        let t = x[[i, f]] - x[[j, f]];
        s += t * t;
    }
    core[i].max(core[j]).max(s.sqrt())
}

/// The minimum total weight of a spanning tree of the mutual reachability graph (Kruskal on
/// every pair).
fn kruskal(x: &Array2<f64>, core: &[f64]) -> f64 {
    let n = x.nrows();
    let mut pairs: Vec<(f64, usize, usize)> = (0..n)
        .flat_map(|i| (i + 1..n).map(move |j| (i, j)))
        .map(|(i, j)| (reach(x, core, i, j), i, j))
        .collect();
    pairs.sort_by(|a, b| a.0.total_cmp(&b.0));
    let mut root: Vec<usize> = (0..n).collect();
    let mut total = 0.0;
    for (w, i, j) in pairs {
        let (a, b) = (find(&mut root, i), find(&mut root, j));
        if a != b {
            root[a] = b;
            total += w;
        }
    }
    total
}

/// A spanning tree: `n - 1` edges joining every row without a cycle, each weighing its rows'
/// reachability, in all the minimum.
fn assert_minimum_spanning(edges: &[mst::Edge], x: &Array2<f64>, core: &[f64], minimum: f64) {
    let n = x.nrows();
    assert_eq!(edges.len(), n - 1);
    let mut root: Vec<usize> = (0..n).collect();
    for e in edges {
        assert_eq!(e.distance, reach(x, core, e.from, e.to));
        let (a, b) = (find(&mut root, e.from), find(&mut root, e.to));
        assert_ne!(a, b, "a cycle");
        root[a] = b;
    }
    let total: f64 = edges.iter().map(|e| e.distance).sum();
    assert!(
        (total - minimum).abs() <= 1e-9 * minimum,
        "{total} vs {minimum}"
    );
}

#[test]
fn prims_and_boruvkas_trees_weigh_what_a_brute_force_one_weighs() {
    for (n, d, grid, k) in [(300, 3, false, 4), (400, 2, true, 5), (250, 8, false, 1)] {
        let x = random_rows(n, d, 12345 + n as u64, grid);
        let core = core_distances(x.view(), k);
        let minimum = kruskal(&x, &core);
        assert_minimum_spanning(&mst::prim(x.view(), &core), &x, &core, minimum);
        assert_minimum_spanning(&boruvka::boruvka(x.view(), &core), &x, &core, minimum);
        // With the first round answered from the neighbour lists.
        let (listed, edges) = boruvka::core_and_tree(x.view(), k);
        assert_eq!(listed, core);
        assert_minimum_spanning(&edges, &x, &core, minimum);
        // The lists give the edges the full search gives.
        assert_eq!(edges, boruvka::boruvka(x.view(), &core));
    }
}

#[test]
fn boruvkas_tree_does_not_depend_on_the_threads() {
    let x = random_rows(3000, 2, 99, true);
    let core = core_distances(x.view(), 5);
    let one = rayon::ThreadPoolBuilder::new()
        .num_threads(1)
        .build()
        .unwrap();
    let single = one.install(|| boruvka::boruvka(x.view(), &core));
    assert_eq!(boruvka::boruvka(x.view(), &core), single);
    let single = one.install(|| boruvka::core_and_tree(x.view(), 5));
    assert_eq!(boruvka::core_and_tree(x.view(), 5), single);
}

#[test]
fn new_rows_near_a_cluster_join_it_and_far_ones_are_noise() {
    let x = two_groups();
    let fit = hdbscan(x.view(), &HdbscanParams::new(5)).unwrap();
    let (left, right) = (fit.labels[0].unwrap(), fit.labels[1].unwrap());
    let (label, strength) = fit.model.predict(&[0.045, 0.0]);
    assert_eq!(label, Some(left));
    assert!(strength > 0.0 && strength <= 1.0);
    assert_eq!(fit.model.predict(&[10.05, 10.0]).0, Some(right));
    assert_eq!(fit.model.predict(&[-40.0, 40.0]), (None, 0.0));
    // The stored form scores alike.
    let json = serde_json::to_string(&fit.model).unwrap();
    let back: HdbscanModel = serde_json::from_str(&json).unwrap();
    assert_eq!(back, fit.model);
    assert_eq!(
        back.predict(&[0.045, 0.0]),
        fit.model.predict(&[0.045, 0.0])
    );
}
