//! Runs: the whole retraining story on the Mall customers, the queue's guarantees
//! (idempotency, one pending run, recovery of a dead worker's run), and every error path.

use crate::helpers::{
    TestApp, assert_problem, json_ok, slow_algorithm, slow_customers_csv, spawn_app,
    spawn_app_with, test_jobs,
};
use segstore::jobs::JobSettings;
use serde_json::{Value, json};
use std::time::Duration;

fn mall_config() -> Value {
    json!({
        "name": "Income and spend",
        "config": {
            "features": ["annual_income_k", "spending_score"],
            "algorithm": {"type": "kmeans", "k": "auto", "k_min": 2, "k_max": 10}
        }
    })
}

fn reference() -> Value {
    serde_json::from_str(
        &std::fs::read_to_string(concat!(
            env!("CARGO_MANIFEST_DIR"),
            "/tests/fixtures/mall_sklearn.json"
        ))
        .unwrap(),
    )
    .unwrap()
}

/// scikit-learn figures computed by `tests/fixtures/reference/mall_api.py`.
pub fn api_reference() -> Value {
    serde_json::from_str(
        &std::fs::read_to_string(concat!(
            env!("CARGO_MANIFEST_DIR"),
            "/tests/fixtures/reference/mall_api.json"
        ))
        .unwrap(),
    )
    .unwrap()
}

fn close(got: &Value, want: &Value, tolerance: f64) -> bool {
    (got.as_f64().unwrap() - want.as_f64().unwrap()).abs() <= tolerance
}

/// The distance in the standardised space between a customer with these original values and
/// a centroid (original units), with scikit-learn's scaler.
fn scaled_distance(reference: &Value, values: [f64; 2], centroid: &Value) -> f64 {
    let scaler = &reference["mall_income_score_scaled"];
    (0..2)
        .map(|j| {
            let scale = scaler["scaler_scale"][j].as_f64().unwrap();
            (values[j] - centroid[j].as_f64().unwrap()) / scale
        })
        .map(|d| d * d)
        .sum::<f64>()
        .sqrt()
}

/// The label the README's rule gives a centroid: each feature Low / Average / High by its
/// lift (segment mean − population mean) / population std beyond ±0.5.
fn expected_label(reference: &Value, centroid: &Value) -> String {
    let scaler = &reference["mall_income_score_scaled"];
    ["annual income", "spending score"]
        .iter()
        .enumerate()
        .map(|(j, name)| {
            let lift = (centroid[j].as_f64().unwrap() - scaler["scaler_mean"][j].as_f64().unwrap())
                / scaler["scaler_scale"][j].as_f64().unwrap();
            let level = if lift > 0.5 {
                "High"
            } else if lift < -0.5 {
                "Low"
            } else {
                "Average"
            };
            format!("{level} {name}")
        })
        .collect::<Vec<_>>()
        .join(" · ")
}

/// Segments sorted by centroid (income, then spend), as the reference lists them.
fn by_centroid(segments: &Value) -> Vec<Value> {
    let mut s = segments.as_array().unwrap().clone();
    s.sort_by(|a, b| {
        let ca = a["centroid"].as_array().unwrap();
        let cb = b["centroid"].as_array().unwrap();
        (ca[0].as_f64().unwrap(), ca[1].as_f64().unwrap())
            .partial_cmp(&(cb[0].as_f64().unwrap(), cb[1].as_f64().unwrap()))
            .unwrap()
    });
    s
}

fn segment_near(segments: &Value, income: f64, spend: f64) -> Value {
    segments
        .as_array()
        .unwrap()
        .iter()
        .find(|s| {
            let c = s["centroid"].as_array().unwrap();
            (c[0].as_f64().unwrap() - income).abs() < 1.0
                && (c[1].as_f64().unwrap() - spend).abs() < 1.0
        })
        .unwrap_or_else(|| panic!("no segment near ({income}, {spend}) in {segments:#}"))
        .clone()
}

/// A replica that only serves HTTP: its runs stay queued until a replica with workers runs.
fn no_workers() -> JobSettings {
    JobSettings {
        workers: 0,
        ..test_jobs()
    }
}

/// Assignment partitions attached to `assignments`.
async fn partitions(app: &TestApp) -> i64 {
    app.count("SELECT count(*) FROM pg_inherits WHERE inhparent = 'assignments'::regclass")
        .await
}

/// Assignment tables, attached or not.
async fn assignment_tables(app: &TestApp) -> i64 {
    app.count("SELECT count(*) FROM pg_tables WHERE tablename LIKE 'assignments\\_%'")
        .await
}

async fn segments_of(app: &TestApp, run: &str) -> Value {
    json_ok(app.get(&format!("/v1/runs/{run}/segments")).await).await
}

