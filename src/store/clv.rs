//! Predicted customer value: the per-customer summary BG/NBD and Gamma-Gamma are fitted on,
//! read in one set-based statement from the lines RFM counts; the figures written back into
//! the customers' attribute arrays in one statement; the fitted models kept per refresh.

use super::{Catalogue, Conn, Pool, Result};
use crate::domain::AttributeKind;
use crate::domain::clv::ClvModel;
use chrono::NaiveDate;
use futures_util::TryStreamExt;
use segstore_engine::clv::Summary;
use sqlx::types::Json;

/// The summary of the lines up to a day, and what followed it.
#[derive(Debug, Default)]
pub struct Summaries {
    /// The last day counted: the given end, or the latest counted line's day.
    pub end: Option<NaiveDate>,
    /// The calibration end (`end` − holdout days).
    pub calibration_end: Option<NaiveDate>,
    /// One per customer with a counted line up to the calibration end, by external id.
    pub ids: Vec<String>,
    pub summary: Summary,
    /// Each customer's distinct purchase days after the calibration end (up to `end`).
    pub holdout: Vec<u32>,
}

/// lifetimes' `summary_data_from_transaction_data(freq="D")` over the counted lines (RFM's
/// cleaning rules) on days up to `end` (default: the latest counted line's day): frequency =
/// distinct purchase days − 1, recency = last − first day, T = calibration end − first day,
/// monetary = mean of the repeat days' totals (0 without); with `holdout_days`, the summary
/// is as of `end` − holdout days and each customer's later purchase days are counted. Days are
/// UTC calendar days.
pub async fn summaries(
    conn: &mut Conn,
    end: Option<NaiveDate>,
    holdout_days: i32,
) -> Result<Summaries> {
    let bounds: (Option<NaiveDate>,) = sqlx::query_as(
        "SELECT COALESCE($1::date, max((ordered_at AT TIME ZONE 'UTC')::date)) FROM order_lines
         WHERE order_id NOT LIKE 'C%' AND quantity > 0 AND amount > 0
           AND (unit_price IS NULL OR unit_price > 0)",
    )
    .bind(end)
    .fetch_one(&mut *conn)
    .await?;
    let Some(end) = bounds.0 else {
        return Ok(Summaries::default());
    };
    let calibration_end = end - chrono::Days::new(holdout_days as u64);
    // Lines up to the end of `end`'s day.
    let until = end
        .succ_opt()
        .unwrap_or(end)
        .and_time(chrono::NaiveTime::MIN)
        .and_utc();
    let mut rows = sqlx::query_as::<_, (String, i32, i32, i32, f64, i32)>(
        "WITH days AS (
             SELECT external_id, (ordered_at AT TIME ZONE 'UTC')::date AS day, sum(amount) AS total
             FROM order_lines
             WHERE order_id NOT LIKE 'C%' AND quantity > 0 AND amount > 0
               AND (unit_price IS NULL OR unit_price > 0) AND ordered_at < $1
             GROUP BY 1, 2
         ), marked AS (
             SELECT days.*, day = min(day) OVER (PARTITION BY external_id) AS first FROM days
         )
         SELECT external_id,
                (count(*) FILTER (WHERE day <= $2) - 1)::int4 AS frequency,
                (max(day) FILTER (WHERE day <= $2) - min(day))::int4 AS recency,
                ($2 - min(day))::int4 AS t,
                COALESCE(avg(total) FILTER (WHERE day <= $2 AND NOT first), 0)::float8 AS monetary,
                count(*) FILTER (WHERE day > $2)::int4 AS holdout
         FROM marked GROUP BY external_id HAVING min(day) <= $2
         ORDER BY external_id",
    )
    .bind(until)
    .bind(calibration_end)
    .fetch(&mut *conn);
    let mut out = Summaries {
        end: Some(end),
        calibration_end: Some(calibration_end),
        ..Summaries::default()
    };
    while let Some((id, frequency, recency, t, monetary, holdout)) = rows.try_next().await? {
        out.ids.push(id);
        out.summary
            .push(frequency as u32, recency as f64, t as f64, monetary);
        out.holdout.push(holdout as u32);
    }
    Ok(out)
}

/// Writes every customer's four figures (`ids[i]` gets `values[k][i]` for the k-th name),
/// and clears them for customers not in `ids`, in one statement. Returns the customers that
/// got figures and those cleared.
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
    let numeric = (1..=catalogue.width(AttributeKind::Numeric))
        .map(|p| match positions.iter().position(|&q| q == p) {
            Some(k) => format!("p.v{k}"),
            None => format!("c2.numeric_values[{p}]"),
        })
        .collect::<Vec<_>>()
        .join(", ");
    sqlx::query("LOCK TABLE customers IN SHARE ROW EXCLUSIVE MODE")
        .execute(&mut *tx)
        .await?;
    let sql = format!(
        "WITH p AS (
             SELECT * FROM unnest($1::text[], $2::float8[], $3::float8[], $4::float8[], $5::float8[])
                 AS p(external_id, v0, v1, v2, v3)
         ), n AS (
             SELECT c2.external_id, p.external_id IS NOT NULL AS has,
                    ARRAY[{numeric}]::float8[] AS num
             FROM customers c2 LEFT JOIN p ON p.external_id = c2.external_id
         ), changed AS (
             UPDATE customers c SET numeric_values = n.num
             FROM n WHERE n.external_id = c.external_id
               AND n.num IS DISTINCT FROM c.numeric_values
         )
         SELECT count(*) FILTER (WHERE has), count(*) FILTER (WHERE NOT has) FROM n"
    );
    Ok(sqlx::query_as(sqlx::AssertSqlSafe(sql))
        .bind(ids)
        .bind(values[0])
        .bind(values[1])
        .bind(values[2])
        .bind(values[3])
        .fetch_one(&mut *tx)
        .await?)
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
