//! `/v1/segmentations/{id}/active/charts/…` and `…/active/sample`: a segmentation's active
//! run drawn, whichever run that is now, so that a dashboard embeds one address that follows
//! each activation. Each answer names the run it came from in `Content-Location`.

use super::{ChartParams, PngImage, RunSample, SampleParams, ScatterParams};
use crate::domain::SegmentationId;
use crate::error::Result;
use crate::http::extract::{Query, ReadPool};
use crate::http::problem::{ActiveRunErrors, Problem};
use crate::http::runs::active::from_run;
use crate::service::runs::active;
use crate::store::Pool;
use actix_web::{HttpRequest, HttpResponse, get, web};

/// The active run's scatter chart.
///
/// The same chart as `GET /v1/runs/{id}/charts/scatter.svg` for the segmentation's active
/// run, which `Content-Location` names. SVG, or PNG with `Accept: image/png` or
/// `?format=png`.
#[utoipa::path(
    security(("api_key" = ["read"])),
    tag = "charts",
    params(("id" = String, Path, description = "The segmentation's id"), ScatterParams),
    responses(
        (status = 200, description = "The chart", content(
            (String = "image/svg+xml"),
            (PngImage = "image/png")
        ), headers(("Content-Location" = String, description = "The run's own address: `/v1/runs/{run}/charts/scatter.svg`"))),
        (status = 404, description = "No such segmentation", body = Problem, content_type = "application/problem+json"),
        (status = 406, description = "`Accept` takes neither SVG nor PNG", body = Problem, content_type = "application/problem+json"),
        (status = 409, description = "The segmentation has no active run yet, or its active run clustered a single feature", body = Problem, content_type = "application/problem+json"),
        (status = 422, description = "Invalid `x`, `y`, `points` or `format`", body = Problem, content_type = "application/problem+json"),
        (status = 503, description = "The database is unavailable", body = Problem, content_type = "application/problem+json"),
    )
)]
#[get("/segmentations/{id}/active/charts/scatter.svg")]
#[tracing::instrument(skip_all, fields(segmentation_id = %id))]
pub(super) async fn active_scatter_chart(
    pool: web::Data<Pool>,
    reads: ReadPool,
    id: SegmentationId,
    req: HttpRequest,
    Query(params): Query<ScatterParams>,
) -> Result<HttpResponse> {
    let run = active(&pool, id).await?;
    let chart = super::scatter(&reads, run, &req, params).await?;
    Ok(from_run(chart, run, "charts/scatter.svg"))
}

/// The active run's chart sample as JSON.
///
/// The same answer as `GET /v1/runs/{id}/sample` for the segmentation's active run, which
/// `Content-Location` names (and `run_id` in the body).
#[utoipa::path(
    security(("api_key" = ["read"])),
    tag = "charts",
    params(("id" = String, Path, description = "The segmentation's id"), SampleParams),
    responses(
        (status = 200, description = "The sample", body = RunSample,
            headers(("Content-Location" = String, description = "The run's own address: `/v1/runs/{run}/sample`"))),
        (status = 422, description = "Invalid `limit`", body = Problem, content_type = "application/problem+json"),
        ActiveRunErrors,
    )
)]
#[get("/segmentations/{id}/active/sample")]
#[tracing::instrument(skip_all, fields(segmentation_id = %id))]
pub(super) async fn active_sample(
    pool: web::Data<Pool>,
    reads: ReadPool,
    id: SegmentationId,
    Query(params): Query<SampleParams>,
) -> Result<HttpResponse> {
    let run = active(&pool, id).await?;
    let sample = super::sample(&reads, run, params).await?;
    Ok(from_run(HttpResponse::Ok().json(sample), run, "sample"))
}

/// The active run's elbow plot.
///
/// The same chart as `GET /v1/runs/{id}/charts/elbow.svg` for the segmentation's active run,
/// which `Content-Location` names. SVG, or PNG with `Accept: image/png` or `?format=png`.
#[utoipa::path(
    security(("api_key" = ["read"])),
    tag = "charts",
    params(("id" = String, Path, description = "The segmentation's id"), ChartParams),
    responses(
        (status = 200, description = "The chart", content(
            (String = "image/svg+xml"),
            (PngImage = "image/png")
        ), headers(("Content-Location" = String, description = "The run's own address: `/v1/runs/{run}/charts/elbow.svg`"))),
        (status = 404, description = "No such segmentation", body = Problem, content_type = "application/problem+json"),
        (status = 406, description = "`Accept` takes neither SVG nor PNG", body = Problem, content_type = "application/problem+json"),
        (status = 409, description = "The segmentation has no active run yet, or its active run was given k (no curve)", body = Problem, content_type = "application/problem+json"),
        (status = 422, description = "Invalid `format`", body = Problem, content_type = "application/problem+json"),
        (status = 503, description = "The database is unavailable", body = Problem, content_type = "application/problem+json"),
    )
)]
#[get("/segmentations/{id}/active/charts/elbow.svg")]
#[tracing::instrument(skip_all, fields(segmentation_id = %id))]
pub(super) async fn active_elbow_chart(
    pool: web::Data<Pool>,
    reads: ReadPool,
    id: SegmentationId,
    req: HttpRequest,
    Query(params): Query<ChartParams>,
) -> Result<HttpResponse> {
    let run = active(&pool, id).await?;
    let chart = super::elbow(&reads, run, &req, params).await?;
    Ok(from_run(chart, run, "charts/elbow.svg"))
}

/// The active run's segment sizes and lift heat map.
///
/// The same chart as `GET /v1/runs/{id}/charts/segments.svg` for the segmentation's active
/// run, which `Content-Location` names. SVG, or PNG with `Accept: image/png` or
/// `?format=png`.
#[utoipa::path(
    security(("api_key" = ["read"])),
    tag = "charts",
    params(("id" = String, Path, description = "The segmentation's id"), ChartParams),
    responses(
        (status = 200, description = "The chart", content(
            (String = "image/svg+xml"),
            (PngImage = "image/png")
        ), headers(("Content-Location" = String, description = "The run's own address: `/v1/runs/{run}/charts/segments.svg`"))),
        (status = 406, description = "`Accept` takes neither SVG nor PNG", body = Problem, content_type = "application/problem+json"),
        (status = 422, description = "Invalid `format`", body = Problem, content_type = "application/problem+json"),
        ActiveRunErrors,
    )
)]
#[get("/segmentations/{id}/active/charts/segments.svg")]
#[tracing::instrument(skip_all, fields(segmentation_id = %id))]
pub(super) async fn active_segments_chart(
    pool: web::Data<Pool>,
    reads: ReadPool,
    id: SegmentationId,
    req: HttpRequest,
    Query(params): Query<ChartParams>,
) -> Result<HttpResponse> {
    let run = active(&pool, id).await?;
    let chart = super::segments(&reads, run, &req, params).await?;
    Ok(from_run(chart, run, "charts/segments.svg"))
}
