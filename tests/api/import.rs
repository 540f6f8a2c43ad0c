use crate::helpers::{assert_problem, json_ok, spawn_app};
use serde_json::json;

#[tokio::test]
async fn mall_csv_imports_as_it_is() {
    let app = spawn_app().await;
    let out = app.import_mall().await;
    assert_eq!(out["id_column"], "CustomerID");
    assert_eq!(out["received"], 200);
    assert_eq!(out["inserted"], 200);
    assert_eq!(
        out["columns"],
        json!([
            {"header": "Genre", "attribute": "gender", "kind": "categorical"},
            {"header": "Age", "attribute": "age", "kind": "numeric"},
            {"header": "Annual Income (k$)", "attribute": "annual_income_k", "kind": "numeric"},
            {"header": "Spending Score (1-100)", "attribute": "spending_score", "kind": "numeric"}
        ])
    );
    assert_eq!(app.customer_count().await, 200);

    let first = json_ok(app.get("/v1/customers/0001").await).await;
    assert_eq!(first["id"], "0001", "the id keeps its leading zeros");
    assert_eq!(
        first["attributes"],
        json!({"gender": "Male", "age": 19.0, "annual_income_k": 15.0, "spending_score": 39.0})
    );
    // The last row has no final newline in the file.
    let last = json_ok(app.get("/v1/customers/0200").await).await;
    assert_eq!(
        last["attributes"],
        json!({"gender": "Male", "age": 30.0, "annual_income_k": 137.0, "spending_score": 83.0})
    );
    assert_problem(app.get("/v1/customers/1").await, 404, "`1`").await;
}

#[tokio::test]
async fn reimporting_updates_and_never_duplicates() {
    let app = spawn_app().await;
    app.import_mall().await;
    let again = app.import_mall().await;
    assert_eq!(
        (
            again["inserted"].as_u64(),
            again["updated"].as_u64(),
            again["unchanged"].as_u64()
        ),
        (Some(0), Some(0), Some(200))
    );
    assert_eq!(app.customer_count().await, 200);

    // A changed export updates the customers it names and keeps attributes it lacks.
    let changed = "CustomerID,Age\r\n0001,20\r\n0201,33\r\n";
    let out = json_ok(app.import_csv("", changed).await).await;
    assert_eq!(
        (out["inserted"].as_u64(), out["updated"].as_u64()),
        (Some(1), Some(1))
    );
    let c = json_ok(app.get("/v1/customers/0001").await).await;
    assert_eq!(
        c["attributes"],
        json!({"gender": "Male", "age": 20.0, "annual_income_k": 15.0, "spending_score": 39.0})
    );
    assert_eq!(app.customer_count().await, 201);
}

#[tokio::test]
async fn csv_dialects_bom_lf_quotes_and_options() {
    let app = spawn_app().await;
    let csv = "\u{feff}Client Number,City,Zip,Total Spend (EUR),Notes\n\
               c-1,\"Paris, FR\",75001,120.5,\"said \"\"hi\"\"\"\n\
               c-2,Lyon,69001,,NA\n\
               c-3,\"Saint-\nÉtienne\",42000,15,";
    let out = json_ok(
        app.import_csv("?id_column=Client%20Number&categorical=Zip", csv)
            .await,
    )
    .await;
    assert_eq!(out["id_column"], "Client Number");
    assert_eq!(out["received"], 3);
    let kinds: Vec<_> = out["columns"]
        .as_array()
        .unwrap()
        .iter()
        .map(|c| {
            (
                c["attribute"].as_str().unwrap(),
                c["kind"].as_str().unwrap(),
            )
        })
        .collect();
    assert_eq!(
        kinds,
        [
            ("city", "categorical"),
            ("zip", "categorical"),
            ("total_spend_eur", "numeric"),
            ("notes", "categorical")
        ]
    );
    let c1 = json_ok(app.get("/v1/customers/c-1").await).await;
    assert_eq!(
        c1["attributes"],
        json!({"city": "Paris, FR", "zip": "75001", "total_spend_eur": 120.5, "notes": "said \"hi\""})
    );
    let c2 = json_ok(app.get("/v1/customers/c-2").await).await;
    assert_eq!(
        c2["attributes"],
        json!({"city": "Lyon", "zip": "69001"}),
        "empty and NA cells are missing"
    );
    let c3 = json_ok(app.get("/v1/customers/c-3").await).await;
    assert_eq!(c3["attributes"]["city"], "Saint-\nÉtienne");
}

#[tokio::test]
async fn an_existing_attribute_keeps_its_kind() {
    let app = spawn_app().await;
    json_ok(
        app.upsert(json!([{"id": "x", "attributes": {"zip": "01000"}}]))
            .await,
    )
    .await;
    let out = json_ok(app.import_csv("", "id,zip\ny,75001\n").await).await;
    assert_eq!(out["columns"][0]["kind"], "categorical");
    let y = json_ok(app.get("/v1/customers/y").await).await;
    assert_eq!(y["attributes"]["zip"], "75001");
}

#[tokio::test]
async fn large_csv_streams_through_many_copy_chunks() {
    let app = spawn_app().await;
    let mut csv = String::from("customer_id,a,b,c\n");
    for i in 0..60_000 {
        csv.push_str(&format!("{i:06},{},{}.25,{}\n", i % 97, i, i * 3));
    }
    // Sent as a stream of small chunks, as a large upload arrives.
    let chunks: Vec<Result<Vec<u8>, std::io::Error>> = csv
        .into_bytes()
        .chunks(8191)
        .map(|c| Ok(c.to_vec()))
        .collect();
    let body = reqwest::Body::wrap_stream(futures_util::stream::iter(chunks));
    let out = json_ok(app.import_csv("", body).await).await;
    assert_eq!(out["inserted"], 60_000);
    let sum: f64 = sqlx::query_scalar("SELECT sum(numeric_values[2]) FROM customers")
        .fetch_one(&app.pool)
        .await
        .unwrap();
    assert_eq!(sum, (0..60_000).map(|i| i as f64 + 0.25).sum::<f64>());
    let c = json_ok(app.get("/v1/customers/012345").await).await;
    assert_eq!(
        c["attributes"],
        json!({"a": (12345 % 97) as f64, "b": 12345.25, "c": 37035.0})
    );
}
