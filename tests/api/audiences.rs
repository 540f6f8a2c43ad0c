//! Audience previews: rules over the Mall customers' attributes and a learned segmentation,
//! against a reference evaluated here in memory from the fixture and the run's assignments;
//! and every way a rule is refused, naming its path, with nothing written.

use crate::helpers::{TestApp, assert_problem, json_ok, mall_segmentation, spawn_app};
use serde_json::{Value, json};
use std::collections::{BTreeMap, HashMap};

/// A customer as the reference sees it: attribute values by name (absent: no value), and the
/// stable segment of the active run.
struct Row {
    numeric: HashMap<&'static str, f64>,
    gender: Option<String>,
    segment: Option<i32>,
}

fn customers(assigned: &HashMap<String, i32>) -> BTreeMap<String, Row> {
    let text = std::fs::read_to_string(concat!(
        env!("CARGO_MANIFEST_DIR"),
        "/tests/fixtures/Mall_Customers.csv"
    ))
    .unwrap();
    let mut rows: BTreeMap<String, Row> = text
        .lines()
        .skip(1)
        .map(|line| {
            let f: Vec<&str> = line.split(',').collect();
            let numeric = ["age", "annual_income_k", "spending_score"]
                .into_iter()
                .zip(&f[2..5])
                .map(|(name, v)| (name, v.parse().unwrap()))
                .collect();
            let row = Row {
                numeric,
                gender: Some(f[1].to_owned()),
                segment: assigned.get(f[0]).copied(),
            };
            (f[0].to_owned(), row)
        })
        .collect();
    // Imported after the run: an age only, and nothing at all.
    rows.insert(
        "x1".into(),
        Row {
            numeric: HashMap::from([("age", 35.0)]),
            gender: None,
            segment: None,
        },
    );
    rows.insert(
        "x2".into(),
        Row {
            numeric: HashMap::new(),
            gender: None,
            segment: None,
        },
    );
    rows
}

/// The reference: the rule evaluated on one customer.
fn meets(rule: &Value, row: &Row) -> bool {
    let rule = rule.as_object().unwrap();
    if let Some(all) = rule.get("all") {
        return all.as_array().unwrap().iter().all(|r| meets(r, row));
    }
    if let Some(any) = rule.get("any") {
        return any.as_array().unwrap().iter().any(|r| meets(r, row));
    }
    if let Some(not) = rule.get("not") {
        return !meets(not, row);
    }
    if let Some(segment) = rule.get("segment") {
        let wanted: Vec<i64> = segment["in"]
            .as_array()
            .unwrap()
            .iter()
            .map(|s| s.as_i64().unwrap())
            .collect();
        return row.segment.is_some_and(|s| wanted.contains(&(s as i64)));
    }
    let name = rule["attribute"].as_str().unwrap();
    let (op, arg) = rule.iter().find(|(k, _)| *k != "attribute").unwrap();
    if name == "gender" {
        let value = row.gender.as_deref();
        let list = |v: &Value| -> Vec<String> {
            v.as_array()
                .unwrap()
                .iter()
                .map(|s| s.as_str().unwrap().to_owned())
                .collect()
        };
        return match op.as_str() {
            "in" => value.is_some_and(|v| list(arg).iter().any(|l| l == v)),
            "not_in" => value.is_some_and(|v| list(arg).iter().all(|l| l != v)),
            "is_null" => value.is_none() == arg.as_bool().unwrap(),
            other => panic!("{other}"),
        };
    }
    let value = row.numeric.get(name).copied();
    if op == "is_null" {
        return value.is_none() == arg.as_bool().unwrap();
    }
    value.is_some_and(|v| compares(op, arg, v))
}

/// The reference for a numeric operator: whether `x` meets `op` with argument `arg`.
pub fn compares(op: &str, arg: &Value, x: f64) -> bool {
    match op {
        "eq" => x == arg.as_f64().unwrap(),
        "lt" => x < arg.as_f64().unwrap(),
        "lte" => x <= arg.as_f64().unwrap(),
        "gt" => x > arg.as_f64().unwrap(),
        "gte" => x >= arg.as_f64().unwrap(),
        "between" => x >= arg[0].as_f64().unwrap() && x <= arg[1].as_f64().unwrap(),
        other => panic!("{other}"),
    }
}

