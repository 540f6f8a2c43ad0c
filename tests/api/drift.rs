//! Drift: every retrain says how far it is from the active run it would replace; on the
//! same data nothing moved (ARI 1, PSI 0); a shifted population crosses the segmentation's
//! thresholds, is announced (`segmentation.drift_detected`) and, when asked, is not
//! activated until someone does.

use crate::helpers::{
    TestApp, a_third_spending_more, assert_problem, json_ok, json_status, spawn_app,
};
use crate::receiver::Receiver;
use crate::webhooks::create_webhook;
use serde_json::{Value, json};

async fn segmentation(app: &TestApp, drift: Value) -> String {
    app.import_mall().await;
    let created = json_status(
        app.post_json(
            "/v1/segmentations",
            &json!({
                "name": "Mall",
                "config": {
                    "features": ["annual_income_k", "spending_score"],
                    "algorithm": {"type": "kmeans", "k": 5}
                },
                "drift": drift
            }),
        )
        .await,
        201,
    )
    .await;
    for (threshold, value) in drift.as_object().unwrap() {
        assert_eq!(&created["drift"][threshold], value);
    }
    created["id"].as_str().unwrap().to_owned()
}

async fn active_run(app: &TestApp, seg: &str) -> Value {
    json_ok(app.get(&format!("/v1/segmentations/{seg}")).await).await["active_run_id"].clone()
}

#[tokio::test]
async fn a_retrain_on_the_same_data_reports_no_drift() {
    let app = spawn_app().await;
    let seg = segmentation(
        &app,
        json!({"max_moved_share": 0.05, "min_adjusted_rand_index": 0.95, "max_centroid_shift": 0.1,
               "max_psi": 0.1, "hold_activation": true}),
    )
    .await;
    let first = app.run_to_success(&seg).await;
    assert!(first["drift"].is_null(), "no active run to compare with");
    let second = app.run_to_success(&seg).await;
    let drift = &second["drift"];
    assert_eq!(drift["against_run_id"], first["id"]);
    assert_eq!(drift["customers_compared"], 200);
    assert_eq!(drift["moved"], 0);
    assert_eq!(drift["moved_share"], 0.0);
    assert_eq!(drift["entered"], 0);
    assert_eq!(drift["left"], 0);
    assert_eq!(drift["adjusted_rand_index"], 1.0);
    let features = drift["features"].as_array().unwrap();
    assert_eq!(features.len(), 2);
    assert!(
        features
            .iter()
            .all(|f| f["psi"].as_f64().unwrap().abs() < 1e-12),
        "{drift:#}"
    );
    let segments = drift["segments"].as_array().unwrap();
    assert_eq!(segments.len(), 5);
    assert!(segments.iter().all(|s| s["centroid_shift"] == 0.0
        && s["size_change"] == 0.0
        && s["size_before"] == s["size_after"]));
    assert_eq!(drift["crossed"], json!([]));
    assert_eq!(drift["held"], false);
    let phases: Vec<&str> = second["timings"]
        .as_array()
        .unwrap()
        .iter()
        .map(|t| t["phase"].as_str().unwrap())
        .collect();
    assert!(
        phases.contains(&"drift") && phases.contains(&"activate"),
        "{phases:?}"
    );
    assert_eq!(active_run(&app, &seg).await, second["id"]);
}

