//! What a succeeded run produced, as readers ask for it: its segments, a bisecting run's split
//! tree, its assignments (pages and CSV) and how customers moved between two of its
//! segmentation's runs.

use super::drift::Moves;
use super::get;
use crate::domain::RunId;
use crate::domain::run::{Run, RunStatus, ScoreKind, Segment};
use crate::error::{Error, Result};
use crate::segmentation::bisecting::SplitTree;
use crate::segmentation::model::Assign;
use crate::store::Pool;
use crate::store::assignments::{self, AssignmentRow, MoverRow, TransitionRow};
use crate::store::models;
use crate::store::results::cross_table;
use crate::store::segments as store_segments;
use futures_util::stream::BoxStream;

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
    // The cross table settling measures drift with: moves, one-sided customers, the ARI.
    let cells = cross_table(pool, ra.run_id, rb.run_id).await?;
    let moves = Moves::of(&cells);
    let mut transitions: Vec<TransitionRow> = cells
        .iter()
        .filter(|c| c.in_old && c.in_new)
        .map(|c| TransitionRow {
            from_segment: c.old_segment,
            to_segment: c.new_segment,
            customers: c.customers,
        })
        .collect();
    // As SQL orders them: by segment, noise (NULL) last.
    let last_none = |s: Option<i32>| (s.is_none(), s);
    transitions.sort_by_key(|t| (last_none(t.from_segment), last_none(t.to_segment)));
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
        adjusted_rand_index: moves.adjusted_rand_index,
        a: ra,
        b: rb,
        transitions,
        only_in_a: moves.left,
        only_in_b: moves.entered,
        movers,
    })
}
