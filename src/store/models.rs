//! Runs' models (`runs.model`): what scores customers and starts warm retrains.

use super::Result;
use crate::segmentation::model::Model;
use sqlx::PgExecutor;
use sqlx::types::Json;
use uuid::Uuid;

/// The model of a run.
pub async fn model(db: impl PgExecutor<'_>, run_id: Uuid) -> Result<Option<Model>> {
    let model: Option<Option<Json<Model>>> =
        sqlx::query_scalar("SELECT model FROM runs WHERE run_id = $1")
            .bind(run_id)
            .fetch_optional(db)
            .await?;
    Ok(model.flatten().map(|m| m.0))
}

/// The segmentation's active run and its model, if it has one.
pub async fn active_model(
    db: impl PgExecutor<'_>,
    segmentation_id: Uuid,
) -> Result<Option<(Uuid, Model)>> {
    let row: Option<(Uuid, Option<Json<Model>>)> = sqlx::query_as(
        "SELECT r.run_id, r.model FROM segmentations s
         JOIN runs r ON r.run_id = s.active_run_id
         WHERE s.segmentation_id = $1",
    )
    .bind(segmentation_id)
    .fetch_optional(db)
    .await?;
    Ok(row.and_then(|(id, model)| model.map(|m| (id, m.0))))
}
