//! Reads and deletes of single customers and pages of customers. Bulk writes: [`super::staging`].

use super::Result;
use chrono::{DateTime, Utc};
use sqlx::PgExecutor;

#[derive(Debug, Clone, sqlx::FromRow)]
pub struct CustomerRow {
    pub external_id: String,
    pub numeric_values: Vec<Option<f64>>,
    pub categorical_values: Vec<Option<String>>,
    pub created_at: DateTime<Utc>,
    pub updated_at: DateTime<Utc>,
}

const COLUMNS: &str = "external_id, numeric_values, categorical_values, created_at, updated_at";

pub async fn find(db: impl PgExecutor<'_>, external_id: &str) -> Result<Option<CustomerRow>> {
    sqlx::query_as(sqlx::AssertSqlSafe(format!(
        "SELECT {COLUMNS} FROM customers WHERE external_id = $1"
    )))
    .bind(external_id)
    .fetch_optional(db)
    .await
    .map_err(Into::into)
}

/// Up to `limit` customers whose external id sorts after `after` (byte order), in that order.
/// Ids are never empty, so `''` stands for "from the start" and the primary-key index serves it.
pub async fn page(
    db: impl PgExecutor<'_>,
    after: Option<&str>,
    limit: i64,
) -> Result<Vec<CustomerRow>> {
    sqlx::query_as(sqlx::AssertSqlSafe(format!(
        "SELECT {COLUMNS} FROM customers
         WHERE external_id > COALESCE($1, '')
         ORDER BY external_id LIMIT $2"
    )))
    .bind(after)
    .bind(limit)
    .fetch_all(db)
    .await
    .map_err(Into::into)
}

/// Whether a customer was deleted.
pub async fn delete(db: impl PgExecutor<'_>, external_id: &str) -> Result<bool> {
    let done = sqlx::query("DELETE FROM customers WHERE external_id = $1")
        .bind(external_id)
        .execute(db)
        .await?;
    Ok(done.rows_affected() == 1)
}

pub async fn count(db: impl PgExecutor<'_>) -> Result<i64> {
    sqlx::query_scalar("SELECT count(*) FROM customers")
        .fetch_one(db)
        .await
        .map_err(Into::into)
}
