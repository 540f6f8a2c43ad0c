use crate::helpers::{assert_problem, json_ok, spawn_app};
use serde_json::{Value, json};

async fn count(app: &crate::helpers::TestApp) -> i64 {
    app.count("SELECT count(*) FROM segmentations").await
}

#[tokio::test]
async fn create_read_change_and_delete_a_segmentation() {
    let app = spawn_app().await;
    app.import_mall().await;
    let body = json!({"name": " Income and spend ", "config": {"features": ["annual_income_k", "spending_score"]}});
    let response = app.post_json("/v1/segmentations", &body).await;
    assert_eq!(response.status().as_u16(), 201);
    let location = response.headers()["location"].to_str().unwrap().to_owned();
    let created: Value = response.json().await.unwrap();
    assert_eq!(
        location,
        format!("/v1/segmentations/{}", created["id"].as_str().unwrap())
    );
    assert_eq!(created["name"], "Income and spend");
    assert_eq!(created["version"], 1);
    assert_eq!(created["auto_activate"], true);
    // Every default is filled in.
    assert_eq!(
        created["config"],
        json!({
            "features": ["annual_income_k", "spending_score"], "log1p": [], "scaling": "standard", "missing": "drop",
            "algorithm": {"type": "kmeans", "k": "auto", "k_min": 2, "k_max": 10, "k_rule": "silhouette", "n_init": "auto", "seed": 42}
        })
    );
    assert_eq!(json_ok(app.get(&location).await).await, created);
    let list = json_ok(app.get("/v1/segmentations").await).await;
    assert_eq!(list["segmentations"].as_array().unwrap().len(), 1);

    // Renaming keeps the version; a new configuration is a new version.
    let renamed = json_ok(
        app.client
            .patch(app.url(&location))
            .json(&json!({"name": "Spend"}))
            .send()
            .await
            .unwrap(),
    )
    .await;
    assert_eq!(
        (renamed["name"].as_str(), renamed["version"].as_i64()),
        (Some("Spend"), Some(1))
    );
    let config = json!({"features": ["age", "spending_score"], "log1p": ["spending_score"], "algorithm": {"type": "dbscan", "eps": 0.4, "min_points": 4}});
    let changed = json_ok(
        app.client
            .patch(app.url(&location))
            .json(&json!({"config": config, "auto_activate": false}))
            .send()
            .await
            .unwrap(),
    )
    .await;
    assert_eq!(changed["version"], 2);
    assert_eq!(changed["auto_activate"], false);
    assert_eq!(
        changed["config"]["algorithm"],
        json!({"type": "dbscan", "eps": 0.4, "min_points": 4})
    );
    let same = json_ok(
        app.client
            .patch(app.url(&location))
            .json(&json!({"config": config}))
            .send()
            .await
            .unwrap(),
    )
    .await;
    assert_eq!(
        same["version"], 2,
        "the same configuration again is not a new version"
    );

    assert_eq!(app.delete(&location).await.status().as_u16(), 204);
    assert_problem(app.get(&location).await, 404, "no segmentation").await;
    assert_problem(app.delete(&location).await, 404, "no segmentation").await;
    assert_problem(
        app.get("/v1/segmentations/not-a-uuid").await,
        404,
        "not-a-uuid",
    )
    .await;
    assert_eq!(count(&app).await, 0);
}

