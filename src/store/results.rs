//! A succeeded run's rows, in the caller's transaction: [`lock`] takes the locks the write
//! needs and reads the active run the new segments are matched against; [`write_rows`] adds
//! the assignments (a new partition), segments and chart sample; [`cross_table`] compares two
//! partitions; [`note`] and [`add_timing`] amend the run's history and summary.

use super::assignments::{self, Assignment};
use super::charts::{self, ChartSampleRow};
use super::runs::{self};
use super::{Conn, Result, segmentations};
use crate::domain::drift::DriftPolicy;
use crate::domain::run::documents::FeatureBins;
use crate::domain::run::documents::PhaseTiming;
use crate::domain::run::{Run, Segment};
use sqlx::PgExecutor;
use sqlx::types::Json;
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

/// The rows a succeeded run adds besides its own: one assignment per customer segmented (in
/// stable segment ids), its segments and its chart sample.
pub struct RunRows<'a, A> {
    pub run_id: Uuid,
    pub assignments: A,
    pub segments: &'a [Segment],
    pub chart: Option<ChartSampleRow>,
}

/// Writes a run's rows in the caller's transaction (nothing is visible before it commits);
/// returns how many assignments it wrote.
#[tracing::instrument(level = "debug", skip_all, fields(run_id = %rows.run_id))]
pub async fn write_rows<'a, A>(tx: &mut Conn, rows: RunRows<'_, A>) -> Result<u64>
where
    A: ExactSizeIterator<Item = Assignment<'a>>,
{
    let written = assignments::write(&mut *tx, rows.run_id, rows.assignments).await?;
    super::segments::insert_segments(&mut *tx, rows.segments).await?;
    if let Some(sample) = &rows.chart {
        charts::insert(&mut *tx, sample).await?;
    }
    Ok(written)
}

/// Customers by (in run `old`, their segment there, in run `new`, their segment there): the
/// cross table of two runs' partitions (both must be in place).
#[derive(Debug, Clone, Copy, PartialEq, Eq, sqlx::FromRow)]
pub struct CrossCell {
    pub in_old: bool,
    pub old_segment: Option<i32>,
    pub in_new: bool,
    pub new_segment: Option<i32>,
    pub customers: i64,
}

/// The cross table of two runs' partitions: one merge full join (both in customer id order).
pub async fn cross_table(db: impl PgExecutor<'_>, old: Uuid, new: Uuid) -> Result<Vec<CrossCell>> {
    Ok(sqlx::query_as(sqlx::AssertSqlSafe(format!(
        "SELECT p.external_id IS NOT NULL AS in_old, p.segment AS old_segment,
                n.external_id IS NOT NULL AS in_new, n.segment AS new_segment,
                count(*) AS customers
           FROM {old} p FULL JOIN {new} n USING (external_id)
          GROUP BY 1, 2, 3, 4",
        old = assignments::partition(old),
        new = assignments::partition(new),
    )))
    .fetch_all(db)
    .await?)
}

/// Adds a phase's time to a succeeded run's summary (a phase that ran after it was recorded).
pub async fn add_timing(db: impl PgExecutor<'_>, run_id: Uuid, timing: &PhaseTiming) -> Result<()> {
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
pub async fn note(db: impl PgExecutor<'_>, run_id: Uuid, event: &str, detail: &str) -> Result<()> {
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

/// Each of a run's segments' predicted value from its members' `clv_p_alive` and
/// `clv_value` (`customer_clv`), into the segment's profile (`predicted_value`): one statement
/// over the written assignments.
pub async fn predicted_value(tx: &mut Conn, run_id: uuid::Uuid) -> Result<()> {
    let sql = "WITH seg AS (
             SELECT a.segment, count(v.value) AS customers, avg(v.p_alive) AS mean_p_alive,
                    avg(v.value) AS mean_value, sum(v.value) AS total_value
             FROM assignments a LEFT JOIN customer_clv v ON v.external_id = a.external_id
             WHERE a.run_id = $1 AND a.segment IS NOT NULL GROUP BY a.segment
         ), s AS (
             SELECT seg.*, total_value / NULLIF(sum(total_value) OVER (), 0) AS value_share FROM seg
         )
         UPDATE run_segments r SET profile = r.profile || jsonb_build_object('predicted_value',
                jsonb_build_object('customers', s.customers, 'mean_p_alive', s.mean_p_alive,
                                   'mean_value', s.mean_value, 'total_value', s.total_value,
                                   'value_share', s.value_share))
         FROM s WHERE r.run_id = $1 AND r.stable_id = s.segment";
    sqlx::query(sql).bind(run_id).execute(&mut *tx).await?;
    Ok(())
}
