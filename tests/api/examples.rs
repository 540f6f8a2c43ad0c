//! The Streamlit example (`examples/streamlit_app.py`) against a live server: a Python script
//! imports it, runs its data-loading functions and renders the page headless.

use crate::dashboard::{Browser, Driver};
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
#[ignore = "needs the example's Python packages (pip install -r examples/requirements.txt, SEGSTORE_PYTHON names that Python) and Chromium with chromedriver for its screenshot (apt install chromium chromium-driver); run with --include-ignored"]
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

    // The page in a browser, as `streamlit run` serves it: kept as a screenshot.
    let driver = Driver::required().await;
    let port = std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port();
    let mut streamlit = tokio::process::Command::new(python())
        .args(["-m", "streamlit", "run"])
        .arg(concat!(
            env!("CARGO_MANIFEST_DIR"),
            "/examples/streamlit_app.py"
        ))
        .args([
            "--server.headless",
            "true",
            "--browser.gatherUsageStats",
            "false",
        ])
        .arg(format!("--server.port={port}"))
        .env("SEGSTORE_URL", &app.address)
        .env("SEGSTORE_API_KEY", &app.key)
        .stdout(std::process::Stdio::null())
        .stderr(std::process::Stdio::null())
        .kill_on_drop(true)
        .spawn()
        .expect("streamlit starts");
    let page = format!("http://127.0.0.1:{port}/");
    let started = std::time::Instant::now();
    while reqwest::get(&page).await.is_err() {
        assert!(
            started.elapsed() < std::time::Duration::from_secs(60),
            "streamlit did not answer on {page}"
        );
        tokio::time::sleep(std::time::Duration::from_millis(300)).await;
    }
    let browser = Browser::open(&driver).await;
    browser.resize(1400, 2400).await;
    browser.go(&page).await;
    browser
        .wait_for(
            "the four charts drawn and the script finished",
            "return document.querySelectorAll('[data-testid=\"stVegaLiteChart\"] canvas, \
             [data-testid=\"stVegaLiteChart\"] svg.marks').length >= 4 && \
             !document.querySelector('[data-testid=\"stException\"]') && \
             document.body.innerText.includes('Income and spend: 5 segments')",
        )
        .await;
    // Vega draws after the data arrive.
    tokio::time::sleep(std::time::Duration::from_secs(2)).await;
    browser.keep("streamlit-1400").await;
    browser.close().await;
    streamlit.kill().await.ok();
}
