//! The Gaussian mixture and Ward through the API: runs, scores (probabilities and
//! distances), CSV exports, lookups, `/score` and charts, against scikit-learn's figures
//! (`tests/fixtures/reference/mall_api.py`).

use crate::helpers::{TestApp, json_ok, mall_customers, spawn_app};
use crate::runs::api_reference;
use serde_json::{Value, json};
use std::collections::HashMap;

/// Each Mall customer's (income, spending score).
fn mall_values() -> HashMap<String, [f64; 2]> {
    mall_customers()
        .into_iter()
        .map(|(id, [_, income, spend])| (id, [income, spend]))
        .collect()
}

async fn mall_run(app: &TestApp, algorithm: Value) -> (String, String, Value) {
    app.import_mall().await;
    let seg = app
        .create_segmentation(json!({
            "name": "Algorithm",
            "config": {"features": ["annual_income_k", "spending_score"], "scaling": "none",
                       "algorithm": algorithm}
        }))
        .await;
    let run = app.run_to_success(&seg).await;
    let id = run["id"].as_str().unwrap().to_owned();
    (seg, id, run)
}

async fn csv_rows(app: &TestApp, run: &str) -> (String, Vec<Vec<String>>) {
    let response = app
        .get(&format!("/v1/runs/{run}/assignments?format=csv"))
        .await;
    assert_eq!(response.status(), 200);
    let text = response.text().await.unwrap();
    let mut lines = text.lines();
    let header = lines.next().unwrap().to_owned();
    let rows = lines
        .map(|l| l.split(',').map(str::to_owned).collect())
        .collect();
    (header, rows)
}

/// The segments' sizes, largest first.
pub fn sizes_desc(segments: &Value) -> Vec<i64> {
    let mut sizes: Vec<i64> = segments["segments"]
        .as_array()
        .unwrap()
        .iter()
        .map(|s| s["size"].as_i64().unwrap())
        .collect();
    sizes.sort_unstable_by(|a, b| b.cmp(a));
    sizes
}

fn expected_sizes(reference: &Value) -> Vec<i64> {
    reference["sizes_desc"]
        .as_array()
        .unwrap()
        .iter()
        .map(|v| v.as_i64().unwrap())
        .collect()
}

#[tokio::test]
async fn a_gaussian_mixture_scores_customers_by_membership_probability() {
    let app = spawn_app().await;
    let (seg, run, body) = mall_run(&app, json!({"type": "gmm", "k": 5})).await;
    assert_eq!(body["score"], "probability");
    assert_eq!(body["k"], 5);
    assert!(body["fit"]["mixture"].is_object(), "{body:#}");
    let reference = &api_reference()["gmm_unscaled"];
    let segments = json_ok(app.get(&format!("/v1/runs/{run}/segments")).await).await;
    assert_eq!(sizes_desc(&segments), expected_sizes(reference));

    // The export's last column is each customer's probability, as scikit-learn computes it.
    let (header, rows) = csv_rows(&app, &run).await;
    assert_eq!(header, "customer_id,segment_id,segment_label,probability");
    assert_eq!(rows.len(), 200);
    let mut probability = HashMap::new();
    for row in &rows {
        let want = &reference["customers"][&row[0]];
        let got: f64 = row[3].parse().unwrap();
        assert!(
            (got - want["probability"].as_f64().unwrap()).abs() <= 1e-3,
            "{row:?} vs {want}"
        );
        probability.insert(row[0].clone(), (row[1].parse::<i64>().unwrap(), got));
    }

    // A lookup and `/score` of the same values give the same segment and probability.
    let lookup = json_ok(
        app.get(&format!("/v1/segmentations/{seg}/customers/0002"))
            .await,
    )
    .await;
    assert_eq!(lookup["score"], "probability");
    let (segment, p) = probability["0002"];
    assert_eq!(lookup["current"]["segment_id"], segment);
    assert_eq!(lookup["current"]["score"].as_f64().unwrap(), p);
    let values = mall_values();
    let scored = json_ok(
        app.post_json(
            &format!("/v1/segmentations/{seg}/score"),
            &json!({"customers": [{"attributes": {
                "annual_income_k": values["0002"][0], "spending_score": values["0002"][1]}}]}),
        )
        .await,
    )
    .await;
    assert_eq!(scored["score"], "probability");
    assert_eq!(scored["customers"][0]["segment"]["segment_id"], segment);
    assert!((scored["customers"][0]["score"].as_f64().unwrap() - p).abs() <= 1e-9);

    // Its charts draw (no elbow: k was given).
    for chart in ["scatter", "segments"] {
        let response = app.get(&format!("/v1/runs/{run}/charts/{chart}.svg")).await;
        assert_eq!(response.status(), 200, "{chart}");
        let svg = response.text().await.unwrap();
        assert!(svg.starts_with("<svg"), "{chart}");
    }
}

