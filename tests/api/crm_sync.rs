//! The CRM sync example (`examples/crm_sync.py`) against a live server: its webhook receiver
//! (checking signatures with the `standardwebhooks` package) and its cron-style feed reader
//! each keep a copy of customer → segment equal to the active run's, through a retrain that
//! moves customers and drops one.

use crate::helpers::mall_segmentation;
use crate::helpers::{TestApp, json_ok, pip_install, python, spawn_app};
use crate::receiver::closed_port;
use crate::webhooks::create_webhook;
use serde_json::{Value, json};
use std::collections::BTreeMap;
use std::path::Path;
use std::time::{Duration, Instant};

const EXAMPLE: &str = concat!(env!("CARGO_MANIFEST_DIR"), "/examples/crm_sync.py");

fn python_ready() -> bool {
    std::process::Command::new(python())
        .args(["-c", "import requests, standardwebhooks"])
        .output()
        .is_ok_and(|o| o.status.success())
}

/// The example's `show`: its table as customer → segment.
async fn crm_table(db: &Path) -> BTreeMap<String, i64> {
    let out = tokio::process::Command::new(python())
        .args([EXAMPLE, "show", "--db"])
        .arg(db)
        .output()
        .await
        .unwrap();
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    serde_json::from_slice(&out.stdout).unwrap()
}

/// The active run's customer → segment, from its assignments.
async fn active_assignments(app: &TestApp, run: &Value) -> BTreeMap<String, i64> {
    let id = run["id"].as_str().unwrap();
    let page = json_ok(
        app.get(&format!("/v1/runs/{id}/assignments?limit=10000"))
            .await,
    )
    .await;
    page["assignments"]
        .as_array()
        .unwrap()
        .iter()
        .filter_map(|a| {
            Some((
                a["customer_id"].as_str()?.to_owned(),
                a["segment_id"].as_i64()?,
            ))
        })
        .collect()
}

async fn pull(app: &TestApp, db: &Path, seg: &str) -> Value {
    let out = tokio::process::Command::new(python())
        .args([EXAMPLE, "pull", "--segmentation", seg, "--db"])
        .arg(db)
        .env("SEGSTORE_URL", &app.address)
        .env("SEGSTORE_KEY", &app.key)
        .output()
        .await
        .unwrap();
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    serde_json::from_slice(&out.stdout).unwrap()
}

#[tokio::test]
#[ignore = "needs Python with requests and standardwebhooks (pip install -r examples/requirements.txt; SEGSTORE_PYTHON names that Python); run with --include-ignored"]
async fn the_crm_sync_example_keeps_a_copy_equal_to_the_active_run() {
    assert!(
        python_ready(),
        "the example's requirements are missing from {}: `{}`",
        python().display(),
        pip_install("-r examples/requirements.txt")
    );
    let app = spawn_app().await;
    let dir = tempfile::tempdir().unwrap();
    let (hooked, pulled) = (
        dir.path().join("hook.sqlite"),
        dir.path().join("pull.sqlite"),
    );
    let port = closed_port();
    let created = create_webhook(
        &app,
        json!({"url": format!("http://127.0.0.1:{port}/"), "events": ["segment.membership_changed"], "batch_size": 30}),
    )
    .await;
    let mut receiver = tokio::process::Command::new(python())
        .args([EXAMPLE, "receive", "--port", &port.to_string(), "--db"])
        .arg(&hooked)
        .env(
            "SEGSTORE_WEBHOOK_SECRET",
            created["secret"].as_str().unwrap(),
        )
        .stdout(std::process::Stdio::piped())
        .kill_on_drop(true)
        .spawn()
        .expect("python starts");
    let endpoint = format!("http://127.0.0.1:{port}/");
    let started = Instant::now();
    // A request without a valid signature is refused: the example checks them.
    let forged = loop {
        match reqwest::Client::new()
            .post(&endpoint)
            .header("webhook-id", "msg_forged")
            .header("webhook-timestamp", chrono::Utc::now().timestamp().to_string())
            .header("webhook-signature", "v1,AAAA")
            .body(r#"{"type":"segment.membership_changed","timestamp":"2026-01-01T00:00:00Z","data":{"changes":[]}}"#)
            .send()
            .await
        {
            Ok(r) => break r,
            Err(_) if started.elapsed() < Duration::from_secs(30) => {
                tokio::time::sleep(Duration::from_millis(100)).await
            }
            Err(e) => panic!("the example's receiver did not start: {e}"),
        }
    };
    assert_eq!(forged.status(), 401);

    let seg = mall_segmentation(&app).await;
    app.run_to_success(&seg).await;
    let movers: Vec<Value> = (1..=15)
        .map(|i| json!({"id": format!("{i:04}"), "attributes": {"annual_income_k": 135, "spending_score": 3}}))
        .chain([json!({"id": "0200", "attributes": {"spending_score": null}})])
        .collect();
    assert_eq!(app.upsert(json!(movers)).await.status(), 200);
    let second = app.run_to_success(&seg).await;
    let expected = active_assignments(&app, &second).await;
    assert_eq!(expected.len(), 199, "0200 is left out");

    // The webhook receiver's copy catches up.
    let started = Instant::now();
    loop {
        let table = crm_table(&hooked).await;
        if table == expected {
            break;
        }
        assert!(
            started.elapsed() < Duration::from_secs(30),
            "the receiver's copy differs: {} rows against {}",
            table.len(),
            expected.len()
        );
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
    // The cron reader's copy is the same, and a second pull has nothing to do.
    let first = pull(&app, &pulled, &seg).await;
    assert!(first["applied"].as_u64().unwrap() > 200, "{first}");
    assert_eq!(crm_table(&pulled).await, expected);
    let again = pull(&app, &pulled, &seg).await;
    assert_eq!(again["applied"], 0);
    assert_eq!(again["cursor"], first["cursor"]);
    receiver.kill().await.ok();
}
