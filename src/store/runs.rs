//! Runs: the job queue (claim with `FOR UPDATE SKIP LOCKED`, leases, heartbeats), their
//! results and segment profiles.

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
const COLUMNS: &str = "r.run_id, r.segmentation_id, r.seq, r.segmentation_version, r.config,
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

/// Claims the oldest queued run whose segmentation has none running, for `lease_seconds`.
/// Workers skip each other's locked rows; the `runs_one_running` index refuses a second
/// running run of one segmentation if two workers race (the caller retries).
#[tracing::instrument(level = "debug", skip(db))]
pub async fn claim(
    db: impl PgExecutor<'_>,
    worker: &str,
    lease_seconds: f64,
) -> Result<Option<Run>> {
    sqlx::query_as(sqlx::AssertSqlSafe(format!(
        "WITH next AS (
             SELECT q.run_id FROM runs q
             WHERE q.status = 'queued'
               AND NOT EXISTS (SELECT 1 FROM runs o
                               WHERE o.segmentation_id = q.segmentation_id
                                 AND o.status = 'running')
             ORDER BY q.seq LIMIT 1
             FOR UPDATE SKIP LOCKED
         ), claimed AS (
             UPDATE runs u SET status = 'running', worker = $1, attempts = u.attempts + 1,
                    lease_until = now() + make_interval(secs => $2), heartbeat_at = now(),
                    started_at = COALESCE(u.started_at, now()), phase = 'queued',
                    progress = 0
             FROM next WHERE u.run_id = next.run_id
             RETURNING u.*
         )
         SELECT {COLUMNS} FROM claimed r JOIN segmentations s USING (segmentation_id)"
    )))
    .bind(worker)
    .bind(lease_seconds)
    .fetch_optional(db)
    .await
    .map_err(Into::into)
}

/// What a heartbeat learns: whether the worker still holds the run, and whether a cancel
/// was asked for.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Lease {
    Held { cancel_requested: bool },
    Lost,
}

/// Extends the lease and records progress.
pub async fn heartbeat(
    db: impl PgExecutor<'_>,
    run_id: Uuid,
    worker: &str,
    lease_seconds: f64,
    phase: Phase,
    progress: f32,
) -> Result<Lease> {
    let row: Option<bool> = sqlx::query_scalar(
        "UPDATE runs SET lease_until = now() + make_interval(secs => $3), heartbeat_at = now(),
                phase = $4, progress = $5
         WHERE run_id = $1 AND worker = $2 AND status = 'running'
         RETURNING cancel_requested",
    )
    .bind(run_id)
    .bind(worker)
    .bind(lease_seconds)
    .bind(phase.as_str())
    .bind(progress)
    .fetch_optional(db)
    .await?;
    Ok(match row {
        Some(cancel_requested) => Lease::Held { cancel_requested },
        None => Lease::Lost,
    })
}

/// Locks a run held by `worker` in the caller's transaction (the result write); `None` when
/// the lease was lost (another worker took over or it was recovered).
pub async fn lock_held(
    db: impl PgExecutor<'_>,
    run_id: Uuid,
    worker: &str,
) -> Result<Option<bool>> {
    sqlx::query_scalar(
        "SELECT cancel_requested FROM runs
         WHERE run_id = $1 AND worker = $2 AND status = 'running' FOR UPDATE",
    )
    .bind(run_id)
    .bind(worker)
    .fetch_optional(db)
    .await
    .map_err(Into::into)
}

/// Runs whose lease lapsed, or whose worker is gone (its identity lock is free): re-queued
/// (attempts left) or failed, with the reason noted.
/// Returns the ids and their new status.
#[tracing::instrument(level = "debug", skip(db))]
pub async fn recover_expired(
    db: impl PgExecutor<'_>,
    max_attempts: i32,
) -> Result<Vec<(Uuid, RunStatus)>> {
    sqlx::query_as(
        "WITH lapsed AS (
             SELECT run_id FROM runs
             WHERE status = 'running'
               AND (lease_until < now()
                    -- The worker's identity lock is free: its session, so its process, ended.
                    OR (worker IS NOT NULL AND pg_try_advisory_xact_lock(
                            hashtextextended('segstore-worker:' || worker, 0))))
             FOR UPDATE SKIP LOCKED
         )
         UPDATE runs r SET
             status = CASE WHEN r.attempts < $1 THEN 'queued' ELSE 'failed' END,
             events = r.events || jsonb_build_array(jsonb_build_object(
                 'at', now(),
                 'event', CASE WHEN r.lease_until < now() THEN 'lease expired' ELSE 'worker gone' END,
                 'detail', format('worker %s %s (last heartbeat %s) during %s; %s',
                                  r.worker,
                                  CASE WHEN r.lease_until < now() THEN 'stopped renewing its lease'
                                       ELSE 'is gone: its database session ended' END,
                                  r.heartbeat_at, r.phase,
                                  CASE WHEN r.attempts < $1 THEN 're-queued'
                                       ELSE 'no attempts left' END))),
             error = CASE WHEN r.attempts < $1 THEN NULL ELSE jsonb_build_object(
                 'kind', 'worker_lost',
                 'message', format('the run was abandoned %s times by workers that stopped (lease expired)', r.attempts))
                 END,
             finished_at = CASE WHEN r.attempts < $1 THEN NULL ELSE now() END,
             worker = NULL, lease_until = NULL,
             phase = CASE WHEN r.attempts < $1 THEN 'queued' ELSE r.phase END
         FROM lapsed WHERE r.run_id = lapsed.run_id
         RETURNING r.run_id, r.status",
    )
    .bind(max_attempts)
    .fetch_all(db)
    .await?
    .into_iter()
    .map(|(id, status): (Uuid, String)| {
        RunStatus::try_from(status)
            .map(|s| (id, s))
            .map_err(|e| super::Error::Decode(anyhow::Error::msg(e)))
    })
    .collect()
}

