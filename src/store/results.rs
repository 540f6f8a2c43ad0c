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
use crate::domain::drift::{Drift, DriftPolicy};
use crate::domain::run::documents::FeatureBins;
use crate::domain::run::documents::{PhaseTiming, RunSummary};
use crate::domain::run::{Run, Segment};
use crate::domain::webhook::EventType;
use crate::domain::webhook::payload::DriftEvent;
use crate::segmentation::model::Model;
use sqlx::PgExecutor;
use sqlx::types::Json;
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
        /// The segmentation's drift thresholds.
        drift_policy: Option<DriftPolicy>,
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
    /// Its snapshot's decile bins (empty for runs older than drift).
    pub bins: Vec<FeatureBins>,
}

/// Locks the run (if `worker` still holds it) and its segmentation for the result write,
/// and reads the segmentation's active run and its segments.
#[tracing::instrument(level = "debug", skip_all, fields(run_id = %run.run_id))]
pub async fn lock(tx: &mut Conn, run: &Run, worker: &str) -> Result<Lock> {
    match super::queue::lock_held(&mut *tx, run.run_id, worker).await? {
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
                bins: active.summary.map(|s| s.bins).unwrap_or_default(),
            }),
            None => None,
        },
        None => None,
    };
    Ok(Lock::Held {
        auto_activate: segmentation.auto_activate,
        drift_policy: segmentation.drift,
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
    /// Make the run its segmentation's active one (unless its drift holds it).
    pub activate: bool,
    /// What the job measured against the active run (the moves are counted here).
    pub drift: Option<Drift>,
    pub drift_policy: Option<DriftPolicy>,
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
    let mut activate = results.activate;
    if let Some(mut drift) = results.drift {
        let measuring = Instant::now();
        count_moves(&mut *tx, &mut drift, run.run_id).await?;
        summary.timings.push(PhaseTiming {
            phase: "drift".into(),
            ms: measuring.elapsed().as_secs_f64() * 1e3,
        });
        let policy = results.drift_policy.unwrap_or_default();
        drift.crossed = policy.crossed(&drift);
        drift.held = activate && policy.hold_activation && drift.detected();
        activate &= !drift.held;
        summary.drift = Some(drift);
    }
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
    // After the run's own row: its `run.succeeded` is announced first.
    if let Some(drift) = summary.drift.as_ref().filter(|d| d.detected()) {
        announce_drift(&mut *tx, run, drift).await?;
    }
    let activation = if activate {
        let recording = Instant::now();
        let activation =
            activations::activate(&mut *tx, run.segmentation_id, run.run_id, Cause::Run).await?;
        // After the run's own row: its `run.succeeded` is announced before the activation.
        add_timing(
            &mut *tx,
            run.run_id,
            &PhaseTiming {
                phase: "activate".into(),
                ms: recording.elapsed().as_secs_f64() * 1e3,
            },
        )
        .await?;
        activation
    } else {
        None
    };
    Ok(Written {
        assignments: written,
        activation,
    })
}

/// Counts who moved between the active run and this one (both partitions are in place):
/// customers in both, those whose stable segment differs, those in one only, and the
/// adjusted Rand index of the two partitions.
async fn count_moves(tx: &mut Conn, drift: &mut Drift, run_id: Uuid) -> Result<()> {
    // One merge full join of the two partitions (both in customer id order).
    // (in the active run, its segment, in this run, its segment, customers)
    type Cell = (bool, Option<i32>, bool, Option<i32>, i64);
    let rows: Vec<Cell> = sqlx::query_as(sqlx::AssertSqlSafe(format!(
        "SELECT p.external_id IS NOT NULL, p.segment, n.external_id IS NOT NULL, n.segment,
                    count(*)
               FROM {old} p FULL JOIN {new} n USING (external_id)
              GROUP BY 1, 2, 3, 4",
        old = assignments::partition(drift.against_run_id),
        new = assignments::partition(run_id),
    )))
    .fetch_all(&mut *tx)
    .await?;
    let both: Vec<(Option<i32>, Option<i32>, u64)> = rows
        .iter()
        .filter(|r| r.0 && r.2)
        .map(|r| (r.1, r.3, r.4 as u64))
        .collect();
    drift.customers_compared = both.iter().map(|b| b.2 as i64).sum();
    drift.moved = both.iter().filter(|b| b.0 != b.1).map(|b| b.2 as i64).sum();
    drift.moved_share = (drift.customers_compared > 0)
        .then(|| drift.moved as f64 / drift.customers_compared as f64);
    drift.entered = rows.iter().filter(|r| !r.0).map(|r| r.4).sum();
    drift.left = rows.iter().filter(|r| !r.2).map(|r| r.4).sum();
    drift.adjusted_rand_index = crate::segmentation::metrics::adjusted_rand_index(&both);
    Ok(())
}

/// `segmentation.drift_detected`, in the write's transaction; a held activation is also
/// recorded among the run's events.
async fn announce_drift(tx: &mut Conn, run: &Run, drift: &Drift) -> Result<()> {
    let crossed: Vec<String> = drift
        .crossed
        .iter()
        .map(|c| format!("{} {:.4} (limit {})", c.threshold, c.value, c.limit))
        .collect();
    if drift.held {
        note(
            &mut *tx,
            run.run_id,
            "activation held",
            &format!(
                "drift against run {}: {}; activate it with POST /v1/runs/{}/activate",
                drift.against_run_id,
                crossed.join(", "),
                run.run_id
            ),
        )
        .await?;
    }
    let event = DriftEvent {
        segmentation_id: run.segmentation_id,
        run_id: run.run_id,
        against_run_id: drift.against_run_id,
        crossed: drift.crossed.clone(),
        held: drift.held,
        moved_share: drift.moved_share,
        adjusted_rand_index: drift.adjusted_rand_index,
    };
    let data = serde_json::to_value(&event).expect("a drift event serialises");
    super::outbox::emit(
        &mut *tx,
        EventType::DriftDetected,
        Some(run.segmentation_id),
        &data,
    )
    .await?;
    Ok(())
}

/// Adds a phase's time to a succeeded run's summary (a phase that ran after it was recorded).
async fn add_timing(db: impl PgExecutor<'_>, run_id: Uuid, timing: &PhaseTiming) -> Result<()> {
    sqlx::query(
        "UPDATE runs SET summary = jsonb_set(summary, '{timings}',
                coalesce(summary->'timings', '[]'::jsonb) || $2)
         WHERE run_id = $1",
    )
    .bind(run_id)
    .bind(Json([timing]))
    .execute(db)
    .await?;
    Ok(())
}

/// Adds an event to the run's history.
async fn note(db: impl PgExecutor<'_>, run_id: Uuid, event: &str, detail: &str) -> Result<()> {
    sqlx::query(
        "UPDATE runs SET events = events || jsonb_build_array(jsonb_build_object(
                'at', now(), 'event', $2::text, 'detail', $3::text))
         WHERE run_id = $1",
    )
    .bind(run_id)
    .bind(event)
    .bind(detail)
    .execute(db)
    .await?;
    Ok(())
}
