//! The change feed: each activation records exactly the customers whose stable segment
//! changed (entered, moved, left), and a CRM resumes from its cursor with no gap and no
//! duplicate, on any replica; a rollback records the reverse moves; the lookup says since
//! when a customer has been in their segment.

use crate::helpers::{TestApp, assert_problem, json_ok, mall_segmentation, spawn_app, test_jobs};
use serde_json::{Value, json};
use std::collections::{BTreeMap, BTreeSet};

/// Each customer's stable segment in a run (`None`: noise), from its assignments.
async fn segments_of(app: &TestApp, run: &Value) -> BTreeMap<String, Option<i64>> {
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
        .map(|a| {
            (
                a["customer_id"].as_str().unwrap().to_owned(),
                a["segment_id"].as_i64(),
            )
        })
        .collect()
}

/// (customer, from, to) of every change from `a` to `b`, computed from their assignments.
fn expected_changes(
    a: &BTreeMap<String, Option<i64>>,
    b: &BTreeMap<String, Option<i64>>,
) -> BTreeSet<(String, Option<i64>, Option<i64>)> {
    let ids: BTreeSet<&String> = a.keys().chain(b.keys()).collect();
    ids.into_iter()
        .filter_map(|id| {
            let from = a.get(id).copied().flatten();
            let to = b.get(id).copied().flatten();
            (from != to).then(|| (id.clone(), from, to))
        })
        .collect()
}

/// Every change after `after`, read `limit` at a time; returns them and the last cursor.
async fn read_all(app: &TestApp, seg: &str, after: &str, limit: u32) -> (Vec<Value>, String) {
    let mut cursor = after.to_owned();
    let mut all = Vec::new();
    loop {
        let page = json_ok(
            app.get(&format!(
                "/v1/segmentations/{seg}/changes?limit={limit}&after={cursor}"
            ))
            .await,
        )
        .await;
        let changes = page["changes"].as_array().unwrap();
        assert!(changes.len() <= limit as usize);
        all.extend(changes.iter().cloned());
        cursor = page["next_cursor"].as_str().unwrap().to_owned();
        if !page["has_more"].as_bool().unwrap() {
            return (all, cursor);
        }
        assert_eq!(changes.len(), limit as usize, "a short page said has_more");
    }
}

fn triples(changes: &[Value]) -> BTreeSet<(String, Option<i64>, Option<i64>)> {
    changes
        .iter()
        .map(|c| {
            (
                c["customer_id"].as_str().unwrap().to_owned(),
                c["from"]["segment_id"].as_i64(),
                c["to"]["segment_id"].as_i64(),
            )
        })
        .collect()
}

