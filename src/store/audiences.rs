//! Audiences: a resolved rule compiled into one set-based SQL condition over the customer rows
//! (`c`, beside their predicted figures `v` when the rule reads them, and their order history
//! `h`: one aggregate of the counted lines per customer, a column per history condition), and
//! what a preview counts with it.

use super::orders::COUNTED;
use super::{Pool, Result};
use crate::domain::audience::{Column, History, Measure, Resolved, Test};
use chrono::{DateTime, Utc};
use sqlx::{Postgres, QueryBuilder};
use uuid::Uuid;

/// The history conditions of `rule`, in the order [`condition`] meets them.
fn histories<'r>(rule: &'r Resolved, out: &mut Vec<&'r History>) {
    match rule {
        Resolved::All(rules) | Resolved::Any(rules) => {
            rules.iter().for_each(|r| histories(r, out));
        }
        Resolved::Not(r) => histories(r, out),
        Resolved::History(h) => out.push(h),
        Resolved::Test { .. } | Resolved::Segment { .. } => {}
    }
}

/// `LEFT JOIN (…) h`: per customer with a counted line, a column `h<i>` per history condition
/// (lines in windows ending at `end`, the latest counted line), from one scan of the lines.
fn history_join(sql: &mut QueryBuilder<Postgres>, rule: &Resolved, end: Option<DateTime<Utc>>) {
    let mut found = Vec::new();
    histories(rule, &mut found);
    if found.is_empty() {
        return;
    }
    sql.push(" LEFT JOIN (SELECT external_id");
    for (i, h) in found.iter().enumerate() {
        let (aggregate, product, days) = match h {
            History::OrderedWithin { days } => ("count(*)", None, Some(*days)),
            History::Measured {
                measure: Measure::Orders,
                days,
                ..
            } => ("count(DISTINCT order_id)", None, *days),
            History::Measured {
                measure: Measure::Spent,
                days,
                ..
            } => ("sum(amount)", None, *days),
            History::Bought { product, days } => ("count(*)", Some(product), *days),
        };
        sql.push(format!(", ({aggregate} FILTER (WHERE true"));
        if let Some(days) = days {
            sql.push(" AND ordered_at > ");
            sql.push_bind(end.map(|e| e - chrono::Duration::days(days.into())));
        }
        if let Some(product) = product {
            sql.push(" AND product = ");
            sql.push_bind(product.clone());
        }
        sql.push(format!("))::float8 AS h{i}"));
    }
    sql.push(format!(
        " FROM order_lines WHERE {COUNTED} GROUP BY external_id) h ON h.external_id = c.external_id"
    ));
}

/// Appends `expr <op> value` for a numeric test (not `in`, `not_in`, `is_null`).
fn compare(sql: &mut QueryBuilder<Postgres>, expr: &str, test: &Test) {
    sql.push(format!("{expr} "));
    match test {
        Test::Between(low, high) => {
            sql.push("BETWEEN ");
            sql.push_bind(*low);
            sql.push(" AND ");
            sql.push_bind(*high);
        }
        Test::Eq(x) | Test::Lt(x) | Test::Lte(x) | Test::Gt(x) | Test::Gte(x) => {
            let op = match test {
                Test::Eq(_) => "=",
                Test::Lt(_) => "<",
                Test::Lte(_) => "<=",
                Test::Gt(_) => ">",
                _ => ">=",
            };
            sql.push(format!("{op} "));
            sql.push_bind(*x);
        }
        Test::In(_) | Test::NotIn(_) | Test::IsNull(_) => unreachable!("not a comparison"),
    }
}

/// Appends the condition `rule` as SQL: each test is true or false, never NULL (a customer
/// without a value meets only `is_null: true`; without an order line, has 0 of everything), so
/// `not` is plain negation. `seen` counts the history conditions met so far.
fn condition(sql: &mut QueryBuilder<Postgres>, rule: &Resolved, seen: &mut usize) {
    match rule {
        Resolved::All(rules) | Resolved::Any(rules) => {
            let joiner = if matches!(rule, Resolved::All(_)) {
                " AND "
            } else {
                " OR "
            };
            sql.push("(");
            for (i, r) in rules.iter().enumerate() {
                if i > 0 {
                    sql.push(joiner);
                }
                condition(sql, r, seen);
            }
            sql.push(")");
        }
        Resolved::Not(r) => {
            sql.push("NOT ");
            condition(sql, r, seen);
        }
        Resolved::History(h) => {
            let column = format!("COALESCE(h.h{}, 0)", *seen);
            *seen += 1;
            match h {
                History::Measured { test, .. } => {
                    sql.push("(");
                    compare(sql, &column, test);
                    sql.push(")");
                }
                History::OrderedWithin { .. } | History::Bought { .. } => {
                    sql.push(format!("({column} > 0)"));
                }
            }
        }
        Resolved::Segment { run_id, segments } => {
            sql.push(
                "EXISTS (SELECT 1 FROM assignments a WHERE a.external_id = c.external_id AND a.run_id = ",
            );
            sql.push_bind(*run_id);
            sql.push(" AND a.segment = ANY(");
            sql.push_bind(segments.clone());
            sql.push("))");
        }
        Resolved::Test { column, test } => {
            let value = match column {
                Column::Numeric { name, position } => super::clv::numeric_sql(name, *position),
                Column::Categorical { position } => format!("c.categorical_values[{position}]"),
            };
            if let Test::IsNull(null) = test {
                sql.push(format!(
                    "({value} IS {}NULL)",
                    if *null { "" } else { "NOT " }
                ));
                return;
            }
            sql.push("COALESCE(");
            match test {
                Test::In(values) => {
                    sql.push(format!("{value} = ANY("));
                    sql.push_bind(values.clone());
                    sql.push(")");
                }
                Test::NotIn(values) => {
                    sql.push(format!("{value} <> ALL("));
                    sql.push_bind(values.clone());
                    sql.push(")");
                }
                _ => compare(sql, &value, test),
            }
            sql.push(", false)");
        }
    }
}

