//! Charts: every chart of a Mall run parses as SVG, names every segment and draws one point
//! per customer (or the stated sample); PNG on request; every error path.

use crate::helpers::{TestApp, assert_problem, json_ok, spawn_app, spawn_app_with, test_jobs};
use reqwest::Response;
use segstore::jobs::JobSettings;
use serde_json::{Value, json};

async fn mall_run(app: &TestApp, features: &[&str], algorithm: Value) -> (String, Value) {
    app.import_mall().await;
    let segmentation = app
        .create_segmentation(json!({
            "name": format!("Mall {}", features.join(" ")),
            "config": {"features": features, "algorithm": algorithm}
        }))
        .await;
    let run = app.run_to_success(&segmentation).await;
    (segmentation, run)
}

/// The body of an SVG answer, checked to be one.
async fn svg(response: Response) -> String {
    let status = response.status();
    let kind = response
        .headers()
        .get("content-type")
        .map(|v| v.to_str().unwrap().to_owned());
    let body = response.text().await.unwrap();
    assert_eq!(status, 200, "{body}");
    assert_eq!(kind.as_deref(), Some("image/svg+xml"));
    body
}

/// What a parsed SVG holds: its text lines and its element counts.
struct Drawing {
    texts: Vec<String>,
    circles: usize,
}

fn parse(svg: &str) -> Drawing {
    let doc = roxmltree::Document::parse(svg).expect("well-formed XML");
    assert_eq!(doc.root_element().tag_name().name(), "svg");
    Drawing {
        texts: doc
            .descendants()
            .filter(|n| n.has_tag_name("text"))
            .filter_map(|n| n.text())
            .map(|t| t.trim().to_owned())
            .collect(),
        circles: doc
            .descendants()
            .filter(|n| n.has_tag_name("circle"))
            .count(),
    }
}

impl Drawing {
    fn has(&self, needle: &str) -> bool {
        self.texts.iter().any(|t| t.contains(needle))
    }
}

async fn segments(app: &TestApp, run: &str) -> Vec<(i64, String)> {
    let list = json_ok(app.get(&format!("/v1/runs/{run}/segments")).await).await;
    list["segments"]
        .as_array()
        .unwrap()
        .iter()
        .map(|s| {
            (
                s["segment_id"].as_i64().unwrap(),
                s["label"].as_str().unwrap().to_owned(),
            )
        })
        .collect()
}

