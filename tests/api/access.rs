//! Who may call what: every operation of the published document, without a key, with a key
//! lacking its scope and with a key holding only its scope; keys created, listed, revoked and
//! expired on two replicas; rate limits; the audit log.

use crate::helpers::*;
use reqwest::{Method, StatusCode};
use segstore::domain::key::{Scope, Scopes};
use serde_json::{Value, json};
use std::collections::HashMap;
use std::time::Duration;

/// Every operation of the committed document: (method, path template, scope, has JSON body).
fn operations() -> Vec<(Method, String, Option<String>, Value)> {
    let doc: Value = serde_json::from_str(include_str!("../../openapi/openapi.json")).unwrap();
    let mut found = Vec::new();
    for (path, item) in doc["paths"].as_object().unwrap() {
        for (method, op) in item.as_object().unwrap() {
            let scopes = op["security"][0]["api_key"].as_array().cloned();
            let scope = scopes.map(|s| {
                assert_eq!(s.len(), 1, "{method} {path} names one scope: {s:?}");
                s[0].as_str().unwrap().to_owned()
            });
            found.push((
                Method::from_bytes(method.to_uppercase().as_bytes()).unwrap(),
                path.clone(),
                scope,
                op.clone(),
            ));
        }
    }
    found
}

/// A concrete path for a template: ids that exist nowhere (the call is refused before or
/// answered 404/422 after; what matters is that it is not 401/403 with the right key).
fn concrete(template: &str, op: &Value) -> String {
    let mut path = template.to_owned();
    for p in op["parameters"].as_array().into_iter().flatten() {
        if p["in"] != "path" {
            continue;
        }
        let name = p["name"].as_str().unwrap();
        let value = if p["schema"]["format"] == "uuid" || matches!(name, "a" | "b") {
            uuid::Uuid::new_v4().to_string()
        } else if name == "name" {
            "age".to_owned()
        } else {
            "0001".to_owned()
        };
        path = path.replace(&format!("{{{name}}}"), &value);
    }
    path
}

fn request(
    client: &reqwest::Client,
    app: &TestApp,
    method: &Method,
    path: &str,
    op: &Value,
) -> reqwest::RequestBuilder {
    let builder = client.request(method.clone(), app.url(path));
    let content = &op["requestBody"]["content"];
    if content.get("application/json").is_some() {
        builder.json(&json!({}))
    } else if content.get("text/csv").is_some() {
        builder
            .header("content-type", "text/csv")
            .body("id,a\n1,2\n")
    } else {
        builder
    }
}

#[tokio::test]
async fn every_operation_needs_a_key_with_its_scope_and_no_more() {
    let app = spawn_app().await;
    let anonymous = reqwest::Client::new();
    let mut without = HashMap::new();
    let mut only = HashMap::new();
    for scope in Scope::ALL {
        let others = Scopes::new(Scope::ALL.into_iter().filter(|s| *s != scope)).unwrap();
        let key = create_key(&app.pool, &format!("all but {scope}"), others).await;
        without.insert(scope.as_str().to_owned(), client_with_key(&key));
        let key = create_key(
            &app.pool,
            &format!("only {scope}"),
            Scopes::new([scope]).unwrap(),
        )
        .await;
        only.insert(scope.as_str().to_owned(), client_with_key(&key));
    }
    let operations = operations();
    assert!(operations.len() >= 38, "{}", operations.len());
    for (method, template, scope, op) in operations {
        let path = concrete(&template, &op);
        let Some(scope) = scope else {
            assert!(
                template == "/healthz" || template == "/readyz",
                "{method} {template} declares no scope"
            );
            let open = request(&anonymous, &app, &method, &path, &op)
                .send()
                .await
                .unwrap();
            assert_eq!(open.status(), 200, "{method} {template} is open");
            continue;
        };
        let what = format!("{method} {template}");
        // No key: 401, with the challenge.
        let response = request(&anonymous, &app, &method, &path, &op)
            .send()
            .await
            .unwrap();
        assert_eq!(
            response.headers()["www-authenticate"],
            "Bearer realm=\"segstore\"",
            "{what}"
        );
        assert_problem(response, 401, "Authorization: Bearer").await;
        // A key with every other scope: 403 naming the one missing.
        let response = request(&without[&scope], &app, &method, &path, &op)
            .send()
            .await
            .unwrap();
        assert!(
            response.headers()["www-authenticate"]
                .to_str()
                .unwrap()
                .contains(&format!("scope=\"{scope}\"")),
            "{what}"
        );
        assert_problem(response, 403, &format!("lacks the `{scope}` scope")).await;
        // Its scope alone: past the guard (whatever the call itself answers).
        let response = request(&only[&scope], &app, &method, &path, &op)
            .send()
            .await
            .unwrap();
        let status = response.status().as_u16();
        // (A 500 would also be the gate's answer to a route dispatched elsewhere than the
        // route it decided on.)
        assert!(
            ![401, 403, 429, 500].contains(&status),
            "{what} with only `{scope}`: {status} {}",
            response.text().await.unwrap()
        );
    }
}

