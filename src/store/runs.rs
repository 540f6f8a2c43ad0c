//! Runs: created, found, listed, cancelled, succeeded, and what retention and lookups read
//! of them (the queue's side, claims and leases: `store::queue`).

use super::Result;
use crate::domain::run::documents::{RunEvent, RunFailure, RunSummary};
use crate::domain::run::{Phase, Run, RunStatus, ScoreKind, Trigger};
use crate::domain::segmentation::SegmentationConfig;
use crate::segmentation::model::Model;
use chrono::{DateTime, Utc};
use sqlx::postgres::PgRow;
use sqlx::types::Json;
use sqlx::{FromRow, PgExecutor, Row};
use uuid::Uuid;

/// A text column read as one of the domain's enums.
fn text_enum<T: TryFrom<String, Error = String>>(row: &PgRow, column: &str) -> sqlx::Result<T> {
    let text: String = row.try_get(column)?;
    T::try_from(text).map_err(|e| sqlx::Error::ColumnDecode {
        index: column.to_owned(),
        source: e.into(),
    })
}

impl<'r> FromRow<'r, PgRow> for Run {
    fn from_row(row: &'r PgRow) -> sqlx::Result<Self> {
        let phase: Option<String> = row.try_get("phase")?;
        Ok(Self {
            run_id: row.try_get("run_id")?,
            segmentation_id: row.try_get("segmentation_id")?,
            seq: row.try_get("seq")?,
            segmentation_version: row.try_get("segmentation_version")?,
            config: row.try_get::<Json<SegmentationConfig>, _>("config")?.0,
            status: text_enum(row, "status")?,
            trigger: text_enum(row, "trigger")?,
            idempotency_key: row.try_get("idempotency_key")?,
            phase: phase.map(Phase::try_from).transpose().map_err(|e| {
                sqlx::Error::ColumnDecode {
                    index: "phase".into(),
                    source: e.into(),
                }
            })?,
            progress: row.try_get("progress")?,
            worker: row.try_get("worker")?,
            attempts: row.try_get("attempts")?,
            lease_until: row.try_get("lease_until")?,
            heartbeat_at: row.try_get("heartbeat_at")?,
            cancel_requested: row.try_get("cancel_requested")?,
            customers_snapshot: row.try_get("customers_snapshot")?,
            customers_used: row.try_get("customers_used")?,
            customers_dropped: row.try_get("customers_dropped")?,
            values_imputed: row.try_get("values_imputed")?,
            k: row.try_get("k")?,
            k_rule: row.try_get("k_rule")?,
            summary: row
                .try_get::<Option<Json<RunSummary>>, _>("summary")?
                .map(|j| j.0),
            has_assignments: row.try_get("has_assignments")?,
            error: row
                .try_get::<Option<Json<RunFailure>>, _>("error")?
                .map(|j| j.0),
            events: row.try_get::<Json<Vec<RunEvent>>, _>("events")?.0,
            created_at: row.try_get("created_at")?,
            started_at: row.try_get("started_at")?,
            finished_at: row.try_get("finished_at")?,
            active: row.try_get("active")?,
        })
    }
}

/// Every column but the model (read only when scoring), and whether the run is active.
pub(super) const COLUMNS: &str =
    "r.run_id, r.segmentation_id, r.seq, r.segmentation_version, r.config,
    r.status, r.trigger, r.idempotency_key, r.phase, r.progress, r.worker, r.attempts,
    r.lease_until, r.heartbeat_at, r.cancel_requested, r.customers_snapshot, r.customers_used,
    r.customers_dropped, r.values_imputed, r.k, r.k_rule, r.summary, r.has_assignments,
    r.error, r.events, r.created_at, r.started_at, r.finished_at,
    COALESCE(s.active_run_id = r.run_id, false) AS active";

const FROM: &str = "runs r JOIN segmentations s USING (segmentation_id)";

pub struct NewRun<'a> {
    pub run_id: Uuid,
    pub segmentation_id: Uuid,
    pub segmentation_version: i32,
    pub config: &'a SegmentationConfig,
    pub trigger: Trigger,
    pub idempotency_key: Option<&'a str>,
}

pub async fn insert(db: impl PgExecutor<'_>, run: &NewRun<'_>) -> Result<()> {
    sqlx::query(
        "INSERT INTO runs (run_id, segmentation_id, segmentation_version, config, trigger,
                           idempotency_key)
         VALUES ($1, $2, $3, $4, $5, $6)",
    )
    .bind(run.run_id)
    .bind(run.segmentation_id)
    .bind(run.segmentation_version)
    .bind(Json(run.config))
    .bind(run.trigger.as_str())
    .bind(run.idempotency_key)
    .execute(db)
    .await?;
    Ok(())
}

