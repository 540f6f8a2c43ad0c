//! `/v1/segmentations`: named, versioned clustering configurations.

use crate::domain::SegmentationId;
use crate::domain::drift::DriftPolicy;
use crate::domain::segmentation::Segmentation as Stored;
use crate::domain::segmentation::SegmentationConfig;
use crate::error::Result;
use crate::http::extract::{Json, MergePatch};
use crate::http::problem::{DatabaseErrors, JsonBodyErrors, Problem, SegmentationErrors};
use crate::service::lookup::LookupCache;
use crate::service::segmentations::{self as service, Changes, ConfigPatch};
use crate::store::Pool;
use actix_web::http::header;
use actix_web::{HttpResponse, delete, get, patch, post, web};
use serde::{Deserialize, Serialize};
use utoipa::ToSchema;

fn yes() -> bool {
    true
}

/// A new segmentation.
#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
#[schema(example = json!({
    "name": "Income and spend",
    "config": {"features": ["annual_income_k", "spending_score"], "algorithm": {"type": "kmeans", "k": "auto"}}
}))]
pub struct CreateSegmentation {
    /// Unique, 1 to 100 characters, not only white space (kept trimmed).
    #[schema(min_length = 1, max_length = 100, pattern = r"\S")]
    pub name: String,
    #[serde(default)]
    pub description: String,
    pub config: SegmentationConfig,
    /// Whether a successful run becomes the active one by itself (default true).
    #[serde(default = "yes")]
    pub auto_activate: bool,
    /// Drift thresholds: a run crossing one is flagged (`drift.crossed`), announced by the
    /// `segmentation.drift_detected` webhook and, with `hold_activation`, left inactive.
    /// Absent: drift is reported on every run, never flagged.
    pub drift: Option<DriftPolicy>,
    /// Retrain on a cron schedule: five fields, UTC (e.g. `0 3 * * *`: daily at 03:00).
    #[schema(example = "0 3 * * *")]
    pub schedule: Option<String>,
}

/// A JSON merge patch (RFC 7396) of a segmentation: absent fields keep their values, `null`
/// removes one (back to its default), and `config` merges member by member into the current
/// configuration, so `{"config": {"algorithm": {"k": 4}}}` changes k alone. A changed `config`
/// is a new version.
#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
#[schema(example = json!({"config": {"algorithm": {"type": "kmeans", "k": 4}}}))]
pub struct UpdateSegmentation {
    /// Unique, 1 to 100 characters, not only white space (kept trimmed); cannot be removed.
    #[serde(default, deserialize_with = "crate::http::extract::present")]
    #[schema(value_type = Option<String>, min_length = 1, max_length = 100, pattern = r"\S")]
    pub name: Option<Option<String>>,
    /// `null` empties it.
    #[serde(default, deserialize_with = "crate::http::extract::present")]
    #[schema(value_type = Option<String>)]
    pub description: Option<Option<String>>,
    /// A merge patch of the configuration (see `SegmentationConfig`): its members replace
    /// the current ones, `null` removes one (its default applies). Naming another algorithm
    /// `type` starts that algorithm from its defaults. Cannot be removed.
    #[serde(default, deserialize_with = "crate::http::extract::present")]
    #[schema(value_type = Option<std::collections::HashMap<String, serde_json::Value>>)]
    pub config: Option<Option<serde_json::Value>>,
    /// `null` restores the default (true).
    #[serde(default, deserialize_with = "crate::http::extract::present")]
    #[schema(value_type = Option<bool>)]
    pub auto_activate: Option<Option<bool>>,
    /// New drift thresholds (replacing the old ones whole), or `null` to remove them.
    #[serde(default, deserialize_with = "crate::http::extract::present")]
    #[schema(value_type = Option<DriftPolicy>)]
    pub drift: Option<Option<DriftPolicy>>,
    /// A cron expression (five fields, UTC), or `null` to stop the schedule.
    #[serde(default, deserialize_with = "crate::http::extract::present")]
    #[schema(value_type = Option<String>)]
    pub schedule: Option<Option<String>>,
}

impl UpdateSegmentation {
    /// The changes this patch asks for; removing what a segmentation must have is a 422.
    fn changes(self) -> Result<Changes> {
        let kept = |field: &str| {
            crate::error::Error::invalid(field, "cannot be removed (`null`); give a new value")
        };
        Ok(Changes {
            name: match self.name {
                Some(None) => return Err(kept("name")),
                other => other.flatten(),
            },
            description: self.description.map(Option::unwrap_or_default),
            config: match self.config {
                Some(None) => return Err(kept("config")),
                other => other.flatten().map(ConfigPatch),
            },
            auto_activate: self.auto_activate.map(|a| a.unwrap_or_else(yes)),
            drift: self.drift,
            schedule: self.schedule,
        })
    }
}

#[derive(Debug, Serialize, ToSchema)]
pub struct Segmentation {
    #[schema(example = "5b0c3c7e-8a0e-4c55-9a51-0c9f6d1f2a10")]
    pub id: uuid::Uuid,
    pub name: String,
    pub description: String,
    /// Starts at 1; each change of `config` adds 1.
    pub version: i32,
    /// The configuration with every default filled in.
    pub config: SegmentationConfig,
    pub auto_activate: bool,
    /// Drift thresholds (`null`: drift is reported, never flagged).
    pub drift: Option<DriftPolicy>,
    pub schedule: Option<String>,
    /// When the schedule next queues a run (UTC).
    pub next_run_at: Option<chrono::DateTime<chrono::Utc>>,
    /// The run whose segments CRMs read (`null` until a run succeeds and is activated).
    pub active_run_id: Option<uuid::Uuid>,
    pub created_at: chrono::DateTime<chrono::Utc>,
    pub updated_at: chrono::DateTime<chrono::Utc>,
}

