//! What protects the people who use the data: exports a spreadsheet opens safely.

use crate::helpers::*;
use serde_json::json;

/// OWASP's CSV injection rule: a cell starting with `=`, `+`, `-` or `@` is a formula to a
/// spreadsheet, so the export prefixes it with `'`; ids and labels are the client's text.
#[tokio::test]
async fn csv_exports_neutralise_spreadsheet_formulas() {
    let app = spawn_app().await;
    let ids = [
        "=HYPERLINK(\"http://evil\",\"x\")",
        "+1",
        "-5",
        "@SUM(A1)",
        "plain",
        "7",
    ];
    let customers: Vec<_> = ids
        .iter()
        .enumerate()
        .map(|(i, id)| json!({"id": id, "attributes": {"spend": if i % 2 == 0 { 1.0 } else { 90.0 }}}))
        .collect();
    assert_eq!(app.upsert(json!(customers)).await.status(), 200);
    let seg = app
        .create_segmentation(json!({"name": "Two", "config": {"features": ["spend"],
            "algorithm": {"type": "kmeans", "k": 2}}}))
        .await;
    let run = app.run_to_success(&seg).await;
    let run = run["id"].as_str().unwrap();
    // A label a person typed, as a spreadsheet would run it.
    sqlx::query("UPDATE run_segments SET label = '=cmd|'' /C calc''!A0' WHERE run_id = $1::uuid AND stable_id = 1")
        .bind(run)
        .execute(&app.pool)
        .await
        .unwrap();
    let csv = app
        .get(&format!("/v1/runs/{run}/assignments.csv"))
        .await
        .text()
        .await
        .unwrap();
    let first_cells: Vec<&str> = csv
        .lines()
        .skip(1)
        .map(|l| l.split(',').next().unwrap())
        .collect();
    for cell in &first_cells {
        let cell = cell.trim_start_matches('"');
        assert!(
            !cell.starts_with(['=', '+', '-', '@']),
            "a formula left live: {cell}\n{csv}"
        );
    }
    assert!(
        csv.contains("\"'=HYPERLINK(\"\"http://evil\"\",\"\"x\"\")\""),
        "{csv}"
    );
    assert!(
        csv.contains("\n'+1,") && csv.contains("\n'-5,") && csv.contains("\n'@SUM(A1),"),
        "{csv}"
    );
    assert!(csv.contains("\nplain,") && csv.contains("\n7,"), "{csv}");
    assert!(csv.contains("'=cmd|' /C calc'!A0"), "{csv}");
    assert!(!csv.contains(",=cmd"), "{csv}");
    // The JSON page gives the ids as they are: only the spreadsheet format is defused.
    let page = json_ok(app.get(&format!("/v1/runs/{run}/assignments")).await).await;
    assert!(page.to_string().contains("\"+1\""), "{page}");
}

/// A web page can post `text/plain` to any address without a CORS preflight: an import that
/// took it could be fed by any page open in the user's browser. Imports take CSV types only.
#[tokio::test]
async fn imports_refuse_the_content_type_a_cross_site_form_can_send() {
    let app = spawn_app().await;
    for path in ["/v1/customers/import", "/v1/orders/import"] {
        let csv = "CustomerID,InvoiceNo,StockCode,Quantity,InvoiceDate,UnitPrice\n1,1,A,1,12/1/2010 8:26,2.5\n";
        assert_problem(app.post_raw(path, "text/plain", csv).await, 415, "text/csv").await;
    }
    assert_eq!(app.customer_count().await, 0);
    assert_eq!(app.count("SELECT count(*) FROM order_lines").await, 0);
    // CSV types still work.
    assert_eq!(
        app.post_raw("/v1/customers/import", "application/csv", "id,a\n1,2\n")
            .await
            .status(),
        200
    );
}

/// What a cross-site form can post without a preflight is refused by the endpoints that take
/// no body: a page in the browser cannot retrain, cancel, activate or refresh.
#[tokio::test]
async fn body_less_posts_refuse_what_a_cross_site_form_sends() {
    let app = spawn_app().await;
    app.import_mall().await;
    let seg = app
        .create_segmentation(json!({"name": "Mall", "config": {
            "features": ["annual_income_k", "spending_score"], "algorithm": {"type": "kmeans", "k": 5}}}))
        .await;
    let run = app.run_to_success(&seg).await;
    let run = run["id"].as_str().unwrap();
    for form in [
        "application/x-www-form-urlencoded",
        "multipart/form-data; boundary=x",
        "text/plain",
    ] {
        for path in [
            format!("/v1/segmentations/{seg}/runs"),
            format!("/v1/runs/{run}/cancel"),
            format!("/v1/runs/{run}/activate"),
            "/v1/rfm/refresh".to_owned(),
        ] {
            let refused = app.post_raw(&path, form, "a=1").await;
            assert_problem(refused, 415, "cross-site form").await;
        }
    }
    assert_eq!(
        app.count("SELECT count(*) FROM runs").await,
        1,
        "nothing was queued"
    );
    // Without a body (curl -X POST, the generated clients) they work as before.
    let triggered = app
        .client
        .post(app.url(&format!("/v1/segmentations/{seg}/runs")))
        .send()
        .await
        .unwrap();
    assert_eq!(triggered.status(), 202);
}
