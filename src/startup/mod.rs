//! Building the application: the database (given or embedded), migrations, the HTTP server.

pub mod embedded_pg;
pub mod metrics;

use crate::config::{DatabaseSettings, ServeSettings};
use crate::http::{self, ApiSettings};
use crate::jobs::{JobSettings, Jobs};
use crate::service::keys::{KeyRing, KeySettings};
use crate::service::lookup::{LookupCache, LookupSettings};
use crate::store::replica::Reads;
use crate::store::{Db, Pool};
use anyhow::Context;
use embedded_pg::EmbeddedPostgres;
use sqlx::ConnectOptions;
use sqlx::postgres::{PgConnectOptions, PgPoolOptions};
use std::net::TcpListener;
use std::str::FromStr;
use std::time::Duration;

pub static MIGRATOR: sqlx::migrate::Migrator = sqlx::migrate!("./migrations");

/// Every connection's session: named in `pg_stat_activity`, and checked by PostgreSQL every
/// second while a statement runs, so that the statements of a killed process (a `MERGE` of an
/// import, holding its locks) end within a second instead of running on.
pub fn session_options(options: PgConnectOptions) -> PgConnectOptions {
    options
        .application_name("segstore")
        .options([("client_connection_check_interval", "1000")])
}

/// A connection through a transaction pooler (PgBouncer's `pool_mode = transaction`): each
/// transaction may run on another server session, so no statement is prepared by name (the
/// next transaction's session would not know it) and no startup parameter PgBouncer refuses
/// is sent (`options`, `extra_float_digits`). Set `client_connection_check_interval` on the
/// role instead (`ALTER ROLE … SET`), as the README's "Scaling out" shows.
pub fn pooled_options(options: PgConnectOptions) -> PgConnectOptions {
    options
        .application_name("segstore")
        .statement_cache_capacity(0)
        .extra_float_digits(None)
}

/// How the server pools its connections (the tests build theirs the same way).
pub fn pool_options(max_connections: u32) -> PgPoolOptions {
    PgPoolOptions::new()
        .max_connections(max_connections)
        .acquire_timeout(Duration::from_secs(5))
        // A ping before every checkout doubles the round trips of the hot path; a dead
        // connection surfaces as an error (503) and is replaced instead.
        .test_before_acquire(false)
}

/// The database a process talks to; stops the embedded server it started when dropped.
pub struct Database {
    pub db: Db,
    embedded: Option<EmbeddedPostgres>,
}

fn parse_url(url: &str, variable: &str) -> anyhow::Result<PgConnectOptions> {
    PgConnectOptions::from_str(url)
        .with_context(|| format!("{variable} is not a valid PostgreSQL URL"))
}

impl Database {
    /// Connects to `DATABASE_URL` (and `DATABASE_DIRECT_URL`, `DATABASE_READ_URL` when set),
    /// or starts (or reuses) the embedded PostgreSQL and its `segstore` database.
    pub async fn connect(settings: &DatabaseSettings) -> anyhow::Result<Self> {
        let (options, embedded) = match settings.url() {
            Some(url) => (parse_url(url, "DATABASE_URL")?, None),
            None => {
                let root = settings.data_dir.clone();
                let embedded =
                    tokio::task::spawn_blocking(move || EmbeddedPostgres::start(&root)).await??;
                crate::store::create_database_if_missing(
                    &embedded.connect_options("postgres"),
                    "segstore",
                )
                .await
                .context("creating the segstore database in the embedded PostgreSQL")?;
                (embedded.connect_options("segstore"), Some(embedded))
            }
        };
        let slow = |o: PgConnectOptions| {
            o.log_slow_statements(tracing::log::LevelFilter::Warn, Duration::from_secs(5))
        };
        // With a direct URL beside it, DATABASE_URL (and the read URL) is a transaction pooler.
        let pooled = settings.direct_url().is_some();
        let (options, direct) = match settings.direct_url() {
            Some(url) => (
                pooled_options(options),
                session_options(parse_url(url, "DATABASE_DIRECT_URL")?),
            ),
            None => {
                let options = session_options(options);
                (options.clone(), options)
            }
        };
        let wrap = |pool| match pooled {
            true => Pool::behind_transaction_pooler(pool),
            false => Pool::direct(pool),
        };
        let pool = wrap(
            pool_options(settings.db_max_connections)
                .connect_with(slow(options))
                .await
                .context("connecting to PostgreSQL")?,
        );
        let reads = match settings.read_url() {
            // Lazily: a standby that is down at start costs nothing but reads on the primary.
            Some(url) => Reads::with_standby(
                pool.clone(),
                wrap(
                    pool_options(settings.db_max_connections)
                        .acquire_timeout(Duration::from_secs(1))
                        .connect_lazy_with(slow(match pooled {
                            true => pooled_options(parse_url(url, "DATABASE_READ_URL")?),
                            false => session_options(parse_url(url, "DATABASE_READ_URL")?),
                        })),
                ),
                Duration::from_millis(settings.read_max_wait_ms),
            ),
            None => Reads::primary_only(pool.clone()),
        };
        Ok(Self {
            db: Db {
                pool,
                direct,
                reads,
            },
            embedded,
        })
    }

