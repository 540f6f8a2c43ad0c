//! HDBSCAN's own checks: parameters, the spanning tree against a brute-force one, and
//! clusters on data whose answer is known (scikit-learn parity is in `tests/engine/`).

use super::*;
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

#[test]
fn the_spanning_tree_weighs_what_a_brute_force_one_weighs() {
    // Pseudo-random rows; Kruskal on every pair gives the minimum total weight.
    let n = 300;
    let mut state = 12345u64;
    let mut next = || {
        state = state
            .wrapping_mul(6364136223846793005)
            .wrapping_add(1442695040888963407);
        (state >> 11) as f64 / (1u64 << 53) as f64
    };
    let x = Array2::from_shape_fn((n, 3), |_| next());
    let core = core_distances(x.view(), 4);
    let reach = |i: usize, j: usize| {
        let d: f64 = (0..3)
            .map(|f| (x[[i, f]] - x[[j, f]]).powi(2))
            .sum::<f64>()
            .sqrt();
        core[i].max(core[j]).max(d)
    };
    let mut pairs: Vec<(f64, usize, usize)> = (0..n)
        .flat_map(|i| (i + 1..n).map(move |j| (i, j)))
        .map(|(i, j)| (reach(i, j), i, j))
        .collect();
    pairs.sort_by(|a, b| a.0.total_cmp(&b.0));
    let mut root: Vec<usize> = (0..n).collect();
    fn find(root: &mut [usize], x: usize) -> usize {
        if root[x] != x {
            root[x] = find(root, root[x]);
        }
        root[x]
    }
    let mut kruskal = 0.0;
    for (w, i, j) in pairs {
        let (a, b) = (find(&mut root, i), find(&mut root, j));
        if a != b {
            root[a] = b;
            kruskal += w;
        }
    }
    let edges = mst::prim(x.view(), &core);
    assert_eq!(edges.len(), n - 1);
    let prim: f64 = edges.iter().map(|e| e.distance).sum();
    assert!(
        (prim - kruskal).abs() < 1e-9 * kruskal,
        "{prim} vs {kruskal}"
    );
    for e in &edges {
        assert_eq!(e.distance, reach(e.from, e.to));
    }
}
