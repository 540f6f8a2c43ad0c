//! Floods without a key: requests with made-up keys from one address cost no database
//! transaction each (known prefixes and a budget of reads of unknown ones; past its refusal
//! budget, an address is answered 429), a valid key from another address keeps working,
//! refusals are logged and audited as counts per address, not one line each, and a key
//! created meanwhile works at once.

use crate::helpers::{empty_database, json_ok, json_status};
use crate::process::serve_with;
use crate::topology::metric;
use futures_util::StreamExt;
use serde_json::{Value, json};
use std::time::{Duration, Instant};

#[tokio::test]
async fn made_up_keys_cost_no_database_read_each_and_are_counted_not_logged() {
    let db = empty_database().await;
    let served = serve_with(
        &db.url,
        &[
            ("SEGSTORE_METRICS_BIND", "127.0.0.1:0"),
            ("SEGSTORE_REFUSAL_SUMMARY_SECONDS", "1"),
            ("SEGSTORE_HTTP_WORKERS", "2"),
        ],
    )
    .await;
    let valid = served.client();
    let url = |path: &str| format!("{}{path}", served.base);
    assert_eq!(
        valid
            .get(url("/v1/customers"))
            .send()
            .await
            .unwrap()
            .status(),
        200
    );
    // Another address: the flood's refusals are budgeted per address.
    let attacker = reqwest::Client::builder()
        .local_address(std::net::IpAddr::from([127, 0, 0, 2]))
        .build()
        .unwrap();
    let reads_before = metric(&served, "segstore_key_reads_total", &[]).await;
    let started = Instant::now();
    // Past the address's budget each answer waits a second: 64 at a time, a few seconds.
    const FLOOD: usize = 600;
    let answers: Vec<u16> = futures_util::stream::iter(0..FLOOD)
        .map(|i| {
            let attacker = attacker.clone();
            let target = url(if i % 2 == 0 {
                "/v1/customers"
            } else {
                "/v1/keys"
            });
            async move {
                let key = segstore::domain::key::Token::generate();
                attacker
                    .get(target)
                    .bearer_auth(key.expose())
                    .send()
                    .await
                    .unwrap()
                    .status()
                    .as_u16()
            }
        })
        .buffer_unordered(64)
        .collect()
        .await;
    let elapsed = started.elapsed().as_secs_f64();
    let unauthorized = answers.iter().filter(|s| **s == 401).count();
    let throttled = answers.iter().filter(|s| **s == 429).count();
    assert_eq!(unauthorized + throttled, FLOOD, "{answers:?}");
    // 100 refusals at once, then 10 a second: the rest are 429 without a look, answered
    // after a second each.
    assert!(
        (unauthorized as f64) <= 100.0 + 10.0 * elapsed + 5.0,
        "{unauthorized} refused with 401 in {elapsed:.1} s"
    );
    // Database reads: 20 at once, then 20 a second, for the whole replica; not one each.
    let reads = metric(&served, "segstore_key_reads_total", &[]).await - reads_before;
    assert!(
        reads <= 20.0 + 20.0 * elapsed + 5.0 && reads <= unauthorized as f64 + 2.0,
        "{reads} key reads for {FLOOD} made-up keys in {elapsed:.1} s"
    );
    assert!(
        elapsed >= (throttled as f64 / 64.0).floor() * 0.9,
        "the throttled answers waited: {throttled} in {elapsed:.1} s"
    );
    // The valid key's reads and writes answered throughout (and right after).
    let written = valid
        .post(url("/v1/customers"))
        .json(&json!({"customers": [{"id": "c1", "attributes": {"age": 30}}]}))
        .send()
        .await
        .unwrap();
    assert_eq!(written.status(), 200);
    // A key created now, from the address that is not flooding, works at once.
    let created = json_status(
        valid
            .post(url("/v1/keys"))
            .json(&json!({"name": "new", "scopes": ["read"]}))
            .send()
            .await
            .unwrap(),
        201,
    )
    .await;
    let new = crate::helpers::client_with_key(created["token"].as_str().unwrap());
    assert_eq!(
        new.get(url("/v1/customers")).send().await.unwrap().status(),
        200
    );

    // Counted, not logged one by one: a summary line per address and second here (a
    // minute by default), and the audit log's counted entries.
    let deadline = Instant::now() + Duration::from_secs(30);
    let summed = loop {
        let lines = served.lines.lock().unwrap().clone();
        let total: u64 = lines
            .iter()
            .filter(|l| l["message"] == "refused requests" && l["source"] == "127.0.0.2")
            .map(|l| l["total"].as_u64().unwrap())
            .sum();
        if total as usize >= FLOOD {
            break lines;
        }
        assert!(Instant::now() < deadline, "summed up {total} of {FLOOD}");
        tokio::time::sleep(Duration::from_millis(100)).await;
    };
    let one_by_one = summed
        .iter()
        .filter(|l| l["message"] == "request" && l["status"] == 401)
        .count();
    assert_eq!(one_by_one, 0, "refusals logged one by one");
    let audit = json_ok(valid.get(url("/v1/audit?limit=1000")).send().await.unwrap()).await;
    let counted: u64 = audit["entries"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|e| e["route"] == "(refused requests)" && e["source"] == "127.0.0.2")
        .map(|e| {
            assert_eq!(e["actor"], "anonymous", "{e}");
            e["count"].as_u64().unwrap()
        })
        .sum();
    assert_eq!(counted as usize, FLOOD, "{audit:#}");
    let by_status: Vec<&Value> = audit["entries"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|e| e["route"] == "(refused requests)" && e["status"] == 429)
        .collect();
    assert!(!by_status.is_empty());
}
