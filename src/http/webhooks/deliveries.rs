//! A webhook's delivery log: each delivery's state and attempts, and retrying one.

use super::webhook_id;
use crate::domain::DeliveryId;
use crate::domain::webhook::{DeliveryState, EventType};
use crate::error::Result;
use crate::http::extract::Query;
use crate::http::page;
use crate::http::problem::{DatabaseErrors, Problem};
use crate::service::webhooks::{self as service, AttemptRow, DeliveryRow};
use crate::store::Pool;
use actix_web::{get, post, web};
use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};
use utoipa::{IntoParams, ToSchema};
use uuid::Uuid;

/// The range of an activation's membership changes a delivery carries.
#[derive(Debug, Serialize, ToSchema)]
pub struct ChangeRange {
    /// Numbered from 1, in customer id order.
    pub first: i32,
    pub last: i32,
}

/// One delivery of one event to one webhook.
#[derive(Debug, Serialize, ToSchema)]
pub struct DeliveryView {
    /// Sent as `webhook-id: msg_<this id without dashes>`, the same on every attempt:
    /// receivers deduplicate with it.
    pub id: Uuid,
    /// Creation order (pass as `before` to page).
    pub seq: i64,
    pub event_id: Uuid,
    pub event_type: EventType,
    pub segmentation_id: Option<Uuid>,
    /// The membership changes it carries (`segment.membership_changed` only).
    pub changes: Option<ChangeRange>,
    pub state: DeliveryState,
    pub attempts: i32,
    /// When it is next sent (`pending` only; after the deliveries before it in its queue).
    pub next_attempt_at: Option<DateTime<Utc>>,
    pub last_attempt_at: Option<DateTime<Utc>>,
    /// The last attempt's HTTP status (`null`: none, or no answer).
    pub last_status_code: Option<i32>,
    /// Why the last attempt got no answer (a timeout, a refused connection, a refused
    /// address), or which status it was.
    pub last_error: Option<String>,
    pub last_latency_ms: Option<f64>,
    pub delivered_at: Option<DateTime<Utc>>,
    pub created_at: DateTime<Utc>,
}

impl From<DeliveryRow> for DeliveryView {
    fn from(d: DeliveryRow) -> Self {
        Self {
            id: d.delivery_id,
            seq: d.seq,
            event_id: d.event_id,
            event_type: d.event_type,
            segmentation_id: d.segmentation_id,
            changes: d
                .first_ord
                .zip(d.last_ord)
                .map(|(first, last)| ChangeRange { first, last }),
            state: d.state,
            attempts: d.attempts,
            next_attempt_at: (d.state == DeliveryState::Pending).then_some(d.next_attempt_at),
            last_attempt_at: d.last_attempt_at,
            last_status_code: d.last_status_code,
            last_error: d.last_error,
            last_latency_ms: d.last_latency_ms,
            delivered_at: d.delivered_at,
            created_at: d.created_at,
        }
    }
}

/// One attempt to deliver.
#[derive(Debug, Serialize, ToSchema)]
pub struct AttemptView {
    /// From 1.
    pub attempt: i32,
    pub attempted_at: DateTime<Utc>,
    /// The endpoint's HTTP status (`null`: no answer; see `error`).
    pub status_code: Option<i32>,
    pub latency_ms: f64,
    pub error: Option<String>,
    /// The first kilobyte of the endpoint's answer.
    pub response_excerpt: Option<String>,
}

impl From<AttemptRow> for AttemptView {
    fn from(a: AttemptRow) -> Self {
        Self {
            attempt: a.attempt,
            attempted_at: a.attempted_at,
            status_code: a.status_code,
            latency_ms: a.latency_ms,
            error: a.error,
            response_excerpt: a.response_excerpt,
        }
    }
}

/// A delivery with every attempt.
#[derive(Debug, Serialize, ToSchema)]
pub struct DeliveryDetail {
    #[serde(flatten)]
    pub delivery: DeliveryView,
    /// First first.
    pub attempts_log: Vec<AttemptView>,
}

/// A page of deliveries.
#[derive(Debug, Serialize, ToSchema)]
pub struct DeliveryPage {
    /// Newest first.
    pub deliveries: Vec<DeliveryView>,
    /// Pass as `before` for the next page; absent on the last page.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub next_before: Option<i64>,
}

