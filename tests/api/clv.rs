//! Predicted customer value over HTTP: the Online Retail file imported, refreshed with a
//! backtest, everything against lifetimes 0.11 (tests/fixtures/reference/clv.py); and every
//! way a refresh is refused, with nothing written.

use crate::helpers::{TestApp, assert_problem, json_ok, spawn_app};
use serde_json::{Value, json};
use std::collections::HashMap;

fn reference() -> Value {
    serde_json::from_str(
        &std::fs::read_to_string(concat!(
            env!("CARGO_MANIFEST_DIR"),
            "/tests/fixtures/reference/clv.json"
        ))
        .unwrap(),
    )
    .unwrap()
}

/// lifetimes' summary and predictions per customer: frequency, recency, T, monetary value,
/// p_alive, expected orders, expected order value, value.
fn reference_customers() -> HashMap<String, Vec<f64>> {
    let text = std::fs::read_to_string(concat!(
        env!("CARGO_MANIFEST_DIR"),
        "/tests/fixtures/reference/clv_online_retail.csv"
    ))
    .unwrap();
    text.lines()
        .skip(1)
        .map(|line| {
            let mut parts = line.split(',');
            let id = parts.next().unwrap().to_owned();
            (id, parts.map(|v| v.parse().unwrap()).collect())
        })
        .collect()
}

pub async fn import_online_retail(app: &TestApp) {
    let gz = std::fs::read(concat!(
        env!("CARGO_MANIFEST_DIR"),
        "/examples/data/online_retail.csv.gz"
    ))
    .unwrap();
    let mut csv = Vec::new();
    std::io::Read::read_to_end(&mut flate2::read::GzDecoder::new(&gz[..]), &mut csv).unwrap();
    let imported = app.post_raw("/v1/orders/import", "text/csv", csv).await;
    json_ok(imported).await;
}

fn rel(a: &Value, b: &Value) -> f64 {
    let (a, b) = (a.as_f64().unwrap(), b.as_f64().unwrap());
    (a - b).abs() / b.abs().max(1e-300)
}

/// The stored `clv_*` values per customer (`None` where empty).
pub async fn stored(app: &TestApp) -> HashMap<String, [Option<f64>; 4]> {
    let rows: Vec<(String, Vec<Option<f64>>)> = sqlx::query_as(
        "SELECT c.external_id,
                ARRAY[v.p_alive, v.expected_orders, v.expected_order_value, v.value]
         FROM customers c LEFT JOIN customer_clv v ON v.external_id = c.external_id",
    )
    .fetch_all(&app.pool)
    .await
    .unwrap();
    rows.into_iter()
        .map(|(id, v)| (id, [v[0], v[1], v[2], v[3]]))
        .collect()
}

/// The fitted models and every customer's stored figures equal lifetimes' on the whole
/// Online Retail file.
pub async fn assert_equals_lifetimes(app: &TestApp, model: &Value) {
    let want = reference();
    let retail = &want["online_retail"];
    // The models: lifetimes' parameters to 1e-3, a minimum at least as low.
    assert_eq!(model["observation_end"], retail["end"]);
    assert_eq!(model["months"], 12);
    assert_eq!(model["settings"]["horizon_days"], 365);
    for (ours, theirs, names) in [
        (
            &model["bgnbd"],
            &retail["bgnbd"],
            &["r", "alpha", "a", "b"][..],
        ),
        (
            &model["gamma_gamma"],
            &retail["gamma_gamma"],
            &["p", "q", "v"][..],
        ),
    ] {
        for name in names {
            assert!(
                rel(&ours[name], &theirs["params"][name]) < 1e-3,
                "{name}: {ours} vs {theirs}"
            );
            assert!(
                rel(
                    &ours["standard_errors"][name],
                    &theirs["standard_errors"][name]
                ) < 1e-2,
                "{name}: {ours} vs {theirs}"
            );
        }
        let (o, t) = (
            ours["objective"].as_f64().unwrap(),
            theirs["mean_negative_log_likelihood"].as_f64().unwrap(),
        );
        assert!(o <= t + 1e-9 * t.abs(), "objective {o} vs lifetimes' {t}");
        assert_eq!(ours["converged"], true);
    }
    assert_eq!(model["bgnbd"]["customers"], retail["customers"]);
    assert_eq!(
        model["gamma_gamma"]["customers"],
        retail["repeat_customers"]
    );

    // Every customer's figures: lifetimes' for its parameters (ours differ from them by
    // ~1e-6, so the figures are compared to 1e-4); customers without a counted line, none.
    let customers = reference_customers();
    let values = stored(app).await;
    assert_eq!(model["customers_with_clv"], customers.len());
    assert_eq!(
        model["customers_without_clv"].as_u64().unwrap() as usize,
        values.len() - customers.len()
    );
    let mut total_value = 0.0;
    for (id, got) in &values {
        let Some(theirs) = customers.get(id) else {
            assert_eq!(got, &[None; 4], "{id} has no counted line");
            continue;
        };
        for k in 0..4 {
            let (o, t) = (got[k].unwrap(), theirs[4 + k]);
            assert!(
                (o - t).abs() <= 1e-4 * t.abs().max(1e-9),
                "{id} figure {k}: {o} vs {t}"
            );
        }
        total_value += got[3].unwrap();
    }
    assert!((model["total_value"].as_f64().unwrap() - total_value).abs() < 1e-6 * total_value);
}

