//! Every error class: a problem+json body naming the field (or CSV lines), and a database left
//! exactly as it was.

use crate::helpers::{TEST_MAX_BATCH, TEST_MAX_JSON_BYTES, assert_problem, spawn_app};
use serde_json::json;

#[tokio::test]
async fn malformed_json_is_a_400_and_writes_nothing() {
    let app = spawn_app().await;
    app.import_mall().await;
    let before = app.fingerprint().await;
    let response = app
        .post_raw(
            "/v1/customers",
            "application/json",
            r#"{"customers": [{"id": "1",}"#,
        )
        .await;
    assert_problem(response, 400, "line 1, column").await;
    assert_eq!(app.fingerprint().await, before);
}

#[tokio::test]
async fn invalid_values_are_422s_naming_each_field_and_write_nothing() {
    let app = spawn_app().await;
    app.import_mall().await;
    let before = app.fingerprint().await;

    let cases = [
        (json!({"customers": [{"id": 1}]}), "customers[0].id"),
        (
            json!({"customers": [{"attributes": {}}]}),
            "missing field `id`",
        ),
        (json!({"customers": {}}), "customers"),
        (
            json!({"customers": [], "extra": 1}),
            "unknown field `extra`",
        ),
        (json!({"customers": [{"id": ""}]}), "customers[0].id"),
        (json!({"customers": [{"id": " 7"}]}), "white space"),
        (
            json!({"customers": [{"id": "1", "attributes": {"Age": 3}}]}),
            "customers[0].attributes.Age",
        ),
        (
            json!({"customers": [{"id": "1", "attributes": {"id": 3}}]}),
            "reserved",
        ),
        (
            json!({"customers": [{"id": "1", "attributes": {"tags": ["a"]}}]}),
            "customers[0].attributes.tags",
        ),
        // The catalogue says `age` is numeric and `gender` categorical.
        (
            json!({"customers": [{"id": "1", "attributes": {"age": "old"}}]}),
            "customers[0].attributes.age",
        ),
        (
            json!({"customers": [{"id": "1", "attributes": {"gender": 1}}]}),
            "`gender` is a categorical attribute",
        ),
        // A new attribute must have one kind across the batch.
        (
            json!({"customers": [{"id": "1", "attributes": {"tier": 1}}, {"id": "2", "attributes": {"tier": "gold"}}]}),
            "customers[1].attributes.tier",
        ),
    ];
    for (body, needle) in cases {
        let response = app.post_json("/v1/customers", &body).await;
        assert_problem(response, 422, needle).await;
    }
    assert_eq!(app.fingerprint().await, before);
}

#[tokio::test]
async fn one_bad_customer_rejects_the_whole_batch() {
    let app = spawn_app().await;
    app.import_mall().await;
    let before = app.fingerprint().await;
    let mut customers: Vec<_> = (0..50)
        .map(|i| json!({"id": format!("new-{i}"), "attributes": {"age": i}}))
        .collect();
    customers[37] = json!({"id": "new-37", "attributes": {"age": "x"}});
    let body = assert_problem(
        app.upsert(json!(customers)).await,
        422,
        "customers[37].attributes.age",
    )
    .await;
    assert_eq!(body["errors"].as_array().unwrap().len(), 1);
    assert_eq!(app.fingerprint().await, before);
}

#[tokio::test]
async fn a_customer_twice_in_one_batch_is_refused_with_both_places() {
    let app = spawn_app().await;
    app.import_mall().await;
    let before = app.fingerprint().await;
    let response = app
        .upsert(json!([{"id": "0001", "attributes": {"age": 1}}, {"id": "x"}, {"id": "0001", "attributes": {"age": 2}}]))
        .await;
    let body = assert_problem(response, 422, "`0001` appears more than once").await;
    assert_eq!(body["errors"][0]["field"], "customers[0].id");
    assert!(
        body["errors"][0]["message"]
            .as_str()
            .unwrap()
            .contains("0, 2"),
        "{body}"
    );
    assert_eq!(app.fingerprint().await, before);

    let csv = "id,age\n1,10\n2,20\n1,30\n";
    let body = assert_problem(
        app.import_csv("", csv).await,
        422,
        "`1` appears more than once (at 2, 4)",
    )
    .await;
    assert_eq!(body["errors"][0]["line"], 2);
    assert_eq!(app.fingerprint().await, before);
}

