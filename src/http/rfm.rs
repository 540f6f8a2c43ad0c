//! `/v1/rfm`: RFM features derived from the order lines.

use crate::domain::order::{DateOrder, parse_timestamp};
use crate::error::{Error, Result};
use crate::http::extract::{NoFormPost, Query};
use crate::http::problem::{DatabaseErrors, Problem};
use crate::service::rfm;
use crate::store::Pool;
use actix_web::{get, post, web};
use serde::{Deserialize, Serialize};
use utoipa::{IntoParams, ToSchema};

#[derive(Debug, Deserialize, IntoParams)]
#[serde(deny_unknown_fields)]
#[into_params(parameter_in = Query)]
pub struct RefreshParams {
    /// Compute as of this date (RFC 3339 or `YYYY-MM-DD`, UTC); lines after it are left out.
    /// Default: one day after the latest counted order line.
    #[param(example = "2011-12-10")]
    pub reference_date: Option<String>,
}

#[derive(Debug, Serialize, ToSchema)]
pub struct RfmRefreshResult {
    /// The date the features are computed as of (`null`: no order line counts).
    pub reference_date: Option<chrono::DateTime<chrono::Utc>>,
    /// The numeric attributes written (usable as segmentation features); the categorical
    /// `rfm_cell` (`"545"`) and `rfm_segment` (`Champions`, …) are written too.
    pub features: Vec<&'static str>,
    /// Customers with at least one counted order line.
    pub customers_with_rfm: i64,
    /// Customers without: their RFM attributes are empty.
    pub customers_without_rfm: i64,
    pub ms: f64,
}

/// Recompute every customer's RFM features.
///
/// Counted lines: order id not starting with `C` (cancellations), quantity > 0, unit price
/// > 0. Per customer: `rfm_recency_days` and `rfm_tenure_days` (whole days from the last and
/// first purchase to the reference date), `rfm_frequency` (distinct orders), `rfm_monetary`
/// (total of quantity × unit price), `rfm_avg_order_value`, `rfm_distinct_products`. Runs of
/// segmentations that use them refresh them first.
#[utoipa::path(
    security(("api_key" = ["write"])),
    tag = "orders",
    params(RefreshParams),
    responses(
        (status = 200, description = "Refreshed", body = RfmRefreshResult),
        (status = 422, description = "Invalid `reference_date`", body = Problem, content_type = "application/problem+json"),
        (status = 415, description = "A form's content type: this endpoint takes no body", body = Problem, content_type = "application/problem+json"),
        DatabaseErrors,
    )
)]
#[post("/rfm/refresh")]
async fn refresh_rfm(
    _: NoFormPost,
    pool: web::Data<Pool>,
    Query(params): Query<RefreshParams>,
) -> Result<web::Json<RfmRefreshResult>> {
    let reference = params
        .reference_date
        .as_deref()
        .map(|s| {
            parse_timestamp(s, DateOrder::default())
                .map_err(|e| Error::invalid("reference_date", e.0))
        })
        .transpose()?;
    let done = rfm::refresh(&pool, reference).await?;
    Ok(web::Json(RfmRefreshResult {
        reference_date: done.reference,
        features: rfm::FEATURES.to_vec(),
        customers_with_rfm: done.customers_with_rfm,
        customers_without_rfm: done.customers_without_rfm,
        ms: done.ms,
    }))
}

/// One named RFM segment.
#[derive(Debug, Serialize, ToSchema)]
pub struct NamedSegment {
    #[schema(example = "Champions")]
    pub segment: String,
    pub customers: i64,
    /// Of the customers with RFM values.
    pub share: f64,
    /// Of their total revenue (monetary).
    pub revenue_share: f64,
    pub mean_recency_days: f64,
    pub mean_frequency: f64,
    pub mean_monetary: f64,
    /// The segment's mean `clv_p_alive` (`null` before the first predicted-value refresh).
    pub mean_p_alive: Option<f64>,
    /// Mean and total `clv_value` of its customers.
    pub mean_value: Option<f64>,
    pub total_value: Option<f64>,
    /// Its share of all customers' predicted value.
    pub value_share: Option<f64>,
}

#[derive(Debug, Serialize, ToSchema)]
pub struct NamedSegments {
    /// Largest first; empty before the first refresh.
    pub segments: Vec<NamedSegment>,
}

/// The named RFM segments (Champions, Loyal Customers, … Lost) as of the last refresh.
///
/// Quintile scores: R from the recency (most recent fifth = 5), F from the frequency, M from
/// the monetary value (ties broken by customer id, so each score holds a fifth). Segments
/// from R and F, rules tried in order: Champions R5 F4–5; Loyal Customers R3–4 F4–5 (and R5
/// is taken above); Potential Loyalists R4–5 F2–3; New Customers R5 F1; Promising R4 F1; Need
/// Attention R3 F3; About To Sleep R3 F1–2; Can't Lose Them R1–2 F5; At Risk R1–2 F3–4; Lost
/// R1 F1; Hibernating the rest (R1–2 F1–2).
#[utoipa::path(
    security(("api_key" = ["read"])),
    tag = "orders",
    responses(
        (status = 200, description = "The named segments", body = NamedSegments),
        DatabaseErrors,
    )
)]
#[get("/rfm/segments")]
async fn rfm_segments(pool: web::Data<Pool>) -> Result<web::Json<NamedSegments>> {
    let segments = rfm::segments(&pool)
        .await?
        .into_iter()
        .map(|s| NamedSegment {
            segment: s.segment,
            customers: s.customers,
            share: s.share,
            revenue_share: s.revenue_share,
            mean_recency_days: s.mean_recency_days,
            mean_frequency: s.mean_frequency,
            mean_monetary: s.mean_monetary,
            mean_p_alive: s.mean_p_alive,
            mean_value: s.mean_value,
            total_value: s.total_value,
            value_share: s.value_share,
        })
        .collect();
    Ok(web::Json(NamedSegments { segments }))
}

pub fn routes(cfg: &mut utoipa_actix_web::service_config::ServiceConfig) {
    cfg.service(refresh_rfm).service(rfm_segments);
}
