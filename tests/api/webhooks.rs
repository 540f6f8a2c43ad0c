//! Webhooks: signed deliveries of what the API says (the same membership changes as the
//! feed), retried with the same id and in order, given up on and disabled after the
//! configured time, never sent to a private network unless allowed, signed by both secrets
//! during a rotation, and delivered once with two replicas.

use crate::helpers::{
    TestApp, json_ok, json_status, mall_segmentation, spawn_app, spawn_app_with, test_jobs,
};
use crate::receiver::{Receiver, closed_port};
use serde_json::{Value, json};
use std::collections::BTreeSet;
use std::time::{Duration, Instant};

pub async fn create_webhook(app: &TestApp, body: Value) -> Value {
    json_status(app.post_json("/v1/webhooks", &body).await, 201).await
}

/// Every change of the feed, as (activation, customer, from, to).
async fn feed(app: &TestApp, seg: &str) -> Vec<(i64, String, Option<i64>, Option<i64>)> {
    let page = json_ok(
        app.get(&format!("/v1/segmentations/{seg}/changes?limit=10000"))
            .await,
    )
    .await;
    page["changes"]
        .as_array()
        .unwrap()
        .iter()
        .map(|c| {
            (
                c["activation"].as_i64().unwrap(),
                c["customer_id"].as_str().unwrap().to_owned(),
                c["from"]["segment_id"].as_i64(),
                c["to"]["segment_id"].as_i64(),
            )
        })
        .collect()
}

/// The membership changes the receiver accepted, in the order it accepted them.
fn delivered_changes(
    accepted: &[crate::receiver::Received],
) -> Vec<(i64, String, Option<i64>, Option<i64>)> {
    accepted
        .iter()
        .filter(|r| r.kind() == "segment.membership_changed")
        .flat_map(|r| {
            let data = r.json()["data"].clone();
            let activation = data["activation"]["activation"].as_i64().unwrap();
            data["changes"]
                .as_array()
                .unwrap()
                .iter()
                .map(|c| {
                    (
                        activation,
                        c["customer_id"].as_str().unwrap().to_owned(),
                        c["from"]["segment_id"].as_i64(),
                        c["to"]["segment_id"].as_i64(),
                    )
                })
                .collect::<Vec<_>>()
        })
        .collect()
}

fn changes_total(accepted: &[crate::receiver::Received]) -> usize {
    delivered_changes(accepted).len()
}

