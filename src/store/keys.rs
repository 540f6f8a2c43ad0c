//! `api_keys`: keys by prefix, their revocation (announced to every replica with `NOTIFY`)
//! and their last use (written in batches).

use super::{Error, Result};
use crate::domain::key::{Scope, Scopes};
use chrono::{DateTime, Utc};
use sqlx::PgExecutor;
use uuid::Uuid;

/// The channel a revocation is announced on; its payload is the key's prefix.
pub const REVOKED_CHANNEL: &str = "segstore_keys";
/// The channel a new key is announced on; its payload is the key's prefix.
pub const CREATED_CHANNEL: &str = "segstore_keys_created";

/// A stored key (never its token).
#[derive(Debug, Clone)]
pub struct Key {
    pub id: Uuid,
    pub name: String,
    pub prefix: String,
    pub secret_hash: Vec<u8>,
    pub scopes: Scopes,
    pub created_at: DateTime<Utc>,
    pub created_by: Option<Uuid>,
    pub expires_at: Option<DateTime<Utc>>,
    pub revoked_at: Option<DateTime<Utc>>,
    pub last_used_at: Option<DateTime<Utc>>,
}

#[derive(sqlx::FromRow)]
struct Row {
    key_id: Uuid,
    name: String,
    prefix: String,
    secret_hash: Vec<u8>,
    scopes: Vec<String>,
    created_at: DateTime<Utc>,
    created_by: Option<Uuid>,
    expires_at: Option<DateTime<Utc>>,
    revoked_at: Option<DateTime<Utc>>,
    last_used_at: Option<DateTime<Utc>>,
}

impl TryFrom<Row> for Key {
    type Error = Error;

    fn try_from(row: Row) -> Result<Self> {
        let scopes = row
            .scopes
            .iter()
            .map(|s| s.parse::<Scope>())
            .collect::<Result<Vec<_>, _>>()
            .and_then(Scopes::new)
            .map_err(|e| Error::Decode(anyhow::anyhow!("key {}: {e}", row.key_id)))?;
        Ok(Key {
            id: row.key_id,
            name: row.name,
            prefix: row.prefix,
            secret_hash: row.secret_hash,
            scopes,
            created_at: row.created_at,
            created_by: row.created_by,
            expires_at: row.expires_at,
            revoked_at: row.revoked_at,
            last_used_at: row.last_used_at,
        })
    }
}

const COLUMNS: &str = "key_id, name, prefix, secret_hash, scopes, created_at, created_by, \
                       expires_at, revoked_at, last_used_at";

/// What a new key is made of (its hash, never its token).
pub struct NewKey<'a> {
    pub id: Uuid,
    pub name: &'a str,
    pub prefix: &'a str,
    pub secret_hash: &'a [u8],
    pub scopes: Scopes,
    pub created_by: Option<Uuid>,
    pub expires_at: Option<DateTime<Utc>>,
}

/// Stores a new key and announces its prefix to every replica (delivered when the caller's
/// transaction commits).
pub async fn insert(db: impl PgExecutor<'_>, key: &NewKey<'_>) -> Result<Key> {
    let row: Row = sqlx::query_as(sqlx::AssertSqlSafe(format!(
        "WITH created AS (
             INSERT INTO api_keys (key_id, name, prefix, secret_hash, scopes, created_by,
                                   expires_at)
             VALUES ($1, $2, $3, $4, $5, $6, $7) RETURNING {COLUMNS}
         )
         SELECT created.*, pg_notify('{CREATED_CHANNEL}', created.prefix) IS NULL AS announced
         FROM created"
    )))
    .bind(key.id)
    .bind(key.name)
    .bind(key.prefix)
    .bind(key.secret_hash)
    .bind(key.scopes.names())
    .bind(key.created_by)
    .bind(key.expires_at)
    .fetch_one(db)
    .await?;
    row.try_into()
}

