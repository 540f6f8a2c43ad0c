//! Settings: every one is a command-line flag and an environment variable.

use clap::{Args, ValueEnum};
use std::path::PathBuf;

#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum LogFormat {
    /// Human-readable lines.
    Pretty,
    /// One JSON object per line, for log collectors.
    Json,
}

#[derive(Debug, Clone, Args)]
pub struct LogSettings {
    /// Log filter in tracing's EnvFilter syntax, e.g. `info` or `segstore=debug,sqlx=warn`.
    #[arg(
        long = "log",
        env = "SEGSTORE_LOG",
        default_value = "info",
        global = true
    )]
    pub filter: String,
    /// Log line format.
    #[arg(long, env = "SEGSTORE_LOG_FORMAT", value_enum, default_value_t = LogFormat::Pretty, global = true)]
    pub log_format: LogFormat,
}

#[derive(Debug, Clone, Args)]
pub struct DatabaseSettings {
    /// PostgreSQL connection URL. When unset or empty, an embedded PostgreSQL runs under
    /// --data-dir.
    #[arg(long, env = "DATABASE_URL")]
    pub database_url: Option<String>,
    /// Where the embedded PostgreSQL keeps its cluster (used only without DATABASE_URL).
    #[arg(long, env = "SEGSTORE_DATA_DIR", default_value = ".segstore")]
    pub data_dir: PathBuf,
    /// Most connections in the pool.
    #[arg(long, env = "SEGSTORE_DB_MAX_CONNECTIONS", default_value_t = 16)]
    pub db_max_connections: u32,
    /// A direct connection to the primary, when DATABASE_URL is a transaction pooler
    /// (PgBouncer's `pool_mode = transaction`). Setting it tells segstore that DATABASE_URL
    /// (and DATABASE_READ_URL) pool transactions: no statement is prepared by name there and no
    /// session setting is sent. What needs a session of its own uses this URL: migrations
    /// (their lock), listening for other replicas' announcements, each run worker's lock.
    #[arg(long, env = "DATABASE_DIRECT_URL")]
    pub database_direct_url: Option<String>,
    /// A hot standby of the primary (streaming replication) that serves the heavy reads:
    /// assignment exports, customer lists, the attribute catalogue, charts' data, the
    /// training snapshot. Each such read first waits for the standby to replay what the
    /// primary had committed (`--read-max-wait-ms`), else reads the primary.
    #[arg(long, env = "DATABASE_READ_URL")]
    pub database_read_url: Option<String>,
    /// How long a read waits for the standby to catch up with the primary before it reads
    /// the primary instead, in milliseconds.
    #[arg(long, env = "SEGSTORE_READ_MAX_WAIT_MS", default_value_t = 500, value_parser = clap::value_parser!(u64).range(1..=60_000))]
    pub read_max_wait_ms: u64,
}

impl DatabaseSettings {
    /// `DATABASE_URL`, unless unset or empty (an env file's `DATABASE_URL=` means none).
    pub fn url(&self) -> Option<&str> {
        given(&self.database_url)
    }

    /// `DATABASE_DIRECT_URL`, unless unset or empty.
    pub fn direct_url(&self) -> Option<&str> {
        given(&self.database_direct_url)
    }

    /// `DATABASE_READ_URL`, unless unset or empty.
    pub fn read_url(&self) -> Option<&str> {
        given(&self.database_read_url)
    }
}

fn given(value: &Option<String>) -> Option<&str> {
    value.as_deref().map(str::trim).filter(|v| !v.is_empty())
}