#[tokio::test]
async fn online_retail_predictions_and_backtest_equal_lifetimes() {
    let app = spawn_app().await;
    let want = reference();
    let retail = &want["online_retail"];
    import_online_retail(&app).await;
    let model = json_ok(
        app.client
            .post(app.url("/v1/clv/refresh?holdout_days=90"))
            .send()
            .await
            .unwrap(),
    )
    .await;

    assert_equals_lifetimes(&app, &model).await;
    let attributes = json_ok(app.get("/v1/attributes").await).await.to_string();
    for name in [
        "clv_p_alive",
        "clv_expected_orders",
        "clv_expected_order_value",
        "clv_value",
    ] {
        assert!(
            attributes.contains(name),
            "{name} in the catalogue: {attributes}"
        );
    }

    // The backtest: the same customers and actual purchases as lifetimes' table; lifetimes'
    // own fit stops without converging (a → 0, b → large), ours reaches a minimum at least as
    // low, so the predictions are close, not equal.
    let backtest = &model["backtest"];
    let theirs = &retail["holdout"];
    assert_eq!(backtest["calibration_end"], theirs["calibration_end"]);
    assert_eq!(backtest["customers"], theirs["customers"]);
    assert_eq!(backtest["actual_orders"], theirs["actual_orders"]);
    let (o, t) = (
        backtest["bgnbd"]["objective"].as_f64().unwrap(),
        theirs["bgnbd"]["mean_negative_log_likelihood"]
            .as_f64()
            .unwrap(),
    );
    assert!(
        o <= t + 1e-9 * t.abs(),
        "backtest objective {o} vs lifetimes' {t}"
    );
    // The calibration period's likelihood is highest without dropout: b runs off (and a
    // towards 0, as far as the optimizer follows the flat valley).
    let limits = backtest["bgnbd"]["at_limit"].as_array().unwrap();
    assert!(limits.contains(&json!("b → ∞")), "{backtest}");
    assert_eq!(model["bgnbd"]["at_limit"], json!([]));
    let rows = backtest["by_frequency"].as_array().unwrap();
    assert_eq!(rows.len(), 8, "{backtest}");
    for (ours, theirs) in rows
        .iter()
        .zip(theirs["by_calibration_frequency"].as_array().unwrap())
    {
        assert_eq!(ours["frequency"], theirs["frequency_cal"]);
        assert_eq!(ours["customers"], theirs["customers"]);
        assert!(rel(&ours["actual"], &theirs["actual"]) < 1e-12);
        assert!(
            rel(&ours["predicted"], &theirs["predicted"]) < 0.02,
            "{ours} vs {theirs}"
        );
    }
    assert!(rows[7]["frequency_max"].as_u64().unwrap() > 7);
    assert!(rel(&backtest["predicted_orders"], &theirs["predicted_orders"]) < 0.02);
    assert!(
        rel(
            &backtest["mean_absolute_error"],
            &theirs["mean_absolute_error"]
        ) < 0.02
    );

    // The named RFM segments carry their predicted value.
    json_ok(app.post_json("/v1/rfm/refresh", &json!(null)).await).await;
    let named = json_ok(app.get("/v1/rfm/segments").await).await;
    let segments = named["segments"].as_array().unwrap();
    let (mut share, mut total) = (0.0, 0.0);
    for s in segments {
        share += s["value_share"].as_f64().unwrap();
        total += s["total_value"].as_f64().unwrap();
        let alive = s["mean_p_alive"].as_f64().unwrap();
        assert!((0.0..=1.0).contains(&alive), "{s}");
        let mean = s["mean_value"].as_f64().unwrap() * s["customers"].as_f64().unwrap();
        assert!((mean - s["total_value"].as_f64().unwrap()).abs() < 1e-6 * mean.abs().max(1.0));
    }
    assert!((share - 1.0).abs() < 1e-9, "{named}");
    let total_value = model["total_value"].as_f64().unwrap();
    assert!(
        (total - total_value).abs() < 1e-6 * total_value,
        "{total} vs {total_value}"
    );
    let champions = segments
        .iter()
        .find(|s| s["segment"] == "Champions")
        .unwrap();
    let lost = segments.iter().find(|s| s["segment"] == "Lost").unwrap();
    assert!(
        champions["mean_value"].as_f64() > lost["mean_value"].as_f64(),
        "{named}"
    );

    // The reads answer what was kept.
    let read = json_ok(app.get("/v1/clv/model").await).await;
    assert_eq!(read, model);
    let calibration = json_ok(app.get("/v1/clv/calibration").await).await;
    assert_eq!(calibration["by_frequency"], backtest["by_frequency"]);
    assert_eq!(calibration["model_id"], model["model_id"]);
    let svg = app.get("/v1/clv/calibration.svg").await;
    assert_eq!(svg.status(), 200);
    assert_eq!(svg.headers()["content-type"], "image/svg+xml");
    let svg = svg.text().await.unwrap();
    for text in ["Actual (holdout)", "Predicted (BG/NBD)", "7+", "2011-09-10"] {
        assert!(svg.contains(text), "{text} in the chart");
    }

    // A refresh without a holdout keeps the last backtest readable.
    let again = json_ok(
        app.client
            .post(app.url("/v1/clv/refresh"))
            .send()
            .await
            .unwrap(),
    )
    .await;
    assert!(again["backtest"].is_null());
    assert_eq!(
        again["bgnbd"]["r"], model["bgnbd"]["r"],
        "the same data, the same fit"
    );
    assert_eq!(
        json_ok(app.get("/v1/clv/calibration").await).await["model_id"],
        model["model_id"]
    );
    assert_eq!(app.count("SELECT count(*) FROM clv_models").await, 2);

    // A segmentation on predicted value refits it before it trains, with the latest
    // settings (here: no holdout).
    let segmentation = app
        .create_segmentation(json!({
            "name": "Value",
            "config": {"features": ["clv_p_alive", "clv_expected_orders", "clv_value"],
                       "log1p": ["clv_expected_orders", "clv_value"],
                       "algorithm": {"type": "kmeans", "k": 3}}
        }))
        .await;
    let run = app.run_to_success(&segmentation).await;
    assert_eq!(app.count("SELECT count(*) FROM clv_models").await, 3);
    let latest = json_ok(app.get("/v1/clv/model").await).await;
    assert!(latest["backtest"].is_null());
    assert_eq!(latest["bgnbd"]["r"], model["bgnbd"]["r"]);
    assert_eq!(run["customers"]["used"], retail["customers"], "{run}");
    // Its segments carry their members' predicted value.
    let run_id = run["id"].as_str().unwrap();
    let segments = json_ok(app.get(&format!("/v1/runs/{run_id}/segments")).await).await;
    let (mut share, mut total, mut members) = (0.0, 0.0, 0);
    for s in segments["segments"].as_array().unwrap() {
        let v = &s["predicted_value"];
        share += v["value_share"].as_f64().unwrap();
        total += v["total_value"].as_f64().unwrap();
        members += v["customers"].as_i64().unwrap();
        assert_eq!(v["customers"], s["size"], "{s}");
        let alive = v["mean_p_alive"].as_f64().unwrap();
        assert!((0.0..=1.0).contains(&alive), "{s}");
    }
    assert!((share - 1.0).abs() < 1e-9, "{segments}");
    let latest_total = latest["total_value"].as_f64().unwrap();
    assert!(
        (total - latest_total).abs() < 1e-6 * latest_total,
        "{total} vs {latest_total}"
    );
    assert_eq!(members, 4338);
}

