//! `/v1/audiences`: rules over attributes (RFM and predicted value included) and learned
//! segments, previewed before they are kept.

use crate::domain::audience::{Rule, RuleSchema};
use crate::error::Result;
use crate::http::extract::Json;
use crate::http::problem::{DatabaseErrors, Problem};
use crate::service::audiences;
use crate::store::Pool;
use actix_web::{post, web};
use serde::{Deserialize, Serialize};
use utoipa::ToSchema;

#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct PreviewRequest {
    /// The rule: `all` / `any` / `not` over attribute and segment conditions.
    #[schema(value_type = RuleSchema, example = json!({"all": [
        {"attribute": "annual_income_k", "gte": 70},
        {"attribute": "gender", "in": ["Female"]},
        {"not": {"attribute": "spending_score", "lt": 40}}
    ]}))]
    pub rule: Rule,
    /// A segmentation whose active run's segments the members are broken down by.
    pub breakdown_by: Option<uuid::Uuid>,
}

/// Members of one segment of the breakdown.
#[derive(Debug, Serialize, ToSchema)]
pub struct SegmentCount {
    /// The stable segment id (`null`: members the run did not assign, e.g. imported since).
    pub segment: Option<i32>,
    pub customers: i64,
}

#[derive(Debug, Serialize, ToSchema)]
pub struct Breakdown {
    pub segmentation: uuid::Uuid,
    /// The segmentation's active run.
    pub run_id: uuid::Uuid,
    /// By segment id; the unassigned last.
    pub segments: Vec<SegmentCount>,
}

#[derive(Debug, Serialize, ToSchema)]
pub struct AudiencePreview {
    /// Customers the rule selects.
    pub customers: i64,
    /// Customers in the store.
    pub of: i64,
    /// `customers` / `of` (0 in an empty store).
    pub share: f64,
    /// The first 20 members by id.
    pub sample: Vec<String>,
    /// Present when `breakdown_by` was given.
    pub breakdown: Option<Breakdown>,
    /// Where the order-history windows end: the latest counted order line (`null` when the
    /// rule has no order condition or no line counts).
    pub orders_as_of: Option<chrono::DateTime<chrono::Utc>>,
}

/// Preview an audience: how many customers a rule selects, the first of them and, by the
/// segments of a segmentation, where they are.
///
/// A condition reads `{"attribute": "annual_income_k", "gte": 70}`: numeric attributes take
/// `eq`, `lt`, `lte`, `gt`, `gte`, `between` (`[low, high]`, both included), categorical ones
/// `in` and `not_in` (lists of values), either `is_null` (`true` / `false`). A customer without
/// a value for the attribute meets only `is_null: true` (so `not` of a condition selects
/// them). `{"segment": {"segmentation": "<id>", "in": [2, 4]}}` selects the members of those
/// stable segments in the segmentation's active run. Order history, from the lines RFM
/// counts, in a window of the last N days ending at the latest counted line (`orders_as_of`):
/// `{"ordered_within_days": 30}`; `{"orders": {"in_last_days": 90, "gte": 3}}` (distinct
/// orders) and `{"spent": {"in_last_days": 90, "gte": 500}}` (total amount) with one numeric
/// operator, all time without `in_last_days`, 0 for a customer without lines;
/// `{"bought_product": {"product": "85123A", "in_last_days": 365}}`. `{"all": [...]}`, `{"any": [...]}` and
/// `{"not": {...}}` combine them: at most 64 conditions, nested at most 8 deep. A name that
/// does not resolve, or an operator that does not fit the attribute's kind, is a 422 naming its
/// path in the rule (`rule.all[2].gte`).
#[utoipa::path(
    security(("api_key" = ["read"])),
    tag = "audiences",
    request_body = PreviewRequest,
    responses(
        (status = 200, description = "The preview", body = AudiencePreview),
        (status = 400, description = "Not JSON", body = Problem, content_type = "application/problem+json"),
        (status = 413, description = "Body too large", body = Problem, content_type = "application/problem+json"),
        (status = 415, description = "Not `application/json`", body = Problem, content_type = "application/problem+json"),
        (status = 422, description = "A rule that does not parse or resolve: `field` names its path", body = Problem, content_type = "application/problem+json"),
        DatabaseErrors,
    )
)]
#[post("/audiences/preview")]
async fn preview_audience(
    pool: web::Data<Pool>,
    Json(request): Json<PreviewRequest>,
) -> Result<web::Json<AudiencePreview>> {
    let preview = audiences::preview(&pool, &request.rule, request.breakdown_by).await?;
    let counts = preview.counts;
    Ok(web::Json(AudiencePreview {
        customers: counts.customers,
        of: counts.of,
        share: if counts.of > 0 {
            counts.customers as f64 / counts.of as f64
        } else {
            0.0
        },
        sample: counts.sample,
        orders_as_of: counts.orders_as_of,
        breakdown: match (
            request.breakdown_by,
            preview.breakdown_run,
            counts.breakdown,
        ) {
            (Some(segmentation), Some(run_id), Some(segments)) => Some(Breakdown {
                segmentation,
                run_id,
                segments: segments
                    .into_iter()
                    .map(|(segment, customers)| SegmentCount { segment, customers })
                    .collect(),
            }),
            _ => None,
        },
    }))
}

pub fn routes(cfg: &mut utoipa_actix_web::service_config::ServiceConfig) {
    cfg.service(preview_audience);
}
