use super::*;
use crate::kmeans::KMeansParams;
use ndarray::Array2;
use rand::{Rng, SeedableRng};
use rand_xoshiro::Xoshiro256PlusPlus;

/// Four tight groups at the corners of a square, 50 rows each.
fn corners() -> Array2<f64> {
    let mut rng = Xoshiro256PlusPlus::seed_from_u64(3);
    let centres = [[0.0, 0.0], [10.0, 0.0], [0.0, 10.0], [10.0, 10.0]];
    Array2::from_shape_fn((200, 2), |(i, j)| {
        centres[i % 4][j] + rng.gen_range(-1.0..1.0)
    })
}

#[test]
fn finds_the_four_groups_and_a_tree_of_three_splits() {
    let x = corners();
    let fit = fit(x.view(), 4, &KMeansParams::new(4).seed(1)).unwrap();
    assert_eq!(
        crate::sizes(fit.labels.iter().copied(), 4),
        [50, 50, 50, 50]
    );
    // Rows of one group share a cluster.
    for i in 4..200 {
        assert_eq!(fit.labels[i], fit.labels[i % 4]);
    }
    let nodes = &fit.tree.nodes;
    assert_eq!(nodes.len(), 7);
    assert_eq!(nodes[0].size, 200);
    assert_eq!(nodes[0].split, Some(1));
    let splits: Vec<usize> = nodes.iter().filter_map(|n| n.split).collect();
    assert_eq!(splits.len(), 3);
    for node in nodes {
        match node.children {
            Some([l, r]) => {
                assert_eq!(nodes[l].size + nodes[r].size, node.size);
                // A parent's inertia is at least its halves'.
                assert!(nodes[l].inertia + nodes[r].inertia <= node.inertia + 1e-9);
                // Its centre is its halves' size-weighted mean.
                for j in 0..2 {
                    let mean = (nodes[l].center[j] * nodes[l].size as f64
                        + nodes[r].center[j] * nodes[r].size as f64)
                        / node.size as f64;
                    assert!((mean - node.center[j]).abs() < 1e-9);
                }
            }
            None => assert!(node.cluster.is_some()),
        }
    }
    let leaf_inertia: f64 = nodes
        .iter()
        .filter(|n| n.children.is_none())
        .map(|n| n.inertia)
        .sum();
    assert!((leaf_inertia - fit.inertia).abs() < 1e-9 * fit.inertia);
    // Down the tree, the training rows land where they were put.
    assert_eq!(fit.tree.predict(x.view()), fit.labels);
}

#[test]
fn the_same_seed_gives_the_same_tree() {
    let x = corners();
    let params = KMeansParams::new(3).seed(9);
    let a = fit(x.view(), 3, &params).unwrap();
    let b = fit(x.view(), 3, &params).unwrap();
    assert_eq!(a.labels, b.labels);
    assert_eq!(a.tree, b.tree);
}

#[test]
fn refuses_more_clusters_than_distinct_rows() {
    let x = Array2::from_shape_fn((10, 2), |(i, _)| (i % 3) as f64);
    match fit(x.view(), 4, &KMeansParams::new(4)) {
        Err(EngineError::TooFewDistinctPoints { k: 4, distinct: 3 }) => {}
        other => panic!("{other:?}"),
    }
    assert!(fit(x.view(), 3, &KMeansParams::new(3)).is_ok());
}

#[test]
fn renumbering_moves_the_leaves() {
    let x = corners();
    let mut fit = fit(x.view(), 2, &KMeansParams::new(2)).unwrap();
    fit.tree.renumber(&[1, 0]);
    let predicted = fit.tree.predict(x.view());
    assert!(predicted.iter().zip(&fit.labels).all(|(p, l)| *p == 1 - l));
}
