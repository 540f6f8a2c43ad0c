//! `/v1/segmentations/{id}/active/…`: what a reader pulls from a segmentation's active run
//! (profiles, assignments as JSON or CSV), following activations, so that a scheduled pull or
//! a BI data source never needs a run id. Each answer names the run it came from in
//! `Content-Location`.

use super::assignments::{
    AssignmentExportParams, AssignmentParams, assignments, assignments_export,
};
use super::results::{SegmentList, segment_list};
use crate::domain::SegmentationId;
use crate::error::Result;
use crate::http::extract::{Query, ReadPool};
use crate::http::problem::Problem;
use crate::service::runs as service;
use crate::store::Pool;
use actix_web::http::header::{self, HeaderValue};
use actix_web::{HttpRequest, HttpResponse, get, web};

/// Names the run an answer came from: `/v1/runs/{run}/{tail}`.
pub(crate) fn from_run(
    mut response: HttpResponse,
    run: crate::domain::RunId,
    tail: &str,
) -> HttpResponse {
    if let Ok(value) = HeaderValue::from_str(&format!("/v1/runs/{run}/{tail}")) {
        response
            .headers_mut()
            .insert(header::CONTENT_LOCATION, value);
    }
    response
}

/// The active run's segment profiles.
///
/// The same answer as `GET /v1/runs/{id}/segments` for the segmentation's active run, which
/// `Content-Location` names; it follows each activation.
#[utoipa::path(
    security(("api_key" = ["read"])),
    tag = "runs",
    params(("id" = String, Path, description = "The segmentation's id")),
    responses(
        (status = 200, description = "The profiles, in the run's segment order", body = SegmentList,
            headers(("Content-Location" = String, description = "The run's own address: `/v1/runs/{run}/segments`"))),
        (status = 404, description = "No such segmentation", body = Problem, content_type = "application/problem+json"),
        (status = 409, description = "The segmentation has no active run yet", body = Problem, content_type = "application/problem+json"),
        (status = 503, description = "The database is unavailable", body = Problem, content_type = "application/problem+json"),
    )
)]
#[get("/segmentations/{id}/active/segments")]
#[tracing::instrument(skip_all, fields(segmentation_id = %id))]
pub(super) async fn active_segments(
    pool: web::Data<Pool>,
    id: SegmentationId,
) -> Result<HttpResponse> {
    let run = service::active(&pool, id).await?;
    let list = segment_list(&pool, run).await?;
    Ok(from_run(HttpResponse::Ok().json(list), run, "segments"))
}

/// The active run's assignments: keyset-paged JSON.
///
/// The same answer as `GET /v1/runs/{id}/assignments` for the segmentation's active run,
/// which `Content-Location` names. A page's `next_after` resumes on the same run only while
/// it stays active: compare the `run_id` of each page. Asked for CSV (`Accept: text/csv` or
/// `?format=csv`), it answers `303 See Other` to `…/active/assignments.csv`.
#[utoipa::path(
    security(("api_key" = ["read"])),
    tag = "runs",
    params(("id" = String, Path, description = "The segmentation's id"), AssignmentParams),
    responses(
        (status = 200, description = "A page of assignments", body = super::assignments::AssignmentPage,
            headers(("Content-Location" = String, description = "The run's own address: `/v1/runs/{run}/assignments`"))),
        (status = 303, description = "CSV was asked for: it is at `Location`", headers(
            ("Location" = String, description = "`/v1/segmentations/{id}/active/assignments.csv`, with `segment` when given")
        )),
        (status = 404, description = "No such segmentation", body = Problem, content_type = "application/problem+json"),
        (status = 409, description = "The segmentation has no active run yet", body = Problem, content_type = "application/problem+json"),
        (status = 410, description = "Retention dropped this run's assignments", body = Problem, content_type = "application/problem+json"),
        (status = 422, description = "Invalid `segment`, `limit` or `format`", body = Problem, content_type = "application/problem+json"),
        (status = 503, description = "The database is unavailable", body = Problem, content_type = "application/problem+json"),
    )
)]
#[get("/segmentations/{id}/active/assignments")]
#[tracing::instrument(skip_all, fields(segmentation_id = %id))]
pub(super) async fn active_assignments(
    pool: web::Data<Pool>,
    reads: ReadPool,
    id: SegmentationId,
    req: HttpRequest,
    Query(params): Query<AssignmentParams>,
) -> Result<HttpResponse> {
    let run = service::active(&pool, id).await?;
    let csv = format!("/v1/segmentations/{id}/active/assignments.csv");
    let answer = assignments(&reads, run, &req, params, &csv).await?;
    if answer.status() != actix_web::http::StatusCode::OK {
        return Ok(answer);
    }
    Ok(from_run(answer, run, "assignments"))
}

/// The active run's assignments as one CSV file.
///
/// The same file as `GET /v1/runs/{id}/assignments.csv` for the segmentation's active run,
/// which `Content-Location` names: a scheduled export or a BI extract names the
/// segmentation and always gets what is active.
#[utoipa::path(
    security(("api_key" = ["read"])),
    tag = "runs",
    params(("id" = String, Path, description = "The segmentation's id"), AssignmentExportParams),
    responses(
        (status = 200, description = "The CSV file", content(
            (String = "text/csv", example = "customer_id,segment_id,segment_label,distance\n0001,2,Low annual income · Low spending score,0.3921\n")
        ), headers(("Content-Location" = String, description = "The run's own address: `/v1/runs/{run}/assignments.csv`"))),
        (status = 404, description = "No such segmentation", body = Problem, content_type = "application/problem+json"),
        (status = 409, description = "The segmentation has no active run yet", body = Problem, content_type = "application/problem+json"),
        (status = 410, description = "Retention dropped this run's assignments", body = Problem, content_type = "application/problem+json"),
        (status = 422, description = "Invalid `segment`", body = Problem, content_type = "application/problem+json"),
        (status = 503, description = "The database is unavailable", body = Problem, content_type = "application/problem+json"),
    )
)]
#[get("/segmentations/{id}/active/assignments.csv")]
#[tracing::instrument(skip_all, fields(segmentation_id = %id))]
pub(super) async fn export_active_assignments(
    pool: web::Data<Pool>,
    reads: ReadPool,
    id: SegmentationId,
    Query(params): Query<AssignmentExportParams>,
) -> Result<HttpResponse> {
    let run = service::active(&pool, id).await?;
    let answer = assignments_export(&reads, run, params).await?;
    Ok(from_run(answer, run, "assignments.csv"))
}
