//! SQL for BI tools: the `segstore_report` views answer what the API does, read by a login role
//! (`segstore report-role create`) that can read them and nothing else; the customers view
//! follows the attribute catalogue.

use crate::access::database_url;
use crate::clusters::PrivateCluster;
use crate::helpers::*;
use serde_json::{Value, json};
use sqlx::postgres::{PgConnectOptions, PgRow};
use sqlx::{Connection, PgConnection, Row};
use std::collections::HashMap;
use std::process::Command;
use std::str::FromStr;

/// `segstore report-role …` off the test's runtime: the app under test runs its workers
/// there, and a worker holding a lock the command waits for must be able to finish.
async fn report_role(url: &str, args: &[&str]) -> std::process::Output {
    let url = url.to_owned();
    let args: Vec<String> = args.iter().map(|a| a.to_string()).collect();
    tokio::task::spawn_blocking(move || {
        let args: Vec<&str> = args.iter().map(String::as_str).collect();
        report_role_blocking(&url, &args)
    })
    .await
    .unwrap()
}

fn report_role_blocking(url: &str, args: &[&str]) -> std::process::Output {
    Command::new(env!("CARGO_BIN_EXE_segstore"))
        .arg("report-role")
        .args(args)
        .env("DATABASE_URL", url)
        .env("SEGSTORE_LOG", "warn")
        .output()
        .unwrap()
}

/// Creates a report role through the CLI; its password.
async fn create_role(url: &str, name: &str) -> String {
    let out = report_role(url, &["create", "--name", name]).await;
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(stderr.contains(&format!("user {name}")), "{stderr}");
    // Standard output: a connection URL with the password, and nothing else.
    let url = String::from_utf8(out.stdout).unwrap().trim().to_owned();
    let password = url
        .strip_prefix(&format!("postgresql://{name}:"))
        .and_then(|rest| rest.split_once('@'))
        .map(|(password, _)| password.to_owned())
        .unwrap_or_else(|| panic!("not a connection URL: {url}"));
    assert_eq!(password.len(), 32);
    assert!(!stderr.contains(&password), "the password is printed once");
    password
}

/// Drops the role when the test ends, whatever happened (roles are the cluster's).
struct RoleGuard {
    url: String,
    name: String,
}

impl Drop for RoleGuard {
    fn drop(&mut self) {
        report_role_blocking(&self.url, &["drop", "--name", &self.name]);
    }
}

fn unique_name(prefix: &str) -> String {
    format!(
        "{prefix}_{}",
        &uuid::Uuid::new_v4().simple().to_string()[..12]
    )
}

async fn connect_as(url: &str, role: &str, password: &str) -> sqlx::Result<PgConnection> {
    let options = PgConnectOptions::from_str(url)
        .unwrap()
        .username(role)
        .password(password);
    PgConnection::connect_with(&options).await
}

async fn rows(conn: &mut PgConnection, sql: &str) -> Vec<PgRow> {
    sqlx::query(sqlx::AssertSqlSafe(sql.to_owned()))
        .fetch_all(conn)
        .await
        .unwrap_or_else(|e| panic!("{sql}: {e}"))
}

async fn columns(conn: &mut PgConnection, view: &str) -> Vec<String> {
    sqlx::query_scalar(
        "SELECT attname::text FROM pg_attribute
         WHERE attrelid = to_regclass($1) AND attnum > 0 AND NOT attisdropped ORDER BY attnum",
    )
    .bind(view)
    .fetch_all(conn)
    .await
    .unwrap()
}

/// The SQLSTATE of a statement that must fail.
async fn refused(conn: &mut PgConnection, sql: &str) -> String {
    match sqlx::query(sqlx::AssertSqlSafe(sql.to_owned()))
        .execute(&mut *conn)
        .await
    {
        Ok(_) => panic!("`{sql}` was allowed"),
        Err(sqlx::Error::Database(e)) => e.code().unwrap().into_owned(),
        Err(e) => panic!("{sql}: {e}"),
    }
}

/// A report role made for the app's database (dropped when the guard goes), logged in.
struct ReportSession {
    url: String,
    name: String,
    password: String,
    conn: PgConnection,
    _guard: RoleGuard,
}

