use crate::helpers::{json_ok, spawn_app};
use serde_json::{Value, json};

#[tokio::test]
async fn batch_upsert_inserts_updates_and_is_idempotent() {
    let app = spawn_app().await;
    let batch = json!([
        {"id": "0001", "attributes": {"age": 19, "gender": "Male", "spending_score": 39}},
        {"id": "0002", "attributes": {"age": 21, "gender": "Male"}},
        {"id": "A-3", "attributes": {"age": 20.5, "vip": true}}
    ]);
    let first = json_ok(app.upsert(batch.clone()).await).await;
    assert_eq!(first["received"], 3);
    assert_eq!(first["inserted"], 3);
    assert_eq!(first["updated"], 0);
    let created: Vec<_> = first["new_attributes"]
        .as_array()
        .unwrap()
        .iter()
        .map(|a| (a["name"].as_str().unwrap(), a["kind"].as_str().unwrap()))
        .collect();
    assert_eq!(
        created,
        [
            ("age", "numeric"),
            ("gender", "categorical"),
            ("spending_score", "numeric"),
            ("vip", "categorical")
        ]
    );

    // The same batch again changes nothing.
    let again = json_ok(app.upsert(batch).await).await;
    assert_eq!(
        (
            again["inserted"].as_u64(),
            again["updated"].as_u64(),
            again["unchanged"].as_u64()
        ),
        (Some(0), Some(0), Some(3))
    );
    assert_eq!(again["new_attributes"], json!([]));

    // An update names only what changes: other attributes keep their values; null clears.
    let update = json_ok(
        app.upsert(json!([{"id": "0001", "attributes": {"age": 20, "spending_score": null}}]))
            .await,
    )
    .await;
    assert_eq!(
        (update["inserted"].as_u64(), update["updated"].as_u64()),
        (Some(0), Some(1))
    );
    let customer = json_ok(app.get("/v1/customers/0001").await).await;
    assert_eq!(customer["id"], "0001");
    assert_eq!(
        customer["attributes"],
        json!({"age": 20.0, "gender": "Male"})
    );
    assert!(customer["updated_at"].as_str().unwrap() >= customer["created_at"].as_str().unwrap());

    let other = json_ok(app.get("/v1/customers/A-3").await).await;
    assert_eq!(other["attributes"], json!({"age": 20.5, "vip": "true"}));
    assert_eq!(app.customer_count().await, 3);
}

#[tokio::test]
async fn a_customer_without_attributes_can_be_created_and_ids_are_verbatim() {
    let app = spawn_app().await;
    let out = json_ok(
        app.upsert(json!([{"id": "007"}, {"id": "7"}, {"id": "café/ü 1"}]))
            .await,
    )
    .await;
    assert_eq!(out["inserted"], 3);
    for id in ["007", "7", "caf%C3%A9%2F%C3%BC%201"] {
        let c = json_ok(app.get(&format!("/v1/customers/{id}")).await).await;
        assert_eq!(c["attributes"], json!({}));
    }
    let c = json_ok(app.get("/v1/customers/007").await).await;
    assert_eq!(c["id"], "007");
}

#[tokio::test]
async fn delete_removes_the_customer() {
    let app = spawn_app().await;
    app.import_mall().await;
    let response = app.delete("/v1/customers/0042").await;
    assert_eq!(response.status().as_u16(), 204);
    assert_eq!(app.customer_count().await, 199);
    crate::helpers::assert_problem(app.get("/v1/customers/0042").await, 404, "0042").await;
    crate::helpers::assert_problem(app.delete("/v1/customers/0042").await, 404, "0042").await;
}

#[tokio::test]
async fn pagination_walks_every_customer_once_in_id_order() {
    let app = spawn_app().await;
    app.import_mall().await;
    let mut seen = Vec::new();
    let mut after: Option<String> = None;
    let mut pages = 0;
    loop {
        let path = match &after {
            Some(a) => format!("/v1/customers?limit=7&after={a}"),
            None => "/v1/customers?limit=7".to_owned(),
        };
        let page = json_ok(app.get(&path).await).await;
        let customers = page["customers"].as_array().unwrap();
        assert!(customers.len() <= 7);
        seen.extend(
            customers
                .iter()
                .map(|c| c["id"].as_str().unwrap().to_owned()),
        );
        pages += 1;
        match page["next_after"].as_str() {
            Some(next) => {
                assert_eq!(next, seen.last().unwrap());
                after = Some(next.to_owned());
            }
            None => break,
        }
    }
    assert_eq!(pages, 29, "200 customers in pages of 7");
    let expected: Vec<String> = (1..=200).map(|i| format!("{i:04}")).collect();
    assert_eq!(seen, expected, "no duplicates, no gaps, in id order");

    // The default page size is 100, and the last page has no cursor.
    let first = json_ok(app.get("/v1/customers").await).await;
    assert_eq!(first["customers"].as_array().unwrap().len(), 100);
    let last = json_ok(app.get("/v1/customers?after=0150&limit=1000").await).await;
    assert_eq!(last["customers"].as_array().unwrap().len(), 50);
    assert!(last.get("next_after").is_none());
}