#[tokio::test]
async fn invalid_configurations_are_422s_naming_each_field() {
    let app = spawn_app().await;
    app.import_mall().await;
    let cases = [
        (json!({"features": []}), "config.features"),
        (
            json!({"features": ["income"]}),
            "unknown attribute `income`; numeric attributes are `age`, `annual_income_k`, `spending_score`",
        ),
        (json!({"features": ["gender"]}), "`gender` is categorical"),
        (json!({"features": ["age", "age"]}), "config.features[1]"),
        (
            json!({"features": ["age"], "log1p": ["spending_score"]}),
            "config.log1p[0]",
        ),
        (json!({"features": ["age"], "pca": 2}), "config.pca"),
        (
            json!({"features": ["age"], "algorithm": {"type": "kmeans", "k": 0}}),
            "config.algorithm.k: must be between 1 and 50, got 0",
        ),
        (
            json!({"features": ["age"], "algorithm": {"type": "kmeans", "k": 1_000_000_000}}),
            "config.algorithm.k: must be between 1 and 50, got 1000000000",
        ),
        (
            json!({"features": ["age"], "algorithm": {"type": "kmeans", "k": "auto", "k_min": 1}}),
            "config.algorithm.k_min",
        ),
        (
            json!({"features": ["age"], "algorithm": {"type": "ward", "k_min": 5, "k_max": 3}}),
            "config.algorithm.k_max",
        ),
        (
            json!({"features": ["age"], "algorithm": {"type": "kmeans", "n_init": 0}}),
            "config.algorithm.n_init: must be between 1 and 1000 or \\\"auto\\\", got 0",
        ),
        (
            json!({"features": ["age"], "algorithm": {"type": "kmeans", "n_init": 1001}}),
            "config.algorithm.n_init: must be between 1 and 1000 or \\\"auto\\\", got 1001",
        ),
        (
            json!({"features": ["age"], "algorithm": {"type": "kmeans", "n_init": "many"}}),
            "config.algorithm.n_init: data did not match any variant",
        ),
        (
            json!({"features": ["age"], "algorithm": {"type": "bisecting", "n_init": 0}}),
            "config.algorithm.n_init: must be between 1 and 1000",
        ),
        (
            json!({"features": ["age"], "algorithm": {"type": "bisecting", "k": 51}}),
            "config.algorithm.k: must be between 1 and 50, got 51",
        ),
        (
            json!({"features": ["age"], "algorithm": {"type": "bisecting", "covariance": "diag"}}),
            "config.algorithm: unknown field `covariance`, expected one of `type`, `k`, `k_min`, `k_max`, `k_rule`, `n_init`, `seed`",
        ),
        (
            json!({"features": ["age"], "algorithm": {"type": "minibatch_kmeans", "batch_size": 0}}),
            "config.algorithm.batch_size: must be between 1 and 1000000, got 0",
        ),
        (
            json!({"features": ["age"], "algorithm": {"type": "minibatch_kmeans", "max_iter": 1001}}),
            "config.algorithm.max_iter: must be between 1 and 1000, got 1001",
        ),
        (
            json!({"features": ["age"], "algorithm": {"type": "minibatch_kmeans", "n_init": 3}}),
            "config.algorithm: unknown field `n_init`",
        ),
        (
            json!({"features": ["age"], "algorithm": {"type": "dbscan", "eps": 0, "min_points": 5}}),
            "config.algorithm.eps",
        ),
        (
            json!({"features": ["age"], "algorithm": {"type": "dbscan", "eps": 0.5, "min_points": 1}}),
            "config.algorithm.min_points",
        ),
        (
            json!({"features": ["age"], "algorithm": {"type": "kmeans", "k": "many"}}),
            "config.algorithm.k: data did not match any variant",
        ),
        (
            json!({"features": ["age"], "algorithm": {"type": "gmm", "covariance": "spherical"}}),
            "config.algorithm.covariance: unknown variant `spherical`, expected `full` or `diag`",
        ),
        (
            json!({"features": ["age"], "algorithm": {"type": "kmeans", "covariance": "diag"}}),
            "config.algorithm: unknown field `covariance`",
        ),
        (
            json!({"features": ["age"], "algorithm": {"type": "spectral"}}),
            "config.algorithm.type: unknown variant `spectral`, expected one of `kmeans`, `gmm`, `dbscan`, `ward`, `bisecting`, `minibatch_kmeans`, `hdbscan`",
        ),
        (
            json!({"features": ["age"], "algorithm": {"k": 4}}),
            "config.algorithm: missing field `type`",
        ),
        (
            json!({"features": ["age"], "algorithm": {"type": "dbscan", "eps": "wide", "min_points": 5}}),
            "config.algorithm.eps: invalid type: string \\\"wide\\\", expected f64",
        ),
        (
            json!({"features": ["age"], "algorithm": {"type": "dbscan", "min_points": 5}}),
            "config.algorithm: missing field `eps`",
        ),
        (
            json!({"features": ["age"], "algorithm": {"type": "dbscan", "eps": 0.5, "min_points": 5, "k": 3}}),
            "config.algorithm: unknown field `k`, expected one of `type`, `eps`, `min_points`",
        ),
        (
            json!({"features": ["age"], "algorithm": {"type": "hdbscan", "min_cluster_size": 1}}),
            "config.algorithm.min_cluster_size: must be between 2 and 1000000, got 1",
        ),
        (
            json!({"features": ["age"], "algorithm": {"type": "hdbscan", "min_samples": 0}}),
            "config.algorithm.min_samples: must be between 1 and 1000, got 0",
        ),
        (
            json!({"features": ["age"], "algorithm": {"type": "hdbscan", "cluster_selection_method": "tallest"}}),
            "config.algorithm.cluster_selection_method: unknown variant `tallest`, expected `eom` or `leaf`",
        ),
        (
            json!({"features": ["age"], "algorithm": {"type": "hdbscan", "k": 4}}),
            "config.algorithm: unknown field `k`, expected one of `type`, `min_cluster_size`, `min_samples`, `cluster_selection_method`",
        ),
        (
            json!({"features": ["age"], "scaling": "zscore"}),
            "config.scaling",
        ),
        (
            json!({"features": ["age"], "colour": "red"}),
            "unknown field `colour`",
        ),
    ];
    for (config, needle) in cases {
        let response = app
            .post_json("/v1/segmentations", &json!({"name": "x", "config": config}))
            .await;
        assert_problem(response, 422, needle).await;
    }
    // Several problems at once are all named.
    let body = assert_problem(
        app.post_json("/v1/segmentations", &json!({"name": "x", "config": {"features": ["nope", "gender"], "algorithm": {"type": "kmeans", "k": -3}}})).await,
        422,
        "config.features[0]",
    )
    .await;
    assert_eq!(body["errors"].as_array().unwrap().len(), 3, "{body}");
    assert_problem(
        app.post_json(
            "/v1/segmentations",
            &json!({"name": "  ", "config": {"features": ["age"]}}),
        )
        .await,
        422,
        "name",
    )
    .await;
    assert_problem(
        app.post_json(
            "/v1/segmentations",
            &json!({"config": {"features": ["age"]}}),
        )
        .await,
        422,
        "missing field `name`",
    )
    .await;
    assert_eq!(count(&app).await, 0);
}

