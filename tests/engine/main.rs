//! The engine against scikit-learn on the Mall data: expected values from
//! `tests/fixtures/mall_sklearn.json` (scikit-learn 1.9.1; see its `environment`).

mod algorithms;
mod bisecting;
mod categorical;
mod hdbscan;
mod restarts;
mod sampled;
mod space;
mod warm;
mod weighted;

use segstore::ingest::dataset::columns_from_csv;
use segstore::segmentation::dbscan::{DbscanParams, plugin::Dbscan};
use segstore::segmentation::gmm::Covariance;
use segstore::segmentation::gmm::plugin::Mixture;
use segstore::segmentation::hdbscan::{HdbscanParams, plugin::Hdbscan};
use segstore::segmentation::kmeans::plugin::KMeansAlgorithm;
use segstore::segmentation::kmeans::{KMeansParams, RandomStream};
use segstore::segmentation::pipeline::{self, Algorithm, KChoice, RunParams, RunResult};
use segstore::segmentation::preprocess::{Missing, PreprocessParams, Scaling};
use segstore::segmentation::selection::KRule;
use segstore::segmentation::ward::plugin::Ward;
use serde_json::Value;

const MALL: &[u8] = include_bytes!("../fixtures/Mall_Customers.csv");
const WHOLESALE: &[u8] = include_bytes!("../../examples/data/wholesale_customers.csv");

/// The real data of the restarts and bisecting references: Mall (age, income, spending
/// score) or the Wholesale file as published (its six spend columns with log1p), standardized.
fn real_data(
    name: &str,
) -> (
    segstore::segmentation::preprocess::Columns,
    PreprocessParams,
) {
    let spend = [
        "fresh",
        "milk",
        "grocery",
        "frozen",
        "detergents_paper",
        "delicassen",
    ];
    let owned = |v: &[&str]| v.iter().map(|s| (*s).to_owned()).collect::<Vec<_>>();
    let (csv, features, log1p) = match name {
        "mall" => (
            MALL,
            owned(&["age", "annual_income_k", "spending_score"]),
            Vec::new(),
        ),
        _ => (WHOLESALE, owned(&spend), owned(&spend)),
    };
    let params = PreprocessParams::new(&features, &log1p, Scaling::Standard, Missing::Drop);
    (columns_from_csv(csv, None).unwrap(), params)
}

/// scikit-learn figures computed by `tests/fixtures/reference/mall_api.py`.
fn api_reference() -> Value {
    serde_json::from_str(
        &std::fs::read_to_string(concat!(
            env!("CARGO_MANIFEST_DIR"),
            "/tests/fixtures/reference/mall_api.json"
        ))
        .unwrap(),
    )
    .unwrap()
}

fn reference() -> Value {
    serde_json::from_str(include_str!("../fixtures/mall_sklearn.json")).unwrap()
}

/// With scikit-learn's random stream, so every restart is the one the reference made: for
/// k >= 6 its restarts stop at local optima that other draws beat (1000 restarts find lower
/// inertia), and only the same draws give the same numbers.
/// The named features, untransformed, rows with a missing value left out.
fn preprocess(features: &[&str], scaling: Scaling) -> PreprocessParams {
    let names: Vec<String> = features.iter().map(|f| (*f).to_owned()).collect();
    PreprocessParams::new(&names, &[], scaling, Missing::Drop)
}

fn run(features: &[&str], scaling: Scaling, k: KChoice) -> RunResult {
    run_with(features, scaling, k, RandomStream::ScikitLearn)
}

fn run_with(features: &[&str], scaling: Scaling, k: KChoice, stream: RandomStream) -> RunResult {
    let columns = columns_from_csv(MALL, None).unwrap();
    let params = RunParams {
        preprocess: preprocess(features, scaling),
        k,
        algorithm: Algorithm::new(KMeansAlgorithm),
        reduce: None,
        chart_sample: None,
        sweep_sample: segstore::segmentation::pipeline::SWEEP_SAMPLE_ROWS,
        warm_start: None,
        kmeans: KMeansParams::new(1).n_init(10).seed(42).stream(stream),
    };
    pipeline::run(&columns, &params).unwrap()
}

fn rel(a: f64, b: f64) -> f64 {
    (a - b).abs() / b.abs().max(f64::MIN_POSITIVE)
}

