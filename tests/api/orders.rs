//! Order lines: the Online Retail slice (both common copies), re-imports, mapped exports and
//! every bad-input path; stored values against pandas' (tests/fixtures/reference).

use crate::helpers::{TestApp, assert_problem, json_ok, spawn_app};
use serde_json::{Value, json};

const SLICE: &str = concat!(
    env!("CARGO_MANIFEST_DIR"),
    "/tests/fixtures/online_retail_slice.csv"
);

fn reference() -> Value {
    serde_json::from_str(
        &std::fs::read_to_string(concat!(
            env!("CARGO_MANIFEST_DIR"),
            "/tests/fixtures/reference/online_retail_slice.json"
        ))
        .unwrap(),
    )
    .unwrap()
}

async fn import(app: &TestApp, query: &str, body: impl Into<reqwest::Body>) -> reqwest::Response {
    app.post_raw(&format!("/v1/orders/import{query}"), "text/csv", body)
        .await
}

/// The Kaggle copy's date form: `2010-12-01 08:26:00` → `12/1/2010 8:26`.
fn us_dates(csv: &str) -> String {
    csv.lines()
        .map(|line| {
            let Some(at) = line.find("2010-12-") else {
                return line.to_owned();
            };
            let stamp = &line[at..at + 19];
            let (date, time) = stamp.split_once(' ').unwrap();
            let d: Vec<u32> = date.split('-').map(|p| p.parse().unwrap()).collect();
            let t: Vec<u32> = time.split(':').map(|p| p.parse().unwrap()).collect();
            line.replace(
                stamp,
                &format!("{}/{}/{} {}:{:02}", d[1], d[2], d[0], t[0], t[1]),
            )
        })
        .collect::<Vec<_>>()
        .join("\n")
}

#[tokio::test]
async fn the_online_retail_slice_is_stored_as_pandas_reads_it() {
    let app = spawn_app().await;
    let want = reference();
    let csv = std::fs::read(SLICE).unwrap();
    let answer = json_ok(import(&app, "", csv.clone()).await).await;
    assert_eq!(
        answer["columns"],
        json!({"order": "InvoiceNo", "customer": "CustomerID", "date": "InvoiceDate",
               "quantity": "Quantity", "unit_price": "UnitPrice", "product": "StockCode",
               "description": "Description", "country": "Country"})
    );
    assert_eq!(answer["lines"], want["lines"]);
    assert_eq!(answer["inserted"], want["stored"]);
    assert_eq!(answer["updated"], 0);
    assert_eq!(answer["unchanged"], 0);
    assert_eq!(answer["customers_created"], want["customers"]);
    assert_eq!(
        answer["skipped"],
        json!({"missing_customer_id": want["skipped_missing_customer"]})
    );
    assert_eq!(
        answer["excluded_from_rfm"],
        json!({"cancellations": want["cancellations"],
               "non_positive_quantity": want["non_positive_quantity"],
               "non_positive_unit_price": want["non_positive_unit_price"]})
    );
    // Every customer's lines and amount, as pandas sums them.
    let rows: Vec<(String, i64, f64)> = sqlx::query_as(
        "SELECT external_id, count(*), sum(amount) FROM order_lines GROUP BY 1 ORDER BY 1",
    )
    .fetch_all(&app.pool)
    .await
    .unwrap();
    let per_customer = want["per_customer"].as_object().unwrap();
    assert_eq!(rows.len(), per_customer.len());
    for (id, lines, amount) in &rows {
        let w = &per_customer[id];
        assert_eq!(*lines, w["lines"].as_i64().unwrap(), "{id}");
        assert!(
            (amount - w["amount"].as_f64().unwrap()).abs() < 1e-6,
            "{id}: {amount}"
        );
    }
    assert_eq!(
        app.count("SELECT count(DISTINCT order_id) FROM order_lines")
            .await,
        want["orders"].as_i64().unwrap()
    );
    // Float ids became whole ids; the customer exists (id only) and reads back.
    json_ok(app.get("/v1/customers/17850").await).await;
    let first: (String, i32, String, String) = sqlx::query_as(
        "SELECT order_id, line_no, description, to_char(ordered_at AT TIME ZONE 'UTC', 'YYYY-MM-DD HH24:MI')
         FROM order_lines ORDER BY ordered_at, order_id, line_no LIMIT 1",
    )
    .fetch_one(&app.pool)
    .await
    .unwrap();
    assert_eq!(
        first,
        (
            "536365".into(),
            1,
            "WHITE HANGING HEART T-LIGHT HOLDER".into(),
            "2010-12-01 08:26".into()
        )
    );
    // Quoted descriptions with commas arrive whole.
    assert!(
        app.count("SELECT count(*) FROM order_lines WHERE description LIKE '%,%'")
            .await
            > 0
    );

    // The same file again stores nothing twice (exact duplicate lines included).
    let again = json_ok(import(&app, "", csv).await).await;
    assert_eq!(again["inserted"], 0);
    assert_eq!(again["unchanged"], want["stored"]);
    assert_eq!(again["customers_created"], 0);
    assert_eq!(
        app.count("SELECT count(*) FROM order_lines").await,
        want["stored"].as_i64().unwrap()
    );

    // The Kaggle copy (ISO-8859-1, US dates) is the same data, plus a line with an accent.
    let mut kaggle = us_dates(&String::from_utf8(std::fs::read(SLICE).unwrap()).unwrap());
    kaggle.push_str("\n581999,99999,CAF\u{c9} AU LAIT MUG,2,12/9/2011 10:00,3.5,12345.0,France\n");
    let latin1: Vec<u8> = kaggle.chars().map(|c| c as u32 as u8).collect();
    assert_problem(
        import(&app, "", latin1.clone()).await,
        422,
        "encoding=iso-8859-1",
    )
    .await;
    let answer = json_ok(import(&app, "?encoding=iso-8859-1", latin1).await).await;
    assert_eq!(answer["inserted"], 1);
    assert_eq!(answer["unchanged"], want["stored"]);
    assert_eq!(answer["customers_created"], 1);
    let added: (String, String) = sqlx::query_as(
        "SELECT description, to_char(ordered_at AT TIME ZONE 'UTC', 'YYYY-MM-DD HH24:MI')
         FROM order_lines WHERE order_id = '581999'",
    )
    .fetch_one(&app.pool)
    .await
    .unwrap();
    assert_eq!(
        added,
        ("CAFÉ AU LAIT MUG".into(), "2011-12-09 10:00".into())
    );
}

