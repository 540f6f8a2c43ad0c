//! Runs: retraining jobs and their results (`/v1/segmentations/{id}/runs`, `/v1/runs/...`),
//! the active run's results (`/v1/segmentations/{id}/active/...`), a customer's segment, and
//! scoring with the active model. One module per concern.

pub(crate) mod active;
mod assignments;
mod compare;
mod lifecycle;
mod lookup;
mod results;
mod tables;
mod tree;
mod view;

use crate::error::Result;
use crate::http::page;

/// Runs, assignments and movers per page.
fn page_limit(limit: Option<u32>) -> Result<i64> {
    page::limit(limit, page::MAX_ROWS).map(i64::from)
}

/// The customer lookup, registered ahead of every other `/v1` route: the router tries the
/// routes in order (a regular expression per templated one), and this is the call CRMs make
/// per customer. No other route has its shape, so going first changes no match.
pub fn hot_routes(cfg: &mut utoipa_actix_web::service_config::ServiceConfig) {
    cfg.service(lookup::customer_segment);
}

pub fn routes(cfg: &mut utoipa_actix_web::service_config::ServiceConfig) {
    cfg.service(lifecycle::trigger_run)
        .service(lifecycle::list_runs)
        .service(lifecycle::get_run)
        .service(lifecycle::cancel_run)
        .service(lifecycle::activate_run)
        .service(results::run_segments)
        .service(results::run_elbow)
        .service(tree::run_tree)
        .service(assignments::run_assignments)
        .service(assignments::export_assignments)
        .service(lookup::score_customers)
        .service(compare::compare_runs)
        .service(active::active_segments)
        .service(active::active_assignments)
        .service(active::export_active_assignments)
        .service(tables::segments_csv)
        .service(tables::segment_features_csv)
        .service(tables::active_segments_csv)
        .service(tables::active_segment_features_csv);
}
