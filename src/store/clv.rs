//! Predicted customer value: the figures kept in `customer_clv`, rewritten whole by one
//! `COPY`, and how every reader of attributes joins them; the fitted models kept per refresh.
//! What they are fitted on is read by [`super::purchase_days`].

use super::copy::{self, CopyBuffer, CopyIn};
use super::{Conn, Pool, Result};
use crate::domain::clv::ClvModel;
use sqlx::types::Json;

/// The attributes a refresh writes, in this order: the columns of `customer_clv`.
pub const ATTRIBUTES: [&str; 4] = [
    "clv_p_alive",
    "clv_expected_orders",
    "clv_expected_order_value",
    "clv_value",
];

/// `customer_clv`'s columns, in [`ATTRIBUTES`]' order.
pub const COLUMNS: [&str; 4] = [
    "p_alive",
    "expected_orders",
    "expected_order_value",
    "value",
];

/// The index in [`ATTRIBUTES`] of a `clv_*` attribute.
pub fn index(name: &str) -> Option<usize> {
    ATTRIBUTES.iter().position(|a| *a == name)
}

/// Joins each customer row `c` to its figures `v` (all NULL for a customer without).
pub const JOIN: &str = "LEFT JOIN customer_clv v ON v.external_id = c.external_id";

/// The SQL that reads the numeric attribute `name` (at `position` of the arrays) of the
/// customer row `c`, beside its figures `v` ([`JOIN`]): a `clv_*` attribute from
/// `customer_clv`, any other from the row's array.
pub fn numeric_sql(name: &str, position: usize) -> String {
    match index(name) {
        Some(k) => format!("v.{}", COLUMNS[k]),
        None => format!("c.numeric_values[{position}]"),
    }
}

/// Holds off every writer of customers and order lines until the transaction ends (imports
/// and erasures take this lock or a conflicting one first, and so does another refresh): the
/// lines a refresh reads are the lines its figures are written for, and every customer it
/// writes figures for is still there. Readers are never held off.
pub async fn lock(tx: &mut Conn) -> Result<()> {
    sqlx::query("LOCK TABLE customers IN SHARE ROW EXCLUSIVE MODE")
        .execute(&mut *tx)
        .await?;
    Ok(())
}

/// The id the next refresh's model will have.
pub async fn next_model_id(tx: &mut Conn) -> Result<i64> {
    Ok(
        sqlx::query_scalar("SELECT nextval(pg_get_serial_sequence('clv_models', 'model_id'))")
            .fetch_one(&mut *tx)
            .await?,
    )
}

/// Replaces every customer's figures with those of model `model_id` (`ids[i]` gets
/// `values[k][i]` for the k-th of [`ATTRIBUTES`]): copied by one binary `COPY` into a partition
/// of their own, indexed once loaded and attached, and the old partition dropped. Readers see
/// the old figures until the transaction commits and wait only for the switch. Call with
/// [`lock`] held. Returns the customers with figures and those without.
pub async fn write(
    tx: &mut Conn,
    model_id: i64,
    ids: &[String],
    values: [&[f64]; 4],
) -> Result<(i64, i64)> {
    let table = format!("customer_clv_{model_id}");
    sqlx::query(sqlx::AssertSqlSafe(format!(
        "CREATE TABLE {table} (LIKE customer_clv)"
    )))
    .execute(&mut *tx)
    .await?;
    let mut copy = CopyIn::start(
        &mut *tx,
        &format!(
            "COPY {table} (model_id, external_id, p_alive, expected_orders, \
             expected_order_value, value) FROM STDIN (FORMAT binary)"
        ),
    )
    .await?;
    let mut out = CopyBuffer::default();
    for (i, id) in ids.iter().enumerate() {
        let buf = out.row(6);
        copy::int8(buf, model_id);
        copy::text(buf, Some(id));
        for column in values {
            copy::float(buf, Some(column[i]));
        }
        copy.send_ready(&mut out).await?;
    }
    copy.finish_with(&mut out).await?;
    let customers: i64 = sqlx::query_scalar("SELECT count(*) FROM customers")
        .fetch_one(&mut *tx)
        .await?;
    let old: Vec<String> = sqlx::query_scalar(
        "SELECT inhrelid::regclass::text FROM pg_inherits
         WHERE inhparent = 'customer_clv'::regclass",
    )
    .fetch_all(&mut *tx)
    .await?;
    // Attached first (readers are not held off), then the old figures dropped: readers wait
    // only from that drop to the commit.
    super::partitions::attach(
        tx,
        "customer_clv",
        &table,
        "external_id",
        "model_id",
        &model_id.to_string(),
    )
    .await?;
    for old in old {
        sqlx::query(sqlx::AssertSqlSafe(format!("DROP TABLE {old}")))
            .execute(&mut *tx)
            .await?;
    }
    let with = ids.len() as i64;
    Ok((with, customers - with))
}

/// Keeps a refresh's model under the id [`next_model_id`] gave.
pub async fn insert_model(tx: &mut Conn, model_id: i64, model: &ClvModel) -> Result<()> {
    sqlx::query("INSERT INTO clv_models (model_id, document, has_backtest) VALUES ($1, $2, $3)")
        .bind(model_id)
        .bind(Json(model))
        .bind(model.backtest.is_some())
        .execute(&mut *tx)
        .await?;
    Ok(())
}

/// The latest refresh's model (with `backtest`: the latest that has one).
pub async fn latest_model(pool: &Pool, backtest: bool) -> Result<Option<(i64, ClvModel)>> {
    let row: Option<(i64, Json<ClvModel>)> = sqlx::query_as(
        "SELECT model_id, document FROM clv_models WHERE has_backtest OR NOT $1
         ORDER BY model_id DESC LIMIT 1",
    )
    .bind(backtest)
    .fetch_optional(pool)
    .await?;
    Ok(row.map(|(id, doc)| (id, doc.0)))
}
