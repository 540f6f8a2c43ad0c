//! `/v1/webhooks` (admin scope): endpoints that segstore calls when runs finish, segments
//! change membership or drift. Each delivery is signed as Standard Webhooks says
//! (`webhook-id`, `webhook-timestamp`, `webhook-signature`); a webhook's secret is in the
//! answers that make it (creation, rotation) and nowhere else.

mod deliveries;
pub mod events;

use crate::domain::WebhookId;
use crate::domain::webhook::EventType;
use crate::error::Result;
use crate::http::extract::{Json, MergePatch, Query};
use crate::http::problem::{DatabaseErrors, JsonBodyErrors, Problem};
use crate::service::webhooks::{
    self as service, AllowedNetworks, WebhookInput, WebhookPatch, WebhookRow,
};
use actix_web::http::header;
use actix_web::{HttpResponse, delete, get, patch, post, web};
use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};
use std::time::Duration;
use utoipa::{IntoParams, ToSchema};
use uuid::Uuid;

/// A webhook to create.
#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
#[schema(example = json!({
    "url": "https://crm.example.com/hooks/segstore",
    "events": ["segment.membership_changed", "segmentation.activated"],
    "description": "CRM sync"
}))]
pub struct NewWebhook {
    /// Where deliveries are POSTed: `https://` (or `http://`), no credentials, no fragment.
    /// It must resolve to public addresses unless the server allows more
    /// (`--webhook-allow loopback,private`), checked now and at every delivery.
    #[schema(max_length = 2048, example = "https://crm.example.com/hooks/segstore")]
    pub url: String,
    /// The events to deliver (at least one).
    #[schema(value_type = Vec<EventType>, min_items = 1)]
    pub events: Vec<String>,
    /// Only this segmentation's events; every segmentation's when absent.
    pub segmentation_id: Option<Uuid>,
    /// For people (at most 500 characters).
    #[schema(max_length = 500)]
    pub description: Option<String>,
    /// Membership changes per `segment.membership_changed` delivery, 1 to 10000 (default
    /// 1000).
    #[schema(minimum = 1, maximum = 10000)]
    pub batch_size: Option<u32>,
    /// Deliver (default true); a disabled webhook's deliveries wait until it is enabled.
    pub enabled: Option<bool>,
}

/// A change of a webhook: the fields given replace its values (`segmentation_id: null`
/// removes the filter). Enabling a disabled webhook resumes its deliveries in order.
#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
#[schema(example = json!({"enabled": true}))]
pub struct UpdateWebhook {
    #[schema(max_length = 2048)]
    pub url: Option<String>,
    #[schema(value_type = Option<Vec<EventType>>, min_items = 1)]
    pub events: Option<Vec<String>>,
    #[serde(default, deserialize_with = "crate::http::extract::present")]
    #[schema(value_type = Option<Uuid>)]
    pub segmentation_id: Option<Option<Uuid>>,
    #[schema(max_length = 500)]
    pub description: Option<String>,
    #[schema(minimum = 1, maximum = 10000)]
    pub batch_size: Option<u32>,
    pub enabled: Option<bool>,
}

/// A webhook (never its secret).
#[derive(Debug, Serialize, ToSchema)]
pub struct WebhookView {
    pub id: Uuid,
    pub url: String,
    pub events: Vec<EventType>,
    /// Only this segmentation's events (`null`: every segmentation's).
    pub segmentation_id: Option<Uuid>,
    pub description: String,
    pub batch_size: i32,
    pub enabled: bool,
    /// Why segstore (or a user) disabled it, e.g. after a day of failed deliveries.
    pub disabled_reason: Option<String>,
    pub disabled_at: Option<DateTime<Utc>>,
    /// Until when the secret before the last rotation still signs beside the current one.
    pub previous_secret_until: Option<DateTime<Utc>>,
    pub created_at: DateTime<Utc>,
    pub updated_at: DateTime<Utc>,
}

impl From<WebhookRow> for WebhookView {
    fn from(w: WebhookRow) -> Self {
        Self {
            id: w.webhook_id,
            url: w.url,
            events: w
                .events
                .into_iter()
                .filter_map(|e| e.parse().ok())
                .collect(),
            segmentation_id: w.segmentation_id,
            description: w.description,
            batch_size: w.batch_size,
            enabled: w.enabled,
            disabled_reason: w.disabled_reason,
            disabled_at: w.disabled_at,
            previous_secret_until: w.previous_until.filter(|_| w.previous_secret.is_some()),
            created_at: w.created_at,
            updated_at: w.updated_at,
        }
    }
}

