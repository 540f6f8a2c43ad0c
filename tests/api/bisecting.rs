//! Bisecting K-Means through the API: a run, its split tree (`GET /v1/runs/{id}/tree`), and
//! new customers scored down the tree as the run assigned its own.

use crate::algorithms::sizes_desc;
use crate::helpers::{TestApp, assert_problem, json_ok, mall_customers, spawn_app};
use segstore::segmentation::bisecting::plugin::Bisecting;
use segstore::segmentation::kmeans::KMeansParams;
use segstore::segmentation::pipeline::{self, Algorithm, KChoice, RunParams};
use segstore::segmentation::preprocess::{Missing, PreprocessParams, Scaling};
use serde_json::{Value, json};

const FEATURES: [&str; 2] = ["annual_income_k", "spending_score"];

async fn bisecting_run(app: &TestApp) -> (String, String, Value) {
    app.import_mall().await;
    let seg = app
        .create_segmentation(json!({
            "name": "Drill down",
            "config": {"features": FEATURES, "algorithm": {"type": "bisecting", "k": 5}}
        }))
        .await;
    let run = app.run_to_success(&seg).await;
    let id = run["id"].as_str().unwrap().to_owned();
    (seg, id, run)
}

/// The engine's own segment sizes for the same data and parameters, largest first.
fn engine_sizes() -> Vec<i64> {
    let csv = std::fs::read(crate::helpers::MALL_CSV).unwrap();
    let columns = segstore::ingest::dataset::columns_from_csv(&csv[..], None).unwrap();
    let names: Vec<String> = FEATURES.iter().map(|f| (*f).to_owned()).collect();
    let params = RunParams {
        preprocess: PreprocessParams::new(&names, &[], Scaling::Standard, Missing::Drop),
        k: KChoice::Fixed(5),
        kmeans: KMeansParams::new(1).seed(42),
        algorithm: Algorithm::new(Bisecting),
        reduce: None,
        chart_sample: None,
        sweep_sample: pipeline::SWEEP_SAMPLE_ROWS,
        warm_start: None,
    };
    let result = pipeline::run(&columns, &params).unwrap();
    let mut sizes: Vec<i64> = result
        .profiles
        .segments
        .iter()
        .map(|s| s.size as i64)
        .collect();
    sizes.sort_unstable_by(|a, b| b.cmp(a));
    sizes
}

