//! Weighted segmentations (`weight`: a numeric attribute weighing each customer, K-Means
//! only): the run the engine computes, counts and weights side by side in the profiles,
//! customers without the weight left out, and every rule a 422 naming `config.weight`.

use crate::helpers::{TestApp, assert_problem, json_ok, mall_customers, spawn_app};
use segstore::segmentation::kmeans::KMeansParams;
use segstore::segmentation::kmeans::plugin::KMeansAlgorithm;
use segstore::segmentation::pipeline::{self, Algorithm, KChoice, RunParams};
use segstore::segmentation::preprocess::{Missing, PreprocessParams, Scaling};
use serde_json::{Value, json};

const FEATURES: [&str; 2] = ["age", "spending_score"];

async fn weighted_segmentation(app: &TestApp) -> String {
    app.create_segmentation(json!({
        "name": "Income-weighted",
        "config": {
            "features": FEATURES,
            "weight": "annual_income_k",
            "algorithm": {"type": "kmeans", "k": 4, "n_init": 10, "seed": 7}
        }
    }))
    .await
}

/// The engine's run of the same data and parameters.
fn engine_run() -> pipeline::RunResult {
    let csv = std::fs::read(crate::helpers::MALL_CSV).unwrap();
    let columns = segstore::ingest::dataset::columns_from_csv(&csv[..], None).unwrap();
    let names: Vec<String> = FEATURES.iter().map(|f| (*f).to_owned()).collect();
    let params = RunParams {
        preprocess: PreprocessParams::new(&names, &[], Scaling::Standard, Missing::Drop)
            .weighted_by(Some("annual_income_k".into())),
        k: KChoice::Fixed(4),
        kmeans: KMeansParams::new(1).n_init(10).seed(7),
        algorithm: Algorithm::new(KMeansAlgorithm),
        reduce: None,
        chart_sample: None,
        sweep_sample: pipeline::SWEEP_SAMPLE_ROWS,
        warm_start: None,
    };
    pipeline::run(&columns, &params).unwrap()
}

#[tokio::test]
async fn a_weighted_run_gives_counts_and_weights_side_by_side() {
    let app = spawn_app().await;
    app.import_mall().await;
    let seg = weighted_segmentation(&app).await;
    let run = app.run_to_success(&seg).await;
    assert_eq!(run["params"]["weight"], "annual_income_k");
    assert_eq!(run["customers"]["used"], 200);
    let expected = engine_run();
    let inertia = run["metrics"]["inertia"].as_f64().unwrap();
    assert!(
        (inertia - expected.metrics.inertia).abs() <= 1e-9 * inertia,
        "{inertia} vs {}",
        expected.metrics.inertia
    );
    let id = run["id"].as_str().unwrap();
    let list = json_ok(app.get(&format!("/v1/runs/{id}/segments")).await).await;
    assert_eq!(list["weight"], "annual_income_k");
    let incomes: Vec<f64> = mall_customers().values().map(|c| c[1]).collect();
    let total: f64 = incomes.iter().sum();
    assert_eq!(list["population_weighted"]["weight"], total);
    assert_eq!(list["population_weighted"]["share"], 1.0);
    let segments = list["segments"].as_array().unwrap();
    assert_eq!(segments.len(), 4);
    let (mut sizes, mut weight, mut share) = (0, 0.0, 0.0);
    for (s, e) in segments.iter().zip(&expected.profiles.segments) {
        let w = &s["weighted"];
        let ew = e.weighted.as_ref().unwrap();
        assert_eq!(s["size"], e.size);
        assert!(
            (w["weight"].as_f64().unwrap() - ew.weight).abs() < 1e-9,
            "{s:#}"
        );
        assert_eq!(w["mean"].as_array().unwrap().len(), 2);
        sizes += s["size"].as_i64().unwrap();
        weight += w["weight"].as_f64().unwrap();
        share += w["share"].as_f64().unwrap();
    }
    assert_eq!(sizes, 200);
    assert!((weight - total).abs() < 1e-9 && (share - 1.0).abs() < 1e-12);
}

