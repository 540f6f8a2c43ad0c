use reqwest::{Response, StatusCode};
use segstore::domain::key::{KeyName, Scopes};
use segstore::http::ApiSettings;
use segstore::jobs::{JobSettings, Jobs};
use segstore::service::keys::NewKeyRequest;
use segstore::service::lookup::LookupSettings;
use segstore::startup::embedded_pg::EmbeddedPostgres;
use segstore::startup::{Access, Application, MIGRATOR};
use serde_json::{Value, json};
use sqlx::postgres::{PgConnectOptions, PgPoolOptions};
use sqlx::{ConnectOptions, Connection, PgConnection, PgPool};
use std::net::TcpListener;
use std::str::FromStr;
use std::sync::OnceLock;
use std::time::Duration;

/// Limits small enough that tests can exceed them cheaply.
pub const TEST_MAX_BATCH: usize = 100;
pub const TEST_MAX_JSON_BYTES: usize = 256 * 1024;
pub const TEST_MAX_ATTRIBUTES: usize = 40;
pub const TEST_MAX_DECOMPRESSED_BYTES: u64 = 1 << 20;

pub const MALL_CSV: &str = concat!(
    env!("CARGO_MANIFEST_DIR"),
    "/tests/fixtures/Mall_Customers.csv"
);

/// Each Mall customer's (age, annual income, spending score), by id, read from the fixture.
pub fn mall_customers() -> std::collections::HashMap<String, [f64; 3]> {
    std::fs::read_to_string(MALL_CSV)
        .unwrap()
        .lines()
        .skip(1)
        .map(|line| {
            let f: Vec<&str> = line.split(',').collect();
            let v = |i: usize| f[i].parse().unwrap();
            (f[0].to_owned(), [v(2), v(3), v(4)])
        })
        .collect()
}

/// The Mall customers imported, and a segmentation of them on income and spend (K-Means,
/// k = 5); returns its id.
pub async fn mall_segmentation(app: &TestApp) -> String {
    app.import_mall().await;
    app.create_segmentation(json!({
        "name": "Mall",
        "config": {
            "features": ["annual_income_k", "spending_score"],
            "algorithm": {"type": "kmeans", "k": 5}
        }
    }))
    .await
}

/// A shifted population: every third Mall customer (ids divisible by 3, 66 of them) spends
/// 40 points more (at most 100), as a batch for `POST /v1/customers`.
pub fn a_third_spending_more() -> Vec<Value> {
    mall_customers()
        .into_iter()
        .filter(|(id, _)| id.parse::<u32>().unwrap() % 3 == 0)
        .map(|(id, [_, _, score])| {
            json!({"id": id, "attributes": {"spending_score": (score + 40.0).min(100.0)}})
        })
        .collect()
}

/// The PostgreSQL server the tests use: `DATABASE_URL` when set, else the embedded one under
/// `.segstore-test/` (stopped when the test process exits, if this process started it).
struct TestServer {
    admin: PgConnectOptions,
    template: String,
}

fn server() -> &'static TestServer {
    static SERVER: OnceLock<TestServer> = OnceLock::new();
    SERVER.get_or_init(|| {
        // `TEST_LOG=debug cargo test ...` shows the server's logs.
        if let Ok(filter) = std::env::var("TEST_LOG") {
            let _ = segstore::telemetry::init(&segstore::config::LogSettings {
                filter,
                log_format: segstore::config::LogFormat::Pretty,
            });
        }
        std::thread::spawn(|| {
            let admin = match std::env::var("DATABASE_URL") {
                Ok(url) => PgConnectOptions::from_str(&url)
                    .expect("DATABASE_URL is a PostgreSQL URL")
                    .database("postgres"),
                Err(_) => {
                    let root = concat!(env!("CARGO_MANIFEST_DIR"), "/.segstore-test");
                    let mut embedded = EmbeddedPostgres::start(root.as_ref())
                        .unwrap_or_else(|e| panic!("starting the embedded PostgreSQL: {e:#}"));
                    embedded
                        .stop_after_exit_of(std::process::id())
                        .expect("watchdog");
                    embedded.connect_options("postgres")
                }
            };
            let runtime = tokio::runtime::Builder::new_current_thread()
                .enable_all()
                .build()
                .unwrap();
            let template = runtime.block_on(prepare_template(&admin));
            TestServer { admin, template }
        })
        .join()
        .expect("test database setup")
    })
}