pub async fn refresh(app: &TestApp, query: &str) -> reqwest::Response {
    app.client
        .post(app.url(&format!("/v1/clv/refresh{query}")))
        .send()
        .await
        .unwrap()
}

pub async fn orders(app: &TestApp, lines: &[(&str, &str, &str, f64)]) {
    let orders: Vec<Value> = lines
        .iter()
        .map(|(order, customer, at, price)| {
            json!({"order_id": order, "customer_id": customer, "ordered_at": at,
                   "quantity": 1, "unit_price": price})
        })
        .collect();
    json_ok(
        app.post_json("/v1/orders", &json!({ "orders": orders }))
            .await,
    )
    .await;
}

/// Forty customers `r0`…`r39` with one to four purchase days each, at regular steps: a fit
/// needs a penalizer (below).
pub async fn regular_orders(app: &TestApp) {
    let mut lines = Vec::new();
    for i in 0..40 {
        for j in 0..=(i % 4) {
            let day = 1 + (i * 7 + j * 23) % 200;
            let at = (chrono::NaiveDate::from_ymd_opt(2011, 1, 1).unwrap()
                + chrono::Days::new(day as u64))
            .and_hms_opt(12, 0, 0)
            .unwrap()
            .and_utc()
            .to_rfc3339();
            lines.push((
                format!("x{i}-{j}"),
                format!("r{i}"),
                at,
                10.0 + (i * j) as f64,
            ));
        }
    }
    let borrowed: Vec<(&str, &str, &str, f64)> = lines
        .iter()
        .map(|(o, c, a, p)| (o.as_str(), c.as_str(), a.as_str(), *p))
        .collect();
    orders(app, &borrowed).await;
}

