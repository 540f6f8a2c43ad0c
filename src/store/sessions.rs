//! `dashboard_sessions`: a session's hash, its key, when it was last seen and when it ends.

use super::Result;
use crate::domain::key::{Scope, Scopes};
use chrono::{DateTime, Utc};
use sqlx::PgExecutor;
use uuid::Uuid;

/// A session that is usable now, with its key.
#[derive(Debug, Clone)]
pub struct LiveSession {
    pub key_id: Uuid,
    pub scopes: Scopes,
    pub last_seen_at: DateTime<Utc>,
}

pub async fn insert(
    db: impl PgExecutor<'_>,
    hash: &[u8],
    key_id: Uuid,
    expires_at: DateTime<Utc>,
) -> Result<()> {
    sqlx::query(
        "INSERT INTO dashboard_sessions (session_hash, key_id, expires_at) VALUES ($1, $2, $3)",
    )
    .bind(hash)
    .bind(key_id)
    .bind(expires_at)
    .execute(db)
    .await?;
    Ok(())
}

/// The session of this hash, if it is live: not ended, not past its expiry, seen within
/// `idle`, and its key neither revoked nor expired.
pub async fn live(
    db: impl PgExecutor<'_>,
    hash: &[u8],
    idle: std::time::Duration,
) -> Result<Option<LiveSession>> {
    let row: Option<(Uuid, Vec<String>, DateTime<Utc>)> = sqlx::query_as(
        "SELECT s.key_id, k.scopes, s.last_seen_at
           FROM dashboard_sessions s JOIN api_keys k USING (key_id)
          WHERE s.session_hash = $1 AND s.ended_at IS NULL AND s.expires_at > now()
            AND s.last_seen_at > now() - make_interval(secs => $2)
            AND k.revoked_at IS NULL AND (k.expires_at IS NULL OR k.expires_at > now())",
    )
    .bind(hash)
    .bind(idle.as_secs_f64())
    .fetch_optional(db)
    .await?;
    row.map(|(key_id, scopes, last_seen_at)| {
        let scopes = scopes
            .iter()
            .map(|s| s.parse::<Scope>())
            .collect::<std::result::Result<Vec<_>, _>>()
            .and_then(Scopes::new)
            .map_err(|e| super::Error::Decode(anyhow::anyhow!("key {key_id}: {e}")))?;
        Ok(LiveSession {
            key_id,
            scopes,
            last_seen_at,
        })
    })
    .transpose()
}

/// Marks the session seen now.
pub async fn touch(db: impl PgExecutor<'_>, hash: &[u8]) -> Result<()> {
    sqlx::query("UPDATE dashboard_sessions SET last_seen_at = now() WHERE session_hash = $1")
        .bind(hash)
        .execute(db)
        .await?;
    Ok(())
}

/// Ends the session; its key, when it was live.
pub async fn end(db: impl PgExecutor<'_>, hash: &[u8]) -> Result<Option<Uuid>> {
    Ok(sqlx::query_scalar(
        "UPDATE dashboard_sessions SET ended_at = now()
          WHERE session_hash = $1 AND ended_at IS NULL
         RETURNING key_id",
    )
    .bind(hash)
    .fetch_optional(db)
    .await?)
}

/// Deletes sessions that ended or expired more than a day ago.
pub async fn purge(db: impl PgExecutor<'_>) -> Result<u64> {
    let done = sqlx::query(
        "DELETE FROM dashboard_sessions
          WHERE coalesce(ended_at, expires_at) < now() - interval '1 day'",
    )
    .execute(db)
    .await?;
    Ok(done.rows_affected())
}