#[tokio::test]
async fn oversized_batches_and_bodies_are_413s() {
    let app = spawn_app().await;
    let customers: Vec<_> = (0..=TEST_MAX_BATCH)
        .map(|i| json!({"id": i.to_string()}))
        .collect();
    assert_problem(
        app.upsert(json!(customers)).await,
        413,
        &format!("the limit is {TEST_MAX_BATCH}"),
    )
    .await;

    let big = "x".repeat(TEST_MAX_JSON_BYTES + 1);
    let body = json!({"customers": [{"id": "1", "attributes": {"note": big}}]});
    assert_problem(app.post_json("/v1/customers", &body).await, 413, "limit").await;
    assert_eq!(app.customer_count().await, 0);
    assert_eq!(app.count("SELECT count(*) FROM attributes").await, 0);
}

#[tokio::test]
async fn wrong_content_types_are_415s() {
    let app = spawn_app().await;
    app.import_mall().await;
    let before = app.fingerprint().await;
    let response = app
        .post_raw("/v1/customers", "text/plain", r#"{"customers": []}"#)
        .await;
    assert_problem(response, 415, "application/json").await;
    let response = app
        .post_raw("/v1/customers/import", "application/json", "id\n1\n")
        .await;
    assert_problem(response, 415, "text/csv").await;
    let response = app
        .client
        .post(app.url("/v1/customers/import"))
        .body("id\n1\n")
        .send()
        .await
        .unwrap();
    assert_problem(response, 415, "has none").await;
    let response = app
        .post_raw("/v1/orders/import", "application/json", "x")
        .await;
    assert_problem(response, 415, "text/csv").await;
    assert_eq!(app.fingerprint().await, before);
    assert_eq!(app.count("SELECT count(*) FROM order_lines").await, 0);
}

#[tokio::test]
async fn bad_csv_rows_are_reported_by_line_and_nothing_is_written() {
    let app = spawn_app().await;
    app.import_mall().await;
    let before = app.fingerprint().await;

    // Good rows before and after the bad ones are not written either.
    let csv = "CustomerID,Age,City\r\n\
               n1,30,Paris\r\n\
               n2,abc,Lyon\r\n\
               n3,40\r\n\
               n4,50,Nice\r\n\
               ,60,Metz\r\n";
    let body = assert_problem(app.import_csv("", csv).await, 422, "lines 3, 4, 6").await;
    let errors = body["errors"].as_array().unwrap();
    assert_eq!(errors.len(), 3, "{body}");
    assert_eq!(errors[0]["line"], 3);
    assert_eq!(errors[0]["field"], "Age");
    // `age` exists (from the Mall import) as a numeric attribute.
    assert_eq!(
        errors[0]["message"],
        "`abc` is not a number (column `Age` holds a numeric attribute)"
    );
    assert_eq!(errors[1]["line"], 4);
    assert!(
        errors[1]["message"]
            .as_str()
            .unwrap()
            .contains("expected 3 fields, found 2")
    );
    assert_eq!(errors[2]["line"], 6);
    assert_eq!(errors[2]["field"], "CustomerID");
    assert_eq!(app.fingerprint().await, before);

    // ?categorical cannot change an existing attribute, so it is not offered.
    let body = assert_problem(
        app.import_csv("", "CustomerID,Age\r\nn1,abc\r\n").await,
        422,
        "line 2",
    )
    .await;
    assert_eq!(
        body["errors"][0]["message"],
        "`abc` is not a number (column `Age` holds a numeric attribute)"
    );
    assert_eq!(app.fingerprint().await, before);
}

#[tokio::test]
async fn at_most_100_bad_lines_are_listed_but_all_are_counted() {
    let app = spawn_app().await;
    // Kinds are decided on the first 10,000 rows: `score` is numeric, the bad rows come after.
    let mut csv = String::from("id,score\n");
    for i in 0..10_000 {
        csv.push_str(&format!("{i},{i}\n"));
    }
    for i in 0..150 {
        csv.push_str(&format!("x{i},bad\n"));
    }
    let body = assert_problem(app.import_csv("", csv).await, 422, "150 invalid rows").await;
    let errors = body["errors"].as_array().unwrap();
    assert_eq!(errors.len(), 100);
    assert_eq!(errors[0]["line"], 10_002);
    // A new column: its kind was inferred, and can be forced.
    assert_eq!(
        errors[0]["message"],
        "`bad` is not a number (column `score` is numeric; pass ?categorical=score to store it as text)"
    );
    assert_eq!(errors[99]["line"], 10_101);
    assert_eq!(app.customer_count().await, 0);
    // Nor the new column's attribute.
    assert_eq!(app.count("SELECT count(*) FROM attributes").await, 0);
}

#[tokio::test]
async fn unusable_csv_headers_are_422s() {
    let app = spawn_app().await;
    assert_problem(app.import_csv("", "").await, 422, "empty").await;
    assert_problem(
        app.import_csv("", "name,age\nx,1\n").await,
        422,
        "id_column",
    )
    .await;
    assert_problem(
        app.import_csv("?id_column=Nope", "id,age\n1,2\n").await,
        422,
        "no column `Nope`",
    )
    .await;
    assert_problem(
        app.import_csv("", "id,Age,age\n1,2,3\n").await,
        422,
        "both become attribute `age`",
    )
    .await;
    assert_problem(
        app.import_csv("", "id,(1-100)\n1,2\n").await,
        422,
        "no letters or digits",
    )
    .await;
    assert_problem(
        app.import_csv("?unknown=1", "id\n1\n").await,
        422,
        "unknown field `unknown`",
    )
    .await;
    assert_eq!(app.customer_count().await, 0);
    assert_eq!(app.count("SELECT count(*) FROM attributes").await, 0);
}

#[tokio::test]
async fn bad_query_parameters_are_422s_naming_the_parameter() {
    let app = spawn_app().await;
    let body = assert_problem(app.get("/v1/customers?limit=abc").await, 422, "limit").await;
    assert_eq!(body["errors"][0]["field"], "limit");
    assert_problem(
        app.get("/v1/customers?limit=0").await,
        422,
        "limit: must be between 1 and 1000",
    )
    .await;
    assert_problem(app.get("/v1/customers?limit=1001").await, 422, "limit").await;
    assert_problem(
        app.get("/v1/customers?limt=5").await,
        422,
        "unknown field `limt`",
    )
    .await;
}

#[tokio::test]
async fn unknown_routes_are_404s_and_wrong_methods_405s() {
    let app = spawn_app().await;
    assert_problem(app.get("/v1/nothing").await, 404, "/v1/nothing").await;
    assert_problem(app.get("/nothing").await, 404, "no such resource").await;
    // The dashboard's page is read-only.
    let response = app.client.post(app.url("/")).send().await.unwrap();
    assert_problem(response, 405, "").await;
    let response = app
        .client
        .put(app.url("/v1/customers"))
        .send()
        .await
        .unwrap();
    let allow = response.headers()["allow"].to_str().unwrap().to_owned();
    assert_problem(response, 405, "PUT is not allowed on /v1/customers").await;
    assert_eq!(allow, "GET, POST");
    let response = app
        .client
        .patch(app.url("/v1/customers/0001"))
        .send()
        .await
        .unwrap();
    assert_problem(response, 405, "allowed: GET, DELETE").await;
    // A literal path is its own resource, though `/v1/customers/{id}` matches it too.
    let response = app
        .client
        .request(reqwest::Method::OPTIONS, app.url("/v1/customers/import"))
        .send()
        .await
        .unwrap();
    assert_eq!(response.headers()["allow"], "POST");
    assert_problem(response, 405, "allowed: POST").await;
}
