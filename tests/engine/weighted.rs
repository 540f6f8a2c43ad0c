//! Weighted K-Means against scikit-learn's `KMeans(k, n_init=10, random_state=42)` with
//! `sample_weight` (`tests/fixtures/reference/weighted.py`): Mall weighted by annual income,
//! Wholesale by total spend, k = 2..8. With scikit-learn's random stream, every label, the
//! weighted inertia and the centroids are its own; with segstore's (the default), the
//! weighted inertia is at least as low.

use super::real_data;
use segstore::segmentation::kmeans::{self, KMeansParams, RandomStream};
use segstore::segmentation::preprocess::prepare;
use serde_json::Value;

fn reference() -> Value {
    serde_json::from_str(include_str!("../fixtures/reference/weighted.json")).unwrap()
}

/// The model-space matrix and each row's weight, as the reference script computes them.
pub(super) fn weighted(name: &str) -> (ndarray::Array2<f64>, Vec<f64>) {
    let (columns, params) = real_data(name);
    let column = |c: &str| {
        let i = columns.names().iter().position(|n| n == c).unwrap();
        columns
            .options(i)
            .into_iter()
            .map(Option::unwrap)
            .collect::<Vec<f64>>()
    };
    let weights = if name == "mall" {
        column("annual_income_k")
    } else {
        let spend: Vec<Vec<f64>> = params.names().iter().map(|c| column(c)).collect();
        (0..columns.rows())
            .map(|r| spend.iter().map(|c| c[r]).sum())
            .collect()
    };
    (
        prepare(&columns, &params).unwrap().matrix.expect("held"),
        weights,
    )
}

#[test]
fn with_scikit_learns_stream_labels_inertia_and_centroids_are_its_own() {
    let reference = reference();
    for name in ["mall", "wholesale"] {
        let (x, w) = weighted(name);
        for k in 2..=8 {
            let want = &reference[name][k.to_string()];
            let params = KMeansParams::new(k)
                .n_init(10)
                .seed(42)
                .stream(RandomStream::ScikitLearn);
            let fit = kmeans::fit_weighted(x.view(), Some(&w), &params).unwrap();
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
            for (j, c) in want["centroids"].as_array().unwrap().iter().enumerate() {
                for (f, v) in c.as_array().unwrap().iter().enumerate() {
                    let v = v.as_f64().unwrap();
                    let got = fit.model.centroids[[j, f]];
                    assert!((got - v).abs() <= 1e-9, "{name}, k = {k}: {got} vs {v}");
                }
            }
            let mut weights = vec![0.0; k];
            fit.labels
                .iter()
                .zip(&w)
                .for_each(|(&l, w)| weights[l] += w);
            for (got, want) in weights.iter().zip(want["weights"].as_array().unwrap()) {
                assert!((got - want.as_f64().unwrap()).abs() <= 1e-6);
            }
        }
    }
}

#[test]
fn by_default_the_weighted_inertia_is_at_least_as_low_as_scikit_learns() {
    let reference = reference();
    for name in ["mall", "wholesale"] {
        let (x, w) = weighted(name);
        for k in 2..=8 {
            let sklearn = reference[name][k.to_string()]["inertia"].as_f64().unwrap();
            let fit =
                kmeans::fit_weighted(x.view(), Some(&w), &KMeansParams::new(k).seed(42)).unwrap();
            println!(
                "{name} k={k}: {:.6} (scikit-learn {sklearn:.6})",
                fit.inertia
            );
            assert!(
                fit.inertia <= sklearn * (1.0 + 1e-9),
                "{name}, k = {k}: {} > {sklearn}",
                fit.inertia
            );
        }
    }
}

/// Weight 2 is the row twice: from the same start, the same centroids and inertia.
#[test]
fn an_integer_weight_is_the_row_repeated() {
    let (x, _) = weighted("wholesale");
    let w: Vec<f64> = (0..x.nrows()).map(|i| (i % 3 + 1) as f64).collect();
    let repeated =
        ndarray::Array2::from_shape_fn((w.iter().sum::<f64>() as usize, x.ncols()), |(r, f)| {
            let row = (0..x.nrows())
                .flat_map(|i| std::iter::repeat_n(i, w[i] as usize))
                .nth(r)
                .unwrap();
            x[[row, f]]
        });
    let start = kmeans::initial_centroids(x.view(), &KMeansParams::new(5).seed(3)).unwrap();
    let params = KMeansParams::new(5)
        .init(kmeans::Init::Centroids(start))
        .tol(0.0);
    let weighted = kmeans::fit_weighted(x.view(), Some(&w), &params).unwrap();
    let plain = kmeans::fit(repeated.view(), &params).unwrap();
    assert!((weighted.inertia - plain.inertia).abs() <= 1e-9 * plain.inertia);
    for (a, b) in weighted
        .model
        .centroids
        .iter()
        .zip(plain.model.centroids.iter())
    {
        assert!((a - b).abs() <= 1e-9, "{a} vs {b}");
    }
}

#[test]
fn weights_that_are_negative_not_finite_all_zero_or_short_are_refused() {
    let (x, w) = weighted("mall");
    let params = KMeansParams::new(3);
    for (bad, rule) in [
        (vec![-1.0; x.nrows()], "finite and >= 0"),
        (vec![f64::NAN; x.nrows()], "finite and >= 0"),
        (vec![0.0; x.nrows()], "not all 0"),
        (w[..10].to_vec(), "one per row"),
    ] {
        let err = kmeans::fit_weighted(x.view(), Some(&bad), &params).unwrap_err();
        assert!(err.to_string().contains(rule), "{err}");
    }
    // Some zero weights are fine: those rows are assigned but pull no centroid.
    let mut some_zero = w.clone();
    some_zero[..50].iter_mut().for_each(|v| *v = 0.0);
    kmeans::fit_weighted(x.view(), Some(&some_zero), &params).unwrap();
}