#[tokio::test]
async fn a_shifted_population_crosses_a_threshold_is_announced_and_held() {
    let app = spawn_app().await;
    let receiver = Receiver::start();
    let seg = segmentation(&app, json!({"max_psi": 0.1, "hold_activation": true})).await;
    create_webhook(
        &app,
        json!({"url": receiver.url(), "events": ["segmentation.drift_detected", "run.succeeded"], "segmentation_id": seg}),
    )
    .await;
    let first = app.run_to_success(&seg).await;

    // A third of the customers spend 40 points more.
    let shifted = a_third_spending_more();
    assert_eq!(shifted.len(), 66);
    assert_eq!(app.upsert(json!(shifted)).await.status(), 200);
    let second = app.run_to_success(&seg).await;
    let drift = &second["drift"];
    let psi = |name: &str| {
        drift["features"]
            .as_array()
            .unwrap()
            .iter()
            .find(|f| f["feature"] == name)
            .unwrap()["psi"]
            .as_f64()
            .unwrap()
    };
    assert!(psi("spending_score") > 0.1, "{drift:#}");
    assert!(
        psi("annual_income_k").abs() < 1e-12,
        "incomes did not change"
    );
    assert_eq!(drift["crossed"][0]["threshold"], "max_psi");
    assert_eq!(drift["crossed"][0]["limit"], 0.1);
    assert_eq!(
        drift["crossed"][0]["value"].as_f64().unwrap(),
        psi("spending_score")
    );
    assert_eq!(drift["held"], true);
    assert!(drift["moved"].as_i64().unwrap() > 0);
    assert!(drift["adjusted_rand_index"].as_f64().unwrap() < 1.0);

    // Succeeded, not active: the first run still answers lookups.
    assert_eq!(second["status"], "succeeded");
    assert_eq!(second["active"], false);
    assert_eq!(active_run(&app, &seg).await, first["id"]);
    let held = second["events"]
        .as_array()
        .unwrap()
        .iter()
        .find(|e| e["event"] == "activation held")
        .unwrap_or_else(|| panic!("{second:#}"));
    assert!(
        held["detail"].as_str().unwrap().contains("max_psi"),
        "{held}"
    );
    let lookup = json_ok(
        app.get(&format!("/v1/segmentations/{seg}/customers/0003"))
            .await,
    )
    .await;
    assert_eq!(lookup["current"]["run_id"], first["id"], "{lookup:#}");
    // No activation, so no membership change was recorded.
    let activations = json_ok(
        app.get(&format!("/v1/segmentations/{seg}/activations"))
            .await,
    )
    .await;
    assert_eq!(activations["activations"].as_array().unwrap().len(), 1);

    // Announced, signed like every delivery.
    let accepted = receiver.wait_for("the drift event", |a| a.len() == 3).await;
    let kinds: Vec<String> = accepted.iter().map(|r| r.kind()).collect();
    assert_eq!(
        kinds,
        [
            "run.succeeded",
            "run.succeeded",
            "segmentation.drift_detected"
        ],
        "a run is announced before its drift"
    );
    let event = accepted[2].json();
    assert_eq!(event["type"], "segmentation.drift_detected");
    assert_eq!(event["data"]["run_id"], second["id"]);
    assert_eq!(event["data"]["against_run_id"], first["id"]);
    assert_eq!(event["data"]["held"], true);
    assert_eq!(event["data"]["crossed"][0]["threshold"], "max_psi");

    // Someone looks and activates it.
    let id = second["id"].as_str().unwrap();
    let activated = json_ok(
        app.client
            .post(app.url(&format!("/v1/runs/{id}/activate")))
            .send()
            .await
            .unwrap(),
    )
    .await;
    assert_eq!(activated["active"], true);
    assert_eq!(active_run(&app, &seg).await, second["id"]);
    receiver.stop().await;
}

#[tokio::test]
async fn drift_thresholds_are_checked_and_changed() {
    let app = spawn_app().await;
    app.import_mall().await;
    let config = json!({"features": ["annual_income_k"]});
    for (drift, field) in [
        (json!({"max_moved_share": 1.5}), "drift.max_moved_share"),
        (
            json!({"min_adjusted_rand_index": -2}),
            "drift.min_adjusted_rand_index",
        ),
        (json!({"max_psi": -0.1}), "drift.max_psi"),
        (
            json!({"max_centroid_shift": 1000}),
            "drift.max_centroid_shift",
        ),
        (json!({"max_psi": 0.1, "hold": true}), "hold"),
        (json!({"max_psi": "high"}), "drift.max_psi"),
    ] {
        assert_problem(
            app.post_json(
                "/v1/segmentations",
                &json!({"name": "s", "config": config, "drift": drift}),
            )
            .await,
            422,
            field,
        )
        .await;
    }
    assert_eq!(app.count("SELECT count(*) FROM segmentations").await, 0);
    let created = json_status(
        app.post_json("/v1/segmentations", &json!({"name": "s", "config": config}))
            .await,
        201,
    )
    .await;
    assert!(created["drift"].is_null());
    let id = created["id"].as_str().unwrap();
    let patch = |body: Value| {
        app.client
            .patch(app.url(&format!("/v1/segmentations/{id}")))
            .json(&body)
            .send()
    };
    let set = json_ok(patch(json!({"drift": {"max_psi": 0.25}})).await.unwrap()).await;
    assert_eq!(
        set["drift"],
        json!({"max_moved_share": null, "min_adjusted_rand_index": null, "max_centroid_shift": null,
               "max_psi": 0.25, "hold_activation": false})
    );
    assert_eq!(set["version"], 1, "thresholds are not the configuration");
    assert_problem(
        patch(json!({"drift": {"max_psi": 101}})).await.unwrap(),
        422,
        "drift.max_psi",
    )
    .await;
    let removed = json_ok(patch(json!({"drift": null})).await.unwrap()).await;
    assert!(removed["drift"].is_null());
}
