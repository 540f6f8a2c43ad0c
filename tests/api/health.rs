use crate::helpers::{assert_problem, json_ok, spawn_app, spawn_app_without_database};

#[tokio::test]
async fn probes_answer_and_every_response_has_a_request_id() {
    let app = spawn_app().await;
    let response = app.get("/healthz").await;
    assert!(response.headers().contains_key("x-request-id"));
    assert_eq!(json_ok(response).await["status"], "ok");
    assert_eq!(json_ok(app.get("/readyz").await).await["status"], "ready");
    let missing = app.get("/nope").await;
    assert!(missing.headers().contains_key("x-request-id"));
}

#[tokio::test]
async fn a_database_outage_is_a_503_never_a_panic() {
    let app = spawn_app_without_database().await;
    assert_eq!(json_ok(app.get("/healthz").await).await["status"], "ok");
    let ready = app.get("/readyz").await;
    assert_eq!(ready.headers().get("retry-after").unwrap(), "5");
    assert_problem(ready, 503, "database is unavailable").await;
    for response in [
        app.get("/v1/customers").await,
        app.get("/v1/customers/0001").await,
        app.get("/v1/attributes").await,
        app.upsert(serde_json::json!([{"id": "1"}])).await,
        app.import_csv("", "id,a\n1,2\n").await,
    ] {
        let body = assert_problem(response, 503, "retry").await;
        assert!(
            !body.to_string().contains("refused"),
            "no internals leak: {body}"
        );
    }
}