    /// Applies the migrations on a direct session (sqlx holds a session lock meanwhile, which
    /// a transaction pooler would not keep).
    pub async fn migrate(&self) -> anyhow::Result<()> {
        let direct = pool_options(1).connect_with(self.db.direct.clone()).await?;
        let applied = async {
            MIGRATOR.run(&direct).await.context("applying migrations")?;
            // The generated views of `segstore_report` as the catalogue and the active runs
            // are now (a change whose regeneration failed, or an upgrade, left them behind).
            // Not a reason to refuse to start: a dashboard or another session may hold them
            // past the bound, and the workers' housekeeping catches up.
            let mut conn = direct.acquire().await?;
            if let Err(e) = crate::service::report::sync_on(&mut conn).await {
                tracing::warn!(error = %e, "the segstore_report views were not regenerated \
                    at start; the housekeeping tries again");
            }
            anyhow::Ok(())
        }
        .await;
        direct.close().await;
        applied
    }

    /// Closes the pools and stops the embedded server if this process started it.
    pub async fn close(mut self) {
        self.db.pool.close().await;
        self.db.reads.close().await;
        if let Some(embedded) = self.embedded.take() {
            tokio::task::spawn_blocking(move || embedded.stop())
                .await
                .ok();
        }
    }
}

/// How often each replica writes when its keys were last used.
pub const LAST_USED_FLUSH: Duration = Duration::from_secs(10);

/// Who may call the server: browser-facing settings and the keys' rate limits.
#[derive(Debug, Clone, Default)]
pub struct Access {
    pub security: http::Security,
    pub keys: KeySettings,
    /// How often refused requests are summed up in the log and the audit log (a minute;
    /// `None`: the default).
    pub refusals_every: Option<Duration>,
}

/// The browser-facing settings: public URLs' hosts and origins, CORS origins.
fn security(settings: &ServeSettings) -> http::Security {
    http::Security {
        origins: http::gate::Origins {
            public_hosts: settings
                .public_urls
                .iter()
                .filter_map(|url| url.split_once("://"))
                .map(|(_, authority)| http::gate::host_name(authority).to_ascii_lowercase())
                .collect(),
            allowed: settings
                .public_urls
                .iter()
                .chain(&settings.cors_origins)
                .cloned()
                .collect(),
        },
        cors_origins: settings.cors_origins.clone(),
        secure_cookies: settings
            .public_urls
            .iter()
            .any(|url| url.to_ascii_lowercase().starts_with("https://")),
    }
}

/// A bound HTTP server and the run workers of this process.
pub struct Application {
    port: u16,
    server: actix_web::dev::Server,
    jobs: Jobs,
    /// The metrics server and its port, when `--metrics-bind` asks for one.
    metrics: Option<(actix_web::dev::Server, u16)>,
}

