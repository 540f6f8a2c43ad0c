//! The published contract, held to the server: a Python client generated from
//! `openapi/openapi.json` tells the README's story, and schemathesis finds no answer that
//! breaks the document. Both tools come from PyPI (`.ci/run` installs them); without them
//! these tests fail and say how to install them.

use crate::helpers::{MALL_CSV, empty_database};
use std::path::Path;
use std::process::Command;

const ROOT: &str = env!("CARGO_MANIFEST_DIR");

/// Runs a tool, or fails saying how to install it.
fn tool(program: &str, args: &[&str], install: &str) -> std::process::Output {
    Command::new(program)
        .args(args)
        .output()
        .unwrap_or_else(|e| panic!("{program} could not run ({e}): install it with `{install}`"))
}

fn assert_ran(what: &str, out: &std::process::Output) {
    assert!(
        out.status.success(),
        "{what} failed:\n{}\n{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
}

#[tokio::test]
async fn a_generated_python_client_tells_the_readme_story() {
    let generated = tempfile::tempdir().unwrap();
    let package = generated.path().join("segstore_client");
    let spec = Path::new(ROOT).join("openapi/openapi.json");
    let config = Path::new(ROOT).join("openapi/python-client.yaml");
    let out = tool(
        "openapi-python-client",
        &[
            "generate",
            "--path",
            spec.to_str().unwrap(),
            "--config",
            config.to_str().unwrap(),
            "--meta",
            "none",
            "--output-path",
            package.to_str().unwrap(),
        ],
        "python3 -m pip install openapi-python-client",
    );
    assert_ran("openapi-python-client generate", &out);
    let log = String::from_utf8_lossy(&out.stdout);
    // Every operation is generated: nothing left out for an unsupported body or answer.
    assert!(!log.contains("will not be generated"), "{log}");
    assert!(!log.contains("response will be omitted"), "{log}");

    let db = empty_database().await;
    let served = crate::process::serve_with(&db.url, &[("SEGSTORE_RUN_POLL_MS", "100")]).await;
    let story = Path::new(ROOT).join("tests/client/story.py");
    let out = tokio::process::Command::new("python3")
        .arg(story)
        .arg(&served.base)
        .arg(generated.path())
        .arg(MALL_CSV)
        .output()
        .await
        .expect("python3 runs");
    assert_ran("the generated client's story", &out);
}