/// Nothing of a refused refresh is kept.
async fn nothing_written(app: &TestApp) {
    assert_eq!(app.count("SELECT count(*) FROM clv_models").await, 0);
    assert_eq!(app.count("SELECT count(*) FROM customer_clv").await, 0);
    assert_eq!(app.count("SELECT count(*) FROM purchase_days").await, 0);
    assert_eq!(
        app.count("SELECT count(*) FROM attributes WHERE name LIKE 'clv_%'")
            .await,
        0
    );
}

#[tokio::test]
async fn refreshes_the_data_cannot_support_are_refused_and_nothing_is_written() {
    let app = spawn_app().await;
    assert_problem(app.get("/v1/clv/model").await, 404, "POST /v1/clv/refresh").await;
    assert_problem(app.get("/v1/clv/calibration").await, 404, "holdout_days").await;
    assert_problem(
        app.get("/v1/clv/calibration.svg").await,
        404,
        "holdout_days",
    )
    .await;
    assert_problem(refresh(&app, "").await, 422, "no counted order line").await;

    // One purchase each.
    orders(
        &app,
        &[
            ("o1", "a", "2011-01-01T10:00:00Z", 5.0),
            ("o2", "b", "2011-02-01T10:00:00Z", 7.0),
            ("o3", "c", "2011-03-01T10:00:00Z", 9.0),
        ],
    )
    .await;
    let problem = assert_problem(refresh(&app, "").await, 422, "bought on a second day").await;
    assert_eq!(problem["errors"][0]["field"], "orders");
    nothing_written(&app).await;

    // Everyone on one day: as of that day, T = 0 for all.
    let problem = assert_problem(
        refresh(&app, "?as_of=2011-01-01").await,
        422,
        "first purchase on the last day",
    )
    .await;
    assert_eq!(problem["errors"][0]["field"], "orders");
    // Before any line.
    assert_problem(refresh(&app, "?as_of=2010-01-01").await, 422, "as_of").await;

    // One repeat purchaser: Gamma-Gamma's three parameters cannot be pinned down.
    orders(&app, &[("o4", "a", "2011-03-05T10:00:00Z", 6.0)]).await;
    let problem =
        assert_problem(refresh(&app, "").await, 422, "Gamma-Gamma did not converge").await;
    assert_eq!(problem["errors"][0]["field"], "penalizer");
    nothing_written(&app).await;

    // Invalid parameters, each named.
    for (query, field) in [
        ("?horizon_days=10", "horizon_days"),
        ("?horizon_days=abc", "horizon_days"),
        ("?horizon_days=5000", "horizon_days"),
        ("?discount_rate=-0.1", "discount_rate"),
        ("?discount_rate=NaN", "discount_rate"),
        ("?penalizer=-1", "penalizer"),
        ("?penalizer=inf", "penalizer"),
        ("?holdout_days=0", "holdout_days"),
        ("?as_of=yesterday", "as_of"),
    ] {
        let problem = assert_problem(refresh(&app, query).await, 422, field).await;
        assert_eq!(problem["errors"][0]["field"], field, "{query}: {problem}");
    }
    assert_problem(refresh(&app, "?horizon=365").await, 422, "horizon").await;
    nothing_written(&app).await;

    // Enough to fit: the same refresh succeeds, and writes.
    regular_orders(&app).await;
    // Forty customers with regular purchase days: the likelihood is highest where every
    // customer drops out with the same probability (a, b → ∞), and r and alpha run off too;
    // the expected purchases cannot be computed there.
    let problem = assert_problem(refresh(&app, "").await, 422, "at a limit of the model").await;
    assert_eq!(problem["errors"][0]["field"], "orders");
    nothing_written(&app).await;
    // A holdout that leaves no calibration period.
    let problem = assert_problem(
        refresh(&app, "?holdout_days=400&penalizer=0.001").await,
        422,
        "backtest",
    )
    .await;
    assert_eq!(problem["errors"][0]["field"], "holdout_days");
    nothing_written(&app).await;
    // A penalizer keeps the parameters finite.
    let model =
        json_ok(refresh(&app, "?horizon_days=180&discount_rate=0&penalizer=0.001").await).await;
    assert_eq!(model["bgnbd"]["at_limit"], json!([]), "{model}");
    assert_eq!(model["months"], 6);
    assert_eq!(model["settings"]["discount_rate"], 0.0);
    assert_eq!(app.count("SELECT count(*) FROM clv_models").await, 1);
    let customer = json_ok(app.get("/v1/customers/a").await).await;
    for name in [
        "clv_p_alive",
        "clv_expected_orders",
        "clv_expected_order_value",
        "clv_value",
    ] {
        let v = customer["attributes"][name].as_f64().unwrap();
        assert!(v.is_finite() && v >= 0.0, "{name}: {customer}");
    }
    let with_figures = "SELECT count(*) FROM customer_clv";
    assert_eq!(
        app.count(with_figures).await,
        model["customers_with_clv"].as_i64().unwrap()
    );
    // As of an earlier day, those who first bought later lose their figures.
    let earlier = json_ok(refresh(&app, "?as_of=2011-04-15&penalizer=0.001").await).await;
    let (before, after) = (
        model["customers_with_clv"].as_i64().unwrap(),
        earlier["customers_with_clv"].as_i64().unwrap(),
    );
    assert!(after < before, "{after} of {before}");
    assert_eq!(app.count(with_figures).await, after);
    assert_eq!(
        earlier["customers_without_clv"].as_i64().unwrap() + after,
        app.count("SELECT count(*) FROM customers").await
    );

    // Extreme amounts: two orders of 1e307 each.
    orders(
        &app,
        &[
            ("z1", "z", "2011-02-01T10:00:00Z", 1e307),
            ("z2", "z", "2011-03-01T10:00:00Z", 1e307),
        ],
    )
    .await;
    let models = app.count("SELECT count(*) FROM clv_models").await;
    assert_problem(
        refresh(&app, "?penalizer=0.001").await,
        422,
        "too heavy-tailed for a finite mean order value; check for extreme amounts",
    )
    .await;
    assert_eq!(app.count("SELECT count(*) FROM clv_models").await, models);
    assert_eq!(
        app.count(with_figures).await,
        after,
        "the last refresh's figures stay"
    );
    // No stored figure is ever NaN or infinite.
    let non_finite = "SELECT count(*) FROM customer_clv \
                      WHERE ARRAY[p_alive, expected_orders, expected_order_value, value] \
                            && '{NaN, Infinity, -Infinity}'::float8[]";
    assert_eq!(app.count(non_finite).await, 0);
    // The figures live in their own table only: the customers' arrays hold nothing for them.
    let in_arrays = "SELECT count(*) FROM customers c, attributes a WHERE a.name LIKE 'clv_%' \
                     AND c.numeric_values[a.position] IS NOT NULL";
    assert_eq!(app.count(in_arrays).await, 0);
}