#[tokio::test]
async fn every_chart_of_a_mall_run_names_its_segments_and_draws_its_customers() {
    let app = spawn_app().await;
    let (segmentation, run) = mall_run(
        &app,
        &["annual_income_k", "spending_score"],
        json!({"type": "kmeans", "k": "auto", "k_min": 2, "k_max": 10}),
    )
    .await;
    let id = run["id"].as_str().unwrap();
    let labels = segments(&app, id).await;
    assert_eq!(labels.len(), 5);

    // Scatter: one circle per customer, the legend names every segment, axes in feature names.
    let scatter = parse(&svg(app.get(&format!("/v1/runs/{id}/charts/scatter.svg")).await).await);
    assert_eq!(scatter.circles, 200);
    for (sid, label) in &labels {
        assert!(
            scatter.has(&format!("#{sid} {label}")),
            "{:?}",
            scatter.texts
        );
    }
    assert!(scatter.has("annual_income_k") && scatter.has("spending_score"));
    assert!(
        scatter.has("all 200 customers segmented"),
        "{:?}",
        scatter.texts
    );
    assert!(scatter.has("Segment centre"));
    // A smaller sample says so.
    let fifty = parse(
        &svg(app
            .get(&format!(
                "/v1/runs/{id}/charts/scatter.svg?points=50&x=spending_score"
            ))
            .await)
        .await,
    );
    assert_eq!(fifty.circles, 50);
    assert!(
        fifty.has("a seeded random sample of 50 of the 200 customers segmented"),
        "{:?}",
        fifty.texts
    );

    // The same sample as JSON: every customer once, each segment as large as its profile says,
    // and any prefix is the sample of that size.
    let sample = json_ok(app.get(&format!("/v1/runs/{id}/sample")).await).await;
    assert_eq!(
        sample["features"],
        json!(["annual_income_k", "spending_score"])
    );
    assert_eq!(sample["customers"], 200);
    assert_eq!(sample["explained_variance_ratio"], Value::Null);
    let points = sample["points"].as_array().unwrap();
    assert_eq!(points.len(), 200);
    let profiles = json_ok(app.get(&format!("/v1/runs/{id}/segments")).await).await;
    for s in profiles["segments"].as_array().unwrap() {
        let members = points
            .iter()
            .filter(|p| p["segment_id"] == s["segment_id"])
            .count();
        assert_eq!(members as i64, s["size"].as_i64().unwrap());
    }
    let first = json_ok(app.get(&format!("/v1/runs/{id}/sample?limit=50")).await).await;
    assert_eq!(first["points"].as_array().unwrap()[..], points[..50]);
    let customer = json_ok(app.get("/v1/customers/0001").await).await;
    let values = json!([
        customer["attributes"]["annual_income_k"],
        customer["attributes"]["spending_score"]
    ]);
    assert!(points.iter().any(|p| p["values"] == values));

    // Elbow: a point per k (1, then 2..10), the chosen k named.
    let elbow = parse(&svg(app.get(&format!("/v1/runs/{id}/charts/elbow.svg")).await).await);
    assert_eq!(elbow.circles, 10);
    assert!(
        elbow.has("Chosen: k = 5 (best silhouette)"),
        "{:?}",
        elbow.texts
    );
    assert!(elbow.has("silhouette") && elbow.has("k (segments)"));

    // Segments: a bar and a row of lift per segment.
    let bars = parse(&svg(app.get(&format!("/v1/runs/{id}/charts/segments.svg")).await).await);
    let list = json_ok(app.get(&format!("/v1/runs/{id}/segments")).await).await;
    for s in list["segments"].as_array().unwrap() {
        let name = format!("#{} {}", s["segment_id"], s["label"].as_str().unwrap());
        assert!(bars.has(&name), "{name} in {:?}", bars.texts);
        let share = s["share"].as_f64().unwrap() * 100.0;
        assert!(
            bars.has(&format!("{} ({share:.1}%)", s["size"])),
            "{:?}",
            bars.texts
        );
        for lift in s["lift"].as_array().unwrap() {
            assert!(bars.has(&format!("{:+.2}", lift.as_f64().unwrap())));
        }
    }

    // PNG when asked, by Accept or by parameter.
    for (path, accept) in [
        (format!("/v1/runs/{id}/charts/scatter.svg"), "image/png"),
        (
            format!("/v1/runs/{id}/charts/segments.svg?format=png"),
            "*/*",
        ),
    ] {
        let response = app
            .client
            .get(app.url(&path))
            .header("accept", accept)
            .send()
            .await
            .unwrap();
        assert_eq!(response.status(), 200);
        assert_eq!(response.headers()["content-type"], "image/png");
        let bytes = response.bytes().await.unwrap();
        assert_eq!(&bytes[..8], b"\x89PNG\r\n\x1a\n");
    }

    // Transitions between two runs on the same data: everyone stays on the diagonal.
    let again = app.run_to_success(&segmentation).await;
    let b = again["id"].as_str().unwrap();
    let moves = parse(
        &svg(app
            .get(&format!("/v1/runs/{id}/compare/{b}/chart.svg"))
            .await)
        .await,
    );
    assert!(
        moves.has("0 customers changed segment"),
        "{:?}",
        moves.texts
    );
    assert!(moves.has("adjusted Rand index 1.000"), "{:?}", moves.texts);
    for (sid, label) in &labels {
        assert!(
            moves.has(&format!("#{sid} {}", &label[..10])),
            "{:?}",
            moves.texts
        );
    }
    let cells: u64 = moves
        .texts
        .iter()
        .filter_map(|t| t.replace(',', "").parse::<u64>().ok())
        .sum();
    assert_eq!(cells, 200, "{:?}", moves.texts);
}

