//! Flat tables for BI tools: `segments.csv` and `segment_features.csv` (a run's, and the
//! active run's) and `customers.csv`, checked cell by cell against the JSON answers.

use crate::helpers::*;
use serde_json::{Value, json};
use std::collections::HashMap;

/// RFC 4180 records (quoted fields, doubled quotes, line breaks inside quotes).
pub fn parse_csv(text: &str) -> Vec<Vec<String>> {
    let mut records = Vec::new();
    let mut record = Vec::new();
    let mut field = String::new();
    let mut quoted = false;
    let mut chars = text.chars().peekable();
    while let Some(c) = chars.next() {
        match (quoted, c) {
            (true, '"') if chars.peek() == Some(&'"') => {
                chars.next();
                field.push('"');
            }
            (true, '"') => quoted = false,
            (true, c) => field.push(c),
            (false, '"') => quoted = true,
            (false, ',') => record.push(std::mem::take(&mut field)),
            (false, '\n') => {
                record.push(std::mem::take(&mut field));
                records.push(std::mem::take(&mut record));
            }
            (false, c) => field.push(c),
        }
    }
    assert!(
        field.is_empty() && record.is_empty(),
        "the file ends a record"
    );
    records
}

async fn csv(app: &TestApp, path: &str) -> (Vec<String>, Vec<HashMap<String, String>>) {
    let response = app.get(path).await;
    assert_eq!(response.status(), 200, "{path}");
    assert_eq!(
        response.headers()["content-type"],
        "text/csv; charset=utf-8",
        "{path}"
    );
    let records = parse_csv(&response.text().await.unwrap());
    let header = records[0].clone();
    let rows = records[1..]
        .iter()
        .map(|r| {
            assert_eq!(r.len(), header.len(), "{path}: {r:?}");
            header.iter().cloned().zip(r.iter().cloned()).collect()
        })
        .collect();
    (header, rows)
}

fn number(cell: &str) -> f64 {
    cell.parse()
        .unwrap_or_else(|_| panic!("`{cell}` is not a number"))
}

#[tokio::test]
async fn segments_as_flat_tables_hold_what_the_json_profiles_do() {
    let app = spawn_app().await;
    let seg = mall_segmentation(&app).await;
    let run = app.run_to_success(&seg).await;
    let run = run["id"].as_str().unwrap();
    let profiles = json_ok(app.get(&format!("/v1/runs/{run}/segments")).await).await;
    let features = ["annual_income_k", "spending_score"];

    let (header, rows) = csv(&app, &format!("/v1/runs/{run}/segments.csv")).await;
    assert_eq!(
        header,
        [
            "segment_id",
            "label",
            "persona",
            "size",
            "share",
            "colour",
            "computed_label",
            "centroid_annual_income_k",
            "centroid_spending_score",
            "lift_annual_income_k",
            "lift_spending_score"
        ]
    );
    let segments = profiles["segments"].as_array().unwrap();
    assert_eq!(rows.len(), segments.len());
    for (row, s) in rows.iter().zip(segments) {
        assert_eq!(row["segment_id"], s["segment_id"].to_string());
        assert_eq!(row["label"], s["label"].as_str().unwrap());
        assert_eq!(row["persona"], s["persona"].as_str().unwrap_or(""));
        assert_eq!(row["size"], s["size"].to_string());
        assert_eq!(number(&row["share"]), s["share"].as_f64().unwrap());
        assert_eq!(row["colour"], s["colour"].as_str().unwrap());
        for (i, f) in features.iter().enumerate() {
            assert_eq!(
                number(&row[&format!("centroid_{f}")]),
                s["centroid"][i].as_f64().unwrap()
            );
            assert_eq!(
                number(&row[&format!("lift_{f}")]),
                s["lift"][i].as_f64().unwrap()
            );
        }
    }
    let sizes: i64 = rows.iter().map(|r| number(&r["size"]) as i64).sum();
    assert_eq!(sizes, 200);

    let (header, rows) = csv(&app, &format!("/v1/runs/{run}/segment_features.csv")).await;
    assert_eq!(
        header,
        [
            "segment_id",
            "label",
            "persona",
            "feature",
            "level",
            "value",
            "population",
            "lift",
            "std",
            "min",
            "q1",
            "median",
            "q3",
            "max"
        ]
    );
    assert_eq!(rows.len(), segments.len() * features.len());
    for s in segments {
        let id = s["segment_id"].to_string();
        for (i, f) in features.iter().enumerate() {
            let row = rows
                .iter()
                .find(|r| r["segment_id"] == id && r["feature"] == *f)
                .unwrap_or_else(|| panic!("segment {} × {f}", s["segment_id"]));
            assert_eq!(row["level"], "");
            assert_eq!(number(&row["value"]), s["centroid"][i].as_f64().unwrap());
            assert_eq!(
                number(&row["population"]),
                profiles["population"][i]["mean"].as_f64().unwrap()
            );
            assert_eq!(number(&row["lift"]), s["lift"][i].as_f64().unwrap());
            for stat in ["std", "min", "q1", "median", "q3", "max"] {
                assert_eq!(
                    number(&row[stat]),
                    s["stats"][i][stat].as_f64().unwrap(),
                    "{stat}"
                );
            }
        }
    }
    // A run that has not succeeded has no table; an unknown one is a 404.
    let unknown = uuid::Uuid::new_v4();
    assert_problem(
        app.get(&format!("/v1/runs/{unknown}/segments.csv")).await,
        404,
        "no run",
    )
    .await;
}