/// Deny by default: the gate's table holds exactly the document's operations, each with the
/// scope it publishes, and the declared open routes (probes, documentation, dashboard); the
/// router is never handed a request for anything else.
#[tokio::test]
async fn the_gate_decides_on_exactly_the_published_operations_and_the_open_routes() {
    use segstore::http::gate::{Access, Routes};
    let routes = Routes::new(&segstore::http::openapi(), &segstore::http::open_routes())
        .expect("every route declares its access");
    let gate: std::collections::BTreeSet<(String, String, String)> = routes
        .iter()
        .map(|r| {
            let access = match r.access {
                Access::Scope(scope) => scope.to_string(),
                Access::Public => "public".to_owned(),
                Access::Probe => "probe".to_owned(),
            };
            (r.method.to_string(), r.template.clone(), access)
        })
        .collect();
    let mut published: std::collections::BTreeSet<(String, String, String)> = operations()
        .into_iter()
        .map(|(method, template, scope, _)| {
            (
                method.to_string(),
                template,
                scope.unwrap_or_else(|| "probe".to_owned()),
            )
        })
        .collect();
    let open = [
        ("GET", "/"),
        ("GET", "/dashboard/app.js"),
        ("GET", "/dashboard/app.css"),
        ("POST", "/dashboard/session"),
        ("DELETE", "/dashboard/session"),
        ("GET", "/docs"),
        ("GET", "/docs/{_:.*}"),
        ("GET", "/openapi.json"),
    ];
    published.extend(
        open.iter()
            .map(|(m, t)| (m.to_string(), t.to_string(), "public".to_owned())),
    );
    assert_eq!(gate, published);
    // The open routes are registered: each is served without a key.
    let app = spawn_app().await;
    for (path, status) in [
        ("/", 200),
        ("/dashboard/app.js", 200),
        ("/dashboard/app.css", 200),
        ("/docs", 308),
        ("/docs/", 200),
        ("/openapi.json", 200),
        ("/healthz", 200),
    ] {
        let response = reqwest::Client::builder()
            .redirect(reqwest::redirect::Policy::none())
            .build()
            .unwrap()
            .get(app.url(path))
            .send()
            .await
            .unwrap();
        assert_eq!(response.status(), status, "{path}");
    }
    let signed_out = reqwest::Client::new()
        .delete(app.url("/dashboard/session"))
        .send()
        .await
        .unwrap();
    assert_eq!(signed_out.status(), 204);
}

#[tokio::test]
async fn a_wrong_malformed_or_unknown_key_is_refused_the_same_way() {
    let app = spawn_app().await;
    let unknown = segstore::domain::key::Token::generate();
    let tampered = format!("{}x", &app.key[..app.key.len() - 1]);
    for (header, needle) in [
        ("Bearer nonsense".to_owned(), "not valid"),
        (format!("Bearer {}", unknown.expose()), "not valid"),
        (format!("Bearer {tampered}"), "not valid"),
        (format!("Basic {}", app.key), "Authorization: Bearer"),
    ] {
        let response = reqwest::Client::new()
            .get(app.url("/v1/customers"))
            .header("authorization", &header)
            .send()
            .await
            .unwrap();
        if needle == "not valid" {
            assert_eq!(
                response.headers()["www-authenticate"],
                "Bearer realm=\"segstore\", error=\"invalid_token\""
            );
        }
        assert_problem(response, 401, needle).await;
    }
}