#[tokio::test]
async fn more_than_two_features_are_drawn_on_their_principal_components() {
    let app = spawn_app().await;
    let (_, run) = mall_run(
        &app,
        &["age", "annual_income_k", "spending_score"],
        json!({"type": "kmeans", "k": 6}),
    )
    .await;
    let id = run["id"].as_str().unwrap();
    let scatter = parse(&svg(app.get(&format!("/v1/runs/{id}/charts/scatter.svg")).await).await);
    // scikit-learn: PCA of the standardized three features explains 44.3% and 33.3%.
    assert!(
        scatter.has("PC1 (44% of the variance)"),
        "{:?}",
        scatter.texts
    );
    assert!(
        scatter.has("PC2 (33% of the variance)"),
        "{:?}",
        scatter.texts
    );
    assert_eq!(scatter.circles, 200);
    let sample = json_ok(app.get(&format!("/v1/runs/{id}/sample?limit=10")).await).await;
    let explained = sample["explained_variance_ratio"].as_array().unwrap();
    assert!(
        (explained[0].as_f64().unwrap() - 0.4427).abs() < 1e-3,
        "{sample}"
    );
    assert!(
        (explained[1].as_f64().unwrap() - 0.3331).abs() < 1e-3,
        "{sample}"
    );
    for p in sample["points"].as_array().unwrap() {
        assert_eq!(p["values"].as_array().unwrap().len(), 3);
        assert_eq!(p["pc"].as_array().unwrap().len(), 2);
    }
    // Two of its features on request.
    let picked = parse(
        &svg(app
            .get(&format!(
                "/v1/runs/{id}/charts/scatter.svg?x=age&y=spending_score"
            ))
            .await)
        .await,
    );
    assert!(picked.has("age") && !picked.has("PC1"));
    // k was given: no elbow curve to draw.
    assert_problem(
        app.get(&format!("/v1/runs/{id}/charts/elbow.svg")).await,
        409,
        "k = 6",
    )
    .await;
}

#[tokio::test]
async fn density_noise_has_its_own_legend_entry() {
    let app = spawn_app().await;
    let (_, run) = mall_run(
        &app,
        &["annual_income_k", "spending_score"],
        json!({"type": "dbscan", "eps": 0.5, "min_points": 5}),
    )
    .await;
    let id = run["id"].as_str().unwrap();
    let scatter = parse(&svg(app.get(&format!("/v1/runs/{id}/charts/scatter.svg")).await).await);
    // 2 segments and 8 noise points, as scikit-learn finds them.
    assert!(scatter.has("Noise (no segment)"), "{:?}", scatter.texts);
    assert_eq!(scatter.circles, 200);
    let body = svg(app.get(&format!("/v1/runs/{id}/charts/scatter.svg")).await).await;
    let doc = roxmltree::Document::parse(&body).unwrap();
    let grey = doc
        .descendants()
        .filter(|n| n.has_tag_name("circle") && n.attribute("fill") == Some("#BBBBBB"))
        .count();
    assert_eq!(grey, 8);
}