async fn preview(app: &TestApp, body: Value) -> reqwest::Response {
    app.post_json("/v1/audiences/preview", &body).await
}

/// The Mall customers, a trained segmentation of them, and two customers imported after it.
async fn store() -> (TestApp, String, HashMap<String, i32>) {
    let app = spawn_app().await;
    let segmentation = mall_segmentation(&app).await;
    let run = app.run_to_success(&segmentation).await;
    let assigned: Vec<(String, i32)> =
        sqlx::query_as("SELECT external_id, segment FROM assignments WHERE run_id = $1::uuid")
            .bind(run["id"].as_str().unwrap())
            .fetch_all(&app.pool)
            .await
            .unwrap();
    json_ok(
        app.upsert(json!([{"id": "x1", "attributes": {"age": 35}}, {"id": "x2"}]))
            .await,
    )
    .await;
    (app, segmentation, assigned.into_iter().collect())
}

#[tokio::test]
async fn previews_equal_the_rules_evaluated_in_memory() {
    let (app, segmentation, assigned) = store().await;
    let rows = customers(&assigned);
    let mut segments: Vec<i32> = assigned.values().copied().collect();
    segments.sort();
    segments.dedup();
    assert_eq!(segments.len(), 5);
    let (s0, s1) = (segments[0], segments[1]);
    let in_segments = |ids: &[i32]| json!({"segment": {"segmentation": segmentation, "in": ids}});
    let rules = [
        json!({"attribute": "annual_income_k", "gte": 70}),
        json!({"all": [{"attribute": "annual_income_k", "gte": 70},
                       {"attribute": "gender", "in": ["Female"]}]}),
        json!({"any": [{"attribute": "age", "lt": 25}, {"attribute": "spending_score", "gt": 90}]}),
        json!({"not": {"attribute": "spending_score", "lte": 40}}),
        json!({"attribute": "age", "between": [30, 40]}),
        json!({"attribute": "age", "eq": 35}),
        json!({"attribute": "annual_income_k", "lte": 20}),
        json!({"attribute": "gender", "not_in": ["Male"]}),
        json!({"attribute": "spending_score", "is_null": true}),
        json!({"attribute": "gender", "is_null": false}),
        json!({"not": {"attribute": "age", "is_null": false}}),
        in_segments(&[s0, s1]),
        json!({"all": [in_segments(&[s1]), {"not": {"attribute": "gender", "in": ["Male"]}}]}),
        json!({"any": [
            {"all": [{"attribute": "age", "gte": 50}, {"attribute": "spending_score", "lt": 50}]},
            {"not": {"any": [{"attribute": "age", "gte": 20}, {"attribute": "gender", "in": ["Female"]}]}},
            in_segments(&[segments[4]])
        ]}),
    ];
    let mut sizes = Vec::new();
    for rule in &rules {
        let members: Vec<&String> = rows
            .iter()
            .filter(|(_, row)| meets(rule, row))
            .map(|(id, _)| id)
            .collect();
        let got = json_ok(preview(&app, json!({"rule": rule})).await).await;
        assert_eq!(got["customers"], members.len(), "{rule}: {got}");
        assert_eq!(got["of"], 202);
        assert_eq!(got["share"], members.len() as f64 / 202.0);
        let sample: Vec<&String> = members.iter().take(20).copied().collect();
        assert_eq!(got["sample"], json!(sample), "{rule}");
        assert_eq!(got["breakdown"], Value::Null);
        sizes.push(members.len());
    }
    // The rules are not trivial: each selects some customers and leaves others.
    assert!(sizes.iter().all(|&n| n > 0 && n < 202), "{sizes:?}");

    // By the segments of the segmentation: the unassigned (imported since the run) last.
    let rule = &rules[3];
    let got =
        json_ok(preview(&app, json!({"rule": rule, "breakdown_by": segmentation})).await).await;
    let mut want: BTreeMap<Option<i32>, usize> = BTreeMap::new();
    for row in rows.values().filter(|row| meets(rule, row)) {
        *want.entry(row.segment).or_default() += 1;
    }
    let mut want: Vec<Value> = want
        .into_iter()
        .map(|(segment, n)| json!({"segment": segment, "customers": n}))
        .collect();
    want.rotate_left(1); // None sorts first here, last in the answer.
    assert_eq!(got["breakdown"]["segmentation"], json!(segmentation));
    assert_eq!(got["breakdown"]["segments"], json!(want), "{got}");
    let run_id: String = sqlx::query_scalar(
        "SELECT active_run_id::text FROM segmentations WHERE segmentation_id = $1::uuid",
    )
    .bind(&segmentation)
    .fetch_one(&app.pool)
    .await
    .unwrap();
    assert_eq!(got["breakdown"]["run_id"], json!(run_id));
}

