//! HDBSCAN through the API: a run on the standardized Mall features gives scikit-learn 1.9's
//! partition and membership strengths (`tests/fixtures/reference/hdbscan.py`), noise as
//! DBSCAN's, exports, lookups and `/score` of new customers, and its charts.

use crate::dashboard::{Browser, Driver};
use crate::helpers::{TestApp, json_ok, mall_customers, spawn_app};
use serde_json::{Value, json};
use std::collections::HashMap;

fn reference_case() -> Value {
    let reference: Value =
        serde_json::from_str(include_str!("../fixtures/reference/hdbscan.json")).unwrap();
    // Three features, min_cluster_size 10, min_samples 5: no tied edge decides a row.
    reference["mall"]
        .as_array()
        .unwrap()
        .iter()
        .find(|c| {
            c["features"].as_array().unwrap().len() == 3
                && c["min_cluster_size"] == 10
                && c["min_samples"] == 5
        })
        .unwrap()
        .clone()
}

/// A server holding Mall, and the run of an HDBSCAN segmentation (min_cluster_size 10,
/// min_samples 5) on its three features.
async fn density_run() -> (TestApp, String, Value) {
    let app = spawn_app().await;
    app.import_mall().await;
    let seg = app
        .create_segmentation(json!({
            "name": "Density",
            "config": {"features": ["age", "annual_income_k", "spending_score"],
                       "algorithm": {"type": "hdbscan", "min_cluster_size": 10, "min_samples": 5}}
        }))
        .await;
    let run = app.run_to_success(&seg).await;
    (app, seg, run)
}

#[tokio::test]
async fn hdbscan_finds_scikit_learns_segments_and_scores_new_customers() {
    let (app, seg, run) = density_run().await;
    let id = run["id"].as_str().unwrap();
    let case = reference_case();
    let want: Vec<i64> = case["stable_labels"]
        .as_array()
        .unwrap()
        .iter()
        .map(|v| v.as_i64().unwrap())
        .collect();
    let noise = want.iter().filter(|&&l| l < 0).count();
    let clusters = want.iter().max().unwrap() + 1;
    assert_eq!(run["k"], clusters, "{run:#}");
    assert_eq!(run["k_rule"], "density (HDBSCAN)", "{run:#}");
    assert_eq!(run["score"], "probability", "{run:#}");
    assert_eq!(run["fit"]["noise"], noise, "{run:#}");
    assert_eq!(
        run["params"]["algorithm"],
        json!({"type": "hdbscan", "min_cluster_size": 10, "min_samples": 5,
               "cluster_selection_method": "eom"})
    );

    // The export: every customer, noise without a segment, each one's strength as
    // scikit-learn's `probabilities_`; the segments are scikit-learn's, renumbered.
    let response = app
        .get(&format!("/v1/runs/{id}/assignments?format=csv"))
        .await;
    assert_eq!(response.status(), 200);
    let text = response.text().await.unwrap();
    let mut lines = text.lines();
    assert_eq!(
        lines.next().unwrap(),
        "customer_id,segment_id,segment_label,probability"
    );
    let probabilities = case["stable_probabilities"].as_array().unwrap();
    let mut ours_to_theirs: HashMap<String, i64> = HashMap::new();
    let mut rows = 0;
    for line in lines {
        let cells: Vec<&str> = line.split(',').collect();
        let i = cells[0].parse::<usize>().unwrap() - 1;
        rows += 1;
        if want[i] < 0 {
            assert_eq!((cells[1], cells[3]), ("", ""), "customer {}", cells[0]);
            continue;
        }
        let theirs = *ours_to_theirs.entry(cells[1].to_owned()).or_insert(want[i]);
        assert_eq!(theirs, want[i], "customer {} splits a segment", cells[0]);
        let strength: f64 = cells[3].parse().unwrap();
        let expected = probabilities[i].as_f64().unwrap();
        assert!((strength - expected).abs() < 1e-9, "{line}: {expected}");
    }
    assert_eq!(rows, 200);
    assert_eq!(ours_to_theirs.len() as i64, clusters);

    // A lookup of a noise customer says so; `/score` of new customers: one in the middle of
    // a segment's members joins it with a strength, one far from everyone is noise.
    let noisy = (0..200).find(|&i| want[i] < 0).unwrap();
    let lookup = json_ok(
        app.get(&format!(
            "/v1/segmentations/{seg}/customers/{:04}",
            noisy + 1
        ))
        .await,
    )
    .await;
    assert_eq!(lookup["current"]["segment_id"], Value::Null, "{lookup:#}");
    let member = (0..200).find(|&i| want[i] >= 0).unwrap();
    let values = mall_customers();
    let [age, income, spend] = values
        .iter()
        .find(|(id, _)| **id == format!("{:04}", member + 1))
        .unwrap()
        .1;
    let scored = json_ok(
        app.post_json(
            &format!("/v1/segmentations/{seg}/score"),
            &json!({"customers": [
                {"attributes": {"age": age, "annual_income_k": income, "spending_score": spend}},
                {"attributes": {"age": 300, "annual_income_k": 5000, "spending_score": -400}}
            ]}),
        )
        .await,
    )
    .await;
    assert_eq!(scored["score"], "probability", "{scored:#}");
    let first = &scored["customers"][0];
    let joined = first["segment"]["segment_id"].as_i64().unwrap().to_string();
    assert_eq!(ours_to_theirs[&joined], want[member], "{scored:#}");
    let strength = first["score"].as_f64().unwrap();
    assert!(strength > 0.0 && strength <= 1.0, "{scored:#}");
    assert_eq!(scored["customers"][1]["segment"], Value::Null, "{scored:#}");

    // Its scatter chart draws the noise grey, as DBSCAN's.
    let response = app.get(&format!("/v1/runs/{id}/charts/scatter.svg")).await;
    assert_eq!(response.status(), 200);
    let svg = response.text().await.unwrap();
    assert!(svg.contains("Noise (no segment)"));
}