async fn report_session(app: &TestApp) -> ReportSession {
    let url = database_url(app).await;
    let name = unique_name("tableau");
    let guard = RoleGuard {
        url: url.clone(),
        name: name.clone(),
    };
    let password = create_role(&url, &name).await;
    let conn = connect_as(&url, &name, &password).await.unwrap();
    ReportSession {
        url,
        name,
        password,
        conn,
        _guard: guard,
    }
}

#[tokio::test]
async fn the_report_role_reads_every_view_as_the_api_answers_and_nothing_else() {
    let app = spawn_app().await;
    let seg = mall_segmentation(&app).await;
    let run = app.run_to_success(&seg).await;
    let run = run["id"].as_str().unwrap().to_owned();
    let ReportSession {
        url,
        name,
        password,
        conn: mut bi,
        _guard,
    } = report_session(&app).await;

    // Customers: one column per attribute, unqualified (the schema is on the search path).
    assert_eq!(
        columns(&mut bi, "segstore_report.customers").await,
        [
            "customer_id",
            "created_at",
            "updated_at",
            "gender",
            "age",
            "annual_income_k",
            "spending_score"
        ]
    );
    let customers = rows(&mut bi, "SELECT * FROM customers ORDER BY customer_id").await;
    assert_eq!(customers.len(), 200);
    let mall = mall_customers();
    for row in &customers {
        let id: String = row.get("customer_id");
        let [age, income, score] = mall[&id];
        assert_eq!(row.get::<Option<f64>, _>("age"), Some(age));
        assert_eq!(row.get::<Option<f64>, _>("annual_income_k"), Some(income));
        assert_eq!(row.get::<Option<f64>, _>("spending_score"), Some(score));
    }

    // Segments and assignments of the active run, as the API gives them.
    let profiles = json_ok(app.get(&format!("/v1/runs/{run}/segments")).await).await;
    let segments = rows(&mut bi, "SELECT * FROM segments ORDER BY position").await;
    let api_segments = profiles["segments"].as_array().unwrap();
    assert_eq!(segments.len(), api_segments.len());
    for (row, s) in segments.iter().zip(api_segments) {
        assert_eq!(row.get::<String, _>("segmentation"), "Mall");
        assert_eq!(row.get::<uuid::Uuid, _>("run_id").to_string(), run);
        assert_eq!(
            i64::from(row.get::<i32, _>("segment_id")),
            s["segment_id"].as_i64().unwrap()
        );
        assert_eq!(row.get::<String, _>("label"), s["label"].as_str().unwrap());
        assert_eq!(row.get::<i64, _>("size"), s["size"].as_i64().unwrap());
        assert_eq!(row.get::<f64, _>("share"), s["share"].as_f64().unwrap());
    }
    let features = rows(
        &mut bi,
        "SELECT * FROM segment_features ORDER BY segment_id, feature",
    )
    .await;
    assert_eq!(features.len(), api_segments.len() * 2);
    for row in &features {
        let id = i64::from(row.get::<i32, _>("segment_id"));
        let s = api_segments
            .iter()
            .find(|s| s["segment_id"].as_i64() == Some(id))
            .unwrap();
        let feature: String = row.get("feature");
        let i = ["annual_income_k", "spending_score"]
            .iter()
            .position(|f| *f == feature)
            .unwrap();
        assert_eq!(
            row.get::<f64, _>("value"),
            s["centroid"][i].as_f64().unwrap()
        );
        assert_eq!(row.get::<f64, _>("lift"), s["lift"][i].as_f64().unwrap());
        assert_eq!(
            row.get::<f64, _>("median"),
            s["stats"][i]["median"].as_f64().unwrap()
        );
        assert_eq!(
            row.get::<f64, _>("population"),
            profiles["population"][i]["mean"].as_f64().unwrap()
        );
    }
    let page = json_ok(
        app.get(&format!("/v1/runs/{run}/assignments?limit=1000"))
            .await,
    )
    .await;
    let api: HashMap<String, Value> = page["assignments"]
        .as_array()
        .unwrap()
        .iter()
        .map(|a| (a["customer_id"].as_str().unwrap().to_owned(), a.clone()))
        .collect();
    let assignments = rows(&mut bi, "SELECT * FROM assignments").await;
    assert_eq!(assignments.len(), 200);
    for row in &assignments {
        let a = &api[&row.get::<String, _>("customer_id")];
        assert_eq!(
            row.get::<Option<i32>, _>("segment_id").map(i64::from),
            a["segment_id"].as_i64()
        );
        assert_eq!(
            row.get::<Option<String>, _>("segment_label").as_deref(),
            a["label"].as_str()
        );
        assert_eq!(row.get::<Option<f64>, _>("score"), a["score"].as_f64());
    }
    // What a Tableau sheet sends: customers by segment, with an average.
    let by_segment = rows(
        &mut bi,
        "SELECT a.segment_id, count(*) AS customers, avg(c.spending_score) AS spend
         FROM assignments a JOIN customers c USING (customer_id)
         WHERE a.segmentation = 'Mall' GROUP BY a.segment_id",
    )
    .await;
    for row in &by_segment {
        let id = i64::from(row.get::<i32, _>("segment_id"));
        let s = api_segments
            .iter()
            .find(|s| s["segment_id"].as_i64() == Some(id))
            .unwrap();
        assert_eq!(row.get::<i64, _>("customers"), s["size"].as_i64().unwrap());
        let spend: f64 = row.get("spend");
        assert!((spend - s["centroid"][1].as_f64().unwrap()).abs() < 1e-9);
    }
    let changes = rows(
        &mut bi,
        "SELECT change, count(*) FROM membership_changes GROUP BY 1",
    )
    .await;
    assert_eq!(changes.len(), 1);
    assert_eq!(changes[0].get::<String, _>("change"), "entered");
    assert_eq!(changes[0].get::<i64, _>("count"), 200);
    let segmentations = rows(&mut bi, "SELECT * FROM segmentations").await;
    assert_eq!(segmentations.len(), 1);
    assert_eq!(
        segmentations[0].get::<uuid::Uuid, _>("run_id").to_string(),
        run
    );

    // Nothing else: no table of the store, no write, no object of its own.
    for table in [
        "public.customers",
        "public.api_keys",
        "public.audit_log",
        "public.server_secrets",
        "public.runs",
        "public.assignments",
        "public.report_roles",
        "public.dashboard_sessions",
    ] {
        assert_eq!(
            refused(&mut bi, &format!("SELECT * FROM {table} LIMIT 1")).await,
            "42501",
            "{table}"
        );
    }
    // Sessions are read-only, with the views first on the search path; and a session that
    // turns that off still has no right to write.
    for (setting, value) in [
        ("default_transaction_read_only", "on"),
        ("search_path", "segstore_report"),
    ] {
        let shown: String = sqlx::query_scalar(sqlx::AssertSqlSafe(format!("SHOW {setting}")))
            .fetch_one(&mut bi)
            .await
            .unwrap();
        assert_eq!(shown, value, "{setting}");
    }
    assert_eq!(
        refused(&mut bi, "CREATE TEMPORARY TABLE scratch (x int)").await,
        "25006",
        "read-only"
    );
    sqlx::query("SET default_transaction_read_only = off")
        .execute(&mut bi)
        .await
        .unwrap();
    assert_eq!(
        refused(&mut bi, "DELETE FROM segstore_report.customers").await,
        "42501",
        "no write right either"
    );
    assert_eq!(
        refused(&mut bi, "CREATE TABLE segstore_report.mine (x int)").await,
        "42501"
    );
    assert_eq!(
        refused(&mut bi, "CREATE TABLE public.mine (x int)").await,
        "42501"
    );

    // The catalogue changes: a new attribute is a new column at once, a deleted one goes, and
    // the role reads the view as it is now.
    assert_eq!(
        app.upsert(json!([{"id": "0001", "attributes": {"tier": "gold", "created_at": 3}}]))
            .await
            .status(),
        200
    );
    let now = columns(&mut bi, "segstore_report.customers").await;
    assert_eq!(
        now[3..],
        [
            "gender",
            "age",
            "annual_income_k",
            "spending_score",
            "tier",
            "attribute.created_at"
        ]
    );
    let first = rows(
        &mut bi,
        "SELECT tier, \"attribute.created_at\" FROM customers WHERE customer_id = '0001'",
    )
    .await;
    assert_eq!(
        first[0].get::<Option<String>, _>("tier").as_deref(),
        Some("gold")
    );
    assert_eq!(
        first[0].get::<Option<f64>, _>("attribute.created_at"),
        Some(3.0)
    );
    assert_eq!(app.delete("/v1/attributes/age").await.status(), 204);
    assert_eq!(
        columns(&mut bi, "segstore_report.customers").await[3..],
        [
            "gender",
            "annual_income_k",
            "spending_score",
            "tier",
            "attribute.created_at"
        ]
    );
    assert_eq!(rows(&mut bi, "SELECT * FROM customers").await.len(), 200);

    // Listed; dropped, it can no longer log in.
    let list = report_role(&url, &["list"]).await;
    assert!(String::from_utf8_lossy(&list.stdout).contains(&name));
    bi.close().await.unwrap();
    let dropped = report_role(&url, &["drop", "--name", &name]).await;
    assert!(
        dropped.status.success(),
        "{}",
        String::from_utf8_lossy(&dropped.stderr)
    );
    assert!(connect_as(&url, &name, &password).await.is_err());
}

