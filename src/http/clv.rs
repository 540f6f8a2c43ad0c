//! `/v1/clv`: predicted customer value (BG/NBD + Gamma-Gamma) from the order lines.

use crate::domain::clv::{
    Backtest, ClvModel, ClvSettings, MAX_HOLDOUT_DAYS, MAX_HORIZON_DAYS, MAX_PENALIZER,
};
use crate::domain::order::{DateOrder, parse_timestamp};
use crate::error::{Error, FieldError, Result};
use crate::http::charts::{ChartParams, PngImage, chart_format, image};
use crate::http::extract::{NoFormPost, Query, ReadPool};
use crate::http::problem::{DatabaseErrors, Problem};
use crate::service::clv;
use crate::store::Pool;
use actix_web::{HttpRequest, HttpResponse, get, post, web};
use serde::{Deserialize, Serialize};
use utoipa::{IntoParams, ToSchema};

#[derive(Debug, Deserialize, IntoParams)]
#[serde(deny_unknown_fields)]
#[into_params(parameter_in = Query)]
pub struct RefreshParams {
    /// Days over which `clv_expected_orders` counts (30 … 3650, default 365); `clv_value`
    /// sums its whole months of 30 days (365 → 12).
    #[param(example = 365)]
    pub horizon_days: Option<String>,
    /// Monthly discount rate of `clv_value` (0 … 1, default 0.01).
    #[param(example = 0.01)]
    pub discount_rate: Option<String>,
    /// lifetimes' L2 penalizer on the parameters (0 … 1e6, default 0): try 0.001 when a fit
    /// does not converge.
    pub penalizer: Option<String>,
    /// The last day observed (`YYYY-MM-DD` or RFC 3339, UTC); later lines are left out.
    /// Default: the latest counted line's day.
    #[param(example = "2011-12-09")]
    pub as_of: Option<String>,
    /// Also backtest: fit on the lines before the last `holdout_days` days (1 … 3650) and
    /// compare its predictions with the purchases made in them.
    #[param(example = 90)]
    pub holdout_days: Option<String>,
}

impl RefreshParams {
    /// The settings, every problem named by its parameter.
    fn settings(self) -> Result<ClvSettings> {
        let mut errors = Vec::new();
        let mut settings = ClvSettings::default();
        let number =
            |name: &str, raw: &str, lo: f64, hi: f64, errors: &mut Vec<FieldError>| match raw
                .trim()
                .parse::<f64>()
            {
                Ok(v) if v.is_finite() && (lo..=hi).contains(&v) => Some(v),
                _ => {
                    errors.push(FieldError::field(
                        name,
                        format!(
                            "{} is not a number between {lo} and {hi}",
                            crate::error::quote(raw)
                        ),
                    ));
                    None
                }
            };
        let whole =
            |name: &str, raw: &str, lo: u32, hi: u32, errors: &mut Vec<FieldError>| match raw
                .trim()
                .parse::<u32>()
            {
                Ok(v) if (lo..=hi).contains(&v) => Some(v),
                _ => {
                    errors.push(FieldError::field(
                        name,
                        format!(
                            "{} is not a whole number of days between {lo} and {hi}",
                            crate::error::quote(raw)
                        ),
                    ));
                    None
                }
            };
        if let Some(raw) = &self.horizon_days
            && let Some(v) = whole("horizon_days", raw, 30, MAX_HORIZON_DAYS, &mut errors)
        {
            settings.horizon_days = v;
        }
        if let Some(raw) = &self.discount_rate
            && let Some(v) = number("discount_rate", raw, 0.0, 1.0, &mut errors)
        {
            settings.discount_rate = v;
        }
        if let Some(raw) = &self.penalizer
            && let Some(v) = number("penalizer", raw, 0.0, MAX_PENALIZER, &mut errors)
        {
            settings.penalizer = v;
        }
        if let Some(raw) = &self.holdout_days {
            settings.holdout_days = whole("holdout_days", raw, 1, MAX_HOLDOUT_DAYS, &mut errors);
        }
        if let Some(raw) = &self.as_of {
            match parse_timestamp(raw, DateOrder::default()) {
                Ok(at) => settings.as_of = Some(at.date_naive()),
                Err(e) => errors.push(FieldError::field("as_of", e.0)),
            }
        }
        if errors.is_empty() {
            Ok(settings)
        } else {
            Err(Error::invalid_fields(errors))
        }
    }
}

/// A refresh's models, as kept.
#[derive(Debug, Serialize, ToSchema)]
pub struct ClvModelView {
    /// Increases with each refresh.
    pub model_id: i64,
    #[serde(flatten)]
    pub model: ClvModel,
}