fn f(v: &Value) -> f64 {
    v.as_f64().unwrap()
}

/// The elbow curve, every k to 1e-4 (relative).
fn assert_curve(curve: &[segstore::segmentation::selection::SweepPoint], expected: &Value) {
    let expected = expected.as_array().unwrap();
    assert_eq!(curve.len(), expected.len());
    for (p, exp) in curve.iter().zip(expected) {
        let (got, exp) = (p.metrics.inertia, f(exp));
        assert!(rel(got, exp) <= 1e-4, "k = {}: {got} vs {exp}", p.k);
    }
}

/// Silhouettes for k = 2..=10, each to 1e-5 (relative; the reference has 6 decimals).
fn assert_silhouettes(curve: &[segstore::segmentation::selection::SweepPoint], expected: &Value) {
    for p in &curve[1..] {
        let exp = f(&expected[p.k.to_string()]);
        assert!(
            rel(p.metrics.silhouette.unwrap(), exp) <= 1e-5,
            "k = {}: {:?} vs {exp}",
            p.k,
            p.metrics.silhouette
        );
    }
}

/// Silhouette, Davies–Bouldin and Calinski–Harabasz, each to 1e-5 (relative).
fn assert_metrics(m: &segstore::segmentation::metrics::Metrics, want: &Value) {
    assert!(
        rel(m.silhouette.unwrap(), f(&want["silhouette"])) <= 1e-5,
        "{m:?}"
    );
    assert!(
        rel(m.davies_bouldin.unwrap(), f(&want["davies_bouldin"])) <= 1e-5,
        "{m:?}"
    );
    assert!(
        rel(m.calinski_harabasz.unwrap(), f(&want["calinski_harabasz"])) <= 1e-5,
        "{m:?}"
    );
}

/// Segments match the reference's clusters (both sorted by feature values): sizes exactly,
/// centroids to 1e-6 (the reference is rounded to 6 decimals).
fn assert_clusters(result: &RunResult, expected: &Value, names: &[&str]) {
    let expected = expected.as_array().unwrap();
    assert_eq!(result.profiles.segments.len(), expected.len());
    for (segment, want) in result.profiles.segments.iter().zip(expected) {
        assert_eq!(
            segment.size as u64,
            want["size"].as_u64().unwrap(),
            "{want}"
        );
        for (j, name) in names.iter().enumerate() {
            let got = segment.centroid[j];
            assert!(
                (got - f(&want[name])).abs() <= 1e-6,
                "{name}: {got} vs {want}"
            );
        }
    }
}

#[test]
fn unscaled_income_and_score_k5_matches_scikit_learn() {
    let r = reference();
    let want = &r["mall_income_score_unscaled"]["k5"];
    // segstore's own random stream: the partition does not depend on scikit-learn's draws.
    let result = run_with(
        &["annual_income_k", "spending_score"],
        Scaling::None,
        KChoice::Fixed(5),
        RandomStream::Segstore,
    );
    assert_clusters(
        &result,
        &want["clusters_sorted_by_income_then_score"],
        &["annual_income_k", "spending_score"],
    );
    assert!(
        rel(result.metrics.inertia, f(&want["inertia"])) <= 1e-6,
        "{}",
        result.metrics.inertia
    );
    assert_metrics(&result.metrics, want);
    assert!(!result.metrics.silhouette_sampled);
    let personas: Vec<_> = result
        .profiles
        .segments
        .iter()
        .map(|s| s.persona.clone().unwrap())
        .collect();
    assert_eq!(
        personas,
        [
            "Impulsive",
            "Bargain / low value",
            "Average",
            "VIP",
            "Potential converters"
        ]
    );
}

#[test]
fn unscaled_elbow_curve_and_best_silhouette_match() {
    let r = reference();
    let want = &r["mall_income_score_unscaled"];
    let result = run(
        &["annual_income_k", "spending_score"],
        Scaling::None,
        KChoice::Auto {
            min: 2,
            max: 10,
            rule: KRule::Silhouette,
        },
    );
    let selection = result.k_selection.as_ref().unwrap();
    assert_curve(&selection.curve, &want["inertia_k1_10"]);
    assert_silhouettes(&selection.curve, &want["silhouette_k2_10"]);
    assert_eq!(selection.best_silhouette_k, Some(5));
    assert_eq!(selection.elbow_k, Some(5));
    assert_eq!((result.k, result.k_rule.as_str()), (5, "best silhouette"));
}