/// `segstore clv`, offline: the same summary as lifetimes' for every customer, the same
/// figures, the model printed; and a file it cannot fit, refused with the reason.
#[test]
fn the_command_line_computes_the_same_offline() {
    let gz = std::fs::read(concat!(
        env!("CARGO_MANIFEST_DIR"),
        "/examples/data/online_retail.csv.gz"
    ))
    .unwrap();
    let dir = tempfile::tempdir().unwrap();
    let csv = dir.path().join("online_retail.csv");
    let mut text = Vec::new();
    std::io::Read::read_to_end(&mut flate2::read::GzDecoder::new(&gz[..]), &mut text).unwrap();
    std::fs::write(&csv, text).unwrap();
    let out = dir.path().join("clv.csv");
    let output = std::process::Command::new(env!("CARGO_BIN_EXE_segstore"))
        .args(["clv", csv.to_str().unwrap(), "-o", out.to_str().unwrap()])
        .output()
        .unwrap();
    assert!(output.status.success(), "{output:?}");
    let printed = String::from_utf8(output.stdout).unwrap();
    for text in [
        "Observation end 2011-12-09; 4338 customers, 2790 with a repeat purchase day",
        "r 0.826542  alpha 68.905123",
        "p 2.103382  q 3.451179",
        "(12 months, discount 0.01/month)",
    ] {
        assert!(printed.contains(text), "{text} in {printed}");
    }
    let want = reference_customers();
    let written = std::fs::read_to_string(&out).unwrap();
    let mut lines = written.lines();
    assert_eq!(
        lines.next().unwrap(),
        "customer,frequency,recency,T,monetary_value,p_alive,expected_orders,expected_order_value,value"
    );
    let mut n = 0;
    for line in lines {
        let mut parts = line.split(',');
        let id = parts.next().unwrap();
        let got: Vec<f64> = parts.map(|v| v.parse().unwrap()).collect();
        let theirs = &want[id];
        for k in 0..8 {
            // The summary exactly (monetary to rounding), the figures as over HTTP.
            let tolerance = if k < 4 { 1e-12 } else { 1e-4 };
            assert!(
                (got[k] - theirs[k]).abs() <= tolerance * theirs[k].abs().max(1e-9),
                "{id} column {k}: {} vs lifetimes' {}",
                got[k],
                theirs[k]
            );
        }
        n += 1;
    }
    assert_eq!(n, want.len());

    // Everyone on one day.
    let one_day = dir.path().join("one_day.csv");
    std::fs::write(
        &one_day,
        "order_id,customer_id,ordered_at,quantity,unit_price\n\
         o1,a,2011-01-01,1,5\no2,b,2011-01-01,2,3\n",
    )
    .unwrap();
    let output = std::process::Command::new(env!("CARGO_BIN_EXE_segstore"))
        .args(["clv", one_day.to_str().unwrap(), "-o", "-"])
        .output()
        .unwrap();
    assert!(!output.status.success());
    let stderr = String::from_utf8(output.stderr).unwrap();
    assert!(
        stderr.contains("first purchase on the last day"),
        "{stderr}"
    );
}

