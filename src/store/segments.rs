//! A run's segments (`run_segments`): profiles, stable ids and labels, and the counter that
//! hands out new stable ids.

use super::Result;
use crate::domain::run::Segment;
use crate::domain::run::documents::SegmentProfile;
use sqlx::postgres::PgRow;
use sqlx::types::Json;
use sqlx::{FromRow, PgExecutor, Row};
use uuid::Uuid;

impl<'r> FromRow<'r, PgRow> for Segment {
    fn from_row(row: &'r PgRow) -> sqlx::Result<Self> {
        Ok(Self {
            run_id: row.try_get("run_id")?,
            segment: row.try_get("segment")?,
            stable_id: row.try_get("stable_id")?,
            label: row.try_get("label")?,
            persona: row.try_get("persona")?,
            size: row.try_get("size")?,
            share: row.try_get("share")?,
            profile: row.try_get::<Json<SegmentProfile>, _>("profile")?.0,
            matched_run_id: row.try_get("matched_run_id")?,
            matched_distance: row.try_get("matched_distance")?,
        })
    }
}

/// Writes a run's segments with one statement (UNNEST).
pub async fn insert_segments(db: impl PgExecutor<'_>, rows: &[Segment]) -> Result<()> {
    sqlx::query(
        "INSERT INTO run_segments (run_id, segment, stable_id, label, persona, size, share,
                                   profile, matched_run_id, matched_distance)
         SELECT * FROM UNNEST($1::uuid[], $2::int[], $3::int[], $4::text[], $5::text[],
                              $6::bigint[], $7::float8[], $8::jsonb[], $9::uuid[], $10::float8[])",
    )
    .bind(rows.iter().map(|r| r.run_id).collect::<Vec<_>>())
    .bind(rows.iter().map(|r| r.segment).collect::<Vec<_>>())
    .bind(rows.iter().map(|r| r.stable_id).collect::<Vec<_>>())
    .bind(rows.iter().map(|r| r.label.clone()).collect::<Vec<_>>())
    .bind(rows.iter().map(|r| r.persona.clone()).collect::<Vec<_>>())
    .bind(rows.iter().map(|r| r.size).collect::<Vec<_>>())
    .bind(rows.iter().map(|r| r.share).collect::<Vec<_>>())
    .bind(rows.iter().map(|r| Json(&r.profile)).collect::<Vec<_>>())
    .bind(rows.iter().map(|r| r.matched_run_id).collect::<Vec<_>>())
    .bind(rows.iter().map(|r| r.matched_distance).collect::<Vec<_>>())
    .execute(db)
    .await?;
    Ok(())
}

pub async fn segments(db: impl PgExecutor<'_>, run_id: Uuid) -> Result<Vec<Segment>> {
    sqlx::query_as(
        "SELECT run_id, segment, stable_id, label, persona, size, share, profile,
                matched_run_id, matched_distance
         FROM run_segments WHERE run_id = $1 ORDER BY segment",
    )
    .bind(run_id)
    .fetch_all(db)
    .await
    .map_err(Into::into)
}

/// Hands out `count` new stable segment ids of the segmentation; returns the first.
pub async fn next_stable_ids(
    db: impl PgExecutor<'_>,
    segmentation_id: Uuid,
    count: i32,
) -> Result<i32> {
    sqlx::query_scalar(
        "UPDATE segmentations SET last_stable_id = last_stable_id + $2
         WHERE segmentation_id = $1 RETURNING last_stable_id - $2 + 1",
    )
    .bind(segmentation_id)
    .bind(count)
    .fetch_one(db)
    .await
    .map_err(Into::into)
}

/// The segments of several runs.
pub async fn segments_of_runs(db: impl PgExecutor<'_>, run_ids: &[Uuid]) -> Result<Vec<Segment>> {
    sqlx::query_as(
        "SELECT run_id, segment, stable_id, label, persona, size, share, profile,
                matched_run_id, matched_distance
         FROM run_segments WHERE run_id = ANY($1) ORDER BY run_id, segment",
    )
    .bind(run_ids)
    .fetch_all(db)
    .await
    .map_err(Into::into)
}
