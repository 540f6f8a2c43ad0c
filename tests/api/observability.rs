//! What an operator reads: request logs in proportion (and without colour codes off a
//! terminal), and Prometheus metrics on a listener of their own.

use crate::helpers::*;
use crate::robustness::post;
use serde_json::json;
use std::time::Duration;

/// Request logs in proportion: under load, successful requests would drown the log (and cost
/// throughput), so at `info` they are not logged; errors are, with their request id and
/// route template.
#[tokio::test]
async fn request_logs_hold_errors_at_info_and_everything_at_debug() {
    let db = empty_database().await;
    for (filter, ok_logged) in [("info", false), ("info,segstore::http=debug", true)] {
        let served = crate::process::serve_with(&db.url, &[("SEGSTORE_LOG", filter)]).await;
        let client = served.client();
        let ok = client
            .get(format!("{}/healthz", served.base))
            .send()
            .await
            .unwrap();
        let ok_id = ok.headers()["x-request-id"].to_str().unwrap().to_owned();
        // A handler's 404 (the gate's refusals are counted, not logged one by one:
        // `tests/api/floods.rs`).
        let missing = client
            .get(format!("{}/v1/customers/nobody", served.base))
            .send()
            .await
            .unwrap();
        let missing_id = missing.headers()["x-request-id"]
            .to_str()
            .unwrap()
            .to_owned();
        let logged = |id: &str| {
            served
                .lines
                .lock()
                .unwrap()
                .iter()
                .any(|l| l["message"] == "request" && l.to_string().contains(id))
        };
        // The 404 (sent last) is logged: then so is the 200 if it is to be.
        let deadline = std::time::Instant::now() + Duration::from_secs(30);
        while !logged(&missing_id) {
            assert!(
                std::time::Instant::now() < deadline,
                "{filter}: the 404 was not logged"
            );
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
        assert_eq!(logged(&ok_id), ok_logged, "{filter}: the 200");
        let line = served
            .lines
            .lock()
            .unwrap()
            .iter()
            .find(|l| l.to_string().contains(&missing_id))
            .cloned()
            .unwrap();
        assert_eq!(line["span"]["route"], "/v1/customers/{id}", "{line}");
        assert!(!line.to_string().contains("nobody"), "{line}");
    }
}

/// Written to a pipe or a file, the human-readable log has no colour codes.
#[tokio::test]
async fn logs_to_a_pipe_hold_no_colour_codes() {
    let db = empty_database().await;
    let port = std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port();
    let mut child = tokio::process::Command::new(env!("CARGO_BIN_EXE_segstore"))
        .arg("serve")
        .env("DATABASE_URL", &db.url)
        .env("SEGSTORE_BIND", format!("127.0.0.1:{port}"))
        .env("SEGSTORE_LOG_FORMAT", "pretty")
        .env("SEGSTORE_LOG", "debug")
        .stderr(std::process::Stdio::piped())
        .kill_on_drop(true)
        .spawn()
        .unwrap();
    // Read as it is written: a full pipe would stop the server mid-line.
    let mut stderr = child.stderr.take().unwrap();
    let read = tokio::spawn(async move {
        let mut log = Vec::new();
        tokio::io::AsyncReadExt::read_to_end(&mut stderr, &mut log)
            .await
            .unwrap();
        log
    });
    let base = format!("http://127.0.0.1:{port}");
    let client = reqwest::Client::builder()
        .timeout(Duration::from_secs(10))
        .build()
        .unwrap();
    let deadline = std::time::Instant::now() + Duration::from_secs(60);
    while client.get(format!("{base}/healthz")).send().await.is_err() {
        assert!(
            std::time::Instant::now() < deadline,
            "the server did not start"
        );
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    child.start_kill().unwrap();
    child.wait().await.unwrap();
    let log = read.await.unwrap();
    let log = String::from_utf8_lossy(&log);
    assert!(log.contains("request"), "{log}");
    assert!(!log.contains('\x1b'), "colour codes in a piped log: {log}");
}

/// Prometheus' text format, as a scraper reads it: `name{labels} value` per sample.
fn samples(text: &str) -> Vec<(String, f64)> {
    text.lines()
        .filter(|l| !l.starts_with('#') && !l.trim().is_empty())
        .map(|l| {
            let (series, value) = l.rsplit_once(' ').expect("a sample is `series value`");
            let value: f64 = value
                .parse()
                .unwrap_or_else(|_| panic!("not a number: {l}"));
            (series.to_owned(), value)
        })
        .collect()
}

fn sample(all: &[(String, f64)], series: &str) -> f64 {
    all.iter()
        .find(|(s, _)| s == series)
        .unwrap_or_else(|| panic!("no sample {series}"))
        .1
}

/// `GET /metrics` on its own listener: requests by route template and status, latency
/// histograms, runs and their phases, the queue, the lookup cache, the pool, rows imported.
#[tokio::test]
async fn metrics_are_scraped_from_their_own_listener() {
    let db = empty_database().await;
    let served = crate::process::serve_with(
        &db.url,
        &[
            ("SEGSTORE_METRICS_BIND", "127.0.0.1:0"),
            ("SEGSTORE_RUN_POLL_MS", "50"),
        ],
    )
    .await;
    let (base, metrics) = (
        &served.base,
        served.metrics.clone().expect("a metrics port"),
    );
    let client = served.client();
    let mall = std::fs::read(MALL_CSV).unwrap();
    assert_eq!(
        post(&client, base, "/v1/customers/import", "text/csv", mall).await,
        200
    );
    let seg: serde_json::Value = client
        .post(format!("{base}/v1/segmentations"))
        .json(
            &json!({"name": "m", "config": {"features": ["annual_income_k", "spending_score"],
            "algorithm": {"type": "kmeans", "k": 5}}}),
        )
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    let seg = seg["id"].as_str().unwrap();
    let run: serde_json::Value = client
        .post(format!("{base}/v1/segmentations/{seg}/runs"))
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    let run = run["id"].as_str().unwrap().to_owned();
    crate::process::wait_run(&client, base, &run, |r| r["status"] == "succeeded").await;
    // Lookups: the first may miss while the run loads into the cache; later ones hit.
    for _ in 0..20 {
        let r = client
            .get(format!("{base}/v1/segmentations/{seg}/customers/0001"))
            .send()
            .await;
        assert_eq!(r.unwrap().status(), 200);
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    assert_eq!(
        client
            .get(format!("{base}/v1/customers/nobody"))
            .send()
            .await
            .unwrap()
            .status(),
        404
    );
    // Not on the API's port.
    assert_eq!(
        client
            .get(format!("{base}/metrics"))
            .send()
            .await
            .unwrap()
            .status(),
        404
    );

    let scraped = client
        .get(format!("{metrics}/metrics"))
        .send()
        .await
        .unwrap();
    assert_eq!(scraped.status(), 200);
    assert!(
        scraped.headers()["content-type"]
            .to_str()
            .unwrap()
            .starts_with("text/plain")
    );
    let text = scraped.text().await.unwrap();
    let all = samples(&text);
    let lookups = r#"segstore_http_requests_total{route="/v1/segmentations/{id}/customers/{customer_id}",method="GET",status="200"}"#;
    assert_eq!(sample(&all, lookups), 20.0, "{text}");
    let missing =
        r#"segstore_http_requests_total{route="/v1/customers/{id}",method="GET",status="404"}"#;
    assert_eq!(sample(&all, missing), 1.0);
    let count = r#"segstore_http_request_duration_seconds_count{route="/v1/segmentations/{id}/customers/{customer_id}",method="GET"}"#;
    assert_eq!(sample(&all, count), 20.0);
    assert!(text.contains(r#"segstore_http_request_duration_seconds_bucket{route="/v1/customers/import",method="POST",le="0.005"}"#), "{text}");
    assert_eq!(
        sample(&all, r#"segstore_runs_total{outcome="succeeded"}"#),
        1.0
    );
    assert_eq!(sample(&all, r#"segstore_runs{status="queued"}"#), 0.0);
    assert_eq!(
        sample(
            &all,
            r#"segstore_run_phase_duration_seconds_count{phase="train"}"#
        ),
        1.0
    );
    assert_eq!(
        sample(&all, r#"segstore_rows_imported_total{kind="customers"}"#),
        200.0
    );
    let hits = sample(&all, "segstore_lookup_cache_hits_total");
    let misses = sample(&all, "segstore_lookup_cache_misses_total");
    assert_eq!(hits + misses, 20.0);
    assert!(hits >= 15.0, "{hits} hits");
    assert!(sample(&all, "segstore_lookup_cache_bytes") > 0.0);
    assert_eq!(
        sample(&all, r#"segstore_db_pool_connections{state="max"}"#),
        16.0
    );
    assert!(sample(&all, "segstore_db_pool_acquire_duration_seconds_count") > 0.0);
    // Tasks waiting for a connection at the moment of the scrape: usually none, but a
    // background task (the run worker's poll, a cache load) may be queued right then.
    let waiting = sample(&all, "segstore_db_pool_waiting");
    assert!((0.0..=16.0).contains(&waiting), "{waiting} waiting");
    assert_eq!(sample(&all, "segstore_notifications_listening"), 1.0);
    // No webhook: nothing pending.
    assert_eq!(sample(&all, "segstore_webhook_deliveries_pending"), 0.0);
    assert_eq!(sample(&all, "segstore_webhook_oldest_pending_seconds"), 0.0);
    // The change times load after the run, in the background: then every customer's.
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(20);
    loop {
        let text = client
            .get(format!("{metrics}/metrics"))
            .send()
            .await
            .unwrap()
            .text()
            .await
            .unwrap();
        let cached = sample(&samples(&text), "segstore_lookup_change_times");
        if cached == 200.0 {
            break;
        }
        assert!(
            std::time::Instant::now() < deadline,
            "{cached} change times cached, not the run's 200 customers"
        );
        tokio::time::sleep(std::time::Duration::from_millis(100)).await;
    }
}