#[tokio::test]
#[ignore = "needs Chromium and chromedriver: apt install chromium chromium-driver (run with --include-ignored)"]
async fn the_dashboard_shows_an_hdbscan_run_with_its_noise() {
    let driver = Driver::required().await;
    let (app, seg, run) = density_run().await;
    let id = run["id"].as_str().unwrap();
    let browser = Browser::open(&driver).await;
    browser.resize(1400, 2000).await;
    browser.sign_in(&app).await;
    browser
        .go(&app.url(&format!("/#/segmentations/{seg}")))
        .await;
    browser
        .wait_for(
            "the algorithm",
            "return !!document.getElementById('algorithm')",
        )
        .await;
    let algorithm = browser
        .script("return document.getElementById('algorithm').innerText")
        .await;
    assert!(
        algorithm.as_str().unwrap().contains(
            "HDBSCAN, segments of at least 10 customers, 5 neighbours to be core, most stable clusters"
        ),
        "{algorithm}"
    );
    // The run page: its 2 segments, the noise said, and no elbow (k was not chosen by one).
    browser.go(&app.url(&format!("/#/runs/{id}"))).await;
    browser
        .wait_for(
            "the run page's profiles and charts",
            "return document.querySelectorAll('#profile-table tbody tr').length === 2 && \
             [...document.querySelectorAll('img.chart-image')].length === 2 && \
             [...document.querySelectorAll('img.chart-image')].every(i => i.dataset.loaded === 'true')",
        )
        .await;
    let noise = browser
        .script("return document.getElementById('noise').innerText")
        .await;
    assert!(
        noise
            .as_str()
            .unwrap()
            .contains("39 in no dense region (no segment)"),
        "{noise}"
    );
    assert_eq!(
        browser
            .script("return !!document.getElementById('elbow')")
            .await,
        json!(false)
    );
    browser.keep("run-hdbscan").await;
    browser.close().await;
}
