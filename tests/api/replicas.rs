//! Three replicas on one database: a change made on one (an activation, a rollback, a
//! deletion) shows in the others' lookups at once, announced by PostgreSQL (`LISTEN/NOTIFY`)
//! rather than waited out: the replicas here trust a cached record for a minute otherwise.

use crate::helpers::{TestApp, json_ok, spawn_app_with, test_jobs};
use segstore::jobs::JobSettings;
use segstore::service::lookup::LookupSettings;
use serde_json::{Value, json};
use std::time::{Duration, Instant};

/// A minute: longer than any wait below, so only an announcement can explain a fresh read.
const LONG_TTL: Duration = Duration::from_secs(60);

fn lookup() -> LookupSettings {
    LookupSettings {
        ttl: LONG_TTL,
        ..LookupSettings::default()
    }
}

async fn current_run(app: &TestApp, seg: &str, customer: &str) -> (u16, Value) {
    let response = app
        .get(&format!("/v1/segmentations/{seg}/customers/{customer}"))
        .await;
    let status = response.status().as_u16();
    let body: Value = response.json().await.unwrap();
    (status, body["active_run_id"].clone())
}

/// How long until every replica answers `expected` (status, active run); panics after 5 s.
async fn seen_by(replicas: &[&TestApp], seg: &str, expected: (u16, Value)) -> Duration {
    let started = Instant::now();
    for replica in replicas {
        loop {
            let got = current_run(replica, seg, "0001").await;
            if got == expected {
                break;
            }
            assert!(
                started.elapsed() < Duration::from_secs(5),
                "still {got:?}, expected {expected:?}"
            );
            tokio::time::sleep(Duration::from_millis(5)).await;
        }
    }
    started.elapsed()
}

#[tokio::test]
async fn a_change_on_one_replica_shows_on_the_others_at_once() {
    let idle = || JobSettings {
        workers: 0,
        ..test_jobs()
    };
    // The database's owner (dropped last); the three replicas trust records for a minute,
    // and only the first runs workers.
    let owner = spawn_app_with(idle()).await;
    let a = owner.replica_with_lookup(test_jobs(), lookup()).await;
    let b = owner.replica_with_lookup(idle(), lookup()).await;
    let c = owner.replica_with_lookup(idle(), lookup()).await;
    a.import_mall().await;
    let seg = a
        .create_segmentation(json!({"name": "Mall", "config": {
            "features": ["annual_income_k", "spending_score"],
            "algorithm": {"type": "kmeans", "k": 5}}}))
        .await;
    let first = a.run_to_success(&seg).await;
    // Every replica caches the segmentation's record.
    seen_by(&[&a, &b, &c], &seg, (200, first["id"].clone())).await;

    // A retrain activated by a worker of the first replica.
    let second = a.run_to_success(&seg).await;
    let took = seen_by(&[&b, &c], &seg, (200, second["id"].clone())).await;
    println!("the activation was seen by the two other replicas after {took:?}");

    // A rollback on the second replica.
    let id = first["id"].as_str().unwrap();
    let rolled = json_ok(
        b.client
            .post(b.url(&format!("/v1/runs/{id}/activate")))
            .send()
            .await
            .unwrap(),
    )
    .await;
    assert_eq!(rolled["active"], true);
    seen_by(&[&a, &c], &seg, (200, first["id"].clone())).await;

    // A deletion on the third.
    assert_eq!(
        c.delete(&format!("/v1/segmentations/{seg}")).await.status(),
        204
    );
    seen_by(&[&a, &b], &seg, (404, Value::Null)).await;
}

/// Runs queued on one replica are trained by the workers of all three: each takes the next
/// queued run (`FOR UPDATE SKIP LOCKED`), so three slow runs train at once, one per replica.
#[tokio::test]
async fn queued_runs_spread_over_the_replicas_workers() {
    let one_worker = || JobSettings {
        workers: 1,
        ..test_jobs()
    };
    let a = spawn_app_with(one_worker()).await;
    let _b = a.replica(one_worker()).await;
    let _c = a.replica(one_worker()).await;
    let imported = a
        .import_csv("", crate::helpers::slow_customers_csv("s"))
        .await;
    assert_eq!(imported.status(), 200);
    let mut runs = Vec::new();
    for i in 0..3 {
        let seg = a
            .create_segmentation(json!({"name": format!("slow {i}"), "config": {
                "features": ["a", "b", "c", "d"], "algorithm": crate::helpers::slow_algorithm()}}))
            .await;
        runs.push(a.trigger(&seg).await["id"].as_str().unwrap().to_owned());
    }
    // All three running at the same time, each held by another replica's worker.
    let started = Instant::now();
    let workers: Vec<String> = loop {
        let held: Vec<(String,)> =
            sqlx::query_as("SELECT worker FROM runs WHERE status = 'running' ORDER BY worker")
                .fetch_all(&a.pool)
                .await
                .unwrap();
        if held.len() == 3 {
            break held.into_iter().map(|(w,)| w).collect();
        }
        assert!(
            started.elapsed() < Duration::from_secs(30),
            "never three at once: {held:?}"
        );
        tokio::time::sleep(Duration::from_millis(20)).await;
    };
    let distinct: std::collections::BTreeSet<&String> = workers.iter().collect();
    assert_eq!(distinct.len(), 3, "{workers:?}");
    for run in runs {
        let done = a.wait_run(&run).await;
        assert_eq!(done["status"], "succeeded", "{done:#}");
    }
}