#[derive(Debug, Clone, Args)]
pub struct ServeSettings {
    #[command(flatten)]
    pub database: DatabaseSettings,
    /// Address and port to listen on.
    #[arg(long, env = "SEGSTORE_BIND", default_value = "127.0.0.1:8080")]
    pub bind: String,
    /// Most customers in one JSON batch (POST /v1/customers).
    #[arg(long, env = "SEGSTORE_MAX_BATCH", default_value_t = 10_000, value_parser = clap::value_parser!(u32).range(1..))]
    pub max_batch: u32,
    /// Largest JSON request body, in bytes.
    #[arg(long, env = "SEGSTORE_MAX_JSON_BYTES", default_value_t = 32 * 1024 * 1024)]
    pub max_json_bytes: usize,
    /// Longest CSV field an import accepts, in bytes (a quote that never closes ends there).
    #[arg(long, env = "SEGSTORE_MAX_CSV_FIELD_BYTES", default_value_t = 1 << 20, value_parser = clap::value_parser!(u32).range(1..))]
    pub max_csv_field_bytes: u32,
    /// Longest CSV line (header included) an import accepts, in bytes.
    #[arg(long, env = "SEGSTORE_MAX_CSV_LINE_BYTES", default_value_t = 4 << 20, value_parser = clap::value_parser!(u32).range(1..))]
    pub max_csv_line_bytes: u32,
    /// Most bytes a compressed import (`Content-Encoding: gzip`) may decode to (4 GiB); beyond, 413.
    #[arg(long, env = "SEGSTORE_MAX_DECOMPRESSED_BYTES", default_value_t = 4 << 30, value_parser = clap::value_parser!(u64).range(1..))]
    pub max_decompressed_bytes: u64,
    /// Attributes the catalogue may hold; a write that would add more is refused.
    #[arg(long, env = "SEGSTORE_MAX_ATTRIBUTES", default_value_t = 512, value_parser = clap::value_parser!(u32).range(1..=100_000))]
    pub max_attributes: u32,
    /// The URLs clients reach this server at (comma-separated), e.g.
    /// `https://segments.example.com`. Requests naming another host are refused (DNS
    /// rebinding); IP addresses and `localhost` are always answered. Browser pages of these
    /// origins may call the API.
    #[arg(long = "public-url", env = "SEGSTORE_PUBLIC_URLS", value_delimiter = ',', value_parser = parse_origin)]
    pub public_urls: Vec<String>,
    /// Origins whose browser pages may call the API (CORS), comma-separated; none by default.
    #[arg(long = "cors-origin", env = "SEGSTORE_CORS_ORIGINS", value_delimiter = ',', value_parser = parse_origin)]
    pub cors_origins: Vec<String>,
    /// Calls per second each key may make on this server, lookups aside (0: no limit).
    #[arg(long, env = "SEGSTORE_RATE_LIMIT", default_value_t = 100)]
    pub rate_limit: u32,
    /// Calls a key may make at once before `--rate-limit` applies.
    #[arg(long, env = "SEGSTORE_RATE_LIMIT_BURST", default_value_t = 200, value_parser = clap::value_parser!(u32).range(1..))]
    pub rate_limit_burst: u32,
    /// Customer lookups per second each key may make on this server (0: no limit).
    #[arg(long, env = "SEGSTORE_LOOKUP_RATE_LIMIT", default_value_t = 10_000)]
    pub lookup_rate_limit: u32,
    /// Lookups a key may make at once before `--lookup-rate-limit` applies.
    #[arg(long, env = "SEGSTORE_LOOKUP_RATE_LIMIT_BURST", default_value_t = 20_000, value_parser = clap::value_parser!(u32).range(1..))]
    pub lookup_rate_limit_burst: u32,
    /// Seconds over which refused requests are counted per client address before a line is
    /// logged and an audit entry written for them (refusals are not logged one by one).
    #[arg(long, env = "SEGSTORE_REFUSAL_SUMMARY_SECONDS", default_value_t = 60, value_parser = clap::value_parser!(u64).range(1..=3600))]
    pub refusal_summary_seconds: u64,
    /// When no key exists, create one with every scope at start and save it in
    /// `<data dir>/admin.key`. Done anyway on a loopback bind; needed for another bind
    /// (a container), which otherwise refuses to start without a key.
    #[arg(long, env = "SEGSTORE_BOOTSTRAP_ADMIN_KEY")]
    pub bootstrap_admin_key: bool,
    /// Serve Prometheus metrics at `GET /metrics` on this address (off when unset).
    #[arg(long, env = "SEGSTORE_METRICS_BIND")]
    pub metrics_bind: Option<String>,
    /// HTTP worker threads (default: one per core).
    #[arg(long, env = "SEGSTORE_HTTP_WORKERS")]
    pub http_workers: Option<usize>,
    /// Seconds given to in-flight requests at shutdown.
    #[arg(long, env = "SEGSTORE_SHUTDOWN_TIMEOUT", default_value_t = 30)]
    pub shutdown_timeout: u64,
    #[command(flatten)]
    pub jobs: JobArgs,
}

