//! Runs as one capability. This file: trigger (idempotent, one pending run per segmentation
//! unless queueing is asked for), read, list, cancel. A run's life once a worker claims it
//! reads top-down in [`execute`] (prepare → snapshot → train → [`settle`] → one write);
//! [`activation`] switches the active run, [`results`] reads what a run produced.

mod activation;
mod drift;
mod execute;
mod progress;
mod record;
mod results;
pub mod schedule;
mod settle;
mod stop;

pub use activation::activate;
pub use execute::{Runner, Stop};
pub use progress::Progress;
pub use results::{
    Comparison, MoverFilter, assignments_csv, assignments_page, compare, parse_segment, score_kind,
    segments, tree,
};

use crate::domain::run::Run;
use crate::domain::run::Trigger;
use crate::domain::{RunId, SegmentationId};
use crate::error::{Error, Result};
use crate::store::Pool;
use crate::store::runs;
use crate::store::segmentations;
use uuid::Uuid;

/// Wakes this process's idle run workers (a run was just queued); other replicas' workers
/// find it at their next poll.
#[derive(Debug, Clone, Default)]
pub struct Waker(std::sync::Arc<tokio::sync::Notify>);

impl Waker {
    pub fn wake(&self) {
        self.0.notify_waiters();
        self.0.notify_one();
    }

    /// Waits for the next wake.
    pub async fn woken(&self) {
        self.0.notified().await
    }
}

pub use super::score::{MAX_SCORE_BATCH, ScoreInput, ScoreResult, ScoreValue, score};

/// The run a segmentation's readers follow: its active one, whichever that is now (a
/// scheduled pull or a BI data source names the segmentation, never a run). 404 when the
/// segmentation does not exist, 409 while it has no active run yet.
#[tracing::instrument(skip(pool), fields(%segmentation_id))]
pub async fn active(pool: &Pool, segmentation_id: SegmentationId) -> Result<RunId> {
    let segmentation = super::segmentations::get(pool, segmentation_id).await?;
    segmentation.active_run_id.map(RunId::from).ok_or_else(|| {
        Error::Conflict(format!(
            "segmentation `{segmentation_id}` has no active run yet: a run becomes active \
             when it succeeds (POST /v1/segmentations/{segmentation_id}/runs) or is activated \
             (POST /v1/runs/{{id}}/activate)"
        ))
    })
}

pub const MAX_IDEMPOTENCY_KEY: usize = 255;

/// A validated `Idempotency-Key` header value.
pub fn check_idempotency_key(key: &str) -> Result<String> {
    if key.is_empty()
        || key.len() > MAX_IDEMPOTENCY_KEY
        || !key.bytes().all(|b| (0x21..0x7f).contains(&b))
    {
        return Err(Error::invalid(
            "Idempotency-Key",
            format!("must be 1 to {MAX_IDEMPOTENCY_KEY} visible ASCII characters"),
        ));
    }
    Ok(key.to_owned())
}

/// How a trigger was answered.
#[derive(Debug)]
pub enum Triggered {
    Queued(Run),
    /// A retry with the same idempotency key: the run the first call created.
    Replayed(Run),
}

/// Queues a run of the segmentation's current configuration.
#[tracing::instrument(skip(pool, waker), fields(%segmentation_id))]
pub async fn trigger(
    pool: &Pool,
    waker: &Waker,
    segmentation_id: SegmentationId,
    idempotency_key: Option<String>,
    queue: bool,
) -> Result<Triggered> {
    let id = segmentation_id.uuid();
    // The segmentation's row lock serialises concurrent triggers of one segmentation.
    let mut tx = crate::store::begin(pool).await?;
    let segmentation = segmentations::find_for_update(&mut *tx, id)
        .await?
        .ok_or_else(|| segmentation_id.not_found())?;
    if let Some(key) = &idempotency_key
        && let Some(run) = runs::find_by_key(&mut *tx, id, key).await?
    {
        return Ok(Triggered::Replayed(run));
    }
    if !queue && let Some(run) = runs::pending(&mut *tx, id).await? {
        return Err(Error::RunPending {
            detail: format!(
                "run {} of this segmentation is {}; poll it, or ask for another with \
                 `?queue=true`",
                run.run_id, run.status
            ),
            run_id: run.run_id,
        });
    }
    let run_id = Uuid::new_v4();
    runs::insert(
        &mut *tx,
        &runs::NewRun {
            run_id,
            segmentation_id: id,
            segmentation_version: segmentation.version,
            config: &segmentation.config,
            trigger: Trigger::Api,
            idempotency_key: idempotency_key.as_deref(),
        },
    )
    .await?;
    let run = runs::find(&mut *tx, run_id).await?.expect("just inserted");
    crate::store::commit(tx).await?;
    waker.wake();
    Ok(Triggered::Queued(run))
}

pub async fn get(pool: &Pool, run_id: RunId) -> Result<Run> {
    runs::find(pool, run_id.uuid())
        .await?
        .ok_or_else(|| run_id.not_found())
}

pub async fn list(
    pool: &Pool,
    segmentation_id: SegmentationId,
    before: Option<i64>,
    limit: i64,
) -> Result<Vec<Run>> {
    let id = segmentation_id.uuid();
    segmentations::find(pool, id)
        .await?
        .ok_or_else(|| segmentation_id.not_found())?;
    Ok(runs::list(pool, id, before, limit).await?)
}

/// Cancels a queued run, or asks a running one to stop (it ends `cancelled` at its next
/// phase boundary). A finished run cannot be cancelled.
#[tracing::instrument(skip(pool), fields(%run_id))]
pub async fn cancel(pool: &Pool, run_id: RunId) -> Result<Run> {
    let id = run_id.uuid();
    if runs::cancel(pool, id).await?.is_none() {
        let run = get(pool, run_id).await?;
        return Err(Error::Conflict(format!(
            "run {id} is {} already; only queued or running runs can be cancelled",
            run.status
        )));
    }
    get(pool, run_id).await
}
