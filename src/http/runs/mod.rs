//! Runs: retraining jobs and their results (`/v1/segmentations/{id}/runs`, `/v1/runs/...`),
//! a customer's segment, and scoring with the active model. One module per concern.

mod compare;
mod lifecycle;
mod lookup;
mod results;

use crate::error::{Error, Result};

pub const DEFAULT_PAGE: u32 = 100;
pub const MAX_PAGE: u32 = 10_000;

fn page_limit(limit: Option<u32>) -> Result<i64> {
    let limit = limit.unwrap_or(DEFAULT_PAGE);
    if !(1..=MAX_PAGE).contains(&limit) {
        return Err(Error::invalid(
            "limit",
            format!("must be between 1 and {MAX_PAGE}, got {limit}"),
        ));
    }
    Ok(i64::from(limit))
}

pub fn routes(cfg: &mut utoipa_actix_web::service_config::ServiceConfig) {
    cfg.service(lifecycle::trigger_run)
        .service(lifecycle::list_runs)
        .service(lifecycle::get_run)
        .service(lifecycle::cancel_run)
        .service(lifecycle::activate_run)
        .service(results::run_segments)
        .service(results::run_elbow)
        .service(results::run_assignments)
        .service(lookup::customer_segment)
        .service(lookup::score_customers)
        .service(compare::compare_runs);
}
