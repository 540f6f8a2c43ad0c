//! Comparing two runs of a segmentation: transitions between segments, movers, and the
//! adjusted Rand index.

use super::page_limit;
use crate::domain::RunId;
use crate::error::Result;
use crate::http::extract::Query;
use crate::http::problem::{Problem, RunErrors};
use crate::service::runs::{self as service, MoverFilter};
use crate::store::Pool;
use actix_web::{get, web};
use serde::{Deserialize, Serialize};
use utoipa::{IntoParams, ToSchema};
use uuid::Uuid;

#[derive(Debug, Deserialize, IntoParams)]
#[serde(deny_unknown_fields)]
#[into_params(parameter_in = Query)]
pub struct CompareParams {
    /// Movers from this segment of `a` (stable id, or `noise`).
    #[param(pattern = r"^(noise|[+-]?[0-9]{1,9})$")]
    pub from: Option<String>,
    /// Movers to this segment of `b` (stable id, or `noise`).
    #[param(pattern = r"^(noise|[+-]?[0-9]{1,9})$")]
    pub to: Option<String>,
    /// Movers per page, 1 to 10000 (default 100).
    #[param(minimum = 1, maximum = 10000)]
    pub limit: Option<u32>,
    /// The `next_after` of the previous page of movers.
    pub after: Option<String>,
}

#[derive(Debug, Serialize, ToSchema)]
pub struct Transition {
    /// Segment in `a` (`null`: noise).
    pub from: Option<i32>,
    /// Segment in `b` (`null`: noise).
    pub to: Option<i32>,
    pub customers: i64,
}

#[derive(Debug, Serialize, ToSchema)]
pub struct Mover {
    pub customer_id: String,
    pub from: Option<i32>,
    pub to: Option<i32>,
}

#[derive(Debug, Serialize, ToSchema)]
pub struct Comparison {
    pub a: Uuid,
    pub b: Uuid,
    /// Customers in both runs, by (segment in a, segment in b), stable ids.
    pub transitions: Vec<Transition>,
    /// Customers in both runs.
    pub customers_in_both: i64,
    /// Customers in both runs whose segment changed.
    pub moved: i64,
    pub only_in_a: i64,
    pub only_in_b: i64,
    /// Agreement of the two partitions on the customers in both (1: identical).
    pub adjusted_rand_index: Option<f64>,
    /// Customers who moved (filtered by `from`/`to`), by customer id.
    pub movers: Vec<Mover>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub next_after: Option<String>,
}

/// Compare two runs of a segmentation: transition matrix, Adjusted Rand Index, movers.
///
/// Segments are matched by stable id. `from`/`to` filter the movers, which are keyset-paged
/// like customers.
#[utoipa::path(
    security(("api_key" = ["read"])),
    tag = "runs",
    params(
        ("a" = String, Path, description = "The earlier run's id"),
        ("b" = String, Path, description = "The later run's id"),
        CompareParams
    ),
    responses(
        (status = 200, description = "The comparison", body = Comparison),
        (status = 409, description = "A run has not succeeded", body = Problem, content_type = "application/problem+json"),
        (status = 410, description = "Retention dropped a run's assignments", body = Problem, content_type = "application/problem+json"),
        (status = 422, description = "Runs of different segmentations, or an invalid filter", body = Problem, content_type = "application/problem+json"),
        RunErrors,
    )
)]
#[get("/runs/{a}/compare/{b}")]
pub(super) async fn compare_runs(
    pool: web::Data<Pool>,
    path: web::Path<(String, String)>,
    Query(params): Query<CompareParams>,
) -> Result<web::Json<Comparison>> {
    let (a, b) = path.into_inner();
    let limit = page_limit(params.limit)?;
    let from = params
        .from
        .as_deref()
        .map(|s| service::parse_segment("from", s))
        .transpose()?;
    let to = params
        .to
        .as_deref()
        .map(|s| service::parse_segment("to", s))
        .transpose()?;
    let after = params.after.filter(|a| !a.is_empty());
    let c = service::compare(
        &pool,
        RunId::parse(&a)?,
        RunId::parse(&b)?,
        MoverFilter {
            from,
            to,
            after: after.as_deref(),
            limit,
        },
    )
    .await?;
    let customers_in_both = c.transitions.iter().map(|t| t.customers).sum();
    let moved = c
        .transitions
        .iter()
        .filter(|t| t.from_segment != t.to_segment)
        .map(|t| t.customers)
        .sum();
    let next_after = (c.movers.len() as i64 == limit)
        .then(|| c.movers.last().map(|m| m.external_id.clone()))
        .flatten();
    Ok(web::Json(Comparison {
        a: c.a.run_id,
        b: c.b.run_id,
        transitions: c
            .transitions
            .into_iter()
            .map(|t| Transition {
                from: t.from_segment,
                to: t.to_segment,
                customers: t.customers,
            })
            .collect(),
        customers_in_both,
        moved,
        only_in_a: c.only_in_a,
        only_in_b: c.only_in_b,
        adjusted_rand_index: c.adjusted_rand_index,
        movers: c
            .movers
            .into_iter()
            .map(|m| Mover {
                customer_id: m.external_id,
                from: m.from_segment,
                to: m.to_segment,
            })
            .collect(),
        next_after,
    }))
}