#[tokio::test]
async fn above_the_point_budget_a_seeded_sample_is_drawn_and_said() {
    let app = spawn_app().await;
    let mut csv = String::from("id,visits,spend\n");
    for i in 0..25_000u32 {
        let group = i % 3;
        csv.push_str(&format!(
            "c{i:05},{},{}\n",
            group * 10 + i % 7,
            group * 100 + (i * 37) % 50
        ));
    }
    json_ok(app.import_csv("", csv).await).await;
    let segmentation = app
        .create_segmentation(json!({
            "name": "Big",
            "config": {"features": ["visits", "spend"], "algorithm": {"type": "kmeans", "k": 3}}
        }))
        .await;
    let run = app.run_to_success(&segmentation).await;
    let id = run["id"].as_str().unwrap();
    let first = svg(app.get(&format!("/v1/runs/{id}/charts/scatter.svg")).await).await;
    let drawing = parse(&first);
    assert_eq!(drawing.circles, 20_000);
    assert!(
        drawing.has("a seeded random sample of 20,000 of the 25,000 customers segmented"),
        "{:?}",
        drawing.texts
    );
    // The sample is seeded: a retrain of the same data draws the same customers and the
    // same picture (but for the run's own id).
    let again = app.run_to_success(&segmentation).await;
    let again = again["id"].as_str().unwrap();
    let app = &app;
    let sample = |run: &str| {
        let path = format!("/v1/runs/{run}/sample");
        async move {
            let mut body = json_ok(app.get(&path).await).await;
            body.as_object_mut().unwrap().remove("run_id");
            body
        }
    };
    let (a, b) = (sample(id).await, sample(again).await);
    assert_eq!(a, b);
    let second = svg(app
        .get(&format!("/v1/runs/{again}/charts/scatter.svg"))
        .await)
    .await;
    // The title names the run as the API does: the start of its id, and when it finished.
    let anonymous = |svg: &str, run: &str| {
        let short = &run.replace('-', "")[..8];
        let start = svg
            .find(&format!("Big, run {short} (20"))
            .unwrap_or_else(|| panic!("the title does not name run {short}"));
        let end = start + svg[start..].find(" UTC)").unwrap() + 5;
        format!("{}Big, run N{}", &svg[..start], &svg[end..])
    };
    let (first, second) = (anonymous(&first, id), anonymous(&second, again));
    assert!(first == second, "the retrain drew another picture");
}

#[tokio::test]
async fn chart_errors_are_problems_naming_the_parameter() {
    let app = spawn_app().await;
    let (_, run) = mall_run(
        &app,
        &["annual_income_k", "spending_score"],
        json!({"type": "kmeans", "k": 5}),
    )
    .await;
    let id = run["id"].as_str().unwrap();
    let unknown = "00000000-0000-4000-8000-000000000000";
    for path in [
        format!("/v1/runs/{unknown}/charts/scatter.svg"),
        format!("/v1/runs/{unknown}/charts/elbow.svg"),
        format!("/v1/runs/{unknown}/charts/segments.svg"),
        format!("/v1/runs/{id}/compare/{unknown}/chart.svg"),
        "/v1/runs/not-a-run/charts/segments.svg".to_owned(),
    ] {
        assert_problem(app.get(&path).await, 404, "").await;
    }
    for (query, field) in [
        ("x=height", "x"),
        ("y=height", "y"),
        ("x=spending_score&y=spending_score", "y"),
        ("points=0", "points"),
        ("points=20001", "points"),
        ("points=many", "points"),
        ("format=gif", "format"),
        ("colour=red", "colour"),
    ] {
        assert_problem(
            app.get(&format!("/v1/runs/{id}/charts/scatter.svg?{query}"))
                .await,
            422,
            field,
        )
        .await;
    }
    for (query, field) in [
        ("limit=0", "limit"),
        ("limit=20001", "limit"),
        ("points=3", "points"),
    ] {
        assert_problem(
            app.get(&format!("/v1/runs/{id}/sample?{query}")).await,
            422,
            field,
        )
        .await;
    }
    assert_problem(
        app.get(&format!("/v1/runs/{unknown}/sample")).await,
        404,
        "",
    )
    .await;
    let response = app
        .client
        .get(app.url(&format!("/v1/runs/{id}/charts/segments.svg")))
        .header("accept", "application/json")
        .send()
        .await
        .unwrap();
    assert_problem(response, 406, "image/svg+xml").await;

    // A run that has not finished has nothing to draw yet.
    let idle = spawn_app_with(JobSettings {
        workers: 0,
        ..test_jobs()
    })
    .await;
    idle.import_mall().await;
    let queued_segmentation = idle
        .create_segmentation(json!({
            "name": "Waiting",
            "config": {"features": ["annual_income_k", "spending_score"],
                       "algorithm": {"type": "kmeans", "k": 5}}
        }))
        .await;
    let queued = idle.trigger(&queued_segmentation).await;
    let pending = queued["id"].as_str().unwrap();
    assert_problem(
        idle.get(&format!("/v1/runs/{pending}/charts/segments.svg"))
            .await,
        409,
        "queued",
    )
    .await;
}
