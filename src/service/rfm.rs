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
pub const FEATURES: [&str; 9] = [
    "rfm_recency_days",
    "rfm_frequency",
    "rfm_monetary",
    "rfm_avg_order_value",
    "rfm_tenure_days",
    "rfm_distinct_products",
    // Quintile scores 1..5 (recent, frequent, high spend = 5).
    "rfm_r_score",
    "rfm_f_score",
    "rfm_m_score",
];

/// Categorical attributes: the RFM cell (`"545"`) and the named segment.
pub const LABELS: [&str; 2] = ["rfm_cell", "rfm_segment"];

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
        .map(|f| (f, AttributeKind::Numeric))
        .chain(LABELS.iter().map(|f| (f, AttributeKind::Categorical)))
        .map(|(f, k)| (AttributeName::parse(f).expect("valid name"), k))
        .collect();
    let catalogue = attributes::register(&mut tx, &wanted).await?;
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
    let numeric = array(AttributeKind::Numeric, &FEATURES, "numeric_values");
    let categorical = array(AttributeKind::Categorical, &LABELS, "categorical_values");
    sqlx::query("LOCK TABLE customers IN SHARE ROW EXCLUSIVE MODE")
        .execute(&mut *tx)
        .await?;
    // One statement: the reference date (when not given) is found from the same aggregate, so
    // the lines are read once.
    let sql = format!(
        "WITH valid AS (
             SELECT external_id, order_id, ordered_at, amount, product FROM order_lines
             WHERE order_id NOT LIKE 'C%' AND quantity > 0 AND amount > 0
               AND (unit_price IS NULL OR unit_price > 0)
               AND ($1::timestamptz IS NULL OR ordered_at < $1)
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
         SELECT (SELECT at FROM reference),
                count(*) FILTER (WHERE has_rfm), count(*) FILTER (WHERE NOT has_rfm) FROM n"
    );
    let (reference, with, without): (Option<DateTime<Utc>>, i64, i64) =
        sqlx::query_as(sqlx::AssertSqlSafe(sql))
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
}

/// The named segments as the last refresh left them, largest first.
pub async fn segments(pool: &PgPool) -> Result<Vec<NamedSegment>> {
    let catalogue = attributes::load(pool).await?;
    let pos = |name: &str| catalogue.get(name).map(|a| a.position);
    let (Some(seg), Some(r), Some(f), Some(m)) = (
        pos("rfm_segment"),
        pos("rfm_recency_days"),
        pos("rfm_frequency"),
        pos("rfm_monetary"),
    ) else {
        return Ok(Vec::new());
    };
    let sql = format!(
        "WITH c AS (
             SELECT categorical_values[{seg}] AS segment, numeric_values[{r}] AS r,
                    numeric_values[{f}] AS f, numeric_values[{m}] AS m
             FROM customers WHERE categorical_values[{seg}] IS NOT NULL
         )
         SELECT segment, count(*) AS customers,
                count(*)::float8 / sum(count(*)) OVER () AS share,
                sum(m) / sum(sum(m)) OVER () AS revenue_share,
                avg(r) AS mean_recency_days, avg(f) AS mean_frequency, avg(m) AS mean_monetary
         FROM c GROUP BY segment ORDER BY customers DESC, segment"
    );
    Ok(sqlx::query_as(sqlx::AssertSqlSafe(sql))
        .fetch_all(pool)
        .await?)
}