impl ServeSettings {
    pub fn key_settings(&self) -> crate::service::keys::KeySettings {
        use crate::service::keys::Budget;
        let budget = |per_second: u32, burst: u32| {
            if per_second == 0 {
                Budget::UNLIMITED
            } else {
                Budget {
                    per_second: f64::from(per_second),
                    burst,
                }
            }
        };
        crate::service::keys::KeySettings {
            limits: crate::service::keys::RateLimits {
                calls: budget(self.rate_limit, self.rate_limit_burst),
                lookups: budget(self.lookup_rate_limit, self.lookup_rate_limit_burst),
            },
            ..Default::default()
        }
    }
}

/// An origin as browsers send it: `scheme://host[:port]`, lowercase, without a path.
fn parse_origin(raw: &str) -> Result<String, String> {
    let origin = raw.trim().trim_end_matches('/').to_ascii_lowercase();
    let uri: actix_web::http::Uri = origin
        .parse()
        .map_err(|e| format!("`{raw}` is not a URL: {e}"))?;
    match (uri.scheme_str(), uri.host()) {
        (Some("http" | "https"), Some(_)) if uri.path() == "/" || uri.path().is_empty() => {
            Ok(origin)
        }
        _ => Err(format!(
            "`{raw}` is not an origin like https://segments.example.com (http or https, a host, \
             an optional port, no path)"
        )),
    }
}

/// The run workers of this process.
#[derive(Debug, Clone, Args)]
pub struct JobArgs {
    /// Run workers in this process (0: serve HTTP only and let other replicas train).
    #[arg(long, env = "SEGSTORE_RUN_WORKERS", default_value_t = 1)]
    pub run_workers: usize,
    /// Seconds a worker holds a run without a heartbeat before another may take it over.
    #[arg(long, env = "SEGSTORE_RUN_LEASE_SECONDS", default_value_t = 30, value_parser = clap::value_parser!(u64).range(2..))]
    pub run_lease_seconds: u64,
    /// How often an idle worker polls the queue, in milliseconds.
    #[arg(long, env = "SEGSTORE_RUN_POLL_MS", default_value_t = 1000, value_parser = clap::value_parser!(u64).range(10..))]
    pub run_poll_ms: u64,
    /// Claims of one run before a worker's death fails it.
    #[arg(long, env = "SEGSTORE_RUN_MAX_ATTEMPTS", default_value_t = 3, value_parser = clap::value_parser!(i32).range(1..))]
    pub run_max_attempts: i32,
    /// Runs per segmentation whose assignments are kept (older runs keep their profiles;
    /// the active run's assignments are always kept).
    #[arg(long, env = "SEGSTORE_KEEP_ASSIGNMENTS", default_value_t = 5, value_parser = clap::value_parser!(i64).range(1..))]
    pub keep_assignments: i64,
    /// Memory for the customer-lookup cache of run assignments, in MiB (0: read PostgreSQL
    /// for every lookup).
    #[arg(long, env = "SEGSTORE_LOOKUP_CACHE_MB", default_value_t = 512)]
    pub lookup_cache_mb: usize,
    /// How long a replica trusts its cached list of a segmentation's runs while it cannot
    /// hear other replicas' announcements (LISTEN/NOTIFY), in milliseconds; while it hears
    /// them, their changes show within milliseconds and this replica's own at once.
    #[arg(long, env = "SEGSTORE_LOOKUP_TTL_MS", default_value_t = 1000)]
    pub lookup_ttl_ms: u64,
    #[command(flatten)]
    pub webhooks: WebhookArgs,
}

