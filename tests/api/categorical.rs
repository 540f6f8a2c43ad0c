//! Categorical features (`categorical`, `category_weight` in a segmentation;
//! `--categorical`, `--category-weight` in `segstore cluster`): each segment's share of every
//! level with lift, labels that name a segment's gender when it stands out, new customers
//! scored with their level, and clear errors (422s naming the field; the CLI's message).

use crate::helpers::{TestApp, assert_problem, json_ok, spawn_app};
use serde_json::{Value, json};

fn cluster(file: &str, args: &[&str]) -> std::process::Output {
    std::process::Command::new(env!("CARGO_BIN_EXE_segstore"))
        .arg("cluster")
        .arg(file)
        .args(args)
        .output()
        .expect("the binary runs")
}

const WHOLESALE: &str = concat!(
    env!("CARGO_MANIFEST_DIR"),
    "/examples/data/wholesale_customers.csv"
);

#[test]
fn the_cli_clusters_on_gender_too() {
    let args = [
        "--features",
        "age,annual_income_k,spending_score",
        "--categorical",
        "gender",
        "--k",
        "6",
    ];
    let out = cluster(crate::helpers::MALL_CSV, &args);
    assert!(out.status.success(), "{out:?}");
    let table = String::from_utf8(out.stdout).unwrap();
    assert!(
        table.contains(
            "on age, annual_income_k, spending_score and gender (one-hot, weight 0.7071)"
        ),
        "{table}"
    );
    // The everyone row: 112 of the 200 customers are women.
    assert!(table.contains("56% Female"), "{table}");

    // Weighed more, gender splits the segments and the labels say so.
    let heavy = cluster(
        crate::helpers::MALL_CSV,
        &[&args[..], &["--category-weight", "2", "--format", "json"]].concat(),
    );
    assert!(heavy.status.success(), "{heavy:?}");
    let body: Value = serde_json::from_slice(&heavy.stdout).unwrap();
    let everyone = &body["profiles"]["categories"][0];
    assert_eq!(everyone["feature"], "gender");
    assert_eq!(everyone["levels"][0]["level"], "Female");
    assert_eq!(everyone["levels"][0]["share"], 0.56);
    let segments = body["profiles"]["segments"].as_array().unwrap();
    for s in segments {
        let levels = s["categories"][0]["levels"].as_array().unwrap();
        let female = levels[0]["share"].as_f64().unwrap();
        let lift = levels[0]["lift"].as_f64().unwrap();
        assert!((lift - female / 0.56).abs() < 1e-12, "{s:#}");
        let label = s["label"].as_str().unwrap();
        if female == 1.0 {
            assert!(label.starts_with("All female · "), "{label}");
        } else if female == 0.0 {
            assert!(label.starts_with("All male · "), "{label}");
        }
    }
    assert!(
        segments
            .iter()
            .any(|s| s["label"].as_str().unwrap().starts_with("All female"))
    );
}

/// Numeric codes (the Wholesale file's `channel`: 1 hotel/restaurant/café, 2 retail) are
/// categories too, and a label names the feature with the code.
#[test]
fn numeric_codes_are_categories_named_with_their_feature() {
    let spend = "fresh,milk,grocery,frozen,detergents_paper,delicassen";
    let out = cluster(
        WHOLESALE,
        &[
            "--features",
            spend,
            "--log1p",
            spend,
            "--categorical",
            "channel",
            "--k",
            "4",
        ],
    );
    assert!(out.status.success(), "{out:?}");
    let table = String::from_utf8(out.stdout).unwrap();
    assert!(table.contains("Mostly channel 1 · "), "{table}");
    assert!(table.contains("Mostly channel 2 · "), "{table}");
}

#[test]
fn bad_categorical_options_are_refused_with_a_message() {
    for (extra, message) in [
        (
            vec!["--categorical", "colour"],
            "--categorical names `colour`, which the header does not have",
        ),
        (
            vec!["--categorical", "gender", "--category-weight", "0"],
            "category weight must be a finite number above 0, got 0",
        ),
        (
            vec!["--categorical", "gender,gender"],
            "feature `gender` is listed twice",
        ),
    ] {
        let out = cluster(
            crate::helpers::MALL_CSV,
            &[
                &["--features", "age,spending_score", "--k", "3"],
                &extra[..],
            ]
            .concat(),
        );
        assert!(!out.status.success());
        let stderr = String::from_utf8_lossy(&out.stderr);
        assert!(stderr.contains(message), "{stderr}");
    }
}

/// Mall's customers: id → (gender, age, income, spending score).
fn mall() -> Vec<(String, String, [f64; 3])> {
    std::fs::read_to_string(crate::helpers::MALL_CSV)
        .unwrap()
        .lines()
        .skip(1)
        .map(|line| {
            let f: Vec<&str> = line.split(',').collect();
            let v = |i: usize| f[i].parse().unwrap();
            (f[0].to_owned(), f[1].to_owned(), [v(2), v(3), v(4)])
        })
        .collect()
}

async fn gender_segmentation(app: &TestApp, weight: f64) -> String {
    app.import_mall().await;
    app.create_segmentation(json!({
        "name": "Gender and spend",
        "config": {
            "features": ["age", "annual_income_k", "spending_score"],
            "categorical": ["gender"],
            "category_weight": weight,
            "algorithm": {"type": "kmeans", "k": 6}
        }
    }))
    .await
}

