//! List partitions loaded apart and attached whole: a run's assignments, a refresh's predicted
//! value. Each is created empty, filled by one `COPY`, then indexed and attached here.

use super::Result;
use sqlx::PgConnection;

/// Indexes the loaded partition `table` (its primary key on `key`, built by one sort rather
/// than a row-by-row insertion), proves its bound (`column` = `value`, an SQL literal) so that
/// attaching scans nothing, and attaches it to `parent`: all in the caller's transaction.
pub async fn attach(
    tx: &mut PgConnection,
    parent: &str,
    table: &str,
    key: &str,
    column: &str,
    value: &str,
) -> Result<()> {
    sqlx::query(sqlx::AssertSqlSafe(format!(
        "ALTER TABLE {table} ADD PRIMARY KEY ({key}),
             ADD CONSTRAINT {table}_bound CHECK ({column} = {value})"
    )))
    .execute(&mut *tx)
    .await?;
    sqlx::query(sqlx::AssertSqlSafe(format!(
        "ALTER TABLE {parent} ATTACH PARTITION {table} FOR VALUES IN ({value})"
    )))
    .execute(&mut *tx)
    .await?;
    Ok(())
}
