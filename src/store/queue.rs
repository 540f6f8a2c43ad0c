//! The run queue's side of runs: claims (`FOR UPDATE SKIP LOCKED`), leases and heartbeats,
//! giving a run back or ending it unsuccessfully, recovering runs of workers that are gone,
//! and each worker's identity lock.

use super::Result;
use super::runs::COLUMNS;
use crate::domain::run::documents::RunFailure;
use crate::domain::run::{Phase, Run, RunStatus};
use sqlx::PgExecutor;
use sqlx::types::Json;
use uuid::Uuid;

/// What a claim found.
#[derive(Debug)]
pub enum Claim {
    /// The run is this worker's, for the lease.
    Run(Box<Run>),
    /// Nothing is queued that may start now.
    Empty,
    /// Two workers claimed two queued runs of one segmentation at once: the one-running
    /// index refused this one; the queue is to be tried again at once.
    Contended,
}

/// Claims the oldest queued run whose segmentation has none running, for `lease_seconds`.
/// Workers skip each other's locked rows; the `runs_one_running` index refuses a second
/// running run of one segmentation if two workers race ([`Claim::Contended`]).
#[tracing::instrument(level = "debug", skip(db))]
pub async fn claim(db: impl PgExecutor<'_>, worker: &str, lease_seconds: f64) -> Result<Claim> {
    let claimed: Result<Option<Run>> = sqlx::query_as(sqlx::AssertSqlSafe(format!(
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
    .map_err(Into::into);
    match claimed {
        Ok(Some(run)) => Ok(Claim::Run(Box::new(run))),
        Ok(None) => Ok(Claim::Empty),
        Err(e) if e.constraint() == Some(super::Constraint::OneRunningRun) => Ok(Claim::Contended),
        Err(e) => Err(e),
    }
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