#[tokio::test]
async fn the_mall_story_from_import_to_comparison() {
    let app = spawn_app().await;
    app.import_mall().await;
    let seg = app.create_segmentation(mall_config()).await;

    // Trigger: 202 at once, queued, with Location.
    let queued = app.trigger(&seg).await;
    assert!(
        matches!(queued["status"].as_str(), Some("queued" | "running")),
        "{queued}"
    );
    assert_eq!(queued["trigger"], "api");
    assert_eq!(queued["params"]["features"][1], "spending_score");
    let run1 = app.wait_run(queued["id"].as_str().unwrap()).await;
    assert_eq!(run1["status"], "succeeded", "{run1:#}");
    let r1 = run1["id"].as_str().unwrap().to_owned();

    // k = 5 by the best silhouette, every customer used, timings per phase.
    assert_eq!(run1["k"], 5);
    assert_eq!(run1["k_rule"], "best silhouette");
    assert_eq!(run1["active"], true);
    assert_eq!(run1["progress"]["percent"], 100.0);
    assert_eq!(
        run1["customers"],
        json!({"snapshot": 200, "used": 200, "dropped": 0, "values_imputed": 0,
               "missing_values": {"annual_income_k": 0, "spending_score": 0}})
    );
    let phases: Vec<&str> = run1["timings"]
        .as_array()
        .unwrap()
        .iter()
        .map(|t| t["phase"].as_str().unwrap())
        .collect();
    // The first run becomes active: it records its members as changes.
    assert_eq!(phases, ["snapshot", "train", "write", "activate"]);
    // `n_init: "auto"`: 25,000 / 200 customers = 125 restarts, the best kept.
    assert_eq!(run1["fit"]["restarts"], 125, "{run1:#}");
    let reference = reference();
    let scaled = &reference["mall_income_score_scaled"]["k5"];
    let m = &run1["metrics"];
    assert!(
        (m["silhouette"].as_f64().unwrap()
            - scaled["metrics_on_scaled"]["silhouette"].as_f64().unwrap())
        .abs()
            < 1e-5
    );
    assert!(
        (m["inertia"].as_f64().unwrap() - scaled["inertia_scaled_space"].as_f64().unwrap()).abs()
            < 1e-4
    );

    // Five profiles equal to scikit-learn's (sizes and centroids in original units).
    let segments = segments_of(&app, &r1).await;
    assert_eq!(
        segments["features"],
        json!(["annual_income_k", "spending_score"])
    );
    let got = by_centroid(&segments["segments"]);
    let want = scaled["clusters_sorted_by_income_then_score_original_units"]
        .as_array()
        .unwrap();
    assert_eq!(got.len(), 5);
    for (g, w) in got.iter().zip(want) {
        assert_eq!(g["size"], w["size"], "{g}");
        let c = g["centroid"].as_array().unwrap();
        assert!((c[0].as_f64().unwrap() - w["annual_income_k"].as_f64().unwrap()).abs() < 1e-5);
        assert!((c[1].as_f64().unwrap() - w["spending_score"].as_f64().unwrap()).abs() < 1e-5);
        assert_eq!(
            g["label"],
            expected_label(&reference, &g["centroid"]),
            "{g}"
        );
        assert_eq!(g["computed_label"], g["label"]);
        assert!((g["share"].as_f64().unwrap() - g["size"].as_f64().unwrap() / 200.0).abs() < 1e-12);
    }
    let ids: Vec<i64> = got
        .iter()
        .map(|s| s["segment_id"].as_i64().unwrap())
        .collect();
    let mut sorted = ids.clone();
    sorted.sort();
    assert_eq!(sorted, [1, 2, 3, 4, 5], "first run's stable ids");

    // The elbow curves: k = 1..10, best silhouette at 5.
    let elbow = json_ok(app.get(&format!("/v1/runs/{r1}/elbow")).await).await;
    assert_eq!(elbow["curve"].as_array().unwrap().len(), 10);
    assert_eq!(elbow["best_silhouette_k"], 5);
    assert_eq!(elbow["k"], 5);
    // Every point of every curve: the engine's own sweep on the same data and parameters,
    // exactly, and no worse than scikit-learn's (equal where both find the same optimum:
    // k = 1 and the chosen k = 5; segstore's restarts find a lower inertia at k = 2).
    let engine = engine_curve(&["annual_income_k", "spending_score"]);
    assert_same_numbers(&elbow["curve"], &engine);
    let api = api_reference();
    let curve = elbow["curve"].as_array().unwrap();
    for (got, want) in curve
        .iter()
        .zip(api["kmeans_scaled"]["curve"].as_array().unwrap())
    {
        assert_eq!(got["k"], want["k"]);
        let rel = |key: &str| {
            (got[key].as_f64().unwrap() - want[key].as_f64().unwrap())
                / want[key].as_f64().unwrap().abs()
        };
        assert!(rel("inertia") <= 1e-6, "{got} vs {want}");
        if want["k"] == 1 {
            assert!(rel("inertia").abs() <= 1e-6, "{got} vs {want}");
            assert_eq!(got["silhouette"], Value::Null, "{got}");
        }
        if want["k"] == 5 {
            for key in [
                "inertia",
                "silhouette",
                "davies_bouldin",
                "calinski_harabasz",
            ] {
                assert!(rel(key).abs() <= 1e-5, "{key}: {got} vs {want}");
            }
        }
    }
    let customers = &api["kmeans_scaled"]["k5_customers"];

    // A customer's segment: 0002 (income 15, spend 81) is among the low-income big spenders.
    let impulsive = segment_near(&segments["segments"], 25.727273, 79.363636);
    let lookup = json_ok(
        app.get(&format!("/v1/segmentations/{seg}/customers/0002"))
            .await,
    )
    .await;
    assert_eq!(lookup["active_run_id"], r1.as_str());
    assert_eq!(lookup["current"]["segment_id"], impulsive["segment_id"]);
    assert_eq!(lookup["current"]["label"], impulsive["label"]);
    assert!(
        close(
            &lookup["current"]["score"],
            &customers["0002"]["distance"],
            1e-6
        ),
        "{lookup}"
    );
    assert_eq!(lookup["score"], "distance");
    // Later lookups are answered from the replica's memory once the run is loaded: the same
    // answer while PostgreSQL could not give it (the assignments are locked).
    from_memory(
        &app,
        &format!("/v1/segmentations/{seg}/customers/0002"),
        &lookup,
    )
    .await;

    // CSV export of the 200 assignments.
    let csv = app
        .client
        .get(app.url(&format!("/v1/runs/{r1}/assignments")))
        .header("accept", "text/csv")
        .send()
        .await
        .unwrap();
    assert_eq!(csv.status(), 200);
    assert!(
        csv.headers()["content-type"]
            .to_str()
            .unwrap()
            .starts_with("text/csv")
    );
    let text = csv.text().await.unwrap();
    let lines: Vec<&str> = text.lines().collect();
    assert_eq!(lines.len(), 201);
    assert_eq!(lines[0], "customer_id,segment_id,segment_label,distance");
    assert!(lines[2].starts_with("0002,"), "{}", lines[2]);
    // Each row: the customer's segment (the one whose centroid scikit-learn gives it), its
    // label, and the distance to that centroid in the scaled space.
    for line in &lines[1..] {
        let fields: Vec<&str> = line.split(',').collect();
        let want = &customers[fields[0]];
        let centroid = want["centroid"].as_array().unwrap();
        let segment = segment_near(
            &segments["segments"],
            centroid[0].as_f64().unwrap(),
            centroid[1].as_f64().unwrap(),
        );
        assert_eq!(fields[1], segment["segment_id"].to_string(), "{line}");
        assert_eq!(fields[2], segment["label"].as_str().unwrap(), "{line}");
        let distance: f64 = fields[3].parse().unwrap();
        assert!(
            (distance - want["distance"].as_f64().unwrap()).abs() <= 1e-6,
            "{line} vs {want}"
        );
    }
    let impulsive_rows = lines[1..]
        .iter()
        .filter(|l| l.split(',').nth(1) == Some(&impulsive["segment_id"].to_string()))
        .count();
    assert_eq!(impulsive_rows as i64, impulsive["size"].as_i64().unwrap());

    // Score a new customer with the active model: a rich big spender is a VIP.
    let vip = segment_near(&segments["segments"], 86.538462, 82.128205);
    let scored = json_ok(
        app.post_json(
            &format!("/v1/segmentations/{seg}/score"),
            &json!({"customers": [
                {"id": "prospect", "attributes": {"annual_income_k": 120, "spending_score": 90, "genre": "Female"}},
                {"attributes": {"annual_income_k": 16, "spending_score": 80}}
            ]}),
        )
        .await,
    )
    .await;
    assert_eq!(scored["run_id"], r1.as_str());
    assert_eq!(scored["customers"][0]["id"], "prospect");
    assert_eq!(
        scored["customers"][0]["segment"]["segment_id"],
        vip["segment_id"]
    );
    assert_eq!(
        scored["customers"][1]["segment"]["segment_id"],
        impulsive["segment_id"]
    );
    assert!(scored["customers"][1].get("id").is_none());
    // Scores are the distances to those segments' centroids in the scaled space.
    for (i, values, segment) in [(0, [120.0, 90.0], &vip), (1, [16.0, 80.0], &impulsive)] {
        let want = scaled_distance(&reference, values, &segment["centroid"]);
        let got = scored["customers"][i]["score"].as_f64().unwrap();
        assert!((got - want).abs() <= 1e-6, "{got} vs {want}");
    }
    assert_eq!(scored["score"], "distance");
    assert_eq!(app.customer_count().await, 200, "scoring writes nothing");

    // Three careful spenders (high income, low spend) start spending; retrain.
    let careful = segment_near(&segments["segments"], 88.2, 17.114286);
    let page = json_ok(
        app.get(&format!(
            "/v1/runs/{r1}/assignments?segment={}&limit=3",
            careful["segment_id"]
        ))
        .await,
    )
    .await;
    let movers: Vec<String> = page["assignments"]
        .as_array()
        .unwrap()
        .iter()
        .map(|a| a["customer_id"].as_str().unwrap().to_owned())
        .collect();
    assert_eq!(movers.len(), 3);
    let updates: Vec<Value> = movers
        .iter()
        .map(|id| json!({"id": id, "attributes": {"spending_score": 88}}))
        .collect();
    assert_eq!(app.upsert(json!(updates)).await.status(), 200);
    let run2 = app.run_to_success(&seg).await;
    let r2 = run2["id"].as_str().unwrap().to_owned();
    assert_eq!(run2["k"], 5);
    assert_eq!(run2["active"], true);
    let first = json_ok(app.get(&format!("/v1/runs/{r1}")).await).await;
    assert_eq!(first["active"], false);

    // Stable ids: every segment continues one of the first run's, with its id and label.
    let segments2 = segments_of(&app, &r2).await;
    for s in segments2["segments"].as_array().unwrap() {
        assert_eq!(s["matched_run_id"], r1.as_str(), "{s}");
        let c = s["centroid"].as_array().unwrap();
        let old = by_centroid(&segments["segments"])
            .into_iter()
            .min_by(|a, b| {
                let d = |x: &Value| {
                    let o = x["centroid"].as_array().unwrap();
                    (o[0].as_f64().unwrap() - c[0].as_f64().unwrap()).powi(2)
                        + (o[1].as_f64().unwrap() - c[1].as_f64().unwrap()).powi(2)
                };
                d(a).partial_cmp(&d(b)).unwrap()
            })
            .unwrap();
        assert_eq!(s["segment_id"], old["segment_id"], "{s}");
        assert_eq!(s["label"], old["label"]);
    }
    assert_eq!(
        json_ok(app.get(&format!("/v1/runs/{r2}/segments")).await).await["segments"]
            .as_array()
            .unwrap()
            .iter()
            .find(|s| s["segment_id"] == vip["segment_id"])
            .unwrap()["size"],
        vip["size"].as_i64().unwrap() + 3
    );

    // The comparison shows the three moves, and only them.
    let cmp = json_ok(app.get(&format!("/v1/runs/{r1}/compare/{r2}")).await).await;
    assert_eq!(cmp["customers_in_both"], 200);
    assert_eq!(cmp["moved"], 3, "{cmp:#}");
    assert_eq!(
        cmp["transitions"]
            .as_array()
            .unwrap()
            .iter()
            .find(|t| t["from"] == careful["segment_id"] && t["to"] == vip["segment_id"])
            .unwrap()["customers"],
        3
    );
    let mut moved: Vec<String> = cmp["movers"]
        .as_array()
        .unwrap()
        .iter()
        .map(|m| m["customer_id"].as_str().unwrap().to_owned())
        .collect();
    moved.sort();
    assert_eq!(moved, movers);
    let ari = cmp["adjusted_rand_index"].as_f64().unwrap();
    assert!(ari > 0.9 && ari < 1.0, "{ari}");
    let filtered = json_ok(
        app.get(&format!(
            "/v1/runs/{r1}/compare/{r2}?from={}&to={}&limit=2",
            careful["segment_id"], vip["segment_id"]
        ))
        .await,
    )
    .await;
    assert_eq!(filtered["movers"].as_array().unwrap().len(), 2);
    assert_eq!(filtered["next_after"], movers[1].as_str());

    // The customer's history spans both runs, newest first.
    let moved_id = &movers[0];
    let lookup = json_ok(
        app.get(&format!("/v1/segmentations/{seg}/customers/{moved_id}"))
            .await,
    )
    .await;
    assert_eq!(lookup["current"]["segment_id"], vip["segment_id"]);
    let history = lookup["history"].as_array().unwrap();
    assert_eq!(history.len(), 2);
    assert_eq!(history[0]["run_id"], r2.as_str());
    assert_eq!(history[1]["segment_id"], careful["segment_id"]);

    // Runs are listed newest first.
    let list = json_ok(app.get(&format!("/v1/segmentations/{seg}/runs")).await).await;
    let ids: Vec<&str> = list["runs"]
        .as_array()
        .unwrap()
        .iter()
        .map(|r| r["id"].as_str().unwrap())
        .collect();
    assert_eq!(ids, [r2.as_str(), r1.as_str()]);
}

