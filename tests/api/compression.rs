//! Compressed request bodies (`Content-Encoding: gzip`): the imports and the JSON batches
//! decode them as they arrive, to the same answers as the plain bodies; the decoded size is
//! bounded (413 naming the limit), a body that is not gzip is a 400 and an encoding the server
//! does not speak a 415, and nothing of a refused body is written.

use crate::helpers::{
    MALL_CSV, TEST_MAX_DECOMPRESSED_BYTES, TEST_MAX_JSON_BYTES, TestApp, assert_problem, json_ok,
    spawn_app,
};
use reqwest::Response;
use serde_json::json;
use std::io::Write;

fn gzip(bytes: &[u8]) -> Vec<u8> {
    let mut encoder = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::default());
    encoder.write_all(bytes).unwrap();
    encoder.finish().unwrap()
}

async fn post(
    app: &TestApp,
    path: &str,
    content_type: &str,
    encoding: &str,
    body: Vec<u8>,
) -> Response {
    app.client
        .post(app.url(path))
        .header("content-type", content_type)
        .header("content-encoding", encoding)
        .body(body)
        .send()
        .await
        .unwrap()
}

#[tokio::test]
async fn gzip_imports_and_batches_give_the_answers_of_plain_ones() {
    let app = spawn_app().await;
    let mall = std::fs::read(MALL_CSV).unwrap();
    let answer = json_ok(
        post(
            &app,
            "/v1/customers/import",
            "text/csv",
            "gzip",
            gzip(&mall),
        )
        .await,
    )
    .await;
    assert_eq!(answer["inserted"], 200);
    assert_eq!(app.customer_count().await, 200);
    let first = json_ok(app.get("/v1/customers/0001").await).await;
    assert_eq!(
        first["attributes"],
        json!({"gender": "Male", "age": 19.0, "annual_income_k": 15.0, "spending_score": 39.0})
    );
    // The same file plain: nothing changes.
    let again = json_ok(app.import_csv("", mall.clone()).await).await;
    assert_eq!(
        (again["inserted"].as_u64(), again["unchanged"].as_u64()),
        (Some(0), Some(200))
    );

    // Two gzip members one after the other (`cat a.gz b.gz`) are one body.
    let (head, tail) = mall.split_at(mall.len() / 2);
    let mut members = gzip(head);
    members.extend(gzip(tail));
    let answer =
        json_ok(post(&app, "/v1/customers/import", "text/csv", "x-gzip", members).await).await;
    assert_eq!(answer["unchanged"], 200);

    // Order lines, as the README's walkthrough posts the .gz file.
    let slice = std::fs::read(concat!(
        env!("CARGO_MANIFEST_DIR"),
        "/tests/fixtures/online_retail_slice.csv"
    ))
    .unwrap();
    let plain_app = spawn_app().await;
    let plain = json_ok(
        plain_app
            .post_raw("/v1/orders/import", "text/csv", slice.clone())
            .await,
    )
    .await;
    let zipped =
        json_ok(post(&app, "/v1/orders/import", "text/csv", "gzip", gzip(&slice)).await).await;
    for field in ["lines", "inserted", "skipped", "excluded_from_rfm"] {
        assert_eq!(zipped[field], plain[field], "{field}");
    }

    // A JSON batch.
    let customers = app.customer_count().await;
    let batch = json!({"customers": [{"id": "g1", "attributes": {"age": 30}}]});
    let answer = json_ok(
        post(
            &app,
            "/v1/customers",
            "application/json",
            "gzip",
            gzip(batch.to_string().as_bytes()),
        )
        .await,
    )
    .await;
    assert_eq!(answer["inserted"], 1);
    assert_eq!(app.customer_count().await, customers + 1);
}

#[tokio::test]
async fn compressed_bodies_are_bounded_and_bad_ones_write_nothing() {
    let app = spawn_app().await;
    // Decodes to more than the limit (1 MiB here) while only a few KiB on the wire.
    let mut csv = String::from("id,a\n");
    let mut i = 0u64;
    while (csv.len() as u64) <= TEST_MAX_DECOMPRESSED_BYTES {
        csv.push_str(&format!("c{i:08},1\n"));
        i += 1;
    }
    let bomb = gzip(csv.as_bytes());
    assert!(bomb.len() < 200 * 1024, "{}", bomb.len());
    let refused = post(
        &app,
        "/v1/customers/import",
        "text/csv",
        "gzip",
        bomb.clone(),
    )
    .await;
    let problem = assert_problem(refused, 413, "--max-decompressed-bytes").await;
    assert!(
        problem["detail"]
            .as_str()
            .unwrap()
            .contains(&TEST_MAX_DECOMPRESSED_BYTES.to_string()),
        "{problem}"
    );
    assert_eq!(app.customer_count().await, 0);
    // The same rows plain are any size.
    let plain = json_ok(app.import_csv("", csv).await).await;
    assert_eq!(plain["inserted"].as_u64(), Some(i));
    let before = app.customer_count().await;

    // A JSON batch's limit holds for what it decodes to.
    let customers: Vec<_> = (0..TEST_MAX_JSON_BYTES / 10)
        .map(|i| json!({"id": format!("j{i}")}))
        .collect();
    let big = json!({ "customers": customers }).to_string();
    assert!(big.len() > TEST_MAX_JSON_BYTES);
    let refused = post(
        &app,
        "/v1/customers",
        "application/json",
        "gzip",
        gzip(big.as_bytes()),
    )
    .await;
    assert_problem(refused, 413, "limit").await;

    // Not gzip, or cut short: 400, and nothing written.
    let mall = gzip(&std::fs::read(MALL_CSV).unwrap());
    for body in [b"id,a\nx,1\n".to_vec(), mall[..mall.len() / 2].to_vec()] {
        let refused = post(&app, "/v1/customers/import", "text/csv", "gzip", body).await;
        assert_problem(refused, 400, "gzip").await;
    }
    let refused = post(
        &app,
        "/v1/orders/import",
        "text/csv",
        "gzip",
        b"not gzip".to_vec(),
    )
    .await;
    assert_problem(refused, 400, "gzip").await;
    let refused = post(
        &app,
        "/v1/customers",
        "application/json",
        "gzip",
        b"{}".to_vec(),
    )
    .await;
    assert_problem(refused, 400, "gzip").await;

    // An encoding the server does not decode: 415 naming the header.
    for (path, content_type) in [
        ("/v1/customers/import", "text/csv"),
        ("/v1/orders/import", "text/csv"),
        ("/v1/customers", "application/json"),
    ] {
        let refused = post(&app, path, content_type, "br", b"whatever".to_vec()).await;
        assert_problem(refused, 415, "Content-Encoding").await;
        // Bytes that are not ASCII are not read as no encoding at all.
        let refused = app
            .client
            .post(app.url(path))
            .header("content-type", content_type)
            .header(
                "content-encoding",
                reqwest::header::HeaderValue::from_bytes(b"\xc2\x84").unwrap(),
            )
            .body(b"whatever".to_vec())
            .send()
            .await
            .unwrap();
        assert_problem(refused, 415, "Content-Encoding").await;
    }
    assert_eq!(app.customer_count().await, before);
    assert_eq!(app.count("SELECT count(*) FROM order_lines").await, 0);
}