#[tokio::test]
async fn a_diagonal_mixture_is_stored_with_its_covariance_and_fits_like_scikit_learn() {
    let app = spawn_app().await;
    app.import_mall().await;
    let seg = app
        .create_segmentation(json!({
            "name": "Diagonal",
            "config": {"features": ["annual_income_k", "spending_score"],
                       "algorithm": {"type": "gmm", "k": 5, "covariance": "diag"}}
        }))
        .await;
    let config = json_ok(app.get(&format!("/v1/segmentations/{seg}")).await).await;
    assert_eq!(config["config"]["algorithm"]["covariance"], "diag");
    let run = app.run_to_success(&seg).await;
    assert_eq!(run["params"]["algorithm"]["covariance"], "diag", "{run:#}");
    assert_eq!(run["score"], "probability");
    // scikit-learn's GaussianMixture(5, covariance_type="diag") on the standardized features
    // (tests/fixtures/reference/dbscan_gmm.py).
    let mixture = &run["fit"]["mixture"];
    let want = -2.2862910980855222;
    let got = mixture["mean_log_likelihood"].as_f64().unwrap();
    assert!((got - want).abs() <= 1e-3 * want.abs(), "{mixture}");
    assert!(run["fit"]["n_iter"].as_u64().unwrap() >= 1, "{run:#}");
    // Omitted, the covariance is full.
    let full = app
        .create_segmentation(json!({
            "name": "Full",
            "config": {"features": ["annual_income_k", "spending_score"],
                       "algorithm": {"type": "gmm", "k": 5}}
        }))
        .await;
    let config = json_ok(app.get(&format!("/v1/segmentations/{full}")).await).await;
    assert_eq!(config["config"]["algorithm"]["covariance"], "full");
}

