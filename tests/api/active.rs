//! `/v1/segmentations/{id}/active/…`: a reader names the segmentation, never a run, and gets
//! what its active run answers, following each activation; `Content-Location` names the run.

use crate::helpers::*;
use serde_json::{Value, json};

/// Every address under `…/active/`.
const ACTIVE_TAILS: [&str; 10] = [
    "segments",
    "assignments",
    "assignments.csv",
    "segments.csv",
    "segment_features.csv",
    "sample",
    "charts/scatter.svg",
    "charts/segments.svg",
    "charts/elbow.svg",
    "charts/scatter.svg?format=png",
];

#[tokio::test]
async fn the_active_addresses_answer_what_the_active_run_does_and_follow_activations() {
    let app = spawn_app().await;
    let seg = mall_segmentation(&app).await;
    let active = |tail: &str| format!("/v1/segmentations/{seg}/active/{tail}");
    // No active run yet: the segmentation is there, its active run is not (409).
    for tail in ACTIVE_TAILS {
        assert_problem(app.get(&active(tail)).await, 409, "no active run yet").await;
    }
    let first = app.run_to_success(&seg).await;
    let first_id = first["id"].as_str().unwrap().to_owned();
    let same = |tail: &'static str, run: String| {
        let app = &app;
        let active = active(tail);
        async move {
            let via_active = app.get(&active).await;
            assert_eq!(via_active.status(), 200, "{active}");
            assert_eq!(
                via_active.headers()["content-location"],
                format!("/v1/runs/{run}/{}", tail.split('?').next().unwrap()),
                "{active}"
            );
            let via_run = app.get(&format!("/v1/runs/{run}/{tail}")).await;
            assert_eq!(via_run.status(), 200);
            assert_eq!(
                via_active.bytes().await.unwrap(),
                via_run.bytes().await.unwrap(),
                "{active}"
            );
        }
    };
    for tail in [
        "segments",
        "assignments?limit=50",
        "assignments.csv",
        "assignments.csv?segment=2",
        "segments.csv",
        "segment_features.csv",
        "sample",
        "sample?limit=10",
        "charts/scatter.svg",
        "charts/scatter.svg?format=png&points=50",
        "charts/segments.svg",
    ] {
        same(tail, first_id.clone()).await;
    }
    // Customers move; the next run becomes active, and the addresses follow it.
    assert_eq!(
        app.upsert(json!(a_third_spending_more())).await.status(),
        200
    );
    let second = app.run_to_success(&seg).await;
    let second_id = second["id"].as_str().unwrap().to_owned();
    assert_ne!(second_id, first_id);
    for tail in [
        "segments",
        "assignments.csv",
        "segments.csv",
        "charts/segments.svg",
    ] {
        same(tail, second_id.clone()).await;
    }
    // An older run activated again is followed too.
    let activated = app
        .client
        .post(app.url(&format!("/v1/runs/{first_id}/activate")))
        .send()
        .await
        .unwrap();
    assert!(activated.status().is_success(), "{}", activated.status());
    same("segments", first_id.clone()).await;
    // What the run's addresses refuse, the active ones refuse alike.
    assert_problem(
        app.get(&active("assignments?segment=x")).await,
        422,
        "segment",
    )
    .await;
    assert_problem(app.get(&active("assignments?limit=0")).await, 422, "limit").await;
    assert_problem(app.get(&active("sample?limit=0")).await, 422, "limit").await;
    assert_problem(
        app.get(&active("charts/scatter.svg?x=nope")).await,
        422,
        "nope",
    )
    .await;
    // The run was given k: no elbow, from either address.
    assert_problem(app.get(&active("charts/elbow.svg")).await, 409, "k").await;
    assert_problem(
        app.get(&format!("/v1/runs/{first_id}/charts/elbow.svg"))
            .await,
        409,
        "k",
    )
    .await;
    let unknown = uuid::Uuid::new_v4();
    assert_problem(
        app.get(&format!("/v1/segmentations/{unknown}/active/segments"))
            .await,
        404,
        "no segmentation",
    )
    .await;
    assert_problem(
        app.get("/v1/segmentations/nope/active/segments").await,
        404,
        "nope",
    )
    .await;
}

#[test]
fn every_active_address_of_the_document_is_checked_above() {
    let doc: serde_json::Value =
        serde_json::from_str(include_str!("../../openapi/openapi.json")).unwrap();
    let prefix = "/v1/segmentations/{id}/active/";
    let documented: std::collections::BTreeSet<&str> = doc["paths"]
        .as_object()
        .unwrap()
        .keys()
        .filter_map(|p| p.strip_prefix(prefix))
        .collect();
    let checked: std::collections::BTreeSet<&str> = ACTIVE_TAILS
        .iter()
        .map(|t| t.split('?').next().unwrap())
        .collect();
    assert_eq!(documented, checked);
}

