//! A webhook's settings: what is refused (private networks unless allowed, bad fields, with
//! nothing written), changing, filtering by segmentation, rotating the secret (both sign
//! during the overlap), and a delivery interrupted by SIGKILL is sent again by the next
//! process.

use crate::helpers::mall_segmentation;
use crate::helpers::{
    assert_problem, empty_database, json_ok, json_status, spawn_app, spawn_app_with, test_jobs,
    test_webhooks,
};
use crate::process::serve_with;
use crate::receiver::Receiver;
use crate::webhooks::create_webhook;
use serde_json::{Value, json};
use std::time::Duration;

#[tokio::test]
async fn a_rotated_secret_signs_beside_the_new_one_until_the_overlap_ends() {
    let app = spawn_app().await;
    let receiver = Receiver::start();
    let created = create_webhook(
        &app,
        json!({"url": receiver.url(), "events": ["run.succeeded"]}),
    )
    .await;
    let id = created["id"].as_str().unwrap();
    let old = created["secret"].as_str().unwrap();
    let rotated = json_ok(
        app.post_json(
            &format!("/v1/webhooks/{id}/rotate-secret?overlap_seconds=3600"),
            &json!({}),
        )
        .await,
    )
    .await;
    let new = rotated["secret"].as_str().unwrap();
    assert_ne!(new, old);
    assert!(rotated["webhook"]["previous_secret_until"].is_string());
    app.post_json(&format!("/v1/webhooks/{id}/ping"), &json!({}))
        .await;
    let accepted = receiver.wait_for("a ping", |a| a.len() == 1).await;
    assert_eq!(accepted[0].signature.split(' ').count(), 2);
    assert!(accepted[0].signed_by(new) && accepted[0].signed_by(old));

    // Without an overlap only the newest secret signs.
    let rotated = json_ok(
        app.post_json(
            &format!("/v1/webhooks/{id}/rotate-secret?overlap_seconds=0"),
            &json!({}),
        )
        .await,
    )
    .await;
    let newest = rotated["secret"].as_str().unwrap();
    app.post_json(&format!("/v1/webhooks/{id}/ping"), &json!({}))
        .await;
    let accepted = receiver.wait_for("a second ping", |a| a.len() == 2).await;
    assert_eq!(accepted[1].signature.split(' ').count(), 1);
    assert!(accepted[1].signed_by(newest) && !accepted[1].signed_by(new));

    assert_problem(
        app.post_json(
            &format!("/v1/webhooks/{id}/rotate-secret?overlap_seconds=9999999"),
            &json!({}),
        )
        .await,
        422,
        "overlap_seconds",
    )
    .await;
    receiver.stop().await;
}