/// A migrated database to clone, named after the migrations so a schema change makes a new one.
async fn prepare_template(admin: &PgConnectOptions) -> String {
    let digest = MIGRATOR
        .iter()
        .flat_map(|m| m.checksum.iter().copied())
        .fold(0xcbf2_9ce4_8422_2325u64, |h, b| {
            (h ^ u64::from(b)).wrapping_mul(0x0100_0000_01b3)
        });
    let name = format!("segstore_template_{digest:016x}");
    let mut conn = admin.connect().await.expect("connecting to PostgreSQL");
    // Serialise template creation across concurrently starting test processes.
    sqlx::query("SELECT pg_advisory_lock(7170)")
        .execute(&mut conn)
        .await
        .unwrap();
    let ready: Option<bool> =
        sqlx::query_scalar("SELECT datistemplate FROM pg_database WHERE datname = $1")
            .bind(&name)
            .fetch_optional(&mut conn)
            .await
            .unwrap();
    if ready != Some(true) {
        if ready.is_some() {
            exec(&mut conn, &format!("DROP DATABASE \"{name}\" WITH (FORCE)")).await;
        }
        exec(&mut conn, &format!("CREATE DATABASE \"{name}\"")).await;
        let mut db = PgConnection::connect_with(&admin.clone().database(&name))
            .await
            .unwrap();
        MIGRATOR.run(&mut db).await.expect("migrations apply");
        db.close().await.unwrap();
        exec(
            &mut conn,
            &format!("ALTER DATABASE \"{name}\" WITH IS_TEMPLATE true"),
        )
        .await;
    }
    sqlx::query("SELECT pg_advisory_unlock(7170)")
        .execute(&mut conn)
        .await
        .unwrap();
    name
}

async fn exec(conn: &mut PgConnection, sql: &str) {
    sqlx::query(sqlx::AssertSqlSafe(sql.to_owned()))
        .execute(conn)
        .await
        .unwrap_or_else(|e| panic!("{sql}: {e}"));
}

/// An empty database of its own (not migrated), dropped with this value: for tests that run
/// the binary against a `DATABASE_URL`.
pub struct EmptyDatabase {
    pub url: String,
    name: String,
}

pub async fn empty_database() -> EmptyDatabase {
    let server = server();
    let name = format!("segstore_test_{}", uuid::Uuid::new_v4().simple());
    let mut admin = server.admin.connect().await.unwrap();
    exec(&mut admin, &format!("CREATE DATABASE \"{name}\"")).await;
    admin.close().await.ok();
    let url = server
        .admin
        .clone()
        .database(&name)
        .to_url_lossy()
        .to_string();
    EmptyDatabase { url, name }
}

impl EmptyDatabase {
    /// A pool to the database, for assertions on its state.
    pub async fn pool(&self) -> PgPool {
        PgPoolOptions::new()
            .max_connections(2)
            .connect_with(server().admin.clone().database(&self.name))
            .await
            .unwrap()
    }
}

impl Drop for EmptyDatabase {
    fn drop(&mut self) {
        drop_database(std::mem::take(&mut self.name));
    }
}

/// Drops a test's database. Drop runs inside the test's runtime: the async clean-up runs on a
/// thread of its own.
fn drop_database(name: String) {
    let admin = server().admin.clone();
    std::thread::spawn(move || {
        let runtime = tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .build()
            .unwrap();
        runtime.block_on(async {
            let mut conn = admin.connect().await.unwrap();
            exec(
                &mut conn,
                &format!("DROP DATABASE IF EXISTS \"{name}\" WITH (FORCE)"),
            )
            .await;
        });
    })
    .join()
    .ok();
}

