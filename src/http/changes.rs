//! What changed for CRMs: the change feed (customers who entered, moved or left segments at
//! each activation) and the activations themselves.

use crate::domain::SegmentationId;
use crate::domain::activation::{Cause, Change};
use crate::error::Result;
use crate::http::extract::Query;
use crate::http::page::{self, ExportFormat, wants_csv};
use crate::http::problem::{Problem, SegmentationErrors};
use crate::service::changes::{self as service, FeedQuery};
use actix_web::{HttpRequest, HttpResponse, get, web};
use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};
use utoipa::{IntoParams, ToSchema};
use uuid::Uuid;

/// The response header that carries the next cursor of a CSV page.
pub const NEXT_CURSOR: &str = "segstore-next-cursor";
/// The response header that says whether more changes follow a CSV page.
pub const HAS_MORE: &str = "segstore-has-more";

#[derive(Debug, Deserialize, IntoParams)]
#[serde(deny_unknown_fields)]
#[into_params(parameter_in = Query)]
pub struct ChangeParams {
    /// The `next_cursor` of the previous page (or of the last page read, days ago); absent:
    /// from the first change.
    #[param(max_length = 28, pattern = r"^(c1_[0-9]{1,15}_[0-9]{1,9})?$")]
    pub after: Option<String>,
    /// Changes per page, 1 to 10000 (default 100).
    #[param(minimum = 1, maximum = 10000)]
    pub limit: Option<u32>,
    /// Only changes into or out of this segment (stable id).
    #[param(minimum = -2147483648i64, maximum = 2147483647)]
    pub segment: Option<i32>,
    /// `csv` for CSV (as `Accept: text/csv` does), `json` (the default) for JSON.
    #[param(inline)]
    pub format: Option<ExportFormat>,
}

/// A segment on one side of a change.
#[derive(Debug, Serialize, ToSchema)]
pub struct ChangeSegment {
    /// Stable segment id.
    pub segment_id: i32,
    /// Its label in its run.
    pub label: Option<String>,
}

/// One customer's change at one activation.
#[derive(Debug, Serialize, ToSchema)]
pub struct MembershipChange {
    /// The activation (numbered from 1 per segmentation) that made the change.
    pub activation: i64,
    pub customer_id: String,
    pub change: Change,
    /// The segment before (in `previous_run_id`); `null` when the customer entered.
    pub from: Option<ChangeSegment>,
    /// The segment now (in `run_id`); `null` when the customer left.
    pub to: Option<ChangeSegment>,
    /// The run that became active.
    pub run_id: Uuid,
    /// The active run it replaced (`null` at the first activation).
    pub previous_run_id: Option<Uuid>,
    pub activated_at: DateTime<Utc>,
}

/// A page of the change feed.
#[derive(Debug, Serialize, ToSchema)]
pub struct ChangeFeed {
    pub segmentation_id: Uuid,
    /// In activation order, then customer id order.
    pub changes: Vec<MembershipChange>,
    /// Store it and pass it as `after` to resume exactly after the last change given (also
    /// when `changes` is empty: it is then the cursor that was passed).
    pub next_cursor: String,
    /// More changes follow now: ask again at once.
    pub has_more: bool,
}

fn side(segment: Option<i32>, label: Option<String>) -> Option<ChangeSegment> {
    segment.map(|segment_id| ChangeSegment { segment_id, label })
}

/// The segmentation's membership changes: who entered, moved or left which segment at
/// each activation.
///
/// Every activation (a run that succeeded with auto-activation, `POST /v1/runs/{id}/activate`,
/// a rollback) records the customers whose stable segment changed against the run it
/// replaced; customers whose segment did not change appear nowhere. Changes come in
/// activation order, then customer id order. Store `next_cursor` and pass it as `after` to
/// resume exactly where you stopped, on any replica, after any restart: no gap, no
/// duplicate. Asked for CSV (`Accept: text/csv` or `format=csv`), it answers `303 See Other`
/// to `GET /v1/segmentations/{id}/changes.csv` with the same `after`, `limit` and `segment`.
#[utoipa::path(
    security(("api_key" = ["read"])),
    tag = "changes",
    params(("id" = String, Path, description = "The segmentation's id"), ChangeParams),
    responses(
        (status = 200, description = "A page of changes", body = ChangeFeed),
        (status = 303, description = "CSV was asked for: it is at `Location`", headers(
            ("Location" = String, description = "`/v1/segmentations/{id}/changes.csv` with the page's parameters")
        )),
        (status = 422, description = "Invalid `after`, `limit`, `segment` or `format`", body = Problem, content_type = "application/problem+json"),
        SegmentationErrors,
    )
)]
#[get("/segmentations/{id}/changes")]
#[tracing::instrument(skip_all, fields(segmentation_id = %id))]
pub(super) async fn list_changes(
    pool: web::Data<crate::store::Pool>,
    id: SegmentationId,
    req: HttpRequest,
    Query(params): Query<ChangeParams>,
) -> Result<HttpResponse> {
    let query = FeedQuery {
        after: service::parse_after(params.after.as_deref())?,
        segment: params.segment,
        limit: page::limit(params.limit, page::MAX_ROWS)?,
    };
    if wants_csv(&req, params.format) {
        let query = page::query(&[
            ("after", params.after),
            ("limit", params.limit.map(|l| l.to_string())),
            ("segment", params.segment.map(|s| s.to_string())),
        ]);
        return Ok(page::see_csv(format!(
            "/v1/segmentations/{id}/changes.csv{query}"
        )));
    }
    let page = service::page(&pool, id, query).await?;
    Ok(HttpResponse::Ok().json(ChangeFeed {
        segmentation_id: id.uuid(),
        next_cursor: page.next.cursor(),
        has_more: page.has_more,
        changes: page
            .changes
            .into_iter()
            .map(|c| MembershipChange {
                activation: c.activation,
                change: c.change(),
                from: side(c.from_segment, c.from_label),
                to: side(c.to_segment, c.to_label),
                customer_id: c.external_id,
                run_id: c.run_id,
                previous_run_id: c.previous_run_id,
                activated_at: c.activated_at,
            })
            .collect(),
    }))
}