#[tokio::test]
async fn keys_are_created_once_listed_without_secrets_and_validated() {
    let app = spawn_app().await;
    let created = app
        .post_json(
            "/v1/keys",
            &json!({"name": "crm", "scopes": ["read", "write"]}),
        )
        .await;
    assert_eq!(created.status(), 201);
    let location = created.headers()["location"].to_str().unwrap().to_owned();
    assert_eq!(created.headers()["cache-control"], "no-store");
    let created: Value = created.json().await.unwrap();
    let token = created["token"].as_str().unwrap().to_owned();
    assert!(token.starts_with(created["prefix"].as_str().unwrap()));
    assert_eq!(
        location,
        format!("/v1/keys/{}", created["id"].as_str().unwrap())
    );
    assert_eq!(created["scopes"], json!(["read", "write"]));
    // Stored as its SHA-256 only.
    let stored: Vec<u8> = sqlx::query_scalar("SELECT secret_hash FROM api_keys WHERE prefix = $1")
        .bind(created["prefix"].as_str().unwrap())
        .fetch_one(&app.pool)
        .await
        .unwrap();
    use sha2::Digest;
    assert_eq!(stored, sha2::Sha256::digest(token.as_bytes()).to_vec());
    // The new key works for its scopes, and for nothing else.
    let crm = client_with_key(&token);
    assert_eq!(
        crm.get(app.url("/v1/customers"))
            .send()
            .await
            .unwrap()
            .status(),
        200
    );
    let response = crm.get(app.url("/v1/keys")).send().await.unwrap();
    assert_problem(response, 403, "`admin` scope").await;
    // Listed and read back without the token.
    let list = json_ok(app.get("/v1/keys").await).await;
    assert!(!list.to_string().contains(&token[18..]));
    assert_eq!(list["keys"].as_array().unwrap().len(), 2);
    let one = json_ok(app.get(&location).await).await;
    assert_eq!(one["name"], "crm");
    assert!(one.get("token").is_none());
    // Each field is checked, and named.
    for (body, field) in [
        (json!({"name": "", "scopes": ["read"]}), "name"),
        (json!({"name": "x", "scopes": []}), "scopes"),
        (json!({"name": "x", "scopes": ["root"]}), "scopes"),
        (
            json!({"name": "x", "scopes": ["read"], "expires_at": "2020-01-01T00:00:00Z"}),
            "expires_at",
        ),
        (
            json!({"name": "x", "scopes": ["read"], "owner": "me"}),
            "owner",
        ),
    ] {
        let response = app.post_json("/v1/keys", &body).await;
        assert_problem(response, 422, field).await;
    }
    assert_problem(app.get("/v1/keys/nope").await, 422, "id").await;
    let unknown = uuid::Uuid::new_v4();
    assert_problem(app.get(&format!("/v1/keys/{unknown}")).await, 404, "no key").await;
    assert_problem(
        app.delete(&format!("/v1/keys/{unknown}")).await,
        404,
        "no key",
    )
    .await;
    assert_eq!(
        app.count("SELECT count(*) FROM api_keys").await,
        2,
        "nothing half-written"
    );
}