/// Customers whose clustering takes seconds in a test build with [`SLOW_ALGORITHM`] (2,000 × 4
/// features): a run to interrupt while it trains. Ids start with `prefix`.
pub fn slow_customers_csv(prefix: &str) -> String {
    let mut csv = String::from("id,a,b,c,d\n");
    for i in 0..2_000u64 {
        let h = i.wrapping_mul(0x9e37_79b9_7f4a_7c15);
        csv.push_str(&format!(
            "{prefix}{i:05},{},{},{},{}\n",
            h % 1000,
            (h >> 10) % 1000,
            (h >> 20) % 1000,
            (h >> 30) % 1000
        ));
    }
    csv
}

/// The algorithm that makes [`slow_customers_csv`] train for seconds: k swept from 2 to 10
/// with 200 restarts each (the default restarts finish 2,000 customers in a fraction of a
/// second, too soon to interrupt).
pub fn slow_algorithm() -> Value {
    json!({"type": "kmeans", "k": "auto", "k_min": 2, "k_max": 10, "n_init": 200})
}

pub struct TestApp {
    pub address: String,
    /// Sends the admin key (every scope) with every request.
    pub client: reqwest::Client,
    /// The token of the key `client` sends.
    pub key: String,
    /// A connection pool to the test's own database, for assertions on its state.
    pub pool: PgPool,
    database: String,
    jobs: Option<Jobs>,
}

/// Run workers that react fast: short polls, leases and heartbeats.
pub fn test_jobs() -> JobSettings {
    JobSettings {
        workers: 1,
        poll: Duration::from_millis(50),
        lease: Duration::from_secs(5),
        heartbeat: Duration::from_millis(500),
        max_attempts: 3,
        keep_assignments: 5,
        webhooks: test_webhooks(),
    }
}

/// Webhook delivery for tests: receivers on this machine, retries within a second; a
/// delivery gives up after a minute of failures (the test of giving up sets its own, short
/// time: on a loaded machine a few seconds can pass between two attempts).
pub fn test_webhooks() -> segstore::service::webhooks::WebhookSettings {
    use segstore::service::webhooks::{AllowedNetworks, WebhookSettings};
    WebhookSettings {
        workers: 2,
        poll: Duration::from_millis(50),
        timeout: Duration::from_secs(2),
        retry_base: Duration::from_millis(100),
        max_wait: Duration::from_millis(800),
        give_up_after: Duration::from_secs(60),
        allow: AllowedNetworks {
            loopback: true,
            ..AllowedNetworks::default()
        },
    }
}

/// A running server with an empty, migrated database of its own.
pub async fn spawn_app() -> TestApp {
    spawn_app_with(test_jobs()).await
}

/// A running server with its own database and these run workers.
pub async fn spawn_app_with(jobs: JobSettings) -> TestApp {
    spawn_app_on_pool(jobs, 8).await
}

/// A running server (with its run workers, which share the pool) whose pool holds only
/// `connections`, and gives up waiting for one after two seconds: a leaked connection shows
/// at once.
pub async fn spawn_app_with_small_pool(connections: u32) -> TestApp {
    spawn_app_on_pool(test_jobs(), connections).await
}

/// A running server with its own database and these browser settings, limits and summary
/// interval.
pub async fn spawn_app_with_access(access: Access) -> TestApp {
    let (pool, database) = test_database(8).await;
    spawn_with_access(pool, database, test_jobs(), access).await
}

async fn spawn_app_on_pool(jobs: JobSettings, connections: u32) -> TestApp {
    let (pool, database) = test_database(connections).await;
    spawn_on_pool(pool, database, jobs).await
}

/// A migrated database of its own, and a pool of `connections` to it.
async fn test_database(connections: u32) -> (PgPool, String) {
    let server = server();
    let database = format!("segstore_test_{}", uuid::Uuid::new_v4().simple());
    let mut admin = server.admin.connect().await.unwrap();
    exec(
        &mut admin,
        &format!(
            "CREATE DATABASE \"{database}\" TEMPLATE \"{}\"",
            server.template
        ),
    )
    .await;
    admin.close().await.ok();
    let pool = segstore::startup::pool_options(connections)
        .acquire_timeout(Duration::from_secs(if connections < 8 { 2 } else { 30 }))
        .connect_with(server.admin.clone().database(&database))
        .await
        .unwrap();
    (pool, database)
}