/// Networks webhook endpoints may be on besides the public internet.
#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum WebhookNetwork {
    /// 127.0.0.0/8 and ::1 (a receiver on the same machine).
    Loopback,
    /// 10/8, 172.16/12, 192.168/16, 100.64/10, fc00::/7 (a receiver inside the network).
    Private,
    /// 169.254/16 and fe80::/10 (cloud metadata services live here: think twice).
    LinkLocal,
}

/// How this process delivers webhooks.
#[derive(Debug, Clone, Args)]
pub struct WebhookArgs {
    /// Webhook delivery workers in this process (0: deliver from other replicas only).
    #[arg(long, env = "SEGSTORE_WEBHOOK_WORKERS", default_value_t = 2)]
    pub webhook_workers: usize,
    /// Networks besides the public internet that webhook URLs may reach (comma-separated:
    /// loopback, private, link-local); none by default, so a URL that resolves to one is
    /// refused. Every other special-purpose range is refused whatever this says.
    #[arg(
        long = "webhook-allow",
        env = "SEGSTORE_WEBHOOK_ALLOW",
        value_enum,
        value_delimiter = ','
    )]
    pub webhook_allow: Vec<WebhookNetwork>,
    /// Seconds an endpoint has to answer a delivery.
    #[arg(long, env = "SEGSTORE_WEBHOOK_TIMEOUT_SECONDS", default_value_t = 10, value_parser = clap::value_parser!(u64).range(1..=60))]
    pub webhook_timeout_seconds: u64,
    /// The first retry's wait in milliseconds; each later one doubles it (with jitter), up
    /// to six hours.
    #[arg(long, env = "SEGSTORE_WEBHOOK_RETRY_BASE_MS", default_value_t = 5000, value_parser = clap::value_parser!(u64).range(10..))]
    pub webhook_retry_base_ms: u64,
    /// Seconds a delivery may keep failing before it fails for good and its webhook is
    /// disabled (a day).
    #[arg(long, env = "SEGSTORE_WEBHOOK_GIVE_UP_SECONDS", default_value_t = 86_400, value_parser = clap::value_parser!(u64).range(1..))]
    pub webhook_give_up_seconds: u64,
    /// How often an idle delivery worker looks for deliveries due, in milliseconds.
    #[arg(long, env = "SEGSTORE_WEBHOOK_POLL_MS", default_value_t = 500, value_parser = clap::value_parser!(u64).range(10..))]
    pub webhook_poll_ms: u64,
}

impl WebhookArgs {
    pub fn settings(&self) -> crate::service::webhooks::WebhookSettings {
        use std::time::Duration;
        let allowed = |n| self.webhook_allow.contains(&n);
        crate::service::webhooks::WebhookSettings {
            workers: self.webhook_workers,
            poll: Duration::from_millis(self.webhook_poll_ms),
            timeout: Duration::from_secs(self.webhook_timeout_seconds),
            retry_base: Duration::from_millis(self.webhook_retry_base_ms),
            max_wait: Duration::from_secs(6 * 3600),
            give_up_after: Duration::from_secs(self.webhook_give_up_seconds),
            allow: crate::service::webhooks::AllowedNetworks {
                loopback: allowed(WebhookNetwork::Loopback),
                private: allowed(WebhookNetwork::Private),
                link_local: allowed(WebhookNetwork::LinkLocal),
            },
        }
    }
}

impl JobArgs {
    pub fn lookup_settings(&self) -> crate::service::lookup::LookupSettings {
        crate::service::lookup::LookupSettings {
            budget_bytes: self.lookup_cache_mb << 20,
            ttl: std::time::Duration::from_millis(self.lookup_ttl_ms),
        }
    }

    pub fn settings(&self) -> crate::jobs::JobSettings {
        let lease = std::time::Duration::from_secs(self.run_lease_seconds);
        crate::jobs::JobSettings {
            workers: self.run_workers,
            poll: std::time::Duration::from_millis(self.run_poll_ms),
            lease,
            heartbeat: lease / 6,
            max_attempts: self.run_max_attempts,
            keep_assignments: self.keep_assignments,
            webhooks: self.webhooks.settings(),
        }
    }
}