#[tokio::test]
async fn the_same_seed_gives_the_same_assignments() {
    let app = spawn_app().await;
    app.import_mall().await;
    let seg = app.create_segmentation(mall_config()).await;
    let mut csvs = Vec::new();
    for _ in 0..2 {
        let run = app.run_to_success(&seg).await;
        let response = app
            .get(&format!(
                "/v1/runs/{}/assignments?format=csv",
                run["id"].as_str().unwrap()
            ))
            .await;
        assert_eq!(response.status(), 200);
        let csv = response.text().await.unwrap();
        assert_eq!(csv.lines().count(), 201, "{csv}");
        csvs.push(csv);
    }
    assert_eq!(csvs[0], csvs[1]);
}

#[tokio::test]
async fn assignments_page_by_customer_id_and_filter_by_segment() {
    let app = spawn_app().await;
    app.import_mall().await;
    let seg = app.create_segmentation(mall_config()).await;
    let run = app.run_to_success(&seg).await;
    let id = run["id"].as_str().unwrap();
    let mut seen = Vec::new();
    let mut after = String::new();
    loop {
        let page = json_ok(
            app.get(&format!("/v1/runs/{id}/assignments?limit=64&after={after}"))
                .await,
        )
        .await;
        assert_eq!(page["score"], "distance");
        for a in page["assignments"].as_array().unwrap() {
            assert!(a["label"].is_string());
            seen.push(a["customer_id"].as_str().unwrap().to_owned());
        }
        match page["next_after"].as_str() {
            Some(next) => after = next.to_owned(),
            None => break,
        }
    }
    assert_eq!(seen.len(), 200);
    let mut sorted = seen.clone();
    sorted.sort();
    assert_eq!(seen, sorted);
    let segments = segments_of(&app, id).await;
    let first = &segments["segments"][0];
    let page = json_ok(
        app.get(&format!(
            "/v1/runs/{id}/assignments?segment={}&limit=1000",
            first["segment_id"]
        ))
        .await,
    )
    .await;
    assert_eq!(
        page["assignments"].as_array().unwrap().len() as i64,
        first["size"].as_i64().unwrap()
    );

    for (query, field) in [
        ("segment=abc", "segment"),
        ("limit=0", "limit"),
        ("limit=10001", "limit"),
        ("limit=10001&format=csv", "limit"),
        ("format=xml", "format"),
        ("colour=red", "colour"),
    ] {
        assert_problem(
            app.get(&format!("/v1/runs/{id}/assignments?{query}")).await,
            422,
            field,
        )
        .await;
    }
}