/// A revoked key is refused at once by the replica that revoked it and by another one; an
/// expired key too; `last_used_at` is kept without a write per request.
#[tokio::test]
async fn revoked_and_expired_keys_are_refused_on_every_replica() {
    let app = spawn_app().await;
    let other = app.replica(test_jobs()).await;
    let created: Value = app
        .post_json("/v1/keys", &json!({"name": "crm", "scopes": ["read"]}))
        .await
        .json()
        .await
        .unwrap();
    let crm = client_with_key(created["token"].as_str().unwrap());
    // Both replicas know (and cache) the key.
    for _ in 0..3 {
        for server in [&app, &other] {
            let r = crm.get(server.url("/v1/attributes")).send().await.unwrap();
            assert_eq!(r.status(), 200);
        }
    }
    assert_eq!(
        app.count("SELECT count(*) FROM api_keys WHERE last_used_at IS NOT NULL AND name = 'crm'")
            .await,
        0,
        "no write per request"
    );
    // Listed with its last use (this replica's own, not yet written).
    let listed = json_ok(
        app.get(&format!("/v1/keys/{}", created["id"].as_str().unwrap()))
            .await,
    )
    .await;
    assert!(listed["last_used_at"].is_string(), "{listed}");
    let revoked = app
        .delete(&format!("/v1/keys/{}", created["id"].as_str().unwrap()))
        .await;
    assert_eq!(revoked.status(), 204);
    let r = crm.get(app.url("/v1/attributes")).send().await.unwrap();
    assert_problem(r, 401, "revoked").await;
    // The other replica hears of it at once (its cache would have kept the key a minute).
    let deadline = std::time::Instant::now() + Duration::from_secs(2);
    loop {
        let r = crm.get(other.url("/v1/attributes")).send().await.unwrap();
        if r.status() == 401 {
            assert_problem(r, 401, "revoked").await;
            break;
        }
        assert!(
            std::time::Instant::now() < deadline,
            "the other replica still accepts it"
        );
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    // Revoked from the command line, against the database: both replicas refuse it.
    let cli_key = create_key(&app.pool, "cli", Scopes::new([Scope::Read]).unwrap()).await;
    let cli = client_with_key(&cli_key);
    for server in [&app, &other] {
        assert_eq!(
            cli.get(server.url("/v1/attributes"))
                .send()
                .await
                .unwrap()
                .status(),
            200
        );
    }
    let prefix = &cli_key[..17];
    let mut revoke = std::process::Command::new(env!("CARGO_BIN_EXE_segstore"));
    revoke
        .args(["keys", "revoke", prefix])
        .env("DATABASE_URL", database_url(&app).await);
    let out = output_of(revoke).await;
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    for server in [&app, &other] {
        let deadline = std::time::Instant::now() + Duration::from_secs(2);
        while cli
            .get(server.url("/v1/attributes"))
            .send()
            .await
            .unwrap()
            .status()
            != 401
        {
            assert!(
                std::time::Instant::now() < deadline,
                "a replica still accepts it"
            );
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
    }
    // An expiring key works until it expires, then on no replica.
    let expires_at = chrono::Utc::now() + chrono::Duration::seconds(2);
    let created: Value = app
        .post_json(
            "/v1/keys",
            &json!({"name": "temp", "scopes": ["read"], "expires_at": expires_at}),
        )
        .await
        .json()
        .await
        .unwrap();
    let temp = client_with_key(created["token"].as_str().unwrap());
    for server in [&app, &other] {
        assert_eq!(
            temp.get(server.url("/v1/attributes"))
                .send()
                .await
                .unwrap()
                .status(),
            200
        );
    }
    tokio::time::sleep(Duration::from_millis(2100)).await;
    for server in [&app, &other] {
        let r = temp.get(server.url("/v1/attributes")).send().await.unwrap();
        assert_problem(r, 401, "expired").await;
    }
}

/// The connection URL of the app's database (for the binary).
pub(crate) async fn database_url(app: &TestApp) -> String {
    let name: String = sqlx::query_scalar("SELECT current_database()")
        .fetch_one(&app.pool)
        .await
        .unwrap();
    use sqlx::ConnectOptions;
    app.pool
        .connect_options()
        .as_ref()
        .clone()
        .database(&name)
        .to_url_lossy()
        .to_string()
}

#[tokio::test]
async fn the_command_line_creates_and_lists_keys() {
    let app = spawn_app().await;
    let url = database_url(&app).await;
    let run = |args: &[&str]| {
        let mut command = std::process::Command::new(env!("CARGO_BIN_EXE_segstore"));
        command.args(args).env("DATABASE_URL", &url);
        output_of(command)
    };
    let out = run(&[
        "keys",
        "create",
        "--name",
        "crm",
        "--scopes",
        "read,write",
        "--expires-in",
        "90d",
    ])
    .await;
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let token = String::from_utf8(out.stdout).unwrap().trim().to_owned();
    assert!(token.starts_with("segk_"), "{token}");
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(
        stderr.contains("scopes read,write") && stderr.contains("expires"),
        "{stderr}"
    );
    assert!(
        !stderr.contains(&token),
        "the token is on standard output only"
    );
    let crm = client_with_key(&token);
    assert_eq!(
        crm.get(app.url("/v1/customers"))
            .send()
            .await
            .unwrap()
            .status(),
        200
    );
    let out = run(&["keys", "list"]).await;
    let listed = String::from_utf8_lossy(&out.stdout);
    assert!(
        listed.contains(&token[..17]) && listed.contains("read,write"),
        "{listed}"
    );
    assert!(!listed.contains(&token[18..]), "{listed}");
    // Refusals name the flag; nothing is written.
    for (args, needle) in [
        (
            vec!["keys", "create", "--name", "x", "--scopes", "root"],
            "--scopes",
        ),
        (
            vec!["keys", "create", "--name", " ", "--scopes", "read"],
            "--name",
        ),
        (
            vec![
                "keys",
                "create",
                "--name",
                "x",
                "--scopes",
                "read",
                "--expires-in",
                "5m",
            ],
            "--expires-in",
        ),
        (vec!["keys", "revoke", "segk_000000000000"], "no key"),
    ] {
        let out = run(&args).await;
        assert!(!out.status.success(), "{args:?}");
        let stderr = String::from_utf8_lossy(&out.stderr);
        assert!(stderr.contains(needle), "{args:?}: {stderr}");
    }
    assert_eq!(app.count("SELECT count(*) FROM api_keys").await, 2);
    // The command line's key changes are audited: created, then revoked.
    let revoked = run(&["keys", "revoke", &token[..17]]).await;
    assert!(revoked.status.success());
    let audit = json_ok(app.get("/v1/audit").await).await;
    let by_cli: Vec<(String, u64)> = audit["entries"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|e| e["actor"] == "cli")
        .map(|e| {
            assert_eq!(e["method"], "CLI", "{e}");
            assert!(
                e.get("key_id").is_none() && e["targets"]["id"].is_string(),
                "{e}"
            );
            (
                e["route"].as_str().unwrap().to_owned(),
                e["status"].as_u64().unwrap(),
            )
        })
        .collect();
    assert_eq!(
        by_cli,
        [
            ("segstore keys revoke".to_owned(), 200),
            ("segstore keys create".to_owned(), 201)
        ],
        "{audit:#}"
    );
}

#[tokio::test]
async fn a_key_over_its_rate_is_refused_with_when_to_retry() {
    let db = spawn_app().await;
    let access = segstore::startup::Access {
        keys: segstore::service::keys::KeySettings {
            limits: segstore::service::keys::RateLimits {
                calls: segstore::service::keys::Budget {
                    per_second: 0.5,
                    burst: 3,
                },
                lookups: segstore::service::keys::Budget {
                    per_second: 1000.0,
                    burst: 1000,
                },
            },
            ..Default::default()
        },
        ..Default::default()
    };
    let app = spawn_with_access(db.pool.clone(), String::new(), test_jobs(), access).await;
    let mut remaining = Vec::new();
    for _ in 0..3 {
        let r = app.get("/v1/attributes").await;
        assert_eq!(r.status(), 200);
        assert_eq!(r.headers()["ratelimit-limit"], "3");
        remaining.push(
            r.headers()["ratelimit-remaining"]
                .to_str()
                .unwrap()
                .to_owned(),
        );
    }
    assert_eq!(remaining, ["2", "1", "0"]);
    let refused = app.get("/v1/attributes").await;
    assert_eq!(refused.status(), StatusCode::TOO_MANY_REQUESTS);
    let headers = refused.headers().clone();
    assert_eq!(headers["retry-after"], "2");
    assert_eq!(headers["ratelimit-limit"], "3");
    assert_eq!(headers["ratelimit-remaining"], "0");
    assert_eq!(headers["ratelimit-reset"], "6");
    assert_problem(refused, 429, "retry in 2 s").await;
    // Lookups have a budget of their own: still answered.
    let lookup = app
        .get(&format!(
            "/v1/segmentations/{}/customers/0001",
            uuid::Uuid::new_v4()
        ))
        .await;
    assert_eq!(lookup.status(), 404);
    assert_eq!(lookup.headers()["ratelimit-limit"], "1000");
    // Another key has its own budget.
    let other = create_key(&app.pool, "other", Scopes::all()).await;
    let r = client_with_key(&other)
        .get(app.url("/v1/attributes"))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 200);
    // And the budget refills.
    tokio::time::sleep(Duration::from_millis(2100)).await;
    assert_eq!(app.get("/v1/attributes").await.status(), 200);
}

/// Every write, train and admin call made with a key is in the audit log (refusals for a
/// missing scope too); reads and calls without a valid key are not.
#[tokio::test]
async fn the_audit_log_records_every_write_train_and_admin_call_and_admin_reads() {
    let app = spawn_app().await;
    app.import_mall().await;
    let seg = app
        .create_segmentation(
            json!({"name": "Mall", "config": {"features": ["annual_income_k", "spending_score"],
            "algorithm": {"type": "kmeans", "k": 5}}}),
        )
        .await;
    let run = app.run_to_success(&seg).await;
    let run_id = run["id"].as_str().unwrap();
    assert_eq!(app.get("/v1/customers").await.status(), 200);
    assert_eq!(app.delete("/v1/customers/0007").await.status(), 204);
    let reader = create_key(&app.pool, "reader", Scopes::new([Scope::Read]).unwrap()).await;
    let refused = client_with_key(&reader)
        .post(app.url(&format!("/v1/segmentations/{seg}/runs")))
        .send()
        .await
        .unwrap();
    assert_eq!(refused.status(), 403);
    let anonymous = reqwest::Client::new()
        .delete(app.url("/v1/customers/0008"))
        .send()
        .await
        .unwrap();
    assert_eq!(anonymous.status(), 401);

    let page = json_ok(app.get("/v1/audit").await).await;
    let entries = page["entries"].as_array().unwrap();
    let calls: Vec<(String, String, u64)> = entries
        .iter()
        .rev()
        .map(|e| {
            (
                e["method"].as_str().unwrap().to_owned(),
                e["route"].as_str().unwrap().to_owned(),
                e["status"].as_u64().unwrap(),
            )
        })
        .collect();
    let expected: Vec<(String, String, u64)> = [
        ("POST", "/v1/customers/import", 200),
        ("POST", "/v1/segmentations", 201),
        ("POST", "/v1/segmentations/{id}/runs", 202),
        ("DELETE", "/v1/customers/{id}", 204),
        ("POST", "/v1/segmentations/{id}/runs", 403),
    ]
    .iter()
    .map(|(m, r, s)| (m.to_string(), r.to_string(), *s))
    .collect();
    assert_eq!(calls, expected, "{page:#}");
    let oldest = entries.last().unwrap();
    assert_eq!(oldest["key_name"], "tests");
    assert!(oldest["request_id"].is_string());
    // Targets: the route's ids, and what was created.
    let trigger = &entries[2];
    assert_eq!(trigger["targets"]["id"], seg);
    assert_eq!(trigger["targets"]["location"], format!("/v1/runs/{run_id}"));
    assert_eq!(entries[0]["key_name"], "reader");
    // An erased customer is not named, even by reference (`tests/api/erasure.rs`).
    assert_eq!(entries[1]["targets"]["id"], "an erased customer");
    // Paged, newest first, and filtered by key. Admin reads are recorded too: the first
    // read of the log is now its newest entry.
    let page = json_ok(app.get("/v1/audit?limit=2").await).await;
    let newest = &page["entries"][0];
    assert_eq!(
        (&newest["method"], &newest["route"], &newest["status"]),
        (&json!("GET"), &json!("/v1/audit"), &json!(200)),
        "{page:#}"
    );
    assert_eq!(page["entries"].as_array().unwrap().len(), 2);
    let before = page["next_before"].as_i64().unwrap();
    let next = json_ok(
        app.get(&format!("/v1/audit?limit=10&before={before}"))
            .await,
    )
    .await;
    assert_eq!(next["entries"].as_array().unwrap().len(), 4);
    assert!(next.get("next_before").is_none());
    let reader_id = entries[0]["key_id"].as_str().unwrap();
    let mine = json_ok(app.get(&format!("/v1/audit?key_id={reader_id}")).await).await;
    assert_eq!(mine["entries"].as_array().unwrap().len(), 1);
    assert_problem(app.get("/v1/audit?limit=0").await, 422, "limit").await;
    assert_problem(app.get("/v1/audit?key_id=x").await, 422, "key_id").await;
}
