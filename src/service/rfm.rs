//! RFM features derived from order lines, in SQL (one set-based statement), stored as numeric
//! attributes of the customers so that segmentations use them like any attribute.
//!
//! Cleaning rules: a line counts when its order id does not start with `C` (a cancellation),
//! its quantity is > 0 and its unit price (when given) is > 0, and its amount is > 0. The
//! reference date defaults to one day after the latest counted line.

use crate::domain::{AttributeKind, AttributeName};
use crate::error::Result;
use crate::store::attributes;
use chrono::{DateTime, Utc};
use sqlx::PgPool;

/// The derived attributes, in the order they are computed.
pub const FEATURES: [&str; 6] = [
    "rfm_recency_days",
    "rfm_frequency",
    "rfm_monetary",
    "rfm_avg_order_value",
    "rfm_tenure_days",
    "rfm_distinct_products",
];

/// What a refresh did.
#[derive(Debug, Clone)]
pub struct RfmRefresh {
    /// `None` when no order line counts.
    pub reference: Option<DateTime<Utc>>,
    pub customers_with_rfm: i64,
    pub customers_without_rfm: i64,
    pub ms: f64,
}

/// Whether a segmentation's features need a refresh first.
pub fn uses_rfm(features: &[String]) -> bool {
    features.iter().any(|f| FEATURES.contains(&f.as_str()))
}

/// Recomputes every customer's RFM attributes as of `reference` (default: one day after the
/// latest counted order line). Customers without a counted line have none.
pub async fn refresh(pool: &PgPool, reference: Option<DateTime<Utc>>) -> Result<RfmRefresh> {
    let started = std::time::Instant::now();
    let mut tx = pool.begin().await?;
    let wanted: Vec<(AttributeName, AttributeKind)> = FEATURES
        .iter()
        .map(|f| {
            (
                AttributeName::parse(f).expect("valid name"),
                AttributeKind::Numeric,
            )
        })
        .collect();
    let catalogue = attributes::register(&mut tx, &wanted).await?;
    let width = catalogue.width(AttributeKind::Numeric);
    let positions: Vec<usize> = FEATURES
        .iter()
        .map(|f| catalogue.get(f).expect("registered").position)
        .collect();
    // The whole array, position by position: RFM positions from the aggregate, the others
    // as stored (subscript assignment past the end would change the array's lower bound).
    let elements: Vec<String> = (1..=width)
        .map(|p| match positions.iter().position(|&q| q == p) {
            Some(i) => format!("a.{}", &FEATURES[i][4..]),
            None => format!("c2.numeric_values[{p}]"),
        })
        .collect();
    sqlx::query("LOCK TABLE customers IN SHARE ROW EXCLUSIVE MODE")
        .execute(&mut *tx)
        .await?;
    let reference: Option<DateTime<Utc>> = sqlx::query_scalar(
        "SELECT COALESCE($1::timestamptz, max(ordered_at) + interval '1 day') FROM order_lines
         WHERE order_id NOT LIKE 'C%' AND quantity > 0 AND amount > 0
           AND (unit_price IS NULL OR unit_price > 0)",
    )
    .bind(reference)
    .fetch_one(&mut *tx)
    .await?;
    let sql = format!(
        "WITH valid AS (
             SELECT external_id, order_id, ordered_at, amount, product FROM order_lines
             WHERE order_id NOT LIKE 'C%' AND quantity > 0 AND amount > 0
               AND (unit_price IS NULL OR unit_price > 0) AND ordered_at < $1
         ), a AS (
             SELECT external_id,
                    floor(extract(epoch FROM $1 - max(ordered_at)) / 86400)::float8 AS recency_days,
                    count(DISTINCT order_id)::float8 AS frequency,
                    sum(amount) AS monetary,
                    sum(amount) / count(DISTINCT order_id) AS avg_order_value,
                    floor(extract(epoch FROM $1 - min(ordered_at)) / 86400)::float8 AS tenure_days,
                    count(DISTINCT product)::float8 AS distinct_products
             FROM valid GROUP BY external_id
         ), n AS (
             SELECT c2.external_id, a.external_id IS NOT NULL AS has_rfm,
                    ARRAY[{}]::float8[] AS arr
             FROM customers c2 LEFT JOIN a ON a.external_id = c2.external_id
         ), changed AS (
             UPDATE customers c SET numeric_values = n.arr
             FROM n WHERE n.external_id = c.external_id AND n.arr IS DISTINCT FROM c.numeric_values
         )
         SELECT count(*) FILTER (WHERE has_rfm), count(*) FILTER (WHERE NOT has_rfm) FROM n",
        elements.join(", ")
    );
    let (with, without): (i64, i64) = sqlx::query_as(sqlx::AssertSqlSafe(sql))
        .bind(reference)
        .fetch_one(&mut *tx)
        .await?;
    tx.commit().await?;
    Ok(RfmRefresh {
        reference,
        customers_with_rfm: with,
        customers_without_rfm: without,
        ms: started.elapsed().as_secs_f64() * 1e3,
    })
}