#[tokio::test]
async fn runs_and_membership_changes_are_delivered_signed_and_equal_to_the_feed() {
    let app = spawn_app().await;
    let receiver = Receiver::start();
    let created = create_webhook(
        &app,
        json!({
            "url": receiver.url(),
            "events": ["segment.membership_changed", "run.succeeded", "segmentation.activated"],
            "batch_size": 64,
            "description": "CRM sync"
        }),
    )
    .await;
    let secret = created["secret"].as_str().unwrap().to_owned();
    assert!(secret.starts_with("whsec_"), "{created}");
    let id = created["id"].as_str().unwrap().to_owned();
    assert_eq!(
        created["events"],
        json!([
            "run.succeeded",
            "segmentation.activated",
            "segment.membership_changed"
        ])
    );
    // The secret is shown once: never listed, never read back.
    let listed = json_ok(app.get("/v1/webhooks").await).await;
    assert_eq!(listed["webhooks"][0]["id"], created["id"]);
    assert!(!listed.to_string().contains(&secret));
    let one = json_ok(app.get(&format!("/v1/webhooks/{id}")).await).await;
    assert!(
        one.get("secret").is_none() && one["enabled"] == true,
        "{one}"
    );

    let seg = mall_segmentation(&app).await;
    let run = app.run_to_success(&seg).await;
    // 200 customers entered: 4 batches (64, 64, 64, 8), a run and an activation.
    // Deduplicated by `webhook-id`, as receivers do: under load an answer can be lost and the
    // delivery sent again.
    let accepted = receiver
        .wait_for_once("the first run's events", |a| {
            changes_total(a) == 200 && a.len() == 6
        })
        .await;
    for r in &accepted {
        assert!(r.signed_by(&secret), "a bad signature: {r:?}");
        assert!(!r.signed_by("whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw"));
        assert!(r.id.starts_with("msg_"), "{}", r.id);
        let at: i64 = r.timestamp.parse().unwrap();
        assert!((chrono::Utc::now().timestamp() - at).abs() < 60);
    }
    let ids: BTreeSet<&str> = accepted.iter().map(|r| r.id.as_str()).collect();
    assert_eq!(ids.len(), 6, "each delivery has its own webhook-id");
    let kinds: Vec<String> = accepted.iter().map(|r| r.kind()).collect();
    assert_eq!(kinds.iter().filter(|k| *k == "run.succeeded").count(), 1);
    let run_event = accepted
        .iter()
        .find(|r| r.kind() == "run.succeeded")
        .unwrap()
        .json();
    assert_eq!(run_event["data"]["run_id"], run["id"]);
    assert_eq!(run_event["data"]["status"], "succeeded");
    assert_eq!(run_event["data"]["k"], 5);
    let activated = accepted
        .iter()
        .find(|r| r.kind() == "segmentation.activated")
        .unwrap()
        .json();
    assert_eq!(activated["data"]["run_id"], run["id"]);
    assert_eq!(activated["data"]["entered"], 200);
    assert_eq!(activated["data"]["cause"], "run");
    // Batches in order, contiguous, each saying where it is.
    let batches: Vec<Value> = accepted
        .iter()
        .filter(|r| r.kind() == "segment.membership_changed")
        .map(|r| r.json()["data"].clone())
        .collect();
    let ranges: Vec<(i64, i64, i64)> = batches
        .iter()
        .map(|b| {
            (
                b["first"].as_i64().unwrap(),
                b["last"].as_i64().unwrap(),
                b["total"].as_i64().unwrap(),
            )
        })
        .collect();
    assert_eq!(
        ranges,
        vec![
            (1, 64, 200),
            (65, 128, 200),
            (129, 192, 200),
            (193, 200, 200)
        ]
    );
    assert_eq!(delivered_changes(&accepted), feed(&app, &seg).await);

    // Customers move: the second activation's changes are delivered, and are the feed's.
    let movers: Vec<Value> = (1..=15)
        .map(|i| json!({"id": format!("{i:04}"), "attributes": {"annual_income_k": 135, "spending_score": 3}}))
        .collect();
    assert_eq!(app.upsert(json!(movers)).await.status(), 200);
    app.run_to_success(&seg).await;
    let moved = feed(&app, &seg).await;
    assert!(moved.len() > 200, "customers moved");
    let accepted = receiver
        .wait_for_once("the second run's changes", |a| {
            changes_total(a) == moved.len()
        })
        .await;
    assert_eq!(delivered_changes(&accepted), moved);

    // The log says what happened.
    let log = json_ok(
        app.get(&format!("/v1/webhooks/{id}/deliveries?limit=100"))
            .await,
    )
    .await;
    let deliveries = log["deliveries"].as_array().unwrap();
    assert_eq!(deliveries.len(), accepted.len(), "{log:#}");
    // Delivered, whatever number of attempts it took (a loaded machine can time one out).
    assert!(
        deliveries.iter().all(|d| d["state"] == "delivered"
            && d["attempts"].as_i64().unwrap() >= 1
            && d["last_status_code"] == 200
            && d["next_attempt_at"].is_null()),
        "{log:#}"
    );
    let seqs: Vec<i64> = deliveries
        .iter()
        .map(|d| d["seq"].as_i64().unwrap())
        .collect();
    assert!(seqs.windows(2).all(|w| w[0] > w[1]), "newest first");
    let by_header: BTreeSet<String> = accepted.iter().map(|r| r.id.clone()).collect();
    let by_log: BTreeSet<String> = deliveries
        .iter()
        .map(|d| format!("msg_{}", d["id"].as_str().unwrap().replace('-', "")))
        .collect();
    assert_eq!(
        by_header, by_log,
        "webhook-id is msg_ and the delivery's id"
    );
    // Paging by `before`.
    let first = json_ok(
        app.get(&format!("/v1/webhooks/{id}/deliveries?limit=3"))
            .await,
    )
    .await;
    let before = first["next_before"].as_i64().unwrap();
    let rest = json_ok(
        app.get(&format!(
            "/v1/webhooks/{id}/deliveries?limit=100&before={before}"
        ))
        .await,
    )
    .await;
    assert_eq!(
        first["deliveries"].as_array().unwrap().len()
            + rest["deliveries"].as_array().unwrap().len(),
        deliveries.len()
    );
    assert!(rest.get("next_before").is_none());
    let failed = json_ok(
        app.get(&format!("/v1/webhooks/{id}/deliveries?state=failed"))
            .await,
    )
    .await;
    assert_eq!(failed["deliveries"], json!([]));
    receiver.stop().await;
}

