//! A succeeded run's assignments: each customer's segment and score, paged as JSON or
//! streamed as CSV.

use super::page_limit;
use crate::domain::RunId;
use crate::domain::run::ScoreKind;
use crate::error::Result;
use crate::http::extract::Query;
use crate::http::extract::ReadPool;
use crate::http::page::{ExportFormat, wants_csv};
use crate::http::problem::{Problem, RunResultErrors};
use crate::service::runs::{self as service};
use crate::store::Pool;
use actix_web::http::header;
use actix_web::{HttpRequest, HttpResponse, get};
use serde::{Deserialize, Serialize};
use utoipa::{IntoParams, ToSchema};
use uuid::Uuid;

#[derive(Debug, Deserialize, IntoParams)]
#[serde(deny_unknown_fields)]
#[into_params(parameter_in = Query)]
pub struct AssignmentParams {
    /// Only this segment: a stable segment id, or `noise`.
    #[param(pattern = r"^(noise|[+-]?[0-9]{1,9})$")]
    pub segment: Option<String>,
    /// Rows per page, 1 to 10000 (default 100; JSON only).
    #[param(minimum = 1, maximum = 10000)]
    pub limit: Option<u32>,
    /// Start after this customer id: the `next_after` of the previous page (JSON only).
    pub after: Option<String>,
    /// Overrides `Accept`: `csv` answers 303 to the CSV operation.
    #[param(inline)]
    pub format: Option<ExportFormat>,
}

#[derive(Debug, Deserialize, IntoParams)]
#[serde(deny_unknown_fields)]
#[into_params(parameter_in = Query)]
pub struct AssignmentExportParams {
    /// Only this segment: a stable segment id, or `noise`.
    #[param(pattern = r"^(noise|[+-]?[0-9]{1,9})$")]
    pub segment: Option<String>,
}

#[derive(Debug, Serialize, ToSchema)]
pub struct AssignmentView {
    pub customer_id: String,
    /// `null` for DBSCAN noise.
    pub segment_id: Option<i32>,
    pub label: Option<String>,
    /// Distance to the segment's centroid (model space) or membership probability: the
    /// page's `score` says which.
    pub score: Option<f64>,
}

#[derive(Debug, Serialize, ToSchema)]
pub struct AssignmentPage {
    pub run_id: Uuid,
    /// What each score is: `distance` or `probability`.
    pub score: ScoreKind,
    /// By customer id (byte order).
    pub assignments: Vec<AssignmentView>,
    /// Pass as `after` for the next page; absent on the last page.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub next_after: Option<String>,
}

async fn assignments_csv(
    pool: &Pool,
    id: RunId,
    segment: Option<Option<i32>>,
) -> Result<HttpResponse> {
    let stream = service::assignments_csv(pool, id, segment).await?;
    Ok(HttpResponse::Ok()
        .content_type("text/csv; charset=utf-8")
        .insert_header((
            header::CONTENT_DISPOSITION,
            format!("attachment; filename=\"assignments-{id}.csv\""),
        ))
        .streaming(stream))
}

/// A run's assignments as one CSV file.
///
/// The whole result streamed, in customer id order, with the columns
/// `customer_id,segment_id,segment_label` and `distance` or `probability` (where
/// `GET /v1/runs/{id}/assignments?format=csv` leads).
#[utoipa::path(
    security(("api_key" = ["read"])),
    tag = "runs",
    params(("id" = String, Path, description = "The run's id"), AssignmentExportParams),
    responses(
        (status = 200, description = "The CSV file", content(
            (String = "text/csv", example = "customer_id,segment_id,segment_label,distance\n0001,2,Low annual income · Low spending score,0.3921\n")
        )),
        (status = 410, description = "Retention dropped this run's assignments", body = Problem, content_type = "application/problem+json"),
        (status = 422, description = "Invalid `segment`", body = Problem, content_type = "application/problem+json"),
        RunResultErrors,
    )
)]
#[get("/runs/{id}/assignments.csv")]
#[tracing::instrument(skip_all, fields(run_id = %id))]
pub(super) async fn export_assignments(
    pool: ReadPool,
    id: RunId,
    Query(params): Query<AssignmentExportParams>,
) -> Result<HttpResponse> {
    assignments_export(&pool, id, params).await
}

