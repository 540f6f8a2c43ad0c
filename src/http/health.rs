//! Liveness and readiness probes.

use crate::error::Result;
use crate::http::problem::DatabaseErrors;
use crate::store::Pool;
use actix_web::{get, web};
use serde::Serialize;
use std::time::Duration;
use utoipa::ToSchema;

#[derive(Debug, Serialize, ToSchema)]
pub struct Health {
    #[schema(example = "ok")]
    pub status: &'static str,
}

/// Liveness: the process answers.
///
/// No dependency is checked: an orchestrator restarts the process when this fails. Never needs
/// a key.
#[utoipa::path(tag = "operations", responses((status = 200, description = "Alive", body = Health)))]
#[get("/healthz")]
async fn healthz() -> web::Json<Health> {
    web::Json(Health { status: "ok" })
}

/// Readiness: the database answers within two seconds.
///
/// 503 (problem+json, `Retry-After`) while PostgreSQL is down or slow: take the replica out of
/// rotation, not down.
#[utoipa::path(
    tag = "operations",
    responses(
        (status = 200, description = "Ready", body = Health),
        DatabaseErrors,
    )
)]
#[get("/readyz")]
async fn readyz(pool: web::Data<Pool>) -> Result<web::Json<Health>> {
    crate::store::ping(&pool, Duration::from_secs(2)).await?;
    Ok(web::Json(Health { status: "ready" }))
}

/// The probes need no key and answer any `Host` (orchestrators call them by address).
pub const OPEN: &[super::gate::Open] = &[
    super::gate::Open {
        method: "GET",
        template: "/healthz",
        access: super::gate::Access::Probe,
    },
    super::gate::Open {
        method: "GET",
        template: "/readyz",
        access: super::gate::Access::Probe,
    },
];

pub fn routes(cfg: &mut utoipa_actix_web::service_config::ServiceConfig) {
    cfg.service(healthz).service(readyz);
}