#[tokio::test]
async fn retries_with_an_idempotency_key_return_the_same_run() {
    let app = spawn_app_with(no_workers()).await;
    app.import_mall().await;
    let seg = app.create_segmentation(mall_config()).await;
    let post = |key: Option<&'static str>, query: &'static str| {
        let mut request = app
            .client
            .post(app.url(&format!("/v1/segmentations/{seg}/runs{query}")));
        if let Some(key) = key {
            request = request.header("Idempotency-Key", key);
        }
        request.send()
    };
    let first = post(Some("nightly-2026-11-27"), "").await.unwrap();
    assert_eq!(first.status(), 202);
    let first: Value = first.json().await.unwrap();
    let again = post(Some("nightly-2026-11-27"), "").await.unwrap();
    assert_eq!(again.status(), 202);
    assert_eq!(again.headers()["idempotent-replayed"], "true");
    let again: Value = again.json().await.unwrap();
    assert_eq!(again["id"], first["id"]);

    // Another call while that run is queued: 409 naming it, unless queueing is asked for.
    let conflict = post(Some("other-key"), "").await.unwrap();
    assert_eq!(
        conflict.headers()["location"].to_str().unwrap(),
        format!("/v1/runs/{}", first["id"].as_str().unwrap())
    );
    let body = assert_problem(conflict, 409, "queued").await;
    assert_eq!(
        body["run"],
        format!("/v1/runs/{}", first["id"].as_str().unwrap())
    );
    let queued = post(None, "?queue=true").await.unwrap();
    assert_eq!(queued.status(), 202);
    let queued: Value = queued.json().await.unwrap();
    assert_ne!(queued["id"], first["id"]);
    assert_eq!(app.count("SELECT count(*) FROM runs").await, 2);

    for (key, needle) in [
        ("", "Idempotency-Key"),
        (&"k".repeat(256)[..], "Idempotency-Key"),
    ] {
        let response = app
            .client
            .post(app.url(&format!("/v1/segmentations/{seg}/runs")))
            .header("Idempotency-Key", key)
            .send()
            .await
            .unwrap();
        assert_problem(response, 422, needle).await;
    }
    assert_problem(
        app.client
            .post(app.url(&format!("/v1/segmentations/{seg}/runs?queue=maybe")))
            .send()
            .await
            .unwrap(),
        422,
        "queue",
    )
    .await;
}

#[tokio::test]
async fn twenty_concurrent_triggers_make_one_run() {
    let app = spawn_app_with(no_workers()).await;
    app.import_mall().await;
    let seg = app.create_segmentation(mall_config()).await;
    let url = app.url(&format!("/v1/segmentations/{seg}/runs"));
    let calls = (0..20).map(|_| app.client.post(&url).send());
    let responses = futures_util::future::join_all(calls).await;
    let mut accepted = Vec::new();
    let mut conflicts = Vec::new();
    for r in responses {
        let r = r.unwrap();
        let status = r.status().as_u16();
        let body: Value = r.json().await.unwrap();
        match status {
            202 => accepted.push(body["id"].as_str().unwrap().to_owned()),
            409 => conflicts.push(body["run"].as_str().unwrap().to_owned()),
            other => panic!("{other}: {body}"),
        }
    }
    assert_eq!(accepted.len(), 1);
    assert_eq!(conflicts.len(), 19);
    assert!(
        conflicts
            .iter()
            .all(|c| c == &format!("/v1/runs/{}", accepted[0]))
    );
    assert_eq!(app.count("SELECT count(*) FROM runs").await, 1);
}

#[tokio::test]
async fn a_failing_run_leaves_the_active_run_serving() {
    let app = spawn_app().await;
    app.import_mall().await;
    let seg = app.create_segmentation(mall_config()).await;
    let good = app.run_to_success(&seg).await;
    // A feature that every customer lacks: registered, then cleared everywhere.
    assert_eq!(
        app.upsert(json!([{"id": "0001", "attributes": {"tenure_years": 3}}]))
            .await
            .status(),
        200
    );
    assert_eq!(
        app.upsert(json!([{"id": "0001", "attributes": {"tenure_years": null}}]))
            .await
            .status(),
        200
    );
    let patched = app
        .client
        .patch(app.url(&format!("/v1/segmentations/{seg}")))
        .json(&json!({"config": {"features": ["annual_income_k", "tenure_years"]}}))
        .send()
        .await
        .unwrap();
    assert_eq!(patched.status(), 200);
    let queued = app.trigger(&seg).await;
    let failed = app.wait_run(queued["id"].as_str().unwrap()).await;
    assert_eq!(failed["status"], "failed", "{failed:#}");
    assert_eq!(failed["error"]["kind"], "engine");
    assert!(
        failed["error"]["message"]
            .as_str()
            .unwrap()
            .contains("all 200 rows miss"),
        "{failed:#}"
    );
    // The snapshot explains why: every customer lacks the new feature.
    assert_eq!(failed["customers"]["snapshot"], 200);
    assert_eq!(failed["customers"]["used"], Value::Null);
    assert_eq!(
        failed["customers"]["missing_values"],
        json!({"annual_income_k": 0, "tenure_years": 200})
    );
    assert_eq!(failed["active"], false);

    // The good run still serves lookups and scoring.
    let lookup = json_ok(
        app.get(&format!("/v1/segmentations/{seg}/customers/0002"))
            .await,
    )
    .await;
    assert_eq!(lookup["active_run_id"], good["id"]);
    assert!(lookup["current"]["segment_id"].is_i64());
    let segmentation = json_ok(app.get(&format!("/v1/segmentations/{seg}")).await).await;
    assert_eq!(segmentation["active_run_id"], good["id"]);
    // Its results are not readable, and it left no partition behind.
    assert_problem(
        app.get(&format!(
            "/v1/runs/{}/segments",
            failed["id"].as_str().unwrap()
        ))
        .await,
        409,
        "failed",
    )
    .await;
    assert_eq!(partitions(&app).await, 1);
    assert_eq!(assignment_tables(&app).await, 1);
    nothing_written_for(&app, failed["id"].as_str().unwrap()).await;
}

