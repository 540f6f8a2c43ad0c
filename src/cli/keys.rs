//! `segstore keys …`: API keys from the command line, against the database (no server
//! needed), and the key the first start creates.

use crate::config::DatabaseSettings;
use crate::domain::key::{KeyName, Scopes, Token};
use crate::service::keys::{self as service, Bootstrap, KeyInfo, NewKeyRequest};
use crate::store::Pool;
use anyhow::Context;
use chrono::{DateTime, Utc};
use clap::{Args, Subcommand};
use std::io::Write;
use std::path::{Path, PathBuf};

#[derive(Debug, Args)]
pub struct KeysArgs {
    #[command(flatten)]
    pub database: DatabaseSettings,
    #[command(subcommand)]
    pub command: KeysCommand,
}

#[derive(Debug, Subcommand)]
pub enum KeysCommand {
    /// Create a key; its token is printed once, on standard output.
    Create {
        /// For people to tell keys apart.
        #[arg(long)]
        name: String,
        /// What the key may do, comma-separated: read, write, train, admin.
        #[arg(long)]
        scopes: String,
        /// The key stops working after this long: `90d`, `12h`.
        #[arg(long, conflicts_with = "expires_at")]
        expires_in: Option<String>,
        /// The key stops working at this time (RFC 3339).
        #[arg(long)]
        expires_at: Option<DateTime<Utc>>,
    },
    /// List keys (never their tokens).
    List {
        /// Revoked keys too.
        #[arg(long)]
        revoked: bool,
    },
    /// Revoke a key by id or prefix: refused at once by every running replica.
    Revoke {
        /// The key's id or prefix (`segk_…`, as `list` shows).
        key: String,
    },
}

/// `90d` or `12h` → a duration.
fn parse_expires_in(raw: &str) -> anyhow::Result<chrono::Duration> {
    let (number, unit) = raw.split_at(raw.len().saturating_sub(1));
    let n: i64 = number
        .parse()
        .ok()
        .filter(|n| *n > 0)
        .with_context(|| format!("--expires-in `{raw}` is not like `90d` or `12h`"))?;
    match unit {
        "d" => Ok(chrono::Duration::days(n)),
        "h" => Ok(chrono::Duration::hours(n)),
        _ => anyhow::bail!("--expires-in `{raw}` is not like `90d` or `12h`"),
    }
}

pub async fn run(pool: &Pool, command: KeysCommand) -> anyhow::Result<()> {
    match command {
        KeysCommand::Create {
            name,
            scopes,
            expires_in,
            expires_at,
        } => {
            let expires_at = match expires_in {
                Some(raw) => Some(Utc::now() + parse_expires_in(&raw)?),
                None => expires_at,
            };
            let request = NewKeyRequest {
                name: KeyName::parse(&name).map_err(|e| anyhow::anyhow!("--name: {e}"))?,
                scopes: Scopes::parse_list(&scopes)
                    .map_err(|e| anyhow::anyhow!("--scopes: {e}"))?,
                expires_at,
                created_by: None,
            };
            let (info, token) = service::create_from_command_line(pool, &request)
                .await
                .map_err(|e| anyhow::anyhow!("{e}"))?;
            println!("{}", token.expose());
            eprintln!(
                "created key `{}` ({}, id {}, scopes {}{}); its token (above) is not stored and \
                 cannot be shown again",
                info.name,
                info.prefix,
                info.id,
                info.scopes.names().join(","),
                info.expires_at
                    .map(|at| format!(", expires {}", at.to_rfc3339()))
                    .unwrap_or_default()
            );
        }
        KeysCommand::List { revoked } => {
            let keys = service::list_all(pool, revoked)
                .await
                .map_err(|e| anyhow::anyhow!("{e}"))?;
            let mut out = std::io::stdout().lock();
            writeln!(
                out,
                "{:<36}  {:<17}  {:<24}  {:<22}  {:<20}  {:<20}  state",
                "id", "prefix", "name", "scopes", "last used", "expires"
            )?;
            for key in keys {
                writeln!(out, "{}", row(&key))?;
            }
        }
        KeysCommand::Revoke { key } => {
            let info = service::revoke_by_id_or_prefix(pool, &key)
                .await
                .map_err(|e| anyhow::anyhow!("{e}"))?;
            eprintln!(
                "revoked key `{}` ({}, id {})",
                info.name, info.prefix, info.id
            );
        }
    }
    Ok(())
}

fn row(key: &KeyInfo) -> String {
    let time = |t: Option<DateTime<Utc>>| {
        t.map(|t| t.format("%Y-%m-%d %H:%M:%SZ").to_string())
            .unwrap_or_else(|| "-".to_owned())
    };
    let state = if key.revoked_at.is_some() {
        "revoked"
    } else if key.expires_at.is_some_and(|at| at <= Utc::now()) {
        "expired"
    } else {
        "active"
    };
    format!(
        "{:<36}  {:<17}  {:<24}  {:<22}  {:<20}  {:<20}  {state}",
        key.id,
        key.prefix,
        key.name,
        key.scopes.names().join(","),
        time(key.last_used_at),
        time(key.expires_at)
    )
}

/// Where the first start saves the key it creates.
pub fn admin_key_file(data_dir: &Path) -> PathBuf {
    data_dir.join("admin.key")
}

/// The first start: when no key can be used, creates one with every scope (allowed on a
/// loopback bind, or when asked), saves its token in `<data dir>/admin.key` readable only by
/// this user, and prints it once when standard error is a terminal (never to a log).
pub async fn bootstrap(pool: &Pool, data_dir: &Path, allowed: bool) -> anyhow::Result<()> {
    let Bootstrap::Created(info, token) = service::bootstrap(pool, allowed).await? else {
        return Ok(());
    };
    let path = admin_key_file(data_dir);
    save_token(&path, &token)
        .with_context(|| format!("saving the new admin key in {}", path.display()))?;
    tracing::info!(key_id = %info.id, prefix = %info.prefix, file = %path.display(),
        "no API key existed: created one with every scope");
    if std::io::IsTerminal::is_terminal(&std::io::stderr()) {
        eprintln!(
            "\nsegstore: no API key existed, so this one was created with every scope (shown \
             once; also saved in {}):\n\n    {}\n\nSend it as `Authorization: Bearer <key>`; \
             create narrower keys with `segstore keys create`.\n",
            path.display(),
            token.expose()
        );
    }
    Ok(())
}

fn save_token(path: &Path, token: &Token) -> std::io::Result<()> {
    use std::os::unix::fs::OpenOptionsExt;
    if let Some(dir) = path.parent() {
        std::fs::create_dir_all(dir)?;
    }
    // Replaced whole: a stale key of another database must not linger.
    let _ = std::fs::remove_file(path);
    let mut file = std::fs::OpenOptions::new()
        .write(true)
        .create_new(true)
        .mode(0o600)
        .open(path)?;
    writeln!(file, "{}", token.expose())?;
    file.sync_all()
}

#[cfg(test)]
mod tests {
    #[test]
    fn expiry_durations_are_days_or_hours() {
        assert_eq!(
            super::parse_expires_in("90d").unwrap(),
            chrono::Duration::days(90)
        );
        assert_eq!(
            super::parse_expires_in("12h").unwrap(),
            chrono::Duration::hours(12)
        );
        for bad in ["", "d", "0d", "-1d", "5m", "1.5d"] {
            assert!(super::parse_expires_in(bad).is_err(), "{bad}");
        }
    }
}