impl Application {
    /// Binds the listener first (port 0 picks a free one) and builds the server on it.
    pub fn build(settings: &ServeSettings, db: Db) -> anyhow::Result<Self> {
        let listener = TcpListener::bind(&settings.bind)
            .with_context(|| format!("binding {}", settings.bind))?;
        let api = ApiSettings {
            max_batch: settings.max_batch as usize,
            max_json_bytes: settings.max_json_bytes,
            max_decompressed_bytes: settings.max_decompressed_bytes,
            ingest: crate::service::IngestLimits {
                csv: crate::service::CsvLimits {
                    max_field_bytes: settings.max_csv_field_bytes as usize,
                    max_line_bytes: settings.max_csv_line_bytes as usize,
                },
                max_attributes: settings.max_attributes as usize,
            },
        };
        // Before the app: every metric is recorded from the first request on.
        let metrics = match &settings.metrics_bind {
            Some(bind) => {
                let listener = TcpListener::bind(bind)
                    .with_context(|| format!("binding the metrics listener {bind}"))?;
                let port = listener.local_addr()?.port();
                let handle = metrics::install()?;
                http::record_requests();
                Some((metrics::server(listener, handle, db.pool.clone())?, port))
            }
            None => None,
        };
        let mut app = Self::on_listener(
            listener,
            api,
            settings.http_workers,
            settings.shutdown_timeout,
            db,
            settings.jobs.settings(),
            settings.jobs.lookup_settings(),
            Access {
                security: security(settings),
                keys: settings.key_settings(),
                refusals_every: Some(Duration::from_secs(settings.refusal_summary_seconds)),
            },
        )?;
        app.metrics = metrics;
        Ok(app)
    }

    /// The metrics server's port, when there is one.
    pub fn metrics_port(&self) -> Option<u16> {
        self.metrics.as_ref().map(|(_, port)| *port)
    }

    #[allow(clippy::too_many_arguments)]
    pub fn on_listener(
        listener: TcpListener,
        api: ApiSettings,
        workers: Option<usize>,
        shutdown_timeout: u64,
        db: Db,
        jobs: JobSettings,
        lookup: LookupSettings,
        access: Access,
    ) -> anyhow::Result<Self> {
        let port = listener.local_addr()?.port();
        let pool = db.pool.clone();
        let cache = LookupCache::new(pool.clone(), lookup);
        let keys = KeyRing::new(pool.clone(), access.keys);
        keys.spawn_flusher(LAST_USED_FLUSH);
        crate::service::events::spawn_listener(&db.direct, keys.clone(), cache.clone());
        let webhooks = jobs.webhooks.allow;
        let jobs = Jobs::start(db.clone(), jobs, cache.clone());
        let audit = crate::service::audit::AuditLog::new(db.pool.clone());
        audit.spawn_flusher(access.refusals_every.unwrap_or(Duration::from_secs(60)));
        let state = http::AppState {
            audit,
            sessions: crate::service::sessions::Sessions::new(db.pool.clone()),
            db,
            settings: api,
            waker: jobs.waker(),
            cache,
            keys,
            security: access.security,
            webhooks,
        };
        let mut server = actix_web::HttpServer::new(move || http::app(state.clone()))
            .shutdown_timeout(shutdown_timeout)
            // The signals are ours (`run_until_stopped`): actix-web's own would stop at once on
            // SIGINT, dropping in-flight requests, where Ctrl-C should drain like SIGTERM.
            .disable_signals()
            .listen(listener)?;
        if let Some(workers) = workers {
            server = server.workers(workers);
        }
        Ok(Self {
            port,
            server: server.run(),
            jobs,
            metrics: None,
        })
    }

    pub fn port(&self) -> u16 {
        self.port
    }

