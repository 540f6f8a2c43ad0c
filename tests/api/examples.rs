//! The Streamlit example (`examples/streamlit_app.py`) against a live server: a Python script
//! imports it, runs its data-loading functions and renders the page headless.

use crate::helpers::{json_ok, pip_install, python, spawn_app};
use serde_json::json;
use std::process::Command;

/// Whether Python can import what the example needs.
fn python_ready() -> bool {
    Command::new(python())
        .args(["-c", "import streamlit, altair, pandas, requests"])
        .output()
        .is_ok_and(|o| o.status.success())
}

#[tokio::test]
#[ignore = "needs the example's Python packages: pip install -r examples/requirements.txt, SEGSTORE_PYTHON names that Python (run with --include-ignored)"]
async fn the_streamlit_example_reads_a_live_server() {
    // Run (`--include-ignored`) without its requirements, the test fails and says what to
    // install.
    assert!(
        python_ready(),
        "the example's requirements are missing from {}: `{}` (or set SEGSTORE_PYTHON to a \
         Python that has them)",
        python().display(),
        pip_install("-r examples/requirements.txt")
    );
    let app = spawn_app().await;
    app.import_mall().await;
    let segmentation = app
        .create_segmentation(json!({
            "name": "Income and spend",
            "config": {"features": ["annual_income_k", "spending_score"],
                       "algorithm": {"type": "kmeans", "k": "auto", "k_min": 2, "k_max": 10}}
        }))
        .await;
    let run = app.run_to_success(&segmentation).await;
    let id = run["id"].as_str().unwrap().to_owned();
    let list = json_ok(app.get(&format!("/v1/runs/{id}/segments")).await).await;
    let labels: Vec<&str> = list["segments"]
        .as_array()
        .unwrap()
        .iter()
        .map(|s| s["label"].as_str().unwrap())
        .collect();
    let (address, key) = (app.address.clone(), app.key.clone());
    let labels = serde_json::to_string(&labels).unwrap();
    let output = tokio::task::spawn_blocking(move || {
        Command::new(python())
            .arg(concat!(
                env!("CARGO_MANIFEST_DIR"),
                "/examples/test_streamlit_app.py"
            ))
            .env("SEGSTORE_URL", address)
            .env("SEGSTORE_API_KEY", key)
            .env("SEGSTORE_RUN", id)
            .env("SEGSTORE_LABELS", labels)
            .output()
            .unwrap()
    })
    .await
    .unwrap();
    let stdout = String::from_utf8_lossy(&output.stdout);
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert!(output.status.success(), "{stdout}\n{stderr}");
    assert!(stdout.contains("all checks passed"), "{stdout}\n{stderr}");
}
