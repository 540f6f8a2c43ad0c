//! The binary as an operator runs it: `segstore migrate` and `segstore serve` against a
//! `DATABASE_URL`, settings from the environment, JSON logs whose lines of a run carry its
//! `run_id`, and SIGTERM during a run giving the run back to the queue for another process.

use crate::helpers::{MALL_CSV, empty_database, slow_algorithm, slow_customers_csv};
use reqwest::Client;
use serde_json::{Value, json};
use std::process::Stdio;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};
use tokio::io::{AsyncBufReadExt, BufReader};
use tokio::process::{Child, Command};

const BIN: &str = env!("CARGO_BIN_EXE_segstore");

/// A `segstore serve` child process and the JSON lines it has logged so far.
pub struct Served {
    child: Child,
    pub base: String,
    /// `http://127.0.0.1:{port}` of the metrics listener, when one was asked for.
    pub metrics: Option<String>,
    pub lines: Arc<Mutex<Vec<Value>>>,
    /// The admin key the first start against this database created.
    pub key: String,
    /// Its data directory (where the first start saved `admin.key`).
    pub data_dir: tempfile::TempDir,
}

/// The key the first server of each database created (later ones find keys and create none).
fn first_keys() -> &'static Mutex<std::collections::HashMap<String, String>> {
    static KEYS: std::sync::OnceLock<Mutex<std::collections::HashMap<String, String>>> =
        std::sync::OnceLock::new();
    KEYS.get_or_init(Default::default)
}

async fn serve(url: &str) -> Served {
    serve_with(url, &[]).await
}

/// `segstore serve` with these settings added (or overridden) in its environment.
pub async fn serve_with(url: &str, settings: &[(&str, &str)]) -> Served {
    let data_dir = tempfile::tempdir().unwrap();
    let mut child = Command::new(BIN)
        .arg("serve")
        .env("DATABASE_URL", url)
        .env("SEGSTORE_DATA_DIR", data_dir.path())
        .env("SEGSTORE_RATE_LIMIT", "0")
        .env("SEGSTORE_BIND", "127.0.0.1:0")
        .env("SEGSTORE_LOG_FORMAT", "json")
        .env("SEGSTORE_LOG", "info")
        .env("SEGSTORE_RUN_POLL_MS", "50")
        .env("SEGSTORE_RUN_LEASE_SECONDS", "5")
        .env("SEGSTORE_SHUTDOWN_TIMEOUT", "5")
        .env("SEGSTORE_HTTP_WORKERS", "1")
        .envs(settings.iter().copied())
        .stdout(Stdio::null())
        .stderr(Stdio::piped())
        .kill_on_drop(true)
        .spawn()
        .expect("the binary starts");
    let lines = Arc::new(Mutex::new(Vec::new()));
    let (port_tx, port_rx) = tokio::sync::oneshot::channel();
    let stderr = child.stderr.take().unwrap();
    let kept = lines.clone();
    tokio::spawn(async move {
        let mut port_tx = Some(port_tx);
        let mut reader = BufReader::new(stderr).lines();
        while let Ok(Some(line)) = reader.next_line().await {
            let value: Value = serde_json::from_str(&line)
                .unwrap_or_else(|e| panic!("a log line that is not JSON ({e}): {line}"));
            if value["message"] == "serving"
                && let Some(tx) = port_tx.take()
            {
                let _ = tx.send((
                    value["port"].as_u64().unwrap(),
                    value["metrics_port"].as_u64(),
                ));
            }
            kept.lock().unwrap().push(value);
        }
    });
    let (port, metrics_port) = tokio::time::timeout(Duration::from_secs(60), port_rx)
        .await
        .expect("the server logs `serving` with its port")
        .unwrap();
    let key = match std::fs::read_to_string(data_dir.path().join("admin.key")) {
        Ok(key) => {
            let key = key.trim().to_owned();
            first_keys()
                .lock()
                .unwrap()
                .insert(url.to_owned(), key.clone());
            key
        }
        Err(_) => first_keys()
            .lock()
            .unwrap()
            .get(url)
            .cloned()
            .expect("the first start against a database creates a key"),
    };
    Served {
        child,
        base: format!("http://127.0.0.1:{port}"),
        metrics: metrics_port.map(|p| format!("http://127.0.0.1:{p}")),
        lines,
        key,
        data_dir,
    }
}

impl Served {
    /// A client sending the admin key.
    pub fn client(&self) -> Client {
        crate::helpers::client_with_key(&self.key)
    }

    /// Kills the process with SIGKILL and waits for it.
    pub async fn kill(&mut self) {
        self.child.start_kill().expect("the server is running");
        self.child.wait().await.unwrap();
    }
}

