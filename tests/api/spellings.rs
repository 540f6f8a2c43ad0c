//! The gate decides on the operation the router dispatches to, whatever the spelling of the
//! request line: every other spelling of a real route (escapes, slashes, dot segments, case,
//! `;` parameters, bad UTF-8, an escaped `?`), sent without a key and with a key lacking the
//! route's scope, is refused, never served, and changes nothing. The requests go over a raw
//! TCP connection: an HTTP client library would normalise the very spellings under test.

use crate::helpers::*;
use segstore::domain::key::{Scope, Scopes};
use serde_json::{Value, json};
use std::collections::HashMap;
use tokio::io::{AsyncReadExt, AsyncWriteExt};

/// A request line's answer: the status and the whole response as text.
pub struct Raw {
    pub status: u16,
    pub text: String,
}

/// Sends one request exactly as written (`target` is the request line's target, unchanged).
pub async fn raw(
    app: &TestApp,
    method: &str,
    target: &str,
    key: Option<&str>,
    body: Option<(&str, &[u8])>,
) -> Raw {
    let authority = app.address.trim_start_matches("http://");
    let mut request = format!("{method} {target} HTTP/1.1\r\nHost: {authority}\r\n");
    if let Some(key) = key {
        request.push_str(&format!("Authorization: Bearer {key}\r\n"));
    }
    let (content_type, bytes) = body.unwrap_or(("", b""));
    if !content_type.is_empty() {
        request.push_str(&format!("Content-Type: {content_type}\r\n"));
    }
    request.push_str(&format!(
        "Content-Length: {}\r\nConnection: close\r\n\r\n",
        bytes.len()
    ));
    // A server that answers before reading the body closes a connection whose body is
    // unread: the peer's reset can then overtake the answer. Such a request is sent again.
    let mut answer = Vec::new();
    for _ in 0..5 {
        answer.clear();
        let mut stream = tokio::net::TcpStream::connect(authority).await.unwrap();
        stream.write_all(request.as_bytes()).await.unwrap();
        if let Err(e) = stream.write_all(bytes).await {
            assert_eq!(e.kind(), std::io::ErrorKind::ConnectionReset, "{e}");
        }
        let mut buf = [0u8; 8192];
        loop {
            match stream.read(&mut buf).await {
                Ok(0) => break,
                Ok(n) => answer.extend_from_slice(&buf[..n]),
                Err(e) if e.kind() == std::io::ErrorKind::ConnectionReset => break,
                Err(e) => panic!("{method} {target}: {e}"),
            }
        }
        if answer.starts_with(b"HTTP/1.1 ") {
            break;
        }
    }
    let text = String::from_utf8_lossy(&answer).into_owned();
    let status = text
        .split(' ')
        .nth(1)
        .and_then(|s| s.parse().ok())
        .unwrap_or_else(|| panic!("{method} {target}: no status line in {text:?}"));
    Raw { status, text }
}

/// A store with something behind every attacked route: the Mall customers, a trained
/// segmentation, a webhook and a spare key.
pub struct Target {
    pub app: TestApp,
    pub segmentation: String,
    pub run: String,
    pub webhook: String,
    pub spare_key: String,
    /// A client key lacking each scope (it holds every other).
    pub without: HashMap<Scope, String>,
}

pub async fn target() -> Target {
    let app = spawn_app().await;
    let segmentation = mall_segmentation(&app).await;
    let run = app.run_to_success(&segmentation).await["id"]
        .as_str()
        .unwrap()
        .to_owned();
    let webhook = json_status(
        app.post_json(
            "/v1/webhooks",
            &json!({"url": "http://127.0.0.1:9/hook", "events": ["segmentation.drift_detected"]}),
        )
        .await,
        201,
    )
    .await["id"]
        .as_str()
        .unwrap()
        .to_owned();
    let spare = json_status(
        app.post_json("/v1/keys", &json!({"name": "spare", "scopes": ["read"]}))
            .await,
        201,
    )
    .await;
    let mut without = HashMap::new();
    for scope in Scope::ALL {
        let others = Scopes::new(Scope::ALL.into_iter().filter(|s| *s != scope)).unwrap();
        without.insert(
            scope,
            create_key(&app.pool, &format!("all but {scope}"), others).await,
        );
    }
    Target {
        app,
        segmentation,
        run,
        webhook,
        spare_key: spare["id"].as_str().unwrap().to_owned(),
        without,
    }
}

