//! Erasure leaves nothing: after `DELETE /v1/customers/{id}` the id is in no table, no
//! replica's cache, no export, no chart sample, no run's error or event, no webhook payload
//! or delivery record, no audit entry (a customer is audited only as a keyed reference) and
//! no line the service logged; a full `pg_dump` of the database is searched for it.

use crate::helpers::{
    MALL_CSV, assert_problem, empty_database, json_ok, json_status, spawn_app, test_jobs,
};
use crate::process::serve_with;
use crate::receiver::Receiver;
use serde_json::{Value, json};
use std::time::Duration;

/// The newest installed `pg_dump` (beside the server binaries), or the one on `PATH`.
fn pg_dump() -> std::path::PathBuf {
    let mut found: Vec<std::path::PathBuf> = std::fs::read_dir("/usr/lib/postgresql")
        .into_iter()
        .flatten()
        .flatten()
        .map(|e| e.path().join("bin/pg_dump"))
        .filter(|p| p.is_file())
        .collect();
    found.sort_by_key(|p| {
        p.components()
            .nth(4)
            .and_then(|c| c.as_os_str().to_str()?.parse::<u32>().ok())
    });
    found.pop().unwrap_or_else(|| "pg_dump".into())
}

/// The URL with only the parameters libpq knows (sqlx adds its own).
fn libpq(url: &str) -> String {
    let mut url = url::Url::parse(url).unwrap();
    let kept: Vec<(String, String)> = url
        .query_pairs()
        .filter(|(k, _)| matches!(k.as_ref(), "host" | "port" | "user" | "sslmode"))
        .map(|(k, v)| (k.into_owned(), v.into_owned()))
        .collect();
    url.set_query(None);
    if !kept.is_empty() {
        url.query_pairs_mut().extend_pairs(kept);
    }
    url.to_string()
}

/// Everything the database holds, as `pg_dump` writes it (schema and data).
fn dump(url: &str) -> String {
    let output = std::process::Command::new(pg_dump())
        .arg("--no-owner")
        .arg(format!("--dbname={}", libpq(url)))
        .output()
        .unwrap_or_else(|e| panic!("pg_dump could not start ({e}): apt install postgresql-client"));
    assert!(
        output.status.success(),
        "pg_dump failed: {}",
        String::from_utf8_lossy(&output.stderr)
    );
    String::from_utf8(output.stdout).unwrap()
}

