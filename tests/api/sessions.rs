//! The dashboard's sessions: signing in with a key starts a server-side session whose id
//! (never the key) the browser keeps in an `HttpOnly; SameSite=Strict` cookie; signing out
//! ends it on every replica; it ends after 8 idle hours, a day in all, or when its key is
//! revoked; sign-ins are throttled per address and audited, refused ones included.

use crate::helpers::*;
use reqwest::header::{COOKIE, SET_COOKIE};
use serde_json::{Value, json};
use sha2::Digest;

/// Signs in with `key`; the answer.
async fn sign_in(app: &TestApp, key: &str) -> reqwest::Response {
    reqwest::Client::new()
        .post(app.url("/dashboard/session"))
        .header("authorization", format!("Bearer {key}"))
        .send()
        .await
        .unwrap()
}

/// The session cookie a sign-in set: its `name=value` and its attributes.
fn session_cookie(response: &reqwest::Response) -> (String, String) {
    let set = response.headers()[SET_COOKIE].to_str().unwrap().to_owned();
    let (pair, attributes) = set.split_once(';').unwrap();
    (pair.to_owned(), attributes.to_owned())
}

async fn with_cookie(app: &TestApp, cookie: &str, path: &str) -> reqwest::Response {
    reqwest::Client::new()
        .get(app.url(path))
        .header(COOKIE, cookie)
        .send()
        .await
        .unwrap()
}

#[tokio::test]
async fn a_session_acts_for_its_key_until_signed_out_on_any_replica() {
    let app = spawn_app().await;
    let other = app.replica(test_jobs()).await;
    let signed_in = sign_in(&app, &app.key).await;
    assert_eq!(signed_in.status(), 204);
    assert_eq!(signed_in.headers()["cache-control"], "no-store");
    let (cookie, attributes) = session_cookie(&signed_in);
    let id = cookie.strip_prefix("segstore_session=").unwrap().to_owned();
    assert!(
        id.starts_with("segs_") && !cookie.contains("segk_"),
        "{cookie}"
    );
    assert!(
        attributes.contains("HttpOnly") && attributes.contains("SameSite=Strict"),
        "{attributes}"
    );
    assert!(
        !attributes.contains("Secure"),
        "plain http, no https public URL"
    );
    // Stored hashed: the database cannot sign anyone in.
    let hash: Vec<u8> = sha2::Sha256::digest(id.as_bytes()).to_vec();
    assert_eq!(
        app.count(&format!(
            "SELECT count(*) FROM dashboard_sessions WHERE session_hash = '\\x{}'",
            hash.iter().map(|b| format!("{b:02x}")).collect::<String>()
        ))
        .await,
        1
    );
    assert_eq!(
        app.count(&format!(
            "SELECT count(*) FROM dashboard_sessions s WHERE s::text LIKE '%{}%'",
            &id[5..]
        ))
        .await,
        0
    );
    // Either replica serves the session.
    for server in [&app, &other] {
        assert_eq!(
            with_cookie(server, &cookie, "/v1/customers").await.status(),
            200
        );
    }
    // Signed out on one replica: ended on both, at once.
    let out = reqwest::Client::new()
        .delete(app.url("/dashboard/session"))
        .header(COOKIE, &cookie)
        .send()
        .await
        .unwrap();
    assert_eq!(out.status(), 204);
    assert!(
        out.headers()[SET_COOKIE]
            .to_str()
            .unwrap()
            .contains("Max-Age=0")
    );
    for server in [&other, &app] {
        assert_problem(
            with_cookie(server, &cookie, "/v1/customers").await,
            401,
            "session has ended",
        )
        .await;
    }
    // A key in the cookie (as the dashboard once kept it) signs nobody in; nor does a made-up
    // session.
    for forged in [
        format!("segstore_session={}", app.key),
        format!("segstore_key={}", app.key),
        "segstore_session=segs_AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA".to_owned(),
    ] {
        assert_eq!(
            with_cookie(&app, &forged, "/v1/customers").await.status(),
            401,
            "{forged}"
        );
    }
}

