//! A run's life: trigger (idempotent), list, read, cancel, activate.

use super::page_limit;
use super::view::Run;
use crate::domain::{RunId, SegmentationId};
use crate::error::{Error, Result};
use crate::http::extract::{NoFormPost, Query};
use crate::http::problem::{Problem, RunErrors, SegmentationErrors};
use crate::service::lookup::LookupCache;
use crate::service::runs::Waker;
use crate::service::runs::{self as service, Triggered};
use crate::store::Pool;
use actix_web::http::header;
use actix_web::{HttpRequest, HttpResponse, get, post, web};
use serde::{Deserialize, Serialize};
use utoipa::{IntoParams, ToSchema};

#[derive(Debug, Deserialize, IntoParams)]
#[serde(deny_unknown_fields)]
#[into_params(parameter_in = Query)]
pub struct TriggerParams {
    /// Queue this run even when another of the segmentation is queued or running (it
    /// starts after it). Default false: the call answers 409 naming the pending run.
    pub queue: Option<bool>,
}

/// Retrain a segmentation.
///
/// Answers at once with the queued run; a worker trains it (poll `Location`). With an
/// `Idempotency-Key`, retries of the call return the run the first call created.
#[utoipa::path(
    security(("api_key" = ["train"])),
    tag = "runs",
    params(
        ("id" = String, Path, description = "The segmentation's id"),
        ("Idempotency-Key" = Option<String>, Header, pattern = r"^[!-~]{1,255}$", max_length = 255, description = "Makes retries return the same run (1 to 255 visible ASCII characters)"),
        TriggerParams
    ),
    responses(
        (status = 202, description = "Queued (or, for a retried `Idempotency-Key`, the run it created; then `Idempotent-Replayed: true`); `Location` names the run", body = Run,
            headers(
                ("Location" = String, description = "The run: `/v1/runs/{id}`"),
                ("Idempotent-Replayed" = String, description = "`true` when a retried `Idempotency-Key` returned the run its first call created")
            )),
        (status = 409, description = "A run of this segmentation is queued or running; `run` and `Location` name it", body = Problem, content_type = "application/problem+json",
            headers(("Location" = String, description = "The pending run"))),
        (status = 422, description = "Invalid `Idempotency-Key` or `queue`", body = Problem, content_type = "application/problem+json"),
        (status = 415, description = "A form's content type: this endpoint takes no body", body = Problem, content_type = "application/problem+json"),
        SegmentationErrors,
    )
)]
#[post("/segmentations/{id}/runs")]
#[tracing::instrument(skip_all, fields(segmentation_id = %id))]
pub(super) async fn trigger_run(
    _: NoFormPost,
    pool: web::Data<Pool>,
    waker: web::Data<Waker>,
    id: SegmentationId,
    req: HttpRequest,
    Query(params): Query<TriggerParams>,
) -> Result<HttpResponse> {
    let key = match req.headers().get("idempotency-key") {
        None => None,
        Some(v) => Some(service::check_idempotency_key(v.to_str().map_err(
            |_| Error::invalid("Idempotency-Key", "must be visible ASCII characters"),
        )?)?),
    };
    let triggered = service::trigger(&pool, &waker, id, key, params.queue.unwrap_or(false)).await?;
    let (run, replayed) = match triggered {
        Triggered::Queued(run) => (run, false),
        Triggered::Replayed(run) => (run, true),
    };
    let view = Run::from(run);
    let mut response = HttpResponse::Accepted();
    response.insert_header((header::LOCATION, view.links.self_.clone()));
    if replayed {
        response.insert_header(("Idempotent-Replayed", "true"));
    }
    Ok(response.json(view))
}

#[derive(Debug, Deserialize, IntoParams)]
#[serde(deny_unknown_fields)]
#[into_params(parameter_in = Query)]
pub struct RunPageParams {
    /// Runs per page, 1 to 10000 (default 100).
    #[param(minimum = 1, maximum = 10000)]
    pub limit: Option<u32>,
    /// The `next_before` of the previous page.
    pub before: Option<i64>,
}

#[derive(Debug, Serialize, ToSchema)]
pub struct RunList {
    /// Newest first.
    pub runs: Vec<Run>,
    /// Pass as `before` for the next (older) page; absent on the last page.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub next_before: Option<i64>,
}