/// `FROM customers c` (with the predicted figures and the order history when the rule reads
/// them, and each one's assignment `s` in run `by` if given) `WHERE` the rule.
fn members(
    sql: &mut QueryBuilder<Postgres>,
    select: &str,
    rule: &Resolved,
    end: Option<DateTime<Utc>>,
    by: Option<Uuid>,
) {
    sql.push(format!("{select} FROM customers c"));
    if rule.reads(&|name| super::clv::index(name).is_some()) {
        sql.push(format!(" {}", super::clv::JOIN));
    }
    history_join(sql, rule, end);
    if let Some(run_id) = by {
        sql.push(" LEFT JOIN assignments s ON s.external_id = c.external_id AND s.run_id = ");
        sql.push_bind(run_id);
    }
    sql.push(" WHERE ");
    condition(sql, rule, &mut 0);
}

/// What a preview counts.
#[derive(Debug, Clone, PartialEq)]
pub struct Preview {
    pub customers: i64,
    pub of: i64,
    /// The first members by id.
    pub sample: Vec<String>,
    /// Members per stable segment id of the run asked for (`None`: unassigned), by id.
    pub breakdown: Option<Vec<(Option<i32>, i64)>>,
    /// Where the order-history windows end: the latest counted line (`None`: the rule reads no
    /// history, or no line counts).
    pub orders_as_of: Option<DateTime<Utc>>,
}

/// Counts the members of `rule`, the first `sample` of them by id and, given a run, its
/// members per segment of that run: all as of one snapshot.
pub async fn preview(
    pool: &Pool,
    rule: &Resolved,
    sample: i64,
    breakdown: Option<Uuid>,
) -> Result<Preview> {
    let mut tx = super::begin_snapshot(pool).await?;
    let of: i64 = sqlx::query_scalar("SELECT count(*) FROM customers")
        .fetch_one(&mut *tx)
        .await?;
    let orders_as_of: Option<DateTime<Utc>> = if rule.reads_history() {
        sqlx::query_scalar(sqlx::AssertSqlSafe(format!(
            "SELECT max(ordered_at) FROM order_lines WHERE {COUNTED}"
        )))
        .fetch_one(&mut *tx)
        .await?
    } else {
        None
    };
    // The rule evaluated once: its members (with their segment of the run asked for) kept
    // for the count, the sample and the breakdown.
    let select = match breakdown {
        Some(_) => "SELECT c.external_id, s.segment",
        None => "SELECT c.external_id, NULL::int AS segment",
    };
    let mut sql = QueryBuilder::new("WITH m AS MATERIALIZED (");
    members(&mut sql, select, rule, orders_as_of, breakdown);
    sql.push(
        ") SELECT (SELECT count(*) FROM m),
                  ARRAY(SELECT external_id FROM m ORDER BY external_id LIMIT ",
    );
    sql.push_bind(sample);
    sql.push(if breakdown.is_some() {
        "), ARRAY(SELECT segment FROM m GROUP BY segment ORDER BY segment NULLS LAST),
            ARRAY(SELECT count(*) FROM m GROUP BY segment ORDER BY segment NULLS LAST)"
    } else {
        "), '{}'::int[], '{}'::int8[]"
    });
    let (customers, sample, segments, counts): (i64, Vec<String>, Vec<Option<i32>>, Vec<i64>) =
        sql.build_query_as().fetch_one(&mut *tx).await?;
    let breakdown = breakdown.map(|_| segments.into_iter().zip(counts).collect());
    Ok(Preview {
        customers,
        of,
        sample,
        breakdown,
        orders_as_of,
    })
}