#[tokio::test]
async fn a_session_ends_when_idle_at_its_expiry_or_with_its_key() {
    let app = spawn_app().await;
    let key = create_key(
        &app.pool,
        "browser",
        segstore::domain::key::Scopes::new([segstore::domain::key::Scope::Read]).unwrap(),
    )
    .await;
    let app = &app;
    let start = || async {
        let signed_in = sign_in(app, &key).await;
        assert_eq!(signed_in.status(), 204);
        session_cookie(&signed_in).0
    };
    let ended = |cookie: String| async move {
        assert_problem(
            with_cookie(app, &cookie, "/v1/customers").await,
            401,
            "session has ended",
        )
        .await;
    };
    // Seen a request ago: the request moves `last_seen_at` (at most once a minute).
    let cookie = start().await;
    sqlx::query("UPDATE dashboard_sessions SET last_seen_at = now() - interval '2 minutes'")
        .execute(&app.pool)
        .await
        .unwrap();
    assert_eq!(
        with_cookie(app, &cookie, "/v1/customers").await.status(),
        200
    );
    assert_eq!(
        app.count("SELECT count(*) FROM dashboard_sessions WHERE last_seen_at > now() - interval '1 minute'")
            .await,
        1
    );
    // Idle for 8 hours.
    sqlx::query("UPDATE dashboard_sessions SET last_seen_at = now() - interval '8 hours 1 second'")
        .execute(&app.pool)
        .await
        .unwrap();
    ended(cookie.clone()).await;
    // A day old, however busy.
    let cookie = start().await;
    sqlx::query(
        "UPDATE dashboard_sessions SET expires_at = now() - interval '1 second'
          WHERE created_at > now() - interval '1 minute' AND ended_at IS NULL
            AND last_seen_at > now() - interval '1 minute'",
    )
    .execute(&app.pool)
    .await
    .unwrap();
    ended(cookie).await;
    // A day is the absolute lifetime.
    let cookie = start().await;
    assert_eq!(
        app.count(
            "SELECT count(*) FROM dashboard_sessions
              WHERE expires_at BETWEEN now() + interval '23 hours 59 minutes' AND now() + interval '1 day'
                AND last_seen_at > now() - interval '1 minute'"
        )
        .await,
        1
    );
    // Its key revoked.
    let id: String = sqlx::query_scalar("SELECT key_id::text FROM api_keys WHERE name = 'browser'")
        .fetch_one(&app.pool)
        .await
        .unwrap();
    assert_eq!(app.delete(&format!("/v1/keys/{id}")).await.status(), 204);
    ended(cookie).await;
}

#[tokio::test]
async fn sign_ins_are_throttled_per_address_and_audited() {
    let access = segstore::startup::Access {
        security: segstore::http::Security {
            secure_cookies: true,
            ..Default::default()
        },
        ..Default::default()
    };
    let app = spawn_app_with_access(access).await;
    // A public https URL: the cookie is `Secure`.
    let signed_in = sign_in(&app, &app.key).await;
    assert!(session_cookie(&signed_in).1.contains("Secure"));
    let unknown = segstore::domain::key::Token::generate();
    // Ten attempts at once from one address (the sign-in above was the first), then one
    // every six seconds: refused with 429 and when to retry, before the key is looked at.
    let mut statuses = Vec::new();
    while statuses.last() != Some(&429) {
        assert!(statuses.len() < 40, "never throttled: {statuses:?}");
        let refused = sign_in(&app, unknown.expose()).await;
        statuses.push(refused.status().as_u16());
        if refused.status() == 429 {
            let retry: u64 = refused.headers()["retry-after"]
                .to_str()
                .unwrap()
                .parse()
                .unwrap();
            assert!((1..=6).contains(&retry), "{retry}");
        }
    }
    assert!(statuses.len() >= 10, "{statuses:?}");
    assert!(
        statuses[..statuses.len() - 1].iter().all(|s| *s == 401),
        "{statuses:?}"
    );
    let refusals = statuses.len() - 1;
    let audit = json_ok(app.get("/v1/audit").await).await;
    let sign_ins: Vec<&Value> = audit["entries"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|e| e["route"] == "/dashboard/session")
        .collect();
    assert_eq!(sign_ins.len(), refusals + 1, "{audit:#}");
    let refused: Vec<&&Value> = sign_ins.iter().filter(|e| e["status"] == 401).collect();
    assert_eq!(refused.len(), refusals);
    for entry in refused {
        assert_eq!(entry["actor"], "anonymous", "{entry}");
        assert_eq!(entry["source"], "127.0.0.1", "{entry}");
        assert_eq!(entry["targets"]["key"], json!(unknown.prefix()), "{entry}");
    }
    let started = sign_ins.iter().find(|e| e["status"] == 204).unwrap();
    assert_eq!(started["actor"], "key");
    assert_eq!(started["key_name"], "tests");
}