#[tokio::test]
async fn webhooks_are_checked_and_private_networks_refused_unless_allowed() {
    // The default policy: public addresses only.
    let mut jobs = test_jobs();
    jobs.webhooks = segstore::service::webhooks::WebhookSettings {
        allow: Default::default(),
        ..test_webhooks()
    };
    let app = spawn_app_with(jobs).await;
    app.import_mall().await;
    let seg = app
        .create_segmentation(json!({"name": "s", "config": {"features": ["age"]}}))
        .await;
    let valid = json!({"url": "https://crm.example.com/hook", "events": ["run.succeeded"]});
    let cases: Vec<(Value, &str, &str)> = vec![
        (json!({"url": "http://127.0.0.1:9/hook"}), "url", "loopback"),
        (json!({"url": "http://[::1]:9/hook"}), "url", "loopback"),
        (json!({"url": "http://localhost:9/hook"}), "url", "loopback"),
        (json!({"url": "http://10.1.2.3/hook"}), "url", "private"),
        (json!({"url": "http://192.168.0.10/hook"}), "url", "private"),
        (
            json!({"url": "http://169.254.169.254/latest/meta-data"}),
            "url",
            "link-local",
        ),
        (
            json!({"url": "http://[::ffff:127.0.0.1]/hook"}),
            "url",
            "loopback",
        ),
        (json!({"url": "http://0.0.0.0/hook"}), "url", ""),
        // Every special-purpose range, and addresses embedding a restricted IPv4 address.
        (
            json!({"url": "http://[::127.0.0.1]/hook"}),
            "url",
            "embedding 127.0.0.1",
        ),
        (
            json!({"url": "http://[64:ff9b::7f00:1]/hook"}),
            "url",
            "embedding 127.0.0.1",
        ),
        (
            json!({"url": "http://[2002:7f00:1::]/hook"}),
            "url",
            "embedding 127.0.0.1",
        ),
        (
            json!({"url": "http://[2001:0:5db8:d822::80ff:fffe]/hook"}),
            "url",
            "embedding 127.0.0.1",
        ),
        (
            json!({"url": "http://[fec0::1]/hook"}),
            "url",
            "special-purpose",
        ),
        (
            json!({"url": "http://198.18.0.1/hook"}),
            "url",
            "benchmarking",
        ),
        (
            json!({"url": "http://192.0.0.1/hook"}),
            "url",
            "IETF protocol",
        ),
        (
            json!({"url": "http://[2001:db8::1]/hook"}),
            "url",
            "documentation",
        ),
        (json!({"url": "http://100.64.0.1/hook"}), "url", "private"),
        (json!({"url": "ftp://crm.example.com/hook"}), "url", "http"),
        (
            json!({"url": "https://user:pw@crm.example.com/hook"}),
            "url",
            "credentials",
        ),
        (json!({"url": "not a url"}), "url", ""),
        (
            json!({"url": format!("https://crm.example.com/{}", "a".repeat(2100))}),
            "url",
            "2048",
        ),
        (json!({"events": []}), "events", "at least one"),
        (
            json!({"events": ["run.exploded"]}),
            "events",
            "run.exploded",
        ),
        (
            json!({"events": ["run.failed", "run.failed"]}),
            "events",
            "twice",
        ),
        (json!({"events": ["webhook.ping"]}), "events", "ping"),
        (
            json!({"batch_size": 0}),
            "batch_size",
            "between 1 and 10000",
        ),
        (
            json!({"batch_size": 10001}),
            "batch_size",
            "between 1 and 10000",
        ),
        (
            json!({"description": "d".repeat(501)}),
            "description",
            "500",
        ),
        (
            json!({"segmentation_id": uuid::Uuid::new_v4()}),
            "segmentation_id",
            "no segmentation",
        ),
    ];
    for (change, field, needle) in cases {
        let mut body = valid.clone();
        for (k, v) in change.as_object().unwrap() {
            body[k] = v.clone();
        }
        let problem = assert_problem(app.post_json("/v1/webhooks", &body).await, 422, field).await;
        let detail = problem["detail"].as_str().unwrap();
        assert!(detail.contains(needle), "{body}: {detail}");
    }
    assert_problem(
        app.post_json("/v1/webhooks", &json!({"url": "https://crm.example.com/h", "events": ["run.succeeded"], "secret": "x"}))
            .await,
        422,
        "secret",
    )
    .await;
    assert_eq!(
        app.count("SELECT count(*) FROM webhooks").await,
        0,
        "nothing written"
    );

    // A public URL and a segmentation filter are fine; changing to a private URL is refused
    // and changes nothing.
    let mut body = valid.clone();
    body["segmentation_id"] = json!(seg);
    let created = create_webhook(&app, body).await;
    let id = created["id"].as_str().unwrap();
    assert_eq!(created["segmentation_id"], json!(seg));
    assert_eq!(created["batch_size"], 1000);
    let patch = |body: Value| {
        app.client
            .patch(app.url(&format!("/v1/webhooks/{id}")))
            .json(&body)
            .send()
    };
    assert_problem(
        patch(json!({"url": "http://10.0.0.1/"})).await.unwrap(),
        422,
        "url",
    )
    .await;
    let unchanged = json_ok(app.get(&format!("/v1/webhooks/{id}")).await).await;
    assert_eq!(unchanged["url"], "https://crm.example.com/hook");
    let changed = json_ok(
        patch(json!({"segmentation_id": null, "enabled": false, "batch_size": 10}))
            .await
            .unwrap(),
    )
    .await;
    assert!(changed["segmentation_id"].is_null());
    assert_eq!(changed["enabled"], false);
    assert_eq!(changed["batch_size"], 10);
    assert!(
        changed["disabled_reason"]
            .as_str()
            .unwrap()
            .contains("user"),
        "{changed}"
    );

    // Unknown ids are 404s; deletion removes it.
    let missing = uuid::Uuid::new_v4();
    for path in [
        format!("/v1/webhooks/{missing}"),
        "/v1/webhooks/not-a-uuid".to_owned(),
        format!("/v1/webhooks/{id}/deliveries/{missing}"),
        format!("/v1/webhooks/{missing}/deliveries"),
    ] {
        assert_problem(app.get(&path).await, 404, "no ").await;
    }
    assert_problem(
        app.get(&format!("/v1/webhooks/{id}/deliveries?state=lost"))
            .await,
        422,
        "state",
    )
    .await;
    assert_problem(
        app.post_json(&format!("/v1/webhooks/{missing}/ping"), &json!({}))
            .await,
        404,
        "webhook",
    )
    .await;
    assert_eq!(
        app.delete(&format!("/v1/webhooks/{id}")).await.status(),
        204
    );
    assert_eq!(
        app.delete(&format!("/v1/webhooks/{id}")).await.status(),
        404
    );
    assert_eq!(app.count("SELECT count(*) FROM webhooks").await, 0);
}