/// A run's assignments as one CSV file (`…/assignments.csv`, and the active run's).
pub(super) async fn assignments_export(
    pool: &Pool,
    id: RunId,
    params: AssignmentExportParams,
) -> Result<HttpResponse> {
    let segment = params
        .segment
        .as_deref()
        .map(|s| service::parse_segment("segment", s))
        .transpose()?;
    assignments_csv(pool, id, segment).await
}

/// A run's assignments: keyset-paged JSON.
///
/// Asked for CSV (`Accept: text/csv` or `?format=csv`), it answers `303 See Other` to
/// `GET /v1/runs/{id}/assignments.csv` (with `segment`), the whole result streamed as CSV.
#[utoipa::path(
    security(("api_key" = ["read"])),
    tag = "runs",
    params(("id" = String, Path, description = "The run's id"), AssignmentParams),
    responses(
        (status = 200, description = "A page of assignments", body = AssignmentPage),
        (status = 303, description = "CSV was asked for: it is at `Location`", headers(
            ("Location" = String, description = "`/v1/runs/{id}/assignments.csv`, with `segment` when given")
        )),
        (status = 410, description = "Retention dropped this run's assignments", body = Problem, content_type = "application/problem+json"),
        (status = 422, description = "Invalid `segment`, `limit` or `format`", body = Problem, content_type = "application/problem+json"),
        RunResultErrors,
    )
)]
#[get("/runs/{id}/assignments")]
#[tracing::instrument(skip_all, fields(run_id = %id))]
pub(super) async fn run_assignments(
    pool: ReadPool,
    id: RunId,
    req: HttpRequest,
    Query(params): Query<AssignmentParams>,
) -> Result<HttpResponse> {
    assignments(
        &pool,
        id,
        &req,
        params,
        &format!("/v1/runs/{id}/assignments.csv"),
    )
    .await
}

/// A page of a run's assignments (`…/assignments`, and the active run's), or the 303 to
/// `csv` (the CSV operation's path) when CSV was asked for.
pub(super) async fn assignments(
    pool: &Pool,
    id: RunId,
    req: &HttpRequest,
    params: AssignmentParams,
    csv: &str,
) -> Result<HttpResponse> {
    let segment = params
        .segment
        .as_deref()
        .map(|s| service::parse_segment("segment", s))
        .transpose()?;
    // Checked whatever the format (the CSV has every row: `limit` is a JSON page's size).
    let limit = page_limit(params.limit)?;
    if wants_csv(req, params.format) {
        let query = crate::http::page::query(&[("segment", params.segment)]);
        return Ok(crate::http::page::see_csv(format!("{csv}{query}")));
    }
    let after = params.after.filter(|a| !a.is_empty());
    let (run, segments, rows) =
        service::assignments_page(pool, id, segment, after.as_deref(), limit).await?;
    let label = |s: Option<i32>| {
        s.and_then(|s| segments.iter().find(|g| g.stable_id == s))
            .map(|g| g.label.clone())
    };
    let next_after = (rows.len() as i64 == limit)
        .then(|| rows.last().map(|r| r.external_id.clone()))
        .flatten();
    Ok(HttpResponse::Ok().json(AssignmentPage {
        run_id: run.run_id,
        score: service::score_kind(&run),
        assignments: rows
            .into_iter()
            .map(|r| AssignmentView {
                label: label(r.segment),
                customer_id: r.external_id,
                segment_id: r.segment,
                score: r.score,
            })
            .collect(),
        next_after,
    }))
}
