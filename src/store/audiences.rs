//! Audiences: a resolved rule compiled into one set-based SQL condition over the customer rows
//! (`c`, beside their predicted figures `v` when the rule reads them), and what a preview
//! counts with it.

use super::{Pool, Result};
use crate::domain::audience::{Column, Resolved, Test};
use sqlx::{Postgres, QueryBuilder};
use uuid::Uuid;

/// Appends the condition `rule` as SQL: each test is true or false, never NULL (a customer
/// without a value meets only `is_null: true`), so `not` is plain negation.
fn condition(sql: &mut QueryBuilder<Postgres>, rule: &Resolved) {
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
                condition(sql, r);
            }
            sql.push(")");
        }
        Resolved::Not(r) => {
            sql.push("NOT ");
            condition(sql, r);
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
            sql.push(format!("COALESCE({value} "));
            match test {
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
                Test::Between(low, high) => {
                    sql.push("BETWEEN ");
                    sql.push_bind(*low);
                    sql.push(" AND ");
                    sql.push_bind(*high);
                }
                Test::In(values) => {
                    sql.push("= ANY(");
                    sql.push_bind(values.clone());
                    sql.push(")");
                }
                Test::NotIn(values) => {
                    sql.push("<> ALL(");
                    sql.push_bind(values.clone());
                    sql.push(")");
                }
                Test::IsNull(_) => unreachable!("handled above"),
            }
            sql.push(", false)");
        }
    }
}

/// `FROM customers c` (with the predicted figures when the rule reads them, and each one's
/// assignment `s` in run `by` if given) `WHERE` the rule.
fn members(select: &str, rule: &Resolved, by: Option<Uuid>) -> QueryBuilder<Postgres> {
    let mut sql = QueryBuilder::new(format!("{select} FROM customers c"));
    if rule.reads(&|name| super::clv::index(name).is_some()) {
        sql.push(format!(" {}", super::clv::JOIN));
    }
    if let Some(run_id) = by {
        sql.push(" LEFT JOIN assignments s ON s.external_id = c.external_id AND s.run_id = ");
        sql.push_bind(run_id);
    }
    sql.push(" WHERE ");
    condition(&mut sql, rule);
    sql
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
    let customers: i64 = members("SELECT count(*)", rule, None)
        .build_query_scalar()
        .fetch_one(&mut *tx)
        .await?;
    let mut first = members("SELECT c.external_id", rule, None);
    first.push(" ORDER BY c.external_id LIMIT ");
    first.push_bind(sample);
    let sample: Vec<String> = first.build_query_scalar().fetch_all(&mut *tx).await?;
    let breakdown = match breakdown {
        None => None,
        Some(run_id) => {
            let mut by = members("SELECT s.segment, count(*)", rule, Some(run_id));
            by.push(" GROUP BY s.segment ORDER BY s.segment NULLS LAST");
            Some(by.build_query_as().fetch_all(&mut *tx).await?)
        }
    };
    Ok(Preview {
        customers,
        of,
        sample,
        breakdown,
    })
}