#[tokio::test]
async fn names_are_unique_and_bad_changes_change_nothing() {
    let app = spawn_app().await;
    app.import_mall().await;
    let a: Value = app
        .post_json(
            "/v1/segmentations",
            &json!({"name": "A", "config": {"features": ["age"]}}),
        )
        .await
        .json()
        .await
        .unwrap();
    app.post_json(
        "/v1/segmentations",
        &json!({"name": "B", "config": {"features": ["age"]}}),
    )
    .await;
    assert_problem(
        app.post_json(
            "/v1/segmentations",
            &json!({"name": "A", "config": {"features": ["age"]}}),
        )
        .await,
        409,
        "`A` exists already",
    )
    .await;
    let url = app.url(&format!("/v1/segmentations/{}", a["id"].as_str().unwrap()));
    assert_problem(
        app.client
            .patch(&url)
            .json(&json!({"name": "B"}))
            .send()
            .await
            .unwrap(),
        409,
        "name",
    )
    .await;
    assert_problem(
        app.client
            .patch(&url)
            .json(&json!({"name": "C", "config": {"features": ["gender"]}}))
            .send()
            .await
            .unwrap(),
        422,
        "config.features[0]",
    )
    .await;
    let unchanged = json_ok(app.client.get(&url).send().await.unwrap()).await;
    assert_eq!(
        (unchanged["name"].as_str(), unchanged["version"].as_i64()),
        (Some("A"), Some(1))
    );
    assert_eq!(count(&app).await, 2);
}

#[tokio::test]
async fn a_stored_configuration_gives_the_engine_its_parameters() {
    // The configuration validated at creation is exactly what a run will train: the engine
    // finds the Mall's five segments with it.
    let app = spawn_app().await;
    app.import_mall().await;
    let created: Value = app
        .post_json(
            "/v1/segmentations",
            &json!({"name": "Mall", "config": {"features": ["annual_income_k", "spending_score"]}}),
        )
        .await
        .json()
        .await
        .unwrap();
    let config: segstore::domain::segmentation::SegmentationConfig =
        serde_json::from_value(created["config"].clone()).unwrap();
    let mut conn = app.pool.acquire().await.unwrap();
    let catalogue = segstore::store::attributes::load(&mut *conn).await.unwrap();
    let params = config.validate(&catalogue, "config.").unwrap();
    let columns = segstore::ingest::dataset::columns_from_csv(
        &std::fs::read(crate::helpers::MALL_CSV).unwrap(),
        None,
    )
    .unwrap();
    let result = segstore::segmentation::pipeline::run(&columns, &params).unwrap();
    assert_eq!(result.k, 5);
}