#[tokio::test]
async fn other_exports_are_mapped_by_parameters() {
    let app = spawn_app().await;
    let csv = "Order Ref,Client,When,Qty,Line Total,Line\n\
               A-1,c1,05/01/2011 10:00,2,19.90,1\n\
               A-1,c1,05/01/2011 10:00,1,5.00,2\n\
               B-7,c2,31/01/2011 16:30,3,30.00,1\n";
    let query = "?order_column=Order%20Ref&customer_column=Client&date_column=When\
                 &quantity_column=Qty&amount_column=Line%20Total&line_column=Line&date_format=dmy";
    let answer = json_ok(import(&app, query, csv).await).await;
    assert_eq!(answer["inserted"], 3);
    assert_eq!(answer["customers_created"], 2);
    let rows: Vec<(String, i32, f64, Option<f64>, String)> = sqlx::query_as(
        "SELECT order_id, line_no, amount, unit_price, to_char(ordered_at AT TIME ZONE 'UTC', 'YYYY-MM-DD')
         FROM order_lines ORDER BY 1, 2",
    )
    .fetch_all(&app.pool)
    .await
    .unwrap();
    assert_eq!(
        rows,
        vec![
            ("A-1".into(), 1, 19.9, None, "2011-01-05".into()),
            ("A-1".into(), 2, 5.0, None, "2011-01-05".into()),
            ("B-7".into(), 1, 30.0, None, "2011-01-31".into()),
        ]
    );
}