#[tokio::test]
async fn a_failing_delivery_is_retried_with_the_same_id_and_holds_back_the_rest() {
    let app = spawn_app().await;
    let receiver = Receiver::start();
    let created = create_webhook(
        &app,
        json!({"url": receiver.url(), "events": ["segment.membership_changed"], "batch_size": 50}),
    )
    .await;
    let id = created["id"].as_str().unwrap();
    // The first request fails twice (500, then 503), then everything is accepted.
    receiver.answer(&[500, 503]);
    let seg = mall_segmentation(&app).await;
    app.run_to_success(&seg).await;
    let accepted = receiver
        .wait_for_once("four batches", |a| changes_total(a) == 200)
        .await;
    // What the receiver saw (a loaded machine may add a timed-out attempt anywhere; the
    // order and the ids are what a receiver relies on).
    let log = receiver.log();
    let shown = || {
        format!(
            "{:#?}",
            log.iter().map(|r| (&r.id, r.status)).collect::<Vec<_>>()
        )
    };
    let first = log[0].id.clone();
    let of_first: Vec<u16> = log
        .iter()
        .filter(|r| r.id == first)
        .map(|r| r.status)
        .collect();
    assert_eq!(&of_first[..2], &[500, 503], "{}", shown());
    assert!(
        of_first[2..].contains(&200),
        "a retry keeps its webhook-id: {}",
        shown()
    );
    let first_accepted = log
        .iter()
        .position(|r| r.id == first && r.status == 200)
        .unwrap();
    assert!(
        log[..first_accepted].iter().all(|r| r.id == first),
        "nothing after the failing delivery went out before it succeeded: {}",
        shown()
    );
    let firsts: Vec<i64> = accepted
        .iter()
        .map(|r| r.json()["data"]["first"].as_i64().unwrap())
        .collect();
    assert_eq!(firsts, vec![1, 51, 101, 151]);
    assert_eq!(delivered_changes(&accepted), feed(&app, &seg).await);

    let delivery = first.strip_prefix("msg_").unwrap().to_owned();
    let delivery = uuid::Uuid::parse_str(&delivery).unwrap();
    let detail = json_ok(
        app.get(&format!("/v1/webhooks/{id}/deliveries/{delivery}"))
            .await,
    )
    .await;
    assert_eq!(detail["state"], "delivered");
    let codes: Vec<Option<i64>> = detail["attempts_log"]
        .as_array()
        .unwrap()
        .iter()
        .map(|a| a["status_code"].as_i64())
        .collect();
    assert_eq!(&codes[..2], &[Some(500), Some(503)], "{detail:#}");
    assert_eq!(codes.last(), Some(&Some(200)), "{detail:#}");
    assert_eq!(detail["attempts"], codes.len(), "{detail:#}");
    assert_eq!(
        detail["attempts_log"][0]["response_excerpt"],
        "answered 500"
    );
    assert_eq!(detail["changes"], json!({"first": 1, "last": 50}));

    // A delivered delivery can be sent again on request, with its id.
    let accepted_before = receiver.accepted().len();
    let retried = json_status(
        app.post_json(
            &format!("/v1/webhooks/{id}/deliveries/{delivery}/retry"),
            &json!({}),
        )
        .await,
        202,
    )
    .await;
    assert_eq!(retried["state"], "pending");
    let again = receiver
        .wait_for("the redelivery", |a| a.len() > accepted_before)
        .await;
    let redelivered = &again[accepted_before];
    assert_eq!(redelivered.id, first);
    assert_eq!(redelivered.body, log[first_accepted].body, "the same body");
    receiver.stop().await;
}

