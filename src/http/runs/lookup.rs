//! The CRM's hot path: a customer's segment (from the replica's memory) and scoring new
//! customers with the active model.

use super::results::SegmentRef;
use crate::domain::SegmentationId;
use crate::domain::run::ScoreKind;
use crate::domain::run::{self as stored};
use crate::error::Result;
use crate::http::extract::Json;
use crate::http::problem::{DatabaseErrors, JsonBodyErrors, Problem, SegmentationErrors};
use crate::service::lookup::LookupCache;
use crate::service::runs::{self as service, ScoreInput, ScoreValue};
use crate::store::Pool;
use actix_web::{get, post, web};
use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};
use serde_json::Value;
use utoipa::ToSchema;
use uuid::Uuid;

/// The customer's segment in one run.
#[derive(Debug, Serialize, ToSchema)]
pub struct CustomerRunSegment {
    pub run_id: Uuid,
    pub finished_at: Option<DateTime<Utc>>,
    /// `null`: DBSCAN noise.
    pub segment_id: Option<i32>,
    pub label: Option<String>,
    pub persona: Option<String>,
    /// Distance to the centroid, or membership probability (see `score`).
    pub score: Option<f64>,
}

#[derive(Debug, Serialize, ToSchema)]
pub struct CustomerSegment {
    pub customer_id: String,
    pub segmentation_id: Uuid,
    pub active_run_id: Option<Uuid>,
    /// The segment in the active run; `null` when the active run did not segment this
    /// customer (added since, or missing a feature).
    pub current: Option<CustomerRunSegment>,
    /// Since when the customer has been in their current segment: the activation that put
    /// them there (see `GET /v1/segmentations/{id}/changes`). `null` without a current
    /// segment, or when that activation predates the change feed.
    pub since: Option<DateTime<Utc>>,
    /// What each score is: `distance` or `probability`.
    pub score: ScoreKind,
    /// Every run that kept its assignments, newest first.
    pub history: Vec<CustomerRunSegment>,
}

fn run_segment(h: stored::HistoryEntry) -> CustomerRunSegment {
    CustomerRunSegment {
        run_id: h.run_id,
        finished_at: h.finished_at,
        segment_id: h.segment,
        label: h.label,
        persona: h.persona,
        score: h.score,
    }
}

/// A customer's current segment (the hot path CRMs call per customer), with its history.
///
/// Answered from the replica's memory once the run is cached; `history` lists the customer's
/// segment in every run that kept its assignments.
#[utoipa::path(
    security(("api_key" = ["read"])),
    tag = "runs",
    params(
        ("id" = String, Path, description = "The segmentation's id"),
        ("customer_id" = String, Path, description = "The customer's id (the CRM's)")
    ),
    responses(
        (status = 200, description = "The customer's segment", body = CustomerSegment),
        (status = 404, description = "No such segmentation or customer", body = Problem, content_type = "application/problem+json"),
        DatabaseErrors,
    )
)]
#[get("/segmentations/{id}/customers/{customer_id}")]
pub(super) async fn customer_segment(
    cache: web::Data<LookupCache>,
    path: web::Path<(String, String)>,
) -> Result<web::Json<CustomerSegment>> {
    let (id, customer_id) = path.into_inner();
    let id = SegmentationId::parse(&id)?;
    let found = cache.into_inner().customer(id, &customer_id).await?;
    let current = found
        .history
        .iter()
        .position(|h| h.active)
        .map(|i| run_segment(found.history[i].clone()));
    Ok(web::Json(CustomerSegment {
        segmentation_id: id.uuid(),
        customer_id,
        active_run_id: found.active_run_id,
        current,
        since: found.since,
        score: found.score,
        history: found.history.into_iter().map(run_segment).collect(),
    }))
}

/// Customers to score (not stored, nothing written).
#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
#[schema(example = json!({"customers": [{"id": "prospect-1", "attributes": {"annual_income_k": 120, "spending_score": 85}}]}))]
pub struct ScoreRequest {
    /// 1 to 10,000 customers.
    #[schema(min_items = 1, max_items = 10000)]
    pub customers: Vec<ScoreCustomer>,
}

#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct ScoreCustomer {
    /// Echoed back; optional.
    pub id: Option<String>,
    /// Attribute values by name; the model's features must be numbers (attributes it does
    /// not use are ignored).
    #[schema(value_type = crate::http::schema::AttributeValues)]
    pub attributes: serde_json::Map<String, Value>,
}

#[derive(Debug, Serialize, ToSchema)]
pub struct ScoredCustomer {
    #[serde(skip_serializing_if = "Option::is_none")]
    pub id: Option<String>,
    /// `null`: DBSCAN noise.
    pub segment: Option<SegmentRef>,
    /// Distance to the segment's centroid (model space) or membership probability.
    pub score: Option<f64>,
}

#[derive(Debug, Serialize, ToSchema)]
pub struct ScoreResponse {
    /// The active run whose model scored.
    pub run_id: Uuid,
    /// What each score is: `distance` or `probability`.
    pub score: ScoreKind,
    /// In request order.
    pub customers: Vec<ScoredCustomer>,
}

/// Assign customers with the active model, without storing them.
///
/// The values must cover the model's features; each customer gets the segment the active run
/// would give it, with its distance or probability.
#[utoipa::path(
    security(("api_key" = ["read"])),
    tag = "runs",
    params(("id" = String, Path, description = "The segmentation's id")),
    request_body = ScoreRequest,
    responses(
        (status = 200, description = "Each customer's segment", body = ScoreResponse),
        (status = 409, description = "The segmentation has no active run", body = Problem, content_type = "application/problem+json"),
        (status = 422, description = "A feature is missing or not a number; `errors` names each", body = Problem, content_type = "application/problem+json"),
        JsonBodyErrors,
        SegmentationErrors,
    )
)]
#[post("/segmentations/{id}/score")]
#[tracing::instrument(skip_all, fields(segmentation_id = %id))]
pub(super) async fn score_customers(
    pool: web::Data<Pool>,
    id: SegmentationId,
    Json(body): Json<ScoreRequest>,
) -> Result<web::Json<ScoreResponse>> {
    let inputs: Vec<ScoreInput> = body
        .customers
        .into_iter()
        .map(|c| ScoreInput {
            id: c.id,
            values: c
                .attributes
                .into_iter()
                .map(|(name, v)| {
                    let value = match v {
                        Value::Null => ScoreValue::Missing,
                        Value::Number(n) => n
                            .as_f64()
                            .map_or_else(|| ScoreValue::Other(n.to_string()), ScoreValue::Number),
                        Value::String(level) => ScoreValue::Text(level),
                        other => ScoreValue::Other(other.to_string()),
                    };
                    (name, value)
                })
                .collect(),
        })
        .collect();
    let (run, scored) = service::score(&pool, id, inputs).await?;
    Ok(web::Json(ScoreResponse {
        run_id: run.run_id,
        score: service::score_kind(&run),
        customers: scored
            .into_iter()
            .map(|s| ScoredCustomer {
                id: s.id,
                segment: s.segment.as_ref().map(SegmentRef::from),
                score: s.score,
            })
            .collect(),
    }))
}