pub async fn find(db: impl PgExecutor<'_>, run_id: Uuid) -> Result<Option<Run>> {
    sqlx::query_as(sqlx::AssertSqlSafe(format!(
        "SELECT {COLUMNS} FROM {FROM} WHERE r.run_id = $1"
    )))
    .bind(run_id)
    .fetch_optional(db)
    .await
    .map_err(Into::into)
}

pub async fn find_by_key(
    db: impl PgExecutor<'_>,
    segmentation_id: Uuid,
    key: &str,
) -> Result<Option<Run>> {
    sqlx::query_as(sqlx::AssertSqlSafe(format!(
        "SELECT {COLUMNS} FROM {FROM} WHERE r.segmentation_id = $1 AND r.idempotency_key = $2"
    )))
    .bind(segmentation_id)
    .bind(key)
    .fetch_optional(db)
    .await
    .map_err(Into::into)
}

/// The oldest queued or running run of the segmentation.
pub async fn pending(db: impl PgExecutor<'_>, segmentation_id: Uuid) -> Result<Option<Run>> {
    sqlx::query_as(sqlx::AssertSqlSafe(format!(
        "SELECT {COLUMNS} FROM {FROM}
         WHERE r.segmentation_id = $1 AND r.status IN ('queued', 'running')
         ORDER BY r.seq LIMIT 1"
    )))
    .bind(segmentation_id)
    .fetch_optional(db)
    .await
    .map_err(Into::into)
}

/// Newest first; `before` is the `seq` of the last run of the previous page.
pub async fn list(
    db: impl PgExecutor<'_>,
    segmentation_id: Uuid,
    before: Option<i64>,
    limit: i64,
) -> Result<Vec<Run>> {
    sqlx::query_as(sqlx::AssertSqlSafe(format!(
        "SELECT {COLUMNS} FROM {FROM}
         WHERE r.segmentation_id = $1 AND ($2::bigint IS NULL OR r.seq < $2)
         ORDER BY r.seq DESC LIMIT $3"
    )))
    .bind(segmentation_id)
    .bind(before)
    .bind(limit)
    .fetch_all(db)
    .await
    .map_err(Into::into)
}

/// Cancels a queued run at once, or asks a running one to stop. Returns the status after.
#[tracing::instrument(level = "debug", skip(db))]
pub async fn cancel(db: impl PgExecutor<'_>, run_id: Uuid) -> Result<Option<RunStatus>> {
    let status: Option<String> = sqlx::query_scalar(
        "UPDATE runs SET
             status = CASE WHEN status = 'queued' THEN 'cancelled' ELSE status END,
             finished_at = CASE WHEN status = 'queued' THEN now() ELSE finished_at END,
             cancel_requested = true
         WHERE run_id = $1 AND status IN ('queued', 'running')
         RETURNING status",
    )
    .bind(run_id)
    .fetch_optional(db)
    .await?;
    status
        .map(RunStatus::try_from)
        .transpose()
        .map_err(|e| super::Error::Decode(anyhow::Error::msg(e)))
}

/// What a successful run records.
pub struct Success<'a> {
    pub customers_snapshot: i64,
    pub customers_used: i64,
    pub customers_dropped: i64,
    pub values_imputed: i64,
    pub k: i32,
    pub k_rule: &'a str,
    pub summary: &'a RunSummary,
    pub model: &'a Model,
}

pub async fn succeed(db: impl PgExecutor<'_>, run_id: Uuid, s: &Success<'_>) -> Result<()> {
    sqlx::query(
        "UPDATE runs SET status = 'succeeded', phase = 'done', progress = 1, finished_at = now(),
                worker = NULL, lease_until = NULL, customers_snapshot = $2, customers_used = $3,
                customers_dropped = $4, values_imputed = $5, k = $6, k_rule = $7, summary = $8,
                model = $9, has_assignments = true
         WHERE run_id = $1",
    )
    .bind(run_id)
    .bind(s.customers_snapshot)
    .bind(s.customers_used)
    .bind(s.customers_dropped)
    .bind(s.values_imputed)
    .bind(s.k)
    .bind(s.k_rule)
    .bind(Json(s.summary))
    .bind(Json(s.model))
    .execute(db)
    .await?;
    Ok(())
}