/// A running server whose database cannot be reached (connections are refused).
pub async fn spawn_app_without_database() -> TestApp {
    let unreachable = PgConnectOptions::new().host("127.0.0.1").port(1);
    let pool = PgPoolOptions::new()
        .acquire_timeout(Duration::from_secs(2))
        .connect_lazy_with(unreachable);
    let no_workers = JobSettings {
        workers: 0,
        ..test_jobs()
    };
    // No database to keep a key in: any well-formed token (answered with a 503).
    let key = segstore::domain::key::Token::generate().expose().to_owned();
    serve_on(
        pool,
        String::new(),
        no_workers,
        Access::default(),
        key,
        LookupSettings::default(),
    )
    .await
}

async fn spawn_on_pool(pool: PgPool, database: String, jobs: JobSettings) -> TestApp {
    spawn_with_access(pool, database, jobs, Access::default()).await
}

/// A server on this pool with these browser settings and rate limits, and a key with every
/// scope for its client.
pub async fn spawn_with_access(
    pool: PgPool,
    database: String,
    jobs: JobSettings,
    access: Access,
) -> TestApp {
    let key = create_key(&pool, "tests", Scopes::all()).await;
    serve_on(pool, database, jobs, access, key, LookupSettings::default()).await
}

async fn serve_on(
    pool: PgPool,
    database: String,
    jobs: JobSettings,
    access: Access,
    key: String,
    lookup: LookupSettings,
) -> TestApp {
    let listener = TcpListener::bind("127.0.0.1:0").unwrap();
    let settings = ApiSettings {
        max_batch: TEST_MAX_BATCH,
        max_json_bytes: TEST_MAX_JSON_BYTES,
        max_decompressed_bytes: TEST_MAX_DECOMPRESSED_BYTES,
        ingest: segstore::service::IngestLimits {
            max_attributes: TEST_MAX_ATTRIBUTES,
            ..Default::default()
        },
    };
    let app = Application::on_listener(
        listener,
        settings,
        Some(1),
        1,
        segstore::store::Db::single(pool.clone()),
        jobs,
        lookup,
        access,
    )
    .unwrap();
    let address = format!("http://127.0.0.1:{}", app.port());
    let (server, jobs) = app.into_parts();
    tokio::spawn(server);
    TestApp {
        address,
        client: client_with_key(&key),
        key,
        pool,
        database,
        jobs: Some(jobs),
    }
}

impl Drop for TestApp {
    fn drop(&mut self) {
        if let Some(jobs) = self.jobs.take() {
            jobs.stop();
        }
        if self.database.is_empty() {
            return;
        }
        drop_database(std::mem::take(&mut self.database));
    }
}

impl TestApp {
    /// Another server (with its own workers) on this app's database: a second replica.
    pub async fn replica(&self, jobs: JobSettings) -> TestApp {
        spawn_on_pool(self.pool.clone(), String::new(), jobs).await
    }

    /// A replica whose lookup cache has these settings (a TTL of its own).
    pub async fn replica_with_lookup(&self, jobs: JobSettings, lookup: LookupSettings) -> TestApp {
        let key = create_key(&self.pool, "replica", Scopes::all()).await;
        serve_on(
            self.pool.clone(),
            String::new(),
            jobs,
            Access::default(),
            key,
            lookup,
        )
        .await
    }

    /// Creates a segmentation and returns its id.
    pub async fn create_segmentation(&self, body: Value) -> String {
        let response = self.post_json("/v1/segmentations", &body).await;
        let status = response.status();
        let body: Value = response.json().await.unwrap();
        assert_eq!(status, StatusCode::CREATED, "{body}");
        body["id"].as_str().unwrap().to_owned()
    }

    /// Triggers a run (asserting the 202) and returns it.
    pub async fn trigger(&self, segmentation: &str) -> Value {
        let response = self
            .client
            .post(self.url(&format!("/v1/segmentations/{segmentation}/runs")))
            .send()
            .await
            .unwrap();
        let status = response.status();
        let location = response.headers().get("location").cloned();
        let body: Value = response.json().await.unwrap();
        assert_eq!(status, StatusCode::ACCEPTED, "{body}");
        assert_eq!(
            location.unwrap().to_str().unwrap(),
            format!("/v1/runs/{}", body["id"].as_str().unwrap())
        );
        body
    }