/// A run that did not succeed left no results: no segments, chart sample, model,
/// assignments or metrics.
async fn nothing_written_for(app: &TestApp, run: &str) {
    for table in ["run_segments", "run_chart_samples"] {
        assert_eq!(
            app.count(&format!(
                "SELECT count(*) FROM {table} WHERE run_id = '{run}'::uuid"
            ))
            .await,
            0,
            "{table}"
        );
    }
    assert_eq!(
        app.count(&format!(
            "SELECT count(*) FROM runs WHERE run_id = '{run}'::uuid
             AND model IS NULL AND k IS NULL AND NOT has_assignments
             AND coalesce(summary->'metrics', 'null') = 'null'"
        ))
        .await,
        1
    );
    assert_eq!(
        app.count(&format!(
            "SELECT count(*) FROM pg_tables WHERE tablename = 'assignments_{}'",
            run.replace('-', "")
        ))
        .await,
        0
    );
}

#[tokio::test]
async fn a_run_orphaned_by_a_dead_worker_is_recovered() {
    // Replica A has no workers; the run it queues is "claimed" by a worker that then dies.
    let a = spawn_app_with(no_workers()).await;
    a.import_mall().await;
    let seg = a.create_segmentation(mall_config()).await;
    let queued = a.trigger(&seg).await;
    let id = queued["id"].as_str().unwrap();
    sqlx::query(
        "UPDATE runs SET status = 'running', worker = 'killed-worker', attempts = 1,
                phase = 'training', lease_until = now() - interval '1 second',
                heartbeat_at = now() - interval '31 seconds'
         WHERE run_id = $1::uuid",
    )
    .bind(id)
    .execute(&a.pool)
    .await
    .unwrap();
    // Replica B's worker notices the lapsed lease, re-queues the run and trains it.
    let b = a.replica(test_jobs()).await;
    let run = b.wait_run(id).await;
    assert_eq!(run["status"], "succeeded", "{run:#}");
    // At least the retry after the lapse (a loaded machine may lapse a lease again).
    assert!(run["attempts"].as_i64().unwrap() >= 2, "{run:#}");
    let event = &run["events"][0];
    assert_eq!(event["event"], "lease expired");
    assert!(
        event["detail"].as_str().unwrap().contains("killed-worker"),
        "{event}"
    );
    assert_eq!(run["k"], 5);
}

#[tokio::test]
async fn a_run_whose_workers_keep_dying_fails_with_the_reason() {
    let a = spawn_app_with(no_workers()).await;
    a.import_mall().await;
    let seg = a.create_segmentation(mall_config()).await;
    let queued = a.trigger(&seg).await;
    let id = queued["id"].as_str().unwrap();
    sqlx::query(
        "UPDATE runs SET status = 'running', worker = 'killed-worker', attempts = 3,
                lease_until = now() - interval '1 second'
         WHERE run_id = $1::uuid",
    )
    .bind(id)
    .execute(&a.pool)
    .await
    .unwrap();
    let b = a.replica(test_jobs()).await;
    let run = b.wait_run(id).await;
    assert_eq!(run["status"], "failed");
    assert_eq!(run["error"]["kind"], "worker_lost");
    // The segmentation can be retrained.
    b.run_to_success(&seg).await;
}

#[tokio::test]
async fn runs_are_cancelled_and_activated_on_request() {
    let app = spawn_app_with(no_workers()).await;
    app.import_mall().await;
    let seg = app.create_segmentation(mall_config()).await;
    let queued = app.trigger(&seg).await;
    let id = queued["id"].as_str().unwrap();
    assert_problem(
        app.get(&format!("/v1/runs/{id}/segments")).await,
        409,
        "queued",
    )
    .await;
    let cancelled = app
        .client
        .post(app.url(&format!("/v1/runs/{id}/cancel")))
        .send()
        .await
        .unwrap();
    assert_eq!(cancelled.status(), 202);
    let cancelled: Value = cancelled.json().await.unwrap();
    assert_eq!(cancelled["status"], "cancelled");
    assert_problem(
        app.client
            .post(app.url(&format!("/v1/runs/{id}/cancel")))
            .send()
            .await
            .unwrap(),
        409,
        "cancelled",
    )
    .await;
    assert_problem(
        app.client
            .post(app.url(&format!("/v1/runs/{id}/activate")))
            .send()
            .await
            .unwrap(),
        409,
        "cancelled",
    )
    .await;

    // With auto-activation off, a run waits for an explicit activation.
    let manual = app
        .create_segmentation(json!({
            "name": "Manual",
            "auto_activate": false,
            "config": {"features": ["annual_income_k", "spending_score"], "algorithm": {"type": "kmeans", "k": 5}}
        }))
        .await;
    let worker = app.replica(test_jobs()).await;
    let run = worker.run_to_success(&manual).await;
    assert_eq!(run["active"], false);
    assert_eq!(run["k_rule"], "given");
    let rid = run["id"].as_str().unwrap();
    // Not active yet: the customer has a history but no current segment.
    let before = json_ok(
        app.get(&format!("/v1/segmentations/{manual}/customers/0001"))
            .await,
    )
    .await;
    assert_eq!(before["active_run_id"], Value::Null);
    assert_eq!(before["current"], Value::Null);
    assert_eq!(before["history"].as_array().unwrap().len(), 1);
    let activated = json_ok(
        app.client
            .post(app.url(&format!("/v1/runs/{rid}/activate")))
            .send()
            .await
            .unwrap(),
    )
    .await;
    assert_eq!(activated["active"], true);
    let lookup = json_ok(
        app.get(&format!("/v1/segmentations/{manual}/customers/0001"))
            .await,
    )
    .await;
    assert_eq!(lookup["active_run_id"], rid);
    // k given: no curve, but the elbow answers.
    let elbow = json_ok(app.get(&format!("/v1/runs/{rid}/elbow")).await).await;
    assert_eq!(elbow["curve"], json!([]));
    assert_eq!(elbow["k_rule"], "given");
}