#[tokio::test]
async fn an_endpoint_down_past_the_give_up_time_disables_its_webhook_until_enabled() {
    // Give up after three seconds (a day by default).
    let mut jobs = test_jobs();
    jobs.webhooks.give_up_after = Duration::from_secs(3);
    let app = spawn_app_with(jobs).await;
    let port = closed_port();
    let created = create_webhook(
        &app,
        json!({"url": format!("http://127.0.0.1:{port}/hook"), "events": ["run.succeeded"]}),
    )
    .await;
    let id = created["id"].as_str().unwrap().to_owned();
    let ping = json_status(
        app.post_json(&format!("/v1/webhooks/{id}/ping"), &json!({}))
            .await,
        202,
    )
    .await;
    let delivery = ping["delivery_id"].as_str().unwrap().to_owned();
    let started = Instant::now();
    let webhook = loop {
        let webhook = json_ok(app.get(&format!("/v1/webhooks/{id}")).await).await;
        if webhook["enabled"] == false {
            break webhook;
        }
        assert!(
            started.elapsed() < Duration::from_secs(30),
            "never disabled"
        );
        tokio::time::sleep(Duration::from_millis(100)).await;
    };
    let reason = webhook["disabled_reason"].as_str().unwrap();
    assert!(reason.contains("failing"), "{reason}");
    let detail = json_ok(
        app.get(&format!("/v1/webhooks/{id}/deliveries/{delivery}"))
            .await,
    )
    .await;
    assert_eq!(detail["state"], "failed");
    let attempts = detail["attempts_log"].as_array().unwrap();
    assert!(attempts.len() >= 3, "retried before giving up: {detail:#}");
    assert!(attempts.iter().all(|a| a["status_code"].is_null()
        && a["error"].as_str().unwrap().contains("connect")));
    // Retries back off: each wait is at least half the one before's nominal doubling.
    let times: Vec<chrono::DateTime<chrono::Utc>> = attempts
        .iter()
        .map(|a| a["attempted_at"].as_str().unwrap().parse().unwrap())
        .collect();
    assert!(times.windows(2).all(|w| w[1] > w[0]));

    // A run while disabled waits in the queue.
    let seg = mall_segmentation(&app).await;
    app.run_to_success(&seg).await;
    // The endpoint comes back; enabling the webhook delivers the waiting run, and the failed
    // ping on request.
    let receiver = Receiver::start_on(port);
    let enabled = json_ok(
        app.client
            .patch(app.url(&format!("/v1/webhooks/{id}")))
            .json(&json!({"enabled": true}))
            .send()
            .await
            .unwrap(),
    )
    .await;
    assert_eq!(enabled["enabled"], true);
    assert!(enabled["disabled_reason"].is_null());
    let accepted = receiver.wait_for("the waiting run", |a| a.len() == 1).await;
    assert_eq!(accepted[0].kind(), "run.succeeded");
    json_status(
        app.post_json(
            &format!("/v1/webhooks/{id}/deliveries/{delivery}/retry"),
            &json!({}),
        )
        .await,
        202,
    )
    .await;
    let accepted = receiver.wait_for("the ping", |a| a.len() == 2).await;
    assert_eq!(accepted[1].kind(), "webhook.ping");
    assert_eq!(accepted[1].json()["data"]["webhook_id"], json!(id));
    receiver.stop().await;
}