/// PATCH is a JSON merge patch (RFC 7396), sent as `application/merge-patch+json` or as
/// `application/json`: only what it names changes, `null` removes a member (its default
/// applies), another algorithm type starts from that algorithm's defaults. What cannot be
/// removed or does not fit is a 422 naming the field, and nothing changes.
#[tokio::test]
async fn a_patch_is_a_json_merge_patch() {
    let app = spawn_app().await;
    app.import_mall().await;
    let created = crate::helpers::json_status(
        app.post_json(
            "/v1/segmentations",
            &json!({"name": "Mall", "description": "income and spend",
                    "config": {"features": ["annual_income_k", "spending_score"], "pca": 2,
                               "algorithm": {"type": "kmeans", "k": "auto", "n_init": 3}}}),
        )
        .await,
        201,
    )
    .await;
    let url = app.url(&format!(
        "/v1/segmentations/{}",
        created["id"].as_str().unwrap()
    ));
    let patch = |content_type: &'static str, body: Value| {
        app.client
            .patch(&url)
            .header("content-type", content_type)
            .body(body.to_string())
            .send()
    };
    let merge = "application/merge-patch+json";

    // The README's PATCH: k alone changes; the features, n_init and pca stay.
    let changed = json_ok(
        patch(
            merge,
            json!({"config": {"algorithm": {"type": "kmeans", "k": 4}}}),
        )
        .await
        .unwrap(),
    )
    .await;
    assert_eq!(changed["version"], 2);
    assert_eq!(
        changed["config"],
        json!({"features": ["annual_income_k", "spending_score"], "log1p": [], "scaling": "standard",
               "missing": "drop", "pca": 2,
               "algorithm": {"type": "kmeans", "k": 4, "k_min": 2, "k_max": 10, "k_rule": "silhouette",
                             "n_init": 3, "seed": 42}})
    );
    assert_eq!(changed["name"], "Mall");
    assert_eq!(changed["description"], "income and spend");

    // `application/json` is the same patch; `null` removes pca and the description, and
    // restores auto_activate's default; arrays are replaced whole.
    let changed = json_ok(
        patch(
            "application/json",
            json!({"description": null, "auto_activate": null,
                   "config": {"pca": null, "features": ["age", "spending_score"], "algorithm": {"n_init": 5}}}),
        )
        .await
        .unwrap(),
    )
    .await;
    assert_eq!(changed["version"], 3);
    assert_eq!(changed["description"], "");
    assert_eq!(changed["auto_activate"], true);
    assert_eq!(changed["config"].get("pca"), None);
    assert_eq!(
        changed["config"]["features"],
        json!(["age", "spending_score"])
    );
    assert_eq!(changed["config"]["algorithm"]["k"], 4);
    assert_eq!(changed["config"]["algorithm"]["n_init"], 5);

    // Another algorithm type does not inherit k-means' parameters.
    let changed = json_ok(
        patch(
            merge,
            json!({"config": {"algorithm": {"type": "ward", "k": 3}}}),
        )
        .await
        .unwrap(),
    )
    .await;
    assert_eq!(
        changed["config"]["algorithm"],
        json!({"type": "ward", "k": 3, "k_min": 2, "k_max": 10, "k_rule": "silhouette"})
    );
    assert_eq!(changed["version"], 4);

    // Refused, naming the field, and nothing changes.
    for (body, field) in [
        (json!({"name": null}), "\"name\""),
        (json!({"config": null}), "\"config\""),
        (
            json!({"config": {"features": null}}),
            "missing field `features`",
        ),
        (
            json!({"config": {"algorithm": {"type": "dbscan"}}}),
            "\"config.algorithm\"",
        ),
        (
            json!({"config": {"algorithm": {"k": 0}}}),
            "\"config.algorithm.k\"",
        ),
        (
            json!({"config": {"algorithm": {"k": "several"}}}),
            "\"config.algorithm.k\"",
        ),
        (
            json!({"config": {"algorithm": {"type": "hdbscan", "min_samples": "few"}}}),
            "\"config.algorithm.min_samples\"",
        ),
        (
            json!({"config": {"scaling": "cubic"}}),
            "\"config.scaling\"",
        ),
        (
            json!({"config": {"features": ["gender"]}}),
            "\"config.features[0]\"",
        ),
        (json!({"config": 7}), "\"config\""),
    ] {
        crate::helpers::assert_problem(patch(merge, body.clone()).await.unwrap(), 422, field).await;
    }
    crate::helpers::assert_problem(
        patch("text/plain", json!({"name": "X"})).await.unwrap(),
        415,
        "application/merge-patch+json",
    )
    .await;
    let unchanged = json_ok(app.client.get(&url).send().await.unwrap()).await;
    assert_eq!(unchanged, changed);
}