/// The run ids the assignments view reads, per segmentation name.
async fn viewed_runs(conn: &mut PgConnection) -> Vec<(String, String)> {
    rows(
        conn,
        "SELECT DISTINCT segmentation, run_id::text FROM assignments ORDER BY 1, 2",
    )
    .await
    .iter()
    .map(|r| (r.get("segmentation"), r.get("run_id")))
    .collect()
}

/// Waits (generously) until the assignments view reads `expected`.
async fn wait_viewed(conn: &mut PgConnection, expected: &[(String, String)]) {
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(120);
    loop {
        let now = viewed_runs(conn).await;
        if now == expected {
            return;
        }
        assert!(
            std::time::Instant::now() < deadline,
            "the view reads {now:?}, not {expected:?}"
        );
        tokio::time::sleep(std::time::Duration::from_millis(200)).await;
    }
}

/// The assignments view holds each active run as constants (so a dashboard's query scans only
/// that run's partition): it follows activations by a run and by the API, renames and
/// deletions, catches up a regeneration a dashboard's open transaction held up, and quotes
/// any name.
#[tokio::test]
async fn the_assignments_view_follows_activations_renames_and_deletions() {
    let app = spawn_app().await;
    let seg = mall_segmentation(&app).await;
    let first = app.run_to_success(&seg).await["id"]
        .as_str()
        .unwrap()
        .to_owned();
    let ReportSession {
        conn: mut bi,
        _guard,
        ..
    } = report_session(&app).await;
    let mall = |run: &str| vec![("Mall".to_owned(), run.to_owned())];
    assert_eq!(viewed_runs(&mut bi).await, mall(&first));
    let definition: String =
        sqlx::query_scalar("SELECT pg_get_viewdef('segstore_report.assignments'::regclass)")
            .fetch_one(&app.pool)
            .await
            .unwrap();
    assert!(!definition.contains("segmentations"), "{definition}");
    assert!(definition.contains(&first), "{definition}");

    // A run the worker activates: the view follows once the worker has regenerated it.
    assert_eq!(
        app.upsert(json!(a_third_spending_more())).await.status(),
        200
    );
    let second = app.run_to_success(&seg).await["id"]
        .as_str()
        .unwrap()
        .to_owned();
    wait_viewed(&mut bi, &mall(&second)).await;
    let rows_now = rows(&mut bi, "SELECT * FROM assignments").await;
    assert_eq!(rows_now.len(), 200);

    // Activated by the API: followed before the answer.
    let activate = |run: String| {
        let app = &app;
        async move {
            let r = app
                .client
                .post(app.url(&format!("/v1/runs/{run}/activate")))
                .send()
                .await
                .unwrap();
            assert_eq!(r.status(), 200);
        }
    };
    activate(first.clone()).await;
    assert_eq!(viewed_runs(&mut bi).await, mall(&first));

    // A dashboard's open transaction holds the view past the regeneration's lock timeout: the
    // activation still succeeds, and the view catches up once the dashboard lets go.
    let mut dashboard = bi.begin().await.unwrap();
    sqlx::query("SELECT count(*) FROM assignments")
        .execute(&mut *dashboard)
        .await
        .unwrap();
    activate(second.clone()).await;
    let held: Vec<String> =
        sqlx::query_scalar("SELECT DISTINCT run_id::text FROM segstore_report.assignments")
            .fetch_all(&app.pool)
            .await
            .unwrap();
    assert_eq!(
        held,
        std::slice::from_ref(&first),
        "held up: still the previous run, whole"
    );
    dashboard.commit().await.unwrap();
    wait_viewed(&mut bi, &mall(&second)).await;

    // Renamed: the new name, quoted whatever it holds.
    let odd = "O'Brien \"VIP\"; DROP VIEW x; --";
    let renamed = app
        .client
        .patch(app.url(&format!("/v1/segmentations/{seg}")))
        .json(&json!({"name": odd}))
        .send()
        .await
        .unwrap();
    assert_eq!(renamed.status(), 200);
    assert_eq!(
        viewed_runs(&mut bi).await,
        vec![(odd.to_owned(), second.clone())]
    );
    let by_name = rows(
        &mut bi,
        "SELECT count(*) AS n FROM assignments WHERE segmentation = 'O''Brien \"VIP\"; DROP VIEW x; --'",
    )
    .await;
    assert_eq!(by_name[0].get::<i64, _>("n"), 200);

    // Deleted: no rows, and the view still reads (no branch left).
    assert_eq!(
        app.delete(&format!("/v1/segmentations/{seg}"))
            .await
            .status(),
        204
    );
    assert!(viewed_runs(&mut bi).await.is_empty());
    assert_eq!(
        columns(&mut bi, "segstore_report.assignments").await.len(),
        8
    );
}