/// Imports a customer CSV; asserts the 200.
async fn import(client: &Client, base: &str, csv: impl Into<reqwest::Body>) {
    let response = client
        .post(format!("{base}/v1/customers/import"))
        .header("content-type", "text/csv")
        .body(csv)
        .send()
        .await
        .unwrap();
    json(response, 200).await;
}

async fn json(response: reqwest::Response, status: u16) -> Value {
    let got = response.status().as_u16();
    let body = response.text().await.unwrap();
    assert_eq!(got, status, "{body}");
    serde_json::from_str(&body).unwrap()
}

pub async fn wait_run(
    client: &Client,
    base: &str,
    id: &str,
    done: impl Fn(&Value) -> bool,
) -> Value {
    let deadline = Instant::now() + Duration::from_secs(120);
    loop {
        let run = json(
            client
                .get(format!("{base}/v1/runs/{id}"))
                .send()
                .await
                .unwrap(),
            200,
        )
        .await;
        if done(&run) {
            return run;
        }
        assert!(Instant::now() < deadline, "{run:#}");
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}

#[tokio::test]
async fn the_binary_migrates_serves_logs_each_run_and_gives_a_run_back_on_sigterm() {
    let db = empty_database().await;
    let pool = db.pool().await;
    let tables = |pool: sqlx::PgPool| async move {
        sqlx::query_scalar::<_, i64>(
            "SELECT count(*) FROM pg_tables WHERE schemaname = 'public' AND tablename IN ('customers', 'runs', 'segmentations')",
        )
        .fetch_one(&pool)
        .await
        .unwrap()
    };
    assert_eq!(tables(pool.clone()).await, 0);

    // `migrate` applies the migrations, and again changes nothing.
    for _ in 0..2 {
        let out = Command::new(BIN)
            .arg("migrate")
            .env("DATABASE_URL", &db.url)
            .output()
            .await
            .unwrap();
        assert!(out.status.success(), "{out:?}");
    }
    assert_eq!(tables(pool.clone()).await, 3);

    // `serve`, configured by the environment; a retrain's log lines name the run.
    let mut served = serve(&db.url).await;
    let client = served.client();
    let base = served.base.clone();
    import(&client, &base, std::fs::read(MALL_CSV).unwrap()).await;
    let created = client
        .post(format!("{base}/v1/segmentations"))
        .json(
            &json!({"name": "Mall", "config": {"features": ["annual_income_k", "spending_score"]}}),
        )
        .send()
        .await
        .unwrap();
    let seg = json(created, 201).await["id"].as_str().unwrap().to_owned();
    let trigger = |seg: String| {
        let client = client.clone();
        let base = base.clone();
        async move {
            let r = client
                .post(format!("{base}/v1/segmentations/{seg}/runs"))
                .send()
                .await
                .unwrap();
            json(r, 202).await["id"].as_str().unwrap().to_owned()
        }
    };
    let run = trigger(seg.clone()).await;
    let done = wait_run(&client, &base, &run, |r| r["status"] == "succeeded").await;
    assert_eq!(done["k"], 5);
    for message in ["run started", "run succeeded"] {
        // The worker logs its outcome once it is recorded: the API may say so first.
        let line = served.logged(message).await;
        assert_eq!(line["span"]["run_id"], run.as_str(), "{line}");
        assert_eq!(line["span"]["segmentation_id"], seg.as_str(), "{line}");
    }

    // A run long enough to be interrupted: SIGTERM while it trains gives it back.
    import(&client, &base, slow_customers_csv("s")).await;
    let created = client
        .post(format!("{base}/v1/segmentations"))
        .json(&json!({"name": "Slow", "config": {"features": ["a", "b", "c", "d"], "algorithm": slow_algorithm()}}))
        .send()
        .await
        .unwrap();
    let slow_seg = json(created, 201).await["id"].as_str().unwrap().to_owned();
    let slow_run = trigger(slow_seg).await;
    wait_run(&client, &base, &slow_run, |r| {
        assert_ne!(
            r["status"], "succeeded",
            "the run finished before SIGTERM: {r:#}"
        );
        r["progress"]["phase"] == "training"
    })
    .await;
    let pid = nix::unistd::Pid::from_raw(served.child.id().unwrap() as i32);
    nix::sys::signal::kill(pid, nix::sys::signal::Signal::SIGTERM).unwrap();
    let status = tokio::time::timeout(Duration::from_secs(60), served.child.wait())
        .await
        .expect("the server stops after SIGTERM")
        .unwrap();
    assert!(status.success(), "{status:?}");
    let (state, events): (String, Value) =
        sqlx::query_as("SELECT status, events FROM runs WHERE run_id = $1::uuid")
            .bind(&slow_run)
            .fetch_one(&pool)
            .await
            .unwrap();
    let lines = served.lines.lock().unwrap().clone();
    assert_eq!(state, "queued", "{events}\n{lines:#?}");
    let last = events.as_array().unwrap().last().unwrap();
    assert_eq!(last["event"], "released", "{events}\n{lines:#?}");
    assert!(
        lines.iter().any(
            |l| l["message"] == "shutting down: the run goes back to the queue"
                && l["span"]["run_id"] == slow_run.as_str()
        ),
        "{lines:#?}"
    );

    // Another process takes it up and finishes it.
    let next = serve(&db.url).await;
    let finished = wait_run(&client, &next.base, &slow_run, |r| {
        r["status"] == "succeeded"
    })
    .await;
    assert!(finished["attempts"].as_i64().unwrap() >= 2, "{finished}");
    pool.close().await;
}

/// Secure by default: the first start on a loopback address creates a key with every scope,
/// saves it readable only by its user and never logs it; the next start creates none. A start
/// on another address without keys refuses, unless asked to create the key.
#[tokio::test]
async fn the_first_start_creates_an_admin_key_and_an_exposed_one_refuses_without_keys() {
    use std::os::unix::fs::PermissionsExt;
    let db = empty_database().await;
    let served = serve(&db.url).await;
    let file = served.data_dir.path().join("admin.key");
    let mode = std::fs::metadata(&file).unwrap().permissions().mode();
    assert_eq!(mode & 0o777, 0o600, "{mode:o}");
    assert!(served.key.starts_with("segk_"));
    let logs = serde_json::to_string(&*served.lines.lock().unwrap()).unwrap();
    assert!(logs.contains("created one with every scope"), "{logs}");
    assert!(!logs.contains(&served.key[18..]), "the token is not logged");
    // It holds every scope.
    let client = served.client();
    let created = client
        .post(format!("{}/v1/keys", served.base))
        .json(&serde_json::json!({"name": "crm", "scopes": ["read"]}))
        .send()
        .await
        .unwrap();
    assert_eq!(created.status(), 201);
    for path in ["/v1/customers", "/v1/audit"] {
        let r = client
            .get(format!("{}{path}", served.base))
            .send()
            .await
            .unwrap();
        assert_eq!(r.status(), 200, "{path}");
    }
    // Anonymous calls are refused; the probes answer.
    let anonymous = Client::new();
    let r = anonymous
        .get(format!("{}/v1/customers", served.base))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 401);
    let r = anonymous
        .get(format!("{}/readyz", served.base))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 200);
    // Keys exist now: another start creates none.
    let again = serve(&db.url).await;
    assert!(!again.data_dir.path().join("admin.key").exists());
    let pool = db.pool().await;
    let keys: i64 = sqlx::query_scalar("SELECT count(*) FROM api_keys")
        .fetch_one(&pool)
        .await
        .unwrap();
    assert_eq!(keys, 2);

    // Listening beyond this machine with no key: refused, saying what to do.
    let fresh = empty_database().await;
    let out = tokio::process::Command::new(BIN)
        .arg("serve")
        .env("DATABASE_URL", &fresh.url)
        .env("SEGSTORE_BIND", "0.0.0.0:0")
        .env("SEGSTORE_DATA_DIR", tempfile::tempdir().unwrap().path())
        .output()
        .await
        .unwrap();
    assert!(!out.status.success());
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(
        stderr.contains("no API key exists") && stderr.contains("segstore keys create"),
        "{stderr}"
    );
    // Unless the first start is asked to create it (a container's data volume).
    let exposed = serve_with(
        &fresh.url,
        &[
            ("SEGSTORE_BIND", "0.0.0.0:0"),
            ("SEGSTORE_BOOTSTRAP_ADMIN_KEY", "true"),
        ],
    )
    .await;
    assert!(exposed.key.starts_with("segk_"));
}

