//! Rows written by an earlier segstore still read: `tests/fixtures/runs_v1.json` holds the
//! segmentations, runs and segment profiles that the server at commit b59ad4e wrote (a
//! Gaussian mixture retrained twice, and a failed run), and what it answered for them. Loaded
//! into a new database, they must give the same answers.

use crate::helpers::{json_ok, spawn_app_with, test_jobs};
use segstore::jobs::JobSettings;
use serde_json::{Value, json};

/// `got` answers at least what `want` did: every member `want` has, with the same value
/// (arrays element by element; numbers to 1e-12 relative, as a stored mixture scored by the
/// mixture code of today differs in the last bit). Members added since (new fields with their
/// defaults, such as a mixture's `covariance` or the elbow's `sweep_rows`) are allowed: an
/// additive change.
fn assert_answers_as_before(got: &Value, want: &Value, at: &str) {
    match (got, want) {
        (Value::Object(g), Value::Object(w)) => {
            for (key, value) in w {
                let here = format!("{at}.{key}");
                let got = g.get(key).unwrap_or_else(|| panic!("{here} is gone"));
                assert_answers_as_before(got, value, &here);
            }
        }
        (Value::Array(g), Value::Array(w)) => {
            assert_eq!(g.len(), w.len(), "{at}: length");
            for (i, (g, w)) in g.iter().zip(w).enumerate() {
                assert_answers_as_before(g, w, &format!("{at}[{i}]"));
            }
        }
        (Value::Number(g), Value::Number(w)) => {
            let (g, w) = (g.as_f64().unwrap(), w.as_f64().unwrap());
            assert!(
                g == w || (g - w).abs() <= 1e-12 * w.abs(),
                "{at}: {g} against {w}"
            );
        }
        _ => assert_eq!(got, want, "{at}"),
    }
}

fn fixture() -> Value {
    serde_json::from_str(
        &std::fs::read_to_string(concat!(
            env!("CARGO_MANIFEST_DIR"),
            "/tests/fixtures/runs_v1.json"
        ))
        .unwrap(),
    )
    .unwrap()
}

async fn insert(pool: &sqlx::PgPool, table: &str, row: &Value) {
    let columns: Vec<&str> = row
        .as_object()
        .unwrap()
        .keys()
        .map(String::as_str)
        .collect();
    let columns = columns.join(", ");
    sqlx::query(sqlx::AssertSqlSafe(format!(
        "INSERT INTO {table} ({columns}) OVERRIDING SYSTEM VALUE SELECT {columns} FROM jsonb_populate_record(NULL::{table}, $1)"
    )))
    .bind(row)
    .execute(pool)
    .await
    .unwrap_or_else(|e| panic!("{table}: {e}"));
}

#[tokio::test]
async fn runs_stored_by_the_previous_version_read_as_they_did() {
    let app = spawn_app_with(JobSettings {
        workers: 0,
        ..test_jobs()
    })
    .await;
    app.import_mall().await;
    let fixture = fixture();
    for s in fixture["segmentations"].as_array().unwrap() {
        let mut row = s.clone();
        row["active_run_id"] = Value::Null;
        insert(&app.pool, "segmentations", &row).await;
    }
    for r in fixture["runs"].as_array().unwrap() {
        insert(&app.pool, "runs", r).await;
    }
    for s in fixture["run_segments"].as_array().unwrap() {
        insert(&app.pool, "run_segments", s).await;
    }
    for s in fixture["segmentations"].as_array().unwrap() {
        sqlx::query(
            "UPDATE segmentations SET active_run_id = $2::uuid WHERE segmentation_id = $1::uuid",
        )
        .bind(s["segmentation_id"].as_str().unwrap())
        .bind(s["active_run_id"].as_str())
        .execute(&app.pool)
        .await
        .unwrap();
    }

    let answers = fixture["answers"].as_object().unwrap();
    assert_eq!(answers.len(), 3);
    for (run, want) in answers {
        let got = json_ok(app.get(&format!("/v1/runs/{run}")).await).await;
        assert_answers_as_before(&got, &want["run"], &format!("run {run}"));
        if want["run"]["params"]["algorithm"]["type"] == "gmm" {
            // Mixtures fitted before the option had full covariances, and say so now.
            assert_eq!(
                got["params"]["algorithm"]["covariance"], "full",
                "run {run}"
            );
        }
        for (key, path) in [("segments", "segments"), ("elbow", "elbow")] {
            if let Some(want) = want.get(key) {
                let got = json_ok(app.get(&format!("/v1/runs/{run}/{path}")).await).await;
                assert_answers_as_before(&got, want, &format!("{path} of {run}"));
            }
        }
    }
    for (segmentation, want) in fixture["score"].as_object().unwrap() {
        let body = json!({"customers": [
            {"id": "p", "attributes": {"annual_income_k": 120, "spending_score": 90}},
            {"attributes": {"annual_income_k": 16, "spending_score": 80}}
        ]});
        let got = json_ok(
            app.post_json(&format!("/v1/segmentations/{segmentation}/score"), &body)
                .await,
        )
        .await;
        assert_answers_as_before(&got, want, &format!("score of {segmentation}"));
    }
}
