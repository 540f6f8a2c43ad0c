//! The dashboard's run page shows a retrain's drift against the run before it (who moved,
//! the ARI, each feature's PSI, each segment's size and centre) and, once the run is active,
//! the customers whose segment changed at its activation; a run held for drift can be
//! activated from the page.

use crate::dashboard::{Browser, Driver};
use crate::helpers::{a_third_spending_more, json_ok, json_status, spawn_app};
use serde_json::json;

#[tokio::test]
#[ignore = "needs Chromium and chromedriver: apt install chromium chromium-driver (run with --include-ignored)"]
async fn the_run_page_shows_drift_and_activates_a_held_run() {
    let driver = Driver::required().await;
    let app = spawn_app().await;
    app.import_mall().await;
    let created = json_status(
        app.post_json(
            "/v1/segmentations",
            &json!({"name": "Mall", "config": {"features": ["annual_income_k", "spending_score"],
                    "algorithm": {"type": "kmeans", "k": 5}},
                    "drift": {"max_psi": 0.1, "hold_activation": true}}),
        )
        .await,
        201,
    )
    .await;
    let seg = created["id"].as_str().unwrap().to_owned();
    app.run_to_success(&seg).await;
    let shifted = a_third_spending_more();
    assert_eq!(app.upsert(json!(shifted)).await.status(), 200);
    let held = app.run_to_success(&seg).await;
    assert_eq!(held["drift"]["held"], true);
    let id = held["id"].as_str().unwrap();

    let browser = Browser::open(&driver).await;
    browser.resize(1400, 2000).await;
    browser.sign_in(&app).await;
    browser.go(&app.url(&format!("/#/runs/{id}"))).await;
    browser
        .wait_for(
            "the drift card with the crossed threshold",
            "return !!document.querySelector('#drift-crossed button#activate') && \
             document.querySelectorAll('#drift-features tbody tr').length === 2 && \
             document.querySelectorAll('#drift-segments tbody tr').length === 5",
        )
        .await;
    let text = browser
        .script("return document.getElementById('drift').innerText")
        .await;
    let text = text.as_str().unwrap();
    assert!(text.contains("max_psi") && text.contains("held"), "{text}");
    let moved = held["drift"]["moved"].as_i64().unwrap();
    assert!(text.contains(&format!("{moved} of 200")), "{text}");
    // Not active: no activation, so no changes to list yet.
    assert_eq!(
        browser
            .script("return !!document.getElementById('activation-changes')")
            .await,
        json!(false)
    );
    browser.keep("run-drift-held").await;

    browser
        .script("document.getElementById('activate').click(); return true")
        .await;
    browser
        .wait_for(
            "the changes at its activation",
            "return document.querySelectorAll('#activation-changes tbody tr').length > 0 && \
             !document.querySelector('#drift-crossed button#activate')",
        )
        .await;
    let run = json_ok(app.get(&format!("/v1/runs/{id}")).await).await;
    assert_eq!(run["active"], true);
    let feed = json_ok(
        app.get(&format!(
            "/v1/segmentations/{seg}/changes?after=c1_2_0&limit=20"
        ))
        .await,
    )
    .await;
    let shown = browser
        .script(
            "return [...document.querySelectorAll('#activation-changes tbody tr td:first-child')] \
             .map(td => td.innerText)",
        )
        .await;
    let expected: Vec<&str> = feed["changes"]
        .as_array()
        .unwrap()
        .iter()
        .map(|c| c["customer_id"].as_str().unwrap())
        .collect();
    assert_eq!(shown, json!(expected));
    browser.keep("run-drift-activated").await;
    browser.close().await;
}
