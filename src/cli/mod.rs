//! The command line: `serve`, `migrate`, `openapi`, `cluster` and `clv`, parsed with clap. Settings
//! of the service are in [`crate::config`]; the offline `cluster` command is in [`cluster`].

mod algorithm;
pub mod cluster;
pub mod clv;
pub mod keys;
pub mod report;
mod table;

use crate::config::{DatabaseSettings, LogSettings, ServeSettings};
use clap::{Parser, Subcommand};
use cluster::ClusterArgs;

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
    /// Create, list and revoke API keys (against the database; no server needed).
    Keys(keys::KeysArgs),
    /// Create, list and drop the login roles BI tools read the `segstore_report` views with.
    ReportRole(report::ReportRoleArgs),
    /// Apply the database migrations and exit.
    Migrate(DatabaseSettings),
    /// Print the OpenAPI document (JSON) to standard output.
    Openapi,
    /// Segment the customers of a CSV file, offline (no database): scale, choose k, fit
    /// K-Means, and print the segment profiles.
    Cluster(ClusterArgs),
    /// Predict customer value offline from an orders CSV (no database): fit BG/NBD and
    /// Gamma-Gamma, print the model, write one CSV row per customer.
    Clv(clv::ClvArgs),
}