#[tokio::test]
async fn an_erased_customer_is_not_in_a_dump_of_the_database_nor_in_the_logs() {
    let db = empty_database().await;
    let served = serve_with(
        &db.url,
        &[
            ("SEGSTORE_WEBHOOK_ALLOW", "loopback"),
            ("SEGSTORE_WEBHOOK_POLL_MS", "50"),
            ("SEGSTORE_LOG", "info,segstore=debug"),
        ],
    )
    .await;
    let client = served.client();
    let url = |path: &str| format!("{}{path}", served.base);
    let receiver = Receiver::start();
    json_status(
        client
            .post(url("/v1/webhooks"))
            .json(&json!({"url": receiver.url(), "events": ["run.failed"]}))
            .send()
            .await
            .unwrap(),
        201,
    )
    .await;
    let csv = std::fs::read(MALL_CSV).unwrap();
    let imported = client
        .post(url("/v1/customers/import"))
        .header("content-type", "text/csv")
        .body(csv)
        .send()
        .await
        .unwrap();
    assert_eq!(imported.status(), 200);
    // An id found nowhere by chance (a Mall id such as `0042` appears inside hex and
    // timestamps of a dump), whose value makes a run fail naming it.
    let erased = "Zq7-erase-me";
    let upserted = client
        .post(url("/v1/customers"))
        .json(&json!({"customers": [{"id": erased, "attributes": {"spending_score": -5, "annual_income_k": 50}}]}))
        .send()
        .await
        .unwrap();
    assert_eq!(upserted.status(), 200);
    let seg = json_status(
        client
            .post(url("/v1/segmentations"))
            .json(&json!({"name": "logged", "config": {
                "features": ["annual_income_k", "spending_score"], "log1p": ["spending_score"]}}))
            .send()
            .await
            .unwrap(),
        201,
    )
    .await["id"]
        .as_str()
        .unwrap()
        .to_owned();
    let run = json_status(
        client
            .post(url(&format!("/v1/segmentations/{seg}/runs")))
            .send()
            .await
            .unwrap(),
        202,
    )
    .await["id"]
        .as_str()
        .unwrap()
        .to_owned();
    let read_run = || async {
        json_ok(
            client
                .get(url(&format!("/v1/runs/{run}")))
                .send()
                .await
                .unwrap(),
        )
        .await
    };
    let deadline = std::time::Instant::now() + Duration::from_secs(60);
    let failed = loop {
        let run = read_run().await;
        if run["status"] == "failed" {
            break run;
        }
        assert!(std::time::Instant::now() < deadline, "{run:#}");
        tokio::time::sleep(Duration::from_millis(50)).await;
    };
    // The failure names the customer, for whoever must correct the value.
    assert_eq!(failed["error"]["customer"], erased, "{failed:#}");
    assert!(
        failed["error"]["message"]
            .as_str()
            .unwrap()
            .contains(erased),
        "{failed:#}"
    );
    let delivered = receiver
        .wait_for_once("run.failed", |a| !a.is_empty())
        .await;
    assert!(String::from_utf8_lossy(&delivered[0].body).contains(erased));
    // Reads and a 404 that mention it (request logs).
    let read = client
        .get(url(&format!("/v1/customers/{erased}")))
        .send()
        .await
        .unwrap();
    assert_eq!(read.status(), 200);
    let missing = client
        .get(url(&format!("/v1/customers/{erased}/orders")))
        .send()
        .await
        .unwrap();
    assert_eq!(missing.status(), 404);

    // Audited calls that name the customer by its keyed reference: a refused erasure (a
    // key without `admin`), and one of a customer that does not exist.
    let reader = json_status(
        client
            .post(url("/v1/keys"))
            .json(&json!({"name": "reader", "scopes": ["read"]}))
            .send()
            .await
            .unwrap(),
        201,
    )
    .await["token"]
        .as_str()
        .unwrap()
        .to_owned();
    let refused = crate::helpers::client_with_key(&reader)
        .delete(url(&format!("/v1/customers/{erased}")))
        .send()
        .await
        .unwrap();
    assert_eq!(refused.status(), 403);
    let absent = client
        .delete(url("/v1/customers/nobody-here"))
        .send()
        .await
        .unwrap();
    assert_eq!(absent.status(), 404);
    let audit = json_ok(client.get(url("/v1/audit")).send().await.unwrap()).await;
    let deletes = |audit: &Value| -> Vec<(u64, String)> {
        audit["entries"]
            .as_array()
            .unwrap()
            .iter()
            .filter(|e| e["method"] == "DELETE" && e["route"] == "/v1/customers/{id}")
            .map(|e| {
                (
                    e["status"].as_u64().unwrap(),
                    e["targets"]["id"].as_str().unwrap().to_owned(),
                )
            })
            .collect()
    };
    let before = deletes(&audit);
    assert_eq!(before.len(), 2, "{audit:#}");
    let reference = before.iter().find(|(s, _)| *s == 403).unwrap().1.clone();
    let other = before.iter().find(|(s, _)| *s == 404).unwrap().1.clone();
    assert!(reference.starts_with("hmac-sha256:"), "{reference}");
    use sha2::Digest;
    let unkeyed = |id: &str| -> String {
        sha2::Sha256::digest(id.as_bytes())
            .iter()
            .map(|b| format!("{b:02x}"))
            .collect()
    };
    assert!(!reference.contains(&unkeyed(erased)) && !other.contains(&unkeyed("nobody-here")));

    let deleted = client
        .delete(url(&format!("/v1/customers/{erased}")))
        .send()
        .await
        .unwrap();
    assert_eq!(
        deleted.status(),
        204,
        "{:#?}",
        served
            .lines
            .lock()
            .unwrap()
            .iter()
            .rev()
            .take(3)
            .collect::<Vec<_>>()
    );

    // The run still says why it failed, without saying who.
    let after = read_run().await;
    assert!(after["error"].get("customer").is_none(), "{after:#}");
    let message = after["error"]["message"].as_str().unwrap();
    assert!(
        message.contains("an erased customer") && message.contains("log1p"),
        "{message}"
    );
    // The audit log keeps the calls, not who they were about: the refusal and the erasure
    // itself say "an erased customer"; the other customer keeps its reference.
    let audit = json_ok(client.get(url("/v1/audit")).send().await.unwrap()).await;
    let mut after = deletes(&audit);
    after.sort();
    assert_eq!(
        after,
        vec![
            (204, "an erased customer".to_owned()),
            (403, "an erased customer".to_owned()),
            (404, other.clone())
        ]
    );
    let dump = dump(&db.url);
    assert!(!dump.contains(&reference) && !dump.contains(&unkeyed(erased)));
    // Nowhere in the database: every table, every column, the outbox and the deliveries.
    let found: Vec<&str> = dump.lines().filter(|l| l.contains(erased)).collect();
    assert!(
        found.is_empty(),
        "the dump still holds {erased}: {found:#?}"
    );
    // Nowhere in what the service logged.
    let lines = served.lines.lock().unwrap().clone();
    assert!(lines.len() > 10, "{lines:#?}");
    let logged: Vec<&Value> = lines
        .iter()
        .filter(|l| l.to_string().contains(erased))
        .collect();
    assert!(logged.is_empty(), "the logs hold {erased}: {logged:#?}");
    receiver.stop().await;
}