#[test]
fn standardized_income_and_score_match() {
    let r = reference();
    let want = &r["mall_income_score_scaled"];
    let result = run(
        &["annual_income_k", "spending_score"],
        Scaling::Standard,
        KChoice::Auto {
            min: 2,
            max: 10,
            rule: KRule::Elbow,
        },
    );
    let scale = &result.preprocessor;
    for j in 0..2 {
        assert!(rel(scale.center[j], f(&want["scaler_mean"][j])) <= 1e-6);
        assert!(rel(scale.scale[j], f(&want["scaler_scale"][j])) <= 1e-6);
    }
    assert_curve(
        &result.k_selection.as_ref().unwrap().curve,
        &want["inertia_k1_10"],
    );
    assert_eq!(result.k, 5);
    let k5 = &want["k5"];
    assert_clusters(
        &result,
        &k5["clusters_sorted_by_income_then_score_original_units"],
        &["annual_income_k", "spending_score"],
    );
    assert!(rel(result.metrics.inertia, f(&k5["inertia_scaled_space"])) <= 1e-6);
    let m = &k5["metrics_on_scaled"];
    assert_metrics(&result.metrics, m);
}

#[test]
fn three_standardized_features_choose_six_like_scikit_learn() {
    let r = reference();
    let want = &r["mall_age_income_score_scaled"];
    let names = ["age", "annual_income_k", "spending_score"];
    let result = run(
        &names,
        Scaling::Standard,
        KChoice::Auto {
            min: 2,
            max: 10,
            rule: KRule::Silhouette,
        },
    );
    let curve = &result.k_selection.as_ref().unwrap().curve;
    assert_curve(curve, &want["inertia_k1_10"]);
    assert_silhouettes(curve, &want["silhouette_k2_10"]);
    assert_eq!(
        result.k,
        want["best_k_by_silhouette"].as_u64().unwrap() as usize
    );
    assert_clusters(
        &result,
        &want["best_k_clusters_sorted_by_age_income_score_original_units"],
        &names,
    );
}

#[test]
fn same_seed_same_assignments_other_seed_same_partition() {
    let a = run(
        &["annual_income_k", "spending_score"],
        Scaling::Standard,
        KChoice::Fixed(5),
    );
    let b = run(
        &["annual_income_k", "spending_score"],
        Scaling::Standard,
        KChoice::Fixed(5),
    );
    assert_eq!(a.assignments, b.assignments);
    let columns = columns_from_csv(MALL, None).unwrap();
    let mut params = RunParams {
        preprocess: preprocess(&["annual_income_k", "spending_score"], Scaling::Standard),
        k: KChoice::Fixed(5),
        kmeans: KMeansParams::new(1).seed(7),
        algorithm: Algorithm::new(KMeansAlgorithm),
        reduce: None,
        chart_sample: None,
        sweep_sample: segstore::segmentation::pipeline::SWEEP_SAMPLE_ROWS,
        warm_start: None,
    };
    let c = pipeline::run(&columns, &params).unwrap();
    // Canonical segment order: another seed finds the same segments under the same ids.
    let seg = |r: &RunResult| r.assignments.iter().map(|a| a.1).collect::<Vec<_>>();
    assert_eq!(seg(&a), seg(&c));
    params.k = KChoice::Fixed(201);
    assert!(
        pipeline::run(&columns, &params)
            .unwrap_err()
            .to_string()
            .contains("more than the 200 rows")
    );
}

fn matrix(features: &[&str], scaling: Scaling) -> ndarray::Array2<f64> {
    use segstore::segmentation::preprocess::prepare;
    let columns = columns_from_csv(MALL, None).unwrap();
    prepare(&columns, &preprocess(features, scaling))
        .unwrap()
        .matrix
        .expect("prepare holds the matrix")
}