/// A new webhook and its signing secret, shown this once.
#[derive(Debug, Serialize, ToSchema)]
pub struct CreatedWebhook {
    #[serde(flatten)]
    pub webhook: WebhookView,
    /// Verify each delivery's `webhook-signature` with it (Standard Webhooks: HMAC-SHA256
    /// of `{webhook-id}.{webhook-timestamp}.{body}` with the base64 after `whsec_`).
    #[schema(example = "whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw")]
    pub secret: String,
}

#[derive(Debug, Serialize, ToSchema)]
pub struct WebhookList {
    /// Oldest first.
    pub webhooks: Vec<WebhookView>,
}

#[derive(Debug, Deserialize, IntoParams)]
#[serde(deny_unknown_fields)]
#[into_params(parameter_in = Query)]
pub struct RotateParams {
    /// Seconds the current secret keeps signing beside the new one (default 86400, at most
    /// 604800): deploy the new secret to the receiver within it.
    #[param(minimum = 0, maximum = 604800)]
    pub overlap_seconds: Option<u64>,
}

/// A rotated secret.
#[derive(Debug, Serialize, ToSchema)]
pub struct RotatedSecret {
    pub webhook: WebhookView,
    /// The new secret, shown this once.
    pub secret: String,
    /// Deliveries carry two signatures (new and old) until then.
    pub previous_secret_until: DateTime<Utc>,
}

/// A ping on its way.
#[derive(Debug, Serialize, ToSchema)]
pub struct PingQueued {
    /// The delivery to follow at `GET /v1/webhooks/{id}/deliveries/{delivery_id}`.
    pub delivery_id: Uuid,
}

fn webhook_id(raw: &str) -> Result<Uuid> {
    WebhookId::parse(raw).map(WebhookId::uuid)
}

/// Create a webhook.
///
/// The answer holds its signing secret, shown this once. segstore delivers each event it
/// subscribes to as a signed POST, retried with backoff for a day while the endpoint fails
/// (then the webhook is disabled), in order per segmentation.
#[utoipa::path(
    tag = "webhooks",
    security(("api_key" = ["admin"])),
    request_body = NewWebhook,
    responses(
        (status = 201, description = "Created; `Location` names it", body = CreatedWebhook,
            headers(("Location" = String, description = "The webhook: `/v1/webhooks/{id}`"))),
        (status = 422, description = "A field is invalid (`url` also when it reaches a network not allowed); `detail` names it", body = Problem, content_type = "application/problem+json"),
        JsonBodyErrors,
        DatabaseErrors,
    )
)]
#[post("/webhooks")]
async fn create_webhook(
    pool: web::Data<crate::store::Pool>,
    allow: web::Data<AllowedNetworks>,
    Json(body): Json<NewWebhook>,
) -> Result<HttpResponse> {
    let input = WebhookInput {
        url: body.url,
        events: body.events,
        segmentation_id: body.segmentation_id,
        description: body.description.unwrap_or_default(),
        batch_size: body.batch_size,
        enabled: body.enabled.unwrap_or(true),
    };
    let (row, secret) = service::create(&pool, **allow, input).await?;
    Ok(HttpResponse::Created()
        .insert_header((header::LOCATION, format!("/v1/webhooks/{}", row.webhook_id)))
        .insert_header((header::CACHE_CONTROL, "no-store"))
        .json(CreatedWebhook {
            webhook: row.into(),
            secret: secret.expose(),
        }))
}

/// List webhooks.
///
/// Without their secrets.
#[utoipa::path(
    tag = "webhooks",
    security(("api_key" = ["admin"])),
    responses(
        (status = 200, description = "The webhooks", body = WebhookList),
        DatabaseErrors,
    )
)]
#[get("/webhooks")]
async fn list_webhooks(pool: web::Data<crate::store::Pool>) -> Result<web::Json<WebhookList>> {
    Ok(web::Json(WebhookList {
        webhooks: service::list(&pool)
            .await?
            .into_iter()
            .map(Into::into)
            .collect(),
    }))
}

/// One webhook.
///
/// Its settings and whether it is enabled (and why not); never its secret.
#[utoipa::path(
    tag = "webhooks",
    security(("api_key" = ["admin"])),
    params(("id" = Uuid, Path, description = "The webhook's id")),
    responses(
        (status = 200, description = "The webhook", body = WebhookView),
        (status = 404, description = "No such webhook", body = Problem, content_type = "application/problem+json"),
        DatabaseErrors,
    )
)]
#[get("/webhooks/{id}")]
async fn get_webhook(
    pool: web::Data<crate::store::Pool>,
    id: web::Path<String>,
) -> Result<web::Json<WebhookView>> {
    Ok(web::Json(
        service::get(&pool, webhook_id(&id)?).await?.into(),
    ))
}