#[tokio::test]
async fn ward_scores_customers_by_distance_to_the_nearest_member_mean() {
    let app = spawn_app().await;
    let (seg, run, body) = mall_run(&app, json!({"type": "ward", "k": 5})).await;
    assert_eq!(body["score"], "distance");
    let reference = &api_reference()["ward_unscaled"];
    let segments = json_ok(app.get(&format!("/v1/runs/{run}/segments")).await).await;
    assert_eq!(sizes_desc(&segments), expected_sizes(reference));
    let centroid: HashMap<i64, [f64; 2]> = segments["segments"]
        .as_array()
        .unwrap()
        .iter()
        .map(|s| {
            let c = s["centroid"].as_array().unwrap();
            (
                s["segment_id"].as_i64().unwrap(),
                [c[0].as_f64().unwrap(), c[1].as_f64().unwrap()],
            )
        })
        .collect();
    let distance =
        |v: [f64; 2], c: [f64; 2]| ((v[0] - c[0]).powi(2) + (v[1] - c[1]).powi(2)).sqrt();

    // Unscaled: each exported distance is the one to its segment's member mean.
    let values = mall_values();
    let (header, rows) = csv_rows(&app, &run).await;
    assert_eq!(header, "customer_id,segment_id,segment_label,distance");
    for row in &rows {
        let c = centroid[&row[1].parse::<i64>().unwrap()];
        let got: f64 = row[3].parse().unwrap();
        assert!(
            (got - distance(values[&row[0]], c)).abs() <= 1e-9,
            "{row:?}"
        );
    }

    // A new customer goes to the nearest member mean.
    let prospect = [120.0, 10.0];
    let (nearest, d) = centroid
        .iter()
        .map(|(id, c)| (*id, distance(prospect, *c)))
        .min_by(|a, b| a.1.total_cmp(&b.1))
        .unwrap();
    let scored = json_ok(
        app.post_json(
            &format!("/v1/segmentations/{seg}/score"),
            &json!({"customers": [{"attributes": {"annual_income_k": 120, "spending_score": 10}}]}),
        )
        .await,
    )
    .await;
    assert_eq!(scored["customers"][0]["segment"]["segment_id"], nearest);
    assert!((scored["customers"][0]["score"].as_f64().unwrap() - d).abs() <= 1e-9);
    let lookup = json_ok(
        app.get(&format!("/v1/segmentations/{seg}/customers/0001"))
            .await,
    )
    .await;
    let row = rows.iter().find(|r| r[0] == "0001").unwrap();
    assert_eq!(lookup["current"]["segment_id"].to_string(), row[1]);
    let exported: f64 = row[3].parse().unwrap();
    assert!((lookup["current"]["score"].as_f64().unwrap() - exported).abs() <= 1e-12);
}

/// Mini-batch K-Means through the API: a run of `minibatch_kmeans` lands within a few percent
/// of K-Means' inertia on Mall (five well-separated groups), is stored and exported like any
/// run, and the same seed gives the same segments.
#[tokio::test]
async fn minibatch_kmeans_runs_near_kmeans_inertia_and_is_reproducible() {
    let app = spawn_app().await;
    let minibatch = json!({"type": "minibatch_kmeans", "k": 5, "batch_size": 64, "seed": 7});
    let (_, run, body) = mall_run(&app, minibatch.clone()).await;
    assert_eq!(
        body["params"]["algorithm"]["type"], "minibatch_kmeans",
        "{body:#}"
    );
    assert_eq!(body["params"]["algorithm"]["batch_size"], 64);
    assert_eq!(body["k"], 5);
    let seg = app
        .create_segmentation(json!({
            "name": "K-Means",
            "config": {"features": ["annual_income_k", "spending_score"], "scaling": "none",
                       "algorithm": {"type": "kmeans", "k": 5}}
        }))
        .await;
    let full = app.run_to_success(&seg).await;
    let (mini, lloyd) = (
        body["metrics"]["inertia"].as_f64().unwrap(),
        full["metrics"]["inertia"].as_f64().unwrap(),
    );
    assert!(
        mini >= lloyd * (1.0 - 1e-9) && mini <= lloyd * 1.05,
        "{mini} vs {lloyd}"
    );
    let (header, rows) = csv_rows(&app, &run).await;
    assert_eq!(header, "customer_id,segment_id,segment_label,distance");
    assert_eq!(rows.len(), 200);

    // The same configuration again: the same segments, customer for customer.
    let again = app
        .create_segmentation(json!({
            "name": "Again",
            "config": {"features": ["annual_income_k", "spending_score"], "scaling": "none",
                       "algorithm": minibatch}
        }))
        .await;
    let second = app.run_to_success(&again).await;
    let (_, second_rows) = csv_rows(&app, second["id"].as_str().unwrap()).await;
    let by_id = |rows: &[Vec<String>]| -> HashMap<String, String> {
        rows.iter().map(|r| (r[0].clone(), r[3].clone())).collect()
    };
    assert_eq!(
        by_id(&rows),
        by_id(&second_rows),
        "the distances, customer for customer"
    );
}