#[tokio::test]
async fn rules_that_do_not_parse_or_resolve_are_422s_naming_their_path_and_write_nothing() {
    let (app, segmentation, assigned) = store().await;
    let known = *assigned.values().min().unwrap();
    let before = app.fingerprint().await;
    let unknown = "00000000-0000-4000-8000-000000000000";
    let deep = (0..9).fold(
        json!({"attribute": "age", "gt": 1}),
        |r, _| json!({"not": r}),
    );
    let many: Vec<Value> = (0..65)
        .map(|i| json!({"attribute": "age", "gt": i}))
        .collect();
    for (rule, field, needle) in [
        (
            json!({"all": [{"attribute": "age", "gt": 1}, {"attribute": "height", "gt": 1}]}),
            "rule.all[1].attribute",
            "no attribute `height`",
        ),
        (
            json!({"attribute": "gender", "gte": 3}),
            "rule.gte",
            "`gender` is categorical",
        ),
        (
            json!({"attribute": "age", "in": ["30"]}),
            "rule.in",
            "`age` is numeric",
        ),
        (
            json!({"attribute": "age", "gte": "old"}),
            "rule.gte",
            "invalid type",
        ),
        (
            json!({"attribute": "age", "gtee": 3}),
            "rule.gtee",
            "unknown key `gtee`",
        ),
        (
            json!({"attribute": "age", "gte": 1, "lt": 3}),
            "rule.lt",
            "one operator per condition",
        ),
        (json!({"attribute": "age"}), "rule", "needs an operator"),
        (json!({"gte": 3}), "rule", "needs the `attribute`"),
        (json!({"all": []}), "rule.all", "at least one rule"),
        (
            json!({"attribute": "age", "between": [40, 30]}),
            "rule.between",
            "low to high",
        ),
        (
            json!({"attribute": "age", "between": [40]}),
            "rule.between",
            "invalid length",
        ),
        (
            json!({"attribute": "gender", "in": []}),
            "rule.in",
            "from 1 to 1000 values",
        ),
        (
            json!({"not": {"all": [{"attribute": "age", "gt": 1}], "any": []}}),
            "rule.not.any",
            "stand alone",
        ),
        (
            json!({"any": [{"segment": {"segmentation": unknown, "in": [1]}}]}),
            "rule.any[0].segment.segmentation",
            "no segmentation",
        ),
        (
            json!({"segment": {"segmentation": segmentation, "in": [known, 999]}}),
            "rule.segment.in[1]",
            "no segment 999",
        ),
        (
            json!({"segment": {"segmentation": "x", "in": [1]}}),
            "rule.segment.segmentation",
            "UUID",
        ),
        (
            json!({"ordered_within_days": 0}),
            "rule.ordered_within_days",
            "1 to 36500 days",
        ),
        (
            json!({"orders": {"gte": 1, "lt": 3}}),
            "rule.orders",
            "one operator per condition",
        ),
        (
            json!({"orders": {"in_last_days": 30}}),
            "rule.orders",
            "one operator",
        ),
        (
            json!({"spent": {"over": 3}}),
            "rule.spent.over",
            "unknown field",
        ),
        (
            json!({"bought_product": {"product": ""}}),
            "rule.bought_product",
            "1 to 200 characters",
        ),
        (
            json!({"ordered_within_days": 30, "attribute": "age"}),
            "rule.attribute",
            "stand alone",
        ),
        (deep, "rule", "nested at most 8 deep"),
        (json!({"any": many}), "rule", "at most 64 conditions"),
    ] {
        let problem = assert_problem(preview(&app, json!({"rule": rule})).await, 422, needle).await;
        assert_eq!(problem["errors"][0]["field"], field, "{rule}: {problem}");
    }
    let problem = assert_problem(
        preview(
            &app,
            json!({"rule": {"attribute": "age", "gt": 1}, "breakdown_by": unknown}),
        )
        .await,
        422,
        "no segmentation",
    )
    .await;
    assert_eq!(problem["errors"][0]["field"], "breakdown_by");
    assert_problem(preview(&app, json!({})).await, 422, "rule").await;
    assert_eq!(app.fingerprint().await, before);
}