#[tokio::test]
async fn a_410_disables_the_webhook_at_once() {
    let app = spawn_app().await;
    let receiver = Receiver::start();
    receiver.answer(&[410]);
    let created = create_webhook(
        &app,
        json!({"url": receiver.url(), "events": ["run.failed"]}),
    )
    .await;
    let id = created["id"].as_str().unwrap();
    app.post_json(&format!("/v1/webhooks/{id}/ping"), &json!({}))
        .await;
    let started = Instant::now();
    loop {
        let webhook = json_ok(app.get(&format!("/v1/webhooks/{id}")).await).await;
        if webhook["enabled"] == false {
            assert!(
                webhook["disabled_reason"].as_str().unwrap().contains("410"),
                "{webhook}"
            );
            break;
        }
        assert!(
            started.elapsed() < Duration::from_secs(10),
            "never disabled"
        );
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    // Not retried once the 410 was answered (an attempt whose answer a loaded machine lost
    // may come before it).
    let log = receiver.log();
    assert_eq!(
        log.last().map(|r| r.status),
        Some(410),
        "{:?}",
        log.iter().map(|r| r.status).collect::<Vec<_>>()
    );
    assert_eq!(log.iter().filter(|r| r.status == 410).count(), 1);
    receiver.stop().await;
}

#[tokio::test]
async fn two_replicas_deliver_every_batch_once_and_in_order() {
    let app = spawn_app().await;
    let replica = app.replica(test_jobs()).await;
    let receiver = Receiver::start();
    create_webhook(
        &app,
        json!({"url": receiver.url(), "events": ["segment.membership_changed"], "batch_size": 5}),
    )
    .await;
    let seg = mall_segmentation(&app).await;
    app.run_to_success(&seg).await;
    let accepted = receiver
        .wait_for_once("40 batches", |a| changes_total(a) == 200)
        .await;
    // Each batch once: a request the receiver got twice is one whose first answer was lost
    // (recorded as an attempt without an answer), never two replicas sending it at once.
    let sent_again = receiver.log().len() - accepted.len();
    let unanswered = app
        .count("SELECT count(*) FROM webhook_attempts WHERE status_code IS NULL")
        .await;
    assert_eq!(sent_again as i64, unanswered, "each batch once");
    let firsts: Vec<i64> = accepted
        .iter()
        .map(|r| r.json()["data"]["first"].as_i64().unwrap())
        .collect();
    assert_eq!(
        firsts,
        (0..40).map(|i| i * 5 + 1).collect::<Vec<_>>(),
        "in order"
    );
    assert_eq!(delivered_changes(&accepted), feed(&replica, &seg).await);
    receiver.stop().await;
}

#[tokio::test]
async fn deliveries_wait_for_an_endpoint_that_is_down_and_arrive_in_order() {
    let app = spawn_app().await;
    let port = crate::receiver::closed_port();
    let created = create_webhook(
        &app,
        json!({"url": format!("http://127.0.0.1:{port}/hooks"), "events": ["segment.membership_changed"], "batch_size": 50}),
    )
    .await;
    let id = created["id"].as_str().unwrap();
    let seg = mall_segmentation(&app).await;
    app.run_to_success(&seg).await;
    // Nothing listens: the first batch fails and is retried (the others wait behind it).
    let started = Instant::now();
    loop {
        let failed = app
            .count("SELECT count(*) FROM webhook_attempts WHERE status_code IS NULL")
            .await;
        if failed >= 2 {
            break;
        }
        assert!(started.elapsed() < Duration::from_secs(10), "no retry");
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    // The endpoint comes up (before the give-up time): every batch arrives, in order.
    let receiver = Receiver::start_on(port);
    let accepted = receiver
        .wait_for_once("four batches", |a| changes_total(a) == 200)
        .await;
    let firsts: Vec<i64> = accepted
        .iter()
        .map(|r| r.json()["data"]["first"].as_i64().unwrap())
        .collect();
    assert_eq!(firsts, vec![1, 51, 101, 151]);
    let log = json_ok(app.get(&format!("/v1/webhooks/{id}/deliveries")).await).await;
    let attempts: Vec<i64> = log["deliveries"]
        .as_array()
        .unwrap()
        .iter()
        .rev()
        .map(|d| d["attempts"].as_i64().unwrap())
        .collect();
    assert!(attempts[0] >= 3, "{attempts:?}");
    // The others waited, untried, until the first was delivered.
    let tried_early = app
        .count(
            "SELECT count(*) FROM webhook_attempts a
              WHERE a.attempted_at < (SELECT min(f.attempted_at) FROM webhook_attempts f
                                       WHERE f.status_code = 200)
                AND a.delivery_id <> (SELECT f.delivery_id FROM webhook_attempts f
                                       WHERE f.status_code = 200
                                       ORDER BY f.attempted_at LIMIT 1)",
        )
        .await;
    assert_eq!(tried_early, 0, "{attempts:?}");
    let webhook = json_ok(app.get(&format!("/v1/webhooks/{id}")).await).await;
    assert_eq!(webhook["enabled"], true);
    receiver.stop().await;
}
