//! Generated spellings of every operation of the published document (a property test): each
//! character of a real path may be escaped (either hex case) or change case, segments may be
//! doubled, dotted, given `;` parameters, and the path may end in an escaped `?`, `#` or NUL.
//! Sent without a key or with a key lacking the operation's scope, no spelling is served,
//! and the store is unchanged afterwards. `SEGSTORE_ENCODING_CASES` sets how many are tried
//! (2,000 by default; `.ci/run` tries more).

use crate::spellings::{Target, raw, refused, state, target};
use proptest::prelude::*;
use proptest::test_runner::{Config, TestCaseError, TestRunner};
use segstore::domain::key::Scope;
use serde_json::Value;

/// An operation of the document with a scope, as a concrete path of the target's store.
struct Operation {
    method: String,
    path: String,
    scope: Scope,
    body: Option<(&'static str, &'static [u8])>,
}

fn operations(t: &Target) -> Vec<Operation> {
    let doc: Value = serde_json::from_str(include_str!("../../openapi/openapi.json")).unwrap();
    let mut found = Vec::new();
    for (template, item) in doc["paths"].as_object().unwrap() {
        for (method, op) in item.as_object().unwrap() {
            let Some(scope) = op["security"][0]["api_key"][0].as_str() else {
                continue;
            };
            let content = &op["requestBody"]["content"];
            let body: Option<(&str, &[u8])> = if content.get("application/json").is_some() {
                Some(("application/json", b"{}"))
            } else if content.get("text/csv").is_some() {
                Some(("text/csv", b"id,a\n1,2\n"))
            } else {
                None
            };
            found.push(Operation {
                method: method.to_uppercase(),
                path: concrete(template, t),
                scope: scope.parse().unwrap(),
                body,
            });
        }
    }
    found
}

/// The template with the target's real ids: a spelling that got through would act on them.
fn concrete(template: &str, t: &Target) -> String {
    let resource = template.split('/').nth(2).unwrap_or_default();
    let id = match resource {
        "customers" => "0001",
        "keys" => &t.spare_key,
        "runs" => &t.run,
        "segmentations" => &t.segmentation,
        "webhooks" => &t.webhook,
        _ => "age",
    };
    template
        .replace("{id}", id)
        .replace("{name}", "age")
        .replace("{a}", &t.run)
        .replace("{b}", &t.run)
        .replace("{customer_id}", "0001")
        .replace("{delivery_id}", "00000000-0000-4000-8000-000000000000")
}

/// One change to one character of the path.
fn respell(path: &str, changes: &[u8], tail: u8) -> String {
    let mut out = String::new();
    for (i, c) in path.chars().enumerate() {
        let change = changes.get(i).copied().unwrap_or(0);
        match (change, c) {
            (1, _) => out.push_str(&format!("%{:02X}", c as u32)),
            (2, _) => out.push_str(&format!("%{:02x}", c as u32)),
            (3, c) if c.is_ascii_alphabetic() => out.push(if c.is_ascii_lowercase() {
                c.to_ascii_uppercase()
            } else {
                c.to_ascii_lowercase()
            }),
            (4, '/') => out.push_str("//"),
            (5, '/') => out.push_str("/./"),
            (6, '/') => out.push_str("/x/../"),
            (7, '/') => out.push_str(";p=1/"),
            (8, '/') => out.push_str("/%2e/"),
            (9, '/') => out.push_str("%2F"),
            (10, '/') => out.push_str("%C0%AF"),
            _ => out.push(c),
        }
    }
    out.push_str(["", "/", "/.", ";", "%3F", "%23", "%00", "%2F", "/.."][usize::from(tail) % 9]);
    out
}

#[test]
fn no_generated_spelling_of_any_operation_gets_past_the_gate() {
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .unwrap();
    let t = runtime.block_on(target());
    let before = runtime.block_on(state(&t.app));
    let operations = operations(&t);
    assert!(operations.len() >= 40, "{}", operations.len());
    let cases = std::env::var("SEGSTORE_ENCODING_CASES")
        .ok()
        .and_then(|n| n.parse().ok())
        .unwrap_or(2_000);
    let mut runner = TestRunner::new(Config {
        cases,
        failure_persistence: None,
        ..Config::default()
    });
    let case = (
        0..operations.len(),
        prop::collection::vec(prop_oneof![6 => Just(0u8), 10 => 1u8..11], 0..96),
        any::<u8>(),
        any::<bool>(),
    );
    let outcome = runner.run(&case, |(op, changes, tail, keyed)| {
        let op = &operations[op];
        let target = respell(&op.path, &changes, tail);
        let key = keyed.then(|| t.without[&op.scope].as_str());
        let answer = runtime.block_on(raw(&t.app, &op.method, &target, key, op.body));
        if refused(&answer) {
            Ok(())
        } else {
            Err(TestCaseError::fail(format!(
                "{} {target} ({}) was answered {}",
                op.method,
                if keyed {
                    "key lacking the scope"
                } else {
                    "no key"
                },
                answer.text
            )))
        }
    });
    if let Err(e) = outcome {
        panic!("{e}");
    }
    assert_eq!(
        runtime.block_on(state(&t.app)),
        before,
        "a refused request changed the store"
    );
    runtime.block_on(async move { drop(t) });
}
