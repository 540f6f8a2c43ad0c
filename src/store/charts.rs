//! The scatter-chart sample each run keeps (`run_chart_samples`).

use super::Result;
use crate::domain::run::documents::PcCentres;
use sqlx::PgExecutor;
use sqlx::types::Json;
use uuid::Uuid;

#[derive(Debug, Clone, sqlx::FromRow)]
pub struct ChartSampleRow {
    pub run_id: Uuid,
    pub customers: i32,
    pub features: Vec<String>,
    /// The customer of each sampled point (`None` for samples drawn before they were kept).
    pub external_ids: Option<Vec<String>>,
    /// Stable segment id per sampled customer (`None`: noise).
    pub segment: Vec<Option<i32>>,
    /// Row-major, `features.len()` values per sampled customer.
    pub values: Vec<f64>,
    /// Row-major (PC1, PC2) pairs.
    pub pc: Option<Vec<f64>>,
    pub pc_explained: Option<Vec<f64>>,
    /// Each segment's centre on the two components, by stable id.
    #[sqlx(json(nullable))]
    pub pc_centres: Option<PcCentres>,
}

pub async fn insert(db: impl PgExecutor<'_>, row: &ChartSampleRow) -> Result<()> {
    sqlx::query(
        r#"INSERT INTO run_chart_samples
               (run_id, customers, features, segment, "values", pc, pc_explained, pc_centres,
                external_ids)
           VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9)"#,
    )
    .bind(row.run_id)
    .bind(row.customers)
    .bind(&row.features)
    .bind(&row.segment)
    .bind(&row.values)
    .bind(&row.pc)
    .bind(&row.pc_explained)
    .bind(row.pc_centres.as_ref().map(Json))
    .bind(&row.external_ids)
    .execute(db)
    .await?;
    Ok(())
}

pub async fn find(db: impl PgExecutor<'_>, run_id: Uuid) -> Result<Option<ChartSampleRow>> {
    sqlx::query_as(
        r#"SELECT run_id, customers, features, segment, "values", pc, pc_explained, pc_centres,
                  external_ids
           FROM run_chart_samples WHERE run_id = $1"#,
    )
    .bind(run_id)
    .fetch_optional(db)
    .await
    .map_err(Into::into)
}
