//! Predicted customer value: the counted order lines streamed out by one `COPY` into each
//! customer's purchase days (what BG/NBD and Gamma-Gamma are fitted on); the figures written
//! back into the customers' attribute arrays in one statement; the fitted models kept per
//! refresh.

use super::copy::CopyDecoder;
use super::rfm::COUNTED;
use super::{Catalogue, Conn, Pool, Result};
use crate::domain::AttributeKind;
use crate::domain::clv::ClvModel;
use chrono::NaiveDate;
use futures_util::StreamExt;
use segstore_engine::clv::summary::Days;
use sqlx::types::Json;
use std::collections::HashMap;

/// Every customer's purchase days with their totals, from the counted lines.
#[derive(Debug, Default)]
pub struct PurchaseDays {
    /// External ids, by the customer indices of `days`.
    pub ids: Vec<String>,
    pub days: Days,
}

/// 2000-01-01, PostgreSQL's epoch: day numbers count from it.
pub fn epoch() -> NaiveDate {
    NaiveDate::from_ymd_opt(2000, 1, 1).expect("a date")
}

const MICROS_PER_DAY: i64 = 86_400_000_000;

/// The lines RFM counts (order id not starting with `C`, quantity, amount and, when given,
/// unit price above 0) on days up to `until` (all without), streamed by one binary `COPY ... TO
/// STDOUT` and gathered as they come into each customer's purchase days (UTC calendar days,
/// numbered from 2000-01-01) with their totals: memory grows with customers and purchase
/// days, not with lines, and PostgreSQL does no sorting or grouping.
pub async fn purchase_days(conn: &mut Conn, until: Option<NaiveDate>) -> Result<PurchaseDays> {
    let bound = until
        .and_then(|d| d.succ_opt())
        .map(|d| format!(" AND ordered_at < '{d}T00:00:00Z'"))
        .unwrap_or_default();
    let sql = format!(
        "COPY (SELECT external_id, ordered_at, amount FROM order_lines
               WHERE {COUNTED}{bound}) TO STDOUT (FORMAT binary)"
    );
    let mut stream = conn.copy_out_raw(&sql).await?;
    let mut decoder = CopyDecoder::new(3);
    let mut index: HashMap<String, usize> = HashMap::new();
    let mut out = PurchaseDays::default();
    while let Some(chunk) = stream.next().await {
        decoder.feed(&chunk?, |fields| {
            let (Some(id), Some(at), Some(amount)) = (fields[0], fields[1], fields[2]) else {
                return Err(anyhow::anyhow!("a NULL in a counted order line").into());
            };
            let id = std::str::from_utf8(id)?;
            let customer = match index.get(id) {
                Some(&c) => c,
                None => {
                    out.ids.push(id.to_owned());
                    index.insert(id.to_owned(), out.ids.len() - 1);
                    out.ids.len() - 1
                }
            };
            let micros = i64::from_be_bytes(at.try_into()?);
            let amount = f64::from_be_bytes(amount.try_into()?);
            out.days
                .add(customer, micros.div_euclid(MICROS_PER_DAY), amount);
            Ok(())
        })?;
    }
    decoder.finish()?;
    Ok(out)
}

/// Writes every customer's four figures (`ids[i]` gets `values[k][i]` for the k-th name) and
/// clears them for the customers not in `ids`: one `UPDATE` joined to the figures (rows whose
/// array would not change are left alone), one for the others that hold figures. Returns the
/// customers with figures and those without.
pub async fn write(
    tx: &mut Conn,
    catalogue: &Catalogue,
    names: [&str; 4],
    ids: &[String],
    values: [&[f64]; 4],
) -> Result<(i64, i64)> {
    let positions: Vec<usize> = names
        .iter()
        .map(|n| catalogue.get(n).expect("registered").position)
        .collect();
    // The whole array, position by position: the figures where they go, the rest as stored
    // (subscript assignment past the end would change the array's lower bound).
    let array = |figure: &dyn Fn(usize) -> String| {
        let items = (1..=catalogue.width(AttributeKind::Numeric))
            .map(|p| match positions.iter().position(|&q| q == p) {
                Some(k) => figure(k),
                None => format!("c.numeric_values[{p}]"),
            })
            .collect::<Vec<_>>()
            .join(", ");
        format!("ARRAY[{items}]::float8[]")
    };
    let with = array(&|k| format!("p.v{k}"));
    let without = array(&|_| "NULL".to_owned());
    sqlx::query("LOCK TABLE customers IN SHARE ROW EXCLUSIVE MODE")
        .execute(&mut *tx)
        .await?;
    let set = format!(
        "UPDATE customers c SET numeric_values = {with}
         FROM unnest($1::text[], $2::float8[], $3::float8[], $4::float8[], $5::float8[])
             AS p(external_id, v0, v1, v2, v3)
         WHERE p.external_id = c.external_id AND {with} IS DISTINCT FROM c.numeric_values"
    );
    sqlx::query(sqlx::AssertSqlSafe(set))
        .bind(ids)
        .bind(values[0])
        .bind(values[1])
        .bind(values[2])
        .bind(values[3])
        .execute(&mut *tx)
        .await?;
    let held = positions
        .iter()
        .map(|p| format!("c.numeric_values[{p}] IS NOT NULL"))
        .collect::<Vec<_>>()
        .join(" OR ");
    let clear = format!(
        "UPDATE customers c SET numeric_values = {without}
         WHERE ({held})
           AND NOT EXISTS (SELECT FROM unnest($1::text[]) AS p(external_id)
                           WHERE p.external_id = c.external_id)"
    );
    sqlx::query(sqlx::AssertSqlSafe(clear))
        .bind(ids)
        .execute(&mut *tx)
        .await?;
    let customers: i64 = sqlx::query_scalar("SELECT count(*) FROM customers")
        .fetch_one(&mut *tx)
        .await?;
    let with = ids.len() as i64;
    Ok((with, customers - with))
}

/// Keeps a refresh's model; returns its id.
pub async fn insert_model(tx: &mut Conn, model: &ClvModel) -> Result<i64> {
    Ok(sqlx::query_scalar(
        "INSERT INTO clv_models (document, has_backtest) VALUES ($1, $2) RETURNING model_id",
    )
    .bind(Json(model))
    .bind(model.backtest.is_some())
    .fetch_one(&mut *tx)
    .await?)
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
