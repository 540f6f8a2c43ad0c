//! Settings: every one is a command-line flag and an environment variable.

use clap::{Args, Parser, Subcommand, ValueEnum};
use std::path::PathBuf;

#[derive(Debug, Parser)]
#[command(
    name = "segstore",
    version,
    about = "Customer segmentation service: a PostgreSQL-backed customer store with clustering runs over HTTP",
    long_about = "Customer segmentation service: a PostgreSQL-backed customer store with clustering runs over HTTP.\n\n\
                  Every option can also be set with the environment variable shown in brackets. \
                  Without DATABASE_URL, segstore runs its own embedded PostgreSQL under --data-dir, \
                  started from the PostgreSQL server binaries installed on the machine."
)]
pub struct Cli {
    #[command(flatten)]
    pub log: LogSettings,
    #[command(subcommand)]
    pub command: Command,
}

#[derive(Debug, Subcommand)]
pub enum Command {
    /// Apply the migrations, then serve the HTTP API until SIGINT or SIGTERM.
    Serve(ServeSettings),
    /// Apply the database migrations and exit.
    Migrate(DatabaseSettings),
    /// Print the OpenAPI document (JSON) to standard output.
    Openapi,
}

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
    /// PostgreSQL connection URL. When unset, an embedded PostgreSQL runs under --data-dir.
    #[arg(long, env = "DATABASE_URL")]
    pub database_url: Option<String>,
    /// Where the embedded PostgreSQL keeps its cluster (used only without DATABASE_URL).
    #[arg(long, env = "SEGSTORE_DATA_DIR", default_value = ".segstore")]
    pub data_dir: PathBuf,
    /// Most connections in the pool.
    #[arg(long, env = "SEGSTORE_DB_MAX_CONNECTIONS", default_value_t = 16)]
    pub db_max_connections: u32,
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
    /// HTTP worker threads (default: one per core).
    #[arg(long, env = "SEGSTORE_HTTP_WORKERS")]
    pub http_workers: Option<usize>,
    /// Seconds given to in-flight requests at shutdown.
    #[arg(long, env = "SEGSTORE_SHUTDOWN_TIMEOUT", default_value_t = 30)]
    pub shutdown_timeout: u64,
}
