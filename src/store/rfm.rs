//! RFM features from order lines: one set-based statement computes every customer's
//! recency, frequency, monetary value, scores and named segment, and writes them into the
//! customers' attribute arrays.
//!
//! Cleaning rules: a line counts when its order id does not start with `C` (a cancellation),
//! its quantity is > 0 and its unit price (when given) is > 0, and its amount is > 0. The
//! reference date defaults to one day after the latest counted line.

use super::orders::COUNTED;
use super::{Catalogue, Conn, Pool, Result};
use crate::domain::AttributeKind;
use chrono::{DateTime, Utc};

/// The named segments of the R × F score map, in the order the rules are tried.
pub const SEGMENT_RULES: &str = "CASE
    WHEN r = 5 AND f >= 4 THEN 'Champions'
    WHEN r >= 3 AND f >= 4 THEN 'Loyal Customers'
    WHEN r >= 4 AND f >= 2 THEN 'Potential Loyalists'
    WHEN r = 5 THEN 'New Customers'
    WHEN r = 4 THEN 'Promising'
    WHEN r = 3 AND f = 3 THEN 'Need Attention'
    WHEN r = 3 THEN 'About To Sleep'
    WHEN f = 5 THEN 'Can''t Lose Them'
    WHEN f >= 3 THEN 'At Risk'
    WHEN r = 1 AND f = 1 THEN 'Lost'
    ELSE 'Hibernating' END";

/// What a refresh wrote.
#[derive(Debug, Clone, Copy, sqlx::FromRow)]
pub struct Refreshed {
    /// `None` when no order line counts.
    pub reference: Option<DateTime<Utc>>,
    pub with_rfm: i64,
    pub without_rfm: i64,
}

/// Recomputes every customer's RFM attributes as of `reference` (default: one day after the
/// latest counted line), in the caller's transaction. `features` (numeric) and `labels`
/// (categorical) are registered attributes named `rfm_<column of the aggregate>`: recency_days,
/// frequency, monetary, avg_order_value, tenure_days, distinct_products, r_score, f_score,
/// m_score; cell, segment. Customers without a counted line get none.
pub async fn refresh(
    tx: &mut Conn,
    catalogue: &Catalogue,
    features: &[&str],
    labels: &[&str],
    reference: Option<DateTime<Utc>>,
) -> Result<Refreshed> {
    // Whole arrays, position by position: RFM positions from the aggregate, the others as
    // stored (subscript assignment past the end would change the array's lower bound).
    let array = |kind: AttributeKind, names: &[&str], column: &str| -> String {
        let positions: Vec<usize> = names
            .iter()
            .map(|f| catalogue.get(f).expect("registered").position)
            .collect();
        (1..=catalogue.width(kind))
            .map(|p| match positions.iter().position(|&q| q == p) {
                Some(i) => format!("a.{}", &names[i][4..]),
                None => format!("c2.{column}[{p}]"),
            })
            .collect::<Vec<_>>()
            .join(", ")
    };
    let numeric = array(AttributeKind::Numeric, features, "numeric_values");
    let categorical = array(AttributeKind::Categorical, labels, "categorical_values");
    sqlx::query("LOCK TABLE customers IN SHARE ROW EXCLUSIVE MODE")
        .execute(&mut *tx)
        .await?;
    // One statement: the reference date (when not given) is found from the same aggregate, so
    // the lines are read once.
    let sql = format!(
        "WITH valid AS (
             SELECT external_id, order_id, ordered_at, amount, product FROM order_lines
             WHERE {COUNTED} AND ($1::timestamptz IS NULL OR ordered_at < $1)
         ), totals AS (
             SELECT external_id, min(ordered_at) AS first_at, max(ordered_at) AS last_at,
                    count(DISTINCT order_id)::float8 AS frequency, sum(amount) AS monetary,
                    count(DISTINCT product)::float8 AS distinct_products
             FROM valid GROUP BY external_id
         ), reference AS (
             SELECT COALESCE($1::timestamptz, max(last_at) + interval '1 day') AS at FROM totals
         ), agg AS (
             SELECT external_id,
                    floor(extract(epoch FROM reference.at - last_at) / 86400)::float8 AS recency_days,
                    frequency, monetary, monetary / frequency AS avg_order_value,
                    floor(extract(epoch FROM reference.at - first_at) / 86400)::float8 AS tenure_days,
                    distinct_products
             FROM totals, reference
         ), scored AS (
             -- Quintiles; ties broken by customer id, so each score holds a fifth.
             SELECT agg.*,
                    ntile(5) OVER (ORDER BY recency_days DESC, external_id) AS r,
                    ntile(5) OVER (ORDER BY frequency, external_id) AS f,
                    ntile(5) OVER (ORDER BY monetary, external_id) AS m
             FROM agg
         ), a AS (
             SELECT scored.*, r::float8 AS r_score, f::float8 AS f_score, m::float8 AS m_score,
                    concat(r, f, m) AS cell, {SEGMENT_RULES} AS segment
             FROM scored
         ), n AS (
             SELECT c2.external_id, a.external_id IS NOT NULL AS has_rfm,
                    ARRAY[{numeric}]::float8[] AS num, ARRAY[{categorical}]::text[] AS cat
             FROM customers c2 LEFT JOIN a ON a.external_id = c2.external_id
         ), changed AS (
             UPDATE customers c SET numeric_values = n.num, categorical_values = n.cat
             FROM n WHERE n.external_id = c.external_id
               AND (n.num, n.cat) IS DISTINCT FROM (c.numeric_values, c.categorical_values)
         )
         SELECT (SELECT at FROM reference) AS reference,
                count(*) FILTER (WHERE has_rfm) AS with_rfm,
                count(*) FILTER (WHERE NOT has_rfm) AS without_rfm FROM n"
    );
    Ok(sqlx::query_as(sqlx::AssertSqlSafe(sql))
        .bind(reference)
        .fetch_one(&mut *tx)
        .await?)
}

