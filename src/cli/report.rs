//! `segstore report-role …`: login roles for BI tools' live SQL connections, which may read
//! the `segstore_report` views and nothing else (against the database; no server needed).

use crate::config::DatabaseSettings;
use crate::service::report as service;
use crate::store::{ConnectOptions, Pool};
use clap::{Args, Subcommand};
use std::io::Write;

#[derive(Debug, Args)]
pub struct ReportRoleArgs {
    #[command(flatten)]
    pub database: DatabaseSettings,
    #[command(subcommand)]
    pub command: ReportRoleCommand,
}

#[derive(Debug, Subcommand)]
pub enum ReportRoleCommand {
    /// Create a login role that may read the `segstore_report` views and nothing else; its
    /// password is printed once, on standard output. Needs a database user with CREATEROLE.
    Create {
        /// The role's name: 1 to 63 of a-z, 0-9 and _, starting with a letter.
        #[arg(long)]
        name: String,
    },
    /// List the report roles made for this database.
    List,
    /// Take back what a report role may read here, and drop it.
    Drop {
        #[arg(long)]
        name: String,
    },
}

/// Where BI tools connect: the standby when one is configured (`DATABASE_READ_URL`), so
/// that their queries leave the primary alone; else the primary.
pub enum Target<'a> {
    Standby(&'a ConnectOptions),
    Primary(&'a ConnectOptions),
}

pub async fn run(pool: &Pool, at: Target<'_>, command: ReportRoleCommand) -> anyhow::Result<()> {
    match command {
        ReportRoleCommand::Create { name } => {
            let role = service::create_role(pool, &name)
                .await
                .map_err(|e| anyhow::anyhow!("{e}"))?;
            // The role is made on the primary; a standby replays it.
            let (connect, which) = match at {
                Target::Standby(c) => (c, "the standby (DATABASE_READ_URL)"),
                Target::Primary(c) => (c, "the primary"),
            };
            println!("{}", connection_url(connect, &role.name, &role.password));
            eprintln!(
                "created report role `{}`: the URL above holds its password, which is not \
                 stored and cannot be shown again. It reads the views of schema \
                 segstore_report (first on its search path) and nothing else, in read-only \
                 sessions, on the primary or a standby.\n\
                 in a BI tool, {which}: {}, user {}",
                role.name,
                where_to(connect),
                role.name,
            );
        }
        ReportRoleCommand::List => {
            let roles = service::list_roles(pool)
                .await
                .map_err(|e| anyhow::anyhow!("{e}"))?;
            let mut out = std::io::stdout().lock();
            writeln!(out, "{:<32}  {:<25}  state", "name", "created")?;
            for role in roles {
                writeln!(
                    out,
                    "{:<32}  {:<25}  {}",
                    role.name,
                    role.created_at.format("%Y-%m-%d %H:%M:%S UTC"),
                    if role.exists {
                        "active"
                    } else {
                        "dropped outside segstore"
                    }
                )?;
            }
        }
        ReportRoleCommand::Drop { name } => {
            service::drop_role(pool, &name)
                .await
                .map_err(|e| anyhow::anyhow!("{e}"))?;
            eprintln!("dropped report role `{name}`");
        }
    }
    Ok(())
}

/// Where the database is, for people: `host 127.0.0.1, port 5432, database segstore`.
fn where_to(connect: &ConnectOptions) -> String {
    let host = match connect.get_socket() {
        Some(dir) => dir.display().to_string(),
        None => connect.get_host().to_owned(),
    };
    format!(
        "host {host}, port {}, database {}",
        connect.get_port(),
        connect.get_database().unwrap_or("postgres")
    )
}

/// A libpq connection URL for `user` (`postgresql://user:password@host:port/database`; a
/// socket directory goes in `?host=`), which `psql` and most BI tools take.
fn connection_url(connect: &ConnectOptions, user: &str, password: &str) -> String {
    use percent_encoding::{NON_ALPHANUMERIC, utf8_percent_encode};
    let database = utf8_percent_encode(
        connect.get_database().unwrap_or("postgres"),
        NON_ALPHANUMERIC,
    );
    let port = connect.get_port();
    match connect.get_socket() {
        Some(dir) => format!(
            "postgresql://{user}:{password}@/{database}?host={}&port={port}",
            utf8_percent_encode(&dir.display().to_string(), NON_ALPHANUMERIC)
        ),
        None => {
            let host = connect.get_host();
            let host = if host.contains(':') {
                format!("[{host}]")
            } else {
                host.to_owned()
            };
            format!("postgresql://{user}:{password}@{host}:{port}/{database}")
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::str::FromStr;

    #[test]
    fn the_url_names_the_host_or_the_socket_directory() {
        let tcp = ConnectOptions::from_str("postgres://postgres@127.0.0.1:5433/seg store").unwrap();
        assert_eq!(
            connection_url(&tcp, "bi", "pw"),
            "postgresql://bi:pw@127.0.0.1:5433/seg%20store"
        );
        let socket = ConnectOptions::new()
            .socket("/tmp/pg sock")
            .port(5432)
            .database("segstore");
        assert_eq!(
            connection_url(&socket, "bi", "pw"),
            "postgresql://bi:pw@/segstore?host=%2Ftmp%2Fpg%20sock&port=5432"
        );
    }
}