#[derive(Debug, Deserialize, IntoParams)]
#[serde(deny_unknown_fields)]
#[into_params(parameter_in = Query)]
pub struct ChangeCsvParams {
    /// The `Segstore-Next-Cursor` of the previous page (or of the last page read, days ago);
    /// absent: from the first change.
    #[param(max_length = 28, pattern = r"^(c1_[0-9]{1,15}_[0-9]{1,9})?$")]
    pub after: Option<String>,
    /// Changes per page, 1 to 10000 (default 100).
    #[param(minimum = 1, maximum = 10000)]
    pub limit: Option<u32>,
    /// Only changes into or out of this segment (stable id).
    #[param(minimum = -2147483648i64, maximum = 2147483647)]
    pub segment: Option<i32>,
}

/// A page of a segmentation's membership changes as CSV.
///
/// The page `GET /v1/segmentations/{id}/changes` gives, one change a line; the
/// `Segstore-Next-Cursor` and `Segstore-Has-More` headers carry the cursor.
#[utoipa::path(
    security(("api_key" = ["read"])),
    tag = "changes",
    params(("id" = String, Path, description = "The segmentation's id"), ChangeCsvParams),
    responses(
        (status = 200, description = "A page of changes", content(
            (String = "text/csv", example = "activation,customer_id,change,from_segment,from_label,to_segment,to_label,run_id,previous_run_id,activated_at\n2,0042,moved,1,Careful spenders,3,High spending score,5b0f…,91c2…,2026-12-01T06:00:03.120000Z\n")
        ), headers(
            ("segstore-next-cursor" = String, description = "The cursor to pass as `after` next"),
            ("segstore-has-more" = bool, description = "Whether more changes follow now")
        )),
        (status = 422, description = "Invalid `after`, `limit` or `segment`", body = Problem, content_type = "application/problem+json"),
        SegmentationErrors,
    )
)]
#[get("/segmentations/{id}/changes.csv")]
#[tracing::instrument(skip_all, fields(segmentation_id = %id))]
pub(super) async fn export_changes(
    pool: web::Data<crate::store::Pool>,
    id: SegmentationId,
    Query(params): Query<ChangeCsvParams>,
) -> Result<HttpResponse> {
    let query = FeedQuery {
        after: service::parse_after(params.after.as_deref())?,
        segment: params.segment,
        limit: page::limit(params.limit, page::MAX_ROWS)?,
    };
    let page = service::page(&pool, id, query).await?;
    Ok(HttpResponse::Ok()
        .content_type("text/csv; charset=utf-8")
        .insert_header((NEXT_CURSOR, page.next.cursor()))
        .insert_header((HAS_MORE, page.has_more.to_string()))
        .body(service::csv(&page)))
}

#[derive(Debug, Deserialize, IntoParams)]
#[serde(deny_unknown_fields)]
#[into_params(parameter_in = Query)]
pub struct ActivationParams {
    /// Activations to list, newest first, 1 to 10000 (default 100).
    #[param(minimum = 1, maximum = 10000)]
    pub limit: Option<u32>,
}

/// A run becoming its segmentation's active run, and how many customers it changed.
#[derive(Debug, Serialize, ToSchema)]
pub struct Activation {
    /// Numbered from 1 per segmentation, in commit order.
    pub activation: i64,
    pub run_id: Uuid,
    /// The active run it replaced (`null` at the first activation).
    pub previous_run_id: Option<Uuid>,
    pub cause: Cause,
    pub activated_at: DateTime<Utc>,
    /// Customers now in a segment who were in none.
    pub entered: i64,
    /// Customers now in another segment.
    pub moved: i64,
    /// Customers now in no segment.
    pub left: i64,
}

#[derive(Debug, Serialize, ToSchema)]
pub struct ActivationList {
    /// Newest first.
    pub activations: Vec<Activation>,
}

/// The segmentation's activations, newest first, with the changes each recorded.
///
/// Each one's changes are in `GET /v1/segmentations/{id}/changes`.
#[utoipa::path(
    security(("api_key" = ["read"])),
    tag = "changes",
    params(("id" = String, Path, description = "The segmentation's id"), ActivationParams),
    responses(
        (status = 200, description = "The activations", body = ActivationList),
        (status = 422, description = "Invalid `limit`", body = Problem, content_type = "application/problem+json"),
        SegmentationErrors,
    )
)]
#[get("/segmentations/{id}/activations")]
#[tracing::instrument(skip_all, fields(segmentation_id = %id))]
pub(super) async fn list_activations(
    pool: web::Data<crate::store::Pool>,
    id: SegmentationId,
    Query(params): Query<ActivationParams>,
) -> Result<web::Json<ActivationList>> {
    let limit = page::limit(params.limit, page::MAX_ROWS)?;
    let rows = service::activations(&pool, id, limit).await?;
    Ok(web::Json(ActivationList {
        activations: rows
            .into_iter()
            .map(|a| Activation {
                activation: a.activation,
                run_id: a.run_id,
                previous_run_id: a.previous_run_id,
                cause: a.cause,
                activated_at: a.activated_at,
                entered: a.entered,
                moved: a.moved,
                left: a.left,
            })
            .collect(),
    }))
}

pub fn routes(cfg: &mut utoipa_actix_web::service_config::ServiceConfig) {
    cfg.service(list_changes)
        .service(export_changes)
        .service(list_activations);
}