#[tokio::test]
async fn report_roles_log_in_with_their_password_only_and_bad_names_are_refused() {
    // A private cluster whose report roles must give a password (the shared one trusts).
    let cluster = PrivateCluster::start().await;
    let url = cluster.url();
    let migrated = Command::new(env!("CARGO_BIN_EXE_segstore"))
        .arg("migrate")
        .env("DATABASE_URL", &url)
        .output()
        .unwrap();
    assert!(migrated.status.success());
    let name = unique_name("bi");
    let password = create_role(&url, &name).await;
    let mut admin = PgConnection::connect(&url).await.unwrap();
    let hba: String = sqlx::query_scalar("SHOW hba_file")
        .fetch_one(&mut admin)
        .await
        .unwrap();
    let rules = std::fs::read_to_string(&hba).unwrap();
    std::fs::write(
        &hba,
        format!("local all {name} scram-sha-256\nhost all {name} all scram-sha-256\n{rules}"),
    )
    .unwrap();
    sqlx::query("SELECT pg_reload_conf()")
        .execute(&mut admin)
        .await
        .unwrap();
    let verifier: String =
        sqlx::query_scalar("SELECT rolpassword FROM pg_authid WHERE rolname = $1")
            .bind(&name)
            .fetch_one(&mut admin)
            .await
            .unwrap();
    assert!(
        verifier.starts_with("SCRAM-SHA-256$4096:"),
        "only a verifier is stored"
    );
    // The reload is asynchronous: wait until a wrong password is refused.
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(30);
    while connect_as(&url, &name, "wrong").await.is_ok() {
        assert!(
            std::time::Instant::now() < deadline,
            "pg_hba.conf was not reloaded"
        );
        tokio::time::sleep(std::time::Duration::from_millis(100)).await;
    }
    let mut bi = connect_as(&url, &name, &password).await.unwrap();
    let n: i64 = sqlx::query_scalar("SELECT count(*) FROM segstore_report.customers")
        .fetch_one(&mut bi)
        .await
        .unwrap();
    assert_eq!(n, 0);

    // The same name again, a bad name, an unknown role to drop: refused, naming why.
    let again = report_role(&url, &["create", "--name", &name]).await;
    assert!(!again.status.success());
    assert!(String::from_utf8_lossy(&again.stderr).contains("exists"));
    for bad in ["Tableau", "pg_x", "a-b", "postgres"] {
        let out = report_role(&url, &["create", "--name", bad]).await;
        assert!(!out.status.success(), "{bad}");
        let stderr = String::from_utf8_lossy(&out.stderr);
        assert!(stderr.contains("not a report role name"), "{bad}: {stderr}");
    }
    let unknown = report_role(&url, &["drop", "--name", "nobody_here"]).await;
    assert!(!unknown.status.success());
    assert!(String::from_utf8_lossy(&unknown.stderr).contains("no report role"));
    let dropped = report_role(&url, &["drop", "--name", &name]).await;
    assert!(dropped.status.success());
}

