//! `/v1/rfm`: RFM features derived from the order lines.

use crate::domain::order::{DateOrder, parse_timestamp};
use crate::error::{Error, Result};
use crate::http::extract::Query;
use crate::http::problem::Problem;
use crate::service::rfm;
use actix_web::{post, web};
use serde::{Deserialize, Serialize};
use sqlx::PgPool;
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
    /// The numeric attributes written (usable as segmentation features).
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
    tag = "orders",
    params(RefreshParams),
    responses(
        (status = 200, description = "Refreshed", body = RfmRefreshResult),
        (status = 422, description = "Invalid `reference_date`", body = Problem, content_type = "application/problem+json"),
        (status = 503, description = "The database is unavailable", body = Problem, content_type = "application/problem+json"),
    )
)]
#[post("/rfm/refresh")]
async fn refresh_rfm(
    pool: web::Data<PgPool>,
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

pub fn routes(cfg: &mut utoipa_actix_web::service_config::ServiceConfig) {
    cfg.service(refresh_rfm);
}