#[tokio::test]
async fn categorical_levels_are_rows_of_the_long_form() {
    let app = spawn_app().await;
    app.import_mall().await;
    let seg = app
        .create_segmentation(json!({
            "name": "Mall by gender",
            "config": {
                "features": ["annual_income_k", "spending_score"],
                "categorical": ["gender"],
                "algorithm": {"type": "kmeans", "k": 3}
            }
        }))
        .await;
    let run = app.run_to_success(&seg).await;
    let run = run["id"].as_str().unwrap();
    let profiles = json_ok(app.get(&format!("/v1/runs/{run}/segments")).await).await;
    let (_, rows) = csv(&app, &format!("/v1/runs/{run}/segment_features.csv")).await;
    for s in profiles["segments"].as_array().unwrap() {
        let id = s["segment_id"].to_string();
        for level in s["categories"][0]["levels"].as_array().unwrap() {
            let row = rows
                .iter()
                .find(|r| {
                    r["segment_id"] == id
                        && r["feature"] == "gender"
                        && r["level"] == level["level"].as_str().unwrap()
                })
                .unwrap_or_else(|| panic!("{level}"));
            assert_eq!(number(&row["value"]), level["share"].as_f64().unwrap());
            assert_eq!(number(&row["lift"]), level["lift"].as_f64().unwrap());
            assert_eq!(row["std"], "", "no spread for a level");
        }
    }
    let levels = rows.iter().filter(|r| r["feature"] == "gender").count();
    assert_eq!(levels, 3 * 2, "three segments × Female, Male");
}