#[tokio::test]
async fn bad_files_and_parameters_write_nothing_and_say_where() {
    let app = spawn_app().await;
    let header =
        "InvoiceNo,StockCode,Description,Quantity,InvoiceDate,UnitPrice,CustomerID,Country\n";
    let good = "536365,85123A,\"MUG, RED\",6,2010-12-01 08:26:00,2.55,17850.0,United Kingdom\n";
    let cases: Vec<(String, &str, &str)> = vec![
        (
            format!("{header}{good}536366,1,X,six,2010-12-01 08:28:00,1.85,17850.0,UK\n"),
            "",
            "line 3",
        ),
        (
            format!("{header}{good}536366,1,X,6,yesterday,1.85,17850.0,UK\n"),
            "",
            "InvoiceDate",
        ),
        (
            format!("{header}{good}536366,1,X,6,13/1/2011 8:00,1.85,17850.0,UK\n"),
            "",
            "date_format=dmy",
        ),
        (
            format!("{header}{good}536366,1,X,6,2010-12-01 08:28:00,1.85\n"),
            "",
            "expected 8 fields",
        ),
        (
            format!("{header}{good},1,X,6,2010-12-01 08:28:00,1.85,17850.0,UK\n"),
            "",
            "order id",
        ),
        (format!("{header}{good}"), "?date_format=ymd", "date_format"),
        (format!("{header}{good}"), "?encoding=utf-16", "encoding"),
        (
            format!("{header}{good}"),
            "?customer_column=Client",
            "customer_column",
        ),
        (format!("{header}{good}"), "?colour=red", "colour"),
        (
            "InvoiceNo,Quantity,InvoiceDate,UnitPrice\n1,2,2010-12-01,3\n".into(),
            "",
            "customer_column",
        ),
        (
            "InvoiceNo,CustomerID,InvoiceDate,Quantity\n1,2,2010-12-01,3\n".into(),
            "",
            "unit_price_column",
        ),
        (String::new(), "", "empty"),
    ];
    for (body, query, needle) in cases {
        assert_problem(import(&app, query, body).await, 422, needle).await;
    }
    // An explicit line id given twice.
    let csv = "order_id,customer_id,date,quantity,price,line_id\n\
               1,c1,2010-12-01,1,2,1\n1,c1,2010-12-01,1,2,1\n";
    assert_problem(
        import(&app, "", csv).await,
        422,
        "line 1 appears more than once",
    )
    .await;
    assert_eq!(app.count("SELECT count(*) FROM order_lines").await, 0);
    assert_eq!(app.count("SELECT count(*) FROM customers").await, 0);
    // Not CSV.
    let response = app
        .post_raw("/v1/orders/import", "application/json", "{}")
        .await;
    assert_problem(response, 415, "text/csv").await;
}

#[tokio::test]
async fn json_batches_store_lines_all_or_nothing() {
    let app = spawn_app().await;
    let line = |order: &str, at: &str| {
        json!({"order_id": order, "customer_id": "c9", "ordered_at": at, "quantity": 2,
               "unit_price": 1.5, "product": "P1"})
    };
    let ok = json_ok(
        app.post_json(
            "/v1/orders",
            &json!({"orders": [line("o1", "2011-03-01T10:00:00Z"), line("o1", "2011-03-01 10:00:00")]}),
        )
        .await,
    )
    .await;
    assert_eq!(
        ok,
        json!({"inserted": 2, "updated": 0, "unchanged": 0, "customers_created": 1})
    );
    let lines: Vec<(i32, f64)> =
        sqlx::query_as("SELECT line_no, amount FROM order_lines ORDER BY line_no")
            .fetch_all(&app.pool)
            .await
            .unwrap();
    assert_eq!(lines, vec![(1, 3.0), (2, 3.0)]);

    let before = app.count("SELECT count(*) FROM order_lines").await;
    for (body, status, needle) in [
        (
            json!({"orders": [line("o2", "2011-03-01"), line("o2", "soon")]}),
            422,
            "orders[1].ordered_at",
        ),
        (
            json!({"orders": [{"order_id": "o3", "customer_id": "c9", "ordered_at": "2011-03-01", "quantity": 1}]}),
            422,
            "orders[0].unit_price",
        ),
        (
            json!({"orders": [line("", "2011-03-01")]}),
            422,
            "orders[0].order_id",
        ),
        (
            json!({"orders": [{"order_id": "o4", "line_no": 0, "customer_id": "c9", "ordered_at": "2011-03-01", "quantity": 1, "amount": 2}]}),
            422,
            "orders[0].line_no",
        ),
        (json!({"orders": []}), 422, "orders"),
        (
            json!({"orders": [line("o5", "2011-03-01")], "extra": 1}),
            422,
            "extra",
        ),
        (
            json!({"orders": vec![line("o6", "2011-03-01"); 101]}),
            413,
            "limit",
        ),
    ] {
        assert_problem(app.post_json("/v1/orders", &body).await, status, needle).await;
    }
    assert_eq!(app.count("SELECT count(*) FROM order_lines").await, before);
}

/// Every customer's RFM attributes equal pandas' (numbers to 1e-6, the cell and the named
/// segment exactly).
async fn assert_rfm(app: &TestApp, per_customer: &Value) {
    for (id, values) in per_customer.as_object().unwrap() {
        let customer = json_ok(app.get(&format!("/v1/customers/{id}")).await).await;
        for (name, expected) in values.as_object().unwrap() {
            let got = &customer["attributes"][name];
            match expected.as_f64() {
                Some(e) => assert!(
                    (got.as_f64().unwrap_or(f64::NAN) - e).abs() < 1e-6,
                    "{id} {name}: {got} vs {expected}"
                ),
                None => assert_eq!(got, expected, "{id} {name}"),
            }
        }
    }
}