impl From<Stored> for Segmentation {
    fn from(row: Stored) -> Self {
        Self {
            id: row.segmentation_id,
            name: row.name,
            description: row.description,
            version: row.version,
            config: row.config,
            auto_activate: row.auto_activate,
            drift: row.drift,
            schedule: row.schedule,
            next_run_at: row.next_run_at,
            active_run_id: row.active_run_id,
            created_at: row.created_at,
            updated_at: row.updated_at,
        }
    }
}

#[derive(Debug, Serialize, ToSchema)]
pub struct SegmentationList {
    /// By name.
    pub segmentations: Vec<Segmentation>,
}

/// Create a segmentation.
///
/// The configuration is checked against the attribute catalogue: every feature must be a
/// numeric attribute. Every invalid field is named in `errors`.
#[utoipa::path(
    security(("api_key" = ["train"])),
    tag = "segmentations",
    request_body = CreateSegmentation,
    responses(
        (status = 201, description = "Created; `Location` names it", body = Segmentation,
            headers(("Location" = String, description = "The segmentation: `/v1/segmentations/{id}`"))),
        (status = 409, description = "A segmentation with this name exists", body = Problem, content_type = "application/problem+json"),
        JsonBodyErrors,
        (status = 422, description = "Invalid configuration; `errors` names each field", body = Problem, content_type = "application/problem+json"),
        DatabaseErrors,
    )
)]
#[post("/segmentations")]
async fn create_segmentation(
    pool: web::Data<Pool>,
    Json(body): Json<CreateSegmentation>,
) -> Result<HttpResponse> {
    let row = service::create(
        &pool,
        &body.name,
        &body.description,
        &body.config,
        body.auto_activate,
        body.drift.as_ref(),
        body.schedule.as_deref(),
    )
    .await?;
    let view = Segmentation::from(row);
    Ok(HttpResponse::Created()
        .insert_header((header::LOCATION, format!("/v1/segmentations/{}", view.id)))
        .json(view))
}

/// List segmentations.
///
/// With each one's configuration, version and active run.
#[utoipa::path(
    security(("api_key" = ["read"])),
    tag = "segmentations",
    responses(
        (status = 200, description = "Every segmentation, by name", body = SegmentationList),
        DatabaseErrors,
    )
)]
#[get("/segmentations")]
async fn list_segmentations(pool: web::Data<Pool>) -> Result<web::Json<SegmentationList>> {
    let segmentations = service::list(&pool)
        .await?
        .into_iter()
        .map(Segmentation::from)
        .collect();
    Ok(web::Json(SegmentationList { segmentations }))
}

/// One segmentation.
///
/// Its configuration, version, schedule and active run.
#[utoipa::path(
    security(("api_key" = ["read"])),
    tag = "segmentations",
    params(("id" = String, Path, description = "The segmentation's id")),
    responses(
        (status = 200, description = "The segmentation", body = Segmentation),
        SegmentationErrors,
    )
)]
#[get("/segmentations/{id}")]
#[tracing::instrument(skip_all, fields(segmentation_id = %id))]
async fn get_segmentation(
    pool: web::Data<Pool>,
    id: SegmentationId,
) -> Result<web::Json<Segmentation>> {
    Ok(web::Json(service::get(&pool, id).await?.into()))
}

/// Change a segmentation.
///
/// Absent fields keep their values; a changed `config` is a new version, trained by the next
/// run. `schedule: null` stops the schedule.
#[utoipa::path(
    security(("api_key" = ["train"])),
    tag = "segmentations",
    params(("id" = String, Path, description = "The segmentation's id")),
    request_body(content(
        (UpdateSegmentation = "application/merge-patch+json"),
        (UpdateSegmentation = "application/json"),
    )),
    responses(
        (status = 200, description = "The changed segmentation", body = Segmentation),
        (status = 409, description = "Another segmentation has this name", body = Problem, content_type = "application/problem+json"),
        (status = 422, description = "Invalid change; `errors` names each field", body = Problem, content_type = "application/problem+json"),
        JsonBodyErrors,
        SegmentationErrors,
    )
)]
#[patch("/segmentations/{id}")]
#[tracing::instrument(skip_all, fields(segmentation_id = %id))]
async fn update_segmentation(
    pool: web::Data<Pool>,
    id: SegmentationId,
    MergePatch(body): MergePatch<UpdateSegmentation>,
) -> Result<web::Json<Segmentation>> {
    Ok(web::Json(
        service::update(&pool, id, body.changes()?).await?.into(),
    ))
}

/// Delete a segmentation.
///
/// Its runs, their assignments and profiles go with it.
#[utoipa::path(
    security(("api_key" = ["admin"])),
    tag = "segmentations",
    params(("id" = String, Path, description = "The segmentation's id")),
    responses(
        (status = 204, description = "Deleted"),
        SegmentationErrors,
    )
)]
#[delete("/segmentations/{id}")]
#[tracing::instrument(skip_all, fields(segmentation_id = %id))]
async fn delete_segmentation(
    pool: web::Data<Pool>,
    cache: web::Data<LookupCache>,
    id: SegmentationId,
) -> Result<HttpResponse> {
    service::delete(&pool, &cache, id).await?;
    Ok(HttpResponse::NoContent().finish())
}

pub fn routes(cfg: &mut utoipa_actix_web::service_config::ServiceConfig) {
    cfg.service(create_segmentation)
        .service(list_segmentations)
        .service(get_segmentation)
        .service(update_segmentation)
        .service(delete_segmentation);
}