/// The dashboard's predicted-value page at 1400 and 1920 px: the parameters, the spread, the
/// probability-alive matrix and the backtest chart; a customer's page shows their four figures.
#[tokio::test]
#[ignore = "needs Chromium and chromedriver: apt install chromium chromium-driver (run with --include-ignored)"]
async fn the_value_page_reads_well_at_1400_and_1920_pixels() {
    use crate::dashboard::{Browser, Driver};
    let driver = Driver::required().await;
    let app = spawn_app().await;
    import_online_retail(&app).await;
    let model = json_ok(refresh(&app, "?holdout_days=90").await).await;
    let browser = Browser::open(&driver).await;
    // Signed in on a store without a segmentation.
    browser.sign_in_only(&app).await;
    for width in [1400, 1920] {
        browser.resize(width, 2400).await;
        browser.go(&app.url("/#/value")).await;
        browser
            .wait_for(
                "the parameters, the spread, the matrix and the backtest chart",
                "return document.querySelectorAll('#clv-params tbody tr').length === 7 && \
                 document.querySelectorAll('#value-histogram .bar').length === 20 && \
                 document.querySelectorAll('#alive-matrix tbody tr').length === 21 && \
                 document.querySelectorAll('img.chart-image').length === 1 && \
                 document.querySelector('img.chart-image').dataset.loaded === 'true'",
            )
            .await;
        // The page does not scroll sideways, and no text is under 12 px.
        let overflow = browser
            .script("return document.documentElement.scrollWidth - document.documentElement.clientWidth")
            .await;
        assert!(
            overflow.as_f64().unwrap() <= 0.0,
            "at {width} px: {overflow} px sideways"
        );
        let smallest = browser
            .script(
                "return Math.min(...[...document.querySelectorAll('#view *')] \
                   .filter(e => [...e.childNodes].some(n => n.nodeType === 3 && n.textContent.trim())) \
                   .map(e => parseFloat(getComputedStyle(e).fontSize)))",
            )
            .await;
        assert!(
            smallest.as_f64().unwrap() >= 12.0,
            "at {width} px: {smallest} px text"
        );
        // The figures are the model's.
        let r = browser
            .script("return document.querySelector('#clv-params tbody tr td').innerText")
            .await;
        assert_eq!(
            r,
            json!(format!("{:.4}", model["bgnbd"]["r"].as_f64().unwrap()))
        );
        let facts = browser
            .script("return document.getElementById('value-facts').innerText")
            .await;
        assert!(facts.as_str().unwrap().contains("4,338"), "{facts}");
        // Without a repeat purchase a customer is alive; with many, long gone, hardly.
        let corners = browser
            .script(
                "const rows = document.querySelectorAll('#alive-matrix tbody tr'); \
                 return [rows[0].cells[1].innerText, rows[20].cells[2].innerText]",
            )
            .await;
        assert_eq!(corners[0], "1.00", "{corners}");
        assert!(
            corners[1].as_str().unwrap().parse::<f64>().unwrap() < 0.05,
            "{corners}"
        );
        browser.keep(&format!("dashboard-value-{width}")).await;
    }
    // A customer's page shows their four figures.
    browser.go(&app.url("/#/customers/12347")).await;
    browser
        .wait_for(
            "the customer's predicted value",
            "return !!document.getElementById('customer-value')",
        )
        .await;
    let figures = browser
        .script("return document.getElementById('customer-value').innerText")
        .await;
    for text in ["Probability alive", "5.71", "569.98", "3,010.83"] {
        assert!(
            figures.as_str().unwrap().contains(text),
            "{text} in {figures}"
        );
    }
    browser.close().await;
}