#[tokio::test]
async fn rfm_features_equal_pandas_and_feed_a_segmentation() {
    let app = spawn_app().await;
    let want: Value = serde_json::from_str(
        &std::fs::read_to_string(concat!(
            env!("CARGO_MANIFEST_DIR"),
            "/tests/fixtures/reference/online_retail_rfm.json"
        ))
        .unwrap(),
    )
    .unwrap();
    let csv = std::fs::read(concat!(
        env!("CARGO_MANIFEST_DIR"),
        "/tests/fixtures/online_retail_rfm.csv"
    ))
    .unwrap();
    let imported = json_ok(import(&app, "", csv).await).await;
    assert_eq!(imported["lines"], want["lines"]);
    // A customer whose only line is a cancellation gets no RFM values.
    json_ok(
        app.post_json(
            "/v1/orders",
            &json!({"orders": [{"order_id": "C900001", "customer_id": "z1", "ordered_at": "2011-05-01",
                                "quantity": -1, "unit_price": 2.0}]}),
        )
        .await,
    )
    .await;

    let refreshed = json_ok(app.post_json("/v1/rfm/refresh", &json!(null)).await).await;
    let reference: chrono::DateTime<chrono::Utc> = refreshed["reference_date"]
        .as_str()
        .unwrap()
        .parse()
        .unwrap();
    assert_eq!(reference.to_rfc3339(), "2011-12-09T08:32:00+00:00");
    assert_eq!(refreshed["customers_with_rfm"], want["customers_with_rfm"]);
    assert_eq!(refreshed["customers_without_rfm"], 1);
    assert_rfm(&app, &want["per_customer"]).await;
    // The named segments: sizes as pandas counts them, shares summing to 1.
    let named = json_ok(app.get("/v1/rfm/segments").await).await;
    let sizes: serde_json::Map<String, Value> = named["segments"]
        .as_array()
        .unwrap()
        .iter()
        .map(|s| {
            (
                s["segment"].as_str().unwrap().to_owned(),
                s["customers"].clone(),
            )
        })
        .collect();
    assert_eq!(Value::Object(sizes), want["segment_sizes"]);
    let total: f64 = named["segments"]
        .as_array()
        .unwrap()
        .iter()
        .map(|s| s["revenue_share"].as_f64().unwrap())
        .sum();
    assert!((total - 1.0).abs() < 1e-9);
    let z1 = json_ok(app.get("/v1/customers/z1").await).await;
    assert!(z1["attributes"].get("rfm_frequency").is_none(), "{z1}");
    assert!(z1["attributes"].get("rfm_segment").is_none(), "{z1}");

    // As of an earlier date, later lines are left out; bad dates are refused.
    let earlier = json_ok(
        app.post_json("/v1/rfm/refresh?reference_date=2011-06-01", &json!(null))
            .await,
    )
    .await;
    let at: chrono::DateTime<chrono::Utc> =
        earlier["reference_date"].as_str().unwrap().parse().unwrap();
    assert_eq!(at.to_rfc3339(), "2011-06-01T00:00:00+00:00");
    let as_of = &want["as_of_2011_06_01"];
    assert_eq!(
        earlier["customers_with_rfm"].as_u64().unwrap() as usize,
        as_of.as_object().unwrap().len()
    );
    assert_rfm(&app, as_of).await;
    // Customers whose first purchase came later have no values as of then.
    let later = want["per_customer"]
        .as_object()
        .unwrap()
        .keys()
        .find(|id| as_of.get(id.as_str()).is_none())
        .unwrap();
    let customer = json_ok(app.get(&format!("/v1/customers/{later}")).await).await;
    assert!(
        customer["attributes"].get("rfm_recency_days").is_none(),
        "{customer}"
    );
    assert_problem(
        app.post_json("/v1/rfm/refresh?reference_date=soon", &json!(null))
            .await,
        422,
        "reference_date",
    )
    .await;

    // K-Means on log1p(recency, frequency, monetary): the run refreshes RFM first.
    let seg = app
        .create_segmentation(json!({
            "name": "RFM",
            "config": {
                "features": ["rfm_recency_days", "rfm_frequency", "rfm_monetary"],
                "log1p": ["rfm_recency_days", "rfm_frequency", "rfm_monetary"],
                "algorithm": {"type": "kmeans", "k": "auto", "k_min": 2, "k_max": 6}
            }
        }))
        .await;
    let run = app.run_to_success(&seg).await;
    let phases: Vec<&str> = run["timings"]
        .as_array()
        .unwrap()
        .iter()
        .map(|t| t["phase"].as_str().unwrap())
        .collect();
    assert_eq!(phases, ["rfm", "snapshot", "train", "write", "activate"]);
    assert_eq!(run["customers"]["used"], 40, "as of the latest line again");
    assert_eq!(run["customers"]["dropped"], 1);
    let k = run["k"].as_i64().unwrap();
    assert!((2..=6).contains(&k), "{k}");
    // Labels in the marketer's words, levels read where the features were clustered: the
    // biggest spenders' segment reads "High spend", the most recent one "Recent".
    let run_id = run["id"].as_str().unwrap();
    let profiles = json_ok(app.get(&format!("/v1/runs/{run_id}/segments")).await).await;
    let segments = profiles["segments"].as_array().unwrap();
    assert_eq!(segments.len() as i64, k);
    for s in segments {
        let words: Vec<&str> = s["label"].as_str().unwrap().split(" · ").collect();
        assert!(
            ["Recent", "Average recency", "Lapsed"].contains(&words[0])
                && ["Rare", "Occasional", "Frequent"].contains(&words[1])
                && ["Low spend", "Average spend", "High spend"]
                    .contains(&words[2].split(" (").next().unwrap()),
            "{s}"
        );
    }
    let by = |feature: usize| {
        let mut sorted: Vec<&Value> = segments.iter().collect();
        sorted.sort_by(|a, b| {
            a["centroid"][feature]
                .as_f64()
                .unwrap()
                .total_cmp(&b["centroid"][feature].as_f64().unwrap())
        });
        sorted
    };
    assert!(
        by(2).last().unwrap()["label"]
            .as_str()
            .unwrap()
            .contains("High spend")
    );
    assert!(by(0)[0]["label"].as_str().unwrap().starts_with("Recent"));
}

