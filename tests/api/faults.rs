//! Faults, survived: the server as a child process killed with SIGKILL mid-import and
//! mid-run, and PostgreSQL (a private cluster of the test's own) stopped and started again
//! mid-run and under lookup load. Nothing is half-written, nothing stays stuck, no answer is
//! a 500, and no restart of segstore is needed.

use crate::clusters::PrivateCluster;
use crate::helpers::{MALL_CSV, empty_database, slow_algorithm, slow_customers_csv};
use crate::process::{Served, serve_with};
use reqwest::Client;
use serde_json::{Value, json};
use std::time::{Duration, Instant};

async fn json(response: reqwest::Response) -> Value {
    let status = response.status();
    let body: Value = response.json().await.unwrap();
    assert!(status.is_success(), "{status}: {body}");
    body
}

async fn import(client: &Client, base: &str, csv: impl Into<reqwest::Body>) -> Value {
    json(
        client
            .post(format!("{base}/v1/customers/import"))
            .header("content-type", "text/csv")
            .body(csv)
            .send()
            .await
            .unwrap(),
    )
    .await
}

async fn segmentation(client: &Client, base: &str, body: Value) -> String {
    let created = json(
        client
            .post(format!("{base}/v1/segmentations"))
            .json(&body)
            .send()
            .await
            .unwrap(),
    )
    .await;
    created["id"].as_str().unwrap().to_owned()
}

async fn trigger(client: &Client, base: &str, segmentation: &str) -> String {
    let run = json(
        client
            .post(format!("{base}/v1/segmentations/{segmentation}/runs"))
            .send()
            .await
            .unwrap(),
    )
    .await;
    run["id"].as_str().unwrap().to_owned()
}

