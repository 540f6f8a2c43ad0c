//! Warm starts (`algorithm.init: "previous"`): a retrain starts from the active run's
//! centroids, taken into its own preprocessing, and says so in `fit.warm_start`; with no
//! active run, another k or other features it falls back to k-means++ restarts and says why.

use crate::helpers::{TestApp, assert_problem, json_ok, spawn_app};
use serde_json::{Value, json};

async fn patch(app: &TestApp, seg: &str, body: Value) {
    let patched = app
        .client
        .patch(app.url(&format!("/v1/segmentations/{seg}")))
        .json(&body)
        .send()
        .await
        .unwrap();
    assert_eq!(patched.status(), 200);
}

#[tokio::test]
async fn a_retrain_starts_from_the_active_runs_centroids() {
    let app = spawn_app().await;
    app.import_mall().await;
    let seg = app
        .create_segmentation(json!({
            "name": "Warm",
            "config": {
                "features": ["age", "annual_income_k", "spending_score"],
                "algorithm": {"type": "kmeans", "k": 5, "init": "previous"}
            }
        }))
        .await;
    let first = app.run_to_success(&seg).await;
    assert_eq!(first["params"]["algorithm"]["init"], "previous");
    let warm = &first["fit"]["warm_start"];
    assert_eq!(warm["used"], false, "{first:#}");
    assert_eq!(warm["from_run_id"], Value::Null);
    assert!(
        warm["reason"]
            .as_str()
            .unwrap()
            .starts_with("no active run")
    );
    assert_eq!(first["fit"]["restarts"], 125);

    // Twenty customers spend more.
    let changed: Vec<Value> = (1..=20)
        .map(|i| json!({"id": format!("{i:04}"), "attributes": {"spending_score": 90 + i % 10}}))
        .collect();
    assert_eq!(app.upsert(json!(changed)).await.status(), 200);
    let second = app.run_to_success(&seg).await;
    let warm = &second["fit"]["warm_start"];
    assert_eq!(warm["used"], true, "{second:#}");
    assert_eq!(warm["from_run_id"], first["id"]);
    assert_eq!(warm["previous_k"], 5);
    assert_eq!(warm["reason"], Value::Null);
    assert_eq!(second["fit"]["restarts"], 1);
    assert!(second["fit"]["n_iter"].as_u64().unwrap() < first["fit"]["n_iter"].as_u64().unwrap());
    // Every segment continues one of the first run's: the same stable ids.
    let ids = |run: &Value| {
        let app = &app;
        let id = run["id"].as_str().unwrap().to_owned();
        async move {
            let list = json_ok(app.get(&format!("/v1/runs/{id}/segments")).await).await;
            let mut ids: Vec<i64> = list["segments"]
                .as_array()
                .unwrap()
                .iter()
                .map(|s| s["segment_id"].as_i64().unwrap())
                .collect();
            ids.sort_unstable();
            ids
        }
    };
    assert_eq!(ids(&second).await, ids(&first).await);

    patch(&app, &seg, json!({"config": {"algorithm": {"k": 6}}})).await;
    let third = app.run_to_success(&seg).await;
    let warm = &third["fit"]["warm_start"];
    assert_eq!(warm["used"], false);
    assert_eq!(warm["from_run_id"], second["id"]);
    assert_eq!(
        warm["reason"],
        "k changed from 5 to 6: k-means++ restarts instead"
    );
    assert_eq!(third["fit"]["restarts"], 125);

    patch(
        &app,
        &seg,
        json!({"config": {"features": ["age", "spending_score"]}}),
    )
    .await;
    let fourth = app.run_to_success(&seg).await;
    let reason = fourth["fit"]["warm_start"]["reason"].as_str().unwrap();
    assert!(reason.starts_with("the features changed"), "{reason}");
}

/// Through log1p, scaling and PCA and back: a retrain of unchanged data from its own
/// centroids is the same fit.
#[tokio::test]
async fn a_warm_start_goes_through_the_runs_preprocessing_and_projection() {
    let app = spawn_app().await;
    app.import_mall().await;
    let seg = app
        .create_segmentation(json!({
            "name": "Warm PCA",
            "config": {
                "features": ["age", "annual_income_k", "spending_score"],
                "log1p": ["annual_income_k"],
                "scaling": "robust",
                "pca": 2,
                "algorithm": {"type": "kmeans", "k": 4, "init": "previous"}
            }
        }))
        .await;
    let first = app.run_to_success(&seg).await;
    let second = app.run_to_success(&seg).await;
    assert_eq!(second["fit"]["warm_start"]["used"], true, "{second:#}");
    let (a, b) = (
        first["metrics"]["inertia"].as_f64().unwrap(),
        second["metrics"]["inertia"].as_f64().unwrap(),
    );
    assert!((a - b).abs() <= 1e-9 * a, "{a} vs {b}");
    assert!(second["fit"]["n_iter"].as_u64().unwrap() <= 2, "{second:#}");
}

#[tokio::test]
async fn an_unknown_init_is_a_422_naming_it() {
    let app = spawn_app().await;
    app.import_mall().await;
    let response = app
        .post_json(
            "/v1/segmentations",
            &json!({"name": "w", "config": {"features": ["age"],
                    "algorithm": {"type": "kmeans", "init": "random"}}}),
        )
        .await;
    // Inside the tagged algorithm object, serde names the object (as for `covariance`).
    assert_problem(
        response,
        422,
        "config.algorithm.init: unknown variant `random`, expected `k-means++` or `previous`",
    )
    .await;
    // Only K-Means starts from centroids.
    let response = app
        .post_json(
            "/v1/segmentations",
            &json!({"name": "w", "config": {"features": ["age"],
                    "algorithm": {"type": "gmm", "init": "previous"}}}),
        )
        .await;
    assert_problem(response, 422, "unknown field `init`").await;
}