/// Change a webhook.
///
/// A JSON merge patch: the fields given replace its values. `{"enabled": true}` re-enables
/// a webhook segstore disabled; its deliveries resume where they stopped, in order (retry a
/// failed one with `POST …/deliveries/{delivery_id}/retry`).
#[utoipa::path(
    tag = "webhooks",
    security(("api_key" = ["admin"])),
    params(("id" = Uuid, Path, description = "The webhook's id")),
    request_body(content = UpdateWebhook, content_type = "application/merge-patch+json"),
    responses(
        (status = 200, description = "The webhook as changed", body = WebhookView),
        (status = 404, description = "No such webhook", body = Problem, content_type = "application/problem+json"),
        (status = 422, description = "A field is invalid; `detail` names it", body = Problem, content_type = "application/problem+json"),
        JsonBodyErrors,
        DatabaseErrors,
    )
)]
#[patch("/webhooks/{id}")]
async fn update_webhook(
    pool: web::Data<crate::store::Pool>,
    allow: web::Data<AllowedNetworks>,
    id: web::Path<String>,
    MergePatch(body): MergePatch<UpdateWebhook>,
) -> Result<web::Json<WebhookView>> {
    let id = webhook_id(&id)?;
    let patch = WebhookPatch {
        url: body.url,
        events: body.events,
        segmentation_id: body.segmentation_id,
        description: body.description,
        batch_size: body.batch_size,
        enabled: body.enabled,
    };
    Ok(web::Json(
        service::update(&pool, **allow, id, patch).await?.into(),
    ))
}

/// Delete a webhook.
///
/// With its pending deliveries and its delivery log.
#[utoipa::path(
    tag = "webhooks",
    security(("api_key" = ["admin"])),
    params(("id" = Uuid, Path, description = "The webhook's id")),
    responses(
        (status = 204, description = "Deleted"),
        (status = 404, description = "No such webhook", body = Problem, content_type = "application/problem+json"),
        DatabaseErrors,
    )
)]
#[delete("/webhooks/{id}")]
async fn delete_webhook(
    pool: web::Data<crate::store::Pool>,
    id: web::Path<String>,
) -> Result<HttpResponse> {
    service::delete(&pool, webhook_id(&id)?).await?;
    Ok(HttpResponse::NoContent().finish())
}

/// Rotate a webhook's secret.
///
/// Answers a new secret (shown this once). For `overlap_seconds` (a day by default) every
/// delivery carries two signatures, by the new secret and by the old one, so the receiver
/// can switch to the new secret without refusing a delivery.
#[utoipa::path(
    tag = "webhooks",
    security(("api_key" = ["admin"])),
    params(("id" = Uuid, Path, description = "The webhook's id"), RotateParams),
    responses(
        (status = 200, description = "The new secret", body = RotatedSecret),
        (status = 404, description = "No such webhook", body = Problem, content_type = "application/problem+json"),
        (status = 422, description = "`overlap_seconds` is out of range", body = Problem, content_type = "application/problem+json"),
        DatabaseErrors,
    )
)]
#[post("/webhooks/{id}/rotate-secret")]
async fn rotate_secret(
    pool: web::Data<crate::store::Pool>,
    id: web::Path<String>,
    Query(params): Query<RotateParams>,
) -> Result<HttpResponse> {
    let overlap = params
        .overlap_seconds
        .map_or(service::DEFAULT_OVERLAP, Duration::from_secs);
    let (row, secret, until) = service::rotate(&pool, webhook_id(&id)?, overlap).await?;
    Ok(HttpResponse::Ok()
        .insert_header((header::CACHE_CONTROL, "no-store"))
        .json(RotatedSecret {
            webhook: row.into(),
            secret: secret.expose(),
            previous_secret_until: until,
        }))
}

/// Ping a webhook.
///
/// Queues a `webhook.ping` delivery (whatever the webhook subscribes to), signed like every
/// other: check the endpoint and its signature check. A disabled webhook's ping waits until
/// it is enabled.
#[utoipa::path(
    tag = "webhooks",
    security(("api_key" = ["admin"])),
    params(("id" = Uuid, Path, description = "The webhook's id")),
    responses(
        (status = 202, description = "Queued", body = PingQueued),
        (status = 404, description = "No such webhook", body = Problem, content_type = "application/problem+json"),
        DatabaseErrors,
    )
)]
#[post("/webhooks/{id}/ping")]
async fn ping_webhook(
    pool: web::Data<crate::store::Pool>,
    id: web::Path<String>,
) -> Result<HttpResponse> {
    let delivery_id = service::ping(&pool, webhook_id(&id)?).await?;
    Ok(HttpResponse::Accepted().json(PingQueued { delivery_id }))
}

pub fn routes(cfg: &mut utoipa_actix_web::service_config::ServiceConfig) {
    cfg.service(create_webhook)
        .service(list_webhooks)
        .service(get_webhook)
        .service(update_webhook)
        .service(delete_webhook)
        .service(rotate_secret)
        .service(ping_webhook)
        .configure(deliveries::routes);
}
