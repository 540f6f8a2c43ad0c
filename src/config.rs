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
    /// Segment the customers of a CSV file, offline (no database): scale, choose k, fit
    /// K-Means, and print the segment profiles.
    Cluster(ClusterArgs),
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum OutputFormat {
    /// A table for people.
    Table,
    /// JSON for programs: k, metrics, elbow curve, profiles, labels, timings.
    Json,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum ScalingArg {
    None,
    /// z-scores with the population standard deviation (scikit-learn's StandardScaler).
    Standard,
    Minmax,
    /// (x - median) / IQR.
    Robust,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum KRuleArg {
    /// The k with the best mean silhouette.
    Silhouette,
    /// The knee of the inertia curve (Kneedle).
    Elbow,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum RngArg {
    /// segstore's own streams (xoshiro256++).
    Segstore,
    /// numpy's MT19937, drawn as scikit-learn's KMeans(random_state=SEED) does: the same
    /// restarts, and so the same result, as a scikit-learn notebook.
    Sklearn,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum AlgorithmArg {
    /// K-Means (k-means++, restarts).
    Kmeans,
    /// Gaussian mixture, full covariances: soft memberships.
    Gmm,
    /// Density-based (--eps, --min-points): finds its own number of segments, leaves noise.
    Dbscan,
    /// Agglomerative with Ward linkage (at most 10,000 rows).
    Ward,
}

#[derive(Debug, Clone, Args)]
pub struct ClusterArgs {
    /// The CSV file: a header line, a customer id column, numeric feature columns. Headers are
    /// read as the import endpoint reads them (`Annual Income (k$)` is `annual_income_k`).
    pub file: PathBuf,
    /// Comma-separated features to cluster on, e.g. `annual_income_k,spending_score`.
    #[arg(long, value_delimiter = ',', required = true)]
    pub features: Vec<String>,
    #[arg(long, value_enum, default_value_t = AlgorithmArg::Kmeans)]
    pub algorithm: AlgorithmArg,
    /// DBSCAN: the neighbourhood radius, in scaled units.
    #[arg(long, default_value_t = 0.5)]
    pub eps: f64,
    /// DBSCAN: rows within --eps (the row included) that make a core point.
    #[arg(long, default_value_t = 5)]
    pub min_points: usize,
    /// The number of segments, or `auto` to choose it in --k-min..=--k-max (with the K-Means
    /// sweep). DBSCAN finds its own.
    #[arg(long, default_value = "auto")]
    pub k: String,
    #[arg(long, default_value_t = 2)]
    pub k_min: usize,
    #[arg(long, default_value_t = 10)]
    pub k_max: usize,
    /// How `--k auto` chooses.
    #[arg(long, value_enum, default_value_t = KRuleArg::Silhouette)]
    pub k_rule: KRuleArg,
    #[arg(long, value_enum, default_value_t = ScalingArg::Standard)]
    pub scaling: ScalingArg,
    /// Comma-separated features to transform with ln(1 + x) before scaling.
    #[arg(long, value_delimiter = ',')]
    pub log1p: Vec<String>,
    /// Cluster on this many principal components of the scaled features (PCA) instead of the
    /// features themselves; profiles stay in the features' units.
    #[arg(long)]
    pub pca: Option<usize>,
    /// Fill missing values with the feature's median instead of leaving the rows out.
    #[arg(long)]
    pub impute_median: bool,
    /// K-Means restarts (the lowest inertia is kept).
    #[arg(long, default_value_t = 10)]
    pub n_init: usize,
    #[arg(long, default_value_t = 300)]
    pub max_iter: usize,
    #[arg(long, default_value_t = 1e-4)]
    pub tol: f64,
    /// The seed: the same data, parameters and seed give the same segments.
    #[arg(long, default_value_t = 42)]
    pub seed: u64,
    #[arg(long, value_enum, default_value_t = RngArg::Segstore)]
    pub rng: RngArg,
    /// The id column's header, when it is not CustomerID, customer_id or id.
    #[arg(long)]
    pub id_column: Option<String>,
    #[arg(long, value_enum, default_value_t = OutputFormat::Table)]
    pub format: OutputFormat,
    /// Also write `id,segment,distance` (`probability` for gmm; segment `noise` for DBSCAN's
    /// noise) for every customer clustered to this CSV file.
    #[arg(long)]
    pub assignments: Option<PathBuf>,
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
    #[command(flatten)]
    pub jobs: JobArgs,
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
    /// How long a replica trusts its cached list of a segmentation's runs, in milliseconds
    /// (what other replicas change shows after at most this; this replica's own changes show
    /// at once).
    #[arg(long, env = "SEGSTORE_LOOKUP_TTL_MS", default_value_t = 1000)]
    pub lookup_ttl_ms: u64,
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
        }
    }
}
