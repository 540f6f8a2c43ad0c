//! Audience rules on the order history, on the whole Online Retail file: each against a
//! reference computed here from the file with RFM's counting rules.

use crate::audiences::compares;
use crate::clv::import_online_retail;
use crate::helpers::{json_ok, spawn_app};
use crate::purchase_days::{fields, online_retail_lines};
use chrono::{DateTime, NaiveDateTime, Utc};
use serde_json::{Value, json};
use std::collections::{BTreeMap, BTreeSet, HashMap};

/// A counted line: its order, product, time and amount.
struct Line {
    order: String,
    product: String,
    at: DateTime<Utc>,
    amount: f64,
}

/// Every customer the file names, with its counted lines.
fn customers() -> BTreeMap<String, Vec<Line>> {
    let mut out: BTreeMap<String, Vec<Line>> = BTreeMap::new();
    for row in online_retail_lines().iter().skip(1) {
        let f = fields(row);
        let id = f[6].trim_end_matches(".0");
        if id.is_empty() {
            continue;
        }
        let lines = out.entry(id.to_owned()).or_default();
        let (quantity, price): (f64, f64) = (f[3].parse().unwrap(), f[5].parse().unwrap());
        if f[0].starts_with('C') || quantity <= 0.0 || price <= 0.0 {
            continue;
        }
        lines.push(Line {
            order: f[0].clone(),
            product: f[1].clone(),
            at: NaiveDateTime::parse_from_str(&f[4], "%Y-%m-%d %H:%M:%S")
                .unwrap()
                .and_utc(),
            amount: quantity * price,
        });
    }
    out
}

/// The reference: the rule evaluated on one customer's counted lines, windows ending at `end`.
fn meets(rule: &Value, lines: &[Line], end: DateTime<Utc>) -> bool {
    let rule = rule.as_object().unwrap();
    let within = |days: Option<u64>| {
        move |l: &&Line| days.is_none_or(|d| l.at > end - chrono::Duration::days(d as i64))
    };
    let test = |w: &Value, x: f64| -> bool {
        let (op, arg) = w
            .as_object()
            .unwrap()
            .iter()
            .find(|(k, _)| *k != "in_last_days")
            .unwrap();
        compares(op, arg, x)
    };
    if let Some(all) = rule.get("all") {
        return all.as_array().unwrap().iter().all(|r| meets(r, lines, end));
    }
    if let Some(any) = rule.get("any") {
        return any.as_array().unwrap().iter().any(|r| meets(r, lines, end));
    }
    if let Some(not) = rule.get("not") {
        return !meets(not, lines, end);
    }
    if let Some(days) = rule.get("ordered_within_days") {
        return lines.iter().filter(within(days.as_u64())).count() > 0;
    }
    if let Some(w) = rule.get("orders") {
        let orders: BTreeSet<&str> = lines
            .iter()
            .filter(within(w["in_last_days"].as_u64()))
            .map(|l| l.order.as_str())
            .collect();
        return test(w, orders.len() as f64);
    }
    if let Some(w) = rule.get("spent") {
        let spent: f64 = lines
            .iter()
            .filter(within(w["in_last_days"].as_u64()))
            .map(|l| l.amount)
            .sum();
        return test(w, spent);
    }
    let b = &rule["bought_product"];
    let product = b["product"].as_str().unwrap();
    lines
        .iter()
        .filter(within(b["in_last_days"].as_u64()))
        .any(|l| l.product == product)
}

#[tokio::test]
async fn order_history_rules_equal_the_file_read_with_rfm_counting() {
    let app = spawn_app().await;
    import_online_retail(&app).await;
    let customers = customers();
    let end = customers.values().flatten().map(|l| l.at).max().unwrap();
    // The most bought product, and a rarer one.
    let mut bought: HashMap<&str, usize> = HashMap::new();
    for l in customers.values().flatten() {
        *bought.entry(l.product.as_str()).or_default() += 1;
    }
    let mut products: Vec<(&str, usize)> = bought.into_iter().collect();
    products.sort_by(|a, b| b.1.cmp(&a.1).then(a.0.cmp(b.0)));
    let (top, rare) = (products[0].0, products[400].0);
    let rules = [
        json!({"ordered_within_days": 30}),
        json!({"not": {"ordered_within_days": 90}}),
        json!({"orders": {"gte": 3}}),
        json!({"orders": {"in_last_days": 90, "lt": 2}}),
        json!({"orders": {"in_last_days": 180, "eq": 0}}),
        json!({"spent": {"in_last_days": 180, "between": [100, 1000]}}),
        json!({"spent": {"gt": 2000}}),
        json!({"spent": {"in_last_days": 30, "lte": 50}}),
        json!({"bought_product": {"product": top}}),
        json!({"any": [{"bought_product": {"product": rare, "in_last_days": 120}},
                       {"orders": {"eq": 1}}]}),
        json!({"all": [{"ordered_within_days": 90},
                       {"not": {"spent": {"in_last_days": 90, "lte": 200}}}]}),
    ];
    for rule in &rules {
        let members: Vec<&String> = customers
            .iter()
            .filter(|(_, lines)| meets(rule, lines, end))
            .map(|(id, _)| id)
            .collect();
        let got = json_ok(
            app.post_json("/v1/audiences/preview", &json!({"rule": rule}))
                .await,
        )
        .await;
        assert_eq!(got["of"], customers.len(), "{got}");
        assert_eq!(got["customers"], members.len(), "{rule}: {got}");
        assert!(
            !members.is_empty() && members.len() < customers.len(),
            "{rule} selects some: {}",
            members.len()
        );
        let sample: Vec<&String> = members.iter().take(20).copied().collect();
        assert_eq!(got["sample"], json!(sample), "{rule}");
        let as_of: DateTime<Utc> = got["orders_as_of"].as_str().unwrap().parse().unwrap();
        assert_eq!(as_of, end);
    }
    // Beside RFM's attributes (rfm_frequency: distinct counted orders, all time), and a rule
    // without an order condition, which reads no history.
    json_ok(
        app.client
            .post(app.url("/v1/rfm/refresh"))
            .send()
            .await
            .unwrap(),
    )
    .await;
    let both =
        json!({"all": [{"attribute": "rfm_frequency", "gte": 5}, {"ordered_within_days": 30}]});
    let same = json!({"all": [{"orders": {"gte": 5}}, {"ordered_within_days": 30}]});
    let want = customers.values().filter(|l| meets(&same, l, end)).count();
    let got = json_ok(
        app.post_json("/v1/audiences/preview", &json!({"rule": both}))
            .await,
    )
    .await;
    assert_eq!(got["customers"], want, "{got}");
    let got = json_ok(
        app.post_json(
            "/v1/audiences/preview",
            &json!({"rule": {"attribute": "rfm_frequency", "gte": 5}}),
        )
        .await,
    )
    .await;
    assert_eq!(got["orders_as_of"], Value::Null, "{got}");
}