/// Everything a call that got through would change: customers, attributes, keys (not when
/// they were last used), segmentations, runs, webhooks (and their secrets), and whether the
/// audit log holds a served call.
pub async fn state(app: &TestApp) -> String {
    sqlx::query_scalar(
        "SELECT md5(concat_ws('|',
            (SELECT string_agg(c::text, ',' ORDER BY c.external_id) FROM customers c),
            (SELECT string_agg(a::text, ',' ORDER BY a.name) FROM attributes a),
            (SELECT string_agg(format('%s %s %s', key_id, scopes, revoked_at), ',' ORDER BY key_id) FROM api_keys),
            (SELECT string_agg(s::text, ',' ORDER BY s.segmentation_id) FROM segmentations s),
            (SELECT string_agg(format('%s %s', run_id, status), ',' ORDER BY run_id) FROM runs),
            (SELECT string_agg(w::text, ',' ORDER BY w.webhook_id) FROM webhooks w),
            (SELECT count(*) FROM webhook_events),
            (SELECT count(*) FROM audit_log WHERE status < 400)))",
    )
    .fetch_one(&app.pool)
    .await
    .unwrap()
}

/// An operation to attack: method, path (canonical), query, the scope it needs, a body.
pub struct Attack {
    pub method: &'static str,
    pub path: String,
    pub query: &'static str,
    pub scope: Scope,
    pub body: Option<(&'static str, Vec<u8>)>,
}

fn attacks(t: &Target) -> Vec<Attack> {
    let json = |v: Value| Some(("application/json", v.to_string().into_bytes()));
    let attack = |method, path: String, query, scope, body| Attack {
        method,
        path,
        query,
        scope,
        body,
    };
    let (seg, run, hook, key) = (&t.segmentation, &t.run, &t.webhook, &t.spare_key);
    vec![
        attack("GET", "/v1/customers".into(), "?limit=2", Scope::Read, None),
        attack("GET", "/v1/customers/0001".into(), "", Scope::Read, None),
        attack("GET", "/v1/keys".into(), "", Scope::Admin, None),
        attack("GET", "/v1/audit".into(), "", Scope::Admin, None),
        attack(
            "GET",
            format!("/v1/runs/{run}/assignments.csv"),
            "",
            Scope::Read,
            None,
        ),
        attack(
            "GET",
            format!("/v1/segmentations/{seg}/customers/0001"),
            "",
            Scope::Read,
            None,
        ),
        attack(
            "GET",
            format!("/v1/webhooks/{hook}"),
            "",
            Scope::Admin,
            None,
        ),
        attack(
            "DELETE",
            "/v1/customers/0200".into(),
            "",
            Scope::Admin,
            None,
        ),
        attack(
            "POST",
            "/v1/customers".into(),
            "",
            Scope::Write,
            json(json!({"customers": [{"id": "9999", "attributes": {"age": 1}}]})),
        ),
        attack(
            "POST",
            "/v1/customers/import".into(),
            "",
            Scope::Write,
            Some(("text/csv", b"id,age\n9998,3\n".to_vec())),
        ),
        attack("DELETE", format!("/v1/keys/{key}"), "", Scope::Admin, None),
        attack(
            "DELETE",
            format!("/v1/segmentations/{seg}"),
            "",
            Scope::Admin,
            None,
        ),
        attack(
            "POST",
            format!("/v1/webhooks/{hook}/rotate-secret"),
            "",
            Scope::Admin,
            json(json!({})),
        ),
        attack(
            "DELETE",
            "/v1/attributes/age".into(),
            "",
            Scope::Admin,
            None,
        ),
        attack(
            "POST",
            format!("/v1/segmentations/{seg}/runs"),
            "",
            Scope::Train,
            None,
        ),
    ]
}

/// Percent-encodes the byte at `at`.
fn escape(path: &str, at: usize, lower: bool) -> String {
    let byte = path.as_bytes()[at];
    let escaped = if lower {
        format!("%{byte:02x}")
    } else {
        format!("%{byte:02X}")
    };
    format!("{}{escaped}{}", &path[..at], &path[at + 1..])
}

/// `path` with its `n`th `/` (0-based) replaced by `with`.
fn slash(path: &str, n: usize, with: &str) -> String {
    let at = path
        .match_indices('/')
        .nth(n)
        .map_or(path.len(), |(i, _)| i);
    format!("{}{with}{}", &path[..at], &path[(at + 1).min(path.len())..])
}

/// Every other spelling of `path` (`/v1/<resource>/…`), named.
pub fn spellings(path: &str, authority: &str) -> Vec<(&'static str, String)> {
    let resource = &path[4..]; // after "/v1/"
    let first = 4; // the resource's first letter
    let last = path.len() - 1;
    let upper_resource = format!("/v1/{}", resource.to_uppercase());
    let mut capital = resource.to_owned();
    capital[..1].make_ascii_uppercase();
    let every_letter: String = resource
        .split('/')
        .next()
        .unwrap()
        .bytes()
        .map(|b| format!("%{b:02X}"))
        .collect();
    vec![
        ("escaped v", escape(path, 1, false)),
        ("escaped 1", escape(path, 2, false)),
        ("escaped resource letter", escape(path, first, false)),
        (
            "escaped resource letter, lowercase hex",
            escape(path, first, true),
        ),
        ("escaped last character", escape(path, last, false)),
        (
            "every letter of the resource escaped",
            format!(
                "/v1/{every_letter}{}",
                &resource[resource.find('/').unwrap_or(resource.len())..]
            ),
        ),
        ("escaped slash", slash(path, 1, "%2F")),
        ("escaped slash, lowercase", slash(path, 1, "%2f")),
        ("escaped leading slash", format!("%2F{}", &path[1..])),
        ("doubled leading slash", format!("/{path}")),
        ("doubled inner slash", slash(path, 1, "//")),
        (
            "doubled last slash",
            slash(path, path.matches('/').count() - 1, "//"),
        ),
        ("dot segment", slash(path, 1, "/./")),
        ("leading dot segment", format!("/.{path}")),
        ("dot-dot segment", slash(path, 1, "/x/../")),
        ("escaped dot segment", slash(path, 1, "/%2e/")),
        ("escaped dot-dot segment", slash(path, 1, "/x/%2E%2E/")),
        ("half-escaped dot-dot", slash(path, 1, "/x/.%2e/")),
        ("trailing dot segment", format!("{path}/.")),
        ("upper-case version", format!("/V1{}", &path[3..])),
        ("capitalised resource", format!("/v1/{capital}")),
        ("upper-case resource", upper_resource),
        ("trailing slash", format!("{path}/")),
        ("matrix parameter on v1", slash(path, 1, ";x=1/")),
        ("matrix parameter at the end", format!("{path};x=1")),
        ("overlong slash", slash(path, 1, "%C0%AF")),
        ("overlong dot segment", slash(path, 1, "/%C0%AE/")),
        ("three-byte overlong slash", slash(path, 1, "%E0%80%AF")),
        ("invalid UTF-8", format!("{path}%FF")),
        ("escaped question mark", format!("{path}%3F")),
        ("escaped question mark inside", slash(path, 1, "%3F/")),
        ("escaped hash", format!("{path}%23")),
        ("escaped backslash", slash(path, 1, "%5C")),
        ("double escape", format!("/%2576{}", &path[2..])),
        ("full-width v", format!("/%EF%BD%96{}", &path[2..])),
        ("NUL", format!("{path}%00")),
        (
            "absolute form, escaped",
            format!("http://{authority}{}", escape(path, 1, false)),
        ),
        ("plus sign", format!("{path}+")),
        ("escaped space", slash(path, 1, "%20/")),
    ]
}

/// What a refused spelling may answer: the gate's refusals, or the gate's own 404/405 for a
/// path no route is declared for. Never a handler's answer.
pub fn refused(raw: &Raw) -> bool {
    match raw.status {
        400 | 401 | 403 => true,
        404 | 405 => {
            raw.text.contains("no such resource") || raw.text.contains("is not allowed on")
        }
        _ => false,
    }
}

#[tokio::test]
async fn no_spelling_of_a_route_gets_past_the_gate() {
    let t = target().await;
    let before = state(&t.app).await;
    let authority = t.app.address.trim_start_matches("http://").to_owned();
    let mut tried = 0;
    let mut served = Vec::new();
    for attack in attacks(&t) {
        let table = spellings(&attack.path, &authority);
        assert!(table.len() >= 30, "{}", table.len());
        for (name, spelled) in table {
            let target = format!("{spelled}{}", attack.query);
            for key in [None, Some(t.without[&attack.scope].as_str())] {
                let body = attack.body.as_ref().map(|(c, b)| (*c, b.as_slice()));
                let answer = raw(&t.app, attack.method, &target, key, body).await;
                tried += 1;
                if !refused(&answer) {
                    served.push(format!(
                        "{} {target} ({name}, {}): {}",
                        attack.method,
                        if key.is_some() {
                            "key lacking the scope"
                        } else {
                            "no key"
                        },
                        answer.text.lines().next().unwrap_or_default()
                    ));
                }
            }
        }
    }
    assert!(
        served.is_empty(),
        "{} of {tried} got past the gate:\n{}",
        served.len(),
        served.join("\n")
    );
    assert_eq!(
        state(&t.app).await,
        before,
        "a refused request changed the store"
    );
    // The plain spelling with the right key is served: the table attacks real routes.
    let plain = raw(
        &t.app,
        "DELETE",
        "/v1/customers/0200",
        Some(&t.app.key),
        None,
    )
    .await;
    assert_eq!(plain.status, 204, "{}", plain.text);
}

#[tokio::test]
async fn a_spelling_that_is_not_canonical_is_refused_naming_why() {
    let app = spawn_app().await;
    for (target, needle) in [
        ("/%761/customers", "spells `v` as `%76`"),
        ("/v1/%63ustomers/0001", "spells `c` as `%63`"),
        ("/v1//customers", "empty segment"),
        ("/v1/./customers", "`.` or `..` segment"),
        ("/v1/customers/%C0%AF", "do not decode to UTF-8"),
        ("/v1/customers/%4", "not followed by two hex digits"),
    ] {
        let answer = raw(&app, "GET", target, Some(&app.key), None).await;
        assert_eq!(answer.status, 400, "{target}: {}", answer.text);
        assert!(
            answer.text.contains("application/problem+json"),
            "{}",
            answer.text
        );
        assert!(answer.text.contains(needle), "{target}: {}", answer.text);
    }
    // Ids keep their escapes: an escaped slash or space is part of the id.
    app.upsert(json!([{"id": "a/b c", "attributes": {"age": 30}}]))
        .await;
    let answer = raw(&app, "GET", "/v1/customers/a%2Fb%20c", Some(&app.key), None).await;
    assert_eq!(answer.status, 200, "{}", answer.text);
    assert!(answer.text.contains("\"id\":\"a/b c\""), "{}", answer.text);
}