/// Runs queued and running now.
pub async fn pending_counts(db: impl PgExecutor<'_>) -> Result<(i64, i64)> {
    Ok(sqlx::query_as(
        "SELECT count(*) FILTER (WHERE status = 'queued'),
                count(*) FILTER (WHERE status = 'running')
         FROM runs WHERE status IN ('queued', 'running')",
    )
    .fetch_one(db)
    .await?)
}

/// Runs of the segmentation with stored assignments beyond the newest `keep`, never the
/// active one.
pub async fn beyond_retention(
    db: impl PgExecutor<'_>,
    segmentation_id: Uuid,
    keep: i64,
) -> Result<Vec<Uuid>> {
    sqlx::query_scalar(
        "SELECT r.run_id FROM runs r JOIN segmentations s USING (segmentation_id)
         WHERE r.segmentation_id = $1 AND r.has_assignments
           AND r.run_id IS DISTINCT FROM s.active_run_id
           AND r.run_id NOT IN (SELECT run_id FROM runs
                                WHERE segmentation_id = $1 AND has_assignments
                                ORDER BY seq DESC LIMIT $2)",
    )
    .bind(segmentation_id)
    .bind(keep)
    .fetch_all(db)
    .await
    .map_err(Into::into)
}

/// Runs of a segmentation that still have assignment partitions (to drop with it).
pub async fn with_assignments(db: impl PgExecutor<'_>, segmentation_id: Uuid) -> Result<Vec<Uuid>> {
    sqlx::query_scalar("SELECT run_id FROM runs WHERE segmentation_id = $1 AND has_assignments")
        .bind(segmentation_id)
        .fetch_all(db)
        .await
        .map_err(Into::into)
}

/// Records what the snapshot read (kept when the run then fails, to explain why).
pub async fn record_snapshot(
    db: impl PgExecutor<'_>,
    run_id: Uuid,
    customers: i64,
    summary: &RunSummary,
) -> Result<()> {
    sqlx::query("UPDATE runs SET customers_snapshot = $2, summary = $3 WHERE run_id = $1")
        .bind(run_id)
        .bind(customers)
        .bind(Json(summary))
        .execute(db)
        .await?;
    Ok(())
}

/// What a customer lookup needs to know of a segmentation's runs.
#[derive(Debug, Clone)]
pub struct LookupRun {
    pub run_id: Uuid,
    pub finished_at: Option<DateTime<Utc>>,
    pub active: bool,
    pub score: ScoreKind,
}

/// What lookups need of a segmentation.
#[derive(Debug)]
pub struct LookupRuns {
    pub active: Option<Uuid>,
    /// Its latest activation's number.
    pub activation: i64,
    /// The runs that still have assignments, newest first.
    pub runs: Vec<LookupRun>,
}

/// The segmentation's active run and runs that still have assignments (`None`: no such
/// segmentation).
pub async fn lookup_runs(
    db: impl PgExecutor<'_>,
    segmentation_id: Uuid,
) -> Result<Option<LookupRuns>> {
    #[derive(sqlx::FromRow)]
    struct Row {
        active_run_id: Option<Uuid>,
        activations: i64,
        run_id: Option<Uuid>,
        finished_at: Option<DateTime<Utc>>,
        active: Option<bool>,
        score: Option<String>,
    }
    let rows: Vec<Row> = sqlx::query_as(
        "SELECT s.active_run_id, s.activations, r.run_id, r.finished_at, r.run_id = s.active_run_id AS active,
                r.summary->>'score' AS score
         FROM segmentations s
         LEFT JOIN runs r ON r.segmentation_id = s.segmentation_id AND r.has_assignments
         WHERE s.segmentation_id = $1
         ORDER BY r.seq DESC",
    )
    .bind(segmentation_id)
    .fetch_all(db)
    .await?;
    let Some(first) = rows.first() else {
        return Ok(None);
    };
    let (active, activation) = (first.active_run_id, first.activations);
    let runs = rows
        .into_iter()
        .filter_map(|r| {
            r.run_id.map(|run_id| LookupRun {
                run_id,
                finished_at: r.finished_at,
                active: r.active.unwrap_or(false),
                score: match r.score.as_deref() {
                    Some("probability") => ScoreKind::Probability,
                    _ => ScoreKind::Distance,
                },
            })
        })
        .collect();
    Ok(Some(LookupRuns {
        active,
        activation,
        runs,
    }))
}
