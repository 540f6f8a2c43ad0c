//! Purchase days kept between refreshes of predicted value: an order import marks the
//! customers whose lines it may change, the next refresh reads only their lines again, and its
//! figures equal those of a refresh that reads every line.

use crate::clv::{assert_equals_lifetimes, orders, refresh, regular_orders, stored};
use crate::helpers::{TestApp, json_ok, spawn_app};
use std::collections::BTreeSet;

async fn marked(app: &TestApp) -> BTreeSet<String> {
    sqlx::query_scalar("SELECT external_id FROM purchase_days_stale")
        .fetch_all(&app.pool)
        .await
        .unwrap()
        .into_iter()
        .collect()
}

/// The shipped Online Retail file as CSV lines (the header first).
pub fn online_retail_lines() -> Vec<String> {
    let gz = std::fs::read(concat!(
        env!("CARGO_MANIFEST_DIR"),
        "/examples/data/online_retail.csv.gz"
    ))
    .unwrap();
    let mut csv = String::new();
    std::io::Read::read_to_string(&mut flate2::read::GzDecoder::new(&gz[..]), &mut csv).unwrap();
    csv.lines().map(str::to_owned).collect()
}

/// A CSV row's fields (quoted fields hold commas and doubled quotes).
pub fn fields(row: &str) -> Vec<String> {
    let (mut out, mut field, mut quoted) = (Vec::new(), String::new(), false);
    let mut chars = row.chars().peekable();
    while let Some(c) = chars.next() {
        match c {
            '"' if quoted && chars.peek() == Some(&'"') => {
                field.push('"');
                chars.next();
            }
            '"' => quoted = !quoted,
            ',' if !quoted => out.push(std::mem::take(&mut field)),
            c => field.push(c),
        }
    }
    out.push(field);
    out
}

#[tokio::test]
async fn a_refresh_after_an_import_reads_again_the_customers_it_names_and_equals_lifetimes() {
    let app = spawn_app().await;
    let lines = online_retail_lines();
    let (header, rows) = lines.split_first().unwrap();
    // The file cut at an invoice boundary 90% of the way in (late November 2011): no order
    // on both sides, so the two imports store the lines one import of the file does.
    let invoice = |row: &str| row.split(',').next().unwrap().to_owned();
    let mut cut = rows.len() * 9 / 10;
    while invoice(&rows[cut]) == invoice(&rows[cut - 1]) {
        cut += 1;
    }
    let part = |rows: &[String]| format!("{header}\n{}\n", rows.join("\n"));
    json_ok(
        app.post_raw("/v1/orders/import", "text/csv", part(&rows[..cut]))
            .await,
    )
    .await;
    // Before any refresh nothing is kept: the first reads every line and keeps the days of
    // every customer with a counted line.
    let first = json_ok(refresh(&app, "").await).await;
    let with = first["customers_with_clv"].as_i64().unwrap();
    assert!(with > 4000, "{first}");
    assert_eq!(app.count("SELECT count(*) FROM purchase_days").await, with);
    assert!(marked(&app).await.is_empty());

    // The rest of the file marks the customers it names (CustomerID, the 7th column).
    let rest = part(&rows[cut..]);
    json_ok(
        app.post_raw("/v1/orders/import", "text/csv", rest.clone())
            .await,
    )
    .await;
    let named: BTreeSet<String> = rows[cut..]
        .iter()
        .map(|row| fields(row)[6].trim_end_matches(".0").to_owned())
        .filter(|id| !id.is_empty())
        .collect();
    assert_eq!(marked(&app).await, named);
    assert!(
        named.len() * 2 < with as usize,
        "a few changed: {}",
        named.len()
    );

    // The refresh reads the kept days of the others: the same models and figures as lifetimes'
    // on the whole file, and the backtest too.
    let model = json_ok(refresh(&app, "?holdout_days=90").await).await;
    assert_equals_lifetimes(&app, &model).await;
    assert!(marked(&app).await.is_empty());
    assert_eq!(
        app.count("SELECT count(*) FROM purchase_days").await,
        model["customers_with_clv"].as_i64().unwrap()
    );
}

/// Forty customers' lines, then: a line given to another customer, a line's price changed, a
/// new order for one customer and a new customer.
async fn lines_then_changes(app: &TestApp, refresh_between: bool) {
    regular_orders(app).await;
    if refresh_between {
        json_ok(refresh(app, "?penalizer=0.001").await).await;
        assert_eq!(app.count("SELECT count(*) FROM purchase_days").await, 40);
    }
    orders(
        app,
        &[
            // r5's first order, now r6's.
            ("x5-0", "r6", "2011-05-02T10:00:00Z", 10.0),
            // r7's second order, dearer.
            ("x7-1", "r7", "2011-04-01T10:00:00Z", 99.5),
            ("new-1", "r8", "2011-07-20T09:00:00Z", 31.0),
            ("new-2", "n1", "2011-03-03T09:00:00Z", 12.0),
            ("new-3", "n1", "2011-06-03T09:00:00Z", 14.0),
        ],
    )
    .await;
}

#[tokio::test]
async fn kept_days_with_the_changed_customers_read_again_equal_every_line_read() {
    let kept = spawn_app().await;
    lines_then_changes(&kept, true).await;
    let changed: BTreeSet<String> = ["r5", "r6", "r7", "r8", "n1"].map(String::from).into();
    assert_eq!(marked(&kept).await, changed);
    let incremental = json_ok(refresh(&kept, "?penalizer=0.001").await).await;
    assert!(marked(&kept).await.is_empty());
    assert_eq!(kept.count("SELECT count(*) FROM purchase_days").await, 41);

    // The same lines in a store that never kept any days: every line is read.
    let fresh = spawn_app().await;
    lines_then_changes(&fresh, false).await;
    let whole = json_ok(refresh(&fresh, "?penalizer=0.001").await).await;

    for (model, names) in [
        ("bgnbd", ["r", "alpha", "a", "b"].as_slice()),
        ("gamma_gamma", &["p", "q", "v"]),
    ] {
        for name in names {
            let (a, b) = (
                incremental[model][name].as_f64().unwrap(),
                whole[model][name].as_f64().unwrap(),
            );
            assert!(
                (a - b).abs() <= 1e-12 * b.abs(),
                "{model}.{name}: {a} vs {b}"
            );
        }
    }
    let (a, b) = (stored(&kept).await, stored(&fresh).await);
    assert_eq!(a.len(), 41);
    assert_eq!(a.keys().collect::<BTreeSet<_>>(), b.keys().collect());
    for (id, figures) in &a {
        for (x, y) in figures.iter().zip(&b[id]) {
            let (x, y) = (x.unwrap(), y.unwrap());
            assert!(
                (x - y).abs() <= 1e-10 * y.abs().max(1e-12),
                "{id}: {figures:?} vs {:?}",
                b[id]
            );
        }
    }
    // The kept days: r5 gave its first order to r6 (one day left, four for r6), n1 is new.
    for (id, days) in [("r5", 1), ("r6", 4), ("r7", 4), ("r8", 2), ("n1", 2)] {
        let bytes = kept
            .count(&format!(
                "SELECT octet_length(days)::int8 FROM purchase_days WHERE external_id = '{id}'"
            ))
            .await;
        assert_eq!(bytes, 12 * days, "{id}");
    }
}