    /// Polls a run until it has finished; returns it.
    pub async fn wait_run(&self, run_id: &str) -> Value {
        let deadline = std::time::Instant::now() + Duration::from_secs(120);
        loop {
            let run = json_ok(self.get(&format!("/v1/runs/{run_id}")).await).await;
            if !matches!(run["status"].as_str(), Some("queued" | "running")) {
                return run;
            }
            assert!(
                std::time::Instant::now() < deadline,
                "run {run_id} did not finish: {run:#}"
            );
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
    }

    /// Triggers a run and waits for its success; returns it.
    pub async fn run_to_success(&self, segmentation: &str) -> Value {
        let queued = self.trigger(segmentation).await;
        let run = self.wait_run(queued["id"].as_str().unwrap()).await;
        assert_eq!(run["status"], "succeeded", "{run:#}");
        run
    }

    pub fn url(&self, path: &str) -> String {
        format!("{}{}", self.address, path)
    }

    pub async fn get(&self, path: &str) -> Response {
        self.client.get(self.url(path)).send().await.unwrap()
    }

    pub async fn delete(&self, path: &str) -> Response {
        self.client.delete(self.url(path)).send().await.unwrap()
    }

    pub async fn post_json(&self, path: &str, body: &Value) -> Response {
        self.client
            .post(self.url(path))
            .json(body)
            .send()
            .await
            .unwrap()
    }

    pub async fn post_raw(
        &self,
        path: &str,
        content_type: &str,
        body: impl Into<reqwest::Body>,
    ) -> Response {
        self.client
            .post(self.url(path))
            .header("content-type", content_type)
            .body(body)
            .send()
            .await
            .unwrap()
    }

    pub async fn import_csv(&self, query: &str, csv: impl Into<reqwest::Body>) -> Response {
        self.post_raw(&format!("/v1/customers/import{query}"), "text/csv", csv)
            .await
    }

    /// Imports the Mall fixture and returns the import's answer.
    pub async fn import_mall(&self) -> Value {
        let csv = std::fs::read(MALL_CSV).unwrap();
        json_ok(self.import_csv("", csv).await).await
    }

    pub async fn upsert(&self, customers: Value) -> Response {
        self.post_json("/v1/customers", &json!({ "customers": customers }))
            .await
    }

    /// A digest of everything the store holds: equal digests mean nothing was written.
    pub async fn fingerprint(&self) -> String {
        sqlx::query_scalar(
            "SELECT md5(coalesce((SELECT string_agg(format('%s|%s|%s|%s', external_id, numeric_values,
                                                           categorical_values, updated_at), E'\\n' ORDER BY external_id)
                                  FROM customers), '')
                        || coalesce((SELECT string_agg(format('%s|%s|%s', name, kind, position), E'\\n' ORDER BY name)
                                     FROM attributes), '')
                        || coalesce((SELECT string_agg(format('%s|%s|%s|%s|%s', external_id, p_alive,
                                                              expected_orders, expected_order_value, value),
                                                       E'\\n' ORDER BY external_id)
                                     FROM customer_clv), '')
                        || coalesce((SELECT string_agg(external_id || md5(days), E'\\n' ORDER BY external_id)
                                     FROM purchase_days), '')
                        || coalesce((SELECT string_agg(external_id, E'\\n' ORDER BY external_id)
                                     FROM purchase_days_stale), ''))",
        )
        .fetch_one(&self.pool)
        .await
        .unwrap()
    }

    /// The number a `SELECT count(*) …` returns.
    pub async fn count(&self, sql: &str) -> i64 {
        sqlx::query_scalar(sqlx::AssertSqlSafe(sql.to_owned()))
            .fetch_one(&self.pool)
            .await
            .unwrap()
    }

    pub async fn customer_count(&self) -> i64 {
        sqlx::query_scalar("SELECT count(*) FROM customers")
            .fetch_one(&self.pool)
            .await
            .unwrap()
    }
}