/// Erasure: after `DELETE /v1/customers/{id}` the id is in no table (searched row by row as
/// text, every partition included), no replica's cache, no export, no chart sample.
#[tokio::test]
async fn an_erased_customer_is_nowhere_afterwards() {
    let app = spawn_app().await;
    let other = app.replica(test_jobs()).await;
    app.import_mall().await;
    let erased = "0042";
    let orders = format!(
        "InvoiceNo,StockCode,Quantity,InvoiceDate,UnitPrice,CustomerID\n\
         536365,A,6,12/1/2010 8:26,2.55,{erased}\n536366,B,2,12/1/2010 8:28,1.85,0043\n"
    );
    assert_eq!(
        app.post_raw("/v1/orders/import", "text/csv", orders)
            .await
            .status(),
        200
    );
    let seg = app
        .create_segmentation(json!({"name": "Mall", "config": {
            "features": ["annual_income_k", "spending_score", "age"], "algorithm": {"type": "kmeans", "k": 5}}}))
        .await;
    let first = app.run_to_success(&seg).await;
    let second = app.run_to_success(&seg).await;
    let sample_size = |run: &str| {
        let run = run.to_owned();
        let pool = app.pool.clone();
        async move {
            sqlx::query_scalar::<_, i32>(
                "SELECT cardinality(segment) FROM run_chart_samples WHERE run_id = $1::uuid",
            )
            .bind(run)
            .fetch_one(&pool)
            .await
            .unwrap()
        }
    };
    let before = sample_size(first["id"].as_str().unwrap()).await;
    // Both replicas cache the runs for lookups.
    let lookup = format!("/v1/segmentations/{seg}/customers/{erased}");
    for server in [&app, &other] {
        // The first lookups load the runs into memory, in the background.
        for _ in 0..5 {
            let found = json_ok(server.get(&lookup).await).await;
            assert_eq!(found["history"].as_array().unwrap().len(), 2);
            tokio::time::sleep(std::time::Duration::from_millis(100)).await;
        }
    }

    assert_eq!(
        app.delete(&format!("/v1/customers/{erased}"))
            .await
            .status(),
        204
    );

    // Every table, every row, as text.
    let tables: Vec<String> = sqlx::query_scalar(
        "SELECT format('%I.%I', n.nspname, c.relname) FROM pg_class c
         JOIN pg_namespace n ON n.oid = c.relnamespace
         WHERE c.relkind IN ('r', 'p') AND n.nspname = 'public'",
    )
    .fetch_all(&app.pool)
    .await
    .unwrap();
    assert!(tables.len() >= 10, "{tables:?}");
    for table in &tables {
        let found = app
            .count(&format!(
                "SELECT count(*) FROM {table} t WHERE t::text ~ '(^|[^0-9]){erased}([^0-9]|$)'"
            ))
            .await;
        assert_eq!(found, 0, "{erased} is still in {table}");
    }
    // Its point left every chart sample; its neighbour's orders stay.
    assert_eq!(sample_size(first["id"].as_str().unwrap()).await, before - 1);
    assert_eq!(app.count("SELECT count(*) FROM order_lines").await, 1);
    // No replica's cache answers for it; exports do not list it.
    for server in [&app, &other] {
        assert_problem(server.get(&lookup).await, 404, erased).await;
    }
    for run in [&first, &second] {
        let csv = app
            .get(&format!(
                "/v1/runs/{}/assignments.csv",
                run["id"].as_str().unwrap()
            ))
            .await
            .text()
            .await
            .unwrap();
        assert_eq!(csv.lines().count(), 200, "a header and 199 customers");
        assert!(!csv.lines().any(|l| l.starts_with(&format!("{erased},"))));
    }
    // The scatter still draws from what is left.
    let chart = app
        .get(&format!(
            "/v1/runs/{}/charts/scatter.svg",
            second["id"].as_str().unwrap()
        ))
        .await;
    assert_eq!(chart.status(), 200);
    assert_problem(
        app.delete(&format!("/v1/customers/{erased}")).await,
        404,
        erased,
    )
    .await;
}