/// A small seeded generator (xorshift64*), for reproducible random rules.
struct Random(u64);

impl Random {
    fn next(&mut self) -> u64 {
        self.0 ^= self.0 >> 12;
        self.0 ^= self.0 << 25;
        self.0 ^= self.0 >> 27;
        self.0.wrapping_mul(0x2545_F491_4F6C_DD1D)
    }

    fn below(&mut self, n: u64) -> u64 {
        self.next() % n
    }

    fn rule(&mut self, depth: u32, segmentation: &str, segments: &[i32]) -> Value {
        let node = if depth == 0 { 3 } else { self.below(6) };
        match node {
            0 | 1 => {
                let rules: Vec<Value> = (0..1 + self.below(3))
                    .map(|_| self.rule(depth - 1, segmentation, segments))
                    .collect();
                if node == 0 {
                    json!({ "all": rules })
                } else {
                    json!({ "any": rules })
                }
            }
            2 => json!({"not": self.rule(depth - 1, segmentation, segments)}),
            _ => self.condition(segmentation, segments),
        }
    }

    fn condition(&mut self, segmentation: &str, segments: &[i32]) -> Value {
        let numeric = ["age", "annual_income_k", "spending_score"];
        match self.below(10) {
            0..=5 => {
                let name = numeric[self.below(3) as usize];
                let x = (15 + self.below(80)) as f64;
                match self.below(6) {
                    0 => json!({"attribute": name, "eq": x}),
                    1 => json!({"attribute": name, "lt": x}),
                    2 => json!({"attribute": name, "lte": x}),
                    3 => json!({"attribute": name, "gt": x}),
                    4 => json!({"attribute": name, "gte": x}),
                    _ => json!({"attribute": name, "between": [x, x + self.below(30) as f64]}),
                }
            }
            6 => {
                let values = [
                    ["Male"].as_slice(),
                    &["Female"],
                    &["Female", "Male"],
                    &["Other"],
                ][self.below(4) as usize];
                let op = if self.below(2) == 0 { "in" } else { "not_in" };
                json!({"attribute": "gender", op: values})
            }
            7 => {
                let name = ["age", "gender", "spending_score"][self.below(3) as usize];
                json!({"attribute": name, "is_null": self.below(2) == 0})
            }
            _ => {
                let chosen: Vec<i32> = segments
                    .iter()
                    .copied()
                    .filter(|_| self.below(2) == 0)
                    .collect();
                let chosen = if chosen.is_empty() {
                    vec![segments[0]]
                } else {
                    chosen
                };
                json!({"segment": {"segmentation": segmentation, "in": chosen}})
            }
        }
    }
}

#[tokio::test]
async fn random_rules_select_what_the_in_memory_evaluator_selects() {
    let (app, segmentation, assigned) = store().await;
    let rows = customers(&assigned);
    let mut segments: Vec<i32> = assigned.values().copied().collect();
    segments.sort();
    segments.dedup();
    let mut random = Random(0x5EED_0A0D_1E4C_E001);
    for _ in 0..60 {
        let rule = random.rule(3, &segmentation, &segments);
        let members: Vec<&String> = rows
            .iter()
            .filter(|(_, row)| meets(&rule, row))
            .map(|(id, _)| id)
            .collect();
        let got = json_ok(preview(&app, json!({ "rule": rule })).await).await;
        assert_eq!(got["customers"], members.len(), "{rule}");
        let sample: Vec<&String> = members.iter().take(20).copied().collect();
        assert_eq!(got["sample"], json!(sample), "{rule}");
    }
}