#[tokio::test]
async fn a_bisecting_run_serves_its_split_tree() {
    let app = spawn_app().await;
    let (_, run, body) = bisecting_run(&app).await;
    assert_eq!(body["k"], 5);
    assert_eq!(body["score"], "distance");
    assert_eq!(body["params"]["algorithm"]["type"], "bisecting");
    assert_eq!(body["params"]["algorithm"]["n_init"], "auto");
    // The first split, of 200 customers: 125 restarts (25,000 / 200).
    assert_eq!(body["fit"]["restarts"], 125, "{body:#}");
    let segments = json_ok(app.get(&format!("/v1/runs/{run}/segments")).await).await;
    assert_eq!(sizes_desc(&segments), engine_sizes());

    let tree = json_ok(app.get(&format!("/v1/runs/{run}/tree")).await).await;
    assert_eq!(tree["run_id"], run);
    assert_eq!(tree["features"], json!(FEATURES));
    let nodes = tree["nodes"].as_array().unwrap();
    assert_eq!(nodes.len(), 9, "{tree:#}");
    let root = &nodes[0];
    assert_eq!(root["size"], 200);
    assert_eq!(root["share"], 1.0);
    assert_eq!(root["split"], 1);
    assert_eq!(root["parent"], Value::Null);
    assert_eq!(root["segments"], json!([1, 2, 3, 4, 5]));
    // The root's mean is everyone's.
    for (f, stats) in segments["population"]
        .as_array()
        .unwrap()
        .iter()
        .enumerate()
    {
        let got = root["centroid"][f].as_f64().unwrap();
        assert!((got - stats["mean"].as_f64().unwrap()).abs() < 1e-9);
    }
    let mut splits: Vec<i64> = nodes.iter().filter_map(|n| n["split"].as_i64()).collect();
    splits.sort_unstable();
    assert_eq!(splits, [1, 2, 3, 4]);
    for (i, node) in nodes.iter().enumerate() {
        assert_eq!(node["id"], i);
        let children = node["children"].as_array().unwrap();
        if children.is_empty() {
            // A leaf is a segment, with its size and mean.
            let id = node["segment"]["segment_id"].as_i64().unwrap();
            assert_eq!(node["segments"], json!([id]));
            let segment = segments["segments"]
                .as_array()
                .unwrap()
                .iter()
                .find(|s| s["segment_id"] == id)
                .unwrap();
            assert_eq!(node["size"], segment["size"]);
            assert_eq!(node["segment"]["label"], segment["label"]);
            for f in 0..2 {
                let (got, want) = (&node["centroid"][f], &segment["centroid"][f]);
                assert!((got.as_f64().unwrap() - want.as_f64().unwrap()).abs() < 1e-9);
            }
        } else {
            assert_eq!(node["segment"], Value::Null);
            let halves: Vec<&Value> = children
                .iter()
                .map(|c| &nodes[c.as_u64().unwrap() as usize])
                .collect();
            assert_eq!(
                node["size"].as_i64().unwrap(),
                halves
                    .iter()
                    .map(|h| h["size"].as_i64().unwrap())
                    .sum::<i64>()
            );
            for h in &halves {
                assert_eq!(h["parent"], i);
                assert!(h["inertia"].as_f64().unwrap() <= node["inertia"].as_f64().unwrap());
            }
        }
    }
}

#[tokio::test]
async fn new_customers_are_scored_down_the_tree_as_the_run_assigned_its_own() {
    let app = spawn_app().await;
    let (seg, run, _) = bisecting_run(&app).await;
    // Every Mall customer scored as a new one lands in the segment the run gave it.
    let mut customers: Vec<(String, [f64; 3])> = mall_customers().into_iter().collect();
    customers.sort_by(|a, b| a.0.cmp(&b.0));
    let body = json!({"customers": customers.iter().map(|(_, [_, income, spend])| {
        json!({"attributes": {"annual_income_k": income, "spending_score": spend}})
    }).collect::<Vec<_>>()});
    let scored = json_ok(
        app.post_json(&format!("/v1/segmentations/{seg}/score"), &body)
            .await,
    )
    .await;
    let page = json_ok(
        app.get(&format!("/v1/runs/{run}/assignments?limit=1000"))
            .await,
    )
    .await;
    let given: std::collections::HashMap<&str, &Value> = page["assignments"]
        .as_array()
        .unwrap()
        .iter()
        .map(|a| (a["customer_id"].as_str().unwrap(), a))
        .collect();
    for ((id, _), got) in customers
        .iter()
        .zip(scored["customers"].as_array().unwrap())
    {
        let want = given[id.as_str()];
        assert_eq!(got["segment"]["segment_id"], want["segment_id"], "{id}");
        let d = (got["score"].as_f64().unwrap() - want["score"].as_f64().unwrap()).abs();
        assert!(d < 1e-9, "{id}: {got} vs {want}");
    }
}

#[tokio::test]
async fn only_a_bisecting_run_has_a_tree() {
    let app = spawn_app().await;
    app.import_mall().await;
    let seg = app
        .create_segmentation(json!({"name": "Flat", "config": {"features": FEATURES, "algorithm": {"type": "kmeans", "k": 3}}}))
        .await;
    let run = app.run_to_success(&seg).await;
    let id = run["id"].as_str().unwrap();
    assert_problem(
        app.get(&format!("/v1/runs/{id}/tree")).await,
        409,
        "did not use bisecting K-Means",
    )
    .await;
    assert_problem(
        app.get("/v1/runs/00000000-0000-4000-8000-000000000000/tree")
            .await,
        404,
        "",
    )
    .await;
}