/// An import whose body the test sends in two parts: the head now, the rest when it says.
fn upload_in_two_parts(
    served: &Served,
    head: String,
) -> (
    tokio::sync::oneshot::Sender<&'static str>,
    tokio::task::JoinHandle<reqwest::Result<reqwest::Response>>,
) {
    use futures_util::StreamExt;
    let (rest_tx, rest_rx) = tokio::sync::oneshot::channel::<&'static str>();
    let head = futures_util::stream::iter([Ok::<_, std::io::Error>(bytes::Bytes::from(head))]);
    let rest = futures_util::stream::once(async move {
        let rest = rest_rx.await.unwrap_or("");
        Ok::<_, std::io::Error>(bytes::Bytes::from(rest))
    });
    let request = served
        .client()
        .post(format!("{}/v1/customers/import", served.base))
        .header("content-type", "text/csv")
        .body(reqwest::Body::wrap_stream(head.chain(rest)))
        .send();
    (rest_tx, tokio::spawn(request))
}

/// A CSV head one row longer than what an import reads before it opens its COPY, so that the
/// COPY is open while the rest of the body is awaited.
fn past_the_head(prefix: &str) -> String {
    let rows = segstore::service::csv_import::HEAD_ROWS + 1;
    let mut csv = String::from("id,income\n");
    for i in 0..rows {
        csv.push_str(&format!("{prefix}-{i},{i}\n"));
    }
    csv
}

