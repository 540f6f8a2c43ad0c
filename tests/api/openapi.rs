use crate::helpers::spawn_app;

const COMMITTED: &str = concat!(env!("CARGO_MANIFEST_DIR"), "/openapi/openapi.json");

fn committed() -> String {
    std::fs::read_to_string(COMMITTED).unwrap_or_default()
}

/// The committed spec is what the code generates. `UPDATE_OPENAPI=1 cargo test openapi`
/// rewrites it when it differs, and still fails that run: the new file is there to review
/// and commit, and a run passes only when the file on disk already was the code's.
#[test]
fn committed_openapi_matches_the_code() {
    let generated = segstore::http::openapi_json();
    let committed = committed();
    if committed != generated && std::env::var_os("UPDATE_OPENAPI").is_some() {
        std::fs::write(COMMITTED, &generated).unwrap();
        panic!(
            "openapi/openapi.json was out of date and has been rewritten: review the diff and commit it"
        );
    }
    assert!(
        committed == generated,
        "openapi/openapi.json is out of date with the code: regenerate it with \
         `UPDATE_OPENAPI=1 cargo test openapi` (or `cargo run -- openapi > openapi/openapi.json`) and commit it"
    );
}

#[tokio::test]
async fn the_served_spec_is_the_committed_one_and_docs_work_offline() {
    let app = spawn_app().await;
    let served: serde_json::Value = app.get("/openapi.json").await.json().await.unwrap();
    let committed: serde_json::Value = serde_json::from_str(&committed()).unwrap();
    assert_eq!(served, committed);
    assert_eq!(served["openapi"].as_str().map(|v| &v[..2]), Some("3."));
    for path in [
        "/v1/customers",
        "/v1/customers/import",
        "/v1/customers/{id}",
        "/v1/attributes",
        "/healthz",
        "/readyz",
    ] {
        assert!(served["paths"].get(path).is_some(), "{path} is documented");
    }

    let docs = app.get("/docs/").await;
    assert_eq!(docs.status().as_u16(), 200);
    let html = docs.text().await.unwrap();
    assert!(html.contains("swagger-ui"), "{html}");
    assert!(
        !html.contains("cdn") && !html.contains("unpkg"),
        "nothing from a CDN"
    );
    let redirect = reqwest::Client::builder()
        .redirect(reqwest::redirect::Policy::none())
        .build()
        .unwrap()
        .get(app.url("/docs"))
        .send()
        .await
        .unwrap();
    assert_eq!(redirect.headers()["location"], "/docs/");
}

/// Generated clients turn the summary into a method's first line and the description into
/// its documentation: every operation has both.
#[test]
fn every_operation_has_a_summary_and_a_description() {
    let doc = serde_json::to_value(segstore::http::openapi()).unwrap();
    let mut missing = Vec::new();
    for (path, item) in doc["paths"].as_object().unwrap() {
        for (method, operation) in item.as_object().unwrap() {
            for field in ["summary", "description", "operationId"] {
                if operation[field]
                    .as_str()
                    .is_none_or(|s| s.trim().is_empty())
                {
                    missing.push(format!("{method} {path}: {field}"));
                }
            }
        }
    }
    assert!(missing.is_empty(), "{missing:#?}");
}

/// Every `$ref` points at a schema the document declares (an enum used only as a query
/// parameter is easy to leave out of `components`; validators refuse the whole document).
#[test]
fn every_reference_resolves() {
    fn walk(value: &serde_json::Value, doc: &serde_json::Value, dangling: &mut Vec<String>) {
        match value {
            serde_json::Value::Object(map) => {
                if let Some(target) = map.get("$ref").and_then(|r| r.as_str()) {
                    let pointer = target.trim_start_matches('#');
                    if doc.pointer(pointer).is_none() {
                        dangling.push(target.to_owned());
                    }
                }
                map.values().for_each(|v| walk(v, doc, dangling));
            }
            serde_json::Value::Array(items) => items.iter().for_each(|v| walk(v, doc, dangling)),
            _ => {}
        }
    }
    let doc = serde_json::to_value(segstore::http::openapi()).unwrap();
    let mut dangling = Vec::new();
    walk(&doc, &doc, &mut dangling);
    assert!(dangling.is_empty(), "references to nothing: {dangling:?}");
}

/// `docs/segmentations.md` documents every setting the document has: each field of a
/// segmentation, of its configuration and of its drift thresholds in a table row, and each
/// algorithm in a section of its own listing its fields.
#[test]
fn the_segmentation_reference_documents_every_setting() {
    let root = env!("CARGO_MANIFEST_DIR");
    let document: serde_json::Value = serde_json::from_str(
        &std::fs::read_to_string(format!("{root}/openapi/openapi.json")).unwrap(),
    )
    .unwrap();
    let doc = std::fs::read_to_string(format!("{root}/docs/segmentations.md")).unwrap();
    let schemas = &document["components"]["schemas"];
    let fields = |schema: &serde_json::Value| -> Vec<String> {
        schema["properties"]
            .as_object()
            .unwrap()
            .keys()
            .cloned()
            .collect()
    };
    let rows: Vec<&str> = doc.lines().filter(|l| l.starts_with("| `")).collect();
    let mut missing = Vec::new();
    for schema in ["CreateSegmentation", "SegmentationConfig", "DriftPolicy"] {
        for field in fields(&schemas[schema]) {
            let cell = format!("| `{field}` |");
            if !rows.iter().any(|r| r.starts_with(&cell)) {
                missing.push(format!("{schema}.{field}"));
            }
        }
    }
    let algorithms = schemas["AlgorithmConfig"]["oneOf"].as_array().unwrap();
    assert_eq!(algorithms.len(), 7);
    for algorithm in algorithms {
        let name = algorithm["properties"]["type"]["enum"][0].as_str().unwrap();
        let heading = format!("\n## `{name}`\n");
        let Some(start) = doc.find(&heading) else {
            missing.push(format!("the section `{name}`"));
            continue;
        };
        let section = &doc[start + heading.len()..];
        let section = &section[..section.find("\n## ").unwrap_or(section.len())];
        // The first cells of the section's table: `| `k`, `k_min`, `k_max`, `k_rule` |`.
        let first_cells: Vec<&str> = section
            .lines()
            .filter_map(|l| l.strip_prefix("| ")?.split(" |").next())
            .collect();
        for field in fields(algorithm).into_iter().filter(|f| f != "type") {
            let named = format!("`{field}`");
            if !first_cells.iter().any(|cell| cell.contains(&named)) {
                missing.push(format!("{name}.{field}"));
            }
        }
    }
    assert!(
        missing.is_empty(),
        "not in docs/segmentations.md: {missing:?}"
    );
}