#[tokio::test]
async fn non_ascii_ids_import_export_look_up_and_page_in_byte_order() {
    let app = spawn_app().await;
    // Ids in several scripts; byte order (UTF-8) is code-point order.
    let ids = [
        "Zoë", "zoe", "Ärger", "日本-1", "Øre", "ß", "abc", "été", "😀",
    ];
    let mut csv = String::from("id,visits,spend\n");
    for (i, id) in ids.iter().enumerate() {
        csv.push_str(&format!(
            "{id},{},{}\n",
            i % 3 * 10 + i,
            (i % 3) * 100 + 7 * i
        ));
    }
    json_ok(app.import_csv("", csv).await).await;
    let mut sorted: Vec<&str> = ids.to_vec();
    sorted.sort_by(|a, b| a.as_bytes().cmp(b.as_bytes()));

    // Paged one by one: every id once, in byte order, `after` passed back as given.
    let mut seen = Vec::new();
    let mut after: Option<String> = None;
    loop {
        let mut request = app
            .client
            .get(app.url("/v1/customers"))
            .query(&[("limit", "2")]);
        if let Some(a) = &after {
            request = request.query(&[("after", a)]);
        }
        let page = json_ok(request.send().await.unwrap()).await;
        for c in page["customers"].as_array().unwrap() {
            seen.push(c["id"].as_str().unwrap().to_owned());
        }
        match page["next_after"].as_str() {
            Some(next) => after = Some(next.to_owned()),
            None => break,
        }
    }
    assert_eq!(seen, sorted);

    // Read back by id (percent-encoded in the path).
    for id in ids {
        let path = format!(
            "/v1/customers/{}",
            form_urlencoded::byte_serialize(id.as_bytes()).collect::<String>()
        );
        let customer = json_ok(app.get(&path).await).await;
        assert_eq!(customer["id"], id);
    }

    // Segmented: the export lists them in byte order, verbatim; lookups find each.
    let seg = app
        .create_segmentation(json!({
            "name": "Scripts",
            "config": {"features": ["visits", "spend"], "algorithm": {"type": "kmeans", "k": 3}}
        }))
        .await;
    let run = app.run_to_success(&seg).await;
    let export = app
        .get(&format!(
            "/v1/runs/{}/assignments?format=csv",
            run["id"].as_str().unwrap()
        ))
        .await
        .text()
        .await
        .unwrap();
    let exported: Vec<&str> = export
        .lines()
        .skip(1)
        .map(|l| l.split(',').next().unwrap())
        .collect();
    assert_eq!(exported, sorted);
    let page = json_ok(
        app.get(&format!(
            "/v1/runs/{}/assignments?limit=100",
            run["id"].as_str().unwrap()
        ))
        .await,
    )
    .await;
    let paged: Vec<&str> = page["assignments"]
        .as_array()
        .unwrap()
        .iter()
        .map(|a| a["customer_id"].as_str().unwrap())
        .collect();
    assert_eq!(paged, sorted);
    for id in ids {
        let path = format!(
            "/v1/segmentations/{seg}/customers/{}",
            form_urlencoded::byte_serialize(id.as_bytes()).collect::<String>()
        );
        let lookup = json_ok(app.get(&path).await).await;
        assert_eq!(lookup["customer_id"], id);
        assert!(lookup["current"]["segment_id"].is_i64(), "{lookup}");
    }
}

#[tokio::test]
async fn concurrent_imports_and_upserts_all_land_and_share_one_catalogue() {
    let app = spawn_app().await;
    // Three CSV imports and three JSON batches at once, overlapping on half their ids, each
    // naming attributes the store has never seen.
    let csv = |w: usize| {
        let mut s = format!("id,visits,w{w}\n");
        for i in 0..300 {
            s.push_str(&format!("c{:04},{},{}\n", w * 150 + i, w, i));
        }
        s
    };
    let batch = |w: usize| -> Value {
        let customers: Vec<Value> = (0..100)
            .map(|i| json!({"id": format!("j{:04}", w * 50 + i), "attributes": {"spend": w, format!("j{w}"): i}}))
            .collect();
        json!(customers)
    };
    let imports = (0..3).map(|w| app.import_csv("", csv(w)));
    let upserts = (0..3).map(|w| app.upsert(batch(w)));
    let (imports, upserts) = tokio::join!(
        futures_util::future::join_all(imports),
        futures_util::future::join_all(upserts)
    );
    for response in imports.into_iter().chain(upserts) {
        assert_eq!(response.status(), 200, "{:?}", response.text().await);
    }
    // c0000..c0599 and j0000..j0199: every id once.
    assert_eq!(app.customer_count().await, 600 + 200);
    // Each attribute once, at a position of its own within its kind.
    assert_eq!(
        app.count("SELECT count(*) FROM attributes").await,
        2 + 3 + 3
    );
    assert_eq!(
        app.count(
            "SELECT count(*) FROM (SELECT kind, position FROM attributes GROUP BY kind, position HAVING count(*) > 1) d"
        )
        .await,
        0
    );
    // A customer two imports wrote holds one import's values whole, and keeps what the other
    // wrote in its own column.
    let c = json_ok(app.get("/v1/customers/c0200").await).await;
    let visits = c["attributes"]["visits"].as_f64().unwrap();
    assert!(visits == 1.0 || visits == 0.0, "{c}");
    assert_eq!(c["attributes"]["w0"], 200.0, "{c}");
    assert_eq!(c["attributes"]["w1"], 50.0, "{c}");
}