#[test]
fn dbscan_on_standardized_income_and_score_matches() {
    use segstore::segmentation::dbscan::{DbscanParams, dbscan};
    let r = reference();
    let want = &r["mall_dbscan_scaled_income_score"];
    let prepared = matrix(&["annual_income_k", "spending_score"], Scaling::Standard);
    let fit = dbscan(
        prepared.view(),
        &DbscanParams {
            eps: 0.5,
            min_points: 5,
        },
    )
    .unwrap();
    assert_eq!(fit.n_clusters as u64, want["n_clusters"].as_u64().unwrap());
    assert_eq!(fit.n_noise as u64, want["n_noise"].as_u64().unwrap());
    let mut sizes =
        segstore::segmentation::sizes(fit.labels.iter().flatten().copied(), fit.n_clusters);
    sizes.sort_unstable_by(|a, b| b.cmp(a));
    let expected: Vec<usize> = want["cluster_sizes_desc"]
        .as_array()
        .unwrap()
        .iter()
        .map(|v| v.as_u64().unwrap() as usize)
        .collect();
    assert_eq!(sizes, expected);
    // New points: a training row's own cluster; far away is noise.
    let back = fit.model.predict(prepared.view());
    for (got, want) in back.iter().zip(&fit.labels) {
        if want.is_some() {
            assert_eq!(got, want);
        }
    }
    assert_eq!(
        fit.model.predict(ndarray::array![[40.0, 40.0]].view()),
        [None]
    );
}

#[test]
fn ward_on_unscaled_income_and_score_matches() {
    use segstore::segmentation::sizes;
    use segstore::segmentation::ward::ward;
    let r = reference();
    let want = &r["mall_agglomerative_ward_unscaled_income_score"];
    let prepared = matrix(&["annual_income_k", "spending_score"], Scaling::None);
    let fit = ward(prepared.view(), 5).unwrap();
    let mut s = sizes(fit.labels.iter().copied(), 5);
    s.sort_unstable_by(|a, b| b.cmp(a));
    let sizes_desc: Vec<usize> = want["cluster_sizes_desc"]
        .as_array()
        .unwrap()
        .iter()
        .map(|v| v.as_u64().unwrap() as usize)
        .collect();
    assert_eq!(s, sizes_desc);
    let m = segstore::segmentation::metrics::evaluate(&prepared, &fit.labels, 5, 0);
    assert_metrics(&m, want);
    // Members are assigned back to their own segment, but for those that Ward's merges left
    // nearer another segment's mean (its clusters are not Voronoi cells): as many as the same
    // nearest-mean rule leaves on scikit-learn's clusters.
    let back = fit.predict(prepared.view());
    let agree = back.iter().zip(&fit.labels).filter(|(a, b)| a == b).count();
    let expected = api_reference()["ward_unscaled"]["nearest_mean_agrees"]
        .as_u64()
        .unwrap();
    assert_eq!(agree as u64, expected);
    let mut centroids: Vec<(f64, f64)> = (0..5)
        .map(|j| (fit.centroids[[j, 0]], fit.centroids[[j, 1]]))
        .collect();
    centroids.sort_by(|a, b| a.0.total_cmp(&b.0));
    let expected = want["clusters_sorted_by_income_then_score (mean of members)"]
        .as_array()
        .unwrap();
    for (got, want) in centroids.iter().zip(expected) {
        assert!(
            (got.0 - f(&want["annual_income_k"])).abs() <= 1e-6
                && (got.1 - f(&want["spending_score"])).abs() <= 1e-6,
            "{got:?} vs {want}"
        );
    }
}

