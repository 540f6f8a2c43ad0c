use crate::helpers::{json_ok, spawn_app};
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