/// Polls the run until `done` holds (answers that are not 200, during an outage, are skipped).
async fn wait_run(
    client: &Client,
    base: &str,
    id: &str,
    within: Duration,
    done: impl Fn(&Value) -> bool,
) -> Value {
    let deadline = Instant::now() + within;
    loop {
        if let Ok(r) = client.get(format!("{base}/v1/runs/{id}")).send().await
            && r.status() == 200
        {
            let run: Value = r.json().await.unwrap();
            if done(&run) {
                return run;
            }
            assert!(
                Instant::now() < deadline,
                "the run did not get there: {run}"
            );
        } else {
            assert!(Instant::now() < deadline, "the run could not be read");
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}

/// The run trains on 2,000 customers over four features with k from 2 to 10: seconds.
fn slow_segmentation() -> Value {
    json!({"name": "Slow", "config": {"features": ["a", "b", "c", "d"],
        "algorithm": slow_algorithm()}})
}

/// SIGKILL: no shutdown, no goodbye to PostgreSQL.
async fn kill(served: &mut Served) {
    served.kill().await;
}

#[tokio::test]
async fn a_run_whose_process_is_killed_is_recovered_by_the_next_one_at_once() {
    let db = empty_database().await;
    // The default lease (30 s): recovery must not wait for it.
    let settings = [
        ("SEGSTORE_RUN_POLL_MS", "100"),
        ("SEGSTORE_RUN_LEASE_SECONDS", "30"),
    ];
    let mut first = serve_with(&db.url, &settings).await;
    let client = first.client();
    import(&client, &first.base, slow_customers_csv("c")).await;
    let seg = segmentation(&client, &first.base, slow_segmentation()).await;
    let run = trigger(&client, &first.base, &seg).await;
    wait_run(&client, &first.base, &run, Duration::from_secs(60), |r| {
        r["status"] == "running"
    })
    .await;
    kill(&mut first).await;

    let second = serve_with(&db.url, &settings).await;
    let restarted = Instant::now();
    let requeued = wait_run(&client, &second.base, &run, Duration::from_secs(10), |r| {
        r["events"]
            .as_array()
            .unwrap()
            .iter()
            .any(|e| e["event"] == "worker gone")
    })
    .await;
    let recovered_in = restarted.elapsed();
    assert!(
        recovered_in < Duration::from_secs(5),
        "recovered after {recovered_in:?}: {requeued}"
    );
    let done = wait_run(&client, &second.base, &run, Duration::from_secs(120), |r| {
        r["status"] != "queued" && r["status"] != "running"
    })
    .await;
    assert_eq!(done["status"], "succeeded", "{done}");
    assert!(done["attempts"].as_i64().unwrap() >= 2, "{done}");
}

#[tokio::test]
async fn an_import_whose_process_is_killed_leaves_nothing_and_blocks_nothing() {
    let db = empty_database().await;
    let mut first = serve_with(&db.url, &[]).await;
    let client = first.client();
    // Big enough that the merge runs for a while after the body is in.
    let mut csv = String::from("id,spend,visits\n");
    for i in 0..2_000_000 {
        csv.push_str(&format!("k{i:07},{},{}\n", i % 977, i % 31));
    }
    let base = first.base.clone();
    let uploader = first.client();
    let sent = tokio::spawn(async move {
        uploader
            .post(format!("{base}/v1/customers/import"))
            .header("content-type", "text/csv")
            .body(csv)
            .send()
            .await
    });
    // Killed while PostgreSQL merges the import into `customers`, holding its lock.
    let admin = sqlx::PgPool::connect(&db.url).await.unwrap();
    let deadline = Instant::now() + Duration::from_secs(60);
    loop {
        let busy: i64 = sqlx::query_scalar(
            "SELECT count(*) FROM pg_stat_activity
             WHERE application_name = 'segstore' AND state = 'active'
               AND query ILIKE 'MERGE%'",
        )
        .fetch_one(&admin)
        .await
        .unwrap();
        if busy > 0 {
            break;
        }
        assert!(
            Instant::now() < deadline,
            "the import never reached PostgreSQL"
        );
        tokio::time::sleep(Duration::from_millis(5)).await;
    }
    kill(&mut first).await;
    assert!(sent.await.unwrap().is_err(), "the killed server answered");

    let second = serve_with(&db.url, &[]).await;
    // The first write after the restart touches the same rows: it must not wait for the
    // dead process's statement.
    let started = Instant::now();
    let written = import(&client, &second.base, "id,spend,visits\nk0000001,5,6\n").await;
    let took = started.elapsed();
    assert!(
        took < Duration::from_secs(3),
        "the first write waited {took:?}"
    );
    assert_eq!(
        written["inserted"], 1,
        "nothing of the killed import was kept: {written}"
    );
    let customers: i64 = sqlx::query_scalar("SELECT count(*) FROM customers")
        .fetch_one(&admin)
        .await
        .unwrap();
    assert_eq!(customers, 1);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn postgresql_restarting_mid_run_and_under_lookups_is_survived_without_a_restart() {
    let mut cluster = PrivateCluster::start().await;
    let served = serve_with(
        &cluster.url(),
        &[
            ("SEGSTORE_RUN_POLL_MS", "100"),
            ("SEGSTORE_RUN_LEASE_SECONDS", "30"),
        ],
    )
    .await;
    let base = served.base.clone();
    let client = served.client();
    // An active run whose lookups are cached, and a slow run in training.
    import(&client, &base, std::fs::read(MALL_CSV).unwrap()).await;
    let mall = segmentation(
        &client,
        &base,
        json!({"name": "Mall", "config": {"features": ["annual_income_k", "spending_score"],
            "algorithm": {"type": "kmeans", "k": 5}}}),
    )
    .await;
    let first = trigger(&client, &base, &mall).await;
    wait_run(&client, &base, &first, Duration::from_secs(60), |r| {
        r["status"] == "succeeded"
    })
    .await;
    let lookup = format!("{base}/v1/segmentations/{mall}/customers/0001");
    // The first lookups load the run into memory (in the background).
    for _ in 0..20 {
        assert_eq!(client.get(&lookup).send().await.unwrap().status(), 200);
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    import(&client, &base, slow_customers_csv("s")).await;
    let slow = segmentation(&client, &base, slow_segmentation()).await;
    let run = trigger(&client, &base, &slow).await;
    wait_run(&client, &base, &run, Duration::from_secs(60), |r| {
        r["status"] == "running"
    })
    .await;

    // Lookups keep coming while PostgreSQL is down and back.
    let load = {
        let lookup = lookup.clone();
        let client = served.client();
        tokio::spawn(async move {
            let mut seen = std::collections::BTreeMap::<u16, u32>::new();
            let until = Instant::now() + Duration::from_secs(18);
            while Instant::now() < until {
                let r = client.get(&lookup).send().await.unwrap();
                let status = r.status().as_u16();
                if status != 200 {
                    assert_eq!(status, 503, "{}", r.text().await.unwrap());
                    assert!(r.headers().contains_key("retry-after"));
                    assert_eq!(r.headers()["content-type"], "application/problem+json");
                }
                *seen.entry(status).or_default() += 1;
                tokio::time::sleep(Duration::from_millis(10)).await;
            }
            seen
        })
    };
    cluster.stop();
    tokio::time::sleep(Duration::from_secs(1)).await;
    let ready = client.get(format!("{base}/readyz")).send().await.unwrap();
    assert_eq!(ready.status(), 503);
    assert!(ready.headers().contains_key("retry-after"));
    // From memory: the active run's lookups answer without PostgreSQL.
    let answered = client.get(&lookup).send().await.unwrap();
    assert_eq!(answered.status(), 200, "{}", answered.text().await.unwrap());
    // Down for 4 s at least, and until the training run has met the outage (its first write
    // after training fails): how long training takes depends on the machine's load, and an
    // outage over before it ends would leave the run nothing to survive.
    tokio::time::sleep(Duration::from_secs(4)).await;
    let met = Instant::now() + Duration::from_secs(120);
    while !served.lines.lock().unwrap().iter().any(|line| {
        line["fields"]["message"]
            .as_str()
            .or(line["message"].as_str())
            .is_some_and(|m| m.starts_with("a database fault interrupted the run"))
    }) {
        assert!(Instant::now() < met, "the run never met the outage");
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    cluster.restart();

    let back = Instant::now() + Duration::from_secs(30);
    while client
        .get(format!("{base}/readyz"))
        .send()
        .await
        .unwrap()
        .status()
        != 200
    {
        assert!(Instant::now() < back, "segstore did not reconnect");
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    let seen = load.await.unwrap();
    assert!(seen.get(&200).copied().unwrap_or(0) > 100, "{seen:?}");
    // The interrupted run succeeds (retried if the fault met it), never stuck.
    let done = wait_run(&client, &base, &run, Duration::from_secs(180), |r| {
        r["status"] != "queued" && r["status"] != "running"
    })
    .await;
    assert_eq!(done["status"], "succeeded", "{done}");
    let events = done["events"].to_string();
    assert!(
        events.contains("database fault") || events.contains("worker gone"),
        "the fault did not meet the run: {events}"
    );
    // And writes work again.
    import(&client, &base, "id,a,b,c,d\nlate,1,2,3,4\n").await;
}
