//! segstore on the topologies of "Scaling out", built from the installed binaries: heavy reads
//! on a hot standby (`DATABASE_READ_URL`) without read-after-write anomalies, falling back to
//! the primary while the standby lags or is gone; and everything through PgBouncer in
//! transaction pooling mode (`DATABASE_DIRECT_URL` beside it).

use crate::clusters::{Bouncer, PrivateCluster, Standby};
use crate::helpers::{MALL_CSV, empty_database};
use crate::process::{Served, serve_with, wait_run};
use reqwest::Client;
use serde_json::{Value, json};
use std::time::{Duration, Instant};

async fn ok(response: reqwest::Response) -> reqwest::Response {
    let status = response.status();
    if !status.is_success() {
        panic!("{status}: {}", response.text().await.unwrap());
    }
    response
}

async fn get(client: &Client, url: String) -> Value {
    ok(client.get(url).send().await.unwrap())
        .await
        .json()
        .await
        .unwrap()
}

async fn post(client: &Client, url: String, body: Value) -> Value {
    ok(client.post(url).json(&body).send().await.unwrap())
        .await
        .json()
        .await
        .unwrap()
}

async fn import_mall(client: &Client, base: &str) -> Value {
    ok(client
        .post(format!("{base}/v1/customers/import"))
        .header("content-type", "text/csv")
        .body(std::fs::read(MALL_CSV).unwrap())
        .send()
        .await
        .unwrap())
    .await
    .json()
    .await
    .unwrap()
}

/// Creates the Mall segmentation, runs it, waits for the run to succeed; (segmentation, run).
async fn mall_run(client: &Client, base: &str) -> (String, String) {
    let segmentation = post(
        client,
        format!("{base}/v1/segmentations"),
        json!({"name": "Mall", "config": {
            "features": ["annual_income_k", "spending_score"],
            "algorithm": {"type": "kmeans", "k": 5}
        }}),
    )
    .await["id"]
        .as_str()
        .unwrap()
        .to_owned();
    let run = post(
        client,
        format!("{base}/v1/segmentations/{segmentation}/runs"),
        json!({}),
    )
    .await["id"]
        .as_str()
        .unwrap()
        .to_owned();
    let done = wait_run(client, base, &run, |r| {
        r["status"] != "queued" && r["status"] != "running"
    })
    .await;
    assert_eq!(done["status"], "succeeded", "{done:#}");
    (segmentation, run)
}

/// A run's assignments as CSV.
async fn export(client: &Client, base: &str, run: &str) -> String {
    ok(client
        .get(format!("{base}/v1/runs/{run}/assignments.csv"))
        .send()
        .await
        .unwrap())
    .await
    .text()
    .await
    .unwrap()
}

/// Every customer id of `GET /v1/customers`, page after page.
async fn customer_ids(client: &Client, base: &str) -> Vec<String> {
    let mut ids = Vec::new();
    let mut after = String::new();
    loop {
        let page = get(
            client,
            format!("{base}/v1/customers?limit=1000&after={after}"),
        )
        .await;
        ids.extend(
            page["customers"]
                .as_array()
                .unwrap()
                .iter()
                .map(|c| c["id"].as_str().unwrap().to_owned()),
        );
        match page["next_after"].as_str() {
            Some(next) => after = next.to_owned(),
            None => return ids,
        }
    }
}

/// Writes one customer, then lists the customers at once: the new one is there.
async fn write_then_read(client: &Client, base: &str, id: &str) {
    post(
        client,
        format!("{base}/v1/customers"),
        json!({"customers": [{"id": id, "attributes": {"annual_income_k": 50, "spending_score": 50}}]}),
    )
    .await;
    let ids = customer_ids(client, base).await;
    assert!(
        ids.iter().any(|i| i == id),
        "{id}, written just before, is missing from the list"
    );
}

/// The sum of a metric's samples whose labels contain every one of `labels`.
pub async fn metric(served: &Served, name: &str, labels: &[&str]) -> f64 {
    let text = reqwest::get(format!("{}/metrics", served.metrics.as_ref().unwrap()))
        .await
        .unwrap()
        .text()
        .await
        .unwrap();
    text.lines()
        .filter(|l| {
            l.strip_prefix(name)
                .is_some_and(|rest| rest.starts_with(['{', ' ']))
                && labels.iter().all(|x| l.contains(x))
        })
        .filter_map(|l| l.rsplit(' ').next()?.parse::<f64>().ok())
        .sum()
}

fn logged(served: &Served, fragment: &str) -> bool {
    served
        .lines
        .lock()
        .unwrap()
        .iter()
        .any(|l| l["message"].as_str().is_some_and(|m| m.contains(fragment)))
}