/// One named segment's figures.
#[derive(Debug, Clone, sqlx::FromRow)]
pub struct NamedSegment {
    pub segment: String,
    pub customers: i64,
    pub share: f64,
    pub revenue_share: f64,
    pub mean_recency_days: f64,
    pub mean_frequency: f64,
    pub mean_monetary: f64,
    /// Predicted value (`clv_*`), when it has been refreshed: the mean probability alive, the
    /// mean and total `clv_value`, and the segment's share of the total.
    pub mean_p_alive: Option<f64>,
    pub mean_value: Option<f64>,
    pub total_value: Option<f64>,
    pub value_share: Option<f64>,
}

/// Where the named segment and the R, F and M values are in the attribute arrays, and the
/// predicted value's when it exists.
pub struct SegmentPositions {
    pub segment: usize,
    pub recency: usize,
    pub frequency: usize,
    pub monetary: usize,
    /// Whether there are predicted-value figures (`customer_clv`) to sum.
    pub clv: bool,
}

/// The named segments as the last refresh left them, largest first.
pub async fn named_segments(pool: &Pool, at: SegmentPositions) -> Result<Vec<NamedSegment>> {
    let SegmentPositions {
        segment: seg,
        recency: r,
        frequency: f,
        monetary: m,
        clv,
    } = at;
    let (alive, value, join) = match clv {
        true => ("v.p_alive", "v.value", super::clv::JOIN),
        false => ("NULL::float8", "NULL::float8", ""),
    };
    let sql = format!(
        "WITH named AS (
             SELECT c.categorical_values[{seg}] AS segment, c.numeric_values[{r}] AS r,
                    c.numeric_values[{f}] AS f, c.numeric_values[{m}] AS m,
                    {alive} AS alive, {value} AS value
             FROM customers c {join} WHERE c.categorical_values[{seg}] IS NOT NULL
         )
         SELECT segment, count(*) AS customers,
                count(*)::float8 / sum(count(*)) OVER () AS share,
                sum(m) / sum(sum(m)) OVER () AS revenue_share,
                avg(r) AS mean_recency_days, avg(f) AS mean_frequency, avg(m) AS mean_monetary,
                avg(alive) AS mean_p_alive, avg(value) AS mean_value, sum(value) AS total_value,
                sum(value) / NULLIF(sum(sum(value)) OVER (), 0) AS value_share
         FROM named GROUP BY segment ORDER BY customers DESC, segment"
    );
    Ok(sqlx::query_as(sqlx::AssertSqlSafe(sql))
        .fetch_all(pool)
        .await?)
}