#[tokio::test]
async fn each_activation_records_exactly_the_customers_whose_segment_changed() {
    let app = spawn_app().await;
    let seg = mall_segmentation(&app).await;
    let first = app.run_to_success(&seg).await;
    let s1 = segments_of(&app, &first).await;

    // The first activation: all 200 customers entered, with their segment's label.
    let (changes, cursor1) = read_all(&app, &seg, "", 10_000).await;
    assert_eq!(changes.len(), 200);
    assert!(changes.iter().all(|c| c["change"] == "entered"
        && c["from"].is_null()
        && c["activation"] == 1
        && c["run_id"] == first["id"]
        && c["previous_run_id"].is_null()));
    assert_eq!(triples(&changes), expected_changes(&BTreeMap::new(), &s1));
    let labels = json_ok(
        app.get(&format!(
            "/v1/runs/{}/segments",
            first["id"].as_str().unwrap()
        ))
        .await,
    )
    .await;
    let label_of = |id: i64| {
        labels["segments"]
            .as_array()
            .unwrap()
            .iter()
            .find(|s| s["segment_id"] == id)
            .unwrap()["label"]
            .clone()
    };
    for c in &changes {
        assert_eq!(
            c["to"]["label"],
            label_of(c["to"]["segment_id"].as_i64().unwrap())
        );
    }
    // In customer id order within the activation.
    let ids: Vec<&str> = changes
        .iter()
        .map(|c| c["customer_id"].as_str().unwrap())
        .collect();
    assert!(ids.windows(2).all(|w| w[0] < w[1]));

    // The same data again: an activation that changes nobody.
    let same = app.run_to_success(&seg).await;
    let (none, cursor2) = read_all(&app, &seg, &cursor1, 100).await;
    assert!(none.is_empty(), "{none:#?}");
    assert_eq!(
        cursor2, cursor1,
        "an empty page gives back the cursor it was asked from"
    );
    let activations = json_ok(
        app.get(&format!("/v1/segmentations/{seg}/activations"))
            .await,
    )
    .await;
    assert_eq!(activations["activations"][0]["activation"], 2);
    assert_eq!(activations["activations"][0]["run_id"], same["id"]);
    assert_eq!(
        activations["activations"][0]["previous_run_id"],
        first["id"]
    );
    assert_eq!(activations["activations"][0]["cause"], "run");
    for n in ["entered", "moved", "left"] {
        assert_eq!(activations["activations"][0][n], 0);
    }
    assert_eq!(activations["activations"][1]["entered"], 200);

    // Twelve customers change their habits, one loses a feature's value (dropped from the
    // next run), one is new.
    let changed: Vec<Value> = (1..=12)
        .map(|i| json!({"id": format!("{i:04}"), "attributes": {"annual_income_k": 130 + i, "spending_score": 5}}))
        .chain([
            json!({"id": "new-1", "attributes": {"age": 30, "annual_income_k": 70, "spending_score": 50}}),
            json!({"id": "0200", "attributes": {"spending_score": null}}),
        ])
        .collect();
    assert_eq!(app.upsert(json!(changed)).await.status(), 200);
    let third = app.run_to_success(&seg).await;
    let s3 = segments_of(&app, &third).await;
    let expected = expected_changes(&segments_of(&app, &same).await, &s3);
    assert!(
        expected
            .iter()
            .any(|(id, from, to)| id == "new-1" && from.is_none() && to.is_some())
    );
    assert!(
        expected
            .iter()
            .any(|(id, from, to)| id == "0200" && from.is_some() && to.is_none())
    );
    assert!(expected.len() >= 10, "{expected:?}");

    // Read in pages of 7, resuming from each cursor: exactly the expected changes, once each.
    let (paged, cursor3) = read_all(&app, &seg, &cursor2, 7).await;
    assert_eq!(
        paged.len(),
        expected.len(),
        "a duplicate or a gap: {paged:#?}"
    );
    assert_eq!(triples(&paged), expected);
    for c in &paged {
        let kind = match (c["from"].is_null(), c["to"].is_null()) {
            (true, false) => "entered",
            (false, true) => "left",
            (false, false) => "moved",
            (true, true) => panic!("a change with no side: {c}"),
        };
        assert_eq!(c["change"], kind);
        assert_eq!(c["activation"], 3);
        assert_eq!(c["previous_run_id"], same["id"]);
    }
    // Another replica resumes from the same cursor: nothing new, same cursor.
    let replica = app.replica(test_jobs()).await;
    let (again, cursor) = read_all(&replica, &seg, &cursor3, 100).await;
    assert!(again.is_empty());
    assert_eq!(cursor, cursor3);
    // And from the earlier cursor it gives the same changes.
    let (from_replica, _) = read_all(&replica, &seg, &cursor2, 1000).await;
    assert_eq!(from_replica, paged);

    // The stored rows: one per change, numbered 1.. within the activation.
    assert_eq!(
        app.count(&format!(
            "SELECT count(*) FROM membership_changes WHERE activation = 3
               AND ord BETWEEN 1 AND {n} AND segmentation_id = '{seg}'",
            n = expected.len()
        ))
        .await,
        expected.len() as i64
    );

    // The filter: only the changes into or out of one segment.
    let some = expected.iter().find_map(|(_, _, to)| *to).unwrap();
    let filtered = json_ok(
        app.get(&format!(
            "/v1/segmentations/{seg}/changes?after={cursor2}&segment={some}&limit=1000"
        ))
        .await,
    )
    .await;
    let want: BTreeSet<_> = expected
        .iter()
        .filter(|(_, f, t)| *f == Some(some) || *t == Some(some))
        .cloned()
        .collect();
    assert_eq!(triples(filtered["changes"].as_array().unwrap()), want);

    // Rolling back to the second run records the reverse of every change.
    let rolled = app
        .post_json(
            &format!("/v1/runs/{}/activate", same["id"].as_str().unwrap()),
            &json!({}),
        )
        .await;
    assert_eq!(rolled.status(), 200);
    let (reverse, _) = read_all(&app, &seg, &cursor3, 10_000).await;
    let reversed: BTreeSet<_> = expected
        .iter()
        .map(|(id, from, to)| (id.clone(), *to, *from))
        .collect();
    assert_eq!(triples(&reverse), reversed);
    assert!(
        reverse
            .iter()
            .all(|c| c["activation"] == 4 && c["run_id"] == same["id"])
    );
    let activations = json_ok(
        app.get(&format!("/v1/segmentations/{seg}/activations?limit=1"))
            .await,
    )
    .await;
    assert_eq!(activations["activations"].as_array().unwrap().len(), 1);
    assert_eq!(activations["activations"][0]["cause"], "api");
    // Activating the active run again records nothing.
    let again = app
        .post_json(
            &format!("/v1/runs/{}/activate", same["id"].as_str().unwrap()),
            &json!({}),
        )
        .await;
    assert_eq!(again.status(), 200);
    let latest = json_ok(
        app.get(&format!("/v1/segmentations/{seg}/activations?limit=1"))
            .await,
    )
    .await;
    assert_eq!(latest["activations"][0]["activation"], 4);

    // Erasing a customer erases their changes too: the feed no longer names them.
    assert_eq!(app.delete("/v1/customers/0001").await.status(), 204);
    let (after_erasure, _) = read_all(&app, &seg, "", 10_000).await;
    assert!(!after_erasure.is_empty());
    assert!(after_erasure.iter().all(|c| c["customer_id"] != "0001"));
    assert_eq!(
        app.count("SELECT count(*) FROM membership_changes WHERE external_id = '0001'")
            .await,
        0
    );
}