#[tokio::test]
async fn lookups_and_scores_refuse_what_they_cannot_answer() {
    let app = spawn_app().await;
    app.import_mall().await;
    let seg = app.create_segmentation(mall_config()).await;
    let nil = "00000000-0000-0000-0000-000000000000";
    assert_problem(app.get(&format!("/v1/runs/{nil}")).await, 404, nil).await;
    assert_problem(app.get("/v1/runs/not-a-uuid").await, 404, "not-a-uuid").await;
    assert_problem(
        app.client
            .post(app.url(&format!("/v1/segmentations/{nil}/runs")))
            .send()
            .await
            .unwrap(),
        404,
        nil,
    )
    .await;
    assert_problem(
        app.get(&format!("/v1/segmentations/{nil}/runs")).await,
        404,
        nil,
    )
    .await;
    // No active run yet.
    assert_problem(
        app.post_json(
            &format!("/v1/segmentations/{seg}/score"),
            &json!({"customers": [{"attributes": {"annual_income_k": 1, "spending_score": 2}}]}),
        )
        .await,
        409,
        "no active run",
    )
    .await;
    app.run_to_success(&seg).await;
    assert_problem(
        app.get(&format!("/v1/segmentations/{seg}/customers/nobody"))
            .await,
        404,
        "nobody",
    )
    .await;
    // A customer added after the run: known, but not segmented yet.
    assert_eq!(
        app.upsert(json!([{"id": "newcomer", "attributes": {"annual_income_k": 50}}]))
            .await
            .status(),
        200
    );
    let lookup = json_ok(
        app.get(&format!("/v1/segmentations/{seg}/customers/newcomer"))
            .await,
    )
    .await;
    assert_eq!(lookup["current"], Value::Null);
    assert_eq!(lookup["history"], json!([]));

    let path = format!("/v1/segmentations/{seg}/score");
    let score = |body: Value| {
        let request = app.client.post(app.url(&path)).json(&body);
        async move { request.send().await.unwrap() }
    };
    assert_problem(
        score(json!({"customers": [{"attributes": {"annual_income_k": 10}}]})).await,
        422,
        "customers[0].attributes.spending_score",
    )
    .await;
    assert_problem(
        score(json!({"customers": [{"attributes": {"annual_income_k": "rich", "spending_score": 3}}]})).await,
        422,
        "customers[0].attributes.annual_income_k",
    )
    .await;
    assert_problem(score(json!({"customers": []})).await, 422, "customers").await;
    let many: Vec<Value> = (0..10_001).map(|_| json!({"attributes": {}})).collect();
    assert_problem(score(json!({"customers": many})).await, 422, "10000").await;
    assert_problem(score(json!({"people": []})).await, 422, "people").await;
}