/// Refit the predicted-value models and rewrite every customer's `clv_*` attributes.
///
/// From the lines RFM counts (order id not starting with `C`, quantity > 0, unit price > 0),
/// per customer as lifetimes' `summary_data_from_transaction_data(freq="D")` builds it
/// (purchase days, UTC): frequency = purchase days − 1, recency and T in days, monetary value =
/// the mean of the repeat purchase days' totals. BG/NBD (Fader, Hardie & Lee 2005) and
/// Gamma-Gamma (Fader & Hardie 2013) are fitted by maximum likelihood, as lifetimes 0.11 fits
/// them, and every customer with a counted line gets `clv_p_alive`, `clv_expected_orders`
/// (over `horizon_days`), `clv_expected_order_value` and `clv_value` (lifetimes'
/// `customer_lifetime_value`: monthly steps, discounted); the others get none. Numeric
/// attributes like any other: features, exports, filters. Runs of segmentations that use them
/// refresh them first, with the latest refresh's settings.
///
/// A fit that cannot be made (no repeat purchase, everyone on one day, no convergence, order
/// values too heavy-tailed for a mean) is a 422 saying why; nothing is written.
#[utoipa::path(
    security(("api_key" = ["write"])),
    tag = "predictions",
    params(RefreshParams),
    responses(
        (status = 200, description = "Refreshed: the fitted models", body = ClvModelView),
        (status = 422, description = "An invalid parameter, or a fit the data do not allow (`detail` says which and why)", body = Problem, content_type = "application/problem+json"),
        (status = 415, description = "A form's content type: this endpoint takes no body", body = Problem, content_type = "application/problem+json"),
        DatabaseErrors,
    )
)]
#[post("/clv/refresh")]
async fn refresh_clv(
    _: NoFormPost,
    pool: web::Data<Pool>,
    Query(params): Query<RefreshParams>,
) -> Result<web::Json<ClvModelView>> {
    let settings = params.settings()?;
    let stored = clv::refresh(&pool, settings).await?;
    Ok(web::Json(ClvModelView {
        model_id: stored.model_id,
        model: stored.model,
    }))
}

fn no_model() -> Error {
    Error::NotFound(
        "no predicted-value model yet: POST /v1/clv/refresh fits one from the order lines".into(),
    )
}

/// The latest refresh's models.
///
/// BG/NBD's `r`, `alpha` (days), `a`, `b` and Gamma-Gamma's `p`, `q`, `v`, with standard
/// errors, log-likelihoods, the customers each was fitted on, convergence (`at_limit` names
/// parameters driven to a limit of the model), the settings, totals and timings; and the
/// backtest when the refresh had `holdout_days`.
#[utoipa::path(
    security(("api_key" = ["read"])),
    tag = "predictions",
    responses(
        (status = 200, description = "The latest model", body = ClvModelView),
        (status = 404, description = "No refresh yet", body = Problem, content_type = "application/problem+json"),
        DatabaseErrors,
    )
)]
#[get("/clv/model")]
async fn clv_model(pool: ReadPool) -> Result<web::Json<ClvModelView>> {
    let stored = clv::latest(&pool, false).await?.ok_or_else(no_model)?;
    Ok(web::Json(ClvModelView {
        model_id: stored.model_id,
        model: stored.model,
    }))
}

/// The latest backtest.
#[derive(Debug, Serialize, ToSchema)]
pub struct CalibrationView {
    /// The refresh that made it.
    pub model_id: i64,
    pub fitted_at: chrono::DateTime<chrono::Utc>,
    #[serde(flatten)]
    pub backtest: Backtest,
}

fn no_backtest() -> Error {
    Error::NotFound(
        "no backtest yet: POST /v1/clv/refresh?holdout_days=90 fits on the lines before the last \
         90 days and scores the predictions against them"
            .into(),
    )
}

/// The latest backtest (a refresh with `holdout_days`).
///
/// By purchases in the calibration period, the mean purchase days customers made in the
/// holdout against the mean predicted (lifetimes'
/// `plot_calibration_purchases_vs_holdout_purchases`), the per-customer mean absolute error,
/// and predicted against actual totals.
#[utoipa::path(
    security(("api_key" = ["read"])),
    tag = "predictions",
    responses(
        (status = 200, description = "The latest backtest", body = CalibrationView),
        (status = 404, description = "No refresh with `holdout_days` yet", body = Problem, content_type = "application/problem+json"),
        DatabaseErrors,
    )
)]
#[get("/clv/calibration")]
async fn clv_calibration(pool: ReadPool) -> Result<web::Json<CalibrationView>> {
    let stored = clv::latest(&pool, true).await?.ok_or_else(no_backtest)?;
    Ok(web::Json(CalibrationView {
        model_id: stored.model_id,
        fitted_at: stored.model.fitted_at,
        backtest: stored.model.backtest.ok_or_else(no_backtest)?,
    }))
}

/// The latest backtest as a chart: mean actual and predicted holdout purchase days by
/// calibration purchase days.
///
/// SVG, or PNG with `Accept: image/png` or `?format=png`.
#[utoipa::path(
    security(("api_key" = ["read"])),
    tag = "predictions",
    params(ChartParams),
    responses(
        (status = 200, description = "The chart", content(
            (String = "image/svg+xml"),
            (PngImage = "image/png")
        )),
        (status = 404, description = "No refresh with `holdout_days` yet", body = Problem, content_type = "application/problem+json"),
        (status = 406, description = "`Accept` takes neither SVG nor PNG", body = Problem, content_type = "application/problem+json"),
        (status = 422, description = "Invalid `format`", body = Problem, content_type = "application/problem+json"),
        DatabaseErrors,
    )
)]
#[get("/clv/calibration.svg")]
async fn clv_calibration_chart(
    pool: ReadPool,
    req: HttpRequest,
    Query(params): Query<ChartParams>,
) -> Result<HttpResponse> {
    let format = chart_format(&req, params.format)?;
    let chart = clv::calibration_chart(&pool)
        .await?
        .ok_or_else(no_backtest)?;
    image(chart, format).await
}

pub fn routes(cfg: &mut utoipa_actix_web::service_config::ServiceConfig) {
    cfg.service(refresh_clv)
        .service(clv_model)
        .service(clv_calibration)
        .service(clv_calibration_chart);
}
