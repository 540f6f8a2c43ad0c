//! Bisecting K-Means against scikit-learn's `BisectingKMeans(k, random_state=42)` on Mall and
//! Wholesale at k = 2..8 (`tests/fixtures/reference/bisecting.py`): with scikit-learn's random
//! stream, every row's label and the inertia; with segstore's (the default), a lower inertia
//! overall.

use super::real_data;
use segstore::segmentation::bisecting;
use segstore::segmentation::kmeans::{KMeansParams, RandomStream};
use segstore::segmentation::preprocess::prepare;
use serde_json::Value;

fn reference() -> Value {
    serde_json::from_str(include_str!("../fixtures/reference/bisecting.json")).unwrap()
}

fn matrix(name: &str) -> ndarray::Array2<f64> {
    let (columns, params) = real_data(name);
    prepare(&columns, &params).unwrap().matrix.expect("held")
}

#[test]
fn with_scikit_learns_stream_every_label_and_the_inertia_are_its_own() {
    let reference = reference();
    for name in ["mall", "wholesale"] {
        let x = matrix(name);
        for k in 2..=8 {
            let want = &reference[name][k.to_string()];
            let params = KMeansParams::new(k)
                .seed(42)
                .stream(RandomStream::ScikitLearn);
            let fit = bisecting::fit(x.view(), k, &params).unwrap();
            let labels: Vec<u64> = fit.labels.iter().map(|&l| l as u64).collect();
            let want_labels: Vec<u64> = want["labels"]
                .as_array()
                .unwrap()
                .iter()
                .map(|v| v.as_u64().unwrap())
                .collect();
            assert_eq!(labels, want_labels, "{name}, k = {k}");
            let inertia = want["inertia"].as_f64().unwrap();
            assert!(
                (fit.inertia - inertia).abs() <= 1e-9 * inertia,
                "{name}, k = {k}: {} vs {inertia}",
                fit.inertia
            );
            assert_eq!(fit.restarts, 1);
            // Down the tree, as scikit-learn's predict: the training labels.
            assert_eq!(fit.tree.predict(x.view()), fit.labels);
        }
    }
}

#[test]
fn by_default_the_inertia_is_lower_than_scikit_learns() {
    let reference = reference();
    let mut ratios = Vec::new();
    for name in ["mall", "wholesale"] {
        let x = matrix(name);
        for k in 2..=8 {
            let want = reference[name][k.to_string()]["inertia"].as_f64().unwrap();
            let fit = bisecting::fit(x.view(), k, &KMeansParams::new(k).seed(42)).unwrap();
            println!("{name} k={k}: {:.6} (scikit-learn {want:.6})", fit.inertia);
            ratios.push(fit.inertia / want);
        }
    }
    // Greedy splits depend on the path: segstore's better first splits (1,000 or 454
    // k-means++ restarts against one random start) gave a lower inertia at 13 of the 14 k
    // and 0.16% more on Wholesale at k = 3 when this was written; 7% less on average.
    println!("{ratios:?}");
    assert!(ratios.iter().all(|&r| r <= 1.005), "{ratios:?}");
    let mean = ratios.iter().sum::<f64>() / ratios.len() as f64;
    assert!(mean <= 0.95, "{mean}: {ratios:?}");
}