#[tokio::test]
async fn retention_keeps_the_newest_assignments_and_every_profile() {
    let app = spawn_app_with(JobSettings {
        keep_assignments: 1,
        ..test_jobs()
    })
    .await;
    app.import_mall().await;
    let seg = app.create_segmentation(mall_config()).await;
    let r1 = app.run_to_success(&seg).await;
    let r2 = app.run_to_success(&seg).await;
    let (r1, r2) = (r1["id"].as_str().unwrap(), r2["id"].as_str().unwrap());
    // Retention runs right after the run's commit: wait for it.
    let deadline = std::time::Instant::now() + Duration::from_secs(30);
    while app
        .get(&format!("/v1/runs/{r1}/assignments"))
        .await
        .status()
        == 200
    {
        assert!(
            std::time::Instant::now() < deadline,
            "retention did not drop run 1"
        );
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    assert_problem(
        app.get(&format!("/v1/runs/{r1}/assignments")).await,
        410,
        "retention",
    )
    .await;
    assert_eq!(
        segments_of(&app, r1).await["segments"]
            .as_array()
            .unwrap()
            .len(),
        5
    );
    json_ok(app.get(&format!("/v1/runs/{r2}/assignments")).await).await;
    assert_problem(
        app.get(&format!("/v1/runs/{r1}/compare/{r2}")).await,
        410,
        r1,
    )
    .await;
    assert_eq!(assignment_tables(&app).await, 1);

    // Deleting the segmentation drops its runs and their partitions.
    assert_eq!(
        app.delete(&format!("/v1/segmentations/{seg}"))
            .await
            .status(),
        204
    );
    assert_eq!(assignment_tables(&app).await, 0);
    assert_eq!(app.count("SELECT count(*) FROM runs").await, 0);
}

#[tokio::test]
async fn a_due_schedule_queues_one_run_across_replicas() {
    let app = spawn_app().await;
    app.import_mall().await;
    let mut config = mall_config();
    config["schedule"] = json!("0 3 * * *");
    let seg = app.create_segmentation(config).await;
    let created = json_ok(app.get(&format!("/v1/segmentations/{seg}")).await).await;
    assert_eq!(created["schedule"], "0 3 * * *");
    let next: chrono::DateTime<chrono::Utc> =
        created["next_run_at"].as_str().unwrap().parse().unwrap();
    assert_eq!(next.format("%H:%M:%S").to_string(), "03:00:00");
    assert!(next > chrono::Utc::now());

    // Make it due, with a second replica competing for it.
    let replica = app.replica(test_jobs()).await;
    sqlx::query("UPDATE segmentations SET next_run_at = now() - interval '1 second'")
        .execute(&app.pool)
        .await
        .unwrap();
    let deadline = std::time::Instant::now() + Duration::from_secs(60);
    let run = loop {
        let list = json_ok(app.get(&format!("/v1/segmentations/{seg}/runs")).await).await;
        if let Some(run) = list["runs"].as_array().unwrap().first()
            && run["status"] == "succeeded"
        {
            break run.clone();
        }
        assert!(std::time::Instant::now() < deadline);
        tokio::time::sleep(Duration::from_millis(100)).await;
    };
    tokio::time::sleep(Duration::from_millis(300)).await;
    let list = json_ok(replica.get(&format!("/v1/segmentations/{seg}/runs")).await).await;
    assert_eq!(list["runs"].as_array().unwrap().len(), 1, "{list:#}");
    // Forced: eight replicas' housekeeping at the same instant queue one run between them.
    // The two live replicas' own housekeeping races too, and may win: then the eight queue
    // none, and the run count below still says that exactly one run was queued in all.
    sqlx::query("UPDATE segmentations SET next_run_at = now() - interval '1 second'")
        .execute(&app.pool)
        .await
        .unwrap();
    let pool: segstore::store::Pool = app.pool.clone().into();
    let racing = (0..8).map(|_| segstore::service::runs::schedule::enqueue_due(&pool));
    let queued: usize = futures_util::future::join_all(racing)
        .await
        .into_iter()
        .map(Result::unwrap)
        .sum();
    assert!(queued <= 1, "{queued} runs queued for one due schedule");
    // A live replica that won holds the claim until it commits.
    let runs = format!("SELECT count(*) FROM runs WHERE segmentation_id = '{seg}'::uuid");
    let deadline = std::time::Instant::now() + Duration::from_secs(10);
    while app.count(&runs).await < 2 && std::time::Instant::now() < deadline {
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    tokio::time::sleep(Duration::from_millis(300)).await;
    assert_eq!(app.count(&runs).await, 2);
    assert_eq!(run["trigger"], "schedule");
    let after = json_ok(app.get(&format!("/v1/segmentations/{seg}")).await).await;
    let next: chrono::DateTime<chrono::Utc> =
        after["next_run_at"].as_str().unwrap().parse().unwrap();
    assert!(next > chrono::Utc::now());

    // Schedules are validated, and can be removed.
    for bad in ["0 3 * *", "0 25 * * *", "every night"] {
        let response = app
            .client
            .patch(app.url(&format!("/v1/segmentations/{seg}")))
            .json(&json!({ "schedule": bad }))
            .send()
            .await
            .unwrap();
        assert_problem(response, 422, "schedule").await;
    }
    let removed = app
        .client
        .patch(app.url(&format!("/v1/segmentations/{seg}")))
        .json(&json!({ "schedule": null }))
        .send()
        .await
        .unwrap();
    let removed: Value = removed.json().await.unwrap();
    assert_eq!(removed["schedule"], Value::Null);
    assert_eq!(removed["next_run_at"], Value::Null);
}

#[tokio::test]
async fn a_running_run_cancelled_through_the_api_stops_and_writes_nothing() {
    // Enough customers that training takes a while: the cancel lands while it runs, the
    // worker learns of it from its heartbeat and stops at the next phase boundary.
    let app = spawn_app().await;
    let csv = slow_customers_csv("c");
    json_ok(app.import_csv("", csv).await).await;
    let seg = app
        .create_segmentation(json!({
            "name": "Slow",
            "config": {"features": ["a", "b", "c", "d"], "algorithm": slow_algorithm()}
        }))
        .await;
    let queued = app.trigger(&seg).await;
    let id = queued["id"].as_str().unwrap();
    let deadline = std::time::Instant::now() + Duration::from_secs(60);
    loop {
        let run = json_ok(app.get(&format!("/v1/runs/{id}")).await).await;
        if run["progress"]["phase"] == "training" {
            break;
        }
        assert!(
            matches!(run["status"].as_str(), Some("queued" | "running")),
            "{run:#}"
        );
        assert!(std::time::Instant::now() < deadline, "{run:#}");
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    let response = app
        .client
        .post(app.url(&format!("/v1/runs/{id}/cancel")))
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), 202);
    let asked: Value = response.json().await.unwrap();
    assert_eq!(asked["status"], "running", "{asked:#}");
    assert_eq!(asked["cancel_requested"], true);
    let run = app.wait_run(id).await;
    assert_eq!(run["status"], "cancelled", "{run:#}");
    assert_eq!(run["active"], false);
    assert_eq!(partitions(&app).await, 0);
    nothing_written_for(&app, id).await;
    let segmentation = json_ok(app.get(&format!("/v1/segmentations/{seg}")).await).await;
    assert_eq!(segmentation["active_run_id"], Value::Null);
    // A cancelled run does not block the next one.
    let next = app.trigger(&seg).await;
    assert_ne!(next["id"], queued["id"]);
}

/// Equal JSON but for floating-point summation order (1e-12, relative).
pub fn assert_same_numbers(got: &Value, want: &Value) {
    match (got, want) {
        (Value::Number(g), Value::Number(w)) => {
            let (g, w) = (g.as_f64().unwrap(), w.as_f64().unwrap());
            assert!((g - w).abs() <= 1e-12 * w.abs().max(1.0), "{g} vs {w}");
        }
        (Value::Array(g), Value::Array(w)) => {
            assert_eq!(g.len(), w.len(), "{got} vs {want}");
            g.iter().zip(w).for_each(|(g, w)| assert_same_numbers(g, w));
        }
        (Value::Object(g), Value::Object(w)) => {
            assert_eq!(
                g.keys().collect::<Vec<_>>(),
                w.keys().collect::<Vec<_>>(),
                "{got} vs {want}"
            );
            g.values()
                .zip(w.values())
                .for_each(|(g, w)| assert_same_numbers(g, w));
        }
        _ => assert_eq!(got, want),
    }
}

/// The k-selection curve the engine computes in-process for the default K-Means
/// configuration (standardised, k auto 2..10, n_init auto, seed 42) on the Mall features.
fn engine_curve(features: &[&str]) -> Value {
    use segstore::segmentation::kmeans::KMeansParams;
    use segstore::segmentation::kmeans::plugin::KMeansAlgorithm;
    use segstore::segmentation::pipeline::{self, Algorithm, KChoice, RunParams};
    use segstore::segmentation::preprocess::{Missing, PreprocessParams, Scaling};
    use segstore::segmentation::selection::KRule;
    let csv = std::fs::read(crate::helpers::MALL_CSV).unwrap();
    let columns = segstore::ingest::dataset::columns_from_csv(&csv[..], None).unwrap();
    let names: Vec<String> = features.iter().map(|f| (*f).to_owned()).collect();
    let params = RunParams {
        preprocess: PreprocessParams::new(&names, &[], Scaling::Standard, Missing::Drop),
        k: KChoice::Auto {
            min: 2,
            max: 10,
            rule: KRule::Silhouette,
        },
        kmeans: KMeansParams::new(1).seed(42),
        algorithm: Algorithm::new(KMeansAlgorithm),
        reduce: None,
        chart_sample: None,
        sweep_sample: segstore::segmentation::pipeline::SWEEP_SAMPLE_ROWS,
        warm_start: None,
    };
    let result = pipeline::run(&columns, &params).unwrap();
    serde_json::to_value(&result.k_selection.unwrap().curve).unwrap()
}

/// Asserts that `path` answers `expected` while the assignments are locked in PostgreSQL
/// (so an answer can only come from the replica's memory), once the run has been loaded
/// into memory in the background (tried for up to 20 s).
pub async fn from_memory(app: &TestApp, path: &str, expected: &Value) {
    let deadline = std::time::Instant::now() + Duration::from_secs(20);
    loop {
        let mut tx = app.pool.begin().await.unwrap();
        sqlx::query("LOCK TABLE assignments IN ACCESS EXCLUSIVE MODE")
            .execute(&mut *tx)
            .await
            .unwrap();
        let answer = app
            .client
            .get(app.url(path))
            .timeout(Duration::from_millis(1500))
            .send()
            .await;
        tx.rollback().await.unwrap();
        if let Ok(response) = answer {
            assert_eq!(&json_ok(response).await, expected);
            return;
        }
        assert!(
            std::time::Instant::now() < deadline,
            "{path} never answered without PostgreSQL's assignments: not served from memory"
        );
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
}

#[tokio::test]
async fn stable_ids_follow_k_and_start_over_when_the_features_change() {
    let app = spawn_app().await;
    app.import_mall().await;
    let config = |features: Value, k: i64| json!({"config": {"features": features, "algorithm": {"type": "kmeans", "k": k}}});
    let seg = app
        .create_segmentation(json!({
            "name": "Stable",
            "config": config(json!(["annual_income_k", "spending_score"]), 5)["config"]
        }))
        .await;
    let r1 = app.run_to_success(&seg).await;
    let r1 = r1["id"].as_str().unwrap().to_owned();
    let patch = |body: Value| {
        let request = app
            .client
            .patch(app.url(&format!("/v1/segmentations/{seg}")))
            .json(&body);
        async move { assert_eq!(request.send().await.unwrap().status(), 200) }
    };
    let ids = |segments: &Value| -> Vec<i64> {
        let mut ids: Vec<i64> = segments["segments"]
            .as_array()
            .unwrap()
            .iter()
            .map(|s| s["segment_id"].as_i64().unwrap())
            .collect();
        ids.sort_unstable();
        ids
    };

    // k = 6: five segments continue the first run's (its ids and labels), one is new (6).
    patch(config(json!(["annual_income_k", "spending_score"]), 6)).await;
    let r2 = app.run_to_success(&seg).await;
    let r2 = r2["id"].as_str().unwrap().to_owned();
    let first = segments_of(&app, &r1).await;
    let second = segments_of(&app, &r2).await;
    assert_eq!(ids(&second), [1, 2, 3, 4, 5, 6]);
    let matched: Vec<&Value> = second["segments"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|s| s["matched_run_id"] == r1.as_str())
        .collect();
    assert_eq!(matched.len(), 5, "{second:#}");
    for s in matched {
        let old = first["segments"]
            .as_array()
            .unwrap()
            .iter()
            .find(|o| o["segment_id"] == s["segment_id"])
            .unwrap();
        assert_eq!(s["label"], old["label"]);
        assert!(s["matched_distance"].as_f64().unwrap() >= 0.0);
    }
    let new = second["segments"]
        .as_array()
        .unwrap()
        .iter()
        .find(|s| s["matched_run_id"].is_null())
        .unwrap();
    assert_eq!(new["segment_id"], 6);
    assert_eq!(new["label"], new["computed_label"]);

    // Other features: nothing to match, every segment gets a new id.
    patch(config(json!(["age", "spending_score"]), 4)).await;
    let r3 = app.run_to_success(&seg).await;
    let third = segments_of(&app, r3["id"].as_str().unwrap()).await;
    assert_eq!(ids(&third), [7, 8, 9, 10]);
    assert!(
        third["segments"]
            .as_array()
            .unwrap()
            .iter()
            .all(|s| s["matched_run_id"].is_null())
    );
    assert_eq!(r3["matching"]["previous_run_id"], r2.as_str());
}

#[tokio::test]
async fn a_cancel_that_meets_the_result_write_waits_for_it_and_answers_succeeded() {
    // The result write holds the run's row until it commits: a cancel that arrives then
    // waits, finds the run succeeded, and answers 409; the results are whole.
    let app = spawn_app().await;
    json_ok(app.import_csv("", slow_customers_csv("w")).await).await;
    let seg = app
        .create_segmentation(json!({
            "name": "Written",
            "config": {"features": ["a", "b", "c", "d"], "algorithm": slow_algorithm()}
        }))
        .await;
    let queued = app.trigger(&seg).await;
    let id = queued["id"].as_str().unwrap().to_owned();
    let deadline = std::time::Instant::now() + Duration::from_secs(60);
    while json_ok(app.get(&format!("/v1/runs/{id}")).await).await["progress"]["phase"] != "training"
    {
        assert!(std::time::Instant::now() < deadline);
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    // Hold the segmentation's row: the worker's result write will wait for it, holding the
    // run's row.
    let mut hold = app.pool.begin().await.unwrap();
    sqlx::query("SELECT 1 FROM segmentations WHERE segmentation_id = $1::uuid FOR UPDATE")
        .bind(&seg)
        .execute(&mut *hold)
        .await
        .unwrap();
    let waiting = |pattern: &'static str| {
        let pool = app.pool.clone();
        async move {
            let deadline = std::time::Instant::now() + Duration::from_secs(60);
            loop {
                let n: i64 = sqlx::query_scalar(
                    "SELECT count(*) FROM pg_stat_activity
                     WHERE wait_event_type = 'Lock' AND query LIKE $1",
                )
                .bind(pattern)
                .fetch_one(&pool)
                .await
                .unwrap();
                if n > 0 {
                    return;
                }
                assert!(
                    std::time::Instant::now() < deadline,
                    "nobody waits on {pattern}"
                );
                tokio::time::sleep(Duration::from_millis(20)).await;
            }
        }
    };
    waiting("%FROM segmentations%FOR UPDATE%").await;
    let cancel = tokio::spawn({
        let client = app.client.clone();
        let url = app.url(&format!("/v1/runs/{id}/cancel"));
        async move { client.post(url).send().await.unwrap() }
    });
    waiting("%UPDATE runs SET%cancel_requested = true%").await;
    hold.rollback().await.unwrap();
    assert_problem(cancel.await.unwrap(), 409, "succeeded").await;
    let run = json_ok(app.get(&format!("/v1/runs/{id}")).await).await;
    assert_eq!(run["status"], "succeeded", "{run:#}");
    assert_eq!(run["active"], true);
    assert_eq!(run["cancel_requested"], false);
    assert_eq!(partitions(&app).await, 1);
    let segments = segments_of(&app, &id).await;
    let total: i64 = segments["segments"]
        .as_array()
        .unwrap()
        .iter()
        .map(|s| s["size"].as_i64().unwrap())
        .sum();
    assert_eq!(total, 2_000);
}