/// A weighted run: the Mall customers weighted by income. The inertia is scikit-learn's
/// weighted one; sizes and shares count customers, the weighted figures weigh them; every
/// customer's segment is its nearest (weighted) centroid, as scoring a new one finds it.
#[test]
fn a_weighted_run_reports_counts_and_weights_and_scores_by_the_weighted_centroids() {
    use segstore::segmentation::kmeans::plugin::KMeansAlgorithm;
    use segstore::segmentation::pipeline::{self, Algorithm, KChoice, RunParams};
    let reference = reference();
    let (columns, preprocess) = real_data("mall");
    let (_, w) = weighted("mall");
    let params = RunParams {
        preprocess: preprocess.weighted_by(Some("annual_income_k".into())),
        k: KChoice::Fixed(5),
        algorithm: Algorithm::new(KMeansAlgorithm),
        reduce: None,
        chart_sample: None,
        sweep_sample: pipeline::SWEEP_SAMPLE_ROWS,
        warm_start: None,
        kmeans: KMeansParams::new(5)
            .n_init(10)
            .seed(42)
            .stream(RandomStream::ScikitLearn),
    };
    let r = pipeline::run(&columns, &params).unwrap();
    let want = reference["mall"]["5"]["inertia"].as_f64().unwrap();
    assert!(
        (r.metrics.inertia - want).abs() <= 1e-9 * want,
        "{}",
        r.metrics.inertia
    );
    let total: f64 = w.iter().sum();
    let everyone = r.profiles.weighted.as_ref().unwrap();
    assert!((everyone.weight - total).abs() < 1e-9);
    let income = 1; // age, annual_income_k, spending_score
    let mut sizes = 0;
    for p in &r.profiles.segments {
        let members: Vec<usize> = r
            .assignments
            .iter()
            .filter(|a| a.1 == Some(p.segment))
            .map(|a| a.0)
            .collect();
        sizes += p.size;
        assert_eq!(p.size, members.len());
        assert!((p.share - members.len() as f64 / 200.0).abs() < 1e-12);
        let weighted = p.weighted.as_ref().unwrap();
        let weight: f64 = members.iter().map(|&i| w[i]).sum();
        assert!((weighted.weight - weight).abs() < 1e-9);
        assert!((weighted.share - weight / total).abs() < 1e-12);
        // Income weighted by income: Σ income² / Σ income.
        let mean = members.iter().map(|&i| w[i] * w[i]).sum::<f64>() / weight;
        assert!((weighted.mean[income].unwrap() - mean).abs() < 1e-9);
        assert!(weighted.mean[income].unwrap() >= p.centroid[income] - 1e-9);
    }
    assert_eq!(sizes, 200);
    let x = prepare(&columns, &params.preprocess)
        .unwrap()
        .matrix
        .expect("held");
    let model = segstore::segmentation::kmeans::KMeans {
        centroids: r.model.centroids.clone(),
    };
    let (nearest, _) = model.predict_rows(x.view());
    let labels: Vec<usize> = r.assignments.iter().map(|a| a.1.unwrap()).collect();
    assert_eq!(nearest, labels);
}

/// Rows without the weight are left out and counted; other algorithms refuse a weight.
#[test]
fn rows_without_a_weight_are_dropped_and_only_kmeans_takes_one() {
    use segstore::segmentation::kmeans::plugin::KMeansAlgorithm;
    use segstore::segmentation::pipeline::{self, Algorithm, KChoice, RunParams};
    use segstore::segmentation::ward::plugin::Ward;
    let (mut columns, preprocess) = real_data("mall");
    let income = columns
        .names()
        .iter()
        .position(|n| n == "annual_income_k")
        .unwrap();
    columns.column_mut(income)[3] = f64::NAN;
    columns.column_mut(income)[7] = f64::NAN;
    let mut params = RunParams {
        preprocess: preprocess.weighted_by(Some("annual_income_k".into())),
        k: KChoice::Fixed(4),
        algorithm: Algorithm::new(KMeansAlgorithm),
        reduce: None,
        chart_sample: None,
        sweep_sample: pipeline::SWEEP_SAMPLE_ROWS,
        warm_start: None,
        kmeans: KMeansParams::new(4),
    };
    params
        .preprocess
        .features
        .retain(|f| f.name != "annual_income_k");
    let r = pipeline::run(&columns, &params).unwrap();
    assert_eq!((r.rows_used, r.rows_dropped), (198, 2));
    params.algorithm = Algorithm::new(Ward);
    let err = pipeline::run(&columns, &params).unwrap_err().to_string();
    assert!(
        err.contains("weight must be used with an algorithm that weighs rows (kmeans), got ward"),
        "{err}"
    );
    params.algorithm = Algorithm::new(KMeansAlgorithm);
    columns.column_mut(income)[5] = -3.0;
    let err = pipeline::run(&columns, &params).unwrap_err().to_string();
    assert!(err.contains("weight `annual_income_k` is -3"), "{err}");
    params.preprocess.weight = Some("revenue".into());
    let err = pipeline::run(&columns, &params).unwrap_err().to_string();
    assert!(err.contains("unknown weight column `revenue`"), "{err}");
}