/// The key a token's prefix names, revoked or not.
pub async fn by_prefix(db: impl PgExecutor<'_>, prefix: &str) -> Result<Option<Key>> {
    let row: Option<Row> = sqlx::query_as(sqlx::AssertSqlSafe(format!(
        "SELECT {COLUMNS} FROM api_keys WHERE prefix = $1"
    )))
    .bind(prefix)
    .fetch_optional(db)
    .await?;
    row.map(Key::try_from).transpose()
}

pub async fn get(db: impl PgExecutor<'_>, id: Uuid) -> Result<Option<Key>> {
    let row: Option<Row> = sqlx::query_as(sqlx::AssertSqlSafe(format!(
        "SELECT {COLUMNS} FROM api_keys WHERE key_id = $1"
    )))
    .bind(id)
    .fetch_optional(db)
    .await?;
    row.map(Key::try_from).transpose()
}

/// Every key, newest first; revoked ones only when asked.
pub async fn list(db: impl PgExecutor<'_>, with_revoked: bool) -> Result<Vec<Key>> {
    let rows: Vec<Row> = sqlx::query_as(sqlx::AssertSqlSafe(format!(
        "SELECT {COLUMNS} FROM api_keys WHERE $1 OR revoked_at IS NULL
         ORDER BY created_at DESC, key_id"
    )))
    .bind(with_revoked)
    .fetch_all(db)
    .await?;
    rows.into_iter().map(Key::try_from).collect()
}

/// Revokes a key (once: a revoked key keeps its first revocation time) and announces it to
/// every replica; the announcement is delivered when the caller's transaction commits.
/// `None` for an unknown key.
pub async fn revoke(db: impl PgExecutor<'_>, id: Uuid) -> Result<Option<Key>> {
    let row: Option<Row> = sqlx::query_as(sqlx::AssertSqlSafe(format!(
        "WITH revoked AS (
             UPDATE api_keys SET revoked_at = coalesce(revoked_at, now())
             WHERE key_id = $1 RETURNING {COLUMNS}
         )
         SELECT revoked.*, pg_notify('{REVOKED_CHANNEL}', revoked.prefix) IS NULL AS announced
         FROM revoked"
    )))
    .bind(id)
    .fetch_optional(db)
    .await?;
    row.map(Key::try_from).transpose()
}

/// Every key's prefix, revoked or not: what a replica knows to refuse the rest in memory.
pub async fn prefixes(db: impl PgExecutor<'_>) -> Result<Vec<String>> {
    sqlx::query_scalar("SELECT prefix FROM api_keys")
        .fetch_all(db)
        .await
        .map_err(Into::into)
}

/// Whether any key is usable (neither revoked nor expired).
pub async fn any_usable(db: impl PgExecutor<'_>) -> Result<bool> {
    sqlx::query_scalar(
        "SELECT EXISTS (SELECT 1 FROM api_keys
                        WHERE revoked_at IS NULL AND (expires_at IS NULL OR expires_at > now()))",
    )
    .fetch_one(db)
    .await
    .map_err(Into::into)
}

/// Records when keys were last used: one statement for all of them, never moving a time back.
pub async fn touch(db: impl PgExecutor<'_>, used: &[(Uuid, DateTime<Utc>)]) -> Result<()> {
    let (ids, times): (Vec<Uuid>, Vec<DateTime<Utc>>) = used.iter().copied().unzip();
    sqlx::query(
        "UPDATE api_keys k SET last_used_at = u.at
         FROM unnest($1::uuid[], $2::timestamptz[]) AS u(key_id, at)
         WHERE k.key_id = u.key_id AND (k.last_used_at IS NULL OR k.last_used_at < u.at)",
    )
    .bind(ids)
    .bind(times)
    .execute(db)
    .await?;
    Ok(())
}

/// Serialises the first start's key creation across replicas starting together (released
/// with the transaction).
pub async fn lock_bootstrap(db: impl PgExecutor<'_>) -> Result<()> {
    sqlx::query("SELECT pg_advisory_xact_lock(7171)")
        .execute(db)
        .await?;
    Ok(())
}