/// The figures are kept apart from the attributes clients write (`customer_clv`, rewritten
/// whole by each refresh), and every reader finds them where it finds the others: a customer's
/// page, the catalogue's figures, the flat export, the report view. Imports cannot write them;
/// an erasure takes them.
#[tokio::test]
async fn predicted_figures_read_like_attributes_cannot_be_imported_and_go_with_an_erasure() {
    let app = spawn_app().await;
    json_ok(
        app.upsert(json!([{"id": "r0", "attributes": {"age": 30}},
                          {"id": "lurker", "attributes": {"age": 40}}]))
            .await,
    )
    .await;
    regular_orders(&app).await;
    let model = json_ok(refresh(&app, "?penalizer=0.001").await).await;
    assert_eq!(model["customers_with_clv"], 40, "{model}");
    assert_eq!(model["customers_without_clv"], 1);
    let figures = stored(&app).await;
    let r0 = figures["r0"];
    assert!(r0.iter().all(Option::is_some), "{r0:?}");
    assert_eq!(figures["lurker"], [None; 4]);

    // A customer's page: its own attributes beside its figures; none without.
    let page = json_ok(app.get("/v1/customers/r0").await).await;
    assert_eq!(page["attributes"]["age"], 30.0);
    assert_eq!(page["attributes"]["clv_p_alive"], r0[0].unwrap());
    assert_eq!(page["attributes"]["clv_value"], r0[3].unwrap());
    let lurker = json_ok(app.get("/v1/customers/lurker").await).await;
    assert_eq!(lurker["attributes"], json!({"age": 40.0}));
    let listed = json_ok(app.get("/v1/customers?limit=100").await).await;
    let listed_r0 = listed["customers"]
        .as_array()
        .unwrap()
        .iter()
        .find(|c| c["id"] == "r0")
        .unwrap();
    assert_eq!(listed_r0["attributes"], page["attributes"]);

    // The catalogue's figures count and average the customers with a value.
    let catalogue = json_ok(app.get("/v1/attributes").await).await;
    let value = catalogue["attributes"]
        .as_array()
        .unwrap()
        .iter()
        .find(|a| a["name"] == "clv_value")
        .unwrap();
    assert_eq!(value["customers"], 40, "{value}");
    let total = model["total_value"].as_f64().unwrap();
    let mean = value["numeric"]["mean"].as_f64().unwrap();
    assert!(
        (mean * 40.0 - total).abs() < 1e-9 * total,
        "{mean} vs {total}"
    );

    // The flat export: a column per figure, empty for the customer without.
    let csv = app.get("/v1/customers.csv").await.text().await.unwrap();
    let mut rows = csv.lines();
    let header: Vec<&str> = rows.next().unwrap().split(',').collect();
    let column = header.iter().position(|h| *h == "clv_value").unwrap();
    let cells = |id: &str| -> Vec<String> {
        csv.lines()
            .find(|l| l.starts_with(&format!("{id},")))
            .unwrap()
            .split(',')
            .map(str::to_owned)
            .collect()
    };
    assert_eq!(cells("r0")[column].parse::<f64>().unwrap(), r0[3].unwrap());
    assert_eq!(cells("lurker")[column], "");

    // The report view reads them too.
    let viewed: Option<f64> = sqlx::query_scalar(
        "SELECT clv_value FROM segstore_report.customers WHERE customer_id = 'r0'",
    )
    .fetch_one(&app.pool)
    .await
    .unwrap();
    assert_eq!(viewed, r0[3]);

    // Imports cannot write them (JSON or CSV, values or clears); nothing is written.
    let before = app.fingerprint().await;
    for value in [json!(0.5), json!(null)] {
        let problem = assert_problem(
            app.upsert(json!([{"id": "r1", "attributes": {"age": 3}},
                              {"id": "r0", "attributes": {"clv_value": value}}]))
                .await,
            422,
            "predicted by POST /v1/clv/refresh",
        )
        .await;
        assert_eq!(
            problem["errors"][0]["field"],
            "customers[1].attributes.clv_value"
        );
    }
    let problem = assert_problem(
        app.import_csv("", "id,age,clv_p_alive\nr0,31,0.5\n".to_owned())
            .await,
        422,
        "predicted by POST /v1/clv/refresh",
    )
    .await;
    assert_eq!(problem["errors"][0]["field"], "clv_p_alive", "{problem}");
    assert_eq!(app.fingerprint().await, before);
    // Writing a customer's own attributes leaves its figures.
    json_ok(
        app.upsert(json!([{"id": "r0", "attributes": {"age": 31}}]))
            .await,
    )
    .await;
    assert_eq!(stored(&app).await["r0"], r0);

    // An erasure takes the figures with the customer.
    let erased = app.delete("/v1/customers/r0").await;
    assert_eq!(erased.status(), 204);
    assert_eq!(
        app.count("SELECT count(*) FROM customer_clv WHERE external_id = 'r0'")
            .await,
        0
    );
    assert_eq!(app.count("SELECT count(*) FROM customer_clv").await, 39);
    // And the purchase days kept for it.
    assert_eq!(
        app.count("SELECT count(*) FROM purchase_days WHERE external_id = 'r0'")
            .await,
        0
    );
    assert_eq!(app.count("SELECT count(*) FROM purchase_days").await, 39);
}