/// At delivery too: an address stored before the policy refused it (or written behind the
/// API's back) is not sent to.
#[tokio::test]
async fn a_special_purpose_address_is_refused_at_delivery() {
    let app = spawn_app().await;
    for (url, needle) in [
        ("http://198.18.0.1:9/hook", "198.18.0.0/15 (benchmarking)"),
        ("http://[2002:7f00:1::]:9/hook", "embedding 127.0.0.1"),
    ] {
        let created = create_webhook(
            &app,
            json!({"url": "http://127.0.0.1:9/hook", "events": ["run.succeeded"]}),
        )
        .await;
        let id = created["id"].as_str().unwrap().to_owned();
        sqlx::query("UPDATE webhooks SET url = $1 WHERE webhook_id = $2::uuid")
            .bind(url)
            .bind(&id)
            .execute(&app.pool)
            .await
            .unwrap();
        let ping = json_status(
            app.post_json(&format!("/v1/webhooks/{id}/ping"), &json!({}))
                .await,
            202,
        )
        .await;
        let delivery = ping["delivery_id"].as_str().unwrap().to_owned();
        let deadline = std::time::Instant::now() + Duration::from_secs(60);
        let error = loop {
            let detail = json_ok(
                app.get(&format!("/v1/webhooks/{id}/deliveries/{delivery}"))
                    .await,
            )
            .await;
            if let Some(error) = detail["attempts_log"][0]["error"].as_str() {
                break error.to_owned();
            }
            assert!(
                std::time::Instant::now() < deadline,
                "never attempted: {detail:#}"
            );
            tokio::time::sleep(Duration::from_millis(50)).await;
        };
        assert!(
            error.starts_with("not sent") && error.contains(needle),
            "{url}: {error}"
        );
    }
}

#[tokio::test]
async fn a_webhook_filtered_to_a_segmentation_hears_only_its_events() {
    let app = spawn_app().await;
    let receiver = Receiver::start();
    let seg = mall_segmentation(&app).await;
    let other = app
        .create_segmentation(json!({"name": "Other", "config": {"features": ["age"], "algorithm": {"type": "kmeans", "k": 3}}}))
        .await;
    create_webhook(
        &app,
        json!({"url": receiver.url(), "events": ["run.succeeded"], "segmentation_id": seg}),
    )
    .await;
    app.run_to_success(&other).await;
    let run = app.run_to_success(&seg).await;
    let accepted = receiver.wait_for("one run", |a| !a.is_empty()).await;
    tokio::time::sleep(Duration::from_millis(500)).await;
    // Only this run's event (sent again, with its id, if an answer was lost under load).
    assert!(receiver.log().iter().all(|r| r.id == accepted[0].id));
    assert_eq!(accepted[0].json()["data"]["run_id"], run["id"]);
    // Deleting the segmentation deletes its webhooks.
    assert_eq!(
        app.delete(&format!("/v1/segmentations/{seg}"))
            .await
            .status(),
        204
    );
    assert_eq!(app.count("SELECT count(*) FROM webhooks").await, 0);
    receiver.stop().await;
}

/// A process killed with SIGKILL while an endpoint is still answering leaves its delivery
/// pending (the claim was a row lock, released with the connection): the next process sends
/// it again, with the same `webhook-id`, and records one attempt. At least once, never lost.
#[tokio::test]
async fn a_delivery_cut_by_sigkill_is_sent_again_by_the_next_process() {
    let db = empty_database().await;
    let settings = [
        ("SEGSTORE_WEBHOOK_ALLOW", "loopback"),
        ("SEGSTORE_WEBHOOK_POLL_MS", "50"),
        ("SEGSTORE_WEBHOOK_RETRY_BASE_MS", "100"),
        ("SEGSTORE_WEBHOOK_TIMEOUT_SECONDS", "60"),
    ];
    let mut first = serve_with(&db.url, &settings).await;
    let client = first.client();
    let receiver = Receiver::start();
    // The first request is held for a minute: the process dies while it waits.
    receiver.hold(Duration::from_secs(60));
    let response = client
        .post(format!("{}/v1/webhooks", first.base))
        .json(&json!({"url": receiver.url(), "events": ["run.succeeded"]}))
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), 201);
    let created: Value = response.json().await.unwrap();
    let secret = created["secret"].as_str().unwrap().to_owned();
    let id = created["id"].as_str().unwrap().to_owned();
    let ping: Value = client
        .post(format!("{}/v1/webhooks/{id}/ping", first.base))
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    let delivery = ping["delivery_id"].as_str().unwrap().to_owned();
    let started = std::time::Instant::now();
    while receiver.log().is_empty() {
        assert!(started.elapsed() < Duration::from_secs(30), "never sent");
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    first.kill().await;

    let second = serve_with(&db.url, &settings).await;
    // Both requests are logged on arrival (the held one as the 200 it was to get).
    receiver
        .wait_for("the delivery, again", |a| a.len() >= 2)
        .await;
    let log = receiver.log();
    assert_eq!(log.len(), 2, "sent twice: cut, then again");
    assert_eq!(log[0].id, log[1].id, "with the same webhook-id");
    assert!(log[1].signed_by(&secret));
    let detail = json_ok(
        second
            .client()
            .get(format!(
                "{}/v1/webhooks/{id}/deliveries/{delivery}",
                second.base
            ))
            .send()
            .await
            .unwrap(),
    )
    .await;
    assert_eq!(detail["state"], "delivered");
    assert_eq!(
        detail["attempts"], 1,
        "the cut attempt left no record: {detail:#}"
    );
}
