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

/// DNS rebinding: a page of `evil.example` whose name now resolves to 127.0.0.1 sends
/// `Host: evil.example:port`. Refused, as is a cross-site `Origin`; this server's own pages,
/// its public URLs and IP addresses are answered.
#[tokio::test]
async fn a_foreign_host_or_origin_is_refused() {
    let db = spawn_app().await;
    let access = segstore::startup::Access {
        security: segstore::http::Security {
            origins: segstore::http::gate::Origins {
                public_hosts: vec!["segments.example.com".into()],
                allowed: vec![
                    "https://segments.example.com".into(),
                    "https://crm.example.com".into(),
                ],
            },
            cors_origins: vec!["https://crm.example.com".into()],
            secure_cookies: true,
        },
        ..Default::default()
    };
    let app = spawn_with_access(db.pool.clone(), String::new(), test_jobs(), access).await;
    let call = |host: Option<&str>, origin: Option<&str>| {
        let mut request = app
            .client
            .post(app.url("/v1/customers"))
            .json(&json!({"customers": [{"id": "h1", "attributes": {"a": 1}}]}));
        if let Some(host) = host {
            request = request.header("host", host);
        }
        if let Some(origin) = origin {
            request = request.header("origin", origin);
        }
        request.send()
    };
    for (host, origin, needle) in [
        (Some("evil.example:8080"), None, "Host `evil.example:8080`"),
        (Some("localhost.evil.example"), None, "Host"),
        (
            None,
            Some("http://evil.example"),
            "Origin `http://evil.example`",
        ),
        (None, Some("null"), "Origin `null`"),
        (
            Some("segments.example.com"),
            Some("https://evil.example"),
            "Origin",
        ),
    ] {
        let refused = call(host, origin).await.unwrap();
        assert_problem(refused, 403, needle).await;
    }
    assert_eq!(app.customer_count().await, 0, "nothing was written");
    let port = app.address.rsplit(':').next().unwrap().to_owned();
    for (host, origin) in [
        (None, None),
        (Some("localhost".to_owned()), None),
        (
            Some("segments.example.com".to_owned()),
            Some("https://segments.example.com"),
        ),
        (None, Some(&*format!("http://127.0.0.1:{port}"))),
        (None, Some("https://crm.example.com")),
    ] {
        let answered = call(host.as_deref(), origin).await.unwrap();
        assert_eq!(answered.status(), 200, "{host:?} {origin:?}");
    }
    // Probes answer any Host (orchestrators call them by address or service name).
    let probe = reqwest::Client::new()
        .get(app.url("/healthz"))
        .header("host", "segstore-0.segstore.svc")
        .send()
        .await
        .unwrap();
    assert_eq!(probe.status(), 200);
}

/// CORS is off unless origins are configured; then only they get the headers, and a
/// preflight needs no key.
#[tokio::test]
async fn cors_is_off_by_default_and_only_for_the_configured_origins() {
    let app = spawn_app().await;
    let preflight = |address: &str| {
        reqwest::Client::new()
            .request(reqwest::Method::OPTIONS, format!("{address}/v1/customers"))
            .header("origin", "https://crm.example.com")
            .header("access-control-request-method", "POST")
            .header(
                "access-control-request-headers",
                "authorization, content-type",
            )
            .send()
    };
    let off = preflight(&app.address).await.unwrap();
    assert!(off.headers().get("access-control-allow-origin").is_none());
    let access = segstore::startup::Access {
        security: segstore::http::Security {
            origins: segstore::http::gate::Origins {
                public_hosts: vec![],
                allowed: vec!["https://crm.example.com".into()],
            },
            cors_origins: vec!["https://crm.example.com".into()],
            secure_cookies: true,
        },
        ..Default::default()
    };
    let on = spawn_with_access(app.pool.clone(), String::new(), test_jobs(), access).await;
    let answered = preflight(&on.address).await.unwrap();
    assert!(answered.status().is_success(), "{}", answered.status());
    assert_eq!(
        answered.headers()["access-control-allow-origin"],
        "https://crm.example.com"
    );
    let read = on
        .client
        .get(on.url("/v1/customers"))
        .header("origin", "https://crm.example.com")
        .send()
        .await
        .unwrap();
    assert_eq!(read.status(), 200);
    assert_eq!(
        read.headers()["access-control-allow-origin"],
        "https://crm.example.com"
    );
}

/// No referrer leaks, no sniffing, and a content policy fit for each kind of answer.
#[tokio::test]
async fn answers_carry_a_referrer_policy_and_a_content_security_policy() {
    let app = spawn_app().await;
    for (path, policy) in [
        (
            "/v1/customers",
            "default-src 'none'; frame-ancestors 'none'",
        ),
        ("/v1/nope", "default-src 'none'; frame-ancestors 'none'"),
        ("/docs/", "script-src 'self'"),
        ("/", "script-src 'self'"),
    ] {
        let response = app.get(path).await;
        let headers = response.headers();
        assert_eq!(headers["referrer-policy"], "no-referrer", "{path}");
        assert_eq!(headers["x-content-type-options"], "nosniff", "{path}");
        let csp = headers["content-security-policy"].to_str().unwrap();
        assert!(csp.contains(policy), "{path}: {csp}");
    }
}
