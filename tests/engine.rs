//! The engine against scikit-learn on the Mall data: expected values from
//! `tests/fixtures/mall_sklearn.json` (scikit-learn 1.9.1; see its `environment`).

use segstore::dataset::columns_from_csv;
use segstore::segmentation::kmeans::{KMeansParams, RandomStream};
use segstore::segmentation::pipeline::{self, KChoice, RunParams, RunResult};
use segstore::segmentation::preprocess::{Feature, Missing, PreprocessParams, Scaling, Transform};
use segstore::segmentation::selection::KRule;
use serde_json::Value;

const MALL: &[u8] = include_bytes!("fixtures/Mall_Customers.csv");

fn reference() -> Value {
    serde_json::from_str(include_str!("fixtures/mall_sklearn.json")).unwrap()
}

/// With scikit-learn's random stream, so every restart is the one the reference made: for
/// k >= 6 its restarts stop at local optima that other draws beat (1000 restarts find lower
/// inertia), and only the same draws give the same numbers.
fn run(features: &[&str], scaling: Scaling, k: KChoice) -> RunResult {
    run_with(features, scaling, k, RandomStream::ScikitLearn)
}

fn run_with(features: &[&str], scaling: Scaling, k: KChoice, stream: RandomStream) -> RunResult {
    let columns = columns_from_csv(MALL, None).unwrap();
    let params = RunParams {
        preprocess: PreprocessParams {
            features: features
                .iter()
                .map(|f| Feature {
                    name: (*f).to_owned(),
                    transform: Transform::None,
                })
                .collect(),
            scaling,
            missing: Missing::Drop,
        },
        k,
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
    assert!(rel(result.metrics.silhouette.unwrap(), f(&want["silhouette"])) <= 1e-5);
    assert!(
        rel(
            result.metrics.davies_bouldin.unwrap(),
            f(&want["davies_bouldin"])
        ) <= 1e-5
    );
    assert!(
        rel(
            result.metrics.calinski_harabasz.unwrap(),
            f(&want["calinski_harabasz"])
        ) <= 1e-5
    );
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
    assert!(rel(result.metrics.silhouette.unwrap(), f(&m["silhouette"])) <= 1e-5);
    assert!(
        rel(
            result.metrics.davies_bouldin.unwrap(),
            f(&m["davies_bouldin"])
        ) <= 1e-5
    );
    assert!(
        rel(
            result.metrics.calinski_harabasz.unwrap(),
            f(&m["calinski_harabasz"])
        ) <= 1e-5
    );
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
        preprocess: PreprocessParams {
            features: vec![
                Feature {
                    name: "annual_income_k".into(),
                    transform: Transform::None,
                },
                Feature {
                    name: "spending_score".into(),
                    transform: Transform::None,
                },
            ],
            scaling: Scaling::Standard,
            missing: Missing::Drop,
        },
        k: KChoice::Fixed(5),
        kmeans: KMeansParams::new(1).seed(7),
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
