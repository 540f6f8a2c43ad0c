//! Runs: trigger (idempotent, one pending run per segmentation unless queueing is asked
//! for), read, list, cancel, activate; and the reads of a run's results.

use crate::domain::activation::Cause;
use crate::domain::run::{Run, Segment};
use crate::domain::run::{RunStatus, ScoreKind, Trigger};
use crate::domain::{RunId, SegmentationId};
use crate::error::{Error, Result};
use crate::segmentation::bisecting::SplitTree;
use crate::segmentation::metrics::adjusted_rand_index;
use crate::segmentation::model::Assign;
use crate::service::lookup::LookupCache;
use crate::store::Pool;
use crate::store::activations;
use crate::store::assignments::{self, AssignmentRow, MoverRow, TransitionRow};
use crate::store::models;
use crate::store::runs;
use crate::store::segmentations;
use crate::store::segments as store_segments;
use futures_util::stream::BoxStream;
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

/// Makes a succeeded run its segmentation's active run.
#[tracing::instrument(skip(pool, cache), fields(%run_id))]
pub async fn activate(pool: &Pool, cache: &LookupCache, run_id: RunId) -> Result<Run> {
    let id = run_id.uuid();
    let mut tx = crate::store::begin(pool).await?;
    let run = runs::find(&mut *tx, id)
        .await?
        .ok_or_else(|| run_id.not_found())?;
    if run.status != RunStatus::Succeeded || !run.has_assignments {
        return Err(Error::Conflict(format!(
            "run {id} is {}{}; only a succeeded run with its assignments can be activated",
            run.status,
            if run.status == RunStatus::Succeeded {
                " but its assignments were dropped by retention"
            } else {
                ""
            }
        )));
    }
    segmentations::find_for_update(&mut *tx, run.segmentation_id).await?;
    activations::activate(&mut tx, run.segmentation_id, id, Cause::Api).await?;
    cache
        .changing(run.segmentation_id, crate::store::commit(tx))
        .await?;
    crate::service::report::sync(pool).await;
    get(pool, run_id).await
}

/// A succeeded run (results are read only from those).
async fn succeeded(pool: &Pool, run_id: RunId) -> Result<Run> {
    let run = get(pool, run_id).await?;
    if run.status != RunStatus::Succeeded {
        return Err(Error::Conflict(format!(
            "run {} is {}; results exist once it has succeeded",
            run.run_id, run.status
        )));
    }
    Ok(run)
}

/// A run with its assignments still stored.
async fn with_assignments(pool: &Pool, run_id: RunId) -> Result<Run> {
    let run = succeeded(pool, run_id).await?;
    if !run.has_assignments {
        return Err(Error::Gone(format!(
            "the assignments of run {} were dropped by retention (its profiles remain)",
            run.run_id
        )));
    }
    Ok(run)
}

pub async fn segments(pool: &Pool, run_id: RunId) -> Result<(Run, Vec<Segment>)> {
    let run = succeeded(pool, run_id).await?;
    let segments = store_segments::segments(pool, run.run_id).await?;
    Ok((run, segments))
}

/// A bisecting run's split tree (its leaves numbered by segment position), with its segments.
pub async fn tree(pool: &Pool, run_id: RunId) -> Result<(Run, Vec<Segment>, SplitTree)> {
    let (run, segments) = segments(pool, run_id).await?;
    let model = models::model(pool, run.run_id).await?;
    match model.map(|m| m.assign) {
        Some(Assign::Tree(tree)) => Ok((run, segments, tree)),
        _ => Err(Error::Conflict(format!(
            "run {} did not use bisecting K-Means; a split tree exists for runs of              `\"algorithm\": {{\"type\": \"bisecting\"}}`",
            run.run_id
        ))),
    }
}

/// Segment filter of a query: a stable id, or `noise`.
pub fn parse_segment(field: &str, value: &str) -> Result<Option<i32>> {
    if value == "noise" {
        return Ok(None);
    }
    value.parse::<i32>().map(Some).map_err(|_| {
        Error::invalid(
            field,
            format!("`{value}` is not a segment id (an integer, or `noise`)"),
        )
    })
}

pub async fn assignments_page(
    pool: &Pool,
    run_id: RunId,
    segment: Option<Option<i32>>,
    after: Option<&str>,
    limit: i64,
) -> Result<(Run, Vec<Segment>, Vec<AssignmentRow>)> {
    let run = with_assignments(pool, run_id).await?;
    let segments = store_segments::segments(pool, run.run_id).await?;
    let rows = assignments::page(pool, run.run_id, segment, after, limit).await?;
    Ok((run, segments, rows))
}

#[tracing::instrument(skip(pool), fields(%run_id))]
pub async fn assignments_csv(
    pool: &Pool,
    run_id: RunId,
    segment: Option<Option<i32>>,
) -> Result<BoxStream<'static, crate::store::Result<bytes::Bytes>>> {
    let run = with_assignments(pool, run_id).await?;
    let score = score_kind(&run);
    Ok(assignments::csv(pool, run.run_id, segment, score).await?)
}

/// What a run's assignment scores are.
pub fn score_kind(run: &Run) -> ScoreKind {
    run.summary
        .as_ref()
        .and_then(|s| s.score)
        .unwrap_or(ScoreKind::Distance)
}

/// How customers moved between two runs of one segmentation.
pub struct Comparison {
    pub a: Run,
    pub b: Run,
    pub transitions: Vec<TransitionRow>,
    pub only_in_a: i64,
    pub only_in_b: i64,
    pub adjusted_rand_index: Option<f64>,
    pub movers: Vec<MoverRow>,
}

pub struct MoverFilter<'a> {
    pub from: Option<Option<i32>>,
    pub to: Option<Option<i32>>,
    pub after: Option<&'a str>,
    pub limit: i64,
}

#[tracing::instrument(skip(pool, filter), fields(%a, %b))]
pub async fn compare(
    pool: &Pool,
    a: RunId,
    b: RunId,
    filter: MoverFilter<'_>,
) -> Result<Comparison> {
    let ra = with_assignments(pool, a).await?;
    let rb = with_assignments(pool, b).await?;
    if ra.segmentation_id != rb.segmentation_id {
        return Err(Error::invalid(
            "b",
            format!(
                "run {} belongs to another segmentation; stable segment ids compare runs of \
                 one segmentation",
                rb.run_id
            ),
        ));
    }
    let transitions = assignments::transitions(pool, ra.run_id, rb.run_id).await?;
    let (only_in_a, only_in_b) = assignments::one_sided(pool, ra.run_id, rb.run_id).await?;
    let table: Vec<(Option<i32>, Option<i32>, u64)> = transitions
        .iter()
        .map(|t| (t.from_segment, t.to_segment, t.customers as u64))
        .collect();
    let movers = assignments::movers(
        pool,
        ra.run_id,
        rb.run_id,
        filter.from,
        filter.to,
        filter.after,
        filter.limit,
    )
    .await?;
    Ok(Comparison {
        adjusted_rand_index: adjusted_rand_index(&table),
        a: ra,
        b: rb,
        transitions,
        only_in_a,
        only_in_b,
        movers,
    })
}
