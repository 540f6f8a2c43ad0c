//! K-Means' tests: scikit-learn parity of fits, restarts and predictions, and the properties every fit keeps.

use super::restarts::small_restart;
use super::*;
use linfa::traits::Predict;
use ndarray::array;
use proptest::prelude::*;

fn blobs() -> Array2<f64> {
    array![
        [0.0, 0.0],
        [0.1, 0.0],
        [0.0, 0.1],
        [5.0, 5.0],
        [5.1, 5.0],
        [5.0, 5.1],
        [9.0, 0.0],
        [9.1, 0.1]
    ]
}

/// Restarts on small data run on every thread: the same fit as one after another.
#[test]
fn parallel_restarts_are_the_restarts_in_order() {
    use rand::{Rng, SeedableRng};
    let mut rng = rand_xoshiro::Xoshiro256PlusPlus::seed_from_u64(5);
    let x = Array2::from_shape_fn((300, 3), |_| rng.r#gen::<f64>());
    let params = KMeansParams::new(6).n_init(40).seed(11);
    let fit = super::fit(x.view(), &params).unwrap();
    let data = x.as_slice().unwrap();
    let tol = params.tol * mean_variance(data, 300, 3);
    let mut streams = Streams::new(&params);
    let mut ws = Workspace::new(300, 3, 6);
    let in_order: Vec<KMeansFit> = streams
        .restart_seeds(40)
        .unwrap()
        .into_iter()
        .map(|seed| {
            let rows = Rows {
                data,
                weights: None,
                n: 300,
                d: 3,
            };
            small_restart(rows, &params, tol, seed, &mut ws).unwrap()
        })
        .collect();
    let inertias: Vec<f64> = in_order.iter().map(|f| f.inertia).collect();
    assert_eq!(fit.restart_inertias, inertias);
    let best = in_order
        .iter()
        .reduce(|a, b| if b.inertia < a.inertia { b } else { a })
        .unwrap();
    assert_eq!(fit.labels, best.labels);
    assert_eq!(fit.model, best.model);
}

#[test]
fn finds_separated_blobs_and_predicts_through_linfa() {
    let x = blobs();
    let ds = DatasetBase::from(x.clone());
    let model = KMeansParams::new(3).fit(&ds).unwrap();
    let labels: Array1<usize> = model.predict(&x);
    assert_eq!(labels[0], labels[1]);
    assert_eq!(labels[3], labels[5]);
    assert_ne!(labels[0], labels[3]);
    assert_ne!(labels[6], labels[3]);
}

#[test]
fn parameter_rules_are_errors() {
    let x = blobs();
    assert_eq!(
        fit(x.view(), &KMeansParams::new(0)).unwrap_err(),
        EngineError::KTooSmall { k: 0 }
    );
    assert_eq!(
        fit(x.view(), &KMeansParams::new(9)).unwrap_err(),
        EngineError::KTooLarge { k: 9, rows: 8 }
    );
    assert!(matches!(
        fit(x.view(), &KMeansParams::new(2).n_init(0)),
        Err(EngineError::InvalidParameter { name: "n_init", .. })
    ));
    assert!(matches!(
        fit(x.view(), &KMeansParams::new(2).tol(f64::NAN)),
        Err(EngineError::InvalidParameter { name: "tol", .. })
    ));
    let empty = Array2::<f64>::zeros((0, 2));
    assert!(matches!(
        fit(empty.view(), &KMeansParams::new(1)),
        Err(EngineError::Empty { .. })
    ));
    let same = Array2::<f64>::ones((5, 2));
    assert_eq!(
        fit(same.view(), &KMeansParams::new(2)).unwrap_err(),
        EngineError::TooFewDistinctPoints { k: 2, distinct: 1 }
    );
    assert_eq!(
        fit(same.view(), &KMeansParams::new(1)).unwrap().inertia,
        0.0
    );
    let wrong = Init::Centroids(Array2::zeros((2, 3)));
    assert!(matches!(
        fit(x.view(), &KMeansParams::new(2).init(wrong)),
        Err(EngineError::InvalidParameter { .. })
    ));
}

#[test]
fn an_empty_cluster_takes_the_farthest_row() {
    let x = array![[0.0], [1.0], [2.0], [10.0]];
    // The third centroid is far from everything: it starts empty.
    let init = Init::Centroids(array![[0.0], [1.0], [100.0]]);
    let f = fit(x.view(), &KMeansParams::new(3).init(init).n_init(1)).unwrap();
    let mut sizes = [0; 3];
    f.labels.iter().for_each(|&l| sizes[l] += 1);
    assert!(sizes.iter().all(|&s| s > 0), "{sizes:?}");
    assert!((f.inertia - 0.5).abs() < 1e-12, "{}", f.inertia);
}

fn data_strategy() -> impl Strategy<Value = (Array2<f64>, usize, u64)> {
    (10usize..200, 1usize..5, 1usize..6, any::<u64>()).prop_flat_map(|(n, d, k, seed)| {
        proptest::collection::vec(-100.0f64..100.0, n * d)
            .prop_map(move |v| (Array2::from_shape_vec((n, d), v).unwrap(), k, seed))
    })
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(64))]

    #[test]
    fn inertia_never_increases_and_seeds_reproduce((x, k, seed) in data_strategy()) {
        let params = KMeansParams::new(k).n_init(2).seed(seed);
        let a = fit(x.view(), &params).unwrap();
        for w in a.inertia_trace.windows(2) {
            prop_assert!(w[1] <= w[0] * (1.0 + 1e-12) + 1e-9, "{:?}", a.inertia_trace);
        }
        prop_assert!(a.inertia <= a.inertia_trace[0] * (1.0 + 1e-12) + 1e-9);
        let b = fit(x.view(), &params).unwrap();
        prop_assert_eq!(&a.labels, &b.labels);
        prop_assert_eq!(a.inertia.to_bits(), b.inertia.to_bits());
        let direct: f64 = (0..x.nrows()).map(|i| {
            let c = a.model.centroids.row(a.labels[i]);
            x.row(i).iter().zip(c.iter()).map(|(p, q)| (p - q).powi(2)).sum::<f64>()
        }).sum();
        prop_assert!((direct - a.inertia).abs() <= 1e-9 * direct.max(1.0));
    }
}