/// Creates a key with these scopes in the database; returns its token.
pub async fn create_key(pool: &PgPool, name: &str, scopes: Scopes) -> String {
    let request = NewKeyRequest {
        name: KeyName::parse(name).unwrap(),
        scopes,
        expires_at: None,
        created_by: None,
    };
    // A ring of its own: the servers hear of the key by its announcement.
    let ring = segstore::service::keys::KeyRing::new(pool.clone().into(), Default::default());
    let (_, token) = segstore::service::keys::create(&ring, &request)
        .await
        .expect("creating a key");
    token.expose().to_owned()
}

/// A client that sends this key with every request.
pub fn client_with_key(key: &str) -> reqwest::Client {
    let mut headers = reqwest::header::HeaderMap::new();
    headers.insert(
        reqwest::header::AUTHORIZATION,
        format!("Bearer {key}").parse().unwrap(),
    );
    reqwest::Client::builder()
        .default_headers(headers)
        // The server closes a connection idle for 5 s (actix-web's keep-alive): a client that
        // keeps it longer can send on one being closed (`IncompleteMessage`), as a test that
        // computes its reference between two requests would on a loaded machine.
        .pool_idle_timeout(Duration::from_secs(2))
        .build()
        .unwrap()
}

/// Asserts a 200 and returns the JSON body.
pub async fn json_ok(response: Response) -> Value {
    json_status(response, 200).await
}

/// Asserts this status and returns the JSON body.
pub async fn json_status(response: Response, status: u16) -> Value {
    let got = response.status();
    let body = response.text().await.unwrap();
    assert_eq!(got.as_u16(), status, "body: {body}");
    serde_json::from_str(&body).unwrap()
}

/// Asserts a problem+json answer with this status whose detail or errors mention `needle`;
/// returns the body.
pub async fn assert_problem(response: Response, status: u16, needle: &str) -> Value {
    let got = response.status().as_u16();
    let content_type = response
        .headers()
        .get("content-type")
        .map(|v| v.to_str().unwrap().to_owned())
        .unwrap_or_default();
    let text = response.text().await.unwrap();
    assert_eq!(got, status, "body: {text}");
    assert_eq!(content_type, "application/problem+json", "body: {text}");
    let body: Value = serde_json::from_str(&text).unwrap();
    assert_eq!(body["status"], status, "{body}");
    assert!(
        body["type"]
            .as_str()
            .unwrap()
            .starts_with("urn:segstore:problem:"),
        "{body}"
    );
    assert!(body["title"].is_string(), "{body}");
    assert!(
        text.contains(needle),
        "problem does not mention {needle:?}: {body:#}"
    );
    body
}

/// The Python the example and contract tests run: `$SEGSTORE_PYTHON` (e.g. a virtual
/// environment's `.venv/bin/python`, as the README sets one up), else `python3` on `PATH`.
pub fn python() -> std::path::PathBuf {
    std::env::var_os("SEGSTORE_PYTHON")
        .filter(|p| !p.is_empty())
        .map_or_else(|| "python3".into(), Into::into)
}

/// A Python tool's command (`schemathesis`): the one beside `$SEGSTORE_PYTHON` when there
/// is one (a virtual environment's `bin/`), else the one on `PATH`.
pub fn python_tool(name: &str) -> std::path::PathBuf {
    let python = python();
    python
        .parent()
        .map(|bin| bin.join(name))
        .filter(|tool| tool.is_file())
        .unwrap_or_else(|| name.into())
}

/// How to install Python packages into the Python the tests run.
pub fn pip_install(what: &str) -> String {
    format!("{} -m pip install {what}", python().display())
}

/// Asserts that a tool ran successfully; fails with what it printed.
pub fn assert_ran(what: &str, out: &std::process::Output) {
    assert!(
        out.status.success(),
        "{what} failed:\n{}\n{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
}

/// Runs a command off the test's runtime and waits for it: the app under test runs its
/// workers on that runtime, and one of them may hold a lock the command waits for.
pub async fn output_of(mut command: std::process::Command) -> std::process::Output {
    tokio::task::spawn_blocking(move || command.output().expect("the command starts"))
        .await
        .unwrap()
}
