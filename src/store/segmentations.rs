//! Segmentation configurations.

use super::Result;
use crate::domain::drift::DriftPolicy;
use crate::domain::segmentation::{Segmentation, SegmentationConfig};
use chrono::{DateTime, Utc};
use sqlx::PgExecutor;
use sqlx::postgres::PgRow;
use sqlx::types::Json;
use sqlx::{FromRow, Row};
use uuid::Uuid;

impl<'r> FromRow<'r, PgRow> for Segmentation {
    fn from_row(row: &'r PgRow) -> sqlx::Result<Self> {
        Ok(Self {
            segmentation_id: row.try_get("segmentation_id")?,
            name: row.try_get("name")?,
            description: row.try_get("description")?,
            version: row.try_get("version")?,
            config: row.try_get::<Json<SegmentationConfig>, _>("config")?.0,
            auto_activate: row.try_get("auto_activate")?,
            drift: row
                .try_get::<Option<Json<DriftPolicy>>, _>("drift_policy")?
                .map(|j| j.0),
            schedule: row.try_get("schedule")?,
            next_run_at: row.try_get("next_run_at")?,
            active_run_id: row.try_get("active_run_id")?,
            created_at: row.try_get("created_at")?,
            updated_at: row.try_get("updated_at")?,
        })
    }
}

const COLUMNS: &str = "segmentation_id, name, description, version, config, auto_activate,
    drift_policy, schedule, next_run_at, active_run_id, created_at, updated_at";

/// A segmentation to insert.
#[derive(Debug, Clone, Copy)]
pub struct NewRow<'a> {
    pub id: Uuid,
    pub name: &'a str,
    pub description: &'a str,
    pub config: &'a SegmentationConfig,
    pub auto_activate: bool,
    pub drift: Option<&'a DriftPolicy>,
    /// The cron expression and its first occurrence.
    pub schedule: Option<(&'a str, DateTime<Utc>)>,
}

pub async fn insert(db: impl PgExecutor<'_>, row: NewRow<'_>) -> Result<Segmentation> {
    let NewRow {
        id,
        name,
        description,
        config,
        auto_activate,
        drift,
        schedule,
    } = row;
    sqlx::query_as(sqlx::AssertSqlSafe(format!(
        "INSERT INTO segmentations (segmentation_id, name, description, config, auto_activate,
                                    schedule, next_run_at, drift_policy)
         VALUES ($1, $2, $3, $4, $5, $6, $7, $8) RETURNING {COLUMNS}"
    )))
    .bind(id)
    .bind(name)
    .bind(description)
    .bind(Json(config))
    .bind(auto_activate)
    .bind(schedule.map(|s| s.0))
    .bind(schedule.map(|s| s.1))
    .bind(drift.map(Json))
    .fetch_one(db)
    .await
    .map_err(Into::into)
}

pub async fn find(db: impl PgExecutor<'_>, id: Uuid) -> Result<Option<Segmentation>> {
    sqlx::query_as(sqlx::AssertSqlSafe(format!(
        "SELECT {COLUMNS} FROM segmentations WHERE segmentation_id = $1"
    )))
    .bind(id)
    .fetch_optional(db)
    .await
    .map_err(Into::into)
}

/// Locks the row for an update in the caller's transaction.
pub async fn find_for_update(db: impl PgExecutor<'_>, id: Uuid) -> Result<Option<Segmentation>> {
    sqlx::query_as(sqlx::AssertSqlSafe(format!(
        "SELECT {COLUMNS} FROM segmentations WHERE segmentation_id = $1 FOR UPDATE"
    )))
    .bind(id)
    .fetch_optional(db)
    .await
    .map_err(Into::into)
}

pub async fn list(db: impl PgExecutor<'_>) -> Result<Vec<Segmentation>> {
    sqlx::query_as(sqlx::AssertSqlSafe(format!(
        "SELECT {COLUMNS} FROM segmentations ORDER BY name"
    )))
    .fetch_all(db)
    .await
    .map_err(Into::into)
}

pub async fn update(db: impl PgExecutor<'_>, row: &Segmentation) -> Result<Segmentation> {
    sqlx::query_as(sqlx::AssertSqlSafe(format!(
        "UPDATE segmentations SET name = $2, description = $3, version = $4, config = $5,
                auto_activate = $6, schedule = $7, next_run_at = $8, drift_policy = $9
         WHERE segmentation_id = $1 RETURNING {COLUMNS}"
    )))
    .bind(row.segmentation_id)
    .bind(&row.name)
    .bind(&row.description)
    .bind(row.version)
    .bind(Json(&row.config))
    .bind(row.auto_activate)
    .bind(&row.schedule)
    .bind(row.next_run_at)
    .bind(row.drift.as_ref().map(Json))
    .fetch_one(db)
    .await
    .map_err(Into::into)
}

pub async fn delete(db: impl PgExecutor<'_>, id: Uuid) -> Result<bool> {
    let done = sqlx::query("DELETE FROM segmentations WHERE segmentation_id = $1")
        .bind(id)
        .execute(db)
        .await?;
    Ok(done.rows_affected() == 1)
}

/// A segmentation whose schedule is due.
#[derive(Debug, Clone, sqlx::FromRow)]
pub struct DueRow {
    pub segmentation_id: Uuid,
    pub version: i32,
    #[sqlx(json)]
    pub config: SegmentationConfig,
    pub schedule: String,
    pub next_run_at: DateTime<Utc>,
}

/// Segmentations whose next scheduled run is due, locked (other replicas skip them).
pub async fn due(db: impl PgExecutor<'_>) -> Result<Vec<DueRow>> {
    sqlx::query_as(
        "SELECT segmentation_id, version, config, schedule, next_run_at FROM segmentations
         WHERE next_run_at <= now() AND schedule IS NOT NULL
         ORDER BY next_run_at FOR UPDATE SKIP LOCKED",
    )
    .fetch_all(db)
    .await
    .map_err(Into::into)
}

pub async fn set_next_run(
    db: impl PgExecutor<'_>,
    id: Uuid,
    next: Option<DateTime<Utc>>,
) -> Result<()> {
    sqlx::query("UPDATE segmentations SET next_run_at = $2 WHERE segmentation_id = $1")
        .bind(id)
        .bind(next)
        .execute(db)
        .await?;
    Ok(())
}