#[derive(Debug, Deserialize, IntoParams)]
#[serde(deny_unknown_fields)]
#[into_params(parameter_in = Query)]
pub struct DeliveryParams {
    /// Only deliveries in this state.
    #[param(inline)]
    pub state: Option<DeliveryState>,
    /// Only deliveries older than this `seq`.
    #[param(minimum = 1)]
    pub before: Option<i64>,
    /// Deliveries per page, 1 to 10000 (default 100).
    #[param(minimum = 1, maximum = 10000)]
    pub limit: Option<u32>,
}

fn delivery_id(raw: &str) -> Result<Uuid> {
    DeliveryId::parse(raw).map(DeliveryId::uuid)
}

/// A webhook's deliveries.
///
/// Newest first: each event sent to it, its state (`pending`, `delivered`, `failed`), its
/// attempts and the last answer. Keyset-paged by `seq`.
#[utoipa::path(
    tag = "webhooks",
    security(("api_key" = ["admin"])),
    params(("id" = Uuid, Path, description = "The webhook's id"), DeliveryParams),
    responses(
        (status = 200, description = "A page of deliveries", body = DeliveryPage),
        (status = 404, description = "No such webhook", body = Problem, content_type = "application/problem+json"),
        (status = 422, description = "Invalid `state`, `before` or `limit`", body = Problem, content_type = "application/problem+json"),
        DatabaseErrors,
    )
)]
#[get("/webhooks/{id}/deliveries")]
async fn list_deliveries(
    pool: web::Data<Pool>,
    id: web::Path<String>,
    Query(params): Query<DeliveryParams>,
) -> Result<web::Json<DeliveryPage>> {
    let id = webhook_id(&id)?;
    let limit = page::limit(params.limit, page::MAX_ROWS)?;
    if params.before.is_some_and(|b| b < 1) {
        return Err(crate::error::Error::invalid("before", "must be at least 1"));
    }
    let rows = service::deliveries(&pool, id, params.state, params.before, limit).await?;
    let next_before = (rows.len() == limit as usize)
        .then(|| rows.last().map(|d| d.seq))
        .flatten();
    Ok(web::Json(DeliveryPage {
        deliveries: rows.into_iter().map(Into::into).collect(),
        next_before,
    }))
}

/// One delivery.
///
/// With every attempt: when, the status or the error, how long, and the start of the answer.
#[utoipa::path(
    tag = "webhooks",
    security(("api_key" = ["admin"])),
    params(
        ("id" = Uuid, Path, description = "The webhook's id"),
        ("delivery_id" = Uuid, Path, description = "The delivery's id"),
    ),
    responses(
        (status = 200, description = "The delivery", body = DeliveryDetail),
        (status = 404, description = "No such webhook or delivery", body = Problem, content_type = "application/problem+json"),
        DatabaseErrors,
    )
)]
#[get("/webhooks/{id}/deliveries/{delivery_id}")]
async fn get_delivery(
    pool: web::Data<Pool>,
    path: web::Path<(String, String)>,
) -> Result<web::Json<DeliveryDetail>> {
    let (id, delivery) = (webhook_id(&path.0)?, delivery_id(&path.1)?);
    let (row, attempts) = service::delivery(&pool, id, delivery).await?;
    Ok(web::Json(DeliveryDetail {
        delivery: row.into(),
        attempts_log: attempts.into_iter().map(Into::into).collect(),
    }))
}

/// Retry a delivery.
///
/// A failed or delivered one is sent again with the same `webhook-id` (after the deliveries
/// before it in its queue); a pending one stops waiting for its backoff.
#[utoipa::path(
    tag = "webhooks",
    security(("api_key" = ["admin"])),
    params(
        ("id" = Uuid, Path, description = "The webhook's id"),
        ("delivery_id" = Uuid, Path, description = "The delivery's id"),
    ),
    responses(
        (status = 202, description = "Due now", body = DeliveryView),
        (status = 404, description = "No such webhook or delivery", body = Problem, content_type = "application/problem+json"),
        DatabaseErrors,
    )
)]
#[post("/webhooks/{id}/deliveries/{delivery_id}/retry")]
async fn retry_delivery(
    pool: web::Data<Pool>,
    path: web::Path<(String, String)>,
) -> Result<actix_web::HttpResponse> {
    let (id, delivery) = (webhook_id(&path.0)?, delivery_id(&path.1)?);
    let row = service::retry(&pool, id, delivery).await?;
    Ok(actix_web::HttpResponse::Accepted().json(DeliveryView::from(row)))
}

pub fn routes(cfg: &mut utoipa_actix_web::service_config::ServiceConfig) {
    cfg.service(list_deliveries)
        .service(get_delivery)
        .service(retry_delivery);
}