#[tokio::test]
async fn the_lookup_says_since_when_a_customer_has_been_in_their_segment() {
    let app = spawn_app().await;
    let seg = mall_segmentation(&app).await;
    app.run_to_success(&seg).await;
    let changed: Vec<Value> = (1..=3)
        .map(|i| json!({"id": format!("{i:04}"), "attributes": {"annual_income_k": 135, "spending_score": 99}}))
        .collect();
    assert_eq!(app.upsert(json!(changed)).await.status(), 200);
    app.run_to_success(&seg).await;
    let (changes, _) = read_all(&app, &seg, "", 10_000).await;
    // The latest change of each customer.
    let mut latest: BTreeMap<String, String> = BTreeMap::new();
    for c in &changes {
        latest.insert(
            c["customer_id"].as_str().unwrap().to_owned(),
            c["activated_at"].as_str().unwrap().to_owned(),
        );
    }
    let moved: Vec<&Value> = changes.iter().filter(|c| c["activation"] == 2).collect();
    assert!(!moved.is_empty());
    let parse = |s: &str| chrono::DateTime::parse_from_rfc3339(s).unwrap();
    // Asked twice: from PostgreSQL first, then from the replica's memory once cached.
    for round in 0..2 {
        for id in ["0001", "0002", "0003", "0100", "0150"] {
            let found = json_ok(
                app.get(&format!("/v1/segmentations/{seg}/customers/{id}"))
                    .await,
            )
            .await;
            let since = found["since"]
                .as_str()
                .unwrap_or_else(|| panic!("{found:#}"));
            assert_eq!(
                parse(since),
                parse(&latest[id]),
                "round {round}, customer {id}"
            );
        }
        tokio::time::sleep(std::time::Duration::from_millis(500)).await;
    }
    // What the cache loads: every customer's latest change time, at the places given, from
    // the changes streamed activation by activation (a later one overwriting an earlier).
    let mut ids: Vec<String> = latest.keys().cloned().collect();
    ids.push("zz-no-change".into());
    let pool: segstore::store::Pool = app.pool.clone().into();
    let seg_id: uuid::Uuid = seg.parse().unwrap();
    let micros =
        segstore::store::activations::latest_change_micros(&pool, seg_id, 2, ids.len(), |id| {
            ids.binary_search_by(|x| x.as_str().cmp(id)).ok()
        })
        .await
        .unwrap();
    for (id, &at) in ids.iter().zip(&micros) {
        match latest.get(id) {
            Some(t) => assert_eq!(at, parse(t).timestamp_micros(), "{id}"),
            None => assert_eq!(at, i64::MIN, "{id}"),
        }
    }
    // As of the first activation, the movers' times are the first activation's.
    let first =
        segstore::store::activations::latest_change_micros(&pool, seg_id, 1, ids.len(), |id| {
            ids.binary_search_by(|x| x.as_str().cmp(id)).ok()
        })
        .await
        .unwrap();
    let first_time = changes.iter().find(|c| c["activation"] == 1).unwrap()["activated_at"]
        .as_str()
        .unwrap();
    assert!(
        first[..ids.len() - 1]
            .iter()
            .all(|&t| t == parse(first_time).timestamp_micros())
    );
}