#[test]
fn gaussian_mixture_on_unscaled_income_and_score_matches() {
    use segstore::segmentation::gmm::{GmmParams, gmm};
    let r = reference();
    let want = &r["mall_gmm_unscaled_income_score"];
    let prepared = matrix(&["annual_income_k", "spending_score"], Scaling::None);
    let fit = gmm(prepared.view(), &GmmParams::new(5)).unwrap();
    assert!(
        rel(
            fit.mean_log_likelihood,
            f(&want["mean_log_likelihood_per_sample"])
        ) <= 1e-3,
        "{}",
        fit.mean_log_likelihood
    );
    assert!(rel(fit.bic, f(&want["bic"])) <= 1e-3, "{}", fit.bic);
    assert!(rel(fit.aic, f(&want["aic"])) <= 1e-3, "{}", fit.aic);
    for row in fit.probabilities.rows() {
        assert!((row.sum() - 1.0).abs() < 1e-9);
    }
    let predicted = fit.model.predict(prepared.view()).unwrap();
    assert!(
        predicted
            .iter()
            .zip(&fit.labels)
            .all(|(p, l)| p.0 == *l && p.1 > 0.0)
    );
    // The components: means, weights and predict() counts, sorted by income as the
    // reference lists them.
    let mut components: Vec<(f64, f64, f64, usize)> = (0..5)
        .map(|j| {
            (
                fit.model.means[[j, 0]],
                fit.model.means[[j, 1]],
                fit.model.weights[j],
                fit.labels.iter().filter(|&&l| l == j).count(),
            )
        })
        .collect();
    components.sort_by(|a, b| a.0.total_cmp(&b.0));
    let means =
        want["clusters_sorted_by_income_then_score (component means; size = predict() counts)"]
            .as_array()
            .unwrap();
    let weights = want["weights_sorted_like_means"].as_array().unwrap();
    for ((got, mean), weight) in components.iter().zip(means).zip(weights) {
        assert!(
            (got.0 - f(&mean["annual_income_k"])).abs() <= 1e-3
                && (got.1 - f(&mean["spending_score"])).abs() <= 1e-3,
            "{got:?} vs {mean}"
        );
        assert!((got.2 - f(weight)).abs() <= 1e-5, "{got:?} vs {weight}");
        assert_eq!(
            got.3 as u64,
            mean["size"].as_u64().unwrap(),
            "{got:?} vs {mean}"
        );
    }
}

#[test]
fn other_algorithms_refuse_bad_parameters() {
    use segstore::segmentation::dbscan::{DbscanParams, dbscan};
    use segstore::segmentation::gmm::{GmmParams, gmm};
    use segstore::segmentation::ward::{WARD_MAX_ROWS, ward};
    let x = ndarray::Array2::<f64>::zeros((3, 2));
    assert!(
        dbscan(
            x.view(),
            &DbscanParams {
                eps: 0.0,
                min_points: 5
            }
        )
        .unwrap_err()
        .to_string()
        .contains("eps")
    );
    assert!(
        dbscan(
            x.view(),
            &DbscanParams {
                eps: 1.0,
                min_points: 1
            }
        )
        .unwrap_err()
        .to_string()
        .contains("min_points")
    );
    assert!(
        gmm(x.view(), &GmmParams::new(4))
            .unwrap_err()
            .to_string()
            .contains("more than the 3 rows")
    );
    assert!(
        ward(x.view(), 0)
            .unwrap_err()
            .to_string()
            .contains("at least 1")
    );
    let big = ndarray::Array2::<f64>::zeros((WARD_MAX_ROWS + 1, 1));
    assert!(
        ward(big.view(), 2)
            .unwrap_err()
            .to_string()
            .contains("at most 10000 for Ward")
    );
}

#[test]
fn pca_of_the_standardized_mall_features_matches_scikit_learn() {
    use segstore::segmentation::pca::pca;
    // tests/fixtures/reference/mall_pca.py
    let want: Value =
        serde_json::from_str(include_str!("../fixtures/reference/mall_pca.json")).unwrap();
    let prepared = matrix(
        &["age", "annual_income_k", "spending_score"],
        Scaling::Standard,
    );
    let fitted = pca(&prepared, 2).unwrap();
    let fit = &fitted.pca;
    assert_eq!(fit.components.nrows(), 2);
    for (got, exp) in fit
        .explained_variance_ratio
        .iter()
        .zip(want["explained_variance_ratio"].as_array().unwrap())
    {
        assert!(rel(*got, f(exp)) <= 1e-6, "{got} vs {exp}");
    }
    // Components are defined up to their sign.
    for (i, row) in want["abs_projection_first_rows"]
        .as_array()
        .unwrap()
        .iter()
        .enumerate()
    {
        for c in 0..2 {
            assert!(rel(fitted.projection[[i, c]].abs(), f(&row[c])) <= 1e-6);
        }
    }
}

