//! Liveness and readiness probes.

use crate::error::{Error, Result};
use crate::http::problem::Problem;
use actix_web::{get, web};
use serde::Serialize;
use sqlx::PgPool;
use std::time::Duration;
use utoipa::ToSchema;

#[derive(Debug, Serialize, ToSchema)]
pub struct Health {
    #[schema(example = "ok")]
    pub status: &'static str,
}

/// Liveness: the process answers.
#[utoipa::path(tag = "operations", responses((status = 200, description = "Alive", body = Health)))]
#[get("/healthz")]
async fn healthz() -> web::Json<Health> {
    web::Json(Health { status: "ok" })
}

/// Readiness: the database answers within two seconds.
#[utoipa::path(
    tag = "operations",
    responses(
        (status = 200, description = "Ready", body = Health),
        (status = 503, description = "The database is unavailable", body = Problem, content_type = "application/problem+json"),
    )
)]
#[get("/readyz")]
async fn readyz(pool: web::Data<PgPool>) -> Result<web::Json<Health>> {
    let ping = crate::store::ping(pool.get_ref());
    match tokio::time::timeout(Duration::from_secs(2), ping).await {
        Ok(Ok(_)) => Ok(web::Json(Health { status: "ready" })),
        Ok(Err(e)) => Err(Error::Unavailable(e)),
        Err(_) => Err(Error::Unavailable(sqlx::Error::PoolTimedOut)),
    }
}

pub fn routes(cfg: &mut utoipa_actix_web::service_config::ServiceConfig) {
    cfg.service(healthz).service(readyz);
}
