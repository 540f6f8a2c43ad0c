//! `/v1/audit`: every write, train and admin call made with a key (admin scope).

use crate::error::{Error, Result};
use crate::http::extract::Query;
use crate::http::problem::{DatabaseErrors, Problem};
use crate::service::audit::{self as service, Filter};
use crate::store::Pool;
use actix_web::{get, web};
use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};
use std::collections::BTreeMap;
use utoipa::{IntoParams, ToSchema};
use uuid::Uuid;

/// One recorded call.
#[derive(Debug, Serialize, ToSchema)]
#[schema(example = json!({
    "id": 42, "at": "2026-12-01T10:00:00Z", "actor": "key",
    "key_id": "6f1c9d7e-3b1a-4a51-9d8e-2f0c1b7a9e44",
    "key_name": "crm", "method": "POST", "route": "/v1/segmentations/{id}/runs",
    "targets": {"id": "0b9f2d0e-7c3a-4c1e-9f55-3f1e2d4c5b6a",
                "location": "/v1/runs/5d7e0c1a-9b2f-4e3d-8a61-7c0f2e9b1d35"},
    "status": 202, "request_id": "2b9e8c7a-1f3d-4e5b-9a6c-0d1e2f3a4b5c", "count": 1
}))]
pub struct AuditEntry {
    /// Increasing: pass the last one as `before` for the next (older) page.
    pub id: i64,
    /// When; for counted refusals, the start of the minute they were counted in.
    pub at: DateTime<Utc>,
    /// Who acted: a key (or its dashboard session), the command line (`segstore keys`, the
    /// first start), or nobody known (a refused sign-in, counted refused requests).
    pub actor: AuditActor,
    /// The key, when the actor is one.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub key_id: Option<Uuid>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub key_name: Option<String>,
    /// The HTTP method, `CLI` for the command line, `*` for counted refusals.
    pub method: String,
    /// The route template called (or the command run; `(refused requests)` for counts).
    pub route: String,
    /// The route's parameters, and `location` for a created resource. A customer id is kept
    /// only as a keyed reference, `hmac-sha256:<hex>`, and as "an erased customer" once that
    /// customer is erased.
    pub targets: BTreeMap<String, String>,
    /// The answer's status.
    pub status: u16,
    /// The `X-Request-Id` of the call, to find its log lines.
    pub request_id: Option<String>,
    /// The client's address, when the actor is not a key.
    #[serde(skip_serializing_if = "Option::is_none")]
    #[schema(example = "203.0.113.9")]
    pub source: Option<String>,
    /// How many calls the entry stands for: 1, or the refusals counted in its minute.
    pub count: u32,
}

/// Who made an audited call.
#[derive(Debug, Clone, Copy, Serialize, ToSchema)]
#[serde(rename_all = "snake_case")]
pub enum AuditActor {
    Key,
    Cli,
    Anonymous,
}

#[derive(Debug, Serialize, ToSchema)]
pub struct AuditPage {
    /// Newest first.
    pub entries: Vec<AuditEntry>,
    /// Pass as `before` for the next page; absent on the last.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub next_before: Option<i64>,
}

#[derive(Debug, Deserialize, IntoParams)]
#[serde(deny_unknown_fields)]
#[into_params(parameter_in = Query)]
pub struct AuditParams {
    /// Entries per page, 1 to 10000 (default 100).
    #[param(minimum = 1, maximum = 10000, example = 100)]
    pub limit: Option<u32>,
    /// Only entries older than this id.
    #[param(minimum = 1)]
    pub before: Option<i64>,
    /// Only calls made with this key.
    pub key_id: Option<Uuid>,
}

/// The audit log.
///
/// Every write, train and admin call made with a key, newest first: which key, which route
/// and ids, the answer's status, when. Calls without a valid key are not recorded (they did
/// nothing); calls refused for a missing scope are.
#[utoipa::path(
    tag = "keys",
    security(("api_key" = ["admin"])),
    params(AuditParams),
    responses(
        (status = 200, description = "A page of the audit log", body = AuditPage),
        (status = 422, description = "Invalid `limit`, `before` or `key_id`", body = Problem, content_type = "application/problem+json"),
        DatabaseErrors,
    )
)]
#[get("/audit")]
async fn list_audit(
    pool: web::Data<Pool>,
    Query(params): Query<AuditParams>,
) -> Result<web::Json<AuditPage>> {
    let limit = crate::http::page::limit(params.limit, crate::http::page::MAX_ROWS)?;
    if params.before.is_some_and(|b| b < 1) {
        return Err(Error::invalid("before", "must be at least 1"));
    }
    let entries = service::list(
        pool.get_ref(),
        Filter {
            before: params.before,
            key_id: params.key_id,
            limit: i64::from(limit) + 1,
        },
    )
    .await?;
    let more = entries.len() > limit as usize;
    let entries: Vec<AuditEntry> = entries
        .into_iter()
        .take(limit as usize)
        .map(|e| AuditEntry {
            id: e.audit_id,
            at: e.at,
            actor: match e.actor.as_str() {
                "cli" => AuditActor::Cli,
                "anonymous" => AuditActor::Anonymous,
                _ => AuditActor::Key,
            },
            key_id: e.key_id,
            key_name: e.key_name,
            method: e.method,
            route: e.route,
            targets: e.targets.0,
            status: e.status as u16,
            request_id: e.request_id,
            source: e.source,
            count: e.count.max(1) as u32,
        })
        .collect();
    let next_before = more.then(|| entries.last().map(|e| e.id)).flatten();
    Ok(web::Json(AuditPage {
        entries,
        next_before,
    }))
}

pub fn routes(cfg: &mut utoipa_actix_web::service_config::ServiceConfig) {
    cfg.service(list_audit);
}
