//! `server_secrets`: keys the server creates at its first start, shared by every replica.

use super::{Pool, Result};

/// The secret of this name: the stored one, or `fresh`, stored now, if there is none yet.
pub async fn get_or_create(pool: &Pool, name: &str, fresh: &[u8]) -> Result<Vec<u8>> {
    // Twice at most: a replica that loses the race to the first insert reads the winner's.
    for _ in 0..2 {
        let secret: Option<Vec<u8>> = sqlx::query_scalar(
            "WITH made AS (
                 INSERT INTO server_secrets (name, secret) VALUES ($1, $2)
                 ON CONFLICT (name) DO NOTHING
                 RETURNING secret)
             SELECT secret FROM made
             UNION ALL
             SELECT secret FROM server_secrets WHERE name = $1
             LIMIT 1",
        )
        .bind(name)
        .bind(fresh)
        .fetch_optional(pool)
        .await?;
        if let Some(secret) = secret {
            return Ok(secret);
        }
    }
    Err(super::Error::Decode(anyhow::anyhow!(
        "the server secret `{name}` was neither created nor found"
    )))
}