    /// Serves until SIGINT or SIGTERM, then finishes in-flight requests (for up to the
    /// shutdown timeout) and stops the workers. The workers are told at the signal, not after
    /// the requests drain: a run in progress goes back to the queue at once instead of
    /// training on through the drain. A second signal during the drain (Ctrl-C again) stops
    /// at once, dropping the requests still in flight.
    pub async fn run_until_stopped(self) -> std::io::Result<()> {
        let metrics = self.metrics.map(|(server, _)| {
            let handle = server.handle();
            tokio::spawn(server);
            handle
        });
        let server = self.server;
        let handle = server.handle();
        tokio::pin!(server);
        let mut signals = StopSignals::new();
        let served = tokio::select! {
            served = &mut server => served,
            signal = signals.next() => {
                tracing::info!(
                    signal,
                    "stopping: in-flight requests finish, workers give their runs back; \
                     a second SIGINT (Ctrl-C) or SIGTERM stops at once"
                );
                self.jobs.stop();
                // Sent now; `server` completes once the drain is over.
                drop(handle.stop(true));
                tokio::select! {
                    served = &mut server => served,
                    signal = signals.next() => {
                        // The server answers no command before its drain is over: the process
                        // ends without it, and its connections with it.
                        tracing::warn!(signal, "stopping at once: in-flight requests are dropped");
                        Ok(())
                    }
                }
            }
        };
        self.jobs.shutdown().await;
        if let Some(metrics) = metrics {
            metrics.stop(true).await;
        }
        served
    }

    /// The server to spawn, and the workers (they stop when `Jobs::shutdown` is called or
    /// the runtime ends).
    pub fn into_parts(self) -> (actix_web::dev::Server, Jobs) {
        (self.server, self.jobs)
    }
}

/// SIGTERM and SIGINT, as they come. If they cannot be listened to, none ever comes (the
/// process then stops only when killed).
struct StopSignals(Option<(tokio::signal::unix::Signal, tokio::signal::unix::Signal)>);

impl StopSignals {
    fn new() -> Self {
        use tokio::signal::unix::{SignalKind, signal};
        match (
            signal(SignalKind::terminate()),
            signal(SignalKind::interrupt()),
        ) {
            (Ok(term), Ok(int)) => Self(Some((term, int))),
            (Err(e), _) | (_, Err(e)) => {
                tracing::warn!(error = %e, "cannot listen for stop signals");
                Self(None)
            }
        }
    }

    /// The next signal's name.
    async fn next(&mut self) -> &'static str {
        match &mut self.0 {
            Some((term, int)) => tokio::select! {
                _ = term.recv() => "SIGTERM",
                _ = int.recv() => "SIGINT",
            },
            None => std::future::pending().await,
        }
    }
}

/// Buffers of 4 MiB and more (a run's columns, matrices and per-customer results) are mapped
/// from the operating system and given back the moment they are freed, and grow in place.
/// Left to itself, glibc raises this threshold to 32 MiB after the first large free, and then
/// serves such buffers from its heaps: a growing column is copied on every doubling, and what
/// a run frees stays in the process until trimmed.
pub fn map_large_buffers() {
    #[cfg(all(target_os = "linux", target_env = "gnu"))]
    // SAFETY: mallopt only sets a tuning parameter of the allocator.
    unsafe {
        libc::mallopt(libc::M_MMAP_THRESHOLD, 4 << 20);
    }
}

/// Training threads (rayon's pool) run at a lower CPU priority (nice 10) than the HTTP
/// workers: a retrain uses every core it gets, and lookups must stay fast meanwhile.
pub fn lower_training_priority() -> anyhow::Result<()> {
    rayon::ThreadPoolBuilder::new()
        .thread_name(|i| format!("segstore-train-{i}"))
        .start_handler(|_| {
            // SAFETY: plain syscalls on the calling thread; on Linux the nice value is a
            // per-thread attribute and `gettid` names this thread.
            unsafe {
                let tid = libc::syscall(libc::SYS_gettid) as libc::id_t;
                libc::setpriority(libc::PRIO_PROCESS, tid, 10);
            }
        })
        .build_global()
        .context("starting the training thread pool")
}