/// With a standby configured (`DATABASE_READ_URL`), the role is made on the primary and the
/// URL printed is the standby's: a BI tool's queries leave the primary alone.
#[tokio::test]
async fn with_a_standby_the_report_role_connects_there() {
    let primary = PrivateCluster::start().await;
    let migrated = Command::new(env!("CARGO_BIN_EXE_segstore"))
        .arg("migrate")
        .env("DATABASE_URL", primary.url())
        .output()
        .unwrap();
    assert!(migrated.status.success());
    let standby = crate::clusters::Standby::of(&primary).await;
    let name = unique_name("bi_standby");
    let out = Command::new(env!("CARGO_BIN_EXE_segstore"))
        .args(["report-role", "create", "--name", &name])
        .env("DATABASE_URL", primary.url())
        .env("DATABASE_READ_URL", standby.url())
        .env("SEGSTORE_LOG", "warn")
        .output()
        .unwrap();
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(out.status.success(), "{stderr}");
    assert!(
        stderr.contains("the standby (DATABASE_READ_URL)"),
        "{stderr}"
    );
    // `postgresql://name:password@/segstore?host=<socket directory>&port=…` (libpq's form).
    let printed = String::from_utf8(out.stdout).unwrap().trim().to_owned();
    let password = printed
        .strip_prefix(&format!("postgresql://{name}:"))
        .and_then(|rest| rest.split_once('@'))
        .map(|(password, _)| password.to_owned())
        .unwrap_or_else(|| panic!("{printed}"));
    let host = printed
        .split_once("?host=")
        .map(|(_, q)| {
            let host = q.split('&').next().unwrap();
            percent_encoding::percent_decode_str(host)
                .decode_utf8()
                .unwrap()
                .into_owned()
        })
        .unwrap_or_else(|| panic!("{printed}"));
    let socket = |url: &str| {
        PgConnectOptions::from_str(url)
            .unwrap()
            .get_socket()
            .map(|p| p.display().to_string())
    };
    assert_eq!(Some(host.clone()), socket(&standby.url()), "{printed}");
    assert_ne!(Some(host), socket(&primary.url()));
    // The standby replays the role: it logs in there and reads the views, read-only.
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(30);
    let mut bi = loop {
        match connect_as(&standby.url(), &name, &password).await {
            Ok(conn) => break conn,
            Err(e) => {
                assert!(std::time::Instant::now() < deadline, "{e}");
                tokio::time::sleep(std::time::Duration::from_millis(100)).await;
            }
        }
    };
    let (recovering, customers): (bool, i64) = sqlx::query_as(
        "SELECT pg_is_in_recovery(), (SELECT count(*) FROM segstore_report.customers)",
    )
    .fetch_one(&mut bi)
    .await
    .unwrap();
    assert!(recovering, "connected to the standby");
    assert_eq!(customers, 0);
}