#[tokio::test]
async fn the_rfm_map_names_every_cell_as_the_readme_says() {
    let app = spawn_app().await;
    // Rows R5..R1, columns F1..F5, transcribed from the README's rules.
    let readme = [
        [
            "New Customers",
            "Potential Loyalists",
            "Potential Loyalists",
            "Champions",
            "Champions",
        ],
        [
            "Promising",
            "Potential Loyalists",
            "Potential Loyalists",
            "Loyal Customers",
            "Loyal Customers",
        ],
        [
            "About To Sleep",
            "About To Sleep",
            "Need Attention",
            "Loyal Customers",
            "Loyal Customers",
        ],
        [
            "Hibernating",
            "Hibernating",
            "At Risk",
            "At Risk",
            "Can't Lose Them",
        ],
        [
            "Lost",
            "Hibernating",
            "At Risk",
            "At Risk",
            "Can't Lose Them",
        ],
    ];
    let sql = format!(
        "SELECT r, f, {} FROM generate_series(1, 5) r, generate_series(1, 5) f",
        segstore::store::rfm::SEGMENT_RULES
    );
    let cells: Vec<(i32, i32, String)> = sqlx::query_as(sqlx::AssertSqlSafe(sql))
        .fetch_all(&app.pool)
        .await
        .unwrap();
    assert_eq!(cells.len(), 25);
    for (r, f, name) in cells {
        assert_eq!(
            name,
            readme[(5 - r) as usize][(f - 1) as usize],
            "R{r} F{f}"
        );
    }
}

#[tokio::test]
async fn quintile_ties_are_broken_by_customer_id_so_each_score_holds_a_fifth() {
    let app = spawn_app().await;
    // Ten customers who bought the same thing on the same day.
    let orders: Vec<Value> = (0..10)
        .map(|i| {
            json!({"order_id": format!("o{i}"), "customer_id": format!("c{i}"),
                   "ordered_at": "2011-05-01T10:00:00Z", "quantity": 1, "unit_price": 5.0})
        })
        .collect();
    json_ok(
        app.post_json("/v1/orders", &json!({ "orders": orders }))
            .await,
    )
    .await;
    json_ok(app.post_json("/v1/rfm/refresh", &json!(null)).await).await;
    for i in 0..10 {
        let customer = json_ok(app.get(&format!("/v1/customers/c{i}")).await).await;
        let a = &customer["attributes"];
        let score = (i / 2 + 1) as f64;
        assert_eq!(a["rfm_recency_days"], 1.0);
        assert_eq!(a["rfm_f_score"], score, "c{i}");
        assert_eq!(a["rfm_m_score"], score, "c{i}");
        // Recency too: among equal days the smaller id gets the lower score.
        assert_eq!(a["rfm_r_score"], score, "c{i}");
        assert_eq!(a["rfm_cell"], format!("{0}{0}{0}", score as i32), "c{i}");
    }
}
