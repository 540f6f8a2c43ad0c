//! A succeeded run's results, written in the caller's transaction with one call: its
//! assignments (a new partition), segment profiles, chart sample, summary and model, and the
//! active-run switch. Before that, [`lock`] takes the locks the write needs and reads what
//! the new segments are matched against.

use super::activations::{self, ActivationRow};
use super::assignments::{self, Assignment};
use super::charts::{self, ChartSampleRow};
use super::runs::{self, Success};
use super::{Conn, Result, segmentations};
use crate::domain::activation::Cause;
use crate::domain::run::documents::{PhaseTiming, RunSummary};
use crate::domain::run::{Run, Segment};
use crate::segmentation::model::Model;
use std::time::Instant;
use uuid::Uuid;

/// What [`lock`] found.
#[derive(Debug)]
pub enum Lock {
    /// Another worker owns the run now (this worker's lease lapsed).
    LeaseLost,
    /// A cancel was asked for while the run trained.
    Cancelled,
    /// The run and its segmentation are locked until the transaction ends.
    Held {
        auto_activate: bool,
        /// The segmentation's active run, to match the new segments against.
        previous: Option<PreviousRun>,
    },
}

/// The active run a retrain follows.
#[derive(Debug, Clone)]
pub struct PreviousRun {
    pub run_id: Uuid,
    /// The features it clustered on (segments of other features are not matched).
    pub features: Vec<String>,
    pub segments: Vec<Segment>,
}

/// Locks the run (if `worker` still holds it) and its segmentation for the result write,
/// and reads the segmentation's active run and its segments.
#[tracing::instrument(level = "debug", skip_all, fields(run_id = %run.run_id))]
pub async fn lock(tx: &mut Conn, run: &Run, worker: &str) -> Result<Lock> {
    match runs::lock_held(&mut *tx, run.run_id, worker).await? {
        None => return Ok(Lock::LeaseLost),
        Some(true) => return Ok(Lock::Cancelled),
        Some(false) => {}
    }
    let Some(segmentation) = segmentations::find_for_update(&mut *tx, run.segmentation_id).await?
    else {
        return Ok(Lock::LeaseLost);
    };
    let previous = match segmentation.active_run_id {
        Some(run_id) => match runs::find(&mut *tx, run_id).await? {
            Some(active) => Some(PreviousRun {
                run_id,
                features: active.config.features,
                segments: super::segments::segments(&mut *tx, run_id).await?,
            }),
            None => None,
        },
        None => None,
    };
    Ok(Lock::Held {
        auto_activate: segmentation.auto_activate,
        previous,
    })
}

/// Everything a succeeded run writes.
pub struct RunResults<'a, A> {
    pub run: &'a Run,
    /// One per customer segmented, in stable segment ids.
    pub assignments: A,
    pub segments: &'a [Segment],
    pub chart: Option<ChartSampleRow>,
    pub customers_snapshot: i64,
    pub customers_dropped: i64,
    pub values_imputed: i64,
    pub k: i32,
    pub k_rule: &'a str,
    /// The summary; the write phase's time is added to its timings here.
    pub summary: RunSummary,
    pub model: &'a Model,
    /// Make the run its segmentation's active one.
    pub activate: bool,
}

/// What [`write`] wrote.
#[derive(Debug)]
pub struct Written {
    pub assignments: u64,
    /// The activation, when the run became active.
    pub activation: Option<ActivationRow>,
}

/// Writes the results in the caller's transaction (nothing is visible before it commits).
#[tracing::instrument(level = "debug", skip_all, fields(run_id = %results.run.run_id))]
pub async fn write<'a, A>(tx: &mut Conn, results: RunResults<'_, A>) -> Result<Written>
where
    A: ExactSizeIterator<Item = Assignment<'a>>,
{
    let started = Instant::now();
    let run = results.run;
    let written = assignments::write(&mut *tx, run.run_id, results.assignments).await?;
    super::segments::insert_segments(&mut *tx, results.segments).await?;
    if let Some(sample) = &results.chart {
        charts::insert(&mut *tx, sample).await?;
    }
    let mut summary = results.summary;
    summary.timings.push(PhaseTiming {
        phase: "write".into(),
        ms: started.elapsed().as_secs_f64() * 1e3,
    });
    runs::succeed(
        &mut *tx,
        run.run_id,
        &Success {
            customers_snapshot: results.customers_snapshot,
            customers_used: written as i64,
            customers_dropped: results.customers_dropped,
            values_imputed: results.values_imputed,
            k: results.k,
            k_rule: results.k_rule,
            summary: &summary,
            model: results.model,
        },
    )
    .await?;
    let activation = if results.activate {
        activations::activate(&mut *tx, run.segmentation_id, run.run_id, Cause::Run).await?
    } else {
        None
    };
    Ok(Written {
        assignments: written,
        activation,
    })
}