/// A dashboard's long query holds the views while the catalogue changes: the change still
/// answers, a process starting meanwhile still starts (the views are not its reason to
/// refuse), and the views catch up once the dashboard lets go.
#[tokio::test]
async fn a_dashboard_holding_the_views_delays_them_and_blocks_nothing() {
    let app = spawn_app().await;
    app.import_mall().await;
    let ReportSession {
        url,
        conn: mut bi,
        _guard,
        ..
    } = report_session(&app).await;
    let mut dashboard = bi.begin().await.unwrap();
    sqlx::query("SELECT count(*) FROM customers")
        .execute(&mut *dashboard)
        .await
        .unwrap();
    assert_eq!(
        app.upsert(json!([{"id": "0001", "attributes": {"tier": "gold"}}]))
            .await
            .status(),
        200
    );
    let mut start = Command::new(env!("CARGO_BIN_EXE_segstore"));
    start
        .args(["keys", "list"])
        .env("DATABASE_URL", &url)
        .env("SEGSTORE_LOG", "warn");
    let started = output_of(start).await;
    let stderr = String::from_utf8_lossy(&started.stderr);
    assert!(started.status.success(), "{stderr}");
    assert!(stderr.contains("were not regenerated at start"), "{stderr}");
    let held: Vec<String> = sqlx::query_scalar(
        "SELECT attname::text FROM pg_attribute
         WHERE attrelid = 'segstore_report.customers'::regclass AND attnum > 0",
    )
    .fetch_all(&app.pool)
    .await
    .unwrap();
    assert!(!held.iter().any(|c| c == "tier"), "{held:?}");
    dashboard.commit().await.unwrap();
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(120);
    while !columns(&mut bi, "segstore_report.customers")
        .await
        .iter()
        .any(|c| c == "tier")
    {
        assert!(
            std::time::Instant::now() < deadline,
            "the view never caught up"
        );
        tokio::time::sleep(std::time::Duration::from_millis(200)).await;
    }
}