#[test]
fn the_stored_model_scores_training_rows_as_the_run_assigned_them() {
    // A run's model, through JSON (as stored), assigns the training rows to the segments the
    // run gave them: K-Means (also on principal components), Ward and the mixture; DBSCAN's
    // core and noise rows.
    let columns = columns_from_csv(MALL, None).unwrap();
    let features = ["age", "annual_income_k", "spending_score"];
    let cases = [
        (Algorithm::new(KMeansAlgorithm), None),
        (Algorithm::new(KMeansAlgorithm), Some(2)),
        (Algorithm::new(Ward), None),
        (
            Algorithm::new(Mixture {
                covariance: Covariance::Full,
            }),
            None,
        ),
        (
            Algorithm::new(Mixture {
                covariance: Covariance::Diag,
            }),
            None,
        ),
        (
            Algorithm::new(Dbscan(DbscanParams {
                eps: 0.5,
                min_points: 5,
            })),
            None,
        ),
        (Algorithm::new(Hdbscan(HdbscanParams::new(5))), None),
    ];
    for (algorithm, reduce) in cases {
        let params = RunParams {
            preprocess: preprocess(&features, Scaling::Standard),
            k: KChoice::Fixed(5),
            algorithm: algorithm.clone(),
            reduce,
            chart_sample: None,
            sweep_sample: segstore::segmentation::pipeline::SWEEP_SAMPLE_ROWS,
            warm_start: None,
            kmeans: KMeansParams::new(1).n_init(4).seed(7),
        };
        let result = pipeline::run(&columns, &params).unwrap();
        let stored = serde_json::to_string(&result.model).unwrap();
        let model: segstore::segmentation::model::Model = serde_json::from_str(&stored).unwrap();
        let rows: Vec<f64> = (0..columns.rows())
            .flat_map(|i| {
                let row: Vec<Option<f64>> = features
                    .iter()
                    .map(|f| {
                        let j = columns.names().iter().position(|n| n == f).unwrap();
                        columns.get(j, i)
                    })
                    .collect();
                model.complete(&row).unwrap()
            })
            .collect();
        let x = ndarray::Array2::from_shape_vec((columns.rows(), features.len()), rows).unwrap();
        let scored = model.score(x.view()).unwrap();
        let mut agree = 0;
        for (i, segment, score) in result.assignments.iter() {
            if scored[i].segment == segment {
                agree += 1;
                // HDBSCAN's training rows keep the fit's membership strength
                // (`probabilities_`); a scored row gets approximate_predict's.
                if segment.is_some() && algorithm.name() != "hdbscan" {
                    assert!(
                        (scored[i].score - score).abs() < 1e-9,
                        "{algorithm:?}: row {i}"
                    );
                }
            }
        }
        let n = result.assignments.len();
        let api = api_reference();
        // The stored model scores as the one in memory.
        let fresh = result.model.score(x.view()).unwrap();
        for (a, b) in scored.iter().zip(&fresh) {
            assert_eq!(a.segment, b.segment, "{algorithm:?}");
            assert!(a.score.total_cmp(&b.score).is_eq(), "{algorithm:?}");
        }
        match algorithm.name() {
            // A row goes to the nearest core point's segment (within eps), noise otherwise:
            // as many agree as the same rule gives on scikit-learn's clusters.
            "dbscan" => assert_eq!(
                agree as u64,
                api["dbscan_scaled3"]["nearest_core_agrees"]
                    .as_u64()
                    .unwrap()
            ),
            // Ward's clusters are not Voronoi cells: a new row goes to the nearest member
            // mean, which differs from its merge history on boundary rows, as on
            // scikit-learn's clusters.
            "ward" => assert_eq!(
                agree as u64,
                api["ward_scaled3"]["nearest_mean_agrees"].as_u64().unwrap()
            ),
            // approximate_predict's rule on a training row: its nearest other row by mutual
            // reachability decides, which on a cluster's fringe is another cluster's (or
            // noise): as many agree as the `hdbscan` package's rule gives on scikit-learn's
            // clusters (tests/fixtures/reference/hdbscan_training.py).
            "hdbscan" => {
                let reference: Value = serde_json::from_str(include_str!(
                    "../fixtures/reference/hdbscan_training.json"
                ))
                .unwrap();
                let want = &reference["mall3_min_cluster_size_5"];
                assert_eq!(
                    (agree as u64, n as u64),
                    (
                        want["training_rows_agree"].as_u64().unwrap(),
                        want["rows"].as_u64().unwrap()
                    )
                );
            }
            _ => assert_eq!(agree, n, "{algorithm:?} reduce {reduce:?}"),
        }
    }
}