#[tokio::test]
async fn customers_csv_has_every_attribute_and_each_active_segment() {
    let app = spawn_app().await;
    let seg = mall_segmentation(&app).await;
    // Before any run: the attributes alone.
    let (header, rows) = csv(&app, "/v1/customers.csv").await;
    assert_eq!(
        header,
        [
            "customer_id",
            "gender",
            "age",
            "annual_income_k",
            "spending_score"
        ]
    );
    assert_eq!(rows.len(), 200);
    let run = app.run_to_success(&seg).await;
    let run = run["id"].as_str().unwrap();
    // A second segmentation, never run: no columns of its own.
    app.create_segmentation(json!({
        "name": "Never run",
        "config": {"features": ["age"], "algorithm": {"type": "kmeans", "k": 2}}
    }))
    .await;
    // A customer stored after the run, whose id and text a spreadsheet would read as formulas.
    assert_eq!(
        app.upsert(json!([{"id": "=1+2", "attributes": {"gender": "@SUM(A1)", "age": 40}}]))
            .await
            .status(),
        200
    );
    let (header, rows) = csv(&app, "/v1/customers.csv").await;
    assert_eq!(
        header,
        [
            "customer_id",
            "gender",
            "age",
            "annual_income_k",
            "spending_score",
            "Mall segment_id",
            "Mall segment_label"
        ]
    );
    assert_eq!(rows.len(), 201);
    let ids: Vec<&str> = rows.iter().map(|r| r["customer_id"].as_str()).collect();
    let mut sorted = ids[..200].to_vec();
    sorted.sort();
    assert_eq!(ids[..200], sorted, "in id order");
    // `=` sorts after the digits; the cell is defused.
    let last = &rows[200];
    assert_eq!(last["customer_id"], "'=1+2", "a formula is defused");
    assert_eq!(last["gender"], "'@SUM(A1)");
    assert_eq!(last["annual_income_k"], "", "a missing value is empty");
    assert_eq!(number(&last["age"]), 40.0);
    assert_eq!(last["Mall segment_id"], "", "not segmented");
    assert_eq!(last["Mall segment_label"], "");

    // Every Mall customer: its attributes as the lookup answers them, its segment as the run's.
    let assignments = json_ok(
        app.get(&format!("/v1/runs/{run}/assignments?limit=1000"))
            .await,
    )
    .await;
    let segment: HashMap<&str, &Value> = assignments["assignments"]
        .as_array()
        .unwrap()
        .iter()
        .map(|a| (a["customer_id"].as_str().unwrap(), a))
        .collect();
    let mall = mall_customers();
    for row in &rows[..200] {
        let id = row["customer_id"].as_str();
        let [age, income, score] = mall[id];
        assert_eq!(number(&row["age"]), age, "{id}");
        assert_eq!(number(&row["annual_income_k"]), income, "{id}");
        assert_eq!(number(&row["spending_score"]), score, "{id}");
        assert!(["Male", "Female"].contains(&row["gender"].as_str()));
        let a = segment[id];
        assert_eq!(row["Mall segment_id"], a["segment_id"].to_string(), "{id}");
        assert_eq!(row["Mall segment_label"], a["label"].as_str().unwrap());
    }
    let lookup = json_ok(app.get("/v1/customers/0042").await).await;
    let row = rows.iter().find(|r| r["customer_id"] == "0042").unwrap();
    assert_eq!(
        row["gender"],
        lookup["attributes"]["gender"].as_str().unwrap()
    );

    // A second segmentation, run after the formula customer came: each row carries its
    // segment in both, and the newcomer is in the second only.
    let ages = app
        .create_segmentation(json!({
            "name": "Ages",
            "config": {"features": ["age"], "algorithm": {"type": "kmeans", "k": 3}}
        }))
        .await;
    let by_age = app.run_to_success(&ages).await;
    let by_age = by_age["id"].as_str().unwrap();
    let page = json_ok(
        app.get(&format!("/v1/runs/{by_age}/assignments?limit=1000"))
            .await,
    )
    .await;
    let age_segment: HashMap<&str, &Value> = page["assignments"]
        .as_array()
        .unwrap()
        .iter()
        .map(|a| (a["customer_id"].as_str().unwrap(), a))
        .collect();
    assert_eq!(age_segment.len(), 201);
    let (header, rows) = csv(&app, "/v1/customers.csv").await;
    assert_eq!(
        header[5..],
        [
            "Ages segment_id",
            "Ages segment_label",
            "Mall segment_id",
            "Mall segment_label"
        ],
        "by segmentation name"
    );
    for row in &rows {
        let raw = row["customer_id"].trim_start_matches('\'');
        let a = age_segment[raw];
        assert_eq!(row["Ages segment_id"], a["segment_id"].to_string(), "{raw}");
        assert_eq!(row["Ages segment_label"], a["label"].as_str().unwrap());
        match segment.get(raw) {
            Some(m) => assert_eq!(row["Mall segment_id"], m["segment_id"].to_string()),
            None => assert_eq!(row["Mall segment_id"], "", "{raw}"),
        }
    }

    // The catalogue changes: a deleted attribute leaves a gap in the stored positions, and
    // one added later lies beyond the end of every earlier customer's values.
    assert_eq!(app.delete("/v1/attributes/gender").await.status(), 204);
    assert_eq!(
        app.upsert(json!([{"id": "0007", "attributes": {"tier": "gold", "visits": 3}}]))
            .await
            .status(),
        200
    );
    let (header, rows) = csv(&app, "/v1/customers.csv").await;
    assert_eq!(
        header[..6],
        [
            "customer_id",
            "age",
            "annual_income_k",
            "spending_score",
            "tier",
            "visits"
        ]
    );
    for row in &rows[..200] {
        let id = row["customer_id"].as_str();
        let [age, income, score] = mall[id];
        assert_eq!(number(&row["age"]), age, "{id}");
        assert_eq!(number(&row["annual_income_k"]), income, "{id}");
        assert_eq!(number(&row["spending_score"]), score, "{id}");
        let (tier, visits) = if id == "0007" {
            ("gold", "3")
        } else {
            ("", "")
        };
        assert_eq!(row["tier"], tier, "{id}");
        assert_eq!(row["visits"], visits, "{id}");
    }
}

#[tokio::test]
async fn customers_csv_takes_no_parameters_and_needs_the_read_scope() {
    let app = spawn_app().await;
    assert_problem(app.get("/v1/customers.csv?limit=5").await, 422, "limit").await;
    let anonymous = reqwest::Client::new()
        .get(app.url("/v1/customers.csv"))
        .send()
        .await
        .unwrap();
    assert_eq!(anonymous.status(), 401);
}
