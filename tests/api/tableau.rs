//! Tableau's ways in: the `.hyper` extract `examples/tableau_hyper.py` writes from the flat
//! tables with a read key, read back with the Hyper API and compared with the API's answers.
//! (The live PostgreSQL connection: tests/api/report.rs; the REST/CSV pulls by active address:
//! tests/api/tables.rs and tests/api/active.rs.)

use crate::helpers::*;
use serde_json::{Value, json};
use std::process::Command;

fn python_ready() -> bool {
    Command::new(python())
        .args(["-c", "import tableauhyperapi, requests"])
        .output()
        .is_ok_and(|o| o.status.success())
}

/// Reads the extract back: each table's rows, as JSON.
const READ_BACK: &str = r#"
import json, sys
from tableauhyperapi import Connection, HyperProcess, Telemetry, TableName
out = {}
with HyperProcess(telemetry=Telemetry.DO_NOT_SEND_USAGE_DATA_TO_TABLEAU) as hyper:
    with Connection(hyper.endpoint, sys.argv[1]) as connection:
        for name in ["customers", "segments", "segment_features"]:
            table = TableName("Extract", name)
            columns = [c.name.unescaped for c in connection.catalog.get_table_definition(table).columns]
            rows = connection.execute_list_query(f"SELECT * FROM {table}")
            out[name] = [dict(zip(columns, [v if v is None or isinstance(v, (int, float, str)) else str(v) for v in r])) for r in rows]
print(json.dumps(out))
"#;

#[tokio::test]
#[ignore = "needs tableauhyperapi and requests (pip install -r examples/requirements.txt; SEGSTORE_PYTHON names that Python); run with --include-ignored"]
async fn the_hyper_extract_holds_what_the_api_answers() {
    assert!(
        python_ready(),
        "the example's requirements are missing from {}: `{}` (or set SEGSTORE_PYTHON to a \
         Python that has them)",
        python().display(),
        pip_install("-r examples/requirements.txt")
    );
    let app = spawn_app().await;
    let seg = mall_segmentation(&app).await;
    app.run_to_success(&seg).await;
    let created = app
        .post_json("/v1/keys", &json!({"name": "tableau", "scopes": ["read"]}))
        .await;
    assert_eq!(created.status(), 201);
    let created: Value = created.json().await.unwrap();
    let read_key = created["token"].as_str().unwrap().to_owned();
    let dir = tempfile::tempdir().unwrap();
    let extract = dir.path().join("segstore.hyper");
    let (address, out) = (app.address.clone(), extract.clone());
    let written = tokio::task::spawn_blocking(move || {
        Command::new(python())
            .arg(concat!(
                env!("CARGO_MANIFEST_DIR"),
                "/examples/tableau_hyper.py"
            ))
            .args(["--url", &address, "--segmentation", "Mall", "--out"])
            .arg(&out)
            .env("SEGSTORE_API_KEY", read_key)
            .output()
            .unwrap()
    })
    .await
    .unwrap();
    let stderr = String::from_utf8_lossy(&written.stderr);
    assert!(written.status.success(), "{stderr}");
    assert!(stderr.contains("Extract.customers: 200 rows"), "{stderr}");

    let read = Command::new(python())
        .args(["-c", READ_BACK])
        .arg(&extract)
        .output()
        .unwrap();
    assert!(
        read.status.success(),
        "{}",
        String::from_utf8_lossy(&read.stderr)
    );
    let tables: Value = serde_json::from_slice(&read.stdout).unwrap();

    // Customers: ids stay text, values and segments as the API gives them.
    let customers = tables["customers"].as_array().unwrap();
    assert_eq!(customers.len(), 200);
    let mall = mall_customers();
    let lookup = json_ok(
        app.get(&format!("/v1/segmentations/{seg}/customers/0042"))
            .await,
    )
    .await;
    for row in customers {
        let id = row["customer_id"].as_str().expect("a text id");
        let [age, income, score] = mall[id];
        assert_eq!(row["age"].as_f64(), Some(age), "{id}");
        assert_eq!(row["annual_income_k"].as_f64(), Some(income), "{id}");
        assert_eq!(row["spending_score"].as_f64(), Some(score), "{id}");
        if id == "0042" {
            assert_eq!(
                row["Mall segment_id"].as_i64(),
                lookup["current"]["segment_id"].as_i64()
            );
            assert_eq!(row["Mall segment_label"], lookup["current"]["label"]);
        }
    }
    assert!(customers.iter().any(|r| r["customer_id"] == "0042"));

    // Segments and their features, as the active run's profiles.
    let profiles = json_ok(
        app.get(&format!("/v1/segmentations/{seg}/active/segments"))
            .await,
    )
    .await;
    let segments = tables["segments"].as_array().unwrap();
    let api = profiles["segments"].as_array().unwrap();
    assert_eq!(segments.len(), api.len());
    for (row, s) in segments.iter().zip(api) {
        assert_eq!(row["segment_id"], s["segment_id"]);
        assert_eq!(row["label"], s["label"]);
        assert_eq!(row["size"], s["size"]);
        assert_eq!(row["share"], s["share"]);
        assert_eq!(row["centroid_spending_score"], s["centroid"][1]);
    }
    assert_eq!(
        tables["segment_features"].as_array().unwrap().len(),
        api.len() * 2
    );
}