/// One operation, one representation: a JSON operation asked for CSV (by `format` or by
/// `Accept`) answers 303 to its CSV operation, with the parameters that one takes, and checks
/// its own parameters first. Following the 303 gives the file.
#[tokio::test]
async fn json_operations_asked_for_csv_point_to_their_csv_operations() {
    let app = spawn_app().await;
    let seg = mall_segmentation(&app).await;
    let run = app.run_to_success(&seg).await;
    let run = run["id"].as_str().unwrap();
    let mut auth = reqwest::header::HeaderMap::new();
    auth.insert(
        "authorization",
        format!("Bearer {}", app.key).parse().unwrap(),
    );
    let manual = reqwest::Client::builder()
        .redirect(reqwest::redirect::Policy::none())
        .default_headers(auth)
        .build()
        .unwrap();
    let cases = [
        (
            format!("/v1/runs/{run}/assignments?format=csv"),
            None,
            format!("/v1/runs/{run}/assignments.csv"),
        ),
        (
            format!("/v1/runs/{run}/assignments?segment=2&limit=5&after=0001"),
            Some("text/csv"),
            format!("/v1/runs/{run}/assignments.csv?segment=2"),
        ),
        (
            format!("/v1/segmentations/{seg}/active/assignments?format=csv&segment=%2B1"),
            None,
            format!("/v1/segmentations/{seg}/active/assignments.csv?segment=%2B1"),
        ),
        (
            format!("/v1/segmentations/{seg}/changes?format=csv&limit=3&segment=2"),
            None,
            format!("/v1/segmentations/{seg}/changes.csv?limit=3&segment=2"),
        ),
        (
            format!("/v1/segmentations/{seg}/changes?after=c1_1_0"),
            Some("text/csv, application/json;q=0.5"),
            format!("/v1/segmentations/{seg}/changes.csv?after=c1_1_0"),
        ),
    ];
    for (asked, accept, location) in cases {
        let mut request = manual.get(app.url(&asked));
        if let Some(accept) = accept {
            request = request.header("accept", accept);
        }
        let response = request.send().await.unwrap();
        assert_eq!(response.status(), 303, "{asked}");
        assert_eq!(response.headers()["location"], location.as_str(), "{asked}");
        assert!(response.bytes().await.unwrap().is_empty(), "{asked}");
        let file = manual.get(app.url(&location)).send().await.unwrap();
        assert_eq!(file.status(), 200, "{location}");
        assert!(
            file.headers()["content-type"]
                .to_str()
                .unwrap()
                .starts_with("text/csv"),
            "{location}"
        );
        let text = file.text().await.unwrap();
        assert!(text.lines().count() > 1, "{location}: {text}");
    }
    // JSON asked for stays JSON, whatever else `Accept` lists after it.
    let page = manual
        .get(app.url(&format!("/v1/runs/{run}/assignments?limit=2")))
        .header("accept", "application/json, text/csv")
        .send()
        .await
        .unwrap();
    assert_eq!(page.status(), 200);
    assert_eq!(
        page.json::<Value>().await.unwrap()["assignments"][1]["customer_id"],
        "0002"
    );
    // Bad parameters are refused before any 303, naming the parameter.
    for (asked, field) in [
        (
            format!("/v1/runs/{run}/assignments?format=csv&limit=0"),
            "limit",
        ),
        (
            format!("/v1/runs/{run}/assignments?format=csv&segment=x"),
            "segment",
        ),
        (format!("/v1/runs/{run}/assignments?format=xml"), "format"),
        (
            format!("/v1/segmentations/{seg}/changes?format=csv&after=c2_1"),
            "after",
        ),
        (
            format!("/v1/segmentations/{seg}/changes.csv?limit=10001"),
            "limit",
        ),
        (
            format!("/v1/segmentations/{seg}/changes.csv?format=csv"),
            "format",
        ),
    ] {
        assert_problem(
            manual.get(app.url(&asked)).send().await.unwrap(),
            422,
            field,
        )
        .await;
    }
    let unknown = uuid::Uuid::new_v4();
    assert_problem(
        manual
            .get(app.url(&format!("/v1/segmentations/{unknown}/changes.csv")))
            .send()
            .await
            .unwrap(),
        404,
        "segmentation",
    )
    .await;
}