#[tokio::test]
async fn feed_parameters_are_checked() {
    let app = spawn_app().await;
    let seg = mall_segmentation(&app).await;
    for (query, field) in [
        ("after=nonsense", "after"),
        ("after=c1_%21%21", "after"),
        ("after=c1_1_1234567890", "after"),
        ("limit=0", "limit"),
        ("limit=10001", "limit"),
        ("segment=abc", "segment"),
        ("format=xml", "format"),
    ] {
        assert_problem(
            app.get(&format!("/v1/segmentations/{seg}/changes?{query}"))
                .await,
            422,
            field,
        )
        .await;
    }
    assert_problem(
        app.get("/v1/segmentations/00000000-0000-0000-0000-000000000000/changes")
            .await,
        404,
        "no segmentation",
    )
    .await;
    assert_problem(
        app.get(&format!("/v1/segmentations/{seg}/activations?limit=0"))
            .await,
        422,
        "limit",
    )
    .await;
    // Before any run: an empty page and a cursor to start from.
    let empty = json_ok(app.get(&format!("/v1/segmentations/{seg}/changes")).await).await;
    assert_eq!(empty["changes"], json!([]));
    assert_eq!(empty["has_more"], false);
    assert!(empty["next_cursor"].as_str().unwrap().starts_with("c1_"));
}

#[tokio::test]
async fn the_feed_comes_as_csv_with_its_cursor_in_headers() {
    let app = spawn_app().await;
    let seg = mall_segmentation(&app).await;
    let run = app.run_to_success(&seg).await;
    let response = app
        .client
        .get(app.url(&format!("/v1/segmentations/{seg}/changes?limit=3")))
        .header("accept", "text/csv")
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), 200);
    assert!(
        response.headers()["content-type"]
            .to_str()
            .unwrap()
            .starts_with("text/csv")
    );
    assert_eq!(response.headers()["segstore-has-more"], "true");
    let cursor = response.headers()["segstore-next-cursor"]
        .to_str()
        .unwrap()
        .to_owned();
    let body = response.text().await.unwrap();
    let lines: Vec<&str> = body.lines().collect();
    assert_eq!(
        lines[0],
        "activation,customer_id,change,from_segment,from_label,to_segment,to_label,run_id,previous_run_id,activated_at"
    );
    assert_eq!(lines.len(), 4);
    assert!(lines[1].starts_with("1,0001,entered,,,"), "{}", lines[1]);
    assert!(lines[1].contains(run["id"].as_str().unwrap()));
    // The JSON page from the CSV cursor continues at the fourth customer.
    let next = json_ok(
        app.get(&format!(
            "/v1/segmentations/{seg}/changes?limit=1&after={cursor}"
        ))
        .await,
    )
    .await;
    assert_eq!(next["changes"][0]["customer_id"], "0004");
}
