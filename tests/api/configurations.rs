//! Each configuration option through the API on the Mall customers: PCA, median imputation,
//! min-max and robust scaling, and the elbow rule. A run's answers are the engine's for the
//! same configuration (checked against scikit-learn in `tests/engine/`), and hold what the
//! option promises, checked from the data itself: each profile centroid is the mean of the
//! members the export lists, imputed values are counted, PCA explains what scikit-learn says.

use crate::helpers::{MALL_CSV, TestApp, json_ok, mall_customers, spawn_app};
use crate::runs::assert_same_numbers;
use segstore::domain::segmentation::SegmentationConfig;
use segstore::domain::{Attribute, AttributeKind, AttributeName, Catalogue};
use segstore::segmentation::pipeline;
use serde_json::{Value, json};

const FEATURES: [&str; 3] = ["age", "annual_income_k", "spending_score"];

/// What the engine gives for this configuration on the Mall columns, as the API shapes it.
fn engine(config: &Value, csv: &[u8]) -> pipeline::RunResult {
    let config: SegmentationConfig = serde_json::from_value(config.clone()).unwrap();
    let catalogue = Catalogue::new(
        FEATURES
            .iter()
            .enumerate()
            .map(|(i, name)| Attribute {
                name: AttributeName::parse(name).unwrap(),
                kind: AttributeKind::Numeric,
                position: i + 1,
            })
            .collect(),
    );
    let params = config.validate(&catalogue, "config.").unwrap();
    let columns = segstore::ingest::dataset::columns_from_csv(csv, None).unwrap();
    pipeline::run(&columns, &params).unwrap()
}

/// Runs `config` through the API; checks it against the engine and the data; returns the run.
async fn check(app: &TestApp, name: &str, config: Value, csv: &[u8]) -> Value {
    let seg = app
        .create_segmentation(json!({"name": name, "config": config}))
        .await;
    let run = app.run_to_success(&seg).await;
    let id = run["id"].as_str().unwrap();
    let want = engine(&config, csv);
    assert_eq!(run["k"], want.k, "{name}");
    assert_eq!(run["k_rule"], want.k_rule.as_str(), "{name}");
    assert_eq!(
        run["customers"]["values_imputed"], want.values_imputed,
        "{name}"
    );
    assert_same_numbers(
        &run["metrics"],
        &serde_json::to_value(want.metrics).unwrap(),
    );
    let segments = json_ok(app.get(&format!("/v1/runs/{id}/segments")).await).await;
    let mut sizes: Vec<i64> = segments["segments"]
        .as_array()
        .unwrap()
        .iter()
        .map(|s| s["size"].as_i64().unwrap())
        .collect();
    let mut want_sizes: Vec<i64> = want
        .profiles
        .segments
        .iter()
        .map(|s| s.size as i64)
        .collect();
    sizes.sort_unstable();
    want_sizes.sort_unstable();
    assert_eq!(sizes, want_sizes, "{name}");
    if let Some(selection) = &want.k_selection {
        let elbow = json_ok(app.get(&format!("/v1/runs/{id}/elbow")).await).await;
        assert_same_numbers(
            &elbow["curve"],
            &serde_json::to_value(&selection.curve).unwrap(),
        );
        // Mall's 200 customers are all swept (a sample only above 50,000).
        assert_eq!(
            (&elbow["sweep_rows"], &elbow["sweep_sampled"]),
            (&json!(200), &json!(false)),
            "{name}"
        );
    }
    // Each centroid is the mean of the members the export lists (original units).
    let export = app
        .get(&format!("/v1/runs/{id}/assignments?format=csv"))
        .await
        .text()
        .await
        .unwrap();
    let values = mall_customers();
    let features: Vec<&str> = segments["features"]
        .as_array()
        .unwrap()
        .iter()
        .map(|f| f.as_str().unwrap())
        .collect();
    for s in segments["segments"].as_array().unwrap() {
        let members: Vec<&[f64; 3]> = export
            .lines()
            .skip(1)
            .filter(|l| l.split(',').nth(1) == Some(&s["segment_id"].to_string()))
            .map(|l| &values[l.split(',').next().unwrap()])
            .collect();
        assert_eq!(members.len() as i64, s["size"].as_i64().unwrap(), "{name}");
        for (j, feature) in features.iter().enumerate() {
            let column = FEATURES.iter().position(|f| f == feature).unwrap();
            let mean = members.iter().map(|m| m[column]).sum::<f64>() / members.len() as f64;
            let got = s["centroid"][j].as_f64().unwrap();
            // Imputed customers count with the median, not their missing value: skip those.
            if want.values_imputed == 0 {
                assert!(
                    (got - mean).abs() < 1e-9,
                    "{name} {feature}: {got} vs {mean}"
                );
            }
        }
    }
    run
}