/// Waits (30 s at most) until an import's COPY runs in the database: its request is in
/// flight (a fixed sleep is not enough on a loaded machine).
async fn copy_in_flight(pool: &sqlx::PgPool) {
    let deadline = Instant::now() + Duration::from_secs(30);
    loop {
        let copying: i64 = sqlx::query_scalar(
            "SELECT count(*) FROM pg_stat_activity
              WHERE datname = current_database() AND query LIKE 'COPY customer_batch%'
                AND state = 'active'",
        )
        .fetch_one(pool)
        .await
        .unwrap();
        if copying > 0 {
            return;
        }
        assert!(Instant::now() < deadline, "the import never started");
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
}

impl Served {
    fn signal(&self, signal: nix::sys::signal::Signal) {
        let pid = nix::unistd::Pid::from_raw(self.child.id().unwrap() as i32);
        nix::sys::signal::kill(pid, signal).unwrap();
    }

    /// Waits (30 s at most) for a log line with this message.
    async fn logged(&self, message: &str) -> Value {
        let deadline = Instant::now() + Duration::from_secs(30);
        loop {
            let found = self
                .lines
                .lock()
                .unwrap()
                .iter()
                .find(|l| {
                    l["message"]
                        .as_str()
                        .is_some_and(|m| m.starts_with(message))
                })
                .cloned();
            if let Some(line) = found {
                return line;
            }
            assert!(Instant::now() < deadline, "no `{message}` line logged");
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
    }
}

/// Ctrl-C stops as SIGTERM does: a request in flight at the first SIGINT is still answered
/// and the process exits cleanly. A second SIGINT during that drain stops at once.
#[tokio::test]
async fn sigint_drains_requests_in_flight_and_a_second_one_stops_at_once() {
    use nix::sys::signal::Signal::SIGINT;
    let db = empty_database().await;
    let pool = db.pool().await;
    let settings = [("SEGSTORE_SHUTDOWN_TIMEOUT", "60")];

    let mut served = serve_with(&db.url, &settings).await;
    let (rest, upload) = upload_in_two_parts(&served, past_the_head("c1"));
    copy_in_flight(&pool).await;
    served.signal(SIGINT);
    let line = served.logged("stopping").await;
    assert_eq!(line["signal"], "SIGINT", "{line}");
    // The rest of the body arrives after the signal, and the import completes.
    rest.send("c2,20\n").unwrap();
    let answered = upload
        .await
        .unwrap()
        .expect("the request in flight is answered");
    let rows = segstore::service::csv_import::HEAD_ROWS as i64 + 1;
    assert_eq!(json(answered, 200).await["inserted"], rows + 1);
    let status = tokio::time::timeout(Duration::from_secs(30), served.child.wait())
        .await
        .expect("the server stops once its requests are answered")
        .unwrap();
    assert!(status.success(), "{status:?}");
    let lines = served.lines.lock().unwrap().clone();
    assert!(
        !lines.iter().any(|l| l["message"]
            .as_str()
            .is_some_and(|m| m.contains("at once:"))),
        "{lines:#?}"
    );
    let kept: i64 = sqlx::query_scalar("SELECT count(*) FROM customers")
        .fetch_one(&pool)
        .await
        .unwrap();
    assert_eq!(kept, rows + 1);

    // Ctrl-C twice: the drain (up to 60 s here) is cut short, the upload is dropped.
    let mut served = serve_with(&db.url, &settings).await;
    let (_rest, upload) = upload_in_two_parts(&served, past_the_head("c3"));
    copy_in_flight(&pool).await;
    served.signal(SIGINT);
    served.logged("stopping:").await;
    let started = Instant::now();
    served.signal(SIGINT);
    let line = served.logged("stopping at once").await;
    assert_eq!(line["signal"], "SIGINT", "{line}");
    let status = tokio::time::timeout(Duration::from_secs(20), served.child.wait())
        .await
        .expect("a second SIGINT stops the server without waiting for the drain")
        .unwrap();
    assert!(status.success(), "{status:?}");
    assert!(started.elapsed() < Duration::from_secs(20));
    assert!(
        upload.await.unwrap().is_err(),
        "the dropped upload got an answer"
    );
    let kept: i64 = sqlx::query_scalar("SELECT count(*) FROM customers")
        .fetch_one(&pool)
        .await
        .unwrap();
    assert_eq!(kept, rows + 1, "nothing of the dropped upload was written");
    pool.close().await;
}
