//! Model space computed from the columns (mini-batch K-Means' runs) against the held matrix:
//! the same fit, metrics, PCA and chart, bit for bit.

use ndarray::Array2;
use rand::{Rng, SeedableRng};
use segstore::segmentation::categorical::CategoryColumn;
use segstore::segmentation::kmeans::minibatch::{self, MiniBatchParams};
use segstore::segmentation::preprocess::{
    Columns, Hold, Missing, PreprocessParams, Scaling, Transform, prepare, prepare_with,
};
use segstore::segmentation::space::{BLOCK_ROWS, ModelRows, Space};
use segstore::segmentation::{metrics, pca, sample};

/// More rows than a block, with a log-transformed feature and a category.
fn columns(n: usize) -> Columns {
    let mut rng = rand_xoshiro::Xoshiro256PlusPlus::seed_from_u64(3);
    let ids = (0..n).map(|i| format!("c{i}")).collect();
    let mut c = Columns::new(ids);
    for f in 0..3 {
        let values: Vec<f64> = (0..n)
            .map(|i| ((i % 4) * 10 + f) as f64 + rng.gen_range(0.0..3.0))
            .collect();
        c.push_column(format!("f{f}"), values);
    }
    let tiers = ["gold", "silver", "bronze"];
    c.categories.push(CategoryColumn::from_values(
        "tier",
        (0..n).map(|i| Some(tiers[i % 3])),
    ));
    c
}

fn bits(v: impl IntoIterator<Item = f64>) -> Vec<u64> {
    v.into_iter().map(f64::to_bits).collect()
}

#[test]
fn computed_rows_fit_measure_and_chart_as_the_held_matrix_bit_for_bit() {
    let n = 3 * BLOCK_ROWS + 123;
    let c = columns(n);
    let names: Vec<String> = (0..3).map(|f| format!("f{f}")).collect();
    let params = PreprocessParams::new(&names, &names[2..], Scaling::Standard, Missing::Drop)
        .with_categories(&["tier".to_owned()], 0.5);
    let held = prepare_with(&c, &params, Hold::Matrix).unwrap();
    let streamed = prepare_with(&c, &params, Hold::Columns).unwrap();
    let (a, b) = (Space::of(&held), Space::of(&streamed));
    assert!(a.held().is_some() && b.held().is_none());
    assert_eq!((b.nrows(), b.ncols()), (n, 6));

    let p = MiniBatchParams {
        batch_size: 256,
        ..MiniBatchParams::new(4)
    };
    let (fa, fb) = (
        minibatch::fit(&a, &p).unwrap(),
        minibatch::fit(&b, &p).unwrap(),
    );
    assert_eq!(fa.labels, fb.labels);
    assert_eq!(bits(fa.sq_distances), bits(fb.sq_distances));
    assert_eq!(fa.inertia.to_bits(), fb.inertia.to_bits());

    let (ma, mb) = (
        metrics::evaluate(&a, &fa.labels, 4, 1),
        metrics::evaluate(&b, &fa.labels, 4, 1),
    );
    assert_eq!(ma, mb);
    assert!(ma.silhouette_sampled);
    assert_eq!(
        bits(metrics::cluster_means(&a, &fa.labels, 4)),
        bits(metrics::cluster_means(&b, &fa.labels, 4))
    );

    let (pa, pb) = (pca::pca(&a, 2).unwrap(), pca::pca(&b, 2).unwrap());
    assert_eq!(bits(pa.projection.clone()), bits(pb.projection));
    let labels: Vec<Option<u32>> = fa.labels.iter().map(|&l| Some(l as u32)).collect();
    let chart = |s: &Space| sample::chart_sample(s, streamed.original.view(), &labels, 4, 9, 500);
    let (ca, cb) = (chart(&a), chart(&b));
    assert_eq!(ca, cb);
    // The centres are the members' mean projections, every member counted.
    let centre0: Vec<f64> = (0..n)
        .filter(|&i| fa.labels[i] == 0)
        .map(|i| pa.projection[[i, 0]])
        .collect();
    let mean = centre0.iter().sum::<f64>() / centre0.len() as f64;
    let got = ca.pca.unwrap().centres[0][0];
    assert!(
        (got - mean).abs() <= 1e-9 * mean.abs().max(1.0),
        "{got} vs {mean}"
    );
}

#[test]
fn rows_computed_from_the_columns_are_the_held_matrix_bit_for_bit() {
    let mut c = Columns::from_options(
        ["a", "b", "c", "d"].into_iter().collect(),
        vec![
            ("x".into(), vec![Some(1.0), Some(2.0), Some(3.0), Some(4.0)]),
            ("y".into(), vec![Some(10.0), None, Some(30.0), Some(50.0)]),
        ],
    );
    c.push_column("z".into(), [0.5, 7.25, f64::NAN, 1e3]);
    c.categories.push(CategoryColumn::from_values(
        "tier",
        [Some("gold"), None, Some("bronze"), Some("gold")],
    ));
    for scaling in [
        Scaling::Standard,
        Scaling::MinMax,
        Scaling::Robust,
        Scaling::None,
    ] {
        for missing in [Missing::Drop, Missing::ImputeMedian] {
            let names = ["x", "y", "z"].map(String::from);
            let mut p = PreprocessParams::new(&names, &[], scaling, missing);
            p.features[2].transform = Transform::Log1p;
            let p = p.with_categories(&["tier".to_owned()], 0.5);
            let held = prepare(&c, &p).unwrap();
            let streamed = prepare_with(&c, &p, Hold::Columns).unwrap();
            assert!(streamed.matrix.is_none());
            assert_eq!(streamed.preprocessor, held.preprocessor);
            let rows = Space::of(&streamed);
            assert!(rows.held().is_none());
            let all: Vec<usize> = (0..rows.nrows()).collect();
            let computed = rows.select(&all);
            let bits = |m: &Array2<f64>| m.iter().map(|v| v.to_bits()).collect::<Vec<_>>();
            assert_eq!(
                bits(&computed),
                bits(held.matrix.as_ref().unwrap()),
                "{scaling:?} {missing:?}"
            );
            // Block by block, the same rows in order.
            let mut blocks = Vec::new();
            rows.for_blocks(&mut |start, block| {
                assert_eq!(start * block.ncols(), blocks.len());
                blocks.extend(block.iter().map(|v| v.to_bits()));
            });
            assert_eq!(blocks, bits(&computed));
        }
    }
}