#[tokio::test]
async fn each_configuration_option_runs_as_the_engine_computes_it() {
    let app = spawn_app().await;
    app.import_mall().await;
    let csv = std::fs::read(MALL_CSV).unwrap();
    let three = json!(FEATURES);

    // PCA: two principal components of the standardised features, as scikit-learn finds them.
    let run = check(
        &app,
        "PCA",
        json!({"features": three, "pca": 2, "algorithm": {"type": "kmeans", "k": 4}}),
        &csv,
    )
    .await;
    let reference: Value = serde_json::from_str(
        &std::fs::read_to_string(concat!(
            env!("CARGO_MANIFEST_DIR"),
            "/tests/fixtures/reference/mall_pca.json"
        ))
        .unwrap(),
    )
    .unwrap();
    let pca = &run["fit"]["pca"];
    assert_eq!(pca["components"], 2, "{run:#}");
    for (got, want) in pca["explained_variance_ratio"]
        .as_array()
        .unwrap()
        .iter()
        .zip(reference["explained_variance_ratio"].as_array().unwrap())
    {
        assert!((got.as_f64().unwrap() - want.as_f64().unwrap()).abs() < 1e-9);
    }

    // Min-max and robust scaling; the elbow rule (Kneedle: k = 5 on income and spend).
    check(
        &app,
        "Min-max",
        json!({"features": three, "scaling": "minmax", "algorithm": {"type": "kmeans", "k": 5}}),
        &csv,
    )
    .await;
    check(
        &app,
        "Robust",
        json!({"features": three, "scaling": "robust", "algorithm": {"type": "kmeans", "k": 5}}),
        &csv,
    )
    .await;
    let elbow = check(
        &app,
        "Elbow",
        json!({"features": ["annual_income_k", "spending_score"],
               "algorithm": {"type": "kmeans", "k": "auto", "k_rule": "elbow"}}),
        &csv,
    )
    .await;
    assert_eq!(elbow["k"], 5);
    assert_eq!(elbow["k_rule"], "elbow of the inertia curve (Kneedle)");

    // Median imputation: three customers lose their age; they are kept and counted.
    let missing: Vec<Value> = ["0001", "0002", "0003"]
        .iter()
        .map(|id| json!({"id": id, "attributes": {"age": null}}))
        .collect();
    assert_eq!(app.upsert(json!(missing)).await.status(), 200);
    let mut holes = String::from_utf8(csv.clone()).unwrap();
    for id in ["0001", "0002", "0003"] {
        let line = holes
            .lines()
            .find(|l| l.starts_with(id))
            .unwrap()
            .to_owned();
        let mut f: Vec<&str> = line.split(',').collect();
        f[2] = "";
        holes = holes.replace(&line, &f.join(","));
    }
    let imputed = check(
        &app,
        "Imputed",
        json!({"features": three, "missing": "impute_median", "algorithm": {"type": "kmeans", "k": 5}}),
        holes.as_bytes(),
    )
    .await;
    assert_eq!(imputed["customers"]["used"], 200);
    assert_eq!(imputed["customers"]["values_imputed"], 3);
    assert_eq!(imputed["customers"]["missing_values"]["age"], 3);
    let dropped = check(
        &app,
        "Dropped",
        json!({"features": three, "algorithm": {"type": "kmeans", "k": 5}}),
        holes.as_bytes(),
    )
    .await;
    assert_eq!(dropped["customers"]["used"], 197);
    assert_eq!(dropped["customers"]["dropped"], 3);
}