/// Rows read from the tables whose names start with `prefix`, as the standby's own statistics
/// count them (a backend reports them when its transaction ends, or up to ten seconds later
/// when idle: polled until they exceed `above`).
async fn standby_reads(standby: &Standby, prefix: &str, above: i64) -> i64 {
    let deadline = Instant::now() + Duration::from_secs(20);
    loop {
        let mut conn = standby.connect().await;
        let read: i64 = sqlx::query_scalar(
            "SELECT coalesce(sum(coalesce(seq_tup_read, 0) + coalesce(idx_tup_fetch, 0)), 0)::bigint
             FROM pg_stat_user_tables WHERE relname LIKE $1 || '%'",
        )
        .bind(prefix)
        .fetch_one(&mut conn)
        .await
        .unwrap();
        if read > above || Instant::now() > deadline {
            return read;
        }
        tokio::time::sleep(Duration::from_millis(250)).await;
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn heavy_reads_go_to_a_caught_up_standby_and_to_the_primary_while_it_lags_or_is_gone() {
    let primary = PrivateCluster::start().await;
    let standby = Standby::of(&primary).await;
    let read_url = standby.url();
    let served = serve_with(
        &primary.url(),
        &[
            ("DATABASE_READ_URL", read_url.as_str()),
            ("SEGSTORE_READ_MAX_WAIT_MS", "300"),
            ("SEGSTORE_METRICS_BIND", "127.0.0.1:0"),
        ],
    )
    .await;
    let (client, base) = (served.client(), served.base.clone());
    let mut conn = standby.connect().await;
    let in_recovery: bool = sqlx::query_scalar("SELECT pg_is_in_recovery()")
        .fetch_one(&mut conn)
        .await
        .unwrap();
    assert!(in_recovery, "the read URL is a standby");

    // An import, and its customers listed at once, from the standby.
    assert_eq!(import_mall(&client, &base).await["inserted"], 200);
    assert_eq!(customer_ids(&client, &base).await.len(), 200);
    let catalogue = get(&client, format!("{base}/v1/attributes")).await;
    assert_eq!(catalogue["customers"], 200, "{catalogue:#}");

    // A run (its snapshot read on the standby), and its assignments exported at once.
    let customers_before = standby_reads(&standby, "customers", -1).await;
    let (_, run) = mall_run(&client, &base).await;
    let csv = export(&client, &base, &run).await;
    assert_eq!(csv.lines().count(), 201, "a header and every customer");
    assert!(
        standby_reads(&standby, "assignments", 0).await >= 200,
        "the standby served the export"
    );
    assert!(
        standby_reads(&standby, "customers", customers_before).await > customers_before,
        "the standby served the training snapshot"
    );

    // Read-after-write, again and again: no write is missing from the read that follows it.
    for i in 0..20 {
        write_then_read(&client, &base, &format!("raw-{i:02}")).await;
    }
    assert!(
        metric(&served, "segstore_heavy_reads_total", &["to=\"standby\""]).await >= 20.0,
        "the reads went to the standby"
    );
    assert_eq!(
        metric(&served, "segstore_heavy_reads_total", &["to=\"primary\""]).await,
        0.0
    );

    // A standby that stops replaying: reads go to the primary after the bound, and see the
    // write; readiness stays green; it is logged and counted.
    sqlx::query("SELECT pg_wal_replay_pause()")
        .execute(&mut conn)
        .await
        .unwrap();
    // A pause is only requested until the startup process meets the next record: the write
    // below is that record. Should one read still find the standby usable (it answered late
    // and rested, or replayed before pausing), the next write meets the pause: a bounded wait
    // on the state, not on one request's timing.
    let mut lagging = 0.0;
    for i in 0..20 {
        write_then_read(&client, &base, &format!("while-lagging-{i:02}")).await;
        lagging = metric(
            &served,
            "segstore_heavy_reads_total",
            &["to=\"primary\"", "standby=\"lagging\""],
        )
        .await;
        if lagging >= 1.0 {
            break;
        }
    }
    assert!(
        lagging >= 1.0,
        "a lagging standby sent no read to the primary"
    );
    let ready = client.get(format!("{base}/readyz")).send().await.unwrap();
    assert_eq!(ready.status(), 200);
    assert!(metric(&served, "segstore_read_replica_lag_bytes", &[]).await > 0.0);
    assert!(logged(&served, "lags behind the primary"));

    // Replaying again, it serves again.
    sqlx::query("SELECT pg_wal_replay_resume()")
        .execute(&mut conn)
        .await
        .unwrap();
    write_then_read(&client, &base, "caught-up-again").await;
    assert!(logged(&served, "is caught up"));
    let to_standby = metric(&served, "segstore_heavy_reads_total", &["to=\"standby\""]).await;

    // A standby that is gone: reads on the primary at once, readiness green, logged, up = 0.
    drop(conn);
    drop(standby);
    let started = Instant::now();
    write_then_read(&client, &base, "while-gone").await;
    assert!(
        started.elapsed() < Duration::from_secs(10),
        "no wait for a standby that is gone"
    );
    let csv = export(&client, &base, &run).await;
    assert_eq!(csv.lines().count(), 201);
    let ready = client.get(format!("{base}/readyz")).send().await.unwrap();
    assert_eq!(ready.status(), 200);
    assert!(logged(&served, "cannot be reached"));
    assert_eq!(metric(&served, "segstore_read_replica_up", &[]).await, 0.0);
    assert!(
        metric(
            &served,
            "segstore_heavy_reads_total",
            &["to=\"primary\"", "standby=\"unavailable\""]
        )
        .await
            >= 2.0
    );
    assert_eq!(
        metric(&served, "segstore_heavy_reads_total", &["to=\"standby\""]).await,
        to_standby
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
#[ignore = "needs PgBouncer (apt-get install pgbouncer); run by .ci/run, which installs it"]
async fn the_api_story_runs_through_pgbouncer_in_transaction_mode() {
    let db = empty_database().await;
    let database = db
        .url
        .rsplit('/')
        .next()
        .unwrap()
        .split('?')
        .next()
        .unwrap()
        .to_owned();
    // Four server sessions for segstore's sixteen connections: transactions change sessions.
    let bouncer = Bouncer::before(&db.url, 4).await;
    let pooled = bouncer.url(&database);
    let served = serve_with(
        &pooled,
        &[
            ("DATABASE_DIRECT_URL", db.url.as_str()),
            ("SEGSTORE_HTTP_WORKERS", "2"),
        ],
    )
    .await;
    let (client, base) = (served.client(), served.base.clone());

    // An import (COPY into a temporary table, merged), JSON batches, and reads of them.
    assert_eq!(import_mall(&client, &base).await["inserted"], 200);
    let writes = (0..8).map(|i| {
        let (client, base) = (client.clone(), base.clone());
        tokio::spawn(async move { write_then_read(&client, &base, &format!("pooled-{i}")).await })
    });
    for w in writes {
        w.await.unwrap();
    }
    assert_eq!(customer_ids(&client, &base).await.len(), 208);

    // A run (claimed, leased, trained, written, activated), lookups and an export.
    let (segmentation, run) = mall_run(&client, &base).await;
    let lookups = (1..=60).map(|i| {
        let (client, base, segmentation) = (client.clone(), base.clone(), segmentation.clone());
        tokio::spawn(async move {
            let id = format!("{i:04}");
            let found = get(
                &client,
                format!("{base}/v1/segmentations/{segmentation}/customers/{id}"),
            )
            .await;
            assert!(found["current"]["segment_id"].is_number(), "{found:#}");
        })
    });
    for l in lookups {
        l.await.unwrap();
    }
    let csv = export(&client, &base, &run).await;
    assert_eq!(csv.lines().count(), 209);

    // A second replica on the same pooler hears the first's activations (LISTEN on its
    // direct connection) and serves the same segments.
    let other = serve_with(&pooled, &[("DATABASE_DIRECT_URL", db.url.as_str())]).await;
    let seen = get(
        &other.client(),
        format!(
            "{}/v1/segmentations/{segmentation}/customers/0001",
            other.base
        ),
    )
    .await;
    assert!(seen["current"]["segment_id"].is_number(), "{seen:#}");
    // Nothing went wrong on the way (a statement prepared on one session and run on another
    // fails, and its worker logs a warning). A statement that waited over 5 s for one of the
    // four server sessions on a loaded machine is logged as slow: that is no failure.
    for replica in [&served, &other] {
        let complaints: Vec<Value> = replica
            .lines
            .lock()
            .unwrap()
            .iter()
            .filter(|l| l["level"] == "WARN" || l["level"] == "ERROR")
            .filter(|l| {
                !l["message"]
                    .as_str()
                    .is_some_and(|m| m.starts_with("slow statement"))
            })
            .cloned()
            .collect();
        assert!(complaints.is_empty(), "{complaints:#?}");
    }

    // The traffic went through PgBouncer, in transaction mode, on at most four sessions.
    let pools = bouncer.show("POOLS");
    let ours = pools
        .iter()
        .find(|p| p["database"] == database)
        .unwrap_or_else(|| panic!("{pools:?}"));
    assert_eq!(ours["pool_mode"], "transaction");
    let stats = bouncer.show("STATS");
    let ours = stats
        .iter()
        .find(|s| s["database"] == database)
        .unwrap_or_else(|| panic!("{stats:?}"));
    let transactions: u64 = ours["total_xact_count"].parse().unwrap();
    assert!(transactions > 100, "{ours:?}");
    let servers = bouncer.show("SERVERS");
    assert!(
        servers.iter().filter(|s| s["database"] == database).count() <= 4,
        "{servers:?}"
    );
}
