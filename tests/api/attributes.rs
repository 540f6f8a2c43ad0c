use crate::helpers::{TEST_MAX_ATTRIBUTES, assert_problem, json_ok, spawn_app};
use serde_json::json;

fn close(a: &serde_json::Value, b: f64) -> bool {
    (a.as_f64().unwrap() - b).abs() < 1e-9 * b.abs().max(1.0)
}

#[tokio::test]
async fn catalogue_reports_the_mall_figures() {
    let app = spawn_app().await;
    app.import_mall().await;
    let catalogue = json_ok(app.get("/v1/attributes").await).await;
    assert_eq!(catalogue["customers"], 200);
    let attrs = catalogue["attributes"].as_array().unwrap();
    let names: Vec<_> = attrs.iter().map(|a| a["name"].as_str().unwrap()).collect();
    assert_eq!(
        names,
        ["gender", "age", "annual_income_k", "spending_score"]
    );

    // Reference figures: pandas on Mall_Customers.csv (`describe()`, and `std(ddof=0)`).
    let income = &attrs[2];
    assert_eq!(income["kind"], "numeric");
    assert_eq!(income["customers"], 200);
    assert!(close(&income["numeric"]["mean"], 60.56), "{income}");
    assert!(close(&income["numeric"]["min"], 15.0));
    assert!(close(&income["numeric"]["max"], 137.0));
    assert!(
        close(&income["numeric"]["std"], 26.19897707926781),
        "{income}"
    );
    let age = &attrs[1]["numeric"];
    assert!(
        close(&age["mean"], 38.85) && close(&age["min"], 18.0) && close(&age["max"], 70.0),
        "{age}"
    );
    assert!(close(&age["std"], 13.934041050606963), "{age}");
    let score = &attrs[3]["numeric"];
    assert!(
        close(&score["mean"], 50.2) && close(&score["min"], 1.0) && close(&score["max"], 99.0),
        "{score}"
    );

    let gender = &attrs[0];
    assert_eq!(gender["kind"], "categorical");
    assert_eq!(gender["customers"], 200);
    assert!(gender.get("numeric").is_none());
    assert_eq!(
        gender["categorical"],
        json!({"distinct_values": 2, "top_values": [{"value": "Female", "customers": 112}, {"value": "Male", "customers": 88}]})
    );
}

#[tokio::test]
async fn catalogue_counts_only_customers_with_a_value() {
    let app = spawn_app().await;
    let empty = json_ok(app.get("/v1/attributes").await).await;
    assert_eq!(empty, json!({"customers": 0, "attributes": []}));
    json_ok(
        app.upsert(json!([
            {"id": "a", "attributes": {"x": 1, "y": 10}},
            {"id": "b", "attributes": {"x": 3}},
            {"id": "c", "attributes": {"y": null}}
        ]))
        .await,
    )
    .await;
    let catalogue = json_ok(app.get("/v1/attributes").await).await;
    assert_eq!(catalogue["customers"], 3);
    let x = &catalogue["attributes"][0];
    assert_eq!(
        (x["name"].as_str(), x["customers"].as_i64()),
        (Some("x"), Some(2))
    );
    assert!(close(&x["numeric"]["mean"], 2.0));
    let y = &catalogue["attributes"][1];
    assert_eq!(
        (y["name"].as_str(), y["customers"].as_i64()),
        (Some("y"), Some(1))
    );
}

/// The catalogue is bounded: a write that would take it past the limit writes nothing and
/// says how to make room; deleting an attribute makes room and clears its values.
#[tokio::test]
async fn the_catalogue_is_bounded_and_attributes_can_be_deleted() {
    let app = spawn_app().await;
    let wide = |n: usize, prefix: &str| {
        let header: Vec<String> = (0..n).map(|i| format!("{prefix}{i}")).collect();
        let row: Vec<String> = (0..n).map(|i| i.to_string()).collect();
        format!("id,{}\n1,{}\n", header.join(","), row.join(","))
    };
    let body = assert_problem(
        app.import_csv("", wide(TEST_MAX_ATTRIBUTES + 1, "a")).await,
        422,
        "at most 40",
    )
    .await;
    assert_eq!(body["errors"][0]["field"], "attributes");
    assert_eq!(app.count("SELECT count(*) FROM attributes").await, 0);
    assert_eq!(app.customer_count().await, 0);
    // A header without lines creates nothing.
    assert_problem(app.import_csv("", "id,x,y\n").await, 422, "no data lines").await;
    assert_eq!(app.count("SELECT count(*) FROM attributes").await, 0);

    json_ok(app.import_csv("", wide(TEST_MAX_ATTRIBUTES, "a")).await).await;
    let one_more = json!([{"id": "2", "attributes": {"b": 1}}]);
    assert_problem(
        app.upsert(one_more.clone()).await,
        422,
        "DELETE /v1/attributes",
    )
    .await;

    // In use by a segmentation: refused, naming it.
    app.create_segmentation(json!({"name": "Uses a3", "config": {"features": ["a3"]}}))
        .await;
    assert_problem(app.delete("/v1/attributes/a3").await, 409, "`Uses a3`").await;
    assert_problem(app.delete("/v1/attributes/nope").await, 404, "nope").await;
    assert_problem(
        app.delete("/v1/attributes/Not%20a%20name").await,
        422,
        "name",
    )
    .await;

    assert_eq!(app.delete("/v1/attributes/a7").await.status(), 204);
    assert_eq!(
        app.count("SELECT count(*) FROM attributes WHERE name = 'a7'")
            .await,
        0
    );
    // Its place goes to the next new attribute, which does not inherit its values.
    assert_eq!(app.upsert(one_more).await.status(), 200);
    let customer = json_ok(app.get("/v1/customers/1").await).await;
    assert!(customer["attributes"].get("a7").is_none(), "{customer}");
    assert!(customer["attributes"].get("b").is_none(), "{customer}");
    assert_eq!(customer["attributes"]["a8"], 8.0, "{customer}");
    let b = json_ok(app.get("/v1/customers/2").await).await;
    assert_eq!(b["attributes"]["b"], 1.0, "{b}");
}
