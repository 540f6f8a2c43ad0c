//! Reads and deletes of single customers and pages of customers. Bulk writes: [`super::staging`].

use super::{Attribute, Result};
use chrono::{DateTime, Utc};
use sqlx::PgExecutor;

#[derive(Debug, Clone, sqlx::FromRow)]
pub struct CustomerRow {
    pub external_id: String,
    numeric_values: Vec<Option<f64>>,
    categorical_values: Vec<Option<String>>,
    /// The predicted-value figures, in `clv::ATTRIBUTES`' order (NULLs without).
    clv_values: Vec<Option<f64>>,
    pub created_at: DateTime<Utc>,
    pub updated_at: DateTime<Utc>,
}

impl CustomerRow {
    /// The value of a numeric attribute (`None`: missing).
    pub fn numeric(&self, a: &Attribute) -> Option<f64> {
        match super::clv::index(a.name.as_str()) {
            Some(k) => self.clv_values.get(k).copied().flatten(),
            None => self.numeric_values.get(a.position - 1).copied().flatten(),
        }
    }

    /// The value of a categorical attribute (`None`: missing).
    pub fn categorical(&self, a: &Attribute) -> Option<&str> {
        self.categorical_values
            .get(a.position - 1)
            .and_then(|v| v.as_deref())
    }
}

/// A customer row `c` with its figures `v` (`FROM customers c` then [`super::clv::JOIN`]).
const COLUMNS: &str = "c.external_id, c.numeric_values, c.categorical_values, \
     ARRAY[v.p_alive, v.expected_orders, v.expected_order_value, v.value] AS clv_values, \
     c.created_at, c.updated_at";

pub async fn find(db: impl PgExecutor<'_>, external_id: &str) -> Result<Option<CustomerRow>> {
    sqlx::query_as(sqlx::AssertSqlSafe(format!(
        "SELECT {COLUMNS} FROM customers c {} WHERE c.external_id = $1",
        super::clv::JOIN
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
        "SELECT {COLUMNS} FROM customers c {}
         WHERE c.external_id > COALESCE($1, '')
         ORDER BY c.external_id LIMIT $2",
        super::clv::JOIN
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

/// Erases a customer everywhere it is kept: its row, its order lines, its purchase days, its
/// predicted value, its assignments in every kept run, its point in every run's chart sample;
/// and announces it (delivered at commit). `false` when no such customer is stored (nothing is touched then).
pub async fn erase(tx: &mut super::Tx, external_id: &str) -> Result<bool> {
    if !delete(&mut **tx, external_id).await? {
        return Ok(false);
    }
    for table in [
        "order_lines",
        "customer_clv",
        "purchase_days",
        "purchase_days_stale",
    ] {
        sqlx::query(sqlx::AssertSqlSafe(format!(
            "DELETE FROM {table} WHERE external_id = $1"
        )))
        .bind(external_id)
        .execute(&mut **tx)
        .await?;
    }
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
