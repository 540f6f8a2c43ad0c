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
/// The channel an erasure is announced on (every replica drops its cached runs).
pub const ERASED_CHANNEL: &str = "segstore_erasures";

/// Erases a customer everywhere it is kept: its row, its order lines, its assignments in
/// every kept run, its point in every run's chart sample; and announces it (delivered at
/// commit). `false` when no such customer is stored (nothing is touched then).
pub async fn erase(tx: &mut super::Tx, external_id: &str) -> Result<bool> {
    if !delete(&mut **tx, external_id).await? {
        return Ok(false);
    }
    sqlx::query("DELETE FROM order_lines WHERE external_id = $1")
        .bind(external_id)
        .execute(&mut **tx)
        .await?;
    super::activations::erase_customer(tx, external_id).await?;
    // By each partition's primary key (run_id, external_id).
    sqlx::query(
        "DELETE FROM assignments WHERE (run_id, external_id) IN (SELECT run_id, $1 FROM runs)",
    )
    .bind(external_id)
    .execute(&mut **tx)
    .await?;
    // The point's position i: its segment, its row of values and its (PC1, PC2) pair go.
    sqlx::query(
        r#"UPDATE run_chart_samples s SET
               external_ids = external_ids[:p.i - 1] || external_ids[p.i + 1:],
               segment = segment[:p.i - 1] || segment[p.i + 1:],
               "values" = "values"[:(p.i - 1) * p.f] || "values"[p.i * p.f + 1:],
               pc = pc[:2 * (p.i - 1)] || pc[2 * p.i + 1:]
           FROM (SELECT run_id, array_position(external_ids, $1) AS i,
                        cardinality(features) AS f
                 FROM run_chart_samples WHERE $1 = ANY (external_ids)) p
           WHERE s.run_id = p.run_id"#,
    )
    .bind(external_id)
    .execute(&mut **tx)
    .await?;
    sqlx::query("SELECT pg_notify($1, '')")
        .bind(ERASED_CHANNEL)
        .execute(&mut **tx)
        .await?;
    Ok(true)
}

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