#[tokio::test]
async fn customers_without_the_weight_are_left_out_and_a_negative_one_fails_the_run() {
    let app = spawn_app().await;
    app.import_mall().await;
    let without = json!([
        {"id": "0001", "attributes": {"annual_income_k": null}},
        {"id": "0002", "attributes": {"annual_income_k": null}}
    ]);
    assert_eq!(app.upsert(without).await.status(), 200);
    let seg = weighted_segmentation(&app).await;
    let run = app.run_to_success(&seg).await;
    assert_eq!(run["customers"]["snapshot"], 200);
    assert_eq!(run["customers"]["used"], 198);
    assert_eq!(run["customers"]["dropped"], 2);
    assert_eq!(
        run["customers"]["missing_values"]["annual_income_k"], 2,
        "{run:#}"
    );

    let negative = json!([{"id": "0003", "attributes": {"annual_income_k": -5}}]);
    assert_eq!(app.upsert(negative).await.status(), 200);
    let queued = app.trigger(&seg).await;
    let failed = app.wait_run(queued["id"].as_str().unwrap()).await;
    assert_eq!(failed["status"], "failed", "{failed:#}");
    let message = failed["error"]["message"].as_str().unwrap();
    assert!(
        message.contains("row `0003`: weight `annual_income_k` is -5"),
        "{message}"
    );
    // The earlier run stays the active one.
    let active = json_ok(app.get(&format!("/v1/segmentations/{seg}")).await).await;
    assert_eq!(active["active_run_id"], run["id"], "{active:#}");
}

#[tokio::test]
async fn a_weight_that_is_unknown_categorical_or_with_another_algorithm_is_a_422() {
    let app = spawn_app().await;
    app.import_mall().await;
    let create = |config: Value| {
        let app = &app;
        async move {
            app.post_json("/v1/segmentations", &json!({"name": "w", "config": config}))
                .await
        }
    };
    for (config, needle) in [
        (
            json!({"features": FEATURES, "weight": "revenue"}),
            "unknown attribute `revenue`",
        ),
        (
            json!({"features": FEATURES, "weight": "gender"}),
            "`gender` is categorical; a weight must be numeric",
        ),
        (
            json!({"features": FEATURES, "weight": "annual_income_k",
                   "algorithm": {"type": "gmm", "k": 3}}),
            "a weight works with the kmeans algorithm only; this segmentation uses gmm",
        ),
        (
            json!({"features": FEATURES, "weight": 3}),
            "invalid type: integer `3`, expected a string",
        ),
    ] {
        let body = assert_problem(create(config.clone()).await, 422, "config.weight").await;
        assert!(body.to_string().contains(needle), "{config}: {body}");
    }
    assert_eq!(app.count("SELECT count(*) FROM segmentations").await, 0);
}

fn cluster(args: &[&str]) -> std::process::Output {
    std::process::Command::new(env!("CARGO_BIN_EXE_segstore"))
        .arg("cluster")
        .arg(crate::helpers::MALL_CSV)
        .args(args)
        .output()
        .expect("the binary runs")
}

/// `segstore cluster --weight`: the engine's weighted run, the weight shares in the table,
/// and the weighted figures in the JSON.
#[test]
fn the_cli_weighs_customers_by_a_column() {
    let args = [
        "--features",
        "age,spending_score",
        "--weight",
        "annual_income_k",
        "--k",
        "4",
        "--n-init",
        "10",
        "--seed",
        "7",
    ];
    let out = cluster(&args);
    assert!(out.status.success(), "{out:?}");
    let table = String::from_utf8(out.stdout).unwrap();
    let expected = engine_run();
    assert!(
        table.contains(&format!("weighted inertia {:.4}", expected.metrics.inertia)),
        "{table}"
    );
    assert!(
        table.contains("each customer weighs its annual income"),
        "{table}"
    );
    for p in &expected.profiles.segments {
        let share = format!("{:>5.1}%", p.weighted.as_ref().unwrap().share * 100.0);
        assert!(table.contains(&share), "{share} in {table}");
    }
    let json_out = cluster(&[&args[..], &["--format", "json"]].concat());
    let body: Value = serde_json::from_slice(&json_out.stdout).unwrap();
    let segments = body["profiles"]["segments"].as_array().unwrap();
    for (s, e) in segments.iter().zip(&expected.profiles.segments) {
        let w = e.weighted.as_ref().unwrap();
        assert_eq!(s["weighted"]["weight"].as_f64().unwrap(), w.weight, "{s:#}");
    }
    assert!(body["profiles"]["weighted"]["weight"].as_f64().unwrap() > 0.0);

    for (extra, message) in [
        (
            vec!["--weight", "revenue"],
            "unknown weight column `revenue`",
        ),
        (
            vec!["--weight", "age", "--algorithm", "ward"],
            "--weight applies to --algorithm kmeans only",
        ),
    ] {
        let out = cluster(
            &[
                &["--features", "age,spending_score", "--k", "3"],
                &extra[..],
            ]
            .concat(),
        );
        assert!(!out.status.success());
        let stderr = String::from_utf8_lossy(&out.stderr);
        assert!(stderr.contains(message), "{stderr}");
    }
}