/// List a segmentation's runs, newest first.
///
/// Keyset-paged: pass `next_before` as `before` for the next, older page. Each run as
/// `GET /v1/runs/{id}` shows it.
#[utoipa::path(
    security(("api_key" = ["read"])),
    tag = "runs",
    params(("id" = String, Path, description = "The segmentation's id"), RunPageParams),
    responses(
        (status = 200, description = "A page of runs", body = RunList),
        (status = 422, description = "Invalid `limit` or `before`", body = Problem, content_type = "application/problem+json"),
        SegmentationErrors,
    )
)]
#[get("/segmentations/{id}/runs")]
#[tracing::instrument(skip_all, fields(segmentation_id = %id))]
pub(super) async fn list_runs(
    pool: web::Data<Pool>,
    id: SegmentationId,
    Query(params): Query<RunPageParams>,
) -> Result<web::Json<RunList>> {
    let limit = page_limit(params.limit)?;
    let rows = service::list(&pool, id, params.before, limit).await?;
    let next_before = (rows.len() as i64 == limit)
        .then(|| rows.last().map(|r| r.seq))
        .flatten();
    Ok(web::Json(RunList {
        runs: rows.into_iter().map(Run::from).collect(),
        next_before,
    }))
}

/// One run: status, progress, timings, parameters, counts, k and metrics, or its error.
///
/// Poll it after a trigger: `status` moves from `queued` through `running` to `succeeded`,
/// `failed` or `cancelled`; `matching` and `fit` are `null` until it succeeds.
#[utoipa::path(
    security(("api_key" = ["read"])),
    tag = "runs",
    params(("id" = String, Path, description = "The run's id")),
    responses(
        (status = 200, description = "The run", body = Run),
        RunErrors,
    )
)]
#[get("/runs/{id}")]
#[tracing::instrument(skip_all, fields(run_id = %id))]
pub(super) async fn get_run(pool: web::Data<Pool>, id: RunId) -> Result<web::Json<Run>> {
    Ok(web::Json(service::get(&pool, id).await?.into()))
}

/// Cancel a run: a queued one at once, a running one at its next phase boundary.
///
/// Nothing of a cancelled run is written. 409 for a run that has already ended.
#[utoipa::path(
    security(("api_key" = ["train"])),
    tag = "runs",
    params(("id" = String, Path, description = "The run's id")),
    responses(
        (status = 202, description = "Cancelled, or asked to stop (`cancel_requested`)", body = Run),
        (status = 409, description = "The run has finished", body = Problem, content_type = "application/problem+json"),
        (status = 415, description = "A form's content type: this endpoint takes no body", body = Problem, content_type = "application/problem+json"),
        RunErrors,
    )
)]
#[post("/runs/{id}/cancel")]
#[tracing::instrument(skip_all, fields(run_id = %id))]
pub(super) async fn cancel_run(
    _: NoFormPost,
    pool: web::Data<Pool>,
    id: RunId,
) -> Result<HttpResponse> {
    let run = Run::from(service::cancel(&pool, id).await?);
    Ok(HttpResponse::Accepted().json(run))
}

/// Make a succeeded run the active one (when auto-activation is off, or to roll back).
///
/// Lookups, exports and scoring read the active run from the commit on; 409 for a run that has
/// not succeeded.
#[utoipa::path(
    security(("api_key" = ["train"])),
    tag = "runs",
    params(("id" = String, Path, description = "The run's id")),
    responses(
        (status = 200, description = "The run, now active", body = Run),
        (status = 409, description = "The run has not succeeded, or retention dropped its assignments", body = Problem, content_type = "application/problem+json"),
        (status = 415, description = "A form's content type: this endpoint takes no body", body = Problem, content_type = "application/problem+json"),
        RunErrors,
    )
)]
#[post("/runs/{id}/activate")]
#[tracing::instrument(skip_all, fields(run_id = %id))]
pub(super) async fn activate_run(
    _: NoFormPost,
    pool: web::Data<Pool>,
    cache: web::Data<LookupCache>,
    id: RunId,
) -> Result<web::Json<Run>> {
    Ok(web::Json(
        service::activate(&pool, &cache, id).await?.into(),
    ))
}