/// How a run held by a worker ended without success.
pub enum Unsuccessful<'a> {
    Failed(&'a RunFailure),
    Cancelled,
}

/// Ends a run held by `worker` as failed or cancelled.
pub async fn finish_unsuccessful(
    db: impl PgExecutor<'_>,
    run_id: Uuid,
    worker: &str,
    outcome: Unsuccessful<'_>,
) -> Result<bool> {
    let (status, error) = match outcome {
        Unsuccessful::Failed(failure) => (RunStatus::Failed, Some(Json(failure))),
        Unsuccessful::Cancelled => (RunStatus::Cancelled, None),
    };
    let done = sqlx::query(
        "UPDATE runs SET status = $3, error = $4, finished_at = now(), worker = NULL,
                lease_until = NULL
         WHERE run_id = $1 AND worker = $2 AND status = 'running'",
    )
    .bind(run_id)
    .bind(worker)
    .bind(status.as_str())
    .bind(error)
    .execute(db)
    .await?;
    Ok(done.rows_affected() == 1)
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

/// Why a worker gives its run back to the queue.
#[derive(Debug, Clone, Copy)]
pub enum Release<'a> {
    /// The process is stopping.
    ShuttingDown,
    /// A database fault (an outage, a restart) interrupted the run; it is retried.
    DatabaseFault(&'a str),
}

pub async fn release(
    db: impl PgExecutor<'_>,
    run_id: Uuid,
    worker: &str,
    why: Release<'_>,
) -> Result<bool> {
    let (event, detail) = match why {
        Release::ShuttingDown => ("released", "shut down".to_owned()),
        Release::DatabaseFault(error) => ("database fault", format!("met `{error}`")),
    };
    let done = sqlx::query(
        "UPDATE runs SET status = 'queued', worker = NULL, lease_until = NULL, phase = 'queued',
                progress = 0,
                events = events || jsonb_build_array(jsonb_build_object(
                    'at', now(), 'event', $3::text,
                    'detail', format('worker %s %s during %s; re-queued', worker, $4::text, phase)))
         WHERE run_id = $1 AND worker = $2 AND status = 'running'",
    )
    .bind(run_id)
    .bind(worker)
    .bind(event)
    .bind(detail)
    .execute(db)
    .await?;
    Ok(done.rows_affected() == 1)
}

/// A worker's identity in PostgreSQL: a session-level advisory lock on its name, held on a
/// connection of its own (outside the pool) for as long as the worker lives. When the process
/// dies, the session ends and the lock with it: any replica then sees at once that the runs
/// that worker holds are orphaned (see [`recover_expired`]), without waiting for the lease.
pub struct WorkerIdentity(sqlx::PgConnection);

/// The advisory lock key of a worker's name.
const WORKER_LOCK: &str = "hashtextextended('segstore-worker:' || $1, 0)";

impl WorkerIdentity {
    /// Connects and takes the worker's lock; `None` while another session holds it.
    pub async fn take(
        direct: &sqlx::postgres::PgConnectOptions,
        worker: &str,
    ) -> Result<Option<Self>> {
        use sqlx::Connection;
        let mut conn = sqlx::PgConnection::connect_with(direct).await?;
        let held: bool = sqlx::query_scalar(sqlx::AssertSqlSafe(format!(
            "SELECT pg_try_advisory_lock({WORKER_LOCK})"
        )))
        .bind(worker)
        .fetch_one(&mut conn)
        .await?;
        Ok(held.then_some(Self(conn)))
    }

    /// Whether the session, and so the lock, is still there.
    pub async fn alive(&mut self) -> bool {
        use sqlx::Connection;
        self.0.ping().await.is_ok()
    }
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