/// A marketer's segmentation over gender, age, income and spending score: each segment's
/// share of women and men with lift, labels that say "All female" where it is so, and the
/// scatter chart of such a run.
#[tokio::test]
async fn a_segmentation_over_gender_profiles_and_labels_it() {
    let app = spawn_app().await;
    let seg = gender_segmentation(&app, 2.0).await;
    let run = app.run_to_success(&seg).await;
    assert_eq!(run["params"]["categorical"], json!(["gender"]));
    assert_eq!(run["params"]["category_weight"], 2.0);
    assert_eq!(run["customers"]["used"], 200);
    assert_eq!(run["customers"]["missing_values"]["gender"], 0);
    let id = run["id"].as_str().unwrap();
    let list = json_ok(app.get(&format!("/v1/runs/{id}/segments")).await).await;
    let everyone = &list["population_categories"][0];
    assert_eq!(everyone["feature"], "gender");
    assert_eq!(
        everyone["levels"][0],
        json!({"level": "Female", "share": 0.56, "lift": 1.0})
    );
    assert_eq!(
        list["features"],
        json!(["age", "annual_income_k", "spending_score"])
    );
    let segments = list["segments"].as_array().unwrap();
    assert_eq!(segments.len(), 6);
    for s in segments {
        let female = s["categories"][0]["levels"][0]["share"].as_f64().unwrap();
        let label = s["label"].as_str().unwrap();
        let expected = if female == 1.0 {
            "All female · "
        } else {
            "All male · "
        };
        assert!(female == 1.0 || female == 0.0, "{s:#}");
        assert!(label.starts_with(expected), "{label}");
        assert_eq!(s["centroid"].as_array().unwrap().len(), 3);
    }
    let chart = app.get(&format!("/v1/runs/{id}/charts/scatter.svg")).await;
    assert_eq!(chart.status(), 200);
    assert!(chart.text().await.unwrap().contains("All female"));
}

/// New customers are scored with their gender: every Mall customer scored as a new one lands
/// where the run put it; an unseen, missing or non-string level is a 422 naming the field.
#[tokio::test]
async fn new_customers_are_scored_with_their_level() {
    let app = spawn_app().await;
    let seg = gender_segmentation(&app, 2.0).await;
    let run = app.run_to_success(&seg).await;
    let customers = mall();
    let body = json!({"customers": customers.iter().map(|(_, gender, [age, income, spend])| {
        json!({"attributes": {"age": age, "annual_income_k": income, "spending_score": spend,
                              "gender": gender}})
    }).collect::<Vec<_>>()});
    let url = format!("/v1/segmentations/{seg}/score");
    let scored = json_ok(app.post_json(&url, &body).await).await;
    let id = run["id"].as_str().unwrap();
    let page = json_ok(
        app.get(&format!("/v1/runs/{id}/assignments?limit=1000"))
            .await,
    )
    .await;
    let given: std::collections::HashMap<&str, &Value> = page["assignments"]
        .as_array()
        .unwrap()
        .iter()
        .map(|a| (a["customer_id"].as_str().unwrap(), a))
        .collect();
    for ((id, _, _), got) in customers
        .iter()
        .zip(scored["customers"].as_array().unwrap())
    {
        assert_eq!(
            got["segment"]["segment_id"],
            given[id.as_str()]["segment_id"],
            "{id}"
        );
    }

    let one = |gender: Value| {
        json!({"customers": [{"attributes": {"age": 30, "annual_income_k": 60,
                                             "spending_score": 50, "gender": gender}}]})
    };
    for (gender, needle) in [
        (
            json!("Other"),
            "customers[0].attributes.gender: `Other` is not a level this run was trained on; it knows Female, Male",
        ),
        (
            Value::Null,
            "customers[0].attributes.gender: missing; `gender` is categorical: give its level (Female, Male)",
        ),
        (
            json!(1),
            "customers[0].attributes.gender: 1 is not a level; `gender` is categorical: give its level as a string",
        ),
    ] {
        assert_problem(app.post_json(&url, &one(gender)).await, 422, needle).await;
    }
    let text_for_a_number = json!({"customers": [{"attributes": {"age": "thirty",
        "annual_income_k": 60, "spending_score": 50, "gender": "Male"}}]});
    assert_problem(
        app.post_json(&url, &text_for_a_number).await,
        422,
        "customers[0].attributes.age: \\\"thirty\\\" is not a number",
    )
    .await;
}

#[tokio::test]
async fn categorical_rules_are_422s_naming_the_field() {
    let app = spawn_app().await;
    app.import_mall().await;
    for (config, needle) in [
        (
            json!({"features": ["age"], "categorical": ["country"]}),
            "config.categorical[0]: unknown attribute `country`; categorical attributes are `gender`",
        ),
        (
            json!({"features": ["age"], "categorical": ["spending_score"]}),
            "config.categorical[0]: `spending_score` is numeric; list it in `features`",
        ),
        (
            json!({"features": ["age"], "categorical": ["gender", "gender"]}),
            "config.categorical[1]: `gender` is listed twice",
        ),
        (
            json!({"features": ["age"], "categorical": ["gender"], "category_weight": 0}),
            "config.category_weight: must be above 0 and at most 100, got 0",
        ),
        (
            json!({"features": ["age"], "categorical": ["gender"], "category_weight": 101}),
            "config.category_weight: must be above 0 and at most 100, got 101",
        ),
    ] {
        let response = app
            .post_json("/v1/segmentations", &json!({"name": "c", "config": config}))
            .await;
        assert_problem(response, 422, needle).await;
    }
    assert_eq!(app.count("SELECT count(*) FROM segmentations").await, 0);
}
